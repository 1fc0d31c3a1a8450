//! HeyGen avatar videos: a presenter (`avatar_id`) speaking the voiceover in a voice
//! (`voice_id`), in one video that replaces a script's clips and voiceover.
//!
//! 1. `POST /v2/video/generate` with the `X-Api-Key` header and
//!    `{video_inputs: [{character: {type: "avatar", avatar_id, avatar_style}, voice: {type: "text",
//!    input_text, voice_id}}], dimension: {width, height}}` → `{error: null, data: {video_id}}`;
//! 2. `GET /v1/video_status.get?video_id=…` until `data.status` is `completed` (`pending`,
//!    `waiting`, `processing` on the way; `failed` with `data.error`) → `data.video_url`,
//!    `data.duration`;
//! 3. the video is downloaded from `video_url` (a CDN; no key sent).
//!
//! The frame asked for keeps the target's shape with its short side at most
//! `providers.heygen.max_short_side` (720 by default): HeyGen's API plans limit the output
//! resolution, the free plan to 720p, and a larger `dimension` is refused; the clips are scaled
//! to the target when conformed. HeyGen's API reference now labels `POST /v2/video/generate`
//! legacy (it still serves it); moving to its successor is a separate change.
//!
//! HeyGen bills the generated seconds: the usage is `data.duration`. An exhausted balance is
//! answered with an error code naming it (read as "payment required", so it is reported as
//! such); 401, 429 with `Retry-After`, 5xx, malformed answers and timeouts are handled by the
//! provider HTTP core like every other provider's.

use serde::Deserialize;
use serde_json::{json, Value};
use shortline_providers::{ErrorClass, JobTimings, ModelApi, ModelClient, ProviderClient, ProviderError, Usage};

/// What to make: who speaks, in which voice, what, at which frame size.
#[derive(Debug, Clone, PartialEq)]
pub struct AvatarRequest<'a> {
    pub avatar_id: &'a str,
    pub voice_id: &'a str,
    pub text: &'a str,
    pub width: u32,
    pub height: u32,
}

/// A finished avatar video and what it used.
#[derive(Debug, Clone)]
pub struct AvatarVideo {
    pub bytes: Vec<u8>,
    /// The generated seconds, as billed.
    pub usage: Usage,
    /// `{video_id}`, for the asset's usage.
    pub source: Value,
}

/// The short side of the largest frame HeyGen's free API plan renders (720p).
pub const FREE_PLAN_SHORT_SIDE: u32 = 720;

/// `width`x`height` scaled down, if needed, so its short side is at most `max_short_side`;
/// both sides even (video encoders need it).
pub fn fit_short_side(width: u32, height: u32, max_short_side: u32) -> (u32, u32) {
    let short = width.min(height);
    if short <= max_short_side || short == 0 {
        return (width, height);
    }
    let scale = |side: u32| ((u64::from(side) * u64::from(max_short_side) / u64::from(short)) as u32) & !1;
    (scale(width), scale(height))
}

pub struct HeygenAvatar {
    api: ModelClient,
    max_short_side: u32,
    timings: JobTimings,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: Option<T>,
}

#[derive(Deserialize)]
struct Generated {
    video_id: String,
}

#[derive(Deserialize)]
struct Status {
    status: String,
    #[serde(default)]
    video_url: Option<String>,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    error: Option<Value>,
}

impl HeygenAvatar {
    /// `client` must use [`Auth::Header("x-api-key")`](shortline_providers::Auth::Header);
    /// `model` is the name HeyGen's price is listed under.
    pub fn new(client: ProviderClient, model: impl Into<String>, timings: JobTimings) -> Self {
        Self {
            api: ModelClient::new(client.with_classifier(classify), model),
            max_short_side: FREE_PLAN_SHORT_SIDE,
            timings,
        }
    }

    /// Frames up to a short side of `pixels` (a paid plan's 1080, say); the default is the free
    /// plan's 720.
    pub fn with_max_short_side(mut self, pixels: u32) -> Self {
        self.max_short_side = pixels;
        self
    }

    /// What a video of about `seconds` would bill (checked against the job's budget first).
    pub fn estimate(&self, seconds: f64) -> Usage {
        Usage::seconds(seconds)
    }

    /// Generates the video, waits for it and downloads it.
    pub async fn generate(&self, request: &AvatarRequest<'_>) -> Result<AvatarVideo, ProviderError> {
        let (width, height) = fit_short_side(request.width, request.height, self.max_short_side);
        let body = json!({
            "video_inputs": [{
                "character": { "type": "avatar", "avatar_id": request.avatar_id, "avatar_style": "normal" },
                "voice": { "type": "text", "input_text": request.text, "voice_id": request.voice_id },
            }],
            "dimension": { "width": width, "height": height },
        });
        let client = &self.api.client;
        let url = client.url("/v2/video/generate");
        // A render is billed: sent at most once (HeyGen documents no idempotency key).
        let reply = client.submit_once("generate video", |http| http.post(&url).json(&body)).await?;
        let generated: Envelope<Generated> = client.json(&reply)?;
        let video_id = generated.data.ok_or_else(|| client.malformed_answer("no data.video_id"))?.video_id;

        let status_url = client.url("/v1/video_status.get");
        let (status_url, video_id) = (&status_url, &video_id);
        let job = format!("video {video_id}");
        let (video_url, duration) = self
            .timings
            .poll_until_done(client.name(), &job, move || async move {
                let reply =
                    client.send("poll status", |http| http.get(status_url).query(&[("video_id", video_id)])).await?;
                let status: Envelope<Status> = client.json(&reply)?;
                let status = status.data.ok_or_else(|| client.malformed_answer("the status has no data"))?;
                match status.status.as_str() {
                    "completed" => {
                        let url = status
                            .video_url
                            .filter(|url| url.starts_with("http://") || url.starts_with("https://"))
                            .ok_or_else(|| client.malformed_answer("a completed video without a video_url"))?;
                        Ok(Some((url, status.duration)))
                    }
                    "failed" => {
                        let error = status.error.unwrap_or(Value::Null);
                        let message = error
                            .get("message")
                            .and_then(Value::as_str)
                            .map_or_else(|| error.to_string(), str::to_owned);
                        Err(ProviderError::JobFailed {
                            provider: client.name().to_owned(),
                            message: client.redact(&format!("video {video_id} failed: {message}")),
                        })
                    }
                    "pending" | "waiting" | "processing" => {
                        tracing::debug!(provider = client.name(), status = %status.status, "waiting for the avatar video");
                        Ok(None)
                    }
                    other => Err(client.malformed_answer(format!("unknown video status {other:?}"))),
                }
            })
            .await?;
        let video = client.download("download video", &video_url, self.timings.download_timeout).await?;
        let seconds = duration.filter(|d| d.is_finite() && *d > 0.0).unwrap_or(0.0);
        Ok(AvatarVideo {
            bytes: video.body.to_vec(),
            usage: Usage::seconds(seconds),
            source: json!({ "video_id": video_id }),
        })
    }
}

impl ModelApi for HeygenAvatar {
    fn model_client(&self) -> &ModelClient {
        &self.api
    }
}

/// HeyGen names an exhausted balance in its error code: a payment problem, not a bad request.
fn classify(_status: u16, body: &[u8]) -> Option<ErrorClass> {
    let doc: Value = serde_json::from_slice(body).ok()?;
    let code = doc.pointer("/error/code").and_then(Value::as_str)?.to_ascii_lowercase();
    (code.contains("insufficient") || code.contains("quota") || code.contains("credit"))
        .then_some(ErrorClass::PaymentRequired)
}
