//! `ComposerService`: composes a script's media into a video and records its review. The
//! composer writes only the `videos` table; scripts and assets are read through scriptgen's RPCs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Map, Value};
use shortline_config::{MediaConfig, ProviderSet};
use shortline_db::videos::Decision;
use shortline_db::{self as db, DbError, DbPool, NewVideo, VideoStatus};
use shortline_domain::captions;
use shortline_domain::text::stored_text;
use shortline_domain::CaptionStyle;
use shortline_grpc::convert;
use shortline_grpc::slots::{Slot, WorkSlots};
use shortline_grpc::status::{job_scoped, require_id, require_job, RequestError};
use shortline_media::{Downloads, MediaStore, MediaStoreError};
use shortline_proto::v1::{self, composer_service_server::ComposerService};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tracing::{info, warn, Instrument as _};

use crate::compose::{self, Selection, SelectionError};
use crate::error::{ComposerError, Result};
use crate::render::{self, CaptionTrack, RenderJob, RenderOutput, RenderSettings};
use crate::scriptgen::Scriptgen;

/// The longest generation log a ComposeVideo request may carry.
pub const MAX_GENERATION_LOG_BYTES: usize = 1024 * 1024;
/// The longest review note, in characters.
pub const MAX_NOTE_CHARS: usize = 2_000;
/// Where the offline music bed lives in the media store (made once, at startup or first use).
pub const MUSIC_BED_KEY: &str = "library/music/offline-bed.wav";
/// The music bed's length before it loops (one loop of the pad progression).
pub const MUSIC_BED_SECONDS: f64 = 8.0;

/// What every handler shares.
pub struct Composer {
    pub pool: DbPool,
    pub store: MediaStore,
    pub scriptgen: Scriptgen,
    pub media: MediaConfig,
    /// The offline music bed's file.
    pub music_bed: PathBuf,
    /// `null` composes placeholders without ffmpeg (orchestration benchmarks only).
    pub providers: ProviderSet,
    /// Renders at once in this process (`composer.max_concurrent_renders`); a call beyond them
    /// is refused RESOURCE_EXHAUSTED.
    pub renders: WorkSlots,
    /// Reviews run one at a time in a process, so two decisions on one video cannot both move
    /// its files (across processes, the conditional update decides).
    pub reviews: Mutex<()>,
}

#[derive(Clone)]
pub struct ComposerApi {
    composer: Arc<Composer>,
}

impl ComposerApi {
    pub fn new(composer: Arc<Composer>) -> Self {
        ComposerApi { composer }
    }
}

#[tonic::async_trait]
impl ComposerService for ComposerApi {
    async fn compose_video(
        &self,
        request: Request<v1::ComposeVideoRequest>,
    ) -> std::result::Result<Response<v1::Video>, Status> {
        let request = request.into_inner();
        let job_id = job_scoped(request.job_id)?;
        Ok(Response::new(self.composer.clone().compose(job_id, request).await?))
    }

    async fn review_video(
        &self,
        request: Request<v1::ComposerReviewVideoRequest>,
    ) -> std::result::Result<Response<v1::Video>, Status> {
        let request = request.into_inner();
        let job_id = job_scoped(request.job_id)?;
        Ok(Response::new(self.composer.review(job_id, request).await?))
    }

    async fn list_videos(
        &self,
        request: Request<v1::ListVideosRequest>,
    ) -> std::result::Result<Response<v1::ListVideosResponse>, Status> {
        let job_id = job_scoped(request.get_ref().job_id)?;
        Ok(Response::new(v1::ListVideosResponse { videos: self.composer.videos(job_id).await? }))
    }

    async fn get_video(
        &self,
        request: Request<v1::GetVideoRequest>,
    ) -> std::result::Result<Response<v1::Video>, Status> {
        let request = request.into_inner();
        let job_id = job_scoped(request.job_id)?;
        let video_id = require_id("video_id", request.video_id)?;
        Ok(Response::new(self.composer.video(job_id, video_id).await?))
    }
}

// ---- ListVideos, GetVideo -----------------------------------------------------------------------

impl Composer {
    /// The job's videos by variant (one video per script).
    async fn videos(&self, job_id: i64) -> Result<Vec<v1::Video>> {
        let mut pooled = self.pool.get().await?;
        let conn = &mut pooled.conn();
        let mut videos = db::videos::list_for_job(conn, job_id).await?;
        if videos.is_empty() {
            require_job(conn, job_id).await?;
        }
        videos.sort_by_key(|v| (v.variant, v.id));
        Ok(videos.iter().map(convert::video).collect())
    }

    async fn video(&self, job_id: i64, video_id: i64) -> Result<v1::Video> {
        let mut pooled = self.pool.get().await?;
        Ok(convert::video(&find_video(&mut pooled.conn(), job_id, video_id).await?))
    }
}

// ---- ComposeVideo -------------------------------------------------------------------------------

/// Everything a render needs, gathered before the render slot is taken.
struct Prepared {
    job: RenderJob,
    /// Local copies of the inputs (object storage), kept until the render is done.
    downloads: Downloads,
    /// Where `job.output` and `job.thumbnail` are stored.
    video_key: String,
    thumbnail_key: String,
    settings: RenderSettings,
    /// The row, its URIs set once the files are stored.
    new: NewVideo,
    /// The request's generation log, to which the composition is added.
    log: Map<String, Value>,
    inputs: Value,
}

impl Composer {
    async fn compose(self: Arc<Self>, job_id: i64, request: v1::ComposeVideoRequest) -> Result<v1::Video> {
        let script_id = require_id("script_id", request.script_id)?;
        for (i, id) in request.asset_ids.iter().enumerate() {
            require_id(&format!("asset_ids[{i}]"), *id)?;
        }
        let log = generation_log(&request.generation_log_json)?;
        let costs = upstream_costs(request.upstream_costs.as_ref())?;
        if let Some(video) = self.existing(job_id, script_id, true).await? {
            return Ok(video);
        }

        let style = convert::caption_style_from(request.captions);
        let prepared = self.prepare(job_id, script_id, &request.asset_ids, log, costs, style).await?;

        // Refused at once when every render slot is busy: the orchestrator retries with backoff
        // (perhaps on another pod) rather than this pod queuing renders past its memory limit.
        let slot = self.renders.try_take().inspect_err(|_| {
            info!(job_id, script_id, limit = self.renders.capacity(), "render refused: every render slot is busy");
        })?;
        // Another call may have composed this script while this one prepared.
        if let Some(video) = self.existing(job_id, script_id, false).await? {
            return Ok(video);
        }
        info!(job_id, script_id, running = slot.running, "render started");
        // The render runs in a task of its own, so a render that finished is stored even if the
        // caller has gone; a caller going away before that cancels it (the guard fires when tonic
        // drops this future), which kills ffmpeg and removes its partial files.
        let cancel = CancellationToken::new();
        let _cancel_on_drop = cancel.clone().drop_guard();
        let task = tokio::spawn(self.clone().render_and_store(prepared, slot, cancel).in_current_span());
        task.await.map_err(|e| RequestError::Internal(format!("render task failed: {e}")))?
    }

    /// The script's video if it exists (the idempotent answer); with `check_job`, NOT_FOUND
    /// first when the job does not exist.
    async fn existing(&self, job_id: i64, script_id: i64, check_job: bool) -> Result<Option<v1::Video>> {
        let mut pooled = self.pool.get().await?;
        let conn = &mut pooled.conn();
        match db::videos::for_script(conn, job_id, script_id).await {
            Ok(video) => Ok(Some(convert::video(&video))),
            Err(DbError::NotFound) => {
                if check_job {
                    require_job(conn, job_id).await?;
                }
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the script and its media from scriptgen and builds the render job and the row.
    async fn prepare(
        &self,
        job_id: i64,
        script_id: i64,
        asset_ids: &[i64],
        log: Map<String, Value>,
        costs: v1::CostBreakdown,
        style: CaptionStyle,
    ) -> Result<Prepared> {
        let script = self.scriptgen.get_script(job_id, script_id).await?;
        let plan = script
            .plan
            .as_ref()
            .ok_or_else(|| RequestError::Internal(format!("scriptgen sent script {script_id} without a plan")))?;
        let assets = self.scriptgen.list_media_assets(job_id, script_id).await?;
        let selection = match compose::select(&assets, asset_ids, plan.scenes.len()) {
            Ok(selection) => selection,
            Err(error) => return Err(self.selection_error(job_id, script_id, asset_ids, error).await),
        };
        let costs = video_costs(costs, &script, &assets)?;
        let settings = compose::render_settings(&self.media, &plan.aspect_ratio).ok_or_else(|| {
            RequestError::FailedPrecondition(format!(
                "script {script_id}: aspect ratio `{}` cannot be composed",
                plan.aspect_ratio
            ))
        })?;

        let downloads = self.store.downloads()?;
        let mut clip_paths = Vec::with_capacity(selection.clips.len());
        for clip in &selection.clips {
            clip_paths.push(self.asset_file(clip, &downloads).await?);
        }
        let voiceover = match &selection.voiceover {
            Some(asset) => Some(self.asset_file(asset, &downloads).await?),
            None => None,
        };
        // The captions are timed on the voiceover: without it, there is nothing they say.
        let captions = match (&selection.voiceover, &selection.captions_vtt) {
            (Some(_), Some(asset)) => {
                let path = self.asset_file(asset, &downloads).await?;
                let text = tokio::fs::read_to_string(&path)
                    .await
                    .map_err(|e| RequestError::Internal(format!("reading the captions of asset {}: {e}", asset.id)))?;
                let cues = captions::parse_vtt(&text).map_err(|e| {
                    RequestError::FailedPrecondition(format!("asset {}: its captions cannot be read: {e}", asset.id))
                })?;
                Some(CaptionTrack { cues, style })
            }
            _ => None,
        };
        let (music, music_source) = match &selection.music {
            Some(asset) => (self.asset_file(asset, &downloads).await?, json!({ "asset_id": asset.id })),
            None => {
                if self.providers == ProviderSet::Offline {
                    render::ensure_music_bed(&self.music_bed, MUSIC_BED_SECONDS).await?;
                }
                (self.music_bed.clone(), json!({ "library": MUSIC_BED_KEY }))
            }
        };

        let seconds = compose::scene_seconds(plan, &selection.clips);
        let clips = compose::clip_inputs(clip_paths, &seconds, plan, &settings);
        let overlays = compose::overlays(plan, &seconds);
        let video_key = format!("generated/job-{job_id}/video-{script_id}.mp4");
        let thumbnail_key = format!("generated/job-{job_id}/video-{script_id}.jpg");
        let output = self.store.local_path(&video_key)?;
        let thumbnail = self.store.local_path(&thumbnail_key)?;
        let inputs = inputs_log(&selection, &seconds, &clips, music_source, overlays.len(), captions.as_ref());
        let now = db::now();
        let new = NewVideo {
            job_id,
            script_id,
            variant: script.variant,
            status: VideoStatus::Generated,
            uri: String::new(),
            thumbnail_uri: String::new(),
            duration_seconds: 0.0,
            size_bytes: 0,
            sha256: String::new(),
            width: 0,
            height: 0,
            // The composer's own work (ffmpeg, locally) costs nothing.
            llm_cost_micros: costs.llm_micros,
            tts_cost_micros: costs.tts_micros,
            video_generation_cost_micros: costs.video_generation_micros,
            generation_log: Value::Null,
            created_at: now,
            updated_at: now,
        };
        let job = RenderJob { clips, overlays, voiceover, music: Some(music), output, thumbnail, captions };
        Ok(Prepared { job, downloads, video_key, thumbnail_key, settings, new, log, inputs })
    }

    /// The answer to assets that cannot make the video.
    async fn selection_error(
        &self,
        job_id: i64,
        script_id: i64,
        asset_ids: &[i64],
        error: SelectionError,
    ) -> ComposerError {
        let refusal = match error {
            SelectionError::NotOfScript { index, id } => {
                // An asset of another script of this job is a bad argument; one of another job
                // (or none at all) is, as every lookup of another job's row, NOT_FOUND.
                match self.scriptgen.list_media_assets(job_id, 0).await {
                    Ok(all) if all.iter().any(|a| a.id == id) => RequestError::invalid(
                        format!("asset_ids[{index}]"),
                        format!("asset {id} is not an asset of script {script_id}"),
                    ),
                    Ok(_) => RequestError::NotFound(format!("asset {id} not found")),
                    Err(error) => return error,
                }
            }
            SelectionError::NoClips if asset_ids.is_empty() => {
                RequestError::FailedPrecondition(format!("script {script_id} has no media yet: run GenerateMedia"))
            }
            SelectionError::MissingScenes(scenes) if asset_ids.is_empty() => RequestError::FailedPrecondition(format!(
                "script {script_id} has no clip for scene {} yet: run GenerateMedia",
                list(&scenes)
            )),
            SelectionError::NoClips => {
                RequestError::invalid("asset_ids", "names no clip; one clip per scene is needed")
            }
            SelectionError::MissingScenes(scenes) => RequestError::invalid(
                "asset_ids",
                format!("names no clip for scene {}; one clip per scene is needed", list(&scenes)),
            ),
        };
        refusal.into()
    }

    /// A local file of an asset's media, which must be in the media store.
    async fn asset_file(&self, asset: &v1::MediaAsset, downloads: &Downloads) -> Result<PathBuf> {
        self.store.fetch(&asset.uri, downloads).await.map_err(|e| match e {
            MediaStoreError::OutsideStore { .. } => {
                RequestError::FailedPrecondition(format!("asset {}: its file is not in the media store", asset.id))
                    .into()
            }
            MediaStoreError::Missing { .. } => RequestError::FailedPrecondition(format!(
                "asset {}: its file is missing from the media store",
                asset.id
            ))
            .into(),
            other => other.into(),
        })
    }

    async fn render_and_store(
        self: Arc<Self>,
        prepared: Prepared,
        slot: Slot,
        cancel: CancellationToken,
    ) -> Result<v1::Video> {
        let Prepared { job, downloads, video_key, thumbnail_key, settings, mut new, mut log, inputs } = prepared;
        let started = Instant::now();
        let rendered = match self.providers {
            ProviderSet::Offline => render::render(&job, &settings, &cancel).await,
            ProviderSet::Null => render::placeholder(&job, &settings).await,
        };
        drop(slot);
        drop(downloads);
        let rendered = rendered.inspect_err(|e| warn!(error = %e, script_id = new.script_id, "render failed"))?;
        let render_ms = started.elapsed().as_millis() as u64;
        shortline_telemetry::metrics::global().render_seconds.observe(started.elapsed().as_secs_f64());
        (new.uri, new.thumbnail_uri) = self.publish(&job, &video_key, &thumbnail_key).await?;

        new.duration_seconds = rendered.duration_seconds;
        new.size_bytes = i64::try_from(rendered.size_bytes).unwrap_or(i64::MAX);
        new.sha256 = rendered.sha256.clone();
        new.width = rendered.width as i32;
        new.height = rendered.height as i32;
        log.insert("composition".to_owned(), composition_log(&settings, inputs, &rendered, render_ms));
        new.generation_log = Value::Object(log);

        let stored = match self.pool.get().await {
            Ok(mut pooled) => db::videos::insert_or_get(&mut pooled.conn(), &new).await,
            Err(e) => Err(e),
        };
        match stored {
            Ok((video, true)) => {
                info!(
                    video_id = video.id,
                    script_id = video.script_id,
                    duration_seconds = video.duration_seconds,
                    "video composed"
                );
                Ok(convert::video(&video))
            }
            Ok((video, false)) => {
                // Another composer stored this script's video meanwhile: keep its row. Our files
                // went to the same deterministic keys; if its files live elsewhere now (it was
                // already reviewed), ours are strays.
                if video.uri != new.uri {
                    self.remove_stored(&[&new.uri, &new.thumbnail_uri]).await;
                } else if video.sha256 != new.sha256 {
                    warn!(
                        video_id = video.id,
                        "a concurrent composition replaced the video's file; its recorded sha256 may not match"
                    );
                }
                Ok(convert::video(&video))
            }
            Err(e) => {
                self.remove_stored(&[&new.uri, &new.thumbnail_uri]).await;
                Err(e.into())
            }
        }
    }

    /// Stores the rendered video and thumbnail and returns their URIs; when either fails,
    /// neither is left behind.
    async fn publish(&self, job: &RenderJob, video_key: &str, thumbnail_key: &str) -> Result<(String, String)> {
        // Both are attempted, so a failed upload leaves no scratch file either.
        let video = self.store.publish(video_key, &job.output).await;
        let thumbnail = self.store.publish(thumbnail_key, &job.thumbnail).await;
        match (video, thumbnail) {
            (Ok(video), Ok(thumbnail)) => Ok((video, thumbnail)),
            (Ok(stored), Err(e)) | (Err(e), Ok(stored)) => {
                self.remove_stored(&[&stored]).await;
                Err(e.into())
            }
            (Err(e), Err(_)) => Err(e.into()),
        }
    }

    async fn remove_stored(&self, uris: &[&str]) {
        for uri in uris {
            if let Err(e) = self.store.delete(uri).await {
                warn!(uri, error = %e, "cannot remove a rendered file");
            }
        }
    }
}

/// The request's generation log: `{}` when empty, else a JSON object of at most 1 MiB.
fn generation_log(text: &str) -> Result<Map<String, Value>> {
    const FIELD: &str = "generation_log_json";
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    if text.len() > MAX_GENERATION_LOG_BYTES {
        return Err(RequestError::invalid(FIELD, format!("larger than {MAX_GENERATION_LOG_BYTES} bytes")).into());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(RequestError::invalid(FIELD, "must be a JSON object").into()),
        Err(e) => Err(RequestError::invalid(FIELD, format!("is not valid JSON: {e}")).into()),
    }
}

/// Upstream costs: none may be negative, and their total must fit.
fn upstream_costs(costs: Option<&v1::CostBreakdown>) -> Result<v1::CostBreakdown> {
    let costs = costs.copied().unwrap_or_default();
    let parts = [
        ("llm_micros", costs.llm_micros),
        ("tts_micros", costs.tts_micros),
        ("video_generation_micros", costs.video_generation_micros),
    ];
    let violations: Vec<_> = parts
        .iter()
        .filter(|(_, value)| *value < 0)
        .map(|(field, _)| shortline_domain::Violation::new(format!("upstream_costs.{field}"), "must not be negative"))
        .collect();
    if !violations.is_empty() {
        return Err(RequestError::Invalid(violations).into());
    }
    if parts.iter().try_fold(0_i64, |sum, (_, value)| sum.checked_add(*value)).is_none() {
        return Err(RequestError::invalid("upstream_costs", "the total does not fit in 64 bits").into());
    }
    Ok(costs)
}

/// What the video cost, by kind: the upstream costs the composer cannot see (the trend
/// analysis) plus the script's writing (LLM) and every asset of the script, selected for this
/// cut or not, since all were paid for: voiceovers are TTS, everything else (clips, music)
/// video generation.
fn video_costs(
    upstream: v1::CostBreakdown,
    script: &v1::Script,
    assets: &[v1::MediaAsset],
) -> Result<v1::CostBreakdown> {
    let sum = |voice: bool| {
        assets
            .iter()
            .filter(|a| (a.kind == v1::AssetKind::Voiceover as i32) == voice)
            .try_fold(0_i64, |sum, a| sum.checked_add(a.cost_micros))
    };
    let too_large = || RequestError::Internal(format!("the costs of script {} do not fit in 64 bits", script.id));
    let costs = v1::CostBreakdown {
        llm_micros: upstream.llm_micros.checked_add(script.cost_micros).ok_or_else(too_large)?,
        tts_micros: sum(true).and_then(|s| s.checked_add(upstream.tts_micros)).ok_or_else(too_large)?,
        video_generation_micros: sum(false)
            .and_then(|s| s.checked_add(upstream.video_generation_micros))
            .ok_or_else(too_large)?,
        total_micros: 0,
    };
    costs
        .llm_micros
        .checked_add(costs.tts_micros)
        .and_then(|s| s.checked_add(costs.video_generation_micros))
        .ok_or_else(too_large)?;
    Ok(costs)
}

fn inputs_log(
    selection: &Selection,
    scene_seconds: &[f64],
    clips: &[render::ClipInput],
    music: Value,
    overlays: usize,
    captions: Option<&CaptionTrack>,
) -> Value {
    // The sidecars GetVideo offers (Video.captions_*_uri read them from here).
    let captions = captions.map(|track| {
        json!({
            "style": track.style,
            "cues": track.cues.len(),
            "srt_asset_id": selection.captions_srt.as_ref().map(|a| a.id),
            "srt_uri": selection.captions_srt.as_ref().map(|a| a.uri.as_str()),
            "vtt_asset_id": selection.captions_vtt.as_ref().map(|a| a.id),
            "vtt_uri": selection.captions_vtt.as_ref().map(|a| a.uri.as_str()),
        })
    });
    json!({
        "clip_asset_ids": selection.clips.iter().map(|c| c.id).collect::<Vec<_>>(),
        "scene_seconds": scene_seconds,
        "clip_seconds": clips.iter().map(|c| c.duration_seconds).collect::<Vec<_>>(),
        "transitions": clips.iter().map(|c| c.transition).collect::<Vec<_>>(),
        "voiceover_asset_id": selection.voiceover.as_ref().map(|v| v.id),
        "music": music,
        "overlays": overlays,
        "captions": captions,
    })
}

fn composition_log(settings: &RenderSettings, inputs: Value, output: &RenderOutput, render_ms: u64) -> Value {
    json!({
        "composer": "ffmpeg",
        "cost_micros": 0,
        "render_ms": render_ms,
        "settings": {
            "width": settings.width,
            "height": settings.height,
            "fps": settings.fps,
            "x264_preset": settings.x264_preset,
            "crf": settings.crf,
            "font": settings.font,
            "music_volume": settings.music_volume,
            "thumbnail_at_seconds": settings.thumbnail_at_seconds,
            "transition_seconds": settings.transition_seconds,
            "overlay_fade_seconds": settings.overlay_fade_seconds,
        },
        "inputs": inputs,
        "output": {
            "video_codec": output.video_codec,
            "audio_codec": output.audio_codec,
            "duration_seconds": output.duration_seconds,
            "size_bytes": output.size_bytes,
            "sha256": output.sha256,
            "width": output.width,
            "height": output.height,
            "thumbnail_size_bytes": output.thumbnail_size_bytes,
        },
        "quality": output.quality,
    })
}

// ---- ReviewVideo --------------------------------------------------------------------------------

impl Composer {
    async fn review(&self, job_id: i64, request: v1::ComposerReviewVideoRequest) -> Result<v1::Video> {
        let video_id = require_id("video_id", request.video_id)?;
        let decision = match v1::ReviewDecision::try_from(request.decision) {
            Ok(v1::ReviewDecision::Approve) => VideoStatus::Approved,
            Ok(v1::ReviewDecision::Reject) => VideoStatus::Rejected,
            _ => {
                return Err(RequestError::invalid(
                    "decision",
                    "must be REVIEW_DECISION_APPROVE or REVIEW_DECISION_REJECT",
                )
                .into())
            }
        };
        stored_text("note", &request.note, MAX_NOTE_CHARS).map_err(|v| RequestError::Invalid(vec![v]))?;
        let note = Some(request.note.as_str()).filter(|n| !n.is_empty());
        let reviewer = Some(request.reviewer.as_str()).filter(|n| !n.is_empty());

        let _one_review_at_a_time = self.reviews.lock().await;
        let mut pooled = self.pool.get().await?;
        let conn = &mut pooled.conn();
        let video = find_video(conn, job_id, video_id).await?;
        if video.status != VideoStatus::Generated {
            return Err(already_reviewed(&video));
        }

        let place = decision.as_str();
        let key = |ext: &str| format!("{place}/job-{job_id}/video-{}.{ext}", video.script_id);
        let uri = match self.store.move_to(&video.uri, &key("mp4")).await {
            Ok(uri) => uri,
            Err(e) => {
                // Another process may have reviewed it (and moved the file) since it was read.
                return match find_video(conn, job_id, video_id).await {
                    Ok(now) if now.status != VideoStatus::Generated => Err(already_reviewed(&now)),
                    _ => Err(e.into()),
                };
            }
        };
        let thumbnail_uri = match self.store.move_to(&video.thumbnail_uri, &key("jpg")).await {
            Ok(uri) => uri,
            Err(e) => {
                self.move_back(&[(&uri, &video.uri)]).await;
                return Err(e.into());
            }
        };
        let moved = [(uri.as_str(), video.uri.as_str()), (thumbnail_uri.as_str(), video.thumbnail_uri.as_str())];
        match db::videos::record_review(
            conn,
            job_id,
            video_id,
            Decision { status: decision, note, reviewer },
            &uri,
            &thumbnail_uri,
        )
        .await
        {
            Ok(Some(row)) => {
                info!(video_id, status = %row.status, "video reviewed");
                Ok(convert::video(&row))
            }
            Ok(None) => {
                self.move_back(&moved).await;
                match find_video(conn, job_id, video_id).await {
                    Ok(now) if now.status != VideoStatus::Generated => Err(already_reviewed(&now)),
                    Ok(_) => Err(RequestError::FailedPrecondition(format!(
                        "video {video_id} changed during the review; retry"
                    ))
                    .into()),
                    Err(e) => Err(e),
                }
            }
            Err(e) => {
                self.move_back(&moved).await;
                Err(e.into())
            }
        }
    }

    /// Undoes file moves (`(now, was)` URIs) after a review that did not count.
    async fn move_back(&self, moves: &[(&str, &str)]) {
        for (now, was) in moves {
            let restored = match self.store.key_of(was) {
                Ok(key) => self.store.move_to(now, &key).await.map(drop),
                Err(e) => Err(e),
            };
            if let Err(error) = restored {
                warn!(from = now, to = was, %error, "cannot move a file back after a failed review");
            }
        }
    }
}

fn already_reviewed(video: &db::Video) -> ComposerError {
    RequestError::FailedPrecondition(format!("video {} is already {}", video.id, video.status)).into()
}

// ---- shared -------------------------------------------------------------------------------------

/// A video of the job; one of another job is NOT_FOUND like one that does not exist.
async fn find_video(conn: &mut db::Conn<'_>, job_id: i64, video_id: i64) -> Result<db::Video> {
    match db::videos::find(conn, job_id, video_id).await {
        Ok(video) => Ok(video),
        Err(DbError::NotFound) => {
            require_job(conn, job_id).await?;
            Err(RequestError::NotFound(format!("video {video_id} not found")).into())
        }
        Err(other) => Err(other.into()),
    }
}

fn list(scenes: &[u32]) -> String {
    scenes.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_logs_must_be_json_objects() {
        assert_eq!(generation_log("").expect("empty"), Map::new());
        assert_eq!(generation_log("{\"theme\":\"x\"}").expect("object")["theme"], "x");
        for bad in ["[1]", "{", "42", "null"] {
            let error = generation_log(bad).expect_err(bad);
            assert!(error.to_string().starts_with("generation_log_json: "), "{error}");
        }
        let huge = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_GENERATION_LOG_BYTES));
        assert!(generation_log(&huge).is_err());
    }

    #[test]
    fn a_videos_costs_are_the_sums_of_what_made_it_by_kind() {
        let asset =
            |kind: v1::AssetKind, cost_micros| v1::MediaAsset { kind: kind as i32, cost_micros, ..Default::default() };
        let assets = [
            asset(v1::AssetKind::Clip, 250_000),
            asset(v1::AssetKind::Clip, 250_000),
            asset(v1::AssetKind::Voiceover, 36_000),
            asset(v1::AssetKind::Music, 1_000),
        ];
        let script = v1::Script { id: 3, cost_micros: 18_000, ..Default::default() };
        let upstream = v1::CostBreakdown { llm_micros: 13_830, ..Default::default() };
        let costs = video_costs(upstream, &script, &assets).expect("fits");
        assert_eq!((costs.llm_micros, costs.tts_micros, costs.video_generation_micros), (31_830, 36_000, 501_000));
        let huge = v1::Script { cost_micros: i64::MAX, ..script };
        assert!(video_costs(upstream, &huge, &assets).is_err());
    }

    #[test]
    fn upstream_costs_are_checked() {
        assert_eq!(upstream_costs(None).expect("none"), v1::CostBreakdown::default());
        let ok = v1::CostBreakdown { llm_micros: 5, tts_micros: 6, video_generation_micros: 7, total_micros: -1 };
        assert_eq!(upstream_costs(Some(&ok)).expect("ok").tts_micros, 6);
        let negative = v1::CostBreakdown { tts_micros: -1, ..ok };
        assert_eq!(
            upstream_costs(Some(&negative)).expect_err("negative").to_string(),
            "upstream_costs.tts_micros: must not be negative"
        );
        let huge = v1::CostBreakdown { llm_micros: i64::MAX, tts_micros: 1, ..Default::default() };
        assert!(upstream_costs(Some(&huge)).is_err());
    }
}
