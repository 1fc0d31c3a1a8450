//! A serving process's lifecycle: the [`Shutdown`] signal (SIGTERM, Ctrl-C or a trigger), the
//! [`Readiness`] probe, and the task that turns the probe's answers into health statuses.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

/// How often readiness is probed unless [`Readiness::every`] says otherwise.
pub const DEFAULT_READINESS_INTERVAL: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Shutdown
// ---------------------------------------------------------------------------------------------

/// A process-wide "stop now" signal: cheap to clone, every clone sees the same trigger.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// A shutdown that happens only when [`Shutdown::trigger`] is called.
    pub fn new() -> Self {
        Self::default()
    }

    /// A shutdown also triggered by SIGTERM (Kubernetes) or Ctrl-C. Spawns a task, so it must be
    /// called inside a Tokio runtime; the task ends when the shutdown is triggered either way.
    pub fn on_signals() -> Self {
        let shutdown = Self::new();
        let token = shutdown.token.clone();
        tokio::spawn(async move {
            tokio::select! {
                signal = wait_for_signal() => {
                    tracing::info!(signal, "shutdown signal received");
                    token.cancel();
                }
                () = token.cancelled() => {}
            }
        });
        shutdown
    }

    /// Starts the shutdown; idempotent.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes when the shutdown is triggered (at once if it already was).
    pub fn cancelled(&self) -> impl Future<Output = ()> + Send + 'static {
        self.token.clone().cancelled_owned()
    }

    /// The underlying token, for `select!`-ing in workers or deriving child tokens.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// A shutdown triggered with this one, but which can also be triggered on its own.
    pub fn child(&self) -> Shutdown {
        Shutdown { token: self.token.child_token() }
    }
}

impl From<CancellationToken> for Shutdown {
    fn from(token: CancellationToken) -> Self {
        Self { token }
    }
}

/// Waits for SIGTERM or Ctrl-C (SIGINT) and names the one received.
async fn wait_for_signal() -> &'static str {
    let ctrl_c = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "SIGINT",
            Err(error) => {
                tracing::warn!(%error, "cannot listen for Ctrl-C");
                std::future::pending().await
            }
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
                "SIGTERM"
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<&'static str>();
    tokio::select! {
        name = ctrl_c => name,
        name = terminate => name,
    }
}

// ---------------------------------------------------------------------------------------------
// Readiness
// ---------------------------------------------------------------------------------------------

type ProbeFuture = Pin<Box<dyn Future<Output = bool> + Send>>;

/// A readiness probe (e.g. a database ping) and how often it runs.
#[derive(Clone)]
pub struct Readiness {
    probe: Arc<dyn Fn() -> ProbeFuture + Send + Sync>,
    interval: Duration,
}

impl Readiness {
    /// `probe` is called at start and then every [`DEFAULT_READINESS_INTERVAL`].
    pub fn new<F, Fut>(probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        Self { probe: Arc::new(move || Box::pin(probe())), interval: DEFAULT_READINESS_INTERVAL }
    }

    /// Always ready (a service with no dependencies).
    pub fn always() -> Self {
        Self::new(|| async { true })
    }

    /// Probe every `interval` instead (a probe slower than `interval` counts as not ready).
    pub fn every(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Runs the probe once, bounded by the interval.
    pub async fn check(&self) -> bool {
        tokio::time::timeout(self.interval, (self.probe)()).await.unwrap_or(false)
    }
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Readiness").field("interval", &self.interval).finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub(super) struct Health {
    pub(super) reporter: HealthReporter,
    /// `""` first, then the named services.
    pub(super) names: Vec<String>,
}

impl Health {
    pub(super) async fn set(&self, status: ServingStatus) {
        for name in &self.names {
            self.reporter.set_service_status(name, status).await;
        }
    }
}

pub(super) async fn poll_readiness(health: Health, readiness: Readiness, stop: CancellationToken) {
    let mut last: Option<bool> = None;
    loop {
        let ready = tokio::select! {
            () = stop.cancelled() => return,
            ready = readiness.check() => ready,
        };
        if last != Some(ready) {
            if ready {
                tracing::info!("ready: SERVING");
            } else if last.is_some() {
                tracing::warn!("readiness probe failed: NOT_SERVING");
            } else {
                tracing::info!("not ready yet: NOT_SERVING");
            }
            health.set(if ready { ServingStatus::Serving } else { ServingStatus::NotServing }).await;
            last = Some(ready);
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(readiness.interval()) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn shutdown_clones_and_children_see_the_trigger() {
        let shutdown = Shutdown::new();
        let child = shutdown.child();
        let waiter = tokio::spawn(shutdown.cancelled());
        assert!(!child.is_triggered());
        shutdown.clone().trigger();
        waiter.await.unwrap();
        assert!(shutdown.is_triggered() && child.is_triggered() && shutdown.token().is_cancelled());

        // A child triggers alone.
        let parent = Shutdown::new();
        let child = parent.child();
        child.trigger();
        assert!(!parent.is_triggered());

        // on_signals' task ends with a manual trigger too.
        let signals = Shutdown::on_signals();
        signals.trigger();
        signals.cancelled().await;
    }
}
