//! [`FailoverChain`]: the configured providers of one kind in failover order, with their prices —
//! what [`VoiceChain`](super::VoiceChain) and [`ClipChain`](super::ClipChain) share.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use shortline_config::Price;
use shortline_providers::{cost_micros, run_chain, ModelApi, ProviderAttempt, ProviderError, Usage};
use tokio_util::sync::CancellationToken;

use super::chain_failure;
use crate::media::MediaError;

/// What one provider of a chain made, and every attempt the chain took to get it.
pub(crate) struct Made<A: ?Sized, T> {
    pub api: Arc<A>,
    pub value: T,
    pub attempts: Vec<ProviderAttempt>,
}

pub(crate) struct FailoverChain<A: ?Sized> {
    apis: Vec<Arc<A>>,
    names: Vec<String>,
    label: String,
    prices: BTreeMap<String, Price>,
}

impl<A: ModelApi + ?Sized> FailoverChain<A> {
    pub fn new(apis: Vec<Arc<A>>, prices: BTreeMap<String, Price>) -> Self {
        let names: Vec<String> = apis.iter().map(|api| api.name().to_owned()).collect();
        let label = names.join(">");
        Self { apis, names, label, prices }
    }

    /// The providers' names in order, `>`-joined (`openai>elevenlabs`).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The first provider: the one estimates are priced at.
    pub fn first(&self) -> Option<&A> {
        self.apis.first().map(Arc::as_ref)
    }

    /// What `usage` of `api` costs at its model's price (0 without one).
    pub fn cost(&self, api: &A, usage: &Usage) -> i64 {
        self.prices.get(api.model()).map_or(0, |price| cost_micros(price, usage))
    }

    /// Whether `api`'s model has a price.
    pub fn is_priced(&self, api: &A) -> bool {
        self.prices.contains_key(api.model())
    }

    /// Calls `attempt` with each provider in order until one succeeds or fails without a reason
    /// to move on ([`run_chain`]), unless `cancel` fires first. A chain that ends in an error is
    /// the [`chain_failure`] of its `kind` (`voice`, `clip`).
    pub async fn run<T, F, Fut>(
        &self,
        kind: &str,
        cancel: &CancellationToken,
        mut attempt: F,
    ) -> Result<Made<A, T>, MediaError>
    where
        F: FnMut(Arc<A>) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        if self.apis.is_empty() {
            return Err(MediaError::InvalidRequest(format!("no {kind} provider is configured")));
        }
        let chain = run_chain(&self.names, |index| attempt(self.apis[index].clone()));
        let outcome = tokio::select! {
            outcome = chain => outcome,
            () = cancel.cancelled() => return Err(MediaError::Cancelled),
        };
        match outcome.result {
            Ok((index, value)) => Ok(Made { api: self.apis[index].clone(), value, attempts: outcome.attempts }),
            Err(error) => Err(chain_failure(kind, &self.label, &error, &outcome.attempts)),
        }
    }
}
