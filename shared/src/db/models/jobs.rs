//! `jobs`: a pipeline run, a scheduled trend refresh or an on-demand analysis.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::job_stages::StageName;
use super::text_enum;
use crate::db::schema::jobs;
use crate::db::{Conn, DbResult};
use crate::dispatch;

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
        matches!(self, JobStatus::Approved | JobStatus::Rejected | JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled)
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
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = jobs)]
pub struct NewJob {
    pub kind: JobKind,
    pub status: JobStatus,
    pub theme_name: String,
    pub theme: Option<serde_json::Value>,
    pub variants: i32,
    pub client_request_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl NewJob {
    pub fn queued(kind: JobKind, theme_name: impl Into<String>, theme: Option<serde_json::Value>, variants: i32) -> Self {
        let now = crate::db::now();
        NewJob {
            kind,
            status: JobStatus::Queued,
            theme_name: theme_name.into(),
            theme,
            variants,
            client_request_id: None,
            created_at: now,
            updated_at: now,
        }
    }
}

pub async fn insert(conn: &mut Conn<'_>, new: &NewJob) -> DbResult<Job> {
    Ok(dispatch!(conn, c => diesel::insert_into(jobs::table).values(new).returning(Job::as_returning()).get_result(c).await)?)
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
        (None, None) => Err(crate::db::DbError::Internal("insert of a job without a request id was ignored".into())),
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
    Ok(dispatch!(conn, c => {
        let mut query = jobs::table.select(Job::as_select()).order(jobs::id.desc()).limit(limit).into_boxed();
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
pub async fn exists(conn: &mut Conn<'_>, id: i64) -> DbResult<bool> {
    let found: Option<i64> = dispatch!(conn, c => jobs::table.find(id).select(jobs::id).first(c).await.optional())?;
    Ok(found.is_some())
}

/// Takes the oldest queued job and marks it running, or `None` if nothing is queued. On
/// PostgreSQL concurrent claimers skip each other's rows (`FOR UPDATE SKIP LOCKED`); SQLite's
/// immediate transaction serialises them.
pub async fn claim_next(conn: &mut Conn<'_>) -> DbResult<Option<Job>> {
    let now = crate::db::now();
    crate::transaction!(conn, |tx| {
        let next: Option<i64> = match tx {
            Conn::Postgres(c) => jobs::table
                .filter(jobs::status.eq(JobStatus::Queued))
                .order(jobs::id.asc())
                .select(jobs::id)
                .for_update()
                .skip_locked()
                .first(&mut **c)
                .await
                .optional()?,
            Conn::Sqlite(c) => jobs::table
                .filter(jobs::status.eq(JobStatus::Queued))
                .order(jobs::id.asc())
                .select(jobs::id)
                .first(&mut **c)
                .await
                .optional()?,
        };
        let Some(id) = next else { return Ok(None) };
        let job = dispatch!(tx, c => diesel::update(jobs::table.find(id))
            .set((jobs::status.eq(JobStatus::Running), jobs::updated_at.eq(now)))
            .returning(Job::as_returning())
            .get_result(c)
            .await)?;
        Ok(Some(job))
    })
}

/// Moves a job from one of `from` to `to`; `None` if it was in none of them (someone else
/// moved it first, e.g. a cancel racing a finish).
pub async fn transition(
    conn: &mut Conn<'_>,
    id: i64,
    from: &[JobStatus],
    to: JobStatus,
    failed_stage: Option<StageName>,
    error: Option<&str>,
) -> DbResult<Option<Job>> {
    let now = crate::db::now();
    let finished_at = to.is_terminal().then_some(now);
    Ok(dispatch!(conn, c => diesel::update(jobs::table.filter(jobs::id.eq(id)).filter(jobs::status.eq_any(from)))
        .set((
            jobs::status.eq(to),
            jobs::failed_stage.eq(failed_stage),
            jobs::error.eq(error),
            jobs::updated_at.eq(now),
            jobs::finished_at.eq(finished_at),
        ))
        .returning(Job::as_returning())
        .get_result(c)
        .await
        .optional())?)
}
