//! What every durability test shares: database queries that survive terminated connections
//! ([`with_conn!`]), `/proc` and media-store inspection, log tails and post-mortems, and the
//! waits that poll the job with a deadline.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use shortline_db::dispatch;
use shortline_db::{self as db, JobStage, JobStatus, StageName, StageStatus};
use shortline_proto::v1::orchestrator_service_client::OrchestratorServiceClient;
use tonic::transport::Channel;

use crate::helpers::TestDb;
use crate::pipeline::{small_theme, start_request};
use crate::processes::{channel, ServiceProcess, SystemOptions, TestSystem};

pub(crate) const POLL: Duration = Duration::from_millis(50);

/// The stages a pipeline job runs before review, in order.
pub(crate) const WORK_STAGES: [StageName; 5] = [
    StageName::TrendCollection,
    StageName::TrendAnalysis,
    StageName::ScriptGeneration,
    StageName::MediaGeneration,
    StageName::Composition,
];

// =============================================================================================
// Helpers: database
// =============================================================================================

/// Runs `$body` (a `DbResult`) on a pooled connection of `$db`, retrying a few times: some tests
/// terminate every connection of the database, the test's own included.
macro_rules! with_conn {
    ($db:expr, $conn:ident => $body:expr) => {{
        let mut tries = 0;
        loop {
            let result: Result<_, shortline_db::DbError> = async {
                let mut pooled = $db.pool.get().await?;
                let $conn = &mut pooled.conn();
                $body
            }
            .await;
            match result {
                Ok(value) => break value,
                Err(error) if tries < 10 => {
                    tries += 1;
                    let _ = error;
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                Err(error) => panic!("test query failed: {error}"),
            }
        }
    }};
}

#[derive(QueryableByName)]
pub(crate) struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
pub(crate) struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    text: String,
}

#[derive(QueryableByName)]
pub(crate) struct StatusCount {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub(crate) status: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub(crate) n: i64,
}

/// `sql` must select one BIGINT named `n`.
pub(crate) async fn count(db: &TestDb, sql: &str) -> i64 {
    with_conn!(db, conn => {
        let row: Count = dispatch!(conn, c => diesel::sql_query(sql).get_result(c).await)?;
        Ok(row.n)
    })
}

/// `sql` must select one TEXT column named `text`.
pub(crate) async fn texts(db: &TestDb, sql: &str) -> Vec<String> {
    with_conn!(db, conn => {
        let rows: Vec<Text> = dispatch!(conn, c => diesel::sql_query(sql).load(c).await)?;
        Ok(rows.into_iter().map(|r| r.text).collect::<Vec<_>>())
    })
}

pub(crate) async fn job_row(db: &TestDb, job_id: i64) -> db::Job {
    with_conn!(db, conn => db::jobs::find(conn, job_id).await)
}

/// The job's stage attempts, oldest first.
pub(crate) async fn attempts(db: &TestDb, job_id: i64) -> Vec<JobStage> {
    with_conn!(db, conn => db::job_stages::list_for_job(conn, job_id).await)
}

pub(crate) fn of_stage(rows: &[JobStage], stage: StageName) -> Vec<&JobStage> {
    rows.iter().filter(|a| a.stage == stage).collect()
}

pub(crate) fn describe_attempts(rows: &[JobStage]) -> String {
    rows.iter()
        .map(|a| {
            format!(
                "  #{} {} attempt {} {} worker={} started={} finished={} error={:?} output={:?}",
                a.id,
                a.stage,
                a.attempt,
                a.status,
                a.worker.as_deref().unwrap_or("-"),
                a.started_at,
                a.finished_at.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
                a.error.as_deref().unwrap_or(""),
                a.output_ref.as_deref().unwrap_or(""),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every problem of the job's attempts that a finished run must not have: a stage without
/// exactly one succeeded attempt, or an attempt still open (the review's open attempt while the
/// job awaits review is fine).
pub(crate) fn attempt_problems(rows: &[JobStage], job_status: JobStatus) -> Vec<String> {
    let mut problems = Vec::new();
    for stage in WORK_STAGES {
        let succeeded = of_stage(rows, stage).iter().filter(|a| a.status == StageStatus::Succeeded).count();
        if succeeded != 1 {
            problems.push(format!("{stage} has {succeeded} succeeded attempts, expected exactly 1"));
        }
    }
    for row in rows.iter().filter(|a| a.status == StageStatus::Running) {
        let awaiting = row.stage == StageName::Review && job_status == JobStatus::AwaitingReview;
        if !awaiting {
            problems
                .push(format!("attempt #{} ({} attempt {}) is still open (running)", row.id, row.stage, row.attempt));
        }
    }
    problems
}

/// The output rows of one job exist exactly once: one report, one script per variant, one
/// asset per (script, kind, scene), one video per script, one sighting per trend.
pub(crate) async fn duplicate_row_problems(db: &TestDb, job_id: i64, variants: i64) -> Vec<String> {
    let mut problems = Vec::new();
    let expect = |problems: &mut Vec<String>, what: &str, got: i64, want: i64| {
        if got != want {
            problems.push(format!("{what}: {got} rows, expected {want}"));
        }
    };
    expect(
        &mut problems,
        "trend_reports",
        count(db, &format!("SELECT COUNT(*) AS n FROM trend_reports WHERE job_id = {job_id}")).await,
        1,
    );
    expect(
        &mut problems,
        "scripts",
        count(db, &format!("SELECT COUNT(*) AS n FROM scripts WHERE job_id = {job_id}")).await,
        variants,
    );
    expect(
        &mut problems,
        "videos",
        count(db, &format!("SELECT COUNT(*) AS n FROM videos WHERE job_id = {job_id}")).await,
        variants,
    );
    let duplicated_assets = count(
        db,
        &format!(
            "SELECT COUNT(*) AS n FROM (SELECT script_id, kind, scene_number FROM media_assets WHERE job_id = {job_id} \
             GROUP BY script_id, kind, scene_number HAVING COUNT(*) > 1) d"
        ),
    )
    .await;
    expect(&mut problems, "media_assets made twice for the same (script, kind, scene)", duplicated_assets, 0);
    let assets = count(db, &format!("SELECT COUNT(*) AS n FROM media_assets WHERE job_id = {job_id}")).await;
    if assets == 0 {
        problems.push("no media_assets".into());
    }
    // The job saw its collection's items, which the collection's maker recorded once.
    let of_its_collection = format!(
        "FROM trend_sightings WHERE trend_collection_id = \
         (SELECT trend_collection_id FROM trend_collection_uses WHERE job_id = {job_id})"
    );
    let sightings = count(db, &format!("SELECT COUNT(*) AS n {of_its_collection}")).await;
    let distinct = count(db, &format!("SELECT COUNT(DISTINCT trend_id) AS n {of_its_collection}")).await;
    if sightings == 0 || sightings != distinct {
        problems.push(format!("trend_sightings: {sightings} rows for {distinct} trends"));
    }
    let items = count(db, &format!("SELECT COUNT(*) AS n FROM trend_report_items WHERE job_id = {job_id}")).await;
    let distinct_items =
        count(db, &format!("SELECT COUNT(DISTINCT trend_id) AS n FROM trend_report_items WHERE job_id = {job_id}"))
            .await;
    if items != distinct_items {
        problems.push(format!("trend_report_items: {items} rows for {distinct_items} trends"));
    }
    problems
}

/// The name of the test database (the last segment of its URL).
pub(crate) fn database_name(db: &TestDb) -> String {
    db.url.rsplit('/').next().expect("a database name").to_owned()
}

// =============================================================================================
// Helpers: processes, files, logs
// =============================================================================================

/// One line of `/proc`.
#[derive(Debug, Clone)]
pub(crate) struct Proc {
    pub(crate) pid: i32,
    pub(crate) ppid: i32,
    pub(crate) comm: String,
    pub(crate) state: char,
    pub(crate) cmdline: String,
}

impl Proc {
    pub(crate) fn read(pid: i32) -> Option<Proc> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (open, close) = (stat.find('(')?, stat.rfind(')')?);
        let comm = stat[open + 1..close].to_owned();
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next()?.chars().next()?;
        let ppid = rest.next()?.parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        Some(Proc { pid, ppid, comm, state, cmdline })
    }

    pub(crate) fn alive(&self) -> bool {
        self.state != 'Z' && self.state != 'X'
    }

    pub(crate) fn is_media_tool(&self) -> bool {
        ["ffmpeg", "ffprobe", "espeak-ng", "espeak", "setpriv"].contains(&self.comm.as_str())
    }
}

pub(crate) fn all_processes() -> Vec<Proc> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()))
        .filter_map(Proc::read)
        .collect()
}

/// Every live process below `root` (children, grandchildren, ...).
pub(crate) fn descendants(root: i32) -> Vec<Proc> {
    let all = all_processes();
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for child in all.iter().filter(|p| p.ppid == parent) {
            frontier.push(child.pid);
            found.push(child.clone());
        }
    }
    found.retain(Proc::alive);
    found
}

/// ffmpeg / espeak-ng processes (or their setpriv wrapper) running below `root`.
pub(crate) fn media_tools_under(root: i32) -> Vec<Proc> {
    descendants(root).into_iter().filter(Proc::is_media_tool).collect()
}

/// Live media tools anywhere on the machine whose command line names a path under `dir`: what a
/// dead service left running.
pub(crate) fn media_tools_mentioning(dir: &Path) -> Vec<Proc> {
    let needle = dir.display().to_string();
    all_processes().into_iter().filter(|p| p.alive() && p.is_media_tool() && p.cmdline.contains(&needle)).collect()
}

pub(crate) fn describe_processes(processes: &[Proc]) -> String {
    processes
        .iter()
        .map(|p| format!("  pid {} ppid {} {} [{}] {}", p.pid, p.ppid, p.comm, p.state, p.cmdline))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every file below `root`, as paths relative to it.
pub(crate) fn files_under(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).expect("below root").to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Files below `root` that look temporary: hidden (`.name…`, how partial files are named),
/// `*.partial*`, `*.tmp`, `*.part`.
pub(crate) fn temp_files(root: &Path) -> Vec<PathBuf> {
    files_under(root)
        .into_iter()
        .filter(|path| {
            path.components().any(|c| {
                let name = c.as_os_str().to_string_lossy();
                name.starts_with('.') || name.contains(".partial") || name.ends_with(".tmp") || name.ends_with(".part")
            })
        })
        .collect()
}

/// The last lines of every log of the test's services.
pub(crate) fn log_tails(dir: &Path) -> String {
    let mut out = String::new();
    let mut logs: Vec<_> = std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    logs.retain(|p: &PathBuf| p.extension().is_some_and(|e| e == "log"));
    logs.sort();
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(40)..];
        out.push_str(&format!("---- {} (last {} lines) ----\n{}\n", log.display(), tail.len(), tail.join("\n")));
    }
    out
}

/// What a failing assertion shows: the job, its attempts and the logs.
pub(crate) async fn diagnostics(system: &TestSystem, job_id: i64) -> String {
    let job = job_row(&system.db, job_id).await;
    let rows = attempts(&system.db, job_id).await;
    format!(
        "job {job_id}: {} failed_stage={:?} error={:?} lease_owner={:?} lease_expires_at={:?}\nattempts:\n{}\n{}",
        job.status,
        job.failed_stage,
        job.error,
        job.lease_owner,
        job.lease_expires_at,
        describe_attempts(&rows),
        log_tails(system.dir.path())
    )
}

pub(crate) fn assert_no_problems(problems: &[String], context: &str) {
    assert!(problems.is_empty(), "{} problem(s):\n  - {}\n{context}", problems.len(), problems.join("\n  - "));
}

// =============================================================================================
// Helpers: jobs
// =============================================================================================

/// Polls the database until the job is in one of `statuses`; panics with diagnostics if it ends
/// in another resting state or the deadline passes.
pub(crate) async fn wait_job(system: &TestSystem, job_id: i64, statuses: &[JobStatus], limit: Duration) -> db::Job {
    match try_wait_job(system, job_id, statuses, limit).await {
        Ok(job) => job,
        Err(why) => panic!("{why}"),
    }
}

/// [`wait_job`] that returns what went wrong instead of panicking.
pub(crate) async fn try_wait_job(
    system: &TestSystem,
    job_id: i64,
    statuses: &[JobStatus],
    limit: Duration,
) -> Result<db::Job, String> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let job = job_row(&system.db, job_id).await;
        if statuses.contains(&job.status) {
            return Ok(job);
        }
        let resting = job.status.is_terminal() || job.status == JobStatus::AwaitingReview;
        if resting || tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "waiting {limit:?} for job {job_id} to be {statuses:?}, it is {}:\n{}",
                job.status,
                diagnostics(system, job_id).await
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls until `stage` has an open attempt (and `extra` holds), returning the attempt; panics
/// with diagnostics if the job gets past the stage first or the deadline passes.
pub(crate) async fn wait_for_stage<F: FnMut() -> bool>(
    system: &TestSystem,
    job_id: i64,
    stage: StageName,
    limit: Duration,
    what: &str,
    mut extra: F,
) -> JobStage {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let rows = attempts(&system.db, job_id).await;
        if let Some(open) = rows.iter().find(|a| a.stage == stage && a.status == StageStatus::Running) {
            if extra() {
                return open.clone();
            }
        }
        let past = rows.iter().any(|a| a.stage == stage && a.status == StageStatus::Succeeded);
        let job = job_row(&system.db, job_id).await;
        let resting = job.status.is_terminal() || job.status == JobStatus::AwaitingReview;
        if past || resting || tokio::time::Instant::now() >= deadline {
            panic!(
                "never saw {stage} running with {what} (waited up to {limit:?}; the stage {}):\n{}",
                if past { "finished first" } else { "did not start" },
                diagnostics(system, job_id).await
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The system started with `options` and a job (left for review) in media generation: the
/// system, the job's id and the stage's open attempt.
pub(crate) async fn job_in_media_generation(db: TestDb, options: SystemOptions) -> (TestSystem, i64, JobStage) {
    let system = TestSystem::start_with(db, options).await;
    let mut client = system.orchestrator_client().await;
    let job_id = start_job(&mut client, false).await;
    let attempt =
        wait_for_stage(&system, job_id, StageName::MediaGeneration, Duration::from_secs(90), "nothing more", || true)
            .await;
    (system, job_id, attempt)
}

pub(crate) async fn start_job(client: &mut OrchestratorServiceClient<Channel>, auto_post: bool) -> i64 {
    client.start_job(start_request(small_theme(auto_post))).await.expect("start job").into_inner().id
}

pub(crate) async fn orchestrator_client(process: &ServiceProcess) -> OrchestratorServiceClient<Channel> {
    OrchestratorServiceClient::new(channel(&process.url()).await)
}

/// The worker names in the job's attempts other than `except`.
pub(crate) fn other_workers<'a>(rows: &'a [JobStage], except: &str) -> BTreeSet<&'a str> {
    rows.iter().filter_map(|a| a.worker.as_deref()).filter(|w| *w != except).collect()
}

pub(crate) fn since(t: NaiveDateTime, u: NaiveDateTime) -> Duration {
    (t - u).to_std().unwrap_or_default()
}
