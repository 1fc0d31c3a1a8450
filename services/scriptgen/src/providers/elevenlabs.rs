//! ElevenLabs text-to-speech with timestamps:
//! `POST /v1/text-to-speech/{voice_id}/with-timestamps?output_format=pcm_24000` with the
//! `xi-api-key` header and `{text, model_id, voice_settings}`; the answer is a JSON object whose
//! `audio_base64` is raw 16-bit mono PCM at 24 kHz (wrapped into a WAV file here) and whose
//! `alignment` times every character of the text, from which the captions' words are timed
//! ([`captions::words_from_alignment`]; an answer without a usable alignment is still a voice,
//! captioned by the fallback). The characters billed are reported in the `x-character-count`
//! header (counted from the text when it is absent).
//!
//! ElevenLabs answers an exhausted quota with 401 and `detail.status = "quota_exceeded"`: that
//! is read as "payment required", so the chain moves on instead of stopping at a "bad key".

use base64::Engine as _;
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;
use shortline_domain::captions;
use shortline_providers::{ErrorClass, ModelApi, ModelClient, ProviderClient, ProviderError, Usage};

use super::voice::{SpeechApi, SpokenAudio};
use crate::media::wav::wav_from_pcm16;

/// `AudioWithTimestampsResponseModel`.
#[derive(Deserialize)]
struct WithTimestamps {
    audio_base64: String,
    #[serde(default)]
    alignment: Option<Alignment>,
}

/// `CharacterAlignmentResponseModel`.
#[derive(Deserialize)]
struct Alignment {
    characters: Vec<String>,
    character_start_times_seconds: Vec<f64>,
    character_end_times_seconds: Vec<f64>,
}

/// The PCM format requested (`pcm_24000`: 24 kHz, 16-bit, mono).
const OUTPUT_FORMAT: &str = "pcm_24000";
const SAMPLE_RATE: u32 = 24_000;

pub struct ElevenLabsSpeech {
    api: ModelClient,
    voice_id: String,
}

impl ElevenLabsSpeech {
    /// `client` must use [`Auth::Header("xi-api-key")`](shortline_providers::Auth::Header).
    pub fn new(client: ProviderClient, model: impl Into<String>, voice_id: impl Into<String>) -> Self {
        Self { api: ModelClient::new(client.with_classifier(classify), model), voice_id: voice_id.into() }
    }
}

/// `detail.status` of an ElevenLabs error answer.
fn classify(status: u16, body: &[u8]) -> Option<ErrorClass> {
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let detail = doc.pointer("/detail/status").and_then(serde_json::Value::as_str)?;
    match (status, detail) {
        (_, "quota_exceeded" | "payment_required" | "insufficient_credits") => Some(ErrorClass::PaymentRequired),
        (_, "too_many_concurrent_requests" | "system_busy" | "rate_limit_exceeded") => Some(ErrorClass::RateLimited),
        _ => None,
    }
}

impl ModelApi for ElevenLabsSpeech {
    fn model_client(&self) -> &ModelClient {
        &self.api
    }
}

impl SpeechApi for ElevenLabsSpeech {
    fn synthesize<'a>(&'a self, text: &'a str, speed: f64) -> BoxFuture<'a, Result<SpokenAudio, ProviderError>> {
        Box::pin(async move {
            let body = json!({
                "text": text,
                "model_id": self.api.model,
                // ElevenLabs accepts speeds of 0.7..=1.2.
                "voice_settings": { "speed": speed.clamp(0.7, 1.2) },
            });
            let url = self.api.client.url(&format!("/v1/text-to-speech/{}/with-timestamps", self.voice_id));
            let reply = self
                .api
                .client
                .send("text to speech", |http| http.post(&url).query(&[("output_format", OUTPUT_FORMAT)]).json(&body))
                .await?;
            let answer: WithTimestamps = self.api.client.json(&reply)?;
            let pcm = base64::engine::general_purpose::STANDARD
                .decode(answer.audio_base64.trim())
                .map_err(|e| self.api.client.malformed_answer(format!("audio_base64 is not base64: {e}")))?;
            if pcm.len() < 2 {
                return Err(self.api.client.malformed_answer("no audio in the answer"));
            }
            let wav = wav_from_pcm16(&pcm, SAMPLE_RATE, 1);
            let word_timings = answer.alignment.and_then(|a| {
                captions::words_from_alignment(
                    text,
                    &a.characters,
                    &a.character_start_times_seconds,
                    &a.character_end_times_seconds,
                )
            });
            let characters = reply
                .header("x-character-count")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or_else(|| text.chars().count() as u64);
            Ok(SpokenAudio {
                wav,
                usage: Usage::characters(characters),
                request_id: reply.header("request-id").map(str::to_owned),
                http_attempts: reply.attempts,
                word_timings,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_answers_are_payment_problems() {
        let body = br#"{"detail":{"status":"quota_exceeded","message":"This request exceeds your quota."}}"#;
        assert_eq!(classify(401, body), Some(ErrorClass::PaymentRequired));
        assert_eq!(classify(401, br#"{"detail":{"status":"invalid_api_key","message":"Invalid API key"}}"#), None);
        assert_eq!(classify(429, br#"{"detail":{"status":"system_busy"}}"#), Some(ErrorClass::RateLimited));
        assert_eq!(classify(500, b"oops"), None);
    }
}
