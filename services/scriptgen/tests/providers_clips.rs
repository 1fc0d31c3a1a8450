//! The real clip providers against local mock HTTP servers: fal.ai's queue API (Kling,
//! MiniMax) and Pexels video search, each request checked as documented, the documented errors,
//! the download from a separate "CDN" that never sees the key, and the conform pass that makes
//! the exact clip a scene needs. Renders are tiny (180x320 at 10 fps).

#![allow(clippy::unwrap_used)]

mod providers_support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use shortline_config::Price;
use shortline_domain::{Scene, Transition};
use shortline_providers::budget::{self, JobBudget};
use shortline_providers::{Auth, JobTimings, ProviderError};
use shortline_scriptgen::media::{ClipProvider, ClipTarget, MediaError};
use shortline_scriptgen::providers::{ClipChain, FalFamily, FalVideo, PexelsVideo, UsageLedger, VideoApi};
use shortline_testing::http_mock::{MockResponse, MockServer, RecordedRequest};
use shortline_testing::media::mp4;
use shortline_testing::providers::{assert_no_key, client, KEY};
use tokio_util::sync::CancellationToken;

const KLING: &str = "fal-ai/kling-video/v2.5-turbo/pro/text-to-video";
const MINIMAX: &str = "fal-ai/minimax/hailuo-02/standard/text-to-video";

fn scene() -> Scene {
    Scene {
        number: 1,
        duration_seconds: 2.0,
        visual_prompt: "Close-up of a reusable water bottle on a sunny desk".into(),
        transition: Transition::Cut,
    }
}

fn target(dir: &std::path::Path) -> ClipTarget {
    ClipTarget { width: 180, height: 320, fps: 10, seconds: 2.0, out_path: dir.join("scene-1.mp4") }
}

fn prices() -> BTreeMap<String, Price> {
    BTreeMap::from([
        (KLING.to_owned(), Price { per_second: 50_000, ..Price::default() }),
        (MINIMAX.to_owned(), Price { per_second: 45_000, ..Price::default() }),
    ])
}

fn fal(url: &str, model: &str, family: FalFamily, generation_timeout: Duration) -> FalVideo {
    FalVideo::new(
        client(
            if family == FalFamily::Kling { "fal_kling" } else { "fal_minimax" },
            url,
            Auth::AuthorizationPrefix("Key "),
        ),
        model,
        family,
        JobTimings {
            poll_interval: Duration::from_millis(20),
            generation_timeout,
            download_timeout: Duration::from_secs(10),
        },
    )
}

fn pexels(url: &str) -> PexelsVideo {
    PexelsVideo::new(client("pexels", url, Auth::AuthorizationPrefix("")), Duration::from_secs(10))
}

fn chain(apis: Vec<Arc<dyn VideoApi>>, ledger: &UsageLedger) -> ClipChain {
    ClipChain::new(apis, prices(), ledger.clone(), "ultrafast", 30)
}

/// A CDN serving one video; it must never be sent the key.
async fn cdn(seconds: f64, width: u32, height: u32) -> MockServer {
    let video = mp4(seconds, width, height);
    MockServer::start(move |request| {
        if request.path == "/files/video.mp4" {
            MockResponse::bytes(200, "video/mp4", video.clone())
        } else {
            MockResponse::text(404, "not found")
        }
    })
    .await
}

/// What fal refuses in a text-to-video input, per the endpoint's input type in fal-js
/// (`libs/client/src/types/endpoints.ts`): Kling `KlingVideoV15ProTextToVideoInput`
/// (`prompt` required, `duration?: "5" | "10"`, `aspect_ratio?: "16:9" | "9:16" | "1:1"`),
/// MiniMax `StandardTextToVideoHailuo02Input` (`prompt` required, `duration?: "6" | "10"`).
fn input_problem(model: &str, input: &serde_json::Value) -> Option<String> {
    let (durations, ratios): (&[&str], &[&str]) =
        if model.contains("kling") { (&["5", "10"], &["16:9", "9:16", "1:1"]) } else { (&["6", "10"], &[]) };
    let text = |field: &str| input.get(field).map(|v| v.as_str().map(str::to_owned));
    match (text("prompt"), text("duration"), text("aspect_ratio")) {
        (None | Some(None), _, _) => Some("prompt: field required".into()),
        (_, Some(Some(d)), _) if !durations.contains(&d.as_str()) => Some(format!("duration: {d} not allowed")),
        (_, Some(None), _) => Some("duration: must be a string".into()),
        (_, _, Some(Some(r))) if !ratios.contains(&r.as_str()) => Some(format!("aspect_ratio: {r} not allowed")),
        _ => None,
    }
}

/// A fal queue answering as documented: submitted, IN_QUEUE, IN_PROGRESS, COMPLETED, the result
/// with `video.url` on `cdn_url`.
async fn fal_queue(model: &'static str, cdn_url: String) -> MockServer {
    let polls = AtomicUsize::new(0);
    MockServer::start_knowing_url(move |base, request: &RecordedRequest| {
        // Requests live under the app (`owner/alias`), not the model's subpath.
        let app = model.split('/').take(2).collect::<Vec<_>>().join("/");
        let request_url = format!("{base}/{app}/requests/req-1");
        match (request.method.as_str(), request.path.as_str()) {
            ("POST", path) if path == format!("/{model}") && input_problem(model, &request.json()).is_some() => {
                let problem = input_problem(model, &request.json()).unwrap_or_default();
                MockResponse::json(422, json!({"detail": [{"loc": ["body"], "msg": problem, "type": "value_error"}]}))
            }
            ("POST", path) if path == format!("/{model}") => MockResponse::json(
                200,
                json!({
                    "request_id": "req-1",
                    "response_url": request_url,
                    "status_url": format!("{request_url}/status"),
                    "cancel_url": format!("{request_url}/cancel"),
                    "queue_position": 0,
                }),
            ),
            ("GET", path) if path.ends_with("/requests/req-1/status") => {
                let status = match polls.fetch_add(1, Ordering::SeqCst) {
                    0 => json!({"status": "IN_QUEUE", "queue_position": 0, "response_url": request_url}),
                    1 => json!({"status": "IN_PROGRESS", "logs": [], "response_url": request_url}),
                    _ => json!({"status": "COMPLETED", "logs": [], "metrics": {"inference_time": 41.7}, "response_url": request_url}),
                };
                MockResponse::json(if status["status"] == "COMPLETED" { 200 } else { 202 }, status)
            }
            ("GET", path) if path.ends_with("/requests/req-1") => MockResponse::json(
                200,
                json!({"video": {"url": format!("{cdn_url}/files/video.mp4"), "content_type": "video/mp4", "file_name": "output.mp4", "file_size": 12345}, "seed": 42}),
            ),
            _ => MockResponse::json(404, json!({"detail": "Not found"})),
        }
    })
    .await
}

fn ffprobe(path: &std::path::Path) -> String {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries"])
        .arg("stream=codec_name,pix_fmt,width,height,nb_read_frames")
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn fal_kling_submits_polls_fetches_and_downloads_as_documented() {
    let cdn = cdn(1.0, 320, 568).await;
    let queue = fal_queue(KLING, cdn.url()).await;
    let ledger = UsageLedger::default();
    let clips = chain(vec![Arc::new(fal(&queue.url(), KLING, FalFamily::Kling, Duration::from_secs(10)))], &ledger);
    let dir = tempfile::tempdir().unwrap();
    let target = target(dir.path());
    let file = clips.render_clip(&scene(), &target, &CancellationToken::new()).await.unwrap();

    let requests = queue.requests();
    let submit = &requests[0];
    assert_eq!((submit.method.as_str(), submit.path.as_str()), ("POST", format!("/{KLING}").as_str()));
    assert_eq!(submit.header("authorization"), Some(format!("Key {KEY}").as_str()));
    let input = submit.json();
    assert_eq!(input["prompt"], scene().visual_prompt);
    assert_eq!(input["duration"], "5", "Kling makes 5 or 10 s; 2 s needs 5");
    assert_eq!(input["aspect_ratio"], "9:16");
    let polls: Vec<&RecordedRequest> = requests.iter().filter(|r| r.path.ends_with("/status")).collect();
    assert_eq!(polls.len(), 3, "polled until COMPLETED");
    assert!(polls.iter().all(|r| r.method == "GET" && r.header("authorization") == Some(&format!("Key {KEY}"))));
    assert_eq!(requests.last().unwrap().path, "/fal-ai/kling-video/requests/req-1");
    let downloads = cdn.requests();
    assert_eq!(downloads.len(), 1);
    assert_eq!(downloads[0].header("authorization"), None, "the CDN never gets the key");

    // The clip is exactly what the scene needs, whatever fal made.
    assert_eq!(ffprobe(&file.path), "h264,180,320,yuv420p,20");
    assert!((file.duration_seconds - 2.0).abs() < 0.051);
    assert_eq!((file.provider.as_str(), file.model.as_str()), ("fal_kling", KLING));
    assert_eq!(file.cost_micros, 250_000, "5 generated seconds at 50_000 micro-USD per second");
    let details = ledger.take(&file.sha256).unwrap();
    assert_eq!(details["reported_usage"]["seconds"], 5.0);
    assert_eq!(details["source"]["request_id"], "req-1");
    assert_eq!(details["provider_attempts"][0]["outcome"], "ok");
    // Only the clip is left in the directory: no download or partial file.
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names, ["scene-1.mp4"]);
}

/// A generation that completed is billed: when its video cannot be downloaded, the error is a
/// possible charge (counted, and the chain moves on), not a plain failure.
#[tokio::test]
async fn a_completed_generation_whose_video_is_gone_counts_as_possibly_charged() {
    let cdn = MockServer::start(|_| MockResponse::text(404, "no such file")).await;
    let queue = fal_queue(KLING, cdn.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let err = fal(&queue.url(), KLING, FalFamily::Kling, Duration::from_secs(10))
        .fetch(&scene(), &target(dir.path()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::PossiblyCharged { message, .. } if message.contains("req-1 completed")),
        "{err:?}"
    );
}

/// A submit answer without `status_url`/`response_url`: status and result are asked for under
/// the app, `{owner}/{alias}/requests/{id}` (fal-js `queue.ts` `status()`/`result()`), never
/// under the model's subpath, which fal answers 404.
#[tokio::test]
async fn fal_status_and_result_urls_are_built_from_the_app_path() {
    let cdn = cdn(1.0, 320, 568).await;
    let cdn_url = cdn.url();
    let queue = MockServer::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("POST", path) if path == format!("/{KLING}") => MockResponse::json(200, json!({"request_id": "r9"})),
        ("GET", "/fal-ai/kling-video/requests/r9/status") => MockResponse::json(200, json!({"status": "COMPLETED"})),
        ("GET", "/fal-ai/kling-video/requests/r9") => {
            MockResponse::json(200, json!({"video": {"url": format!("{cdn_url}/files/video.mp4")}}))
        }
        _ => MockResponse::json(404, json!({"detail": "Not Found"})),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let fetched = fal(&queue.url(), KLING, FalFamily::Kling, Duration::from_secs(5))
        .fetch(&scene(), &target(dir.path()))
        .await
        .unwrap();
    assert!(!fetched.bytes.is_empty());
    let paths: Vec<String> = queue.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            format!("/{KLING}"),
            "/fal-ai/kling-video/requests/r9/status".into(),
            "/fal-ai/kling-video/requests/r9".into()
        ]
    );
}

#[test]
fn the_fal_mock_refuses_inputs_its_endpoints_do_not_take() {
    assert_eq!(input_problem(KLING, &json!({"prompt": "p", "duration": "5", "aspect_ratio": "9:16"})), None);
    assert!(input_problem(KLING, &json!({"duration": "5"})).is_some(), "no prompt");
    assert!(input_problem(KLING, &json!({"prompt": "p", "duration": "6"})).is_some(), "Kling makes 5 or 10 s");
    assert!(input_problem(KLING, &json!({"prompt": "p", "duration": 5})).is_some(), "a number, not \"5\"");
    assert!(input_problem(KLING, &json!({"prompt": "p", "aspect_ratio": "4:5"})).is_some());
    assert!(input_problem(MINIMAX, &json!({"prompt": "p", "duration": "5"})).is_some(), "Hailuo makes 6 or 10 s");
    assert_eq!(input_problem(MINIMAX, &json!({"prompt": "p", "duration": "6", "prompt_optimizer": true})), None);
}

#[tokio::test]
async fn fal_minimax_sends_its_own_input_schema() {
    let cdn = cdn(1.0, 320, 320).await;
    let queue = fal_queue(MINIMAX, cdn.url()).await;
    let api = fal(&queue.url(), MINIMAX, FalFamily::Minimax, Duration::from_secs(10));
    let dir = tempfile::tempdir().unwrap();
    let fetched = api.fetch(&scene(), &target(dir.path())).await.unwrap();
    let input = queue.requests()[0].json();
    assert_eq!(input["prompt"], scene().visual_prompt);
    assert_eq!(input["duration"], "6");
    assert_eq!(input["prompt_optimizer"], true);
    assert_eq!(fetched.usage.seconds, 6.0);
    assert!(!fetched.bytes.is_empty());
}

#[tokio::test]
async fn fal_documented_errors() {
    let dir = tempfile::tempdir().unwrap();
    let target = target(dir.path());
    let cases: Vec<(MockResponse, &str)> = vec![
        (MockResponse::json(401, json!({"detail": format!("Invalid key {KEY}")})), "unauthorized"),
        (MockResponse::json(402, json!({"detail": "Payment required"})), "payment_required"),
        (
            MockResponse::json(
                403,
                json!({"detail": "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing."}),
            ),
            "payment_required",
        ),
        (
            MockResponse::json(429, json!({"detail": "Too many requests"})).with_header("retry-after", "0"),
            "rate_limited",
        ),
        // A submit that may have started a generation is not resent (fal documents no
        // idempotency key): possibly charged.
        (MockResponse::json(500, json!({"detail": "Internal Server Error"})), "possibly_charged"),
        (
            MockResponse::json(
                422,
                json!({"detail": [{"loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing"}]}),
            ),
            "rejected",
        ),
        (MockResponse::json(200, json!({"no": "request id"})), "malformed"),
        (MockResponse::text(200, "<html>gateway</html>"), "malformed"),
    ];
    for (answer, kind) in cases {
        let server = MockServer::sequence(vec![answer]).await;
        let err = fal(&server.url(), KLING, FalFamily::Kling, Duration::from_secs(5))
            .fetch(&scene(), &target)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{err:?}");
        assert_no_key("a fal error", &format!("{err} {err:?}"));
    }
}

/// A fal queue that accepts a submit (its status and result URLs on itself) and answers every
/// poll with `status`.
async fn fal_queue_polled(status: MockResponse) -> MockServer {
    MockServer::start_knowing_url(move |base, request| {
        if request.method == "POST" {
            MockResponse::json(
                200,
                json!({"request_id": "r", "status_url": format!("{base}/s"), "response_url": format!("{base}/r")}),
            )
        } else {
            status.clone()
        }
    })
    .await
}

#[tokio::test]
async fn fal_job_failures_timeouts_and_foreign_urls() {
    let dir = tempfile::tempdir().unwrap();
    let target = target(dir.path());
    // Status answers with an error; the request failed on fal's side.
    let server = fal_queue_polled(MockResponse::json(
        200,
        json!({"status": "COMPLETED", "error": "Content policy violation", "error_type": "content_policy"}),
    ))
    .await;
    let err =
        fal(&server.url(), KLING, FalFamily::Kling, Duration::from_secs(5)).fetch(&scene(), &target).await.unwrap_err();
    assert!(matches!(&err, ProviderError::JobFailed { message, .. } if message.contains("Content policy")), "{err:?}");

    // Never completes: the generation timeout ends it.
    let server = fal_queue_polled(MockResponse::json(202, json!({"status": "IN_PROGRESS", "logs": []}))).await;
    let err = fal(&server.url(), KLING, FalFamily::Kling, Duration::from_millis(300))
        .fetch(&scene(), &target)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::JobFailed { message, .. } if message.contains("did not complete")),
        "{err:?}"
    );

    // A status_url on another host would get the key: refused.
    let server = MockServer::sequence(vec![MockResponse::json(
        200,
        json!({"request_id": "r", "status_url": "http://198.51.100.7/s", "response_url": "http://198.51.100.7/r"}),
    )])
    .await;
    let err =
        fal(&server.url(), KLING, FalFamily::Kling, Duration::from_secs(5)).fetch(&scene(), &target).await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::Malformed { reason, .. } if reason.contains("not on the configured base URL")),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1, "nothing was sent to the foreign URL");

    // A slow submit times out.
    let server =
        MockServer::sequence(vec![MockResponse::json(200, json!({})).with_delay(Duration::from_secs(3))]).await;
    let slow = FalVideo::new(
        shortline_testing::providers::client_with_timeout(
            "fal_kling",
            &server.url(),
            Auth::AuthorizationPrefix("Key "),
            Duration::from_millis(300),
        ),
        KLING,
        FalFamily::Kling,
        JobTimings {
            poll_interval: Duration::from_millis(20),
            generation_timeout: Duration::from_secs(5),
            download_timeout: Duration::from_secs(5),
        },
    );
    let err = slow.fetch(&scene(), &target).await.unwrap_err();
    assert!(matches!(err, ProviderError::PossiblyCharged { .. }), "a timed-out submit may have started: {err:?}");
    assert_eq!(server.requests().len(), 1, "and is not resent");
}

/// A Pexels search answer as documented, with files linking to `cdn_url`.
fn pexels_answer(cdn_url: &str) -> serde_json::Value {
    json!({
        "page": 1,
        "per_page": 15,
        "total_results": 2,
        "url": "https://www.pexels.com/search/videos/water%20bottle/",
        "videos": [
            {
                "id": 1001, "width": 1920, "height": 1080, "duration": 1,
                "url": "https://www.pexels.com/video/short-1001/",
                "image": "https://images.pexels.com/videos/1001/pictures/preview-0.jpg",
                "user": {"id": 1, "name": "Short Clip", "url": "https://www.pexels.com/@short"},
                "video_files": [{"id": 1, "quality": "hd", "file_type": "video/mp4", "width": 1920, "height": 1080, "fps": 25, "link": format!("{cdn_url}/files/wrong.mp4")}],
                "video_pictures": []
            },
            {
                "id": 2002, "width": 1080, "height": 1920, "duration": 12,
                "url": "https://www.pexels.com/video/bottle-2002/",
                "image": "https://images.pexels.com/videos/2002/pictures/preview-0.jpg",
                "user": {"id": 2, "name": "Jane Doe", "url": "https://www.pexels.com/@jane"},
                "video_files": [
                    {"id": 21, "quality": "hd", "file_type": "video/mp4", "width": 1080, "height": 1920, "fps": 29.97, "link": format!("{cdn_url}/files/big.mp4")},
                    {"id": 22, "quality": "sd", "file_type": "video/mp4", "width": 360, "height": 640, "fps": 29.97, "link": format!("{cdn_url}/files/video.mp4")},
                    {"id": 23, "quality": "sd", "file_type": "video/mp4", "width": 640, "height": 360, "fps": 29.97, "link": format!("{cdn_url}/files/landscape.mp4")}
                ],
                "video_pictures": [{"id": 1, "picture": "https://images.pexels.com/1.jpg", "nr": 0}]
            }
        ]
    })
}

#[tokio::test]
async fn pexels_searches_picks_a_portrait_file_and_downloads_it() {
    let cdn = cdn(3.0, 360, 640).await;
    let answer = pexels_answer(&cdn.url());
    let api = MockServer::start(move |_| {
        MockResponse::json(200, answer.clone())
            .with_header("x-ratelimit-limit", "20000")
            .with_header("x-ratelimit-remaining", "19999")
    })
    .await;
    let ledger = UsageLedger::default();
    let clips = chain(vec![Arc::new(pexels(&api.url()))], &ledger);
    let dir = tempfile::tempdir().unwrap();
    let file = clips.render_clip(&scene(), &target(dir.path()), &CancellationToken::new()).await.unwrap();

    let request = &api.requests()[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("GET", "/videos/search"));
    assert_eq!(request.header("authorization"), Some(KEY), "Pexels takes the bare key");
    assert_eq!(request.query_param("query").as_deref(), Some("Close-up of a reusable water bottle on a"));
    assert_eq!(request.query_param("orientation").as_deref(), Some("portrait"));
    assert_eq!(request.query_param("size").as_deref(), Some("medium"));
    assert!(request.query_param("per_page").is_some());
    let downloads = cdn.requests();
    assert_eq!(downloads.len(), 1);
    assert_eq!(
        downloads[0].path, "/files/video.mp4",
        "the smallest portrait file covering 180x320 of a long enough video"
    );
    assert_eq!(downloads[0].header("authorization"), None);

    assert_eq!(ffprobe(&file.path), "h264,180,320,yuv420p,20");
    assert_eq!((file.provider.as_str(), file.model.as_str(), file.cost_micros), ("pexels", "pexels-stock", 0));
    let details = ledger.take(&file.sha256).unwrap();
    assert_eq!(details["source"]["pexels_video_id"], 2002);
    assert_eq!(details["source"]["page_url"], "https://www.pexels.com/video/bottle-2002/");
    assert_eq!(details["source"]["videographer"], "Jane Doe");
}

#[tokio::test]
async fn pexels_errors_and_empty_results() {
    let dir = tempfile::tempdir().unwrap();
    let target = target(dir.path());
    for (answer, kind) in [
        (MockResponse::json(401, json!({"error": "Unauthorized"})), "unauthorized"),
        (
            MockResponse::text(429, "Too Many Requests")
                .with_header("retry-after", "0")
                .with_header("x-ratelimit-remaining", "0"),
            "rate_limited",
        ),
        (MockResponse::text(500, "Internal Server Error"), "server_error"),
        (MockResponse::json(200, json!({"page": 1})), "malformed"),
        (MockResponse::json(200, json!({"page": 1, "per_page": 15, "total_results": 0, "videos": []})), "job_failed"),
    ] {
        let server = MockServer::sequence(vec![answer]).await;
        let err = pexels(&server.url()).fetch(&scene(), &target).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{err:?}");
    }
}

/// Must-show 3: a fal submit answered with 500 (after fal recorded it) may have started a billed
/// generation. It reaches fal exactly once, its estimate is counted against the job's budget and
/// on the clip that was made instead, and the chain fails over to Pexels.
#[tokio::test]
async fn a_fal_submit_answered_500_is_sent_once_counted_as_possibly_charged_and_fails_over() {
    let cdn = cdn(3.0, 360, 640).await;
    let fal_down = MockServer::start(|_| MockResponse::json(500, json!({"detail": "Internal Server Error"}))).await;
    let answer = pexels_answer(&cdn.url());
    let stock = MockServer::start(move |_| MockResponse::json(200, answer.clone())).await;
    let ledger = UsageLedger::default();
    let clips = chain(
        vec![
            Arc::new(fal(&fal_down.url(), KLING, FalFamily::Kling, Duration::from_secs(5))),
            Arc::new(pexels(&stock.url())),
        ],
        &ledger,
    );
    assert_eq!(clips.name(), "fal_kling>pexels");
    let dir = tempfile::tempdir().unwrap();
    let job = Arc::new(JobBudget::new(5, 10_000_000, 0));
    let file =
        budget::within(Some(job.clone()), clips.render_clip(&scene(), &target(dir.path()), &CancellationToken::new()))
            .await
            .unwrap();
    assert_eq!(file.provider, "pexels");
    let submits = fal_down.requests();
    assert_eq!(submits.len(), 1, "exactly one submit reached fal: {submits:?}");
    assert_eq!(submits[0].method, "POST");
    let details = ledger.take(&file.sha256).unwrap();
    let fal_attempt = &details["provider_attempts"][0];
    assert_eq!(fal_attempt["failover"], "possibly_charged", "{details}");
    assert_eq!(fal_attempt["possibly_charged_micros"], 250_000, "5 s of Kling at $0.05/s");
    assert!(fal_attempt["error"].as_str().unwrap().contains("HTTP 500"), "{fal_attempt}");
    assert_eq!(details["provider_attempts"][1]["provider"], "pexels");
    assert_eq!(details["possibly_charged_micros"], 250_000);
    assert_eq!(file.cost_micros, 250_000, "free stock footage plus the possibly charged submit");
    assert_eq!(job.spent_micros(), 250_000, "the budget counts it");

    // Both failing: a readable media error naming the last provider and no file.
    let stock_down = MockServer::sequence(vec![MockResponse::text(401, "bad key")]).await;
    let clips = chain(
        vec![
            Arc::new(fal(&fal_down.url(), KLING, FalFamily::Kling, Duration::from_secs(5))),
            Arc::new(pexels(&stock_down.url())),
        ],
        &ledger,
    );
    let out = dir.path().join("other");
    let err = clips.render_clip(&scene(), &target(&out), &CancellationToken::new()).await.unwrap_err();
    assert!(
        matches!(&err, MediaError::Failed { tool, status, .. } if tool == "clip provider pexels" && status == "unauthorized (HTTP 401)"),
        "{err:?}"
    );
    assert!(!out.join("scene-1.mp4").exists());
}
