//! CancelJob during a stage stops everything and leaves nothing; RetryJob from an earlier
//! stage keeps what came before it.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use shortline_db::{JobStage, JobStatus, StageName, StageStatus};
use shortline_proto::v1;

use super::support::*;
use crate::helpers::TestDb;
use crate::processes::{SystemOptions, TestSystem};

// =============================================================================================
// CancelJob during a stage, then RetryJob from an earlier stage
// =============================================================================================

/// Cancels the job while `stage` runs a media tool under `service`, checks that everything
/// stops and nothing is left, then retries from `retry_from` and checks earlier outputs are kept.
async fn cancel_then_retry(db: TestDb, stage: StageName, retry_from: v1::Stage) {
    let system = TestSystem::start_with(db, SystemOptions::default().private_tmp()).await;
    let mut client = system.orchestrator_client().await;
    let job_id = start_job(&mut client, false).await;
    let worker = if stage == StageName::Composition { &system.composer } else { &system.scriptgen };
    let worker_pid = worker.pid();
    wait_for_stage(
        &system,
        job_id,
        stage,
        Duration::from_secs(90),
        &format!("a media tool under {}", worker.name),
        || media_tools_under(worker_pid).iter().any(|p| p.comm != "ffprobe"),
    )
    .await;
    let before = client.get_job_lineage(v1::GetJobLineageRequest { job_id }).await.expect("lineage").into_inner();

    let cancelled = Instant::now();
    client.cancel_job(v1::CancelJobRequest { job_id, reason: "changed my mind".into() }).await.expect("cancel");
    let mut problems = Vec::new();
    wait_job(&system, job_id, &[JobStatus::Cancelled], Duration::from_secs(5)).await;
    // The running stage stops within seconds: its tools are killed, their files removed.
    let leftovers = loop {
        let tools = media_tools_under(worker_pid);
        let temps = temp_files(&system.media_root());
        if (tools.is_empty() && temps.is_empty()) || cancelled.elapsed() > Duration::from_secs(5) {
            break (tools, temps);
        }
        tokio::time::sleep(POLL).await;
    };
    if !leftovers.0.is_empty() {
        problems.push(format!("media tools still run 5 s after CancelJob:\n{}", describe_processes(&leftovers.0)));
    }
    if !leftovers.1.is_empty() {
        problems.push(format!("temporary files remain 5 s after CancelJob: {:?}", leftovers.1));
    }
    // Nothing runs on: wait a few seconds, then no later stage appears and nothing is left open.
    let settled = attempts(&system.db, job_id).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rows = attempts(&system.db, job_id).await;
    let order = |s: StageName| StageName::ALL.iter().position(|x| *x == s).unwrap_or(0);
    let later: Vec<JobStage> = rows.iter().filter(|a| order(a.stage) > order(stage)).cloned().collect();
    if !later.is_empty() {
        problems.push(format!("stages after the cancelled {stage} appeared:\n{}", describe_attempts(&later)));
    }
    if rows.len() != settled.len() {
        problems.push(format!(
            "attempts were added after the cancel settled:\n{}",
            describe_attempts(&rows[settled.len()..])
        ));
    }
    let open: Vec<JobStage> = rows.iter().filter(|a| a.status == StageStatus::Running).cloned().collect();
    if !open.is_empty() {
        problems.push(format!("the cancelled job still has open attempts:\n{}", describe_attempts(&open)));
    }
    let job = job_row(&system.db, job_id).await;
    if job.status != JobStatus::Cancelled {
        problems.push(format!("the job is {} 3 s after CancelJob", job.status));
    }
    let tmp = files_under(&system.tmp_dir());
    if !tmp.is_empty() {
        problems.push(format!("files left in the services' TMPDIR: {tmp:?}"));
    }

    // RetryJob from an earlier stage re-runs it and keeps what came before.
    client.retry_job(v1::RetryJobRequest { job_id, from_stage: retry_from as i32 }).await.expect("retry");
    let job = wait_job(&system, job_id, &[JobStatus::AwaitingReview], Duration::from_secs(120)).await;
    let after = client.get_job_lineage(v1::GetJobLineageRequest { job_id }).await.expect("lineage").into_inner();
    let context = diagnostics(&system, job_id).await;
    let report_id = |l: &v1::JobLineage| l.report.as_ref().map(|r| r.id);
    if report_id(&before) != report_id(&after) || report_id(&after).is_none() {
        problems.push(format!("the report changed: {:?} -> {:?}", report_id(&before), report_id(&after)));
    }
    let script_ids = |l: &v1::JobLineage| l.scripts.iter().map(|s| s.id).collect::<Vec<_>>();
    if script_ids(&before) != script_ids(&after) || script_ids(&after).len() != 1 {
        problems.push(format!("the scripts changed: {:?} -> {:?}", script_ids(&before), script_ids(&after)));
    }
    if stage == StageName::Composition {
        let asset_ids = |l: &v1::JobLineage| l.assets.iter().map(|a| a.id).collect::<BTreeSet<_>>();
        if asset_ids(&before) != asset_ids(&after) {
            problems.push(format!("the media assets changed: {:?} -> {:?}", asset_ids(&before), asset_ids(&after)));
        }
    }
    let rows = attempts(&system.db, job_id).await;
    let retried = match retry_from {
        v1::Stage::ScriptGeneration => StageName::ScriptGeneration,
        v1::Stage::MediaGeneration => StageName::MediaGeneration,
        other => panic!("not a retry stage here: {other:?}"),
    };
    for earlier in WORK_STAGES.iter().copied().filter(|s| order(*s) < order(retried)) {
        if of_stage(&rows, earlier).len() != 1 {
            problems.push(format!("{earlier} ran again after RetryJob from {retried}"));
        }
    }
    let retried_runs = of_stage(&rows, retried);
    if !retried_runs.last().is_some_and(|a| a.status == StageStatus::Succeeded) || retried_runs.len() < 2 {
        problems.push(format!("{retried} was not run again by RetryJob"));
    }
    // The latest attempt of each stage succeeded; no open attempt but the review's.
    for s in WORK_STAGES {
        if !of_stage(&rows, s).last().is_some_and(|a| a.status == StageStatus::Succeeded) {
            problems.push(format!("the latest {s} attempt did not succeed"));
        }
    }
    if rows.iter().any(|a| a.status == StageStatus::Running && a.stage != StageName::Review) {
        problems.push("attempts other than the review's are still open after the retry".into());
    }
    problems.extend(duplicate_row_problems(&system.db, job_id, 1).await);
    let _ = job;
    if !temp_files(&system.media_root()).is_empty() {
        problems.push(format!("temporary files in the media store: {:?}", temp_files(&system.media_root())));
    }
    assert_no_problems(&problems, &context);
}

pub(super) async fn cancel_during_composition_then_retry_from_media(db: TestDb) {
    cancel_then_retry(db, StageName::Composition, v1::Stage::MediaGeneration).await
}

pub(super) async fn cancel_during_media_then_retry_from_script(db: TestDb) {
    cancel_then_retry(db, StageName::MediaGeneration, v1::Stage::ScriptGeneration).await
}
