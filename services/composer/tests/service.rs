//! The composer's gRPC API end to end: a real composer on port 0 over a fresh database (both
//! backends, from `shortline-testing`), a
//! fake ScriptService (serving scripts and media made here with ffmpeg), real renders kept small
//! (360x640 at 15 fps, `ultrafast`, 2 s scenes).

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shortline_composer::render::probe;
use shortline_composer::Application;
use shortline_config::Config;
use shortline_db::{self as db, DbPool, JobKind, NewJob, NewScript, NewTrendReport};
use shortline_domain::{
    OverlayPosition, OverlayStyle, ProductionPlan, Scene, TextOverlay, Theme, Transition, TrendReportBody,
};
use shortline_grpc::convert;
use shortline_grpc::{GrpcServer, Shutdown};
use shortline_media::MediaStore;
use shortline_proto::v1::composer_service_client::ComposerServiceClient;
use shortline_proto::v1::script_service_server::{ScriptService, ScriptServiceServer};
use shortline_proto::v1::{self};
use shortline_testing::{on_both_backends, TestDb};
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};

// ---- a fake scriptgen -----------------------------------------------------------------------------

#[derive(Default)]
struct Data {
    /// (job_id, script_id) -> script
    scripts: HashMap<(i64, i64), v1::Script>,
    assets: Vec<v1::MediaAsset>,
}

#[derive(Clone, Default)]
struct FakeScriptgen(Arc<Mutex<Data>>);

#[tonic::async_trait]
impl ScriptService for FakeScriptgen {
    async fn generate_script(&self, _: Request<v1::GenerateScriptRequest>) -> Result<Response<v1::Script>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn generate_media(
        &self,
        _: Request<v1::GenerateMediaRequest>,
    ) -> Result<Response<v1::GenerateMediaResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn get_script(&self, request: Request<v1::GetScriptRequest>) -> Result<Response<v1::Script>, Status> {
        assert_eq!(
            shortline_grpc::job_id_from_metadata(request.metadata()),
            Some(request.get_ref().job_id),
            "job_id travels in metadata"
        );
        let request = request.into_inner();
        let data = self.0.lock().unwrap();
        match data.scripts.get(&(request.job_id, request.script_id)) {
            Some(script) => Ok(Response::new(script.clone())),
            None => Err(Status::not_found(format!("script {} not found", request.script_id))),
        }
    }

    async fn list_scripts(
        &self,
        _: Request<v1::ListScriptsRequest>,
    ) -> Result<Response<v1::ListScriptsResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_media_assets(
        &self,
        request: Request<v1::ListMediaAssetsRequest>,
    ) -> Result<Response<v1::ListMediaAssetsResponse>, Status> {
        assert!(request.metadata().get(shortline_grpc::JOB_ID_HEADER).is_some());
        let request = request.into_inner();
        let data = self.0.lock().unwrap();
        let assets = data
            .assets
            .iter()
            .filter(|a| a.job_id == request.job_id && (request.script_id == 0 || a.script_id == request.script_id))
            .cloned()
            .collect();
        Ok(Response::new(v1::ListMediaAssetsResponse { assets }))
    }
}

// ---- the world a test runs in ---------------------------------------------------------------------

struct World {
    _dir: tempfile::TempDir,
    _db: TestDb,
    store: MediaStore,
    /// The store's directory.
    root: PathBuf,
    pool: DbPool,
    fake: FakeScriptgen,
    client: ComposerServiceClient<Channel>,
    shutdown: Shutdown,
    next_asset_id: i64,
}

impl Drop for World {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

async fn world(test_db: TestDb) -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = test_db.url.clone();
    let pool = test_db.pool.clone();
    let media_root = dir.path().join("media");
    let store = MediaStore::local(media_root.to_str().unwrap()).unwrap();

    let shutdown = Shutdown::new();
    let fake = FakeScriptgen::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_addr = listener.local_addr().unwrap();
    let routes = tonic::service::Routes::new(ScriptServiceServer::new(fake.clone()));
    tokio::spawn(GrpcServer::new(routes).serve(listener, shutdown.clone()));

    let mut config = Config { data_dir: dir.path().to_owned(), ..Config::default() };
    config.database.url = Some(url);
    config.media.root = Some(media_root.display().to_string());
    config.media.width = 360;
    config.media.height = 640;
    config.media.fps = 15;
    config.media.x264_preset = "ultrafast".into();
    config.media.crf = 32;
    config.media.thumbnail_at_seconds = 0.5;
    config.composer.listen = "127.0.0.1:0".parse().unwrap();
    config.scriptgen.url = format!("http://{fake_addr}");
    config.pipeline.shutdown_grace_seconds = 1;
    let app = Application::build(config, shutdown.clone()).await.unwrap();
    let address = app.address();
    tokio::spawn(app.run());
    let client = ComposerServiceClient::connect(format!("http://{address}")).await.unwrap();
    let root = PathBuf::from(store.root_uri().strip_prefix("file://").unwrap());
    World { _dir: dir, _db: test_db, store, root, pool, fake, client, shutdown, next_asset_id: 100 }
}

fn plan() -> ProductionPlan {
    let transitions = [Transition::Cut, Transition::Fade, Transition::Dissolve];
    ProductionPlan {
        video_prompt: "a bottle on a desk".into(),
        duration_seconds: 6.0,
        aspect_ratio: "9:16".into(),
        scenes: transitions
            .iter()
            .enumerate()
            .map(|(i, t)| Scene {
                number: i as u32 + 1,
                duration_seconds: 2.0,
                visual_prompt: format!("shot {i}"),
                transition: *t,
            })
            .collect(),
        voiceover_script: "Stay hydrated.".into(),
        hook_text: "Still thirsty?".into(),
        cta_text: "Follow for more".into(),
        text_overlays: vec![
            TextOverlay {
                text: "Still thirsty?".into(),
                start_seconds: 0.0,
                end_seconds: 2.0,
                position: OverlayPosition::Top,
                style: OverlayStyle::Bold,
            },
            TextOverlay {
                text: "Follow for more".into(),
                start_seconds: 4.0,
                end_seconds: 6.0,
                position: OverlayPosition::Bottom,
                style: OverlayStyle::Highlight,
            },
        ],
        hashtags: ["#a", "#b", "#c", "#d", "#e"].map(String::from).to_vec(),
        title: "Bottles".into(),
        description: "A bottle".into(),
    }
}

impl World {
    /// A pipeline job with its trend report.
    async fn job(&self) -> (i64, i64) {
        let mut pooled = self.pool.get().await.unwrap();
        let conn = &mut pooled.conn();
        let theme = Theme::from_yaml("config:\n  theme: bottles\n").unwrap();
        let job = db::jobs::insert(conn, &NewJob::queued(JobKind::Pipeline, "bottles", Some(db::to_json(&theme)), 2))
            .await
            .unwrap();
        let body = TrendReportBody::default();
        let (report, _) =
            db::trend_reports::insert_or_get(conn, &NewTrendReport::new(job.id, "heuristic", 24, 0, &body), &[])
                .await
                .unwrap();
        (job.id, report.id)
    }

    /// A script row (for the videos' foreign key) that the fake scriptgen serves too.
    async fn script(&self, job_id: i64, report_id: i64, variant: i32) -> i64 {
        let mut pooled = self.pool.get().await.unwrap();
        let theme = Theme::from_yaml("config:\n  theme: bottles\n").unwrap();
        let new = NewScript::new(job_id, report_id, variant, &plan(), &theme, "template", "", 1_000);
        let (row, _) = db::scripts::insert_or_get(&mut pooled.conn(), &new).await.unwrap();
        self.fake.0.lock().unwrap().scripts.insert((job_id, row.id), convert::script(&row).unwrap());
        row.id
    }

    /// Three 2 s clips and a voiceover, made with ffmpeg in the media store, served as assets.
    async fn media(&mut self, job_id: i64, script_id: i64) -> Vec<v1::MediaAsset> {
        let mut assets = Vec::new();
        let sources = ["testsrc2", "smptebars", "testsrc"];
        for (i, source) in sources.iter().enumerate() {
            let key = format!("jobs/{job_id}/script-{script_id}/scene-{}.mp4", i + 1);
            let path = self.store.local_path(&key).unwrap();
            let input = format!("{source}=size=360x640:rate=15:duration=2");
            ffmpeg(&[
                "-f",
                "lavfi",
                "-i",
                &input,
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
                s(&path),
            ])
            .await;
            let uri = self.store.publish(&key, &path).await.unwrap();
            assets.push(self.asset(job_id, script_id, v1::AssetKind::Clip, i as i32 + 1, uri, 2.0));
        }
        let key = format!("jobs/{job_id}/script-{script_id}/voiceover.wav");
        let voice = self.store.local_path(&key).unwrap();
        ffmpeg(&["-f", "lavfi", "-i", "sine=frequency=330:duration=4.5", s(&voice)]).await;
        let uri = self.store.publish(&key, &voice).await.unwrap();
        assets.push(self.asset(job_id, script_id, v1::AssetKind::Voiceover, 0, uri, 4.5));
        self.fake.0.lock().unwrap().assets.extend(assets.iter().cloned());
        assets
    }

    fn asset(
        &mut self,
        job_id: i64,
        script_id: i64,
        kind: v1::AssetKind,
        scene: i32,
        uri: String,
        seconds: f64,
    ) -> v1::MediaAsset {
        self.next_asset_id += 1;
        v1::MediaAsset {
            id: self.next_asset_id,
            job_id,
            script_id,
            kind: kind as i32,
            scene_number: scene,
            uri,
            duration_seconds: seconds,
            provider: "test".into(),
            ..Default::default()
        }
    }

    async fn compose(&self, job_id: i64, script_id: i64) -> Result<v1::Video, Status> {
        self.compose_with(compose_request(job_id, script_id)).await
    }

    async fn compose_with(&self, request: v1::ComposeVideoRequest) -> Result<v1::Video, Status> {
        self.client.clone().compose_video(request).await.map(Response::into_inner)
    }

    async fn review(&self, job_id: i64, video_id: i64, decision: v1::ReviewDecision) -> Result<v1::Video, Status> {
        let request = v1::ComposerReviewVideoRequest {
            job_id,
            video_id,
            decision: decision as i32,
            note: "looks good".into(),
            reviewer: "rita".into(),
        };
        self.client.clone().review_video(request).await.map(Response::into_inner)
    }

    async fn list(&self, job_id: i64) -> Vec<v1::Video> {
        self.client.clone().list_videos(v1::ListVideosRequest { job_id }).await.unwrap().into_inner().videos
    }

    async fn get(&self, job_id: i64, video_id: i64) -> Result<v1::Video, Status> {
        self.client.clone().get_video(v1::GetVideoRequest { job_id, video_id }).await.map(Response::into_inner)
    }

    fn path(&self, uri: &str) -> PathBuf {
        self.root.join(self.store.key_of(uri).unwrap())
    }
}

fn compose_request(job_id: i64, script_id: i64) -> v1::ComposeVideoRequest {
    v1::ComposeVideoRequest {
        job_id,
        script_id,
        asset_ids: vec![],
        generation_log_json: r#"{"theme_name":"bottles","trend_report":{"id":1}}"#.into(),
        upstream_costs: Some(v1::CostBreakdown {
            llm_micros: 100,
            tts_micros: 20,
            video_generation_micros: 300,
            total_micros: 0,
        }),
        captions: v1::CaptionStyle::Phrase as i32,
    }
}

async fn ffmpeg(args: &[&str]) {
    let status = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-y", "-hide_banner", "-loglevel", "error"])
        .args(args)
        .status()
        .await
        .unwrap();
    assert!(status.success(), "ffmpeg {args:?}");
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn files_under(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return vec![] };
    let mut names: Vec<String> = entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[track_caller]
fn assert_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, contains: &str) {
    let status = result.expect_err("the call must fail");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().contains(contains), "`{}` does not contain `{contains}`", status.message());
}

// ---- tests ----------------------------------------------------------------------------------------

on_both_backends!(
    compose_is_idempotent_review_moves_files_once_and_every_lookup_is_job_scoped,
    bad_requests_write_nothing_and_a_cancelled_render_leaves_no_files
);

async fn compose_is_idempotent_review_moves_files_once_and_every_lookup_is_job_scoped(db: TestDb) {
    let mut w = world(db).await;
    let (job, report) = w.job().await;
    let script = w.script(job, report, 1).await;
    let assets = w.media(job, script).await;

    let video = w.compose(job, script).await.unwrap();
    assert_eq!((video.job_id, video.script_id, video.variant), (job, script, 1));
    assert_eq!(video.status, v1::VideoStatus::Generated as i32);
    assert!(video.uri.ends_with(&format!("/generated/job-{job}/video-{script}.mp4")), "{}", video.uri);
    assert!(
        video.thumbnail_uri.ends_with(&format!("/generated/job-{job}/video-{script}.jpg")),
        "{}",
        video.thumbnail_uri
    );
    let mp4 = w.path(&video.uri);
    let jpg = w.path(&video.thumbnail_uri);
    assert!(std::fs::metadata(&jpg).unwrap().len() > 0);
    let probed = probe(&mp4).await.unwrap();
    assert_eq!(probed.stream("video").unwrap().codec_name, "h264");
    assert_eq!(probed.stream("audio").unwrap().codec_name, "aac");
    assert!((probed.duration_seconds - 6.0).abs() < 0.15, "planned 6 s, rendered {} s", probed.duration_seconds);
    assert!((video.duration_seconds - probed.duration_seconds).abs() < 1e-6);
    assert_eq!((video.width, video.height), (360, 640));
    assert_eq!(video.size_bytes as u64, std::fs::metadata(&mp4).unwrap().len());
    assert_eq!(video.sha256.len(), 64);
    let costs = video.costs.unwrap();
    // The upstream costs plus the script's 1000 (LLM); the offline assets cost nothing.
    assert_eq!(
        (costs.llm_micros, costs.tts_micros, costs.video_generation_micros, costs.total_micros),
        (1_100, 20, 300, 1_420)
    );
    let log: serde_json::Value = serde_json::from_str(&video.generation_log_json).unwrap();
    assert_eq!(log["theme_name"], "bottles");
    assert_eq!(log["composition"]["output"]["video_codec"], "h264");
    assert_eq!(log["composition"]["output"]["audio_codec"], "aac");
    assert_eq!(log["composition"]["settings"]["x264_preset"], "ultrafast");
    assert_eq!(log["composition"]["inputs"]["voiceover_asset_id"], assets[3].id);
    let library = w.root.join("library/music/offline-bed.wav");
    assert!(library.is_file(), "the offline music bed is made once in the store");
    // No stray partial files beside the outputs.
    assert_eq!(files_under(mp4.parent().unwrap()), [format!("video-{script}.jpg"), format!("video-{script}.mp4")]);

    // A retry returns the same video without rendering again.
    let modified = std::fs::metadata(&mp4).unwrap().modified().unwrap();
    let again = w.compose(job, script).await.unwrap();
    assert_eq!(again, video);
    assert_eq!(std::fs::metadata(&mp4).unwrap().modified().unwrap(), modified);
    assert_eq!(w.list(job).await, vec![video.clone()]);
    assert_eq!(w.get(job, video.id).await.unwrap(), video);

    // Another job sees none of it.
    let (other, other_report) = w.job().await;
    let other_script = w.script(other, other_report, 1).await;
    assert_code(w.get(other, video.id).await, Code::NotFound, &format!("video {} not found", video.id));
    assert_code(w.review(other, video.id, v1::ReviewDecision::Approve).await, Code::NotFound, "not found");
    assert_code(w.compose(other, script).await, Code::NotFound, &format!("script {script} not found"));
    assert!(w.list(other).await.is_empty());

    // Asset selection: another script's asset is a bad argument, another job's is NOT_FOUND, and
    // a script without media cannot be composed yet.
    let script2 = w.script(job, report, 2).await;
    let foreign = v1::ComposeVideoRequest { asset_ids: vec![assets[0].id], ..compose_request(job, script2) };
    assert_code(w.compose_with(foreign).await, Code::InvalidArgument, "asset_ids[0]");
    let other_assets = w.media(other, other_script).await;
    let foreign =
        v1::ComposeVideoRequest { asset_ids: vec![assets[0].id, other_assets[1].id], ..compose_request(job, script) };
    let foreign = v1::ComposeVideoRequest { script_id: script2, ..foreign };
    assert_code(w.compose_with(foreign).await, Code::InvalidArgument, "asset_ids[0]");
    let missing = v1::ComposeVideoRequest { asset_ids: vec![other_assets[1].id], ..compose_request(job, script2) };
    assert_code(w.compose_with(missing).await, Code::NotFound, &format!("asset {} not found", other_assets[1].id));
    assert_code(
        w.compose(job, script2).await,
        Code::FailedPrecondition,
        &format!("script {script2} has no media yet: run GenerateMedia"),
    );
    assert_eq!(w.list(job).await.len(), 1);

    // Review: the files move under approved/, once.
    assert_code(w.review(job, video.id, v1::ReviewDecision::Unspecified).await, Code::InvalidArgument, "decision: ");
    let approved = w.review(job, video.id, v1::ReviewDecision::Approve).await.unwrap();
    assert_eq!(approved.status, v1::VideoStatus::Approved as i32);
    assert_eq!(approved.review_note, "looks good");
    assert!(approved.reviewed_at.is_some());
    assert!(approved.uri.ends_with(&format!("/approved/job-{job}/video-{script}.mp4")), "{}", approved.uri);
    assert!(
        approved.thumbnail_uri.ends_with(&format!("/approved/job-{job}/video-{script}.jpg")),
        "{}",
        approved.thumbnail_uri
    );
    assert!(w.path(&approved.uri).is_file() && w.path(&approved.thumbnail_uri).is_file());
    assert!(!mp4.exists() && !jpg.exists());
    assert_code(
        w.review(job, video.id, v1::ReviewDecision::Reject).await,
        Code::FailedPrecondition,
        "is already approved",
    );
    assert_eq!(w.get(job, video.id).await.unwrap(), approved);
    assert!(w.path(&approved.uri).is_file());
    // Composing again still answers the (now approved) video.
    assert_eq!(w.compose(job, script).await.unwrap(), approved);
}

async fn bad_requests_write_nothing_and_a_cancelled_render_leaves_no_files(db: TestDb) {
    let mut w = world(db).await;
    let (job, report) = w.job().await;
    let script = w.script(job, report, 1).await;
    w.media(job, script).await;

    // job_id 0 is INVALID_ARGUMENT everywhere; an unknown job is NOT_FOUND.
    let mut client = w.client.clone();
    assert_code(w.compose(0, script).await, Code::InvalidArgument, "job_id");
    assert_code(w.review(0, 1, v1::ReviewDecision::Approve).await, Code::InvalidArgument, "job_id");
    assert_code(client.list_videos(v1::ListVideosRequest { job_id: 0 }).await, Code::InvalidArgument, "job_id");
    assert_code(w.get(-3, 1).await, Code::InvalidArgument, "job_id");
    assert_code(w.compose(9_999, script).await, Code::NotFound, "job 9999 not found");
    assert_code(
        client.list_videos(v1::ListVideosRequest { job_id: 9_999 }).await,
        Code::NotFound,
        "job 9999 not found",
    );
    assert_code(w.get(9_999, 1).await, Code::NotFound, "job 9999 not found");
    assert_code(w.get(job, 0).await, Code::InvalidArgument, "video_id");
    assert_code(w.compose(job, 0).await, Code::InvalidArgument, "script_id");

    // Bad arguments are refused before anything is rendered or written.
    for bad in ["[1, 2]", "{not json", "\"text\""] {
        let request = v1::ComposeVideoRequest { generation_log_json: bad.into(), ..compose_request(job, script) };
        assert_code(w.compose_with(request).await, Code::InvalidArgument, "generation_log_json: ");
    }
    let negative = v1::ComposeVideoRequest {
        upstream_costs: Some(v1::CostBreakdown { tts_micros: -5, ..Default::default() }),
        ..compose_request(job, script)
    };
    assert_code(w.compose_with(negative).await, Code::InvalidArgument, "upstream_costs.tts_micros");
    let zero_asset = v1::ComposeVideoRequest { asset_ids: vec![0], ..compose_request(job, script) };
    assert_code(w.compose_with(zero_asset).await, Code::InvalidArgument, "asset_ids[0]");
    assert!(w.list(job).await.is_empty());
    let generated = w.root.join(format!("generated/job-{job}"));
    assert!(files_under(&generated).is_empty());

    // A caller that goes away mid-render cancels it: ffmpeg is killed, no file is left.
    let mut request = Request::new(compose_request(job, script));
    request.set_timeout(Duration::from_millis(300));
    let status = client.compose_video(request).await.expect_err("the deadline passes mid-render");
    // tonic's server enforces `grpc-timeout` by dropping the handler and answering CANCELLED.
    assert!(matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled), "{status:?}");
    let mut left = files_under(&generated);
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = files_under(&generated);
    }
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(w.list(job).await.is_empty());

    // The render slot is free again and the deterministic paths are reused.
    let video = w.compose(job, script).await.unwrap();
    assert_eq!(files_under(&generated), [format!("video-{script}.jpg"), format!("video-{script}.mp4")]);
    assert_eq!(w.list(job).await, vec![video]);
}
