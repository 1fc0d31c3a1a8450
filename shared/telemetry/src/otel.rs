//! OpenTelemetry traces: the OTLP/gRPC exporter, configured only by the standard environment
//! variables, and the W3C trace context (`traceparent`) that carries a trace between processes.
//!
//! Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set.
//! The SDK reads the rest itself: `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` (the
//! resource), `OTEL_TRACES_SAMPLER`/`_ARG`, `OTEL_BSP_*` (the batch queue) and
//! `OTEL_EXPORTER_OTLP_TIMEOUT`. Spans leave through a batch processor on its own thread with a
//! bounded queue: ending a span only queues it, and a full queue drops it, so a slow or absent
//! collector never slows or fails a request. What is lost is counted: every span that ends
//! (`shortline_trace_spans_ended_total`) and every span handed to the exporter, by outcome
//! (`shortline_trace_spans_exported_total{outcome="ok"|"failed"}`); the queue's drops are the
//! difference (less the at most `OTEL_BSP_MAX_QUEUE_SIZE` spans still queued).
//!
//! With tracing off every function here still works and does nothing: there is no span context
//! to send, and what arrives is ignored.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, SdkTracerProvider, Span, SpanData, SpanExporter, SpanProcessor, Tracer,
};
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::TelemetryError;

/// The variables that turn tracing on (the traces-only one wins, as the specification says).
pub const ENDPOINT_VARS: [&str; 2] = ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"];

/// The W3C trace context headers.
pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

/// The provider [`init`](crate::init) installed, kept for [`shutdown`].
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Whether the environment asks for traces.
pub fn enabled_by_env() -> bool {
    ENDPOINT_VARS.iter().any(|name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty()))
}

/// The tracer exporting over OTLP/gRPC, when the environment asks for traces. Must be called
/// inside a tokio runtime (the exporter's channel lives on it). `service` names the process
/// unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` names it.
pub(crate) fn tracer_from_env(service: &str) -> Result<Option<Tracer>, TelemetryError> {
    if !enabled_by_env() {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
        .map_err(|error| TelemetryError::Exporter(error.to_string()))?;
    let mut resource = Resource::builder();
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| v.contains("service.name="));
    if !named {
        resource = resource.with_service_name(service.to_owned());
    }
    // The batch processor reads OTEL_BSP_MAX_QUEUE_SIZE (default 2048) and drops past it.
    let batches = BatchSpanProcessor::builder(CountingExporter(exporter)).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(CountingProcessor(batches))
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer("shortline");
    // A second init (tests) keeps the first provider; its tracer is the one in use.
    let _ = PROVIDER.set(provider);
    Ok(Some(tracer))
}

/// Counts each span as it ends, before the batch queue (which may drop it).
#[derive(Debug)]
struct CountingProcessor<P>(P);

impl<P: SpanProcessor> SpanProcessor for CountingProcessor<P> {
    fn on_start(&self, span: &mut Span, cx: &opentelemetry::Context) {
        self.0.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        crate::metrics::global().trace_spans_ended.inc();
        self.0.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

/// Counts the spans of each batch the exporter sends, by whether the collector took them.
#[derive(Debug)]
struct CountingExporter<E>(E);

impl<E: SpanExporter> SpanExporter for CountingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len() as u64;
        let result = self.0.export(batch).await;
        crate::metrics::global().trace_spans_exported(result.is_ok(), spans);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

/// Exports what is still queued and stops the exporter (at process exit), waiting at most
/// `limit` for the collector.
pub async fn shutdown(limit: Duration) {
    if let Some(provider) = PROVIDER.get() {
        // The flush blocks its thread until the exporter thread is done with the queue.
        let _ = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(limit)).await;
    }
}

/// The trace context headers of the current span (`traceparent`, and `tracestate` when there
/// is one), to send with an outgoing call; empty when tracing is off.
pub fn current_headers() -> Vec<(&'static str, String)> {
    headers_of(&tracing::Span::current())
}

/// The trace context headers of `span`.
pub fn headers_of(span: &tracing::Span) -> Vec<(&'static str, String)> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return Vec::new();
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    [TRACEPARENT, TRACESTATE].into_iter().filter_map(|name| carrier.remove(name).map(|value| (name, value))).collect()
}

/// The `traceparent` of `span`, e.g. to store beside the work it starts; `None` when tracing is
/// off.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    headers_of(span).into_iter().find(|(name, _)| *name == TRACEPARENT).map(|(_, value)| value)
}

/// Makes `span` a child of the remote span named by `traceparent` (and `tracestate`), so work
/// done for a caller in another process joins its trace. A missing or malformed header leaves
/// `span` where it was (a root, or under the current span). Call before `span` is entered.
pub fn set_remote_parent(span: &tracing::Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    let Some(traceparent) = traceparent else { return };
    let mut carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    if let Some(state) = tracestate {
        carrier.insert(TRACESTATE.to_owned(), state.to_owned());
    }
    let context = TraceContextPropagator::new().extract(&carrier);
    if context.span().span_context().is_valid() {
        // Err: tracing is off (no OpenTelemetry layer), so there is nothing to join.
        let _ = span.set_parent(context);
    }
}

/// The trace id (32 hex digits) of a `traceparent` header value (`00-<trace id>-<span id>-<flags>`).
pub fn trace_id_of(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.split('-');
    let (_version, trace_id) = (parts.next()?, parts.next()?);
    (trace_id.len() == 32 && trace_id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(trace_id)
}

/// The trace and span id of the current OpenTelemetry context, for log lines.
pub(crate) fn current_ids() -> Option<(String, String)> {
    let context = opentelemetry::Context::current();
    let span = context.span();
    let ids = span.span_context();
    ids.is_valid().then(|| (ids.trace_id().to_string(), ids.span_id().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_are_read_from_traceparent() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(trace_id_of(header), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(trace_id_of("00-xyz-00f067aa0ba902b7-01"), None);
        assert_eq!(trace_id_of(""), None);
    }

    #[test]
    fn without_a_tracer_nothing_is_sent_and_nothing_breaks() {
        let span = tracing::info_span!("untraced");
        set_remote_parent(&span, Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), None);
        set_remote_parent(&span, Some("garbage"), None);
        assert!(headers_of(&span).is_empty());
        assert_eq!(traceparent_of(&span), None);
    }
}
