//! What every service's `Application::build` does first: bind its port, open the database
//! pool, and report readiness from the database. Errors here say what to do about them.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::db::{DbPool, PoolOptions};
use crate::grpc::Readiness;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{service}: cannot listen on {address}: the port is already in use (stop what uses it, or set [{service}] listen / SHORTLINE_{upper}__LISTEN)", upper = service.to_uppercase())]
    PortInUse { service: &'static str, address: SocketAddr },
    #[error("{service}: cannot listen on {address}: {source}")]
    Bind { service: &'static str, address: SocketAddr, source: std::io::Error },
    #[error("database: {0}")]
    Database(#[from] crate::db::DbError),
    #[error("media store: {0}")]
    MediaStore(#[from] crate::media_store::MediaStoreError),
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

/// The pool the config describes. Connections are made on first use, so a service starts (and
/// reports NOT_SERVING) while its database is down, and recovers when it comes back.
pub fn connect_database(config: &Config) -> Result<DbPool, StartError> {
    let options = PoolOptions {
        max_connections: config.database.max_connections as usize,
        connect_timeout: config.database.connect_timeout(),
        acquire_timeout: config.database.acquire_timeout(),
    };
    Ok(DbPool::connect(&config.database_url(), &options)?)
}

/// Ready while the database answers.
pub fn database_readiness(pool: &DbPool) -> Readiness {
    let pool = pool.clone();
    Readiness::new(move || {
        let pool = pool.clone();
        async move { pool.ping().await.is_ok() }
    })
}
