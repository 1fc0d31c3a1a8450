//! `jobs`: a pipeline run, a scheduled trend refresh or an on-demand analysis.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::expression::SqlLiteral;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Timestamp};
use diesel_async::RunQueryDsl;

use super::job_stages::StageName;
use super::text_enum;
use crate::dispatch;
use crate::schema::jobs;
use crate::{Backend, Conn, DbResult};

text_enum!(
    /// What a job does.
    JobKind { Pipeline => "pipeline", TrendRefresh => "trend_refresh", TrendAnalysis => "trend_analysis" }
);

text_enum!(
    /// queued -> running -> awaiting_review -> approved | rejected, or failed / cancelled;
    /// jobs without a review (trend refresh, analysis) end `succeeded`.
    JobStatus {
        Queued => "queued",
        Running => "running",
        AwaitingReview => "awaiting_review",
        Approved => "approved",
        Rejected => "rejected",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

impl JobStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Approved | JobStatus::Rejected | JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = jobs)]
pub struct Job {
    pub id: i64,
    pub kind: JobKind,
    pub status: JobStatus,
    pub theme_name: String,
    pub theme: Option<serde_json::Value>,
    pub variants: i32,
    pub client_request_id: Option<String>,
    pub failed_stage: Option<StageName>,
    pub error: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    /// The worker that owns the running job, its fencing token, and until when.
    pub lease_owner: Option<String>,
    pub lease_token: Option<String>,
    pub lease_expires_at: Option<NaiveDateTime>,
    /// The authenticated user who started the job; `None` without authentication or for jobs
    /// the scheduler started.
    pub started_by: Option<String>,
    /// The W3C `traceparent` of the job's root span: the job's trace, continued by every run of
    /// it; `None` until it first ran with tracing on.
    pub trace_parent: Option<String>,
}

/// A worker's hold on a running job. Every write the worker makes for the job checks the token
/// (see [`fence`]), so a worker that stalled past its lease cannot write after a takeover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub job_id: i64,
    pub owner: String,
    pub token: String,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = jobs, treat_none_as_default_value = false)]
pub struct NewJob {
    pub kind: JobKind,
    pub status: JobStatus,
    pub theme_name: String,
    pub theme: Option<serde_json::Value>,
    pub variants: i32,
    pub client_request_id: Option<String>,
    pub started_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl NewJob {
    pub fn queued(
        kind: JobKind,
        theme_name: impl Into<String>,
        theme: Option<serde_json::Value>,
        variants: i32,
    ) -> Self {
        let now = crate::now();
        NewJob {
            kind,
            status: JobStatus::Queued,
            theme_name: theme_name.into(),
            theme,
            variants,
            client_request_id: None,
            started_by: None,
            created_at: now,
            updated_at: now,
        }
    }
}

pub async fn insert(conn: &mut Conn<'_>, new: &NewJob) -> DbResult<Job> {
    Ok(
        dispatch!(conn, c => diesel::insert_into(jobs::table).values(new).returning(Job::as_returning()).get_result(c).await)?,
    )
}

/// Inserts the job unless one with the same `client_request_id` exists; returns the job and
/// whether it was created. Safe under concurrency: the unique index decides.
pub async fn insert_idempotent(conn: &mut Conn<'_>, new: &NewJob) -> DbResult<(Job, bool)> {
    let inserted = dispatch!(conn, c => diesel::insert_into(jobs::table)
        .values(new)
        .on_conflict_do_nothing()
        .returning(Job::as_returning())
        .get_result(c)
        .await
        .optional())?;
    match (inserted, &new.client_request_id) {
        (Some(job), _) => Ok((job, true)),
        (None, Some(key)) => Ok((find_by_client_request_id(conn, key).await?, false)),
        (None, None) => Err(crate::DbError::Internal("insert of a job without a request id was ignored".into())),
    }
}

pub async fn find(conn: &mut Conn<'_>, id: i64) -> DbResult<Job> {
    Ok(dispatch!(conn, c => jobs::table.find(id).select(Job::as_select()).first(c).await)?)
}

pub async fn find_by_client_request_id(conn: &mut Conn<'_>, key: &str) -> DbResult<Job> {
    Ok(dispatch!(conn, c => jobs::table
        .filter(jobs::client_request_id.eq(key))
        .select(Job::as_select())
        .first(c)
        .await)?)
}

/// Newest first; `before_id` is the keyset page token (the last id of the previous page).
pub async fn list(
    conn: &mut Conn<'_>,
    status: Option<JobStatus>,
    kind: Option<JobKind>,
    before_id: Option<i64>,
    limit: i64,
) -> DbResult<Vec<Job>> {
    // A list is a summary: `theme` is not read (left `None`), so however large a stored theme,
    // a page stays small.
    let summary = (
        jobs::id,
        jobs::kind,
        jobs::status,
        jobs::theme_name,
        diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Json>>("NULL"),
        jobs::variants,
        jobs::client_request_id,
        jobs::failed_stage,
        jobs::error,
        jobs::created_at,
        jobs::updated_at,
        jobs::finished_at,
        jobs::lease_owner,
        jobs::lease_token,
        jobs::lease_expires_at,
        jobs::started_by,
        jobs::trace_parent,
    );
    Ok(dispatch!(conn, c => {
        let mut query = jobs::table.select(summary).order(jobs::id.desc()).limit(limit).into_boxed();
        if let Some(status) = status {
            query = query.filter(jobs::status.eq(status));
        }
        if let Some(kind) = kind {
            query = query.filter(jobs::kind.eq(kind));
        }
        if let Some(before_id) = before_id {
            query = query.filter(jobs::id.lt(before_id));
        }
        query.load(c).await
    })?)
}

/// Whether a job exists: services check it so an unknown job is NOT_FOUND, not an empty list.
/// What the job's rows record as spent on providers, in micro-USD: its trend report, scripts and
/// media assets (a video's costs are sums of these).
pub async fn spent_micros(conn: &mut Conn<'_>, id: i64) -> DbResult<i64> {
    use crate::schema::{media_assets, scripts, trend_reports};
    let reports: Vec<i64> = dispatch!(conn, c => trend_reports::table
        .filter(trend_reports::job_id.eq(id))
        .select(trend_reports::cost_micros)
        .load(c)
        .await)?;
    let scripts: Vec<i64> =
        dispatch!(conn, c => scripts::table.filter(scripts::job_id.eq(id)).select(scripts::cost_micros).load(c).await)?;
    let assets: Vec<i64> = dispatch!(conn, c => media_assets::table
        .filter(media_assets::job_id.eq(id))
        .select(media_assets::cost_micros)
        .load(c)
        .await)?;
    Ok(reports.iter().chain(&scripts).chain(&assets).fold(0i64, |sum, cost| sum.saturating_add(*cost)))
}

/// How many jobs are in each status (statuses without jobs are absent): the jobs metric.
pub async fn count_by_status(conn: &mut Conn<'_>) -> DbResult<Vec<(String, i64)>> {
    Ok(dispatch!(conn, c => jobs::table
        .group_by(jobs::status)
        .select((jobs::status, diesel::dsl::count_star()))
        .load(c)
        .await)?)
}

pub async fn exists(conn: &mut Conn<'_>, id: i64) -> DbResult<bool> {
    let found: Option<i64> = dispatch!(conn, c => jobs::table.find(id).select(jobs::id).first(c).await.optional())?;
    Ok(found.is_some())
}

/// Claims the oldest claimable job for `owner` for `lease`: a queued one, or a running one whose
/// lease expired (its worker died or stalled). Returns the job, its lease, and — when it was
/// taken over — the worker whose lease expired. On PostgreSQL concurrent claimers skip each other's rows
/// (`FOR UPDATE SKIP LOCKED`); SQLite's immediate transaction serialises them.
pub async fn claim_next(
    conn: &mut Conn<'_>,
    owner: &str,
    lease: Duration,
) -> DbResult<Option<(Job, Lease, Option<String>)>> {
    let now = crate::now();
    let token = uuid::Uuid::new_v4().to_string();
    let backend = conn.backend();
    crate::transaction!(conn, |tx| {
        let expired = jobs::lease_expires_at.lt(database_time(backend, Duration::ZERO));
        let claimable = jobs::status.eq(JobStatus::Queued).or(jobs::status.eq(JobStatus::Running).and(expired));
        let columns = (jobs::id, jobs::status, jobs::lease_owner);
        let next: Option<(i64, JobStatus, Option<String>)> = match tx {
            Conn::Postgres(c) => jobs::table
                .filter(claimable)
                .order(jobs::id.asc())
                .select(columns)
                .for_update()
                .skip_locked()
                .first(&mut **c)
                .await
                .optional()?,
            Conn::Sqlite(c) => {
                jobs::table.filter(claimable).order(jobs::id.asc()).select(columns).first(&mut **c).await.optional()?
            }
        };
        let Some((id, previous_status, previous_owner)) = next else { return Ok(None) };
        let job = dispatch!(tx, c => diesel::update(jobs::table.find(id))
            .set((
                jobs::status.eq(JobStatus::Running),
                jobs::updated_at.eq(now),
                jobs::lease_owner.eq(owner),
                jobs::lease_token.eq(&token),
                jobs::lease_expires_at.eq(database_time(backend, lease)),
            ))
            .returning(Job::as_returning())
            .get_result(c)
            .await)?;
        let lease = Lease { job_id: id, owner: owner.to_owned(), token: token.clone() };
        let taken_from = (previous_status == JobStatus::Running).then(|| previous_owner.unwrap_or_else(|| "?".into()));
        Ok(Some((job, lease, taken_from)))
    })
}

/// Inserts `new` as a running job held by `owner` for `lease` (a job run inline by the process
/// that creates it): if that process dies, the lease expires and another worker closes the job.
pub async fn insert_leased(conn: &mut Conn<'_>, new: &NewJob, owner: &str, lease: Duration) -> DbResult<(Job, Lease)> {
    let token = uuid::Uuid::new_v4().to_string();
    let backend = conn.backend();
    crate::transaction!(conn, |tx| {
        let inserted = insert(tx, &NewJob { status: JobStatus::Running, ..new.clone() }).await?;
        let job = dispatch!(tx, c => diesel::update(jobs::table.find(inserted.id))
            .set((
                jobs::lease_owner.eq(owner),
                jobs::lease_token.eq(&token),
                jobs::lease_expires_at.eq(database_time(backend, lease)),
            ))
            .returning(Job::as_returning())
            .get_result(c)
            .await)?;
        Ok((job, Lease { job_id: inserted.id, owner: owner.to_owned(), token: token.clone() }))
    })
}

/// Records the job's trace (the `traceparent` of its root span) unless it has one, if the lease
/// is still ours; returns the trace the job keeps (the one recorded first).
pub async fn adopt_trace(conn: &mut Conn<'_>, lease: &Lease, traceparent: &str) -> DbResult<Option<String>> {
    dispatch!(conn, c => diesel::update(jobs::table)
        .filter(jobs::id.eq(lease.job_id).and(jobs::lease_token.eq(&lease.token)).and(jobs::trace_parent.is_null()))
        .set(jobs::trace_parent.eq(traceparent))
        .execute(c)
        .await)?;
    Ok(dispatch!(conn, c => jobs::table.find(lease.job_id).select(jobs::trace_parent).first(c).await)?)
}

/// `after` from now by the database's clock, as timestamps are stored (UTC). Leases are set and
/// compared by this one clock, so workers whose own clocks disagree still agree on expiry.
/// (PostgreSQL's `now()` is the transaction's start.)
fn database_time(backend: Backend, after: Duration) -> SqlLiteral<Nullable<Timestamp>> {
    let sql = match backend {
        Backend::Postgres => {
            format!("((now() AT TIME ZONE 'UTC') + interval '{} microseconds')", after.as_micros())
        }
        Backend::Sqlite => format!("strftime('%Y-%m-%d %H:%M:%f', 'now', '+{:.3} seconds')", after.as_secs_f64()),
    };
    diesel::dsl::sql(&sql)
}

/// Extends the lease; `false` when the worker lost it (taken over, or the job was cancelled).
pub async fn renew(conn: &mut Conn<'_>, lease: &Lease, duration: Duration) -> DbResult<bool> {
    let expires = database_time(conn.backend(), duration);
    let updated = dispatch!(conn, c => diesel::update(jobs::table)
        .filter(jobs::id.eq(lease.job_id).and(jobs::lease_token.eq(&lease.token)).and(jobs::status.eq(JobStatus::Running)))
        .set(jobs::lease_expires_at.eq(expires))
        .execute(c)
        .await)?;
    Ok(updated == 1)
}

/// Inside a transaction: fails with [`DbError::LeaseLost`](crate::DbError::LeaseLost) unless
/// the job is running under this lease. On PostgreSQL it also locks the job row until the
/// transaction ends, so a takeover waits for the fenced write (or the write sees the takeover).
pub async fn fence(conn: &mut Conn<'_>, lease: &Lease) -> DbResult<()> {
    let touched = dispatch!(conn, c => diesel::update(jobs::table)
        .filter(jobs::id.eq(lease.job_id).and(jobs::lease_token.eq(&lease.token)).and(jobs::status.eq(JobStatus::Running)))
        .set(jobs::lease_token.eq(&lease.token))
        .execute(c)
        .await)?;
    if touched == 1 {
        Ok(())
    } else {
        Err(crate::DbError::LeaseLost { job_id: lease.job_id })
    }
}

/// Gives a running job back to the queue (e.g. at shutdown), if the lease is still ours; the
/// attempts it leaves open are closed as cancelled with `reason`.
pub async fn release(conn: &mut Conn<'_>, lease: &Lease, reason: &str) -> DbResult<bool> {
    crate::transaction!(conn, |tx| {
        if !holds(tx, lease).await? {
            return Ok(false);
        }
        super::job_stages::close_open(tx, lease.job_id, super::job_stages::StageStatus::Cancelled, reason).await?;
        requeue(tx, lease).await
    })
}

/// Ends a running job `lease` holds as failed at `stage` with `reason`, and closes its open
/// attempts with the same reason; `false` if the lease is no longer ours.
pub async fn fail_held(conn: &mut Conn<'_>, lease: &Lease, stage: StageName, reason: &str) -> DbResult<bool> {
    crate::transaction!(conn, |tx| {
        if !holds(tx, lease).await? {
            return Ok(false);
        }
        super::job_stages::close_open(tx, lease.job_id, super::job_stages::StageStatus::Failed, reason).await?;
        let running = [JobStatus::Running];
        let failed = transition(tx, lease.job_id, &running, JobStatus::Failed, Some(lease), Some(stage), Some(reason));
        Ok(failed.await?.is_some())
    })
}

/// [`fence`] as a question: whether `lease` still holds the job.
async fn holds(conn: &mut Conn<'_>, lease: &Lease) -> DbResult<bool> {
    match fence(conn, lease).await {
        Ok(()) => Ok(true),
        Err(crate::DbError::LeaseLost { .. }) => Ok(false),
        Err(other) => Err(other),
    }
}

async fn requeue(conn: &mut Conn<'_>, lease: &Lease) -> DbResult<bool> {
    let released = dispatch!(conn, c => diesel::update(jobs::table)
        .filter(jobs::id.eq(lease.job_id).and(jobs::lease_token.eq(&lease.token)).and(jobs::status.eq(JobStatus::Running)))
        .set((
            jobs::status.eq(JobStatus::Queued),
            jobs::lease_owner.eq(None::<String>),
            jobs::lease_token.eq(None::<String>),
            jobs::lease_expires_at.eq(None::<NaiveDateTime>),
            jobs::updated_at.eq(crate::now()),
        ))
        .execute(c)
        .await)?;
    Ok(released == 1)
}

/// Moves a job from one of `from` to `to`; `None` if it was in none of them (someone else
/// moved it first, e.g. a cancel racing a finish) or, given a lease, if the lease is not ours.
/// Leaving `running` ends the lease.
#[tracing::instrument(name = "db", skip_all, fields(job_id = id, to = %to, db.operation = "job transition", otel.kind = "client"))]
pub async fn transition(
    conn: &mut Conn<'_>,
    id: i64,
    from: &[JobStatus],
    to: JobStatus,
    lease: Option<&Lease>,
    failed_stage: Option<StageName>,
    error: Option<&str>,
) -> DbResult<Option<Job>> {
    let now = crate::now();
    let finished_at = to.is_terminal().then_some(now);
    let token = lease.map(|l| l.token.clone());
    Ok(dispatch!(conn, c => {
        let mut query = diesel::update(jobs::table).filter(jobs::id.eq(id)).filter(jobs::status.eq_any(from)).into_boxed();
        if let Some(token) = &token {
            query = query.filter(jobs::lease_token.eq(token));
        }
        query
            .set((
                jobs::status.eq(to),
                jobs::failed_stage.eq(failed_stage),
                jobs::error.eq(error),
                jobs::updated_at.eq(now),
                jobs::finished_at.eq(finished_at),
                jobs::lease_owner.eq(None::<String>),
                jobs::lease_token.eq(None::<String>),
                jobs::lease_expires_at.eq(None::<NaiveDateTime>),
            ))
            .returning(Job::as_returning())
            .get_result(c)
            .await
            .optional()
    })?)
}
