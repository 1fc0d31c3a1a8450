//! What the provider tests share: the test key and clients, tiny media, mock answers (from
//! `shortline-testing`), and a WAV made by scriptgen's own PCM wrapper.

#![allow(dead_code)]

use serde_json::{json, Value};
use shortline_domain::ProductionPlan;
use shortline_generation::wav::wav_from_pcm16;
use shortline_testing::http_mock::MockResponse;
use shortline_testing::media::pcm;

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

/// An Anthropic Messages answer whose `production_plan` tool call carries `input`, with usage
/// 1500 input and 900 output tokens.
pub fn anthropic_answer(input: Value) -> MockResponse {
    shortline_testing::providers::anthropic_tool_answer("production_plan", input, 1500, 900)
}

/// An Anthropic answer carrying `plan` (see [`anthropic_answer`]).
pub fn plan_answer(plan: &ProductionPlan) -> MockResponse {
    anthropic_answer(serde_json::to_value(plan).expect("plan json"))
}

/// `plan` with its first overlay ending past the video: a plan that breaks the rules.
pub fn overrunning(plan: &ProductionPlan) -> ProductionPlan {
    let mut overrun = plan.clone();
    overrun.text_overlays[0].end_seconds = overrun.duration_seconds + 5.0;
    overrun
}
