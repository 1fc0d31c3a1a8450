//! The services' sections of [`crate::Config`]: `[database]`, `[media]` (with `[media.s3]`),
//! the endpoints (`[orchestrator]`, `[scriptgen]`, `[composer]`), `[pipeline]`, `[telemetry]`,
//! `[auth]` and `[tls]`, with their defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// x264 presets ffmpeg accepts for `-preset`.
pub const X264_PRESETS: &[&str] =
    &["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"];

/// `[auth]`: who may call the orchestrator. Off (everyone may) until a token file is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The users' bearer tokens, hashed, with their roles (see `shortline_grpc::auth`).
    pub tokens_file: Option<PathBuf>,
}

/// `[tls]`: the process's certificate, served by its gRPC server and presented as its identity
/// when it calls another service, and the CA the other side must chain to. Off until set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
}

/// `[database]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://…` for deployments; `sqlite://…` for the embedded mode. `None`: SQLite at
    /// `{data_dir}/shortline.db` (see [`Config::database_url`](crate::Config::database_url)).
    pub url: Option<String>,
    /// A file holding the PostgreSQL password (a mounted Secret), so the URL carries none.
    pub password_file: Option<PathBuf>,
    /// The CA a PostgreSQL server's certificate must chain to (`sslmode=verify-ca` or
    /// `verify-full`) when the URL has no `sslrootcert`.
    pub ca_file: Option<PathBuf>,
    pub max_connections: u32,
    pub connect_timeout_ms: u64,
    pub acquire_timeout_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            password_file: None,
            ca_file: None,
            max_connections: 10,
            connect_timeout_ms: 5_000,
            acquire_timeout_ms: 5_000,
        }
    }
}

impl DatabaseConfig {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }
}

/// `[media]`: the media store and the composition's output format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// The media store: a directory, a `file:///…` URI or an `s3://bucket[/prefix]` URI.
    /// `None`: `{data_dir}/media` (see [`Config::media_root`](crate::Config::media_root)).
    pub root: Option<String>,
    /// Where tools (ffmpeg, espeak-ng) work on local copies of media when the store is object
    /// storage. `None`: `{data_dir}/scratch`
    /// (see [`Config::media_scratch_dir`](crate::Config::media_scratch_dir)).
    pub scratch_dir: Option<PathBuf>,
    /// How an `s3://` store is reached; its credentials come from the environment only.
    pub s3: S3Config,
    /// Background music volume under the voiceover, 0..=1.
    pub music_volume: f64,
    /// Where in the video the thumbnail is taken.
    pub thumbnail_at_seconds: f64,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub x264_preset: String,
    pub crf: u32,
    /// The font family of captions and overlays, as fontconfig names it (`fc-list : family`);
    /// characters it lacks are drawn from whichever installed font has them.
    pub font: String,
    /// How often scriptgen and the composer remove the media no row owns (0: never).
    pub sweep_interval_seconds: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            root: None,
            scratch_dir: None,
            s3: S3Config::default(),
            music_volume: 0.15,
            thumbnail_at_seconds: 1.0,
            width: 1080,
            height: 1920,
            fps: 30,
            x264_preset: "veryfast".to_owned(),
            crf: 23,
            font: "Noto Sans".to_owned(),
            sweep_interval_seconds: 600,
        }
    }
}

impl MediaConfig {
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_secs(self.sweep_interval_seconds)
    }
}

/// `[media.s3]`: the S3-compatible service of an `s3://` media store (AWS S3, MinIO, Ceph, R2, ...).
///
/// Credentials are never configuration (so a config dump cannot leak them): they come from the
/// standard AWS environment — `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (and
/// `AWS_SESSION_TOKEN`), or a web identity / container role.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// The service's URL, e.g. `http://minio:9000`. `None`: AWS S3 of `region` (or `AWS_ENDPOINT`).
    pub endpoint: Option<String>,
    /// `None`: `AWS_DEFAULT_REGION`/`AWS_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// Allows a plain `http://` endpoint (a local MinIO or test server); off: HTTPS only.
    pub allow_http: bool,
    /// Addresses the bucket as a host name (`bucket.endpoint`) instead of a path (`endpoint/bucket`).
    pub virtual_hosted_style: bool,
}

/// `[orchestrator]`, `[scriptgen]`, `[composer]`: where a service listens and how clients reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// The address the service binds (port 0: any free port).
    pub listen: SocketAddr,
    /// The URL clients use to reach it, e.g. `http://scriptgen:50052` in a cluster.
    pub url: String,
    /// Where the service serves Prometheus metrics at `/metrics` (port 0: any free port);
    /// unset: no metrics endpoint.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
}

impl EndpointConfig {
    /// `127.0.0.1:{port}`, reached at `http://127.0.0.1:{port}`.
    pub fn local(port: u16) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            url: format!("http://127.0.0.1:{port}"),
            metrics_listen: None,
        }
    }
}

/// Threads one ffmpeg encode keeps busy: the procedural clips run x264 on 2 threads, and a
/// composition at `veryfast` is x264-bound on about two cores. The default caps on concurrent
/// work give each running encode that many of the cores the process may use.
pub const THREADS_PER_ENCODE: u32 = 2;

/// Encodes that fit this process's cores (its cgroup quota included) side by side, at least 1.
fn encodes_fitting_the_cores() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX));
    (cores / THREADS_PER_ENCODE).max(1)
}

/// `[scriptgen]`: where scriptgen listens, how clients reach it, and how much media it makes at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptgenConfig {
    pub listen: SocketAddr,
    pub url: String,
    /// Where the service serves Prometheus metrics at `/metrics` (port 0: any free port);
    /// unset: no metrics endpoint.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// Scripts whose media one process generates at once; more calls are answered
    /// RESOURCE_EXHAUSTED at once (the orchestrator retries with backoff). `None`: see
    /// [`ScriptgenConfig::media_slots`].
    #[serde(default)]
    pub max_concurrent_media: Option<u32>,
}

impl ScriptgenConfig {
    pub fn local(port: u16) -> Self {
        let EndpointConfig { listen, url, metrics_listen } = EndpointConfig::local(port);
        Self { listen, url, metrics_listen, max_concurrent_media: None }
    }

    /// `max_concurrent_media`, by default the encodes that fit the cores but at least 2: real
    /// providers' generations mostly wait on the network.
    pub fn media_slots(&self) -> u32 {
        self.max_concurrent_media.unwrap_or_else(|| encodes_fitting_the_cores().max(2))
    }
}

/// `[composer]`: where the composer listens, how clients reach it, and how much it renders at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComposerConfig {
    pub listen: SocketAddr,
    pub url: String,
    /// Where the service serves Prometheus metrics at `/metrics` (port 0: any free port);
    /// unset: no metrics endpoint.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// Renders one process runs at once; more calls are answered RESOURCE_EXHAUSTED at once
    /// (the orchestrator retries with backoff) instead of queuing renders past the memory limit.
    /// `None`: see [`ComposerConfig::render_slots`].
    #[serde(default)]
    pub max_concurrent_renders: Option<u32>,
}

impl ComposerConfig {
    pub fn local(port: u16) -> Self {
        let EndpointConfig { listen, url, metrics_listen } = EndpointConfig::local(port);
        Self { listen, url, metrics_listen, max_concurrent_renders: None }
    }

    /// `max_concurrent_renders`, by default the encodes that fit the cores.
    pub fn render_slots(&self) -> u32 {
        self.max_concurrent_renders.unwrap_or_else(encodes_fitting_the_cores)
    }
}

/// `[pipeline]`: how the orchestrator drives jobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    pub stage_timeout_seconds: StageTimeouts,
    /// Attempts per stage before the job fails (the first try included).
    pub max_attempts: u32,
    /// Jobs one orchestrator drives at once (each mostly waits on scriptgen and composer).
    pub max_concurrent_jobs: u32,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// How long a worker's claim on a job lasts without renewal.
    pub lease_seconds: u64,
    /// How often scheduled trend collection runs (0: never; in a cluster a CronJob does it).
    pub trend_refresh_interval_hours: u64,
    /// How old a trend collection may be for a job to use it instead of collecting anew;
    /// unset: the schedule's interval.
    pub trend_max_age_seconds: Option<u64>,
    /// How long a stopping service lets in-flight work finish (0: not at all).
    pub shutdown_grace_seconds: u64,
    /// The most one job may spend on paid providers, in USD (a theme's `budget_usd` overrides
    /// it); unset: no limit.
    pub job_budget_usd: Option<f64>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            stage_timeout_seconds: StageTimeouts::default(),
            max_attempts: 4,
            max_concurrent_jobs: 16,
            backoff_initial_ms: 200,
            backoff_max_ms: 10_000,
            lease_seconds: 30,
            trend_refresh_interval_hours: 6,
            trend_max_age_seconds: None,
            shutdown_grace_seconds: 20,
            job_budget_usd: None,
        }
    }
}

impl PipelineConfig {
    pub fn backoff_initial(&self) -> Duration {
        Duration::from_millis(self.backoff_initial_ms)
    }

    pub fn backoff_max(&self) -> Duration {
        Duration::from_millis(self.backoff_max_ms)
    }

    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds)
    }

    pub fn trend_refresh_interval(&self) -> Duration {
        Duration::from_secs(self.trend_refresh_interval_hours.saturating_mul(3600))
    }

    /// How old a collection a job uses may be: `trend_max_age_seconds`, else the schedule's
    /// interval (6 h when the schedule is off).
    pub fn trend_max_age(&self) -> Duration {
        match (self.trend_max_age_seconds, self.trend_refresh_interval_hours) {
            (Some(seconds), _) => Duration::from_secs(seconds),
            (None, 0) => Duration::from_secs(6 * 3600),
            (None, _) => self.trend_refresh_interval(),
        }
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_seconds)
    }
}

/// `[pipeline.stage_timeout_seconds]`: the deadline of one attempt of each stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StageTimeouts {
    pub trend_collection: u64,
    pub trend_analysis: u64,
    pub script_generation: u64,
    pub media_generation: u64,
    pub composition: u64,
    pub review: u64,
}

impl Default for StageTimeouts {
    fn default() -> Self {
        Self {
            trend_collection: 60,
            trend_analysis: 60,
            script_generation: 60,
            media_generation: 300,
            composition: 600,
            review: 30,
        }
    }
}

impl StageTimeouts {
    /// `(stage name, seconds)` in pipeline order; the names are the pipeline's stage names.
    pub fn entries(&self) -> [(&'static str, u64); 6] {
        [
            ("trend_collection", self.trend_collection),
            ("trend_analysis", self.trend_analysis),
            ("script_generation", self.script_generation),
            ("media_generation", self.media_generation),
            ("composition", self.composition),
            ("review", self.review),
        ]
    }

    /// The timeout of the stage named `stage` (e.g. `"composition"`), if there is such a stage.
    pub fn get(&self, stage: &str) -> Option<Duration> {
        self.entries().into_iter().find(|(name, _)| *name == stage).map(|(_, secs)| Duration::from_secs(secs))
    }
}

/// `[telemetry]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    pub format: LogFormat,
    /// An `EnvFilter` directive such as `info` or `shortline=debug,tower=warn`; `RUST_LOG`
    /// overrides it.
    pub filter: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self { format: LogFormat::Pretty, filter: "info".to_owned() }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (ANSI colours on a terminal).
    #[default]
    Pretty,
    /// One JSON object per line, with the current span and its parents (and so `job_id`).
    Json,
}
