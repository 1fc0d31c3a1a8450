//! Reads of scriptgen's data through its RPCs (the composer never reads the `scripts` or
//! `media_assets` tables). Every call carries its job_id (in the message and in metadata, for
//! tracing) and a deadline (sent as `grpc-timeout`).

use std::time::Duration;

use shortline_proto::v1;
use shortline_proto::v1::script_service_client::ScriptServiceClient;
use shortline_shared::config::TlsConfig;
use shortline_shared::grpc::set_job_id;
use tonic::transport::Channel;

use crate::error::{ComposerError, Result};

/// How long one read from scriptgen may take.
pub const DEADLINE: Duration = Duration::from_secs(30);

const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Clone)]
pub struct Scriptgen {
    client: ScriptServiceClient<Channel>,
}

impl Scriptgen {
    /// The channel connects lazily and reconnects on its own, so the composer starts (and keeps
    /// going) while scriptgen restarts.
    /// An `https://` URL is reached over TLS with this process's certificate as its identity.
    pub fn connect_lazy(url: &str, tls: &TlsConfig) -> Result<Self> {
        let channel = shortline_shared::tls::endpoint(url, tls)
            .map_err(|e| ComposerError::Internal(format!("bad scriptgen url `{url}`: {e}")))?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .connect_lazy();
        Ok(Scriptgen { client: ScriptServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES) })
    }

    /// One script of the job; scriptgen's NOT_FOUND (another job's script, or none) passes on.
    pub async fn get_script(&self, job_id: i64, script_id: i64) -> Result<v1::Script> {
        let message = v1::GetScriptRequest { job_id, script_id };
        Ok(self.client.clone().get_script(request(message, job_id, DEADLINE)).await.map_err(downstream)?.into_inner())
    }

    /// The media assets of one script of the job (`script_id` 0: every asset of the job).
    pub async fn list_media_assets(&self, job_id: i64, script_id: i64) -> Result<Vec<v1::MediaAsset>> {
        let message = v1::ListMediaAssetsRequest { job_id, script_id };
        Ok(self
            .client
            .clone()
            .list_media_assets(request(message, job_id, DEADLINE))
            .await
            .map_err(downstream)?
            .into_inner()
            .assets)
    }
}

fn downstream(status: tonic::Status) -> ComposerError {
    ComposerError::Downstream { service: "scriptgen", status }
}

/// A request for `job_id` that gives up after `deadline`.
pub fn request<T>(message: T, job_id: i64, deadline: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(deadline);
    set_job_id(request.metadata_mut(), job_id);
    request
}
