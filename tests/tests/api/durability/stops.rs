//! A process stopped rather than killed: an orchestrator SIGSTOPped past its lease is fenced
//! out, and SIGTERM during a stage lets the work finish or hand over within the grace period.

use std::time::{Duration, Instant};

use shortline_db::{JobStage, JobStatus, StageName, StageStatus};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use super::support::*;
use crate::helpers::TestDb;
use crate::processes::{channel, SystemOptions, TestSystem};

// =============================================================================================
// 3. SIGSTOP an orchestrator past its lease; the stale one's writes are refused
// =============================================================================================

pub(super) async fn stalled_orchestrator_is_fenced_out(db: TestDb) {
    let options = SystemOptions::default().env("SHORTLINE_PIPELINE__LEASE_SECONDS", 3);
    let (system, job_id, stalled) = job_in_media_generation(db, options).await;
    let worker_a = stalled.worker.clone().expect("attempts name their worker");
    system.orchestrator.signal("STOP");
    let _replica = system.spawn_orchestrator("orchestrator-b", &[]).await;

    // B takes the job over once A's lease expired: it closes A's open attempt.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (takeover, takeover_error) = loop {
        let rows = attempts(&system.db, job_id).await;
        let closed = rows.iter().find(|a| a.id == stalled.id && a.status != StageStatus::Running);
        if let Some(closed) = closed {
            break (
                closed.finished_at.expect("a closed attempt has finished_at"),
                closed.error.clone().unwrap_or_default(),
            );
        }
        if tokio::time::Instant::now() >= deadline {
            system.orchestrator.signal("CONT");
            panic!("no takeover within 30 s of stopping {worker_a}:\n{}", diagnostics(&system, job_id).await);
        }
        tokio::time::sleep(POLL).await;
    };
    // B moves the job on: one of its attempts succeeds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let rows = attempts(&system.db, job_id).await;
        let moved = rows
            .iter()
            .any(|a| a.status == StageStatus::Succeeded && a.worker.as_deref().is_some_and(|w| w != worker_a));
        if moved {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            system.orchestrator.signal("CONT");
            panic!("the new owner did not finish a stage within 60 s:\n{}", diagnostics(&system, job_id).await);
        }
        tokio::time::sleep(POLL).await;
    }
    let of_a = |rows: Vec<JobStage>| {
        rows.into_iter().filter(|a| a.worker.as_deref() == Some(worker_a.as_str())).collect::<Vec<_>>()
    };
    let before = of_a(attempts(&system.db, job_id).await);

    system.orchestrator.signal("CONT");
    let job = wait_job(&system, job_id, &[JobStatus::AwaitingReview], Duration::from_secs(90)).await;
    // Give A time to act on its stale state: its heartbeat (every second at a 3 s lease) finds the
    // lease gone, and its in-flight call returns and tries to record its outcome.
    let woke = Instant::now();
    while woke.elapsed() < Duration::from_secs(10) && !system.orchestrator.log().contains("lease lost") {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if std::env::var_os("TEST_LOG").is_some() {
        tokio::time::sleep(Duration::from_secs(5)).await; // no log file to watch
    } else {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let context = diagnostics(&system, job_id).await;
    let rows = attempts(&system.db, job_id).await;
    let after = of_a(rows.clone());

    let mut problems = Vec::new();
    if !takeover_error.contains("lease") || !takeover_error.contains(&worker_a) {
        problems.push(format!("the takeover closed {worker_a}'s attempt #{} with error {takeover_error:?}; expected it to name the lease of {worker_a}", stalled.id));
    }
    if before != after {
        problems.push(format!(
            "the stalled worker's rows changed after it resumed:\nbefore:\n{}\nafter:\n{}",
            describe_attempts(&before),
            describe_attempts(&after)
        ));
    }
    for row in &after {
        if row.started_at > takeover {
            problems.push(format!(
                "{worker_a} started attempt #{} ({}) at {} after the takeover at {takeover}",
                row.id, row.stage, row.started_at
            ));
        }
        // Rows B closed at the takeover are in the snapshot taken before A resumed.
        let closed_by_takeover = before.iter().any(|b| b.id == row.id && b.finished_at == row.finished_at);
        if row.finished_at.is_some_and(|t| t > takeover) && !closed_by_takeover {
            problems.push(format!(
                "attempt #{} of {worker_a} was closed at {:?}, after the takeover at {takeover}",
                row.id, row.finished_at
            ));
        }
    }
    let final_job = job_row(&system.db, job_id).await;
    if final_job.status != JobStatus::AwaitingReview || final_job.error.is_some() {
        problems.push(format!(
            "the job is {} (error {:?}) after the stale worker resumed",
            final_job.status, final_job.error
        ));
    }
    problems.extend(attempt_problems(&rows, job.status));
    problems.extend(duplicate_row_problems(&system.db, job_id, 1).await);
    if std::env::var_os("TEST_LOG").is_none() && !system.orchestrator.log().contains("lease lost") {
        problems.push(format!("{worker_a} never logged that it lost the lease"));
    }
    assert_no_problems(&problems, &context);
}

// =============================================================================================
// 7. SIGTERM during a stage
// =============================================================================================

const GRACE_SECONDS: u64 = 3;

pub(super) async fn sigterm_during_a_stage(db: TestDb) {
    let options = SystemOptions::default().env("SHORTLINE_PIPELINE__SHUTDOWN_GRACE_SECONDS", GRACE_SECONDS);
    let mut system = TestSystem::start_with(db, options).await;
    let mut client = system.orchestrator_client().await;
    let job_id = start_job(&mut client, false).await;
    let mut health = HealthClient::new(channel(&system.orchestrator.url()).await);
    let check = HealthCheckRequest { service: String::new() };
    assert_eq!(health.check(check.clone()).await.expect("health").into_inner().status(), ServingStatus::Serving);
    let mut watch = health.watch(check.clone()).await.expect("health watch").into_inner();
    assert_eq!(watch.message().await.expect("watch").expect("first status").status(), ServingStatus::Serving);

    wait_for_stage(&system, job_id, StageName::MediaGeneration, Duration::from_secs(90), "nothing more", || true).await;
    system.orchestrator.signal("TERM");
    let signalled = Instant::now();

    let mut problems = Vec::new();
    // Check right after the signal (a moment for the signal to be handled).
    let mut seen = Vec::new();
    loop {
        let answer = match tokio::time::timeout(Duration::from_millis(500), health.check(check.clone())).await {
            Ok(Ok(response)) => format!("{:?}", response.into_inner().status()),
            Ok(Err(status)) => format!("error {:?}: {}", status.code(), status.message()),
            Err(_) => "no answer within 500 ms".to_owned(),
        };
        let done = answer == "NotServing";
        seen.push((signalled.elapsed(), answer));
        if done {
            break;
        }
        if signalled.elapsed() > Duration::from_secs(1) {
            problems.push(format!("Health/Check did not read NOT_SERVING within 1 s of SIGTERM; it answered {seen:?}"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A watch opened before the signal hears NOT_SERVING.
    match tokio::time::timeout(Duration::from_secs(1), watch.message()).await {
        Ok(Ok(Some(update))) if update.status() == ServingStatus::NotServing => {}
        other => problems.push(format!("the health watch did not report NOT_SERVING within 1 s: {other:?}")),
    }
    drop(watch);

    let limit = Duration::from_secs(GRACE_SECONDS + 5);
    let exit = system.orchestrator.wait(limit).await;
    let exited_after = signalled.elapsed();
    let context = diagnostics(&system, job_id).await;
    let Some(exit) = exit else {
        system.orchestrator.signal("KILL");
        panic!("the orchestrator still ran {limit:?} after SIGTERM (grace {GRACE_SECONDS} s); problems so far: {problems:?}\n{context}");
    };
    if !exit.success() {
        problems.push(format!("the orchestrator exited with {exit} after SIGTERM"));
    }
    // Its lease was released (the job is queued again, nobody's) or its work was done.
    let job = job_row(&system.db, job_id).await;
    let released = job.status == JobStatus::Queued
        && job.lease_owner.is_none()
        && job.lease_token.is_none()
        && job.lease_expires_at.is_none();
    if !(released || job.status == JobStatus::AwaitingReview) {
        problems.push(format!(
            "after shutdown the job is {} with lease {:?} until {:?}",
            job.status, job.lease_owner, job.lease_expires_at
        ));
    }
    let open: Vec<JobStage> = attempts(&system.db, job_id)
        .await
        .into_iter()
        .filter(|a| a.status == StageStatus::Running && a.stage != StageName::Review)
        .collect();
    if !open.is_empty() {
        problems.push(format!("the stopped orchestrator left attempts open:\n{}", describe_attempts(&open)));
    }

    // Another start picks the job up where it was left.
    system.orchestrator.restart().await;
    match try_wait_job(&system, job_id, &[JobStatus::AwaitingReview], Duration::from_secs(120)).await {
        Ok(job) => {
            let rows = attempts(&system.db, job_id).await;
            problems.extend(attempt_problems(&rows, job.status).into_iter().map(|p| format!("after the restart: {p}")));
            problems.extend(duplicate_row_problems(&system.db, job_id, 1).await);
        }
        Err(why) => problems.push(format!("after the restart the job did not complete: {why}")),
    }
    let after_restart = diagnostics(&system, job_id).await;
    assert_no_problems(
        &problems,
        &format!("exited {exited_after:?} after SIGTERM\nat exit: {context}\nafter the restart: {after_restart}"),
    );
}
