//! Running more than one pod's worth of work (issue 17): the composer's cap on concurrent renders
//! and the orchestrator's spread of calls over several composer processes. Renders are counted
//! from the composer's own log lines (JSON, one object per line), so the processes under test
//! are the real ones, unchanged.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use shortline_proto::v1;

use crate::helpers::TestDb;
use crate::pipeline::{small_theme, start_request, wait_for};
use crate::processes::{free_port, ServiceProcess, SystemOptions, TestSystem};
use shortline_testing::on_both_backends;

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

/// A gate for renders: an `ffmpeg` first on the composers' `PATH` that waits while the gate is
/// closed, then runs the real one. Renders held at the gate keep their render slot, so the calls
/// that arrive meanwhile meet busy composers; the test opens the gate when it has seen what it
/// waits for. (Open at first, so the composers make their music bed at startup.)
struct RenderGate {
    dir: tempfile::TempDir,
}

impl RenderGate {
    fn new() -> RenderGate {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = std::env::split_paths(&std::env::var_os("PATH").expect("PATH"))
            .map(|directory| directory.join("ffmpeg"))
            .find(|candidate| candidate.is_file())
            .expect("ffmpeg is installed");
        let closed = dir.path().join("closed");
        let script = format!(
            "#!/bin/sh\nwhile [ -e '{}' ]; do sleep 0.05; done\nexec '{}' \"$@\"\n",
            closed.display(),
            real.display()
        );
        let wrapper = dir.path().join("ffmpeg");
        std::fs::write(&wrapper, script).expect("write the gated ffmpeg");
        std::process::Command::new("chmod").arg("+x").arg(&wrapper).status().expect("chmod");
        RenderGate { dir }
    }

    /// `PATH` with the gated ffmpeg first.
    fn path(&self) -> String {
        let path = std::env::var_os("PATH").expect("PATH");
        let directories = std::iter::once(self.dir.path().to_owned()).chain(std::env::split_paths(&path));
        std::env::join_paths(directories).expect("PATH").to_string_lossy().into_owned()
    }

    fn close(&self) {
        std::fs::write(self.dir.path().join("closed"), "").expect("close the gate");
    }

    fn open(&self) {
        std::fs::remove_file(self.dir.path().join("closed")).expect("open the gate");
    }
}

/// Polls `condition` until it holds; panics with `what` after five minutes.
async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Settings for every process of these tests: JSON logs to count from, and short pauses between
/// stage retries (RESOURCE_EXHAUSTED is retried until the stage's deadline, whatever
/// `pipeline.max_attempts` says).
fn options(gate: &RenderGate) -> SystemOptions {
    SystemOptions::default()
        .env("SHORTLINE_TELEMETRY__FORMAT", "json")
        .composer_env("SHORTLINE_COMPOSER__MAX_CONCURRENT_RENDERS", 1)
        .composer_env("PATH", gate.path())
        .orchestrator_env("SHORTLINE_PIPELINE__BACKOFF_MAX_MS", 500)
}

/// `composer.max_concurrent_renders = 1` and four jobs at once: while one render runs, the others'
/// ComposeVideo calls are answered RESOURCE_EXHAUSTED at once (no queue in the composer), the
/// orchestrator retries them with backoff, and all four finish, never two renders at a time.
async fn four_jobs_meet_a_composer_capped_at_one_render(db: TestDb) {
    let gate = RenderGate::new();
    let system = TestSystem::start_with(db, options(&gate)).await;
    gate.close();

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
    until("three jobs were not refused while a render held the slot", || refused_jobs().len() >= 3).await;
    gate.open();

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

/// One orchestrator and three composer processes, addressed as one target the way the
/// manifests address a headless Service's pods: the same port on three addresses
/// (127.0.0.1–3 here; `dns:///` in the cluster resolves to the pods' addresses). While renders
/// are held, the orchestrator's calls reach every composer, so all three render at once; then
/// nine jobs finish, rendered on all three.
async fn nine_jobs_render_on_all_three_composers(db: TestDb) {
    let gate = RenderGate::new();
    let port = free_port();
    let addresses = ["127.0.0.1", "127.0.0.2", "127.0.0.3"].map(|ip| format!("{ip}:{port}"));
    let target = addresses.iter().map(|address| format!("http://{address}")).collect::<Vec<_>>().join(",");
    let options = options(&gate)
        .composer_env("SHORTLINE_COMPOSER__LISTEN", &addresses[0])
        .orchestrator_env("SHORTLINE_COMPOSER__URL", &target);
    let system = TestSystem::start_with(db, options).await;
    let mut composers = vec![&system.composer];
    let mut others = Vec::new();
    for (i, address) in addresses.iter().enumerate().skip(1) {
        let mut env: Vec<(String, String)> =
            system.composer.env().iter().filter(|(key, _)| key != "SHORTLINE_COMPOSER__LISTEN").cloned().collect();
        env.push(("SHORTLINE_COMPOSER__LISTEN".into(), address.clone()));
        let log_name = format!("composer-{}", i + 1);
        others.push(ServiceProcess::spawn_as("composer", &log_name, &env, system.dir.path()).await);
    }
    composers.extend(others.iter());
    gate.close();

    let mut client = system.orchestrator_client().await;
    let mut jobs = Vec::new();
    for _ in 0..9 {
        jobs.push(client.start_job(start_request(small_theme(false))).await.expect("start").into_inner().id);
    }
    let renders = || composers.iter().map(|composer| events(composer, "render started").len()).collect::<Vec<_>>();
    until("the three composers did not all get a render", || renders().iter().all(|&count| count >= 1)).await;
    gate.open();

    for &job_id in &jobs {
        wait_for(&mut client, job_id, &[v1::JobStatus::AwaitingReview], Duration::from_secs(300)).await;
    }
    let renders = renders();
    assert_eq!(renders.iter().sum::<usize>(), 9, "one render per job, counted per composer: {renders:?}");
    assert!(renders.iter().all(|&count| count >= 1), "renders per composer: {renders:?}");
}

on_both_backends!(nine_jobs_render_on_all_three_composers);
