//! ScriptService end to end: the real Application on port 0 against a fresh SQLite file, called
//! through a tonic client. Renders are tiny (360x640 at 15 fps, x264 ultrafast).

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use shortline_config::{Config, ProviderSet};
use shortline_db::{self as db, DbPool, JobKind, NewJob, NewTrendReport, PoolOptions};
use shortline_domain::Theme;
use shortline_grpc::convert;
use shortline_grpc::{ServeError, Shutdown};
use shortline_proto::v1::{self, script_service_client::ScriptServiceClient};
use shortline_scriptgen::Application;
use shortline_testing::fixtures::report_body;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

const THEME: &str = "config:\n  theme: Eco-friendly water bottles\n  target_platform: tiktok\n  video_duration_seconds: 6\n  \
                     style: energetic\n  product_name: AquaPure\n  tagline: Hydrate sustainably\n  target_audience: Gen Z\n";

struct Harness {
    client: ScriptServiceClient<Channel>,
    channel: Channel,
    pool: DbPool,
    media_root: PathBuf,
    shutdown: Shutdown,
    server: JoinHandle<Result<(), ServeError>>,
    _dir: tempfile::TempDir,
}

/// A job with its trend report, as the orchestrator would have left them.
struct Job {
    id: i64,
    theme: Theme,
    report: v1::TrendReport,
}

impl Harness {
    async fn start(set: ProviderSet) -> Harness {
        shortline_telemetry::init_for_tests();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("shortline.db").display());
        db::migrations::run_pending(&url).await.unwrap();
        let mut config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
        config.database.url = Some(url.clone());
        config.scriptgen.listen = "127.0.0.1:0".parse().unwrap();
        config.media.width = 360;
        config.media.height = 640;
        config.media.fps = 15;
        config.media.x264_preset = "ultrafast".into();
        config.providers.set = set;
        config.pipeline.shutdown_grace_seconds = 1;
        let media_root = PathBuf::from(config.media_root());

        let shutdown = Shutdown::new();
        let app = Application::build(config, shutdown.clone()).await.unwrap();
        let address = app.address();
        assert_ne!(address.port(), 0);
        let server = tokio::spawn(app.run());
        let channel = Channel::from_shared(format!("http://{address}")).unwrap().connect().await.unwrap();
        let pool = DbPool::connect(&url, &PoolOptions::default()).unwrap();
        Harness {
            client: ScriptServiceClient::new(channel.clone()),
            channel,
            pool,
            media_root,
            shutdown,
            server,
            _dir: dir,
        }
    }

    async fn stop(self) {
        drop((self.client, self.channel));
        self.shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(10), self.server).await.unwrap().unwrap().unwrap();
    }

    /// A pipeline job and its trend report, written through the db layer.
    async fn job(&self) -> Job {
        self.job_with(Theme::from_yaml(THEME).unwrap()).await
    }

    /// A pipeline job of `theme` and its trend report.
    async fn job_with(&self, theme: Theme) -> Job {
        let mut pooled = self.pool.get().await.unwrap();
        let conn = &mut pooled.conn();
        let job = db::jobs::insert(conn, &NewJob::queued(JobKind::Pipeline, "t", Some(db::to_json(&theme)), 1))
            .await
            .unwrap();
        let body = report_body();
        let (row, _) =
            db::trend_reports::insert_or_get(conn, &NewTrendReport::new(job.id, "heuristic", 24, 0, &body), &[])
                .await
                .unwrap();
        Job { id: job.id, theme, report: convert::trend_report(&row, &[]).unwrap() }
    }

    async fn script_count(&self, job_id: i64) -> usize {
        let mut pooled = self.pool.get().await.unwrap();
        db::scripts::list_for_job(&mut pooled.conn(), job_id).await.unwrap().len()
    }

    async fn asset_count(&self, job_id: i64) -> usize {
        let mut pooled = self.pool.get().await.unwrap();
        db::media_assets::list_for_job(&mut pooled.conn(), job_id).await.unwrap().len()
    }

    async fn generate_script(&self, request: v1::GenerateScriptRequest) -> Result<v1::Script, tonic::Status> {
        self.client.clone().generate_script(request).await.map(|r| r.into_inner())
    }

    async fn generate_media(&self, job_id: i64, script_id: i64) -> Result<Vec<v1::MediaAsset>, tonic::Status> {
        self.client
            .clone()
            .generate_media(v1::GenerateMediaRequest { job_id, script_id })
            .await
            .map(|r| r.into_inner().assets)
    }

    async fn list_assets(&self, job_id: i64, script_id: i64) -> Result<Vec<v1::MediaAsset>, tonic::Status> {
        self.client
            .clone()
            .list_media_assets(v1::ListMediaAssetsRequest { job_id, script_id })
            .await
            .map(|r| r.into_inner().assets)
    }
}

fn script_request(job: &Job, variant: i32) -> v1::GenerateScriptRequest {
    v1::GenerateScriptRequest {
        job_id: job.id,
        trend_report_id: job.report.id,
        theme: Some(convert::theme(&job.theme)),
        report: Some(job.report.clone()),
        variant,
    }
}

#[track_caller]
fn assert_status<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, message: &str) {
    let status = result.expect_err("the request must be refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().contains(message), "{:?} does not contain {message:?}", status.message());
}

fn local_path(uri: &str) -> PathBuf {
    PathBuf::from(uri.strip_prefix("file://").expect("a file:// uri"))
}

fn ffprobe_duration(path: &Path) -> f64 {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn mtimes(assets: &[v1::MediaAsset]) -> HashMap<i64, SystemTime> {
    assets.iter().map(|a| (a.id, std::fs::metadata(local_path(&a.uri)).unwrap().modified().unwrap())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn scripts_are_idempotent_per_variant_and_scoped_by_job() {
    let h = Harness::start(ProviderSet::Null).await;
    let a = h.job().await;
    let b = h.job().await;

    // Health reports the service by its gRPC name, SERVING while the database answers.
    let mut health = tonic_health::pb::health_client::HealthClient::new(h.channel.clone());
    let check = tonic_health::pb::HealthCheckRequest { service: shortline_scriptgen::HEALTH_SERVICE_NAME.into() };
    let mut serving = false;
    for _ in 0..100 {
        if health.check(check.clone()).await.unwrap().into_inner().status() == ServingStatus::Serving {
            serving = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(serving, "{} never became SERVING", shortline_scriptgen::HEALTH_SERVICE_NAME);
    drop(health);

    let first = h.generate_script(script_request(&a, 0)).await.unwrap();
    let again = h.generate_script(script_request(&a, 1)).await.unwrap();
    assert_eq!(first, again, "variant 0 means 1, and a retry returns the same row");
    assert_eq!((first.job_id, first.trend_report_id, first.variant), (a.id, a.report.id, 1));
    assert_eq!(first.planner, "template");
    let plan = first.plan.as_ref().unwrap();
    assert!((3..=7).contains(&plan.scenes.len()));
    let second = h.generate_script(script_request(&a, 2)).await.unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!(h.script_count(a.id).await, 2);

    let mut client = h.client.clone();
    let listed = client.list_scripts(v1::ListScriptsRequest { job_id: a.id }).await.unwrap().into_inner().scripts;
    assert_eq!(listed.iter().map(|s| (s.id, s.variant)).collect::<Vec<_>>(), [(first.id, 1), (second.id, 2)]);
    let got = client.get_script(v1::GetScriptRequest { job_id: a.id, script_id: first.id }).await.unwrap().into_inner();
    assert_eq!(got, first);
    assert!(client
        .list_scripts(v1::ListScriptsRequest { job_id: b.id })
        .await
        .unwrap()
        .into_inner()
        .scripts
        .is_empty());

    // Another job's script is NOT_FOUND, through every RPC that names one.
    assert_status(
        client.get_script(v1::GetScriptRequest { job_id: b.id, script_id: first.id }).await,
        Code::NotFound,
        &format!("script {} not found in job {}", first.id, b.id),
    );
    assert_status(h.generate_media(b.id, first.id).await, Code::NotFound, "not found in job");
    assert_status(h.list_assets(b.id, first.id).await, Code::NotFound, "not found in job");

    // job_id 0 is INVALID_ARGUMENT everywhere; an unknown job is NOT_FOUND.
    let unknown = 1_000_000;
    assert_status(
        h.generate_script(v1::GenerateScriptRequest { job_id: 0, ..script_request(&a, 1) }).await,
        Code::InvalidArgument,
        "job_id: must be a positive job id",
    );
    assert_status(h.generate_media(0, first.id).await, Code::InvalidArgument, "job_id: must be a positive job id");
    assert_status(
        client.get_script(v1::GetScriptRequest { job_id: -1, script_id: first.id }).await,
        Code::InvalidArgument,
        "job_id",
    );
    assert_status(client.list_scripts(v1::ListScriptsRequest { job_id: 0 }).await, Code::InvalidArgument, "job_id");
    assert_status(h.list_assets(0, 0).await, Code::InvalidArgument, "job_id");
    let mut report = a.report.clone();
    report.job_id = unknown;
    let for_unknown = v1::GenerateScriptRequest { job_id: unknown, report: Some(report), ..script_request(&a, 1) };
    assert_status(h.generate_script(for_unknown).await, Code::NotFound, &format!("job {unknown} not found"));
    assert_status(h.generate_media(unknown, first.id).await, Code::NotFound, &format!("job {unknown} not found"));
    assert_status(client.list_scripts(v1::ListScriptsRequest { job_id: unknown }).await, Code::NotFound, "not found");
    assert_status(h.list_assets(unknown, 0).await, Code::NotFound, "not found");
    assert_status(
        client.get_script(v1::GetScriptRequest { job_id: unknown, script_id: first.id }).await,
        Code::NotFound,
        "not found",
    );

    // Bad ids name their field.
    assert_status(h.generate_media(a.id, 0).await, Code::InvalidArgument, "script_id");
    assert_status(
        client.get_script(v1::GetScriptRequest { job_id: a.id, script_id: 0 }).await,
        Code::InvalidArgument,
        "script_id",
    );
    assert_status(h.list_assets(a.id, -3).await, Code::InvalidArgument, "script_id");
    assert_status(h.generate_media(a.id, 999_999).await, Code::NotFound, "script 999999 not found");

    // A report of another job: the message is made to look like b's, the database refuses it.
    let mut borrowed = a.report.clone();
    borrowed.job_id = b.id;
    let request = v1::GenerateScriptRequest {
        job_id: b.id,
        trend_report_id: a.report.id,
        theme: Some(convert::theme(&b.theme)),
        report: Some(borrowed),
        variant: 1,
    };
    assert_status(
        h.generate_script(request).await,
        Code::NotFound,
        &format!("trend report {} not found in job {}", a.report.id, b.id),
    );
    assert_eq!(h.script_count(b.id).await, 0, "a refused request writes nothing");
    // A retry of a's variant 1 naming another report is refused too, not answered with the row.
    let mut other = b.report.clone();
    other.job_id = a.id;
    let request =
        v1::GenerateScriptRequest { trend_report_id: b.report.id, report: Some(other), ..script_request(&a, 1) };
    assert_status(
        h.generate_script(request).await,
        Code::NotFound,
        &format!("trend report {} not found in job {}", b.report.id, a.id),
    );

    // Request validation: every bad field is named, nothing is written.
    let mut mismatched = script_request(&b, 1);
    mismatched.report.as_mut().unwrap().job_id = a.id;
    assert_status(h.generate_script(mismatched).await, Code::InvalidArgument, "report.job_id");
    let mut wrong_id = script_request(&b, 1);
    wrong_id.trend_report_id += 1;
    assert_status(h.generate_script(wrong_id).await, Code::InvalidArgument, "report.id");
    assert_status(
        h.generate_script(v1::GenerateScriptRequest { theme: None, ..script_request(&b, 1) }).await,
        Code::InvalidArgument,
        "theme: is required",
    );
    assert_status(
        h.generate_script(v1::GenerateScriptRequest { report: None, ..script_request(&b, 1) }).await,
        Code::InvalidArgument,
        "report: is required",
    );
    assert_status(h.generate_script(script_request(&b, 11)).await, Code::InvalidArgument, "variant");
    assert_status(h.generate_script(script_request(&b, -1)).await, Code::InvalidArgument, "variant");
    let mut bad_theme = script_request(&b, 1);
    bad_theme.theme.as_mut().unwrap().config.as_mut().unwrap().video_duration_seconds = 99;
    assert_status(h.generate_script(bad_theme).await, Code::InvalidArgument, "theme.config.video_duration_seconds");
    assert_eq!(h.script_count(b.id).await, 0, "refused requests write nothing");

    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn media_is_a_voiceover_and_a_clip_per_scene_made_once() {
    let h = Harness::start(ProviderSet::Offline).await;
    let job = h.job().await;
    let other = h.job().await;
    let script = h.generate_script(script_request(&job, 1)).await.unwrap();
    let plan = script.plan.clone().unwrap();
    let scenes = plan.scenes.len();

    // A request dropped half way (its deadline passed) leaves no rows and no partial files.
    let mut request = tonic::Request::new(v1::GenerateMediaRequest { job_id: job.id, script_id: script.id });
    request.set_timeout(Duration::from_millis(250));
    let cut = h.client.clone().generate_media(request).await.expect_err("the deadline passes first");
    assert!(matches!(cut.code(), Code::DeadlineExceeded | Code::Cancelled), "{cut:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.asset_count(job.id).await, 0, "no rows for a half-made set");
    let dir = h.media_root.join(format!("jobs/{}/script-{}", job.id, script.id));
    if dir.exists() {
        let hidden: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with('.'))
            .collect();
        assert!(hidden.is_empty(), "partial files left: {hidden:?}");
    }

    let assets = h.generate_media(job.id, script.id).await.unwrap();
    assert_eq!(assets.len(), scenes + 3);
    // Clips in scene order, then the captions and the voiceover.
    let kinds: Vec<(i32, i32)> = assets.iter().map(|a| (a.kind, a.scene_number)).collect();
    let mut expected: Vec<(i32, i32)> = (1..=scenes as i32).map(|n| (v1::AssetKind::Clip as i32, n)).collect();
    expected.extend(
        [v1::AssetKind::CaptionsSrt, v1::AssetKind::CaptionsVtt, v1::AssetKind::Voiceover].map(|k| (k as i32, 0)),
    );
    assert_eq!(kinds, expected);

    let voice = assets.last().unwrap();
    assert_eq!((voice.provider.as_str(), voice.model.as_str()), ("espeak-ng", "espeak-ng/en-us"));
    let wav = std::fs::read(local_path(&voice.uri)).unwrap();
    let measured = shortline_scriptgen::media::parse_wav(&wav).unwrap().duration_seconds();
    assert!((measured - voice.duration_seconds).abs() < 1e-6);
    assert_eq!(voice.size_bytes, wav.len() as i64);
    assert!(voice.uri.ends_with(&format!("jobs/{}/script-{}/voiceover.wav", job.id, script.id)), "{}", voice.uri);

    let mut picture = 0.0;
    for (clip, planned) in assets[..scenes].iter().zip(&plan.scenes) {
        let path = local_path(&clip.uri);
        assert!(clip.uri.ends_with(&format!("script-{}/scene-{}.mp4", script.id, clip.scene_number)), "{}", clip.uri);
        assert_eq!((clip.job_id, clip.script_id, clip.provider.as_str()), (job.id, script.id, "procedural"));
        assert_eq!(clip.size_bytes, std::fs::metadata(&path).unwrap().len() as i64);
        assert_eq!(clip.sha256.len(), 64);
        let probed = ffprobe_duration(&path);
        assert!((probed - clip.duration_seconds).abs() < 0.05, "{probed} vs {}", clip.duration_seconds);
        assert!(clip.duration_seconds + 1e-6 >= planned.duration_seconds, "scenes are never shortened");
        picture += clip.duration_seconds;
    }
    assert!(picture + 1e-6 >= voice.duration_seconds + 0.4, "picture {picture} s, voice {} s", voice.duration_seconds);

    // Idempotent: the same rows, nothing rendered again.
    let before = mtimes(&assets);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let again = h.generate_media(job.id, script.id).await.unwrap();
    assert_eq!(again, assets);
    assert_eq!(mtimes(&again), before);

    // Listing: by script, then scene number (the voiceover and its captions are scene 0), then kind.
    let listed = h.list_assets(job.id, script.id).await.unwrap();
    assert_eq!(listed.len(), scenes + 3);
    assert_eq!(listed[2].id, voice.id);
    assert_eq!(h.list_assets(job.id, 0).await.unwrap(), listed);
    assert!(h.list_assets(other.id, 0).await.unwrap().is_empty());
    assert_status(h.generate_media(other.id, script.id).await, Code::NotFound, "not found in job");
    assert_eq!(h.asset_count(other.id).await, 0);

    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_null_set_makes_placeholders_and_concurrent_calls_share_one_set() {
    let h = Harness::start(ProviderSet::Null).await;
    let job = h.job().await;
    let script = h.generate_script(script_request(&job, 1)).await.unwrap();
    let calls = (0..4).map(|_| h.generate_media(job.id, script.id));
    let results = futures::future::join_all(calls).await;
    let first = results[0].as_ref().unwrap().clone();
    for result in &results {
        assert_eq!(result.as_ref().unwrap(), &first);
    }
    assert_eq!(first.len(), script.plan.unwrap().scenes.len() + 3, "clips, voiceover, SRT and WebVTT");
    let media =
        first.iter().filter(|a| a.kind == v1::AssetKind::Clip as i32 || a.kind == v1::AssetKind::Voiceover as i32);
    assert!(
        media.clone().count() == first.len() - 2
            && media.into_iter().all(|a| a.provider == "null" && a.model == "null")
    );
    assert_eq!(h.asset_count(job.id).await, first.len());
    h.stop().await;
}

/// Item 4 of issue 12: words that take longer to speak than any video may last (espeak-ng
/// spells out what it cannot read) are refused at the media stage, never stretched into a
/// video past the 28 s maximum; nothing is stored.
#[tokio::test(flavor = "multi_thread")]
async fn speech_longer_than_any_video_is_refused() {
    let h = Harness::start(ProviderSet::Offline).await;
    let nonsense = "x1z9q".repeat(16);
    let theme = Theme::from_yaml(&format!(
        "config:\n  theme: {nonsense}\n  video_duration_seconds: 28\n  product_name: {nonsense}\n  tagline: {nonsense}\n\
         content_references:\n  - ref_id: a\n    type: product\n    title: {nonsense}\n    description: {nonsense}\n    \
         talking_points: [{nonsense}, {nonsense}, {nonsense}]\n"
    ))
    .unwrap();
    let job = h.job_with(theme).await;
    let script = h.generate_script(script_request(&job, 1)).await.unwrap();
    let status = h.generate_media(job.id, script.id).await.expect_err("too long to speak in a short");
    assert_eq!(status.code(), Code::FailedPrecondition, "{}", status.message());
    assert!(status.message().contains("a video lasts at most 28 s"), "{}", status.message());
    assert_eq!(h.asset_count(job.id).await, 0);
    h.stop().await;
}
