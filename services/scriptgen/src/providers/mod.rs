//! Real (HTTP) media providers, built on [`shortline_providers`]:
//!
//! | kind  | provider (config name) | API |
//! |-------|------------------------|-----|
//! | voice | `openai`               | OpenAI `POST /v1/audio/speech` |
//! | voice | `elevenlabs`           | ElevenLabs `POST /v1/text-to-speech/{voice_id}` |
//! | voice | `fish_audio`           | Fish Audio `POST /v1/tts` |
//! | clip  | `fal_kling`, `fal_minimax` | fal.ai queue: submit, poll `status_url`, fetch `response_url`, download |
//! | clip  | `pexels`               | Pexels `GET /videos/search`, download the best MP4 |
//! | avatar | `heygen`              | HeyGen `POST /v2/video/generate`, poll `GET /v1/video_status.get`, download; one video becomes the voiceover and the clips ([`AvatarMedia`]) |
//! | plan  | [`LlmPlanner`]         | the LLM of `providers.planner` (Anthropic or OpenAI-compatible) |
//!
//! The providers of a kind are tried in the configured order ([`VoiceChain`], [`ClipChain`]);
//! what each attempt did is kept in the [`UsageLedger`] and lands in the asset's `usage`.

pub mod avatar;
mod chain;
pub mod clips;
pub mod elevenlabs;
pub mod fal;
pub mod fish_audio;
pub mod heygen;
mod ledger;
pub mod openai_tts;
pub mod pexels;
pub mod planner;
pub mod voice;

use std::sync::Arc;

use shortline_config::{ClipProviderName, MediaConfig, ProvidersConfig, VoiceProviderName};
pub use shortline_providers::SetupError;
use shortline_providers::{avatar_endpoint, clip_endpoint, voice_endpoint, JobTimings, ProviderAttempt, ProviderError};

pub use avatar::{AvatarMedia, AvatarSet, AvatarTargets};
pub use clips::{ClipChain, FetchedVideo, VideoApi};
pub use elevenlabs::ElevenLabsSpeech;
pub use fal::{FalFamily, FalVideo};
pub use fish_audio::FishAudioSpeech;
pub use heygen::{AvatarRequest, AvatarVideo, HeygenAvatar};
pub use ledger::UsageLedger;
pub use openai_tts::OpenAiSpeech;
pub use pexels::PexelsVideo;
pub use planner::{plan_schema, LlmPlan, LlmPlanner, PLAN_SCHEMA_NAME};
pub use voice::{SpeechApi, SpokenAudio, VoiceChain};

use crate::media::MediaError;

/// The configured voice providers as a [`VoiceChain`]; `None` when `providers.voice` is empty.
pub fn voice_chain(config: &ProvidersConfig, ledger: &UsageLedger) -> Result<Option<VoiceChain>, SetupError> {
    if config.voice.is_empty() {
        return Ok(None);
    }
    let mut apis: Vec<Arc<dyn SpeechApi>> = Vec::new();
    for &name in &config.voice {
        let client = voice_endpoint(config, name).client(config)?;
        let api: Arc<dyn SpeechApi> = match name {
            VoiceProviderName::Openai => {
                Arc::new(OpenAiSpeech::new(client, &config.openai.tts_model, &config.openai.tts_voice))
            }
            VoiceProviderName::Elevenlabs => {
                Arc::new(ElevenLabsSpeech::new(client, &config.elevenlabs.model, &config.elevenlabs.voice_id))
            }
            VoiceProviderName::FishAudio => {
                let c = &config.fish_audio;
                Arc::new(FishAudioSpeech::new(client, &c.model, c.reference_id.clone()))
            }
        };
        apis.push(api);
    }
    Ok(Some(VoiceChain::new(apis, config.effective_prices(), ledger.clone())))
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
    for &name in &config.clips {
        let client = clip_endpoint(config, name).client(config)?;
        let api: Arc<dyn VideoApi> = match name {
            ClipProviderName::FalKling | ClipProviderName::FalMinimax => {
                let c = &config.fal;
                let (model, family) = match name {
                    ClipProviderName::FalKling => (&c.kling_model, FalFamily::Kling),
                    _ => (&c.minimax_model, FalFamily::Minimax),
                };
                Arc::new(FalVideo::new(client, model, family, JobTimings::from_config(http)))
            }
            ClipProviderName::Pexels => Arc::new(PexelsVideo::new(client, http.download_timeout())),
        };
        apis.push(api);
    }
    Ok(Some(ClipChain::new(apis, config.effective_prices(), ledger.clone(), media.x264_preset.clone(), media.crf)))
}

/// The configured avatar provider (conforming its clips with `media`'s x264 settings); `None`
/// when `providers.avatar` is unset.
pub fn avatar_media(config: &ProvidersConfig, media: &MediaConfig) -> Result<Option<AvatarMedia>, SetupError> {
    let Some(name) = config.avatar else { return Ok(None) };
    let client = avatar_endpoint(config, name).client(config)?;
    let api = HeygenAvatar::new(client, &config.heygen.model, JobTimings::from_config(&config.http))
        .with_max_short_side(config.heygen.max_short_side);
    let price = config.price(&config.heygen.model).copied();
    Ok(Some(AvatarMedia::new(api, price, media.x264_preset.clone(), media.crf)))
}

/// A chain that ended in `error`, as a [`MediaError`]: the public part names the provider and
/// the kind of failure; the attempts (redacted) go into the detail that is logged.
pub(crate) fn chain_failure(
    kind: &str,
    label: &str,
    error: &ProviderError,
    attempts: &[ProviderAttempt],
) -> MediaError {
    if let ProviderError::OverBudget(refused) = error {
        return MediaError::OverBudget(refused.clone());
    }
    let status = match error.status() {
        Some(status) => format!("{} (HTTP {status})", error.kind().replace('_', " ")),
        None => error.kind().replace('_', " "),
    };
    let tried: Vec<String> =
        attempts.iter().map(|a| format!("{}: {}", a.provider, a.error.as_deref().unwrap_or("ok"))).collect();
    tracing::warn!(kind, providers = label, %error, "every configured provider failed");
    // What may pass on its own is UNAVAILABLE (the stage is retried), with the whole reason.
    if matches!(
        error,
        ProviderError::Transport { .. }
            | ProviderError::Timeout { .. }
            | ProviderError::RateLimited { .. }
            | ProviderError::Server { .. }
    ) {
        return MediaError::ProviderUnavailable {
            kind: kind.to_owned(),
            reason: error.to_string(),
            tried: tried.join("; "),
        };
    }
    MediaError::Failed { tool: format!("{kind} provider {}", error.provider()), status, stderr_tail: tried.join("; ") }
}
