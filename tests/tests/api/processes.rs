//! The three services as separate processes of the real `shortline` binary, on port 0, against
//! a test's own database and media directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use shortline_proto::v1::composer_service_client::ComposerServiceClient;
use shortline_proto::v1::orchestrator_service_client::OrchestratorServiceClient;
use shortline_proto::v1::script_service_client::ScriptServiceClient;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::Channel;

use crate::helpers::TestDb;

/// The `shortline` binary next to this test binary (`target/<profile>/shortline`).
pub fn shortline_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let binary = profile_dir.join("shortline");
    assert!(
        binary.exists(),
        "{} is missing: build it with `cargo build -p shortline` (scripts/dev test does)",
        binary.display()
    );
    binary
}

/// One running service process; killed when dropped.
pub struct ServiceProcess {
    pub name: &'static str,
    pub address: SocketAddr,
    child: Child,
    /// The environment it was started with (a restart reuses it).
    env: Vec<(String, String)>,
    /// `<log_name>.log` in the log directory holds its stderr (appended to across restarts).
    log_name: String,
    log_dir: PathBuf,
}

impl ServiceProcess {
    /// Starts `shortline serve <name>` with `env` and waits for the line naming its address.
    pub async fn spawn(name: &'static str, env: &[(String, String)], log_dir: &Path) -> ServiceProcess {
        ServiceProcess::spawn_as(name, name, env, log_dir).await
    }

    /// [`ServiceProcess::spawn`] with its own log file, `<log_name>.log`: for a second replica of
    /// a service.
    pub async fn spawn_as(
        name: &'static str,
        log_name: &str,
        env: &[(String, String)],
        log_dir: &Path,
    ) -> ServiceProcess {
        let (child, address) = ServiceProcess::launch(name, log_name, env, log_dir).await;
        ServiceProcess {
            name,
            address,
            child,
            env: env.to_vec(),
            log_name: log_name.to_owned(),
            log_dir: log_dir.to_owned(),
        }
    }

    /// Starts the process again with the same environment, after it exited (e.g. it was killed:
    /// call [`ServiceProcess::wait`] first). A fixed listen address in the environment is reused;
    /// with port 0 it gets a new one.
    pub async fn restart(&mut self) {
        let exited = self.child.try_wait().expect("try_wait");
        assert!(exited.is_some(), "{} ({}) is still running; stop it before restarting it", self.log_name, self.pid());
        let (child, address) = ServiceProcess::launch(self.name, &self.log_name, &self.env, &self.log_dir).await;
        self.child = child;
        self.address = address;
    }

    /// The environment the process was started with.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Its log file (empty when TEST_LOG sends the logs to the terminal).
    pub fn log_path(&self) -> PathBuf {
        self.log_dir.join(format!("{}.log", self.log_name))
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    async fn launch(
        name: &'static str,
        log_name: &str,
        env: &[(String, String)],
        log_dir: &Path,
    ) -> (Child, SocketAddr) {
        let log_path = log_dir.join(format!("{log_name}.log"));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).expect("log file");
        let mut command = Command::new(shortline_binary());
        command
            .arg("serve")
            .arg(name)
            .envs(env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if std::env::var_os("TEST_LOG").is_some() {
            command.stderr(Stdio::inherit());
        } else {
            command.stderr(Stdio::from(log));
        }
        let mut child = command.spawn().expect("spawn shortline");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let address = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some((_, address)) = line.split_once(" listening on ") {
                    return address.trim().parse::<SocketAddr>().expect("address");
                }
            }
            panic!("{log_name} exited before listening; see {}", log_path.display());
        })
        .await
        .unwrap_or_else(|_| panic!("{log_name} did not start within 60 s"));
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        (child, address)
    }

    /// `https://` when the service serves TLS (its environment names a certificate).
    pub fn url(&self) -> String {
        let tls = self.env.iter().any(|(key, _)| key == "SHORTLINE_TLS__CERT_FILE");
        format!("{}://{}", if tls { "https" } else { "http" }, self.address)
    }

    pub fn pid(&self) -> i32 {
        self.child.id().expect("running") as i32
    }

    /// Sends a signal (e.g. "KILL", "TERM", "STOP", "CONT") with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// Waits for the process to exit and returns its exit status.
    pub async fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(limit, self.child.wait()).await.ok().map(|status| status.expect("wait"))
    }
}

/// The whole system for one test: database, media directory, three processes, three clients.
pub struct TestSystem {
    pub db: TestDb,
    pub dir: tempfile::TempDir,
    pub orchestrator: ServiceProcess,
    pub scriptgen: ServiceProcess,
    pub composer: ServiceProcess,
}

/// Extra settings for [`TestSystem::start_with`]. Precedence, lowest first: the base settings,
/// `env` (every service), the wiring (listen addresses, the URLs of scriptgen and composer),
/// then each service's own list.
#[derive(Debug, Clone, Default)]
pub struct SystemOptions {
    pub env: Vec<(String, String)>,
    pub orchestrator_env: Vec<(String, String)>,
    pub scriptgen_env: Vec<(String, String)>,
    pub composer_env: Vec<(String, String)>,
    /// Scriptgen and composer listen on ports chosen up front instead of port 0, so a killed one
    /// restarts ([`ServiceProcess::restart`]) at the address the others already use.
    pub fixed_ports: bool,
    /// Every service gets `TMPDIR=<test dir>/tmp`, so its temporary files can be inspected
    /// ([`TestSystem::tmp_dir`]).
    pub private_tmp: bool,
}

impl SystemOptions {
    /// Sets `key` for every service.
    pub fn env(mut self, key: &str, value: impl ToString) -> Self {
        self.env.push((key.to_owned(), value.to_string()));
        self
    }

    pub fn orchestrator_env(mut self, key: &str, value: impl ToString) -> Self {
        self.orchestrator_env.push((key.to_owned(), value.to_string()));
        self
    }

    pub fn scriptgen_env(mut self, key: &str, value: impl ToString) -> Self {
        self.scriptgen_env.push((key.to_owned(), value.to_string()));
        self
    }

    pub fn composer_env(mut self, key: &str, value: impl ToString) -> Self {
        self.composer_env.push((key.to_owned(), value.to_string()));
        self
    }

    pub fn fixed_ports(mut self) -> Self {
        self.fixed_ports = true;
        self
    }

    pub fn private_tmp(mut self) -> Self {
        self.private_tmp = true;
        self
    }
}

impl TestSystem {
    pub async fn start(db: TestDb) -> TestSystem {
        TestSystem::start_with(db, SystemOptions::default()).await
    }

    /// [`TestSystem::start`] with extra settings (see [`SystemOptions`]).
    pub async fn start_with(db: TestDb, options: SystemOptions) -> TestSystem {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut env = with_all(&base_env(&db.url, dir.path()), &options.env);
        if options.private_tmp {
            let tmp = dir.path().join("tmp");
            std::fs::create_dir_all(&tmp).expect("tmp dir");
            env = with(&env, "TMPDIR", &tmp.display().to_string());
        }
        let listen = |fixed: bool| if fixed { format!("127.0.0.1:{}", free_port()) } else { "127.0.0.1:0".to_owned() };
        let scriptgen_env =
            with_all(&with(&env, "SHORTLINE_SCRIPTGEN__LISTEN", &listen(options.fixed_ports)), &options.scriptgen_env);
        let scriptgen = ServiceProcess::spawn("scriptgen", &scriptgen_env, dir.path()).await;
        let composer_env = with_all(
            &with(
                &with(&env, "SHORTLINE_COMPOSER__LISTEN", &listen(options.fixed_ports)),
                "SHORTLINE_SCRIPTGEN__URL",
                &scriptgen.url(),
            ),
            &options.composer_env,
        );
        let composer = ServiceProcess::spawn("composer", &composer_env, dir.path()).await;
        let orchestrator_env = with(
            &with(
                &with(&env, "SHORTLINE_ORCHESTRATOR__LISTEN", "127.0.0.1:0"),
                "SHORTLINE_SCRIPTGEN__URL",
                &scriptgen.url(),
            ),
            "SHORTLINE_COMPOSER__URL",
            &composer.url(),
        );
        let orchestrator_env = with_all(&orchestrator_env, &options.orchestrator_env);
        let orchestrator = ServiceProcess::spawn("orchestrator", &orchestrator_env, dir.path()).await;
        TestSystem { db, dir, orchestrator, scriptgen, composer }
    }

    /// The orchestrator alone, with scriptgen and composer at addresses where nothing listens:
    /// for tests of what it does by itself (its clients connect lazily). `extra` adds settings.
    /// Returned with the directory that holds its data and log, which must outlive it.
    pub async fn lone_orchestrator(db: &TestDb, extra: &[(&str, &str)]) -> (ServiceProcess, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let nowhere = format!("http://127.0.0.1:{}", free_port());
        let mut env = base_env(&db.url, dir.path());
        for (key, value) in [
            ("SHORTLINE_ORCHESTRATOR__LISTEN", "127.0.0.1:0"),
            ("SHORTLINE_SCRIPTGEN__URL", nowhere.as_str()),
            ("SHORTLINE_COMPOSER__URL", nowhere.as_str()),
        ]
        .iter()
        .chain(extra)
        {
            env = with(&env, key, value);
        }
        (ServiceProcess::spawn("orchestrator", &env, dir.path()).await, dir)
    }

    /// Another orchestrator replica, configured as the first one (on a port of its own) plus
    /// `extra`; it logs to `<log_name>.log`.
    pub async fn spawn_orchestrator(&self, log_name: &str, extra: &[(&str, &str)]) -> ServiceProcess {
        let mut env = with(self.orchestrator.env(), "SHORTLINE_ORCHESTRATOR__LISTEN", "127.0.0.1:0");
        for (key, value) in extra {
            env = with(&env, key, value);
        }
        ServiceProcess::spawn_as("orchestrator", log_name, &env, self.dir.path()).await
    }

    pub fn media_root(&self) -> PathBuf {
        self.dir.path().join("media")
    }

    /// The services' `TMPDIR` when started with [`SystemOptions::private_tmp`].
    pub fn tmp_dir(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    pub async fn orchestrator_client(&self) -> OrchestratorServiceClient<Channel> {
        OrchestratorServiceClient::new(channel(&self.orchestrator.url()).await)
    }

    pub async fn scriptgen_client(&self) -> ScriptServiceClient<Channel> {
        ScriptServiceClient::new(channel(&self.scriptgen.url()).await)
    }

    pub async fn composer_client(&self) -> ComposerServiceClient<Channel> {
        ComposerServiceClient::new(channel(&self.composer.url()).await)
    }
}

pub async fn channel(url: &str) -> Channel {
    Channel::from_shared(url.to_owned()).expect("url").connect().await.expect("connect")
}

/// Config shared by the three processes: the test's database, a media store in its directory,
/// small fast renders, no scheduled refresh.
pub fn base_env(db_url: &str, dir: &Path) -> Vec<(String, String)> {
    let pairs = [
        ("SHORTLINE_DATABASE__URL", db_url.to_owned()),
        ("SHORTLINE_DATA_DIR", dir.display().to_string()),
        ("SHORTLINE_MEDIA__ROOT", dir.join("media").display().to_string()),
        ("SHORTLINE_MEDIA__WIDTH", "360".into()),
        ("SHORTLINE_MEDIA__HEIGHT", "640".into()),
        ("SHORTLINE_MEDIA__FPS", "15".into()),
        ("SHORTLINE_MEDIA__X264_PRESET", "ultrafast".into()),
        ("SHORTLINE_PIPELINE__TREND_REFRESH_INTERVAL_HOURS", "0".into()),
        ("SHORTLINE_TELEMETRY__FILTER", "info".into()),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound, read and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0").local_addr().expect("local address").port()
}

fn with_all(env: &[(String, String)], overrides: &[(String, String)]) -> Vec<(String, String)> {
    overrides.iter().fold(env.to_vec(), |env, (key, value)| with(&env, key, value))
}

fn with(env: &[(String, String)], key: &str, value: &str) -> Vec<(String, String)> {
    let mut env = env.to_vec();
    env.retain(|(k, _)| k != key);
    env.push((key.to_owned(), value.to_owned()));
    env
}
