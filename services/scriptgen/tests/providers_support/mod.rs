//! What the provider tests share: a test key, fast client settings, tiny media.

#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{json, Value};
use shortline_scriptgen::providers::voice::wav_from_pcm16;
use shortline_shared::http::mock::MockResponse;
use shortline_shared::http::{ApiKey, Auth, ClientSettings, ProviderClient, RetryPolicy};

/// The key every test provider gets; no log line, error, answer or row may contain it.
pub const KEY: &str = "sk-test-SECRET-4f9a8e7d6c5b";

/// Retries as configured in the tests: 2 retries, millisecond backoff, Retry-After up to 2 s.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        backoff_initial: Duration::from_millis(2),
        backoff_max: Duration::from_millis(10),
        retry_after_max: Duration::from_secs(2),
    }
}

pub fn client(name: &str, base_url: &str, auth: Auth) -> ProviderClient {
    client_with_timeout(name, base_url, auth, Duration::from_secs(5))
}

pub fn client_with_timeout(name: &str, base_url: &str, auth: Auth, timeout: Duration) -> ProviderClient {
    let settings = ClientSettings { base_url: base_url.to_owned(), timeout, retry: fast_retry() };
    ProviderClient::new(name, settings, auth, ApiKey::new(KEY)).unwrap()
}

/// 16-bit mono PCM at 24 kHz: a quiet 440 Hz tone of `seconds`.
pub fn pcm(seconds: f64) -> Vec<u8> {
    let samples = (24_000.0 * seconds) as usize;
    (0..samples)
        .flat_map(|i| {
            let v = ((i as f64 * 440.0 * std::f64::consts::TAU / 24_000.0).sin() * 3000.0) as i16;
            v.to_le_bytes()
        })
        .collect()
}

/// ElevenLabs' documented with-timestamps answer (`AudioWithTimestampsResponseModel`):
/// `pcm(seconds)` as base64 and every character of `text` timed, spread evenly over the audio.
pub fn elevenlabs_answer(text: &str, seconds: f64) -> Value {
    use base64::Engine as _;
    let characters: Vec<String> = text.chars().map(String::from).collect();
    let step = seconds / characters.len().max(1) as f64;
    let starts: Vec<f64> = (0..characters.len()).map(|i| i as f64 * step).collect();
    let ends: Vec<f64> = starts.iter().map(|s| s + step).collect();
    let alignment = json!({
        "characters": characters,
        "character_start_times_seconds": starts,
        "character_end_times_seconds": ends,
    });
    json!({
        "audio_base64": base64::engine::general_purpose::STANDARD.encode(pcm(seconds)),
        "alignment": alignment,
        "normalized_alignment": alignment,
    })
}

/// A WAV file of `seconds`.
pub fn wav(seconds: f64) -> Vec<u8> {
    wav_from_pcm16(&pcm(seconds), 24_000, 1)
}

/// A real little MP4 (H.264, `width`x`height`, 10 fps) of `seconds`, made with ffmpeg.
pub fn mp4(seconds: f64, width: u32, height: u32) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size={width}x{height}:rate=10:duration={seconds}"))
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg made no test video");
    std::fs::read(path).unwrap()
}

/// A real small MP4 (360x640, 10 fps) with a picture and a tone for a voice, of `seconds`:
/// what an avatar provider delivers.
pub fn talking_mp4(seconds: f64) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size=360x640:rate=10:duration={seconds}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=220:sample_rate=24000:duration={seconds}"))
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg made no test video");
    std::fs::read(path).unwrap()
}

/// `text` must not contain the key.
#[track_caller]
pub fn assert_no_key(what: &str, text: &str) {
    assert!(!text.contains(KEY), "the key appears in {what}: {text}");
}

/// An Anthropic Messages answer whose `production_plan` tool call carries `input`, with usage
/// 1500 input and 900 output tokens.
pub fn anthropic_answer(input: Value) -> MockResponse {
    MockResponse::json(
        200,
        json!({
            "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "tool_use", "id": "toolu_01", "name": "production_plan", "input": input}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 1500, "output_tokens": 900}
        }),
    )
}
