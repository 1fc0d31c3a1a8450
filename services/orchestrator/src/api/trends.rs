//! The trend RPCs: collect, list, analyse and read reports.

use shortline_db::{self as db, JobKind, MadeBy, StageName};
use shortline_domain::Platform;
use shortline_grpc::convert;
use shortline_grpc::record_job_id;
use shortline_proto::v1;

use super::{enum_field, next_token, page_size, page_token, OrchestratorApi};
use crate::error::{RequestError, Result};
use crate::trends::{ANALYSIS_MAX_ITEMS, ANALYSIS_WINDOW_HOURS};

impl OrchestratorApi {
    /// Collects trends now, as a job of its own.
    pub(super) async fn collect(&self, request: v1::CollectTrendsRequest) -> Result<v1::CollectTrendsResponse> {
        let mut platforms = Vec::new();
        for (i, value) in request.platforms.iter().enumerate() {
            let platform: v1::Platform = enum_field(*value, &format!("platforms[{i}]"))?;
            platforms.push(
                convert::platform_from(platform)
                    .ok_or_else(|| RequestError::invalid(format!("platforms[{i}]"), "must be TIKTOK or YOUTUBE"))?,
            );
        }
        if platforms.is_empty() {
            platforms = Platform::ALL.to_vec();
        }
        let limit = match request.limit_per_platform {
            0 => crate::stages::ITEMS_PER_SOURCE,
            n @ 1..=500 => n as usize,
            _ => return Err(RequestError::invalid("limit_per_platform", "must be between 0 and 500")),
        };
        let stages = &self.engine.stages;
        let (job_id, (rows, new)) = self
            .engine
            .run_inline(JobKind::TrendRefresh, "trend refresh", StageName::TrendCollection, |job_id| {
                record_job_id(job_id);
                stages.collect(job_id, &platforms, limit, MadeBy::Job)
            })
            .await?;
        Ok(v1::CollectTrendsResponse {
            job_id,
            collected: rows.len() as i32,
            new_trends: new as i32,
            trends: rows.iter().map(convert::trend).collect(),
        })
    }

    /// A page of collected trends.
    pub(super) async fn trends(&self, request: v1::ListTrendsRequest) -> Result<v1::ListTrendsResponse> {
        let platform = convert::platform_from(enum_field(request.platform, "platform")?);
        let limit = page_size(request.page_size)?;
        let before = page_token(&request.page_token)?;
        if request.seen_by_job_id < 0 {
            return Err(RequestError::invalid("seen_by_job_id", "must be a job id, or 0 for any"));
        }
        let seen_by = Some(request.seen_by_job_id).filter(|id| *id > 0);
        let mut pooled = self.conn().await?;
        let rows = db::trends::list(&mut pooled.conn(), platform, seen_by, before, limit).await?;
        Ok(v1::ListTrendsResponse {
            next_page_token: next_token(&rows, limit, |t| t.id),
            trends: rows.iter().map(convert::trend).collect(),
        })
    }

    /// Analyses the collected trends now, as a job of its own.
    pub(super) async fn analyze(&self, request: v1::AnalyzeTrendsRequest) -> Result<v1::TrendReport> {
        let window_hours = match request.window_hours {
            0 => ANALYSIS_WINDOW_HOURS,
            n @ 1..=720 => n as u32,
            _ => return Err(RequestError::invalid("window_hours", "must be between 0 and 720")),
        };
        let max = match request.max_trends {
            0 => ANALYSIS_MAX_ITEMS,
            n @ 1..=1000 => n as usize,
            _ => return Err(RequestError::invalid("max_trends", "must be between 0 and 1000")),
        };
        let stages = &self.engine.stages;
        let (_, report) = self
            .engine
            .run_inline(JobKind::TrendAnalysis, "trend analysis", StageName::TrendAnalysis, |job_id| {
                record_job_id(job_id);
                stages.analyze(job_id, window_hours, max)
            })
            .await?;
        let mut pooled = self.conn().await?;
        let items = db::trend_reports::items(&mut pooled.conn(), report.id).await?;
        Ok(convert::trend_report(&report, &items)?)
    }

    /// A page of trend reports, newest first.
    pub(super) async fn reports(&self, request: v1::ListTrendReportsRequest) -> Result<v1::ListTrendReportsResponse> {
        let limit = page_size(request.page_size)?;
        let before = page_token(&request.page_token)?;
        let mut pooled = self.conn().await?;
        let conn = &mut pooled.conn();
        let rows = db::trend_reports::list(conn, before, limit).await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let items = db::trend_reports::items_for_reports(conn, &ids).await?;
        let reports = rows
            .iter()
            .map(|row| convert::trend_report(row, items.get(&row.id).map_or(&[][..], Vec::as_slice)))
            .collect::<db::DbResult<Vec<_>>>()?;
        Ok(v1::ListTrendReportsResponse { next_page_token: next_token(&rows, limit, |r| r.id), reports })
    }

    /// The newest trend report.
    pub(super) async fn latest_report(&self) -> Result<v1::TrendReport> {
        let mut pooled = self.conn().await?;
        let conn = &mut pooled.conn();
        let report = db::trend_reports::latest(conn).await.map_err(|e| match e {
            db::DbError::NotFound => {
                RequestError::NotFound("no trend report yet: run AnalyzeTrends or a pipeline job".into())
            }
            other => other.into(),
        })?;
        let items = db::trend_reports::items(conn, report.id).await?;
        Ok(convert::trend_report(&report, &items)?)
    }
}
