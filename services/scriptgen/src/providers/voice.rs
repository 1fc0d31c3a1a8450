//! Real voices: one [`SpeechApi`] per text-to-speech API, and [`VoiceChain`], the
//! [`VoiceProvider`] that tries them in order.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::json;
use sha2::{Digest, Sha256};
use shortline_config::Price;
use shortline_domain::captions::WordTiming;
use shortline_media::partial::PartialFile;
use shortline_providers::budget;
use shortline_providers::{ModelApi, ProviderClient, ProviderError, Reply, Usage};
use tokio_util::sync::CancellationToken;

use super::chain::FailoverChain;
use super::UsageLedger;
use crate::media::wav::wav_from_pcm16;
use crate::media::{parse_wav, GeneratedFile, MediaError, MediaFuture, VoiceProvider, NORMAL_WORDS_PER_MINUTE};

/// What a text-to-speech API answered: a WAV file and what it reports having used.
#[derive(Debug, Clone)]
pub struct SpokenAudio {
    /// A complete RIFF/WAVE file (APIs answering raw PCM are wrapped with [`wav_from_pcm16`]).
    pub wav: Vec<u8>,
    pub usage: Usage,
    /// The provider's id of the request, when it gives one.
    pub request_id: Option<String>,
    /// HTTP attempts the call took (retries included).
    pub http_attempts: u32,
    /// When each word is heard, from an API that reports it (ElevenLabs' alignment).
    pub word_timings: Option<Vec<WordTiming>>,
}

/// One text-to-speech API; its [`ModelApi::name`] is the configured provider name (`openai`,
/// `elevenlabs`, `fish_audio`).
pub trait SpeechApi: ModelApi + Send + Sync {
    /// What speaking `text` would bill (the characters sent, as every TTS API bills), checked
    /// against the job's budget before the call.
    fn estimate(&self, text: &str) -> Usage {
        Usage::characters(text.chars().count() as u64)
    }
    /// Speaks `text` at `speed` times the normal rate (1.0 = [`NORMAL_WORDS_PER_MINUTE`]).
    fn synthesize<'a>(&'a self, text: &'a str, speed: f64) -> BoxFuture<'a, Result<SpokenAudio, ProviderError>>;
}

/// The configured voice providers in failover order, as one [`VoiceProvider`].
pub struct VoiceChain {
    chain: FailoverChain<dyn SpeechApi>,
    ledger: UsageLedger,
}

impl VoiceChain {
    /// `apis` must not be empty.
    pub fn new(apis: Vec<Arc<dyn SpeechApi>>, prices: BTreeMap<String, Price>, ledger: UsageLedger) -> Self {
        Self { chain: FailoverChain::new(apis, prices), ledger }
    }

    async fn speak_to(
        &self,
        text: &str,
        words_per_minute: u32,
        out_path: &Path,
        cancel: &CancellationToken,
    ) -> Result<GeneratedFile, MediaError> {
        if text.trim().is_empty() {
            return Err(MediaError::InvalidRequest("no text to speak".into()));
        }
        let speed = f64::from(words_per_minute.max(1)) / f64::from(NORMAL_WORDS_PER_MINUTE);
        let made = self
            .chain
            .run("voice", cancel, |api| async move {
                budget::check_before_call(api.name(), self.chain.cost(api.as_ref(), &api.estimate(text)))?;
                let audio = api.synthesize(text, speed).await?;
                // A 2xx answer that is not playable audio is the provider's fault: say so now.
                let info = parse_wav(&audio.wav).map_err(|e| ProviderError::Malformed {
                    provider: api.name().to_owned(),
                    reason: format!("the audio is not a usable WAV file: {e}"),
                })?;
                if info.data_bytes == 0 || info.duration_seconds() <= 0.0 {
                    return Err(ProviderError::Malformed {
                        provider: api.name().to_owned(),
                        reason: "the audio has no samples".into(),
                    });
                }
                Ok((audio, info.duration_seconds()))
            })
            .await?;
        let (api, (audio, duration_seconds)) = (made.api, made.value);

        let partial = PartialFile::beside(out_path)
            .map_err(|e| MediaError::Io { context: format!("preparing {}", out_path.display()), source: e })?;
        partial
            .write(audio.wav.as_slice())
            .await
            .map_err(|e| MediaError::Io { context: format!("writing {}", partial.path().display()), source: e })?;
        if cancel.is_cancelled() {
            return Err(MediaError::Cancelled);
        }
        let path = partial.commit().await.map_err(|e| MediaError::Io {
            context: format!("moving the voice to {}", out_path.display()),
            source: e,
        })?;
        let sha256 = hex::encode(Sha256::digest(&audio.wav));
        let cost = self.chain.cost(api.as_ref(), &audio.usage);
        budget::record_paid(api.name(), cost);
        if !self.chain.is_priced(api.as_ref()) {
            tracing::warn!(provider = api.name(), model = api.model(), "no price configured: cost recorded as 0");
        }
        self.ledger.record(
            &sha256,
            json!({
                "provider": api.name(),
                "model": api.model(),
                "provider_attempts": made.attempts,
                "reported_usage": audio.usage,
                "http_attempts": audio.http_attempts,
                "request_id": audio.request_id,
            }),
        );
        tracing::info!(
            provider = api.name(),
            model = api.model(),
            duration_seconds,
            cost_micros = cost,
            "voice generated"
        );
        Ok(GeneratedFile {
            path,
            duration_seconds,
            size_bytes: audio.wav.len() as u64,
            sha256,
            provider: api.name().to_owned(),
            model: api.model().to_owned(),
            cost_micros: cost,
            word_timings: audio.word_timings,
        })
    }
}

impl VoiceProvider for VoiceChain {
    fn name(&self) -> &str {
        self.chain.label()
    }

    fn estimate_micros(&self, text: &str) -> i64 {
        self.chain.first().map_or(0, |api| self.chain.cost(api, &api.estimate(text)))
    }

    fn speak<'a>(
        &'a self,
        text: &'a str,
        words_per_minute: u32,
        out_path: &'a Path,
        cancel: &'a CancellationToken,
    ) -> MediaFuture<'a, GeneratedFile> {
        Box::pin(self.speak_to(text, words_per_minute, out_path, cancel))
    }
}

/// The body of a raw 16-bit mono PCM answer (ElevenLabs `pcm_24000`, Fish Audio `pcm`) as a
/// WAV at `sample_rate`; an empty body or a document (an error page, a JSON, a RIFF file) where
/// PCM was asked for is a malformed answer.
pub(crate) fn wav_from_pcm_answer(
    client: &ProviderClient,
    reply: &Reply,
    sample_rate: u32,
) -> Result<Vec<u8>, ProviderError> {
    if reply.body.len() < 2 {
        return Err(client.malformed_answer("no audio in the answer"));
    }
    if reply.body.starts_with(b"{") || reply.body.starts_with(b"<") || reply.body.starts_with(b"RIFF") {
        return Err(client.malformed_answer("a document instead of PCM audio"));
    }
    Ok(wav_from_pcm16(&reply.body, sample_rate, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm_is_wrapped_into_a_wav_of_the_right_length() {
        let pcm = vec![0u8; 48_000]; // one second of 24 kHz mono 16-bit
        let wav = wav_from_pcm16(&pcm, 24_000, 1);
        let info = parse_wav(&wav).expect("a WAV");
        assert_eq!((info.sample_rate, info.channels, info.bits_per_sample), (24_000, 1, 16));
        assert!((info.duration_seconds() - 1.0).abs() < 1e-9);
    }
}
