//! The scriptgen process: the `ScriptService` gRPC API over the database and the media store.

use std::net::SocketAddr;
use std::time::Duration;

use shortline_config::Config;
use shortline_grpc::auth::{COMPOSER_IDENTITY, ORCHESTRATOR_IDENTITY};
use shortline_grpc::service::{self, ServicePorts, ServiceStart, StartError};
use shortline_grpc::{ServeError, Shutdown};
use shortline_media::sweep::Owner;
use shortline_proto::v1::script_service_server::ScriptServiceServer;
use tracing::info;

use crate::api::ScriptApi;

/// The name the health service reports this service under.
pub const HEALTH_SERVICE_NAME: &str = "shortline.v1.ScriptService";

pub struct Application {
    start: ServiceStart,
    api: ScriptApi,
    config: Config,
}

impl Application {
    /// Binds the configured address (port 0 picks one), prepares the database pool, the media
    /// store, the planner and the media providers the config names; nothing is served until
    /// [`Application::run`].
    pub async fn build(config: Config, shutdown: Shutdown) -> Result<Self, StartError> {
        let ports = ServicePorts::new("scriptgen", config.scriptgen.listen, config.scriptgen.metrics_listen);
        let mut start = ServiceStart::new(ports, &config, shutdown).await?;
        let stage_deadline = Duration::from_secs(config.pipeline.stage_timeout_seconds.media_generation);
        let store = start.media_store(&config, "jobs", Owner::MediaAssets, stage_deadline)?;
        let api = ScriptApi::from_config(&config, start.pool().clone(), store).map_err(StartError::other)?;
        Ok(Application { start, api, config })
    }

    /// The address the service listens on (the real port when the configured one was 0).
    pub fn address(&self) -> SocketAddr {
        self.start.address()
    }

    /// Serves until shutdown: health goes NOT_SERVING first, then in-flight calls get the
    /// grace period (`pipeline.shutdown_grace_seconds`); calls still running after it are
    /// dropped, which kills their media tools and writes no asset rows.
    pub async fn run(self) -> Result<(), ServeError> {
        let Application { start, api, config } = self;
        info!(address = %start.address(), providers = ?config.providers.set, "scriptgen listening");
        start
            .serve(
                |gate| ScriptServiceServer::with_interceptor(api, gate),
                service::peer_policy(&config, &[ORCHESTRATOR_IDENTITY, COMPOSER_IDENTITY]),
            )
            .await
    }
}
