//! The composer process: the gRPC API over the database, the media store and scriptgen.

use std::net::SocketAddr;
use std::sync::Arc;

use shortline_config::{Config, ProviderSet};
use shortline_db::DbPool;
use shortline_grpc::auth::{Guard, ORCHESTRATOR_IDENTITY};
use shortline_grpc::service::{self, StartError};
use shortline_grpc::slots::WorkSlots;
use shortline_grpc::tls::ReloadingTls;
use shortline_grpc::{GrpcServer, ServeError, Shutdown};
use shortline_media::sweep::{Owner, Sweep};
use shortline_media::MediaStore;
use shortline_proto::v1::composer_service_server::ComposerServiceServer;
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::api::{Composer, ComposerApi, MUSIC_BED_KEY, MUSIC_BED_SECONDS};
use crate::render;
use crate::scriptgen::Scriptgen;

/// The name the health service reports the composer under.
pub const HEALTH_SERVICE: &str = "shortline.v1.ComposerService";

pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    composer: Arc<Composer>,
    pool: DbPool,
    config: Config,
    tls: Option<Arc<ReloadingTls>>,
    shutdown: Shutdown,
    sweep: Sweep,
}

impl Application {
    /// Binds the configured address (port 0 picks one), opens the database pool and the media
    /// store, and makes the offline music bed if it is missing; nothing is served until
    /// [`Application::run`].
    pub async fn build(config: Config, shutdown: Shutdown) -> Result<Self, StartError> {
        let listener = service::bind("composer", config.composer.listen).await?;
        let address = listener.local_addr().map_err(|e| StartError::Other(e.to_string()))?;
        let pool = service::connect_database(&config)?;
        service::start_metrics("composer", config.composer.metrics_listen, &pool, false, &shutdown).await?;
        let store = MediaStore::from_config(&config)?;
        let sweep = Sweep {
            store: store.clone(),
            pool: pool.clone(),
            prefix: "generated",
            owner: Owner::Videos,
            stage_deadline: std::time::Duration::from_secs(config.pipeline.stage_timeout_seconds.composition),
        };
        let scriptgen = Scriptgen::connect_lazy(&config.scriptgen.url, &config.tls)
            .map_err(|e| StartError::Other(e.to_string()))?;
        // A local file in either kind of store: ffmpeg reads it, and it is never published.
        let music_bed = store.local_path(MUSIC_BED_KEY)?;
        // Without ffmpeg the composer still starts: ComposeVideo answers FAILED_PRECONDITION with
        // the install hint, and the bed is made on the first composition after the install.
        let providers = config.providers.set;
        // (The null set composes placeholders and needs no music.)
        if providers == ProviderSet::Offline {
            if let Err(error) = render::ensure_music_bed(&music_bed, MUSIC_BED_SECONDS).await {
                warn!(%error, path = %music_bed.display(), "cannot make the offline music bed yet");
            }
        }
        let composer = Arc::new(Composer {
            pool: pool.clone(),
            store,
            scriptgen,
            media: config.media.clone(),
            music_bed,
            providers,
            renders: WorkSlots::new(config.composer.render_slots(), "render", "composer.max_concurrent_renders"),
            reviews: Mutex::new(()),
        });
        let tls = service::server_tls(&config)?;
        Ok(Application { listener, address, composer, pool, config, tls, shutdown, sweep })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until shutdown: health goes NOT_SERVING first, then in-flight calls (renders
    /// included) get the grace period before they are dropped (which cancels their renders).
    pub async fn run(self) -> Result<(), ServeError> {
        let Application { listener, address, composer, pool, config, tls, shutdown, sweep } = self;
        info!(%address, "composer listening");
        let gate = service::SchemaGate::new(&pool);
        let readiness = gate.readiness();
        let api = ComposerServiceServer::with_interceptor(ComposerApi::new(composer), gate);
        let sweeping = tokio::spawn(sweep.every(config.media.sweep_interval(), shutdown.token()));
        let routes = match service::peer_policy(&config, &[ORCHESTRATOR_IDENTITY]) {
            Some(policy) => tonic::service::Routes::new(Guard::new(api, policy)),
            None => tonic::service::Routes::new(api),
        };
        let served = GrpcServer::new(routes)
            .health_service(HEALTH_SERVICE)
            .readiness(readiness)
            .tls(tls)
            .drain_timeout(config.pipeline.shutdown_grace())
            .serve(listener, shutdown)
            .await;
        sweeping.abort();
        served
    }
}
