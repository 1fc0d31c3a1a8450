//! Retry timing: jittered exponential backoff and `Retry-After`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use shortline_config::ProviderHttpConfig;

/// How a provider call is retried on HTTP 429 and 5xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: no retries).
    pub max_retries: u32,
    /// The first backoff; it doubles per retry up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// The longest `Retry-After` waited for. A provider asking for more is given up on at once
    /// (so the next provider of the kind is tried instead of sleeping).
    pub retry_after_max: Duration,
}

impl From<&ProviderHttpConfig> for RetryPolicy {
    fn from(config: &ProviderHttpConfig) -> Self {
        RetryPolicy {
            max_retries: config.max_retries,
            backoff_initial: Duration::from_millis(config.backoff_initial_ms),
            backoff_max: Duration::from_millis(config.backoff_max_ms),
            retry_after_max: Duration::from_secs(config.retry_after_max_seconds),
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            retry_after_max: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The exponential ceiling before retry number `retry` (1-based): `initial * 2^(retry-1)`,
    /// capped at `backoff_max`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.saturating_sub(1)).unwrap_or(u32::MAX);
        self.backoff_initial.saturating_mul(factor).min(self.backoff_max)
    }

    /// "Equal jitter": half the ceiling plus a random part of the other half, so concurrent
    /// clients spread out but never retry immediately.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry);
        let half = ceiling / 2;
        let spread = u64::try_from((ceiling - half).as_millis()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 { 0 } else { rand::random_range(0..=spread) };
        half + Duration::from_millis(jitter)
    }

    /// The wait before retry number `retry`: the provider's `Retry-After` when it gave one (at
    /// least the backoff), else the backoff. `None`: do not wait that long, give up now.
    pub fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        match retry_after {
            Some(asked) if asked > self.retry_after_max => None,
            Some(asked) => Some(asked.max(self.backoff(retry).min(self.retry_after_max))),
            None => Some(self.backoff(retry)),
        }
    }
}

/// A `Retry-After` header value: delay-seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`), relative to `now`. A date in the past is zero; anything
/// else unreadable is `None`.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        // Not in the RFC, but some servers send fractions.
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(1e9)));
    }
    let when = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((when - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("1.5", now), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(60)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            max_retries: 5,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(500),
            retry_after_max: Duration::from_secs(2),
        };
        assert_eq!(policy.ceiling(1), Duration::from_millis(100));
        assert_eq!(policy.ceiling(3), Duration::from_millis(400));
        assert_eq!(policy.ceiling(4), Duration::from_millis(500));
        assert_eq!(policy.ceiling(60), Duration::from_millis(500));
        for retry in 1..6 {
            let wait = policy.backoff(retry);
            assert!(wait >= policy.ceiling(retry) / 2 && wait <= policy.ceiling(retry), "{wait:?}");
        }
        assert_eq!(policy.wait(1, Some(Duration::from_secs(3))), None, "longer than the cap: give up");
        assert!(policy.wait(1, Some(Duration::from_secs(1))).unwrap() >= Duration::from_secs(1));
    }
}
