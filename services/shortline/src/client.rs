//! Reaching the orchestrator: the one at `orchestrator.url` if it answers, else — in the
//! one-machine default only (no `database.url`, no `orchestrator.url` configured) — the three
//! services started in this process for the command's duration. Against a configured database
//! or orchestrator, a command never starts services of its own: they could take over the jobs
//! of an orchestrator that is briefly away, on a database other processes share.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use shortline_config::BearerToken;
use shortline_config::{Config, ProviderSet, TelemetryConfig, TlsConfig};
use shortline_grpc::Shutdown;
use shortline_proto::v1::orchestrator_service_client::OrchestratorServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::embedded::Embedded;

/// A client of the orchestrator's public API, with the user's token on every call.
pub type Client = OrchestratorServiceClient<InterceptedService<Channel, BearerToken>>;

/// How long to wait for a running orchestrator to accept a connection before starting our own.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// What the command will ask of the services, which decides what must be installed before
/// services are started in-process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Pipeline work (run, retry, watch): the media tools must be installed.
    Pipeline,
    /// Reading, reviewing, cancelling: no media tools needed, and no job engine (a short-lived
    /// command must never claim a job it cannot finish).
    Inspect,
}

/// The orchestrator the command talks to, and the in-process services if it started them.
pub struct Services {
    pub client: Client,
    /// The orchestrator's URL.
    pub url: String,
    embedded: Option<(Embedded, Shutdown)>,
}

impl Services {
    /// Connects to `orchestrator.url`; where nothing answers within [`CONNECT_TIMEOUT`], starts
    /// the services in this process on the data directory (and says so on stderr) if the config
    /// is the one-machine default, and fails saying the orchestrator is unreachable otherwise.
    pub async fn connect(config: &Config, work: Work) -> anyhow::Result<Services> {
        let url = config.orchestrator.url.clone();
        if let Some(channel) = try_connect(&url, &config.tls).await? {
            tracing::debug!(%url, "using the running orchestrator");
            return Ok(Services { client: client(channel, config.client_token.clone()), url, embedded: None });
        }
        if let Some(configured) = configured_elsewhere(config) {
            anyhow::bail!(
                "orchestrator unreachable at {url}; with {configured} this command starts no services of its \
                 own: start the orchestrator (`shortline serve orchestrator`, or `shortline up`) and try again"
            );
        }
        Self::start_embedded(config, work).await
    }

    /// Starts the three services in this process, each on a free port of 127.0.0.1; for
    /// [`Work::Inspect`] their orchestrator drives no jobs.
    async fn start_embedded(config: &Config, work: Work) -> anyhow::Result<Services> {
        if work == Work::Pipeline {
            check_media_tools(config)?;
        }
        let config = embedded_config(config)?;
        eprintln!(
            "no orchestrator answers at {}; starting the services in this process (data in {})",
            config.orchestrator.url,
            config.data_dir.display()
        );
        let (token, tls, scheme) = (config.client_token.clone(), config.tls.clone(), crate::embedded::scheme(&config));
        let shutdown = Shutdown::new();
        let embedded = Embedded::start(config, &shutdown, work).await?;
        let url = format!("{scheme}://{}", embedded.orchestrator);
        let channel = shortline_grpc::tls::endpoint(&url, &tls)?
            .connect_timeout(Duration::from_secs(10))
            .connect()
            .await
            .with_context(|| format!("cannot reach the in-process orchestrator at {url}"))?;
        Ok(Services { client: client(channel, token), url, embedded: Some((embedded, shutdown)) })
    }

    /// Whether the services run in this process (and stop when the command ends).
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// Where the services are, in words, for `--json` output.
    pub fn mode(&self) -> &'static str {
        if self.is_embedded() {
            "in-process"
        } else {
            "running"
        }
    }

    /// Stops the in-process services, if any, and waits for them.
    pub async fn stop(self) -> anyhow::Result<()> {
        drop(self.client);
        if let Some((embedded, shutdown)) = self.embedded {
            shutdown.trigger();
            embedded.stopped().await?;
        }
        Ok(())
    }
}

/// What makes the config other than the one-machine default, in words: a configured database
/// (possibly shared, e.g. PostgreSQL) or orchestrator. `None`: the default, whose data directory
/// belongs to this machine's user alone.
fn configured_elsewhere(config: &Config) -> Option<&'static str> {
    if config.database.url.is_some() {
        Some("a configured database.url")
    } else if config.orchestrator.url != Config::default().orchestrator.url {
        Some("a configured orchestrator.url")
    } else {
        None
    }
}

fn client(channel: Channel, token: BearerToken) -> Client {
    // Lineage of a many-variant job can exceed tonic's 4 MiB default.
    OrchestratorServiceClient::with_interceptor(channel, token).max_decoding_message_size(64 * 1024 * 1024)
}

/// A channel to `url`, or `None` when nothing accepts a connection there in time.
/// An `https://` URL is reached over TLS trusting `tls.ca_file` (and with `tls.cert_file` as the
/// client certificate, if set).
async fn try_connect(url: &str, tls: &TlsConfig) -> anyhow::Result<Option<Channel>> {
    let endpoint = shortline_grpc::tls::endpoint(url, tls)
        .with_context(|| format!("orchestrator.url `{url}`"))?
        .connect_timeout(CONNECT_TIMEOUT);
    match tokio::time::timeout(CONNECT_TIMEOUT * 2, endpoint.connect()).await {
        Ok(Ok(channel)) => Ok(Some(channel)),
        Ok(Err(error)) => {
            tracing::debug!(%url, %error, "no orchestrator answers");
            Ok(None)
        }
        Err(_) => Ok(None),
    }
}

/// The config of in-process services: every service on a free port of 127.0.0.1 (so they never
/// collide with anything), state under the data directory made absolute (so printed paths work
/// from anywhere).
fn embedded_config(config: &Config) -> anyhow::Result<Config> {
    let mut config = config.clone();
    let any_port = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.orchestrator.listen = any_port;
    config.scriptgen.listen = any_port;
    config.composer.listen = any_port;
    config.data_dir = std::path::absolute(&config.data_dir)
        .with_context(|| format!("data directory {}", config.data_dir.display()))?;
    Ok(config)
}

/// The programs the offline providers run.
const MEDIA_TOOLS: [&str; 3] = ["ffmpeg", "ffprobe", "espeak-ng"];

/// Fails, naming each missing program and how to install it, unless every media tool the
/// configured providers need is on `PATH`.
pub fn check_media_tools(config: &Config) -> anyhow::Result<()> {
    if config.providers.set == ProviderSet::Null {
        return Ok(());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    let missing: Vec<&str> =
        MEDIA_TOOLS.iter().copied().filter(|tool| !dirs.iter().any(|dir| is_executable(&dir.join(tool)))).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = {
        let mut packages = Vec::new();
        if missing.iter().any(|tool| *tool == "ffmpeg" || *tool == "ffprobe") {
            packages.push("ffmpeg");
        }
        if missing.contains(&"espeak-ng") {
            packages.push("espeak-ng");
        }
        packages
    };
    let (them, it) = if missing.len() == 1 { ("it", "is") } else { ("them", "are") };
    anyhow::bail!(
        "{} {it} not installed (not found on PATH); the offline media providers need {them}: \
         install with `sudo apt-get install {}` (Debian/Ubuntu; `brew install ffmpeg espeak-ng` on macOS)",
        join_words(&missing),
        packages.join(" ")
    )
}

/// `a`, `a and b`, `a, b and c`.
fn join_words(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// The log filter of client commands: the configured one if it was changed from the default,
/// else `error`, so in-process services don't bury the command's own output (which already
/// shows every stage attempt and failure); `RUST_LOG` still overrides both.
pub fn cli_log_filter(config: &Config) -> String {
    if config.telemetry.filter == TelemetryConfig::default().filter {
        "error".to_owned()
    } else {
        config.telemetry.filter.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_services_listen_on_free_ports_under_an_absolute_data_dir() {
        let config = embedded_config(&Config::default()).expect("config");
        assert_eq!(config.orchestrator.listen.port(), 0);
        assert_eq!(config.composer.listen.port(), 0);
        assert!(config.data_dir.is_absolute());
    }

    #[test]
    fn only_the_one_machine_default_may_start_services_in_process() {
        assert_eq!(configured_elsewhere(&Config::default()), None);
        let mut shared = Config::default();
        shared.database.url = Some("postgres://db/shortline".into());
        assert_eq!(configured_elsewhere(&shared), Some("a configured database.url"));
        let mut remote = Config::default();
        remote.orchestrator.url = "http://orchestrator:50051".into();
        assert_eq!(configured_elsewhere(&remote), Some("a configured orchestrator.url"));
    }

    #[test]
    fn missing_tools_are_named_in_words() {
        assert_eq!(join_words(&["ffprobe"]), "ffprobe");
        assert_eq!(join_words(&["ffmpeg", "ffprobe", "espeak-ng"]), "ffmpeg, ffprobe and espeak-ng");
    }

    #[tokio::test]
    async fn nothing_listening_means_no_channel() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let started = std::time::Instant::now();
        assert!(try_connect(&format!("http://127.0.0.1:{port}"), &TlsConfig::default()).await.expect("url").is_none());
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
