//! Running ffmpeg/ffprobe (no shell, killed on cancellation or drop), probing media, the default
//! music bed and the temp-file-then-rename discipline.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::Stdio;

use serde::Deserialize;
use shortline_media::partial::PartialFile;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use super::graph::{music_bed_source, MUSIC_LOOP_SECONDS};
use super::RenderError;

pub(crate) const FFMPEG: &str = "ffmpeg";
pub(crate) const FFPROBE: &str = "ffprobe";

/// How much of a failed run's stderr an error keeps.
const STDERR_TAIL_BYTES: usize = 4_000;

/// Runs `program args…` to completion and returns its stdout. stdin is closed, stdout and stderr
/// are captured; the child is killed if `cancel` fires (→ `Cancelled`) or if this future is
/// dropped (`kill_on_drop`).
pub(crate) async fn run(
    program: &'static str,
    args: &[OsString],
    cancel: Option<&CancellationToken>,
) -> Result<Vec<u8>, RenderError> {
    run_capturing(program, args, cancel).await.map(|(stdout, _)| stdout)
}

/// [`run`] for programs that report on stderr (ffmpeg's analysis filters): returns stderr.
pub(crate) async fn run_with_stderr(
    program: &'static str,
    args: &[OsString],
    cancel: Option<&CancellationToken>,
) -> Result<Vec<u8>, RenderError> {
    run_capturing(program, args, cancel).await.map(|(_, stderr)| stderr)
}

async fn run_capturing(
    program: &'static str,
    args: &[OsString],
    cancel: Option<&CancellationToken>,
) -> Result<(Vec<u8>, Vec<u8>), RenderError> {
    shortline_media::process::traced(OsStr::new(program), run_untraced(program, args, cancel)).await
}

async fn run_untraced(
    program: &'static str,
    args: &[OsString],
    cancel: Option<&CancellationToken>,
) -> Result<(Vec<u8>, Vec<u8>), RenderError> {
    if cancel.is_some_and(CancellationToken::is_cancelled) {
        return Err(RenderError::Cancelled);
    }
    tracing::debug!(program, args = ?args, "spawning");
    let mut child = shortline_media::process::command(program)
        .and_then(|mut command| {
            command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()
        })
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => RenderError::FfmpegMissing { program },
            _ => RenderError::io(format!("spawning {program}"), e),
        })?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let finished = async {
        let (status, out, err) = tokio::join!(child.wait(), read_all(stdout), read_all(stderr));
        (status, out, err)
    };
    let outcome = tokio::select! {
        done = finished => Some(done),
        () = cancelled(cancel) => None,
    };
    let Some((status, stdout, stderr)) = outcome else {
        // Kill and reap before the caller removes the files the child was writing.
        let _ = child.kill().await;
        return Err(RenderError::Cancelled);
    };
    let status = status.map_err(|e| RenderError::io(format!("waiting for {program}"), e))?;
    if status.success() {
        Ok((stdout, stderr))
    } else {
        Err(RenderError::Failed { program, status: status.to_string(), stderr: tail(&stderr) })
    }
}

async fn cancelled(cancel: Option<&CancellationToken>) {
    match cancel {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}

async fn read_all<R: tokio::io::AsyncRead + Unpin>(pipe: Option<R>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_end(&mut buf).await;
    }
    buf
}

fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    if text.len() <= STDERR_TAIL_BYTES {
        return text.to_owned();
    }
    let mut start = text.len() - STDERR_TAIL_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

/// A path as an ffmpeg input/output URL: `file:` so that names with a colon (or starting with `-`)
/// are never read as a protocol or an option.
pub(crate) fn file_url(path: &Path) -> OsString {
    let mut url = OsString::from("file:");
    url.push(path.as_os_str());
    url
}

// ---------------------------------------------------------------------------------------------
// Probe
// ---------------------------------------------------------------------------------------------

/// What ffprobe says about a media file.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// `format.duration`.
    pub duration_seconds: f64,
    pub streams: Vec<ProbeStream>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProbeStream {
    /// `video`, `audio`, …
    pub codec_type: String,
    /// `h264`, `aac`, …
    pub codec_name: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_seconds: Option<f64>,
}

impl Probe {
    /// The first stream of a type (`"video"`, `"audio"`).
    pub fn stream(&self, codec_type: &str) -> Option<&ProbeStream> {
        self.streams.iter().find(|s| s.codec_type == codec_type)
    }
}

#[derive(Deserialize)]
struct RawProbe {
    #[serde(default)]
    streams: Vec<RawStream>,
    format: Option<RawFormat>,
}

#[derive(Deserialize)]
struct RawStream {
    #[serde(default)]
    codec_type: String,
    #[serde(default)]
    codec_name: String,
    width: Option<u32>,
    height: Option<u32>,
    duration: Option<String>,
}

#[derive(Deserialize)]
struct RawFormat {
    duration: Option<String>,
}

/// `ffprobe -print_format json -show_streams -show_format`: stream types, codecs, picture size and
/// the container's duration.
pub async fn probe(path: &Path) -> Result<Probe, RenderError> {
    probe_with(path, None).await
}

pub(crate) async fn probe_with(path: &Path, cancel: Option<&CancellationToken>) -> Result<Probe, RenderError> {
    let args: Vec<OsString> = ["-v", "error", "-print_format", "json", "-show_streams", "-show_format"]
        .iter()
        .map(OsString::from)
        .chain([file_url(path)])
        .collect();
    let stdout = run(FFPROBE, &args, cancel).await?;
    parse_probe(&stdout)
        .map_err(|reason| RenderError::ProbeMismatch { reason: format!("{}: {reason}", path.display()) })
}

pub(crate) fn parse_probe(json: &[u8]) -> Result<Probe, String> {
    let raw: RawProbe = serde_json::from_slice(json).map_err(|e| format!("unreadable ffprobe output: {e}"))?;
    let duration_seconds = raw
        .format
        .and_then(|f| f.duration)
        .and_then(|d| d.parse::<f64>().ok())
        .ok_or_else(|| "ffprobe reported no duration".to_owned())?;
    let streams = raw
        .streams
        .into_iter()
        .map(|s| ProbeStream {
            codec_type: s.codec_type,
            codec_name: s.codec_name,
            width: s.width,
            height: s.height,
            duration_seconds: s.duration.and_then(|d| d.parse().ok()),
        })
        .collect();
    Ok(Probe { duration_seconds, streams })
}

// ---------------------------------------------------------------------------------------------
// Temp outputs
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Music bed
// ---------------------------------------------------------------------------------------------

/// The offline default background music: a soft I–V–vi–IV pad loop (see
/// [`music_bed_source`]), generated once with ffmpeg's `aevalsrc` if `path` does not exist yet.
/// `seconds` is rounded up to whole 8 s loops (only one is synthesised; `aloop` repeats it), so the
/// file also loops seamlessly under `-stream_loop`.
/// `.wav` is written as 16-bit PCM, `.m4a` as AAC. Written to a temp file and renamed, so
/// concurrent callers and crashes never leave a half-written bed at `path`.
pub async fn ensure_music_bed(path: &Path, seconds: f64) -> Result<(), RenderError> {
    if tokio::fs::metadata(path).await.is_ok_and(|m| m.is_file() && m.len() > 0) {
        return Ok(());
    }
    let codec: &[&str] = match path.extension().and_then(OsStr::to_str).map(str::to_ascii_lowercase).as_deref() {
        Some("wav") => &["-c:a", "pcm_s16le", "-f", "wav"],
        Some("m4a") => &["-c:a", "aac", "-b:a", "160k", "-f", "mp4"],
        _ => {
            return Err(RenderError::InvalidJob {
                reason: format!("music bed {} must end in .wav or .m4a", path.display()),
            })
        }
    };
    let loops = if seconds.is_finite() && seconds > 0.0 {
        (seconds / MUSIC_LOOP_SECONDS).ceil().min(1_000.0) as u32
    } else {
        1
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir).await.map_err(|e| RenderError::io(format!("creating {}", dir.display()), e))?;
    }
    let temp = PartialFile::beside(path).map_err(|e| RenderError::io(format!("preparing {}", path.display()), e))?;
    let mut args: Vec<OsString> = ["-nostdin", "-y", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"]
        .iter()
        .map(OsString::from)
        .collect();
    args.push(music_bed_source(loops.max(1)).into());
    args.extend(["-ac", "2", "-ar", "48000"].iter().map(OsString::from));
    args.extend(codec.iter().map(OsString::from));
    args.push(file_url(temp.path()));
    run(FFMPEG, &args, None).await?;
    temp.commit().await.map_err(|e| RenderError::io(format!("writing {}", path.display()), e))?;
    Ok(())
}
