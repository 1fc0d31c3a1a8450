//! Media generation providers: one clip per scene and the voiceover.
//!
//! Each kind of provider is a trait ([`ClipProvider`], [`VoiceProvider`]) so the real HTTP
//! providers (fal.ai, Pexels, OpenAI TTS, ElevenLabs, ...) plug in beside the offline defaults:
//!
//! | kind  | offline default                          | benchmark-only      |
//! |-------|------------------------------------------|---------------------|
//! | clip  | [`ProceduralClips`] (ffmpeg lavfi)       | [`NullClips`]       |
//! | voice | [`EspeakVoice`] (espeak-ng, WAV)         | [`NullVoice`]       |
//!
//! Contract of every provider:
//! - the output appears at the requested path complete or not at all: it is written to a hidden
//!   temporary name in the same directory and renamed on success; on error, cancellation or a
//!   dropped future the temporary file is removed;
//! - child processes are spawned with `kill_on_drop(true)` and raced against the
//!   [`CancellationToken`]; cancelling kills (and reaps) them and yields
//!   [`MediaError::Cancelled`];
//! - the returned [`GeneratedFile`] describes the bytes on disk (size, SHA-256, measured
//!   duration) and what made them (provider, model, cost in micro-USD; 0 offline).
//!
//! Picture/sound reconciliation ([`fit`]) decides the scene durations from the spoken voice, so
//! the voiceover is generated first ([`generate_voiceover_fitted`]) and the clips are rendered
//! for the reconciled durations.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use shortline_domain::Scene;
use tokio_util::sync::CancellationToken;

pub mod caption_files;
mod error;
pub mod espeak;
pub mod fit;
pub mod null;
mod output;
pub mod probe;
pub mod procedural;
mod process;
pub mod speech;
pub mod wav;

pub use error::MediaError;
pub use espeak::EspeakVoice;
pub use fit::{generate_voiceover_fitted, reconcile, FitPolicy, FittedVoiceover, Reconciled};
pub use null::{NullClips, NullVoice};
pub use procedural::{ClipRecipe, Pattern, ProceduralClips};
pub use process::Tool;
pub use wav::{parse_wav, WavError, WavInfo};

/// A boxed, `Send` future: what provider methods return, so the traits stay object-safe
/// (`&dyn ClipProvider`, `Arc<dyn VoiceProvider>`) without the async-trait crate.
pub type MediaFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, MediaError>> + Send + 'a>>;

/// The rate at which a voice speaks "normally"; espeak-ng's default. Providers whose speed is
/// relative (OpenAI TTS `speed`, ElevenLabs) should map `words_per_minute / 175` onto it.
pub const NORMAL_WORDS_PER_MINUTE: u32 = 175;

/// A file a provider produced, as it is on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratedFile {
    pub path: PathBuf,
    /// Measured from the file (ffprobe for clips, the WAV header for voices); nominal for `null`.
    pub duration_seconds: f64,
    pub size_bytes: u64,
    /// Lowercase hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// The provider's name, e.g. `procedural`, `espeak-ng`, `null`.
    pub provider: String,
    /// What within the provider made it, e.g. `procedural-v1/mandelbrot`, `espeak-ng/en-us`.
    pub model: String,
    /// What producing it cost, in micro-USD (0 for offline providers).
    pub cost_micros: i64,
    /// A voice's words on its timeline, when the engine could say when each is heard; `None`
    /// for clips and for voices that give no timings (captions then fall back to
    /// [`shortline_domain::captions::distribute`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub word_timings: Option<Vec<shortline_domain::captions::WordTiming>>,
}

/// What a clip must be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipTarget {
    /// Even, 16..=4096 (yuv420p needs even sizes).
    pub width: u32,
    pub height: u32,
    /// 1..=120.
    pub fps: u32,
    /// The clip lasts `ceil(seconds * fps)` frames: never shorter, at most one frame longer.
    pub seconds: f64,
    /// Where the finished MP4 goes (its directory is created if needed).
    pub out_path: PathBuf,
}

impl ClipTarget {
    /// Frame size for a plan's aspect ratio (`9:16`, `1:1`, `16:9`) with `short_side` pixels on
    /// the short side (rounded to even); `None` for an unknown ratio.
    pub fn size_for_aspect(aspect_ratio: &str, short_side: u32) -> Option<(u32, u32)> {
        let long = ((u64::from(short_side) * 16 / 9) as u32 + 1) & !1;
        let short = (short_side + 1) & !1;
        match aspect_ratio {
            "9:16" => Some((short, long)),
            "16:9" => Some((long, short)),
            "1:1" => Some((short, short)),
            _ => None,
        }
    }
}

/// Makes one video clip for one scene.
pub trait ClipProvider: Send + Sync {
    /// The provider's configured name (`procedural`, `null`, `fal`, `pexels`, ...).
    fn name(&self) -> &str;

    /// What a clip of `seconds` would cost at most, in micro-USD, before anything is called
    /// (the first configured provider's estimate); free providers cost 0.
    fn estimate_micros(&self, _seconds: f64) -> i64 {
        0
    }

    /// Renders `scene` (from its visual prompt) to `target.out_path`.
    fn render_clip<'a>(
        &'a self,
        scene: &'a Scene,
        target: &'a ClipTarget,
        cancel: &'a CancellationToken,
    ) -> MediaFuture<'a, GeneratedFile>;
}

/// Speaks a text to an audio file.
pub trait VoiceProvider: Send + Sync {
    /// The provider's configured name (`espeak-ng`, `null`, `openai`, `elevenlabs`, ...).
    fn name(&self) -> &str;

    /// What speaking `text` once would cost, in micro-USD, before anything is called (the first
    /// configured provider's estimate); free providers cost 0.
    fn estimate_micros(&self, _text: &str) -> i64 {
        0
    }

    /// Speaks `text` at about `words_per_minute` (see [`NORMAL_WORDS_PER_MINUTE`]) to
    /// `out_path`; the returned duration is measured from the file.
    fn speak<'a>(
        &'a self,
        text: &'a str,
        words_per_minute: u32,
        out_path: &'a Path,
        cancel: &'a CancellationToken,
    ) -> MediaFuture<'a, GeneratedFile>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_for_the_plan_aspect_ratios() {
        assert_eq!(ClipTarget::size_for_aspect("9:16", 1080), Some((1080, 1920)));
        assert_eq!(ClipTarget::size_for_aspect("16:9", 180), Some((320, 180)));
        assert_eq!(ClipTarget::size_for_aspect("1:1", 361), Some((362, 362)));
        assert_eq!(ClipTarget::size_for_aspect("4:3", 360), None);
    }

    #[test]
    fn providers_are_object_safe() {
        let clips: Vec<Box<dyn ClipProvider>> = vec![Box::new(ProceduralClips::new()), Box::new(NullClips)];
        let voices: Vec<Box<dyn VoiceProvider>> = vec![Box::new(EspeakVoice::new()), Box::new(NullVoice)];
        let names: Vec<&str> = clips.iter().map(|c| c.name()).chain(voices.iter().map(|v| v.name())).collect();
        assert_eq!(names, ["procedural", "null", "espeak-ng", "null"]);
    }
}
