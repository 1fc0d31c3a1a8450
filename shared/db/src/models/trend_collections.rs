//! `trend_collections` (one provider round, made by one job or by the schedule, shared by every
//! job that starts while it is fresh), `trend_collection_uses` (which collection each job used)
//! and `source_quota_usage` (each source's daily quota, charged before its provider is called).
//!
//! Two jobs that need the same collection at once must not both pay for it, on one replica or
//! several: a maker claims the key by inserting a `collecting` row, which a partial unique index
//! allows once per key; the other job's insert is refused and it waits for that row to be ready.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::text_enum;
use crate::schema::{source_quota_usage, trend_collection_uses, trend_collections};
use crate::{dispatch, transaction, Conn, DbError, DbResult};

text_enum!(
    /// Where a collection is in its making.
    CollectionStatus {
        Collecting => "collecting",
        Ready => "ready",
        Failed => "failed",
    }
);

text_enum!(
    /// Who made a collection: a job that needed it, or the scheduled refresh.
    MadeBy {
        Job => "job",
        Schedule => "schedule",
    }
);

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = trend_collections)]
pub struct TrendCollection {
    pub id: i64,
    /// The platforms collected, sorted and comma-joined.
    pub sources: String,
    /// The sources' region ('' when they have none).
    pub region: String,
    pub window_hours: i32,
    pub status: CollectionStatus,
    pub made_by_job_id: i64,
    pub made_by: MadeBy,
    pub made_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub claim_expires_at: NaiveDateTime,
    pub trends_seen: i32,
    pub cost_micros: i64,
    /// What each source's quota was charged, e.g. `{"youtube": 101}`.
    pub quota: serde_json::Value,
    pub error: Option<String>,
}

/// What a collection is of: jobs asking for the same key share collections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionKey {
    pub sources: String,
    pub region: String,
    pub window_hours: i32,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = trend_collections, treat_none_as_default_value = false)]
pub struct NewTrendCollection {
    pub sources: String,
    pub region: String,
    pub window_hours: i32,
    pub status: CollectionStatus,
    pub made_by_job_id: i64,
    pub made_by: MadeBy,
    pub made_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub claim_expires_at: NaiveDateTime,
    pub trends_seen: i32,
    pub cost_micros: i64,
    pub quota: serde_json::Value,
    pub error: Option<String>,
}

impl NewTrendCollection {
    /// The claim of `key` by `job_id`, which may take until `claim_for` to make the collection.
    pub fn claim(key: &CollectionKey, job_id: i64, made_by: MadeBy, claim_for: std::time::Duration) -> Self {
        let now = crate::now();
        NewTrendCollection {
            sources: key.sources.clone(),
            region: key.region.clone(),
            window_hours: key.window_hours,
            status: CollectionStatus::Collecting,
            made_by_job_id: job_id,
            made_by,
            made_at: now,
            finished_at: None,
            claim_expires_at: claim_until(now, claim_for),
            trends_seen: 0,
            cost_micros: 0,
            quota: serde_json::json!({}),
            error: None,
        }
    }
}

/// Which collection a job used, and whether another job made it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = trend_collection_uses, treat_none_as_default_value = false)]
pub struct TrendCollectionUse {
    pub job_id: i64,
    pub trend_collection_id: i64,
    /// Another job made (and paid for) it.
    pub shared: bool,
    pub used_at: NaiveDateTime,
}

/// When a claim made at `now` for `claim_for` expires.
fn claim_until(now: NaiveDateTime, claim_for: std::time::Duration) -> NaiveDateTime {
    now + chrono::TimeDelta::from_std(claim_for).unwrap_or(chrono::TimeDelta::hours(1))
}

/// Claims `key` for a new collection; `None` when another job is making one of the key (its
/// claim not yet expired). An expired claim is failed first, so a dead maker blocks nobody, and
/// so is the claiming job's own earlier one: a job runs one attempt at a time, so that attempt
/// died (its retry need not wait for the claim to expire).
pub async fn claim(conn: &mut Conn<'_>, new: &NewTrendCollection) -> DbResult<Option<TrendCollection>> {
    let now = crate::now();
    dispatch!(conn, c => diesel::update(trend_collections::table)
        .filter(trend_collections::sources.eq(&new.sources))
        .filter(trend_collections::region.eq(&new.region))
        .filter(trend_collections::window_hours.eq(new.window_hours))
        .filter(trend_collections::status.eq(CollectionStatus::Collecting))
        .filter(
            trend_collections::claim_expires_at
                .lt(now)
                .or(trend_collections::made_by_job_id.eq(new.made_by_job_id)),
        )
        .set((
            trend_collections::status.eq(CollectionStatus::Failed),
            trend_collections::finished_at.eq(Some(now)),
            trend_collections::error.eq(Some("its maker's claim expired")),
        ))
        .execute(c)
        .await)?;
    Ok(dispatch!(conn, c => diesel::insert_into(trend_collections::table)
        .values(new)
        .on_conflict_do_nothing()
        .returning(TrendCollection::as_returning())
        .get_result(c)
        .await
        .optional())?)
}

/// The freshest ready collection of `key` made at or after `since` (`None`: of any age).
pub async fn freshest(
    conn: &mut Conn<'_>,
    key: &CollectionKey,
    since: Option<NaiveDateTime>,
) -> DbResult<Option<TrendCollection>> {
    Ok(dispatch!(conn, c => {
        let mut query = trend_collections::table
            .filter(trend_collections::sources.eq(&key.sources))
            .filter(trend_collections::region.eq(&key.region))
            .filter(trend_collections::window_hours.eq(key.window_hours))
            .filter(trend_collections::status.eq(CollectionStatus::Ready))
            .order((trend_collections::made_at.desc(), trend_collections::id.desc()))
            .select(TrendCollection::as_select())
            .into_boxed();
        if let Some(since) = since {
            query = query.filter(trend_collections::made_at.ge(since));
        }
        query.first(c).await.optional()
    })?)
}

/// Whether a collection of `key` is being made (by a claim that has not expired).
pub async fn collecting(conn: &mut Conn<'_>, key: &CollectionKey) -> DbResult<bool> {
    let now = crate::now();
    let count: i64 = dispatch!(conn, c => trend_collections::table
        .filter(trend_collections::sources.eq(&key.sources))
        .filter(trend_collections::region.eq(&key.region))
        .filter(trend_collections::window_hours.eq(key.window_hours))
        .filter(trend_collections::status.eq(CollectionStatus::Collecting))
        .filter(trend_collections::claim_expires_at.ge(now))
        .count()
        .get_result(c)
        .await)?;
    Ok(count > 0)
}

/// Marks the maker's collection ready with what it saw and cost, and records the maker's use of
/// it, in one transaction.
pub async fn finish(
    conn: &mut Conn<'_>,
    id: i64,
    trends_seen: i32,
    cost_micros: i64,
    quota: &serde_json::Value,
) -> DbResult<TrendCollection> {
    let now = crate::now();
    transaction!(conn, |tx| {
        let collection: TrendCollection = dispatch!(tx, c => diesel::update(trend_collections::table.find(id))
            .set((
                trend_collections::status.eq(CollectionStatus::Ready),
                trend_collections::finished_at.eq(Some(now)),
                trend_collections::trends_seen.eq(trends_seen),
                trend_collections::cost_micros.eq(cost_micros),
                trend_collections::quota.eq(quota),
            ))
            .returning(TrendCollection::as_returning())
            .get_result(c)
            .await)?;
        record_use(tx, collection.made_by_job_id, &collection).await?;
        Ok(collection)
    })
}

/// Ends a claim without a collection, so a waiting job can claim the key itself.
pub async fn fail(conn: &mut Conn<'_>, id: i64, error: &str) -> DbResult<()> {
    dispatch!(conn, c => diesel::update(trend_collections::table.find(id))
        .filter(trend_collections::status.eq(CollectionStatus::Collecting))
        .set((
            trend_collections::status.eq(CollectionStatus::Failed),
            trend_collections::finished_at.eq(Some(crate::now())),
            trend_collections::error.eq(Some(error)),
        ))
        .execute(c)
        .await)?;
    Ok(())
}

/// Takes back a claim that made nothing (another collection became ready meanwhile).
pub async fn withdraw(conn: &mut Conn<'_>, id: i64) -> DbResult<()> {
    dispatch!(conn, c => diesel::delete(trend_collections::table.find(id))
        .filter(trend_collections::status.eq(CollectionStatus::Collecting))
        .execute(c)
        .await)?;
    Ok(())
}

/// Claims the analysis of collection `id` for `job_id` for `claim_for`: true unless another
/// job's claim holds it (an expired claim, or this job's own from an earlier attempt, is taken
/// over). The claimer calls the analyst; others wait for its report.
pub async fn claim_analysis(
    conn: &mut Conn<'_>,
    id: i64,
    job_id: i64,
    claim_for: std::time::Duration,
) -> DbResult<bool> {
    let now = crate::now();
    let until = claim_until(now, claim_for);
    let claimed = dispatch!(conn, c => diesel::update(trend_collections::table.find(id))
        .filter(
            trend_collections::analysing_job_id
                .is_null()
                .or(trend_collections::analysing_job_id.eq(job_id))
                .or(trend_collections::analysis_claim_expires_at.lt(now)),
        )
        .set((
            trend_collections::analysing_job_id.eq(Some(job_id)),
            trend_collections::analysis_claim_expires_at.eq(Some(until)),
        ))
        .execute(c)
        .await)?;
    Ok(claimed == 1)
}

/// Ends `job_id`'s analysis claim on collection `id` (its report is written, or the analysis
/// failed and a waiting job may try).
pub async fn release_analysis(conn: &mut Conn<'_>, id: i64, job_id: i64) -> DbResult<()> {
    dispatch!(conn, c => diesel::update(trend_collections::table.find(id))
        .filter(trend_collections::analysing_job_id.eq(job_id))
        .set((
            trend_collections::analysing_job_id.eq(None::<i64>),
            trend_collections::analysis_claim_expires_at.eq(None::<NaiveDateTime>),
        ))
        .execute(c)
        .await)?;
    Ok(())
}

/// Records that `job_id` uses `collection` (shared unless the job made it); a job uses one
/// collection, so a second call returns the first's collection id.
pub async fn record_use(conn: &mut Conn<'_>, job_id: i64, collection: &TrendCollection) -> DbResult<i64> {
    let row = TrendCollectionUse {
        job_id,
        trend_collection_id: collection.id,
        shared: collection.made_by_job_id != job_id,
        used_at: crate::now(),
    };
    let inserted = dispatch!(conn, c => diesel::insert_into(trend_collection_uses::table)
        .values(&row)
        .on_conflict_do_nothing()
        .execute(c)
        .await)?;
    if inserted == 1 {
        return Ok(collection.id);
    }
    Ok(used_by(conn, job_id).await?.map_or(collection.id, |(used, _)| used.trend_collection_id))
}

/// The collection `job_id` used, with its use; `None` before its collection stage.
pub async fn used_by(conn: &mut Conn<'_>, job_id: i64) -> DbResult<Option<(TrendCollectionUse, TrendCollection)>> {
    Ok(dispatch!(conn, c => trend_collection_uses::table
        .inner_join(trend_collections::table)
        .filter(trend_collection_uses::job_id.eq(job_id))
        .select((TrendCollectionUse::as_select(), TrendCollection::as_select()))
        .first(c)
        .await
        .optional())?)
}

pub async fn find(conn: &mut Conn<'_>, id: i64) -> DbResult<TrendCollection> {
    Ok(dispatch!(conn, c => trend_collections::table.find(id).select(TrendCollection::as_select()).first(c).await)?)
}

/// How many jobs used the collection (its maker included).
pub async fn uses(conn: &mut Conn<'_>, id: i64) -> DbResult<i64> {
    Ok(dispatch!(conn, c => trend_collection_uses::table
        .filter(trend_collection_uses::trend_collection_id.eq(id))
        .count()
        .get_result(c)
        .await)?)
}

/// Charges `units` to `source`'s quota of `day` if that stays within `limit`; returns whether it
/// was charged. One conditional UPDATE, so concurrent replicas never together pass the limit.
pub async fn charge_quota(conn: &mut Conn<'_>, source: &str, day: &str, units: i64, limit: i64) -> DbResult<bool> {
    if units > limit {
        return Ok(false);
    }
    dispatch!(conn, c => diesel::insert_into(source_quota_usage::table)
        .values((source_quota_usage::source.eq(source), source_quota_usage::day.eq(day), source_quota_usage::used.eq(0_i64)))
        .on_conflict_do_nothing()
        .execute(c)
        .await)?;
    let charged = dispatch!(conn, c => diesel::update(source_quota_usage::table.find((source, day)))
        .filter(source_quota_usage::used.le(limit - units))
        .set(source_quota_usage::used.eq(source_quota_usage::used + units))
        .execute(c)
        .await)?;
    Ok(charged == 1)
}

/// Gives back `units` of `source`'s quota on `day` that a collection charged but did not use
/// (another source's quota refused it); never below zero.
pub async fn refund_quota(conn: &mut Conn<'_>, source: &str, day: &str, units: i64) -> DbResult<()> {
    dispatch!(conn, c => diesel::update(source_quota_usage::table.find((source, day)))
        .filter(source_quota_usage::used.ge(units))
        .set(source_quota_usage::used.eq(source_quota_usage::used - units))
        .execute(c)
        .await)?;
    Ok(())
}

/// What `source` has used of its quota on `day`.
pub async fn quota_used(conn: &mut Conn<'_>, source: &str, day: &str) -> DbResult<i64> {
    match dispatch!(conn, c => source_quota_usage::table
        .find((source, day))
        .select(source_quota_usage::used)
        .first(c)
        .await)
    {
        Ok(used) => Ok(used),
        Err(diesel::result::Error::NotFound) => Ok(0),
        Err(other) => Err(DbError::from(other)),
    }
}
