//! A service SIGKILLed mid-job: the composer while ffmpeg renders, the orchestrator while a
//! second replica stands by.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use shortline_db::{JobStatus, StageName, StageStatus};
use shortline_proto::v1;

use super::support::*;
use crate::helpers::TestDb;
use crate::pipeline::{path_of, probe};
use crate::processes::{SystemOptions, TestSystem};

// =============================================================================================
// 1. SIGKILL the composer while ffmpeg runs
// =============================================================================================

/// The composer dies mid-render; started again on the same address it renders the video once,
/// and nothing of the killed render is left: no ffmpeg, no partial file, no temp directory.
pub(super) async fn composer_killed_while_ffmpeg_runs(db: TestDb) {
    // The default retry settings: the composition waits for the restarting composer.
    let options = SystemOptions::default().fixed_ports().private_tmp();
    let mut system = TestSystem::start_with(db, options).await;
    let mut client = system.orchestrator_client().await;
    let job_id = start_job(&mut client, false).await;

    let composer_pid = system.composer.pid();
    let generated_dir = system.media_root().join("generated");
    let mut renders = Vec::new();
    let what = "ffmpeg under the composer writing its partial output";
    wait_for_stage(&system, job_id, StageName::Composition, Duration::from_secs(90), what, || {
        renders = media_tools_under(composer_pid)
            .into_iter()
            .filter(|p| p.comm == "ffmpeg" && p.cmdline.contains("filter_complex"))
            .collect();
        !renders.is_empty() && !temp_files(&generated_dir).is_empty()
    })
    .await;

    system.composer.signal("KILL");
    assert!(system.composer.wait(Duration::from_secs(10)).await.is_some(), "the composer survived SIGKILL");
    let killed = Instant::now();
    let mut problems = Vec::new();
    // Its ffmpeg must die with it: nothing else would ever stop it or remove its partial output.
    let survivors = loop {
        let alive: Vec<Proc> =
            renders.iter().filter_map(|p| Proc::read(p.pid)).filter(|p| p.alive() && p.comm == "ffmpeg").collect();
        if alive.is_empty() || killed.elapsed() > Duration::from_secs(3) {
            break alive;
        }
        tokio::time::sleep(POLL).await;
    };
    if !survivors.is_empty() {
        problems.push(format!("the killed composer's ffmpeg still ran 3 s later:\n{}", describe_processes(&survivors)));
    }

    system.composer.restart().await;
    let job = match try_wait_job(&system, job_id, &[JobStatus::AwaitingReview], Duration::from_secs(120)).await {
        Ok(job) => job,
        Err(why) => {
            // Show what else the crash left behind, too.
            let root = system.media_root();
            panic!(
                "{why}\nalso:\n{}  - files in the media store: {:?}\n  - temporary files: {:?}\n  - TMPDIR: {:?}\n  - media tools still running on the test's files:\n{}",
                problems.iter().map(|p| format!("  - {p}\n")).collect::<String>(),
                files_under(&root),
                temp_files(&root),
                files_under(&system.tmp_dir()),
                describe_processes(&media_tools_mentioning(system.dir.path()))
            );
        }
    };
    let context = diagnostics(&system, job_id).await;

    let rows = attempts(&system.db, job_id).await;
    problems.extend(attempt_problems(&rows, job.status));
    problems.extend(duplicate_row_problems(&system.db, job_id, 1).await);

    let lineage = client.get_job_lineage(v1::GetJobLineageRequest { job_id }).await.expect("lineage").into_inner();
    assert_eq!(lineage.videos.len(), 1, "{context}");
    let video = &lineage.videos[0];
    let (video_codec, _, _) = probe(&path_of(&video.uri));
    assert_eq!(video_codec, "h264");

    // The media store holds the final files and the inputs, nothing half-made.
    let root = system.media_root();
    let generated: BTreeSet<PathBuf> = files_under(&root.join("generated")).into_iter().collect();
    let expected: BTreeSet<PathBuf> = [&video.uri, &video.thumbnail_uri]
        .iter()
        .map(|uri| path_of(uri).strip_prefix(root.join("generated")).expect("under generated/").to_path_buf())
        .collect();
    if generated != expected {
        problems.push(format!("generated/ holds {generated:?}, expected only {expected:?}"));
    }
    let temps = temp_files(&root);
    if !temps.is_empty() {
        problems.push(format!("temporary files left in the media store: {temps:?}"));
    }
    let tmp = files_under(&system.tmp_dir());
    if !tmp.is_empty() {
        problems.push(format!("files left in the services' TMPDIR {}: {tmp:?}", system.tmp_dir().display()));
    }
    let tools = media_tools_mentioning(system.dir.path());
    if !tools.is_empty() {
        problems.push(format!("media tools still running on the test's files:\n{}", describe_processes(&tools)));
    }
    assert_no_problems(&problems, &context);
}

// =============================================================================================
// 2. SIGKILL the orchestrator mid-job; a second one resumes it
// =============================================================================================

pub(super) async fn orchestrator_killed_mid_job_is_resumed_by_another(db: TestDb) {
    let options = SystemOptions::default().private_tmp().env("SHORTLINE_PIPELINE__LEASE_SECONDS", 3);
    let (mut system, job_id, killed_attempt) = job_in_media_generation(db, options).await;
    let worker_a = killed_attempt.worker.clone().expect("attempts name their worker");
    system.orchestrator.signal("KILL");
    assert!(system.orchestrator.wait(Duration::from_secs(10)).await.is_some(), "the orchestrator survived SIGKILL");
    // A's lease as it was when A died.
    let lease_expired_at = job_row(&system.db, job_id).await.lease_expires_at.expect("a running job has a lease");

    let replica = system.spawn_orchestrator("orchestrator-b", &[]).await;
    let job = wait_job(&system, job_id, &[JobStatus::AwaitingReview], Duration::from_secs(120)).await;
    let context = diagnostics(&system, job_id).await;
    let rows = attempts(&system.db, job_id).await;
    let mut problems = attempt_problems(&rows, job.status);
    problems.extend(duplicate_row_problems(&system.db, job_id, 1).await);

    // The killed worker's open attempt was closed, saying why.
    let closed = rows.iter().find(|a| a.id == killed_attempt.id).expect("the killed attempt is kept");
    let reason = closed.error.clone().unwrap_or_default();
    if closed.status != StageStatus::Failed || !reason.contains("lease") || !reason.contains(&worker_a) {
        problems.push(format!("the killed worker's attempt #{} is {} with error {reason:?}; expected failed, naming the lease of {worker_a}", closed.id, closed.status));
    }
    // Stages done before the crash were not run again; the resumed one ran once more, on B,
    // after A's lease expired.
    for stage in [StageName::TrendCollection, StageName::TrendAnalysis, StageName::ScriptGeneration] {
        let runs = of_stage(&rows, stage);
        if runs.len() != 1 || runs[0].worker.as_deref() != Some(worker_a.as_str()) {
            problems.push(format!(
                "{stage} has {} attempts; expected the one {worker_a} made before the crash",
                runs.len()
            ));
        }
    }
    let resumed: Vec<_> =
        of_stage(&rows, StageName::MediaGeneration).into_iter().filter(|a| a.id != killed_attempt.id).collect();
    match resumed.as_slice() {
        [attempt] => {
            if attempt.worker.as_deref() == Some(worker_a.as_str()) {
                problems.push("the resumed media_generation attempt names the killed worker".into());
            }
            if attempt.started_at < lease_expired_at {
                problems.push(format!(
                    "media_generation resumed at {} before A's lease expired at {lease_expired_at}",
                    attempt.started_at
                ));
            }
        }
        other => problems.push(format!("{} resumed media_generation attempts, expected 1", other.len())),
    }
    if other_workers(&rows, &worker_a).len() != 1 {
        problems.push(format!("expected one other worker in the attempts, got {:?}", other_workers(&rows, &worker_a)));
    }

    // The files: exactly the assets' and the video's, nothing half-made.
    let lineage = orchestrator_client(&replica)
        .await
        .get_job_lineage(v1::GetJobLineageRequest { job_id })
        .await
        .expect("lineage")
        .into_inner();
    let plan_scenes = lineage.scripts[0].plan.as_ref().expect("plan").scenes.len();
    if lineage.assets.len() != plan_scenes + 3 {
        problems
            .push(format!("{} assets for {plan_scenes} scenes, a voiceover and its captions", lineage.assets.len()));
    }
    let root = system.media_root();
    let mut expected: BTreeSet<PathBuf> = lineage.assets.iter().map(|a| path_of(&a.uri)).collect();
    expected.extend(lineage.videos.iter().flat_map(|v| [path_of(&v.uri), path_of(&v.thumbnail_uri)]));
    let job_files: BTreeSet<PathBuf> =
        files_under(&root).into_iter().map(|p| root.join(p)).filter(|p| !p.starts_with(root.join("library"))).collect();
    if job_files != expected {
        problems.push(format!(
            "media store files differ from the job's rows: extra {:?}, missing {:?}",
            job_files.difference(&expected).collect::<Vec<_>>(),
            expected.difference(&job_files).collect::<Vec<_>>()
        ));
    }
    let tools = media_tools_mentioning(system.dir.path());
    if !tools.is_empty() {
        problems.push(format!("media tools still running on the test's files:\n{}", describe_processes(&tools)));
    }
    assert_no_problems(&problems, &context);
}
