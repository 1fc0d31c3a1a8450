//! [`ProviderClient`]: one provider's HTTP client — base URL, timeout, authentication, retries.

use std::time::{Duration, Instant};
use tracing::Instrument;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use serde::de::DeserializeOwned;

use super::error::{clip_message, error_message, ProviderError};
use super::retry::{parse_retry_after, RetryPolicy};
use super::secret::ApiKey;

/// How a provider expects its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer KEY` (OpenAI, Fish Audio).
    Bearer,
    /// `Authorization: {prefix}KEY`, e.g. fal.ai's `Key ` or Pexels' bare key (empty prefix).
    AuthorizationPrefix(&'static str),
    /// A header of its own, e.g. ElevenLabs' `xi-api-key`, Anthropic's `x-api-key`.
    Header(&'static str),
    /// A query parameter, e.g. Apify's `token`, YouTube's `key`. Such URLs are never logged and
    /// transport errors are reported without their URL.
    Query(&'static str),
    /// No key.
    None,
}

/// Where and how patiently to reach a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// e.g. `https://api.openai.com`; paths are appended to it.
    pub base_url: String,
    /// The whole exchange of one attempt: connecting, sending, and reading the full answer.
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

/// Decides a provider-specific error class for a non-2xx answer (e.g. ElevenLabs answers an
/// exhausted quota with 401 `quota_exceeded`, which is a payment problem, not a bad key).
pub type Classifier = fn(status: u16, body: &[u8]) -> Option<ErrorClass>;

/// The class of a non-2xx answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    Unauthorized,
    PaymentRequired,
    RateLimited,
    Server,
    /// The provider does not serve what was asked for (an unknown model endpoint): another
    /// provider of the kind may.
    Unavailable,
    Rejected,
}

impl ErrorClass {
    /// The default reading of an HTTP status.
    pub fn of_status(status: u16) -> ErrorClass {
        match status {
            401 | 403 => ErrorClass::Unauthorized,
            402 => ErrorClass::PaymentRequired,
            429 => ErrorClass::RateLimited,
            500..=599 => ErrorClass::Server,
            _ => ErrorClass::Rejected,
        }
    }
}

/// A successful (2xx) answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// HTTP attempts it took (1 without retries).
    pub attempts: u32,
}

impl Reply {
    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One provider's client. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct ProviderClient {
    name: String,
    settings: ClientSettings,
    auth: Auth,
    key: Option<ApiKey>,
    http: reqwest::Client,
    classifier: Option<Classifier>,
}

impl std::fmt::Debug for ProviderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderClient")
            .field("name", &self.name)
            .field("base_url", &self.settings.base_url)
            .field("auth", &self.auth)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The most bytes one answer may have (a generated video is a few MB; this only stops a runaway).
pub const MAX_BODY_BYTES: u64 = 512 * 1024 * 1024;

impl ProviderClient {
    /// A client for provider `name`. `key` is required unless `auth` is [`Auth::None`].
    pub fn new(
        name: impl Into<String>,
        settings: ClientSettings,
        auth: Auth,
        key: Option<ApiKey>,
    ) -> Result<Self, ProviderError> {
        let name = name.into();
        if auth != Auth::None && key.is_none() {
            return Err(ProviderError::MissingKey { provider: name, hint: "set its key (see the README)".into() });
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("shortline/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            // Redirects could carry a key-bearing header to another host; none of the APIs
            // redirects its API calls, and downloads go through `download`, which follows them
            // without a key.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ProviderError::Transport { provider: name.clone(), message: clip_message(&e.to_string()) })?;
        let mut settings = settings;
        settings.base_url = settings.base_url.trim_end_matches('/').to_owned();
        Ok(Self { name, settings, auth, key, http, classifier: None })
    }

    /// A provider-specific reading of error answers (see [`Classifier`]).
    pub fn with_classifier(mut self, classifier: Classifier) -> Self {
        self.classifier = Some(classifier);
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// `base_url` + `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.settings.base_url, path)
    }

    /// Whether `url` is on this provider's base URL (scheme, host and port): only such URLs
    /// get the key. Follow-up URLs a provider hands out (fal's `status_url`) are checked with
    /// this before the key is sent to them.
    pub fn is_own_url(&self, url: &str) -> bool {
        fn origin(url: &str) -> Option<(String, String, Option<u16>)> {
            let url = reqwest::Url::parse(url).ok()?;
            Some((url.scheme().to_owned(), url.host_str()?.to_ascii_lowercase(), url.port_or_known_default()))
        }
        matches!((origin(url), origin(&self.settings.base_url)), (Some(a), Some(b)) if a == b)
    }

    /// `text` without the key (see [`ApiKey::redact`]).
    pub fn redact(&self, text: &str) -> String {
        match &self.key {
            Some(key) => key.redact(text),
            None => text.to_owned(),
        }
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, ProviderError> {
        let Some(key) = &self.key else { return Ok(request) };
        let (name, value) = match self.auth {
            Auth::Bearer => (AUTHORIZATION, format!("Bearer {}", key.expose())),
            Auth::AuthorizationPrefix(prefix) => (AUTHORIZATION, format!("{prefix}{}", key.expose())),
            Auth::Header(name) => (HeaderName::from_static(name), key.expose().to_owned()),
            Auth::Query(param) => return Ok(request.query(&[(param, key.expose())])),
            Auth::None => return Ok(request),
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| ProviderError::MissingKey {
            provider: self.name.clone(),
            hint: "the configured key has characters a header cannot carry".into(),
        })?;
        // Marked sensitive: hyper and reqwest leave it out of their debug output.
        value.set_sensitive(true);
        Ok(request.header(name, value))
    }

    /// Sends the request `build` makes (called once per attempt, against this client's
    /// connection pool) with the key and the timeout, retrying 429 and 5xx answers and
    /// connection failures with jittered exponential backoff, honouring `Retry-After`.
    ///
    /// `what` names the call in logs (`create speech`, `poll status`); URLs are not logged.
    pub async fn send(
        &self,
        what: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder + Sync,
    ) -> Result<Reply, ProviderError> {
        self.send_inner(what, true, Resend::Retry, &build).await
    }

    /// Like [`ProviderClient::send`], for a request that starts billed work (a fal.ai queue
    /// submit, a HeyGen render, an Apify actor run): it is sent at most once. Only what never
    /// reached the provider (a refused connection) or what it refused unprocessed (429) is sent
    /// again; an answer that may mean the work was accepted — a 5xx, a timeout, a connection
    /// broken after sending — is [`ProviderError::PossiblyCharged`], never resent.
    pub async fn submit_once(
        &self,
        what: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder + Sync,
    ) -> Result<Reply, ProviderError> {
        self.send_inner(what, true, Resend::OnlyUnprocessed, &build).await
    }

    /// GETs `url` (without the key unless it is on the provider's own base URL), following up
    /// to 5 redirects, and returns the bytes.
    pub async fn download(&self, what: &str, url: &str, timeout: Duration) -> Result<Reply, ProviderError> {
        let mut url = url.to_owned();
        for _ in 0..=5 {
            let own = self.is_own_url(&url);
            let target = url.clone();
            let build = move |http: &reqwest::Client| http.get(&target).timeout(timeout);
            let reply = self.send_inner(what, own, Resend::Retry, &build).await;
            match reply {
                Ok(reply) if (300..400).contains(&reply.status) => {
                    let next = reply.header("location").ok_or_else(|| self.malformed("a redirect without Location"))?;
                    let base = reqwest::Url::parse(&url).map_err(|e| self.malformed(&format!("bad URL: {e}")))?;
                    url = base.join(next).map_err(|e| self.malformed(&format!("bad redirect: {e}")))?.to_string();
                }
                other => return other,
            }
        }
        Err(self.malformed("too many redirects"))
    }

    fn possibly_charged(&self, what: &str, cause: &str) -> ProviderError {
        ProviderError::PossiblyCharged {
            provider: self.name.clone(),
            message: clip_message(&self.redact(&format!("{what}: {cause}"))),
            estimate_micros: 0,
        }
    }

    fn malformed(&self, reason: &str) -> ProviderError {
        ProviderError::Malformed { provider: self.name.clone(), reason: clip_message(&self.redact(reason)) }
    }

    /// A [`ProviderError::Malformed`] naming this provider, with `reason` redacted and cut.
    pub fn malformed_answer(&self, reason: impl AsRef<str>) -> ProviderError {
        self.malformed(reason.as_ref())
    }

    /// The body of `reply` as the JSON type `T`; anything else is [`ProviderError::Malformed`].
    pub fn json<T: DeserializeOwned>(&self, reply: &Reply) -> Result<T, ProviderError> {
        serde_json::from_slice(&reply.body).map_err(|e| self.malformed(&format!("not the documented JSON: {e}")))
    }

    /// [`ProviderClient::send_retrying`], counted into the provider-calls metric.
    async fn send_inner(
        &self,
        what: &str,
        with_key: bool,
        resend: Resend,
        build: &(dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Sync),
    ) -> Result<Reply, ProviderError> {
        // One span per call, its retries included; each HTTP request carries its traceparent.
        let span = tracing::info_span!(
            "provider_call",
            provider = %self.name,
            call = what,
            job_id = shortline_telemetry::current_job_id(),
            otel.kind = "client",
            attempts = tracing::field::Empty,
            http.status_code = tracing::field::Empty,
            error = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let reply = self.send_retrying(what, with_key, resend, build).instrument(span.clone()).await;
        match &reply {
            Ok(reply) => {
                span.record("attempts", reply.attempts);
                span.record("http.status_code", reply.status);
            }
            Err(error) => {
                span.record("error", tracing::field::display(error));
                span.record("otel.status_code", "error");
            }
        }
        shortline_telemetry::metrics::global().provider_call(&self.name, reply.is_ok());
        reply
    }

    async fn send_retrying(
        &self,
        what: &str,
        with_key: bool,
        resend: Resend,
        build: &(dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Sync),
    ) -> Result<Reply, ProviderError> {
        let retry = self.settings.retry;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let request = build(&self.http).timeout(self.settings.timeout);
            let request = if with_key { self.authorize(request)? } else { request };
            let started = Instant::now();
            let outcome = self.exchange(request).await;
            let (status, headers, body) = match outcome {
                Ok(answer) => answer,
                Err(Failure::Timeout) => {
                    tracing::warn!(provider = %self.name, call = what, attempt, "provider call timed out");
                    if resend == Resend::OnlyUnprocessed {
                        let waited = format!("no answer within {} ms", self.settings.timeout.as_millis());
                        return Err(self.possibly_charged(what, &waited));
                    }
                    return Err(ProviderError::Timeout { provider: self.name.clone(), timeout: self.settings.timeout });
                }
                Err(Failure::Connect(message)) if attempt <= retry.max_retries => {
                    // Nothing reached the provider: safe to try again.
                    let wait = retry.backoff(attempt);
                    tracing::warn!(provider = %self.name, call = what, attempt, wait_ms = wait.as_millis() as u64, error = %message, "provider unreachable, retrying");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(Failure::Other(message)) if resend == Resend::OnlyUnprocessed => {
                    // The request may have been sent in full before the connection broke.
                    return Err(self.possibly_charged(what, &message));
                }
                Err(Failure::Connect(message) | Failure::Other(message)) => {
                    return Err(ProviderError::Transport { provider: self.name.clone(), message });
                }
                Err(Failure::TooLarge) => {
                    return Err(self.malformed(&format!("the answer is larger than {MAX_BODY_BYTES} bytes")));
                }
            };
            if (200..400).contains(&status) {
                tracing::debug!(provider = %self.name, call = what, status, attempt, ms = started.elapsed().as_millis() as u64, "provider call");
                return Ok(Reply { status, headers, body, attempts: attempt });
            }
            let class = self
                .classifier
                .and_then(|classify| classify(status, &body))
                .unwrap_or_else(|| ErrorClass::of_status(status));
            let message = clip_message(&self.redact(&error_message(&body)));
            let retry_after = headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
            if class == ErrorClass::Server && resend == Resend::OnlyUnprocessed {
                tracing::warn!(provider = %self.name, call = what, status, attempt, "a paid submit answered a server error; not resent");
                return Err(self.possibly_charged(what, &format!("HTTP {status}: {message}")));
            }
            let retryable = matches!(class, ErrorClass::RateLimited | ErrorClass::Server);
            if retryable && attempt <= retry.max_retries {
                if let Some(wait) = retry.wait(attempt, retry_after) {
                    tracing::warn!(provider = %self.name, call = what, status, attempt, wait_ms = wait.as_millis() as u64, "provider busy, retrying");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                tracing::warn!(provider = %self.name, call = what, status, attempt, retry_after_s = retry_after.map(|d| d.as_secs()), "provider asks to wait longer than allowed; giving up");
            }
            tracing::warn!(provider = %self.name, call = what, status, attempt, "provider call failed");
            let provider = self.name.clone();
            return Err(match class {
                ErrorClass::Unauthorized => ProviderError::Unauthorized { provider, status, message },
                ErrorClass::PaymentRequired => ProviderError::PaymentRequired { provider, status, message },
                ErrorClass::RateLimited => {
                    ProviderError::RateLimited { provider, attempts: attempt, retry_after, message }
                }
                ErrorClass::Server => ProviderError::Server { provider, status, attempts: attempt, message },
                ErrorClass::Unavailable => ProviderError::Unavailable { provider, status, message },
                ErrorClass::Rejected => ProviderError::Rejected { provider, status, message },
            });
        }
    }

    /// One HTTP exchange, the whole body read (bounded by the request's timeout).
    async fn exchange(&self, request: reqwest::RequestBuilder) -> Result<(u16, HeaderMap, Bytes), Failure> {
        let describe = |e: reqwest::Error| -> String {
            // Without the URL: a query-string key (Apify, YouTube) would be in it.
            clip_message(&self.redact(&error_chain(&e.without_url())))
        };
        let request = shortline_telemetry::otel::current_headers()
            .into_iter()
            .fold(request, |request, (name, value)| request.header(name, value));
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                Failure::Timeout
            } else if e.is_connect() {
                Failure::Connect(describe(e))
            } else {
                Failure::Other(describe(e))
            }
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        if response.content_length().is_some_and(|n| n > MAX_BODY_BYTES) {
            return Err(Failure::TooLarge);
        }
        let mut response = response;
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    if body.len() as u64 > MAX_BODY_BYTES {
                        return Err(Failure::TooLarge);
                    }
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(Failure::Timeout),
                Err(e) => return Err(Failure::Other(describe(e))),
            }
        }
        Ok((status, headers, Bytes::from(body)))
    }
}

/// Whether a failed request may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resend {
    /// Retried on 429, 5xx and refused connections (reads, and calls the provider does not
    /// bill when they fail).
    Retry,
    /// Sent again only when it cannot have started anything: refused connections and 429.
    OnlyUnprocessed,
}

enum Failure {
    Timeout,
    Connect(String),
    Other(String),
    TooLarge,
}

/// An error and its sources, `: `-separated (reqwest's own Display hides the cause).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
