//! The composition engine: scene clips + voiceover + music + text overlays → an H.264/AAC MP4
//! (`+faststart`) and a JPEG thumbnail, in **one ffmpeg pass**.
//!
//! # Why one pass
//! Decoding, filtering and x264 all run inside one ffmpeg process, so every frame is decoded once,
//! filtered once and encoded once, with no intermediate files and no lossy re-encodes. On this
//! 2-core machine that pass renders 30 s of 1080x1920 in about 13 s, x264-bound on both cores,
//! against 35–56 s for the old frame-by-frame MoviePy build (see the design's "Composition notes").
//! The thumbnail comes from the same pass (`split`), so it shows exactly what was encoded.
//!
//! # The filter graph ([`graph::build_filtergraph`], written to a file for `-filter_complex_script`)
//! 1. **Per clip** `[i:v]`: `fps` (first, so a 60 fps source is scaled half as often),
//!    `scale=W:H:force_original_aspect_ratio=increase,crop=W:H` fills the frame without bars,
//!    `setsar=1`, `format=yuv420p`; `tpad` holds the last frame if the clip (or a still image) is
//!    shorter than its scene, and `trim=end_frame=N` cuts it to exactly N frames (the scene duration
//!    rounded to whole frames) → `[c{i}]`.
//! 2. **Joins**: a cut is plain concatenation. A fade/dissolve overlaps the last `m` frames of one
//!    clip with the first `m` of the next, so each clip is `split`/`trim`med into head, body and
//!    tail; each tail+head pair goes through `xfade` (`fadeblack` for *fade*, `dissolve` for
//!    *dissolve*, `offset=0`); then every body and transition is `concat`enated in order. This is
//!    frame-for-frame what a chain of xfades at `offset = length so far − overlap` produces, but
//!    this ffmpeg's xfade only works in yuv444p, and confining it to the overlap frames keeps the
//!    rest of the timeline free of two pixel-format conversions per frame. Total frames =
//!    Σ clip frames − Σ overlaps; see [`graph::Timeline`] and [`expected_duration`].
//! 3. **Text**: one `ass` filter (libass) draws the captions and the plan's overlays from one
//!    ASS script written beside the graph ([`subtitles`]; no text goes through filtergraph
//!    escaping, and override blocks in it are shown literally). libass falls back glyph by glyph
//!    through fontconfig, so every script and emoji is drawn. Overlays are centred on the safe
//!    area at its top, middle or bottom ([`layout`]), fade in and out within their half-open
//!    window, styled bold (large, thick outline, shadow), normal (thick outline) or highlight (on
//!    a yellow box), pre-wrapped to the safe width.
//! 4. **Thumbnail**: `split` the final picture; one branch is `[vout]`, one is trimmed to
//!    the one frame at `thumbnail_at_seconds` → `[vthumb]`, the JPEG output (`-frames:v 1`), and
//!    one goes to the quality gate's `blackdetect`.
//! 5. **Audio** → `[aout]`: the voiceover resampled to 48 kHz stereo, `apad`ded and `atrim`med to
//!    exactly the picture's length; the music (input looped with `-stream_loop -1`) at
//!    `music_volume`, trimmed to the same length with a short fade-out, ducked under the voice by
//!    `sidechaincompress` (both inputs are the full length, so it cuts nothing), then `amix`ed with
//!    the voice. Either may be missing; with neither, `anullsrc` gives a silent track so the MP4
//!    always has AAC audio.
//!
//!    Every audible mix ends in a gain to −14 LUFS, measured beforehand by an audio-only pass
//!    over the same mix, and a limiter for a true peak ≤ −1 dBTP ([`graph::loudness_chain`] says
//!    how close it lands). The mix is split: `[aenc]` to the AAC encoder, the rest to the quality
//!    gate's `ebur128` and `silencedetect`.
//!
//! # Outputs are atomic and pass a quality gate
//! ffmpeg writes `.{name}.{uuid}.partial.{ext}` beside each final path; the MP4 is probed (h264 +
//! aac, the requested size, duration within [`DURATION_TOLERANCE_SECONDS`] of the expected one),
//! passes [`quality`]'s checks on what the same pass measured (loudness, black stretches,
//! silences while the voice speaks) and only
//! then are both renamed into place. On failure, cancellation or drop the child is killed
//! and the temp files, the ASS script and the graph script are removed.

mod ffmpeg;
mod graph;
pub mod layout;
mod overlay;
mod quality;
pub mod subtitles;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};
use shortline_domain::{CaptionStyle, TextOverlay, Transition};
use tokio_util::sync::CancellationToken;

pub use ffmpeg::{ensure_music_bed, probe, Probe, ProbeStream};
pub use graph::secs as filter_seconds;
pub use quality::{GateInputs, QualityReport};
pub use subtitles::CaptionTrack;

use ffmpeg::{file_url, probe_with, run_with_stderr, FFMPEG};
use graph::{audio_graph, build_filtergraph, AudioEnd, GraphSpec, Timeline};
use overlay::prepare_overlays;
use shortline_media::partial::PartialFile;

/// How far the probed duration may be from [`expected_duration`] before a render is rejected.
pub const DURATION_TOLERANCE_SECONDS: f64 = 0.5;

/// The integrated loudness every audible mix is normalised to (the platforms' −14 LUFS).
pub const LOUDNESS_TARGET_LUFS: f64 = -14.0;
/// The highest true peak the final mix may reach.
pub const TRUE_PEAK_CEILING_DBTP: f64 = -1.0;

/// How to render: output geometry, encoder settings and the look of transitions and overlays.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderSettings {
    /// Output size in pixels; both must be even (yuv420p).
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// x264 `-preset` (`ultrafast` … `veryslow`).
    pub x264_preset: String,
    /// x264 `-crf` (0–51, lower is better; 23 is x264's default).
    pub crf: u32,
    /// The font family of captions and overlays (bold), as fontconfig names it; characters it
    /// lacks come from whichever installed font has them. No commas (ASS separates a style's
    /// fields with them; `media.font` is checked for that).
    pub font: String,
    /// Gain applied to the music bed (1.0 = unchanged), before ducking under the voice.
    pub music_volume: f64,
    /// Where the thumbnail frame is taken (clamped into the video).
    pub thumbnail_at_seconds: f64,
    /// Length of a fade/dissolve (capped at half of the shorter neighbouring clip).
    pub transition_seconds: f64,
    /// Length of an overlay's fade in and fade out (capped at a third of its time on screen).
    pub overlay_fade_seconds: f64,
}

/// Debian's `fonts-noto-core`; the layout's width estimates are measured on it.
pub const DEFAULT_FONT: &str = "Noto Sans";

impl Default for RenderSettings {
    /// Vertical 1080x1920 at 30 fps, x264 `veryfast` CRF 23: the design's reference render.
    fn default() -> Self {
        RenderSettings {
            width: 1080,
            height: 1920,
            fps: 30,
            x264_preset: "veryfast".to_owned(),
            crf: 23,
            font: DEFAULT_FONT.to_owned(),
            music_volume: 0.25,
            thumbnail_at_seconds: 1.0,
            transition_seconds: 0.5,
            overlay_fade_seconds: 0.3,
        }
    }
}

impl RenderSettings {
    /// The defaults at the size of a plan's aspect ratio (`9:16`, `1:1` or `16:9`, 1080 px on
    /// the short side); `None` for any other ratio.
    pub fn for_aspect_ratio(aspect_ratio: &str) -> Option<Self> {
        let (width, height) = match aspect_ratio {
            "9:16" => (1080, 1920),
            "1:1" => (1080, 1080),
            "16:9" => (1920, 1080),
            _ => return None,
        };
        Some(RenderSettings { width, height, ..RenderSettings::default() })
    }
}

/// One scene's clip.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipInput {
    pub path: PathBuf,
    /// How long the scene lasts; a longer clip is cut, a shorter one holds its last frame.
    pub duration_seconds: f64,
    /// How this clip is entered from the previous one; ignored for the first clip.
    pub transition: Transition,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RenderJob {
    pub clips: Vec<ClipInput>,
    /// Times are on the rendered timeline; overlays are clamped to its end (see [`expected_duration`]).
    pub overlays: Vec<TextOverlay>,
    /// Padded with silence if shorter than the video, cut if longer (the scenes set the length).
    pub voiceover: Option<PathBuf>,
    /// Looped for as long as the video lasts; `ensure_music_bed` makes an offline default.
    pub music: Option<PathBuf>,
    /// The final `.mp4` path (its directory is created if missing).
    pub output: PathBuf,
    /// The final `.jpg` path.
    pub thumbnail: PathBuf,
    /// The voiceover's captions to burn in (timed on the voiceover, which starts with the video).
    pub captions: Option<CaptionTrack>,
}

/// What was written, as probed after the render.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderOutput {
    pub duration_seconds: f64,
    pub size_bytes: u64,
    /// Lower-case hex SHA-256 of the MP4.
    pub sha256: String,
    pub width: u32,
    pub height: u32,
    pub video_codec: String,
    pub audio_codec: String,
    pub thumbnail_size_bytes: u64,
    /// What the quality gate measured (`None` for the `null` provider's placeholders).
    pub quality: Option<QualityReport>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{program} is not installed or not on PATH; install FFmpeg (e.g. `apt-get install ffmpeg`, which also provides ffprobe)")]
    FfmpegMissing { program: &'static str },
    #[error("invalid render job: {reason}")]
    InvalidJob { reason: String },
    #[error("{program} failed ({status}): {stderr}")]
    Failed { program: &'static str, status: String, stderr: String },
    #[error("the rendered file is not what was asked for: {reason}")]
    ProbeMismatch { reason: String },
    /// The render finished but failed the quality gate; the reason names the check and its value.
    /// Rendering the same input again fails the same way.
    #[error("quality gate: {reason}")]
    QualityGate { reason: String },
    #[error("render cancelled")]
    Cancelled,
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl RenderError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        RenderError::Io { context: context.into(), source }
    }
}

/// The length of the rendered video: every clip's duration rounded to whole frames, minus one
/// transition overlap per fade/dissolve (see [`graph::Timeline`]):
/// `(Σ round(dᵢ·fps) − Σ overlapᵢ) / fps`, where `overlapᵢ = min(round(transition_seconds·fps),
/// ⌊min(framesᵢ₋₁, framesᵢ)/2⌋)` for a fade/dissolve into clip i and 0 for a cut.
pub fn expected_duration(clips: &[ClipInput], settings: &RenderSettings) -> f64 {
    Timeline::new(clips, settings).total_seconds()
}

/// Renders `job` in one ffmpeg pass; see the module docs. Nothing appears at `job.output` or
/// `job.thumbnail` unless the whole render succeeded and the MP4 probed as expected.
pub async fn render(
    job: &RenderJob,
    settings: &RenderSettings,
    cancel: &CancellationToken,
) -> Result<RenderOutput, RenderError> {
    let started = Instant::now();
    validate(job, settings).await?;
    let timeline = Timeline::new(&job.clips, settings);
    let expected = timeline.total_seconds();
    let mut overlays = prepare_overlays(&job.overlays, settings, expected);
    layout::sequence_overlays(&mut overlays);
    let captions = job.captions.as_ref().filter(|c| c.style != CaptionStyle::Off && !c.cues.is_empty());
    for overlay in &mut overlays {
        overlay.above_captions = captions.is_some();
    }
    // The layout check of the quality gate runs first: it needs no render to fail.
    let mut text_boxes = captions.map(|c| subtitles::caption_boxes(c, settings, expected)).unwrap_or_default();
    text_boxes
        .extend(overlays.iter().enumerate().map(|(i, o)| layout::overlay_box(i, o, captions.is_some(), settings)));
    layout::check(&text_boxes, settings).map_err(|reason| RenderError::QualityGate { reason })?;
    if cancel.is_cancelled() {
        return Err(RenderError::Cancelled);
    }
    for path in [&job.output, &job.thumbnail] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| RenderError::io(format!("creating {}", dir.display()), e))?;
        }
    }

    // The graph and ASS scripts live in a scratch dir beside the output, removed on every exit
    // path (and after a crash, by the next render of the same output).
    let work = shortline_media::partial::work_dir_beside(&job.output)
        .map_err(|e| RenderError::io("creating a render work directory", e))?;
    let text_path = work.path().join("text.ass");
    let text = captions.is_some() || !overlays.is_empty();
    if text {
        tokio::fs::write(&text_path, subtitles::ass_document(captions, &overlays, settings, expected))
            .await
            .map_err(|e| RenderError::io(format!("writing {}", text_path.display()), e))?;
    }
    let n = job.clips.len();
    let voice_input = job.voiceover.as_ref().map(|_| n);
    let music_input = job.music.as_ref().map(|_| n + usize::from(voice_input.is_some()));
    let loudness_gain_db = loudness_gain(job, expected, settings, cancel).await?;
    let script = build_filtergraph(
        &GraphSpec {
            timeline: &timeline,
            voice_input,
            music_input,
            loudness_gain_db,
            text: text.then_some(text_path.as_path()),
        },
        settings,
    );
    let script_path = work.path().join("graph.txt");
    tokio::fs::write(&script_path, &script)
        .await
        .map_err(|e| RenderError::io(format!("writing {}", script_path.display()), e))?;
    tracing::debug!(%script, "filter graph");

    let partial = |dest: &Path| {
        PartialFile::beside(dest).map_err(|e| RenderError::io(format!("preparing {}", dest.display()), e))
    };
    let video_temp = partial(&job.output)?;
    let thumb_temp = partial(&job.thumbnail)?;
    let args = ffmpeg_args(job, settings, &script_path, video_temp.path(), thumb_temp.path());
    let log = run_with_stderr(FFMPEG, &args, Some(cancel)).await?;
    let encoded = started.elapsed();

    let probed = probe_with(video_temp.path(), Some(cancel)).await?;
    let (video, audio) = check(&probed, settings, expected)?;
    let spoken_seconds = match &job.voiceover {
        Some(voice) => probe_with(voice, Some(cancel)).await?.duration_seconds,
        None => 0.0,
    };
    let gate = GateInputs {
        audible: job.voiceover.is_some() || job.music.is_some(),
        spoken_seconds,
        duration_seconds: probed.duration_seconds,
    };
    let mut quality = quality::parse_report(&String::from_utf8_lossy(&log), probed.duration_seconds);
    quality.text_boxes = text_boxes;
    quality.verdict(&gate).map_err(|reason| RenderError::QualityGate { reason })?;
    let size_bytes = file_len(video_temp.path()).await?;
    let thumbnail_size_bytes = file_len(thumb_temp.path()).await?;
    if thumbnail_size_bytes == 0 {
        return Err(RenderError::ProbeMismatch { reason: "the thumbnail is empty".to_owned() });
    }
    let sha256 = sha256_file(video_temp.path()).await?;
    if cancel.is_cancelled() {
        return Err(RenderError::Cancelled);
    }

    thumb_temp.commit().await.map_err(|e| RenderError::io(format!("writing {}", job.thumbnail.display()), e))?;
    if let Err(e) = video_temp.commit().await {
        let _ = tokio::fs::remove_file(&job.thumbnail).await;
        return Err(RenderError::io(format!("writing {}", job.output.display()), e));
    }
    tracing::info!(
        output = %job.output.display(),
        duration_seconds = probed.duration_seconds,
        size_bytes,
        encode_ms = encoded.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "rendered video"
    );
    Ok(RenderOutput {
        duration_seconds: probed.duration_seconds,
        size_bytes,
        sha256,
        width: video.width.unwrap_or_default(),
        height: video.height.unwrap_or_default(),
        video_codec: video.codec_name.clone(),
        audio_codec: audio.codec_name.clone(),
        thumbnail_size_bytes,
        quality: Some(quality),
    })
}

/// How close to the target the pre-passes must bring the mix, and how many they may take.
const LOUDNESS_SEARCH_TOLERANCE_LU: f64 = 0.2;
const LOUDNESS_SEARCH_PASSES: usize = 6;

/// The gain that brings the mix to [`LOUDNESS_TARGET_LUFS`] through [`graph::loudness_chain`]:
/// measure the chain's output, correct the gain by the miss, repeat (the limiter makes the
/// relation a little less than linear; two or three passes land within 0.2 LU). Each pass is
/// audio-only, a fraction of a second for a 30 s video. 0 dB when there is nothing audible.
async fn loudness_gain(
    job: &RenderJob,
    total_seconds: f64,
    settings: &RenderSettings,
    cancel: &CancellationToken,
) -> Result<f64, RenderError> {
    let mut gain_db = 0.0;
    let mut previous: Option<(f64, f64)> = None;
    for _ in 0..LOUDNESS_SEARCH_PASSES {
        let Some(lufs) = mix_loudness(job, total_seconds, settings, gain_db, cancel).await? else {
            break;
        };
        let miss = LOUDNESS_TARGET_LUFS - lufs;
        // Under the limiter a dB of gain adds less than a dB of loudness: step by the slope the
        // last two passes measured (secant), so a peaky voice (espeak-ng phrases raised 8 dB)
        // still lands within the passes; full steps took more than 4 passes there.
        let slope = match previous {
            Some((g, l)) if (gain_db - g).abs() > 1e-6 => ((lufs - l) / (gain_db - g)).clamp(0.2, 1.0),
            _ => 1.0,
        };
        previous = Some((gain_db, lufs));
        gain_db += miss / slope;
        if miss.abs() <= LOUDNESS_SEARCH_TOLERANCE_LU {
            break;
        }
    }
    Ok(gain_db)
}

/// The integrated loudness of the audio mix alone (voice and music as the render mixes them,
/// through [`graph::loudness_chain`] at `gain_db`); `None` when it is silent.
async fn mix_loudness(
    job: &RenderJob,
    total_seconds: f64,
    settings: &RenderSettings,
    gain_db: f64,
    cancel: &CancellationToken,
) -> Result<Option<f64>, RenderError> {
    if job.voiceover.is_none() && job.music.is_none() {
        return Ok(None);
    }
    let mut args: Vec<OsString> =
        ["-nostdin", "-hide_banner", "-nostats", "-loglevel", "info"].map(OsString::from).to_vec();
    push_audio_inputs(&mut args, job);
    let voice_input = job.voiceover.as_ref().map(|_| 0);
    let music_input = job.music.as_ref().map(|_| usize::from(voice_input.is_some()));
    args.push("-filter_complex".into());
    args.push(audio_graph(voice_input, music_input, total_seconds, settings, AudioEnd::Measure { gain_db }).into());
    args.extend(["-map", "[aout]", "-f", "null", "-"].map(OsString::from));
    let log = run_with_stderr(FFMPEG, &args, Some(cancel)).await?;
    Ok(quality::parse_report(&String::from_utf8_lossy(&log), total_seconds).integrated_lufs)
}

/// The voiceover and the endlessly looped music as ffmpeg inputs, in that order.
fn push_audio_inputs(args: &mut Vec<OsString>, job: &RenderJob) {
    if let Some(voice) = &job.voiceover {
        args.push("-i".into());
        args.push(file_url(voice));
    }
    if let Some(music) = &job.music {
        args.extend(["-stream_loop", "-1", "-i"].map(OsString::from));
        args.push(file_url(music));
    }
}

fn ffmpeg_args(job: &RenderJob, settings: &RenderSettings, script: &Path, video: &Path, thumb: &Path) -> Vec<OsString> {
    // `info`: the quality gate's filters report there (no progress lines: -nostats).
    let mut args: Vec<OsString> =
        ["-nostdin", "-y", "-hide_banner", "-nostats", "-loglevel", "info"].map(OsString::from).to_vec();
    for clip in &job.clips {
        args.push("-i".into());
        args.push(file_url(&clip.path));
    }
    push_audio_inputs(&mut args, job);
    args.push("-filter_complex_script".into());
    args.push(file_url(script));
    // Output 1: the video.
    args.extend(["-map", "[vout]", "-map", "[aenc]", "-c:v", "libx264", "-preset"].map(OsString::from));
    args.push(settings.x264_preset.clone().into());
    args.push("-crf".into());
    args.push(settings.crf.to_string().into());
    args.extend(
        [
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-ar",
            "48000",
            "-ac",
            "2",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
        ]
        .map(OsString::from),
    );
    args.push(file_url(video));
    // Output 2: one frame of the thumbnail branch.
    args.extend(
        ["-map", "[vthumb]", "-frames:v", "1", "-c:v", "mjpeg", "-q:v", "3", "-f", "image2", "-update", "1"]
            .map(OsString::from),
    );
    args.push(file_url(thumb));
    args
}

async fn validate(job: &RenderJob, settings: &RenderSettings) -> Result<(), RenderError> {
    let invalid = |reason: String| Err(RenderError::InvalidJob { reason });
    if job.clips.is_empty() {
        return invalid("no clips".to_owned());
    }
    if settings.width < 16 || settings.height < 16 || settings.width % 2 == 1 || settings.height % 2 == 1 {
        return invalid(format!("{}x{} is not an even size of at least 16x16", settings.width, settings.height));
    }
    if settings.fps == 0 || settings.fps > 120 {
        return invalid(format!("{} fps is outside 1..=120", settings.fps));
    }
    if settings.x264_preset.is_empty() || !settings.x264_preset.bytes().all(|b| b.is_ascii_lowercase()) {
        return invalid(format!("{:?} is not an x264 preset", settings.x264_preset));
    }
    if settings.crf > 51 {
        return invalid(format!("crf {} is outside 0..=51", settings.crf));
    }
    for (i, clip) in job.clips.iter().enumerate() {
        if !(clip.duration_seconds.is_finite() && clip.duration_seconds > 0.0) {
            return invalid(format!("clip {i} has duration {}", clip.duration_seconds));
        }
        if !is_file(&clip.path).await {
            return invalid(format!("clip {i} ({}) does not exist", clip.path.display()));
        }
    }
    for (what, path) in [("voiceover", &job.voiceover), ("music", &job.music)] {
        if let Some(path) = path {
            if !is_file(path).await {
                return invalid(format!("{what} {} does not exist", path.display()));
            }
        }
    }
    if job.output == job.thumbnail {
        return invalid("output and thumbnail are the same path".to_owned());
    }
    Ok(())
}

/// The rendered MP4 must have an h264 picture of the requested size, AAC audio and the expected
/// length.
fn check<'a>(
    probe: &'a Probe,
    settings: &RenderSettings,
    expected: f64,
) -> Result<(&'a ProbeStream, &'a ProbeStream), RenderError> {
    let mismatch = |reason: String| RenderError::ProbeMismatch { reason };
    let video = probe.stream("video").ok_or_else(|| mismatch("no video stream".to_owned()))?;
    let audio = probe.stream("audio").ok_or_else(|| mismatch("no audio stream".to_owned()))?;
    if video.codec_name != "h264" {
        return Err(mismatch(format!("video codec is {}, not h264", video.codec_name)));
    }
    if audio.codec_name != "aac" {
        return Err(mismatch(format!("audio codec is {}, not aac", audio.codec_name)));
    }
    if (video.width, video.height) != (Some(settings.width), Some(settings.height)) {
        return Err(mismatch(format!(
            "picture is {:?}x{:?}, not {}x{}",
            video.width, video.height, settings.width, settings.height
        )));
    }
    if (probe.duration_seconds - expected).abs() > DURATION_TOLERANCE_SECONDS {
        return Err(mismatch(format!("duration is {:.3} s, expected {expected:.3} s", probe.duration_seconds)));
    }
    Ok((video, audio))
}

async fn is_file(path: &Path) -> bool {
    tokio::fs::metadata(path).await.is_ok_and(|m| m.is_file())
}

async fn file_len(path: &Path) -> Result<u64, RenderError> {
    tokio::fs::metadata(path)
        .await
        .map(|m| m.len())
        .map_err(|e| RenderError::io(format!("reading {}", path.display()), e))
}

async fn sha256_file(path: &Path) -> Result<String, RenderError> {
    let owned = path.to_owned();
    let hashed = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut file = std::fs::File::open(&owned)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hex::encode(hasher.finalize()))
    })
    .await
    .map_err(|e| RenderError::io("hashing the video", std::io::Error::other(e)))?;
    hashed.map_err(|e| RenderError::io(format!("hashing {}", path.display()), e))
}

/// The `null` provider set's stand-in for [`render`], for benchmarks of orchestration overhead
/// only: tiny placeholder files at the output paths (they are not videos), no ffmpeg.
pub async fn placeholder(job: &RenderJob, settings: &RenderSettings) -> Result<RenderOutput, RenderError> {
    let duration_seconds = expected_duration(&job.clips, settings);
    let body = format!("shortline null provider: placeholder of a {duration_seconds:.2} s video\n");
    let mut sizes = Vec::new();
    for dest in [&job.thumbnail, &job.output] {
        let partial =
            PartialFile::beside(dest).map_err(|e| RenderError::io(format!("preparing {}", dest.display()), e))?;
        partial.write(body.as_bytes()).await.map_err(|e| RenderError::io(format!("writing {}", dest.display()), e))?;
        partial.commit().await.map_err(|e| RenderError::io(format!("writing {}", dest.display()), e))?;
        sizes.push(body.len() as u64);
    }
    Ok(RenderOutput {
        duration_seconds,
        size_bytes: sizes[1],
        sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes())),
        width: settings.width,
        height: settings.height,
        video_codec: "null".into(),
        audio_codec: "null".into(),
        thumbnail_size_bytes: sizes[0],
        quality: None,
    })
}
