//! The scriptgen process: the `ScriptService` gRPC API over the database and the media store.

use std::net::SocketAddr;
use std::sync::Arc;

use shortline_config::Config;
use shortline_db::DbPool;
use shortline_grpc::auth::{Guard, COMPOSER_IDENTITY, ORCHESTRATOR_IDENTITY};
use shortline_grpc::service::{self, StartError};
use shortline_grpc::slots::WorkSlots;
use shortline_grpc::tls::ReloadingTls;
use shortline_grpc::{GrpcServer, ServeError, Shutdown};
use shortline_media::sweep::{Owner, Sweep};
use shortline_media::MediaStore;
use shortline_proto::v1::script_service_server::ScriptServiceServer;
use tokio::net::TcpListener;
use tracing::info;

use crate::api::{ClipFormat, MediaProviders, ScriptApi, ScriptPlanner};

/// The name the health service reports this service under.
pub const HEALTH_SERVICE_NAME: &str = "shortline.v1.ScriptService";

pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    pool: DbPool,
    api: ScriptApi,
    config: Config,
    tls: Option<Arc<ReloadingTls>>,
    shutdown: Shutdown,
    sweep: Sweep,
}

impl Application {
    /// Binds the configured address (port 0 picks one), prepares the database pool, the media
    /// store, the planner and the media providers the config names; nothing is served until
    /// [`Application::run`].
    pub async fn build(config: Config, shutdown: Shutdown) -> Result<Self, StartError> {
        let listener = service::bind("scriptgen", config.scriptgen.listen).await?;
        let address = listener.local_addr().map_err(|e| StartError::Other(e.to_string()))?;
        let pool = service::connect_database(&config)?;
        service::start_metrics("scriptgen", config.scriptgen.metrics_listen, &pool, false, &shutdown).await?;
        let store = MediaStore::from_config(&config)?;
        let sweep = Sweep {
            store: store.clone(),
            pool: pool.clone(),
            prefix: "jobs",
            owner: Owner::MediaAssets,
            stage_deadline: std::time::Duration::from_secs(config.pipeline.stage_timeout_seconds.media_generation),
        };
        let providers = MediaProviders::from_config(&config.providers, &config.media)
            .map_err(|e| StartError::Other(e.to_string()))?;
        let planner = ScriptPlanner::from_config(&config.providers).map_err(|e| StartError::Other(e.to_string()))?;
        let format = ClipFormat::from_config(&config.media);
        let media_slots =
            WorkSlots::new(config.scriptgen.media_slots(), "media generation", "scriptgen.max_concurrent_media");
        let api = ScriptApi::new(
            pool.clone(),
            store,
            planner,
            providers,
            format,
            media_slots,
            config.pipeline.job_budget_usd,
        );
        let tls = service::server_tls(&config)?;
        Ok(Application { listener, address, pool, api, config, tls, shutdown, sweep })
    }

    /// The address the service listens on (the real port when the configured one was 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until shutdown: health goes NOT_SERVING first, then in-flight calls get the
    /// grace period (`pipeline.shutdown_grace_seconds`); calls still running after it are
    /// dropped, which kills their media tools and writes no asset rows.
    pub async fn run(self) -> Result<(), ServeError> {
        let Application { listener, address, pool, api, config, tls, shutdown, sweep } = self;
        info!(%address, providers = ?config.providers.set, "scriptgen listening");
        let gate = service::SchemaGate::new(&pool);
        let readiness = gate.readiness();
        let api = ScriptServiceServer::with_interceptor(api, gate);
        let sweeping = tokio::spawn(sweep.every(config.media.sweep_interval(), shutdown.token()));
        let routes = match service::peer_policy(&config, &[ORCHESTRATOR_IDENTITY, COMPOSER_IDENTITY]) {
            Some(policy) => tonic::service::Routes::new(Guard::new(api, policy)),
            None => tonic::service::Routes::new(api),
        };
        let served = GrpcServer::new(routes)
            .health_service(HEALTH_SERVICE_NAME)
            .readiness(readiness)
            .tls(tls)
            .drain_timeout(config.pipeline.shutdown_grace())
            .serve(listener, shutdown)
            .await;
        sweeping.abort();
        served
    }
}
