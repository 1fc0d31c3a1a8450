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
    assert!(binary.exists(), "{} is missing: build it with `cargo build -p shortline` (scripts/dev test does)", binary.display());
    binary
}

/// One running service process; killed when dropped.
pub struct ServiceProcess {
    pub name: &'static str,
    pub address: SocketAddr,
    child: Child,
}

impl ServiceProcess {
    /// Starts `shortline serve <name>` with `env` and waits for the line naming its address.
    pub async fn spawn(name: &'static str, env: &[(String, String)], log_dir: &Path) -> ServiceProcess {
        let log = std::fs::File::create(log_dir.join(format!("{name}.log"))).expect("log file");
        let mut command = Command::new(shortline_binary());
        command.arg("serve").arg(name).envs(env.iter().cloned()).stdin(Stdio::null()).stdout(Stdio::piped()).kill_on_drop(true);
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
            panic!("{name} exited before listening; see {}", log_dir.join(format!("{name}.log")).display());
        })
        .await
        .unwrap_or_else(|_| panic!("{name} did not start within 60 s"));
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        ServiceProcess { name, address, child }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn pid(&self) -> i32 {
        self.child.id().expect("running") as i32
    }

    /// Sends a signal (e.g. "KILL", "TERM", "STOP", "CONT") with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill").arg(format!("-{signal}")).arg(self.pid().to_string()).status().expect("kill");
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

impl TestSystem {
    pub async fn start(db: TestDb) -> TestSystem {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = base_env(&db, dir.path());
        let scriptgen = ServiceProcess::spawn("scriptgen", &with(&env, "SHORTLINE_SCRIPTGEN__LISTEN", "127.0.0.1:0"), dir.path()).await;
        let composer = ServiceProcess::spawn(
            "composer",
            &with(&with(&env, "SHORTLINE_COMPOSER__LISTEN", "127.0.0.1:0"), "SHORTLINE_SCRIPTGEN__URL", &scriptgen.url()),
            dir.path(),
        )
        .await;
        let orchestrator_env = with(
            &with(&with(&env, "SHORTLINE_ORCHESTRATOR__LISTEN", "127.0.0.1:0"), "SHORTLINE_SCRIPTGEN__URL", &scriptgen.url()),
            "SHORTLINE_COMPOSER__URL",
            &composer.url(),
        );
        let orchestrator = ServiceProcess::spawn("orchestrator", &orchestrator_env, dir.path()).await;
        TestSystem { db, dir, orchestrator, scriptgen, composer }
    }

    pub fn media_root(&self) -> PathBuf {
        self.dir.path().join("media")
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
fn base_env(db: &TestDb, dir: &Path) -> Vec<(String, String)> {
    let pairs = [
        ("SHORTLINE_DATABASE__URL", db.url.clone()),
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

fn with(env: &[(String, String)], key: &str, value: &str) -> Vec<(String, String)> {
    let mut env = env.to_vec();
    env.retain(|(k, _)| k != key);
    env.push((key.to_owned(), value.to_owned()));
    env
}
