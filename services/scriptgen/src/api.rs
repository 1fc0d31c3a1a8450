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
//! every paid call is estimated again just before it is made (see [`shortline_shared::budget`]);
//! a refusal is FAILED_PRECONDITION naming the job, the provider and the amounts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::json;
use shortline_proto::v1::{self, script_service_server::ScriptService};
use shortline_shared::budget::{self, JobBudget};
use shortline_shared::captions;
use shortline_shared::config::{MediaConfig, ProviderSet, ProvidersConfig};
use shortline_shared::convert;
use shortline_shared::db::{self, AssetKind, DbError, DbPool, MediaAsset, NewMediaAsset, NewScript, Script};
use shortline_shared::domain::{ProductionPlan, Theme, ThemeAvatar, TrendReportBody, Violation};
use shortline_shared::grpc::record_job_id;
use shortline_shared::media_store::MediaStore;
use shortline_shared::slots::WorkSlots;
use shortline_shared::status::require_job_id;
use tokio::sync::OwnedMutexGuard;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tracing::{info, Instrument};

use crate::error::{Result, ScriptgenError};
use crate::media::{
    caption_files, generate_voiceover_fitted, ClipProvider, ClipTarget, EspeakVoice, FitPolicy, GeneratedFile,
    NullClips, NullVoice, ProceduralClips, VoiceProvider, NORMAL_WORDS_PER_MINUTE,
};
use crate::planner::{PlanError, Planner, TemplatePlanner};
use crate::providers::{AvatarMedia, AvatarTargets, LlmPlanner, SetupError, UsageLedger};

/// Variants one job may have (GenerateScriptRequest.variant 1..=10; 0 means 1).
pub const MAX_VARIANTS: i32 = 10;

/// Recorded as the script's model: the template planner's template set.
const TEMPLATE_MODEL: &str = "template-v1";

/// The clip and voice providers of one provider set.
#[derive(Clone)]
pub struct MediaProviders {
    pub clips: Arc<dyn ClipProvider>,
    pub voice: Arc<dyn VoiceProvider>,
    /// What the real providers reported about each file (attempts, failover, usage), merged
    /// into the asset's `usage`.
    pub usage: UsageLedger,
    /// Makes the voiceover and clips of themes with an avatar; `None`: no avatar provider.
    pub avatar: Option<Arc<AvatarMedia>>,
}

impl MediaProviders {
    /// `offline`: procedural clips (ffmpeg, the configured x264 preset and CRF) and espeak-ng;
    /// `null`: placeholder files, for orchestration benchmarks only.
    pub fn for_set(set: ProviderSet, media: &MediaConfig) -> Self {
        match set {
            ProviderSet::Offline => MediaProviders {
                clips: Arc::new(
                    ProceduralClips::new()
                        .with_preset(media.x264_preset.clone())
                        .with_crf(u8::try_from(media.crf).unwrap_or(51)),
                ),
                voice: Arc::new(EspeakVoice::new()),
                usage: UsageLedger::default(),
                avatar: None,
            },
            ProviderSet::Null => MediaProviders {
                clips: Arc::new(NullClips),
                voice: Arc::new(NullVoice),
                usage: UsageLedger::default(),
                avatar: None,
            },
        }
    }

    /// The providers `providers` configures: the set's own, with a non-empty `providers.voice`
    /// or `providers.clips` list replacing that kind by its real (HTTP) providers in failover
    /// order, and `providers.avatar` making the sets of themes with an avatar. Fails when a listed
    /// provider has no key.
    pub fn from_config(providers: &ProvidersConfig, media: &MediaConfig) -> std::result::Result<Self, SetupError> {
        let mut set = Self::for_set(providers.set, media);
        if let Some(voice) = crate::providers::voice_chain(providers, &set.usage)? {
            set.voice = Arc::new(voice);
        }
        if let Some(clips) = crate::providers::clip_chain(providers, media, &set.usage)? {
            set.clips = Arc::new(clips);
        }
        set.avatar = crate::providers::avatar_media(providers, media)?.map(Arc::new);
        Ok(set)
    }
}

/// Who writes production plans: the offline template planner, or the LLM of
/// `providers.planner`.
#[derive(Clone)]
pub enum ScriptPlanner {
    Template,
    Llm(Arc<LlmPlanner>),
}

/// A plan as written, with what writing it used.
struct WrittenPlan {
    plan: ProductionPlan,
    planner: String,
    model: String,
    usage: serde_json::Value,
    cost_micros: i64,
}

impl ScriptPlanner {
    /// The template planner unless `providers.planner` names an LLM; fails when that LLM has no
    /// key.
    pub fn from_config(providers: &ProvidersConfig) -> std::result::Result<Self, SetupError> {
        let Some(name) = providers.planner else { return Ok(ScriptPlanner::Template) };
        let llm = shortline_shared::http::structured_llm(providers, name)?;
        let price = providers.price(llm.model()).copied();
        Ok(ScriptPlanner::Llm(Arc::new(LlmPlanner::new(llm, price))))
    }

    fn name(&self) -> &str {
        match self {
            ScriptPlanner::Template => TemplatePlanner.name(),
            ScriptPlanner::Llm(llm) => llm.name(),
        }
    }

    /// Plans variant `variant`; only a plan without violations comes back.
    async fn write(
        &self,
        theme: &Theme,
        report: &TrendReportBody,
        variant: u32,
    ) -> std::result::Result<WrittenPlan, PlanError> {
        match self {
            ScriptPlanner::Template => Ok(WrittenPlan {
                plan: TemplatePlanner.plan(theme, Some(report), variant)?,
                planner: TemplatePlanner.name().to_owned(),
                model: TEMPLATE_MODEL.to_owned(),
                usage: json!({}),
                cost_micros: 0,
            }),
            ScriptPlanner::Llm(llm) => {
                let written = llm.plan_with_usage(theme, Some(report), variant).await?;
                Ok(WrittenPlan {
                    plan: written.plan,
                    planner: llm.name().to_owned(),
                    model: llm.model().to_owned(),
                    usage: json!({ "reported_usage": written.usage, "calls": written.calls }),
                    cost_micros: written.cost_micros,
                })
            }
        }
    }
}

/// The picture clips are rendered at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClipFormat {
    /// The configured `media.width` x `media.height`: the size of a 9:16 video.
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

impl ClipFormat {
    pub fn from_config(media: &MediaConfig) -> Self {
        ClipFormat { width: media.width, height: media.height, fps: media.fps }
    }

    /// The frame size for a plan's aspect ratio: the configured size for 9:16, turned for 16:9,
    /// its short side squared for 1:1.
    pub fn frame_size(&self, aspect_ratio: &str) -> Option<(u32, u32)> {
        let (short, long) = (self.width.min(self.height), self.width.max(self.height));
        match aspect_ratio {
            "9:16" => Some((short, long)),
            "16:9" => Some((long, short)),
            other => ClipTarget::size_for_aspect(other, short),
        }
    }
}

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
    pub fn new(
        pool: DbPool,
        store: MediaStore,
        planner: ScriptPlanner,
        providers: MediaProviders,
        format: ClipFormat,
        media_slots: WorkSlots,
        job_budget_usd: Option<f64>,
    ) -> Self {
        ScriptApi {
            pool,
            store,
            planner,
            providers,
            format,
            media_slots,
            script_locks: ScriptLocks::default(),
            job_budget_usd,
        }
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

    #[tracing::instrument(skip_all, fields(variant = request.variant, trend_report_id = request.trend_report_id))]
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

    async fn script(&self, job_id: i64, script_id: i64) -> Result<Script> {
        let mut pooled = self.conn().await?;
        let conn = &mut pooled.conn();
        find_script(conn, job_id, script_id).await
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
                    shortline_shared::partial::remove_leftovers_of(&path);
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
        let assets =
            write.await.map_err(|e| ScriptgenError::Internal(format!("the asset write task failed: {e}")))??;
        if !is_complete(&plan, &assets) {
            return Err(ScriptgenError::Internal(format!(
                "script {script_id} has {} assets after generation, not the full set",
                assets.len()
            )));
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
    #[tracing::instrument(skip_all, fields(script_id = script.id))]
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
        self.format.frame_size(&plan.aspect_ratio).ok_or_else(|| {
            ScriptgenError::Internal(format!(
                "script {} has an unknown aspect ratio {:?}",
                script.id, plan.aspect_ratio
            ))
        })
    }

    /// Makes the whole set of a theme with an avatar, into `new`: one avatar video becomes the
    /// voiceover and every scene's clip. Stores files but writes no rows.
    #[tracing::instrument(skip_all, fields(script_id = script.id))]
    async fn generate_avatar(
        &self,
        script: &Script,
        plan: &ProductionPlan,
        who: &ThemeAvatar,
        new: &mut Vec<NewMediaAsset>,
    ) -> Result<()> {
        let avatar = self.providers.avatar.as_ref().ok_or_else(|| {
            ScriptgenError::FailedPrecondition(
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
        let job_id = require_job_id(request.job_id)?;
        record_job_id(job_id);
        Ok(Response::new(self.write_script(job_id, &request).await?))
    }

    async fn generate_media(
        &self,
        request: Request<v1::GenerateMediaRequest>,
    ) -> std::result::Result<Response<v1::GenerateMediaResponse>, Status> {
        let request = request.into_inner();
        let job_id = require_job_id(request.job_id)?;
        record_job_id(job_id);
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
        let job_id = require_job_id(request.job_id)?;
        record_job_id(job_id);
        let script_id = require_id("script_id", request.script_id)?;
        let row = self.script(job_id, script_id).await?;
        Ok(Response::new(convert::script(&row).map_err(ScriptgenError::from)?))
    }

    async fn list_scripts(
        &self,
        request: Request<v1::ListScriptsRequest>,
    ) -> std::result::Result<Response<v1::ListScriptsResponse>, Status> {
        let job_id = require_job_id(request.get_ref().job_id)?;
        record_job_id(job_id);
        let rows = {
            let mut pooled = self.conn().await?;
            let conn = &mut pooled.conn();
            let rows = db::scripts::list_for_job(conn, job_id).await.map_err(ScriptgenError::from)?;
            if rows.is_empty() {
                require_job(conn, job_id).await?;
            }
            rows
        };
        let scripts =
            rows.iter().map(convert::script).collect::<db::DbResult<Vec<_>>>().map_err(ScriptgenError::from)?;
        Ok(Response::new(v1::ListScriptsResponse { scripts }))
    }

    async fn list_media_assets(
        &self,
        request: Request<v1::ListMediaAssetsRequest>,
    ) -> std::result::Result<Response<v1::ListMediaAssetsResponse>, Status> {
        let request = request.into_inner();
        let job_id = require_job_id(request.job_id)?;
        record_job_id(job_id);
        if request.script_id < 0 {
            return Err(ScriptgenError::invalid(
                "script_id",
                "must be a script id of the job, or 0 for all of its assets",
            )
            .into());
        }
        let assets = self.assets(job_id, request.script_id).await?;
        Ok(Response::new(v1::ListMediaAssetsResponse { assets: assets.iter().map(convert::media_asset).collect() }))
    }
}

// ---- helpers ---------------------------------------------------------------------------------

/// A GenerateScriptRequest's values, once every field checked out.
struct ScriptRequest {
    theme: Theme,
    report: TrendReportBody,
    variant: i32,
}

/// Checks every field of a GenerateScriptRequest and reports all bad ones at once.
fn script_request(job_id: i64, request: &v1::GenerateScriptRequest) -> Result<ScriptRequest> {
    let mut violations = Vec::new();
    if request.trend_report_id <= 0 {
        violations.push(Violation::new("trend_report_id", "must be a positive trend report id"));
    }
    let theme = match &request.theme {
        None => {
            violations.push(Violation::new("theme", "is required"));
            None
        }
        Some(message) => match convert::theme_from(message, "theme") {
            Ok(theme) => Some(theme),
            Err(bad) => {
                violations.extend(bad);
                None
            }
        },
    };
    let report = match &request.report {
        None => {
            violations.push(Violation::new("report", "is required"));
            None
        }
        Some(report) => {
            if report.id != request.trend_report_id {
                violations.push(Violation::new(
                    "report.id",
                    format!("is {} but trend_report_id is {}", report.id, request.trend_report_id),
                ));
            }
            if report.job_id != job_id {
                violations
                    .push(Violation::new("report.job_id", format!("is {} but job_id is {job_id}", report.job_id)));
            }
            Some(convert::report_body_from(report))
        }
    };
    let variant = match request.variant {
        0 => 1,
        n @ 1..=MAX_VARIANTS => n,
        n => {
            violations.push(Violation::new("variant", format!("{n} is outside 1..={MAX_VARIANTS} (0 means 1)")));
            1
        }
    };
    match (theme, report) {
        (Some(theme), Some(report)) if violations.is_empty() => Ok(ScriptRequest { theme, report, variant }),
        _ => Err(ScriptgenError::Invalid(violations)),
    }
}

/// INVALID_ARGUMENT `"{field}: must be a positive id"` unless `id > 0`.
/// Where a script's voiceover is stored.
fn voiceover_key(script: &Script) -> String {
    format!("jobs/{}/script-{}/voiceover.wav", script.job_id, script.id)
}

/// Where a script's captions of `kind` (SRT or WebVTT) are stored.
fn captions_key(script: &Script, kind: AssetKind) -> String {
    let extension = if kind == AssetKind::CaptionsSrt { "srt" } else { "vtt" };
    format!("jobs/{}/script-{}/captions.{extension}", script.job_id, script.id)
}

/// Where the clip of a script's scene `number` is stored.
fn clip_key(script: &Script, number: i32) -> String {
    format!("jobs/{}/script-{}/scene-{number}.mp4", script.job_id, script.id)
}

/// Every key of a script's media set.
fn set_keys(script: &Script, plan: &ProductionPlan) -> Vec<String> {
    let clips = plan.scenes.iter().filter_map(|scene| i32::try_from(scene.number).ok()).map(|n| clip_key(script, n));
    [voiceover_key(script), captions_key(script, AssetKind::CaptionsSrt), captions_key(script, AssetKind::CaptionsVtt)]
        .into_iter()
        .chain(clips)
        .collect()
}

/// The files a media generation stored but has not recorded. A failed generation removes them
/// ([`Unrecorded::remove`]); one dropped unfinished — its caller went away, e.g. the job was
/// cancelled — removes them as it goes, so no file is left that no row will ever own.
struct Unrecorded {
    store: MediaStore,
    assets: Vec<NewMediaAsset>,
}

impl Unrecorded {
    /// Hands the files to whoever records their rows.
    fn recorded(mut self) -> Vec<NewMediaAsset> {
        std::mem::take(&mut self.assets)
    }

    async fn remove(mut self) {
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

fn require_id(field: &str, id: i64) -> Result<i64> {
    if id > 0 {
        Ok(id)
    } else {
        Err(ScriptgenError::invalid(field, "must be a positive id"))
    }
}

/// NOT_FOUND "job N not found" unless the job exists. Lookups scoped by the job ask it only when
/// they found nothing (a row of the job proves the job exists): one query less per call.
async fn require_job(conn: &mut db::Conn<'_>, job_id: i64) -> Result<()> {
    if db::jobs::exists(conn, job_id).await? {
        Ok(())
    } else {
        Err(ScriptgenError::JobNotFound(job_id))
    }
}

/// A script of the job; NOT_FOUND names the job when it does not exist, else the script.
async fn find_script(conn: &mut db::Conn<'_>, job_id: i64, script_id: i64) -> Result<Script> {
    match db::scripts::find(conn, job_id, script_id).await {
        Ok(script) => Ok(script),
        Err(DbError::NotFound) => {
            require_job(conn, job_id).await?;
            Err(ScriptgenError::script_not_found(job_id, script_id))
        }
        Err(other) => Err(other.into()),
    }
}

/// The script a GenerateScript answers with. A job has one report, so a script of the job
/// written from another report id means the requested one is not the job's.
fn script_of_report(script: &Script, trend_report_id: i64) -> Result<v1::Script> {
    if script.trend_report_id != trend_report_id {
        return Err(ScriptgenError::report_not_found(script.job_id, trend_report_id));
    }
    Ok(convert::script(script)?)
}

fn scene_number(number: u32) -> Result<i32> {
    i32::try_from(number).map_err(|_| ScriptgenError::Internal(format!("scene number {number} out of range")))
}

fn find_asset(assets: &[MediaAsset], kind: AssetKind, scene_number: i32) -> Option<&MediaAsset> {
    assets.iter().find(|a| a.kind == kind && a.scene_number == scene_number)
}

/// A voiceover at scene 0 and a clip for every scene of the plan.
fn is_complete(plan: &ProductionPlan, assets: &[MediaAsset]) -> bool {
    find_asset(assets, AssetKind::Voiceover, 0).is_some()
        && plan.scenes.iter().all(|scene| {
            i32::try_from(scene.number).is_ok_and(|number| find_asset(assets, AssetKind::Clip, number).is_some())
        })
}

/// One async mutex per script id, made on demand and forgotten once nobody holds or awaits it.
#[derive(Default)]
struct ScriptLocks(Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>);

impl ScriptLocks {
    async fn lock(&self, script_id: i64) -> OwnedMutexGuard<()> {
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

    #[test]
    fn frame_sizes_follow_the_plan_aspect_ratio() {
        let format = ClipFormat { width: 360, height: 640, fps: 15 };
        assert_eq!(format.frame_size("9:16"), Some((360, 640)));
        assert_eq!(format.frame_size("16:9"), Some((640, 360)));
        assert_eq!(format.frame_size("1:1"), Some((360, 360)));
        assert_eq!(format.frame_size("4:3"), None);
        let odd = ClipFormat { width: 1080, height: 1920, fps: 30 };
        assert_eq!(odd.frame_size("9:16"), Some((1080, 1920)));
    }

    #[test]
    fn bad_script_requests_name_every_field() {
        let request = v1::GenerateScriptRequest {
            job_id: 3,
            trend_report_id: 0,
            theme: None,
            report: Some(v1::TrendReport { id: 5, job_id: 4, ..Default::default() }),
            variant: 11,
        };
        let Err(ScriptgenError::Invalid(violations)) = script_request(3, &request) else {
            panic!("expected INVALID_ARGUMENT");
        };
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["trend_report_id", "theme", "report.id", "report.job_id", "variant"]);
    }

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
