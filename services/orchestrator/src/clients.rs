//! Calls to scriptgen and composer, through `shortline_grpc::client`: every request carries its
//! job_id (in the message and in metadata, for tracing) and the stage's deadline.

use shortline_config::TlsConfig;
use shortline_grpc::client::{channel, MAX_MESSAGE_BYTES};
use shortline_proto::v1::composer_service_client::ComposerServiceClient;
use shortline_proto::v1::script_service_client::ScriptServiceClient;
use tonic::transport::Channel;

use crate::error::{RequestError, Result};

#[derive(Clone)]
pub struct Clients {
    pub scriptgen: ScriptServiceClient<Channel>,
    pub composer: ComposerServiceClient<Channel>,
}

impl Clients {
    /// Channels connect lazily and reconnect on their own, so the orchestrator starts (and keeps
    /// going) while the other services restart; each balances its calls over every instance its
    /// target names, over TLS for `https://` targets.
    pub fn connect_lazy(scriptgen_url: &str, composer_url: &str, tls: &TlsConfig) -> Result<Self> {
        Ok(Clients {
            scriptgen: ScriptServiceClient::new(
                channel("scriptgen", scriptgen_url, tls).map_err(RequestError::Internal)?,
            )
            .max_decoding_message_size(MAX_MESSAGE_BYTES),
            composer: ComposerServiceClient::new(
                channel("composer", composer_url, tls).map_err(RequestError::Internal)?,
            )
            .max_decoding_message_size(MAX_MESSAGE_BYTES),
        })
    }
}
