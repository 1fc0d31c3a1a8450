//! Connection pools for both backends behind one type. The database URL's scheme picks the
//! backend at run time: `postgres://` / `postgresql://` or `sqlite://PATH` (also `sqlite:PATH`).
//!
//! diesel-async has no async `MultiConnection`, so repository functions take a [`Conn`] (an enum
//! of the two connection types) and run the same diesel query on whichever it holds through
//! [`dispatch!`](crate::dispatch). Queries are written once and compiled for both backends.

use std::sync::Arc;
use std::time::Duration;

use diesel::SqliteConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures::FutureExt;

use super::error::{DbError, DbResult};
use super::pg_connect::{PgAccess, PgConnector};

pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

/// How long a SQLite writer waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn from_url(url: &str) -> DbResult<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else {
            Err(DbError::Unavailable(format!(
                "database url must start with postgres://, postgresql:// or sqlite:// (got `{}`)",
                redact(url)
            )))
        }
    }
}

/// The path part of a `sqlite://PATH` or `sqlite:PATH` URL.
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url)
}

/// Creates the directory a SQLite file goes in (the embedded default lives in `.shortline/`).
pub fn create_sqlite_dir(path: &str) -> DbResult<()> {
    if let Some(parent) = std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| DbError::Unavailable(format!("cannot create {}: {e}", parent.display())))?;
    }
    Ok(())
}

/// A URL with its password hidden, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme_end + 3], &userinfo[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_connections: usize,
    pub connect_timeout: Duration,
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self { max_connections: 10, connect_timeout: Duration::from_secs(5), acquire_timeout: Duration::from_secs(5) }
    }
}

/// The same pool settings for either backend's builder.
///
/// Checkouts are not verified with a query (`RecyclingMethod::Fast`): that would be one more round
/// trip per repository call, and a connection the server closed is already known to be closed
/// (diesel-async drops it on recycle), while one that dies later fails its next statement as
/// `Unavailable`, which callers retry.
macro_rules! build_pool {
    ($manager:expr, $options:expr) => {
        Pool::builder($manager)
            .max_size($options.max_connections)
            .wait_timeout(Some($options.acquire_timeout))
            .create_timeout(Some($options.connect_timeout))
            .recycle_timeout(Some($options.connect_timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| DbError::Internal(format!("cannot build the connection pool: {e}")))
    };
}

/// A pool of connections to one database, of either backend.
#[derive(Clone)]
pub struct DbPool {
    pools: Pools,
    /// Where the database is (`host:port`, or the SQLite file), named by connection errors.
    endpoint: Arc<str>,
}

#[derive(Clone)]
enum Pools {
    Postgres(Pool<AsyncPgConnection>),
    Sqlite(Pool<SqliteConn>),
}

impl std::fmt::Debug for DbPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DbPool").field(&self.backend()).finish()
    }
}

impl DbPool {
    /// Builds a pool for `url`. Connections are made lazily; call [`DbPool::ping`] to check.
    pub fn connect(url: &str, options: &PoolOptions) -> DbResult<Self> {
        Self::connect_with(url, options, &PgAccess::default())
    }

    /// [`DbPool::connect`] with a PostgreSQL password file and CA (see [`super::pg_connect`]).
    pub fn connect_with(url: &str, options: &PoolOptions, access: &PgAccess) -> DbResult<Self> {
        match Backend::from_url(url)? {
            Backend::Postgres => {
                let connector = Arc::new(PgConnector::new(url, access)?);
                let mut config = ManagerConfig::<AsyncPgConnection>::default();
                config.recycling_method = RecyclingMethod::Fast;
                config.custom_setup = Box::new(move |_url| {
                    let connector = connector.clone();
                    async move { connector.establish().await }.boxed()
                });
                let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
                Ok(DbPool { pools: Pools::Postgres(build_pool!(manager, options)?), endpoint: endpoint_of(url).into() })
            }
            Backend::Sqlite => {
                let path = sqlite_path(url).to_owned();
                create_sqlite_dir(&path)?;
                let mut config = ManagerConfig::<SqliteConn>::default();
                config.recycling_method = RecyclingMethod::Fast;
                config.custom_setup = Box::new(|url| establish_sqlite(url.to_owned()).boxed());
                let manager = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(path, config);
                Ok(DbPool { pools: Pools::Sqlite(build_pool!(manager, options)?), endpoint: sqlite_path(url).into() })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self.pools {
            Pools::Postgres(_) => Backend::Postgres,
            Pools::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// A pooled connection; [`DbError::Unavailable`] when the database cannot be reached or the
    /// pool stays exhausted past the acquire timeout.
    pub async fn get(&self) -> DbResult<PooledConn> {
        let unavailable = |error| DbError::Unavailable(format!("{}: {error}", self.endpoint));
        match &self.pools {
            Pools::Postgres(pool) => pool.get().await.map(PooledConn::Postgres).map_err(|e| unavailable(e.to_string())),
            Pools::Sqlite(pool) => pool.get().await.map(PooledConn::Sqlite).map_err(|e| unavailable(e.to_string())),
        }
    }

    /// Connections handed out now, and callers waiting for one (the pool metrics).
    pub fn usage(&self) -> (usize, usize) {
        let status = match &self.pools {
            Pools::Postgres(pool) => pool.status(),
            Pools::Sqlite(pool) => pool.status(),
        };
        (status.size.saturating_sub(status.available), status.waiting)
    }

    /// `SELECT 1` through the pool: the readiness check behind the health service.
    pub async fn ping(&self) -> DbResult<()> {
        let mut pooled = self.get().await?;
        let mut conn = pooled.conn();
        crate::dispatch!(&mut conn, c => c.batch_execute("SELECT 1").await)?;
        Ok(())
    }
}

/// `host:port` of a PostgreSQL URL (`postgres://user:secret@db:5432/name?…` → `db:5432`;
/// without a port, PostgreSQL's 5432), never its credentials.
pub(crate) fn endpoint_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let has_port = host_port.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok());
    if has_port {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    }
}

/// Every SQLite connection enforces foreign keys (off by default in SQLite), waits for a busy
/// writer instead of failing, and uses WAL so readers never block the writer.
async fn establish_sqlite(path: String) -> diesel::ConnectionResult<SqliteConn> {
    let mut conn = SqliteConn::establish(&path).await?;
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
    ))
    .await
    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

/// A connection checked out of a [`DbPool`]; returned to the pool on drop.
#[allow(clippy::large_enum_variant)] // short-lived on the stack; boxing would allocate per checkout
pub enum PooledConn {
    Postgres(Object<AsyncPgConnection>),
    Sqlite(Object<SqliteConn>),
}

impl PooledConn {
    /// The connection, as repository functions take it.
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            PooledConn::Postgres(object) => Conn::Postgres(object),
            PooledConn::Sqlite(object) => Conn::Sqlite(object),
        }
    }
}

/// A borrowed connection of either backend: what every repository function takes, inside a
/// transaction or not.
pub enum Conn<'a> {
    Postgres(&'a mut AsyncPgConnection),
    Sqlite(&'a mut SqliteConn),
}

impl Conn<'_> {
    pub fn backend(&self) -> Backend {
        match self {
            Conn::Postgres(_) => Backend::Postgres,
            Conn::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// Runs `$body` with `$c` bound to the concrete connection (`&mut AsyncPgConnection` or
/// `&mut SqliteConn`); the body is compiled once per backend.
#[macro_export]
macro_rules! dispatch {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::Conn::Postgres(inner) => {
                let $c = &mut **inner;
                $body
            }
            $crate::Conn::Sqlite(inner) => {
                let $c = &mut **inner;
                $body
            }
        }
    };
}

/// Runs a multi-row INSERT built by `$query` from `$rows` (a slice), with `$r` bound to the rows,
/// finished by `$finish` (`execute` or `get_results`). diesel writes SQLite's multi-row `VALUES`
/// only through its synchronous `RunQueryDsl` (diesel-async's wrapper lacks that impl), so on
/// SQLite the statement runs on the connection's own blocking thread: still one statement.
#[macro_export]
macro_rules! insert_rows {
    ($conn:expr, $rows:expr, |$r:ident| $query:expr, $finish:ident) => {
        match $conn {
            $crate::Conn::Postgres(inner) => {
                let $r = $rows;
                $crate::__diesel_async::RunQueryDsl::$finish($query, &mut **inner).await
            }
            $crate::Conn::Sqlite(inner) => {
                let $r = $rows.to_vec();
                inner.spawn_blocking(move |c| $crate::__diesel::RunQueryDsl::$finish($query, c)).await
            }
        }
    };
}

/// Runs `$body` in a transaction, with `$tx` bound to a `&mut Conn` of it. SQLite transactions
/// begin `IMMEDIATE`, so a transaction that reads before it writes cannot fail to upgrade its
/// lock. The body's error type is [`DbError`](crate::DbError).
#[macro_export]
macro_rules! transaction {
    ($conn:expr, |$tx:ident| $body:expr) => {{
        use $crate::__diesel_async::AsyncConnection as _;
        match $conn {
            $crate::Conn::Postgres(inner) => {
                inner
                    .transaction(async |c| -> $crate::DbResult<_> {
                        let mut scoped = $crate::Conn::Postgres(c);
                        let $tx = &mut scoped;
                        $body
                    })
                    .await
            }
            $crate::Conn::Sqlite(inner) => {
                inner
                    .immediate_transaction(async |c| -> $crate::DbResult<_> {
                        let mut scoped = $crate::Conn::Sqlite(c);
                        let $tx = &mut scoped;
                        $body
                    })
                    .await
            }
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_picks_the_backend() {
        assert_eq!(Backend::from_url("postgres://u@h/db").ok(), Some(Backend::Postgres));
        assert_eq!(Backend::from_url("sqlite://data/x.db").ok(), Some(Backend::Sqlite));
        assert!(Backend::from_url("mysql://h/db").is_err());
        assert_eq!(sqlite_path("sqlite://data/x.db"), "data/x.db");
        assert_eq!(sqlite_path("sqlite:/abs/x.db"), "/abs/x.db");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://app:s3cret@db:5432/x"), "postgres://app:***@db:5432/x");
        assert_eq!(redact("postgres://app@db/x"), "postgres://app@db/x");
    }
}

#[cfg(test)]
mod endpoint_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn endpoints_name_host_and_port_without_credentials() {
        assert_eq!(
            endpoint_of("postgres://user:secret@db.internal:6432/shortline?sslmode=require"),
            "db.internal:6432"
        );
        assert_eq!(endpoint_of("postgresql://db/shortline"), "db:5432");
    }

    #[tokio::test]
    async fn an_unreachable_database_is_named_by_host_and_port() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let options = PoolOptions {
            max_connections: 1,
            connect_timeout: std::time::Duration::from_secs(5),
            acquire_timeout: std::time::Duration::from_secs(5),
        };
        let pool = DbPool::connect(&format!("postgres://user:secret@127.0.0.1:{port}/db"), &options).unwrap();
        let error = pool.get().await.err().unwrap();
        let message = error.to_string();
        assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }
}
