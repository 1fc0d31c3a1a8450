//! Failover across the configured providers of one kind.

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::error::ProviderError;

/// An error that may send a chain on to its next provider.
pub trait Failover {
    /// Why to try the next provider, or `None` to stop the chain with this error.
    fn failover_reason(&self) -> Option<&'static str>;
    /// What the failed call may have cost nonetheless (see [`ProviderError::PossiblyCharged`]).
    fn possibly_charged_micros(&self) -> Option<i64>;
}

impl Failover for ProviderError {
    fn failover_reason(&self) -> Option<&'static str> {
        ProviderError::failover_reason(self)
    }

    fn possibly_charged_micros(&self) -> Option<i64> {
        ProviderError::possibly_charged_micros(self)
    }
}

/// One provider tried by a chain, as recorded with what it made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderAttempt {
    pub provider: String,
    /// `ok` or `failed`.
    pub outcome: String,
    /// What went wrong (redacted and short); absent on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why the chain moved on to the next provider (`payment_required`, `rate_limited`,
    /// `server_error`); absent when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<String>,
    /// A paid submit that may have been billed though it failed: its estimate, counted as spent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub possibly_charged_micros: Option<i64>,
}

impl ProviderAttempt {
    /// What the attempts that failed may have cost (see [`ProviderAttempt::possibly_charged_micros`]).
    pub fn possibly_charged_total(attempts: &[ProviderAttempt]) -> i64 {
        attempts.iter().filter_map(|a| a.possibly_charged_micros).fold(0, i64::saturating_add)
    }
}

/// What a chain ended with: the value of the provider that succeeded (and its index), or the
/// error that stopped the chain; and every attempt in order.
#[derive(Debug)]
pub struct ChainOutcome<T, E> {
    pub result: Result<(usize, T), E>,
    pub attempts: Vec<ProviderAttempt>,
}

/// Calls `call(0)`, `call(1)`, ... for the providers named by `names`, moving on only when an
/// error has a [`Failover::failover_reason`]; the first success or the first other error ends
/// it. When every provider failed over, the last error is returned.
pub async fn run_chain<T, E, F, Fut>(names: &[String], mut call: F) -> ChainOutcome<T, E>
where
    E: Failover + std::fmt::Display,
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempts = Vec::with_capacity(names.len());
    let mut last = None;
    for (index, name) in names.iter().enumerate() {
        match call(index).await {
            Ok(value) => {
                attempts.push(ProviderAttempt {
                    provider: name.clone(),
                    outcome: "ok".into(),
                    error: None,
                    failover: None,
                    possibly_charged_micros: None,
                });
                return ChainOutcome { result: Ok((index, value)), attempts };
            }
            Err(error) => {
                let reason = error.failover_reason();
                let has_next = index + 1 < names.len();
                attempts.push(ProviderAttempt {
                    provider: name.clone(),
                    outcome: "failed".into(),
                    error: Some(error.to_string()),
                    failover: reason.filter(|_| has_next).map(str::to_owned),
                    possibly_charged_micros: error.possibly_charged_micros(),
                });
                match reason {
                    Some(reason) if has_next => {
                        tracing::warn!(provider = %name, next = %names[index + 1], reason, %error, "failing over to the next provider");
                        last = Some(error);
                    }
                    _ => return ChainOutcome { result: Err(error), attempts },
                }
            }
        }
    }
    match last {
        Some(error) => ChainOutcome { result: Err(error), attempts },
        // An empty chain: the caller checks for providers first; say so plainly if not.
        None => unreachable_empty_chain(attempts),
    }
}

#[allow(clippy::panic)]
fn unreachable_empty_chain<T, E>(_: Vec<ProviderAttempt>) -> ChainOutcome<T, E> {
    panic!("run_chain needs at least one provider")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16) -> ProviderError {
        let provider = "x".to_owned();
        let message = "m".to_owned();
        match status {
            402 => ProviderError::PaymentRequired { provider, status, message },
            401 => ProviderError::Unauthorized { provider, status, message },
            _ => ProviderError::Server { provider, status, attempts: 3, message },
        }
    }

    #[tokio::test]
    async fn fails_over_on_402_and_stops_on_401() {
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let outcome = run_chain(&names, |i| async move {
            if i == 0 {
                Err(err(402))
            } else {
                Ok(i)
            }
        })
        .await;
        assert_eq!(outcome.result.ok(), Some((1, 1)));
        assert_eq!(outcome.attempts.len(), 2);
        assert_eq!(outcome.attempts[0].failover.as_deref(), Some("payment_required"));
        assert_eq!(outcome.attempts[1].outcome, "ok");

        let outcome = run_chain(&names, |i| async move {
            if i == 0 {
                Err(err(401))
            } else {
                Ok(i)
            }
        })
        .await;
        assert!(outcome.result.is_err());
        assert_eq!(outcome.attempts.len(), 1);
        assert_eq!(outcome.attempts[0].failover, None);

        let outcome = run_chain::<usize, _, _, _>(&names, |_| async move { Err(err(503)) }).await;
        assert!(matches!(outcome.result, Err(ProviderError::Server { .. })));
        assert_eq!(outcome.attempts.len(), 3);
        assert_eq!(outcome.attempts[2].failover, None, "nothing after the last one");
    }
}
