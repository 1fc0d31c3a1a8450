//! `job_stages`: one row per attempt of a stage of a job — the orchestrator's checkpoints.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::jobs::{fence, Lease};
use super::text_enum;
use crate::schema::{job_stages, jobs};
use crate::{dispatch, transaction};
use crate::{Conn, DbError, DbResult, JobStatus};

text_enum!(
    /// The pipeline's stages, in order.
    StageName {
        TrendCollection => "trend_collection",
        TrendAnalysis => "trend_analysis",
        ScriptGeneration => "script_generation",
        MediaGeneration => "media_generation",
        Composition => "composition",
        Review => "review",
    }
);

text_enum!(
    StageStatus { Running => "running", Succeeded => "succeeded", Failed => "failed", Cancelled => "cancelled" }
);

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = job_stages)]
pub struct JobStage {
    pub id: i64,
    pub job_id: i64,
    pub stage: StageName,
    pub attempt: i32,
    pub status: StageStatus,
    pub started_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub error: Option<String>,
    /// What the attempt produced, e.g. `trend_reports/12` or `videos/7`.
    pub output_ref: Option<String>,
    /// The worker that made the attempt.
    pub worker: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = job_stages, treat_none_as_default_value = false)]
pub struct NewJobStage {
    pub job_id: i64,
    pub stage: StageName,
    pub attempt: i32,
    pub status: StageStatus,
    pub started_at: NaiveDateTime,
    pub worker: Option<String>,
}

impl NewJobStage {
    pub fn running(job_id: i64, stage: StageName, attempt: i32) -> Self {
        NewJobStage { job_id, stage, attempt, status: StageStatus::Running, started_at: crate::now(), worker: None }
    }

    pub fn by(mut self, worker: &str) -> Self {
        self.worker = Some(worker.to_owned());
        self
    }
}

pub async fn insert(conn: &mut Conn<'_>, new: &NewJobStage) -> DbResult<JobStage> {
    Ok(dispatch!(conn, c => diesel::insert_into(job_stages::table)
        .values(new)
        .returning(JobStage::as_returning())
        .get_result(c)
        .await)?)
}

/// Closes an attempt with its outcome.
pub async fn finish(
    conn: &mut Conn<'_>,
    id: i64,
    status: StageStatus,
    error: Option<&str>,
    output_ref: Option<&str>,
) -> DbResult<JobStage> {
    Ok(dispatch!(conn, c => diesel::update(job_stages::table.find(id))
        .set((
            job_stages::status.eq(status),
            job_stages::finished_at.eq(Some(crate::now())),
            job_stages::error.eq(error),
            job_stages::output_ref.eq(output_ref),
        ))
        .returning(JobStage::as_returning())
        .get_result(c)
        .await)?)
}

/// A job's attempts in the order they were made.
pub async fn list_for_job(conn: &mut Conn<'_>, job_id: i64) -> DbResult<Vec<JobStage>> {
    Ok(dispatch!(conn, c => job_stages::table
        .filter(job_stages::job_id.eq(job_id))
        .order(job_stages::id.asc())
        .select(JobStage::as_select())
        .load(c)
        .await)?)
}

/// The attempts of every job in `job_ids` (a page of jobs), in one query: by job, in the order
/// they were made. Jobs without attempts are absent.
pub async fn list_for_jobs(
    conn: &mut Conn<'_>,
    job_ids: &[i64],
) -> DbResult<std::collections::HashMap<i64, Vec<JobStage>>> {
    let rows: Vec<JobStage> = dispatch!(conn, c => job_stages::table
        .filter(job_stages::job_id.eq_any(job_ids))
        .order(job_stages::id.asc())
        .select(JobStage::as_select())
        .load(c)
        .await)?;
    let mut by_job: std::collections::HashMap<i64, Vec<JobStage>> = std::collections::HashMap::new();
    for row in rows {
        by_job.entry(row.job_id).or_default().push(row);
    }
    Ok(by_job)
}

/// Whether `stage` is done: its latest attempt succeeded. (A RetryJob reopens a stage by adding
/// a newer attempt, so earlier successes stay in the record.)
pub fn is_done(attempts: &[JobStage], stage: StageName) -> bool {
    attempts
        .iter()
        .filter(|a| a.stage == stage)
        .max_by_key(|a| a.id)
        .is_some_and(|a| a.status == StageStatus::Succeeded)
}

/// Reopens `stages` of a job for RetryJob: each one whose latest attempt succeeded gets a newer,
/// closed attempt saying so, which makes it run again; the earlier rows are kept.
pub async fn reopen_from(conn: &mut Conn<'_>, job_id: i64, stages: &[StageName]) -> DbResult<()> {
    let attempts = list_for_job(conn, job_id).await?;
    for &stage in stages {
        if !is_done(&attempts, stage) {
            continue;
        }
        let attempt = attempts.iter().filter(|a| a.stage == stage).map(|a| a.attempt).max().unwrap_or(0) + 1;
        let now = crate::now();
        let row = NewJobStage { job_id, stage, attempt, status: StageStatus::Cancelled, started_at: now, worker: None };
        let inserted = insert(conn, &row).await?;
        finish(conn, inserted.id, StageStatus::Cancelled, Some("reopened by RetryJob"), None).await?;
    }
    Ok(())
}

/// Runs `$query` on the bare connection `$c` with `$held` bound to the query of the job's row
/// as long as `$lease` holds it (running, same token). On PostgreSQL the row is locked
/// `FOR SHARE` by the statement, so a concurrent takeover waits for the fenced write, or the
/// write sees the new token and does nothing; SQLite runs one writer at a time anyway. The fence
/// is part of the write itself: one statement, one round trip, no transaction around it.
macro_rules! fenced {
    ($conn:expr, $lease:expr, |$c:ident, $held:ident| $query:expr) => {
        match $conn {
            Conn::Postgres(inner) => {
                let $c = &mut **inner;
                let $held = held_by($lease).for_share();
                $query
            }
            Conn::Sqlite(inner) => {
                let $c = &mut **inner;
                let $held = held_by($lease);
                $query
            }
        }
    };
}

type HeldBy = diesel::dsl::Filter<
    jobs::table,
    diesel::dsl::And<
        diesel::dsl::And<diesel::dsl::Eq<jobs::id, i64>, diesel::dsl::Eq<jobs::lease_token, String>>,
        diesel::dsl::Eq<jobs::status, JobStatus>,
    >,
>;

/// The job's row while `lease` holds it.
fn held_by(lease: &Lease) -> HeldBy {
    jobs::table.filter(
        jobs::id
            .eq(lease.job_id)
            .and(jobs::lease_token.eq(lease.token.clone()))
            .and(jobs::status.eq(JobStatus::Running)),
    )
}

/// Starts an attempt under `lease` (refused with `LeaseLost` if the lease is not ours).
#[tracing::instrument(name = "db", skip_all, fields(job_id = lease.job_id, stage = %new.stage, attempt = new.attempt, db.operation = "start stage attempt", otel.kind = "client"))]
pub async fn start_fenced(conn: &mut Conn<'_>, lease: &Lease, new: &NewJobStage) -> DbResult<JobStage> {
    use diesel::sql_types::{Integer, Nullable, Text, Timestamp};
    let columns = (
        job_stages::job_id,
        job_stages::stage,
        job_stages::attempt,
        job_stages::status,
        job_stages::started_at,
        job_stages::worker,
    );
    let values = (
        jobs::id,
        new.stage.into_sql::<Text>(),
        new.attempt.into_sql::<Integer>(),
        new.status.into_sql::<Text>(),
        new.started_at.into_sql::<Timestamp>(),
        new.worker.clone().into_sql::<Nullable<Text>>(),
    );
    let inserted = fenced!(conn, lease, |c, held| diesel::insert_into(job_stages::table)
        .values(held.select(values))
        .into_columns(columns)
        .returning(JobStage::as_returning())
        .get_result(c)
        .await
        .optional())?;
    inserted.ok_or(DbError::LeaseLost { job_id: lease.job_id })
}

/// Closes an attempt under `lease` (refused with `LeaseLost` if the lease is not ours).
#[tracing::instrument(name = "db", skip_all, fields(job_id = lease.job_id, status = %status, db.operation = "finish stage attempt", otel.kind = "client"))]
pub async fn finish_fenced(
    conn: &mut Conn<'_>,
    lease: &Lease,
    id: i64,
    status: StageStatus,
    error: Option<&str>,
    output_ref: Option<&str>,
) -> DbResult<JobStage> {
    let finished = fenced!(conn, lease, |c, held| diesel::update(job_stages::table)
        .filter(job_stages::id.eq(id).and(job_stages::job_id.eq(lease.job_id)))
        .filter(diesel::dsl::exists(held))
        .set((
            job_stages::status.eq(status),
            job_stages::finished_at.eq(Some(crate::now())),
            job_stages::error.eq(error),
            job_stages::output_ref.eq(output_ref),
        ))
        .returning(JobStage::as_returning())
        .get_result(c)
        .await
        .optional())?;
    finished.ok_or(DbError::LeaseLost { job_id: lease.job_id })
}

/// After a takeover: closes the attempts the previous worker left open, saying why.
#[tracing::instrument(name = "db", skip_all, fields(job_id = lease.job_id, db.operation = "abandon open attempts", otel.kind = "client"))]
pub async fn abandon_open(conn: &mut Conn<'_>, lease: &Lease, reason: &str) -> DbResult<usize> {
    transaction!(conn, |tx| {
        fence(tx, lease).await?;
        close_open(tx, lease.job_id, StageStatus::Failed, reason).await
    })
}

/// Closes the job's open attempts with `status` and `reason` (a cancel, a release at shutdown,
/// a takeover), so no attempt stays "running" after its work stopped. Returns how many.
pub async fn close_open(conn: &mut Conn<'_>, job_id: i64, status: StageStatus, reason: &str) -> DbResult<usize> {
    Ok(dispatch!(conn, c => diesel::update(job_stages::table)
        .filter(job_stages::job_id.eq(job_id).and(job_stages::status.eq(StageStatus::Running)))
        .set((
            job_stages::status.eq(status),
            job_stages::finished_at.eq(Some(crate::now())),
            job_stages::error.eq(Some(reason)),
        ))
        .execute(c)
        .await)?)
}
