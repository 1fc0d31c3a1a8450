//! `shortline migrate` as the migration Job runs it (issue 17): it waits for a database that is
//! not there yet, and concurrent runs cannot race.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::helpers::{admin_execute, postgres_server_url};
use crate::processes::shortline_binary;

/// `shortline migrate <args>` on `url`, its stderr appended to `log`.
fn migrate(url: &str, args: &[&str], log: &Path) -> tokio::process::Child {
    let stderr = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
    Command::new(shortline_binary())
        .arg("migrate")
        .args(args)
        .env("SHORTLINE_DATABASE__URL", url)
        .env("SHORTLINE_TELEMETRY__FILTER", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .kill_on_drop(true)
        .spawn()
        .expect("spawn shortline migrate")
}

/// Its stdout once it exits successfully.
async fn succeeds(child: tokio::process::Child, log: &Path) -> String {
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("migrate finishes")
        .expect("wait");
    let stderr = std::fs::read_to_string(log).unwrap_or_default();
    assert!(output.status.success(), "migrate failed: {stderr}");
    String::from_utf8(output.stdout).expect("utf-8")
}

/// The database does not exist when `migrate --wait` starts: it waits, saying why, and migrates
/// once the database is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_waits_for_its_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("migrate.log");
    let name = format!("shortline_wait_{}", uuid::Uuid::new_v4().simple());
    let url = format!("{}/{name}", postgres_server_url());
    let child = migrate(&url, &["--wait"], &log);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("database not reachable yet") {
        assert!(tokio::time::Instant::now() < deadline, "migrate --wait did not say it waits");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    admin_execute(&format!("CREATE DATABASE {name}")).await;
    let stdout = succeeds(child, &log).await;
    admin_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    assert!(stdout.contains("applied"), "{stdout}");
}

/// Without --wait, a missing database fails at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_without_wait_fails_on_a_missing_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("migrate.log");
    let url = format!("{}/shortline_missing_{}", postgres_server_url(), uuid::Uuid::new_v4().simple());
    let output = migrate(&url, &[], &log).wait_with_output().await.expect("wait");
    assert!(!output.status.success());
}

/// Two migrators started together on a fresh database both succeed; between them every
/// migration is applied exactly once.
async fn two_migrators_do_not_race(url: &str, backend: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = [dir.path().join("first.log"), dir.path().join("second.log")];
    let first = migrate(url, &["--wait", "--json"], &logs[0]);
    let second = migrate(url, &["--wait", "--json"], &logs[1]);
    let (first, second) = tokio::join!(succeeds(first, &logs[0]), succeeds(second, &logs[1]));
    let applied = |stdout: &str| -> Vec<String> {
        let json: serde_json::Value = serde_json::from_str(stdout).expect("json");
        json["applied"].as_array().expect("applied").iter().map(|v| v.as_str().expect("version").to_owned()).collect()
    };
    let mut all = applied(&first);
    all.extend(applied(&second));
    let migrations =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/db/migrations").join(backend))
            .expect("migrations")
            .count();
    assert_eq!(all.len(), migrations, "each migration applied once: {first} / {second}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_migrators_do_not_race_on_postgres() {
    let name = format!("shortline_race_{}", uuid::Uuid::new_v4().simple());
    admin_execute(&format!("CREATE DATABASE {name}")).await;
    two_migrators_do_not_race(&format!("{}/{name}", postgres_server_url()), "postgres").await;
    admin_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_migrators_do_not_race_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    two_migrators_do_not_race(&format!("sqlite://{}", dir.path().join("shortline.db").display()), "sqlite").await;
}
