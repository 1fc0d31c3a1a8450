//! What every service's `Application` does: at start ([`ServiceStart::new`]) bind its port, open
//! the database pool, run the metrics listener and read the server TLS (and, for a service that
//! writes media, open the media store: [`ServiceStart::media_store`]); to serve
//! ([`ServiceStart::serve`]) put its API behind the schema gate (readiness from the database:
//! reachable, with the schema this build needs) and its access policy, and sweep its media.
//! Errors here say what to do about them.

use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::codegen::Service;
use tonic::server::NamedService;

use crate::auth::Policy;
use crate::tls::{ReloadingTls, TlsFiles};
use crate::{GrpcServer, Readiness, ServeError, Shutdown};
use shortline_config::Config;
use shortline_db::{migrations, DbPool, PoolOptions};
use shortline_media::sweep::{Owner, Sweep};
use shortline_media::MediaStore;
use shortline_telemetry::metrics;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{service}: cannot listen on {address}: the port is already in use (stop what uses it, or set [{service}] listen / SHORTLINE_{upper}__LISTEN)", upper = service.to_uppercase())]
    PortInUse { service: &'static str, address: SocketAddr },
    #[error("{service}: cannot listen on {address}: {source}")]
    Bind { service: &'static str, address: SocketAddr, source: std::io::Error },
    #[error("database: {0}")]
    Database(#[from] shortline_db::DbError),
    #[error("media store: {0}")]
    MediaStore(#[from] shortline_media::MediaStoreError),
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("{0}")]
    Other(String),
}

impl StartError {
    /// [`StartError::Other`] saying what `error` says, for `map_err`.
    pub fn other(error: impl Display) -> Self {
        StartError::Other(error.to_string())
    }
}

/// What a service has once it started: its port bound, its database pool (connecting on first
/// use), its metrics listener running (when `metrics_listen` is set) and its server TLS read.
/// The service builds its own parts on them, then [`ServiceStart::serve`]s.
pub struct ServiceStart {
    listener: TcpListener,
    address: SocketAddr,
    pool: DbPool,
    tls: Option<Arc<ReloadingTls>>,
    shutdown: Shutdown,
    /// The sweep of the service's part of the media store and how often it runs while the
    /// service serves, for a service that writes media ([`ServiceStart::media_store`]).
    sweep: Option<(Sweep, Duration)>,
    /// How long in-flight calls may finish after shutdown: `pipeline.shutdown_grace_seconds`
    /// unless [`ServiceStart::finish_before_draining`] says otherwise.
    drain_timeout: Duration,
    /// What must complete after shutdown starts before the server stops accepting calls.
    finish_first: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

/// Where a service listens, and what its metrics port reports besides the pool.
#[derive(Debug, Clone, Copy)]
pub struct ServicePorts {
    /// The service's name in errors and metrics, e.g. "scriptgen".
    pub service: &'static str,
    /// Its gRPC address (port 0 picks a free port; [`ServiceStart::address`] tells which).
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    /// Whether each metrics scrape also counts the jobs by status (the orchestrator's).
    pub count_jobs: bool,
}

impl ServicePorts {
    /// `service` on `listen`, its metrics (of the pool only) on `metrics_listen` when it is set.
    pub fn new(service: &'static str, listen: SocketAddr, metrics_listen: Option<SocketAddr>) -> Self {
        ServicePorts { service, listen, metrics_listen, count_jobs: false }
    }
}

impl ServiceStart {
    /// Binds the port, opens the pool, starts the metrics listener and reads the TLS files, in
    /// that order; nothing is served until [`ServiceStart::serve`].
    pub async fn new(ports: ServicePorts, config: &Config, shutdown: Shutdown) -> Result<Self, StartError> {
        let ServicePorts { service, listen, metrics_listen, count_jobs } = ports;
        let listener = bind(service, listen).await?;
        let address = listener.local_addr().map_err(StartError::other)?;
        let pool = connect_database(config)?;
        start_metrics(service, metrics_listen, &pool, count_jobs, &shutdown).await?;
        let tls = server_tls(config)?;
        let drain_timeout = config.pipeline.shutdown_grace();
        Ok(ServiceStart { listener, address, pool, tls, shutdown, sweep: None, drain_timeout, finish_first: None })
    }

    /// The media store the config describes, for a service that writes under `prefix` the files
    /// rows of `owner` record. While the service serves, every `media.sweep_interval` removes
    /// the files there that no row records and that are older than twice `stage_deadline` (the
    /// deadline of the stage that writes them), e.g. those of calls dropped half way.
    pub fn media_store(
        &mut self,
        config: &Config,
        prefix: &'static str,
        owner: Owner,
        stage_deadline: Duration,
    ) -> Result<MediaStore, StartError> {
        let store = MediaStore::from_config(config)?;
        let sweep = Sweep { store: store.clone(), pool: self.pool.clone(), prefix, owner, stage_deadline };
        self.sweep = Some((sweep, config.media.sweep_interval()));
        Ok(store)
    }

    /// The address the service listens on (the real port when the configured one was 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// After shutdown starts, keep answering (health NOT_SERVING) until `done` completes (e.g.
    /// the orchestrator's engine has finished or released its jobs), then give the calls still
    /// in flight `drain_timeout` (see [`GrpcServer::stop_accepting_after`]).
    pub fn finish_before_draining(&mut self, done: impl Future<Output = ()> + Send + 'static, drain_timeout: Duration) {
        self.finish_first = Some(Box::pin(done));
        self.drain_timeout = drain_timeout;
    }

    /// Serves the API until shutdown: health goes NOT_SERVING first, then in-flight calls get
    /// the drain timeout (see [`GrpcServer::serve`]). `gated` puts the [`SchemaGate`] in front of
    /// the API (`|gate| XServiceServer::with_interceptor(api, gate)`), which also says when the
    /// service is ready; `policy`, when there is one, admits the callers; health reports the
    /// service under its gRPC name.
    pub async fn serve<S, B>(
        self,
        gated: impl FnOnce(SchemaGate) -> S,
        policy: Option<Policy>,
    ) -> Result<(), ServeError>
    where
        S: Service<http::Request<Body>, Response = http::Response<B>, Error = std::convert::Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        B: tonic::codegen::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<tonic::codegen::StdError>,
    {
        let ServiceStart { listener, pool, tls, shutdown, sweep, drain_timeout, finish_first, .. } = self;
        let sweeping = sweep.map(|(sweep, interval)| tokio::spawn(sweep.every(interval, shutdown.token())));
        let gate = SchemaGate::new(&pool);
        let readiness = gate.readiness();
        let api = gated(gate);
        let routes = match policy {
            Some(policy) => tonic::service::Routes::new(crate::auth::Guard::new(api, policy)),
            None => tonic::service::Routes::new(api),
        };
        let mut server =
            GrpcServer::new(routes).health_service(S::NAME).readiness(readiness).tls(tls).drain_timeout(drain_timeout);
        if let Some(done) = finish_first {
            server = server.stop_accepting_after(done);
        }
        let served = server.serve(listener, shutdown).await;
        if let Some(sweeping) = sweeping {
            sweeping.abort();
        }
        served
    }
}

/// Binds `address` (port 0 picks a free port; the listener knows which).
async fn bind(service: &'static str, address: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(address).await.map_err(|source| match source.kind() {
        std::io::ErrorKind::AddrInUse => StartError::PortInUse { service, address },
        _ => StartError::Bind { service, address, source },
    })
}

/// The server's TLS when `[tls]` names a certificate (read now, so bad files stop the start).
fn server_tls(config: &Config) -> Result<Option<Arc<ReloadingTls>>, StartError> {
    match TlsFiles::from_config(&config.tls)? {
        Some(files) => Ok(Some(Arc::new(ReloadingTls::new(files)?))),
        None => Ok(None),
    }
}

/// Whom a service that only other services call admits: with a TLS server that verifies client
/// certificates (`tls.ca_file`), only `identities`; otherwise `None` (no check: plaintext on
/// loopback, the embedded mode).
pub fn peer_policy(config: &Config, identities: &'static [&'static str]) -> Option<Policy> {
    (config.tls.cert_file.is_some() && config.tls.ca_file.is_some()).then_some(Policy::Services { identities })
}

/// The pool the config describes. Connections are made on first use, so a service starts (and
/// reports NOT_SERVING) while its database is down, and recovers when it comes back.
fn connect_database(config: &Config) -> Result<DbPool, StartError> {
    let options = PoolOptions {
        max_connections: config.database.max_connections as usize,
        connect_timeout: config.database.connect_timeout(),
        acquire_timeout: config.database.acquire_timeout(),
    };
    Ok(DbPool::connect_with(&config.database_url(), &options, &shortline_db::PgAccess::from(&config.database))?)
}

/// Serves `/metrics` on `address` when one is configured (see [`shortline_telemetry::metrics`]); each scrape
/// first reads the pool's usage and, with `count_jobs` (the orchestrator), the jobs by status.
async fn start_metrics(
    service: &'static str,
    address: Option<SocketAddr>,
    pool: &DbPool,
    count_jobs: bool,
    shutdown: &Shutdown,
) -> Result<(), StartError> {
    let Some(address) = address else { return Ok(()) };
    let pool = pool.clone();
    let refresh = metrics::Refresh::new(move || {
        let pool = pool.clone();
        async move { refresh_database_gauges(&pool, count_jobs).await }
    });
    metrics::spawn_server(address, refresh, shutdown.token()).await.map_err(|source| StartError::Bind {
        service,
        address,
        source,
    })?;
    Ok(())
}

async fn refresh_database_gauges(pool: &DbPool, count_jobs: bool) {
    let metrics = metrics::global();
    let (in_use, waiting) = pool.usage();
    metrics.pool_usage(in_use, waiting);
    if !count_jobs {
        return;
    }
    let counted = async {
        let mut pooled = pool.get().await?;
        shortline_db::jobs::count_by_status(&mut pooled.conn()).await
    };
    match counted.await {
        Ok(counts) => {
            for status in shortline_db::JobStatus::ALL {
                let count = counts.iter().find(|(name, _)| name == status.as_str()).map_or(0, |(_, n)| *n);
                metrics.jobs.get_or_create(&metrics::StatusLabels { status: status.as_str().to_owned() }).set(count);
            }
        }
        // The gauges keep their last values; the scrape still answers.
        Err(error) => tracing::debug!(%error, "cannot count jobs for the metrics"),
    }
}

/// Holds a service's RPCs while its database's schema lacks migrations this build carries:
/// health is NOT_SERVING and every call answers UNAVAILABLE naming the version found and the one
/// needed, until a readiness probe finds the schema migrated (no restart needed). Until the
/// first probe has looked, calls pass.
#[derive(Clone)]
pub struct SchemaGate {
    pool: DbPool,
    /// Why calls are refused; `None` while the schema is current.
    behind: Arc<RwLock<Option<String>>>,
}

impl SchemaGate {
    pub fn new(pool: &DbPool) -> Self {
        SchemaGate { pool: pool.clone(), behind: Arc::new(RwLock::new(None)) }
    }

    /// Ready while the database answers and its schema is current; each probe updates the gate.
    pub fn readiness(&self) -> Readiness {
        let gate = self.clone();
        Readiness::new(move || {
            let gate = gate.clone();
            async move { gate.probe().await }
        })
    }

    async fn probe(&self) -> bool {
        match migrations::schema_behind(&self.pool).await {
            Ok(behind) => {
                let ready = behind.is_none();
                let refusal = behind.map(|behind| behind.to_string());
                let mut held = self.behind.write().unwrap_or_else(PoisonError::into_inner);
                if *held != refusal {
                    match &refusal {
                        Some(reason) => tracing::warn!(%reason, "database schema is behind: refusing calls"),
                        None if held.is_some() => tracing::info!("database schema is current: serving calls"),
                        None => {}
                    }
                    *held = refusal;
                }
                ready
            }
            // The database is away: not ready, and calls fail on their own.
            Err(_) => false,
        }
    }
}

impl tonic::service::Interceptor for SchemaGate {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        match &*self.behind.read().unwrap_or_else(PoisonError::into_inner) {
            Some(reason) => Err(tonic::Status::unavailable(reason.clone())),
            None => Ok(request),
        }
    }
}
