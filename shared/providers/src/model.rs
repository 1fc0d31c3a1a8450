//! [`ModelClient`]: a provider's client with the model it asks for, and [`ModelApi`], what every
//! paid API built on one answers to: its provider name and model, which its output records
//! and the price table is looked up by.

use super::ProviderClient;

/// One provider's client and the model it is asked for.
#[derive(Debug, Clone)]
pub struct ModelClient {
    pub client: ProviderClient,
    pub model: String,
}

impl ModelClient {
    pub fn new(client: ProviderClient, model: impl Into<String>) -> Self {
        Self { client, model: model.into() }
    }
}

/// A paid API called through a [`ModelClient`] (a voice, a video, an LLM API).
pub trait ModelApi {
    fn model_client(&self) -> &ModelClient;

    /// The configured provider name (`openai`, `fal_kling`, `anthropic`, ...).
    fn name(&self) -> &str {
        self.model_client().client.name()
    }

    /// The model recorded with what the API made and looked up in the price table.
    fn model(&self) -> &str {
        &self.model_client().model
    }
}
