//! The composer's errors and their one mapping to gRPC statuses.

use shortline_grpc::status::{RequestError, ServiceError, INTERNAL_MESSAGE};
use shortline_media::MediaStoreError;
use tonic::Code;

use crate::render::RenderError;

#[derive(Debug, thiserror::Error)]
pub enum ComposerError {
    /// What every service answers: bad fields, missing rows, the database, scriptgen's answers,
    /// busy render slots…
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The render failed: FFmpeg missing (FAILED_PRECONDITION with the install hint), cancelled
    /// (CANCELLED) or anything else (INTERNAL, details only in the logs).
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    MediaStore(#[from] MediaStoreError),
}

shortline_grpc::wraps_request_error!(ComposerError);

impl ServiceError for ComposerError {
    fn status_code(&self) -> Code {
        match self {
            ComposerError::Request(common) => common.status_code(),
            // The same input fails the gate the same way: the orchestrator must not retry it.
            ComposerError::Render(RenderError::FfmpegMissing { .. } | RenderError::QualityGate { .. }) => {
                Code::FailedPrecondition
            }
            ComposerError::Render(RenderError::Cancelled) => Code::Cancelled,
            ComposerError::Render(_) | ComposerError::MediaStore(_) => Code::Internal,
        }
    }

    fn public_message(&self) -> String {
        match self {
            ComposerError::Request(common) => common.public_message(),
            ComposerError::Render(
                error @ (RenderError::FfmpegMissing { .. } | RenderError::QualityGate { .. } | RenderError::Cancelled),
            ) => error.to_string(),
            ComposerError::Render(_) | ComposerError::MediaStore(_) => INTERNAL_MESSAGE.to_owned(),
        }
    }
}

pub type Result<T, E = ComposerError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use shortline_db::DbError;
    use shortline_grpc::slots::SlotsBusy;
    use tonic::Status;

    use super::*;

    #[test]
    fn every_error_has_its_code_and_internals_stay_inside() {
        let cases = [
            (
                RequestError::invalid("decision", "must be APPROVE or REJECT").into(),
                Code::InvalidArgument,
                "decision: must be APPROVE or REJECT",
            ),
            (RequestError::JobNotFound(7).into(), Code::NotFound, "job 7 not found"),
            (RequestError::NotFound("video 3 not found".into()).into(), Code::NotFound, "video 3 not found"),
            (
                RequestError::FailedPrecondition("video 3 is already approved".into()).into(),
                Code::FailedPrecondition,
                "video 3 is already approved",
            ),
            (ComposerError::from(DbError::Internal("SELEC".into())), Code::Internal, "internal error"),
            (
                ComposerError::from(SlotsBusy {
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
        let downstream = Status::from(ComposerError::from(RequestError::Downstream {
            service: "scriptgen",
            status: Status::not_found("script 4 not found"),
        }));
        assert_eq!((downstream.code(), downstream.message()), (Code::NotFound, "script 4 not found"));
    }
}
