//! Text-to-video through fal.ai's queue API (Kling, MiniMax):
//!
//! 1. `POST {base}/{model_id}` with `Authorization: Key KEY` and the model's input
//!    (`{prompt, duration, aspect_ratio, ...}`) → `{request_id, status_url, response_url, ...}`;
//! 2. `GET {status_url}` until `{"status": "COMPLETED"}` (`IN_QUEUE`, `IN_PROGRESS` before);
//! 3. `GET {response_url}` → the model's output, `{"video": {"url": ...}}`;
//! 4. download the video from its URL (a CDN: the key is not sent there).
//!
//! Where the submit answer has no `status_url`/`response_url`, they are built from the
//! endpoint's app alone: fal's docs and the official client (fal-js `queue.ts`, `status()` and
//! `result()` with `parseEndpointId` in `utils.ts`) use the model's subpath only to submit —
//! status and results live at `{owner}/{alias}/requests/{id}[/status]`.
//!
//! fal answers an exhausted balance with 403 `{"detail": "User is locked. Reason: Exhausted
//! balance. ..."}`: read as "payment required", so the chain moves on. A submit answered with
//! 404 names an endpoint fal does not have (a wrong or retired model id): "unavailable", so the
//! chain moves on to a provider that can make the clip.
//!
//! The key goes only to URLs on the configured base URL: a `status_url` elsewhere is refused as
//! a malformed answer. fal bills the generated seconds, i.e. the duration requested.

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};
use shortline_domain::Scene;
use shortline_providers::{ErrorClass, JobTimings, ModelApi, ModelClient, ProviderClient, ProviderError, Usage};

use super::clips::{aspect_ratio, FetchedVideo, VideoApi};
use crate::media::ClipTarget;

/// Which model family, for its input schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FalFamily {
    /// Kling text-to-video: `{prompt, duration: "5"|"10", aspect_ratio, negative_prompt}`.
    Kling,
    /// MiniMax Hailuo text-to-video: `{prompt, duration: "6"|"10", prompt_optimizer}`.
    Minimax,
}

impl FalFamily {
    /// The seconds generated (and billed) for a clip of `seconds`: the shortest duration the
    /// model offers that covers it, else its longest.
    pub fn billed_seconds(self, seconds: f64) -> f64 {
        let shortest = match self {
            FalFamily::Kling => 5.0,
            FalFamily::Minimax => 6.0,
        };
        if seconds <= shortest {
            shortest
        } else {
            10.0
        }
    }

    /// The model input for a prompt and target, and the seconds that will be generated (billed).
    pub fn input(self, prompt: &str, target: &ClipTarget) -> (Value, f64) {
        let seconds = self.billed_seconds(target.seconds);
        match self {
            FalFamily::Kling => {
                let input = json!({
                    "prompt": prompt,
                    "duration": format!("{seconds}"),
                    "aspect_ratio": aspect_ratio(target),
                    "negative_prompt": "blur, distort, and low quality",
                });
                (input, seconds)
            }
            FalFamily::Minimax => {
                (json!({ "prompt": prompt, "duration": format!("{seconds}"), "prompt_optimizer": true }), seconds)
            }
        }
    }
}

pub struct FalVideo {
    api: ModelClient,
    family: FalFamily,
    timings: JobTimings,
}

#[derive(Deserialize)]
struct Submitted {
    request_id: String,
    status_url: Option<String>,
    response_url: Option<String>,
}

#[derive(Deserialize)]
struct Status {
    status: String,
    #[serde(default)]
    queue_position: Option<i64>,
    #[serde(default)]
    error: Option<Value>,
}

impl FalVideo {
    /// `client` must use [`Auth::AuthorizationPrefix("Key ")`](shortline_providers::Auth).
    pub fn new(client: ProviderClient, model: impl Into<String>, family: FalFamily, timings: JobTimings) -> Self {
        Self { api: ModelClient::new(client.with_classifier(classify), model), family, timings }
    }

    fn own_url(&self, url: Option<String>, fallback: String, what: &str) -> Result<String, ProviderError> {
        let url = url.unwrap_or(fallback);
        if self.api.client.is_own_url(&url) {
            Ok(url)
        } else {
            Err(self
                .api
                .client
                .malformed_answer(format!("the {what} is not on the configured base URL; the key is not sent there")))
        }
    }

    async fn generate(&self, scene: &Scene, target: &ClipTarget) -> Result<FetchedVideo, ProviderError> {
        let client = &self.api.client;
        let (input, seconds) = self.family.input(&scene.visual_prompt, target);
        let submit_url = client.url(&format!("/{}", self.api.model));
        // A submit starts a billed generation: sent at most once (fal has no idempotency key).
        let reply = client.submit_once("submit", |http| http.post(&submit_url).json(&input)).await?;
        let submitted: Submitted = client.json(&reply)?;
        let request_base = client.url(&format!("/{}/requests/{}", app_path(&self.api.model), submitted.request_id));
        let status_url = self.own_url(submitted.status_url, format!("{request_base}/status"), "status_url")?;
        let response_url = self.own_url(submitted.response_url, request_base, "response_url")?;

        let (request_id, status_url) = (&submitted.request_id, &status_url);
        let job = format!("request {request_id}");
        self.timings
            .poll_until_done(client.name(), &job, move || async move {
                let reply = client.send("poll status", |http| http.get(status_url)).await?;
                let status: Status = client.json(&reply)?;
                if let Some(error) = status.error.filter(|e| !e.is_null()) {
                    let message = error.as_str().map(str::to_owned).unwrap_or_else(|| error.to_string());
                    return Err(ProviderError::JobFailed {
                        provider: client.name().to_owned(),
                        message: client.redact(&format!("request {request_id} failed: {message}")),
                    });
                }
                match status.status.as_str() {
                    "COMPLETED" => Ok(Some(())),
                    "IN_QUEUE" | "IN_PROGRESS" => {
                        tracing::debug!(provider = client.name(), status = %status.status, queue_position = status.queue_position, "waiting for the generation");
                        Ok(None)
                    }
                    other => Err(client.malformed_answer(format!("unknown request status {other:?}"))),
                }
            })
            .await?;

        // The generation completed, so it is billed: failing to fetch it now is a possible charge.
        let billed = |error: ProviderError| ProviderError::PossiblyCharged {
            provider: client.name().to_owned(),
            message: format!("request {} completed but its video could not be fetched: {error}", submitted.request_id),
            estimate_micros: 0,
        };
        let reply = client.send("fetch result", |http| http.get(&response_url)).await.map_err(billed)?;
        let result: Value = client.json(&reply).map_err(billed)?;
        let video_url = result
            .pointer("/video/url")
            .and_then(Value::as_str)
            .filter(|url| url.starts_with("http://") || url.starts_with("https://"))
            .ok_or_else(|| billed(client.malformed_answer("the result has no video.url")))?
            .to_owned();
        let video =
            client.download("download video", &video_url, self.timings.download_timeout).await.map_err(billed)?;
        Ok(FetchedVideo {
            bytes: video.body.to_vec(),
            usage: Usage::seconds(seconds),
            source: json!({ "request_id": submitted.request_id, "seed": result.get("seed") }),
        })
    }
}

/// The app part of a fal endpoint id — `{owner}/{alias}`, after a `workflows/` or `comfy/`
/// namespace — which is where a request's status and result are (fal-js `parseEndpointId`).
pub fn app_path(endpoint_id: &str) -> String {
    let parts: Vec<&str> = endpoint_id.trim_matches('/').split('/').collect();
    let app_len = if matches!(parts.first(), Some(&("workflows" | "comfy"))) { 3 } else { 2 };
    parts[..app_len.min(parts.len())].join("/")
}

/// fal's "locked for an exhausted balance" answer is a payment problem; 404 is an endpoint fal
/// does not have.
fn classify(status: u16, body: &[u8]) -> Option<ErrorClass> {
    if status == 404 {
        return Some(ErrorClass::Unavailable);
    }
    let doc: Value = serde_json::from_slice(body).ok()?;
    let detail = doc.get("detail").and_then(Value::as_str)?.to_ascii_lowercase();
    (status == 403 && (detail.contains("exhausted balance") || detail.contains("insufficient")))
        .then_some(ErrorClass::PaymentRequired)
}

impl ModelApi for FalVideo {
    fn model_client(&self) -> &ModelClient {
        &self.api
    }
}

impl VideoApi for FalVideo {
    fn estimate(&self, seconds: f64) -> Usage {
        Usage::seconds(self.family.billed_seconds(seconds))
    }

    fn fetch<'a>(
        &'a self,
        scene: &'a Scene,
        target: &'a ClipTarget,
    ) -> BoxFuture<'a, Result<FetchedVideo, ProviderError>> {
        Box::pin(self.generate(scene, target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_results_live_under_the_app_not_the_model_subpath() {
        assert_eq!(app_path("fal-ai/kling-video/v2.5-turbo/pro/text-to-video"), "fal-ai/kling-video");
        assert_eq!(app_path("fal-ai/minimax/hailuo-02/standard/text-to-video"), "fal-ai/minimax");
        assert_eq!(app_path("workflows/someone/my-flow/run"), "workflows/someone/my-flow");
        assert_eq!(app_path("fal-ai/fast-sdxl"), "fal-ai/fast-sdxl");
    }
}
