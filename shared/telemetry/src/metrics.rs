//! Prometheus metrics: one process-wide registry, a tower layer counting gRPC calls, and the
//! `/metrics` HTTP endpoint each service serves on its `metrics_listen` address.
//!
//! The gRPC series use the names gRPC dashboards know (`grpc_server_handled_total`,
//! `grpc_server_handling_seconds`); shortline's own are prefixed `shortline_`. Every metric is
//! listed in docs/OBSERVABILITY.md. Gauges read from elsewhere (jobs by status, pool usage) are
//! refreshed by the service's `refresh` hook just before each scrape is encoded.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tonic::codegen::http;

use tokio_util::sync::CancellationToken;

/// `grpc_service`, `grpc_method`, `grpc_code` of one finished call.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GrpcCallLabels {
    pub grpc_service: String,
    pub grpc_method: String,
    pub grpc_code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageOutcomeLabels {
    pub stage: String,
    /// `succeeded`, `failed` or `cancelled`.
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    pub stage: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderOutcomeLabels {
    pub provider: String,
    /// `ok` or `error`.
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    pub provider: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `ok` or `failed`.
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolStateLabels {
    /// `in_use` or `waiting`.
    pub state: String,
}

fn seconds_histogram() -> Histogram {
    // 5 ms … ~80 s: RPCs are milliseconds, stages and renders seconds.
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

type SecondsFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric shortline exports.
pub struct Metrics {
    registry: Registry,
    pub grpc_handled: Family<GrpcCallLabels, Counter>,
    pub grpc_handling_seconds: SecondsFamily<GrpcCallLabels>,
    pub stage_attempt_seconds: SecondsFamily<StageOutcomeLabels>,
    pub stage_retries: Family<StageLabels, Counter>,
    pub lease_takeovers: Counter,
    pub provider_calls: Family<ProviderOutcomeLabels, Counter>,
    pub provider_spend_micro_usd: Family<ProviderLabels, Counter>,
    pub render_seconds: Histogram,
    pub jobs: Family<StatusLabels, Gauge>,
    pub db_pool_connections: Family<PoolStateLabels, Gauge>,
    pub trace_spans_ended: Counter,
    pub trace_spans_exported: Family<OutcomeLabels, Counter>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        let grpc_handled = Family::<GrpcCallLabels, Counter>::default();
        registry.register("grpc_server_handled", "gRPC calls completed on the server", grpc_handled.clone());
        let grpc_handling_seconds: SecondsFamily<GrpcCallLabels> = Family::new_with_constructor(seconds_histogram);
        registry.register(
            "grpc_server_handling_seconds",
            "time until the server answered a gRPC call",
            grpc_handling_seconds.clone(),
        );
        let stage_attempt_seconds: SecondsFamily<StageOutcomeLabels> = Family::new_with_constructor(seconds_histogram);
        registry.register(
            "shortline_stage_attempt_duration_seconds",
            "duration of one stage attempt, by stage and outcome",
            stage_attempt_seconds.clone(),
        );
        let stage_retries = Family::<StageLabels, Counter>::default();
        registry.register(
            "shortline_stage_retries",
            "stage attempts that failed and were retried",
            stage_retries.clone(),
        );
        let lease_takeovers = Counter::default();
        registry.register(
            "shortline_lease_takeovers",
            "jobs taken over from a worker whose lease expired",
            lease_takeovers.clone(),
        );
        let provider_calls = Family::<ProviderOutcomeLabels, Counter>::default();
        registry.register("shortline_provider_calls", "calls to paid or external providers", provider_calls.clone());
        let provider_spend_micro_usd = Family::<ProviderLabels, Counter>::default();
        registry.register(
            "shortline_provider_spend_micro_usd",
            "what provider calls cost, in micro-USD",
            provider_spend_micro_usd.clone(),
        );
        let render_seconds = seconds_histogram();
        registry.register(
            "shortline_render_seconds",
            "time the composer took to render one video",
            render_seconds.clone(),
        );
        let jobs = Family::<StatusLabels, Gauge>::default();
        registry.register("shortline_jobs", "jobs in the database by status", jobs.clone());
        let db_pool_connections = Family::<PoolStateLabels, Gauge>::default();
        registry.register(
            "shortline_db_pool_connections",
            "database pool connections in use, and callers waiting for one",
            db_pool_connections.clone(),
        );
        let trace_spans_ended = Counter::default();
        registry.register(
            "shortline_trace_spans_ended",
            "trace spans ended and queued for export (when traces are on)",
            trace_spans_ended.clone(),
        );
        let trace_spans_exported = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "shortline_trace_spans_exported",
            "trace spans sent to the OTLP collector, by whether it took them; ended minus exported \
             is what the full queue dropped",
            trace_spans_exported.clone(),
        );
        Self {
            registry,
            grpc_handled,
            grpc_handling_seconds,
            stage_attempt_seconds,
            stage_retries,
            lease_takeovers,
            provider_calls,
            provider_spend_micro_usd,
            render_seconds,
            jobs,
            db_pool_connections,
            trace_spans_ended,
            trace_spans_exported,
        }
    }

    /// The registry in the Prometheus text exposition (OpenMetrics) format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// Records one stage attempt that ran for `elapsed` and ended with `outcome`.
    pub fn stage_attempt(&self, stage: &str, outcome: &str, elapsed: Duration) {
        let labels = StageOutcomeLabels { stage: stage.to_owned(), outcome: outcome.to_owned() };
        self.stage_attempt_seconds.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    /// Records one provider HTTP call (its retries included) and whether it succeeded.
    pub fn provider_call(&self, provider: &str, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.provider_calls
            .get_or_create(&ProviderOutcomeLabels { provider: provider.to_owned(), outcome: outcome.to_owned() })
            .inc();
    }

    /// Adds what a paid call cost (micro-USD) to the provider's spend.
    pub fn provider_spend(&self, provider: &str, cost_micros: i64) {
        if let Ok(cost) = u64::try_from(cost_micros) {
            if cost > 0 {
                self.provider_spend_micro_usd
                    .get_or_create(&ProviderLabels { provider: provider.to_owned() })
                    .inc_by(cost);
            }
        }
    }

    /// Records a batch of `spans` the trace exporter sent, and whether the collector took it.
    pub fn trace_spans_exported(&self, ok: bool, spans: u64) {
        let outcome = if ok { "ok" } else { "failed" };
        self.trace_spans_exported.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc_by(spans);
    }

    /// Sets the pool gauges from a pool's current state.
    pub fn pool_usage(&self, in_use: usize, waiting: usize) {
        for (state, value) in [("in_use", in_use), ("waiting", waiting)] {
            let value = i64::try_from(value).unwrap_or(i64::MAX);
            self.db_pool_connections.get_or_create(&PoolStateLabels { state: state.to_owned() }).set(value);
        }
    }
}

/// The process's metrics (shared by every service a process runs).
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

// ---------------------------------------------------------------------------------------------
// The gRPC server layer
// ---------------------------------------------------------------------------------------------

/// A tower layer counting every call a gRPC server answers into `grpc_server_handled_total` and
/// `grpc_server_handling_seconds` (time to the response headers; a streaming call's status is
/// the one known then, `OK` unless it failed before answering).
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcMetricsLayer;

impl<S> tower_layer::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics { inner }
    }
}

#[derive(Debug, Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
}

impl<S, B, R> tower_service::Service<http::Request<B>> for GrpcMetrics<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    R: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (grpc_service, grpc_method) = split_path(request.uri().path());
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            let grpc_code = match &response {
                Ok(response) => code_name(response.headers().get("grpc-status").and_then(|v| v.to_str().ok())),
                Err(_) => "UNAVAILABLE".to_owned(),
            };
            let labels = GrpcCallLabels { grpc_service, grpc_method, grpc_code };
            let metrics = global();
            metrics.grpc_handled.get_or_create(&labels).inc();
            metrics.grpc_handling_seconds.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
            response
        })
    }
}

/// `/shortline.v1.ScriptService/GenerateScript` → (`shortline.v1.ScriptService`, `GenerateScript`).
fn split_path(path: &str) -> (String, String) {
    let path = path.trim_start_matches('/');
    match path.split_once('/') {
        Some((service, method)) => (service.to_owned(), method.to_owned()),
        None => (path.to_owned(), String::new()),
    }
}

/// The status code's name as gRPC dashboards spell it (`OK`, `NOT_FOUND`…); a response without
/// `grpc-status` in its headers carries it in the trailers, which only successful calls do here.
fn code_name(grpc_status: Option<&str>) -> String {
    let code = grpc_status.and_then(|v| v.parse::<i32>().ok()).map_or(tonic::Code::Ok, tonic::Code::from_i32);
    let name = match code {
        tonic::Code::Ok => "OK",
        tonic::Code::Cancelled => "CANCELLED",
        tonic::Code::Unknown => "UNKNOWN",
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        tonic::Code::NotFound => "NOT_FOUND",
        tonic::Code::AlreadyExists => "ALREADY_EXISTS",
        tonic::Code::PermissionDenied => "PERMISSION_DENIED",
        tonic::Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        tonic::Code::FailedPrecondition => "FAILED_PRECONDITION",
        tonic::Code::Aborted => "ABORTED",
        tonic::Code::OutOfRange => "OUT_OF_RANGE",
        tonic::Code::Unimplemented => "UNIMPLEMENTED",
        tonic::Code::Internal => "INTERNAL",
        tonic::Code::Unavailable => "UNAVAILABLE",
        tonic::Code::DataLoss => "DATA_LOSS",
        tonic::Code::Unauthenticated => "UNAUTHENTICATED",
    };
    name.to_owned()
}

// ---------------------------------------------------------------------------------------------
// The `/metrics` endpoint
// ---------------------------------------------------------------------------------------------

type RefreshFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What a service updates just before a scrape is answered (gauges read from the database).
#[derive(Clone)]
pub struct Refresh(Arc<dyn Fn() -> RefreshFuture + Send + Sync>);

impl Refresh {
    pub fn new<F, Fut>(refresh: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self(Arc::new(move || Box::pin(refresh())))
    }
}

impl std::fmt::Debug for Refresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Refresh")
    }
}

const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds `address` and serves `GET /metrics` there until `shutdown`, in a task of its own.
/// Returns the bound address (the real port when the configured one was 0).
pub async fn spawn_server(
    address: SocketAddr,
    refresh: Refresh,
    shutdown: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    tracing::info!(addr = %bound, "metrics listening at /metrics");
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                () = shutdown.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "metrics endpoint cannot accept a connection");
                        continue;
                    }
                },
            };
            let refresh = refresh.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let refresh = refresh.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(request.uri().path(), &refresh).await) }
                });
                // A scraper that hangs up mid-answer is its own business.
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(bound)
}

async fn answer(path: &str, refresh: &Refresh) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::new()));
    if path != "/metrics" {
        *response.status_mut() = hyper::StatusCode::NOT_FOUND;
        return response;
    }
    (refresh.0)().await;
    *response.body_mut() = Full::new(Bytes::from(global().encode()));
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(OPENMETRICS_CONTENT_TYPE));
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn paths_and_codes_become_dashboard_labels() {
        assert_eq!(
            split_path("/shortline.v1.ScriptService/GenerateScript"),
            ("shortline.v1.ScriptService".to_owned(), "GenerateScript".to_owned())
        );
        assert_eq!(code_name(None), "OK");
        assert_eq!(code_name(Some("5")), "NOT_FOUND");
        assert_eq!(code_name(Some("3")), "INVALID_ARGUMENT");
    }

    /// Every family, with one series each, as the registry exposes them: (name, type).
    fn every_family() -> Vec<(String, String)> {
        let metrics = Metrics::new();
        let grpc = GrpcCallLabels { grpc_service: "s".into(), grpc_method: "m".into(), grpc_code: "OK".into() };
        metrics.grpc_handled.get_or_create(&grpc).inc();
        metrics.grpc_handling_seconds.get_or_create(&grpc).observe(0.1);
        metrics.stage_attempt("composition", "succeeded", Duration::from_secs(1));
        metrics.stage_retries.get_or_create(&StageLabels { stage: "composition".into() }).inc();
        metrics.lease_takeovers.inc();
        metrics.provider_call("p", true);
        metrics.provider_spend("p", 1);
        metrics.render_seconds.observe(1.0);
        metrics.jobs.get_or_create(&StatusLabels { status: "queued".into() }).set(1);
        metrics.pool_usage(1, 0);
        metrics.trace_spans_ended.inc();
        metrics.trace_spans_exported(false, 1);
        let text = metrics.encode();
        text.lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .filter_map(|rest| rest.split_once(' '))
            .map(|(name, kind)| (name.to_owned(), kind.to_owned()))
            .collect()
    }

    /// docs/OBSERVABILITY.md lists every metric (counters with their `_total` suffix), and the
    /// Grafana dashboard queries only metrics that exist.
    #[test]
    fn the_docs_and_the_dashboard_name_the_real_metrics() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let docs = std::fs::read_to_string(root.join("docs/OBSERVABILITY.md")).unwrap();
        let families = every_family();
        assert_eq!(families.len(), 12, "{families:?}");
        let exposed: Vec<String> = families
            .iter()
            .map(|(name, kind)| if kind == "counter" { format!("{name}_total") } else { name.clone() })
            .collect();
        for name in &exposed {
            assert!(docs.contains(&format!("| `{name}` |")), "docs/OBSERVABILITY.md does not list `{name}`");
        }

        let dashboard = std::fs::read_to_string(root.join("deploy/grafana/shortline.json")).unwrap();
        let dashboard: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
        let mut queried = 0;
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().unwrap();
                let names = expr
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|word| word.starts_with("shortline_") || word.starts_with("grpc_server_"));
                for name in names {
                    let base = ["_bucket", "_count", "_sum"]
                        .iter()
                        .find_map(|suffix| name.strip_suffix(suffix))
                        .filter(|base| exposed.iter().any(|e| e == base))
                        .unwrap_or(name);
                    assert!(exposed.iter().any(|e| e == base), "the dashboard queries `{name}`, which is not exported");
                    queried += 1;
                }
            }
        }
        assert!(queried >= exposed.len(), "the dashboard queries {queried} series");
    }

    #[tokio::test]
    async fn the_endpoint_serves_the_registry_after_refreshing() {
        let shutdown = CancellationToken::new();
        let refresh = Refresh::new(|| async { global().pool_usage(3, 1) });
        let address = spawn_server("127.0.0.1:0".parse().unwrap(), refresh, shutdown.clone()).await.unwrap();
        global().stage_attempt("script_generation", "succeeded", Duration::from_millis(20));
        global().provider_call("openai", true);
        global().provider_spend("openai", 1500);

        let text = reqwest::get(format!("http://{address}/metrics")).await.unwrap().text().await.unwrap();
        assert!(text.contains("shortline_db_pool_connections{state=\"in_use\"} 3"), "{text}");
        assert!(text.contains("shortline_db_pool_connections{state=\"waiting\"} 1"), "{text}");
        assert!(
            text.contains(
                "shortline_stage_attempt_duration_seconds_count{stage=\"script_generation\",outcome=\"succeeded\"}"
            ),
            "{text}"
        );
        assert!(text.contains("shortline_provider_spend_micro_usd_total{provider=\"openai\"}"), "{text}");
        assert!(text.contains("shortline_provider_calls_total{provider=\"openai\",outcome=\"ok\"}"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        let missing = reqwest::get(format!("http://{address}/other")).await.unwrap();
        assert_eq!(missing.status(), reqwest::StatusCode::NOT_FOUND);
        shutdown.cancel();
    }
}
