//! Embedded migrations, one directory per backend, runnable from any tokio runtime flavour.

use std::time::Duration;

use diesel::migration::MigrationSource;
use diesel::{Connection, RunQueryDsl, SqliteConnection};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::error::{DbError, DbResult};
use super::pg_connect::{PgAccess, PgConnector};
use super::pool::{create_sqlite_dir, sqlite_path, Backend, Conn, DbPool};

pub const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Serialises concurrent migrators (e.g. several replicas starting at once) on PostgreSQL.
const MIGRATION_LOCK_KEY: i64 = 0x5348_4f52_544c_494e; // "SHORTLIN"

/// Applies the pending migrations and returns the versions applied (empty when up to date).
///
/// diesel's migration harness is synchronous; it runs on a dedicated thread with its own
/// runtime, so this works on a current-thread runtime as well as a multi-thread one.
pub async fn run_pending(url: &str) -> DbResult<Vec<String>> {
    run_pending_with(url, &PgAccess::default()).await
}

/// [`run_pending`] with a PostgreSQL password file and CA (see [`super::pg_connect`]).
pub async fn run_pending_with(url: &str, access: &PgAccess) -> DbResult<Vec<String>> {
    let (url, access) = (url.to_owned(), access.clone());
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("shortline-migrate".into())
        .spawn(move || {
            let _ = sender.send(run_pending_blocking(&url, &access));
        })
        .map_err(|e| DbError::Internal(format!("cannot start the migration thread: {e}")))?;
    receiver.await.map_err(|_| DbError::Internal("the migration thread panicked".into()))?
}

/// [`run_pending`], trying again while the database cannot be reached (the server still
/// starting, the database not created yet), for up to `patience`: a migration Job or init
/// container can start before its database.
pub async fn run_pending_when_reachable(url: &str, access: &PgAccess, patience: Duration) -> DbResult<Vec<String>> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut pause = Duration::from_millis(250);
    loop {
        match run_pending_with(url, access).await {
            Err(DbError::Unavailable(reason)) if tokio::time::Instant::now() + pause < deadline => {
                tracing::warn!(%reason, "database not reachable yet; waiting");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            outcome => return outcome,
        }
    }
}

fn run_pending_blocking(url: &str, access: &PgAccess) -> DbResult<Vec<String>> {
    match Backend::from_url(url)? {
        Backend::Postgres => {
            let connector = PgConnector::new(url, access)?;
            // The connection's I/O task lives on this runtime's worker, so the wrapper below can
            // block this thread on each statement while the task runs.
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .map_err(|e| DbError::Internal(format!("cannot start the migration runtime: {e}")))?;
            let _entered = runtime.enter();
            let established = runtime
                .block_on(connector.establish())
                .map_err(|e| DbError::Unavailable(format!("{}: {e}", super::pool::endpoint_of(url))))?;
            let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(established);
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")).execute(&mut conn)?;
            let applied = apply(&mut conn, POSTGRES);
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")).execute(&mut conn)?;
            applied
        }
        Backend::Sqlite => {
            create_sqlite_dir(sqlite_path(url))?;
            let mut conn =
                SqliteConnection::establish(sqlite_path(url)).map_err(|e| DbError::Unavailable(e.to_string()))?;
            diesel::sql_query("PRAGMA busy_timeout = 10000").execute(&mut conn)?;
            diesel::sql_query("PRAGMA foreign_keys = ON").execute(&mut conn)?;
            // One exclusive transaction around the lot (each migration's own becomes a
            // savepoint), so a second migrator waits, then finds nothing left to apply.
            conn.exclusive_transaction(|conn| apply(conn, SQLITE))
        }
    }
}

fn apply<DB: diesel::backend::Backend>(
    harness: &mut impl MigrationHarness<DB>,
    migrations: EmbeddedMigrations,
) -> DbResult<Vec<String>> {
    harness
        .run_pending_migrations(migrations)
        .map(|versions| versions.into_iter().map(|v| v.to_string()).collect())
        .map_err(|e| DbError::Internal(format!("migration failed: {e}")))
}

/// The database's schema lacks migrations this build carries (never migrated, or migrated by an
/// older release).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the database schema is at version {found}; this build needs version {needed}: run `shortline migrate`")]
pub struct SchemaBehind {
    /// The newest version the database records, or why there is none.
    pub found: String,
    /// The newest version this build carries.
    pub needed: String,
}

/// The versions of this build's migrations for `backend`, oldest first.
pub fn versions(backend: Backend) -> Vec<String> {
    fn of<DB: diesel::backend::Backend>(source: &EmbeddedMigrations) -> Vec<String>
    where
        EmbeddedMigrations: MigrationSource<DB>,
    {
        let migrations = MigrationSource::<DB>::migrations(source).unwrap_or_default();
        let mut versions: Vec<String> = migrations.iter().map(|m| m.name().version().to_string()).collect();
        versions.sort();
        versions
    }
    match backend {
        Backend::Postgres => of::<diesel::pg::Pg>(&POSTGRES),
        Backend::Sqlite => of::<diesel::sqlite::Sqlite>(&SQLITE),
    }
}

/// Whether the database behind `pool` lacks any of this build's migrations, and if so which
/// version it is at. An error only when the database cannot be asked.
pub async fn schema_behind(pool: &DbPool) -> DbResult<Option<SchemaBehind>> {
    let needed = versions(pool.backend());
    let mut pooled = pool.get().await?;
    let applied = match applied_versions(&mut pooled.conn()).await {
        Ok(applied) => applied,
        Err(DbError::Unavailable(reason)) => return Err(DbError::Unavailable(reason)),
        // E.g. a service role without SELECT on the versions (granted by a later migration).
        Err(error) => {
            let found = format!("unknown (its migration records cannot be read: {error})");
            return Ok(Some(SchemaBehind { found, needed: needed.last().cloned().unwrap_or_default() }));
        }
    };
    if needed.iter().all(|version| applied.contains(version)) {
        return Ok(None);
    }
    let found = applied.iter().max().cloned().unwrap_or_else(|| "none (not migrated)".into());
    Ok(Some(SchemaBehind { found, needed: needed.last().cloned().unwrap_or_default() }))
}

/// The versions diesel recorded as applied; none when it never ran here.
async fn applied_versions(conn: &mut Conn<'_>) -> DbResult<Vec<String>> {
    use diesel::sql_types::{Bool, Text};
    let table_exists = match conn.backend() {
        Backend::Postgres => "to_regclass('__diesel_schema_migrations') IS NOT NULL",
        Backend::Sqlite => {
            "EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '__diesel_schema_migrations')"
        }
    };
    let query = diesel::select(diesel::dsl::sql::<Bool>(table_exists));
    let present: bool = crate::dispatch!(conn, c => diesel_async::RunQueryDsl::get_result(query, c).await)?;
    if !present {
        return Ok(Vec::new());
    }
    #[derive(diesel::QueryableByName)]
    struct Applied {
        #[diesel(sql_type = Text)]
        version: String,
    }
    let query = diesel::sql_query("SELECT version FROM __diesel_schema_migrations");
    let rows: Vec<Applied> = crate::dispatch!(conn, c => diesel_async::RunQueryDsl::load(query, c).await)?;
    Ok(rows.into_iter().map(|row| row.version).collect())
}
