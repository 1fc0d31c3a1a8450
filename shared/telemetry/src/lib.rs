//! Logging and tracing setup: one `tracing` subscriber per process, human-readable or JSON.
//!
//! Services and the CLI call [`init`] once with `[telemetry]` from the config; tests call
//! [`init_for_tests`] as often as they like. The filter is an `EnvFilter` directive; `RUST_LOG`,
//! when set, overrides the configured one. Logs go to stderr so the CLI's stdout stays clean.
//!
//! Every gRPC request runs in a span carrying `job_id` (see `shortline_grpc`); the JSON format
//! prints the current span and its parents with each event, so `job_id` is on every line.

pub mod metrics;

use std::io::IsTerminal;
use std::sync::Once;

use tracing_subscriber::EnvFilter;

pub use shortline_config::LogFormat;

/// The environment variable that, when set, overrides the configured filter.
pub const RUST_LOG: &str = "RUST_LOG";

/// The environment variable that makes [`init_for_tests`] print logs (`TEST_LOG=1`).
pub const TEST_LOG: &str = "TEST_LOG";

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The filter (from the config or `RUST_LOG`) does not parse.
    #[error("invalid log filter {source_name} `{filter}`: {reason}")]
    InvalidFilter { source_name: &'static str, filter: String, reason: String },
}

/// Installs the global subscriber: `format`, filtered by `RUST_LOG` if set, else by `filter`.
///
/// Idempotent: if a global subscriber is already installed (an earlier call, or a test
/// harness), this is a no-op that returns `Ok(false)`; `Ok(true)` means this call installed it.
pub fn init(format: LogFormat, filter: &str) -> Result<bool, TelemetryError> {
    let filter = env_filter(filter)?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Pretty => builder.with_ansi(std::io::stderr().is_terminal()).try_init().is_ok(),
        LogFormat::Json => {
            builder.json().with_current_span(true).with_span_list(true).flatten_event(true).try_init().is_ok()
        }
    };
    Ok(installed)
}

/// `RUST_LOG` if it is set and not empty, else `configured`.
pub fn env_filter(configured: &str) -> Result<EnvFilter, TelemetryError> {
    match std::env::var(RUST_LOG) {
        Ok(from_env) if !from_env.trim().is_empty() => parse_filter(RUST_LOG, &from_env),
        _ => parse_filter("telemetry.filter", configured),
    }
}

fn parse_filter(source_name: &'static str, filter: &str) -> Result<EnvFilter, TelemetryError> {
    EnvFilter::try_new(filter).map_err(|error| TelemetryError::InvalidFilter {
        source_name,
        filter: filter.to_owned(),
        reason: error.to_string(),
    })
}

/// The default filter of [`init_for_tests`]: shortline's own crates (every target starting with
/// `shortline`) at `debug`, dependencies (h2, hyper, diesel…) at `info`.
pub const TEST_FILTER: &str = "info,shortline=debug";

/// For tests: installs a subscriber once per process, whoever calls first. With `TEST_LOG=1`
/// logs go to the test harness's captured output (filter: `RUST_LOG`, default
/// [`TEST_FILTER`]: shortline's crates at `debug`, the rest at `info`);
/// otherwise events are still formatted (so field formatting is exercised) but discarded.
pub fn init_for_tests() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let show = std::env::var(TEST_LOG).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        let filter = env_filter(TEST_FILTER).unwrap_or_else(|_| EnvFilter::new(TEST_FILTER));
        let builder = tracing_subscriber::fmt().with_env_filter(filter);
        // Err: someone else's subscriber is already global; theirs wins.
        let _ = if show {
            builder.with_test_writer().with_ansi(std::io::stdout().is_terminal()).try_init()
        } else {
            builder.with_writer(std::io::sink).try_init()
        };
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn init_for_tests_is_safe_to_call_repeatedly_and_concurrently() {
        let threads: Vec<_> = (0..8).map(|_| std::thread::spawn(init_for_tests)).collect();
        for thread in threads {
            thread.join().unwrap();
        }
        init_for_tests();
        tracing::info!(job_id = 1, "logging works after init_for_tests");
        // A later `init` finds the subscriber installed and does nothing.
        assert!(!init(LogFormat::Json, "info").unwrap());
        assert!(!init(LogFormat::Pretty, "info").unwrap());
    }

    #[test]
    fn configured_filters_are_checked() {
        // RUST_LOG is not touched here; when a developer sets it, it is what gets parsed.
        if std::env::var(RUST_LOG).is_err() {
            assert!(env_filter("shortline=debug,tower=warn").is_ok());
            let error = env_filter("shortline=loud").unwrap_err();
            assert!(error.to_string().contains("telemetry.filter"), "{error}");
        }
        assert!(parse_filter("test", "info").is_ok());
        assert!(parse_filter("test", "=====").is_err());
    }
}
