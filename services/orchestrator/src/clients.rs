//! Calls to scriptgen and composer: every request carries its job_id (in the message and in
//! metadata, for tracing) and the stage's deadline (sent as `grpc-timeout`).

use std::time::Duration;

use shortline_proto::v1::composer_service_client::ComposerServiceClient;
use shortline_proto::v1::script_service_client::ScriptServiceClient;
use shortline_shared::config::TlsConfig;
use shortline_shared::grpc::set_job_id;
use tonic::transport::Channel;

use crate::error::{OrchestratorError, Result};

#[derive(Clone)]
pub struct Clients {
    pub scriptgen: ScriptServiceClient<Channel>,
    pub composer: ComposerServiceClient<Channel>,
}

impl Clients {
    /// Channels connect lazily and reconnect on their own, so the orchestrator starts (and keeps
    /// going) while the other services restart.
    /// `https://` URLs are reached over TLS with this process's certificate as its identity.
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
    Ok(shortline_shared::tls::endpoint(url, tls)
        .map_err(|e| OrchestratorError::Internal(format!("bad service url `{url}`: {e}")))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .connect_lazy())
}

/// A request for `job_id` that gives up after `deadline`.
pub fn request<T>(message: T, job_id: i64, deadline: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(deadline);
    set_job_id(request.metadata_mut(), job_id);
    request
}
