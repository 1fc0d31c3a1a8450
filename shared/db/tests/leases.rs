//! The lease and checkpoint primitives of `jobs` and `job_stages` (issue 12 item 13): claims,
//! renewals, fences, transitions and closing open attempts, on both backends, without services.

use std::time::Duration;

use diesel_async::{AsyncConnection, RunQueryDsl};
use shortline_db::dispatch;
use shortline_db::{
    self as db, Conn, DbError, Job, JobKind, JobStatus, Lease, NewJob, NewJobStage, StageName, StageStatus,
};

use shortline_testing::on_both_backends;
use shortline_testing::TestDb;

const LEASE: Duration = Duration::from_secs(30);

async fn queued(conn: &mut Conn<'_>) -> Job {
    db::jobs::insert(conn, &NewJob::queued(JobKind::Pipeline, "lease test", None, 1)).await.expect("job")
}

/// Moves the job's lease expiry an hour into the past, as if its worker had died long ago.
async fn expire(conn: &mut Conn<'_>, job_id: i64) {
    let past = db::now() - chrono::Duration::hours(1);
    let query = diesel::sql_query("UPDATE jobs SET lease_expires_at = $1 WHERE id = $2")
        .bind::<diesel::sql_types::Timestamp, _>(past)
        .bind::<diesel::sql_types::BigInt, _>(job_id);
    dispatch!(conn, c => query.clone().execute(c).await).expect("expire the lease");
}

async fn claim(conn: &mut Conn<'_>, owner: &str) -> Option<(Job, Lease, Option<String>)> {
    db::jobs::claim_next(conn, owner, LEASE).await.expect("claim")
}

async fn claims_queued_jobs_and_expired_leases_only(db: TestDb) {
    let mut pooled = db.conn().await;
    let conn = &mut pooled.conn();
    let first = queued(conn).await;
    let second = queued(conn).await;

    let (job, lease, taken_from) = claim(conn, "a").await.expect("the oldest queued job");
    assert_eq!((job.id, job.status, taken_from), (first.id, JobStatus::Running, None));
    assert_eq!((job.lease_owner.as_deref(), job.lease_token.as_deref()), (Some("a"), Some(lease.token.as_str())));
    let (job, _, _) = claim(conn, "b").await.expect("the next queued job");
    assert_eq!(job.id, second.id);
    assert!(claim(conn, "c").await.is_none(), "running jobs with live leases are not claimable");

    expire(conn, first.id).await;
    let (job, taken_over, taken_from) = claim(conn, "c").await.expect("the job whose lease expired");
    assert_eq!((job.id, taken_from.as_deref()), (first.id, Some("a")));
    assert_ne!(taken_over.token, lease.token, "a takeover gets a fresh token");
    assert!(!db::jobs::renew(conn, &lease, LEASE).await.expect("renew"), "the old lease is gone");
    assert!(matches!(db::jobs::fence(conn, &lease).await, Err(DbError::LeaseLost { .. })));
    db::jobs::fence(conn, &taken_over).await.expect("the new owner passes the fence");
}

async fn renewing_extends_a_held_lease_only(db: TestDb) {
    let mut pooled = db.conn().await;
    let conn = &mut pooled.conn();
    queued(conn).await;
    let (job, lease, _) = claim(conn, "a").await.expect("claim");
    expire(conn, job.id).await;
    assert!(db::jobs::renew(conn, &lease, LEASE).await.expect("renew"));
    let renewed = db::jobs::find(conn, job.id).await.expect("job").lease_expires_at.expect("a lease");
    assert!(renewed > db::now(), "renewed until {renewed}");
    assert!(claim(conn, "b").await.is_none(), "a renewed lease is not taken over");

    let stranger = Lease { token: "not the token".into(), ..lease.clone() };
    assert!(!db::jobs::renew(conn, &stranger, LEASE).await.expect("renew"));
    let cancelled = db::jobs::transition(conn, job.id, &[JobStatus::Running], JobStatus::Cancelled, None, None, None)
        .await
        .expect("cancel")
        .expect("the job was running");
    assert_eq!((cancelled.lease_owner, cancelled.lease_token, cancelled.lease_expires_at), (None, None, None));
    assert!(!db::jobs::renew(conn, &lease, LEASE).await.expect("renew"), "a cancelled job's lease is not renewed");
}

async fn transitions_check_the_status_and_the_lease(db: TestDb) {
    let mut pooled = db.conn().await;
    let conn = &mut pooled.conn();
    queued(conn).await;
    let (job, lease, _) = claim(conn, "a").await.expect("claim");
    let stranger = Lease { token: "not the token".into(), ..lease.clone() };
    let running = [JobStatus::Running];
    let by_stranger =
        db::jobs::transition(conn, job.id, &running, JobStatus::Failed, Some(&stranger), None, Some("x")).await;
    assert!(by_stranger.expect("transition").is_none(), "another token moved the job");
    let failed = db::jobs::transition(
        conn,
        job.id,
        &running,
        JobStatus::Failed,
        Some(&lease),
        Some(StageName::Composition),
        Some("why"),
    )
    .await
    .expect("transition")
    .expect("the lease holder moves the job");
    assert_eq!(
        (failed.status, failed.failed_stage, failed.error.as_deref(), failed.lease_token),
        (JobStatus::Failed, Some(StageName::Composition), Some("why"), None)
    );
    assert!(failed.finished_at.is_some());
    let again = db::jobs::transition(conn, job.id, &running, JobStatus::Succeeded, None, None, None).await;
    assert!(again.expect("transition").is_none(), "a failed job is not running any more");
}

async fn closing_open_attempts_leaves_finished_ones(db: TestDb) {
    let mut pooled = db.conn().await;
    let conn = &mut pooled.conn();
    queued(conn).await;
    let (job, lease, _) = claim(conn, "a").await.expect("claim");
    let start = |stage| NewJobStage::running(job.id, stage, 1).by("a");
    let done = db::job_stages::start_fenced(conn, &lease, &start(StageName::TrendCollection)).await.expect("start");
    db::job_stages::finish_fenced(conn, &lease, done.id, StageStatus::Succeeded, None, Some("trends:1"))
        .await
        .expect("finish");
    let open = db::job_stages::start_fenced(conn, &lease, &start(StageName::TrendAnalysis)).await.expect("start");

    expire(conn, job.id).await;
    let (_, taken_over, _) = claim(conn, "b").await.expect("takeover");
    assert!(matches!(
        db::job_stages::start_fenced(conn, &lease, &start(StageName::TrendAnalysis)).await,
        Err(DbError::LeaseLost { .. })
    ));
    assert_eq!(db::job_stages::abandon_open(conn, &taken_over, "worker a stopped").await.expect("abandon"), 1);
    let rows = db::job_stages::list_for_job(conn, job.id).await.expect("attempts");
    let status = |id| rows.iter().find(|r| r.id == id).map(|r| (r.status, r.error.clone()));
    assert_eq!(status(done.id), Some((StageStatus::Succeeded, None)));
    assert_eq!(status(open.id), Some((StageStatus::Failed, Some("worker a stopped".into()))));
    assert!(rows.iter().all(|r| r.finished_at.is_some()));
    assert!(matches!(db::job_stages::abandon_open(conn, &lease, "x").await, Err(DbError::LeaseLost { .. })));
}

async fn inline_jobs_hold_a_lease(db: TestDb) {
    let mut pooled = db.conn().await;
    let conn = &mut pooled.conn();
    let new = NewJob::queued(JobKind::TrendRefresh, "trend refresh", None, 1);
    let (job, lease) = db::jobs::insert_leased(conn, &new, "inline", LEASE).await.expect("insert");
    assert_eq!((job.status, job.lease_owner.as_deref()), (JobStatus::Running, Some("inline")));
    assert!(job.lease_expires_at.is_some_and(|at| at > db::now()));
    assert!(claim(conn, "b").await.is_none(), "a live inline job is not claimable");
    db::jobs::fence(conn, &lease).await.expect("the creator holds the lease");
    expire(conn, job.id).await;
    let (_, _, taken_from) = claim(conn, "b").await.expect("a dead creator's job is taken over");
    assert_eq!(taken_from.as_deref(), Some("inline"));
}

on_both_backends!(
    claims_queued_jobs_and_expired_leases_only,
    renewing_extends_a_held_lease_only,
    transitions_check_the_status_and_the_lease,
    closing_open_attempts_leaves_finished_ones,
    inline_jobs_hold_a_lease,
);

/// The lease a claim sets and the expiry it compares against come from the database's clock,
/// not the claiming process's. PostgreSQL's `now()` stays at the transaction's start, so within
/// one transaction that began before the claim, a lease set by the database ends exactly
/// `LEASE` after `now()`; one set by the process's clock ends later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_times_come_from_the_database_clock() {
    let db = TestDb::postgres().await;
    let mut conn = diesel_async::AsyncPgConnection::establish(&db.url).await.expect("connect");
    {
        let mut pooled = db.conn().await;
        queued(&mut pooled.conn()).await;
    }
    let (expires, database_now) = conn
        .transaction(async |c| {
            let database_now = database_now(c).await;
            // Let the process's clock move on from the transaction's start.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let (job, _, _) = claim(&mut Conn::Postgres(c), "a").await.expect("a queued job");
            Ok::<_, diesel::result::Error>((job.lease_expires_at.expect("a lease"), database_now))
        })
        .await
        .expect("transaction");
    assert_eq!(expires, database_now + chrono::Duration::from_std(LEASE).expect("lease"));
}

async fn database_now(c: &mut diesel_async::AsyncPgConnection) -> chrono::NaiveDateTime {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Timestamp>("now() AT TIME ZONE 'UTC'"))
        .get_result(c)
        .await
        .expect("now()")
}
