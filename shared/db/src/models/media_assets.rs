//! `media_assets`: the files a script's media stage made (one clip per scene, the voiceover).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::text_enum;
use crate::schema::media_assets;
use crate::{dispatch, transaction};
use crate::{Conn, DbResult};

text_enum!(
    AssetKind {
        Clip => "clip",
        Voiceover => "voiceover",
        Music => "music",
        CaptionsSrt => "captions_srt",
        CaptionsVtt => "captions_vtt",
    }
);

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = media_assets)]
pub struct MediaAsset {
    pub id: i64,
    pub job_id: i64,
    pub script_id: i64,
    pub kind: AssetKind,
    pub scene_number: i32,
    pub uri: String,
    pub duration_seconds: f64,
    pub size_bytes: i64,
    pub sha256: String,
    pub provider: String,
    pub model: String,
    /// What the provider reported using (tokens, characters, seconds), for the cost ledger.
    pub usage: serde_json::Value,
    pub cost_micros: i64,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = media_assets, treat_none_as_default_value = false)]
pub struct NewMediaAsset {
    pub job_id: i64,
    pub script_id: i64,
    pub kind: AssetKind,
    pub scene_number: i32,
    pub uri: String,
    pub duration_seconds: f64,
    pub size_bytes: i64,
    pub sha256: String,
    pub provider: String,
    pub model: String,
    pub usage: serde_json::Value,
    pub cost_micros: i64,
    pub created_at: NaiveDateTime,
}

/// Writes a script's assets in one transaction; any asset already stored for the same
/// `(job_id, script_id, kind, scene_number)` is kept as it is. Returns all of the script's assets.
pub async fn insert_all_or_get(
    conn: &mut Conn<'_>,
    job_id: i64,
    script_id: i64,
    new: &[NewMediaAsset],
) -> DbResult<Vec<MediaAsset>> {
    transaction!(conn, |tx| {
        for asset in new {
            dispatch!(tx, c => diesel::insert_into(media_assets::table)
                .values(asset)
                .on_conflict((media_assets::job_id, media_assets::script_id, media_assets::kind, media_assets::scene_number))
                .do_nothing()
                .execute(c)
                .await)?;
        }
        list_for_script(tx, job_id, script_id).await
    })
}

/// A script's assets (voiceover first, then clips by scene), only within `job_id`.
pub async fn list_for_script(conn: &mut Conn<'_>, job_id: i64, script_id: i64) -> DbResult<Vec<MediaAsset>> {
    Ok(dispatch!(conn, c => media_assets::table
        .filter(media_assets::job_id.eq(job_id).and(media_assets::script_id.eq(script_id)))
        .order((media_assets::scene_number.asc(), media_assets::kind.asc()))
        .select(MediaAsset::as_select())
        .load(c)
        .await)?)
}

pub async fn list_for_job(conn: &mut Conn<'_>, job_id: i64) -> DbResult<Vec<MediaAsset>> {
    Ok(dispatch!(conn, c => media_assets::table
        .filter(media_assets::job_id.eq(job_id))
        .order(media_assets::id.asc())
        .select(MediaAsset::as_select())
        .load(c)
        .await)?)
}

/// Which of `uris` an asset row names (a sweep keeps those files).
pub async fn named_uris(conn: &mut Conn<'_>, uris: &[String]) -> DbResult<std::collections::HashSet<String>> {
    let mut named = std::collections::HashSet::new();
    for chunk in uris.chunks(500) {
        let found: Vec<String> = dispatch!(conn, c => media_assets::table
            .filter(media_assets::uri.eq_any(chunk))
            .select(media_assets::uri)
            .load(c)
            .await)?;
        named.extend(found);
    }
    Ok(named)
}
