//! Tiny real media for tests: PCM speech stand-ins and MP4s made with ffmpeg.

use std::process::Command;

/// 16-bit mono PCM at 24 kHz: a quiet 440 Hz tone of `seconds`.
pub fn pcm(seconds: f64) -> Vec<u8> {
    (0..(24_000.0 * seconds) as usize)
        .flat_map(|i| (((i as f64 * 440.0 * std::f64::consts::TAU / 24_000.0).sin() * 3000.0) as i16).to_le_bytes())
        .collect()
}

/// A real little MP4 (H.264, `width`x`height`, 10 fps) of `seconds`.
pub fn mp4(seconds: f64, width: u32, height: u32) -> Vec<u8> {
    ffmpeg_mp4(&["-f", "lavfi", "-i", &format!("testsrc=size={width}x{height}:rate=10:duration={seconds}")], &[])
}

/// A real small MP4 (360x640, 10 fps) with a picture and a tone for a voice, of `seconds`:
/// what an avatar provider delivers.
pub fn talking_mp4(seconds: f64) -> Vec<u8> {
    ffmpeg_mp4(
        &[
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc=size=360x640:rate=10:duration={seconds}"),
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency=220:sample_rate=24000:duration={seconds}"),
        ],
        &["-c:a", "aac", "-shortest"],
    )
}

fn ffmpeg_mp4(inputs: &[&str], output_options: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v.mp4");
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(inputs)
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
        .args(output_options)
        .arg(&path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg made no test video");
    std::fs::read(path).expect("the test video")
}
