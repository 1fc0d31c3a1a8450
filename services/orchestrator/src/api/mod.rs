//! `OrchestratorService`: the public API. Each RPC is a thin trait method that checks the job id
//! and names the job in the request's span, then calls an inner method returning
//! [`RequestError`] (in [`jobs`] and [`trends`]), mapped to a status once, here. Handlers
//! validate, then read or write the database and hand work to the engine; they never block on a
//! pipeline run except where the RPC says so (CollectTrends, AnalyzeTrends).

mod jobs;
mod trends;
mod watch;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use shortline_db as db;
use shortline_grpc::auth::{caller_name, Permission};
use shortline_grpc::convert;
use shortline_grpc::status::job_scoped;
use shortline_proto::v1::{self, orchestrator_service_server::OrchestratorService};
use tonic::{Request, Response, Status};

use crate::engine::Engine;
use crate::error::{RequestError, Result};

const DEFAULT_PAGE_SIZE: i32 = 50;
const MAX_PAGE_SIZE: i32 = 500;
const MAX_VARIANTS: i32 = 10;
const MAX_THEME_FILE_BYTES: usize = 256 * 1024;
const MAX_REQUEST_ID_CHARS: usize = 200;
const MAX_NOTE_CHARS: usize = 2_000;
/// Deadline of the read calls the orchestrator makes on behalf of a client.
const READ_DEADLINE: Duration = Duration::from_secs(30);

pub struct OrchestratorApi {
    engine: Arc<Engine>,
}

impl OrchestratorApi {
    pub fn new(engine: Arc<Engine>) -> Self {
        OrchestratorApi { engine }
    }

    async fn conn(&self) -> Result<db::PooledConn> {
        Ok(self.engine.pool.get().await?)
    }

    async fn job(&self, job_id: i64) -> Result<v1::Job> {
        let mut pooled = self.conn().await?;
        let conn = &mut pooled.conn();
        let job = find_job(conn, job_id).await?;
        let stages = db::job_stages::list_for_job(conn, job_id).await?;
        Ok(convert::job(&job, &stages))
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = std::result::Result<v1::JobEvent, Status>> + Send>>;

#[tonic::async_trait]
impl OrchestratorService for OrchestratorApi {
    async fn start_job(&self, request: Request<v1::StartJobRequest>) -> std::result::Result<Response<v1::Job>, Status> {
        let started_by = caller_name(&request);
        Ok(Response::new(self.start(request.into_inner(), started_by).await?))
    }

    async fn get_job(&self, request: Request<v1::GetJobRequest>) -> std::result::Result<Response<v1::Job>, Status> {
        let job_id = job_scoped(request.get_ref().job_id)?;
        Ok(Response::new(self.job(job_id).await?))
    }

    async fn list_jobs(
        &self,
        request: Request<v1::ListJobsRequest>,
    ) -> std::result::Result<Response<v1::ListJobsResponse>, Status> {
        Ok(Response::new(self.list(request.into_inner()).await?))
    }

    type WatchJobStream = WatchStream;

    async fn watch_job(
        &self,
        request: Request<v1::WatchJobRequest>,
    ) -> std::result::Result<Response<WatchStream>, Status> {
        let job_id = job_scoped(request.get_ref().job_id)?;
        self.job(job_id).await?; // NOT_FOUND before the stream starts
        let stream = watch::watch_stream(self.engine.pool.clone(), self.engine.subscribe(), job_id);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn cancel_job(
        &self,
        request: Request<v1::CancelJobRequest>,
    ) -> std::result::Result<Response<v1::Job>, Status> {
        let job_id = job_scoped(request.get_ref().job_id)?;
        Ok(Response::new(self.cancel(job_id, request.into_inner()).await?))
    }

    async fn retry_job(&self, request: Request<v1::RetryJobRequest>) -> std::result::Result<Response<v1::Job>, Status> {
        let job_id = job_scoped(request.get_ref().job_id)?;
        Ok(Response::new(self.retry(job_id, request.into_inner()).await?))
    }

    async fn get_job_lineage(
        &self,
        request: Request<v1::GetJobLineageRequest>,
    ) -> std::result::Result<Response<v1::JobLineage>, Status> {
        let job_id = job_scoped(request.get_ref().job_id)?;
        Ok(Response::new(self.lineage(job_id).await?))
    }

    async fn review_video(
        &self,
        request: Request<v1::ReviewVideoRequest>,
    ) -> std::result::Result<Response<v1::Job>, Status> {
        let reviewer = caller_name(&request).unwrap_or_default();
        let job_id = job_scoped(request.get_ref().job_id)?;
        Ok(Response::new(self.review(job_id, request.into_inner(), reviewer).await?))
    }

    async fn collect_trends(
        &self,
        request: Request<v1::CollectTrendsRequest>,
    ) -> std::result::Result<Response<v1::CollectTrendsResponse>, Status> {
        Ok(Response::new(self.collect(request.into_inner()).await?))
    }

    async fn list_trends(
        &self,
        request: Request<v1::ListTrendsRequest>,
    ) -> std::result::Result<Response<v1::ListTrendsResponse>, Status> {
        Ok(Response::new(self.trends(request.into_inner()).await?))
    }

    async fn analyze_trends(
        &self,
        request: Request<v1::AnalyzeTrendsRequest>,
    ) -> std::result::Result<Response<v1::TrendReport>, Status> {
        Ok(Response::new(self.analyze(request.into_inner()).await?))
    }

    async fn list_trend_reports(
        &self,
        request: Request<v1::ListTrendReportsRequest>,
    ) -> std::result::Result<Response<v1::ListTrendReportsResponse>, Status> {
        Ok(Response::new(self.reports(request.into_inner()).await?))
    }

    async fn get_latest_trend_report(
        &self,
        _request: Request<v1::GetLatestTrendReportRequest>,
    ) -> std::result::Result<Response<v1::TrendReport>, Status> {
        Ok(Response::new(self.latest_report().await?))
    }
}

/// What each method needs of a user (with `auth.tokens_file` set); a method missing here is the
/// admin's alone.
pub fn permission_of(method: &str) -> Option<Permission> {
    Some(match method {
        "GetJob"
        | "ListJobs"
        | "WatchJob"
        | "GetJobLineage"
        | "ListTrends"
        | "ListTrendReports"
        | "GetLatestTrendReport" => Permission::Read,
        "StartJob" | "CancelJob" | "RetryJob" | "CollectTrends" | "AnalyzeTrends" => Permission::Operate,
        "ReviewVideo" => Permission::Review,
        _ => return None,
    })
}

async fn find_job(conn: &mut db::Conn<'_>, job_id: i64) -> Result<db::Job> {
    db::jobs::find(conn, job_id).await.map_err(|e| match e {
        db::DbError::NotFound => RequestError::JobNotFound(job_id),
        other => other.into(),
    })
}

fn page_size(requested: i32) -> Result<i64> {
    match requested {
        0 => Ok(i64::from(DEFAULT_PAGE_SIZE)),
        1..=MAX_PAGE_SIZE => Ok(i64::from(requested)),
        _ => Err(RequestError::invalid("page_size", format!("must be between 0 and {MAX_PAGE_SIZE}"))),
    }
}

/// Page tokens are the last id of the previous page.
fn page_token(token: &str) -> Result<Option<i64>> {
    if token.is_empty() {
        return Ok(None);
    }
    token.parse::<i64>().map(Some).map_err(|_| RequestError::invalid("page_token", "is not a token this API gave out"))
}

fn next_token<T>(rows: &[T], limit: i64, id: impl Fn(&T) -> i64) -> String {
    if rows.len() as i64 == limit {
        rows.last().map(|r| id(r).to_string()).unwrap_or_default()
    } else {
        String::new()
    }
}

fn enum_field<E: TryFrom<i32>>(value: i32, field: &str) -> Result<E> {
    E::try_from(value).map_err(|_| RequestError::invalid(field, format!("{value} is not a known value")))
}
