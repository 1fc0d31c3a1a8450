//! Jobs that must not stay stuck, and refusals that must not write (issue 12, items 10, 12–14).

use std::time::Duration;

use shortline_db::{
    self as db, Job, JobKind, JobStage, JobStatus, NewJob, NewJobStage, StageName, StageStatus, VideoStatus,
};
use shortline_proto::v1::{self, orchestrator_service_client::OrchestratorServiceClient};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::durability::WORK_STAGES;
use crate::helpers::TestDb;
use crate::lineage_schema::seed_tree;
use crate::pipeline::approval;
use crate::processes::{channel, ServiceProcess, TestSystem};
use shortline_testing::on_both_backends;

/// A pipeline job in `status` whose `done` stages each have one succeeded attempt.
async fn seed_job(db: &TestDb, status: JobStatus, done: &[StageName]) -> Job {
    let mut pooled = db.conn().await;
    let conn = &mut pooled.conn();
    let mut new = NewJob::queued(JobKind::Pipeline, "seeded", None, 1);
    new.status = status;
    let job = db::jobs::insert(conn, &new).await.expect("job");
    for &stage in done {
        let row = db::job_stages::insert(conn, &NewJobStage::running(job.id, stage, 1)).await.expect("stage");
        db::job_stages::finish(conn, row.id, StageStatus::Succeeded, None, Some("seeded")).await.expect("finish");
    }
    job
}

async fn attempts(db: &TestDb, job_id: i64) -> Vec<JobStage> {
    let mut pooled = db.conn().await;
    db::job_stages::list_for_job(&mut pooled.conn(), job_id).await.expect("attempts")
}

async fn job_row(db: &TestDb, job_id: i64) -> Job {
    let mut pooled = db.conn().await;
    db::jobs::find(&mut pooled.conn(), job_id).await.expect("job")
}

// Item 12: a RetryJob refused for the job's status wrote "reopened" attempts before it checked.
async fn refused_retry_writes_nothing(db: TestDb) {
    let job = seed_job(&db, JobStatus::AwaitingReview, &WORK_STAGES).await;
    let before = attempts(&db, job.id).await;
    let (orchestrator, _dir) = TestSystem::lone_orchestrator(&db, &[]).await;
    let mut client = OrchestratorServiceClient::new(channel(&orchestrator.url()).await);

    let refused = client
        .retry_job(v1::RetryJobRequest { job_id: job.id, from_stage: v1::Stage::ScriptGeneration as i32 })
        .await
        .expect_err("a job awaiting review is not retried");
    assert_eq!(refused.code(), Code::FailedPrecondition, "{}", refused.message());
    assert!(refused.message().contains("awaiting_review"), "{}", refused.message());
    assert_eq!(attempts(&db, job.id).await, before, "a refused RetryJob changed the attempts");
    assert_eq!(job_row(&db, job.id).await.status, JobStatus::AwaitingReview);
}

/// A trend source at an address that accepts connections and never answers: a collection from
/// it runs until someone gives up. Returns the settings that make the orchestrator use it.
async fn silent_trend_source() -> (Vec<(&'static str, String)>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let settings = vec![
        ("SHORTLINE_PROVIDERS__TRENDS", r#"["youtube"]"#.to_owned()),
        ("SHORTLINE_PROVIDERS__YOUTUBE__BASE_URL", url),
        ("SHORTLINE_YOUTUBE_API_KEY", "yt-test-key".to_owned()),
    ];
    (settings, holder)
}

fn borrowed<'a>(settings: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    settings.iter().map(|(key, value)| (*key, value.as_str())).collect()
}

/// The one trend refresh job, once it exists.
async fn refresh_job(db: &TestDb) -> Option<Job> {
    let mut pooled = db.conn().await;
    let jobs = db::jobs::list(&mut pooled.conn(), None, Some(JobKind::TrendRefresh), None, 10).await.expect("jobs");
    assert!(jobs.len() <= 1, "one refresh was asked for: {jobs:?}");
    jobs.into_iter().next()
}

/// Waits (up to `limit`) for the trend refresh job to leave `running`; panics naming its state.
async fn wait_refresh_ended(db: &TestDb, limit: Duration) -> Job {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let job = refresh_job(db).await;
        match job {
            Some(job) if job.status != JobStatus::Running => return job,
            _ if tokio::time::Instant::now() > deadline => panic!("the refresh job did not end: {job:?}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The job ended failed at trend collection with `reason_part` in its error, and no attempt
/// of it is left open.
async fn assert_ended_failed(db: &TestDb, job: &Job, reason_part: &str) {
    assert_eq!((job.status, job.failed_stage), (JobStatus::Failed, Some(StageName::TrendCollection)), "{job:?}");
    assert!(job.error.as_deref().unwrap_or_default().contains(reason_part), "{job:?}");
    assert_eq!(job.lease_token, None, "an ended job holds no lease");
    let rows = attempts(db, job.id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].status, StageStatus::Failed, "{rows:?}");
    assert!(rows[0].finished_at.is_some() && rows[0].error.as_deref().is_some_and(|e| e.contains(reason_part)));
}

// Item 10: a CollectTrends whose deadline expires mid-collection ends its job and its attempt.
async fn collect_trends_past_its_deadline_ends_its_job(db: TestDb) {
    let (settings, _source) = silent_trend_source().await;
    let (orchestrator, _dir) = TestSystem::lone_orchestrator(&db, &borrowed(&settings)).await;
    let mut client = OrchestratorServiceClient::new(channel(&orchestrator.url()).await);
    let mut request = tonic::Request::new(v1::CollectTrendsRequest::default());
    request.set_timeout(Duration::from_secs(1));
    client.collect_trends(request).await.expect_err("the source never answers");

    let job = wait_refresh_ended(&db, Duration::from_secs(20)).await;
    assert_ended_failed(&db, &job, "the request ended before trend_collection finished").await;
}

// Items 10 and 13: an inline job holds a lease, so when its orchestrator dies mid-collection
// another one ends it instead of leaving it running forever.
async fn inline_job_of_a_dead_orchestrator_is_ended_by_another(db: TestDb) {
    let (settings, _source) = silent_trend_source().await;
    let mut first_settings = borrowed(&settings);
    first_settings.push(("SHORTLINE_PIPELINE__LEASE_SECONDS", "1"));
    let (mut first, _first_dir) = TestSystem::lone_orchestrator(&db, &first_settings).await;
    let mut client = OrchestratorServiceClient::new(channel(&first.url()).await);
    let call = tokio::spawn(async move { client.collect_trends(v1::CollectTrendsRequest::default()).await });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while refresh_job(&db).await.is_none() {
        assert!(tokio::time::Instant::now() < deadline, "CollectTrends made no job");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.signal("KILL");
    first.wait(Duration::from_secs(10)).await.expect("the orchestrator exits");
    assert!(call.await.expect("call task").is_err(), "the call dies with its server");

    let (_second, _second_dir): (ServiceProcess, _) = TestSystem::lone_orchestrator(&db, &[]).await;
    let job = wait_refresh_ended(&db, Duration::from_secs(30)).await;
    assert_ended_failed(&db, &job, "its lease expired").await;
}

// Item 14: WatchJob's replay of past attempts carried the subscription's time and today's
// progress; each event must carry its own change's time and the progress as of it.
async fn watch_replays_each_change_as_it_happened(db: TestDb) {
    let done = [StageName::TrendCollection, StageName::TrendAnalysis];
    let job = seed_job(&db, JobStatus::Running, &done).await;
    {
        let mut pooled = db.conn().await;
        let conn = &mut pooled.conn();
        let row = db::job_stages::insert(conn, &NewJobStage::running(job.id, StageName::ScriptGeneration, 1))
            .await
            .expect("stage");
        db::job_stages::finish(conn, row.id, StageStatus::Failed, Some("refused"), None).await.expect("finish");
        let running = [JobStatus::Running];
        db::jobs::transition(conn, job.id, &running, JobStatus::Failed, None, Some(StageName::ScriptGeneration), None)
            .await
            .expect("fail the job")
            .expect("it was running");
    }
    let rows = attempts(&db, job.id).await;
    let failed = job_row(&db, job.id).await;
    tokio::time::sleep(Duration::from_millis(20)).await; // the subscription comes after every change

    let (orchestrator, _dir) = TestSystem::lone_orchestrator(&db, &[]).await;
    let mut client = OrchestratorServiceClient::new(channel(&orchestrator.url()).await);
    let mut stream = client.watch_job(v1::WatchJobRequest { job_id: job.id }).await.expect("watch").into_inner();
    let mut events = Vec::new();
    while let Some(event) = stream.message().await.expect("event") {
        events.push(event);
    }

    let stamp = |at| Some(shortline_grpc::convert::timestamp(at));
    let seen: Vec<_> = events.iter().map(|e| (e.stage, e.at, e.progress.as_ref().map(|p| p.stages_done))).collect();
    let expected: Vec<_> = rows
        .iter()
        .zip([1, 2, 2])
        .map(|(row, done)| {
            (shortline_grpc::convert::stage(row.stage) as i32, stamp(row.finished_at.expect("finished")), Some(done))
        })
        .chain([(v1::Stage::Unspecified as i32, stamp(failed.updated_at), Some(2))])
        .collect();
    assert_eq!(seen, expected, "{events:#?}");
}

// Item 14: the composer recorded a review decision but the orchestrator did not (it stopped
// between the two writes); the job stayed awaiting review, and a retried review was refused
// because the video was already reviewed. The orchestrator adopts the composer's decision.
async fn review_recorded_only_by_the_composer_is_adopted(db: TestDb) {
    let tree = {
        let mut pooled = db.conn().await;
        let conn = &mut pooled.conn();
        let tree = seed_tree(conn, "review").await;
        db::job_stages::finish(conn, tree.stage_id, StageStatus::Succeeded, None, None).await.expect("finish");
        let queued = [JobStatus::Queued];
        db::jobs::transition(conn, tree.job_id, &queued, JobStatus::AwaitingReview, None, None, None)
            .await
            .expect("await review")
            .expect("it was queued");
        // The composer's write of ReviewVideo, without the orchestrator's.
        let uri = format!("file:///media/approved/job-{}/video.mp4", tree.job_id);
        db::videos::record_review(
            conn,
            tree.job_id,
            tree.video_id,
            db::videos::Decision { status: VideoStatus::Approved, note: None, reviewer: None },
            &uri,
            &uri,
        )
        .await
        .expect("record the review")
        .expect("the video was generated");
        tree
    };
    let system = TestSystem::start(db).await;
    let mut client = system.orchestrator_client().await;

    let retried = approval(tree.job_id, tree.video_id, "");
    let job = client.review_video(retried).await.expect("the same decision again is answered").into_inner();
    assert_eq!(job.status(), v1::JobStatus::Approved, "{job:?}");
    assert_eq!(job_row(&system.db, tree.job_id).await.status, JobStatus::Approved);
    let reviews: Vec<_> =
        attempts(&system.db, tree.job_id).await.into_iter().filter(|a| a.stage == StageName::Review).collect();
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    assert_eq!(reviews[0].status, StageStatus::Succeeded, "{reviews:?}");
}

on_both_backends!(
    review_recorded_only_by_the_composer_is_adopted,
    watch_replays_each_change_as_it_happened,
    refused_retry_writes_nothing,
    collect_trends_past_its_deadline_ends_its_job,
    inline_job_of_a_dead_orchestrator_is_ended_by_another,
);

/// Calls `call` until it answers something other than an INTERNAL failure of the database the
/// service was just pointed at (the answer before its first schema probe), for up to 20 s.
async fn settled_answer<F, Fut, T>(mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match call().await {
            Err(status) if status.code() == Code::Internal && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            answer => return answer,
        }
    }
}

async fn health(url: &str, service: &str) -> ServingStatus {
    let mut client = HealthClient::new(channel(url).await);
    let request = HealthCheckRequest { service: service.to_owned() };
    let status = client.check(request).await.expect("health check").into_inner().status;
    ServingStatus::try_from(status).expect("a serving status")
}

/// One call of each service, answering `Ok(())` or its refusal.
async fn call_each(system: &TestSystem) -> [(&'static str, Result<(), tonic::Status>); 3] {
    let (o, s, c) =
        (system.orchestrator_client().await, system.scriptgen_client().await, system.composer_client().await);
    let list_jobs = || {
        let mut o = o.clone();
        async move { o.list_jobs(v1::ListJobsRequest::default()).await }
    };
    let list_scripts = || {
        let mut s = s.clone();
        async move { s.list_scripts(v1::ListScriptsRequest { job_id: 1 }).await }
    };
    let list_videos = || {
        let mut c = c.clone();
        async move { c.list_videos(v1::ListVideosRequest { job_id: 1 }).await }
    };
    [
        ("orchestrator", settled_answer(list_jobs).await.map(drop)),
        ("scriptgen", settled_answer(list_scripts).await.map(drop)),
        ("composer", settled_answer(list_videos).await.map(drop)),
    ]
}

// Item 14: on a database without its schema each service reported SERVING and answered
// INTERNAL. Now: NOT_SERVING, UNAVAILABLE naming the versions, and serving once migrated,
// without a restart. (PostgreSQL only: `serve` migrates a SQLite database itself on start.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_on_an_unmigrated_database_refuse_until_it_is_migrated() {
    let db = TestDb::postgres_unmigrated().await;
    let url = db.url.clone();
    let needed = db::migrations::versions(db::Backend::Postgres).pop().expect("migrations");
    let system = TestSystem::start(db).await;
    let services = [
        ("shortline.v1.OrchestratorService", system.orchestrator.url()),
        ("shortline.v1.ScriptService", system.scriptgen.url()),
        ("shortline.v1.ComposerService", system.composer.url()),
    ];

    for (service, refusal) in call_each(&system).await {
        let status = refusal.expect_err("no schema, no answer");
        assert_eq!(status.code(), Code::Unavailable, "{service}: {}", status.message());
        assert!(
            status.message().contains("none (not migrated)") && status.message().contains(&needed),
            "{service} should name the version found and needed: {}",
            status.message()
        );
    }
    for (name, address) in &services {
        assert_eq!(health(address, name).await, ServingStatus::NotServing, "{name}");
    }

    db::migrations::run_pending(&url).await.expect("migrate");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let answers = call_each(&system).await;
        let refused: Vec<_> =
            answers.iter().filter(|(_, a)| a.as_ref().is_err_and(|s| s.code() == Code::Unavailable)).collect();
        if refused.is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still refused after the migration: {refused:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (name, address) in &services {
        // Health follows the same probe that opened the gate, a moment later.
        while health(address, name).await != ServingStatus::Serving {
            assert!(tokio::time::Instant::now() < deadline, "{name} is not SERVING after the migration");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
