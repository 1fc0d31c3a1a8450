//! HeyGen avatar videos against a local mock of its API: the documented generate / status /
//! download exchange, the documented errors (401, out of credit, 429 with Retry-After, 500, a
//! malformed answer, a timeout, a failed render), and an avatar video becoming a script's
//! voiceover and clips.

#![allow(clippy::unwrap_used)]

mod providers_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use shortline_config::Price;
use shortline_domain::{ProductionPlan, Theme, ThemeAvatar};
use shortline_providers::budget::{self, JobBudget};
use shortline_providers::{Auth, JobTimings};
use shortline_scriptgen::media::MediaError;
use shortline_scriptgen::planner::{Planner, TemplatePlanner};
use shortline_scriptgen::providers::heygen::fit_short_side;
use shortline_scriptgen::providers::{AvatarMedia, AvatarRequest, AvatarTargets, HeygenAvatar};
use shortline_testing::http_mock::{MockResponse, MockServer};
use shortline_testing::media::talking_mp4;
use shortline_testing::providers::{assert_no_key, client, client_with_timeout, KEY};
use tokio_util::sync::CancellationToken;

const MODEL: &str = "heygen-avatar";

fn heygen(url: &str, generation_timeout: Duration) -> HeygenAvatar {
    HeygenAvatar::new(
        client("heygen", url, Auth::Header("x-api-key")),
        MODEL,
        JobTimings {
            poll_interval: Duration::from_millis(5),
            generation_timeout,
            download_timeout: Duration::from_secs(10),
        },
    )
}

/// Avatar media from the HeyGen mock at `url`, at 0.10 USD a second.
fn priced_media(url: &str) -> AvatarMedia {
    let price = Price { per_second: 100_000, ..Price::default() };
    AvatarMedia::new(heygen(url, Duration::from_secs(10)), Some(price), "ultrafast", 30)
}

/// The template plan of an 8-second theme.
fn eight_second_plan() -> ProductionPlan {
    let theme = Theme::from_yaml("config:\n  theme: Reusable cups\n  video_duration_seconds: 8\n").unwrap();
    TemplatePlanner.plan(&theme, None, 1).unwrap()
}

/// Where `plan`'s avatar set goes in `dir`, at 180x320 and 10 fps.
fn targets(dir: &std::path::Path, plan: &ProductionPlan) -> AvatarTargets {
    AvatarTargets {
        voiceover: dir.join("voiceover.wav"),
        clips: plan.scenes.iter().map(|s| dir.join(format!("scene-{}.mp4", s.number))).collect(),
        width: 180,
        height: 320,
        fps: 10,
    }
}

fn request() -> AvatarRequest<'static> {
    AvatarRequest {
        avatar_id: "Daisy-inskirt-20220818",
        voice_id: "2d5b0e6cf36f460aa7fc47e3eee4ba54",
        text: "Hello there.",
        width: 360,
        height: 640,
    }
}

/// Why HeyGen refuses a generate request on the free API plan, if it does: a missing required
/// field of its API reference ("Create Avatar Video (V2)": `video_inputs[].character.avatar_id`,
/// `voice.input_text`, `voice.voice_id`), or a dimension above 720p (its API pricing: free plan
/// videos up to 720p).
fn refusal(body: &serde_json::Value) -> Option<&'static str> {
    let text = |pointer: &str| body.pointer(pointer).and_then(serde_json::Value::as_str).filter(|t| !t.is_empty());
    let side = |name: &str| body.pointer(&format!("/dimension/{name}")).and_then(serde_json::Value::as_u64);
    if text("/video_inputs/0/character/avatar_id").is_none() {
        return Some("video_inputs[0].character.avatar_id is required");
    }
    if text("/video_inputs/0/voice/input_text").is_none() || text("/video_inputs/0/voice/voice_id").is_none() {
        return Some("video_inputs[0].voice needs input_text and voice_id");
    }
    match (side("width"), side("height")) {
        (Some(width), Some(height)) if width.min(height) <= 720 && width.max(height) <= 1280 => None,
        (Some(_), Some(_)) => Some("Dimension exceeds the resolution of your plan"),
        _ => Some("dimension is required"),
    }
}

/// HeyGen at one server: generate answers `video_id`, status answers `processing` once, then
/// `completed` with the CDN's URL and `duration`.
async fn heygen_api(cdn_url: String, duration: f64) -> MockServer {
    let polls = AtomicUsize::new(0);
    MockServer::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/v2/video/generate") if refusal(&r.json()).is_some() => MockResponse::json(
            400,
            json!({"error": {"code": "invalid_parameter", "message": refusal(&r.json()).unwrap_or_default()}}),
        ),
        ("POST", "/v2/video/generate") => MockResponse::json(200, json!({"error": null, "data": {"video_id": "vid-42"}})),
        ("GET", "/v1/video_status.get") if polls.fetch_add(1, Ordering::SeqCst) == 0 => {
            MockResponse::json(200, json!({"code": 100, "data": {"id": "vid-42", "status": "processing", "video_url": null}, "message": "Success"}))
        }
        ("GET", "/v1/video_status.get") => MockResponse::json(
            200,
            json!({"code": 100, "message": "Success", "data": {"id": "vid-42", "status": "completed", "duration": duration,
                   "video_url": format!("{cdn_url}/v/vid-42.mp4"), "thumbnail_url": format!("{cdn_url}/t.jpg"), "error": null}}),
        ),
        _ => MockResponse::json(404, json!({"error": {"code": "not_found", "message": "Not found"}})),
    })
    .await
}

#[tokio::test]
async fn heygen_generates_polls_and_downloads_as_documented() {
    let video = talking_mp4(2.0);
    let served = video.clone();
    let cdn = MockServer::start(move |_| MockResponse::bytes(200, "video/mp4", served.clone())).await;
    let api = heygen_api(cdn.url(), 2.0).await;
    let made = heygen(&api.url(), Duration::from_secs(10)).generate(&request()).await.unwrap();
    assert_eq!(made.bytes, video);
    assert_eq!(made.usage.seconds, 2.0);
    assert_eq!(made.source["video_id"], "vid-42");

    let requests = api.requests();
    assert_eq!(requests[0].path, "/v2/video/generate");
    assert_eq!(requests[0].header("x-api-key"), Some(KEY));
    let body = requests[0].json();
    assert_eq!(
        body["video_inputs"][0]["character"],
        json!({"type": "avatar", "avatar_id": "Daisy-inskirt-20220818", "avatar_style": "normal"})
    );
    assert_eq!(
        body["video_inputs"][0]["voice"],
        json!({"type": "text", "input_text": "Hello there.", "voice_id": "2d5b0e6cf36f460aa7fc47e3eee4ba54"})
    );
    assert_eq!(body["dimension"], json!({"width": 360, "height": 640}));
    assert_eq!(requests.len(), 3, "generate, then two polls");
    assert!(requests[1..]
        .iter()
        .all(|r| r.query_param("video_id").as_deref() == Some("vid-42") && r.header("x-api-key") == Some(KEY)));
    assert!(cdn.requests().iter().all(|r| r.header("x-api-key").is_none()), "the CDN never gets the key");
}

#[tokio::test]
async fn heygen_documented_errors() {
    let cases: Vec<(MockResponse, &str)> = vec![
        (
            MockResponse::json(
                401,
                json!({"error": {"code": "invalid_api_key", "message": format!("Invalid API key {KEY}")}}),
            ),
            "unauthorized",
        ),
        (
            MockResponse::json(402, json!({"error": {"code": "payment_required", "message": "Payment required"}})),
            "payment_required",
        ),
        (
            MockResponse::json(
                400,
                json!({"error": {"code": "insufficient_credit", "message": "Insufficient credit"}}),
            ),
            "payment_required",
        ),
        (
            MockResponse::json(429, json!({"error": {"code": "rate_limit", "message": "Too many requests"}}))
                .with_header("retry-after", "0"),
            "rate_limited",
        ),
        (
            // The render may have started: not resent, possibly charged.
            MockResponse::json(500, json!({"error": {"code": "internal_error", "message": "Internal error"}})),
            "possibly_charged",
        ),
        (MockResponse::json(200, json!({"error": null, "data": null})), "malformed"),
        (MockResponse::text(200, "<html>gateway</html>"), "malformed"),
    ];
    for (answer, kind) in cases {
        let server = MockServer::sequence(vec![answer]).await;
        let err = heygen(&server.url(), Duration::from_secs(5)).generate(&request()).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{err:?}");
        assert_no_key("a HeyGen error", &format!("{err} {err:?}"));
    }

    // 429 with Retry-After is waited for, then the call goes through.
    let server = MockServer::sequence(vec![
        MockResponse::json(429, json!({"error": {"code": "rate_limit", "message": "slow down"}}))
            .with_header("retry-after", "1"),
        MockResponse::json(200, json!({"error": null, "data": {"video_id": "v"}})),
        MockResponse::json(
            200,
            json!({"data": {"status": "failed", "error": {"code": "40001", "message": "avatar not found"}}}),
        ),
    ])
    .await;
    let started = std::time::Instant::now();
    let err = heygen(&server.url(), Duration::from_secs(5)).generate(&request()).await.unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(900), "Retry-After was honoured");
    assert_eq!(err.kind(), "job_failed", "a failed render says why: {err}");
    assert!(err.to_string().contains("avatar not found"), "{err}");

    // No answer in time.
    let slow = MockServer::sequence(vec![
        MockResponse::json(200, json!({"data": {"video_id": "v"}})).with_delay(Duration::from_secs(2))
    ])
    .await;
    let api = HeygenAvatar::new(
        client_with_timeout("heygen", &slow.url(), Auth::Header("x-api-key"), Duration::from_millis(200)),
        MODEL,
        JobTimings {
            poll_interval: Duration::from_millis(5),
            generation_timeout: Duration::from_secs(5),
            download_timeout: Duration::from_secs(5),
        },
    );
    assert_eq!(api.generate(&request()).await.unwrap_err().kind(), "possibly_charged");
    assert_eq!(slow.requests().len(), 1, "a timed-out render request is not resent");

    // A render that never finishes within the generation timeout.
    let stuck = MockServer::start(|r| match r.method.as_str() {
        "POST" => MockResponse::json(200, json!({"data": {"video_id": "v"}})),
        _ => MockResponse::json(200, json!({"data": {"status": "processing"}})),
    })
    .await;
    let err = heygen(&stuck.url(), Duration::from_millis(50)).generate(&request()).await.unwrap_err();
    assert!(err.to_string().contains("did not complete within"), "{err}");
}

#[tokio::test]
async fn an_avatar_video_becomes_the_voiceover_and_every_scene_clip() {
    let plan = eight_second_plan();
    let video = talking_mp4(plan.duration_seconds);
    let cdn = MockServer::start(move |_| MockResponse::bytes(200, "video/mp4", video.clone())).await;
    let api = heygen_api(cdn.url(), plan.duration_seconds).await;
    let media = priced_media(&api.url());
    let dir = tempfile::tempdir().unwrap();
    let targets = targets(dir.path(), &plan);
    let who = ThemeAvatar { avatar_id: "a".into(), voice_id: "v".into() };
    assert_eq!(media.estimate_micros(&plan), (plan.duration_seconds * 100_000.0).ceil() as i64);

    let set = media.make(&who, &plan, &targets, &CancellationToken::new()).await.unwrap();
    let (voice, voice_usage) = &set.voiceover;
    assert_eq!((voice.provider.as_str(), voice.model.as_str(), voice.cost_micros), ("heygen", MODEL, 0));
    assert!((voice.duration_seconds - plan.duration_seconds).abs() < 0.1, "{} s", voice.duration_seconds);
    assert_eq!(voice_usage["from_avatar_video"]["avatar_video"]["video_id"], "vid-42");
    assert_eq!(set.clips.len(), plan.scenes.len());
    let total: i64 = set.clips.iter().map(|(_, f, _)| f.cost_micros).sum();
    assert_eq!(total, (plan.duration_seconds * 100_000.0).round() as i64, "the one call's cost, counted once");
    assert_eq!(set.clips[0].1.cost_micros, total, "on the first scene");
    let pictured: f64 = set.clips.iter().map(|(_, f, _)| f.duration_seconds).sum();
    assert!(pictured + 0.2 >= voice.duration_seconds, "the picture lasts as long as the voice: {pictured} s");
    for (number, file, _) in &set.clips {
        assert!(file.path.ends_with(format!("scene-{number}.mp4")) && file.path.exists());
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "the download is removed: {leftovers:?}");
}

/// Must-show 3 for HeyGen: a render request answered with 500 (after HeyGen recorded it) is sent
/// once; the stage fails saying the render was possibly charged, and its estimate counts
/// against the job's budget.
#[tokio::test]
async fn a_heygen_render_answered_500_is_sent_once_and_fails_as_possibly_charged() {
    let plan = eight_second_plan();
    let api = MockServer::start(|_| {
        MockResponse::json(500, json!({"error": {"code": "internal_error", "message": "Internal error"}}))
    })
    .await;
    let media = priced_media(&api.url());
    let dir = tempfile::tempdir().unwrap();
    let targets = targets(dir.path(), &plan);
    let who = ThemeAvatar { avatar_id: "a".into(), voice_id: "v".into() };
    let job = Arc::new(JobBudget::new(3, 100_000_000, 0));
    let err = budget::within(Some(job.clone()), media.make(&who, &plan, &targets, &CancellationToken::new()))
        .await
        .err()
        .unwrap();
    assert_eq!(api.requests().len(), 1, "exactly one render request reached HeyGen");
    assert!(
        matches!(&err, MediaError::Failed { status, .. } if status == "possibly charged"),
        "the stage fails saying so: {err:?}"
    );
    assert_eq!(job.spent_micros(), media.estimate_micros(&plan), "the estimate counts against the budget");
    assert!(!targets.voiceover.exists());
}

/// Point 5: a 1080x1920 target is asked of HeyGen at 720x1280, which its free API plan renders.
#[tokio::test]
async fn a_full_hd_target_is_asked_for_at_the_free_plans_720p() {
    let video = talking_mp4(1.0);
    let cdn = MockServer::start(move |_| MockResponse::bytes(200, "video/mp4", video.clone())).await;
    let api = heygen_api(cdn.url(), 1.0).await;
    let request = AvatarRequest { width: 1080, height: 1920, ..request() };
    heygen(&api.url(), Duration::from_secs(5)).generate(&request).await.unwrap();
    let dimension = api.requests()[0].json()["dimension"].clone();
    assert_eq!(dimension, json!({"width": 720, "height": 1280}));
    assert_eq!(fit_short_side(1920, 1080, 1080), (1920, 1080), "a paid plan's limit keeps full HD");
    assert_eq!(
        refusal(
            &json!({"video_inputs": [{"character": {"avatar_id": "a"}, "voice": {"input_text": "t", "voice_id": "v"}}], "dimension": {"width": 1080, "height": 1920}})
        ),
        Some("Dimension exceeds the resolution of your plan")
    );
    assert!(refusal(&json!({"dimension": {"width": 720, "height": 1280}})).is_some(), "no avatar");
    assert_eq!(fit_short_side(1000, 1000, 720), (720, 720));
}
