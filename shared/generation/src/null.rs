//! The `null` provider set: for benchmarks of orchestration overhead ONLY.
//!
//! No process runs and no media is made: each "file" is a few bytes of text saying what it is
//! (no player or prober accepts it), the provider and model are both `null`, and the durations
//! are nominal (the clip's requested length; the voice's length estimated from its word count).
//! Nothing downstream may treat these as real media.

use std::path::Path;

use sha2::{Digest, Sha256};
use shortline_domain::Scene;
use tokio_util::sync::CancellationToken;

use super::output::{commit, partial};
use super::{ClipProvider, ClipTarget, GeneratedFile, MediaError, MediaFuture, VoiceProvider};

/// The provider and model name of every null file.
pub const NULL_PROVIDER: &str = "null";

/// Placeholder clips: `null clip\n`, no process.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullClips;

/// Placeholder voiceovers: `null voice\n`, no process.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullVoice;

async fn write_placeholder(
    out_path: &Path,
    body: &'static [u8],
    duration_seconds: f64,
    cancel: &CancellationToken,
) -> Result<GeneratedFile, MediaError> {
    if cancel.is_cancelled() {
        return Err(MediaError::Cancelled);
    }
    let partial = partial(out_path)?;
    partial.write(body).await.map_err(|e| MediaError::io(format!("writing {}", partial.path().display()), e))?;
    let path = commit(partial).await?;
    Ok(GeneratedFile {
        path,
        duration_seconds,
        size_bytes: body.len() as u64,
        sha256: hex::encode(Sha256::digest(body)),
        provider: NULL_PROVIDER.into(),
        model: NULL_PROVIDER.into(),
        cost_micros: 0,
        word_timings: None,
    })
}

impl ClipProvider for NullClips {
    fn name(&self) -> &str {
        NULL_PROVIDER
    }

    fn render_clip<'a>(
        &'a self,
        _scene: &'a Scene,
        target: &'a ClipTarget,
        cancel: &'a CancellationToken,
    ) -> MediaFuture<'a, GeneratedFile> {
        Box::pin(async move {
            super::procedural::validate(target)?;
            write_placeholder(&target.out_path, b"null clip\n", target.seconds, cancel).await
        })
    }
}

impl VoiceProvider for NullVoice {
    fn name(&self) -> &str {
        NULL_PROVIDER
    }

    fn speak<'a>(
        &'a self,
        text: &'a str,
        words_per_minute: u32,
        out_path: &'a Path,
        cancel: &'a CancellationToken,
    ) -> MediaFuture<'a, GeneratedFile> {
        Box::pin(async move {
            if text.trim().is_empty() {
                return Err(MediaError::InvalidRequest("no text to speak".into()));
            }
            let words = text.split_whitespace().count() as f64;
            let seconds = words * 60.0 / f64::from(words_per_minute.max(1));
            write_placeholder(out_path, b"null voice\n", seconds, cancel).await
        })
    }
}

#[cfg(test)]
mod tests {
    use shortline_domain::Transition;

    use super::*;

    #[tokio::test]
    async fn null_files_are_tiny_named_null_and_cannot_pass_for_media() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cancel = CancellationToken::new();
        let scene = Scene { number: 1, duration_seconds: 2.0, visual_prompt: "x".into(), transition: Transition::Cut };
        let target = ClipTarget { width: 180, height: 320, fps: 10, seconds: 2.0, out_path: dir.path().join("c.mp4") };
        let clip = NullClips.render_clip(&scene, &target, &cancel).await.expect("clip");
        let voice = NullVoice.speak("one two three", 180, &dir.path().join("v.wav"), &cancel).await.expect("voice");
        for file in [&clip, &voice] {
            assert_eq!((file.provider.as_str(), file.model.as_str(), file.cost_micros), ("null", "null", 0));
            assert!(file.size_bytes < 16);
            assert_eq!(std::fs::read(&file.path).expect("read").len() as u64, file.size_bytes);
        }
        assert!((clip.duration_seconds - 2.0).abs() < 1e-9);
        assert!((voice.duration_seconds - 1.0).abs() < 1e-9);
        assert_eq!((NullClips.name(), NullVoice.name()), ("null", "null"));
        let probed = std::process::Command::new("ffprobe")
            .arg("-v")
            .arg("quiet")
            .arg(&clip.path)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("ffprobe");
        assert!(!probed.success(), "a null clip is not a video");

        cancel.cancel();
        let err = NullVoice.speak("x", 180, &dir.path().join("w.wav"), &cancel).await.expect_err("cancelled");
        assert!(matches!(err, MediaError::Cancelled));
        assert!(!dir.path().join("w.wav").exists());
    }
}
