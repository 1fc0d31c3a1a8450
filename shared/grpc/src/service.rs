//! What every service's `Application::build` does first: bind its port, open the database
//! pool, and report readiness from the database (reachable, with the schema this build needs).
//! Errors here say what to do about them.

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};

use tokio::net::TcpListener;

use crate::auth::Policy;
use crate::tls::{ReloadingTls, TlsFiles};
use crate::{Readiness, Shutdown};
use shortline_config::Config;
use shortline_db::{migrations, DbPool, PoolOptions};
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

/// Binds `address` (port 0 picks a free port; the listener knows which).
pub async fn bind(service: &'static str, address: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(address).await.map_err(|source| match source.kind() {
        std::io::ErrorKind::AddrInUse => StartError::PortInUse { service, address },
        _ => StartError::Bind { service, address, source },
    })
}

/// The server's TLS when `[tls]` names a certificate (read now, so bad files stop the start).
pub fn server_tls(config: &Config) -> Result<Option<Arc<ReloadingTls>>, StartError> {
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
pub fn connect_database(config: &Config) -> Result<DbPool, StartError> {
    let options = PoolOptions {
        max_connections: config.database.max_connections as usize,
        connect_timeout: config.database.connect_timeout(),
        acquire_timeout: config.database.acquire_timeout(),
    };
    Ok(DbPool::connect_with(&config.database_url(), &options, &shortline_db::PgAccess::from(&config.database))?)
}

/// Serves `/metrics` on `address` when one is configured (see [`shortline_telemetry::metrics`]); each scrape
/// first reads the pool's usage and, with `count_jobs` (the orchestrator), the jobs by status.
pub async fn start_metrics(
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
