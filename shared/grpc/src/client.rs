//! What the services' gRPC clients share: channels to a service's replicas, requests that carry
//! their job (in metadata, for tracing) and their deadline (sent as `grpc-timeout`), and one
//! reading of a failed call.

use std::time::Duration;

use shortline_config::TlsConfig;
use tonic::transport::Channel;
use tonic::{Code, Status, TimeoutExpired};

use crate::{balance, is_connection_failure, set_job_id};

/// The largest answer a client takes (a job's lineage, a long list of assets).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// A channel to `url` that connects lazily and reconnects on its own, so a service starts (and
/// keeps going) while `service` restarts; it balances calls over every instance `url` names,
/// over TLS for `https://` (see [`balance`]). The error names the service and the URL.
pub fn channel(service: &str, url: &str, tls: &TlsConfig) -> Result<Channel, String> {
    balance::connect_lazy(url, tls).map_err(|e| format!("bad {service} url `{url}`: {e}"))
}

/// A request for `job_id` that gives up after `deadline`, carrying the current span's trace
/// context (`traceparent`), so the server's span joins the job's trace.
pub fn request<T>(message: T, job_id: i64, deadline: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(deadline);
    set_job_id(request.metadata_mut(), job_id);
    for (name, value) in shortline_telemetry::otel::current_headers() {
        if let Ok(value) = value.parse() {
            request.metadata_mut().insert(name, value);
        }
    }
    request
}

/// What a failed call to `service` means to the caller. tonic's client gives up at the call's
/// own deadline with CANCELLED "Timeout expired" (made from [`TimeoutExpired`], with no source):
/// that is gRPC's DEADLINE_EXCEEDED. A connection that broke mid-call (a restarting instance)
/// reaches the client as UNKNOWN or INTERNAL: that is UNAVAILABLE, which callers wait out. What
/// `service` itself answered passes on as it came.
pub fn downstream_status(service: &str, status: Status) -> Status {
    if status.code() == Code::Cancelled && status.message() == TimeoutExpired(()).to_string() {
        Status::deadline_exceeded("no answer within the call's deadline (grpc-timeout)")
    } else if is_connection_failure(&status) {
        Status::unavailable(format!("{service} unreachable: {}", status.message()))
    } else {
        status
    }
}

#[cfg(test)]
mod tests {
    use shortline_proto::v1::script_service_client::ScriptServiceClient;

    use super::*;

    #[tokio::test]
    async fn a_call_past_its_deadline_is_deadline_exceeded() {
        // Nothing answers on this listener: the client's own deadline ends the call.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let mut client = ScriptServiceClient::new(channel("scriptgen", &url, &TlsConfig::default()).expect("channel"));
        let request = request(shortline_proto::v1::ListScriptsRequest { job_id: 1 }, 1, Duration::from_millis(50));
        let status = client.list_scripts(request).await.expect_err("no answer");
        assert_eq!(status.code(), Code::Cancelled, "what tonic's client says: {}", status.message());
        assert_eq!(downstream_status("scriptgen", status).code(), Code::DeadlineExceeded);
        let refused = downstream_status("scriptgen", Status::cancelled("job 7 cancelled"));
        assert_eq!(refused.code(), Code::Cancelled, "other CANCELLED kept");
        drop(listener);
    }

    #[test]
    fn a_broken_connection_is_unavailable_to_the_caller() {
        let broken = Status::from_error(Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset)));
        assert_eq!(broken.code(), Code::Unknown);
        assert_eq!(downstream_status("scriptgen", broken).code(), Code::Unavailable);
        // What the service itself answered passes on as it came.
        assert_eq!(downstream_status("scriptgen", Status::unknown("its own answer")).code(), Code::Unknown);
        assert_eq!(downstream_status("scriptgen", Status::not_found("script 4 not found")).code(), Code::NotFound);
    }
}
