//! Read-only commands (`shortline jobs`, `shortline show`) during an orchestrator outage
//! change no job.

use std::time::Duration;

use shortline_db::StageName;

use super::support::*;
use crate::helpers::TestDb;
use crate::processes::{SystemOptions, TestSystem};

// =============================================================================================
// 9. Read-only commands during an orchestrator outage
// =============================================================================================

/// Every job and stage attempt in words: what a command that only reads must leave alone.
async fn job_state(db: &TestDb) -> Vec<String> {
    let mut state = texts(
        db,
        "SELECT 'job ' || CAST(id AS TEXT) || ' ' || status || ' ' || COALESCE(lease_owner, '-') || ' ' \
         || COALESCE(lease_token, '-') || ' ' || CAST(updated_at AS TEXT) AS text FROM jobs ORDER BY id",
    )
    .await;
    state.extend(
        texts(
            db,
            "SELECT 'attempt ' || CAST(id AS TEXT) || ' ' || stage || ' ' || status || ' ' || COALESCE(error, '-') \
             AS text FROM job_stages ORDER BY id",
        )
        .await,
    );
    state
}

/// `shortline ARGS` configured as the system's orchestrator is (its database, its media store),
/// pointed at `orchestrator_url`.
async fn shortline_command(system: &TestSystem, orchestrator_url: &str, args: &[&str]) -> std::process::Output {
    let output = tokio::process::Command::new(crate::processes::shortline_binary())
        .args(args)
        .current_dir(system.dir.path())
        .env_remove("SHORTLINE_CONFIG")
        .envs(system.orchestrator.env().iter().cloned())
        .env("SHORTLINE_ORCHESTRATOR__URL", orchestrator_url)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(120), output).await.expect("the command finishes").expect("runs")
}

/// With the orchestrator killed and jobs in flight, `shortline jobs` and `shortline show` say
/// the orchestrator is unreachable and change nothing — even once the jobs' leases expired, when
/// an orchestrator of their own would take the jobs over and fail them on exit.
pub(super) async fn read_only_commands_during_an_orchestrator_outage_change_no_job(db: TestDb) {
    let options = SystemOptions::default().orchestrator_env("SHORTLINE_PIPELINE__LEASE_SECONDS", 1);
    let mut system = TestSystem::start_with(db, options).await;
    let mut client = system.orchestrator_client().await;
    let job_id = start_job(&mut client, false).await;
    let waiting = start_job(&mut client, false).await;
    wait_for_stage(&system, job_id, StageName::MediaGeneration, Duration::from_secs(90), "media in flight", || true)
        .await;
    let url = system.orchestrator.url();
    system.orchestrator.signal("KILL");
    assert!(system.orchestrator.wait(Duration::from_secs(10)).await.is_some(), "the orchestrator survived SIGKILL");
    tokio::time::sleep(Duration::from_secs(2)).await; // past the leases
    let before = job_state(&system.db).await;

    for args in [
        vec!["jobs".to_owned()],
        vec!["show".to_owned(), job_id.to_string()],
        vec!["show".to_owned(), waiting.to_string()],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = shortline_command(&system, &url, &args).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let described = format!("`shortline {}` exited {:?}; stderr:\n{stderr}", args.join(" "), output.status.code());
        assert_eq!(output.status.code(), Some(1), "{described}");
        assert!(stderr.contains(&format!("orchestrator unreachable at {url}")), "{described}");
    }
    // Anything a short-lived orchestrator claimed would show by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(job_state(&system.db).await, before, "a read-only command changed jobs or their attempts");
}
