//! The real voice providers against a local mock HTTP server that checks each request as the
//! API documents it and answers with the documented bodies and errors: OpenAI TTS, ElevenLabs,
//! Fish Audio; then the failover chain.

#![allow(clippy::unwrap_used)]

mod providers_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use providers_support::{elevenlabs_answer, wav};
use serde_json::{json, Value};
use shortline_config::Price;
use shortline_domain::captions;
use shortline_providers::{Auth, ProviderError};
use shortline_scriptgen::media::{caption_files, MediaError, VoiceProvider};
use shortline_scriptgen::providers::{
    ElevenLabsSpeech, FishAudioSpeech, OpenAiSpeech, SpeechApi, UsageLedger, VoiceChain,
};
use shortline_testing::http_mock::{MockResponse, MockServer};
use shortline_testing::media::pcm;
use shortline_testing::providers::{assert_no_key, client, client_with_timeout, KEY};
use tokio_util::sync::CancellationToken;

const TEXT: &str = "Hydrate sustainably with AquaPure.";

fn openai(url: &str) -> OpenAiSpeech {
    OpenAiSpeech::new(client("openai", url, Auth::Bearer), "tts-1", "alloy")
}

fn elevenlabs(url: &str) -> ElevenLabsSpeech {
    ElevenLabsSpeech::new(client("elevenlabs", url, Auth::Header("xi-api-key")), "eleven_multilingual_v2", "VOICE123")
}

fn fish(url: &str) -> FishAudioSpeech {
    FishAudioSpeech::new(client("fish_audio", url, Auth::Bearer), "s1", Some("ref-abc".into()))
}

fn prices() -> BTreeMap<String, Price> {
    BTreeMap::from([
        ("tts-1".to_owned(), Price { per_1k_characters: 15_000, ..Price::default() }),
        ("eleven_multilingual_v2".to_owned(), Price { per_1k_characters: 300_000, ..Price::default() }),
        ("s1".to_owned(), Price { per_1k_characters: 15_000, ..Price::default() }),
    ])
}

// ---- the documented requests and answers ----------------------------------------------------

#[tokio::test]
async fn openai_speech_request_and_answer_are_the_documented_ones() {
    let audio = wav(1.0);
    let server = MockServer::start(move |_| {
        MockResponse::bytes(200, "audio/wav", audio.clone()).with_header("x-request-id", "req_abc")
    })
    .await;
    let spoken = openai(&server.url()).synthesize(TEXT, 1.2).await.unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/v1/audio/speech"));
    assert_eq!(request.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert!(request.header("content-type").unwrap().starts_with("application/json"));
    let body = request.json();
    assert_eq!(body["model"], "tts-1");
    assert_eq!(body["input"], TEXT);
    assert_eq!(body["voice"], "alloy");
    assert_eq!(body["response_format"], "wav");
    assert!((body["speed"].as_f64().unwrap() - 1.2).abs() < 1e-9);

    assert_eq!(spoken.usage.characters, TEXT.chars().count() as u64);
    assert_eq!(spoken.request_id.as_deref(), Some("req_abc"));
    assert_eq!(spoken.http_attempts, 1);
    assert_eq!(spoken.wav, wav(1.0));
}

#[tokio::test]
async fn elevenlabs_request_and_answer_are_the_documented_ones() {
    let server = MockServer::start(|_| {
        MockResponse::json(200, elevenlabs_answer(TEXT, 0.5))
            .with_header("x-character-count", "31")
            .with_header("request-id", "el-1")
    })
    .await;
    let spoken = elevenlabs(&server.url()).synthesize(TEXT, 1.0).await.unwrap();

    let request = &server.requests()[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v1/text-to-speech/VOICE123/with-timestamps")
    );
    assert_eq!(request.query_param("output_format").as_deref(), Some("pcm_24000"));
    assert_eq!(request.header("xi-api-key"), Some(KEY));
    assert_eq!(request.header("authorization"), None, "ElevenLabs takes the key in xi-api-key only");
    let body = request.json();
    assert_eq!(body["text"], TEXT);
    assert_eq!(body["model_id"], "eleven_multilingual_v2");
    assert_eq!(body["voice_settings"]["speed"], 1.0);

    // The reported character count is the usage; the base64 PCM became a WAV of the same
    // samples; the character alignment became the words' timings.
    assert_eq!(spoken.usage.characters, 31);
    assert_eq!(spoken.request_id.as_deref(), Some("el-1"));
    let info = shortline_scriptgen::media::parse_wav(&spoken.wav).unwrap();
    assert!((info.duration_seconds() - 0.5).abs() < 1e-6);
    let words = spoken.word_timings.unwrap();
    assert_eq!(words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>(), TEXT.split_whitespace().collect::<Vec<_>>());
}

#[tokio::test]
async fn fish_audio_request_and_answer_are_the_documented_ones() {
    // Raw 16-bit mono PCM at the requested rate, as Fish Audio sends for `format: "pcm"`; a WAV
    // answer (which a streaming server may send with a data length of 0) is never asked for.
    let server = MockServer::start(|r| match (r.json()["format"].as_str(), r.json()["sample_rate"].as_u64()) {
        (Some("pcm"), Some(44_100)) => MockResponse::bytes(200, "audio/pcm", vec![0u8; 2 * 35_280]),
        _ => MockResponse::json(422, json!({"status": 422, "message": "unexpected format"})),
    })
    .await;
    let spoken = fish(&server.url()).synthesize(TEXT, 0.9).await.unwrap();

    let request = &server.requests()[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/v1/tts"));
    assert_eq!(request.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(request.header("model"), Some("s1"));
    let body = request.json();
    assert_eq!(body["text"], TEXT);
    assert_eq!(body["reference_id"], "ref-abc");
    assert_eq!(body["format"], "pcm");
    assert!((body["prosody"]["speed"].as_f64().unwrap() - 0.9).abs() < 1e-9);
    let info = shortline_scriptgen::media::parse_wav(&spoken.wav).unwrap();
    assert_eq!((info.sample_rate, info.channels, info.bits_per_sample), (44_100, 1, 16));
    assert!((info.duration_seconds() - 0.8).abs() < 1e-6, "{}", info.duration_seconds());
    assert_eq!(spoken.usage.characters, TEXT.len() as u64, "Fish Audio bills UTF-8 bytes");
}

// ---- the documented errors, for every voice provider ----------------------------------------

/// The documented error bodies of each API.
fn error_body(provider: &str, status: u16) -> Value {
    match (provider, status) {
        ("openai", 401) => {
            json!({"error": {"message": format!("Incorrect API key provided: {KEY}."), "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}})
        }
        ("openai", 429) => {
            json!({"error": {"message": "Rate limit reached for requests", "type": "requests", "param": null, "code": "rate_limit_exceeded"}})
        }
        ("openai", _) => {
            json!({"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}})
        }
        ("elevenlabs", 401) => {
            json!({"detail": {"status": "invalid_api_key", "message": format!("Invalid API key: {KEY}")}})
        }
        ("elevenlabs", 402) => json!({"detail": {"status": "payment_required", "message": "A paid plan is required."}}),
        ("elevenlabs", 429) => {
            json!({"detail": {"status": "too_many_concurrent_requests", "message": "Too many concurrent requests."}})
        }
        ("elevenlabs", _) => json!({"detail": {"status": "internal_error", "message": "Internal server error."}}),
        (_, 401) => json!({"status": 401, "message": format!("Invalid token {KEY}")}),
        (_, 402) => json!({"status": 402, "message": "Insufficient balance"}),
        (_, 429) => json!({"status": 429, "message": "Too many requests"}),
        (_, status) => json!({"status": status, "message": "Internal server error"}),
    }
}

fn api(provider: &str, url: &str) -> Arc<dyn SpeechApi> {
    match provider {
        "openai" => Arc::new(openai(url)),
        "elevenlabs" => Arc::new(elevenlabs(url)),
        _ => Arc::new(fish(url)),
    }
}

/// A correct audio answer of the provider.
fn success(provider: &str) -> MockResponse {
    match provider {
        "elevenlabs" => MockResponse::json(200, elevenlabs_answer(TEXT, 0.4)),
        "fish_audio" => MockResponse::bytes(200, "audio/pcm", pcm(0.4)),
        _ => MockResponse::bytes(200, "audio/wav", wav(0.4)),
    }
}

fn error(provider: &str, status: u16) -> MockResponse {
    MockResponse::json(status, error_body(provider, status))
}

#[track_caller]
fn assert_clean(error: &ProviderError) {
    assert_no_key("an error", &error.to_string());
    assert_no_key("an error's Debug", &format!("{error:?}"));
}

#[tokio::test]
async fn every_voice_provider_reports_its_documented_errors() {
    for provider in ["openai", "elevenlabs", "fish_audio"] {
        // 401: a bad key; not retried, no failover.
        let server = MockServer::sequence(vec![error(provider, 401)]).await;
        let err = api(provider, &server.url()).synthesize(TEXT, 1.0).await.unwrap_err();
        assert!(matches!(err, ProviderError::Unauthorized { status: 401, .. }), "{provider}: {err:?}");
        assert_eq!(err.failover_reason(), None);
        assert_eq!(server.requests().len(), 1, "{provider}: 401 is not retried");
        assert_clean(&err);
        if provider != "elevenlabs" {
            assert!(err.to_string().contains("***"), "{provider}: the echoed key is redacted: {err}");
        }

        // 402: out of credits; not retried, fails over.
        let server = MockServer::sequence(vec![error(provider, 402)]).await;
        let err = api(provider, &server.url()).synthesize(TEXT, 1.0).await.unwrap_err();
        assert!(matches!(err, ProviderError::PaymentRequired { status: 402, .. }), "{provider}: {err:?}");
        assert_eq!(err.failover_reason(), Some("payment_required"));
        assert_eq!(server.requests().len(), 1);

        // 429 with Retry-After (seconds): waited for, then the retry succeeds.
        let server =
            MockServer::sequence(vec![error(provider, 429).with_header("retry-after", "1"), success(provider)]).await;
        let started = Instant::now();
        let spoken = api(provider, &server.url()).synthesize(TEXT, 1.0).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(950), "{provider}: Retry-After 1 s honoured");
        assert_eq!((server.requests().len(), spoken.http_attempts), (2, 2));

        // 429 every time: retried max_retries (2) times, then rate limited, failing over.
        let server = MockServer::sequence(vec![error(provider, 429).with_header("retry-after", "0")]).await;
        let err = api(provider, &server.url()).synthesize(TEXT, 1.0).await.unwrap_err();
        assert!(matches!(err, ProviderError::RateLimited { attempts: 3, .. }), "{provider}: {err:?}");
        assert_eq!(err.failover_reason(), Some("rate_limited"));
        assert_eq!(server.requests().len(), 3);

        // A Retry-After past the cap (2 s here) is not slept on: the chain moves on at once.
        let server = MockServer::sequence(vec![error(provider, 429).with_header("retry-after", "3600")]).await;
        let started = Instant::now();
        let err = api(provider, &server.url()).synthesize(TEXT, 1.0).await.unwrap_err();
        assert!(matches!(err, ProviderError::RateLimited { attempts: 1, retry_after: Some(_), .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(1));

        // 500, then success: retried.
        let server = MockServer::sequence(vec![error(provider, 500), success(provider)]).await;
        let spoken = api(provider, &server.url()).synthesize(TEXT, 1.0).await.unwrap();
        assert_eq!(spoken.http_attempts, 2, "{provider}");

        // 500 every time: a server error after the retries, failing over.
        let server = MockServer::sequence(vec![error(provider, 500)]).await;
        let err = api(provider, &server.url()).synthesize(TEXT, 1.0).await.unwrap_err();
        assert!(matches!(err, ProviderError::Server { status: 500, attempts: 3, .. }), "{provider}: {err:?}");
        assert_eq!(err.failover_reason(), Some("server_error"));
        assert_eq!(server.requests().len(), 3);
        assert_clean(&err);
    }
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let when = chrono::Utc::now() + chrono::Duration::seconds(2);
    let date = when.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let server =
        MockServer::sequence(vec![error("openai", 503).with_header("retry-after", &date), success("openai")]).await;
    let started = Instant::now();
    let spoken = openai(&server.url()).synthesize(TEXT, 1.0).await.unwrap();
    // The date has a one-second resolution: at least ~1 s was waited.
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
    assert_eq!(spoken.http_attempts, 2);
}

#[tokio::test]
async fn quota_answers_that_are_not_402_still_fail_over() {
    // OpenAI: 429 insufficient_quota; ElevenLabs: 401 quota_exceeded. Both are payment problems.
    let server = MockServer::sequence(vec![MockResponse::json(
        429,
        json!({"error": {"message": "You exceeded your current quota.", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}),
    )])
    .await;
    let err = openai(&server.url()).synthesize(TEXT, 1.0).await.unwrap_err();
    assert!(matches!(err, ProviderError::PaymentRequired { status: 429, .. }), "{err:?}");
    assert_eq!(server.requests().len(), 1, "not retried");

    let server = MockServer::sequence(vec![MockResponse::json(
        401,
        json!({"detail": {"status": "quota_exceeded", "message": "This request exceeds your quota of 10000."}}),
    )])
    .await;
    let err = elevenlabs(&server.url()).synthesize(TEXT, 1.0).await.unwrap_err();
    assert!(matches!(err, ProviderError::PaymentRequired { status: 401, .. }), "{err:?}");
}

#[tokio::test]
async fn a_slow_provider_times_out() {
    for provider in ["openai", "elevenlabs", "fish_audio"] {
        let server = MockServer::sequence(vec![success(provider).with_delay(Duration::from_secs(3))]).await;
        let auth = if provider == "elevenlabs" { Auth::Header("xi-api-key") } else { Auth::Bearer };
        let client = client_with_timeout(provider, &server.url(), auth, Duration::from_millis(300));
        let api: Box<dyn SpeechApi> = match provider {
            "openai" => Box::new(OpenAiSpeech::new(client, "tts-1", "alloy")),
            "elevenlabs" => Box::new(ElevenLabsSpeech::new(client, "eleven_multilingual_v2", "V")),
            _ => Box::new(FishAudioSpeech::new(client, "s1", None)),
        };
        let started = Instant::now();
        let err = api.synthesize(TEXT, 1.0).await.unwrap_err();
        assert!(matches!(err, ProviderError::Timeout { .. }), "{provider}: {err:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(server.requests().len(), 1, "a timed-out (maybe billed) call is not repeated");
    }
}

#[tokio::test]
async fn a_malformed_answer_is_reported_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    for (provider, answer) in [
        ("openai", MockResponse::json(200, json!({"unexpected": "document"}))),
        ("elevenlabs", MockResponse::json(200, json!({"detail": "not audio"}))),
        ("fish_audio", MockResponse::bytes(200, "audio/wav", b"RIFF\x04\x00\x00\x00WAVE".to_vec())),
    ] {
        let server = MockServer::sequence(vec![answer]).await;
        let chain = VoiceChain::new(vec![api(provider, &server.url())], prices(), UsageLedger::default());
        let out = dir.path().join(format!("{provider}.wav"));
        let err = chain.speak(TEXT, 175, &out, &CancellationToken::new()).await.unwrap_err();
        let MediaError::Failed { tool, status, stderr_tail } = &err else { panic!("{provider}: {err:?}") };
        assert_eq!(tool, &format!("voice provider {provider}"));
        assert_eq!(status, "malformed");
        assert!(stderr_tail.contains("malformed answer"), "{stderr_tail}");
        assert!(!out.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no partial file left");
    }
}

/// Point 8: a WAV as a streaming server writes it — the header's sizes left at 0 (fish-speech's
/// streaming `/v1/tts`) — is read to its end, as a real server's answer must be.
#[tokio::test]
async fn a_streamed_wav_whose_header_says_zero_bytes_is_read_to_its_end() {
    let mut streamed = wav(0.6);
    let data = streamed.windows(4).position(|w| w == b"data").unwrap();
    streamed[4..8].copy_from_slice(&0u32.to_le_bytes());
    streamed[data + 4..data + 8].copy_from_slice(&0u32.to_le_bytes());
    let server = MockServer::sequence(vec![MockResponse::bytes(200, "audio/wav", streamed)]).await;
    let chain = VoiceChain::new(vec![api("openai", &server.url())], prices(), UsageLedger::default());
    let dir = tempfile::tempdir().unwrap();
    let file = chain.speak(TEXT, 175, &dir.path().join("voiceover.wav"), &CancellationToken::new()).await.unwrap();
    assert!((file.duration_seconds - 0.6).abs() < 1e-6, "{} s", file.duration_seconds);
}

// ---- the chain -----------------------------------------------------------------------------

/// Two mock voice providers, each answering once as given, and the chain that tries them in
/// that order.
async fn chain_of_two(
    (first_name, first_answer): (&str, MockResponse),
    (second_name, second_answer): (&str, MockResponse),
    ledger: UsageLedger,
) -> (MockServer, MockServer, VoiceChain) {
    let first = MockServer::sequence(vec![first_answer]).await;
    let second = MockServer::sequence(vec![second_answer]).await;
    let chain = VoiceChain::new(vec![api(first_name, &first.url()), api(second_name, &second.url())], prices(), ledger);
    (first, second, chain)
}

#[tokio::test]
async fn failover_402_then_success_records_both_and_costs_the_second() {
    let ledger = UsageLedger::default();
    let (first, second, chain) = chain_of_two(
        ("openai", error("openai", 402)),
        ("elevenlabs", success("elevenlabs").with_header("x-character-count", "34")),
        ledger.clone(),
    )
    .await;
    assert_eq!(chain.name(), "openai>elevenlabs");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("voiceover.wav");
    let file = chain.speak(TEXT, 175, &out, &CancellationToken::new()).await.unwrap();

    assert_eq!((file.provider.as_str(), file.model.as_str()), ("elevenlabs", "eleven_multilingual_v2"));
    // 34 reported characters at 300_000 micro-USD per 1k characters.
    assert_eq!(file.cost_micros, 10_200);
    assert!((file.duration_seconds - 0.4).abs() < 1e-6);
    assert_eq!(std::fs::read(&out).unwrap().len() as u64, file.size_bytes);
    assert_eq!((first.requests().len(), second.requests().len()), (1, 1));

    let details = ledger.take(&file.sha256).unwrap();
    let attempts = details["provider_attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["provider"], "openai");
    assert_eq!(attempts[0]["outcome"], "failed");
    assert_eq!(attempts[0]["failover"], "payment_required");
    assert!(attempts[0]["error"].as_str().unwrap().contains("402"));
    assert_eq!(attempts[1], json!({"provider": "elevenlabs", "outcome": "ok"}));
    assert_eq!(details["reported_usage"]["characters"], 34);
    assert_no_key("the recorded usage", &details.to_string());
}

#[tokio::test]
async fn a_401_stops_the_chain_without_trying_the_next() {
    let (_first, second, chain) =
        chain_of_two(("openai", error("openai", 401)), ("fish_audio", success("fish_audio")), UsageLedger::default())
            .await;
    let dir = tempfile::tempdir().unwrap();
    let err = chain.speak(TEXT, 175, &dir.path().join("v.wav"), &CancellationToken::new()).await.unwrap_err();
    assert!(matches!(&err, MediaError::Failed { status, .. } if status == "unauthorized (HTTP 401)"), "{err:?}");
    assert_eq!(second.requests().len(), 0);
    assert_no_key("the media error", &format!("{err} {err:?}"));
}

#[tokio::test]
async fn all_providers_failing_over_ends_with_the_last_error() {
    let (_first, second, chain) = chain_of_two(
        ("openai", error("openai", 402)),
        ("fish_audio", error("fish_audio", 503)),
        UsageLedger::default(),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let err = chain.speak(TEXT, 175, &dir.path().join("v.wav"), &CancellationToken::new()).await.unwrap_err();
    // A 5xx that outlived its retries may pass: UNAVAILABLE, so the stage is retried later.
    let MediaError::ProviderUnavailable { kind, reason, tried } = &err else { panic!("{err:?}") };
    assert_eq!(kind, "voice");
    assert!(reason.starts_with("fish_audio: server error (HTTP 503)"), "{reason}");
    assert!(tried.contains("openai: ") && tried.contains("fish_audio: "), "{tried}");
    assert_eq!(second.requests().len(), 3, "the 503 was retried before giving up");
}

#[tokio::test]
async fn cancelling_stops_a_waiting_chain_and_leaves_nothing() {
    let server = MockServer::sequence(vec![success("openai").with_delay(Duration::from_secs(10))]).await;
    let chain = VoiceChain::new(vec![api("openai", &server.url())], prices(), UsageLedger::default());
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let err = chain.speak(TEXT, 175, &dir.path().join("v.wav"), &cancel).await.unwrap_err();
    assert!(matches!(err, MediaError::Cancelled), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn a_failover_the_budget_cannot_pay_for_is_not_called() {
    use shortline_providers::budget::{self, JobBudget};
    let (first, second, chain) =
        chain_of_two(("openai", error("openai", 402)), ("elevenlabs", success("elevenlabs")), UsageLedger::default())
            .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("voiceover.wav");
    // 34 characters: about $0.00051 at OpenAI's price, $0.0102 at ElevenLabs'; the job has $0.001.
    let job = Arc::new(JobBudget::new(9, 1_000, 0));
    let error = budget::within(Some(job), chain.speak(TEXT, 175, &out, &CancellationToken::new())).await.unwrap_err();
    let MediaError::OverBudget(refused) = &error else { panic!("{error:?}") };
    assert_eq!((refused.job_id, refused.provider.as_str(), refused.estimate_micros), (9, "elevenlabs", 10_200));
    assert_eq!(
        (first.requests().len(), second.requests().len()),
        (1, 0),
        "OpenAI fitted and was asked; ElevenLabs was not"
    );
    assert!(!out.exists());
}

/// Must-show 4: the captions of an ElevenLabs voice follow the alignment it returned, word for
/// word, through the chain, the caption files and back.
#[tokio::test]
async fn captions_of_an_elevenlabs_voice_follow_the_returned_alignment() {
    // "Hydrate sustainably with AquaPure." with a pause of 0.7 s after "sustainably": an even
    // spread of the words could not land on these times.
    let characters: Vec<String> = TEXT.chars().map(String::from).collect();
    let mut starts = Vec::new();
    let mut at = 0.05;
    for c in TEXT.chars() {
        starts.push(at);
        at += if c == ' ' && starts.len() == 20 { 0.7 } else { 0.06 };
    }
    let ends: Vec<f64> = starts.iter().map(|s| s + 0.05).collect();
    let mut answer = elevenlabs_answer(TEXT, 3.0);
    answer["alignment"] = json!({
        "characters": characters,
        "character_start_times_seconds": starts,
        "character_end_times_seconds": ends,
    });
    let server = MockServer::sequence(vec![MockResponse::json(200, answer)]).await;
    let chain = VoiceChain::new(vec![api("elevenlabs", &server.url())], prices(), UsageLedger::default());
    let dir = tempfile::tempdir().unwrap();
    let file = chain.speak(TEXT, 175, &dir.path().join("voiceover.wav"), &CancellationToken::new()).await.unwrap();

    let (cues, method) = caption_files::caption_cues(TEXT, &file).await.unwrap();
    assert_eq!(method, caption_files::FROM_ENGINE);
    let back = captions::parse_vtt(&captions::to_vtt(&cues)).unwrap();
    let words: Vec<&captions::WordTiming> = back.iter().flat_map(|c| &c.words).collect();
    // Each word starts with its first character.
    let first_chars = [0, 8, 20, 25];
    assert_eq!(words.len(), first_chars.len());
    for (word, index) in words.iter().zip(first_chars) {
        assert!((word.start - starts[index]).abs() < 0.0015, "{word:?} vs {}", starts[index]);
    }
    assert!(words[2].start - words[1].start > 0.9, "the pause is kept: {words:?}");
    let srt = captions::to_srt(&cues);
    assert!(srt.starts_with("1\n00:00:00,050 --> "), "{srt}");

    // An alignment that is not of the text is not trusted: the fallback times the words.
    let mut wrong = elevenlabs_answer("Something else entirely.", 3.0);
    wrong["normalized_alignment"] = Value::Null;
    let server = MockServer::sequence(vec![MockResponse::json(200, wrong)]).await;
    let chain = VoiceChain::new(vec![api("elevenlabs", &server.url())], prices(), UsageLedger::default());
    let file = chain.speak(TEXT, 175, &dir.path().join("other.wav"), &CancellationToken::new()).await.unwrap();
    assert_eq!(file.word_timings, None);
    let (cues, method) = caption_files::caption_cues(TEXT, &file).await.unwrap();
    assert_eq!((method, cues.iter().map(|c| c.words.len()).sum::<usize>()), (caption_files::FALLBACK, 4));
}
