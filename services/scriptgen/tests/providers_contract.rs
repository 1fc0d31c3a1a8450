//! Contract tests against the providers' own OpenAPI documents: every request shortline sends to
//! OpenAI (speech, chat completions) and to ElevenLabs (text to speech) goes through Prism's
//! validation proxy (`prism proxy SPEC UPSTREAM --errors`, `@stoplight/prism-cli` from the npm
//! registry, as the providers' SDKs test themselves), which refuses with 422 what the
//! specification rejects and forwards the rest to a local mock that answers as the API does.
//! One deliberately malformed request per document shows that the check can fail.
//!
//! The documents are `../shared/reference/provider-specs/` beside the repository (OpenAI's
//! `openai/openai-openapi` f85dbe2, ElevenLabs' `elevenlabs/elevenlabs-docs` 3557f0b1). Prism
//! must be installed (`scripts/dev test` installs it); without it these tests fail, saying so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod providers_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use providers_support::{elevenlabs_answer, wav};
use serde_json::{json, Value};
use shortline_domain::Theme;
use shortline_providers::llm::OpenAiCompatibleChat;
use shortline_providers::{reqwest, Auth};
use shortline_scriptgen::planner::{Planner, TemplatePlanner};
use shortline_scriptgen::providers::{ElevenLabsSpeech, LlmPlanner, OpenAiSpeech, SpeechApi};
use shortline_testing::http_mock::{MockResponse, MockServer};
use shortline_testing::providers::client;

/// The providers' documents, beside the repository.
fn spec(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/provider-specs").join(name);
    assert!(path.exists(), "the provider specification {} is missing", path.display());
    path
}

/// OpenAI's document with each path under its server's base path (`https://api.openai.com/v1`
/// → `/v1/audio/speech`): Prism matches request paths literally, and shortline, like OpenAI's
/// SDKs, sends the full path.
fn openai_spec(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(spec("openai-openapi.yaml")).unwrap();
    assert!(text.contains("\n  - url: https://api.openai.com/v1\n"), "the document's server changed");
    // Path keys are the only two-space-indented keys that start with `/`.
    let prefixed: String = text
        .lines()
        .map(|line| match line.strip_prefix("  /") {
            Some(rest) => format!("  /v1/{rest}\n"),
            None => format!("{line}\n"),
        })
        .collect();
    let path = dir.join("openai-openapi.yaml");
    std::fs::write(&path, prefixed).unwrap();
    path
}

/// A Prism validation proxy in front of `upstream`; killed when dropped.
struct Prism {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Prism {
    async fn start(spec: &Path, upstream: &str, dir: &Path) -> Prism {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = dir.join(format!("prism-{port}.log"));
        let child = Command::new("prism")
            .arg("proxy")
            .arg(spec)
            .arg(upstream)
            .args(["--errors", "-h", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("prism is not installed (npm install -g @stoplight/prism-cli): {e}"));
        let prism = Prism { child, url: format!("http://127.0.0.1:{port}"), log };
        // Reading a document of a few MB takes Prism a while; wait until it listens.
        for _ in 0..600 {
            if std::fs::read_to_string(&prism.log).unwrap_or_default().contains("Prism is listening") {
                return prism;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("prism did not start: {}", prism.log_text());
    }

    /// What Prism logged (its validation messages), for failure reports.
    fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().filter(|line| !line.contains("[CLI] ℹ  info")).collect::<Vec<_>>().join("\n")
    }

    /// Sends a request that bypasses shortline: `(status, body)`.
    async fn raw(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
        let request = headers
            .iter()
            .fold(reqwest::Client::new().post(format!("{}{path}", self.url)), |r, (name, value)| {
                r.header(*name, *value)
            })
            .json(body);
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const THEME: &str = "config:\n  theme: Eco-friendly water bottles\n  video_duration_seconds: 12\n";

#[tokio::test(flavor = "multi_thread")]
async fn openai_speech_and_chat_completions_requests_satisfy_openais_specification() {
    let dir = tempfile::tempdir().unwrap();
    let theme = Theme::from_yaml(THEME).unwrap();
    let plan = TemplatePlanner.plan(&theme, None, 1).unwrap();
    let audio = wav(0.5);
    let completion = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1_764_000_000, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null,
                     "message": {"role": "assistant", "content": serde_json::to_string(&plan).unwrap(), "refusal": null}}],
        "usage": {"prompt_tokens": 900, "completion_tokens": 400, "total_tokens": 1300}
    });
    let openai = MockServer::start(move |r| match r.path.as_str() {
        // The documented answer type of `createSpeech`.
        "/v1/audio/speech" => MockResponse::bytes(200, "application/octet-stream", audio.clone()),
        "/v1/chat/completions" => MockResponse::json(200, completion.clone()),
        _ => MockResponse::json(404, json!({"error": {"message": "not found"}})),
    })
    .await;
    let prism = Prism::start(&openai_spec(dir.path()), &openai.url(), dir.path()).await;

    // Speech, as OpenAiSpeech sends it.
    let speech = OpenAiSpeech::new(client("openai", &prism.url, Auth::Bearer), "tts-1", "alloy");
    let spoken = speech.synthesize("Hydrate sustainably with AquaPure.", 1.1).await;
    assert!(spoken.is_ok(), "Prism refused the speech request: {spoken:?}\n{}", prism.log_text());

    // Chat completions with a strict JSON schema, as the LLM planner (and analyst) send them.
    let chat = OpenAiCompatibleChat::new(
        client("openai_compatible", &format!("{}/v1", prism.url), Auth::Bearer),
        "gpt-4o-mini",
    );
    let planned = LlmPlanner::new(Arc::new(chat), None).plan_with_usage(&theme, None, 1).await;
    assert!(planned.is_ok(), "Prism refused the chat completions request: {planned:?}\n{}", prism.log_text());

    let forwarded: Vec<String> = openai.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(forwarded, ["/v1/audio/speech", "/v1/chat/completions"], "both passed validation");

    // The check can fail: a speed above the documented maximum (4) is refused, not forwarded.
    let (status, answer) = prism
        .raw(
            "/v1/audio/speech",
            &[("authorization", "Bearer sk-test")],
            &json!({"model": "tts-1", "input": "hi", "voice": "alloy", "speed": 10}),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer.to_string().contains("speed"), "{answer}");
    assert_eq!(openai.requests().len(), 2, "the malformed request never reached the API");
}

#[tokio::test(flavor = "multi_thread")]
async fn elevenlabs_text_to_speech_requests_satisfy_elevenlabs_specification() {
    let dir = tempfile::tempdir().unwrap();
    let elevenlabs = MockServer::start(move |r| {
        if r.path.starts_with("/v1/text-to-speech/") {
            // The documented `AudioWithTimestampsResponseModel`: with `--errors` Prism checks
            // answers too (one without `audio_base64` comes back as a 500 listing the violation).
            MockResponse::json(200, elevenlabs_answer("Hydrate sustainably with AquaPure.", 0.5))
        } else {
            MockResponse::json(404, json!({"detail": "not found"}))
        }
    })
    .await;
    let prism = Prism::start(&spec("elevenlabs-openapi.json"), &elevenlabs.url(), dir.path()).await;

    let speech = ElevenLabsSpeech::new(
        client("elevenlabs", &prism.url, Auth::Header("xi-api-key")),
        "eleven_multilingual_v2",
        "JBFqnCBsd6RMkjVDRZzb",
    );
    let spoken = speech.synthesize("Hydrate sustainably with AquaPure.", 1.0).await;
    assert!(spoken.is_ok(), "Prism refused the text-to-speech request: {spoken:?}\n{}", prism.log_text());
    let forwarded = elevenlabs.requests();
    assert_eq!(forwarded.len(), 1);
    assert_eq!(forwarded[0].path, "/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb/with-timestamps");
    assert_eq!(forwarded[0].query_param("output_format").as_deref(), Some("pcm_24000"));
    assert_eq!(spoken.unwrap().word_timings.map(|w| w.len()), Some(4), "the alignment timed every word");

    // The check can fail: a request without its required `text` is refused, not forwarded, and
    // so is an output format the endpoint does not document.
    let (status, answer) = prism
        .raw(
            "/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb/with-timestamps?output_format=pcm_24000",
            &[("xi-api-key", "test")],
            &json!({"model_id": "eleven_multilingual_v2"}),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer.to_string().contains("text"), "{answer}");
    let (status, answer) = prism
        .raw(
            "/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb/with-timestamps?output_format=wav_7",
            &[("xi-api-key", "test")],
            &json!({"text": "hi", "model_id": "eleven_multilingual_v2"}),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer.to_string().contains("output_format"), "{answer}");
    assert_eq!(elevenlabs.requests().len(), 1, "the malformed requests never reached the API");
}
