//! Every database connection of the services terminated mid-job.

use std::time::Duration;

use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use shortline_db::{JobStatus, StageName};

use super::support::*;
use crate::helpers::{postgres_server_url, TestDb};
use crate::processes::{SystemOptions, TestSystem};

// =============================================================================================
// 5. Every database connection of the services is terminated mid-job
// =============================================================================================

/// Terminates every connection to the test database but the caller's; returns how many.
async fn terminate_connections(db: &TestDb) -> usize {
    use diesel_async::AsyncConnection;
    #[derive(QueryableByName)]
    struct Terminated {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        ok: bool,
    }
    let mut admin = diesel_async::AsyncPgConnection::establish(&format!("{}/postgres", postgres_server_url()))
        .await
        .expect("admin connection");
    let sql = format!(
        "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
        database_name(db)
    );
    let rows: Vec<Terminated> = diesel::sql_query(sql).load(&mut admin).await.expect("pg_terminate_backend");
    rows.iter().filter(|r| r.ok).count()
}

pub(super) async fn database_connections_terminated_mid_job(db: TestDb) {
    let options = SystemOptions::default().env("SHORTLINE_PIPELINE__LEASE_SECONDS", 3);
    let system = TestSystem::start_with(db, options).await;
    let mut client = system.orchestrator_client().await;
    let job_id = start_job(&mut client, false).await;

    wait_for_stage(&system, job_id, StageName::MediaGeneration, Duration::from_secs(90), "nothing more", || true).await;
    let first = terminate_connections(&system.db).await;
    wait_for_stage(&system, job_id, StageName::Composition, Duration::from_secs(90), "nothing more", || true).await;
    let second = terminate_connections(&system.db).await;
    assert!(first > 0 && second > 0, "nothing to terminate ({first}, {second}): the services hold no connections?");

    let job = wait_job(&system, job_id, &[JobStatus::AwaitingReview], Duration::from_secs(120)).await;
    let context = diagnostics(&system, job_id).await;
    let rows = attempts(&system.db, job_id).await;
    let mut problems = attempt_problems(&rows, job.status);
    problems.extend(duplicate_row_problems(&system.db, job_id, 1).await);
    assert_no_problems(&problems, &context);
}
