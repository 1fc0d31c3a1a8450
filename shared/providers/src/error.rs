//! What can go wrong talking to a provider, in kinds that decide retries and failover.

use std::time::Duration;

/// Why a provider call failed. Every message is built from redacted text (see
/// [`super::ApiKey::redact`]) and cut to [`MESSAGE_CHARS`]: no variant ever holds an API key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// HTTP 401/403: the key is missing, wrong or lacks the permission.
    #[error("{provider}: unauthorized (HTTP {status}): {message}")]
    Unauthorized { provider: String, status: u16, message: String },
    /// HTTP 402, or a provider's own "out of credits" answer: fail over to the next provider.
    #[error("{provider}: payment required (HTTP {status}): {message}")]
    PaymentRequired { provider: String, status: u16, message: String },
    /// HTTP 429 still answered after the retries (or with a `Retry-After` longer than the cap).
    #[error("{provider}: rate limited (HTTP 429) after {attempts} attempt(s){}: {message}", retry_after_text(*.retry_after))]
    RateLimited { provider: String, attempts: u32, retry_after: Option<Duration>, message: String },
    /// HTTP 5xx still answered after the retries.
    #[error("{provider}: server error (HTTP {status}) after {attempts} attempt(s): {message}")]
    Server { provider: String, status: u16, attempts: u32, message: String },
    /// No complete answer within the configured timeout.
    #[error("{provider}: no answer within {} ms", .timeout.as_millis())]
    Timeout { provider: String, timeout: Duration },
    /// A 2xx answer that is not what the API documents (bad JSON, missing fields, not audio...).
    #[error("{provider}: malformed answer: {reason}")]
    Malformed { provider: String, reason: String },
    /// The request never got an HTTP answer (connection refused, reset, DNS, TLS...).
    #[error("{provider}: request failed: {message}")]
    Transport { provider: String, message: String },
    /// The provider does not serve what was asked for (e.g. fal answers 404 for a model
    /// endpoint it does not have): fail over to the next provider.
    #[error("{provider}: not available (HTTP {status}): {message}")]
    Unavailable { provider: String, status: u16, message: String },
    /// Any other 4xx: the request itself is wrong (validation, unknown voice, not found...).
    #[error("{provider}: request refused (HTTP {status}): {message}")]
    Rejected { provider: String, status: u16, message: String },
    /// The provider accepted the job but reports that it failed, or it did not finish in time.
    #[error("{provider}: {message}")]
    JobFailed { provider: String, message: String },
    /// No key is configured for a provider that needs one.
    #[error("{provider}: no API key: {hint}")]
    MissingKey { provider: String, hint: String },
    /// A request that starts billed work (see [`super::ProviderClient::submit_once`]) may have
    /// reached the provider — it answered 5xx, timed out, or the connection broke after sending —
    /// so it is not resent, and its estimate (`estimate_micros`, filled in by the caller that
    /// knows the price) is counted as spent.
    #[error("{provider}: possibly charged, not resent{}: {message}", charge_text(*.estimate_micros))]
    PossiblyCharged { provider: String, message: String, estimate_micros: i64 },
    /// The call was not made: its estimated cost would take the job past its budget.
    #[error(transparent)]
    OverBudget(#[from] crate::budget::BudgetExceeded),
}

/// Longest message kept from a provider's answer.
pub const MESSAGE_CHARS: usize = 300;

fn charge_text(estimate_micros: i64) -> String {
    if estimate_micros > 0 {
        format!(" (about {} counted as spent)", crate::budget::usd(estimate_micros))
    } else {
        String::new()
    }
}

fn retry_after_text(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(" (Retry-After {} s)", d.as_secs_f64()),
        None => String::new(),
    }
}

/// Why a chain moved on from a provider, as recorded in the asset's usage.
pub const FAILOVER_PAYMENT_REQUIRED: &str = "payment_required";
pub const FAILOVER_RATE_LIMITED: &str = "rate_limited";
pub const FAILOVER_SERVER_ERROR: &str = "server_error";
pub const FAILOVER_POSSIBLY_CHARGED: &str = "possibly_charged";
pub const FAILOVER_UNAVAILABLE: &str = "unavailable";

impl ProviderError {
    /// The provider's name.
    pub fn provider(&self) -> &str {
        match self {
            ProviderError::Unauthorized { provider, .. }
            | ProviderError::PaymentRequired { provider, .. }
            | ProviderError::RateLimited { provider, .. }
            | ProviderError::Server { provider, .. }
            | ProviderError::Timeout { provider, .. }
            | ProviderError::Malformed { provider, .. }
            | ProviderError::Transport { provider, .. }
            | ProviderError::Rejected { provider, .. }
            | ProviderError::Unavailable { provider, .. }
            | ProviderError::JobFailed { provider, .. }
            | ProviderError::PossiblyCharged { provider, .. }
            | ProviderError::MissingKey { provider, .. } => provider,
            ProviderError::OverBudget(refused) => &refused.provider,
        }
    }

    /// A short machine-readable kind: `unauthorized`, `payment_required`, `rate_limited`,
    /// `server_error`, `timeout`, `malformed`, `transport`, `unavailable`, `rejected`, `job_failed`,
    /// `possibly_charged`, `missing_key`, `over_budget`.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::Unauthorized { .. } => "unauthorized",
            ProviderError::PaymentRequired { .. } => FAILOVER_PAYMENT_REQUIRED,
            ProviderError::RateLimited { .. } => FAILOVER_RATE_LIMITED,
            ProviderError::Server { .. } => FAILOVER_SERVER_ERROR,
            ProviderError::Timeout { .. } => "timeout",
            ProviderError::Malformed { .. } => "malformed",
            ProviderError::Transport { .. } => "transport",
            ProviderError::Rejected { .. } => "rejected",
            ProviderError::Unavailable { .. } => FAILOVER_UNAVAILABLE,
            ProviderError::JobFailed { .. } => "job_failed",
            ProviderError::PossiblyCharged { .. } => FAILOVER_POSSIBLY_CHARGED,
            ProviderError::MissingKey { .. } => "missing_key",
            ProviderError::OverBudget(_) => "over_budget",
        }
    }

    /// The HTTP status the provider answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ProviderError::Unauthorized { status, .. }
            | ProviderError::PaymentRequired { status, .. }
            | ProviderError::Server { status, .. }
            | ProviderError::Unavailable { status, .. }
            | ProviderError::Rejected { status, .. } => Some(*status),
            ProviderError::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// Why the next provider of the kind should be tried, or `None` when this error ends the
    /// chain: 402 (out of credits), 429 (rate limited after the retries), 5xx (after the
    /// retries), a model the provider does not serve, and a paid submit that was possibly
    /// charged but cannot be resent. A bad key, a
    /// refused request or a malformed answer would fail the same way elsewhere or point at a
    /// bug, so they stop the chain and are reported.
    pub fn failover_reason(&self) -> Option<&'static str> {
        match self {
            ProviderError::PaymentRequired { .. }
            | ProviderError::RateLimited { .. }
            | ProviderError::Server { .. }
            | ProviderError::Unavailable { .. }
            | ProviderError::PossiblyCharged { .. } => Some(self.kind()),
            _ => None,
        }
    }

    /// What this failed call may nevertheless have cost (a possibly charged submit's estimate).
    pub fn possibly_charged_micros(&self) -> Option<i64> {
        match self {
            ProviderError::PossiblyCharged { estimate_micros, .. } => Some(*estimate_micros),
            _ => None,
        }
    }

    /// A possibly charged submit with the estimate of what it may have cost; other errors as
    /// they are.
    pub fn with_charge_estimate(self, micros: i64) -> ProviderError {
        match self {
            ProviderError::PossiblyCharged { provider, message, .. } => {
                ProviderError::PossiblyCharged { provider, message, estimate_micros: micros }
            }
            other => other,
        }
    }
}

/// `text` cut to [`MESSAGE_CHARS`] characters on a character boundary, control characters
/// replaced by spaces.
pub fn clip_message(text: &str) -> String {
    let mut out: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(MESSAGE_CHARS).collect();
    if text.chars().count() > MESSAGE_CHARS {
        out.push('…');
    }
    out.trim().to_owned()
}

/// The human-readable message of an error answer: the first of `error.message`, `error` (a
/// string), `detail.message`, `detail` (a string), `message`, `title` in a JSON body, else the
/// body text itself (HTML error pages of a proxy are cut short).
pub fn error_message(body: &[u8]) -> String {
    use serde_json::Value;
    if let Ok(doc) = serde_json::from_slice::<Value>(body) {
        let pick = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let found = pick(doc.pointer("/error/message"))
            .or_else(|| pick(doc.get("error")))
            .or_else(|| pick(doc.pointer("/detail/message")))
            .or_else(|| pick(doc.get("detail")))
            .or_else(|| pick(doc.get("message")))
            .or_else(|| pick(doc.get("title")))
            .or_else(|| {
                // FastAPI validation errors: detail = [{loc, msg, type}, ...]
                doc.get("detail").and_then(Value::as_array).map(|items| {
                    items.iter().filter_map(|i| i.get("msg").and_then(Value::as_str)).collect::<Vec<_>>().join("; ")
                })
            });
        if let Some(found) = found.filter(|m| !m.trim().is_empty()) {
            return clip_message(&found);
        }
    }
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() {
        "(empty answer)".to_owned()
    } else {
        clip_message(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_from_the_documented_error_shapes() {
        assert_eq!(
            error_message(br#"{"error":{"message":"Incorrect API key","type":"invalid_request_error"}}"#),
            "Incorrect API key"
        );
        assert_eq!(error_message(br#"{"detail":{"status":"quota_exceeded","message":"over quota"}}"#), "over quota");
        assert_eq!(error_message(br#"{"status":402,"message":"Insufficient balance"}"#), "Insufficient balance");
        assert_eq!(
            error_message(br#"{"detail":[{"loc":["body","prompt"],"msg":"field required"}]}"#),
            "field required"
        );
        assert_eq!(error_message(b""), "(empty answer)");
        assert_eq!(error_message(&vec![b'x'; 1000]).chars().count(), MESSAGE_CHARS + 1);
    }

    #[test]
    fn only_402_429_5xx_unavailable_and_possibly_charged_fail_over() {
        let p = || "p".to_owned();
        let m = || "m".to_owned();
        assert_eq!(
            ProviderError::PaymentRequired { provider: p(), status: 402, message: m() }.failover_reason(),
            Some("payment_required")
        );
        assert_eq!(
            ProviderError::RateLimited { provider: p(), attempts: 3, retry_after: None, message: m() }
                .failover_reason(),
            Some("rate_limited")
        );
        assert_eq!(
            ProviderError::Server { provider: p(), status: 503, attempts: 3, message: m() }.failover_reason(),
            Some("server_error")
        );
        assert_eq!(
            ProviderError::Unavailable { provider: p(), status: 404, message: m() }.failover_reason(),
            Some("unavailable")
        );
        let possibly = ProviderError::PossiblyCharged { provider: p(), message: m(), estimate_micros: 0 };
        assert_eq!(possibly.failover_reason(), Some("possibly_charged"));
        assert_eq!(possibly.with_charge_estimate(250_000).possibly_charged_micros(), Some(250_000));
        assert_eq!(ProviderError::Unauthorized { provider: p(), status: 401, message: m() }.failover_reason(), None);
        assert_eq!(ProviderError::Malformed { provider: p(), reason: m() }.failover_reason(), None);
        assert_eq!(ProviderError::Timeout { provider: p(), timeout: Duration::from_millis(5) }.failover_reason(), None);
    }
}
