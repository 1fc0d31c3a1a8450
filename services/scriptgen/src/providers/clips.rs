//! Real clips: one [`VideoApi`] per video API, and [`ClipChain`], the [`ClipProvider`] that
//! tries them in order and conforms what it gets to the scene's target.
//!
//! Generated and stock videos come in their own sizes, rates and lengths; the clip a scene needs
//! is exact (`target`'s size and rate, `ceil(seconds * fps)` frames, H.264 yuv420p, no sound).
//! So the downloaded file is scaled to cover the frame, centre-cropped, looped if it is
//! shorter, cut to the frame count and encoded with the configured x264 preset and CRF — one
//! ffmpeg pass — then checked with ffprobe like a procedural clip.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use shortline_config::Price;
use shortline_domain::Scene;
use shortline_media::partial::PartialFile;
use shortline_providers::budget;
use shortline_providers::{ModelApi, ProviderAttempt, ProviderError, Usage};
use tokio_util::sync::CancellationToken;

use super::chain::FailoverChain;
use super::UsageLedger;
use crate::media::probe::probe;
use crate::media::procedural::{frame_count, validate};
use crate::media::{ClipProvider, ClipTarget, GeneratedFile, MediaError, MediaFuture, Tool};

/// What a video API delivered: a video file and what it reports having used.
#[derive(Debug, Clone)]
pub struct FetchedVideo {
    pub bytes: Vec<u8>,
    /// As billed (generated seconds as requested from the model; stock: the seconds used).
    pub usage: Usage,
    /// Where it came from (request id, stock video id and page for attribution, ...).
    pub source: Value,
}

/// One video API; its [`ModelApi::name`] is the configured provider name (`fal_kling`,
/// `fal_minimax`, `pexels`).
pub trait VideoApi: ModelApi + Send + Sync {
    /// What a clip of `seconds` would bill, checked against the job's budget before the call.
    fn estimate(&self, seconds: f64) -> Usage;
    /// A video for `scene` (from its visual prompt), ideally `target`'s shape and length.
    fn fetch<'a>(
        &'a self,
        scene: &'a Scene,
        target: &'a ClipTarget,
    ) -> BoxFuture<'a, Result<FetchedVideo, ProviderError>>;
}

/// `9:16`, `16:9` or `1:1`: the aspect ratio closest to `target`'s, as video APIs name them.
pub fn aspect_ratio(target: &ClipTarget) -> &'static str {
    match target.width.cmp(&target.height) {
        std::cmp::Ordering::Less => "9:16",
        std::cmp::Ordering::Greater => "16:9",
        std::cmp::Ordering::Equal => "1:1",
    }
}

/// A clip made exactly to a scene's target from a video of any shape.
pub(crate) struct ConformedClip {
    pub path: std::path::PathBuf,
    /// Measured with ffprobe.
    pub duration_seconds: f64,
    pub bytes: Vec<u8>,
}

/// The one ffmpeg pass that conforms a fetched video to a scene's target, and its check.
pub(crate) struct Conformer {
    ffmpeg: Tool,
    ffprobe: Tool,
    preset: String,
    crf: u32,
}

impl Conformer {
    /// Encodes with x264 `preset` and `crf`.
    pub fn new(preset: impl Into<String>, crf: u32) -> Self {
        Conformer { ffmpeg: Tool::ffmpeg(), ffprobe: Tool::ffprobe(), preset: preset.into(), crf: crf.min(51) }
    }

    /// `source` from `start_seconds` on (looped if shorter) as `target.out_path`: scaled to
    /// cover the frame, centre-cropped, cut to the frame count, H.264 yuv420p without sound,
    /// then probed; written atomically.
    pub async fn conform(
        &self,
        source: &Path,
        start_seconds: f64,
        target: &ClipTarget,
        cancel: &CancellationToken,
    ) -> Result<ConformedClip, MediaError> {
        let partial = PartialFile::beside(&target.out_path)
            .map_err(|e| MediaError::Io { context: format!("preparing {}", target.out_path.display()), source: e })?;
        let frames = frame_count(target.seconds, target.fps);
        let filter = format!(
            "scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},setsar=1,fps={fps}",
            w = target.width,
            h = target.height,
            fps = target.fps
        );
        let mut args: Vec<OsString> =
            ["-nostdin", "-hide_banner", "-loglevel", "error", "-y"].map(OsString::from).to_vec();
        if start_seconds > 0.0 {
            args.extend(["-ss".into(), format!("{start_seconds:.3}").into()]);
        }
        args.extend(["-stream_loop", "-1", "-i"].map(OsString::from));
        args.push(source.as_os_str().to_owned());
        for arg in [
            "-vf".to_owned(),
            filter,
            "-frames:v".to_owned(),
            frames.to_string(),
            "-an".to_owned(),
            "-c:v".to_owned(),
            "libx264".to_owned(),
            "-preset".to_owned(),
            self.preset.clone(),
            "-crf".to_owned(),
            self.crf.to_string(),
            "-threads".to_owned(),
            "2".to_owned(),
            "-pix_fmt".to_owned(),
            "yuv420p".to_owned(),
            "-movflags".to_owned(),
            "+faststart".to_owned(),
            "-f".to_owned(),
            "mp4".to_owned(),
        ] {
            args.push(arg.into());
        }
        args.push(partial.path().as_os_str().to_owned());
        self.ffmpeg.run(&args, cancel).await?;

        let probed = probe(&self.ffprobe, partial.path(), cancel).await?;
        let bad = |reason: String| MediaError::InvalidOutput { path: partial.dest().to_path_buf(), reason };
        let stream = probed.video.as_ref().ok_or_else(|| bad("no video stream".into()))?;
        if stream.codec != "h264"
            || stream.pix_fmt != "yuv420p"
            || (stream.width, stream.height) != (target.width, target.height)
        {
            return Err(bad(format!(
                "{} {} {}x{} instead of h264 yuv420p {}x{}",
                stream.codec, stream.pix_fmt, stream.width, stream.height, target.width, target.height
            )));
        }
        let expected = f64::from(frames) / f64::from(target.fps);
        if (probed.duration_seconds - expected).abs() > 0.5 / f64::from(target.fps) {
            return Err(bad(format!("{} s instead of {expected} s", probed.duration_seconds)));
        }
        let bytes = tokio::fs::read(partial.path())
            .await
            .map_err(|e| MediaError::Io { context: format!("reading {}", partial.path().display()), source: e })?;
        if cancel.is_cancelled() {
            return Err(MediaError::Cancelled);
        }
        let path = partial.commit().await.map_err(|e| MediaError::Io {
            context: format!("moving the clip to {}", target.out_path.display()),
            source: e,
        })?;
        Ok(ConformedClip { path, duration_seconds: probed.duration_seconds, bytes })
    }
}

/// `error` as returned by a paid call estimated at `estimate_micros`: when the call may have
/// been billed though it failed ([`ProviderError::PossiblyCharged`]), the estimate is counted
/// against the job's budget and carried by the error into the chain's attempts.
pub(crate) fn charge_if_possibly_billed(error: ProviderError, estimate_micros: i64) -> ProviderError {
    if error.possibly_charged_micros().is_none() {
        return error;
    }
    budget::record_paid(error.provider(), estimate_micros);
    tracing::warn!(provider = error.provider(), estimate_micros, %error, "a paid submit may have been charged; counted against the budget");
    error.with_charge_estimate(estimate_micros)
}

/// The configured clip providers in failover order, as one [`ClipProvider`].
pub struct ClipChain {
    chain: FailoverChain<dyn VideoApi>,
    ledger: UsageLedger,
    conformer: Conformer,
}

impl ClipChain {
    /// `apis` must not be empty; the conform pass uses x264 `preset` and `crf`.
    pub fn new(
        apis: Vec<Arc<dyn VideoApi>>,
        prices: BTreeMap<String, Price>,
        ledger: UsageLedger,
        preset: impl Into<String>,
        crf: u32,
    ) -> Self {
        Self { chain: FailoverChain::new(apis, prices), ledger, conformer: Conformer::new(preset, crf) }
    }

    async fn render(
        &self,
        scene: &Scene,
        target: &ClipTarget,
        cancel: &CancellationToken,
    ) -> Result<GeneratedFile, MediaError> {
        validate(target)?;
        let made = self
            .chain
            .run("clip", cancel, |api| async move {
                let estimate = self.chain.cost(api.as_ref(), &api.estimate(target.seconds));
                budget::check_before_call(api.name(), estimate)?;
                let video =
                    api.fetch(scene, target).await.map_err(|error| charge_if_possibly_billed(error, estimate))?;
                if video.bytes.is_empty() {
                    return Err(ProviderError::Malformed {
                        provider: api.name().to_owned(),
                        reason: "an empty video file".into(),
                    });
                }
                Ok(video)
            })
            .await?;
        let (api, mut video) = (made.api, made.value);

        // The download, beside the output (same filesystem), removed on every path.
        let dir = target.out_path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| MediaError::Io { context: format!("creating {}", dir.display()), source: e })?;
        let source =
            tempfile::Builder::new().prefix(".source-").suffix(".video").tempfile_in(dir).map_err(|e| {
                MediaError::Io { context: format!("preparing a download in {}", dir.display()), source: e }
            })?;
        shortline_media::partial::write_through(source.as_file(), std::mem::take(&mut video.bytes))
            .await
            .map_err(|e| MediaError::Io { context: format!("writing {}", source.path().display()), source: e })?;

        let conformed = self.conformer.conform(source.path(), 0.0, target, cancel).await?;
        drop(source);
        let (path, bytes) = (conformed.path, conformed.bytes);
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let billed = self.chain.cost(api.as_ref(), &video.usage);
        budget::record_paid(api.name(), billed);
        // Submits that may have been billed before the chain moved on stay on this clip's cost,
        // so the job's rows (and every later budget check) count them.
        let possibly_charged = ProviderAttempt::possibly_charged_total(&made.attempts);
        let cost = billed.saturating_add(possibly_charged);
        let mut details = json!({
            "provider": api.name(),
            "model": api.model(),
            "provider_attempts": made.attempts,
            "reported_usage": video.usage,
            "source": video.source,
        });
        if possibly_charged > 0 {
            details["possibly_charged_micros"] = json!(possibly_charged);
        }
        self.ledger.record(&sha256, details);
        tracing::info!(
            provider = api.name(),
            model = api.model(),
            scene = scene.number,
            cost_micros = cost,
            "clip generated"
        );
        Ok(GeneratedFile {
            path,
            duration_seconds: conformed.duration_seconds,
            size_bytes: bytes.len() as u64,
            sha256,
            provider: api.name().to_owned(),
            model: api.model().to_owned(),
            cost_micros: cost,
            word_timings: None,
        })
    }
}

impl ClipProvider for ClipChain {
    fn name(&self) -> &str {
        self.chain.label()
    }

    fn estimate_micros(&self, seconds: f64) -> i64 {
        self.chain.first().map_or(0, |api| self.chain.cost(api, &api.estimate(seconds)))
    }

    fn render_clip<'a>(
        &'a self,
        scene: &'a Scene,
        target: &'a ClipTarget,
        cancel: &'a CancellationToken,
    ) -> MediaFuture<'a, GeneratedFile> {
        Box::pin(self.render(scene, target, cancel))
    }
}
