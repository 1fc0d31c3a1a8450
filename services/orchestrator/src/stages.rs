//! What each stage does. Collection and analysis run here (the orchestrator owns `trends` and
//! `trend_reports`); script, media and composition are calls to scriptgen and composer, made
//! one variant at a time with the job's id.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use shortline_db::{
    self as db, DbPool, Job, JobStatus, Lease, MadeBy, NewJobStage, NewTrendReport, StageName, StageStatus,
};
use shortline_domain::{Platform, Theme};
use shortline_grpc::convert;
use shortline_proto::v1;
use shortline_providers::budget::{self, JobBudget};
use tracing::info;

use shortline_grpc::client::request;

use crate::clients::Clients;
use crate::collections::Freshness;
use crate::error::{RequestError, Result};
use crate::trends::{Analyst, TrendSource, ANALYSIS_MAX_ITEMS, ANALYSIS_WINDOW_HOURS};

/// How many items each trend source is asked for.
pub const ITEMS_PER_SOURCE: usize = 50;

pub struct Stages {
    pub(crate) pool: DbPool,
    pub(crate) clients: Clients,
    pub(crate) sources: Vec<Arc<dyn TrendSource>>,
    pub(crate) analyst: Arc<dyn Analyst>,
    /// `pipeline.job_budget_usd`: a job's limit unless its theme sets one.
    pub(crate) job_budget_usd: Option<f64>,
    /// `pipeline.trend_max_age`: how old a collection a pipeline job uses may be.
    pub(crate) trend_max_age: Duration,
    /// The collection stage's deadline: how long a maker may hold its claim on a collection,
    /// and how long another job waits for it.
    pub(crate) collection_deadline: Duration,
    /// The analysis stage's deadline: how long a job may hold its claim on a collection's
    /// analysis, and how long another job waits for that report.
    pub(crate) analysis_deadline: Duration,
}

impl Stages {
    /// Runs one attempt of `stage` for `job`; returns a reference to what it produced.
    pub async fn execute(&self, job: &Job, stage: StageName, deadline: Duration) -> Result<String> {
        match stage {
            StageName::TrendCollection => {
                let collected = self
                    .use_collection(
                        job.id,
                        &Platform::ALL,
                        ITEMS_PER_SOURCE,
                        MadeBy::Job,
                        Freshness::Within(self.trend_max_age),
                    )
                    .await?;
                Ok(format!(
                    "trend_collections:{} ({} trends, {} new)",
                    collected.collection.id, collected.collection.trends_seen, collected.new
                ))
            }
            StageName::TrendAnalysis => {
                let report = self.analyze(job.id, ANALYSIS_WINDOW_HOURS, ANALYSIS_MAX_ITEMS).await?;
                Ok(format!("trend_reports:{}", report.id))
            }
            StageName::ScriptGeneration => self.generate_scripts(job, deadline).await,
            StageName::MediaGeneration => self.generate_media(job, deadline).await,
            StageName::Composition => self.compose(job, deadline).await,
            StageName::Review => Err(RequestError::Internal("review is not run as a stage call".into())),
        }
    }

    /// A new collection of up to `limit` trending items from each source of `platforms`, made by
    /// `job_id` (or, if one is being made right now, that one); returns its rows and how many
    /// were new to the catalogue.
    pub async fn collect(
        &self,
        job_id: i64,
        platforms: &[Platform],
        limit: usize,
        made_by: MadeBy,
    ) -> Result<(Vec<db::Trend>, usize)> {
        let collected = self.use_collection(job_id, platforms, limit, made_by, Freshness::New).await?;
        let mut pooled = self.pool.get().await?;
        let trends = db::trends::in_collection(&mut pooled.conn(), collected.collection.id).await?;
        Ok((trends, collected.new))
    }

    /// Analyses the trends posted in the last `window_hours` (the `max` fastest) into the job's
    /// report; a job's report is written once. A job that used a collection analyses that
    /// collection, and reuses the report the same analyst settings already made of it unless
    /// its theme asks for a fresh analysis.
    pub async fn analyze(&self, job_id: i64, window_hours: u32, max: usize) -> Result<db::TrendReport> {
        let (collection, fresh) = {
            let mut pooled = self.pool.get().await?;
            let conn = &mut pooled.conn();
            if let Ok(existing) = db::trend_reports::for_job(conn, job_id).await {
                return Ok(existing);
            }
            let collection = db::trend_collections::used_by(conn, job_id).await?.map(|(_, c)| c.id);
            (collection, self.wants_fresh_analysis(conn, job_id).await?)
        };
        let Some(collection_id) = collection.filter(|_| !fresh) else {
            return self.analyse_anew(job_id, collection, window_hours, max).await;
        };
        if let Some(report) = self.reuse_or_claim(job_id, collection_id).await? {
            return Ok(report);
        }
        let analysed = self.analyse_anew(job_id, collection, window_hours, max).await;
        // Released whatever the outcome: a waiting job reuses the report, or tries itself. A
        // release that fails leaves the claim to lapse at its deadline; the analysis stands.
        let released: Result<()> = async {
            let mut pooled = self.pool.get().await?;
            Ok(db::trend_collections::release_analysis(&mut pooled.conn(), collection_id, job_id).await?)
        }
        .await;
        if let Err(error) = released {
            tracing::warn!(job_id, collection_id, %error, "cannot release the analysis claim; it lapses at its deadline");
        }
        analysed
    }

    /// The report the same analyst settings already made of the collection, as the job's own
    /// copy; `None` once the job holds the collection's analysis claim. While another job holds
    /// it, waits for its report (one analysis of a collection is paid for, on every replica).
    async fn reuse_or_claim(&self, job_id: i64, collection_id: i64) -> Result<Option<db::TrendReport>> {
        let analyst = &self.analyst;
        let give_up = tokio::time::Instant::now() + self.analysis_deadline;
        loop {
            {
                let mut pooled = self.pool.get().await?;
                let conn = &mut pooled.conn();
                let reusable = db::trend_reports::reusable(
                    conn,
                    collection_id,
                    analyst.name(),
                    analyst.model(),
                    analyst.prompt_version(),
                )
                .await?;
                if let Some(original) = reusable {
                    let new = NewTrendReport::reuse_of(job_id, &original);
                    let report = db::trend_reports::insert_reuse(conn, &new, original.id).await?;
                    info!(job_id, report_id = report.id, reused_from = original.id, "reusing a trend report");
                    return Ok(Some(report));
                }
                if db::trend_collections::claim_analysis(conn, collection_id, job_id, self.analysis_deadline).await? {
                    return Ok(None);
                }
            }
            if tokio::time::Instant::now() >= give_up {
                return Err(RequestError::Aborted(format!(
                    "waited {}s for another job's analysis of trend collection {collection_id}",
                    self.analysis_deadline.as_secs()
                )));
            }
            tokio::time::sleep(crate::collections::WAIT_POLL).await;
        }
    }

    /// Calls the analyst on the trends of the job's collection (or of the catalogue, for a job
    /// without one) and writes the job's report.
    async fn analyse_anew(
        &self,
        job_id: i64,
        collection: Option<i64>,
        window_hours: u32,
        max: usize,
    ) -> Result<db::TrendReport> {
        let mut pooled = self.pool.get().await?;
        let conn = &mut pooled.conn();
        let now = Utc::now();
        let since = (now - chrono::Duration::hours(i64::from(window_hours))).naive_utc();
        let rows = match collection {
            Some(collection_id) => {
                db::trends::in_collection_posted_since(conn, collection_id, since, max as i64).await?
            }
            None => db::trends::posted_since(conn, since, max as i64).await?,
        };
        let items = rows.iter().map(|row| Ok((row.id, row.to_item()?))).collect::<Result<Vec<_>>>()?;
        let budget = self.budget(conn, job_id).await?;
        let analysis = budget::within(budget, self.analyst.analyze(&items, now))
            .await
            .map_err(|e| RequestError::FailedPrecondition(format!("analysis: {e}")))?;
        let analysed: Vec<(i64, f64)> = rows.iter().map(|r| (r.id, r.engagement_velocity)).collect();
        let new =
            NewTrendReport::new(job_id, self.analyst.name(), window_hours as i32, rows.len() as i32, &analysis.body)
                .paid(&analysis.model, analysis.usage, analysis.cost_micros);
        let new = match collection {
            Some(collection_id) => new.of_collection(collection_id, self.analyst.prompt_version()),
            None => new,
        };
        let (report, _) = db::trend_reports::insert_or_get(conn, &new, &analysed).await?;
        Ok(report)
    }

    /// Whether the job's theme asks for an analysis of its own instead of a reused report.
    async fn wants_fresh_analysis(&self, conn: &mut db::Conn<'_>, job_id: i64) -> Result<bool> {
        let job = db::jobs::find(conn, job_id).await?;
        Ok(job.theme.is_some() && job_theme(&job)?.config.fresh_analysis)
    }

    /// The job's budget (its theme's, else the configured one) less what its rows record as
    /// spent; `None`: no limit.
    async fn budget(&self, conn: &mut db::Conn<'_>, job_id: i64) -> Result<Option<Arc<JobBudget>>> {
        let job = db::jobs::find(conn, job_id).await?;
        let theme = if job.theme.is_some() { Some(job_theme(&job)?) } else { None };
        let Some(limit) = budget::job_limit_micros(self.job_budget_usd, theme.as_ref()) else { return Ok(None) };
        let spent = db::jobs::spent_micros(conn, job_id).await?;
        Ok(Some(Arc::new(JobBudget::new(job_id, limit, spent))))
    }

    async fn generate_scripts(&self, job: &Job, deadline: Duration) -> Result<String> {
        let theme = job_theme(job)?;
        let (report, items) = {
            let mut pooled = self.pool.get().await?;
            let conn = &mut pooled.conn();
            let report = db::trend_reports::for_job(conn, job.id).await?;
            let items = db::trend_reports::items(conn, report.id).await?;
            (report, items)
        };
        let report_message = convert::trend_report(&report, &items)?;
        let mut ids = Vec::new();
        for variant in 1..=job.variants {
            let message = v1::GenerateScriptRequest {
                job_id: job.id,
                trend_report_id: report.id,
                theme: Some(convert::theme(&theme)),
                report: Some(report_message.clone()),
                variant,
            };
            let script = self
                .clients
                .scriptgen
                .clone()
                .generate_script(request(message, job.id, deadline))
                .await
                .map_err(RequestError::downstream("scriptgen"))?
                .into_inner();
            ids.push(script.id.to_string());
        }
        Ok(format!("scripts:{}", ids.join(",")))
    }

    async fn scripts(&self, job_id: i64, deadline: Duration) -> Result<Vec<v1::Script>> {
        Ok(self
            .clients
            .scriptgen
            .clone()
            .list_scripts(request(v1::ListScriptsRequest { job_id }, job_id, deadline))
            .await
            .map_err(RequestError::downstream("scriptgen"))?
            .into_inner()
            .scripts)
    }

    async fn generate_media(&self, job: &Job, deadline: Duration) -> Result<String> {
        let mut count = 0;
        for script in self.scripts(job.id, deadline).await? {
            let message = v1::GenerateMediaRequest { job_id: job.id, script_id: script.id };
            let assets = self
                .clients
                .scriptgen
                .clone()
                .generate_media(request(message, job.id, deadline))
                .await
                .map_err(RequestError::downstream("scriptgen"))?
                .into_inner()
                .assets;
            count += assets.len();
        }
        Ok(format!("media_assets:{count}"))
    }

    async fn compose(&self, job: &Job, deadline: Duration) -> Result<String> {
        let report = {
            let mut pooled = self.pool.get().await?;
            db::trend_reports::for_job(&mut pooled.conn(), job.id).await?
        };
        let mut ids = Vec::new();
        for script in self.scripts(job.id, deadline).await? {
            let assets = self
                .clients
                .scriptgen
                .clone()
                .list_media_assets(request(
                    v1::ListMediaAssetsRequest { job_id: job.id, script_id: script.id },
                    job.id,
                    deadline,
                ))
                .await
                .map_err(RequestError::downstream("scriptgen"))?
                .into_inner()
                .assets;
            // The composer adds the script's and the assets' costs; the analysis it cannot see.
            let costs = v1::CostBreakdown { llm_micros: report.cost_micros, ..v1::CostBreakdown::default() };
            let log = generation_log(job, &report, &script, &assets);
            let message = v1::ComposeVideoRequest {
                job_id: job.id,
                script_id: script.id,
                asset_ids: Vec::new(),
                generation_log_json: log.to_string(),
                upstream_costs: Some(costs),
                captions: convert::caption_style(job_theme(job)?.config.captions) as i32,
            };
            let video = self
                .clients
                .composer
                .clone()
                .compose_video(request(message, job.id, deadline))
                .await
                .map_err(RequestError::downstream("composer"))?
                .into_inner();
            ids.push(video.id.to_string());
        }
        Ok(format!("videos:{}", ids.join(",")))
    }

    /// After composition: a theme with `auto_post` approves its videos at once; otherwise the
    /// job waits in the review queue with its review stage open.
    /// `attempts` are the job's stage attempts as its run began (only this run adds review ones).
    pub async fn enter_review(&self, job: &Job, lease: &Lease, worker: &str, attempts: &[db::JobStage]) -> Result<()> {
        let theme = job_theme(job)?;
        let mut pooled = self.pool.get().await?;
        let conn = &mut pooled.conn();
        let open = attempts.iter().find(|a| a.stage == StageName::Review && a.status == StageStatus::Running).cloned();
        let row = match open {
            Some(row) => row,
            None => {
                let attempt =
                    attempts.iter().filter(|a| a.stage == StageName::Review).map(|a| a.attempt).max().unwrap_or(0) + 1;
                db::job_stages::start_fenced(
                    conn,
                    lease,
                    &NewJobStage::running(job.id, StageName::Review, attempt).by(worker),
                )
                .await?
            }
        };
        if !theme.config.auto_post {
            db::jobs::transition(
                conn,
                job.id,
                &[JobStatus::Running],
                JobStatus::AwaitingReview,
                Some(lease),
                None,
                None,
            )
            .await?;
            info!(job_id = job.id, "awaiting review");
            return Ok(());
        }
        drop(pooled);
        let deadline = Duration::from_secs(60);
        let videos = self.videos(job.id, deadline).await?;
        for video in videos.iter().filter(|v| v.status == v1::VideoStatus::Generated as i32) {
            let message = v1::ComposerReviewVideoRequest {
                job_id: job.id,
                video_id: video.id,
                decision: v1::ReviewDecision::Approve as i32,
                note: "auto_post".into(),
                // Nobody reviewed it: the theme approves its own videos.
                reviewer: String::new(),
            };
            self.review_video(message, deadline).await?;
        }
        let mut pooled = self.pool.get().await?;
        let conn = &mut pooled.conn();
        db::job_stages::finish_fenced(conn, lease, row.id, StageStatus::Succeeded, None, Some("auto_post")).await?;
        db::jobs::transition(conn, job.id, &[JobStatus::Running], JobStatus::Approved, Some(lease), None, None).await?;
        info!(job_id = job.id, "approved by auto_post");
        Ok(())
    }

    pub async fn videos(&self, job_id: i64, deadline: Duration) -> Result<Vec<v1::Video>> {
        Ok(self
            .clients
            .composer
            .clone()
            .list_videos(request(v1::ListVideosRequest { job_id }, job_id, deadline))
            .await
            .map_err(RequestError::downstream("composer"))?
            .into_inner()
            .videos)
    }

    pub async fn review_video(&self, message: v1::ComposerReviewVideoRequest, deadline: Duration) -> Result<v1::Video> {
        let job_id = message.job_id;
        Ok(self
            .clients
            .composer
            .clone()
            .review_video(request(message, job_id, deadline))
            .await
            .map_err(RequestError::downstream("composer"))?
            .into_inner())
    }
}

pub fn job_theme(job: &Job) -> Result<Theme> {
    let value = job.theme.as_ref().ok_or_else(|| RequestError::Internal(format!("job {} has no theme", job.id)))?;
    serde_json::from_value(value.clone()).map_err(|e| RequestError::Internal(format!("job {} theme: {e}", job.id)))
}

/// What the generation log keeps of a theme: its `config` (every field of which is bounded)
/// and how many content references it has. Never the references themselves: a message must
/// not copy input whose size only the theme limit bounds.
fn theme_summary(theme: Option<&serde_json::Value>) -> serde_json::Value {
    let Some(theme) = theme else { return serde_json::Value::Null };
    let references = theme.get("content_references").and_then(serde_json::Value::as_array).map_or(0, Vec::len);
    serde_json::json!({ "config": theme.get("config"), "content_references": references })
}

/// What the video row keeps about how it was made (the replaced system's generation log).
fn generation_log(
    job: &Job,
    report: &db::TrendReport,
    script: &v1::Script,
    assets: &[v1::MediaAsset],
) -> serde_json::Value {
    let plan = script.plan.as_ref();
    serde_json::json!({
        "job_id": job.id,
        "theme_name": job.theme_name,
        "theme": theme_summary(job.theme.as_ref()),
        "trend_report": {
            "id": report.id, "analyst": report.analyst, "model": report.model, "trends_analyzed": report.trends_analyzed,
            "cost_micros": report.cost_micros,
        },
        "script": {
            "id": script.id,
            "variant": script.variant,
            "planner": script.planner,
            "cost_micros": script.cost_micros,
            "video_prompt": plan.map(|p| p.video_prompt.clone()),
            "scene_prompts": plan.map(|p| p.scenes.iter().map(|s| s.visual_prompt.clone()).collect::<Vec<_>>()),
            "voiceover_script": plan.map(|p| p.voiceover_script.clone()),
        },
        "assets": assets.iter().map(|a| serde_json::json!({
            "id": a.id, "kind": a.kind, "scene_number": a.scene_number, "provider": a.provider, "model": a.model,
            "cost_micros": a.cost_micros,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generation_log_keeps_a_bounded_summary_of_the_theme() {
        let mut theme = serde_json::json!({
            "config": { "theme": "Reusable cups", "target_platform": "tiktok", "video_duration_seconds": 8 },
            "content_references": [{ "ref_id": "cup", "type": "product", "title": "LoopCup", "description": "" }],
        });
        theme["content_references"][0]["description"] = "x".repeat(100_000).into();
        let summary = theme_summary(Some(&theme));
        assert_eq!(summary["config"], theme["config"]);
        assert_eq!(summary["content_references"], 1);
        assert!(summary.to_string().len() < 1_000, "{summary}");
        assert_eq!(theme_summary(None), serde_json::Value::Null);
    }
}
