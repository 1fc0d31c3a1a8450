//! Load on several replicas: 200 jobs through two orchestrators, and one client request id
//! sent many times at once.

use std::time::{Duration, Instant};

use diesel_async::RunQueryDsl;
use shortline_db::dispatch;
use shortline_db::JobStatus;

use super::support::*;
use crate::helpers::TestDb;
use crate::pipeline::{small_theme, start_request};
use crate::processes::{SystemOptions, TestSystem};

// =============================================================================================
// 6. 200 jobs through two orchestrator replicas
// =============================================================================================

const BULK_JOBS: i64 = 200;
const BULK_LIMIT: Duration = Duration::from_secs(120);

pub(super) async fn two_hundred_jobs_through_two_replicas(db: TestDb) {
    let options = SystemOptions::default().env("SHORTLINE_PROVIDERS__SET", "null");
    let system = TestSystem::start_with(db, options).await;
    let replica = system.spawn_orchestrator("orchestrator-b", &[]).await;
    let mut clients = [system.orchestrator_client().await, orchestrator_client(&replica).await];
    let started = Instant::now();
    for i in 0..BULK_JOBS {
        let mut request = start_request(small_theme(true));
        request.client_request_id = format!("bulk-{i}");
        clients[(i % 2) as usize].start_job(request).await.expect("start job");
    }

    let db = &system.db;
    loop {
        let counts: Vec<(String, i64)> = with_conn!(db, conn => {
            let rows: Vec<StatusCount> = dispatch!(conn, c => diesel::sql_query(
                "SELECT status, COUNT(*) AS n FROM jobs WHERE kind = 'pipeline' GROUP BY status"
            ).load(c).await)?;
            Ok(rows.into_iter().map(|r| (r.status, r.n)).collect::<Vec<_>>())
        });
        let of = |status: &str| counts.iter().find(|(s, _)| s == status).map(|(_, n)| *n).unwrap_or(0);
        if of("failed") + of("cancelled") + of("rejected") > 0 {
            let failed = texts(
                db,
                "SELECT CONCAT('job ', id, ' ', status, ' at ', COALESCE(failed_stage, '-'), ': ', COALESCE(error, '')) AS text \
                 FROM jobs WHERE status IN ('failed', 'cancelled', 'rejected') ORDER BY id LIMIT 5",
            )
            .await;
            let first: i64 = failed[0].split_whitespace().nth(1).and_then(|id| id.parse().ok()).unwrap_or(1);
            panic!("jobs ended badly ({counts:?}):\n{}\n{}", failed.join("\n"), diagnostics(&system, first).await);
        }
        if of("approved") == BULK_JOBS {
            break;
        }
        assert!(
            started.elapsed() < BULK_LIMIT,
            "after {BULK_LIMIT:?} the jobs are {counts:?}\n{}",
            log_tails(system.dir.path())
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let elapsed = started.elapsed();

    let mut problems = Vec::new();
    let mut check = |what: &str, n: i64| {
        if n != 0 {
            problems.push(format!("{what}: {n}"));
        }
    };
    // No job left running or queued, no attempt left open.
    check("jobs not approved", count(db, "SELECT COUNT(*) AS n FROM jobs WHERE status <> 'approved'").await);
    check(
        "jobs still holding a lease",
        count(db, "SELECT COUNT(*) AS n FROM jobs WHERE lease_owner IS NOT NULL OR lease_token IS NOT NULL").await,
    );
    check("attempts still running", count(db, "SELECT COUNT(*) AS n FROM job_stages WHERE status = 'running'").await);
    // No duplicates: one report, script, video per job; one succeeded attempt per stage.
    for table in ["trend_reports", "scripts", "videos"] {
        check(
            &format!("jobs without exactly one {table} row"),
            count(db, &format!("SELECT COUNT(*) AS n FROM jobs j WHERE (SELECT COUNT(*) FROM {table} t WHERE t.job_id = j.id) <> 1")).await,
        );
    }
    check(
        "(job, stage) pairs with more than one succeeded attempt",
        count(db, "SELECT COUNT(*) AS n FROM (SELECT job_id, stage FROM job_stages WHERE status = 'succeeded' GROUP BY job_id, stage HAVING COUNT(*) > 1) d").await,
    );
    check(
        "jobs without a succeeded attempt of each of the 6 stages",
        count(db, "SELECT COUNT(*) AS n FROM jobs j WHERE (SELECT COUNT(DISTINCT stage) FROM job_stages s WHERE s.job_id = j.id AND s.status = 'succeeded') <> 6").await,
    );
    check(
        "media assets made twice",
        count(db, "SELECT COUNT(*) AS n FROM (SELECT script_id, kind, scene_number FROM media_assets GROUP BY script_id, kind, scene_number HAVING COUNT(*) > 1) d").await,
    );
    // No orphans.
    for table in
        ["job_stages", "trend_reports", "trend_report_items", "trend_sightings", "scripts", "media_assets", "videos"]
    {
        check(
            &format!("{table} rows of no job"),
            count(
                db,
                &format!(
                    "SELECT COUNT(*) AS n FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = t.job_id)"
                ),
            )
            .await,
        );
    }
    check("scripts of no report", count(db, "SELECT COUNT(*) AS n FROM scripts s WHERE NOT EXISTS (SELECT 1 FROM trend_reports r WHERE r.id = s.trend_report_id AND r.job_id = s.job_id)").await);
    check("assets of no script", count(db, "SELECT COUNT(*) AS n FROM media_assets a WHERE NOT EXISTS (SELECT 1 FROM scripts s WHERE s.id = a.script_id AND s.job_id = a.job_id)").await);
    check("videos of no script", count(db, "SELECT COUNT(*) AS n FROM videos v WHERE NOT EXISTS (SELECT 1 FROM scripts s WHERE s.id = v.script_id AND s.job_id = v.job_id)").await);
    check("sightings of no trend", count(db, "SELECT COUNT(*) AS n FROM trend_sightings t WHERE NOT EXISTS (SELECT 1 FROM trends r WHERE r.id = t.trend_id)").await);
    check("videos not approved", count(db, "SELECT COUNT(*) AS n FROM videos WHERE status <> 'approved'").await);
    // Both replicas worked.
    let workers = texts(db, "SELECT DISTINCT worker AS text FROM job_stages WHERE worker IS NOT NULL").await;
    if workers.len() != 2 {
        problems.push(format!("attempts name {} workers, expected the 2 replicas: {workers:?}", workers.len()));
    }
    assert_no_problems(
        &problems,
        &format!("{BULK_JOBS} jobs approved in {elapsed:?}\n{}", log_tails(system.dir.path())),
    );
    eprintln!("{BULK_JOBS} jobs approved through 2 replicas in {elapsed:?}");
}

// =============================================================================================

/// StartJob with one client request id, sent many times at once, makes one job and answers every
/// call with it.
pub(super) async fn one_request_id_makes_one_job_under_concurrency(db: TestDb) {
    let options = SystemOptions::default().env("SHORTLINE_PROVIDERS__SET", "null");
    let system = TestSystem::start_with(db, options).await;
    let client = system.orchestrator_client().await;
    let mut calls = Vec::new();
    for _ in 0..16 {
        let mut client = client.clone();
        let mut request = crate::pipeline::start_request(crate::pipeline::small_theme(true));
        request.client_request_id = "campaign-42".into();
        calls.push(tokio::spawn(async move { client.start_job(request).await.map(|r| r.into_inner().id) }));
    }
    let mut ids = std::collections::HashSet::new();
    for call in calls {
        ids.insert(call.await.expect("task").expect("start job"));
    }
    assert_eq!(ids.len(), 1, "one job for one request id: {ids:?}");
    assert_eq!(count(&system.db, "SELECT COUNT(*) AS n FROM jobs WHERE client_request_id = 'campaign-42'").await, 1);
    let job_id = *ids.iter().next().expect("an id");
    wait_job(&system, job_id, &[JobStatus::Approved], Duration::from_secs(60)).await;
}
