//! ScriptService with real providers pointed at local mock servers: the voice chain fails over
//! from OpenAI (402) to ElevenLabs, clips come from fal.ai's queue; every asset row records
//! provider, model, usage (with each provider tried) and its cost. Then the key is searched for
//! in everything the service produced — every log line (at debug level, HTTP libraries
//! included), every RPC answer and error, every database row and the SQLite file itself — and
//! is nowhere.

#![allow(clippy::unwrap_used)]

mod providers_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use providers_support::{anthropic_answer, overrunning, plan_answer};
use serde_json::json;
use shortline_config::{ClipProviderName, Config, LlmProviderName, Price, VoiceProviderName};
use shortline_db::{self as db, AssetKind, DbPool, JobKind, NewJob, NewTrendReport, PoolOptions};
use shortline_domain::Theme;
use shortline_grpc::convert;
use shortline_grpc::Shutdown;
use shortline_proto::v1::{self, script_service_client::ScriptServiceClient};
use shortline_scriptgen::Application;
use shortline_testing::fixtures::report_body;
use shortline_testing::http_mock::{MockResponse, MockServer};
use shortline_testing::media::{mp4, pcm, talking_mp4};
use shortline_testing::providers::fal_queue;
use shortline_testing::providers::{assert_no_key, KEY};
use tonic::transport::Channel;

const KLING: &str = "fal-ai/kling-video/v2.5-turbo/pro/text-to-video";
/// The Kling id shortline once defaulted to; fal has no such endpoint.
const RETIRED_KLING: &str = "fal-ai/kling-video/v2.1/standard/text-to-video";
const THEME: &str = "config:\n  theme: Eco-friendly water bottles\n  target_platform: tiktok\n  video_duration_seconds: 6\n  \
                     style: energetic\n  product_name: AquaPure\n  tagline: Hydrate sustainably\n  target_audience: Gen Z\n";

// ---- every log line of this test binary, captured ------------------------------------------

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_ansi(false)
            .with_writer(|| Capture)
            .init();
    });
}

fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
}

// ---- the mock providers -------------------------------------------------------------------

struct Mocks {
    openai: MockServer,
    elevenlabs: MockServer,
    fal: MockServer,
    cdn: MockServer,
}

async fn mocks(openai_answer: MockResponse, elevenlabs_answer: MockResponse) -> Mocks {
    let openai = MockServer::sequence(vec![openai_answer]).await;
    let elevenlabs = MockServer::sequence(vec![elevenlabs_answer]).await;
    let video = mp4(2.0, 320, 568);
    let cdn = MockServer::start(move |_| MockResponse::bytes(200, "video/mp4", video.clone())).await;
    let cdn_url = cdn.url();
    let fal = fal_queue(cdn_url).await;
    Mocks { openai, elevenlabs, fal, cdn }
}

struct Service {
    client: ScriptServiceClient<Channel>,
    pool: DbPool,
    db_file: PathBuf,
    shutdown: Shutdown,
    _dir: tempfile::TempDir,
}

fn key_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let path = dir.join(format!("{name}.key"));
    std::fs::write(&path, format!("{KEY}\n")).unwrap();
    Some(path)
}

async fn start(mocks: &Mocks) -> Service {
    start_with(mocks, |_, _| {}).await
}

/// The Anthropic planner at the mock `server`, its key in a file under `dir`.
fn use_planner(config: &mut Config, dir: &Path, server: &MockServer) {
    let p = &mut config.providers;
    p.planner = Some(LlmProviderName::Anthropic);
    p.anthropic.base_url = server.url();
    p.anthropic.api_key_file = key_file(dir, "anthropic");
    p.prices.insert(
        "claude-sonnet-4-5".into(),
        Price { per_1k_input_tokens: 3_000, per_1k_output_tokens: 15_000, ..Price::default() },
    );
}

/// The service with the mocks' voice and clip providers, then `configure`d (given the test's
/// directory).
async fn start_with(mocks: &Mocks, configure: impl FnOnce(&mut Config, &Path)) -> Service {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let db_file = dir.path().join("shortline.db");
    let url = format!("sqlite://{}", db_file.display());
    db::migrations::run_pending(&url).await.unwrap();
    let mut config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
    config.database.url = Some(url.clone());
    config.scriptgen.listen = "127.0.0.1:0".parse().unwrap();
    config.media.width = 180;
    config.media.height = 320;
    config.media.fps = 10;
    config.media.x264_preset = "ultrafast".into();
    config.pipeline.shutdown_grace_seconds = 1;
    let p = &mut config.providers;
    p.voice = vec![VoiceProviderName::Openai, VoiceProviderName::Elevenlabs];
    p.clips = vec![ClipProviderName::FalKling];
    p.http.backoff_initial_ms = 1;
    p.http.backoff_max_ms = 5;
    p.http.poll_interval_ms = 10;
    p.openai.base_url = mocks.openai.url();
    p.openai.api_key_file = key_file(dir.path(), "openai");
    p.elevenlabs.base_url = mocks.elevenlabs.url();
    p.elevenlabs.api_key_file = key_file(dir.path(), "elevenlabs");
    p.elevenlabs.voice_id = "VOICE".into();
    p.fal.base_url = mocks.fal.url();
    p.fal.api_key_file = key_file(dir.path(), "fal");
    p.prices.insert("tts-1".into(), Price { per_1k_characters: 15_000, ..Price::default() });
    p.prices.insert("eleven_multilingual_v2".into(), Price { per_1k_characters: 300_000, ..Price::default() });
    p.prices.insert(KLING.into(), Price { per_second: 50_000, ..Price::default() });
    configure(&mut config, dir.path());
    config.validate().unwrap();
    assert_no_key("the config's Debug", &format!("{config:?}"));

    let shutdown = Shutdown::new();
    let app = Application::build(config, shutdown.clone()).await.unwrap();
    let address = app.address();
    tokio::spawn(app.run());
    let channel = Channel::from_shared(format!("http://{address}")).unwrap().connect().await.unwrap();
    let pool = DbPool::connect(&url, &PoolOptions::default()).unwrap();
    Service { client: ScriptServiceClient::new(channel), pool, db_file, shutdown, _dir: dir }
}

/// A job with its report, and the GenerateScript request of its first variant.
async fn script_request(service: &Service) -> v1::GenerateScriptRequest {
    let theme = Theme::from_yaml(THEME).unwrap();
    let (job, report) = {
        let mut pooled = service.pool.get().await.unwrap();
        let conn = &mut pooled.conn();
        let job = db::jobs::insert(conn, &NewJob::queued(JobKind::Pipeline, "t", Some(db::to_json(&theme)), 1))
            .await
            .unwrap();
        let (row, _) = db::trend_reports::insert_or_get(
            conn,
            &NewTrendReport::new(job.id, "heuristic", 24, 0, &report_body()),
            &[],
        )
        .await
        .unwrap();
        (job, convert::trend_report(&row, &[]).unwrap())
    };
    v1::GenerateScriptRequest {
        job_id: job.id,
        trend_report_id: report.id,
        theme: Some(convert::theme(&theme)),
        report: Some(report),
        variant: 1,
    }
}

/// A job, its report and its script; returns (job id, script id, scene count).
async fn script(service: &Service) -> (i64, i64, usize) {
    let request = script_request(service).await;
    let job_id = request.job_id;
    let script = service.client.clone().generate_script(request).await.unwrap().into_inner();
    (job_id, script.id, script.plan.unwrap().scenes.len())
}

/// Every row of every table, as text, and the database file's bytes as text.
async fn database_text(service: &Service, job_id: i64) -> String {
    let mut pooled = service.pool.get().await.unwrap();
    let conn = &mut pooled.conn();
    let assets = db::media_assets::list_for_job(conn, job_id).await.unwrap();
    let scripts = db::scripts::list_for_job(conn, job_id).await.unwrap();
    let job = db::jobs::find(conn, job_id).await.unwrap();
    let file = String::from_utf8_lossy(&std::fs::read(&service.db_file).unwrap()).into_owned();
    let wal = std::fs::read(service.db_file.with_extension("db-wal"))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    format!("{assets:?}\n{scripts:?}\n{job:?}\n{file}\n{wal}")
}

#[tokio::test(flavor = "multi_thread")]
async fn failover_costs_and_usage_are_recorded_and_the_key_is_nowhere() {
    let mocks = mocks(
        MockResponse::json(
            402,
            json!({"error": {"message": format!("Billing required for key {KEY}"), "type": "billing", "code": null}}),
        ),
        MockResponse::json(200, providers_support::elevenlabs_answer("Hydrate.", 3.0))
            .with_header("x-character-count", "120"),
    )
    .await;
    let service = start(&mocks).await;
    let (job_id, script_id, scenes) = script(&service).await;

    let answer = service.client.clone().generate_media(v1::GenerateMediaRequest { job_id, script_id }).await.unwrap();
    let assets = answer.into_inner().assets;
    assert_eq!(assets.len(), scenes + 3);
    assert_no_key("the GenerateMedia answer", &format!("{assets:?}"));

    let rows = {
        let mut pooled = service.pool.get().await.unwrap();
        db::media_assets::list_for_job(&mut pooled.conn(), job_id).await.unwrap()
    };
    let voice = rows.iter().find(|a| a.kind == AssetKind::Voiceover).unwrap();
    assert_eq!((voice.provider.as_str(), voice.model.as_str()), ("elevenlabs", "eleven_multilingual_v2"));
    assert_eq!(voice.cost_micros, 36_000, "120 reported characters at $0.30 per 1k");
    let tried = voice.usage["provider_attempts"].as_array().unwrap();
    assert_eq!(tried.len(), 2, "{}", voice.usage);
    assert_eq!(
        (tried[0]["provider"].as_str(), tried[0]["failover"].as_str()),
        (Some("openai"), Some("payment_required"))
    );
    assert!(tried[0]["error"].as_str().unwrap().contains("***"), "the echoed key is redacted: {}", tried[0]);
    assert_eq!((tried[1]["provider"].as_str(), tried[1]["outcome"].as_str()), (Some("elevenlabs"), Some("ok")));
    assert_eq!(voice.usage["reported_usage"]["characters"], 120);
    assert!(voice.usage["characters"].as_u64().unwrap() > 0, "the service's own usage fields stay");
    assert!((voice.duration_seconds - 3.0).abs() < 1e-6);

    let clips: Vec<_> = rows.iter().filter(|a| a.kind == AssetKind::Clip).collect();
    assert_eq!(clips.len(), scenes);
    for clip in &clips {
        assert_eq!((clip.provider.as_str(), clip.model.as_str()), ("fal_kling", KLING));
        assert_eq!(clip.cost_micros, 250_000, "5 generated seconds at $0.05");
        assert_eq!(clip.usage["reported_usage"]["seconds"], 5.0);
        assert!(clip.usage["source"]["request_id"].as_str().unwrap().starts_with("req-"));
    }
    let total: i64 = rows.iter().map(|a| a.cost_micros).sum();
    assert_eq!(total, 36_000 + 250_000 * scenes as i64);

    // The providers got the key as each documents it; the CDN never did.
    assert_eq!(mocks.openai.requests()[0].header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(mocks.elevenlabs.requests()[0].header("xi-api-key"), Some(KEY));
    assert!(mocks.fal.requests().iter().all(|r| r.header("authorization") == Some(&format!("Key {KEY}"))));
    assert!(mocks.cdn.requests().iter().all(|r| !r.to_text().contains(KEY)));

    // Nowhere else.
    assert_no_key("the database", &database_text(&service, job_id).await);
    let logs = logs();
    assert!(logs.contains("failing over to the next provider"), "the failover is logged");
    assert!(logs.contains("provider call"), "HTTP calls are logged at debug");
    assert_no_key("the logs", &logs);
    service.shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_chain_answers_a_readable_error_without_the_key_and_writes_no_rows() {
    let mocks = mocks(
        MockResponse::json(
            429,
            json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}),
        )
        .with_header("retry-after", "0"),
        MockResponse::json(
            401,
            json!({"detail": {"status": "invalid_api_key", "message": format!("Invalid API key: {KEY}")}}),
        ),
    )
    .await;
    let service = start(&mocks).await;
    let (job_id, script_id, _) = script(&service).await;

    let status =
        service.client.clone().generate_media(v1::GenerateMediaRequest { job_id, script_id }).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Internal, "{status:?}");
    assert!(status.message().contains("voice provider elevenlabs"), "{}", status.message());
    assert!(status.message().contains("unauthorized (HTTP 401)"), "{}", status.message());
    assert_no_key("the RPC error", &format!("{status:?}"));
    assert_eq!(mocks.openai.requests().len(), 4, "429 retried 3 times (the default) before failing over");

    let mut pooled = service.pool.get().await.unwrap();
    assert!(db::media_assets::list_for_job(&mut pooled.conn(), job_id).await.unwrap().is_empty());
    drop(pooled);
    assert_no_key("the database", &database_text(&service, job_id).await);
    assert_no_key("the logs", &logs());
    // Bounded wait so a slow machine does not leave the server running into the next test.
    tokio::time::sleep(Duration::from_millis(10)).await;
    service.shutdown.trigger();
}

/// A Pexels search answering one portrait video, and the CDN serving it.
async fn pexels_stock() -> (MockServer, MockServer) {
    let video = mp4(3.0, 360, 640);
    let cdn = MockServer::start(move |_| MockResponse::bytes(200, "video/mp4", video.clone())).await;
    let cdn_url = cdn.url();
    let pexels = MockServer::start(move |_| {
        MockResponse::json(
            200,
            json!({"page": 1, "per_page": 15, "total_results": 1, "videos": [{
                "id": 77, "width": 360, "height": 640, "duration": 12,
                "url": "https://www.pexels.com/video/77/", "user": {"id": 1, "name": "Jo", "url": "https://www.pexels.com/@jo"},
                "video_files": [{"id": 1, "quality": "sd", "file_type": "video/mp4", "width": 360, "height": 640, "fps": 25, "link": format!("{cdn_url}/v.mp4")}]
            }]}),
        )
    })
    .await;
    (pexels, cdn)
}

/// `clips = ["fal_kling", "pexels"]`, Pexels at `pexels` with its key in a file under `dir`.
fn use_pexels_after_fal(config: &mut Config, dir: &Path, pexels: &MockServer) {
    let p = &mut config.providers;
    p.clips = vec![ClipProviderName::FalKling, ClipProviderName::Pexels];
    p.pexels.base_url = pexels.url();
    p.pexels.api_key_file = key_file(dir, "pexels");
}

/// Must-show 4: `clips = ["fal_kling", "pexels"]` with a Kling id fal does not have. fal answers
/// 404 as for any unknown endpoint; the chain moves on, every clip comes from Pexels, and why is
/// logged and on each clip's row.
#[tokio::test(flavor = "multi_thread")]
async fn clips_come_from_pexels_when_fal_does_not_know_the_kling_model() {
    let mocks =
        mocks(MockResponse::bytes(200, "audio/wav", providers_support::wav(3.0)), MockResponse::text(500, "unused"))
            .await;
    let (pexels, _cdn) = pexels_stock().await;
    let service = start_with(&mocks, |config, dir| {
        use_pexels_after_fal(config, dir, &pexels);
        let p = &mut config.providers;
        p.fal.kling_model = RETIRED_KLING.into();
        p.prices.insert(RETIRED_KLING.into(), Price { per_second: 50_000, ..Price::default() });
    })
    .await;
    let (job_id, script_id, scenes) = script(&service).await;
    service.client.clone().generate_media(v1::GenerateMediaRequest { job_id, script_id }).await.unwrap();

    let rows = {
        let mut pooled = service.pool.get().await.unwrap();
        db::media_assets::list_for_job(&mut pooled.conn(), job_id).await.unwrap()
    };
    let clips: Vec<_> = rows.iter().filter(|a| a.kind == AssetKind::Clip).collect();
    assert_eq!(clips.len(), scenes);
    for clip in &clips {
        assert_eq!(clip.provider, "pexels", "{}", clip.usage);
        let fal = &clip.usage["provider_attempts"][0];
        assert_eq!((fal["provider"].as_str(), fal["failover"].as_str()), (Some("fal_kling"), Some("unavailable")));
        assert!(fal["error"].as_str().unwrap().contains("HTTP 404"), "{fal}");
    }
    let submits = mocks.fal.requests();
    assert_eq!(submits.len(), scenes, "one refused submit per clip, nothing else: {submits:?}");
    assert!(submits.iter().all(|r| r.path == format!("/{RETIRED_KLING}")));
    assert!(logs().contains("failing over to the next provider"), "the reason is logged");
    service.shutdown.trigger();
}

/// Item 6 of issue 12: a provider nobody answers for is UNAVAILABLE (so the stage is retried)
/// with the whole reason, not INTERNAL "exited with transport".
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_provider_is_unavailable_with_the_whole_reason() {
    let mocks = mocks(MockResponse::json(500, json!({})), MockResponse::json(500, json!({}))).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let unreachable = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let service = start_with(&mocks, |config, _| {
        config.providers.voice = vec![VoiceProviderName::Openai];
        config.providers.openai.base_url = unreachable;
    })
    .await;
    let (job_id, script_id, _) = script(&service).await;

    let status =
        service.client.clone().generate_media(v1::GenerateMediaRequest { job_id, script_id }).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(status.message().starts_with("voice provider unavailable, retry later: openai: "), "{}", status.message());
    assert!(!status.message().contains("exited with"), "{}", status.message());
    assert_no_key("the RPC error", &format!("{status:?}"));
    let mut pooled = service.pool.get().await.unwrap();
    assert!(db::media_assets::list_for_job(&mut pooled.conn(), job_id).await.unwrap().is_empty());
    drop(pooled);
    service.shutdown.trigger();
}

/// A plan keeping every rule, from the offline planner.
fn valid_plan() -> shortline_domain::ProductionPlan {
    use shortline_scriptgen::planner::{Planner, TemplatePlanner};
    TemplatePlanner.plan(&Theme::from_yaml(THEME).unwrap(), Some(&report_body()), 1).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_llm_planner_writes_the_script_and_its_cost_through_generate_script() {
    // Overlays past the end first: asked again with the violations, the second answer is stored.
    let good = valid_plan();
    let planner = MockServer::sequence(vec![plan_answer(&overrunning(&good)), plan_answer(&good)]).await;
    let mocks = mocks(MockResponse::json(500, json!({})), MockResponse::json(500, json!({}))).await;
    let service = start_with(&mocks, |config, dir| use_planner(config, dir, &planner)).await;
    let request = script_request(&service).await;
    let job_id = request.job_id;

    let script = service.client.clone().generate_script(request).await.unwrap().into_inner();
    assert_eq!(script.planner, "anthropic/claude-sonnet-4-5");
    assert_eq!(script.cost_micros, 2 * (4_500 + 13_500), "two calls of 1500 in / 900 out tokens");
    assert_eq!(script.plan, Some(convert::plan(&good)));
    let requests = planner.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].header("x-api-key"), Some(KEY));
    let second = requests[1].json()["messages"][0]["content"].as_str().unwrap().to_owned();
    assert!(second.contains("text_overlays[0].end_seconds"), "the violations are in the second prompt: {second}");

    let mut pooled = service.pool.get().await.unwrap();
    let rows = db::scripts::list_for_job(&mut pooled.conn(), job_id).await.unwrap();
    drop(pooled);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].planner.as_str(), rows[0].model.as_str()),
        ("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5")
    );
    assert_eq!(rows[0].usage["reported_usage"]["input_tokens"], 3000);
    assert_eq!(rows[0].usage["calls"], 2);
    assert_no_key("the database", &database_text(&service, job_id).await);
    service.shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_llm_plan_breaking_the_rules_twice_fails_readably_and_stores_nothing() {
    let mut missing = serde_json::to_value(valid_plan()).unwrap();
    missing.as_object_mut().unwrap().remove("title");
    let planner = MockServer::sequence(vec![anthropic_answer(missing)]).await;
    let mocks = mocks(MockResponse::json(500, json!({})), MockResponse::json(500, json!({}))).await;
    let service = start_with(&mocks, |config, dir| use_planner(config, dir, &planner)).await;
    let request = script_request(&service).await;
    let job_id = request.job_id;

    let status = service.client.clone().generate_script(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Internal, "{status:?}");
    let message = status.message();
    assert!(message.contains("planner anthropic/claude-sonnet-4-5 produced an invalid plan"), "{message}");
    assert!(message.contains("nothing was stored"), "{message}");
    assert!(message.contains("missing field `title`"), "the reason names what is wrong: {message}");
    assert_eq!(planner.requests().len(), 2, "asked once more with the violations, then stopped");

    let mut pooled = service.pool.get().await.unwrap();
    assert!(
        db::scripts::list_for_job(&mut pooled.conn(), job_id).await.unwrap().is_empty(),
        "no invalid plan is stored"
    );
    drop(pooled);
    assert_no_key("the RPC error", &format!("{status:?}"));
    service.shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_budget_below_the_plans_media_estimate_stops_before_the_first_call_and_writes_nothing() {
    let mocks = mocks(
        MockResponse::bytes(200, "audio/pcm", pcm(3.0)),
        MockResponse::json(200, providers_support::elevenlabs_answer("Hydrate.", 3.0)),
    )
    .await;
    // Each clip bills 5 s of Kling at $0.05 = $0.25: a $0.50 budget pays for two, not the set.
    let service = start_with(&mocks, |config, _| config.pipeline.job_budget_usd = Some(0.5)).await;
    let (job_id, script_id, scenes) = script(&service).await;
    assert!(scenes >= 3);

    let status =
        service.client.clone().generate_media(v1::GenerateMediaRequest { job_id, script_id }).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    let message = status.message();
    assert!(message.starts_with(&format!("job {job_id} budget of $0.50 would be exceeded: media of script {script_id} (voiceover and {scenes} clips) would cost about $")), "{message}");
    assert!(message.contains("with $0.00 already spent; not called"), "{message}");
    assert!(mocks.openai.requests().is_empty() && mocks.fal.requests().is_empty(), "no provider was called");

    let mut pooled = service.pool.get().await.unwrap();
    assert!(db::media_assets::list_for_job(&mut pooled.conn(), job_id).await.unwrap().is_empty());
    drop(pooled);
    let script_dir = service._dir.path().join(format!("media/jobs/{job_id}/script-{script_id}"));
    let files: Vec<_> =
        std::fs::read_dir(&script_dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(files.is_empty(), "no file is left behind: {files:?}");
    service.shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_theme_budget_below_the_planners_estimate_stops_before_the_model_is_asked() {
    let planner = MockServer::sequence(vec![plan_answer(&valid_plan())]).await;
    let mocks = mocks(MockResponse::json(500, json!({})), MockResponse::json(500, json!({}))).await;
    // The configured budget would pay; the theme's smaller one wins.
    let service = start_with(&mocks, |config, dir| {
        use_planner(config, dir, &planner);
        config.pipeline.job_budget_usd = Some(100.0);
    })
    .await;
    let mut request = script_request(&service).await;
    request.theme.as_mut().unwrap().config.as_mut().unwrap().budget_usd = Some(0.01);
    let job_id = request.job_id;

    let status = service.client.clone().generate_script(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    // 4096 answer tokens at $15/M alone are $0.06.
    assert!(
        status
            .message()
            .contains("budget of $0.01 would be exceeded: anthropic/claude-sonnet-4-5 would cost about $0.0"),
        "{}",
        status.message()
    );
    assert!(planner.requests().is_empty(), "the model was not asked");
    let mut pooled = service.pool.get().await.unwrap();
    assert!(db::scripts::list_for_job(&mut pooled.conn(), job_id).await.unwrap().is_empty());
    drop(pooled);
    service.shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_theme_with_an_avatar_gets_its_voiceover_and_clips_from_heygen_and_nothing_else() {
    let seconds = valid_plan().duration_seconds;
    let video = talking_mp4(seconds);
    let cdn = MockServer::start(move |_| MockResponse::bytes(200, "video/mp4", video.clone())).await;
    let cdn_url = cdn.url();
    let heygen = MockServer::start(move |r| match r.method.as_str() {
        "POST" => MockResponse::json(200, json!({"error": null, "data": {"video_id": "vid-7"}})),
        _ => MockResponse::json(
            200,
            json!({"data": {"id": "vid-7", "status": "completed", "duration": seconds, "video_url": format!("{cdn_url}/vid-7.mp4")}}),
        ),
    })
    .await;
    let mocks = mocks(MockResponse::json(500, json!({})), MockResponse::json(500, json!({}))).await;
    let heygen_url = heygen.url();
    let service = start_with(&mocks, |config, dir| {
        let p = &mut config.providers;
        p.avatar = Some(shortline_config::AvatarProviderName::Heygen);
        p.heygen.base_url = heygen_url;
        p.heygen.api_key_file = key_file(dir, "heygen");
        p.prices.insert("heygen-avatar".into(), Price { per_second: 100_000, ..Price::default() });
    })
    .await;
    let mut request = script_request(&service).await;
    let avatar = v1::ThemeAvatar { avatar_id: "Daisy".into(), voice_id: "V1".into() };
    request.theme.as_mut().unwrap().config.as_mut().unwrap().avatar = Some(avatar);
    let job_id = request.job_id;
    let script = service.client.clone().generate_script(request).await.unwrap().into_inner();

    let assets = service
        .client
        .clone()
        .generate_media(v1::GenerateMediaRequest { job_id, script_id: script.id })
        .await
        .unwrap()
        .into_inner()
        .assets;
    let scenes = script.plan.unwrap().scenes.len();
    assert_eq!(assets.len(), scenes + 3);
    assert!(assets.iter().all(|a| a.provider == "heygen"), "{assets:?}");
    // The avatar's voice has no timings: its captions are the fallback's.
    let (captions, media): (Vec<_>, Vec<_>) = assets.iter().partition(|a| a.model == "captions/speech-by-letters");
    assert_eq!(captions.len(), 2, "{assets:?}");
    assert!(media.iter().all(|a| a.model == "heygen-avatar"), "{assets:?}");
    let total: i64 = assets.iter().map(|a| a.cost_micros).sum();
    assert_eq!(total, (seconds * 100_000.0).round() as i64, "one video, billed once");
    let body = heygen.requests()[0].json();
    assert_eq!(body["video_inputs"][0]["character"]["avatar_id"], "Daisy");
    assert_eq!(body["video_inputs"][0]["voice"]["voice_id"], "V1");
    assert_eq!(heygen.requests()[0].header("x-api-key"), Some(KEY));
    assert!(
        mocks.openai.requests().is_empty() && mocks.elevenlabs.requests().is_empty() && mocks.fal.requests().is_empty(),
        "no clip or voice provider was called"
    );
    assert_no_key("the database", &database_text(&service, job_id).await);
    service.shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_theme_with_an_avatar_and_no_avatar_provider_is_refused_readably() {
    let mocks = mocks(MockResponse::json(500, json!({})), MockResponse::json(500, json!({}))).await;
    let service = start(&mocks).await;
    let mut request = script_request(&service).await;
    let avatar = v1::ThemeAvatar { avatar_id: "Daisy".into(), voice_id: "V1".into() };
    request.theme.as_mut().unwrap().config.as_mut().unwrap().avatar = Some(avatar);
    let job_id = request.job_id;
    let script = service.client.clone().generate_script(request).await.unwrap().into_inner();
    let status = service
        .client
        .clone()
        .generate_media(v1::GenerateMediaRequest { job_id, script_id: script.id })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("set providers.avatar"), "{}", status.message());
    service.shutdown.trigger();
}
