//! What travels with a call between services: the job id in its metadata ([`JOB_ID_HEADER`]),
//! the span every request runs in, and whether a failed call broke in the transport.

use tonic::metadata::{MetadataMap, MetadataValue};

/// The metadata key carrying the job a call works for, on every inter-service call.
pub const JOB_ID_HEADER: &str = "x-shortline-job-id";

/// The span every request runs in: `grpc{rpc=/shortline.v1.ScriptService/GenerateScript job_id=7}`,
/// a child of the caller's span when the call carries a `traceparent` (one trace per job across
/// the services); in traces it is named by its method, as a server span.
pub fn request_span(request: &tonic::codegen::http::Request<()>) -> tracing::Span {
    let path = request.uri().path();
    let span = tracing::info_span!(
        "grpc",
        rpc = %path,
        job_id = tracing::field::Empty,
        otel.name = path.trim_start_matches('/'),
        otel.kind = "server",
        rpc.system = "grpc",
    );
    if let Some(job_id) = parse_job_id(header(request, JOB_ID_HEADER)) {
        span.record("job_id", job_id);
    }
    use shortline_telemetry::otel::{set_remote_parent, TRACEPARENT, TRACESTATE};
    set_remote_parent(&span, header(request, TRACEPARENT), header(request, TRACESTATE));
    span
}

fn header<'a>(request: &'a tonic::codegen::http::Request<()>, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Records `job_id` on the current request span (when the caller did not send the header, e.g.
/// grpcurl, the handler knows it from the request message).
pub fn record_job_id(job_id: i64) {
    tracing::Span::current().record("job_id", job_id);
}

/// The job id carried in `metadata`, if any (and well-formed).
pub fn job_id_from_metadata(metadata: &MetadataMap) -> Option<i64> {
    parse_job_id(metadata.get(JOB_ID_HEADER).and_then(|v| v.to_str().ok()))
}

fn parse_job_id(value: Option<&str>) -> Option<i64> {
    value?.trim().parse().ok()
}

/// Whether a failed call broke in the transport (a refused, reset or closed connection, an
/// HTTP/2 error), whatever code tonic gave it (UNAVAILABLE, UNKNOWN, CANCELLED, INTERNAL…):
/// the other side is away, e.g. restarting. Statuses a server sent carry no source; those tonic
/// made from a failed connection carry the error that broke it.
pub fn is_connection_failure(status: &tonic::Status) -> bool {
    std::iter::successors(std::error::Error::source(status), |e| e.source()).any(|e| {
        e.is::<hyper::Error>() || e.is::<h2::Error>() || e.is::<tonic::transport::Error>() || e.is::<std::io::Error>()
    })
}

/// Puts `job_id` into outgoing metadata.
pub fn set_job_id(metadata: &mut MetadataMap, job_id: i64) {
    metadata.insert(JOB_ID_HEADER, MetadataValue::from(job_id));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn transport_errors_under_a_status_are_connection_failures_and_a_server_s_words_are_not() {
        let reset = tonic::Status::from_error(Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset)));
        assert!(is_connection_failure(&reset));
        let h2_reset = tonic::Status::from_error(Box::new(h2::Error::from(h2::Reason::INTERNAL_ERROR)));
        assert_eq!(h2_reset.code(), tonic::Code::Internal);
        assert!(is_connection_failure(&h2_reset));
        assert!(!is_connection_failure(&tonic::Status::unknown("h2 protocol error: transport error")));
        assert!(!is_connection_failure(&tonic::Status::unavailable("draining")));
    }

    #[test]
    fn job_id_travels_in_metadata() {
        let request = crate::client::request("payload", 42, std::time::Duration::from_secs(1));
        assert_eq!(request.metadata().get(JOB_ID_HEADER).unwrap(), "42");
        assert_eq!(job_id_from_metadata(request.metadata()), Some(42));

        let mut metadata = MetadataMap::new();
        assert_eq!(job_id_from_metadata(&metadata), None);
        metadata.insert(JOB_ID_HEADER, MetadataValue::from_static("not-a-number"));
        assert_eq!(job_id_from_metadata(&metadata), None);
    }

    #[test]
    fn request_span_reads_the_path_and_job_id() {
        shortline_telemetry::init_for_tests();
        let request = tonic::codegen::http::Request::builder()
            .uri("/shortline.v1.ScriptService/GenerateScript")
            .header(JOB_ID_HEADER, "9")
            .body(())
            .unwrap();
        let span = request_span(&request);
        if let Some(metadata) = span.metadata() {
            assert_eq!(metadata.name(), "grpc");
            assert!(metadata.fields().field("job_id").is_some());
            assert!(metadata.fields().field("rpc").is_some());
        }
    }
}
