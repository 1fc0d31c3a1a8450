//! What every benchmark stands on: a fresh database (a new PostgreSQL database, dropped at the
//! end, or a SQLite file in a temporary directory), the three real services as separate processes
//! of this very executable (`shortline serve <service>`, port 0, the `listening on` line tells
//! the address), and what `/proc` says about their memory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context as _};
use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use serde::Serialize;
use shortline_db::{self as db, Backend, DbPool, PoolOptions};
use shortline_proto::v1::composer_service_client::ComposerServiceClient;
use shortline_proto::v1::orchestrator_service_client::OrchestratorServiceClient;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint};

/// The default server when `--database postgres` names no URL (the test suite's).
pub const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The database a benchmark runs on.
pub struct BenchDb {
    /// What the services are given.
    pub url: String,
    pub backend: Backend,
    /// PostgreSQL: (a URL of the server's maintenance database, the created database's name).
    created: Option<(String, String)>,
}

/// Runs `measure` on a fresh database of `spec` (see [`BenchDb::create`]) in a fresh temporary
/// directory, and drops the database afterwards whether the measurement succeeded or not.
pub async fn on_fresh_database<T>(
    spec: &str,
    measure: impl AsyncFnOnce(&BenchDb, &Path) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let dir = tempfile::Builder::new().prefix("shortline-bench-").tempdir()?;
    let db = BenchDb::create(spec, dir.path()).await?;
    let outcome = measure(&db, dir.path()).await;
    let dropped = db.drop_database().await;
    let report = outcome?;
    dropped?;
    Ok(report)
}

impl BenchDb {
    /// `spec`: `sqlite` (a file under `dir`), `sqlite://PATH`, `postgres` (the default server) or
    /// `postgres://…` (a server: a fresh database is created on it and migrated).
    pub async fn create(spec: &str, dir: &Path) -> anyhow::Result<BenchDb> {
        let spec = match spec {
            "sqlite" => format!("sqlite://{}", dir.join("bench.db").display()),
            "postgres" | "postgresql" | "pg" => DEFAULT_POSTGRES.to_owned(),
            other => other.to_owned(),
        };
        let backend = Backend::from_url(&spec)?;
        let db = match backend {
            Backend::Sqlite => {
                db::pool::create_sqlite_dir(db::pool::sqlite_path(&spec))?;
                BenchDb { url: spec, backend, created: None }
            }
            Backend::Postgres => {
                let name = format!("shortline_bench_{}", uuid::Uuid::new_v4().simple());
                let admin = with_database(&spec, database_of(&spec).unwrap_or("postgres"));
                admin_execute(&admin, &format!("CREATE DATABASE {name}")).await?;
                BenchDb { url: with_database(&spec, &name), backend, created: Some((admin, name)) }
            }
        };
        db::migrations::run_pending(&db.url)
            .await
            .with_context(|| format!("migrating {}", db::pool::redact(&db.url)))?;
        Ok(db)
    }

    /// A small pool of the bench's own (for seeding and reading timestamps).
    pub fn pool(&self) -> anyhow::Result<DbPool> {
        let options = PoolOptions { max_connections: 4, ..PoolOptions::default() };
        Ok(DbPool::connect(&self.url, &options)?)
    }

    /// The created database's name (PostgreSQL).
    pub fn postgres_name(&self) -> Option<&str> {
        self.created.as_ref().map(|(_, name)| name.as_str())
    }

    /// Drops the created PostgreSQL database (the SQLite file goes with its directory).
    pub async fn drop_database(self) -> anyhow::Result<()> {
        if let Some((admin, name)) = self.created {
            admin_execute(&admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
        }
        Ok(())
    }

    /// The server's transaction counters of this database (PostgreSQL only).
    pub async fn xact_counters(&self) -> anyhow::Result<Option<XactCounters>> {
        let Some((_, name)) = &self.created else { return Ok(None) };
        let mut conn = AsyncPgConnection::establish(&self.url).await?;
        conn.batch_execute("SELECT pg_stat_clear_snapshot()").await?;
        let row: XactCounters = diesel::sql_query(format!(
            "SELECT xact_commit::BIGINT AS commits, xact_rollback::BIGINT AS rollbacks FROM pg_stat_database WHERE datname = '{name}'"
        ))
        .get_result(&mut conn)
        .await?;
        Ok(Some(row))
    }

    /// Whether `pg_stat_statements` works in this database, and if so resets it. It needs
    /// `shared_preload_libraries = 'pg_stat_statements'` on the server; without that the
    /// extension installs but its view errors.
    pub async fn reset_pg_stat_statements(&self) -> Result<(), String> {
        if self.created.is_none() {
            return Err("not PostgreSQL".into());
        }
        let attempt = async {
            let mut conn = AsyncPgConnection::establish(&self.url).await?;
            conn.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").await?;
            conn.batch_execute("SELECT pg_stat_statements_reset()").await?;
            Ok::<_, anyhow::Error>(())
        };
        attempt.await.map_err(|e| e.to_string())
    }

    /// `pg_stat_statements` of this database: total calls and the most frequent statements.
    pub async fn pg_stat_statements(&self) -> anyhow::Result<(i64, Vec<(i64, String)>)> {
        let Some((_, name)) = &self.created else { bail!("not PostgreSQL") };
        let mut conn = AsyncPgConnection::establish(&self.url).await?;
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = BigInt)]
            calls: i64,
            #[diesel(sql_type = Text)]
            query: String,
        }
        let rows: Vec<Row> = diesel::sql_query(format!(
            "SELECT s.calls::BIGINT AS calls, s.query FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
             WHERE d.datname = '{name}' ORDER BY s.calls DESC"
        ))
        .load(&mut conn)
        .await?;
        let total = rows.iter().map(|r| r.calls).sum();
        Ok((total, rows.into_iter().take(15).map(|r| (r.calls, r.query)).collect()))
    }
}

#[derive(Debug, Clone, Copy, QueryableByName, Serialize)]
pub struct XactCounters {
    #[diesel(sql_type = BigInt)]
    pub commits: i64,
    #[diesel(sql_type = BigInt)]
    pub rollbacks: i64,
}

async fn admin_execute(url: &str, statement: &str) -> anyhow::Result<()> {
    let mut conn = AsyncPgConnection::establish(url)
        .await
        .with_context(|| format!("cannot reach PostgreSQL at {}", db::pool::redact(url)))?;
    conn.batch_execute(statement).await.with_context(|| format!("`{statement}` failed"))?;
    Ok(())
}

/// The database named in a `postgres://` URL, if any.
pub fn database_of(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let path = &rest[rest.find('/')? + 1..];
    let name = path.split('?').next().unwrap_or_default();
    (!name.is_empty()).then_some(name)
}

/// The URL with its database replaced by (or set to) `name`, query parameters kept.
pub fn with_database(url: &str, name: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_owned() };
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let authority_end = base[scheme_end..].find('/').map(|i| scheme_end + i).unwrap_or(base.len());
    format!("{}/{name}{query}", &base[..authority_end])
}

/// `host:port` of a `postgres://` URL (default port 5432).
pub fn postgres_host_port(url: &str) -> Option<String> {
    let rest = &url[url.find("://")? + 3..];
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit('@').next()?;
    if host_port.is_empty() {
        return None;
    }
    Some(if host_port.contains(':') { host_port.to_owned() } else { format!("{host_port}:5432") })
}

// ---------------------------------------------------------------------------------------------
// Service processes
// ---------------------------------------------------------------------------------------------

/// What `/proc/<pid>/status` says about a process's memory, in KiB.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the peak resident size so far.
    pub peak_kib: u64,
}

pub fn memory_of(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    Memory { rss_kib: field("VmRSS:"), peak_kib: field("VmHWM:") }
}

// ---------------------------------------------------------------------------------------------
// CPU time
// ---------------------------------------------------------------------------------------------

/// Clock ticks per second of `/proc/*/stat` times (`getconf CLK_TCK`; 100 on Linux in practice).
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// User + system CPU ticks a process (all its threads) has used; 0 if it is gone.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name is in parentheses and may hold spaces: fields count from the last `)`.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { return 0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After `)`: state is field 3, utime 14 and stime 15 of the whole line.
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(14) + field(15)
}

/// CPU ticks of the PostgreSQL backends serving database `name`, by pid (their process titles
/// read `postgres: user name host(port) …`).
pub fn postgres_backend_ticks(name: &str) -> std::collections::HashMap<u32, u64> {
    let mut out = std::collections::HashMap::new();
    let needle = format!(" {name} ");
    let Ok(entries) = std::fs::read_dir("/proc") else { return out };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let title = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if title.starts_with("postgres:") && title.contains(&needle) {
            out.insert(pid, cpu_ticks(pid));
        }
    }
    out
}

/// (busy, total) ticks of the whole machine since boot, from `/proc/stat`.
pub fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let values: Vec<u64> =
        stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: u64 = values.iter().take(8).sum();
    // idle + iowait are fields 4 and 5.
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// The copy of this executable the services are started from (see [`pin_executable`]).
static EXECUTABLE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Copies this executable into `dir` and starts every service from the copy: a build that
/// replaces `target/*/shortline` during a long run (other work on the same checkout) then
/// neither breaks the run nor mixes two versions of the code in one set of figures.
pub fn pin_executable(dir: &Path) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let copy = dir.join("shortline");
    std::fs::copy(&exe, &copy).with_context(|| format!("copying {} to {}", exe.display(), copy.display()))?;
    let _ = EXECUTABLE.set(copy);
    Ok(())
}

/// One `shortline serve <service>` process; killed if dropped while running.
pub struct ServiceProcess {
    pub name: &'static str,
    pub address: SocketAddr,
    pub pid: u32,
    child: Child,
}

impl ServiceProcess {
    /// Starts `<this executable> serve <name>` with `env` added, its stderr going to
    /// `<log_dir>/<name>.log`, and waits for its `listening on` line.
    pub async fn spawn(name: &'static str, env: &[(String, String)], log_dir: &Path) -> anyhow::Result<ServiceProcess> {
        let exe = match EXECUTABLE.get() {
            Some(pinned) => pinned.clone(),
            None => std::env::current_exe().context("cannot find this executable")?,
        };
        let log_path = log_dir.join(format!("{name}.log"));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path)?;
        let mut child = Command::new(exe)
            .arg("serve")
            .arg(name)
            .envs(env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start `shortline serve {name}`"))?;
        let pid = child.id().context("the service exited at once")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let address = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some((_, address)) = line.split_once(" listening on ") {
                    return Ok(address.trim().parse::<SocketAddr>()?);
                }
            }
            bail!("{name} exited before listening; see {}", log_path.display())
        })
        .await
        .with_context(|| format!("{name} did not start within 60 s; see {}", log_path.display()))??;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(ServiceProcess { name, address, pid, child })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn memory(&self) -> Memory {
        memory_of(self.pid)
    }

    /// SIGTERM, then SIGKILL after `grace`; waits for the exit.
    pub async fn stop(mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status().await;
        if tokio::time::timeout(grace, self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// Which services to start and how.
#[derive(Debug, Clone)]
pub struct SystemSpec {
    pub database_url: String,
    /// Data directory (SQLite default, media store under `media/`).
    pub dir: PathBuf,
    /// `null` or `offline`.
    pub providers: &'static str,
    /// Settings for every service (after the defaults above, before the wiring).
    pub env: Vec<(String, String)>,
    /// The database URL each service is given instead of `database_url`, by service (e.g. a
    /// counting proxy's).
    pub database_url_of: Option<[String; 3]>,
    pub orchestrator: bool,
}

impl SystemSpec {
    pub fn new(database_url: &str, dir: &Path, providers: &'static str) -> SystemSpec {
        SystemSpec {
            database_url: database_url.to_owned(),
            dir: dir.to_owned(),
            providers,
            env: Vec::new(),
            database_url_of: None,
            orchestrator: true,
        }
    }

    pub fn env(mut self, key: &str, value: impl ToString) -> SystemSpec {
        self.env.push((key.to_owned(), value.to_string()));
        self
    }

    /// `KEY=VALUE` settings from the command line (`--service-env`), for every service.
    pub fn service_env(mut self, pairs: &[String]) -> anyhow::Result<SystemSpec> {
        for pair in pairs {
            let Some((key, value)) = pair.split_once('=') else { bail!("--service-env wants KEY=VALUE, got `{pair}`") };
            self.env.push((key.trim().to_owned(), value.to_owned()));
        }
        Ok(self)
    }

    fn base_env(&self, service: usize) -> Vec<(String, String)> {
        let url = match &self.database_url_of {
            Some(urls) => urls[service].clone(),
            None => self.database_url.clone(),
        };
        let mut env: Vec<(String, String)> = [
            ("SHORTLINE_DATABASE__URL", url),
            ("SHORTLINE_DATA_DIR", self.dir.display().to_string()),
            ("SHORTLINE_MEDIA__ROOT", self.dir.join("media").display().to_string()),
            ("SHORTLINE_PROVIDERS__SET", self.providers.to_owned()),
            ("SHORTLINE_PIPELINE__TREND_REFRESH_INTERVAL_HOURS", "0".to_owned()),
            ("SHORTLINE_PIPELINE__SHUTDOWN_GRACE_SECONDS", "2".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(self.env.iter().cloned());
        env
    }
}

/// The services of one benchmark run.
pub struct System {
    pub scriptgen: ServiceProcess,
    pub composer: ServiceProcess,
    pub orchestrator: Option<ServiceProcess>,
}

impl System {
    /// Starts scriptgen, then composer (pointed at scriptgen), then the orchestrator (pointed at
    /// both), each on a free port.
    pub async fn start(spec: &SystemSpec) -> anyhow::Result<System> {
        let log_dir = spec.dir.join("logs");
        std::fs::create_dir_all(&log_dir)?;
        let any = "127.0.0.1:0".to_owned();
        let mut env = spec.base_env(1);
        env.push(("SHORTLINE_SCRIPTGEN__LISTEN".into(), any.clone()));
        let scriptgen = ServiceProcess::spawn("scriptgen", &env, &log_dir).await?;
        let mut env = spec.base_env(2);
        env.push(("SHORTLINE_COMPOSER__LISTEN".into(), any.clone()));
        env.push(("SHORTLINE_SCRIPTGEN__URL".into(), scriptgen.url()));
        let composer = ServiceProcess::spawn("composer", &env, &log_dir).await?;
        let orchestrator = if spec.orchestrator {
            let mut env = spec.base_env(0);
            env.push(("SHORTLINE_ORCHESTRATOR__LISTEN".into(), any));
            env.push(("SHORTLINE_SCRIPTGEN__URL".into(), scriptgen.url()));
            env.push(("SHORTLINE_COMPOSER__URL".into(), composer.url()));
            Some(ServiceProcess::spawn("orchestrator", &env, &log_dir).await?)
        } else {
            None
        };
        Ok(System { scriptgen, composer, orchestrator })
    }

    /// The processes, orchestrator first.
    pub fn processes(&self) -> Vec<&ServiceProcess> {
        self.orchestrator.iter().chain([&self.scriptgen, &self.composer]).collect()
    }

    pub fn memory(&self) -> Vec<(&'static str, Memory)> {
        self.processes().into_iter().map(|p| (p.name, p.memory())).collect()
    }

    pub async fn orchestrator_client(&self) -> anyhow::Result<OrchestratorServiceClient<Channel>> {
        let orchestrator = self.orchestrator.as_ref().context("the orchestrator was not started")?;
        Ok(OrchestratorServiceClient::new(channel(&orchestrator.url()).await?)
            .max_decoding_message_size(64 * 1024 * 1024))
    }

    pub async fn composer_client(&self) -> anyhow::Result<ComposerServiceClient<Channel>> {
        Ok(ComposerServiceClient::new(channel(&self.composer.url()).await?))
    }

    /// Stops every service (orchestrator first, so nothing calls a stopped service).
    pub async fn stop(self) {
        let grace = Duration::from_secs(10);
        if let Some(orchestrator) = self.orchestrator {
            orchestrator.stop(grace).await;
        }
        self.composer.stop(grace).await;
        self.scriptgen.stop(grace).await;
    }
}

pub async fn channel(url: &str) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(url.to_owned())?.connect_timeout(Duration::from_secs(10)).connect().await?)
}

/// A memory table row per service.
pub fn memory_json(memory: &[(&'static str, Memory)]) -> serde_json::Value {
    memory.iter().map(|(name, m)| ((*name).to_owned(), serde_json::json!(m))).collect::<serde_json::Map<_, _>>().into()
}

/// nproc, memory and CPU model: the machine a figure was taken on, and how busy it was.
pub fn machine() -> serde_json::Value {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    serde_json::json!({
        "cpus": cpus,
        "cpu_model": model,
        "memory_gib": (mem_kib as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "loadavg": load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    })
}

/// The load average now, for the "taken under load" note.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_another_database() {
        assert_eq!(with_database("postgres://u:p@h:5432/postgres", "b"), "postgres://u:p@h:5432/b");
        assert_eq!(with_database("postgres://u@h", "b"), "postgres://u@h/b");
        assert_eq!(with_database("postgres://u@h/x?sslmode=disable", "b"), "postgres://u@h/b?sslmode=disable");
        assert_eq!(database_of("postgres://u@h/x?sslmode=disable"), Some("x"));
        assert_eq!(database_of("postgres://u@h"), None);
        assert_eq!(postgres_host_port("postgres://u:p@db:6543/x").as_deref(), Some("db:6543"));
        assert_eq!(postgres_host_port("postgres://u@127.0.0.1/x").as_deref(), Some("127.0.0.1:5432"));
    }

    #[test]
    fn this_process_uses_cpu() {
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_add(1);
        }
        assert!(x > 0 && cpu_ticks(std::process::id()) > 0);
        let (busy, total) = machine_ticks();
        assert!(total > busy && busy > 0);
    }

    #[test]
    fn this_process_has_memory() {
        let m = memory_of(std::process::id());
        assert!(m.rss_kib > 0 && m.peak_kib >= m.rss_kib);
    }
}
