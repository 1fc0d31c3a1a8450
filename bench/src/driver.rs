//! Submitting jobs with a fixed number in flight, and learning when each one ends.
//!
//! The bench learns that a job ended from the database (one prepared query every few ms for all
//! jobs in flight, see [`poll_interval`]), not from the service under test, so observing costs the services next to
//! nothing and the observation delay never enters a latency figure: latencies come from the
//! timestamps the services wrote (`jobs.finished_at`) against the wall-clock time the bench sent
//! StartJob (same machine, same clock). `--watch` follows every job with WatchJob instead, as
//! `shortline run` does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use chrono::NaiveDateTime;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use diesel::QueryableByName;
use shortline_db::DbPool;
use shortline_proto::v1::{self, orchestrator_service_client::OrchestratorServiceClient, start_job_request::Source};
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// How often the bench looks for ended jobs at concurrency 1; at concurrency C, every
/// `POLL_INTERVAL × ⌈√C⌉` (a poll asks for all C jobs, so its cost per second grows with √C only,
/// while jobs take longer at higher concurrency and a later refill matters less).
pub const POLL_INTERVAL: Duration = Duration::from_millis(2);

/// The poll interval at `concurrency`.
pub fn poll_interval(concurrency: usize) -> Duration {
    POLL_INTERVAL * ((concurrency.max(1) as f64).sqrt().ceil() as u32)
}
/// The longest a single job may take before the bench gives up.
pub const JOB_LIMIT: Duration = Duration::from_secs(300);

/// Statements the bench itself has sent (its poll, [`load_rows!`], [`execute_sql!`]): each is an
/// autocommit transaction that the server's counters mix with the services' ones.
pub static BENCH_STATEMENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Loads raw-SQL rows of type `$row` through `$pool`, on either backend.
macro_rules! load_rows {
    ($pool:expr, $sql:expr, $row:ty) => {{
        $crate::driver::BENCH_STATEMENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut pooled = $pool.get().await?;
        let mut conn = pooled.conn();
        let query = diesel::sql_query($sql);
        let rows: Vec<$row> = shortline_db::dispatch!(&mut conn, c => diesel_async::RunQueryDsl::load(query, c).await)?;
        rows
    }};
}
pub(crate) use load_rows;

/// Runs `$sql` (one or more statements, no results) through `$pool`, on either backend.
macro_rules! execute_sql {
    ($pool:expr, $sql:expr) => {{
        $crate::driver::BENCH_STATEMENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut pooled = $pool.get().await?;
        let mut conn = pooled.conn();
        let sql: &str = $sql;
        shortline_db::dispatch!(&mut conn, c => diesel_async::SimpleAsyncConnection::batch_execute(c, sql).await)?;
    }};
}
pub(crate) use execute_sql;

/// The theme every benchmark job runs with: inline, and approving its video by itself
/// (`auto_post`), so a job runs from StartJob to APPROVED without a human.
pub fn auto_post_theme() -> v1::Theme {
    v1::Theme {
        config: Some(v1::ThemeConfig {
            theme: "Reusable coffee cups".into(),
            target_platform: "tiktok".into(),
            video_duration_seconds: 12,
            style: "energetic".into(),
            auto_post: true,
            product_name: Some("LoopCup".into()),
            tagline: Some("Coffee without the waste".into()),
            target_audience: Some("commuters".into()),
            tone: Some("upbeat".into()),
            budget_usd: None,
            avatar: None,
            captions: 0,
            fresh_analysis: false,
        }),
        content_references: vec![v1::ContentReference {
            ref_id: "cup".into(),
            r#type: "product".into(),
            title: "LoopCup".into(),
            description: "A cup you return at any cafe".into(),
            media_url: None,
            talking_points: vec!["Return it anywhere".into(), "Keeps coffee hot".into()],
        }],
    }
}

pub fn start_request() -> v1::StartJobRequest {
    v1::StartJobRequest { source: Some(Source::Theme(auto_post_theme())), variants: 1, ..Default::default() }
}

/// How the bench learns a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observe {
    /// One query of the database every [`POLL_INTERVAL`] for all jobs in flight.
    Database,
    /// A WatchJob stream per job.
    Watch,
}

/// One submitted job.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub id: i64,
    /// Wall-clock (UTC) time just before StartJob was sent.
    pub sent_at: NaiveDateTime,
    /// From sending StartJob to the bench noticing the end (includes the observation delay).
    pub observed: Duration,
    /// The status it ended in.
    pub status: String,
}

/// Jobs the poller watches: id → who to tell.
type Waiters = Arc<Mutex<HashMap<i64, oneshot::Sender<String>>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Submits `count` pipeline jobs keeping `concurrency` in flight and returns them in
/// submission order, each ended (approved, or failed/cancelled/awaiting review).
pub async fn run_jobs(
    client: &OrchestratorServiceClient<Channel>,
    pool: &DbPool,
    count: usize,
    concurrency: usize,
    observe: Observe,
) -> anyhow::Result<Vec<Submitted>> {
    let waiters: Waiters = Arc::new(Mutex::new(HashMap::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    let interval = poll_interval(concurrency);
    let poller = (observe == Observe::Database)
        .then(|| tokio::spawn(poll(pool.clone(), waiters.clone(), stop.clone(), interval)));
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.clamp(1, count.max(1)) {
        let client = client.clone();
        let waiters = waiters.clone();
        let next = next.clone();
        workers.spawn(async move {
            let mut done = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    return Ok::<_, anyhow::Error>(done);
                }
                done.push((index, one_job(client.clone(), &waiters, observe).await?));
            }
        });
    }
    let mut all = Vec::with_capacity(count);
    let mut failure = None;
    while let Some(joined) = workers.join_next().await {
        match joined.context("a job driver panicked")? {
            Ok(done) => all.extend(done),
            Err(error) => {
                failure.get_or_insert(error);
                workers.abort_all();
            }
        }
    }
    stop.cancel();
    if let Some(poller) = poller {
        let _ = poller.await;
    }
    if let Some(error) = failure {
        return Err(error);
    }
    all.sort_by_key(|(index, _)| *index);
    Ok(all.into_iter().map(|(_, job)| job).collect())
}

async fn one_job(
    mut client: OrchestratorServiceClient<Channel>,
    waiters: &Waiters,
    observe: Observe,
) -> anyhow::Result<Submitted> {
    let sent_at = shortline_db::now();
    let started = Instant::now();
    let job = client.start_job(start_request()).await.context("StartJob")?.into_inner();
    let status = match observe {
        Observe::Database => {
            let (tell, told) = oneshot::channel();
            lock(waiters).insert(job.id, tell);
            match tokio::time::timeout(JOB_LIMIT, told).await {
                Ok(Ok(status)) => status,
                _ => bail!("job {} did not end within {} s", job.id, JOB_LIMIT.as_secs()),
            }
        }
        Observe::Watch => watch(&mut client, job.id).await?,
    };
    Ok(Submitted { id: job.id, sent_at, observed: started.elapsed(), status })
}

/// Follows WatchJob to its end and returns the job's last status.
async fn watch(client: &mut OrchestratorServiceClient<Channel>, job_id: i64) -> anyhow::Result<String> {
    let mut stream = client.watch_job(v1::WatchJobRequest { job_id }).await.context("WatchJob")?.into_inner();
    let mut last = v1::JobStatus::Unspecified;
    let followed = tokio::time::timeout(JOB_LIMIT, async {
        while let Some(event) = stream.message().await? {
            last = event.job_status();
        }
        Ok::<_, tonic::Status>(())
    })
    .await;
    match followed {
        Ok(Ok(())) => Ok(last.as_str_name().trim_start_matches("JOB_STATUS_").to_ascii_lowercase()),
        Ok(Err(status)) => Err(status).context("WatchJob stream"),
        Err(_) => bail!("job {job_id} did not end within {} s", JOB_LIMIT.as_secs()),
    }
}

/// The PostgreSQL backend serving the poll (0 on SQLite or before the first poll), so the CPU
/// profile can tell it from the services' backends.
pub static POLL_BACKEND_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Tells each waiter when its job has left `queued`/`running`.
///
/// One connection for the whole run (a checkout from the pool would add the pool's `SELECT 1`
/// check), and one static query that the connection keeps prepared: each poll is a single round
/// trip that PostgreSQL neither parses nor plans again — the bench's footprint on the database it
/// measures stays small.
async fn poll(pool: DbPool, waiters: Waiters, stop: tokio_util::sync::CancellationToken, interval: Duration) {
    use diesel::prelude::*;
    use shortline_db::schema::jobs;
    use shortline_db::JobStatus;
    let mut held = None;
    while !stop.is_cancelled() {
        let ids: Vec<i64> = lock(&waiters).keys().copied().collect();
        if !ids.is_empty() {
            if held.is_none() {
                held = pool.get().await.ok();
                if let Some(pooled) = held.as_mut() {
                    if let shortline_db::Conn::Postgres(c) = pooled.conn() {
                        let pid: Result<i32, _> = diesel_async::RunQueryDsl::get_result(
                            diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>("pg_backend_pid()")),
                            c,
                        )
                        .await;
                        if let Ok(pid) = pid {
                            POLL_BACKEND_PID.store(pid as u32, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
            }
            if let Some(pooled) = held.as_mut() {
                // `id = ANY($1)` on PostgreSQL: one prepared statement whatever the number of ids,
                // planned as a primary key lookup.
                let query = jobs::table
                    .filter(jobs::id.eq_any(ids))
                    .filter(jobs::status.ne(JobStatus::Queued))
                    .filter(jobs::status.ne(JobStatus::Running))
                    .select((jobs::id, jobs::status));
                BENCH_STATEMENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut conn = pooled.conn();
                let found: Result<Vec<(i64, String)>, diesel::result::Error> =
                    shortline_db::dispatch!(&mut conn, c => diesel_async::RunQueryDsl::load(query, c).await);
                match found {
                    Ok(rows) => {
                        let mut waiting = lock(&waiters);
                        for (id, status) in rows {
                            if let Some(tell) = waiting.remove(&id) {
                                let _ = tell.send(status);
                            }
                        }
                    }
                    Err(_) => held = None,
                }
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// A job's row as the services left it.
#[derive(Debug, Clone, QueryableByName)]
pub struct JobTimes {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Timestamp)]
    pub created_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    pub updated_at: NaiveDateTime,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub finished_at: Option<NaiveDateTime>,
}

/// A stage attempt's times.
#[derive(Debug, Clone, QueryableByName)]
pub struct StageTimes {
    #[diesel(sql_type = BigInt)]
    pub job_id: i64,
    #[diesel(sql_type = Text)]
    pub stage: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Timestamp)]
    pub started_at: NaiveDateTime,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub finished_at: Option<NaiveDateTime>,
}

/// The rows of jobs with ids in `first..=last`.
pub async fn job_times(pool: &DbPool, first: i64, last: i64) -> anyhow::Result<(Vec<JobTimes>, Vec<StageTimes>)> {
    let jobs = load_rows!(
        pool,
        format!(
            "SELECT id, created_at, updated_at, finished_at FROM jobs WHERE id BETWEEN {first} AND {last} ORDER BY id"
        ),
        JobTimes
    );
    let stages = load_rows!(
        pool,
        format!(
            "SELECT job_id, stage, status, started_at, finished_at FROM job_stages WHERE job_id BETWEEN {first} AND {last} ORDER BY id"
        ),
        StageTimes
    );
    Ok((jobs, stages))
}

/// Milliseconds from `a` to `b`.
pub fn ms_between(a: NaiveDateTime, b: NaiveDateTime) -> f64 {
    (b - a).num_microseconds().unwrap_or(0) as f64 / 1e3
}
