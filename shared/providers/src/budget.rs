//! Per-job budgets: a limit in micro-USD (`pipeline.job_budget_usd`, or the theme's
//! `config.budget_usd`), checked with an estimate before every paid provider call.
//!
//! A service runs a job's paid work inside [`within`] with the job's [`JobBudget`] (its limit
//! and what the job's rows already record as spent). Every real provider asks
//! [`check_before_call`] with its estimate (from the price table: tokens, characters, seconds)
//! before it calls, and tells [`record_paid`] what the call cost after; a call that would take
//! the job past its limit is not made and fails with [`BudgetExceeded`], which names the job,
//! the provider and the amounts. Work outside [`within`] (no limit configured, unit tests) is
//! not limited.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use shortline_domain::Theme;

/// A paid call refused because the job would pass its budget.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "job {job_id} budget of {} would be exceeded: {provider} would cost about {}, with {} already spent; not called",
    usd(*.budget_micros),
    usd(*.estimate_micros),
    usd(*.spent_micros)
)]
pub struct BudgetExceeded {
    pub job_id: i64,
    pub budget_micros: i64,
    pub spent_micros: i64,
    pub estimate_micros: i64,
    /// The call refused: a provider name, or what a whole step would have called.
    pub provider: String,
}

/// `$1.234567`-style text of a micro-USD amount (trailing zeros dropped, at least cents).
pub fn usd(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let micros = micros.unsigned_abs();
    let fraction = format!("{:06}", micros % 1_000_000);
    let fraction = fraction.trim_end_matches('0');
    let fraction = if fraction.len() < 2 { format!("{fraction:0<2}") } else { fraction.to_owned() };
    format!("{sign}${}.{fraction}", micros / 1_000_000)
}

/// USD as micro-USD, rounded to the nearest micro-USD.
pub fn micros_of_usd(usd: f64) -> i64 {
    (usd * 1_000_000.0).round() as i64
}

/// The limit of a job of `theme`: the theme's `config.budget_usd`, else the configured default;
/// `None`: no limit.
pub fn job_limit_micros(configured_usd: Option<f64>, theme: Option<&Theme>) -> Option<i64> {
    theme.and_then(|t| t.config.budget_usd).or(configured_usd).map(micros_of_usd)
}

/// One job's limit and what it has spent so far.
#[derive(Debug)]
pub struct JobBudget {
    job_id: i64,
    limit_micros: i64,
    spent_micros: Mutex<i64>,
}

impl JobBudget {
    /// A budget of `limit_micros` of which `spent_micros` (the costs the job's rows record) is
    /// gone.
    pub fn new(job_id: i64, limit_micros: i64, spent_micros: i64) -> Self {
        JobBudget { job_id, limit_micros, spent_micros: Mutex::new(spent_micros) }
    }

    pub fn spent_micros(&self) -> i64 {
        *self.spent_micros.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Ok` when `estimate_micros` more stays within the limit.
    pub fn check(&self, provider: &str, estimate_micros: i64) -> Result<(), BudgetExceeded> {
        let spent = self.spent_micros();
        if spent.saturating_add(estimate_micros) <= self.limit_micros {
            return Ok(());
        }
        Err(BudgetExceeded {
            job_id: self.job_id,
            budget_micros: self.limit_micros,
            spent_micros: spent,
            estimate_micros,
            provider: provider.to_owned(),
        })
    }

    /// Counts a call's cost as spent.
    pub fn record(&self, cost_micros: i64) {
        let mut spent = self.spent_micros.lock().unwrap_or_else(PoisonError::into_inner);
        *spent = spent.saturating_add(cost_micros.max(0));
    }
}

tokio::task_local! {
    static CURRENT: Arc<JobBudget>;
}

/// Runs `work` with `budget` as the limit of every paid call in it (none: unlimited).
pub async fn within<F: Future>(budget: Option<Arc<JobBudget>>, work: F) -> F::Output {
    match budget {
        Some(budget) => CURRENT.scope(budget, work).await,
        None => work.await,
    }
}

/// Before a paid call of `provider` estimated at `estimate_micros`: refused when it would take
/// the current job past its budget.
pub fn check_before_call(provider: &str, estimate_micros: i64) -> Result<(), BudgetExceeded> {
    CURRENT.try_with(|budget| budget.check(provider, estimate_micros)).unwrap_or(Ok(()))
}

/// After a paid call: what it cost counts against the current job's budget and into the
/// provider's spend metric.
pub fn record_paid(provider: &str, cost_micros: i64) {
    shortline_telemetry::metrics::global().provider_spend(provider, cost_micros);
    let _ = CURRENT.try_with(|budget| budget.record(cost_micros));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_dollars() {
        assert_eq!(usd(0), "$0.00");
        assert_eq!(usd(250_000), "$0.25");
        assert_eq!(usd(1_234_567), "$1.234567");
        assert_eq!(usd(30_000_000), "$30.00");
    }

    #[tokio::test]
    async fn calls_past_the_limit_are_refused_inside_the_scope_only() {
        let budget = Arc::new(JobBudget::new(7, 1_000_000, 600_000));
        within(Some(budget.clone()), async {
            assert!(check_before_call("fal_kling", 400_000).is_ok(), "exactly the limit is fine");
            let refused = check_before_call("fal_kling", 400_001).expect_err("past the limit");
            assert_eq!((refused.job_id, refused.spent_micros, refused.estimate_micros), (7, 600_000, 400_001));
            assert_eq!(
                refused.to_string(),
                "job 7 budget of $1.00 would be exceeded: fal_kling would cost about $0.400001, with $0.60 already spent; not called"
            );
            record_paid("test", 300_000);
            assert!(check_before_call("openai", 100_001).is_err());
        })
        .await;
        assert_eq!(budget.spent_micros(), 900_000);
        assert!(check_before_call("anything", i64::MAX).is_ok(), "no budget outside a scope");
    }
}
