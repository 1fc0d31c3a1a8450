//! Building the configured real providers' clients: where each one is ([`Endpoint`]), where its
//! key comes from ([`key_variables`]), and the LLM behind `providers.analyst` /
//! `providers.planner` ([`structured_llm`]). The services and `shortline providers` share it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use shortline_config::{
    AvatarProviderName, ClipProviderName, LlmProviderName, ProvidersConfig, TrendSourceName, VoiceProviderName,
};

use super::llm::{AnthropicMessages, OpenAiCompatibleChat, StructuredLlm};
use super::{ApiKey, Auth, ClientSettings, KeyError, ProviderClient, RetryPolicy};

/// A real provider that cannot be set up (no key, an unreadable key file, a bad setting).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("provider {provider}: {reason}")]
pub struct SetupError {
    pub provider: String,
    pub reason: String,
}

/// The environment variables a provider's key is read from, in order, after its
/// `api_key_file`: shortline's own, then the provider's usual one. `owner` is the config
/// section (`openai`, `fal`, ...).
pub fn key_variables(owner: &str) -> [&'static str; 2] {
    match owner {
        "openai" => ["SHORTLINE_OPENAI_API_KEY", "OPENAI_API_KEY"],
        "elevenlabs" => ["SHORTLINE_ELEVENLABS_API_KEY", "ELEVENLABS_API_KEY"],
        "fish_audio" => ["SHORTLINE_FISH_AUDIO_API_KEY", "FISH_API_KEY"],
        "fal" => ["SHORTLINE_FAL_API_KEY", "FAL_KEY"],
        "pexels" => ["SHORTLINE_PEXELS_API_KEY", "PEXELS_API_KEY"],
        "apify" => ["SHORTLINE_APIFY_API_KEY", "APIFY_TOKEN"],
        "youtube" => ["SHORTLINE_YOUTUBE_API_KEY", "YOUTUBE_API_KEY"],
        "anthropic" => ["SHORTLINE_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"],
        "heygen" => ["SHORTLINE_HEYGEN_API_KEY", "HEYGEN_API_KEY"],
        _ => ["SHORTLINE_OPENAI_COMPATIBLE_API_KEY", "OPENAI_API_KEY"],
    }
}

/// One real provider's section of the configuration, as a client needs it.
#[derive(Debug, Clone)]
pub struct Endpoint<'a> {
    /// The name the client reports in errors and records (`fal_kling`, `openai`, ...).
    pub name: &'a str,
    /// The config section holding its key settings (`fal` for both fal.ai models).
    pub key_owner: &'a str,
    pub base_url: &'a str,
    pub timeout_ms: u64,
    pub key_file: Option<&'a Path>,
    pub auth: Auth,
    /// A local OpenAI-compatible server needs no key.
    pub key_optional: bool,
}

impl Endpoint<'_> {
    /// The key from the section's `api_key_file` or the environment; `None` when unset.
    pub fn key(&self) -> Result<Option<ApiKey>, KeyError> {
        ApiKey::lookup(self.key_file, &key_variables(self.key_owner))
    }

    /// The provider's client; fails when a needed key is not set.
    pub fn client(&self, config: &ProvidersConfig) -> Result<ProviderClient, SetupError> {
        let setup = |reason: String| SetupError { provider: self.name.to_owned(), reason };
        let vars = key_variables(self.key_owner);
        let (auth, key) = match self.key().map_err(|e| setup(e.to_string()))? {
            Some(key) => (self.auth.clone(), Some(key)),
            None if self.key_optional => (Auth::None, None),
            None => {
                return Err(setup(format!(
                    "no API key: set {} or {}, or providers.{}.api_key_file",
                    vars[0], vars[1], self.key_owner
                )))
            }
        };
        let settings = ClientSettings {
            base_url: self.base_url.to_owned(),
            timeout: Duration::from_millis(self.timeout_ms),
            retry: RetryPolicy::from(&config.http),
        };
        ProviderClient::new(self.name, settings, auth, key).map_err(|e| setup(e.to_string()))
    }
}

/// Where the voice provider `name` is and how it takes its key.
pub fn voice_endpoint(config: &ProvidersConfig, name: VoiceProviderName) -> Endpoint<'_> {
    let (base_url, timeout_ms, key_file, auth) = match name {
        VoiceProviderName::Openai => {
            let c = &config.openai;
            (&c.base_url, c.timeout_ms, c.api_key_file.as_deref(), Auth::Bearer)
        }
        VoiceProviderName::Elevenlabs => {
            let c = &config.elevenlabs;
            (&c.base_url, c.timeout_ms, c.api_key_file.as_deref(), Auth::Header("xi-api-key"))
        }
        VoiceProviderName::FishAudio => {
            let c = &config.fish_audio;
            (&c.base_url, c.timeout_ms, c.api_key_file.as_deref(), Auth::Bearer)
        }
    };
    Endpoint {
        name: name.as_str(),
        key_owner: name.as_str(),
        base_url,
        timeout_ms,
        key_file,
        auth,
        key_optional: false,
    }
}

/// Where the clip provider `name` is and how it takes its key (both fal.ai models share the
/// `fal` section).
pub fn clip_endpoint(config: &ProvidersConfig, name: ClipProviderName) -> Endpoint<'_> {
    match name {
        ClipProviderName::FalKling | ClipProviderName::FalMinimax => {
            let c = &config.fal;
            Endpoint {
                name: name.as_str(),
                key_owner: "fal",
                base_url: &c.base_url,
                timeout_ms: c.timeout_ms,
                key_file: c.api_key_file.as_deref(),
                auth: Auth::AuthorizationPrefix("Key "),
                key_optional: false,
            }
        }
        ClipProviderName::Pexels => {
            let c = &config.pexels;
            Endpoint {
                name: "pexels",
                key_owner: "pexels",
                base_url: &c.base_url,
                timeout_ms: c.timeout_ms,
                key_file: c.api_key_file.as_deref(),
                // Pexels takes the bare key in `Authorization`.
                auth: Auth::AuthorizationPrefix(""),
                key_optional: false,
            }
        }
    }
}

/// Where the trend source `name` is and how it takes its key.
pub fn source_endpoint(config: &ProvidersConfig, name: TrendSourceName) -> Endpoint<'_> {
    match name {
        TrendSourceName::ApifyTiktok => {
            let c = &config.apify;
            Endpoint {
                name: "apify",
                key_owner: "apify",
                base_url: &c.base_url,
                timeout_ms: c.timeout_ms,
                key_file: c.api_key_file.as_deref(),
                auth: Auth::Bearer,
                key_optional: false,
            }
        }
        TrendSourceName::Youtube => {
            let c = &config.youtube;
            Endpoint {
                name: "youtube",
                key_owner: "youtube",
                base_url: &c.base_url,
                timeout_ms: c.timeout_ms,
                key_file: c.api_key_file.as_deref(),
                auth: Auth::Query("key"),
                key_optional: false,
            }
        }
    }
}

/// Where the LLM `name` is and how it takes its key.
pub fn llm_endpoint(config: &ProvidersConfig, name: LlmProviderName) -> Endpoint<'_> {
    match name {
        LlmProviderName::Anthropic => {
            let c = &config.anthropic;
            Endpoint {
                name: "anthropic",
                key_owner: "anthropic",
                base_url: &c.base_url,
                timeout_ms: c.timeout_ms,
                key_file: c.api_key_file.as_deref(),
                auth: Auth::Header("x-api-key"),
                key_optional: false,
            }
        }
        LlmProviderName::OpenaiCompatible => {
            let c = &config.openai_compatible;
            Endpoint {
                name: "openai_compatible",
                key_owner: "openai_compatible",
                base_url: &c.base_url,
                timeout_ms: c.timeout_ms,
                key_file: c.api_key_file.as_deref(),
                auth: Auth::Bearer,
                key_optional: true,
            }
        }
    }
}

/// Where the avatar provider `name` is and how it takes its key.
pub fn avatar_endpoint(config: &ProvidersConfig, name: AvatarProviderName) -> Endpoint<'_> {
    match name {
        AvatarProviderName::Heygen => {
            let c = &config.heygen;
            Endpoint {
                name: "heygen",
                key_owner: "heygen",
                base_url: &c.base_url,
                timeout_ms: c.timeout_ms,
                key_file: c.api_key_file.as_deref(),
                auth: Auth::Header("x-api-key"),
                key_optional: false,
            }
        }
    }
}

/// Every real provider the config lists, with its kind (`sources`, `analyst`, `planner`,
/// `clips`, `voice`, `avatar`), in the order the kinds run.
pub fn configured_endpoints(config: &ProvidersConfig) -> Vec<(&'static str, Endpoint<'_>)> {
    let mut endpoints = Vec::new();
    endpoints.extend(config.trends.iter().map(|&name| ("sources", source_endpoint(config, name))));
    endpoints.extend(config.analyst.map(|name| ("analyst", llm_endpoint(config, name))));
    endpoints.extend(config.planner.map(|name| ("planner", llm_endpoint(config, name))));
    endpoints.extend(config.clips.iter().map(|&name| ("clips", clip_endpoint(config, name))));
    endpoints.extend(config.voice.iter().map(|&name| ("voice", voice_endpoint(config, name))));
    endpoints.extend(config.avatar.map(|name| ("avatar", avatar_endpoint(config, name))));
    endpoints
}

/// The LLM `name` as configured (what `providers.analyst` and `providers.planner` name).
pub fn structured_llm(config: &ProvidersConfig, name: LlmProviderName) -> Result<Arc<dyn StructuredLlm>, SetupError> {
    let client = llm_endpoint(config, name).client(config)?;
    Ok(match name {
        LlmProviderName::Anthropic => {
            let c = &config.anthropic;
            Arc::new(AnthropicMessages::new(client, &c.model, c.max_tokens, &c.version))
        }
        LlmProviderName::OpenaiCompatible => {
            Arc::new(OpenAiCompatibleChat::new(client, &config.openai_compatible.model))
        }
    })
}
