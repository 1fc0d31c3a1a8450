//! Reads of scriptgen's data through its RPCs (the composer never reads the `scripts` or
//! `media_assets` tables). Every call carries its job_id (in the message and in metadata, for
//! tracing) and a deadline (sent as `grpc-timeout`).

use std::time::Duration;

use shortline_config::TlsConfig;
use shortline_grpc::balance;
use shortline_grpc::{is_connection_failure, set_job_id};
use shortline_proto::v1;
use shortline_proto::v1::script_service_client::ScriptServiceClient;
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
    /// going) while scriptgen restarts; it balances calls over every instance `url` names, over TLS
    /// for `https://` (this process's certificate as its identity).
    pub fn connect_lazy(url: &str, tls: &TlsConfig) -> Result<Self> {
        let channel = balance::connect_lazy(url, tls)
            .map_err(|e| ComposerError::Internal(format!("bad scriptgen url `{url}`: {e}")))?;
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
    // A connection to a restarting scriptgen that broke mid-call reaches us as UNKNOWN or
    // INTERNAL; passed on so, it would fail the job. UNAVAILABLE makes the caller wait for it.
    let status = if is_connection_failure(&status) {
        tonic::Status::unavailable(format!("scriptgen unreachable: {}", status.message()))
    } else {
        status
    };
    ComposerError::Downstream { service: "scriptgen", status }
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
    use tonic::{Code, Status};

    use super::*;

    fn passed_on(status: Status) -> Status {
        match downstream(status) {
            ComposerError::Downstream { status, .. } => status,
            other => panic!("not a downstream error: {other:?}"),
        }
    }

    #[test]
    fn a_broken_connection_to_scriptgen_is_unavailable_to_the_caller() {
        let broken = Status::from_error(Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset)));
        assert_eq!(broken.code(), Code::Unknown);
        assert_eq!(passed_on(broken).code(), Code::Unavailable);
        // What scriptgen itself answered passes on as it came.
        assert_eq!(passed_on(Status::unknown("scriptgen's own answer")).code(), Code::Unknown);
        assert_eq!(passed_on(Status::not_found("script 4 not found")).code(), Code::NotFound);
    }
}
