//! Durable orchestration (issue 5): crashes, stalls, retries, lost database connections,
//! cancellation and shutdown, with the real `shortline` processes and real signals.
//!
//! Every wait polls with a deadline; when one runs out (or a job ends unexpectedly) the panic
//! carries the job's row, its stage attempts and the tails of the services' logs.
//!
//! One concept in one file (longer than ~700 lines on purpose): how a job survives failures of
//! the processes around it; each test shares the same waits and post-mortems.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use shortline_db::dispatch;
use shortline_db::{self as db, JobStage, JobStatus, StageName, StageStatus};
use shortline_proto::v1::script_service_client::ScriptServiceClient;
use shortline_proto::v1::script_service_server::{ScriptService, ScriptServiceServer};
use shortline_proto::v1::{self, orchestrator_service_client::OrchestratorServiceClient};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::helpers::{postgres_server_url, TestDb};
use crate::pipeline::{path_of, probe, small_theme, start_request};
use crate::processes::{channel, free_port, ServiceProcess, SystemOptions, TestSystem};
use shortline_testing::on_both_backends;

const POLL: Duration = Duration::from_millis(50);

/// The stages a pipeline job runs before review, in order.
pub const WORK_STAGES: [StageName; 5] = [
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
            let result: Result<_, db::DbError> = async {
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
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => panic!("test query failed: {error}"),
            }
        }
    }};
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    text: String,
}

#[derive(QueryableByName)]
struct StatusCount {
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// `sql` must select one BIGINT named `n`.
async fn count(db: &TestDb, sql: &str) -> i64 {
    with_conn!(db, conn => {
        let row: Count = dispatch!(conn, c => diesel::sql_query(sql).get_result(c).await)?;
        Ok(row.n)
    })
}

/// `sql` must select one TEXT column named `text`.
async fn texts(db: &TestDb, sql: &str) -> Vec<String> {
    with_conn!(db, conn => {
        let rows: Vec<Text> = dispatch!(conn, c => diesel::sql_query(sql).load(c).await)?;
        Ok(rows.into_iter().map(|r| r.text).collect::<Vec<_>>())
    })
}

async fn job_row(db: &TestDb, job_id: i64) -> db::Job {
    with_conn!(db, conn => db::jobs::find(conn, job_id).await)
}

/// The job's stage attempts, oldest first.
async fn attempts(db: &TestDb, job_id: i64) -> Vec<JobStage> {
    with_conn!(db, conn => db::job_stages::list_for_job(conn, job_id).await)
}

fn of_stage(rows: &[JobStage], stage: StageName) -> Vec<&JobStage> {
    rows.iter().filter(|a| a.stage == stage).collect()
}

fn describe_attempts(rows: &[JobStage]) -> String {
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
fn attempt_problems(rows: &[JobStage], job_status: JobStatus) -> Vec<String> {
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
async fn duplicate_row_problems(db: &TestDb, job_id: i64, variants: i64) -> Vec<String> {
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
fn database_name(db: &TestDb) -> String {
    db.url.rsplit('/').next().expect("a database name").to_owned()
}

// =============================================================================================
// Helpers: processes, files, logs
// =============================================================================================

/// One line of `/proc`.
#[derive(Debug, Clone)]
struct Proc {
    pid: i32,
    ppid: i32,
    comm: String,
    state: char,
    cmdline: String,
}

impl Proc {
    fn read(pid: i32) -> Option<Proc> {
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

    fn alive(&self) -> bool {
        self.state != 'Z' && self.state != 'X'
    }

    fn is_media_tool(&self) -> bool {
        ["ffmpeg", "ffprobe", "espeak-ng", "espeak", "setpriv"].contains(&self.comm.as_str())
    }
}

fn all_processes() -> Vec<Proc> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()))
        .filter_map(Proc::read)
        .collect()
}

/// Every live process below `root` (children, grandchildren, ...).
fn descendants(root: i32) -> Vec<Proc> {
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
fn media_tools_under(root: i32) -> Vec<Proc> {
    descendants(root).into_iter().filter(Proc::is_media_tool).collect()
}

/// Live media tools anywhere on the machine whose command line names a path under `dir`: what a
/// dead service left running.
fn media_tools_mentioning(dir: &Path) -> Vec<Proc> {
    let needle = dir.display().to_string();
    all_processes().into_iter().filter(|p| p.alive() && p.is_media_tool() && p.cmdline.contains(&needle)).collect()
}

fn describe_processes(processes: &[Proc]) -> String {
    processes
        .iter()
        .map(|p| format!("  pid {} ppid {} {} [{}] {}", p.pid, p.ppid, p.comm, p.state, p.cmdline))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every file below `root`, as paths relative to it.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
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
fn temp_files(root: &Path) -> Vec<PathBuf> {
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
fn log_tails(dir: &Path) -> String {
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
async fn diagnostics(system: &TestSystem, job_id: i64) -> String {
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

fn assert_no_problems(problems: &[String], context: &str) {
    assert!(problems.is_empty(), "{} problem(s):\n  - {}\n{context}", problems.len(), problems.join("\n  - "));
}

// =============================================================================================
// Helpers: jobs
// =============================================================================================

/// Polls the database until the job is in one of `statuses`; panics with diagnostics if it ends
/// in another resting state or the deadline passes.
async fn wait_job(system: &TestSystem, job_id: i64, statuses: &[JobStatus], limit: Duration) -> db::Job {
    match try_wait_job(system, job_id, statuses, limit).await {
        Ok(job) => job,
        Err(why) => panic!("{why}"),
    }
}

/// [`wait_job`] that returns what went wrong instead of panicking.
async fn try_wait_job(
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
async fn wait_for_stage<F: FnMut() -> bool>(
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

async fn start_job(client: &mut OrchestratorServiceClient<Channel>, auto_post: bool) -> i64 {
    client.start_job(start_request(small_theme(auto_post))).await.expect("start job").into_inner().id
}

async fn orchestrator_client(process: &ServiceProcess) -> OrchestratorServiceClient<Channel> {
    OrchestratorServiceClient::new(channel(&process.url()).await)
}

/// The worker names in the job's attempts other than `except`.
fn other_workers<'a>(rows: &'a [JobStage], except: &str) -> BTreeSet<&'a str> {
    rows.iter().filter_map(|a| a.worker.as_deref()).filter(|w| *w != except).collect()
}

fn since(t: NaiveDateTime, u: NaiveDateTime) -> Duration {
    (t - u).to_std().unwrap_or_default()
}

// =============================================================================================
// 1. SIGKILL the composer while ffmpeg runs
// =============================================================================================

/// The composer dies mid-render; started again on the same address it renders the video once,
/// and nothing of the killed render is left: no ffmpeg, no partial file, no temp directory.
async fn composer_killed_while_ffmpeg_runs(db: TestDb) {
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

async fn orchestrator_killed_mid_job_is_resumed_by_another(db: TestDb) {
    let options = SystemOptions::default().private_tmp().env("SHORTLINE_PIPELINE__LEASE_SECONDS", 3);
    let mut system = TestSystem::start_with(db, options).await;
    let mut client = system.orchestrator_client().await;
    let job_id = start_job(&mut client, false).await;

    let killed_attempt =
        wait_for_stage(&system, job_id, StageName::MediaGeneration, Duration::from_secs(90), "nothing more", || true)
            .await;
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

// =============================================================================================
// 3. SIGSTOP an orchestrator past its lease; the stale one's writes are refused
// =============================================================================================

async fn stalled_orchestrator_is_fenced_out(db: TestDb) {
    let options = SystemOptions::default().env("SHORTLINE_PIPELINE__LEASE_SECONDS", 3);
    let system = TestSystem::start_with(db, options).await;
    let mut client = system.orchestrator_client().await;
    let job_id = start_job(&mut client, false).await;

    let stalled =
        wait_for_stage(&system, job_id, StageName::MediaGeneration, Duration::from_secs(90), "nothing more", || true)
            .await;
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
// 4. scriptgen answers UNAVAILABLE three times, then succeeds; INVALID_ARGUMENT fails at once
// =============================================================================================

/// A ScriptService in the test process that forwards to the real scriptgen, but answers the
/// first `fail_first` GenerateScript calls with `fault` itself.
#[derive(Clone)]
struct FaultyScriptgen {
    upstream: ScriptServiceClient<Channel>,
    fail_first: usize,
    fault: tonic::Code,
    message: &'static str,
    /// When each GenerateScript call came.
    calls: Arc<Mutex<Vec<Instant>>>,
}

fn forward<T>(request: Request<T>) -> Request<T> {
    let (metadata, _, message) = request.into_parts();
    Request::from_parts(metadata, tonic::Extensions::default(), message)
}

#[tonic::async_trait]
impl ScriptService for FaultyScriptgen {
    async fn generate_script(
        &self,
        request: Request<v1::GenerateScriptRequest>,
    ) -> Result<Response<v1::Script>, Status> {
        let call = {
            let mut calls = self.calls.lock().expect("lock");
            calls.push(Instant::now());
            calls.len()
        };
        if call <= self.fail_first {
            return Err(Status::new(self.fault, self.message));
        }
        self.upstream.clone().generate_script(forward(request)).await
    }

    async fn generate_media(
        &self,
        request: Request<v1::GenerateMediaRequest>,
    ) -> Result<Response<v1::GenerateMediaResponse>, Status> {
        self.upstream.clone().generate_media(forward(request)).await
    }

    async fn get_script(&self, request: Request<v1::GetScriptRequest>) -> Result<Response<v1::Script>, Status> {
        self.upstream.clone().get_script(forward(request)).await
    }

    async fn list_scripts(
        &self,
        request: Request<v1::ListScriptsRequest>,
    ) -> Result<Response<v1::ListScriptsResponse>, Status> {
        self.upstream.clone().list_scripts(forward(request)).await
    }

    async fn list_media_assets(
        &self,
        request: Request<v1::ListMediaAssetsRequest>,
    ) -> Result<Response<v1::ListMediaAssetsResponse>, Status> {
        self.upstream.clone().list_media_assets(forward(request)).await
    }
}

/// Serves `proxy` on a free port of 127.0.0.1 until the test ends.
async fn serve_proxy(proxy: FaultyScriptgen) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
    let address = listener.local_addr().expect("proxy address");
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(ScriptServiceServer::new(proxy))
            .serve_with_incoming(incoming)
            .await
            .expect("proxy serves");
    });
    address
}

/// The system with the orchestrator reaching scriptgen through a faulty proxy (the composer
/// talks to scriptgen directly).
async fn system_behind_proxy(
    db: TestDb,
    fail_first: usize,
    fault: tonic::Code,
    message: &'static str,
) -> (TestSystem, Arc<Mutex<Vec<Instant>>>) {
    system_behind_proxy_with(db, fail_first, fault, message, SystemOptions::default()).await
}

/// [`system_behind_proxy`] with more settings.
async fn system_behind_proxy_with(
    db: TestDb,
    fail_first: usize,
    fault: tonic::Code,
    message: &'static str,
    options: SystemOptions,
) -> (TestSystem, Arc<Mutex<Vec<Instant>>>) {
    let scriptgen_port = free_port();
    let upstream = ScriptServiceClient::new(
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{scriptgen_port}"))
            .expect("url")
            .connect_lazy(),
    );
    let calls = Arc::new(Mutex::new(Vec::new()));
    let proxy = serve_proxy(FaultyScriptgen { upstream, fail_first, fault, message, calls: calls.clone() }).await;
    let options = options
        .env("SHORTLINE_PIPELINE__BACKOFF_INITIAL_MS", 200)
        .env("SHORTLINE_PIPELINE__MAX_ATTEMPTS", 4)
        .scriptgen_env("SHORTLINE_SCRIPTGEN__LISTEN", format!("127.0.0.1:{scriptgen_port}"))
        .orchestrator_env("SHORTLINE_SCRIPTGEN__URL", format!("http://{proxy}"));
    (TestSystem::start_with(db, options).await, calls)
}

async fn unavailable_three_times_then_success(db: TestDb) {
    let (system, calls) =
        system_behind_proxy(db, 3, tonic::Code::Unavailable, "proxy: scriptgen is briefly away").await;
    let mut client = system.orchestrator_client().await;
    let job_id = start_job(&mut client, false).await;
    let job = wait_job(&system, job_id, &[JobStatus::AwaitingReview], Duration::from_secs(120)).await;
    let context = diagnostics(&system, job_id).await;
    let rows = attempts(&system.db, job_id).await;
    let mut problems = attempt_problems(&rows, job.status);
    problems.extend(duplicate_row_problems(&system.db, job_id, 1).await);

    let scripts = of_stage(&rows, StageName::ScriptGeneration);
    let statuses: Vec<StageStatus> = scripts.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [StageStatus::Failed, StageStatus::Failed, StageStatus::Failed, StageStatus::Succeeded],
        "script_generation attempts\n{context}"
    );
    assert_eq!(scripts.iter().map(|a| a.attempt).collect::<Vec<_>>(), [1, 2, 3, 4], "{context}");
    for failed in &scripts[..3] {
        let error = failed.error.as_deref().unwrap_or_default();
        if !error.contains("proxy: scriptgen is briefly away") {
            problems.push(format!("attempt {} does not say why it failed: {error:?}", failed.attempt));
        }
    }
    // Exponential backoff (200 ms doubling, jittered to half..full): the gaps grow.
    let gaps: Vec<Duration> = scripts.windows(2).map(|w| since(w[1].started_at, w[0].started_at)).collect();
    if !(gaps[0] >= Duration::from_millis(100) && gaps[1] > gaps[0] && gaps[2] > gaps[1]) {
        problems.push(format!("gaps between attempts do not grow from the 100..200 ms backoff: {gaps:?}"));
    }
    let proxy_calls = calls.lock().expect("lock").clone();
    if proxy_calls.len() != 4 {
        problems.push(format!("the proxy saw {} GenerateScript calls, expected 4", proxy_calls.len()));
    }
    assert_no_problems(&problems, &context);
}

/// A scriptgen that is away longer than `max_attempts` quick retries last (a restart, a pod
/// rescheduled) is waited for: UNAVAILABLE is retried over the stage's deadline, not counted.
async fn unavailable_past_max_attempts_is_waited_for(db: TestDb) {
    let (system, calls) = system_behind_proxy_with(
        db,
        6,
        tonic::Code::Unavailable,
        "proxy: scriptgen is restarting",
        // Short pauses keep the test quick; six of them are still more than max_attempts (4).
        SystemOptions::default().env("SHORTLINE_PIPELINE__BACKOFF_MAX_MS", 400),
    )
    .await;
    let mut client = system.orchestrator_client().await;
    let job_id = start_job(&mut client, false).await;
    let job =
        wait_job(&system, job_id, &[JobStatus::AwaitingReview, JobStatus::Failed], Duration::from_secs(120)).await;
    let context = diagnostics(&system, job_id).await;
    assert_eq!(job.status, JobStatus::AwaitingReview, "{context}");
    let rows = attempts(&system.db, job_id).await;
    let statuses: Vec<StageStatus> = of_stage(&rows, StageName::ScriptGeneration).iter().map(|a| a.status).collect();
    let mut expected = vec![StageStatus::Failed; 6];
    expected.push(StageStatus::Succeeded);
    assert_eq!(statuses, expected, "script_generation attempts\n{context}");
    assert_eq!(calls.lock().expect("lock").len(), 7, "{context}");
}

/// The wait for an unreachable service ends with the stage's deadline; the job's error says
/// the service stayed unreachable.
async fn unreachable_past_the_stage_deadline_fails_the_job(db: TestDb) {
    let (system, calls) = system_behind_proxy_with(
        db,
        usize::MAX,
        tonic::Code::Unavailable,
        "proxy: scriptgen is gone",
        SystemOptions::default().orchestrator_env("SHORTLINE_PIPELINE__STAGE_TIMEOUT_SECONDS__SCRIPT_GENERATION", 2),
    )
    .await;
    let mut client = system.orchestrator_client().await;
    let job_id = start_job(&mut client, false).await;
    let job = wait_job(&system, job_id, &[JobStatus::Failed], Duration::from_secs(60)).await;
    let context = diagnostics(&system, job_id).await;
    let error = job.error.clone().unwrap_or_default();
    assert!(
        error.contains("proxy: scriptgen is gone") && error.contains("still unreachable after"),
        "{error:?}\n{context}"
    );
    // Retried while the 2 s lasted, then given up: the job is not left waiting.
    assert!(calls.lock().expect("lock").len() > 1, "{context}");
}

async fn invalid_argument_fails_after_one_attempt(db: TestDb) {
    const MESSAGE: &str = "proxy: the theme breaks the content policy";
    let (system, calls) = system_behind_proxy(db, usize::MAX, tonic::Code::InvalidArgument, MESSAGE).await;
    let mut client = system.orchestrator_client().await;
    let job_id = start_job(&mut client, false).await;
    wait_job(&system, job_id, &[JobStatus::Failed], Duration::from_secs(60)).await;
    let context = diagnostics(&system, job_id).await;

    let job = client.get_job(v1::GetJobRequest { job_id }).await.expect("get job").into_inner();
    assert_eq!(job.status(), v1::JobStatus::Failed, "{context}");
    assert_eq!(job.failed_stage(), v1::Stage::ScriptGeneration, "{context}");
    assert!(job.error.contains(MESSAGE), "the job's error does not carry the proxy's message: {:?}", job.error);
    assert!(job.error.contains("scriptgen"), "the job's error does not name the service: {:?}", job.error);
    assert!(
        !job.error.contains("Status {") && !job.error.contains("metadata"),
        "the job's error is not readable: {:?}",
        job.error
    );

    let rows = attempts(&system.db, job_id).await;
    let scripts = of_stage(&rows, StageName::ScriptGeneration);
    assert_eq!(scripts.len(), 1, "one attempt only:\n{context}");
    assert_eq!(scripts[0].status, StageStatus::Failed);
    assert!(scripts[0].error.as_deref().unwrap_or_default().contains(MESSAGE), "{context}");
    assert!(
        rows.iter()
            .all(|a| [StageName::TrendCollection, StageName::TrendAnalysis, StageName::ScriptGeneration]
                .contains(&a.stage)),
        "no stage after the failed one runs:\n{context}"
    );
    assert_eq!(calls.lock().expect("lock").len(), 1, "the proxy saw more than one GenerateScript call");
}

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

async fn database_connections_terminated_mid_job(db: TestDb) {
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

// =============================================================================================
// 6. 200 jobs through two orchestrator replicas
// =============================================================================================

const BULK_JOBS: i64 = 200;
const BULK_LIMIT: Duration = Duration::from_secs(120);

async fn two_hundred_jobs_through_two_replicas(db: TestDb) {
    let options = SystemOptions::default().env("SHORTLINE_PROVIDERS__SET", "null");
    let system = TestSystem::start_with(db, options).await;
    let replica = system.spawn_orchestrator("orchestrator-b", &[]).await;
    let mut clients = [system.orchestrator_client().await, orchestrator_client(&replica).await];
    let started = Instant::now();
    for i in 0..BULK_JOBS {
        let mut request = start_request(small_theme(true));
        request.client_request_id = format!("bulk-{i}");
        clients[(i % 2) as usize].start_job(request).await.expect("start job");
    }

    let db = &system.db;
    loop {
        let counts: Vec<(String, i64)> = with_conn!(db, conn => {
            let rows: Vec<StatusCount> = dispatch!(conn, c => diesel::sql_query(
                "SELECT status, COUNT(*) AS n FROM jobs WHERE kind = 'pipeline' GROUP BY status"
            ).load(c).await)?;
            Ok(rows.into_iter().map(|r| (r.status, r.n)).collect::<Vec<_>>())
        });
        let of = |status: &str| counts.iter().find(|(s, _)| s == status).map(|(_, n)| *n).unwrap_or(0);
        if of("failed") + of("cancelled") + of("rejected") > 0 {
            let failed = texts(
                db,
                "SELECT CONCAT('job ', id, ' ', status, ' at ', COALESCE(failed_stage, '-'), ': ', COALESCE(error, '')) AS text \
                 FROM jobs WHERE status IN ('failed', 'cancelled', 'rejected') ORDER BY id LIMIT 5",
            )
            .await;
            let first: i64 = failed[0].split_whitespace().nth(1).and_then(|id| id.parse().ok()).unwrap_or(1);
            panic!("jobs ended badly ({counts:?}):\n{}\n{}", failed.join("\n"), diagnostics(&system, first).await);
        }
        if of("approved") == BULK_JOBS {
            break;
        }
        assert!(
            started.elapsed() < BULK_LIMIT,
            "after {BULK_LIMIT:?} the jobs are {counts:?}\n{}",
            log_tails(system.dir.path())
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let elapsed = started.elapsed();

    let mut problems = Vec::new();
    let mut check = |what: &str, n: i64| {
        if n != 0 {
            problems.push(format!("{what}: {n}"));
        }
    };
    // No job left running or queued, no attempt left open.
    check("jobs not approved", count(db, "SELECT COUNT(*) AS n FROM jobs WHERE status <> 'approved'").await);
    check(
        "jobs still holding a lease",
        count(db, "SELECT COUNT(*) AS n FROM jobs WHERE lease_owner IS NOT NULL OR lease_token IS NOT NULL").await,
    );
    check("attempts still running", count(db, "SELECT COUNT(*) AS n FROM job_stages WHERE status = 'running'").await);
    // No duplicates: one report, script, video per job; one succeeded attempt per stage.
    for table in ["trend_reports", "scripts", "videos"] {
        check(
            &format!("jobs without exactly one {table} row"),
            count(db, &format!("SELECT COUNT(*) AS n FROM jobs j WHERE (SELECT COUNT(*) FROM {table} t WHERE t.job_id = j.id) <> 1")).await,
        );
    }
    check(
        "(job, stage) pairs with more than one succeeded attempt",
        count(db, "SELECT COUNT(*) AS n FROM (SELECT job_id, stage FROM job_stages WHERE status = 'succeeded' GROUP BY job_id, stage HAVING COUNT(*) > 1) d").await,
    );
    check(
        "jobs without a succeeded attempt of each of the 6 stages",
        count(db, "SELECT COUNT(*) AS n FROM jobs j WHERE (SELECT COUNT(DISTINCT stage) FROM job_stages s WHERE s.job_id = j.id AND s.status = 'succeeded') <> 6").await,
    );
    check(
        "media assets made twice",
        count(db, "SELECT COUNT(*) AS n FROM (SELECT script_id, kind, scene_number FROM media_assets GROUP BY script_id, kind, scene_number HAVING COUNT(*) > 1) d").await,
    );
    // No orphans.
    for table in
        ["job_stages", "trend_reports", "trend_report_items", "trend_sightings", "scripts", "media_assets", "videos"]
    {
        check(
            &format!("{table} rows of no job"),
            count(
                db,
                &format!(
                    "SELECT COUNT(*) AS n FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = t.job_id)"
                ),
            )
            .await,
        );
    }
    check("scripts of no report", count(db, "SELECT COUNT(*) AS n FROM scripts s WHERE NOT EXISTS (SELECT 1 FROM trend_reports r WHERE r.id = s.trend_report_id AND r.job_id = s.job_id)").await);
    check("assets of no script", count(db, "SELECT COUNT(*) AS n FROM media_assets a WHERE NOT EXISTS (SELECT 1 FROM scripts s WHERE s.id = a.script_id AND s.job_id = a.job_id)").await);
    check("videos of no script", count(db, "SELECT COUNT(*) AS n FROM videos v WHERE NOT EXISTS (SELECT 1 FROM scripts s WHERE s.id = v.script_id AND s.job_id = v.job_id)").await);
    check("sightings of no trend", count(db, "SELECT COUNT(*) AS n FROM trend_sightings t WHERE NOT EXISTS (SELECT 1 FROM trends r WHERE r.id = t.trend_id)").await);
    check("videos not approved", count(db, "SELECT COUNT(*) AS n FROM videos WHERE status <> 'approved'").await);
    // Both replicas worked.
    let workers = texts(db, "SELECT DISTINCT worker AS text FROM job_stages WHERE worker IS NOT NULL").await;
    if workers.len() != 2 {
        problems.push(format!("attempts name {} workers, expected the 2 replicas: {workers:?}", workers.len()));
    }
    assert_no_problems(
        &problems,
        &format!("{BULK_JOBS} jobs approved in {elapsed:?}\n{}", log_tails(system.dir.path())),
    );
    eprintln!("{BULK_JOBS} jobs approved through 2 replicas in {elapsed:?}");
}

// =============================================================================================
// 7. SIGTERM during a stage
// =============================================================================================

const GRACE_SECONDS: u64 = 3;

async fn sigterm_during_a_stage(db: TestDb) {
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

async fn cancel_during_composition_then_retry_from_media(db: TestDb) {
    cancel_then_retry(db, StageName::Composition, v1::Stage::MediaGeneration).await
}

async fn cancel_during_media_then_retry_from_script(db: TestDb) {
    cancel_then_retry(db, StageName::MediaGeneration, v1::Stage::ScriptGeneration).await
}

// =============================================================================================

/// StartJob with one client request id, sent many times at once, makes one job and answers every
/// call with it.
async fn one_request_id_makes_one_job_under_concurrency(db: TestDb) {
    let options = SystemOptions::default().env("SHORTLINE_PROVIDERS__SET", "null");
    let system = TestSystem::start_with(db, options).await;
    let client = system.orchestrator_client().await;
    let mut calls = Vec::new();
    for _ in 0..16 {
        let mut client = client.clone();
        let mut request = crate::pipeline::start_request(crate::pipeline::small_theme(true));
        request.client_request_id = "campaign-42".into();
        calls.push(tokio::spawn(async move { client.start_job(request).await.map(|r| r.into_inner().id) }));
    }
    let mut ids = std::collections::HashSet::new();
    for call in calls {
        ids.insert(call.await.expect("task").expect("start job"));
    }
    assert_eq!(ids.len(), 1, "one job for one request id: {ids:?}");
    assert_eq!(count(&system.db, "SELECT COUNT(*) AS n FROM jobs WHERE client_request_id = 'campaign-42'").await, 1);
    let job_id = *ids.iter().next().expect("an id");
    wait_job(&system, job_id, &[JobStatus::Approved], Duration::from_secs(60)).await;
}

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
async fn scriptgen_and_composer_killed_mid_stage_and_back_after_2_s(db: TestDb) {
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
async fn cancelled_media_stage_leaves_no_file_without_a_row(db: TestDb) {
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
async fn leftovers_of_a_job_failed_after_a_crash_are_swept(db: TestDb) {
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
async fn read_only_commands_during_an_orchestrator_outage_change_no_job(db: TestDb) {
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

on_both_backends!(
    cancelled_media_stage_leaves_no_file_without_a_row,
    leftovers_of_a_job_failed_after_a_crash_are_swept,
    scriptgen_and_composer_killed_mid_stage_and_back_after_2_s,
    read_only_commands_during_an_orchestrator_outage_change_no_job,
    one_request_id_makes_one_job_under_concurrency,
    composer_killed_while_ffmpeg_runs,
    orchestrator_killed_mid_job_is_resumed_by_another,
    unavailable_three_times_then_success,
    unavailable_past_max_attempts_is_waited_for,
    unreachable_past_the_stage_deadline_fails_the_job,
    invalid_argument_fails_after_one_attempt,
    sigterm_during_a_stage,
    cancel_during_composition_then_retry_from_media,
    cancel_during_media_then_retry_from_script,
);

/// PostgreSQL only: several live processes on one database (SQLite serves one process), and
/// connections that can be terminated.
macro_rules! on_postgres {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::TestDb::postgres().await).await
            }
        }
    )+};
}

on_postgres!(
    stalled_orchestrator_is_fenced_out,
    database_connections_terminated_mid_job,
    two_hundred_jobs_through_two_replicas
);
