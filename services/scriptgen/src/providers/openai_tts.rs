//! OpenAI text-to-speech: `POST /v1/audio/speech` with `Authorization: Bearer KEY` and
//! `{model, input, voice, response_format, speed}`; the answer is the audio itself (WAV here).
//! The API reports no usage for speech; it bills the characters of `input`, which are counted.
//!
//! OpenAI answers an exhausted balance with 429 and `error.code = "insufficient_quota"`: that
//! is a payment problem (waiting does not help), read as such so the chain moves on at once.

use futures::future::BoxFuture;
use serde_json::json;
use shortline_providers::llm::openai_error_class;
use shortline_providers::{ModelApi, ModelClient, ProviderClient, ProviderError, Usage};

use super::voice::{SpeechApi, SpokenAudio};

pub struct OpenAiSpeech {
    api: ModelClient,
    voice: String,
}

impl OpenAiSpeech {
    /// `client` must use [`Auth::Bearer`](shortline_providers::Auth::Bearer).
    pub fn new(client: ProviderClient, model: impl Into<String>, voice: impl Into<String>) -> Self {
        Self { api: ModelClient::new(client.with_classifier(openai_error_class), model), voice: voice.into() }
    }
}

impl ModelApi for OpenAiSpeech {
    fn model_client(&self) -> &ModelClient {
        &self.api
    }
}

impl SpeechApi for OpenAiSpeech {
    fn synthesize<'a>(&'a self, text: &'a str, speed: f64) -> BoxFuture<'a, Result<SpokenAudio, ProviderError>> {
        Box::pin(async move {
            let body = json!({
                "model": self.api.model,
                "input": text,
                "voice": self.voice,
                "response_format": "wav",
                // The API accepts 0.25..=4.0.
                "speed": speed.clamp(0.25, 4.0),
            });
            let url = self.api.client.url("/v1/audio/speech");
            let reply = self.api.client.send("create speech", |http| http.post(&url).json(&body)).await?;
            Ok(SpokenAudio {
                wav: reply.body.to_vec(),
                usage: Usage::characters(text.chars().count() as u64),
                request_id: reply.header("x-request-id").map(str::to_owned),
                http_attempts: reply.attempts,
                word_timings: None,
            })
        })
    }
}
