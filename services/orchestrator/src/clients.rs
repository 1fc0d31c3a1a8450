//! Calls to scriptgen and composer: every request carries its job_id (in the message and in
//! metadata, for tracing) and the stage's deadline (sent as `grpc-timeout`).

use std::time::Duration;

use shortline_config::TlsConfig;
use shortline_grpc::balance;
use shortline_grpc::set_job_id;
use shortline_proto::v1::composer_service_client::ComposerServiceClient;
use shortline_proto::v1::script_service_client::ScriptServiceClient;
use tonic::transport::Channel;
use tonic::{Code, Status, TimeoutExpired};

use crate::error::{OrchestratorError, Result};

#[derive(Clone)]
pub struct Clients {
    pub scriptgen: ScriptServiceClient<Channel>,
    pub composer: ComposerServiceClient<Channel>,
}

impl Clients {
    /// Channels connect lazily and reconnect on their own, so the orchestrator starts (and keeps
    /// going) while the other services restart; each balances its calls over every instance its
    /// target names (`shortline_grpc::balance`), over TLS for `https://` targets.
    pub fn connect_lazy(scriptgen_url: &str, composer_url: &str, tls: &TlsConfig) -> Result<Self> {
        Ok(Clients {
            scriptgen: ScriptServiceClient::new(channel(scriptgen_url, tls)?)
                .max_decoding_message_size(64 * 1024 * 1024),
            composer: ComposerServiceClient::new(channel(composer_url, tls)?)
                .max_decoding_message_size(64 * 1024 * 1024),
        })
    }
}

fn channel(url: &str, tls: &TlsConfig) -> Result<Channel> {
    balance::connect_lazy(url, tls).map_err(|e| OrchestratorError::Internal(format!("bad service url `{url}`: {e}")))
}

/// What a failed call to `service` is to the engine. tonic's client gives up at the call's own
/// deadline with CANCELLED "Timeout expired" (made from [`tonic::TimeoutExpired`], with no
/// source): that is gRPC's DEADLINE_EXCEEDED, which the engine retries.
pub fn downstream(service: &'static str) -> impl Fn(Status) -> OrchestratorError + Copy {
    move |status| {
        let timed_out = status.code() == Code::Cancelled && status.message() == TimeoutExpired(()).to_string();
        let status = if timed_out {
            Status::deadline_exceeded("no answer within the call's deadline (grpc-timeout)")
        } else {
            status
        };
        OrchestratorError::Downstream { service, status }
    }
}

/// A request for `job_id` that gives up after `deadline`.
pub fn request<T>(message: T, job_id: i64, deadline: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(deadline);
    set_job_id(request.metadata_mut(), job_id);
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_past_its_deadline_is_deadline_exceeded() {
        // Nothing answers on this listener: the client's own deadline ends the call.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let mut client = Clients::connect_lazy(&url, &url, &Default::default()).expect("clients").scriptgen;
        let request = request(shortline_proto::v1::ListScriptsRequest { job_id: 1 }, 1, Duration::from_millis(50));
        let status = client.list_scripts(request).await.expect_err("no answer");
        assert_eq!(status.code(), Code::Cancelled, "what tonic's client says: {}", status.message());
        let OrchestratorError::Downstream { status, .. } = downstream("scriptgen")(status) else {
            panic!("downstream")
        };
        assert_eq!(status.code(), Code::DeadlineExceeded, "{}", status.message());
        let refused = downstream("scriptgen")(Status::cancelled("job 7 cancelled"));
        assert_eq!(
            shortline_grpc::status::ServiceError::status_code(&refused),
            Code::Cancelled,
            "other CANCELLED kept"
        );
        drop(listener);
    }
}
