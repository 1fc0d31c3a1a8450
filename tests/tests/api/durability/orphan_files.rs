//! Files the media store holds with no row naming them: none after scriptgen and the
//! composer are killed mid-stage and come back, after a cancelled media stage, or (once swept)
//! after a job failed following a crash.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use shortline_db::{JobStatus, StageName, StageStatus};
use shortline_proto::v1;

use super::support::*;
use crate::helpers::TestDb;
use crate::pipeline::path_of;
use crate::processes::{SystemOptions, TestSystem};

// =============================================================================================
// 8. scriptgen and composer each SIGKILLed mid-stage, back 2 s later
// =============================================================================================

/// Every file of a job in the media store (relative to it) that no `media_assets` or `videos`
/// row names; `library/` holds what every job shares (the music bed), owned by no row.
async fn files_without_a_row(system: &TestSystem) -> Vec<PathBuf> {
    let root = system.media_root();
    let owned: BTreeSet<PathBuf> = texts(
        &system.db,
        "SELECT uri AS text FROM media_assets UNION ALL SELECT uri AS text FROM videos \
         UNION ALL SELECT thumbnail_uri AS text FROM videos",
    )
    .await
    .iter()
    .map(|uri| path_of(uri).strip_prefix(&root).expect("inside the media store").to_path_buf())
    .collect();
    files_under(&root).into_iter().filter(|file| !file.starts_with("library") && !owned.contains(file)).collect()
}

/// Polls until one of `jobs` has `stage` open while `running` holds; panics after `limit`.
async fn wait_for_any_in_stage<F: FnMut() -> bool>(
    system: &TestSystem,
    jobs: &[i64],
    stage: StageName,
    limit: Duration,
    mut running: F,
) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        for &job_id in jobs {
            let open =
                attempts(&system.db, job_id).await.iter().any(|a| a.stage == stage && a.status == StageStatus::Running);
            if open && running() {
                return;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no job was in {stage} within {limit:?}\n{}",
            diagnostics(system, jobs[0]).await
        );
        tokio::time::sleep(POLL).await;
    }
}

/// A restart (or a pod rescheduled) of scriptgen during media generation and of the composer
/// during composition, with the settings everyone runs (no extra attempts): every job completes
/// with one video, and the media store holds no file without a row.
pub(super) async fn scriptgen_and_composer_killed_mid_stage_and_back_after_2_s(db: TestDb) {
    let options = SystemOptions::default().fixed_ports();
    let mut system = TestSystem::start_with(db, options).await;
    let mut client = system.orchestrator_client().await;
    let mut jobs = Vec::new();
    for _ in 0..3 {
        jobs.push(start_job(&mut client, false).await);
    }

    let scriptgen_pid = system.scriptgen.pid();
    wait_for_any_in_stage(&system, &jobs, StageName::MediaGeneration, Duration::from_secs(90), || {
        !media_tools_under(scriptgen_pid).is_empty()
    })
    .await;
    system.scriptgen.signal("KILL");
    assert!(system.scriptgen.wait(Duration::from_secs(10)).await.is_some(), "scriptgen survived SIGKILL");
    tokio::time::sleep(Duration::from_secs(2)).await;
    system.scriptgen.restart().await;

    let composer_pid = system.composer.pid();
    wait_for_any_in_stage(&system, &jobs, StageName::Composition, Duration::from_secs(120), || {
        media_tools_under(composer_pid).iter().any(|p| p.comm == "ffmpeg" && p.cmdline.contains("filter_complex"))
    })
    .await;
    system.composer.signal("KILL");
    assert!(system.composer.wait(Duration::from_secs(10)).await.is_some(), "the composer survived SIGKILL");
    tokio::time::sleep(Duration::from_secs(2)).await;
    system.composer.restart().await;

    let mut problems = Vec::new();
    for &job_id in &jobs {
        let job = wait_job(&system, job_id, &[JobStatus::AwaitingReview], Duration::from_secs(180)).await;
        problems.extend(attempt_problems(&attempts(&system.db, job_id).await, job.status));
        problems.extend(duplicate_row_problems(&system.db, job_id, 1).await);
        let lineage = client.get_job_lineage(v1::GetJobLineageRequest { job_id }).await.expect("lineage").into_inner();
        if lineage.videos.len() != 1 {
            problems.push(format!("job {job_id} has {} videos, not 1", lineage.videos.len()));
        }
    }
    let orphans = files_without_a_row(&system).await;
    if !orphans.is_empty() {
        problems.push(format!("files in the media store without a row: {orphans:?}"));
    }
    assert_no_problems(&problems, &diagnostics(&system, jobs[0]).await);
}

// =============================================================================================
// 11. Files with no row: a cancelled media stage, a job that failed after a crash
// =============================================================================================

/// Polls until the media store holds no job file without a row; returns what is still there
/// after `limit`.
async fn wait_for_no_files_without_a_row(system: &TestSystem, limit: Duration) -> Vec<PathBuf> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let orphans = files_without_a_row(system).await;
        if orphans.is_empty() || tokio::time::Instant::now() >= deadline {
            return orphans;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A job cancelled while its media is being made, with the voiceover already stored but the
/// set not yet recorded: the stored files go with the cancelled call.
pub(super) async fn cancelled_media_stage_leaves_no_file_without_a_row(db: TestDb) {
    let system = TestSystem::start(db).await;
    let mut client = system.orchestrator_client().await;
    let job_id = start_job(&mut client, false).await;
    let job_dir = system.media_root().join(format!("jobs/{job_id}"));
    let what = "a finished media file stored, the set not yet recorded";
    wait_for_stage(&system, job_id, StageName::MediaGeneration, Duration::from_secs(90), what, || {
        files_under(&job_dir).iter().any(|f| !f.to_string_lossy().contains("/."))
    })
    .await;
    client.cancel_job(v1::CancelJobRequest { job_id, reason: "changed my mind".into() }).await.expect("cancel the job");
    wait_job(&system, job_id, &[JobStatus::Cancelled], Duration::from_secs(30)).await;
    let orphans = wait_for_no_files_without_a_row(&system, Duration::from_secs(20)).await;
    assert!(
        orphans.is_empty(),
        "files without a row after the cancel: {orphans:?}\n{}",
        diagnostics(&system, job_id).await
    );
}

/// scriptgen killed mid-media leaves partial files; the job then fails (scriptgen stays away
/// past the stage's deadline) and is never retried. The sweep of the restarted scriptgen removes
/// the leftovers, and only them.
pub(super) async fn leftovers_of_a_job_failed_after_a_crash_are_swept(db: TestDb) {
    let options = SystemOptions::default()
        .fixed_ports()
        .env("SHORTLINE_PIPELINE__STAGE_TIMEOUT_SECONDS__MEDIA_GENERATION", 3)
        .env("SHORTLINE_MEDIA__SWEEP_INTERVAL_SECONDS", 1);
    let mut system = TestSystem::start_with(db, options).await;
    let mut client = system.orchestrator_client().await;
    let job_id = start_job(&mut client, false).await;
    let job_dir = system.media_root().join(format!("jobs/{job_id}"));
    let what = "media tools writing partial files";
    wait_for_stage(&system, job_id, StageName::MediaGeneration, Duration::from_secs(90), what, || {
        !temp_files(&job_dir).is_empty()
    })
    .await;
    system.scriptgen.signal("KILL");
    assert!(system.scriptgen.wait(Duration::from_secs(10)).await.is_some(), "scriptgen survived SIGKILL");
    wait_job(&system, job_id, &[JobStatus::Failed], Duration::from_secs(60)).await;
    let left = files_without_a_row(&system).await;
    assert!(!left.is_empty(), "the kill left nothing to sweep; the test proves nothing");

    system.scriptgen.restart().await;
    let orphans = wait_for_no_files_without_a_row(&system, Duration::from_secs(30)).await;
    let context = diagnostics(&system, job_id).await;
    assert!(orphans.is_empty(), "left {left:?}; still there after the sweeps: {orphans:?}\n{context}");
    assert_eq!(job_row(&system.db, job_id).await.status, JobStatus::Failed, "{context}");
    assert!(system.media_root().join("library").is_dir(), "the sweep took what every job shares");
}
