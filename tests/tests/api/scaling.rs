//! Running more than one pod's worth of work (issue 17): the composer's cap on concurrent renders
//! and the orchestrator's spread of calls over several composer processes. Renders are counted
//! from the composer's own log lines (JSON, one object per line), so the processes under test
//! are the real ones, unchanged.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use shortline_proto::v1;

use crate::helpers::TestDb;
use crate::on_both_backends;
use crate::pipeline::{small_theme, start_request, wait_for};
use crate::processes::{ServiceProcess, SystemOptions, TestSystem};

/// The log events of `process` with `message`, as JSON objects (the fields flattened in).
pub fn events(process: &ServiceProcess, message: &str) -> Vec<Value> {
    assert!(std::env::var_os("TEST_LOG").is_none(), "this test reads the services' log files: run it without TEST_LOG");
    process
        .log()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["message"] == message)
        .collect()
}

/// An `ffmpeg` in `dir` that waits while `dir/closed` exists, then runs the real one: renders
/// are held at a gate the test opens, so the calls that arrive meanwhile meet a busy composer.
fn gated_ffmpeg(dir: &Path) -> PathBuf {
    let real = std::env::split_paths(&std::env::var_os("PATH").expect("PATH"))
        .map(|directory| directory.join("ffmpeg"))
        .find(|candidate| candidate.is_file())
        .expect("ffmpeg is installed");
    let gate = dir.join("closed");
    let script = format!(
        "#!/bin/sh\nwhile [ -e '{}' ]; do sleep 0.05; done\nexec '{}' \"$@\"\n",
        gate.display(),
        real.display()
    );
    let wrapper = dir.join("ffmpeg");
    std::fs::write(&wrapper, script).expect("write the gated ffmpeg");
    std::process::Command::new("chmod").arg("+x").arg(&wrapper).status().expect("chmod");
    gate
}

/// `composer.max_concurrent_renders = 1` and four jobs at once: while one render runs, the others'
/// ComposeVideo calls are answered RESOURCE_EXHAUSTED at once (no queue in the composer), the
/// orchestrator retries them with backoff, and all four finish, never two renders at a time.
async fn four_jobs_meet_a_composer_capped_at_one_render(db: TestDb) {
    let gate_dir = tempfile::tempdir().expect("tempdir");
    let gate = gated_ffmpeg(gate_dir.path());
    let path = std::env::join_paths(
        std::iter::once(gate_dir.path().to_owned())
            .chain(std::env::split_paths(&std::env::var_os("PATH").expect("PATH"))),
    )
    .expect("PATH");
    let options = SystemOptions::default()
        .env("SHORTLINE_TELEMETRY__FORMAT", "json")
        .composer_env("SHORTLINE_COMPOSER__MAX_CONCURRENT_RENDERS", 1)
        .composer_env("PATH", path.to_string_lossy())
        // Refused calls retry until the gate opens; short pauses keep the test quick.
        .orchestrator_env("SHORTLINE_PIPELINE__MAX_ATTEMPTS", 1000)
        .orchestrator_env("SHORTLINE_PIPELINE__BACKOFF_MAX_MS", 500);
    // The composer makes its music bed at startup, through the open gate.
    let system = TestSystem::start_with(db, options).await;
    std::fs::write(&gate, "").expect("close the gate");

    let mut client = system.orchestrator_client().await;
    let mut jobs = Vec::new();
    for _ in 0..4 {
        jobs.push(client.start_job(start_request(small_theme(false))).await.expect("start").into_inner().id);
    }

    // Wait until one render holds the only slot and the three other jobs were turned away.
    let refused_jobs = || -> BTreeSet<i64> {
        events(&system.composer, "render refused: every render slot is busy")
            .iter()
            .filter_map(|event| event["job_id"].as_i64())
            .collect()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while refused_jobs().len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "three jobs were not refused while a render held the slot: {:?}",
            refused_jobs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    std::fs::remove_file(&gate).expect("open the gate");

    for &job_id in &jobs {
        wait_for(&mut client, job_id, &[v1::JobStatus::AwaitingReview], Duration::from_secs(300)).await;
    }

    let started = events(&system.composer, "render started");
    assert_eq!(started.len(), 4, "one render per job: {started:?}");
    let peak = started.iter().filter_map(|event| event["running"].as_u64()).max();
    assert_eq!(peak, Some(1), "renders running at once in the composer: {started:?}");

    // Each refused job's composition failed with the composer's answer, then was retried to success.
    let refused = refused_jobs();
    assert_eq!(refused.len(), 3, "{refused:?}");
    for job_id in refused {
        let lineage = client.get_job_lineage(v1::GetJobLineageRequest { job_id }).await.expect("lineage").into_inner();
        let compositions: Vec<_> = lineage.stages.iter().filter(|run| run.stage() == v1::Stage::Composition).collect();
        assert!(
            compositions.iter().any(|run| run.status() == v1::StageStatus::Failed
                && run.error.contains("render slots of this process are busy")),
            "job {job_id}: no composition attempt was refused: {compositions:?}"
        );
        assert_eq!(compositions.last().map(|run| run.status()), Some(v1::StageStatus::Succeeded), "job {job_id}");
    }
}

on_both_backends!(four_jobs_meet_a_composer_capped_at_one_render);
