//! A script's media set: where its files are stored, when the set is complete, the files stored
//! but not yet recorded, and the lock that lets one generation per script run at a time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use shortline_db::{AssetKind, MediaAsset, NewMediaAsset, Script};
use shortline_domain::ProductionPlan;
use shortline_grpc::status::RequestError;
use shortline_media::MediaStore;
use tokio::sync::OwnedMutexGuard;
use tracing::{info, Instrument};

use crate::error::Result;

/// Where a script's voiceover is stored.
pub(super) fn voiceover_key(script: &Script) -> String {
    format!("jobs/{}/script-{}/voiceover.wav", script.job_id, script.id)
}

/// Where a script's captions of `kind` (SRT or WebVTT) are stored.
pub(super) fn captions_key(script: &Script, kind: AssetKind) -> String {
    let extension = if kind == AssetKind::CaptionsSrt { "srt" } else { "vtt" };
    format!("jobs/{}/script-{}/captions.{extension}", script.job_id, script.id)
}

/// Where the clip of a script's scene `number` is stored.
pub(super) fn clip_key(script: &Script, number: i32) -> String {
    format!("jobs/{}/script-{}/scene-{number}.mp4", script.job_id, script.id)
}

/// Every key of a script's media set.
pub(super) fn set_keys(script: &Script, plan: &ProductionPlan) -> Vec<String> {
    let clips = plan.scenes.iter().filter_map(|scene| i32::try_from(scene.number).ok()).map(|n| clip_key(script, n));
    [voiceover_key(script), captions_key(script, AssetKind::CaptionsSrt), captions_key(script, AssetKind::CaptionsVtt)]
        .into_iter()
        .chain(clips)
        .collect()
}

/// The files a media generation stored but has not recorded. A failed generation removes them
/// ([`Unrecorded::remove`]); one dropped unfinished — its caller went away, e.g. the job was
/// cancelled — removes them as it goes, so no file is left that no row will ever own.
pub(super) struct Unrecorded {
    pub(super) store: MediaStore,
    pub(super) assets: Vec<NewMediaAsset>,
}

impl Unrecorded {
    /// Hands the files to whoever records their rows.
    pub(super) fn recorded(mut self) -> Vec<NewMediaAsset> {
        std::mem::take(&mut self.assets)
    }

    pub(super) async fn remove(mut self) {
        remove_stored(self.store.clone(), std::mem::take(&mut self.assets)).await
    }
}

impl Drop for Unrecorded {
    fn drop(&mut self) {
        let assets = std::mem::take(&mut self.assets);
        if assets.is_empty() {
            return;
        }
        // A drop cannot wait: the removal runs as a task of its own.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(remove_stored(self.store.clone(), assets).in_current_span());
        }
    }
}

async fn remove_stored(store: MediaStore, assets: Vec<NewMediaAsset>) {
    for asset in assets {
        match store.delete(&asset.uri).await {
            Ok(()) => info!(uri = %asset.uri, "removed media of an unfinished generation"),
            Err(error) => tracing::warn!(uri = %asset.uri, %error, "cannot remove media of an unfinished generation"),
        }
    }
}

pub(super) fn scene_number(number: u32) -> Result<i32> {
    i32::try_from(number).map_err(|_| RequestError::Internal(format!("scene number {number} out of range")).into())
}

pub(super) fn find_asset(assets: &[MediaAsset], kind: AssetKind, scene_number: i32) -> Option<&MediaAsset> {
    assets.iter().find(|a| a.kind == kind && a.scene_number == scene_number)
}

/// A voiceover at scene 0 and a clip for every scene of the plan.
pub(super) fn is_complete(plan: &ProductionPlan, assets: &[MediaAsset]) -> bool {
    find_asset(assets, AssetKind::Voiceover, 0).is_some()
        && plan.scenes.iter().all(|scene| {
            i32::try_from(scene.number).is_ok_and(|number| find_asset(assets, AssetKind::Clip, number).is_some())
        })
}

/// One async mutex per script id, made on demand and forgotten once nobody holds or awaits it.
#[derive(Default)]
pub(super) struct ScriptLocks(Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>);

impl ScriptLocks {
    pub(super) async fn lock(&self, script_id: i64) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            locks.entry(script_id).or_default().clone()
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn script_locks_serialise_one_script_and_are_forgotten() {
        let locks = ScriptLocks::default();
        let first = locks.lock(1).await;
        let other = locks.lock(2).await;
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(20), locks.lock(1)).await;
        assert!(waiting.is_err(), "a second lock of script 1 waits");
        drop((first, other));
        let _again = locks.lock(1).await;
        assert_eq!(locks.0.lock().unwrap_or_else(PoisonError::into_inner).len(), 1, "script 2's lock is gone");
    }
}
