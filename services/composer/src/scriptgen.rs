//! Reads of scriptgen's data through its RPCs (the composer never reads the `scripts` or
//! `media_assets` tables). Every call carries its job_id (in the message and in metadata, for
//! tracing) and a deadline (sent as `grpc-timeout`).

use std::future::Future;
use std::time::Duration;

use shortline_config::TlsConfig;
use shortline_grpc::client::{channel, request, MAX_MESSAGE_BYTES};
use shortline_grpc::status::RequestError;
use shortline_proto::v1;
use shortline_proto::v1::script_service_client::ScriptServiceClient;
use tonic::transport::Channel;

use crate::error::Result;

/// How long one read from scriptgen may take.
pub const DEADLINE: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Scriptgen {
    client: ScriptServiceClient<Channel>,
}

impl Scriptgen {
    /// The channel connects lazily and reconnects on its own, so the composer starts (and keeps
    /// going) while scriptgen restarts; it balances calls over every instance `url` names, over TLS
    /// for `https://` (this process's certificate as its identity).
    pub fn connect_lazy(url: &str, tls: &TlsConfig) -> Result<Self> {
        let channel = channel("scriptgen", url, tls).map_err(RequestError::Internal)?;
        Ok(Scriptgen { client: ScriptServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES) })
    }

    /// One script of the job; scriptgen's NOT_FOUND (another job's script, or none) passes on.
    pub async fn get_script(&self, job_id: i64, script_id: i64) -> Result<v1::Script> {
        let message = v1::GetScriptRequest { job_id, script_id };
        answer(self.client.clone().get_script(request(message, job_id, DEADLINE))).await
    }

    /// The media assets of one script of the job (`script_id` 0: every asset of the job).
    pub async fn list_media_assets(&self, job_id: i64, script_id: i64) -> Result<Vec<v1::MediaAsset>> {
        let message = v1::ListMediaAssetsRequest { job_id, script_id };
        Ok(answer(self.client.clone().list_media_assets(request(message, job_id, DEADLINE))).await?.assets)
    }
}

/// What scriptgen answered; a failed call passes its status on (see [`RequestError::downstream`]).
async fn answer<T>(call: impl Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>) -> Result<T> {
    Ok(call.await.map_err(RequestError::downstream("scriptgen"))?.into_inner())
}
