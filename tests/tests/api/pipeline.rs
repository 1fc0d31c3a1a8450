//! The whole pipeline across three separate processes (issue 3).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use shortline_db as db;
use shortline_proto::v1::{self, orchestrator_service_client::OrchestratorServiceClient, start_job_request::Source};
use tonic::transport::Channel;

use crate::helpers::TestDb;
use crate::processes::TestSystem;
use shortline_testing::on_both_backends;

/// A short theme so the suite renders little.
pub fn small_theme(auto_post: bool) -> v1::Theme {
    v1::Theme {
        config: Some(v1::ThemeConfig {
            theme: "Reusable coffee cups".into(),
            target_platform: "tiktok".into(),
            video_duration_seconds: 8,
            style: "energetic".into(),
            auto_post,
            product_name: Some("LoopCup".into()),
            tagline: Some("Coffee without the waste".into()),
            target_audience: Some("commuters".into()),
            tone: Some("upbeat".into()),
            budget_usd: None,
            avatar: None,
            captions: 0,
            fresh_analysis: false,
        }),
        content_references: vec![v1::ContentReference {
            ref_id: "cup".into(),
            r#type: "product".into(),
            title: "LoopCup".into(),
            description: "A cup you return at any cafe".into(),
            media_url: None,
            talking_points: vec!["Return it anywhere".into(), "Keeps coffee hot".into()],
        }],
    }
}

pub fn start_request(theme: v1::Theme) -> v1::StartJobRequest {
    v1::StartJobRequest { source: Some(Source::Theme(theme)), variants: 1, ..Default::default() }
}

/// A review approving `video_id` of `job_id`, noting `note`.
pub fn approval(job_id: i64, video_id: i64, note: &str) -> v1::ReviewVideoRequest {
    v1::ReviewVideoRequest { job_id, video_id, decision: v1::ReviewDecision::Approve as i32, note: note.into() }
}

/// Approves `video_id` of `job_id` (noting `note`); the job must then be APPROVED.
pub async fn approve(client: &mut OrchestratorServiceClient<Channel>, job_id: i64, video_id: i64, note: &str) {
    let job = client.review_video(approval(job_id, video_id, note)).await.expect("approve").into_inner();
    assert_eq!(job.status(), v1::JobStatus::Approved);
}

/// Polls the job until it reaches one of `statuses`; panics with its error if it fails first.
pub async fn wait_for<T>(
    client: &mut OrchestratorServiceClient<T>,
    job_id: i64,
    statuses: &[v1::JobStatus],
    limit: Duration,
) -> v1::Job
where
    // Any channel the generated client takes: a plain one, or one that adds a bearer token.
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let job = client.get_job(v1::GetJobRequest { job_id }).await.expect("get job").into_inner();
        if statuses.iter().any(|s| *s as i32 == job.status) {
            return job;
        }
        if [v1::JobStatus::Failed as i32, v1::JobStatus::Cancelled as i32].contains(&job.status) {
            panic!("job {job_id} ended {:?}: {} (stage {:?})", job.status(), job.error, job.failed_stage());
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {job_id} still {:?} after {limit:?}: {:?}",
            job.status(),
            job.progress
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub fn path_of(uri: &str) -> PathBuf {
    PathBuf::from(uri.strip_prefix("file://").expect("a file:// uri"))
}

/// ffprobe's view of a file: (video codec, audio codec, duration).
pub fn probe(path: &std::path::Path) -> (String, String, f64) {
    let output = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_streams", "-show_format"])
        .arg(path)
        .output()
        .expect("ffprobe");
    assert!(output.status.success(), "ffprobe rejects {}: {}", path.display(), String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("ffprobe json");
    let codec = |kind: &str| {
        json["streams"]
            .as_array()
            .expect("streams")
            .iter()
            .find(|s| s["codec_type"] == kind)
            .map(|s| s["codec_name"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    };
    let duration = json["format"]["duration"].as_str().and_then(|d| d.parse().ok()).expect("duration");
    (codec("video"), codec("audio"), duration)
}

/// Every row the job left traces to it, its files are real, and approving moves them.
async fn a_job_runs_from_trends_to_an_approved_video(db: TestDb) {
    let system = TestSystem::start(db).await;
    let mut client = system.orchestrator_client().await;
    let job = client.start_job(start_request(small_theme(false))).await.expect("start").into_inner();
    assert_eq!(job.status(), v1::JobStatus::Queued);
    let job = wait_for(&mut client, job.id, &[v1::JobStatus::AwaitingReview], Duration::from_secs(300)).await;

    let lineage =
        client.get_job_lineage(v1::GetJobLineageRequest { job_id: job.id }).await.expect("lineage").into_inner();
    for stage in [
        v1::Stage::TrendCollection,
        v1::Stage::TrendAnalysis,
        v1::Stage::ScriptGeneration,
        v1::Stage::MediaGeneration,
        v1::Stage::Composition,
    ] {
        let attempts: Vec<_> = lineage.stages.iter().filter(|s| s.stage == stage as i32).collect();
        assert_eq!(attempts.len(), 1, "{stage:?}");
        assert_eq!(attempts[0].status(), v1::StageStatus::Succeeded, "{stage:?}: {}", attempts[0].error);
    }
    let review: Vec<_> = lineage.stages.iter().filter(|s| s.stage == v1::Stage::Review as i32).collect();
    assert_eq!(review.len(), 1);
    assert_eq!(review[0].status(), v1::StageStatus::Running);
    assert!(!lineage.trends.is_empty());
    let report = lineage.report.as_ref().expect("report");
    assert_eq!(report.job_id, job.id);
    assert!(
        !report.trend_ids.is_empty() && report.trend_ids.iter().all(|id| lineage.trends.iter().any(|t| t.id == *id))
    );
    assert_eq!(lineage.scripts.len(), 1);
    let script = &lineage.scripts[0];
    assert_eq!((script.job_id, script.trend_report_id), (job.id, report.id));
    let plan = script.plan.as_ref().expect("plan");
    assert_eq!(lineage.assets.len(), plan.scenes.len() + 3, "a clip per scene, the voiceover and its captions");
    assert!(lineage.assets.iter().all(|a| a.job_id == job.id && a.script_id == script.id && path_of(&a.uri).exists()));
    assert_eq!(lineage.videos.len(), 1);
    let video = &lineage.videos[0];
    assert_eq!((video.job_id, video.script_id, video.status()), (job.id, script.id, v1::VideoStatus::Generated));

    // The database agrees, row by row.
    {
        let mut pooled = system.db.conn().await;
        let rows = db::lineage::for_job(&mut pooled.conn(), job.id).await.expect("db lineage");
        assert_eq!(rows.trends.len(), lineage.trends.len());
        assert!(rows.report_items.iter().all(|i| i.job_id == job.id));
        assert!(rows.scripts.iter().all(|s| s.job_id == job.id));
        assert_eq!(rows.assets.len(), lineage.assets.len());
        assert!(rows.videos.iter().all(|v| v.job_id == job.id));
    }

    let (video_codec, audio_codec, duration) = probe(&path_of(&video.uri));
    assert_eq!((video_codec.as_str(), audio_codec.as_str()), ("h264", "aac"));
    assert!((duration - video.duration_seconds).abs() < 0.5, "file {duration} s, row {} s", video.duration_seconds);
    assert!(duration + 0.5 >= plan.duration_seconds, "file {duration} s, plan {} s", plan.duration_seconds);
    let thumbnail = std::fs::read(path_of(&video.thumbnail_uri)).expect("thumbnail");
    assert_eq!(&thumbnail[..2], &[0xFF, 0xD8], "a JPEG");
    // The pipeline's video passed the quality gate, which kept what it measured with the video.
    let log: serde_json::Value = serde_json::from_str(&video.generation_log_json).expect("generation log");
    let quality = &log["composition"]["quality"];
    let lufs = quality["integrated_lufs"].as_f64().expect("loudness measured");
    assert!((lufs + 14.0).abs() <= 1.0, "{quality}");
    assert!(quality["true_peak_dbtp"].as_f64().expect("true peak measured") <= -1.0, "{quality}");
    assert_eq!(quality["black_stretches"], serde_json::json!([]), "{quality}");

    approve(&mut client, job.id, video.id, "ship it").await;
    let videos =
        client.get_job_lineage(v1::GetJobLineageRequest { job_id: job.id }).await.expect("lineage").into_inner().videos;
    assert_eq!(videos[0].status(), v1::VideoStatus::Approved);
    assert!(videos[0].uri.contains("/approved/") && path_of(&videos[0].uri).exists());
    assert!(!path_of(&video.uri).exists(), "the generated file moved");
    assert!(path_of(&videos[0].thumbnail_uri).exists());
}

/// Two jobs at once stay apart; a theme in the replaced system's YAML layout runs unchanged.
async fn two_jobs_keep_separate_lineages(db: TestDb) {
    let system = TestSystem::start(db).await;
    let mut client = system.orchestrator_client().await;
    let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../themes/product-demo.yaml"))
        .expect("theme file");
    let from_file = v1::StartJobRequest {
        source: Some(Source::ThemeFile(yaml)),
        theme_file_format: "yaml".into(),
        variants: 1,
        client_request_id: String::new(),
    };
    let first = client.start_job(from_file).await.expect("start yaml").into_inner();
    let second = client.start_job(start_request(small_theme(true))).await.expect("start").into_inner();
    wait_for(&mut client, first.id, &[v1::JobStatus::AwaitingReview], Duration::from_secs(400)).await;
    wait_for(&mut client, second.id, &[v1::JobStatus::Approved], Duration::from_secs(400)).await;

    let mut seen_rows = HashSet::new();
    for job_id in [first.id, second.id] {
        let lineage = client.get_job_lineage(v1::GetJobLineageRequest { job_id }).await.expect("lineage").into_inner();
        assert_eq!(lineage.report.as_ref().expect("report").job_id, job_id);
        assert_eq!(lineage.scripts.len(), 1);
        assert_eq!(lineage.videos.len(), 1);
        for (kind, id, owner) in lineage
            .scripts
            .iter()
            .map(|s| ("script", s.id, s.job_id))
            .chain(lineage.assets.iter().map(|a| ("asset", a.id, a.job_id)))
            .chain(lineage.videos.iter().map(|v| ("video", v.id, v.job_id)))
        {
            assert_eq!(owner, job_id, "{kind} {id}");
            assert!(seen_rows.insert((kind, id)), "{kind} {id} appears in two lineages");
        }
    }
}

on_both_backends!(a_job_runs_from_trends_to_an_approved_video);

mod two_jobs {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::two_jobs_keep_separate_lineages(crate::helpers::TestDb::sqlite().await).await
    }
}
