//! The user's bearer token the CLI sends to the orchestrator.

use std::fmt;

use tonic::Status;

/// A client interceptor that sends a user's bearer token on every call (none: calls go
/// without, for servers with authentication off).
#[derive(Clone, Default, PartialEq)]
pub struct BearerToken(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl BearerToken {
    /// `token` as an `authorization: Bearer …` value; a token that cannot be a header value
    /// (control characters) is refused.
    pub fn new(token: Option<&str>) -> Result<Self, String> {
        token
            .map(|token| {
                format!("Bearer {}", token.trim())
                    .parse()
                    .map_err(|_| "the token has characters a header cannot carry".to_owned())
            })
            .transpose()
            .map(BearerToken)
    }
}

// The token is a secret: never in logs or debug output.
impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "BearerToken(<redacted>)" } else { "BearerToken(None)" })
    }
}

impl tonic::service::Interceptor for BearerToken {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}
