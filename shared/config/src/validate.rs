//! Validation: [`Config::validate`]'s range and relation checks, the errors that name each bad
//! value's field and source ([`FieldError`], [`ConfigError`]), and the mapping of figment's errors.

use std::fmt;
use std::path::PathBuf;

use figment::{Figment, Metadata, Source};

use crate::{Config, ENV_PREFIX, ENV_SEPARATOR, X264_PRESETS};

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

impl Config {
    /// Checks every range and relation a type cannot express; reports all problems at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.check() {
            problems if problems.is_empty() => Ok(()),
            problems => Err(ConfigError::Invalid(problems)),
        }
    }

    pub(crate) fn check(&self) -> Vec<FieldError> {
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
            } else if let Err(reason) = crate::StoreLocation::parse(root) {
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
        // A font family goes into an ASS style line, whose fields are separated by commas.
        v.check(
            !media.font.trim().is_empty() && !media.font.contains(',') && !media.font.chars().any(char::is_control),
            "media.font",
            format!("must be a font family name without commas or control characters, got {:?}", media.font),
        );

        // endpoints
        let endpoints = [
            ("orchestrator", self.orchestrator.listen, &self.orchestrator.url),
            ("scriptgen", self.scriptgen.listen, &self.scriptgen.url),
            ("composer", self.composer.listen, &self.composer.url),
        ];
        // The orchestrator's clients (the CLI) reach one address; the services' own clients may
        // balance over several (shortline_grpc::balance).
        if let Err(reason) = check_endpoint_url(&self.orchestrator.url) {
            v.push("orchestrator.url", reason);
        }
        for (name, _, url) in &endpoints[1..] {
            if let Err(reason) = crate::ServiceTarget::parse(url) {
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
}

pub(crate) fn check_endpoint_url(url: &str) -> Result<(), String> {
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
pub(crate) struct Problems(Vec<FieldError>);

impl Problems {
    pub(crate) fn check(&mut self, ok: bool, field: impl Into<String>, reason: impl Into<String>) {
        if !ok {
            self.push(field, reason);
        }
    }

    pub(crate) fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(FieldError::new(field, reason));
    }
}

pub(crate) fn field_error_from_figment(figment: &Figment, error: figment::Error) -> FieldError {
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
pub(crate) fn describe_source(metadata: &Metadata, field: &str) -> Option<String> {
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
    #![allow(clippy::unwrap_used)]

    use std::path::PathBuf;

    use crate::Config;

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
            font = "Noto Sans, Bold"

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
            "media.font",
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
}
