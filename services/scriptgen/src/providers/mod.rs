//! Real (HTTP) media providers, built on [`shortline_shared::http`]:
//!
//! | kind  | provider (config name) | API |
//! |-------|------------------------|-----|
//! | voice | `openai`               | OpenAI `POST /v1/audio/speech` |
//! | voice | `elevenlabs`           | ElevenLabs `POST /v1/text-to-speech/{voice_id}` |
//! | voice | `fish_audio`           | Fish Audio `POST /v1/tts` |
//! | clip  | `fal_kling`, `fal_minimax` | fal.ai queue: submit, poll `status_url`, fetch `response_url`, download |
//! | clip  | `pexels`               | Pexels `GET /videos/search`, download the best MP4 |
//! | plan  | [`LlmPlanner`]         | any [`StructuredLlm`](shortline_shared::http::llm::StructuredLlm) (not wired into the service yet) |
//!
//! The providers of a kind are tried in the configured order ([`VoiceChain`], [`ClipChain`]);
//! what each attempt did is kept in the [`UsageLedger`] and lands in the asset's `usage`.

pub mod clips;
pub mod elevenlabs;
pub mod fal;
pub mod fish_audio;
mod ledger;
pub mod openai_tts;
pub mod pexels;
pub mod planner;
pub mod voice;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use shortline_shared::config::{ClipProviderName, MediaConfig, ProvidersConfig, VoiceProviderName};
use shortline_shared::http::{ApiKey, Auth, ClientSettings, ProviderAttempt, ProviderClient, ProviderError};

pub use clips::{ClipChain, FetchedVideo, VideoApi};
pub use elevenlabs::ElevenLabsSpeech;
pub use fal::{FalFamily, FalVideo};
pub use fish_audio::FishAudioSpeech;
pub use ledger::UsageLedger;
pub use openai_tts::OpenAiSpeech;
pub use pexels::PexelsVideo;
pub use planner::{plan_schema, LlmPlan, LlmPlanner, PLAN_SCHEMA_NAME};
pub use voice::{SpeechApi, SpokenAudio, VoiceChain};

use crate::media::MediaError;

/// A real provider that cannot be set up (no key, an unreadable key file, a bad setting).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("provider {provider}: {reason}")]
pub struct SetupError {
    pub provider: String,
    pub reason: String,
}

/// The environment variables a provider's key is read from, in order (after its
/// `api_key_file`): shortline's own, then the provider's usual one.
pub fn key_variables(provider: &str) -> [&'static str; 2] {
    match provider {
        "openai" => ["SHORTLINE_OPENAI_API_KEY", "OPENAI_API_KEY"],
        "elevenlabs" => ["SHORTLINE_ELEVENLABS_API_KEY", "ELEVENLABS_API_KEY"],
        "fish_audio" => ["SHORTLINE_FISH_AUDIO_API_KEY", "FISH_API_KEY"],
        "fal" => ["SHORTLINE_FAL_API_KEY", "FAL_KEY"],
        _ => ["SHORTLINE_PEXELS_API_KEY", "PEXELS_API_KEY"],
    }
}

fn client(
    name: &str,
    key_owner: &str,
    base_url: &str,
    timeout_ms: u64,
    key_file: Option<&Path>,
    auth: Auth,
    config: &ProvidersConfig,
) -> Result<ProviderClient, SetupError> {
    let setup = |reason: String| SetupError { provider: name.to_owned(), reason };
    let vars = key_variables(key_owner);
    let key = ApiKey::lookup(key_file, &vars).map_err(|e| setup(e.to_string()))?.ok_or_else(|| {
        setup(format!("no API key: set {} or {}, or providers.{key_owner}.api_key_file", vars[0], vars[1]))
    })?;
    let settings = ClientSettings {
        base_url: base_url.to_owned(),
        timeout: Duration::from_millis(timeout_ms),
        retry: config.http.retry_policy(),
    };
    ProviderClient::new(name, settings, auth, Some(key)).map_err(|e| setup(e.to_string()))
}

/// The configured voice providers as a [`VoiceChain`]; `None` when `providers.voice` is empty.
pub fn voice_chain(config: &ProvidersConfig, ledger: &UsageLedger) -> Result<Option<VoiceChain>, SetupError> {
    if config.voice.is_empty() {
        return Ok(None);
    }
    let mut apis: Vec<Arc<dyn SpeechApi>> = Vec::new();
    for name in &config.voice {
        let api: Arc<dyn SpeechApi> = match name {
            VoiceProviderName::Openai => {
                let c = &config.openai;
                let client = client(
                    "openai",
                    "openai",
                    &c.base_url,
                    c.timeout_ms,
                    c.api_key_file.as_deref(),
                    Auth::Bearer,
                    config,
                )?;
                Arc::new(OpenAiSpeech::new(client, &c.tts_model, &c.tts_voice))
            }
            VoiceProviderName::Elevenlabs => {
                let c = &config.elevenlabs;
                let auth = Auth::Header("xi-api-key");
                let client = client(
                    "elevenlabs",
                    "elevenlabs",
                    &c.base_url,
                    c.timeout_ms,
                    c.api_key_file.as_deref(),
                    auth,
                    config,
                )?;
                Arc::new(ElevenLabsSpeech::new(client, &c.model, &c.voice_id))
            }
            VoiceProviderName::FishAudio => {
                let c = &config.fish_audio;
                let client = client(
                    "fish_audio",
                    "fish_audio",
                    &c.base_url,
                    c.timeout_ms,
                    c.api_key_file.as_deref(),
                    Auth::Bearer,
                    config,
                )?;
                Arc::new(FishAudioSpeech::new(client, &c.model, c.reference_id.clone()))
            }
        };
        apis.push(api);
    }
    Ok(Some(VoiceChain::new(apis, config.prices.clone(), ledger.clone())))
}

/// The configured clip providers as a [`ClipChain`] (conforming with `media`'s x264 settings);
/// `None` when `providers.clips` is empty.
pub fn clip_chain(
    config: &ProvidersConfig,
    media: &MediaConfig,
    ledger: &UsageLedger,
) -> Result<Option<ClipChain>, SetupError> {
    if config.clips.is_empty() {
        return Ok(None);
    }
    let http = &config.http;
    let mut apis: Vec<Arc<dyn VideoApi>> = Vec::new();
    for name in &config.clips {
        let api: Arc<dyn VideoApi> = match name {
            ClipProviderName::FalKling | ClipProviderName::FalMinimax => {
                let c = &config.fal;
                let auth = Auth::AuthorizationPrefix("Key ");
                let client =
                    client(name.as_str(), "fal", &c.base_url, c.timeout_ms, c.api_key_file.as_deref(), auth, config)?;
                let (model, family) = match name {
                    ClipProviderName::FalKling => (&c.kling_model, FalFamily::Kling),
                    _ => (&c.minimax_model, FalFamily::Minimax),
                };
                Arc::new(FalVideo::new(
                    client,
                    model,
                    family,
                    http.poll_interval(),
                    http.generation_timeout(),
                    http.download_timeout(),
                ))
            }
            ClipProviderName::Pexels => {
                let c = &config.pexels;
                let auth = Auth::AuthorizationPrefix("");
                let client =
                    client("pexels", "pexels", &c.base_url, c.timeout_ms, c.api_key_file.as_deref(), auth, config)?;
                Arc::new(PexelsVideo::new(client, http.download_timeout()))
            }
        };
        apis.push(api);
    }
    Ok(Some(ClipChain::new(apis, config.prices.clone(), ledger.clone(), media.x264_preset.clone(), media.crf)))
}

/// A chain that ended in `error`, as a [`MediaError`]: the public part names the provider and
/// the kind of failure; the attempts (redacted) go into the detail that is logged.
pub(crate) fn chain_failure(
    kind: &str,
    label: &str,
    error: &ProviderError,
    attempts: &[ProviderAttempt],
) -> MediaError {
    let status = match error.status() {
        Some(status) => format!("{} (HTTP {status})", error.kind().replace('_', " ")),
        None => error.kind().replace('_', " "),
    };
    let tried: Vec<String> =
        attempts.iter().map(|a| format!("{}: {}", a.provider, a.error.as_deref().unwrap_or("ok"))).collect();
    tracing::warn!(kind, providers = label, %error, "every configured provider failed");
    MediaError::Failed { tool: format!("{kind} provider {}", error.provider()), status, stderr_tail: tried.join("; ") }
}
