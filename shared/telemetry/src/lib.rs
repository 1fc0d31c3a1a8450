//! Logging and tracing setup: one `tracing` subscriber per process, human-readable or JSON.
//!
//! Services and the CLI call [`init`] once with `[telemetry]` from the config; tests call
//! [`init_for_tests`] as often as they like. The filter is an `EnvFilter` directive; `RUST_LOG`,
//! when set, overrides the configured one. Logs go to stderr so the CLI's stdout stays clean.
//!
//! Every gRPC request runs in a span carrying `job_id` (see `shortline_grpc`); the JSON format
//! prints the current span and its parents with each event, so `job_id` is on every line.
//! With OpenTelemetry on ([`otel`]) spans are also exported, and JSON lines carry `trace_id` and
//! `span_id`.

mod job_ids;
pub mod metrics;
pub mod otel;

pub use job_ids::current_job_id;

use std::io::IsTerminal;
use std::sync::Once;

use tracing::{Level, Metadata};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

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
    /// The OTLP exporter cannot be built from the `OTEL_*` environment variables.
    #[error("OpenTelemetry exporter (OTEL_EXPORTER_OTLP_*): {0}")]
    Exporter(String),
}

/// Installs the global subscriber: `format`, filtered by `RUST_LOG` if set, else by `filter`,
/// and, when the `OTEL_*` environment asks for it, the OpenTelemetry exporter (see [`otel`];
/// call inside a tokio runtime). `service` names the process in traces (`shortline-composer`)
/// unless `OTEL_SERVICE_NAME` does.
///
/// Idempotent: if a global subscriber is already installed (an earlier call, or a test
/// harness), this is a no-op that returns `Ok(false)`; `Ok(true)` means this call installed it.
pub fn init(format: LogFormat, filter: &str, service: &str) -> Result<bool, TelemetryError> {
    let filter = env_filter(filter)?;
    let traces = otel::tracer_from_env(service)?
        .map(|tracer| tracing_opentelemetry::layer().with_tracer(tracer).with_filter(filter_fn(exported)));
    let logs = match format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .json() // its field formatter; the event format is ours
            .event_format(WithTraceIds::json())
            .boxed(),
    };
    Ok(tracing_subscriber::registry().with(filter).with(job_ids::JobIds).with(logs).with(traces).try_init().is_ok())
}

/// What goes to the trace exporter: shortline's own spans (a dependency's — h2, hyper — would
/// only bury them), and warnings and errors as span events.
fn exported(metadata: &Metadata<'_>) -> bool {
    if metadata.is_span() {
        *metadata.level() <= Level::INFO && metadata.target().starts_with("shortline")
    } else {
        *metadata.level() <= Level::WARN
    }
}

/// The JSON format with the OpenTelemetry `trace_id` and `span_id` of the event's span added
/// to each line (nothing added when tracing is off).
struct WithTraceIds(Format<Json>);

impl WithTraceIds {
    /// One flat object per event, with the current span and the span list (`job_id` on every line).
    fn json() -> Self {
        WithTraceIds(Format::default().json().with_current_span(true).with_span_list(true).flatten_event(true))
    }
}

impl<S, N> FormatEvent<S, N> for WithTraceIds
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    Format<Json>: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let Some((trace_id, span_id)) = otel::current_ids() else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        // The JSON format writes one object and a newline: the ids go in before its closing brace.
        match line.trim_end().strip_suffix('}') {
            Some(open) => writeln!(writer, r#"{open},"trace_id":"{trace_id}","span_id":"{span_id}"}}"#),
            None => writer.write_str(&line),
        }
    }
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
        assert!(!init(LogFormat::Json, "info", "test").unwrap());
        assert!(!init(LogFormat::Pretty, "info", "test").unwrap());
    }

    /// A `Write` into a shared buffer, for reading back what a subscriber printed.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_the_trace_and_span_ids() {
        use opentelemetry::trace::TracerProvider as _;

        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .event_format(WithTraceIds::json())
                    .with_writer(move || writer.clone()),
            )
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("outside any span");
            let span = tracing::info_span!("job", job_id = 3);
            let _entered = span.enter();
            tracing::info!("inside the job");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].get("trace_id").is_none(), "no span, no ids: {text}");
        assert_eq!(lines[1]["message"], "inside the job");
        assert_eq!(lines[1]["trace_id"].as_str().unwrap().len(), 32, "{text}");
        assert_eq!(lines[1]["span_id"].as_str().unwrap().len(), 16, "{text}");
        assert_eq!(lines[1]["span"]["job_id"], 3, "the span's fields are still there: {text}");
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
