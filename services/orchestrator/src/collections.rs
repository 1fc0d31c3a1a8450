//! Shared trend collections: a job uses the freshest collection of its sources within
//! `pipeline.trend_max_age`, or makes one; jobs that need one at the same moment share it (the
//! database admits one maker per key, the others wait for its collection), and each source's
//! daily quota is charged in the database before its provider is called.

use std::time::Duration;

use shortline_db::{self as db, CollectionKey, MadeBy, NewTrendCollection, TrendCollection};
use shortline_domain::Platform;
use tracing::info;

use crate::error::{RequestError, Result};
use crate::stages::Stages;
use crate::trends::{Fetched, SourceQuota, TrendSource, ANALYSIS_WINDOW_HOURS};

/// How often a job waiting for another's collection looks again.
pub(crate) const WAIT_POLL: Duration = Duration::from_millis(100);

/// Which collections a job may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// One made at most this long ago (a pipeline job).
    Within(Duration),
    /// Only one made from now on (CollectTrends and the schedule ask for new trends).
    New,
}

/// The collection a job used (its items are read only by those who need them: a pipeline job's
/// analysis reads them, or reuses a report and needs none).
#[derive(Debug, Clone)]
pub struct Collected {
    pub collection: TrendCollection,
    /// Items new to the catalogue (0 when the job used another's collection).
    pub new: usize,
}

impl Stages {
    /// The collection `job_id` uses: the one it already used (a resumed stage), else a fresh
    /// enough one, else one it makes, waiting meanwhile for one another job is making.
    pub async fn use_collection(
        &self,
        job_id: i64,
        platforms: &[Platform],
        limit: usize,
        made_by: MadeBy,
        freshness: Freshness,
    ) -> Result<Collected> {
        let sources: Vec<&dyn TrendSource> =
            self.sources.iter().filter(|s| platforms.contains(&s.platform())).map(|s| s.as_ref()).collect();
        let key = collection_key(&sources);
        let started = shortline_db::now();
        let give_up = tokio::time::Instant::now() + self.collection_deadline;
        let mut since = match freshness {
            Freshness::Within(age) => {
                Some(started - chrono::TimeDelta::from_std(age).unwrap_or(chrono::TimeDelta::MAX))
            }
            Freshness::New => None,
        };
        loop {
            let claimed = {
                let mut pooled = self.pool.get().await?;
                let conn = &mut pooled.conn();
                if let Some((_, collection)) = db::trend_collections::used_by(conn, job_id).await? {
                    return Ok(Collected { collection, new: 0 });
                }
                if let Some(collected) = self.use_fresh(conn, job_id, &key, since).await? {
                    return Ok(collected);
                }
                let claim = NewTrendCollection::claim(&key, job_id, made_by, self.collection_deadline);
                match db::trend_collections::claim(conn, &claim).await? {
                    // Another job's collection may have become ready between the look above and
                    // the claim (the claim is refused only while one is being made): use it.
                    Some(claimed) => match self.use_fresh(conn, job_id, &key, since).await? {
                        Some(collected) => {
                            db::trend_collections::withdraw(conn, claimed.id).await?;
                            return Ok(collected);
                        }
                        None => Some(claimed),
                    },
                    None => None,
                }
            };
            match claimed {
                Some(collection) => return self.make(job_id, collection, &key, &sources, limit).await,
                None => {
                    // Another job is making one of this key: its collection will do, even when
                    // this job wanted a new one (it is being made now).
                    since.get_or_insert(
                        started - chrono::TimeDelta::from_std(self.collection_deadline).unwrap_or_default(),
                    );
                    if tokio::time::Instant::now() >= give_up {
                        return Err(RequestError::Aborted(format!(
                            "waited {}s for another job's trend collection of {}",
                            self.collection_deadline.as_secs(),
                            key.sources
                        )));
                    }
                    tokio::time::sleep(WAIT_POLL).await;
                }
            }
        }
    }

    /// Makes the claimed collection: charges the sources' quotas, fetches, records the items as
    /// the collection's sightings and marks it ready. A quota that would be exceeded makes the
    /// job use the freshest collection of any age instead, or fails naming the quota.
    async fn make(
        &self,
        job_id: i64,
        claimed: TrendCollection,
        key: &CollectionKey,
        sources: &[&dyn TrendSource],
        limit: usize,
    ) -> Result<Collected> {
        let made = self.fetch_into(job_id, &claimed, sources, limit).await;
        let mut pooled = self.pool.get().await?;
        let conn = &mut pooled.conn();
        match made {
            Ok((Fetched { items, cost_micros }, quota)) => {
                let (rows, new) = db::trends::upsert_collected(conn, job_id, Some(claimed.id), &items).await?;
                let collection =
                    db::trend_collections::finish(conn, claimed.id, rows.len() as i32, cost_micros, &quota).await?;
                info!(job_id, collection_id = collection.id, trends = rows.len(), "made a trend collection");
                Ok(Collected { collection, new })
            }
            Err(CollectFailure::Quota(reason)) => {
                db::trend_collections::fail(conn, claimed.id, &reason).await?;
                match db::trend_collections::freshest(conn, key, None).await? {
                    Some(collection) => {
                        db::trend_collections::record_use(conn, job_id, &collection).await?;
                        info!(job_id, collection_id = collection.id, %reason, "quota spent: using the freshest collection");
                        Ok(Collected { collection, new: 0 })
                    }
                    None => Err(RequestError::FailedPrecondition(format!(
                        "trend collection: {reason}, and there is no earlier collection to use"
                    ))),
                }
            }
            Err(CollectFailure::Other(error)) => {
                db::trend_collections::fail(conn, claimed.id, &error.to_string()).await?;
                Err(error)
            }
        }
    }

    /// Charges each source's quota, then fetches from each; returns the items and their cost, and
    /// what each quota was charged.
    async fn fetch_into(
        &self,
        job_id: i64,
        claimed: &TrendCollection,
        sources: &[&dyn TrendSource],
        limit: usize,
    ) -> std::result::Result<(Fetched, serde_json::Value), CollectFailure> {
        let day = shortline_db::now().format("%Y-%m-%d").to_string();
        let mut charged: Vec<SourceQuota> = Vec::new();
        for quota in sources.iter().filter_map(|s| s.quota()) {
            let mut pooled = self.pool.get().await.map_err(|e| CollectFailure::Other(e.into()))?;
            let conn = &mut pooled.conn();
            let ok = db::trend_collections::charge_quota(conn, quota.source, &day, quota.per_fetch, quota.daily_limit)
                .await
                .map_err(|e| CollectFailure::Other(e.into()))?;
            if !ok {
                // Nothing is fetched: the sources charged before this one get their units back.
                for earlier in &charged {
                    db::trend_collections::refund_quota(conn, earlier.source, &day, earlier.per_fetch)
                        .await
                        .map_err(|e| CollectFailure::Other(e.into()))?;
                }
                let used = db::trend_collections::quota_used(conn, quota.source, &day)
                    .await
                    .map_err(|e| CollectFailure::Other(e.into()))?;
                return Err(CollectFailure::Quota(quota_reason(&quota, used)));
            }
            charged.push(quota);
        }
        let mut all = Fetched::free(Vec::new());
        for source in sources {
            let fetched = source.fetch(limit).await.map_err(|e| {
                CollectFailure::Other(RequestError::Downstream {
                    service: "trend source",
                    status: tonic::Status::unavailable(e.to_string()),
                })
            })?;
            all.items.extend(fetched.items);
            all.cost_micros = all.cost_micros.saturating_add(fetched.cost_micros);
        }
        info!(
            job_id,
            collection_id = claimed.id,
            items = all.items.len(),
            cost_micros = all.cost_micros,
            "fetched trends"
        );
        let charged = charged.iter().map(|q| (q.source.to_owned(), serde_json::Value::from(q.per_fetch))).collect();
        Ok((all, serde_json::Value::Object(charged)))
    }

    /// Uses the freshest ready collection of `key` made since `since`, if there is one.
    async fn use_fresh(
        &self,
        conn: &mut db::Conn<'_>,
        job_id: i64,
        key: &CollectionKey,
        since: Option<chrono::NaiveDateTime>,
    ) -> Result<Option<Collected>> {
        let Some(since) = since else { return Ok(None) };
        let Some(collection) = db::trend_collections::freshest(conn, key, Some(since)).await? else { return Ok(None) };
        db::trend_collections::record_use(conn, job_id, &collection).await?;
        info!(job_id, collection_id = collection.id, "using a shared trend collection");
        Ok(Some(Collected { collection, new: 0 }))
    }
}

enum CollectFailure {
    /// A source's daily quota would be exceeded (the reason names it).
    Quota(String),
    Other(RequestError),
}

fn quota_reason(quota: &SourceQuota, used: i64) -> String {
    format!(
        "the {} daily quota is spent ({used} of {} {} used today, a collection needs {})",
        quota.source, quota.daily_limit, quota.unit, quota.per_fetch
    )
}

/// What a collection from `sources` is of: their platforms, region and window.
fn collection_key(sources: &[&dyn TrendSource]) -> CollectionKey {
    let mut platforms: Vec<&str> = sources.iter().map(|s| s.platform().as_str()).collect();
    platforms.sort_unstable();
    platforms.dedup();
    let mut regions: Vec<&str> = sources.iter().filter_map(|s| s.region()).collect();
    regions.sort_unstable();
    regions.dedup();
    CollectionKey {
        sources: platforms.join(","),
        region: regions.join(","),
        window_hours: ANALYSIS_WINDOW_HOURS as i32,
    }
}
