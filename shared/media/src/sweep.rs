//! The sweep of media no row will ever own: what a killed process left (partial files, work
//! directories, finished files of a set it never recorded) and what a failed or cancelled job's
//! attempts could not remove. Each service sweeps the part of the store it writes (scriptgen
//! `jobs/`, the composer `generated/`).
//!
//! Only what has not been modified for twice the deadline of the stage that writes it is
//! considered, so nothing a live attempt is still writing or about to record is touched; of
//! that, only what no row names is removed.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::{MediaStore, MediaStoreError};
use shortline_db::{self as db, DbError, DbPool};

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] MediaStoreError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The rows that own the files under a sweep's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    MediaAssets,
    Videos,
}

pub struct Sweep {
    pub store: MediaStore,
    pub pool: DbPool,
    /// The part of the store the service writes, e.g. `jobs`.
    pub prefix: &'static str,
    pub owner: Owner,
    /// The deadline of the stage that writes there; twice it is the age a file must reach.
    pub stage_deadline: Duration,
}

impl Sweep {
    /// Removes what no row names and nothing touched for twice the stage's deadline; returns
    /// how many items it removed.
    pub async fn once(&self) -> Result<usize, SweepError> {
        let stale = self.store.list_stale(self.prefix, self.stage_deadline * 2).await?;
        let uris: Vec<String> = stale.iter().filter_map(|item| item.uri.clone()).collect();
        // Rows are read after the listing: a row recorded meanwhile still keeps its file.
        let named = if uris.is_empty() {
            Default::default()
        } else {
            let mut pooled = self.pool.get().await?;
            let conn = &mut pooled.conn();
            match self.owner {
                Owner::MediaAssets => db::media_assets::named_uris(conn, &uris).await?,
                Owner::Videos => db::videos::named_uris(conn, &uris).await?,
            }
        };
        let mut removed = 0;
        for item in stale.iter().filter(|item| item.uri.as_ref().is_none_or(|uri| !named.contains(uri))) {
            match self.store.remove_stale(item).await {
                Ok(true) => {
                    info!(item = ?item.uri, "removed media no row owns");
                    removed += 1;
                }
                Ok(false) => {}
                Err(error) => warn!(%error, "cannot remove media no row owns"),
            }
        }
        Ok(removed)
    }

    /// Sweeps at once and then every `interval` until `shutdown` (a zero interval: never).
    pub async fn every(self, interval: Duration, shutdown: CancellationToken) {
        if interval.is_zero() {
            return;
        }
        let mut ticker = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            if let Err(error) = self.once().await {
                warn!(prefix = self.prefix, %error, "the media sweep failed; it runs again later");
            }
        }
    }
}
