//! Avatar media: one avatar video (HeyGen) becomes a script's voiceover and its clips, so the
//! composer renders it like any other set: the sound is taken out as the voiceover, the
//! scenes' lengths are fitted to it as to a spoken voiceover, and the picture is cut at those
//! lengths into one conformed clip per scene.
//!
//! The video is one paid call: its cost is recorded on the first scene's clip (the other
//! files cost nothing more), so the set's costs still add up to what was billed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use shortline_config::Price;
use shortline_domain::{ProductionPlan, ThemeAvatar};
use shortline_media::partial::PartialFile;
use shortline_providers::budget;
use shortline_providers::{cost_micros, ModelApi, Usage};
use tokio_util::sync::CancellationToken;

use super::chain_failure;
use super::clips::{charge_if_possibly_billed, Conformer};
use super::heygen::{AvatarRequest, HeygenAvatar};
use crate::media::{parse_wav, ClipTarget, FitPolicy, GeneratedFile, MediaError, Tool};

/// Where one avatar set goes and at which picture size.
pub struct AvatarTargets {
    pub voiceover: PathBuf,
    /// One per scene of the plan, in order.
    pub clips: Vec<PathBuf>,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

/// A made avatar set: each file with the usage its asset records.
pub struct AvatarSet {
    pub voiceover: (GeneratedFile, Value),
    /// `(scene number, file, usage)`, in scene order.
    pub clips: Vec<(u32, GeneratedFile, Value)>,
}

pub struct AvatarMedia {
    api: HeygenAvatar,
    price: Option<Price>,
    conformer: Conformer,
    ffmpeg: Tool,
}

impl AvatarMedia {
    /// Conforms clips with x264 `preset` and `crf`.
    pub fn new(api: HeygenAvatar, price: Option<Price>, preset: impl Into<String>, crf: u32) -> Self {
        AvatarMedia { api, price, conformer: Conformer::new(preset, crf), ffmpeg: Tool::ffmpeg() }
    }

    fn cost(&self, usage: &Usage) -> i64 {
        self.price.as_ref().map_or(0, |price| cost_micros(price, usage))
    }

    /// What an avatar video of `plan` would cost (its planned length, billed per second).
    pub fn estimate_micros(&self, plan: &ProductionPlan) -> i64 {
        self.cost(&self.api.estimate(plan.duration_seconds))
    }

    /// Makes the set: the avatar `who` speaking the plan's voiceover, cut into its scenes.
    pub async fn make(
        &self,
        who: &ThemeAvatar,
        plan: &ProductionPlan,
        targets: &AvatarTargets,
        cancel: &CancellationToken,
    ) -> Result<AvatarSet, MediaError> {
        let estimate = self.estimate_micros(plan);
        budget::check_before_call(self.api.name(), estimate)?;
        let request = AvatarRequest {
            avatar_id: &who.avatar_id,
            voice_id: &who.voice_id,
            text: &plan.voiceover_script,
            width: targets.width,
            height: targets.height,
        };
        let mut video = tokio::select! {
            video = self.api.generate(&request) => video.map_err(|e| {
                chain_failure("avatar", self.api.name(), &charge_if_possibly_billed(e, estimate), &[])
            })?,
            () = cancel.cancelled() => return Err(MediaError::Cancelled),
        };
        let cost = self.cost(&video.usage);
        budget::record_paid(self.api.name(), cost);
        let provider = self.api.name().to_owned();
        let model = self.api.model().to_owned();
        tracing::info!(provider, model, seconds = video.usage.seconds, cost_micros = cost, "avatar video generated");

        // The download, beside the outputs (same filesystem), removed on every path.
        let dir = targets.voiceover.parent().unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(dir).await.map_err(|e| MediaError::io(format!("creating {}", dir.display()), e))?;
        let source = tempfile::Builder::new()
            .prefix(".avatar-")
            .suffix(".video")
            .tempfile_in(dir)
            .map_err(|e| MediaError::io(format!("preparing a download in {}", dir.display()), e))?;
        shortline_media::partial::write_through(source.as_file(), std::mem::take(&mut video.bytes))
            .await
            .map_err(|e| MediaError::io(format!("writing {}", source.path().display()), e))?;

        let (voice_file, voice_seconds) = self.extract_voice(source.path(), &targets.voiceover, cancel).await?;
        let shared = json!({ "avatar_video": video.source, "reported_usage": video.usage, "provider": provider, "model": model });
        let voiceover = (
            GeneratedFile { provider: provider.clone(), model: model.clone(), cost_micros: 0, ..voice_file },
            json!({ "from_avatar_video": shared, "cost_on": "scene 1" }),
        );

        let planned: Vec<f64> = plan.scenes.iter().map(|s| s.duration_seconds).collect();
        let seconds = FitPolicy::default().fit_scenes(&planned, voice_seconds);
        let mut clips = Vec::with_capacity(plan.scenes.len());
        let mut start = 0.0;
        for ((scene, seconds), out_path) in plan.scenes.iter().zip(seconds).zip(&targets.clips) {
            let target = ClipTarget {
                width: targets.width,
                height: targets.height,
                fps: targets.fps,
                seconds,
                out_path: out_path.clone(),
            };
            let clip = self.conformer.conform(source.path(), start, &target, cancel).await?;
            start += seconds;
            // The one call's cost, on the first scene; the rest are cut from the same video.
            let (cost_micros, usage) = if clips.is_empty() {
                (cost, json!({ "avatar_video": shared, "seconds": clip.duration_seconds }))
            } else {
                (0, json!({ "from_avatar_video": shared, "cost_on": "scene 1", "seconds": clip.duration_seconds }))
            };
            let file = GeneratedFile {
                path: clip.path,
                duration_seconds: clip.duration_seconds,
                size_bytes: clip.bytes.len() as u64,
                sha256: hex::encode(Sha256::digest(&clip.bytes)),
                provider: provider.clone(),
                model: model.clone(),
                cost_micros,
                word_timings: None,
            };
            clips.push((scene.number, file, usage));
        }
        Ok(AvatarSet { voiceover, clips })
    }

    /// The video's sound as a 24 kHz mono WAV at `out_path`; and its length.
    async fn extract_voice(
        &self,
        source: &Path,
        out_path: &Path,
        cancel: &CancellationToken,
    ) -> Result<(GeneratedFile, f64), MediaError> {
        let partial = PartialFile::beside(out_path)
            .map_err(|e| MediaError::io(format!("preparing {}", out_path.display()), e))?;
        let mut args: Vec<OsString> =
            ["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"].map(OsString::from).to_vec();
        args.push(source.as_os_str().to_owned());
        args.extend(["-vn", "-ac", "1", "-ar", "24000", "-c:a", "pcm_s16le", "-f", "wav"].map(OsString::from));
        args.push(partial.path().as_os_str().to_owned());
        self.ffmpeg.run(&args, cancel).await?;
        let bytes = tokio::fs::read(partial.path())
            .await
            .map_err(|e| MediaError::io(format!("reading {}", partial.path().display()), e))?;
        let seconds = parse_wav(&bytes)
            .ok()
            .map(|info| info.duration_seconds())
            .filter(|s| *s > 0.0)
            .ok_or_else(|| MediaError::invalid_output(out_path, "the avatar video has no sound"))?;
        let path = partial
            .commit()
            .await
            .map_err(|e| MediaError::io(format!("moving the voice to {}", out_path.display()), e))?;
        let file = GeneratedFile {
            path,
            duration_seconds: seconds,
            size_bytes: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
            provider: String::new(),
            model: String::new(),
            cost_micros: 0,
            word_timings: None,
        };
        Ok((file, seconds))
    }
}
