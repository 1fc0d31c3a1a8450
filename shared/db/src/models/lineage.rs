//! Everything a job produced, read in one go.

use super::{job_stages, jobs, media_assets, scripts, trend_collections, trend_reports, trends, videos};
use super::{Job, JobStage, MediaAsset, Script, Trend, TrendCollection, TrendReport, TrendReportItem, Video};
use crate::{Conn, DbError, DbResult};

#[derive(Debug, Clone, PartialEq)]
pub struct Lineage {
    pub job: Job,
    pub stages: Vec<JobStage>,
    /// The collection the job used (made or shared), if it got that far.
    pub collection: Option<TrendCollection>,
    /// The items the job saw while collecting: its collection's.
    pub trends: Vec<Trend>,
    pub report: Option<TrendReport>,
    pub report_items: Vec<TrendReportItem>,
    pub scripts: Vec<Script>,
    pub assets: Vec<MediaAsset>,
    pub videos: Vec<Video>,
}

/// The job and every row it wrote; NotFound for an unknown job.
pub async fn for_job(conn: &mut Conn<'_>, job_id: i64) -> DbResult<Lineage> {
    let job = jobs::find(conn, job_id).await?;
    let report = match trend_reports::for_job(conn, job_id).await {
        Ok(report) => Some(report),
        Err(DbError::NotFound) => None,
        Err(other) => return Err(other),
    };
    let report_items = match &report {
        Some(report) => trend_reports::items(conn, report.id).await?,
        None => Vec::new(),
    };
    let collection = trend_collections::used_by(conn, job_id).await?.map(|(_, c)| c);
    let trends = match &collection {
        Some(collection) => trends::in_collection(conn, collection.id).await?,
        None => trends::seen_by_job(conn, job_id).await?,
    };
    Ok(Lineage {
        stages: job_stages::list_for_job(conn, job_id).await?,
        collection,
        trends,
        report,
        report_items,
        scripts: scripts::list_for_job(conn, job_id).await?,
        assets: media_assets::list_for_job(conn, job_id).await?,
        videos: videos::list_for_job(conn, job_id).await?,
        job,
    })
}
