//! The one configuration of every shortline process: an optional TOML file plus `SHORTLINE_*`
//! environment overrides, layered by figment over built-in defaults.
//!
//! ```text
//! defaults  <  TOML file (if given)  <  SHORTLINE_* environment variables
//! ```
//!
//! Nested keys use `__` in the environment: `SHORTLINE_DATABASE__URL=postgres://…` sets
//! `database.url`, `SHORTLINE_PIPELINE__STAGE_TIMEOUT_SECONDS__COMPOSITION=900` sets
//! `pipeline.stage_timeout_seconds.composition`. A prefixed variable without `__` that does not
//! name a top-level key (e.g. `SHORTLINE_CONFIG`, which the CLI uses for the file's path) is left
//! alone; any other unknown key is an error.
//!
//! Every section has defaults, so a fresh checkout runs with no file at all: SQLite at
//! `.shortline/shortline.db`, media under `.shortline/media`, services on 127.0.0.1:50051–50053.
//!
//! Every bad value — a wrong type from figment or a range broken in [`Config::validate`] — is
//! reported with its field path, the reason and where the value came from, all at once:
//!
//! ```text
//! invalid configuration:
//!   - media.music_volume: must be between 0 and 1, got 1.5 (from TOML file shortline.toml)
//!   - database.max_connections: invalid type: found string "ten", expected u32 (from environment variable SHORTLINE_DATABASE__MAX_CONNECTIONS)
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::{Figment, Metadata, Source};
use serde::{Deserialize, Serialize};

/// Prefix of every environment override; nested keys are separated by `__`.
pub const ENV_PREFIX: &str = "SHORTLINE_";

/// Separator of nested keys in environment variable names.
pub const ENV_SEPARATOR: &str = "__";

/// Fonts tried, in order, when `media.font_file` is not set. The first one that exists is used.
pub const DEFAULT_FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/Library/Fonts/Arial Bold.ttf",
    "/System/Library/Fonts/Supplemental/Arial Bold.ttf",
];

/// x264 presets ffmpeg accepts for `-preset`.
pub const X264_PRESETS: &[&str] =
    &["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"];

// ---------------------------------------------------------------------------------------------
// The configuration
// ---------------------------------------------------------------------------------------------

/// The whole configuration. Every field has a default; see the module docs for the layering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where embedded-mode state lives (SQLite file, local media store).
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub media: MediaConfig,
    pub orchestrator: EndpointConfig,
    pub scriptgen: ScriptgenConfig,
    pub composer: ComposerConfig,
    pub pipeline: PipelineConfig,
    pub telemetry: TelemetryConfig,
    pub providers: ProvidersConfig,
    pub auth: AuthConfig,
    pub tls: TlsConfig,
    /// The token the `shortline` command sends (`--token` / `SHORTLINE_TOKEN`): a secret, so
    /// never read from the file or the `SHORTLINE_*` keys, and never printed.
    #[serde(skip)]
    pub client_token: crate::auth::BearerToken,
}

/// `[auth]`: who may call the orchestrator. Off (everyone may) until a token file is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The users' bearer tokens, hashed, with their roles (see `shortline_shared::auth`).
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

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(".shortline"),
            database: DatabaseConfig::default(),
            media: MediaConfig::default(),
            orchestrator: EndpointConfig::local(50051),
            scriptgen: ScriptgenConfig::local(50052),
            composer: ComposerConfig::local(50053),
            pipeline: PipelineConfig::default(),
            telemetry: TelemetryConfig::default(),
            providers: ProvidersConfig::default(),
            auth: AuthConfig::default(),
            tls: TlsConfig::default(),
            client_token: crate::auth::BearerToken::default(),
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://…` for deployments; `sqlite://…` for the embedded mode. `None`: SQLite at
    /// `{data_dir}/shortline.db` (see [`Config::database_url`]).
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

    /// The password file and CA of PostgreSQL connections.
    pub fn access(&self) -> crate::db::PgAccess {
        crate::db::PgAccess { password_file: self.password_file.clone(), ca_file: self.ca_file.clone() }
    }
}

/// `[media]`: the media store and the composition's output format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// The media store: a directory, a `file:///…` URI or an `s3://bucket[/prefix]` URI.
    /// `None`: `{data_dir}/media` (see [`Config::media_root`]).
    pub root: Option<String>,
    /// Where tools (ffmpeg, espeak-ng) work on local copies of media when the store is object
    /// storage. `None`: `{data_dir}/scratch` (see [`Config::media_scratch_dir`]).
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
    /// The font drawtext uses. Default: the first existing of [`DEFAULT_FONT_CANDIDATES`].
    pub font_file: Option<PathBuf>,
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
            font_file: default_font_file(),
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

/// The first of [`DEFAULT_FONT_CANDIDATES`] present on this machine.
pub fn default_font_file() -> Option<PathBuf> {
    DEFAULT_FONT_CANDIDATES.iter().map(PathBuf::from).find(|path| path.is_file())
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

/// `[providers]`: which providers make what, and how the real (HTTP) ones are reached.
///
/// `set` picks the family every kind defaults to (`offline` unless told otherwise). A non-empty
/// per-kind list (`voice`, `clips`) replaces the set's provider of that kind with real providers
/// tried in that order: the next one is tried when one answers 402, 429 or a 5xx that outlived
/// its retries. Each real provider has a section with its base URL, timeout, model and key file;
/// its key comes from that file or the environment (never from this file, so a config dump
/// cannot leak it). Every model a listed provider uses needs a price: the provider catalogue's
/// ([`crate::http::catalogue`]), or one in `prices`, which also overrides the catalogue's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProvidersConfig {
    pub set: ProviderSet,
    /// Voice providers in failover order; empty: the set's own (espeak-ng, or null).
    pub voice: Vec<VoiceProviderName>,
    /// Clip providers in failover order; empty: the set's own (procedural, or null).
    pub clips: Vec<ClipProviderName>,
    /// Real trend sources; empty: the bundled samples. When set, only these are collected.
    pub trends: Vec<TrendSourceName>,
    /// The LLM analyst of trend reports; unset: the heuristic analyst.
    pub analyst: Option<LlmProviderName>,
    /// The LLM that writes production plans; unset: the template planner.
    pub planner: Option<LlmProviderName>,
    /// The avatar video provider used for themes that ask for an avatar (it replaces the clips
    /// and the voice); unset: such themes are refused.
    pub avatar: Option<AvatarProviderName>,
    pub http: ProviderHttpConfig,
    pub openai: OpenAiConfig,
    pub elevenlabs: ElevenLabsConfig,
    pub fish_audio: FishAudioConfig,
    pub fal: FalConfig,
    pub pexels: PexelsConfig,
    pub apify: ApifyConfig,
    pub youtube: YoutubeConfig,
    pub anthropic: AnthropicConfig,
    pub openai_compatible: OpenAiCompatibleConfig,
    pub heygen: HeygenConfig,
    /// Price per model id, in micro-USD (`[providers.prices."tts-1"] per_1k_characters = 15000`),
    /// over the catalogue's; needed for a model the catalogue does not know.
    pub prices: std::collections::BTreeMap<String, Price>,
}

impl ProvidersConfig {
    /// The price of `model`: the configured one, else the provider catalogue's.
    pub fn price(&self, model: &str) -> Option<&Price> {
        self.prices.get(model).or_else(|| crate::http::catalogue::default_price(model))
    }

    /// The price of every model the listed providers use (see [`ProvidersConfig::price`]).
    pub fn effective_prices(&self) -> std::collections::BTreeMap<String, Price> {
        let mut prices = self.prices.clone();
        for (model, _) in self.priced_models() {
            if let Some(price) = self.price(&model) {
                prices.entry(model).or_insert(*price);
            }
        }
        prices
    }

    /// The model the LLM `llm` is configured with.
    pub fn llm_model(&self, llm: LlmProviderName) -> &str {
        match llm {
            LlmProviderName::Anthropic => &self.anthropic.model,
            LlmProviderName::OpenaiCompatible => &self.openai_compatible.model,
        }
    }

    /// The models the listed providers use, with who uses them (for price checks and listings).
    /// Pexels stock footage is free and needs no price.
    pub fn priced_models(&self) -> Vec<(String, String)> {
        let mut models = Vec::new();
        for voice in &self.voice {
            let model = match voice {
                VoiceProviderName::Openai => &self.openai.tts_model,
                VoiceProviderName::Elevenlabs => &self.elevenlabs.model,
                VoiceProviderName::FishAudio => &self.fish_audio.model,
            };
            models.push((model.clone(), format!("voice provider {}", voice.as_str())));
        }
        for clips in &self.clips {
            let model = match clips {
                ClipProviderName::FalKling => &self.fal.kling_model,
                ClipProviderName::FalMinimax => &self.fal.minimax_model,
                ClipProviderName::Pexels => continue,
            };
            models.push((model.clone(), format!("clip provider {}", clips.as_str())));
        }
        if let Some(avatar) = self.avatar {
            models.push((self.heygen.model.clone(), format!("avatar provider {}", avatar.as_str())));
        }
        for (role, llm) in [("analyst", self.analyst), ("planner", self.planner)] {
            if let Some(llm) = llm {
                models.push((self.llm_model(llm).to_owned(), format!("{role} {}", llm.as_str())));
            }
        }
        models
    }

    fn check(&self, v: &mut Problems) {
        for (i, voice) in self.voice.iter().enumerate() {
            if self.voice[..i].contains(voice) {
                v.push("providers.voice", format!("`{}` is listed twice", voice.as_str()));
            }
        }
        for (i, clips) in self.clips.iter().enumerate() {
            if self.clips[..i].contains(clips) {
                v.push("providers.clips", format!("`{}` is listed twice", clips.as_str()));
            }
        }
        let h = &self.http;
        v.check(h.backoff_initial_ms > 0, "providers.http.backoff_initial_ms", "must be greater than 0");
        v.check(
            h.backoff_max_ms >= h.backoff_initial_ms,
            "providers.http.backoff_max_ms",
            format!("must be at least providers.http.backoff_initial_ms ({})", h.backoff_initial_ms),
        );
        v.check(h.poll_interval_ms > 0, "providers.http.poll_interval_ms", "must be greater than 0");
        v.check(
            h.generation_timeout_seconds > 0,
            "providers.http.generation_timeout_seconds",
            "must be greater than 0",
        );
        v.check(h.download_timeout_seconds > 0, "providers.http.download_timeout_seconds", "must be greater than 0");
        // (section, base_url, timeout_ms, required names)
        type Section<'a> = (&'a str, &'a str, u64, Vec<(&'a str, &'a str)>);
        let sections: [Section<'_>; 10] = [
            (
                "openai",
                &self.openai.base_url,
                self.openai.timeout_ms,
                vec![("tts_model", &self.openai.tts_model), ("tts_voice", &self.openai.tts_voice)],
            ),
            (
                "elevenlabs",
                &self.elevenlabs.base_url,
                self.elevenlabs.timeout_ms,
                vec![("model", &self.elevenlabs.model), ("voice_id", &self.elevenlabs.voice_id)],
            ),
            (
                "fish_audio",
                &self.fish_audio.base_url,
                self.fish_audio.timeout_ms,
                vec![("model", &self.fish_audio.model)],
            ),
            (
                "fal",
                &self.fal.base_url,
                self.fal.timeout_ms,
                vec![("kling_model", &self.fal.kling_model), ("minimax_model", &self.fal.minimax_model)],
            ),
            ("pexels", &self.pexels.base_url, self.pexels.timeout_ms, vec![]),
            ("apify", &self.apify.base_url, self.apify.timeout_ms, vec![("actor_id", &self.apify.actor_id)]),
            ("youtube", &self.youtube.base_url, self.youtube.timeout_ms, vec![]),
            (
                "anthropic",
                &self.anthropic.base_url,
                self.anthropic.timeout_ms,
                vec![("model", &self.anthropic.model), ("version", &self.anthropic.version)],
            ),
            (
                "openai_compatible",
                &self.openai_compatible.base_url,
                self.openai_compatible.timeout_ms,
                vec![("model", &self.openai_compatible.model)],
            ),
            ("heygen", &self.heygen.base_url, self.heygen.timeout_ms, vec![("model", &self.heygen.model)]),
        ];
        for (section, base_url, timeout_ms, names) in sections {
            if let Err(reason) = check_endpoint_url(base_url) {
                v.push(format!("providers.{section}.base_url"), reason);
            }
            v.check(timeout_ms > 0, format!("providers.{section}.timeout_ms"), "must be greater than 0");
            for (field, value) in names {
                v.check(!value.trim().is_empty(), format!("providers.{section}.{field}"), "must not be empty");
            }
        }
        if let Err(reason) = check_endpoint_url(&self.fal.platform_base_url) {
            v.push("providers.fal.platform_base_url", reason);
        }
        for (i, source) in self.trends.iter().enumerate() {
            if self.trends[..i].contains(source) {
                v.push("providers.trends", format!("`{}` is listed twice", source.as_str()));
            }
        }
        let plans = crate::http::catalogue::lookup("heygen", "heygen-avatar")
            .map_or(&[][..], |entry| entry.limits.max_short_side_by_plan);
        let largest = plans.iter().map(|(_, side)| *side).max().unwrap_or(u32::MAX);
        v.check(
            (144..=largest).contains(&self.heygen.max_short_side),
            "providers.heygen.max_short_side",
            format!("must be between 144 and {largest}, the largest any HeyGen API plan renders ({plans:?})"),
        );
        v.check(self.anthropic.max_tokens > 0, "providers.anthropic.max_tokens", "must be greater than 0");
        v.check(
            (1..=720).contains(&self.youtube.published_within_hours),
            "providers.youtube.published_within_hours",
            "must be between 1 and 720",
        );
        if self.elevenlabs.voice_id.contains(['/', '?', '#']) {
            v.push("providers.elevenlabs.voice_id", "must be a voice id, not a path");
        }
        for (model, user) in self.priced_models() {
            if self.price(&model).is_some() {
                continue;
            }
            v.push(
                "providers.prices",
                format!(
                    "model `{model}` ({user}) is not in the provider catalogue: check the id against the provider's model list, and add [providers.prices.\"{model}\"] with its price in micro-USD (see the provider's price list)"
                ),
            );
        }
    }
}

/// A real voice provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoiceProviderName {
    /// OpenAI text-to-speech (`POST /v1/audio/speech`).
    Openai,
    /// ElevenLabs text-to-speech (`POST /v1/text-to-speech/{voice_id}`).
    Elevenlabs,
    /// Fish Audio text-to-speech (`POST /v1/tts`).
    FishAudio,
}

impl VoiceProviderName {
    pub fn as_str(self) -> &'static str {
        match self {
            VoiceProviderName::Openai => "openai",
            VoiceProviderName::Elevenlabs => "elevenlabs",
            VoiceProviderName::FishAudio => "fish_audio",
        }
    }
}

/// A real clip provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClipProviderName {
    /// Kling text-to-video through fal.ai's queue API.
    FalKling,
    /// MiniMax (Hailuo) text-to-video through fal.ai's queue API.
    FalMinimax,
    /// Pexels stock video search.
    Pexels,
}

impl ClipProviderName {
    pub fn as_str(self) -> &'static str {
        match self {
            ClipProviderName::FalKling => "fal_kling",
            ClipProviderName::FalMinimax => "fal_minimax",
            ClipProviderName::Pexels => "pexels",
        }
    }
}

/// A real trend source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendSourceName {
    /// TikTok through an Apify actor run (start, poll, read the dataset).
    ApifyTiktok,
    /// YouTube Data API v3 (`search.list`, then `videos.list`).
    Youtube,
}

impl TrendSourceName {
    pub fn as_str(self) -> &'static str {
        match self {
            TrendSourceName::ApifyTiktok => "apify_tiktok",
            TrendSourceName::Youtube => "youtube",
        }
    }
}

/// A real avatar video provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AvatarProviderName {
    /// HeyGen (`POST /v2/video/generate`, poll `GET /v1/video_status.get`, download).
    Heygen,
}

impl AvatarProviderName {
    pub fn as_str(self) -> &'static str {
        match self {
            AvatarProviderName::Heygen => "heygen",
        }
    }
}

/// `[providers.heygen]`: HeyGen avatar videos.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeygenConfig {
    pub base_url: String,
    /// A file holding the key; else `SHORTLINE_HEYGEN_API_KEY`, then `HEYGEN_API_KEY`.
    pub api_key_file: Option<PathBuf>,
    /// The timeout of one call (generate, status); the whole generation has
    /// `providers.http.generation_timeout_seconds`.
    pub timeout_ms: u64,
    /// The name HeyGen's price is listed under in `providers.prices` (it bills per second of
    /// video), and recorded as the asset's model.
    pub model: String,
    /// The short side of the largest frame asked for: HeyGen's free API plan renders up to
    /// 720p; a paid plan may allow 1080.
    pub max_short_side: u32,
}

impl Default for HeygenConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.heygen.com".into(),
            api_key_file: None,
            timeout_ms: 30_000,
            model: "heygen-avatar".into(),
            max_short_side: 720,
        }
    }
}

/// An LLM API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmProviderName {
    /// Anthropic Messages API with tool use for structured output.
    Anthropic,
    /// OpenAI-compatible chat completions with a JSON-schema response format (OpenAI,
    /// OpenRouter, vLLM, Ollama).
    OpenaiCompatible,
}

impl LlmProviderName {
    pub fn as_str(self) -> &'static str {
        match self {
            LlmProviderName::Anthropic => "anthropic",
            LlmProviderName::OpenaiCompatible => "openai_compatible",
        }
    }
}

/// `[providers.apify]`: the Apify actor that scrapes TikTok.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApifyConfig {
    pub base_url: String,
    /// A file holding the token; else `SHORTLINE_APIFY_API_KEY`, then `APIFY_TOKEN`.
    pub api_key_file: Option<PathBuf>,
    pub timeout_ms: u64,
    /// `username~actor-name` or the actor's id.
    pub actor_id: String,
    /// Hashtags the actor scrapes (without `#`).
    pub hashtags: Vec<String>,
}

impl Default for ApifyConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.apify.com".into(),
            api_key_file: None,
            timeout_ms: 30_000,
            actor_id: "clockworks~tiktok-scraper".into(),
            hashtags: vec!["fyp".into()],
        }
    }
}

/// `[providers.youtube]`: the YouTube Data API v3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct YoutubeConfig {
    pub base_url: String,
    /// A file holding the API key; else `SHORTLINE_YOUTUBE_API_KEY`, then `YOUTUBE_API_KEY`.
    pub api_key_file: Option<PathBuf>,
    pub timeout_ms: u64,
    /// ISO 3166-1 alpha-2 region of the search; unset: worldwide.
    pub region_code: Option<String>,
    /// Only videos published in the last this many hours.
    pub published_within_hours: u32,
}

impl Default for YoutubeConfig {
    fn default() -> Self {
        Self {
            base_url: "https://www.googleapis.com".into(),
            api_key_file: None,
            timeout_ms: 30_000,
            region_code: None,
            published_within_hours: 72,
        }
    }
}

/// `[providers.anthropic]`: the Anthropic Messages API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnthropicConfig {
    pub base_url: String,
    /// A file holding the key; else `SHORTLINE_ANTHROPIC_API_KEY`, then `ANTHROPIC_API_KEY`.
    pub api_key_file: Option<PathBuf>,
    pub timeout_ms: u64,
    pub model: String,
    pub max_tokens: u32,
    /// The `anthropic-version` header.
    pub version: String,
}

impl Default for AnthropicConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.anthropic.com".into(),
            api_key_file: None,
            timeout_ms: 120_000,
            model: "claude-sonnet-4-5".into(),
            max_tokens: 4096,
            version: "2023-06-01".into(),
        }
    }
}

/// `[providers.openai_compatible]`: any OpenAI-compatible chat completions API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiCompatibleConfig {
    /// Up to and including the version, e.g. `https://api.openai.com/v1`,
    /// `https://openrouter.ai/api/v1`, `http://localhost:11434/v1` (Ollama).
    pub base_url: String,
    /// A file holding the key; else `SHORTLINE_OPENAI_COMPATIBLE_API_KEY`, then
    /// `OPENAI_API_KEY`; none at all is fine for a local server.
    pub api_key_file: Option<PathBuf>,
    pub timeout_ms: u64,
    pub model: String,
}

impl Default for OpenAiCompatibleConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com/v1".into(),
            api_key_file: None,
            timeout_ms: 120_000,
            model: "gpt-4o-mini".into(),
        }
    }
}

/// A model's price in micro-USD (1 USD = 1,000,000). Unset parts are 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Price {
    pub per_1k_input_tokens: u64,
    pub per_1k_output_tokens: u64,
    /// Text-to-speech: per 1000 characters spoken.
    pub per_1k_characters: u64,
    /// Video generation: per second of generated video.
    pub per_second: u64,
    /// A flat price per call.
    pub per_request: u64,
}

/// `[providers.http]`: retries, polling and downloads of every real provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderHttpConfig {
    /// Retries after the first attempt on 429 and 5xx.
    pub max_retries: u32,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// The longest `Retry-After` waited for; a provider asking for more is failed over at once.
    pub retry_after_max_seconds: u64,
    /// How often a queued generation (fal.ai) is polled.
    pub poll_interval_ms: u64,
    /// How long a queued generation may take in total.
    pub generation_timeout_seconds: u64,
    /// The timeout of downloading one generated or stock file.
    pub download_timeout_seconds: u64,
}

impl Default for ProviderHttpConfig {
    fn default() -> Self {
        Self {
            max_retries: 3,
            backoff_initial_ms: 500,
            backoff_max_ms: 8_000,
            retry_after_max_seconds: 30,
            poll_interval_ms: 2_000,
            generation_timeout_seconds: 600,
            download_timeout_seconds: 300,
        }
    }
}

impl ProviderHttpConfig {
    pub fn retry_policy(&self) -> crate::http::RetryPolicy {
        crate::http::RetryPolicy {
            max_retries: self.max_retries,
            backoff_initial: Duration::from_millis(self.backoff_initial_ms),
            backoff_max: Duration::from_millis(self.backoff_max_ms),
            retry_after_max: Duration::from_secs(self.retry_after_max_seconds),
        }
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub fn generation_timeout(&self) -> Duration {
        Duration::from_secs(self.generation_timeout_seconds)
    }

    pub fn download_timeout(&self) -> Duration {
        Duration::from_secs(self.download_timeout_seconds)
    }
}

/// `[providers.openai]`: OpenAI text-to-speech.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiConfig {
    pub base_url: String,
    /// A file holding the key; else `SHORTLINE_OPENAI_API_KEY`, then `OPENAI_API_KEY`.
    pub api_key_file: Option<PathBuf>,
    pub timeout_ms: u64,
    pub tts_model: String,
    pub tts_voice: String,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com".into(),
            api_key_file: None,
            timeout_ms: 60_000,
            tts_model: "tts-1".into(),
            tts_voice: "alloy".into(),
        }
    }
}

/// `[providers.elevenlabs]`: ElevenLabs text-to-speech.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ElevenLabsConfig {
    pub base_url: String,
    /// A file holding the key; else `SHORTLINE_ELEVENLABS_API_KEY`, then `ELEVENLABS_API_KEY`.
    pub api_key_file: Option<PathBuf>,
    pub timeout_ms: u64,
    pub model: String,
    pub voice_id: String,
}

impl Default for ElevenLabsConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.elevenlabs.io".into(),
            api_key_file: None,
            timeout_ms: 60_000,
            model: "eleven_multilingual_v2".into(),
            voice_id: "JBFqnCBsd6RMkjVDRZzb".into(),
        }
    }
}

/// `[providers.fish_audio]`: Fish Audio text-to-speech.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FishAudioConfig {
    pub base_url: String,
    /// A file holding the key; else `SHORTLINE_FISH_AUDIO_API_KEY`, then `FISH_API_KEY`.
    pub api_key_file: Option<PathBuf>,
    pub timeout_ms: u64,
    /// Sent in the `model` header (`s1`, `s2-pro`, ...).
    pub model: String,
    /// The voice model id; unset: the provider's default voice.
    pub reference_id: Option<String>,
}

impl Default for FishAudioConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.fish.audio".into(),
            api_key_file: None,
            timeout_ms: 60_000,
            model: "s1".into(),
            reference_id: None,
        }
    }
}

/// `[providers.fal]`: fal.ai's queue API (Kling and MiniMax text-to-video).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FalConfig {
    pub base_url: String,
    /// A file holding the key; else `SHORTLINE_FAL_API_KEY`, then `FAL_KEY`.
    pub api_key_file: Option<PathBuf>,
    /// The timeout of one call (submit, status, result); the whole generation has
    /// `providers.http.generation_timeout_seconds`.
    pub timeout_ms: u64,
    /// fal's platform API (model pricing), where `shortline providers` proves the key.
    pub platform_base_url: String,
    /// An endpoint id from fal's model list (the official `fal-js` client's endpoint types).
    pub kling_model: String,
    pub minimax_model: String,
}

impl Default for FalConfig {
    fn default() -> Self {
        Self {
            base_url: "https://queue.fal.run".into(),
            api_key_file: None,
            timeout_ms: 30_000,
            platform_base_url: "https://api.fal.ai".into(),
            // fal-js `libs/client/src/types/endpoints.ts` lists Kling text-to-video as
            // v2.1/master, v2.5-turbo/pro, v2.6/pro...; there is no v2.1/standard/text-to-video.
            kling_model: "fal-ai/kling-video/v2.5-turbo/pro/text-to-video".into(),
            minimax_model: "fal-ai/minimax/hailuo-02/standard/text-to-video".into(),
        }
    }
}

/// `[providers.pexels]`: Pexels stock video search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PexelsConfig {
    pub base_url: String,
    /// A file holding the key; else `SHORTLINE_PEXELS_API_KEY`, then `PEXELS_API_KEY`.
    pub api_key_file: Option<PathBuf>,
    pub timeout_ms: u64,
}

impl Default for PexelsConfig {
    fn default() -> Self {
        Self { base_url: "https://api.pexels.com".into(), api_key_file: None, timeout_ms: 30_000 }
    }
}

/// Which family of providers the services use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderSet {
    /// No network, no keys: bundled samples, heuristics, ffmpeg and espeak-ng.
    #[default]
    Offline,
    /// No media work at all, tiny placeholder files. Only for benchmarks of orchestration
    /// overhead.
    Null,
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// One bad value: the field's dotted path, why it is bad, and where it came from (when known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// e.g. `database.max_connections`; empty for errors about a whole source (TOML syntax).
    pub field: String,
    pub reason: String,
    /// e.g. `TOML file shortline.toml`, `environment variable SHORTLINE_DATABASE__URL`.
    pub source: Option<String>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into(), source: None }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.field.is_empty(), &self.source) {
            (false, Some(source)) => write!(f, "{}: {} (from {source})", self.field, self.reason),
            (false, None) => write!(f, "{}: {}", self.field, self.reason),
            (true, Some(source)) => write!(f, "{source}: {}", self.reason),
            (true, None) => f.write_str(&self.reason),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named explicitly could not be found.
    #[error("config file {}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    /// One or more values are bad; all of them are listed.
    #[error("invalid configuration:{}", list(.0))]
    Invalid(Vec<FieldError>),
}

fn list(errors: &[FieldError]) -> String {
    errors.iter().map(|e| format!("\n  - {e}")).collect()
}

impl ConfigError {
    /// The bad values (empty for [`ConfigError::File`]).
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            ConfigError::Invalid(errors) => errors,
            ConfigError::File { .. } => &[],
        }
    }

    /// The error about `field`, if there is one.
    pub fn field(&self, field: &str) -> Option<&FieldError> {
        self.field_errors().iter().find(|e| e.field == field)
    }
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/// Top-level keys of [`Config`], for telling config overrides from other `SHORTLINE_*` variables.
const TOP_LEVEL_KEYS: &[&str] =
    &["data_dir", "database", "media", "orchestrator", "scriptgen", "composer", "pipeline", "telemetry", "providers"];

impl Config {
    /// Defaults, then the TOML file at `path` (which must exist when given), then `SHORTLINE_*`
    /// environment overrides; then [`Config::validate`].
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = path {
            if !path.is_file() {
                let reason = if path.exists() { "not a file" } else { "no such file" };
                return Err(ConfigError::File { path: path.to_owned(), reason: reason.to_owned() });
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        Self::extract(figment.merge(env_provider()))
    }

    /// Defaults, then the TOML text `toml` (no environment): for tests and embedded configs.
    pub fn from_toml_str(toml: &str) -> Result<Config, ConfigError> {
        Self::extract(Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(toml)))
    }

    fn extract(figment: Figment) -> Result<Config, ConfigError> {
        let config: Config = figment.extract().map_err(|error| {
            ConfigError::Invalid(error.into_iter().map(|e| field_error_from_figment(&figment, e)).collect())
        })?;
        match config.check() {
            problems if problems.is_empty() => Ok(config),
            problems => Err(ConfigError::Invalid(
                problems
                    .into_iter()
                    .map(|mut problem| {
                        problem.source =
                            figment.find_metadata(&problem.field).and_then(|md| describe_source(md, &problem.field));
                        problem
                    })
                    .collect(),
            )),
        }
    }

    /// Checks every range and relation a type cannot express; reports all problems at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.check() {
            problems if problems.is_empty() => Ok(()),
            problems => Err(ConfigError::Invalid(problems)),
        }
    }

    fn check(&self) -> Vec<FieldError> {
        let mut v = Problems::default();

        // database
        let db = &self.database;
        if let Some(url) = &db.url {
            v.check(
                !url.trim().is_empty(),
                "database.url",
                "must not be empty (leave it out for the embedded SQLite default)",
            );
        }
        v.check(db.max_connections >= 1, "database.max_connections", "must be at least 1");
        v.check(db.connect_timeout_ms > 0, "database.connect_timeout_ms", "must be greater than 0");
        v.check(db.acquire_timeout_ms > 0, "database.acquire_timeout_ms", "must be greater than 0");

        // media
        let media = &self.media;
        if let Some(root) = &media.root {
            if root.trim().is_empty() {
                v.push("media.root", "must not be empty (leave it out for {data_dir}/media)");
            } else if let Err(reason) = crate::media_store::StoreLocation::parse(root) {
                v.push("media.root", reason);
            }
        }
        if let Some(scratch) = &media.scratch_dir {
            v.check(
                !scratch.as_os_str().is_empty(),
                "media.scratch_dir",
                "must not be empty (leave it out for {data_dir}/scratch)",
            );
        }
        if let Some(endpoint) = &media.s3.endpoint {
            if let Err(reason) = check_endpoint_url(endpoint) {
                v.push("media.s3.endpoint", reason);
            } else if endpoint.starts_with("http://") && !media.s3.allow_http {
                v.push(
                    "media.s3.endpoint",
                    "is plain http://: set media.s3.allow_http = true to allow it (local servers only)",
                );
            }
        }
        if let Some(region) = &media.s3.region {
            v.check(
                !region.trim().is_empty(),
                "media.s3.region",
                "must not be empty (leave it out for the environment's region)",
            );
        }
        v.check(
            media.music_volume.is_finite() && (0.0..=1.0).contains(&media.music_volume),
            "media.music_volume",
            format!("must be between 0 and 1, got {}", media.music_volume),
        );
        v.check(
            media.thumbnail_at_seconds.is_finite() && media.thumbnail_at_seconds >= 0.0,
            "media.thumbnail_at_seconds",
            format!("must be 0 or more seconds, got {}", media.thumbnail_at_seconds),
        );
        for (field, value) in [("media.width", media.width), ("media.height", media.height)] {
            v.check(
                (2..=7680).contains(&value) && value % 2 == 0,
                field,
                format!(
                    "must be an even number of pixels between 2 and 7680 (H.264 4:2:0 needs even sizes), got {value}"
                ),
            );
        }
        v.check((1..=120).contains(&media.fps), "media.fps", format!("must be between 1 and 120, got {}", media.fps));
        v.check(
            X264_PRESETS.contains(&media.x264_preset.as_str()),
            "media.x264_preset",
            format!("unknown preset `{}`, expected one of {}", media.x264_preset, X264_PRESETS.join(", ")),
        );
        v.check(media.crf <= 51, "media.crf", format!("must be between 0 and 51, got {}", media.crf));
        if let Some(font) = &media.font_file {
            v.check(font.is_file(), "media.font_file", format!("no such file: {}", font.display()));
        }

        // endpoints
        let endpoints = [
            ("orchestrator", self.orchestrator.listen, &self.orchestrator.url),
            ("scriptgen", self.scriptgen.listen, &self.scriptgen.url),
            ("composer", self.composer.listen, &self.composer.url),
        ];
        // The orchestrator's clients (the CLI) reach one address; the services' own clients may
        // balance over several (crate::balance).
        if let Err(reason) = check_endpoint_url(&self.orchestrator.url) {
            v.push("orchestrator.url", reason);
        }
        for (name, _, url) in &endpoints[1..] {
            if let Err(reason) = crate::balance::ServiceTarget::parse(url) {
                v.push(format!("{name}.url"), reason);
            }
        }
        for (i, (name, listen, _)) in endpoints.iter().enumerate() {
            if listen.port() == 0 {
                continue;
            }
            if let Some((other, ..)) = endpoints[..i].iter().find(|(_, other, _)| other == listen) {
                v.push(format!("{name}.listen"), format!("{listen} is already {other}.listen"));
            }
        }
        for (field, cap) in [
            ("scriptgen.max_concurrent_media", self.scriptgen.max_concurrent_media),
            ("composer.max_concurrent_renders", self.composer.max_concurrent_renders),
        ] {
            if let Some(cap) = cap {
                v.check((1..=1024).contains(&cap), field, format!("must be between 1 and 1024, got {cap}"));
            }
        }

        // pipeline
        let p = &self.pipeline;
        for (stage, secs) in p.stage_timeout_seconds.entries() {
            v.check(secs > 0, format!("pipeline.stage_timeout_seconds.{stage}"), "must be greater than 0");
        }
        v.check(p.max_attempts >= 1, "pipeline.max_attempts", "must be at least 1");
        v.check(
            (1..=1024).contains(&p.max_concurrent_jobs),
            "pipeline.max_concurrent_jobs",
            "must be between 1 and 1024",
        );
        v.check(p.backoff_initial_ms > 0, "pipeline.backoff_initial_ms", "must be greater than 0");
        v.check(
            p.backoff_max_ms >= p.backoff_initial_ms,
            "pipeline.backoff_max_ms",
            format!("must be at least pipeline.backoff_initial_ms ({})", p.backoff_initial_ms),
        );
        v.check(p.lease_seconds > 0, "pipeline.lease_seconds", "must be greater than 0");
        if let Some(budget) = p.job_budget_usd {
            v.check(
                budget.is_finite() && budget >= 0.0,
                "pipeline.job_budget_usd",
                format!("must be 0 or more USD, got {budget}"),
            );
        }

        // providers
        self.providers.check(&mut v);

        // telemetry
        if let Err(error) = tracing_subscriber::EnvFilter::try_new(&self.telemetry.filter) {
            v.push("telemetry.filter", format!("not a valid filter directive: {error}"));
        }

        v.0
    }

    /// The database URL: `database.url`, or SQLite at `{data_dir}/shortline.db`
    /// (`sqlite://.shortline/shortline.db` by default).
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("shortline.db").display()),
        }
    }

    /// The media store's root: `media.root`, or the directory `{data_dir}/media`.
    pub fn media_root(&self) -> String {
        match &self.media.root {
            Some(root) => root.clone(),
            None => self.data_dir.join("media").display().to_string(),
        }
    }

    /// Where tools work on local copies of object-stored media: `media.scratch_dir`, or
    /// `{data_dir}/scratch`.
    pub fn media_scratch_dir(&self) -> PathBuf {
        self.media.scratch_dir.clone().unwrap_or_else(|| self.data_dir.join("scratch"))
    }
}

fn check_endpoint_url(url: &str) -> Result<(), String> {
    let uri: tonic::transport::Uri = url.parse().map_err(|e| format!("not a URL ({e}): `{url}`"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("must start with http:// or https://, got `{url}`")),
    }
    match uri.authority() {
        None => Err(format!("has no host: `{url}`")),
        Some(authority) if authority.port_u16() == Some(0) => Err(format!("port 0 cannot be reached: `{url}`")),
        Some(_) => Ok(()),
    }
}

#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn check(&mut self, ok: bool, field: impl Into<String>, reason: impl Into<String>) {
        if !ok {
            self.push(field, reason);
        }
    }

    fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(FieldError::new(field, reason));
    }
}

/// `SHORTLINE_*` overrides. Variables whose name has no `__` and is not a top-level key are not
/// configuration (e.g. `SHORTLINE_CONFIG`) and are skipped; everything else is, so typos inside
/// a section are reported by `deny_unknown_fields`.
fn env_provider() -> Env {
    Env::prefixed(ENV_PREFIX)
        .filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            key.contains(ENV_SEPARATOR) || TOP_LEVEL_KEYS.contains(&key.as_str())
        })
        .split(ENV_SEPARATOR)
}

fn field_error_from_figment(figment: &Figment, error: figment::Error) -> FieldError {
    use figment::error::Kind;

    let mut path = error.path.clone();
    let reason = match &error.kind {
        Kind::UnknownField(field, expected) => {
            // figment's path already ends with the unknown key; serde's would not.
            if path.last() != Some(field) {
                path.push(field.clone());
            }
            format!("unknown key, expected one of: {}", expected.join(", "))
        }
        Kind::MissingField(field) => {
            if path.last().map(String::as_str) != Some(field.as_ref()) {
                path.push(field.to_string());
            }
            "missing".to_owned()
        }
        kind => kind.to_string(),
    };
    let field = path.join(".");
    // The value's own provider when the key exists (also for unknown keys, whose error carries
    // the enclosing table's tag); else the provider the error was tagged with.
    let metadata = figment.find_metadata(&field).or(error.metadata.as_ref());
    FieldError { source: metadata.and_then(|md| describe_source(md, &field)), field, reason }
}

/// Where a value came from, in words: a file, an environment variable, or nothing for defaults.
fn describe_source(metadata: &Metadata, field: &str) -> Option<String> {
    match &metadata.source {
        Some(Source::File(path)) => Some(format!("TOML file {}", path.display())),
        _ if metadata.name.contains("environment") => Some(format!(
            "environment variable {ENV_PREFIX}{}",
            field.split('.').map(str::to_ascii_uppercase).collect::<Vec<_>>().join(ENV_SEPARATOR)
        )),
        _ if metadata.name.contains("TOML") => Some("TOML text".to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    // `Jail` closures return `figment::Result`, whose error is large by design.
    #![allow(clippy::unwrap_used, clippy::result_large_err)]

    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_need_no_file_and_are_valid() {
        let config = Config::from_toml_str("").unwrap();
        assert_eq!(config, Config::default());
        config.validate().unwrap();
        assert_eq!(config.database_url(), "sqlite://.shortline/shortline.db");
        assert_eq!(config.media_root(), ".shortline/media");
        assert_eq!(config.orchestrator.listen, "127.0.0.1:50051".parse().unwrap());
        assert_eq!(config.scriptgen.url, "http://127.0.0.1:50052");
        assert_eq!(config.composer.listen.port(), 50053);
        assert_eq!(config.pipeline.stage_timeout_seconds.get("composition"), Some(Duration::from_secs(600)));
        assert_eq!(config.pipeline.stage_timeout_seconds.get("nope"), None);
        assert_eq!(config.telemetry.format, LogFormat::Pretty);
        assert_eq!(config.providers.set, ProviderSet::Offline);
        assert_eq!(config.media.x264_preset, "veryfast");
        assert_eq!(config.database.connect_timeout(), Duration::from_secs(5));
    }

    #[test]
    fn partial_sections_keep_the_other_defaults() {
        let config = Config::from_toml_str(
            r#"
            data_dir = "/var/lib/shortline"

            [scriptgen]
            url = "http://scriptgen:50052"

            [media]
            music_volume = 0.3
            width = 360
            height = 640

            [pipeline.stage_timeout_seconds]
            composition = 900

            [telemetry]
            format = "json"

            [providers]
            set = "null"
            "#,
        )
        .unwrap();
        assert_eq!(config.scriptgen.url, "http://scriptgen:50052");
        // The section's other key keeps *its service's* default, not a generic one.
        assert_eq!(config.scriptgen.listen, "127.0.0.1:50052".parse().unwrap());
        assert_eq!(config.media.music_volume, 0.3);
        assert_eq!((config.media.width, config.media.height), (360, 640));
        assert_eq!(config.media.fps, 30);
        assert_eq!(config.pipeline.stage_timeout_seconds.composition, 900);
        assert_eq!(config.pipeline.stage_timeout_seconds.media_generation, 300);
        assert_eq!(config.telemetry.format, LogFormat::Json);
        assert_eq!(config.providers.set, ProviderSet::Null);
        assert_eq!(config.database_url(), "sqlite:///var/lib/shortline/shortline.db");
        assert_eq!(config.media_root(), "/var/lib/shortline/media");
    }

    #[test]
    fn explicit_url_and_root_win_over_data_dir() {
        let config = Config::from_toml_str(
            "[database]\nurl = \"postgres://u:p@db/shortline\"\n[media]\nroot = \"s3://bucket/media\"\n",
        )
        .unwrap();
        assert_eq!(config.database_url(), "postgres://u:p@db/shortline");
        assert_eq!(config.media_root(), "s3://bucket/media");
        assert_eq!(config.media_scratch_dir(), PathBuf::from(".shortline/scratch"));
    }

    #[test]
    fn s3_store_settings_are_validated_with_their_field() {
        let config = Config::from_toml_str(
            "[media]\nroot = \"s3://media-bucket/shortline\"\nscratch_dir = \"/scratch\"\n[media.s3]\nendpoint = \"http://127.0.0.1:9000\"\nregion = \"eu-west-1\"\nallow_http = true\n",
        )
        .unwrap();
        assert_eq!(config.media.s3.region.as_deref(), Some("eu-west-1"));
        assert_eq!(config.media_scratch_dir(), PathBuf::from("/scratch"));

        let error = Config::from_toml_str(
            "[media]\nroot = \"s3://\"\nscratch_dir = \"\"\n[media.s3]\nendpoint = \"http://minio:9000\"\nregion = \" \"\n",
        )
        .unwrap_err();
        for field in ["media.root", "media.scratch_dir", "media.s3.endpoint", "media.s3.region"] {
            assert!(error.field(field).is_some(), "no error for {field} in:\n{error}");
        }
        assert!(error.field("media.s3.endpoint").unwrap().reason.contains("allow_http"), "{error}");
        for root in ["gs://bucket/x", "s3://Bad_Bucket/x", "s3://bucket/a/../b"] {
            let error = Config::from_toml_str(&format!("[media]\nroot = \"{root}\"\n")).unwrap_err();
            assert!(error.field("media.root").is_some(), "{root} accepted");
        }
    }

    #[test]
    fn wrong_types_are_reported_with_their_path() {
        let error = Config::from_toml_str("[database]\nmax_connections = \"ten\"\n").unwrap_err();
        let field = error.field("database.max_connections").unwrap();
        assert!(field.reason.contains("invalid type"), "{field}");
        assert!(error.to_string().contains("database.max_connections"), "{error}");

        let error = Config::from_toml_str("[orchestrator]\nlisten = \"not an address\"\n").unwrap_err();
        assert!(error.field("orchestrator.listen").is_some(), "{error}");

        let error = Config::from_toml_str("[telemetry]\nformat = \"xml\"\n").unwrap_err();
        assert!(error.field("telemetry.format").unwrap().reason.contains("xml"), "{error}");
    }

    #[test]
    fn unknown_keys_are_reported_with_their_path() {
        let error = Config::from_toml_str("[database]\nurll = \"x\"\n").unwrap_err();
        let field = error.field("database.urll").unwrap();
        assert!(field.reason.contains("unknown key"), "{field}");
        assert!(field.reason.contains("url"), "{field}");

        let error = Config::from_toml_str("colour = \"blue\"\n").unwrap_err();
        assert!(error.field("colour").is_some(), "{error}");
    }

    #[test]
    fn toml_syntax_errors_are_reported() {
        let error = Config::from_toml_str("[database\n").unwrap_err();
        assert_eq!(error.field_errors().len(), 1);
        assert!(!error.to_string().is_empty());
    }

    #[test]
    fn every_range_is_validated_and_all_problems_are_listed() {
        let error = Config::from_toml_str(
            r#"
            [database]
            url = ""
            max_connections = 0
            connect_timeout_ms = 0
            acquire_timeout_ms = 0

            [media]
            music_volume = 1.5
            thumbnail_at_seconds = -1.0
            width = 1081
            height = 0
            fps = 0
            x264_preset = "turbo"
            crf = 52
            font_file = "/definitely/not/a/font.ttf"

            [orchestrator]
            url = "ftp://x"

            [scriptgen]
            listen = "127.0.0.1:50051"
            url = "http://127.0.0.1:0"

            [pipeline]
            max_attempts = 0
            backoff_initial_ms = 500
            backoff_max_ms = 100
            lease_seconds = 0
            trend_refresh_interval_hours = 0

            [pipeline.stage_timeout_seconds]
            review = 0

            [telemetry]
            filter = "shortline=loud"
            "#,
        )
        .unwrap_err();
        let expected = [
            "database.url",
            "database.max_connections",
            "database.connect_timeout_ms",
            "database.acquire_timeout_ms",
            "media.music_volume",
            "media.thumbnail_at_seconds",
            "media.width",
            "media.height",
            "media.fps",
            "media.x264_preset",
            "media.crf",
            "media.font_file",
            "orchestrator.url",
            "scriptgen.url",
            "scriptgen.listen",
            "pipeline.max_attempts",
            "pipeline.backoff_max_ms",
            "pipeline.lease_seconds",
            "pipeline.stage_timeout_seconds.review",
            "telemetry.filter",
        ];
        for field in expected {
            assert!(error.field(field).is_some(), "no error for {field} in:\n{error}");
        }
        assert_eq!(error.field_errors().len(), expected.len(), "{error}");
        assert!(error.field("media.music_volume").unwrap().reason.contains("between 0 and 1"));
        assert!(error.field("scriptgen.listen").unwrap().reason.contains("orchestrator.listen"));
        // Validation errors name their source too.
        let source = error.field("media.crf").unwrap().source.clone().unwrap();
        assert!(source.contains("TOML"), "{source}");
    }

    #[test]
    fn port_zero_listeners_may_coincide() {
        let config =
            Config::from_toml_str("[orchestrator]\nlisten = \"127.0.0.1:0\"\n[scriptgen]\nlisten = \"127.0.0.1:0\"\n")
                .unwrap();
        assert_eq!(config.scriptgen.listen.port(), 0);
    }

    #[test]
    fn validate_works_on_values_built_in_code() {
        let mut config = Config::default();
        config.media.music_volume = f64::NAN;
        let error = config.validate().unwrap_err();
        assert!(error.field("media.music_volume").is_some());
        assert_eq!(error.field("media.music_volume").unwrap().source, None);
    }

    #[test]
    fn load_without_file_uses_env_overrides() {
        Jail::expect_with(|jail| {
            jail.set_env("SHORTLINE_DATABASE__URL", "postgres://u:p@db:5432/shortline");
            jail.set_env("SHORTLINE_DATABASE__MAX_CONNECTIONS", "3");
            jail.set_env("SHORTLINE_MEDIA__MUSIC_VOLUME", "0.5");
            jail.set_env("SHORTLINE_PIPELINE__STAGE_TIMEOUT_SECONDS__COMPOSITION", "900");
            jail.set_env("SHORTLINE_COMPOSER__LISTEN", "0.0.0.0:6000");
            jail.set_env("SHORTLINE_TELEMETRY__FORMAT", "json");
            jail.set_env("SHORTLINE_DATA_DIR", "/data");
            // Not configuration: no `__` and not a top-level key.
            jail.set_env("SHORTLINE_CONFIG", "/etc/shortline.toml");
            let config = Config::load(None).unwrap();
            assert_eq!(config.database_url(), "postgres://u:p@db:5432/shortline");
            assert_eq!(config.database.max_connections, 3);
            assert_eq!(config.media.music_volume, 0.5);
            assert_eq!(config.pipeline.stage_timeout_seconds.composition, 900);
            assert_eq!(config.composer.listen, "0.0.0.0:6000".parse().unwrap());
            assert_eq!(config.telemetry.format, LogFormat::Json);
            assert_eq!(config.data_dir, PathBuf::from("/data"));
            Ok(())
        });
    }

    #[test]
    fn env_overrides_the_file() {
        Jail::expect_with(|jail| {
            jail.create_file("shortline.toml", "[database]\nmax_connections = 20\nacquire_timeout_ms = 100\n")?;
            jail.set_env("SHORTLINE_DATABASE__MAX_CONNECTIONS", "7");
            let path = jail.directory().join("shortline.toml");
            let config = Config::load(Some(&path)).unwrap();
            assert_eq!(config.database.max_connections, 7);
            assert_eq!(config.database.acquire_timeout_ms, 100);
            Ok(())
        });
    }

    #[test]
    fn bad_env_values_name_the_variable() {
        Jail::expect_with(|jail| {
            jail.set_env("SHORTLINE_DATABASE__MAX_CONNECTIONS", "many");
            let error = Config::load(None).unwrap_err();
            let field = error.field("database.max_connections").unwrap();
            assert_eq!(field.source.as_deref(), Some("environment variable SHORTLINE_DATABASE__MAX_CONNECTIONS"));
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("SHORTLINE_DATABASE__URLL", "x");
            let error = Config::load(None).unwrap_err();
            let field = error.field("database.urll").unwrap();
            assert_eq!(field.source.as_deref(), Some("environment variable SHORTLINE_DATABASE__URLL"));
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("SHORTLINE_MEDIA__MUSIC_VOLUME", "2");
            let error = Config::load(None).unwrap_err();
            let field = error.field("media.music_volume").unwrap();
            assert_eq!(field.source.as_deref(), Some("environment variable SHORTLINE_MEDIA__MUSIC_VOLUME"));
            Ok(())
        });
    }

    #[test]
    fn file_errors_name_the_file() {
        Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[media]\ncrf = 99\n")?;
            let path = jail.directory().join("bad.toml");
            let error = Config::load(Some(&path)).unwrap_err();
            let field = error.field("media.crf").unwrap();
            assert!(field.source.as_deref().unwrap().contains("bad.toml"), "{field}");

            let missing = jail.directory().join("missing.toml");
            let error = Config::load(Some(&missing)).unwrap_err();
            assert!(matches!(error, ConfigError::File { .. }), "{error}");
            assert!(error.to_string().contains("missing.toml"));
            Ok(())
        });
    }
}
