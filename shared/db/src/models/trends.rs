//! `trends` (the catalogue of platform items, one row per `(platform, external_id)`) and
//! `trend_sightings` (which job saw which item, with its figures then).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;

use crate::schema::{trend_sightings, trends};
use crate::{dispatch, insert_rows, transaction};
use crate::{Conn, DbResult};
use shortline_domain::{Platform, TrendItem};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = trends)]
pub struct Trend {
    pub id: i64,
    pub platform: String,
    pub external_id: String,
    pub title: String,
    pub description: String,
    pub hashtags: serde_json::Value,
    pub views: i64,
    pub likes: i64,
    pub comments: i64,
    pub shares: i64,
    pub duration_seconds: i32,
    pub creator: String,
    pub sound_name: Option<String>,
    pub video_url: String,
    pub thumbnail_url: Option<String>,
    pub posted_at: NaiveDateTime,
    pub engagement_velocity: f64,
    pub first_seen_job_id: i64,
    pub last_seen_job_id: i64,
    pub first_seen_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
}

impl Trend {
    /// The item as the domain knows it (e.g. to analyse it).
    pub fn to_item(&self) -> DbResult<TrendItem> {
        Ok(TrendItem {
            platform: self.platform.parse().map_err(crate::DbError::Internal)?,
            external_id: self.external_id.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            hashtags: super::from_json(&self.hashtags, "trends.hashtags")?,
            views: self.views,
            likes: self.likes,
            comments: self.comments,
            shares: self.shares,
            duration_seconds: self.duration_seconds,
            creator: self.creator.clone(),
            sound_name: self.sound_name.clone(),
            video_url: self.video_url.clone(),
            thumbnail_url: self.thumbnail_url.clone(),
            posted_at: self.posted_at.and_utc(),
        })
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = trends, treat_none_as_default_value = false)]
pub struct NewTrend {
    pub platform: String,
    pub external_id: String,
    pub title: String,
    pub description: String,
    pub hashtags: serde_json::Value,
    pub views: i64,
    pub likes: i64,
    pub comments: i64,
    pub shares: i64,
    pub duration_seconds: i32,
    pub creator: String,
    pub sound_name: Option<String>,
    pub video_url: String,
    pub thumbnail_url: Option<String>,
    pub posted_at: NaiveDateTime,
    pub engagement_velocity: f64,
    pub first_seen_job_id: i64,
    pub last_seen_job_id: i64,
    pub first_seen_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
}

impl NewTrend {
    /// The row for `item` as seen by `job_id` at `now`.
    pub fn seen(item: &TrendItem, job_id: i64, now: NaiveDateTime) -> Self {
        NewTrend {
            platform: item.platform.as_str().to_owned(),
            external_id: item.external_id.clone(),
            title: item.title.clone(),
            description: item.description.clone(),
            hashtags: super::to_json(&item.hashtags),
            views: item.views,
            likes: item.likes,
            comments: item.comments,
            shares: item.shares,
            duration_seconds: item.duration_seconds,
            creator: item.creator.clone(),
            sound_name: item.sound_name.clone(),
            video_url: item.video_url.clone(),
            thumbnail_url: item.thumbnail_url.clone(),
            posted_at: item.posted_at.naive_utc(),
            engagement_velocity: item.engagement_velocity(now.and_utc()),
            first_seen_job_id: job_id,
            last_seen_job_id: job_id,
            first_seen_at: now,
            last_seen_at: now,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = trend_sightings, treat_none_as_default_value = false)]
pub struct TrendSighting {
    pub job_id: i64,
    pub trend_id: i64,
    pub views: i64,
    pub likes: i64,
    pub comments: i64,
    pub shares: i64,
    pub engagement_velocity: f64,
    pub seen_at: NaiveDateTime,
    /// The collection the sighting belongs to (`None` on rows from before collections).
    pub trend_collection_id: Option<i64>,
}

/// Rows per statement when upserting a collection: well under either backend's limit on bind
/// parameters (20 per row; SQLite allows 32 766, PostgreSQL 65 535).
const UPSERT_CHUNK: usize = 500;

/// Upserts items on `(platform, external_id)`: a known item gets its new figures and moves its
/// "last seen" job; a new one is inserted with this job as first and last. Each is recorded as
/// seen by the job. Returns the rows in input order and how many were new. One transaction.
///
/// Every collection touches the same popular rows, so the rows go in as one statement per
/// [`UPSERT_CHUNK`] (not one per item) sorted by key: concurrent collections take the row locks
/// in the same order, hold them for one round trip, and cannot deadlock.
pub async fn upsert_seen(conn: &mut Conn<'_>, job_id: i64, items: &[TrendItem]) -> DbResult<(Vec<Trend>, usize)> {
    upsert_collected(conn, job_id, None, items).await
}

/// [`upsert_seen`] for the job making collection `collection_id`: its sightings belong to it.
pub async fn upsert_collected(
    conn: &mut Conn<'_>,
    job_id: i64,
    collection_id: Option<i64>,
    items: &[TrendItem],
) -> DbResult<(Vec<Trend>, usize)> {
    // One row per key (the last figures win): an upsert may not touch a row twice.
    let now = crate::now();
    let mut by_key: std::collections::BTreeMap<(&str, &str), NewTrend> = std::collections::BTreeMap::new();
    for item in items {
        by_key.insert((item.platform.as_str(), item.external_id.as_str()), NewTrend::seen(item, job_id, now));
    }
    let rows: Vec<NewTrend> = by_key.into_values().collect();
    let stored = transaction!(conn, |tx| {
        let mut stored: Vec<Trend> = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(UPSERT_CHUNK) {
            stored.extend(upsert_chunk(tx, chunk).await?);
        }
        let sightings: Vec<TrendSighting> =
            stored.iter().map(|trend| TrendSighting::of(job_id, collection_id, trend)).collect();
        for chunk in sightings.chunks(UPSERT_CHUNK) {
            insert_rows!(
                tx,
                chunk,
                |batch| diesel::insert_into(trend_sightings::table).values(batch).on_conflict_do_nothing(),
                execute
            )?;
        }
        Ok(stored)
    })?;
    // A row this statement created has this job and this moment as its first sighting.
    let created = stored.iter().filter(|t| t.first_seen_job_id == job_id && t.first_seen_at == now).count();
    let by_key: std::collections::HashMap<(&str, &str), &Trend> =
        stored.iter().map(|t| ((t.platform.as_str(), t.external_id.as_str()), t)).collect();
    let in_input_order = items
        .iter()
        .filter_map(|item| by_key.get(&(item.platform.as_str(), item.external_id.as_str())).map(|t| (*t).clone()))
        .collect();
    Ok((in_input_order, created))
}

impl TrendSighting {
    /// The job's sighting of `trend`, with the figures the row now holds.
    fn of(job_id: i64, trend_collection_id: Option<i64>, trend: &Trend) -> Self {
        TrendSighting {
            job_id,
            trend_id: trend.id,
            views: trend.views,
            likes: trend.likes,
            comments: trend.comments,
            shares: trend.shares,
            engagement_velocity: trend.engagement_velocity,
            seen_at: trend.last_seen_at,
            trend_collection_id,
        }
    }
}

async fn upsert_chunk(conn: &mut Conn<'_>, rows: &[NewTrend]) -> DbResult<Vec<Trend>> {
    Ok(insert_rows!(
        conn,
        rows,
        |batch| diesel::insert_into(trends::table)
            .values(batch)
            .on_conflict((trends::platform, trends::external_id))
            .do_update()
            .set((
                trends::title.eq(excluded(trends::title)),
                trends::description.eq(excluded(trends::description)),
                trends::hashtags.eq(excluded(trends::hashtags)),
                trends::views.eq(excluded(trends::views)),
                trends::likes.eq(excluded(trends::likes)),
                trends::comments.eq(excluded(trends::comments)),
                trends::shares.eq(excluded(trends::shares)),
                trends::duration_seconds.eq(excluded(trends::duration_seconds)),
                trends::sound_name.eq(excluded(trends::sound_name)),
                trends::thumbnail_url.eq(excluded(trends::thumbnail_url)),
                trends::engagement_velocity.eq(excluded(trends::engagement_velocity)),
                trends::last_seen_job_id.eq(excluded(trends::last_seen_job_id)),
                trends::last_seen_at.eq(excluded(trends::last_seen_at)),
            ))
            .returning(Trend::as_returning()),
        get_results
    )?)
}

pub async fn find(conn: &mut Conn<'_>, id: i64) -> DbResult<Trend> {
    Ok(dispatch!(conn, c => trends::table.find(id).select(Trend::as_select()).first(c).await)?)
}

/// Items posted since `since`, fastest first, at most `limit` (the analysis window).
pub async fn posted_since(conn: &mut Conn<'_>, since: NaiveDateTime, limit: i64) -> DbResult<Vec<Trend>> {
    Ok(dispatch!(conn, c => trends::table
        .filter(trends::posted_at.ge(since))
        .order((trends::engagement_velocity.desc(), trends::id.asc()))
        .limit(limit)
        .select(Trend::as_select())
        .load(c)
        .await)?)
}

/// The catalogue, newest rows first, optionally of one platform or seen by one job.
pub async fn list(
    conn: &mut Conn<'_>,
    platform: Option<Platform>,
    seen_by_job_id: Option<i64>,
    before_id: Option<i64>,
    limit: i64,
) -> DbResult<Vec<Trend>> {
    Ok(dispatch!(conn, c => {
        let mut query = trends::table.select(Trend::as_select()).order(trends::id.desc()).limit(limit).into_boxed();
        if let Some(platform) = platform {
            query = query.filter(trends::platform.eq(platform.as_str()));
        }
        if let Some(job_id) = seen_by_job_id {
            query = query.filter(trends::id.eq_any(
                trend_sightings::table.filter(trend_sightings::job_id.eq(job_id)).select(trend_sightings::trend_id),
            ));
        }
        if let Some(before_id) = before_id {
            query = query.filter(trends::id.lt(before_id));
        }
        query.load(c).await
    })?)
}

/// Every item the job saw, in id order.
pub async fn seen_by_job(conn: &mut Conn<'_>, job_id: i64) -> DbResult<Vec<Trend>> {
    Ok(dispatch!(conn, c => trends::table
        .inner_join(trend_sightings::table)
        .filter(trend_sightings::job_id.eq(job_id))
        .order(trends::id.asc())
        .select(Trend::as_select())
        .load(c)
        .await)?)
}

/// Every item of a collection, in id order.
pub async fn in_collection(conn: &mut Conn<'_>, collection_id: i64) -> DbResult<Vec<Trend>> {
    Ok(dispatch!(conn, c => trends::table
        .inner_join(trend_sightings::table)
        .filter(trend_sightings::trend_collection_id.eq(collection_id))
        .order(trends::id.asc())
        .select(Trend::as_select())
        .load(c)
        .await)?)
}

/// A collection's items posted since `since`, fastest first, at most `limit` (what its
/// analysis reads).
pub async fn in_collection_posted_since(
    conn: &mut Conn<'_>,
    collection_id: i64,
    since: NaiveDateTime,
    limit: i64,
) -> DbResult<Vec<Trend>> {
    Ok(dispatch!(conn, c => trends::table
        .inner_join(trend_sightings::table)
        .filter(trend_sightings::trend_collection_id.eq(collection_id))
        .filter(trends::posted_at.ge(since))
        .order((trends::engagement_velocity.desc(), trends::id.asc()))
        .limit(limit)
        .select(Trend::as_select())
        .load(c)
        .await)?)
}
