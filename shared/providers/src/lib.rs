//! The provider HTTP core: what every real provider (trend sources, LLMs, clips, voices) is
//! built on.
//!
//! - [`ProviderClient`]: one provider's client — configurable base URL and timeout, its key
//!   sent the way the provider wants it ([`Auth`]), retries with jittered exponential backoff on
//!   429 and 5xx that honour `Retry-After` (seconds or an HTTP date) up to a cap
//!   ([`RetryPolicy`]).
//! - [`ProviderError`]: a typed error — unauthorized, payment required, rate limited, server
//!   error after the retries, timeout, malformed answer, transport — that never holds a key.
//! - [`run_chain`]: failover across the ordered providers of one kind, moving on on 402, 429 or
//!   a 5xx that outlived its retries, recording each attempt and why it moved on
//!   ([`ProviderAttempt`]).
//! - [`ApiKey`]: a key from a secret file or the environment, printed as `***`.
//! - [`cost_micros`]: micro-USD from the provider's reported [`Usage`] and the configured
//!   [`Price`](shortline_config::Price) of the model.
//! - [`Endpoint`], [`structured_llm`]: the configured providers' clients, with their keys from
//!   a secret file or the environment ([`key_variables`]).
//! - [`llm`]: structured answers from the Anthropic Messages API (tool use) and
//!   OpenAI-compatible chat completions (JSON schema), with their token usage.
//! - [`ModelClient`], [`ModelApi`]: a client with the model it asks for, which names and prices
//!   what a paid API makes; [`JobTimings`]: the poll loop of long-running generations.
//! - [`budget`]: a job's spending limit, checked before each paid call.
//! - [`schema`]: the JSON schemas given to LLMs, built from the bounds their validators check.

pub mod budget;
mod client;
mod cost;
mod error;
mod failover;
mod job;
pub mod llm;
mod model;
mod retry;
pub mod schema;
mod secret;
mod setup;

pub use client::{Auth, Classifier, ClientSettings, ErrorClass, ProviderClient, Reply, MAX_BODY_BYTES};
pub use cost::{cost_micros, Usage};
pub use error::{
    clip_message, error_message, ProviderError, FAILOVER_PAYMENT_REQUIRED, FAILOVER_POSSIBLY_CHARGED,
    FAILOVER_RATE_LIMITED, FAILOVER_SERVER_ERROR, MESSAGE_CHARS,
};
pub use failover::{run_chain, ChainOutcome, Failover, ProviderAttempt};
pub use job::JobTimings;
pub use model::{ModelApi, ModelClient};
pub use retry::{parse_retry_after, RetryPolicy};
pub use secret::{ApiKey, KeyError};
pub use setup::{
    avatar_endpoint, clip_endpoint, configured_endpoints, key_variables, llm_endpoint, source_endpoint, structured_llm,
    voice_endpoint, Endpoint, SetupError,
};

/// The HTTP client library, for building requests in [`ProviderClient::send`] closures.
pub use reqwest;
