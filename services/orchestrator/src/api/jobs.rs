//! The job RPCs: start, list, cancel, retry, lineage and review.

use shortline_db::{self as db, JobKind, JobStatus, NewJob, NewJobStage, StageName, StageStatus};
use shortline_domain::text::{quote, stored_text};
use shortline_domain::{Theme, ThemeError};
use shortline_grpc::convert;
use shortline_grpc::record_job_id;
use shortline_proto::v1;
use tracing::info;

use super::{
    enum_field, find_job, next_token, page_size, page_token, OrchestratorApi, MAX_NOTE_CHARS, MAX_REQUEST_ID_CHARS,
    MAX_THEME_FILE_BYTES, MAX_VARIANTS, READ_DEADLINE,
};
use crate::error::{RequestError, Result};
use crate::themes;

impl OrchestratorApi {
    /// Queues a pipeline job (or hands back the one `client_request_id` already made).
    pub(super) async fn start(&self, request: v1::StartJobRequest, started_by: Option<String>) -> Result<v1::Job> {
        let (name, theme) = requested_theme(&request)?;
        let variants = match request.variants {
            0 => 1,
            n @ 1..=MAX_VARIANTS => n,
            _ => return Err(RequestError::invalid("variants", format!("must be between 1 and {MAX_VARIANTS}"))),
        };
        stored_text("client_request_id", &request.client_request_id, MAX_REQUEST_ID_CHARS)
            .map_err(|v| RequestError::Invalid(vec![v]))?;
        let mut new = NewJob::queued(JobKind::Pipeline, name, Some(db::to_json(&theme)), variants);
        new.client_request_id = Some(request.client_request_id.clone()).filter(|id| !id.is_empty());
        new.started_by = started_by;
        let mut pooled = self.conn().await?;
        let conn = &mut pooled.conn();
        let job = if new.client_request_id.is_some() {
            db::jobs::insert_idempotent(conn, &new).await?.0
        } else {
            db::jobs::insert(conn, &new).await?
        };
        record_job_id(job.id);
        self.engine.wake();
        let stages = db::job_stages::list_for_job(conn, job.id).await?;
        Ok(convert::job(&job, &stages))
    }

    /// A page of jobs, newest first, with their stages.
    pub(super) async fn list(&self, request: v1::ListJobsRequest) -> Result<v1::ListJobsResponse> {
        let status = convert::job_status_from(enum_field(request.status, "status")?);
        let kind = convert::job_kind_from(enum_field(request.kind, "kind")?);
        let limit = page_size(request.page_size)?;
        let before = page_token(&request.page_token)?;
        let mut pooled = self.conn().await?;
        let conn = &mut pooled.conn();
        let jobs = db::jobs::list(conn, status, kind, before, limit).await?;
        let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
        let stages = db::job_stages::list_for_jobs(conn, &ids).await?;
        let out =
            jobs.iter().map(|job| convert::job(job, stages.get(&job.id).map_or(&[][..], Vec::as_slice))).collect();
        Ok(v1::ListJobsResponse { next_page_token: next_token(&jobs, limit, |j| j.id), jobs: out })
    }

    /// Cancels a live job: its status and its open attempts change together.
    pub(super) async fn cancel(&self, job_id: i64, request: v1::CancelJobRequest) -> Result<v1::Job> {
        // The reason becomes the job's error.
        stored_text("reason", &request.reason, MAX_NOTE_CHARS).map_err(|v| RequestError::Invalid(vec![v]))?;
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
            })?;
            if cancelled.is_none() {
                return Err(RequestError::FailedPrecondition(format!("job {job_id} is already {}", job.status)));
            }
        }
        self.engine.cancel_running(job_id);
        self.engine.changed(job_id);
        self.job(job_id).await
    }

    /// Queues a failed or cancelled job again, from its first unfinished stage or `from_stage`.
    pub(super) async fn retry(&self, job_id: i64, request: v1::RetryJobRequest) -> Result<v1::Job> {
        let from_stage = convert::stage_from(enum_field(request.from_stage, "from_stage")?);
        {
            let mut pooled = self.conn().await?;
            let conn = &mut pooled.conn();
            // Every check comes before the first write, and the writes (the status, the reopened
            // attempts) commit together: a refused RetryJob leaves nothing behind.
            let refusal = shortline_db::transaction!(conn, |tx| {
                let job = match db::jobs::find(tx, job_id).await {
                    Ok(job) => job,
                    Err(db::DbError::NotFound) => return Ok(Some(RequestError::JobNotFound(job_id))),
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
            })?;
            if let Some(refusal) = refusal {
                return Err(refusal);
            }
        }
        self.engine.wake();
        self.engine.changed(job_id);
        self.job(job_id).await
    }

    /// Everything the job made, from this database and from scriptgen and composer.
    pub(super) async fn lineage(&self, job_id: i64) -> Result<v1::JobLineage> {
        let (job, stages, trends, report, collection) = {
            let mut pooled = self.conn().await?;
            let conn = &mut pooled.conn();
            let job = find_job(conn, job_id).await?;
            let stages = db::job_stages::list_for_job(conn, job_id).await?;
            // A job that used a collection saw its items; one from before collections, its own.
            let (trends, collection) = match db::trend_collections::used_by(conn, job_id).await? {
                Some((used, collection)) => {
                    let uses = db::trend_collections::uses(conn, collection.id).await?;
                    let trends = db::trends::in_collection(conn, collection.id).await?;
                    (trends, Some(convert::trend_collection(&collection, used.shared, uses)))
                }
                None => (db::trends::seen_by_job(conn, job_id).await?, None),
            };
            let report = match db::trend_reports::for_job(conn, job_id).await {
                Ok(report) => {
                    let items = db::trend_reports::items(conn, report.id).await?;
                    Some(convert::trend_report(&report, &items)?)
                }
                Err(db::DbError::NotFound) => None,
                Err(other) => return Err(RequestError::from(other)),
            };
            (job, stages, trends, report, collection)
        };
        let (scripts, assets, videos) = if job.kind == JobKind::Pipeline {
            // The three reads are independent: ask both services at once.
            let mut scriptgen = self.engine.clients().scriptgen.clone();
            let mut assets_client = scriptgen.clone();
            let scripts = scriptgen.list_scripts(shortline_grpc::client::request(
                v1::ListScriptsRequest { job_id },
                job_id,
                READ_DEADLINE,
            ));
            let assets = assets_client.list_media_assets(shortline_grpc::client::request(
                v1::ListMediaAssetsRequest { job_id, script_id: 0 },
                job_id,
                READ_DEADLINE,
            ));
            let (scripts, assets, videos) =
                tokio::join!(scripts, assets, self.engine.stages.videos(job_id, READ_DEADLINE));
            let scriptgen_failed = RequestError::downstream("scriptgen");
            let scripts = scripts.map_err(scriptgen_failed)?.into_inner().scripts;
            let assets = assets.map_err(scriptgen_failed)?.into_inner().assets;
            let videos = videos?;
            (scripts, assets, videos)
        } else {
            Default::default()
        };
        Ok(v1::JobLineage {
            job: Some(convert::job(&job, &stages)),
            stages: stages.iter().map(convert::stage_run).collect(),
            trends: trends.iter().map(convert::trend).collect(),
            report,
            scripts,
            assets,
            videos,
            collection,
        })
    }

    /// Records a review decision with the composer, then settles the job's review.
    pub(super) async fn review(
        &self,
        job_id: i64,
        request: v1::ReviewVideoRequest,
        reviewer: String,
    ) -> Result<v1::Job> {
        if request.video_id <= 0 {
            return Err(RequestError::invalid("video_id", "must be a positive video id"));
        }
        let decision: v1::ReviewDecision = enum_field(request.decision, "decision")?;
        if decision == v1::ReviewDecision::Unspecified {
            return Err(RequestError::invalid("decision", "must be APPROVE or REJECT"));
        }
        stored_text("note", &request.note, MAX_NOTE_CHARS).map_err(|v| RequestError::Invalid(vec![v]))?;
        {
            let mut pooled = self.conn().await?;
            let job = find_job(&mut pooled.conn(), job_id).await?;
            if job.status != JobStatus::AwaitingReview {
                return Err(RequestError::FailedPrecondition(format!(
                    "job {job_id} is {}, not awaiting review",
                    job.status
                )));
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
            Err(listing) => return Err(reviewed.err().unwrap_or(listing)),
        };
        self.settle_review(job_id, &videos).await?;
        match reviewed {
            Ok(_) => {}
            // The same decision, already recorded: a retry of a call whose answer was lost.
            Err(RequestError::Downstream { status, .. })
                if status.code() == tonic::Code::FailedPrecondition
                    && videos.iter().any(|v| v.id == request.video_id && v.status == decided(decision) as i32) => {}
            Err(refused) => return Err(refused),
        }
        self.job(job_id).await
    }

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
fn theme_error(field: &str, error: ThemeError) -> RequestError {
    match error {
        ThemeError::Invalid(violations) => RequestError::Invalid(
            violations
                .into_iter()
                .map(|v| shortline_domain::Violation::new(format!("{field}: {}", v.field), v.reason))
                .collect(),
        ),
        other => RequestError::invalid(field, other.to_string()),
    }
}

/// The theme a StartJob names, and the name the job is listed under.
fn requested_theme(request: &v1::StartJobRequest) -> Result<(String, Theme)> {
    use v1::start_job_request::Source;
    match &request.source {
        None => Err(RequestError::invalid("source", "one of theme_name, theme or theme_file is required")),
        Some(Source::ThemeName(name)) => match themes::bundled(name) {
            Some(theme) => Ok((name.clone(), theme.map_err(|e| theme_error("theme_name", e))?)),
            None => Err(RequestError::invalid(
                "theme_name",
                format!("no bundled theme {} (known: {})", quote(name), themes::names().collect::<Vec<_>>().join(", ")),
            )),
        },
        Some(Source::Theme(message)) => {
            let theme = convert::theme_from(message, "theme").map_err(RequestError::Invalid)?;
            Ok((theme.config.theme.clone(), theme))
        }
        Some(Source::ThemeFile(text)) => {
            if text.len() > MAX_THEME_FILE_BYTES {
                return Err(RequestError::invalid("theme_file", format!("larger than {MAX_THEME_FILE_BYTES} bytes")));
            }
            let format = request.theme_file_format.to_ascii_lowercase();
            if !["", "yaml", "yml", "toml"].contains(&format.as_str()) {
                return Err(RequestError::invalid("theme_file_format", "must be yaml or toml"));
            }
            let theme = themes::parse(text, &format).map_err(|e| theme_error("theme_file", e))?;
            Ok((theme.config.theme.clone(), theme))
        }
    }
}

/// Why `job` cannot be retried from `from_stage` (with `attempts` its stage attempts), if it
/// cannot: only failed or cancelled pipeline jobs are, from a stage no later than the first one
/// that has not succeeded.
fn check_retry(job: &db::Job, from_stage: Option<StageName>, attempts: &[db::JobStage]) -> Result<()> {
    if job.kind != JobKind::Pipeline {
        return Err(RequestError::FailedPrecondition(format!("job {} is a {} job; start a new one", job.id, job.kind)));
    }
    if !matches!(job.status, JobStatus::Failed | JobStatus::Cancelled) {
        return Err(not_retryable(job));
    }
    let Some(stage) = from_stage else { return Ok(()) };
    let first_unfinished = StageName::ALL.iter().copied().find(|s| !db::job_stages::is_done(attempts, *s));
    match first_unfinished {
        Some(first) if stage_index(stage) > stage_index(first) => {
            Err(RequestError::invalid("from_stage", format!("{stage} comes after {first}, which has not succeeded")))
        }
        _ => Ok(()),
    }
}

fn not_retryable(job: &db::Job) -> RequestError {
    RequestError::FailedPrecondition(format!(
        "job {} is {}; only failed or cancelled jobs are retried",
        job.id, job.status
    ))
}

fn stage_index(stage: StageName) -> usize {
    StageName::ALL.iter().position(|s| *s == stage).unwrap_or(0)
}
