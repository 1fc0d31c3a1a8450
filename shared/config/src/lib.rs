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

pub mod catalogue;
mod lineage;
mod locations;
pub mod pem;
mod providers;
mod sections;
mod token;
mod validate;

pub use lineage::LineageConfig;
pub use locations::{check_bucket_name, is_valid_key, ServiceTarget, StoreLocation};
pub use providers::{
    AnthropicConfig, ApifyConfig, AvatarProviderName, ClipProviderName, ElevenLabsConfig, FalConfig, FishAudioConfig,
    HeygenConfig, LlmProviderName, OpenAiCompatibleConfig, OpenAiConfig, PexelsConfig, Price, ProviderHttpConfig,
    ProviderSet, ProvidersConfig, TrendSourceName, VoiceProviderName, YoutubeConfig,
};
pub use sections::{
    AuthConfig, ComposerConfig, DatabaseConfig, EndpointConfig, LogFormat, MediaConfig, PipelineConfig, S3Config,
    ScriptgenConfig, StageTimeouts, TelemetryConfig, TlsConfig, THREADS_PER_ENCODE, X264_PRESETS,
};
pub use token::BearerToken;
pub use validate::{ConfigError, FieldError};

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use validate::{describe_source, field_error_from_figment};

/// Prefix of every environment override; nested keys are separated by `__`.
pub const ENV_PREFIX: &str = "SHORTLINE_";

/// Separator of nested keys in environment variable names.
pub const ENV_SEPARATOR: &str = "__";

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
    pub lineage: LineageConfig,
    pub providers: ProvidersConfig,
    pub auth: AuthConfig,
    pub tls: TlsConfig,
    /// The token the `shortline` command sends (`--token` / `SHORTLINE_TOKEN`): a secret, so
    /// never read from the file or the `SHORTLINE_*` keys, and never printed.
    #[serde(skip)]
    pub client_token: crate::BearerToken,
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
            lineage: LineageConfig::default(),
            providers: ProvidersConfig::default(),
            auth: AuthConfig::default(),
            tls: TlsConfig::default(),
            client_token: crate::BearerToken::default(),
        }
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

#[cfg(test)]
mod tests {
    // `Jail` closures return `figment::Result`, whose error is large by design.
    #![allow(clippy::unwrap_used, clippy::result_large_err)]

    use super::*;
    use figment::Jail;
    use std::time::Duration;

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
