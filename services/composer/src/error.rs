//! The composer's errors and their one mapping to gRPC statuses.

use shortline_db::DbError;
use shortline_domain::{describe, Violation};
use shortline_grpc::slots::SlotsBusy;
use shortline_grpc::status::{into_status, ServiceError, INTERNAL_MESSAGE};
use shortline_media::MediaStoreError;
use tonic::{Code, Status};

use crate::render::RenderError;

#[derive(Debug, thiserror::Error)]
pub enum ComposerError {
    /// A request field with a bad value (INVALID_ARGUMENT, every violation named).
    #[error("{}", describe(.0))]
    Invalid(Vec<Violation>),
    #[error("job {0} not found")]
    JobNotFound(i64),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error(transparent)]
    Db(#[from] DbError),
    /// A call to another service failed; its status is passed on as it came.
    #[error("{service} answered {}: {}", .status.code(), .status.message())]
    Downstream { service: &'static str, status: Status },
    /// The render failed: FFmpeg missing (FAILED_PRECONDITION with the install hint), cancelled
    /// (CANCELLED) or anything else (INTERNAL, details only in the logs).
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    MediaStore(#[from] MediaStoreError),
    /// Every render slot of this process is busy (RESOURCE_EXHAUSTED: retry later).
    #[error(transparent)]
    Busy(#[from] SlotsBusy),
    #[error("{0}")]
    Internal(String),
}

impl ComposerError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ComposerError::Invalid(vec![Violation::new(field, reason)])
    }
}

impl ServiceError for ComposerError {
    fn status_code(&self) -> Code {
        match self {
            ComposerError::Invalid(_) => Code::InvalidArgument,
            ComposerError::JobNotFound(_) | ComposerError::NotFound(_) => Code::NotFound,
            ComposerError::FailedPrecondition(_) => Code::FailedPrecondition,
            ComposerError::Busy(_) => Code::ResourceExhausted,
            ComposerError::Db(db) => db.status_code(),
            ComposerError::Downstream { status, .. } => status.code(),
            // The same input fails the gate the same way: the orchestrator must not retry it.
            ComposerError::Render(RenderError::FfmpegMissing { .. } | RenderError::QualityGate { .. }) => {
                Code::FailedPrecondition
            }
            ComposerError::Render(RenderError::Cancelled) => Code::Cancelled,
            ComposerError::Render(_) | ComposerError::MediaStore(_) | ComposerError::Internal(_) => Code::Internal,
        }
    }

    fn public_message(&self) -> String {
        match self {
            ComposerError::Db(db) => db.public_message(),
            ComposerError::Downstream { status, .. } => status.message().to_owned(),
            ComposerError::Render(
                error @ (RenderError::FfmpegMissing { .. } | RenderError::QualityGate { .. } | RenderError::Cancelled),
            ) => error.to_string(),
            ComposerError::Render(_) | ComposerError::MediaStore(_) | ComposerError::Internal(_) => {
                INTERNAL_MESSAGE.to_owned()
            }
            other => other.to_string(),
        }
    }
}

impl From<ComposerError> for Status {
    fn from(error: ComposerError) -> Self {
        into_status(error)
    }
}

pub type Result<T, E = ComposerError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_its_code_and_internals_stay_inside() {
        let cases = [
            (
                ComposerError::invalid("decision", "must be APPROVE or REJECT"),
                Code::InvalidArgument,
                "decision: must be APPROVE or REJECT",
            ),
            (ComposerError::JobNotFound(7), Code::NotFound, "job 7 not found"),
            (ComposerError::NotFound("video 3 not found".into()), Code::NotFound, "video 3 not found"),
            (
                ComposerError::FailedPrecondition("video 3 is already approved".into()),
                Code::FailedPrecondition,
                "video 3 is already approved",
            ),
            (ComposerError::Db(DbError::Internal("SELEC".into())), Code::Internal, "internal error"),
            (
                ComposerError::Busy(SlotsBusy {
                    capacity: 1,
                    what: "render",
                    setting: "composer.max_concurrent_renders",
                }),
                Code::ResourceExhausted,
                "all 1 render slots of this process are busy (composer.max_concurrent_renders); retry later",
            ),
            (ComposerError::Render(RenderError::Cancelled), Code::Cancelled, "render cancelled"),
            (
                ComposerError::Render(RenderError::QualityGate { reason: "blackdetect: black from 0.00 s".into() }),
                Code::FailedPrecondition,
                "quality gate: blackdetect: black from 0.00 s",
            ),
            (
                ComposerError::Render(RenderError::Failed {
                    program: "ffmpeg",
                    status: "1".into(),
                    stderr: "/secret/path".into(),
                }),
                Code::Internal,
                "internal error",
            ),
            (
                ComposerError::MediaStore(MediaStoreError::OutsideStore { uri: "file:///etc/passwd".into() }),
                Code::Internal,
                "internal error",
            ),
        ];
        for (error, code, message) in cases {
            let status = Status::from(error);
            assert_eq!(status.code(), code);
            assert_eq!(status.message(), message);
        }
        let missing = Status::from(ComposerError::Render(RenderError::FfmpegMissing { program: "ffmpeg" }));
        assert_eq!(missing.code(), Code::FailedPrecondition);
        assert!(missing.message().contains("apt-get install ffmpeg"), "{}", missing.message());
        let downstream = Status::from(ComposerError::Downstream {
            service: "scriptgen",
            status: Status::not_found("script 4 not found"),
        });
        assert_eq!((downstream.code(), downstream.message()), (Code::NotFound, "script 4 not found"));
    }
}
