//! Jobs that must not stay stuck, and refusals that must not write (issue 12, items 10, 12–14).

use shortline_proto::v1::{self, orchestrator_service_client::OrchestratorServiceClient};
use shortline_shared::db::{self, Job, JobKind, JobStage, JobStatus, NewJob, NewJobStage, StageName, StageStatus};
use tonic::Code;

use crate::helpers::TestDb;
use crate::on_both_backends;
use crate::processes::{channel, TestSystem};

/// The stages a pipeline job runs before review, in order.
const WORK_STAGES: [StageName; 5] = [
    StageName::TrendCollection,
    StageName::TrendAnalysis,
    StageName::ScriptGeneration,
    StageName::MediaGeneration,
    StageName::Composition,
];

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

on_both_backends!(refused_retry_writes_nothing);
