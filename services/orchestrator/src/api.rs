//! `OrchestratorService`: the public API. Handlers validate, then read or write the database
//! and hand work to the engine; they never block on a pipeline run except where the RPC says so
//! (CollectTrends, AnalyzeTrends).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use shortline_db::{self as db, JobKind, JobStatus, NewJob, NewJobStage, StageName, StageStatus};
use shortline_domain::text::{quote, stored_text};
use shortline_domain::{Platform, Theme, ThemeError};
use shortline_grpc::auth::{caller_name, Permission};
use shortline_grpc::convert;
use shortline_grpc::record_job_id;
use shortline_grpc::status::require_job_id;
use shortline_proto::v1::{self, orchestrator_service_server::OrchestratorService};
use tonic::{Request, Response, Status};
use tracing::info;

use crate::engine::Engine;
use crate::error::{OrchestratorError, Result};
use crate::themes;
use crate::trends::{ANALYSIS_MAX_ITEMS, ANALYSIS_WINDOW_HOURS};

const DEFAULT_PAGE_SIZE: i32 = 50;
const MAX_PAGE_SIZE: i32 = 500;
const MAX_VARIANTS: i32 = 10;
const MAX_THEME_FILE_BYTES: usize = 256 * 1024;
const MAX_REQUEST_ID_CHARS: usize = 200;
const MAX_NOTE_CHARS: usize = 2_000;
/// How often WatchJob looks at the job; polling the database makes a watch work whichever
/// replica runs the job.
const WATCH_INTERVAL: Duration = Duration::from_millis(200);
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

async fn find_job(conn: &mut db::Conn<'_>, job_id: i64) -> Result<db::Job> {
    db::jobs::find(conn, job_id).await.map_err(|e| match e {
        db::DbError::NotFound => OrchestratorError::JobNotFound(job_id),
        other => other.into(),
    })
}

fn page_size(requested: i32) -> Result<i64> {
    match requested {
        0 => Ok(i64::from(DEFAULT_PAGE_SIZE)),
        1..=MAX_PAGE_SIZE => Ok(i64::from(requested)),
        _ => Err(OrchestratorError::invalid("page_size", format!("must be between 0 and {MAX_PAGE_SIZE}"))),
    }
}

/// Page tokens are the last id of the previous page.
fn page_token(token: &str) -> Result<Option<i64>> {
    if token.is_empty() {
        return Ok(None);
    }
    token
        .parse::<i64>()
        .map(Some)
        .map_err(|_| OrchestratorError::invalid("page_token", "is not a token this API gave out"))
}

fn next_token<T>(rows: &[T], limit: i64, id: impl Fn(&T) -> i64) -> String {
    if rows.len() as i64 == limit {
        rows.last().map(|r| id(r).to_string()).unwrap_or_default()
    } else {
        String::new()
    }
}

fn enum_field<E: TryFrom<i32>>(value: i32, field: &str) -> Result<E> {
    E::try_from(value).map_err(|_| OrchestratorError::invalid(field, format!("{value} is not a known value")))
}

fn theme_error(field: &str, error: ThemeError) -> OrchestratorError {
    match error {
        ThemeError::Invalid(violations) => OrchestratorError::Invalid(
            violations
                .into_iter()
                .map(|v| shortline_domain::Violation::new(format!("{field}: {}", v.field), v.reason))
                .collect(),
        ),
        other => OrchestratorError::invalid(field, other.to_string()),
    }
}

/// The theme a StartJob names, and the name the job is listed under.
fn requested_theme(request: &v1::StartJobRequest) -> Result<(String, Theme)> {
    use v1::start_job_request::Source;
    match &request.source {
        None => Err(OrchestratorError::invalid("source", "one of theme_name, theme or theme_file is required")),
        Some(Source::ThemeName(name)) => match themes::bundled(name) {
            Some(theme) => Ok((name.clone(), theme.map_err(|e| theme_error("theme_name", e))?)),
            None => Err(OrchestratorError::invalid(
                "theme_name",
                format!("no bundled theme {} (known: {})", quote(name), themes::names().collect::<Vec<_>>().join(", ")),
            )),
        },
        Some(Source::Theme(message)) => {
            let theme = convert::theme_from(message, "theme").map_err(OrchestratorError::Invalid)?;
            Ok((theme.config.theme.clone(), theme))
        }
        Some(Source::ThemeFile(text)) => {
            if text.len() > MAX_THEME_FILE_BYTES {
                return Err(OrchestratorError::invalid(
                    "theme_file",
                    format!("larger than {MAX_THEME_FILE_BYTES} bytes"),
                ));
            }
            let format = request.theme_file_format.to_ascii_lowercase();
            if !["", "yaml", "yml", "toml"].contains(&format.as_str()) {
                return Err(OrchestratorError::invalid("theme_file_format", "must be yaml or toml"));
            }
            let theme = themes::parse(text, &format).map_err(|e| theme_error("theme_file", e))?;
            Ok((theme.config.theme.clone(), theme))
        }
    }
}

impl OrchestratorApi {
    /// Ends the review of a job awaiting it once the composer holds a decision for each of its
    /// `videos`: the review attempt succeeds, and the job is approved when a video was. The
    /// status and the attempt change together; a job no longer awaiting review is left alone.
    async fn settle_review(&self, job_id: i64, videos: &[v1::Video]) -> Result<()> {
        if videos.iter().any(|v| v.status == v1::VideoStatus::Generated as i32) {
            return Ok(());
        }
        let approved = videos.iter().any(|v| v.status == v1::VideoStatus::Approved as i32);
        let outcome = if approved { JobStatus::Approved } else { JobStatus::Rejected };
        let summary = format!("{}:{}", outcome, videos.iter().map(|v| v.id.to_string()).collect::<Vec<_>>().join(","));
        let mut pooled = self.conn().await?;
        let conn = &mut pooled.conn();
        let settled = shortline_db::transaction!(conn, |tx| {
            let awaiting = [JobStatus::AwaitingReview];
            if db::jobs::transition(tx, job_id, &awaiting, outcome, None, None, None).await?.is_none() {
                return Ok(false);
            }
            let attempts = db::job_stages::list_for_job(tx, job_id).await?;
            let reviews = || attempts.iter().filter(|a| a.stage == StageName::Review);
            let row = match reviews().find(|a| a.status == StageStatus::Running) {
                Some(open) => open.clone(),
                None => {
                    let attempt = reviews().map(|a| a.attempt).max().unwrap_or(0) + 1;
                    db::job_stages::insert(tx, &NewJobStage::running(job_id, StageName::Review, attempt)).await?
                }
            };
            db::job_stages::finish(tx, row.id, StageStatus::Succeeded, None, Some(&summary)).await?;
            Ok(true)
        })?;
        if settled {
            info!(job_id, %outcome, "review settled");
            self.engine.changed(job_id);
        }
        Ok(())
    }
}

/// The status a video gets from `decision`.
fn decided(decision: v1::ReviewDecision) -> v1::VideoStatus {
    match decision {
        v1::ReviewDecision::Reject => v1::VideoStatus::Rejected,
        _ => v1::VideoStatus::Approved,
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

type WatchStream = Pin<Box<dyn Stream<Item = std::result::Result<v1::JobEvent, Status>> + Send>>;

#[tonic::async_trait]
impl OrchestratorService for OrchestratorApi {
    async fn start_job(&self, request: Request<v1::StartJobRequest>) -> std::result::Result<Response<v1::Job>, Status> {
        let started_by = caller_name(&request);
        let request = request.into_inner();
        let (name, theme) = requested_theme(&request)?;
        let variants = match request.variants {
            0 => 1,
            n @ 1..=MAX_VARIANTS => n,
            _ => {
                return Err(
                    OrchestratorError::invalid("variants", format!("must be between 1 and {MAX_VARIANTS}")).into()
                )
            }
        };
        stored_text("client_request_id", &request.client_request_id, MAX_REQUEST_ID_CHARS)
            .map_err(|v| OrchestratorError::Invalid(vec![v]))?;
        let mut new = NewJob::queued(JobKind::Pipeline, name, Some(db::to_json(&theme)), variants);
        new.client_request_id = Some(request.client_request_id.clone()).filter(|id| !id.is_empty());
        new.started_by = started_by;
        let mut pooled = self.conn().await?;
        let conn = &mut pooled.conn();
        let job = if new.client_request_id.is_some() {
            db::jobs::insert_idempotent(conn, &new).await.map_err(OrchestratorError::from)?.0
        } else {
            db::jobs::insert(conn, &new).await.map_err(OrchestratorError::from)?
        };
        record_job_id(job.id);
        self.engine.wake();
        let stages = db::job_stages::list_for_job(conn, job.id).await.map_err(OrchestratorError::from)?;
        Ok(Response::new(convert::job(&job, &stages)))
    }

    async fn get_job(&self, request: Request<v1::GetJobRequest>) -> std::result::Result<Response<v1::Job>, Status> {
        let job_id = require_job_id(request.get_ref().job_id)?;
        Ok(Response::new(self.job(job_id).await?))
    }

    async fn list_jobs(
        &self,
        request: Request<v1::ListJobsRequest>,
    ) -> std::result::Result<Response<v1::ListJobsResponse>, Status> {
        let request = request.into_inner();
        let status = convert::job_status_from(enum_field(request.status, "status")?);
        let kind = convert::job_kind_from(enum_field(request.kind, "kind")?);
        let limit = page_size(request.page_size)?;
        let before = page_token(&request.page_token)?;
        let mut pooled = self.conn().await?;
        let conn = &mut pooled.conn();
        let jobs = db::jobs::list(conn, status, kind, before, limit).await.map_err(OrchestratorError::from)?;
        let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
        let stages = db::job_stages::list_for_jobs(conn, &ids).await.map_err(OrchestratorError::from)?;
        let out =
            jobs.iter().map(|job| convert::job(job, stages.get(&job.id).map_or(&[][..], Vec::as_slice))).collect();
        Ok(Response::new(v1::ListJobsResponse { next_page_token: next_token(&jobs, limit, |j| j.id), jobs: out }))
    }

    type WatchJobStream = WatchStream;

    async fn watch_job(
        &self,
        request: Request<v1::WatchJobRequest>,
    ) -> std::result::Result<Response<WatchStream>, Status> {
        let job_id = require_job_id(request.get_ref().job_id)?;
        self.job(job_id).await?; // NOT_FOUND before the stream starts
        let stream = watch_stream(self.engine.pool.clone(), self.engine.subscribe(), job_id);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn cancel_job(
        &self,
        request: Request<v1::CancelJobRequest>,
    ) -> std::result::Result<Response<v1::Job>, Status> {
        let request = request.into_inner();
        let job_id = require_job_id(request.job_id)?;
        // The reason becomes the job's error.
        stored_text("reason", &request.reason, MAX_NOTE_CHARS).map_err(|v| OrchestratorError::Invalid(vec![v]))?;
        let reason =
            if request.reason.is_empty() { "cancelled".to_owned() } else { format!("cancelled: {}", request.reason) };
        {
            let mut pooled = self.conn().await?;
            let conn = &mut pooled.conn();
            let job = find_job(conn, job_id).await?;
            let live = [JobStatus::Queued, JobStatus::Running, JobStatus::AwaitingReview];
            // The status and the open attempts change together: no attempt stays "running" once
            // the job is cancelled (the worker's own closing write is fenced off by then).
            let cancelled = shortline_db::transaction!(conn, |tx| {
                let cancelled =
                    db::jobs::transition(tx, job_id, &live, JobStatus::Cancelled, None, None, Some(&reason)).await?;
                if cancelled.is_some() {
                    db::job_stages::close_open(tx, job_id, StageStatus::Cancelled, &reason).await?;
                }
                Ok(cancelled)
            })
            .map_err(OrchestratorError::from)?;
            if cancelled.is_none() {
                return Err(
                    OrchestratorError::FailedPrecondition(format!("job {job_id} is already {}", job.status)).into()
                );
            }
        }
        self.engine.cancel_running(job_id);
        self.engine.changed(job_id);
        Ok(Response::new(self.job(job_id).await?))
    }

    async fn retry_job(&self, request: Request<v1::RetryJobRequest>) -> std::result::Result<Response<v1::Job>, Status> {
        let request = request.into_inner();
        let job_id = require_job_id(request.job_id)?;
        let from_stage = convert::stage_from(enum_field(request.from_stage, "from_stage")?);
        {
            let mut pooled = self.conn().await?;
            let conn = &mut pooled.conn();
            // Every check comes before the first write, and the writes (the status, the reopened
            // attempts) commit together: a refused RetryJob leaves nothing behind.
            let refusal = shortline_db::transaction!(conn, |tx| {
                let job = match db::jobs::find(tx, job_id).await {
                    Ok(job) => job,
                    Err(db::DbError::NotFound) => return Ok(Some(OrchestratorError::JobNotFound(job_id))),
                    Err(other) => return Err(other),
                };
                let attempts = db::job_stages::list_for_job(tx, job_id).await?;
                if let Err(refusal) = check_retry(&job, from_stage, &attempts) {
                    return Ok(Some(refusal));
                }
                let retryable = [JobStatus::Failed, JobStatus::Cancelled];
                if db::jobs::transition(tx, job_id, &retryable, JobStatus::Queued, None, None, None).await?.is_none() {
                    // Moved on since it was read (e.g. retried by someone else): nothing written.
                    return Ok(Some(not_retryable(&job)));
                }
                if let Some(stage) = from_stage.filter(|stage| *stage != StageName::Review) {
                    // Earlier stages keep their outputs; from `stage` on, the stages run again and
                    // their idempotent RPCs hand back whatever is already made.
                    db::job_stages::reopen_from(tx, job_id, &StageName::ALL[stage_index(stage)..]).await?;
                }
                Ok(None)
            })
            .map_err(OrchestratorError::from)?;
            if let Some(refusal) = refusal {
                return Err(refusal.into());
            }
        }
        self.engine.wake();
        self.engine.changed(job_id);
        Ok(Response::new(self.job(job_id).await?))
    }

    async fn get_job_lineage(
        &self,
        request: Request<v1::GetJobLineageRequest>,
    ) -> std::result::Result<Response<v1::JobLineage>, Status> {
        let job_id = require_job_id(request.get_ref().job_id)?;
        let (job, stages, trends, report) = {
            let mut pooled = self.conn().await?;
            let conn = &mut pooled.conn();
            let job = find_job(conn, job_id).await?;
            let stages = db::job_stages::list_for_job(conn, job_id).await.map_err(OrchestratorError::from)?;
            let trends = db::trends::seen_by_job(conn, job_id).await.map_err(OrchestratorError::from)?;
            let report = match db::trend_reports::for_job(conn, job_id).await {
                Ok(report) => {
                    let items = db::trend_reports::items(conn, report.id).await.map_err(OrchestratorError::from)?;
                    Some(convert::trend_report(&report, &items).map_err(OrchestratorError::from)?)
                }
                Err(db::DbError::NotFound) => None,
                Err(other) => return Err(OrchestratorError::from(other).into()),
            };
            (job, stages, trends, report)
        };
        let (scripts, assets, videos) = if job.kind == JobKind::Pipeline {
            // The three reads are independent: ask both services at once.
            let mut scriptgen = self.engine.clients().scriptgen.clone();
            let mut assets_client = scriptgen.clone();
            let scripts = scriptgen.list_scripts(crate::clients::request(
                v1::ListScriptsRequest { job_id },
                job_id,
                READ_DEADLINE,
            ));
            let assets = assets_client.list_media_assets(crate::clients::request(
                v1::ListMediaAssetsRequest { job_id, script_id: 0 },
                job_id,
                READ_DEADLINE,
            ));
            let (scripts, assets, videos) =
                tokio::join!(scripts, assets, self.engine.stages.videos(job_id, READ_DEADLINE));
            let scriptgen_failed = crate::clients::downstream("scriptgen");
            let scripts = scripts.map_err(scriptgen_failed)?.into_inner().scripts;
            let assets = assets.map_err(scriptgen_failed)?.into_inner().assets;
            let videos = videos?;
            (scripts, assets, videos)
        } else {
            Default::default()
        };
        Ok(Response::new(v1::JobLineage {
            job: Some(convert::job(&job, &stages)),
            stages: stages.iter().map(convert::stage_run).collect(),
            trends: trends.iter().map(convert::trend).collect(),
            report,
            scripts,
            assets,
            videos,
        }))
    }

    async fn review_video(
        &self,
        request: Request<v1::ReviewVideoRequest>,
    ) -> std::result::Result<Response<v1::Job>, Status> {
        let reviewer = caller_name(&request).unwrap_or_default();
        let request = request.into_inner();
        let job_id = require_job_id(request.job_id)?;
        if request.video_id <= 0 {
            return Err(OrchestratorError::invalid("video_id", "must be a positive video id").into());
        }
        let decision: v1::ReviewDecision = enum_field(request.decision, "decision")?;
        if decision == v1::ReviewDecision::Unspecified {
            return Err(OrchestratorError::invalid("decision", "must be APPROVE or REJECT").into());
        }
        stored_text("note", &request.note, MAX_NOTE_CHARS).map_err(|v| OrchestratorError::Invalid(vec![v]))?;
        {
            let mut pooled = self.conn().await?;
            let job = find_job(&mut pooled.conn(), job_id).await?;
            if job.status != JobStatus::AwaitingReview {
                return Err(OrchestratorError::FailedPrecondition(format!(
                    "job {job_id} is {}, not awaiting review",
                    job.status
                ))
                .into());
            }
        }
        let stages = &self.engine.stages;
        let message = v1::ComposerReviewVideoRequest {
            job_id,
            video_id: request.video_id,
            decision: decision as i32,
            note: request.note.clone(),
            reviewer,
        };
        let reviewed = stages.review_video(message, READ_DEADLINE).await;
        // Whatever the composer answered, adopt the decisions it holds: some may never have
        // reached this table (the orchestrator stopped between the composer's write and its own).
        let videos = match stages.videos(job_id, READ_DEADLINE).await {
            Ok(videos) => videos,
            // The composer's refusal of the review, if any, says more than a failed listing.
            Err(listing) => return Err(reviewed.err().unwrap_or(listing).into()),
        };
        self.settle_review(job_id, &videos).await?;
        match reviewed {
            Ok(_) => {}
            // The same decision, already recorded: a retry of a call whose answer was lost.
            Err(OrchestratorError::Downstream { status, .. })
                if status.code() == tonic::Code::FailedPrecondition
                    && videos.iter().any(|v| v.id == request.video_id && v.status == decided(decision) as i32) => {}
            Err(refused) => return Err(refused.into()),
        }
        Ok(Response::new(self.job(job_id).await?))
    }

    async fn collect_trends(
        &self,
        request: Request<v1::CollectTrendsRequest>,
    ) -> std::result::Result<Response<v1::CollectTrendsResponse>, Status> {
        let request = request.into_inner();
        let mut platforms = Vec::new();
        for (i, value) in request.platforms.iter().enumerate() {
            let platform: v1::Platform = enum_field(*value, &format!("platforms[{i}]"))?;
            platforms.push(
                convert::platform_from(platform).ok_or_else(|| {
                    OrchestratorError::invalid(format!("platforms[{i}]"), "must be TIKTOK or YOUTUBE")
                })?,
            );
        }
        if platforms.is_empty() {
            platforms = Platform::ALL.to_vec();
        }
        let limit = match request.limit_per_platform {
            0 => crate::stages::ITEMS_PER_SOURCE,
            n @ 1..=500 => n as usize,
            _ => return Err(OrchestratorError::invalid("limit_per_platform", "must be between 0 and 500").into()),
        };
        let stages = &self.engine.stages;
        let (job_id, (rows, new)) = self
            .engine
            .run_inline(JobKind::TrendRefresh, "trend refresh", StageName::TrendCollection, |job_id| {
                record_job_id(job_id);
                stages.collect(job_id, &platforms, limit)
            })
            .await?;
        Ok(Response::new(v1::CollectTrendsResponse {
            job_id,
            collected: rows.len() as i32,
            new_trends: new as i32,
            trends: rows.iter().map(convert::trend).collect(),
        }))
    }

    async fn list_trends(
        &self,
        request: Request<v1::ListTrendsRequest>,
    ) -> std::result::Result<Response<v1::ListTrendsResponse>, Status> {
        let request = request.into_inner();
        let platform = convert::platform_from(enum_field(request.platform, "platform")?);
        let limit = page_size(request.page_size)?;
        let before = page_token(&request.page_token)?;
        if request.seen_by_job_id < 0 {
            return Err(OrchestratorError::invalid("seen_by_job_id", "must be a job id, or 0 for any").into());
        }
        let seen_by = Some(request.seen_by_job_id).filter(|id| *id > 0);
        let mut pooled = self.conn().await?;
        let rows = db::trends::list(&mut pooled.conn(), platform, seen_by, before, limit)
            .await
            .map_err(OrchestratorError::from)?;
        Ok(Response::new(v1::ListTrendsResponse {
            next_page_token: next_token(&rows, limit, |t| t.id),
            trends: rows.iter().map(convert::trend).collect(),
        }))
    }

    async fn analyze_trends(
        &self,
        request: Request<v1::AnalyzeTrendsRequest>,
    ) -> std::result::Result<Response<v1::TrendReport>, Status> {
        let request = request.into_inner();
        let window_hours = match request.window_hours {
            0 => ANALYSIS_WINDOW_HOURS,
            n @ 1..=720 => n as u32,
            _ => return Err(OrchestratorError::invalid("window_hours", "must be between 0 and 720").into()),
        };
        let max = match request.max_trends {
            0 => ANALYSIS_MAX_ITEMS,
            n @ 1..=1000 => n as usize,
            _ => return Err(OrchestratorError::invalid("max_trends", "must be between 0 and 1000").into()),
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
        let items = db::trend_reports::items(&mut pooled.conn(), report.id).await.map_err(OrchestratorError::from)?;
        Ok(Response::new(convert::trend_report(&report, &items).map_err(OrchestratorError::from)?))
    }

    async fn list_trend_reports(
        &self,
        request: Request<v1::ListTrendReportsRequest>,
    ) -> std::result::Result<Response<v1::ListTrendReportsResponse>, Status> {
        let request = request.into_inner();
        let limit = page_size(request.page_size)?;
        let before = page_token(&request.page_token)?;
        let mut pooled = self.conn().await?;
        let conn = &mut pooled.conn();
        let rows = db::trend_reports::list(conn, before, limit).await.map_err(OrchestratorError::from)?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let items = db::trend_reports::items_for_reports(conn, &ids).await.map_err(OrchestratorError::from)?;
        let reports = rows
            .iter()
            .map(|row| convert::trend_report(row, items.get(&row.id).map_or(&[][..], Vec::as_slice)))
            .collect::<db::DbResult<Vec<_>>>()
            .map_err(OrchestratorError::from)?;
        Ok(Response::new(v1::ListTrendReportsResponse { next_page_token: next_token(&rows, limit, |r| r.id), reports }))
    }

    async fn get_latest_trend_report(
        &self,
        _request: Request<v1::GetLatestTrendReportRequest>,
    ) -> std::result::Result<Response<v1::TrendReport>, Status> {
        let mut pooled = self.conn().await?;
        let conn = &mut pooled.conn();
        let report = db::trend_reports::latest(conn).await.map_err(|e| match e {
            db::DbError::NotFound => {
                OrchestratorError::NotFound("no trend report yet: run AnalyzeTrends or a pipeline job".into())
            }
            other => other.into(),
        })?;
        let items = db::trend_reports::items(conn, report.id).await.map_err(OrchestratorError::from)?;
        Ok(Response::new(convert::trend_report(&report, &items).map_err(OrchestratorError::from)?))
    }
}

/// Why `job` cannot be retried from `from_stage` (with `attempts` its stage attempts), if it
/// cannot: only failed or cancelled pipeline jobs are, from a stage no later than the first one
/// that has not succeeded.
fn check_retry(job: &db::Job, from_stage: Option<StageName>, attempts: &[db::JobStage]) -> Result<()> {
    if job.kind != JobKind::Pipeline {
        return Err(OrchestratorError::FailedPrecondition(format!(
            "job {} is a {} job; start a new one",
            job.id, job.kind
        )));
    }
    if !matches!(job.status, JobStatus::Failed | JobStatus::Cancelled) {
        return Err(not_retryable(job));
    }
    let Some(stage) = from_stage else { return Ok(()) };
    let first_unfinished = StageName::ALL.iter().copied().find(|s| !db::job_stages::is_done(attempts, *s));
    match first_unfinished {
        Some(first) if stage_index(stage) > stage_index(first) => Err(OrchestratorError::invalid(
            "from_stage",
            format!("{stage} comes after {first}, which has not succeeded"),
        )),
        _ => Ok(()),
    }
}

fn not_retryable(job: &db::Job) -> OrchestratorError {
    OrchestratorError::FailedPrecondition(format!(
        "job {} is {}; only failed or cancelled jobs are retried",
        job.id, job.status
    ))
}

fn stage_index(stage: StageName) -> usize {
    StageName::ALL.iter().position(|s| *s == stage).unwrap_or(0)
}

/// The WatchJob stream: the job's state now, then an event per stage attempt change and per job
/// status change, until the job rests (awaiting review or terminal). It looks again when this
/// process changes the job, and at least every [`WATCH_INTERVAL`] (for other replicas' changes).
fn watch_stream(
    pool: db::DbPool,
    changes: tokio::sync::broadcast::Receiver<i64>,
    job_id: i64,
) -> impl Stream<Item = std::result::Result<v1::JobEvent, Status>> + Send {
    struct State {
        pool: db::DbPool,
        changes: tokio::sync::broadcast::Receiver<i64>,
        seen_stages: HashMap<i64, StageStatus>,
        seen_status: Option<JobStatus>,
        queue: std::collections::VecDeque<v1::JobEvent>,
        done: bool,
    }
    let state =
        State { pool, changes, seen_stages: HashMap::new(), seen_status: None, queue: Default::default(), done: false };
    futures::stream::unfold(state, move |mut state| async move {
        loop {
            if let Some(event) = state.queue.pop_front() {
                return Some((Ok(event), state));
            }
            if state.done {
                return None;
            }
            if state.seen_status.is_some() {
                let changed = async {
                    loop {
                        match state.changes.recv().await {
                            Ok(id) if id == job_id => return,
                            Ok(_) => {}
                            // Missed some announcements: look now.
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                        }
                    }
                };
                let _ = tokio::time::timeout(WATCH_INTERVAL, changed).await;
            }
            let snapshot = async {
                let mut pooled = state.pool.get().await?;
                let conn = &mut pooled.conn();
                let job = db::jobs::find(conn, job_id).await?;
                let stages = db::job_stages::list_for_job(conn, job_id).await?;
                Ok::<_, db::DbError>((job, stages))
            }
            .await;
            let (job, stages) = match snapshot {
                Ok(snapshot) => snapshot,
                Err(error) => {
                    state.done = true;
                    return Some((Err(Status::from(OrchestratorError::from(error))), state));
                }
            };
            // Each event carries the time its change happened and the progress as of it, so a
            // replay of past attempts reads as they happened, not as of the subscription.
            let event = |stage: Option<&db::JobStage>, message: String, at, progress| v1::JobEvent {
                job_id,
                stage: stage.map(|s| convert::stage(s.stage)).unwrap_or(v1::Stage::Unspecified) as i32,
                stage_status: stage.map(|s| convert::stage_status(s.status)).unwrap_or(v1::StageStatus::Unspecified)
                    as i32,
                job_status: convert::job_status(job.status) as i32,
                attempt: stage.map(|s| s.attempt).unwrap_or(0),
                message,
                at: Some(convert::timestamp(at)),
                progress: Some(progress),
            };
            for (made, stage) in stages.iter().enumerate() {
                if state.seen_stages.get(&stage.id) != Some(&stage.status) {
                    state.seen_stages.insert(stage.id, stage.status);
                    let detail = stage.error.clone().or_else(|| stage.output_ref.clone()).unwrap_or_default();
                    state.queue.push_back(event(
                        Some(stage),
                        format!("{} {} (attempt {}) {detail}", stage.stage, stage.status, stage.attempt)
                            .trim_end()
                            .to_owned(),
                        stage.finished_at.unwrap_or(stage.started_at),
                        // Attempts are made one after another: the earlier ones are what was
                        // known when this one reached its status.
                        convert::progress(&job, &stages[..=made]),
                    ));
                }
            }
            if state.seen_status != Some(job.status) {
                state.seen_status = Some(job.status);
                let message = match (&job.error, job.failed_stage) {
                    (Some(error), Some(stage)) => format!("job {}: {stage} failed: {error}", job.status),
                    (Some(error), None) => format!("job {}: {error}", job.status),
                    _ => format!("job {}", job.status),
                };
                state.queue.push_back(event(None, message, job.updated_at, convert::progress(&job, &stages)));
            }
            if job.status.is_terminal() || job.status == JobStatus::AwaitingReview {
                state.done = true;
            }
        }
    })
}
