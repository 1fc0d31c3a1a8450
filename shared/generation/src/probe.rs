//! What ffprobe says about a rendered file.

use std::ffi::OsString;
use std::path::Path;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::process::Tool;
use super::MediaError;

/// The container duration and the first video stream of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub duration_seconds: f64,
    pub video: Option<VideoStream>,
    pub has_audio: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoStream {
    pub codec: String,
    pub pix_fmt: String,
    pub width: u32,
    pub height: u32,
    pub frames: Option<u64>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    streams: Vec<RawStream>,
    format: Option<RawFormat>,
}

#[derive(Deserialize)]
struct RawStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    pix_fmt: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    nb_frames: Option<String>,
}

#[derive(Deserialize)]
struct RawFormat {
    duration: Option<String>,
}

/// Runs `ffprobe -show_entries format=duration:stream=... -of json` on `path`.
pub async fn probe(ffprobe: &Tool, path: &Path, cancel: &CancellationToken) -> Result<Probe, MediaError> {
    let mut args: Vec<OsString> = [
        "-v",
        "error",
        "-show_entries",
        "format=duration:stream=codec_type,codec_name,pix_fmt,width,height,nb_frames",
        "-of",
        "json",
    ]
    .map(OsString::from)
    .to_vec();
    args.push(path.as_os_str().to_owned());
    let out = ffprobe.run(&args, cancel).await?;
    let raw: Raw = serde_json::from_slice(&out)
        .map_err(|e| MediaError::invalid_output(path, format!("unreadable ffprobe answer: {e}")))?;
    let duration_seconds = raw
        .format
        .and_then(|f| f.duration)
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite())
        .ok_or_else(|| MediaError::invalid_output(path, "ffprobe reports no duration"))?;
    let video = raw.streams.iter().find(|s| s.codec_type.as_deref() == Some("video")).map(|s| VideoStream {
        codec: s.codec_name.clone().unwrap_or_default(),
        pix_fmt: s.pix_fmt.clone().unwrap_or_default(),
        width: s.width.unwrap_or(0),
        height: s.height.unwrap_or(0),
        frames: s.nb_frames.as_deref().and_then(|n| n.parse().ok()),
    });
    let has_audio = raw.streams.iter().any(|s| s.codec_type.as_deref() == Some("audio"));
    Ok(Probe { duration_seconds, video, has_audio })
}

/// The container duration ffprobe reports, asked directly: what tests check a file's measured
/// duration against.
#[cfg(test)]
pub(crate) fn ffprobe_duration(path: &Path) -> f64 {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("a duration")
}
