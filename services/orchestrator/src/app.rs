//! The orchestrator process: the gRPC API, the job engine and the scheduled trend refresh.

use std::net::SocketAddr;
use std::sync::Arc;

use shortline_config::Config;
use shortline_db::{JobKind, MadeBy, StageName};
use shortline_domain::Platform;
use shortline_grpc::auth::{Policy, TokenFile};
use shortline_grpc::service::{ServicePorts, ServiceStart, StartError};
use shortline_grpc::{ServeError, Shutdown};
use shortline_proto::v1::orchestrator_service_server::OrchestratorServiceServer;
use tracing::{info, warn};

use crate::api::OrchestratorApi;
use crate::clients::Clients;
use crate::engine::Engine;
use crate::lineage::Lineage;
use crate::stages::Stages;
use crate::trends::TrendSource;

pub struct Application {
    start: ServiceStart,
    engine: Arc<Engine>,
    config: Config,
    /// The users' tokens when `auth.tokens_file` is set; `None`: no authentication.
    tokens: Option<Arc<TokenFile>>,
    /// Whether this process drives jobs (claims them, runs the scheduled refresh).
    drives_jobs: bool,
}

impl Application {
    /// Binds the configured address (port 0 picks one) and prepares the engine; nothing runs
    /// until [`Application::run`].
    pub async fn build(config: Config, shutdown: Shutdown) -> Result<Self, StartError> {
        let ports = ServicePorts::new("orchestrator", config.orchestrator.listen, config.orchestrator.metrics_listen);
        let start = ServiceStart::new(ServicePorts { count_jobs: true, ..ports }, &config, shutdown).await?;
        let pool = start.pool().clone();
        let clients = Clients::connect_lazy(&config.scriptgen.url, &config.composer.url, &config.tls)
            .map_err(StartError::other)?;
        // The bundled samples and the heuristic analyst unless `providers.trends` / `.analyst` say otherwise.
        let sources: Vec<Arc<dyn TrendSource>> =
            crate::providers::trend_sources(&config.providers).map_err(StartError::other)?;
        let analyst = crate::providers::analyst(&config.providers).map_err(StartError::other)?;
        let stages = Stages {
            pool: pool.clone(),
            clients,
            sources,
            analyst,
            job_budget_usd: config.pipeline.job_budget_usd,
            trend_max_age: config.pipeline.trend_max_age(),
            collection_deadline: std::time::Duration::from_secs(config.pipeline.stage_timeout_seconds.trend_collection),
            analysis_deadline: std::time::Duration::from_secs(config.pipeline.stage_timeout_seconds.trend_analysis),
        };
        let engine = Arc::new(Engine::new(pool, stages, config.pipeline.clone(), Lineage::start(&config.lineage)));
        let tokens = match &config.auth.tokens_file {
            Some(path) => Some(Arc::new(TokenFile::load(path).map_err(StartError::other)?)),
            None => None,
        };
        Ok(Application { start, engine, config, tokens, drives_jobs: true })
    }

    /// Serves the API without the job engine and the scheduled refresh: for an orchestrator
    /// that lives only as long as one command, which must never claim a job it cannot finish.
    pub fn without_engine(mut self) -> Self {
        self.drives_jobs = false;
        self
    }

    pub fn address(&self) -> SocketAddr {
        self.start.address()
    }

    /// Serves until shutdown: health goes NOT_SERVING first, the engine stops claiming, running
    /// jobs get the grace period, then the server drains.
    pub async fn run(self) -> Result<(), ServeError> {
        let Application { mut start, engine, config, tokens, drives_jobs } = self;
        info!(address = %start.address(), drives_jobs, "orchestrator listening");
        // The engine stops claiming on shutdown and gets the grace period for running jobs; the
        // server keeps answering (NOT_SERVING) until it is done, then drains.
        let engine_done = tokio_util::sync::CancellationToken::new();
        let engine_task = {
            let (engine, token, done) = (engine.clone(), start.shutdown().token(), engine_done.clone());
            tokio::spawn(async move {
                if drives_jobs {
                    engine.run(token).await;
                } else {
                    token.cancelled().await;
                }
                done.cancel();
            })
        };
        let refresh_interval =
            if drives_jobs { config.pipeline.trend_refresh_interval() } else { std::time::Duration::ZERO };
        let refresh_task = tokio::spawn(scheduled_refresh(engine.clone(), refresh_interval, start.shutdown().token()));
        // The grace period went to the engine; what is left in flight then are reads.
        let drain_timeout = config.pipeline.shutdown_grace().min(std::time::Duration::from_secs(2));
        start.finish_before_draining(engine_done.cancelled_owned(), drain_timeout);
        let policy = tokens.map(|tokens| Policy::Users { tokens, permission_of: crate::api::permission_of });
        let served = start
            .serve(|gate| OrchestratorServiceServer::with_interceptor(OrchestratorApi::new(engine), gate), policy)
            .await;
        let _ = engine_task.await;
        refresh_task.abort();
        served
    }
}

/// Collects trends every `interval` as a job of its own (0 disables it; in a cluster a CronJob
/// runs `shortline trends collect` instead).
async fn scheduled_refresh(
    engine: Arc<Engine>,
    interval: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    if interval.is_zero() {
        return;
    }
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await; // the first tick is immediate; the first refresh waits one interval
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        if let Err(error) = refresh_once(&engine).await {
            warn!(%error, "scheduled trend refresh failed");
        }
    }
}

async fn refresh_once(engine: &Engine) -> crate::error::Result<()> {
    let stages = &engine.stages;
    engine
        .run_inline(JobKind::TrendRefresh, "scheduled trend refresh", StageName::TrendCollection, |job_id| {
            stages.collect(job_id, &Platform::ALL, crate::stages::ITEMS_PER_SOURCE, MadeBy::Schedule)
        })
        .await?;
    Ok(())
}
