//! Embedded migrations, one directory per backend, runnable from any tokio runtime flavour.

use std::time::Duration;

use diesel::{Connection, RunQueryDsl, SqliteConnection};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::error::{DbError, DbResult};
use super::pool::{create_sqlite_dir, sqlite_path, Backend};

pub const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Serialises concurrent migrators (e.g. several replicas starting at once) on PostgreSQL.
const MIGRATION_LOCK_KEY: i64 = 0x5348_4f52_544c_494e; // "SHORTLIN"

/// Applies the pending migrations and returns the versions applied (empty when up to date).
///
/// diesel's migration harness is synchronous; it runs on a dedicated thread with its own
/// runtime, so this works on a current-thread runtime as well as a multi-thread one.
pub async fn run_pending(url: &str) -> DbResult<Vec<String>> {
    let url = url.to_owned();
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("shortline-migrate".into())
        .spawn(move || {
            let _ = sender.send(run_pending_blocking(&url));
        })
        .map_err(|e| DbError::Internal(format!("cannot start the migration thread: {e}")))?;
    receiver.await.map_err(|_| DbError::Internal("the migration thread panicked".into()))?
}

/// [`run_pending`], trying again while the database cannot be reached (the server still
/// starting, the database not created yet), for up to `patience`: a migration Job or init
/// container can start before its database.
pub async fn run_pending_when_reachable(url: &str, patience: Duration) -> DbResult<Vec<String>> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut pause = Duration::from_millis(250);
    loop {
        match run_pending(url).await {
            Err(DbError::Unavailable(reason)) if tokio::time::Instant::now() + pause < deadline => {
                tracing::warn!(%reason, "database not reachable yet; waiting");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            outcome => return outcome,
        }
    }
}

fn run_pending_blocking(url: &str) -> DbResult<Vec<String>> {
    match Backend::from_url(url)? {
        Backend::Postgres => {
            let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(url)
                .map_err(|e| DbError::Unavailable(e.to_string()))?;
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
