//! A fresh database per test on either backend.
//!
//! PostgreSQL: a template database is migrated once (guarded by an advisory lock, since nextest
//! runs tests as parallel processes) and each test gets `CREATE DATABASE .. TEMPLATE ..`, dropped
//! afterwards. SQLite: a migrated file in a fresh temporary directory. Logs show with TEST_LOG=1.

use std::sync::Once;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use shortline_db::{self as db, DbPool, PoolOptions, PooledConn};

/// The PostgreSQL server tests use; its `postgres` database must accept `CREATE DATABASE`.
pub fn postgres_server_url() -> String {
    std::env::var("SHORTLINE_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn init_tracing() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
            let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        }
    });
}

/// A database of its own for one test, migrated, dropped (PostgreSQL) or deleted (SQLite) on drop.
pub struct TestDb {
    pub url: String,
    pub pool: DbPool,
    cleanup: Cleanup,
}

enum Cleanup {
    DropPostgres { name: String },
    SqliteDir(#[allow(dead_code)] tempfile::TempDir),
}

impl TestDb {
    pub async fn postgres() -> TestDb {
        init_tracing();
        let template = ensure_postgres_template().await;
        let name = format!("shortline_test_{}", uuid::Uuid::new_v4().simple());
        admin_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}")).await;
        let url = format!("{}/{name}", postgres_server_url());
        let pool = DbPool::connect(&url, &PoolOptions::default()).expect("pool");
        TestDb { url, pool, cleanup: Cleanup::DropPostgres { name } }
    }

    /// An empty PostgreSQL database: no tables, no migrations applied.
    pub async fn postgres_unmigrated() -> TestDb {
        init_tracing();
        let name = format!("shortline_test_{}", uuid::Uuid::new_v4().simple());
        admin_execute(&format!("CREATE DATABASE {name}")).await;
        let url = format!("{}/{name}", postgres_server_url());
        let pool = DbPool::connect(&url, &PoolOptions::default()).expect("pool");
        TestDb { url, pool, cleanup: Cleanup::DropPostgres { name } }
    }

    pub async fn sqlite() -> TestDb {
        init_tracing();
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("shortline.db").display());
        db::migrations::run_pending(&url).await.expect("migrate sqlite");
        let pool = DbPool::connect(&url, &PoolOptions::default()).expect("pool");
        TestDb { url, pool, cleanup: Cleanup::SqliteDir(dir) }
    }

    pub async fn conn(&self) -> PooledConn {
        self.pool.get().await.expect("connection")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::DropPostgres { name } = &self.cleanup {
            let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            // Drop runs inside the test's runtime; a thread with its own runtime can block on it.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                runtime.block_on(admin_execute(&statement));
            })
            .join();
        }
    }
}

pub async fn admin_execute(statement: &str) {
    let url = format!("{}/postgres", postgres_server_url());
    let mut conn = AsyncPgConnection::establish(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {url} (set SHORTLINE_TEST_PG_URL): {e}"));
    conn.batch_execute(statement).await.unwrap_or_else(|e| panic!("`{statement}` failed: {e}"));
}

/// The migrated template's name changes whenever the migration set changes.
async fn ensure_postgres_template() -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../db/migrations/postgres");
    let mut files: Vec<_> = files_under(&dir);
    files.sort();
    for file in files {
        file.hash(&mut hasher);
        std::fs::read(&file).expect("read migration").hash(&mut hasher);
    }
    let template = format!("shortline_template_{:x}", hasher.finish());

    let url = format!("{}/postgres", postgres_server_url());
    let mut conn = AsyncPgConnection::establish(&url).await.expect("connect to postgres");
    conn.batch_execute("SELECT pg_advisory_lock(727272)").await.expect("lock");
    let exists: bool = {
        use diesel_async::RunQueryDsl;
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
            "EXISTS (SELECT 1 FROM pg_database WHERE datname = '{template}')"
        )))
        .get_result(&mut conn)
        .await
        .expect("query pg_database")
    };
    if !exists {
        let building = format!("{template}_building");
        conn.batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)")).await.expect("drop leftover");
        conn.batch_execute(&format!("CREATE DATABASE {building}")).await.expect("create template");
        db::migrations::run_pending(&format!("{}/{building}", postgres_server_url())).await.expect("migrate template");
        conn.batch_execute(&format!("ALTER DATABASE {building} RENAME TO {template}")).await.expect("rename template");
    }
    conn.batch_execute("SELECT pg_advisory_unlock(727272)").await.expect("unlock");
    template
}

/// Every file under `dir`, at any depth (none when `dir` does not exist).
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path))
        } else {
            files.push(path)
        }
    }
    files
}

/// Generates a `postgres` and a `sqlite` test for each named `async fn(TestDb)` (the calling
/// crate needs tokio with its `macros` feature).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::TestDb::postgres().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::TestDb::sqlite().await).await
            }
        }
    )+};
}

/// Rows in `table` (test bookkeeping only).
pub async fn count_rows(conn: &mut db::Conn<'_>, table: &str) -> i64 {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let query = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"));
    let count: Count = shortline_db::dispatch!(conn, c => query.get_result(c).await).expect("count");
    count.n
}
