//! Fish Audio text-to-speech: `POST /v1/tts` with `Authorization: Bearer KEY`, the model in
//! the `model` header and `{text, reference_id, format, sample_rate, prosody, ...}` as JSON; the
//! answer is the audio itself. Errors are JSON `{status, message}` (401, 402, 429, ...).
//! Fish Audio bills UTF-8 bytes of text, so the usage's `characters` are those bytes.
//!
//! Raw PCM is asked for (`format: "pcm"`, 16-bit mono at `sample_rate`; the `format` values of
//! the API reference and the official `fish-audio-sdk` `TTSRequest`) and wrapped in a WAV
//! header here, as for ElevenLabs: a WAV from a streaming server (the open-source fish-speech
//! writes its header with a data length of 0) never reaches the parser.

use futures::future::BoxFuture;
use serde_json::json;
use shortline_providers::reqwest::header::HeaderValue;
use shortline_providers::{ModelApi, ModelClient, ProviderClient, ProviderError, Usage};

use super::voice::{wav_from_pcm_answer, SpeechApi, SpokenAudio};

/// The PCM sample rate asked for (16-bit, mono).
const SAMPLE_RATE: u32 = 44_100;

pub struct FishAudioSpeech {
    api: ModelClient,
    reference_id: Option<String>,
}

impl FishAudioSpeech {
    /// `client` must use [`Auth::Bearer`](shortline_providers::Auth::Bearer).
    pub fn new(client: ProviderClient, model: impl Into<String>, reference_id: Option<String>) -> Self {
        Self { api: ModelClient::new(client, model), reference_id }
    }
}

impl ModelApi for FishAudioSpeech {
    fn model_client(&self) -> &ModelClient {
        &self.api
    }
}

impl SpeechApi for FishAudioSpeech {
    fn synthesize<'a>(&'a self, text: &'a str, speed: f64) -> BoxFuture<'a, Result<SpokenAudio, ProviderError>> {
        Box::pin(async move {
            let mut body = json!({
                "text": text,
                "format": "pcm",
                "sample_rate": SAMPLE_RATE,
                "normalize": true,
                "latency": "normal",
                // Fish Audio accepts speeds of 0.5..=2.
                "prosody": { "speed": speed.clamp(0.5, 2.0), "volume": 0 },
            });
            if let Some(reference_id) = &self.reference_id {
                body["reference_id"] = json!(reference_id);
            }
            let model = HeaderValue::from_str(&self.api.model).map_err(|_| {
                self.api.client.malformed_answer(format!("model {:?} cannot be sent as a header", self.api.model))
            })?;
            let url = self.api.client.url("/v1/tts");
            let reply = self
                .api
                .client
                .send("text to speech", |http| http.post(&url).header("model", model.clone()).json(&body))
                .await?;
            Ok(SpokenAudio {
                wav: wav_from_pcm_answer(&self.api.client, &reply, SAMPLE_RATE)?,
                usage: Usage::characters(text.len() as u64),
                request_id: None,
                http_attempts: reply.attempts,
                word_timings: None,
            })
        })
    }
}
