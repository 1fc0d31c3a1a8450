//! `videos`: the composed MP4 of a script, its costs, generation log and review.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::text_enum;
use crate::dispatch;
use crate::schema::videos;
use crate::{Conn, DbResult};

text_enum!(
    VideoStatus { Generated => "generated", Approved => "approved", Rejected => "rejected" }
);

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = videos)]
pub struct Video {
    pub id: i64,
    pub job_id: i64,
    pub script_id: i64,
    pub variant: i32,
    pub status: VideoStatus,
    pub uri: String,
    pub thumbnail_uri: String,
    pub duration_seconds: f64,
    pub size_bytes: i64,
    pub sha256: String,
    pub width: i32,
    pub height: i32,
    pub llm_cost_micros: i64,
    pub tts_cost_micros: i64,
    pub video_generation_cost_micros: i64,
    pub generation_log: serde_json::Value,
    pub review_note: Option<String>,
    pub reviewed_at: Option<NaiveDateTime>,
    /// The authenticated user who reviewed it; `None` without authentication.
    pub reviewed_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Video {
    pub fn total_cost_micros(&self) -> i64 {
        self.llm_cost_micros + self.tts_cost_micros + self.video_generation_cost_micros
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = videos, treat_none_as_default_value = false)]
pub struct NewVideo {
    pub job_id: i64,
    pub script_id: i64,
    pub variant: i32,
    pub status: VideoStatus,
    pub uri: String,
    pub thumbnail_uri: String,
    pub duration_seconds: f64,
    pub size_bytes: i64,
    pub sha256: String,
    pub width: i32,
    pub height: i32,
    pub llm_cost_micros: i64,
    pub tts_cost_micros: i64,
    pub video_generation_cost_micros: i64,
    pub generation_log: serde_json::Value,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Inserts the video, or returns the script's existing one untouched (one video per script).
pub async fn insert_or_get(conn: &mut Conn<'_>, new: &NewVideo) -> DbResult<(Video, bool)> {
    let inserted = dispatch!(conn, c => diesel::insert_into(videos::table)
        .values(new)
        .on_conflict((videos::job_id, videos::script_id))
        .do_nothing()
        .returning(Video::as_returning())
        .get_result(c)
        .await
        .optional())?;
    match inserted {
        Some(video) => Ok((video, true)),
        None => Ok((for_script(conn, new.job_id, new.script_id).await?, false)),
    }
}

/// A video by id, only if it belongs to `job_id`.
pub async fn find(conn: &mut Conn<'_>, job_id: i64, id: i64) -> DbResult<Video> {
    Ok(dispatch!(conn, c => videos::table
        .filter(videos::id.eq(id).and(videos::job_id.eq(job_id)))
        .select(Video::as_select())
        .first(c)
        .await)?)
}

pub async fn for_script(conn: &mut Conn<'_>, job_id: i64, script_id: i64) -> DbResult<Video> {
    Ok(dispatch!(conn, c => videos::table
        .filter(videos::script_id.eq(script_id).and(videos::job_id.eq(job_id)))
        .select(Video::as_select())
        .first(c)
        .await)?)
}

pub async fn list_for_job(conn: &mut Conn<'_>, job_id: i64) -> DbResult<Vec<Video>> {
    Ok(dispatch!(conn, c => videos::table
        .filter(videos::job_id.eq(job_id))
        .order(videos::id.asc())
        .select(Video::as_select())
        .load(c)
        .await)?)
}

/// A reviewer's decision on a video.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'a> {
    /// `approved` or `rejected`.
    pub status: VideoStatus,
    pub note: Option<&'a str>,
    /// The authenticated user who decided; `None` without authentication.
    pub reviewer: Option<&'a str>,
}

/// Records a review decision on a `generated` video, with the files' new places. `None` when
/// the video is not awaiting review any more (the caller decides how to answer).
pub async fn record_review(
    conn: &mut Conn<'_>,
    job_id: i64,
    id: i64,
    decision: Decision<'_>,
    uri: &str,
    thumbnail_uri: &str,
) -> DbResult<Option<Video>> {
    let now = crate::now();
    Ok(dispatch!(conn, c => diesel::update(videos::table)
        .filter(videos::id.eq(id).and(videos::job_id.eq(job_id)).and(videos::status.eq(VideoStatus::Generated)))
        .set((
            videos::status.eq(decision.status),
            videos::review_note.eq(decision.note),
            videos::reviewed_at.eq(Some(now)),
            videos::reviewed_by.eq(decision.reviewer),
            videos::updated_at.eq(now),
            videos::uri.eq(uri),
            videos::thumbnail_uri.eq(thumbnail_uri),
        ))
        .returning(Video::as_returning())
        .get_result(c)
        .await
        .optional())?)
}

/// Which of `uris` a video row names as its video or thumbnail (a sweep keeps those files).
pub async fn named_uris(conn: &mut Conn<'_>, uris: &[String]) -> DbResult<std::collections::HashSet<String>> {
    let mut named = std::collections::HashSet::new();
    for chunk in uris.chunks(500) {
        let found: Vec<(String, String)> = dispatch!(conn, c => videos::table
            .filter(videos::uri.eq_any(chunk).or(videos::thumbnail_uri.eq_any(chunk)))
            .select((videos::uri, videos::thumbnail_uri))
            .load(c)
            .await)?;
        named.extend(found.into_iter().flat_map(|(video, thumbnail)| [video, thumbnail]));
    }
    Ok(named)
}
