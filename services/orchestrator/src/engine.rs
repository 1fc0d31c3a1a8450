//! The job engine: claims queued jobs and drives each through its stages.
//!
//! Every stage attempt is a `job_stages` row (the checkpoint). A job resumes from its first
//! stage without a succeeded attempt; the stage RPCs are idempotent per `(job_id, variant)`, so a
//! resumed stage gets back what an earlier attempt already made instead of paying for it again.
//! A service that cannot be reached (UNAVAILABLE, or a connection that broke mid-call: it is
//! restarting or being rescheduled) or is at capacity (RESOURCE_EXHAUSTED) is retried for as long
//! as one attempt of the stage may take; DEADLINE_EXCEEDED and ABORTED are retried up to
//! `pipeline.max_attempts`;
//! both with exponential backoff and jitter. The rest fail the job at once, naming the stage and
//! the reason.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use shortline_config::PipelineConfig;
use shortline_db::{
    self as db, DbError, DbPool, Job, JobKind, JobStatus, Lease, NewJob, NewJobStage, StageName, StageStatus,
};
use shortline_grpc::convert::stages_of;
use shortline_telemetry::metrics;
use tokio::sync::{broadcast, Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::clients::Clients;
use crate::error::{RequestError, Result};
use crate::lineage::{EventType, Lineage};
use crate::stages::Stages;

/// How often the engine looks for queued jobs when nobody wakes it.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

pub struct Engine {
    pub(crate) pool: DbPool,
    pub(crate) stages: Stages,
    pipeline: PipelineConfig,
    max_concurrent_jobs: usize,
    /// This worker's name on leases and stage attempts.
    worker: String,
    wake: Notify,
    /// The jobs this process is running: their leases and cancellation handles.
    running: Mutex<HashMap<i64, (Lease, CancellationToken)>>,
    /// The id of every job this process just changed, so WatchJob answers at once instead of
    /// at its next look at the database (which still catches other replicas' changes).
    changes: broadcast::Sender<i64>,
    /// OpenLineage events of jobs and stage attempts (a no-op when off).
    lineage: Lineage,
}

/// How a stage ended when it did not succeed.
enum Halt {
    Cancelled,
    Failed(String),
}

impl Engine {
    pub fn new(pool: DbPool, stages: Stages, pipeline: PipelineConfig, lineage: Lineage) -> Self {
        let (changes, _) = broadcast::channel(1024);
        Engine {
            pool,
            stages,
            max_concurrent_jobs: pipeline.max_concurrent_jobs.max(1) as usize,
            pipeline,
            changes,
            worker: worker_name(),
            wake: Notify::new(),
            running: Mutex::new(HashMap::new()),
            lineage,
        }
    }

    pub fn clients(&self) -> &Clients {
        &self.stages.clients
    }

    /// Tells the engine a job was queued, so it does not wait for its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Announces that a job's state changed (stage attempt or status).
    pub fn changed(&self, job_id: i64) {
        let _ = self.changes.send(job_id);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.changes.subscribe()
    }

    /// Stops the job's running stage, if this process runs it.
    pub fn cancel_running(&self, job_id: i64) {
        if let Some((_, token)) = self.lock_running().get(&job_id) {
            token.cancel();
        }
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<i64, (Lease, CancellationToken)>> {
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Claims and runs jobs until `shutdown`; then lets running jobs finish within the grace
    /// period and puts the unfinished ones back in the queue.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let permits = Arc::new(Semaphore::new(self.max_concurrent_jobs));
        let mut tasks = JoinSet::new();
        let mut claims = StateChange::default();
        loop {
            let permit = tokio::select! {
                permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                _ = shutdown.cancelled() => break,
            };
            let claimed = self.claim().await;
            if claims.changed_to(claimed.is_ok()) {
                match &claimed {
                    Ok(_) => info!("claiming jobs again"),
                    // Said once per outage, not per poll; the error names the database's host and port.
                    Err(error) => warn!(%error, "cannot claim jobs; retrying quietly until it works"),
                }
            }
            match claimed {
                Ok(Some((job, lease, taken_from))) => {
                    let engine = self.clone();
                    tasks.spawn(async move {
                        engine.run_job(job, lease, taken_from).await;
                        drop(permit);
                    });
                    continue;
                }
                Ok(None) => drop(permit),
                Err(error) => {
                    debug!(%error, "cannot claim a job");
                    drop(permit);
                }
            }
            while tasks.try_join_next().is_some() {}
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        self.drain(tasks).await;
    }

    async fn drain(&self, mut tasks: JoinSet<()>) {
        let grace = self.pipeline.shutdown_grace();
        if tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await.is_ok() {
            return;
        }
        let unfinished: Vec<Lease> = self.lock_running().values().map(|(lease, _)| lease.clone()).collect();
        warn!(jobs = ?unfinished.iter().map(|l| l.job_id).collect::<Vec<_>>(), "shutdown grace period over: stopping running stages and releasing their jobs");
        for (_, token) in self.lock_running().values() {
            token.cancel();
        }
        tasks.shutdown().await;
        for lease in unfinished {
            self.release(&lease).await;
        }
    }

    /// Puts a job back in the queue for any worker, if the lease is still ours.
    async fn release(&self, lease: &Lease) {
        let released = async {
            let mut pooled = self.pool.get().await?;
            db::jobs::release(
                &mut pooled.conn(),
                lease,
                &format!("worker {} stopped; the job went back to the queue", self.worker),
            )
            .await
        };
        match released.await {
            Ok(true) => info!(job_id = lease.job_id, "lease released"),
            Ok(false) => {}
            Err(error) => warn!(job_id = lease.job_id, %error, "cannot release the lease; it will expire"),
        }
    }

    async fn claim(&self) -> Result<Option<(Job, Lease, Option<String>)>> {
        let mut pooled = self.pool.get().await?;
        Ok(db::jobs::claim_next(&mut pooled.conn(), &self.worker, self.pipeline.lease()).await?)
    }

    /// Runs a claimed job to its next resting state (awaiting review, succeeded, failed or
    /// cancelled) while a heartbeat renews its lease. Losing the lease (a takeover after a
    /// stall, or a cancel) stops the work; every write is fenced by the lease anyway.
    pub async fn run_job(&self, job: Job, lease: Lease, taken_from: Option<String>) {
        let token = CancellationToken::new();
        self.lock_running().insert(job.id, (lease.clone(), token.clone()));
        let span = info_span!("job", job_id = job.id, kind = %job.kind, worker = %self.worker);
        // The job's first run is its trace's root; later runs (a resume, a takeover, a retry)
        // continue that trace under it.
        shortline_telemetry::otel::set_remote_parent(&span, job.trace_parent.as_deref(), None);
        self.adopt_trace(&job, &lease, &span).await;
        let drive = self.drive(&job, &lease, taken_from.as_deref(), &token).instrument(span);
        let outcome = with_heartbeat(&self.pool, &lease, self.pipeline.lease(), &token, drive).await;
        self.changed(job.id);
        self.lock_running().remove(&job.id);
        match outcome {
            Ok(()) => {}
            Err(RequestError::Db(DbError::LeaseLost { .. })) => {
                info!(job_id = job.id, "lease lost: another worker owns the job now");
            }
            Err(error) => {
                // The job could not even record its outcome (e.g. the database is away): hand it
                // back so the next claim (here or on another worker) resumes it.
                warn!(job_id = job.id, %error, "job interrupted; releasing it");
                self.release(&lease).await;
            }
        }
    }

    /// Records `span`'s trace as the job's (when tracing is on and the job has none yet), so
    /// every later run joins it and `shortline show` names it. Tracing never fails a job: an
    /// error here is only logged.
    async fn adopt_trace(&self, job: &Job, lease: &Lease, span: &tracing::Span) {
        if job.trace_parent.is_some() {
            return;
        }
        let Some(traceparent) = shortline_telemetry::otel::traceparent_of(span) else { return };
        let adopted = async {
            let mut pooled = self.pool.get().await?;
            db::jobs::adopt_trace(&mut pooled.conn(), lease, &traceparent).await
        };
        if let Err(error) = adopted.instrument(span.clone()).await {
            warn!(job_id = job.id, %error, "cannot record the job's trace id");
        }
    }

    async fn drive(&self, job: &Job, lease: &Lease, taken_from: Option<&str>, token: &CancellationToken) -> Result<()> {
        if let Some(previous) = taken_from {
            let mut pooled = self.pool.get().await?;
            if job.kind != JobKind::Pipeline {
                // An inline job answered one request, and whoever asked went away with the worker
                // that ran it: end it instead of running it again for nobody.
                let stage = stages_of(job.kind)[0];
                let reason = format!(
                    "worker {previous} stopped while running it inline (its lease expired); worker {} closed it",
                    self.worker
                );
                if db::jobs::fail_held(&mut pooled.conn(), lease, stage, &reason).await? {
                    info!(job_id = job.id, %reason, "closed an abandoned inline job");
                }
                return Ok(());
            }
            let reason = format!("lease of worker {previous} expired; worker {} took the job over", self.worker);
            let closed = db::job_stages::abandon_open(&mut pooled.conn(), lease, &reason).await?;
            info!(job_id = job.id, closed, "took over the job");
            metrics::global().lease_takeovers.inc();
        }
        let attempts = {
            let mut pooled = self.pool.get().await?;
            db::job_stages::list_for_job(&mut pooled.conn(), job.id).await?
        };
        if attempts.is_empty() {
            // The job's lineage run starts with its first stage; a resume continues that run.
            self.lineage.job(EventType::Start, job.id, job.kind, None);
        }
        for &stage in stages_of(job.kind) {
            if db::job_stages::is_done(&attempts, stage) {
                continue;
            }
            if token.is_cancelled() {
                return Ok(()); // cancelled, or the lease is gone
            }
            if stage == StageName::Review {
                self.stages.enter_review(job, lease, &self.worker, &attempts).await?;
                // The pipeline has made what it makes; the review is a person's decision.
                self.lineage.job(EventType::Complete, job.id, job.kind, None);
                return Ok(());
            }
            let earlier = attempts.iter().filter(|a| a.stage == stage).map(|a| a.attempt).max().unwrap_or(0);
            match self.run_stage(job, lease, stage, earlier, token).await? {
                Ok(()) => {}
                Err(Halt::Cancelled) => {
                    // A cancel ends the run; a lost lease or a shutdown hands it on.
                    let mut pooled = self.pool.get().await?;
                    if db::jobs::find(&mut pooled.conn(), job.id).await?.status == JobStatus::Cancelled {
                        self.lineage.job(EventType::Abort, job.id, job.kind, None);
                    }
                    return Ok(());
                }
                Err(Halt::Failed(reason)) => {
                    let mut pooled = self.pool.get().await?;
                    let to = JobStatus::Failed;
                    let failed = db::jobs::transition(
                        &mut pooled.conn(),
                        job.id,
                        &[JobStatus::Running],
                        to,
                        Some(lease),
                        Some(stage),
                        Some(&reason),
                    )
                    .await?;
                    if failed.is_some() {
                        info!(job_id = job.id, %stage, %reason, "job failed");
                        self.lineage.job(EventType::Fail, job.id, job.kind, Some(&format!("{stage}: {reason}")));
                    }
                    return Ok(());
                }
            }
        }
        let mut pooled = self.pool.get().await?;
        let succeeded = db::jobs::transition(
            &mut pooled.conn(),
            job.id,
            &[JobStatus::Running],
            JobStatus::Succeeded,
            Some(lease),
            None,
            None,
        )
        .await?;
        if succeeded.is_some() {
            self.lineage.job(EventType::Complete, job.id, job.kind, None);
        }
        Ok(())
    }

    /// Runs a one-stage job inline (collect or analyse now, the scheduled refresh): the job is
    /// created running under a lease this process renews while the work runs, its stage row
    /// records the outcome, and the job ends succeeded or failed. Should the caller go away
    /// first (its deadline passed, it cancelled), this future is dropped and the job is ended
    /// as failed; should the process die, the lease expires and another worker ends it.
    /// Returns the job's id and the stage's result.
    pub async fn run_inline<T, F, Fut>(&self, kind: JobKind, label: &str, stage: StageName, work: F) -> Result<(i64, T)>
    where
        F: FnOnce(i64) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let (job, lease, row) = {
            let mut pooled = self.pool.get().await?;
            let conn = &mut pooled.conn();
            let new = NewJob::queued(kind, label, None, 1);
            let (job, lease) = db::jobs::insert_leased(conn, &new, &self.worker, self.pipeline.lease()).await?;
            let attempt = NewJobStage::running(job.id, stage, 1).by(&self.worker);
            match db::job_stages::start_fenced(conn, &lease, &attempt).await {
                Ok(row) => (job, lease, row),
                Err(error) => {
                    // Nothing ran yet; a job left running would wait for its lease to expire.
                    let reason = format!("cannot record its stage: {error}");
                    let _ = db::jobs::fail_held(conn, &lease, stage, &reason).await;
                    return Err(error.into());
                }
            }
        };
        self.changed(job.id);
        // An inline job's trace is its caller's: its span is a child of the request's.
        let span = info_span!("job", job_id = job.id, kind = %job.kind, worker = %self.worker);
        self.adopt_trace(&job, &lease, &span).await;
        let attempt_span = info_span!(parent: &span, "stage_attempt", job_id = job.id, stage = %stage, attempt = 1);
        self.lineage.job(EventType::Start, job.id, job.kind, None);
        self.lineage.stage(EventType::Start, job.id, job.kind, stage, 1, None);
        let unanswered = EndIfDropped::new(self, &lease, stage);
        let token = CancellationToken::new();
        let outcome = with_heartbeat(&self.pool, &lease, self.pipeline.lease(), &token, async {
            tokio::select! {
                outcome = work(job.id) => outcome,
                _ = token.cancelled() => Err(RequestError::FailedPrecondition(format!(
                    "job {} was cancelled before {stage} finished", job.id
                ))),
            }
        })
        .instrument(attempt_span)
        .await;
        unanswered.disarm();
        let mut pooled = self.pool.get().await?;
        let conn = &mut pooled.conn();
        match &outcome {
            Ok(_) => {
                db::job_stages::finish_fenced(conn, &lease, row.id, StageStatus::Succeeded, None, None).await?;
                let running = [JobStatus::Running];
                db::jobs::transition(conn, job.id, &running, JobStatus::Succeeded, Some(&lease), None, None).await?;
                self.lineage.stage(EventType::Complete, job.id, job.kind, stage, 1, None);
                self.lineage.job(EventType::Complete, job.id, job.kind, None);
            }
            Err(error) => {
                let reason = describe(error);
                db::jobs::fail_held(conn, &lease, stage, &reason).await?;
                self.lineage.stage(EventType::Fail, job.id, job.kind, stage, 1, Some(&reason));
                self.lineage.job(EventType::Fail, job.id, job.kind, Some(&format!("{stage}: {reason}")));
            }
        }
        self.changed(job.id);
        outcome.map(|value| (job.id, value))
    }

    /// Runs one stage, retrying what may pass on a second try. The outer `Result` is for
    /// failures to record progress at all; the inner one is the stage's outcome.
    async fn run_stage(
        &self,
        job: &Job,
        lease: &Lease,
        stage: StageName,
        earlier_attempts: i32,
        token: &CancellationToken,
    ) -> Result<std::result::Result<(), Halt>> {
        let deadline = self.stage_deadline(stage);
        let mut backoff = self.pipeline.backoff_initial();
        let mut attempt = earlier_attempts + 1;
        let mut counted_failures = 0;
        // When the service became unreachable, while it still is.
        let mut unreachable_since: Option<Instant> = None;
        loop {
            // One span per attempt, siblings under the job's span; it ends before the backoff.
            let attempt_span = info_span!(
                "stage_attempt",
                job_id = job.id,
                stage = %stage,
                attempt,
                outcome = tracing::field::Empty,
                error = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
            );
            let row = async {
                let mut pooled = self.pool.get().await?;
                let new = NewJobStage::running(job.id, stage, attempt).by(&self.worker);
                Ok::<_, RequestError>(db::job_stages::start_fenced(&mut pooled.conn(), lease, &new).await?)
            }
            .instrument(attempt_span.clone())
            .await?;
            self.changed(job.id);
            info!(job_id = job.id, %stage, attempt, "stage started");
            let lineage =
                |event, error: Option<&str>| self.lineage.stage(event, job.id, job.kind, stage, attempt, error);
            lineage(EventType::Start, None);
            let started = Instant::now();
            let record = |outcome: &str| {
                attempt_span.record("outcome", outcome);
                metrics::global().stage_attempt(stage.as_str(), outcome, started.elapsed())
            };
            let execute = self.stages.execute(job, stage, deadline).instrument(attempt_span.clone());
            let outcome = tokio::select! {
                outcome = tokio::time::timeout(deadline, execute) => match outcome {
                    Ok(result) => result.map_err(|e| (retry_of(&e), describe(&e))),
                    Err(_) => Err((Retry::Counted, format!("{stage} did not finish within {} s", deadline.as_secs()))),
                },
                _ = token.cancelled() => {
                    // After a cancel the fence refuses this write (the job is no longer running);
                    // the attempt is closed by whoever resumes or by the cancel itself.
                    record("cancelled");
                    let finish = self.finish(lease, row.id, StageStatus::Cancelled, Some("cancelled"), None);
                    let _ = finish.instrument(attempt_span.clone()).await;
                    lineage(EventType::Abort, None);
                    return Ok(Err(Halt::Cancelled));
                }
            };
            let (retry, reason) = match outcome {
                Ok(output_ref) => {
                    record("succeeded");
                    let finish = self.finish(lease, row.id, StageStatus::Succeeded, None, Some(&output_ref));
                    finish.instrument(attempt_span.clone()).await?;
                    lineage(EventType::Complete, None);
                    info!(job_id = job.id, %stage, attempt, output = %output_ref, "stage succeeded");
                    return Ok(Ok(()));
                }
                Err(failure) => failure,
            };
            record("failed");
            attempt_span.record("error", reason.as_str());
            attempt_span.record("otel.status_code", "error");
            self.finish(lease, row.id, StageStatus::Failed, Some(&reason), None)
                .instrument(attempt_span.clone())
                .await?;
            lineage(EventType::Fail, Some(&reason));
            drop(attempt_span);
            // What is left of the window in which an unreachable service may come back.
            let mut window_left = None;
            match retry {
                Retry::Never => return Ok(Err(Halt::Failed(reason))),
                Retry::Counted => {
                    unreachable_since = None;
                    counted_failures += 1;
                    if counted_failures >= self.pipeline.max_attempts {
                        return Ok(Err(Halt::Failed(reason)));
                    }
                }
                Retry::UntilDeadline => {
                    let since = *unreachable_since.get_or_insert_with(Instant::now);
                    let left = deadline.saturating_sub(since.elapsed());
                    if left.is_zero() {
                        let waited = since.elapsed().as_secs();
                        return Ok(Err(Halt::Failed(format!("{reason} (still unreachable after {waited} s)"))));
                    }
                    window_left = Some(left);
                }
            }
            warn!(job_id = job.id, %stage, attempt, %reason, "stage failed; retrying");
            metrics::global().stage_retries.get_or_create(&metrics::StageLabels { stage: stage.to_string() }).inc();
            let pause = window_left.map_or(jittered(backoff), |left| jittered(backoff).min(left));
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = token.cancelled() => return Ok(Err(Halt::Cancelled)),
            }
            backoff = (backoff * 2).min(self.pipeline.backoff_max());
            attempt += 1;
        }
    }

    async fn finish(
        &self,
        lease: &Lease,
        id: i64,
        status: StageStatus,
        error: Option<&str>,
        output_ref: Option<&str>,
    ) -> Result<()> {
        let mut pooled = self.pool.get().await?;
        db::job_stages::finish_fenced(&mut pooled.conn(), lease, id, status, error, output_ref).await?;
        self.changed(lease.job_id);
        Ok(())
    }

    fn stage_deadline(&self, stage: StageName) -> Duration {
        self.pipeline.stage_timeout_seconds.get(stage.as_str()).unwrap_or(Duration::from_secs(300))
    }
}

/// Whether something works, remembered so that a log line is written when that changes rather
/// than on every retry. It starts out working, so the first failure is reported.
#[derive(Debug)]
struct StateChange {
    working: bool,
}

impl Default for StateChange {
    fn default() -> Self {
        Self { working: true }
    }
}

impl StateChange {
    /// Records the latest outcome; true when it differs from the previous one.
    fn changed_to(&mut self, working: bool) -> bool {
        std::mem::replace(&mut self.working, working) != working
    }
}

/// Runs `work` while a heartbeat renews `lease` for `duration` at a time. The renewals are part
/// of this future, so they end with the work however it ends (done, an error, a panic, or
/// dropped) and never outlive it. A lost lease cancels `token`, for the work to stop.
async fn with_heartbeat<T>(
    pool: &DbPool,
    lease: &Lease,
    duration: Duration,
    token: &CancellationToken,
    work: impl std::future::Future<Output = T>,
) -> T {
    tokio::select! {
        output = work => output,
        never = heartbeat(pool, lease, duration, token) => match never {},
    }
}

/// Renews the lease while the job runs; cancels the work when the lease is lost (another worker
/// took the job over, or it was cancelled). Renewals come often enough that a cancel on another
/// replica stops the running stage within a couple of seconds.
/// Never returns: once the lease is lost it only waits for the work to stop.
async fn heartbeat(pool: &DbPool, lease: &Lease, duration: Duration, token: &CancellationToken) -> Infallible {
    let interval = (duration / 3).min(Duration::from_secs(2)).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(interval).await;
        let renewed = async {
            let mut pooled = pool.get().await?;
            db::jobs::renew(&mut pooled.conn(), lease, duration).await
        };
        match renewed.await {
            Ok(true) => {}
            Ok(false) => {
                info!(job_id = lease.job_id, "lease lost or job cancelled: stopping its work");
                token.cancel();
                return std::future::pending().await;
            }
            // A passing database error: the next beat tries again; if the lease expires meanwhile
            // the renewal says so.
            Err(error) => warn!(job_id = lease.job_id, %error, "cannot renew the lease"),
        }
    }
}

/// Ends an inline job as failed when its run is dropped before it finished (the request's
/// deadline passed, or its caller went away): dropping a future cannot wait for a write, so the
/// write goes to a task of its own. If even that cannot happen (the process is exiting), the
/// job's lease expires and another worker ends it.
struct EndIfDropped {
    unfinished: Option<(DbPool, Lease, StageName, broadcast::Sender<i64>)>,
}

impl EndIfDropped {
    fn new(engine: &Engine, lease: &Lease, stage: StageName) -> Self {
        EndIfDropped { unfinished: Some((engine.pool.clone(), lease.clone(), stage, engine.changes.clone())) }
    }

    /// The run finished and records its own outcome.
    fn disarm(mut self) {
        self.unfinished = None;
    }
}

impl Drop for EndIfDropped {
    fn drop(&mut self) {
        let Some((pool, lease, stage, changes)) = self.unfinished.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(async move {
            let reason = format!("the request ended before {stage} finished (its deadline passed or its caller left)");
            let ended = async {
                let mut pooled = pool.get().await?;
                db::jobs::fail_held(&mut pooled.conn(), &lease, stage, &reason).await
            };
            match ended.await {
                Ok(_) => {
                    info!(job_id = lease.job_id, %reason, "inline job ended");
                    let _ = changes.send(lease.job_id);
                }
                Err(error) => warn!(job_id = lease.job_id, %error, "cannot end the inline job; its lease will expire"),
            }
        });
    }
}

/// `host-pid-random`: unique per process, readable in the audit trail.
fn worker_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_owned()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}-{}-{:04x}", std::process::id(), rand::rng().random::<u16>())
}

/// Half to full of the nominal backoff, so retrying replicas spread out.
fn jittered(backoff: Duration) -> Duration {
    let factor = rand::rng().random_range(0.5..=1.0);
    backoff.mul_f64(factor)
}

/// How a failed stage attempt may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// The service or the database could not be reached, or the connection broke mid-call (it is
    /// restarting or being rescheduled), or the service is at capacity (RESOURCE_EXHAUSTED: its
    /// work slots are full, and a slot frees when a render ends). Retried for as long as one
    /// attempt of the stage may take (its deadline), however many attempts that is.
    UntilDeadline,
    /// The call failed in a way a second try may pass: retried up to `pipeline.max_attempts`.
    Counted,
    Never,
}

fn retry_of(error: &RequestError) -> Retry {
    use tonic::Code;
    match error {
        RequestError::Downstream { status, .. } => {
            // A broken connection is UNAVAILABLE by now (`RequestError::downstream`).
            if matches!(status.code(), Code::Unavailable | Code::ResourceExhausted) {
                Retry::UntilDeadline
            } else if matches!(status.code(), Code::DeadlineExceeded | Code::Aborted) {
                // tonic's own client timeout (CANCELLED "Timeout expired", made with no source) is
                // already DEADLINE_EXCEEDED here: `RequestError::downstream` maps it at the call.
                Retry::Counted
            } else {
                Retry::Never
            }
        }
        RequestError::Db(DbError::Unavailable(_)) => Retry::UntilDeadline,
        _ => Retry::Never,
    }
}

/// The reason recorded on a failed attempt: readable, naming the service that refused.
fn describe(error: &RequestError) -> String {
    error.to_string()
}

#[cfg(test)]
mod tests {
    use shortline_db::PoolOptions;
    use tonic::{Code, Status};

    use super::*;

    // Issue 16: without its database the claim loop warned on every poll (twice a second).
    #[test]
    fn claim_failures_are_reported_once_per_outage() {
        let mut claims = StateChange::default();
        assert!(!claims.changed_to(true), "working as before: nothing to say");
        assert!(claims.changed_to(false), "the first failure is reported");
        assert!(!claims.changed_to(false), "the retries are not");
        assert!(!claims.changed_to(false));
        assert!(claims.changed_to(true), "the recovery is reported");
        assert!(claims.changed_to(false), "and the next outage again");
    }

    async fn lease_expiry(pool: &DbPool, job_id: i64) -> chrono::NaiveDateTime {
        let mut pooled = pool.get().await.expect("connection");
        db::jobs::find(&mut pooled.conn(), job_id).await.expect("job").lease_expires_at.expect("a lease")
    }

    // Issue 12 item 13: the heartbeat was a detached task aborted only after the job returned,
    // so a job that panicked (or was dropped) had its lease renewed forever.
    #[tokio::test]
    async fn the_heartbeat_ends_with_its_job_even_when_the_job_panics() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("engine.db").display());
        db::migrations::run_pending(&url).await.expect("migrate");
        let pool = DbPool::connect(&url, &PoolOptions::default()).expect("pool");
        let lease_duration = Duration::from_millis(300); // renewed every 100 ms
        let (job, lease) = {
            let mut pooled = pool.get().await.expect("connection");
            let new = NewJob::queued(JobKind::TrendRefresh, "heartbeat", None, 1);
            db::jobs::insert_leased(&mut pooled.conn(), &new, "test", lease_duration).await.expect("job")
        };
        let first_expiry = lease_expiry(&pool, job.id).await;

        let run = {
            let (pool, lease) = (pool.clone(), lease.clone());
            tokio::spawn(async move {
                let work = async {
                    tokio::time::sleep(lease_duration).await;
                    panic!("the job's work panicked");
                };
                with_heartbeat(&pool, &lease, lease_duration, &CancellationToken::new(), work).await
            })
        };
        assert!(run.await.expect_err("the work panicked").is_panic());
        let expiry_at_the_end = lease_expiry(&pool, job.id).await;
        assert!(expiry_at_the_end > first_expiry, "the lease was renewed while the work ran");

        tokio::time::sleep(lease_duration * 2).await; // six renewal intervals
        assert_eq!(lease_expiry(&pool, job.id).await, expiry_at_the_end, "the lease was renewed after its job ended");
    }

    /// A failed call as the engine sees it: through the clients' one reading of failures.
    fn downstream(status: Status) -> RequestError {
        RequestError::downstream("composer")(status)
    }

    #[test]
    fn a_broken_connection_is_retried_while_unreachable_whatever_its_code() {
        let reset = Status::from_error(Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset)));
        assert_eq!(reset.code(), Code::Unknown);
        assert_eq!(retry_of(&downstream(reset)), Retry::UntilDeadline);
        assert_eq!(retry_of(&downstream(Status::unavailable("restarting"))), Retry::UntilDeadline);
    }

    #[test]
    fn statuses_a_server_sent_are_judged_by_their_code_not_their_words() {
        // The words of a transport error in a server's own message make no retry.
        for code in [Code::Unknown, Code::Cancelled, Code::Internal, Code::InvalidArgument] {
            let status = Status::new(code, "h2 protocol error: transport error");
            assert_eq!(retry_of(&downstream(status)), Retry::Never, "{code:?}");
        }
        for code in [Code::DeadlineExceeded, Code::Aborted] {
            assert_eq!(retry_of(&downstream(Status::new(code, "busy"))), Retry::Counted, "{code:?}");
        }
        // A service whose work slots are full frees one when a render ends: waited for like a
        // restart, not counted against max_attempts.
        for code in [Code::ResourceExhausted, Code::Unavailable] {
            assert_eq!(retry_of(&downstream(Status::new(code, "busy"))), Retry::UntilDeadline, "{code:?}");
        }
        assert_eq!(retry_of(&RequestError::Internal("bug".into())), Retry::Never);
    }
}
