//! `ScriptService`: production plans (stage SCRIPT_GENERATION) and their media (stage
//! MEDIA_GENERATION).
//!
//! Every handler checks `job_id` first (INVALID_ARGUMENT when it cannot name a job, NOT_FOUND
//! when the job does not exist) and every lookup is scoped by it, so a row of another job is
//! NOT_FOUND. Requests are validated completely before anything is written; a refused request
//! writes nothing.
//!
//! Media generation writes its files first (each engine writes atomically) and the asset rows
//! last, in one transaction, only once the whole set exists: a request that fails or is dropped
//! half way (the client went away; the engines' child processes are killed with the future)
//! leaves no rows (a request that fails removes the files it made), and its retry makes the set
//! again. A finished set is recorded even if the client left meanwhile, so nothing already made
//! is made twice.
//!
//! Paid work runs within the job's budget (the theme's `budget_usd`, else
//! `pipeline.job_budget_usd`): a script's whole media set is priced before its first call, and
//! every paid call is estimated again just before it is made (see [`shortline_providers::budget`]);
//! a refusal is FAILED_PRECONDITION naming the job, the provider and the amounts.

mod media_set;
mod requests;
mod setup;

pub use setup::{ClipFormat, MediaProviders, ScriptPlanner};

use std::sync::Arc;

use serde_json::json;
use shortline_config::Config;
use shortline_db::{self as db, AssetKind, DbError, DbPool, MediaAsset, NewMediaAsset, NewScript, Script};
use shortline_domain::{captions, ProductionPlan, Theme, ThemeAvatar};
use shortline_grpc::convert;
use shortline_grpc::slots::WorkSlots;
use shortline_grpc::status::{job_scoped, require_id, require_job, RequestError};
use shortline_media::MediaStore;
use shortline_proto::v1::{self, script_service_server::ScriptService};
use shortline_providers::budget::{self, JobBudget};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tracing::{info, Instrument};

use crate::error::{Result, ScriptgenError};
use crate::media::{
    caption_files, generate_voiceover_fitted, ClipTarget, FitPolicy, GeneratedFile, NORMAL_WORDS_PER_MINUTE,
};
use crate::planner::PlanError;
use crate::providers::{AvatarTargets, SetupError};
use media_set::{
    captions_key, clip_key, find_asset, is_complete, scene_number, set_keys, voiceover_key, ScriptLocks, Unrecorded,
};
use requests::{find_script, script_of_report, script_request, ScriptRequest};

/// Variants one job may have (GenerateScriptRequest.variant 1..=10; 0 means 1).
pub const MAX_VARIANTS: i32 = 10;

pub struct ScriptApi {
    pool: DbPool,
    store: MediaStore,
    planner: ScriptPlanner,
    providers: MediaProviders,
    format: ClipFormat,
    /// Bounds concurrent media generation in this process (`scriptgen.max_concurrent_media`);
    /// a call beyond it is refused RESOURCE_EXHAUSTED.
    media_slots: WorkSlots,
    /// One generation per script at a time: a concurrent retry waits, then finds the set made.
    script_locks: ScriptLocks,
    /// `pipeline.job_budget_usd`: a job's limit unless its theme sets one.
    job_budget_usd: Option<f64>,
}

impl ScriptApi {
    /// The API over `pool` and `store`, with the media providers, the planner, the clip format,
    /// the media slots and the job budget the config names.
    pub fn from_config(config: &Config, pool: DbPool, store: MediaStore) -> std::result::Result<Self, SetupError> {
        Ok(ScriptApi {
            providers: MediaProviders::from_config(&config.providers, &config.media)?,
            planner: ScriptPlanner::from_config(&config.providers)?,
            format: ClipFormat::from_config(&config.media),
            media_slots: WorkSlots::new(
                config.scriptgen.media_slots(),
                "media generation",
                "scriptgen.max_concurrent_media",
            ),
            script_locks: ScriptLocks::default(),
            job_budget_usd: config.pipeline.job_budget_usd,
            pool,
            store,
        })
    }

    /// The job's budget (its theme's, else the configured one) less what its rows record as
    /// spent; `None`: no limit.
    async fn budget(&self, job_id: i64, theme: &Theme) -> Result<Option<Arc<JobBudget>>> {
        let Some(limit) = budget::job_limit_micros(self.job_budget_usd, Some(theme)) else { return Ok(None) };
        let mut pooled = self.conn().await?;
        let spent = db::jobs::spent_micros(&mut pooled.conn(), job_id).await?;
        Ok(Some(Arc::new(JobBudget::new(job_id, limit, spent))))
    }

    async fn conn(&self) -> Result<db::PooledConn> {
        Ok(self.pool.get().await?)
    }

    // ---- scripts ---------------------------------------------------------------------------

    #[tracing::instrument(skip_all, fields(job_id = job_id, variant = request.variant, trend_report_id = request.trend_report_id))]
    async fn write_script(&self, job_id: i64, request: &v1::GenerateScriptRequest) -> Result<v1::Script> {
        let ScriptRequest { theme, report, variant } = script_request(job_id, request)?;
        let report_id = request.trend_report_id;
        {
            let mut pooled = self.conn().await?;
            let conn = &mut pooled.conn();
            require_job(conn, job_id).await?;
            // A retry returns what is already written, without planning again.
            match db::scripts::find_variant(conn, job_id, variant).await {
                Ok(existing) => return script_of_report(&existing, report_id),
                Err(DbError::NotFound) => {}
                Err(other) => return Err(other.into()),
            }
        }

        let budget = self.budget(job_id, &theme).await?;
        let written = budget::within(budget, self.planner.write(&theme, &report, variant.unsigned_abs())).await?;
        let plan = written.plan;
        let violations = plan.violations();
        if !violations.is_empty() {
            // Every planner checks its own output; reaching this is a planner bug. Never stored.
            tracing::error!(planner = self.planner.name(), ?violations, "the planner returned an invalid plan");
            return Err(PlanError::InvalidPlan { planner: self.planner.name().to_owned(), violations }.into());
        }
        let new = NewScript::new(
            job_id,
            report_id,
            variant,
            &plan,
            &theme,
            &written.planner,
            &written.model,
            written.cost_micros,
        )
        .with_usage(written.usage);
        let mut pooled = self.conn().await?;
        let (row, inserted) =
            db::scripts::insert_or_get(&mut pooled.conn(), &new).await.map_err(|error| match error {
                // The composite key (trend_report_id, job_id) -> trend_reports(id, job_id) refuses a
                // report that does not exist or is another job's.
                DbError::ForeignKeyViolation { .. } => ScriptgenError::report_not_found(job_id, report_id),
                other => other.into(),
            })?;
        if inserted {
            info!(
                script_id = row.id,
                scenes = plan.scenes.len(),
                duration_seconds = plan.duration_seconds,
                "script written"
            );
        }
        script_of_report(&row, report_id)
    }

    async fn script(&self, job_id: i64, script_id: i64) -> Result<v1::Script> {
        let mut pooled = self.conn().await?;
        let row = find_script(&mut pooled.conn(), job_id, script_id).await?;
        Ok(convert::script(&row)?)
    }

    async fn scripts(&self, job_id: i64) -> Result<Vec<v1::Script>> {
        let mut pooled = self.conn().await?;
        let conn = &mut pooled.conn();
        let rows = db::scripts::list_for_job(conn, job_id).await?;
        if rows.is_empty() {
            require_job(conn, job_id).await?;
        }
        Ok(rows.iter().map(convert::script).collect::<db::DbResult<Vec<_>>>()?)
    }

    // ---- media -----------------------------------------------------------------------------

    #[tracing::instrument(skip(self))]
    async fn media(&self, job_id: i64, script_id: i64) -> Result<Vec<MediaAsset>> {
        let (script, existing) = {
            let mut pooled = self.conn().await?;
            let conn = &mut pooled.conn();
            let script = find_script(conn, job_id, script_id).await?;
            let existing = db::media_assets::list_for_script(conn, job_id, script_id).await?;
            (script, existing)
        };
        let plan = script.plan()?;
        if is_complete(&plan, &existing) {
            return Ok(existing);
        }

        let _script_lock = self.script_locks.lock(script_id).await;
        // Whoever held the lock may have just made the set.
        let existing = {
            let mut pooled = self.conn().await?;
            db::media_assets::list_for_script(&mut pooled.conn(), job_id, script_id).await?
        };
        if is_complete(&plan, &existing) {
            return Ok(existing);
        }
        // Refused at once when every slot is busy: the orchestrator retries with backoff.
        let slot = self.media_slots.try_take().inspect_err(|_| {
            tracing::info!(
                job_id,
                script_id,
                limit = self.media_slots.capacity(),
                "media generation refused: every slot is busy"
            );
        })?;
        tracing::info!(job_id, script_id, running = slot.running, "media generation started");

        // The whole set is priced before anything is called: a budget that cannot pay for it
        // stops here, with nothing called and nothing written.
        let theme = script.theme()?;
        let budget = self.budget(job_id, &theme).await?;
        if let Some(budget) = &budget {
            let (what, estimate) = self.media_estimate(&theme, &plan, &existing);
            budget.check(&format!("media of script {script_id} ({what})"), estimate)?;
        }
        let started = std::time::Instant::now();
        // Dropped with this future when the caller goes away (e.g. the job was cancelled).
        let mut unrecorded = Unrecorded { store: self.store.clone(), assets: Vec::new() };
        let made = match &theme.config.avatar {
            Some(who) => {
                budget::within(budget, self.generate_avatar(&script, &plan, who, &mut unrecorded.assets)).await
            }
            None => budget::within(budget, self.generate(&script, &plan, &existing, &mut unrecorded.assets)).await,
        };
        if let Err(error) = made {
            // The files made before the failure have no rows and would never be used: a retry
            // makes the set again. Leftovers of killed earlier attempts go too: if this was the
            // last attempt, nothing else would ever remove them.
            unrecorded.remove().await;
            for key in set_keys(&script, &plan) {
                if let Ok(path) = self.store.local_path(&key) {
                    shortline_media::partial::remove_leftovers_of(&path);
                }
            }
            return Err(error);
        }
        let new = unrecorded.recorded();
        // The set is complete: record it even if the caller goes away while this runs.
        let pool = self.pool.clone();
        let write = tokio::spawn(
            async move {
                let mut pooled = pool.get().await?;
                db::media_assets::insert_all_or_get(&mut pooled.conn(), job_id, script_id, &new).await
            }
            .in_current_span(),
        );
        let assets = write.await.map_err(|e| RequestError::Internal(format!("the asset write task failed: {e}")))??;
        if !is_complete(&plan, &assets) {
            return Err(RequestError::Internal(format!(
                "script {script_id} has {} assets after generation, not the full set",
                assets.len()
            ))
            .into());
        }
        info!(assets = assets.len(), seconds = started.elapsed().as_secs_f64(), "media generated");
        Ok(assets)
    }

    /// What making the assets `existing` lacks would cost at most (the first provider of each
    /// kind, the planned scene lengths), and what that is, in words.
    fn media_estimate(&self, theme: &Theme, plan: &ProductionPlan, existing: &[MediaAsset]) -> (String, i64) {
        if theme.config.avatar.is_some() {
            let estimate = self.providers.avatar.as_ref().map_or(0, |avatar| avatar.estimate_micros(plan));
            return ("an avatar video".to_owned(), estimate);
        }
        let mut parts = Vec::new();
        let mut estimate = 0i64;
        if find_asset(existing, AssetKind::Voiceover, 0).is_none() {
            parts.push("voiceover".to_owned());
            estimate = estimate.saturating_add(self.providers.voice.estimate_micros(&plan.voiceover_script));
        }
        let clips: Vec<_> = plan
            .scenes
            .iter()
            .filter(|s| i32::try_from(s.number).is_ok_and(|n| find_asset(existing, AssetKind::Clip, n).is_none()))
            .collect();
        if !clips.is_empty() {
            parts.push(format!("{} clips", clips.len()));
        }
        for scene in clips {
            estimate = estimate.saturating_add(self.providers.clips.estimate_micros(scene.duration_seconds));
        }
        (parts.join(" and "), estimate)
    }

    /// Makes what `existing` lacks: the voiceover first (its length decides the scene lengths),
    /// then one clip per scene at the reconciled length, into `new`. Stores files (uploads them,
    /// in object storage) but writes no rows.
    #[tracing::instrument(skip_all, fields(job_id = script.job_id, script_id = script.id))]
    async fn generate(
        &self,
        script: &Script,
        plan: &ProductionPlan,
        existing: &[MediaAsset],
        new: &mut Vec<NewMediaAsset>,
    ) -> Result<()> {
        // Cancelled when this future is dropped, besides the engines' kill_on_drop.
        let cancel = CancellationToken::new();
        let _cancel_on_drop = cancel.clone().drop_guard();
        let policy = FitPolicy::default();
        let planned: Vec<f64> = plan.scenes.iter().map(|s| s.duration_seconds).collect();

        let scene_seconds = match find_asset(existing, AssetKind::Voiceover, 0) {
            // Already made (and paid for): the scenes follow it as they did when it was made.
            Some(voice) => policy.fit_scenes(&planned, voice.duration_seconds),
            None => {
                let key = voiceover_key(script);
                let path = self.store.local_path(&key)?;
                let text = &plan.voiceover_script;
                let fitted = generate_voiceover_fitted(
                    self.providers.voice.as_ref(),
                    text,
                    NORMAL_WORDS_PER_MINUTE,
                    &planned,
                    &policy,
                    &path,
                    &cancel,
                )
                .await?;
                let takes = if fitted.respoken { 2 } else { 1 };
                let mut usage = json!({
                    "characters": text.chars().count() * takes,
                    "takes": takes,
                    "words_per_minute": fitted.words_per_minute,
                });
                self.providers.usage.merge_into(&fitted.file.sha256, &mut usage);
                let uri = self.store.publish(&key, &fitted.file.path).await?;
                new.push(self.new_asset(script, AssetKind::Voiceover, 0, &fitted.file, uri, usage));
                self.caption_assets(script, text, &fitted.file, new).await?;
                fitted.scene_seconds
            }
        };

        let (width, height) = self.frame_size(script, plan)?;
        for (scene, seconds) in plan.scenes.iter().zip(scene_seconds) {
            let number = scene_number(scene.number)?;
            if find_asset(existing, AssetKind::Clip, number).is_some() {
                continue;
            }
            let key = clip_key(script, number);
            let out_path = self.store.local_path(&key)?;
            let target = ClipTarget { width, height, fps: self.format.fps, seconds, out_path };
            let file = self.providers.clips.render_clip(scene, &target, &cancel).await?;
            let mut usage = json!({
                "seconds": file.duration_seconds,
                "width": width,
                "height": height,
                "fps": self.format.fps,
            });
            self.providers.usage.merge_into(&file.sha256, &mut usage);
            let uri = self.store.publish(&key, &file.path).await?;
            new.push(self.new_asset(script, AssetKind::Clip, number, &file, uri, usage));
        }
        Ok(())
    }

    /// The picture size of `script`'s clips.
    fn frame_size(&self, script: &Script, plan: &ProductionPlan) -> Result<(u32, u32)> {
        let size = self.format.frame_size(&plan.aspect_ratio).ok_or_else(|| {
            RequestError::Internal(format!("script {} has an unknown aspect ratio {:?}", script.id, plan.aspect_ratio))
        })?;
        Ok(size)
    }

    /// Makes the whole set of a theme with an avatar, into `new`: one avatar video becomes the
    /// voiceover and every scene's clip. Stores files but writes no rows.
    #[tracing::instrument(skip_all, fields(job_id = script.job_id, script_id = script.id))]
    async fn generate_avatar(
        &self,
        script: &Script,
        plan: &ProductionPlan,
        who: &ThemeAvatar,
        new: &mut Vec<NewMediaAsset>,
    ) -> Result<()> {
        let avatar = self.providers.avatar.as_ref().ok_or_else(|| {
            RequestError::FailedPrecondition(
                "the theme asks for an avatar but no avatar provider is configured (set providers.avatar)".into(),
            )
        })?;
        let cancel = CancellationToken::new();
        let _cancel_on_drop = cancel.clone().drop_guard();
        let (width, height) = self.frame_size(script, plan)?;
        let voice_key = voiceover_key(script);
        let mut clips = Vec::with_capacity(plan.scenes.len());
        for scene in &plan.scenes {
            clips.push(self.store.local_path(&clip_key(script, scene_number(scene.number)?))?);
        }
        let voiceover = self.store.local_path(&voice_key)?;
        let targets = AvatarTargets { voiceover, clips, width, height, fps: self.format.fps };
        let set = avatar.make(who, plan, &targets, &cancel).await?;
        let (voice, usage) = set.voiceover;
        let uri = self.store.publish(&voice_key, &voice.path).await?;
        new.push(self.new_asset(script, AssetKind::Voiceover, 0, &voice, uri, usage));
        self.caption_assets(script, &plan.voiceover_script, &voice, new).await?;
        for (number, file, usage) in set.clips {
            let number = scene_number(number)?;
            let uri = self.store.publish(&clip_key(script, number), &file.path).await?;
            new.push(self.new_asset(script, AssetKind::Clip, number, &file, uri, usage));
        }
        Ok(())
    }

    /// The voiceover's captions (SRT and WebVTT) as assets of the script, into `new`.
    async fn caption_assets(
        &self,
        script: &Script,
        text: &str,
        voice: &GeneratedFile,
        new: &mut Vec<NewMediaAsset>,
    ) -> Result<()> {
        let (cues, method) = caption_files::caption_cues(text, voice).await?;
        let usage = json!({ "cues": cues.len(), "words": cues.iter().map(|c| c.words.len()).sum::<usize>() });
        for (kind, contents) in
            [(AssetKind::CaptionsSrt, captions::to_srt(&cues)), (AssetKind::CaptionsVtt, captions::to_vtt(&cues))]
        {
            let key = captions_key(script, kind);
            let file =
                caption_files::write_caption_file(&self.store.local_path(&key)?, &contents, voice, method).await?;
            let uri = self.store.publish(&key, &file.path).await?;
            new.push(self.new_asset(script, kind, 0, &file, uri, usage.clone()));
        }
        Ok(())
    }

    fn new_asset(
        &self,
        script: &Script,
        kind: AssetKind,
        scene_number: i32,
        file: &GeneratedFile,
        uri: String,
        usage: serde_json::Value,
    ) -> NewMediaAsset {
        NewMediaAsset {
            job_id: script.job_id,
            script_id: script.id,
            kind,
            scene_number,
            uri,
            duration_seconds: file.duration_seconds,
            size_bytes: i64::try_from(file.size_bytes).unwrap_or(i64::MAX),
            sha256: file.sha256.clone(),
            provider: file.provider.clone(),
            model: file.model.clone(),
            usage,
            cost_micros: file.cost_micros,
            created_at: db::now(),
        }
    }

    async fn assets(&self, job_id: i64, script_id: i64) -> Result<Vec<MediaAsset>> {
        let mut pooled = self.conn().await?;
        let conn = &mut pooled.conn();
        if script_id == 0 {
            let mut assets = db::media_assets::list_for_job(conn, job_id).await?;
            if assets.is_empty() {
                require_job(conn, job_id).await?;
            }
            assets.sort_by(|a, b| {
                (a.script_id, a.scene_number, a.kind.as_str()).cmp(&(b.script_id, b.scene_number, b.kind.as_str()))
            });
            return Ok(assets);
        }
        let assets = db::media_assets::list_for_script(conn, job_id, script_id).await?;
        if assets.is_empty() {
            find_script(conn, job_id, script_id).await?; // NOT_FOUND for a script not of the job
        }
        Ok(assets)
    }
}

#[tonic::async_trait]
impl ScriptService for ScriptApi {
    async fn generate_script(
        &self,
        request: Request<v1::GenerateScriptRequest>,
    ) -> std::result::Result<Response<v1::Script>, Status> {
        let request = request.into_inner();
        let job_id = job_scoped(request.job_id)?;
        Ok(Response::new(self.write_script(job_id, &request).await?))
    }

    async fn generate_media(
        &self,
        request: Request<v1::GenerateMediaRequest>,
    ) -> std::result::Result<Response<v1::GenerateMediaResponse>, Status> {
        let request = request.into_inner();
        let job_id = job_scoped(request.job_id)?;
        let script_id = require_id("script_id", request.script_id)?;
        let mut assets = self.media(job_id, script_id).await?;
        // Clips in scene order, then the assets of the whole video (voiceover, music).
        assets.sort_by(|a, b| {
            (a.scene_number == 0, a.scene_number, a.kind.as_str()).cmp(&(
                b.scene_number == 0,
                b.scene_number,
                b.kind.as_str(),
            ))
        });
        Ok(Response::new(v1::GenerateMediaResponse { assets: assets.iter().map(convert::media_asset).collect() }))
    }

    async fn get_script(
        &self,
        request: Request<v1::GetScriptRequest>,
    ) -> std::result::Result<Response<v1::Script>, Status> {
        let request = request.into_inner();
        let job_id = job_scoped(request.job_id)?;
        let script_id = require_id("script_id", request.script_id)?;
        Ok(Response::new(self.script(job_id, script_id).await?))
    }

    async fn list_scripts(
        &self,
        request: Request<v1::ListScriptsRequest>,
    ) -> std::result::Result<Response<v1::ListScriptsResponse>, Status> {
        let job_id = job_scoped(request.get_ref().job_id)?;
        Ok(Response::new(v1::ListScriptsResponse { scripts: self.scripts(job_id).await? }))
    }

    async fn list_media_assets(
        &self,
        request: Request<v1::ListMediaAssetsRequest>,
    ) -> std::result::Result<Response<v1::ListMediaAssetsResponse>, Status> {
        let request = request.into_inner();
        let job_id = job_scoped(request.job_id)?;
        if request.script_id < 0 {
            let refusal =
                RequestError::invalid("script_id", "must be a script id of the job, or 0 for all of its assets");
            return Err(refusal.into());
        }
        let assets = self.assets(job_id, request.script_id).await?;
        Ok(Response::new(v1::ListMediaAssetsResponse { assets: assets.iter().map(convert::media_asset).collect() }))
    }
}
