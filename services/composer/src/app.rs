//! The composer process: the gRPC API over the database, the media store and scriptgen.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use shortline_config::{Config, ProviderSet};
use shortline_grpc::auth::ORCHESTRATOR_IDENTITY;
use shortline_grpc::service::{self, ServicePorts, ServiceStart, StartError};
use shortline_grpc::slots::WorkSlots;
use shortline_grpc::{ServeError, Shutdown};
use shortline_media::sweep::Owner;
use shortline_proto::v1::composer_service_server::ComposerServiceServer;
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::api::{Composer, ComposerApi, MUSIC_BED_KEY, MUSIC_BED_SECONDS};
use crate::render;
use crate::scriptgen::Scriptgen;

/// The name the health service reports the composer under.
pub const HEALTH_SERVICE: &str = "shortline.v1.ComposerService";

pub struct Application {
    start: ServiceStart,
    composer: Arc<Composer>,
    config: Config,
}

impl Application {
    /// Binds the configured address (port 0 picks one), opens the database pool and the media
    /// store, and makes the offline music bed if it is missing; nothing is served until
    /// [`Application::run`].
    pub async fn build(config: Config, shutdown: Shutdown) -> Result<Self, StartError> {
        let ports = ServicePorts::new("composer", config.composer.listen, config.composer.metrics_listen);
        let mut start = ServiceStart::new(ports, &config, shutdown).await?;
        let stage_deadline = Duration::from_secs(config.pipeline.stage_timeout_seconds.composition);
        let store = start.media_store(&config, "generated", Owner::Videos, stage_deadline)?;
        let pool = start.pool().clone();
        let scriptgen = Scriptgen::connect_lazy(&config.scriptgen.url, &config.tls).map_err(StartError::other)?;
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
            pool,
            store,
            scriptgen,
            media: config.media.clone(),
            music_bed,
            providers,
            renders: WorkSlots::new(config.composer.render_slots(), "render", "composer.max_concurrent_renders"),
            reviews: Mutex::new(()),
        });
        Ok(Application { start, composer, config })
    }

    pub fn address(&self) -> SocketAddr {
        self.start.address()
    }

    /// Serves until shutdown: health goes NOT_SERVING first, then in-flight calls (renders
    /// included) get the grace period before they are dropped (which cancels their renders).
    pub async fn run(self) -> Result<(), ServeError> {
        let Application { start, composer, config } = self;
        info!(address = %start.address(), "composer listening");
        start
            .serve(
                |gate| ComposerServiceServer::with_interceptor(ComposerApi::new(composer), gate),
                service::peer_policy(&config, &[ORCHESTRATOR_IDENTITY]),
            )
            .await
    }
}
