//! The orchestrator's real providers against local mock HTTP servers: the Apify TikTok actor
//! run, the YouTube Data API v3, and the LLM analyst over the Anthropic Messages API (tool use)
//! and an OpenAI-compatible chat API (JSON schema). Each request is checked as documented and
//! answered with the documented bodies and errors; no error holds the key.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value};
use shortline_config::Price;
use shortline_domain::{Platform, TrendItem};
use shortline_orchestrator::providers::{ApifyTikTok, LlmAnalyst, YoutubeShorts};
use shortline_orchestrator::trends::{
    parse_apify_tiktok, parse_youtube_videos_list, AnalysisError, Analyst, HeuristicAnalyst, SampleTrendSource,
    TrendError, TrendSource,
};
use shortline_providers::llm::{AnthropicMessages, OpenAiCompatibleChat};
use shortline_providers::Auth;
use shortline_testing::http_mock::{MockResponse, MockServer, RecordedRequest};
use shortline_testing::providers::{anthropic_tool_answer, assert_no_key, client_with_timeout as client, KEY};

const TIKTOK_SAMPLE: &str = include_str!("../src/trends/samples/tiktok_apify.json");
const YOUTUBE_SAMPLE: &str = include_str!("../src/trends/samples/youtube_videos_list.json");

// ---- Apify ---------------------------------------------------------------------------------

fn apify(url: &str, timeout: Duration) -> ApifyTikTok {
    ApifyTikTok::new(
        client("apify", url, Auth::Bearer, timeout),
        "clockworks~tiktok-scraper",
        vec!["fyp".into(), "cooking".into()],
        Duration::from_millis(10),
        Duration::from_secs(5),
    )
}

fn run(status: &str) -> Value {
    json!({"data": {
        "id": "run-1", "actId": "GdWCkxBtKWOsKjdch", "status": status, "statusMessage": "Finished",
        "defaultDatasetId": "ds-1", "defaultKeyValueStoreId": "kv-1", "usageTotalUsd": 0.0123
    }})
}

#[tokio::test]
async fn apify_starts_polls_and_reads_the_dataset_through_the_sample_parser() {
    let polls = AtomicUsize::new(0);
    let server = MockServer::start(move |r: &RecordedRequest| match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/v2/acts/clockworks~tiktok-scraper/runs") => MockResponse::json(201, run("READY")),
        ("GET", "/v2/actor-runs/run-1") => {
            let status = if polls.fetch_add(1, Ordering::SeqCst) == 0 { "RUNNING" } else { "SUCCEEDED" };
            MockResponse::json(200, run(status))
        }
        ("GET", "/v2/datasets/ds-1/items") => {
            MockResponse::bytes(200, "application/json", TIKTOK_SAMPLE.as_bytes().to_vec())
        }
        _ => MockResponse::json(404, json!({"error": {"type": "record-not-found", "message": "not found"}})),
    })
    .await;
    let fetched = apify(&server.url(), Duration::from_secs(5)).fetch(10).await.unwrap();
    assert_eq!(fetched.cost_micros, 12_300, "the run's usageTotalUsd, recorded on the collection");
    let items = fetched.items;

    let expected = parse_apify_tiktok(TIKTOK_SAMPLE).unwrap().items;
    assert_eq!(items, expected[..10].to_vec(), "the same parser as the sample data");
    let requests = server.requests();
    let start = &requests[0];
    assert_eq!((start.method.as_str(), start.path.as_str()), ("POST", "/v2/acts/clockworks~tiktok-scraper/runs"));
    assert_eq!(start.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(start.query, None, "the token is not in the URL");
    let input = start.json();
    assert_eq!(input["hashtags"], json!(["fyp", "cooking"]));
    assert_eq!(input["resultsPerPage"], 10);
    assert_eq!(requests.iter().filter(|r| r.path == "/v2/actor-runs/run-1").count(), 2, "polled until SUCCEEDED");
    let items_request = requests.last().unwrap();
    assert_eq!(items_request.path, "/v2/datasets/ds-1/items");
    assert_eq!(items_request.query_param("format").as_deref(), Some("json"));
    assert_eq!(items_request.query_param("clean").as_deref(), Some("true"));
    assert_eq!(items_request.query_param("limit").as_deref(), Some("10"));
    assert!(requests.iter().all(|r| r.header("authorization") == Some(&format!("Bearer {KEY}"))));
}

#[tokio::test]
async fn apify_documented_errors() {
    let error = |kind: &str, message: &str| json!({"error": {"type": kind, "message": message}});
    let cases: Vec<(MockResponse, &str)> = vec![
        (
            MockResponse::json(
                401,
                error("user-or-token-not-found", &format!("Authentication token {KEY} is not valid")),
            ),
            "HTTP 401",
        ),
        (
            MockResponse::json(402, error("not-enough-usage-to-run-paid-actor", "You would exceed your usage limit")),
            "payment required (HTTP 402)",
        ),
        (
            MockResponse::json(429, error("rate-limit-exceeded", "You have exceeded the rate limit"))
                .with_header("retry-after", "0"),
            "rate limited (HTTP 429) after 3 attempt(s)",
        ),
        // The run may have started (and be billed): not started a second time.
        (MockResponse::json(500, error("internal-error", "Internal error")), "possibly charged, not resent"),
        (MockResponse::json(201, json!({"data": {}})), "malformed"),
    ];
    for (answer, expected) in cases {
        let server = MockServer::sequence(vec![answer]).await;
        let err = apify(&server.url(), Duration::from_secs(5)).fetch(5).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains(expected), "{text} lacks {expected}");
        assert_no_key("an Apify error", &format!("{text} {err:?}"));
        if expected.starts_with("possibly") {
            assert_eq!(server.requests().len(), 1, "one actor run was started");
        }
    }

    // A run that fails, and a dataset that is not a list.
    let server = MockServer::sequence(vec![MockResponse::json(201, run("FAILED"))]).await;
    let err = apify(&server.url(), Duration::from_secs(5)).fetch(5).await.unwrap_err();
    assert!(matches!(&err, TrendError::Api { message, .. } if message.contains("ended FAILED")), "{err:?}");
    let server = MockServer::start(|r| match (r.method.as_str(), r.path.starts_with("/v2/datasets")) {
        (_, true) => MockResponse::json(200, json!({"items": "not a list"})),
        _ => MockResponse::json(201, run("SUCCEEDED")),
    })
    .await;
    let err = apify(&server.url(), Duration::from_secs(5)).fetch(5).await.unwrap_err();
    assert!(matches!(err, TrendError::Malformed { platform: Platform::Tiktok, .. }), "{err:?}");

    // A slow answer times out; the run may have started, so it is not started again.
    let server =
        MockServer::sequence(vec![MockResponse::json(201, run("READY")).with_delay(Duration::from_secs(3))]).await;
    let started = Instant::now();
    let err = apify(&server.url(), Duration::from_millis(300)).fetch(5).await.unwrap_err();
    assert!(err.to_string().contains("possibly charged, not resent"), "{err:?}");
    assert_eq!(server.requests().len(), 1);
    assert!(started.elapsed() < Duration::from_secs(2));
}

// ---- YouTube -------------------------------------------------------------------------------

fn youtube(url: &str, timeout: Duration) -> YoutubeShorts {
    YoutubeShorts::new(client("youtube", url, Auth::Query("key"), timeout), Some("US".into()), 72)
}

#[tokio::test]
async fn youtube_searches_shorts_then_lists_their_statistics() {
    let sample: Value = serde_json::from_str(YOUTUBE_SAMPLE).unwrap();
    let ids: Vec<String> =
        sample["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect();
    let found: Vec<Value> = ids
        .iter()
        .map(|id| json!({"kind": "youtube#searchResult", "etag": "e", "id": {"kind": "youtube#video", "videoId": id}}))
        .collect();
    let search = json!({
        "kind": "youtube#searchListResponse", "etag": "e", "regionCode": "US",
        "pageInfo": {"totalResults": ids.len(), "resultsPerPage": 50}, "items": found
    });
    let server = MockServer::start(move |r| match r.path.as_str() {
        "/youtube/v3/search" => MockResponse::json(200, search.clone()),
        "/youtube/v3/videos" => MockResponse::bytes(200, "application/json", YOUTUBE_SAMPLE.as_bytes().to_vec()),
        _ => MockResponse::json(404, json!({"error": {"code": 404, "message": "Not Found"}})),
    })
    .await;
    let fetched = youtube(&server.url(), Duration::from_secs(5)).fetch(50).await.unwrap();
    assert_eq!(fetched.cost_micros, 0, "paid in quota units");
    let items = fetched.items;
    assert_eq!(items, parse_youtube_videos_list(YOUTUBE_SAMPLE).unwrap().items);
    assert!(items.iter().all(|i| i.duration_seconds <= 60), "only Shorts");

    let requests = server.requests();
    let search = &requests[0];
    assert_eq!((search.method.as_str(), search.path.as_str()), ("GET", "/youtube/v3/search"));
    for (param, value) in [
        ("part", "snippet"),
        ("type", "video"),
        ("videoDuration", "short"),
        ("order", "viewCount"),
        ("maxResults", "50"),
        ("regionCode", "US"),
        ("key", KEY),
    ] {
        assert_eq!(search.query_param(param).as_deref(), Some(value), "{param}");
    }
    let after = chrono::DateTime::parse_from_rfc3339(&search.query_param("publishedAfter").unwrap()).unwrap();
    let age = Utc::now() - after.with_timezone(&Utc);
    assert!((age - chrono::Duration::hours(72)).num_seconds().abs() < 60, "{age}");
    let list = &requests[1];
    assert_eq!(list.path, "/youtube/v3/videos");
    assert_eq!(list.query_param("part").as_deref(), Some("snippet,contentDetails,statistics"));
    assert_eq!(list.query_param("id").unwrap(), ids.join(","));
    assert_eq!(list.query_param("key").as_deref(), Some(KEY));
}

#[tokio::test]
async fn youtube_documented_errors_never_show_the_key_from_the_url() {
    let error = |code: u16, reason: &str, message: &str| json!({"error": {"code": code, "message": message, "errors": [{"message": message, "domain": "youtube.quota", "reason": reason}]}});
    let cases: Vec<(MockResponse, &str)> = vec![
        (
            MockResponse::json(400, error(400, "badRequest", "API key not valid. Please pass a valid API key.")),
            "request refused (HTTP 400)",
        ),
        (
            MockResponse::json(403, error(403, "forbidden", "The caller does not have permission")),
            "unauthorized (HTTP 403)",
        ),
        (
            MockResponse::json(
                403,
                error(403, "quotaExceeded", "The request cannot be completed because you have exceeded your quota."),
            ),
            // The day's quota is spent: not retried as a rate limit.
            "payment required (HTTP 403)",
        ),
        (MockResponse::json(500, error(500, "backendError", "Backend Error")), "server error (HTTP 500)"),
        (MockResponse::json(200, json!({"kind": "youtube#searchListResponse"})), "malformed"),
    ];
    for (answer, expected) in cases {
        let server = MockServer::sequence(vec![answer]).await;
        let err = youtube(&server.url(), Duration::from_secs(5)).fetch(5).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains(expected), "{text} lacks {expected}");
        assert_no_key("a YouTube error", &format!("{text} {err:?}"));
        if expected.starts_with("payment") {
            assert_eq!(server.requests().len(), 1, "a spent daily quota is not retried");
        }
    }
    // Connection refused (nothing listens): the transport error would name the URL, whose query
    // has the key; it is reported without the URL.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let err = youtube(&format!("http://{closed}"), Duration::from_secs(2)).fetch(5).await.unwrap_err();
    assert!(matches!(err, TrendError::Transport { .. }), "{err:?}");
    assert_no_key("a transport error", &format!("{err} {err:?}"));
    // Timeout.
    let server =
        MockServer::sequence(vec![MockResponse::json(200, json!({})).with_delay(Duration::from_secs(3))]).await;
    let err = youtube(&server.url(), Duration::from_millis(300)).fetch(5).await.unwrap_err();
    assert!(
        matches!(&err, TrendError::Transport { message, .. } if message.contains("no answer within 300 ms")),
        "{err:?}"
    );
}

// ---- the LLM analyst -----------------------------------------------------------------------

fn good_report() -> Value {
    json!({
        "video_styles": [
            {"category": "tutorial", "confidence": 0.55, "count": 11},
            {"category": "showcase", "confidence": 0.25, "count": 5}
        ],
        "common_patterns": [{
            "format": "vertical talking head", "avg_duration_seconds": 24.0, "hook_type": "question",
            "uses_text_overlay": true, "audio_type": "voiceover"
        }],
        "recommendations": ["Open with a question in the first second", "Show the result before the steps"]
    })
}

fn bad_report() -> Value {
    json!({
        "video_styles": [{"category": "tutorial", "confidence": 1.7, "count": 11}],
        "common_patterns": [{
            "format": "vertical", "avg_duration_seconds": 0.0, "hook_type": "question",
            "uses_text_overlay": true, "audio_type": "voiceover"
        }],
        "recommendations": []
    })
}

fn anthropic_answer(input: Value) -> MockResponse {
    anthropic_tool_answer("trend_report", input, 2095, 503)
}

fn anthropic_analyst(url: &str) -> LlmAnalyst {
    let client = client("anthropic", url, Auth::Header("x-api-key"), Duration::from_secs(5));
    let llm = AnthropicMessages::new(client, "claude-sonnet-4-5", 2048, "2023-06-01");
    let price = Price { per_1k_input_tokens: 3_000, per_1k_output_tokens: 15_000, ..Price::default() };
    LlmAnalyst::new(Arc::new(llm), Some(price))
}

fn trends() -> Vec<(i64, TrendItem)> {
    let items = SampleTrendSource::new(Platform::Tiktok).items_at(Utc::now(), 20).unwrap();
    items.into_iter().enumerate().map(|(i, item)| (i as i64 + 1, item)).collect()
}

#[tokio::test]
async fn anthropic_tool_use_writes_the_report() {
    let server = MockServer::sequence(vec![anthropic_answer(good_report())]).await;
    let analyst = anthropic_analyst(&server.url());
    assert_eq!(analyst.name(), "anthropic/claude-sonnet-4-5");
    let items = trends();
    let now = Utc::now();
    let analysis = analyst.analyze(&items, now).await.unwrap();
    // 2095 input tokens at $3/M and 503 output tokens at $15/M, each rounded up.
    assert_eq!(analysis.cost_micros, 6_285 + 7_545);
    assert_eq!(analysis.model, "claude-sonnet-4-5");
    assert_eq!(analysis.usage["reported_usage"]["input_tokens"], 2095);
    assert_eq!(analysis.usage["calls"], 1);
    let report = analysis.body;

    let request = &server.requests()[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/v1/messages"));
    assert_eq!(request.header("x-api-key"), Some(KEY));
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    let body = request.json();
    assert_eq!(body["model"], "claude-sonnet-4-5");
    assert_eq!(body["max_tokens"], 2048);
    assert_eq!(body["tools"][0]["name"], "trend_report");
    assert_eq!(
        body["tools"][0]["input_schema"]["required"],
        json!(["video_styles", "common_patterns", "recommendations"])
    );
    assert_eq!(body["tool_choice"], json!({"type": "tool", "name": "trend_report"}));
    assert_eq!(body["messages"][0]["role"], "user");
    assert!(body["messages"][0]["content"].as_str().unwrap().contains(&items[0].1.title));
    assert!(body["system"].as_str().unwrap().contains("trend_report"));

    assert_eq!(report.video_styles[0].category, "tutorial");
    assert_eq!(report.recommendations.len(), 2);
    // The arithmetic comes from the data, as the heuristic analyst computes it.
    let heuristic = HeuristicAnalyst.report(&items, now).unwrap();
    assert_eq!(report.avg_engagement_velocity, heuristic.avg_engagement_velocity);
    assert_eq!(report.top_hashtags, heuristic.top_hashtags);
}

#[tokio::test]
async fn an_answer_breaking_the_rules_is_asked_again_with_the_violations_then_fails_readably() {
    // Bad, then good: the second prompt lists what was wrong.
    let server = MockServer::sequence(vec![anthropic_answer(bad_report()), anthropic_answer(good_report())]).await;
    let report = anthropic_analyst(&server.url()).analyze(&trends(), Utc::now()).await.unwrap().body;
    assert_eq!(report.video_styles.len(), 2);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let second = requests[1].json()["messages"][0]["content"].as_str().unwrap().to_owned();
    assert!(second.contains("previous answer broke these rules"), "{second}");
    assert!(second.contains("video_styles[0].confidence: must be between 0 and 1, got 1.7"), "{second}");
    assert!(second.contains("recommendations: needs 1 to 8 entries, got 0"), "{second}");

    // Bad twice: the stage fails with the reasons; nothing is returned to be stored.
    let server = MockServer::sequence(vec![anthropic_answer(bad_report())]).await;
    let err = anthropic_analyst(&server.url()).analyze(&trends(), Utc::now()).await.unwrap_err();
    let AnalysisError::Provider { analyst, message } = &err else { panic!("{err:?}") };
    assert_eq!(analyst, "anthropic/claude-sonnet-4-5");
    assert!(message.contains("broke the report rules twice"), "{message}");
    assert!(message.contains("avg_duration_seconds: must be between 1 and 600"), "{message}");
    assert_eq!(server.requests().len(), 2, "asked once more, not again and again");

    // Not the structure at all (missing fields) counts as breaking the rules too.
    let server = MockServer::sequence(vec![anthropic_answer(json!({"video_styles": []}))]).await;
    let err = anthropic_analyst(&server.url()).analyze(&trends(), Utc::now()).await.unwrap_err();
    assert!(err.to_string().contains("does not match the trend_report structure"), "{err}");
}

#[tokio::test]
async fn anthropic_documented_errors() {
    let error = |kind: &str, message: &str| json!({"type": "error", "error": {"type": kind, "message": message}});
    let no_tool = json!({
        "type": "message", "content": [{"type": "text", "text": "no tool"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1}
    });
    let cut = json!({
        "type": "message", "content": [], "stop_reason": "max_tokens", "usage": {"input_tokens": 1, "output_tokens": 2048}
    });
    let cases: Vec<(MockResponse, &str)> = vec![
        (
            MockResponse::json(401, error("authentication_error", &format!("invalid x-api-key {KEY}"))),
            "unauthorized (HTTP 401)",
        ),
        (
            MockResponse::json(402, error("billing_error", "Your credit balance is too low")),
            "payment required (HTTP 402)",
        ),
        (
            // How the API answers an empty balance: 400, but a payment problem, not a bad request.
            MockResponse::json(
                400,
                error(
                    "invalid_request_error",
                    "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
                ),
            ),
            "payment required (HTTP 400)",
        ),
        (
            MockResponse::json(429, error("rate_limit_error", "Number of request tokens has exceeded your rate limit"))
                .with_header("retry-after", "0"),
            "rate limited",
        ),
        (MockResponse::json(529, error("overloaded_error", "Overloaded")), "server error (HTTP 529) after 3"),
        (MockResponse::json(500, error("api_error", "Internal server error")), "server error (HTTP 500)"),
        (MockResponse::json(200, no_tool), "no tool_use block"),
        (MockResponse::json(200, cut), "max_tokens"),
        (MockResponse::text(200, "not json"), "malformed"),
    ];
    for (answer, expected) in cases {
        let server = MockServer::sequence(vec![answer]).await;
        let err = anthropic_analyst(&server.url()).analyze(&trends(), Utc::now()).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains(expected), "{text} lacks {expected}");
        assert_no_key("an analyst error", &format!("{text} {err:?}"));
    }
    let server = MockServer::sequence(vec![anthropic_answer(good_report()).with_delay(Duration::from_secs(3))]).await;
    let client = client("anthropic", &server.url(), Auth::Header("x-api-key"), Duration::from_millis(300));
    let llm = AnthropicMessages::new(client, "m", 100, "2023-06-01");
    let err = LlmAnalyst::new(Arc::new(llm), None).analyze(&trends(), Utc::now()).await.unwrap_err();
    assert!(err.to_string().contains("no answer within 300 ms"), "{err}");
}

fn chat(content: Value, finish_reason: &str) -> MockResponse {
    MockResponse::json(
        200,
        json!({
            "id": "chatcmpl-abc123", "object": "chat.completion", "created": 1764000000, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": content, "logprobs": null, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 1800, "completion_tokens": 300, "total_tokens": 2100}
        }),
    )
}

fn chat_answer(report: &Value) -> MockResponse {
    chat(json!({"role": "assistant", "content": report.to_string(), "refusal": null}), "stop")
}

fn chat_analyst(base: &str, auth: Auth) -> LlmAnalyst {
    let llm = OpenAiCompatibleChat::new(client("openai_compatible", base, auth, Duration::from_secs(5)), "gpt-4o-mini");
    LlmAnalyst::new(Arc::new(llm), None)
}

#[tokio::test]
async fn openai_compatible_chat_with_a_json_schema() {
    let server = MockServer::sequence(vec![chat_answer(&good_report())]).await;
    let report =
        chat_analyst(&format!("{}/v1", server.url()), Auth::Bearer).analyze(&trends(), Utc::now()).await.unwrap().body;
    assert_eq!(report.common_patterns[0].hook_type, "question");

    let request = &server.requests()[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/v1/chat/completions"));
    assert_eq!(request.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    let body = request.json();
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][1]["role"], "user");
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["response_format"]["json_schema"]["name"], "trend_report");
    assert_eq!(body["response_format"]["json_schema"]["strict"], true);
    assert_eq!(body["response_format"]["json_schema"]["schema"]["additionalProperties"], false);

    // A local server (Ollama, vLLM) without a key: no Authorization header at all.
    let local = MockServer::sequence(vec![chat_answer(&good_report())]).await;
    chat_analyst(&format!("{}/v1", local.url()), Auth::None).analyze(&trends(), Utc::now()).await.unwrap();
    assert_eq!(local.requests()[0].header("authorization"), None);

    // Documented failures: a refusal, a cut-off answer, content that is not JSON, 401, 429.
    let cases: Vec<(MockResponse, &str)> = vec![
        (
            chat(json!({"role": "assistant", "content": null, "refusal": "I can't help with that."}), "stop"),
            "the model refused",
        ),
        (chat(json!({"role": "assistant", "content": "{\"video_sty"}), "length"), "cut off"),
        (chat(json!({"role": "assistant", "content": "Sure! Here it is"}), "stop"), "not JSON"),
        (
            MockResponse::json(
                401,
                json!({"error": {"message": format!("Incorrect API key provided: {KEY}"), "type": "invalid_request_error", "code": "invalid_api_key"}}),
            ),
            "unauthorized",
        ),
        (
            MockResponse::json(
                429,
                json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}),
            )
            .with_header("retry-after", "0"),
            "rate limited",
        ),
        (
            // OpenAI's out-of-quota answer is a 429 that waiting does not cure.
            MockResponse::json(
                429,
                json!({"error": {"message": "You exceeded your current quota, please check your plan and billing details.", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}),
            ),
            "payment required (HTTP 429)",
        ),
    ];
    for (answer, expected) in cases {
        let server = MockServer::sequence(vec![answer]).await;
        let err = chat_analyst(&format!("{}/v1", server.url()), Auth::Bearer)
            .analyze(&trends(), Utc::now())
            .await
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{err} lacks {expected}");
        assert_no_key("an analyst error", &format!("{err} {err:?}"));
    }
}
