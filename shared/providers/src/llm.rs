//! Structured answers from LLM APIs: a system prompt, a user message and a JSON schema in, a
//! JSON value matching it (the API's guarantee, checked again by the caller) and the token
//! usage the API reports out.
//!
//! - [`AnthropicMessages`]: `POST /v1/messages` with `x-api-key` and `anthropic-version`; the
//!   schema is a tool's `input_schema` and `tool_choice` forces that tool, so the answer is the
//!   `tool_use` block's `input`; usage is `usage.input_tokens` / `usage.output_tokens`.
//! - [`OpenAiCompatibleChat`]: `POST {base}/chat/completions` (base up to `/v1`) with
//!   `response_format: {type: "json_schema", json_schema: {name, strict: true, schema}}` (the
//!   schema cut to what strict mode supports, [`openai_strict`]); the
//!   answer is `choices[0].message.content` parsed as JSON; usage is `usage.prompt_tokens` /
//!   `usage.completion_tokens`. OpenAI, OpenRouter, vLLM and Ollama speak it.

use futures::future::BoxFuture;
use reqwest::header::HeaderValue;
use serde_json::{json, Value};

use super::schema::openai_strict;
use super::{ErrorClass, ModelApi, ModelClient, ProviderClient, ProviderError, Usage};

/// OpenAI's error codes for an account that cannot pay (`error.code`, as in its error-codes
/// guide: 429 `insufficient_quota` "You exceeded your current quota"): waiting does not help,
/// so they are read as payment problems (the chain moves on) rather than rate limits.
pub fn openai_error_class(_status: u16, body: &[u8]) -> Option<ErrorClass> {
    let doc: Value = serde_json::from_slice(body).ok()?;
    match doc.pointer("/error/code").and_then(Value::as_str)? {
        "insufficient_quota" | "billing_hard_limit_reached" => Some(ErrorClass::PaymentRequired),
        _ => None,
    }
}

/// Anthropic answers an empty credit balance with 400 `invalid_request_error` "Your credit
/// balance is too low to access the Anthropic API…": a payment problem, not a bad request.
pub fn anthropic_error_class(status: u16, body: &[u8]) -> Option<ErrorClass> {
    let doc: Value = serde_json::from_slice(body).ok()?;
    let message = doc.pointer("/error/message").and_then(Value::as_str)?.to_ascii_lowercase();
    (status == 400 && message.contains("credit balance is too low")).then_some(ErrorClass::PaymentRequired)
}

/// A structured answer.
#[derive(Debug, Clone, PartialEq)]
pub struct StructuredAnswer {
    pub value: Value,
    pub usage: Usage,
    /// HTTP attempts the call took.
    pub http_attempts: u32,
}

/// One LLM API that answers in a given JSON schema; its [`ModelApi::name`] is the configured
/// provider name (`anthropic`, `openai_compatible`).
pub trait StructuredLlm: ModelApi + Send + Sync {
    /// The most a call with these prompts may bill: the prompts' tokens (counted generously,
    /// [`CHARS_PER_TOKEN`] characters each) and the longest answer allowed. Checked against the
    /// job's budget before the call.
    fn estimate(&self, system: &str, user: &str, schema: &Value) -> Usage;
    /// Asks for an answer named `schema_name` matching `schema`.
    fn complete<'a>(
        &'a self,
        system: &'a str,
        user: &'a str,
        schema_name: &'a str,
        schema: &'a Value,
    ) -> BoxFuture<'a, Result<StructuredAnswer, ProviderError>>;
}

/// Characters per token when estimating a prompt (English runs about 4; fewer overestimates).
pub const CHARS_PER_TOKEN: u64 = 3;

/// The answer tokens assumed for an API whose requests set no limit (OpenAI-compatible chat).
pub const ASSUMED_MAX_OUTPUT_TOKENS: u64 = 4096;

fn prompt_tokens(system: &str, user: &str, schema: &Value) -> u64 {
    let chars = system.chars().count() + user.chars().count() + schema.to_string().chars().count();
    (chars as u64).div_ceil(CHARS_PER_TOKEN)
}

/// The Anthropic Messages API with tool use for structured output.
pub struct AnthropicMessages {
    api: ModelClient,
    max_tokens: u32,
    version: String,
}

impl AnthropicMessages {
    /// `client` must use [`Auth::Header("x-api-key")`](super::Auth::Header).
    pub fn new(client: ProviderClient, model: impl Into<String>, max_tokens: u32, version: impl Into<String>) -> Self {
        Self {
            api: ModelClient::new(client.with_classifier(anthropic_error_class), model),
            max_tokens,
            version: version.into(),
        }
    }
}

impl ModelApi for AnthropicMessages {
    fn model_client(&self) -> &ModelClient {
        &self.api
    }
}

impl StructuredLlm for AnthropicMessages {
    fn estimate(&self, system: &str, user: &str, schema: &Value) -> Usage {
        Usage::tokens(prompt_tokens(system, user, schema), u64::from(self.max_tokens))
    }

    fn complete<'a>(
        &'a self,
        system: &'a str,
        user: &'a str,
        schema_name: &'a str,
        schema: &'a Value,
    ) -> BoxFuture<'a, Result<StructuredAnswer, ProviderError>> {
        Box::pin(async move {
            let body = json!({
                "model": self.api.model,
                "max_tokens": self.max_tokens,
                "system": system,
                "messages": [{ "role": "user", "content": user }],
                "tools": [{
                    "name": schema_name,
                    "description": format!("Record the {schema_name} in the required structure."),
                    "input_schema": schema,
                }],
                "tool_choice": { "type": "tool", "name": schema_name },
            });
            let version = HeaderValue::from_str(&self.version).map_err(|_| {
                self.api.client.malformed_answer("the configured anthropic-version is not a header value")
            })?;
            let url = self.api.client.url("/v1/messages");
            let reply = self
                .api
                .client
                .send("create message", |http| http.post(&url).header("anthropic-version", version.clone()).json(&body))
                .await?;
            let answer: Value = self.api.client.json(&reply)?;
            let usage = Usage::tokens(
                answer.pointer("/usage/input_tokens").and_then(Value::as_u64).unwrap_or(0),
                answer.pointer("/usage/output_tokens").and_then(Value::as_u64).unwrap_or(0),
            );
            if answer.get("stop_reason").and_then(Value::as_str) == Some("max_tokens") {
                return Err(self.api.client.malformed_answer("the answer was cut off at max_tokens"));
            }
            let input = answer
                .get("content")
                .and_then(Value::as_array)
                .and_then(|blocks| {
                    blocks.iter().find(|b| {
                        b.get("type").and_then(Value::as_str) == Some("tool_use")
                            && b.get("name").and_then(Value::as_str) == Some(schema_name)
                    })
                })
                .and_then(|block| block.get("input"))
                .cloned()
                .ok_or_else(|| self.api.client.malformed_answer(format!("no tool_use block for `{schema_name}`")))?;
            Ok(StructuredAnswer { value: input, usage, http_attempts: reply.attempts })
        })
    }
}

/// OpenAI-compatible chat completions with a JSON-schema response format.
pub struct OpenAiCompatibleChat {
    api: ModelClient,
}

impl OpenAiCompatibleChat {
    /// `client`'s base URL goes up to the API version (`.../v1`); [`Auth::Bearer`](super::Auth)
    /// or, for a local server, [`Auth::None`](super::Auth).
    pub fn new(client: ProviderClient, model: impl Into<String>) -> Self {
        Self { api: ModelClient::new(client.with_classifier(openai_error_class), model) }
    }
}

impl ModelApi for OpenAiCompatibleChat {
    fn model_client(&self) -> &ModelClient {
        &self.api
    }
}

impl StructuredLlm for OpenAiCompatibleChat {
    fn estimate(&self, system: &str, user: &str, schema: &Value) -> Usage {
        Usage::tokens(prompt_tokens(system, user, schema), ASSUMED_MAX_OUTPUT_TOKENS)
    }

    fn complete<'a>(
        &'a self,
        system: &'a str,
        user: &'a str,
        schema_name: &'a str,
        schema: &'a Value,
    ) -> BoxFuture<'a, Result<StructuredAnswer, ProviderError>> {
        Box::pin(async move {
            let body = json!({
                "model": self.api.model,
                "messages": [
                    { "role": "system", "content": system },
                    { "role": "user", "content": user },
                ],
                "response_format": {
                    "type": "json_schema",
                    "json_schema": { "name": schema_name, "strict": true, "schema": openai_strict(schema) },
                },
            });
            let url = self.api.client.url("/chat/completions");
            let reply = self.api.client.send("chat completion", |http| http.post(&url).json(&body)).await?;
            let answer: Value = self.api.client.json(&reply)?;
            let usage = Usage::tokens(
                answer.pointer("/usage/prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
                answer.pointer("/usage/completion_tokens").and_then(Value::as_u64).unwrap_or(0),
            );
            let choice = answer.pointer("/choices/0").ok_or_else(|| self.api.client.malformed_answer("no choices"))?;
            if let Some(refusal) = choice.pointer("/message/refusal").and_then(Value::as_str) {
                return Err(ProviderError::JobFailed {
                    provider: self.api.client.name().to_owned(),
                    message: self.api.client.redact(&format!("the model refused: {refusal}")),
                });
            }
            if choice.get("finish_reason").and_then(Value::as_str) == Some("length") {
                return Err(self.api.client.malformed_answer("the answer was cut off at the token limit"));
            }
            let content = choice
                .pointer("/message/content")
                .and_then(Value::as_str)
                .ok_or_else(|| self.api.client.malformed_answer("no message content"))?;
            let value = serde_json::from_str(content)
                .map_err(|e| self.api.client.malformed_answer(format!("the content is not JSON: {e}")))?;
            Ok(StructuredAnswer { value, usage, http_attempts: reply.attempts })
        })
    }
}
