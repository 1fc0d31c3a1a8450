//! What the provider tests share: the test key and clients, tiny media, mock answers (from
//! `shortline-testing`), and a WAV made by scriptgen's own PCM wrapper.

#![allow(dead_code)]

use serde_json::Value;
use shortline_scriptgen::providers::voice::wav_from_pcm16;
use shortline_testing::http_mock::MockResponse;
use shortline_testing::media::pcm;

/// A WAV file of `seconds`.
pub fn wav(seconds: f64) -> Vec<u8> {
    wav_from_pcm16(&pcm(seconds), 24_000, 1)
}

/// An Anthropic Messages answer whose `production_plan` tool call carries `input`, with usage
/// 1500 input and 900 output tokens.
pub fn anthropic_answer(input: Value) -> MockResponse {
    shortline_testing::providers::anthropic_tool_answer("production_plan", input, 1500, 900)
}
