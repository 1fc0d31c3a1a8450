//! Provider test support: a test key that must never leak, clients with fast retries, and mock
//! providers that answer as the real ones do (shapes from their published APIs).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{json, Value};
use shortline_providers::{ApiKey, Auth, ClientSettings, ProviderClient, RetryPolicy};

use crate::http_mock::{MockResponse, MockServer, RecordedRequest};

/// The key every test provider gets; no log line, error, answer or row may contain it.
pub const KEY: &str = "sk-test-SECRET-4f9a8e7d6c5b";

/// `text` must not contain [`KEY`].
#[track_caller]
pub fn assert_no_key(what: &str, text: &str) {
    assert!(!text.contains(KEY), "the key appears in {what}: {text}");
}

/// Retries as configured in the tests: 2 retries, millisecond backoff, Retry-After up to 2 s.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        backoff_initial: Duration::from_millis(2),
        backoff_max: Duration::from_millis(10),
        retry_after_max: Duration::from_secs(2),
    }
}

/// A client of `name` at `base_url` with [`KEY`] (none for [`Auth::None`]) and a 5 s timeout.
pub fn client(name: &str, base_url: &str, auth: Auth) -> ProviderClient {
    client_with_timeout(name, base_url, auth, Duration::from_secs(5))
}

pub fn client_with_timeout(name: &str, base_url: &str, auth: Auth, timeout: Duration) -> ProviderClient {
    let settings = ClientSettings { base_url: base_url.to_owned(), timeout, retry: fast_retry() };
    let key = if auth == Auth::None { None } else { ApiKey::new(KEY) };
    ProviderClient::new(name, settings, auth, key).expect("test client")
}

/// An Anthropic Messages answer (a text block, then the forced `tool` call carrying `input`),
/// with its token usage.
pub fn anthropic_tool_answer(tool: &str, input: Value, input_tokens: u64, output_tokens: u64) -> MockResponse {
    MockResponse::json(
        200,
        json!({
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [
                {"type": "text", "text": "Here it is."},
                {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": tool, "input": input}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}
        }),
    )
}

/// Text-to-video endpoints the mock fal serves: ids from the official client's endpoint types
/// (fal-js `libs/client/src/types/endpoints.ts`). Anything else is answered as fal answers an
/// endpoint it does not have: 404.
pub const FAL_ENDPOINTS: [&str; 3] = [
    "fal-ai/kling-video/v2.5-turbo/pro/text-to-video",
    "fal-ai/kling-video/v2.1/master/text-to-video",
    "fal-ai/minimax/hailuo-02/standard/text-to-video",
];

/// fal's queue API: a submit to one of [`FAL_ENDPOINTS`] answers its request id and URLs, the
/// status is COMPLETED at once, and the result names a video at `cdn_url`.
pub async fn fal_queue(cdn_url: String) -> MockServer {
    let submitted = AtomicUsize::new(0);
    MockServer::start_knowing_url(move |base, request: &RecordedRequest| {
        if request.method == "POST" {
            if !FAL_ENDPOINTS.iter().any(|endpoint| request.path == format!("/{endpoint}")) {
                return MockResponse::json(404, json!({"detail": "Not Found"}));
            }
            let id = submitted.fetch_add(1, Ordering::SeqCst);
            let url = format!("{base}/fal-ai/kling-video/requests/req-{id}");
            MockResponse::json(
                200,
                json!({"request_id": format!("req-{id}"), "response_url": url, "status_url": format!("{url}/status")}),
            )
        } else if request.path.ends_with("/status") {
            MockResponse::json(200, json!({"status": "COMPLETED", "logs": []}))
        } else {
            MockResponse::json(
                200,
                json!({"video": {"url": format!("{cdn_url}/out.mp4"), "content_type": "video/mp4"}}),
            )
        }
    })
    .await
}
