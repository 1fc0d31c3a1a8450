//! Real (HTTP) providers of the orchestrator's own stages, built on
//! [`shortline_shared::http`]: trend sources ([`ApifyTikTok`], [`YoutubeShorts`]) and the LLM
//! analyst ([`LlmAnalyst`]). Chosen by `providers.trends` and `providers.analyst`; the bundled
//! samples and the heuristic analyst stay the default.

mod analyst;
mod sources;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use shortline_shared::config::{LlmProviderName, ProvidersConfig, TrendSourceName};
use shortline_shared::http::llm::{AnthropicMessages, OpenAiCompatibleChat, StructuredLlm};
use shortline_shared::http::{ApiKey, Auth, ClientSettings, ProviderClient};

pub use analyst::{report_schema, LlmAnalyst, REPORT_SCHEMA_NAME};
pub use sources::{ApifyTikTok, YoutubeShorts};

use crate::trends::{Analyst, HeuristicAnalyst, SampleTrendSource, TrendSource};

/// A real provider that cannot be set up (no key, an unreadable key file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("provider {provider}: {reason}")]
pub struct SetupError {
    pub provider: String,
    pub reason: String,
}

/// The environment variables a provider's key is read from, in order, after its `api_key_file`.
pub fn key_variables(provider: &str) -> [&'static str; 2] {
    match provider {
        "apify" => ["SHORTLINE_APIFY_API_KEY", "APIFY_TOKEN"],
        "youtube" => ["SHORTLINE_YOUTUBE_API_KEY", "YOUTUBE_API_KEY"],
        "anthropic" => ["SHORTLINE_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"],
        _ => ["SHORTLINE_OPENAI_COMPATIBLE_API_KEY", "OPENAI_API_KEY"],
    }
}

struct Endpoint<'a> {
    name: &'a str,
    base_url: &'a str,
    timeout_ms: u64,
    key_file: Option<&'a Path>,
    auth: Auth,
    /// A local OpenAI-compatible server needs no key.
    key_optional: bool,
}

fn client(endpoint: Endpoint<'_>, config: &ProvidersConfig) -> Result<ProviderClient, SetupError> {
    let setup = |reason: String| SetupError { provider: endpoint.name.to_owned(), reason };
    let vars = key_variables(endpoint.name);
    let key = ApiKey::lookup(endpoint.key_file, &vars).map_err(|e| setup(e.to_string()))?;
    let (auth, key) = match key {
        Some(key) => (endpoint.auth, Some(key)),
        None if endpoint.key_optional => (Auth::None, None),
        None => {
            return Err(setup(format!(
                "no API key: set {} or {}, or providers.{}.api_key_file",
                vars[0], vars[1], endpoint.name
            )))
        }
    };
    let settings = ClientSettings {
        base_url: endpoint.base_url.to_owned(),
        timeout: Duration::from_millis(endpoint.timeout_ms),
        retry: config.http.retry_policy(),
    };
    ProviderClient::new(endpoint.name, settings, auth, key).map_err(|e| setup(e.to_string()))
}

/// The trend sources: `providers.trends` when set, else one bundled sample per platform.
pub fn trend_sources(config: &ProvidersConfig) -> Result<Vec<Arc<dyn TrendSource>>, SetupError> {
    if config.trends.is_empty() {
        return Ok(SampleTrendSource::all().into_iter().map(|s| Arc::new(s) as Arc<dyn TrendSource>).collect());
    }
    let mut sources: Vec<Arc<dyn TrendSource>> = Vec::new();
    for name in &config.trends {
        match name {
            TrendSourceName::ApifyTiktok => {
                let c = &config.apify;
                let endpoint = Endpoint {
                    name: "apify",
                    base_url: &c.base_url,
                    timeout_ms: c.timeout_ms,
                    key_file: c.api_key_file.as_deref(),
                    auth: Auth::Bearer,
                    key_optional: false,
                };
                sources.push(Arc::new(ApifyTikTok::new(
                    client(endpoint, config)?,
                    &c.actor_id,
                    c.hashtags.clone(),
                    config.http.poll_interval(),
                    config.http.generation_timeout(),
                )));
            }
            TrendSourceName::Youtube => {
                let c = &config.youtube;
                let endpoint = Endpoint {
                    name: "youtube",
                    base_url: &c.base_url,
                    timeout_ms: c.timeout_ms,
                    key_file: c.api_key_file.as_deref(),
                    auth: Auth::Query("key"),
                    key_optional: false,
                };
                sources.push(Arc::new(YoutubeShorts::new(
                    client(endpoint, config)?,
                    c.region_code.clone(),
                    c.published_within_hours,
                )));
            }
        }
    }
    Ok(sources)
}

/// The LLM behind `providers.analyst` (also what a provider-backed planner would use).
pub fn structured_llm(config: &ProvidersConfig, name: LlmProviderName) -> Result<Arc<dyn StructuredLlm>, SetupError> {
    Ok(match name {
        LlmProviderName::Anthropic => {
            let c = &config.anthropic;
            let endpoint = Endpoint {
                name: "anthropic",
                base_url: &c.base_url,
                timeout_ms: c.timeout_ms,
                key_file: c.api_key_file.as_deref(),
                auth: Auth::Header("x-api-key"),
                key_optional: false,
            };
            Arc::new(AnthropicMessages::new(client(endpoint, config)?, &c.model, c.max_tokens, &c.version))
        }
        LlmProviderName::OpenaiCompatible => {
            let c = &config.openai_compatible;
            let endpoint = Endpoint {
                name: "openai_compatible",
                base_url: &c.base_url,
                timeout_ms: c.timeout_ms,
                key_file: c.api_key_file.as_deref(),
                auth: Auth::Bearer,
                key_optional: true,
            };
            Arc::new(OpenAiCompatibleChat::new(client(endpoint, config)?, &c.model))
        }
    })
}

/// The analyst: the LLM of `providers.analyst` when set, else the heuristic one.
pub fn analyst(config: &ProvidersConfig) -> Result<Arc<dyn Analyst>, SetupError> {
    match config.analyst {
        None => Ok(Arc::new(HeuristicAnalyst)),
        Some(name) => {
            let llm = structured_llm(config, name)?;
            let price = config.price(llm.model()).copied();
            Ok(Arc::new(LlmAnalyst::new(llm, price)))
        }
    }
}
