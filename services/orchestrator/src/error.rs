//! The orchestrator's errors and their one mapping to gRPC statuses.

use shortline_db::DbError;
use shortline_domain::{describe, Violation};
use shortline_grpc::status::{into_status, ServiceError};
use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    #[error("{}", describe(.0))]
    Invalid(Vec<Violation>),
    #[error("job {0} not found")]
    JobNotFound(i64),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// Another job held what this one waited for past its deadline; worth another attempt.
    #[error("{0}")]
    Aborted(String),
    #[error(transparent)]
    Db(#[from] DbError),
    /// A call to another service failed; its status is passed on as it came.
    #[error("{service} answered {}: {}", .status.code(), .status.message())]
    Downstream { service: &'static str, status: Status },
    #[error("{0}")]
    Internal(String),
}

impl OrchestratorError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        OrchestratorError::Invalid(vec![Violation::new(field, reason)])
    }
}

impl ServiceError for OrchestratorError {
    fn status_code(&self) -> Code {
        match self {
            OrchestratorError::Invalid(_) => Code::InvalidArgument,
            OrchestratorError::JobNotFound(_) | OrchestratorError::NotFound(_) => Code::NotFound,
            OrchestratorError::FailedPrecondition(_) => Code::FailedPrecondition,
            OrchestratorError::Aborted(_) => Code::Aborted,
            OrchestratorError::Db(db) => db.status_code(),
            OrchestratorError::Downstream { status, .. } => status.code(),
            OrchestratorError::Internal(_) => Code::Internal,
        }
    }

    fn public_message(&self) -> String {
        match self {
            OrchestratorError::Db(db) => db.public_message(),
            OrchestratorError::Downstream { status, .. } => status.message().to_owned(),
            OrchestratorError::Internal(_) => shortline_grpc::status::INTERNAL_MESSAGE.to_owned(),
            other => other.to_string(),
        }
    }
}

impl From<OrchestratorError> for Status {
    fn from(error: OrchestratorError) -> Self {
        into_status(error)
    }
}

pub type Result<T, E = OrchestratorError> = std::result::Result<T, E>;
