//! The script generator's errors and their one mapping to gRPC statuses.

use shortline_domain::describe;
use shortline_grpc::status::{RequestError, ServiceError};
use shortline_media::MediaStoreError;
use shortline_providers::budget::BudgetExceeded;
use tonic::Code;

use crate::media::MediaError;
use crate::planner::PlanError;

#[derive(Debug, thiserror::Error)]
pub enum ScriptgenError {
    /// What every service answers: bad fields, missing rows, the database, busy media slots…
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    MediaStore(#[from] MediaStoreError),
    /// The job's budget cannot pay for the work asked for; nothing was called or written.
    #[error(transparent)]
    OverBudget(#[from] BudgetExceeded),
}

shortline_grpc::wraps_request_error!(ScriptgenError);

impl ScriptgenError {
    /// NOT_FOUND `script {id} not found in job {job_id}`.
    pub fn script_not_found(job_id: i64, script_id: i64) -> Self {
        RequestError::NotFound(format!("script {script_id} not found in job {job_id}")).into()
    }

    /// NOT_FOUND `trend report {id} not found in job {job_id}`.
    pub fn report_not_found(job_id: i64, report_id: i64) -> Self {
        RequestError::NotFound(format!("trend report {report_id} not found in job {job_id}")).into()
    }
}

impl ServiceError for ScriptgenError {
    fn status_code(&self) -> Code {
        match self {
            ScriptgenError::Request(common) => common.status_code(),
            ScriptgenError::Plan(PlanError::InvalidTheme(_)) => Code::InvalidArgument,
            // Retrying cannot help until the budget is raised.
            ScriptgenError::OverBudget(_)
            | ScriptgenError::Plan(PlanError::OverBudget(_))
            | ScriptgenError::Media(MediaError::OverBudget(_)) => Code::FailedPrecondition,
            // A provider-backed planner (an LLM) that failed may well answer on a retry.
            ScriptgenError::Plan(PlanError::Provider { .. }) => Code::Unavailable,
            // The planner wrote a plan breaking the plan rules: a planner bug, never stored.
            ScriptgenError::Plan(PlanError::InvalidPlan { .. }) => Code::Internal,
            ScriptgenError::Media(MediaError::ToolMissing { .. }) => Code::FailedPrecondition,
            ScriptgenError::Media(MediaError::Cancelled) => Code::Cancelled,
            ScriptgenError::Media(MediaError::ProviderUnavailable { .. }) => Code::Unavailable,
            // The same words are as long on a retry.
            ScriptgenError::Media(MediaError::VoiceTooLong { .. }) => Code::FailedPrecondition,
            ScriptgenError::Media(_) | ScriptgenError::MediaStore(_) => Code::Internal,
        }
    }

    fn public_message(&self) -> String {
        match self {
            ScriptgenError::Request(common) => common.public_message(),
            ScriptgenError::Plan(PlanError::InvalidTheme(violations)) => describe(violations),
            // Job, provider and amounts: what the operator needs to decide on a larger budget.
            ScriptgenError::OverBudget(refused)
            | ScriptgenError::Plan(PlanError::OverBudget(refused))
            | ScriptgenError::Media(MediaError::OverBudget(refused)) => refused.to_string(),
            ScriptgenError::Plan(PlanError::Provider { planner, .. }) => {
                format!("planner {planner} is unavailable, retry later")
            }
            // The rules it broke say what went wrong; they hold nothing secret.
            ScriptgenError::Plan(PlanError::InvalidPlan { planner, violations }) => {
                format!("planner {planner} produced an invalid plan, nothing was stored: {}", describe(violations))
            }
            // Names the tool and how to install it: what the operator has to do.
            ScriptgenError::Media(missing @ MediaError::ToolMissing { .. }) => missing.to_string(),
            // Provider errors are redacted and clipped: the whole reason, so the job's error
            // says why.
            ScriptgenError::Media(
                readable @ (MediaError::ProviderUnavailable { .. } | MediaError::VoiceTooLong { .. }),
            ) => readable.to_string(),
            ScriptgenError::Media(MediaError::Cancelled) => "media generation cancelled".to_owned(),
            // The tool and its exit status help; its stderr and the paths stay in the log.
            ScriptgenError::Media(MediaError::Failed { tool, status, .. }) => {
                format!("media generation failed: {tool} exited with {status}")
            }
            ScriptgenError::Media(_) | ScriptgenError::MediaStore(_) => "media generation failed".to_owned(),
        }
    }
}

pub type Result<T, E = ScriptgenError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use shortline_db::DbError;
    use shortline_domain::Violation;
    use shortline_grpc::slots::SlotsBusy;
    use shortline_grpc::status::INTERNAL_MESSAGE;
    use tonic::Status;

    use super::*;

    #[test]
    fn every_error_has_its_code_and_a_message_that_leaks_nothing() {
        let cases = [
            (
                RequestError::invalid("variant", "must be between 0 and 10").into(),
                Code::InvalidArgument,
                "variant: must be between 0 and 10",
            ),
            (RequestError::JobNotFound(7).into(), Code::NotFound, "job 7 not found"),
            (ScriptgenError::script_not_found(7, 3), Code::NotFound, "script 3 not found in job 7"),
            (ScriptgenError::report_not_found(7, 4), Code::NotFound, "trend report 4 not found in job 7"),
            (
                ScriptgenError::Media(MediaError::ToolMissing {
                    tool: "ffmpeg".into(),
                    install_hint: "apt-get install ffmpeg".into(),
                }),
                Code::FailedPrecondition,
                "ffmpeg not found: install it with `apt-get install ffmpeg`",
            ),
            (
                ScriptgenError::Media(MediaError::Failed {
                    tool: "ffmpeg".into(),
                    status: "exit status: 1".into(),
                    stderr_tail: "/secret/path: No such file".into(),
                }),
                Code::Internal,
                "media generation failed: ffmpeg exited with exit status: 1",
            ),
            (
                ScriptgenError::Media(MediaError::InvalidOutput {
                    path: "/secret/x.mp4".into(),
                    reason: "short".into(),
                }),
                Code::Internal,
                "media generation failed",
            ),
            (
                ScriptgenError::Media(MediaError::ProviderUnavailable {
                    kind: "voice".into(),
                    reason: "openai: request failed: error sending request: connection refused".into(),
                    tried: "openai: transport".into(),
                }),
                Code::Unavailable,
                "voice provider unavailable, retry later: openai: request failed: error sending request: connection refused",
            ),
            (
                ScriptgenError::Media(MediaError::VoiceTooLong {
                    voice_seconds: 35.8,
                    words_per_minute: 237,
                    max_seconds: 28.0,
                }),
                Code::FailedPrecondition,
                "the voiceover lasts 35.8 s even at 237 words per minute; a video lasts at most 28 s: shorten the \
                 theme's texts (a long unreadable word is spelled out letter by letter)",
            ),
            (RequestError::Internal("plan column unreadable".into()).into(), Code::Internal, INTERNAL_MESSAGE),
            (ScriptgenError::from(DbError::Internal("SELEC".into())), Code::Internal, INTERNAL_MESSAGE),
            (
                ScriptgenError::from(SlotsBusy {
                    capacity: 2,
                    what: "media generation",
                    setting: "scriptgen.max_concurrent_media",
                }),
                Code::ResourceExhausted,
                "all 2 media generation slots of this process are busy (scriptgen.max_concurrent_media); retry later",
            ),
            (
                ScriptgenError::Plan(PlanError::InvalidPlan {
                    planner: "template".into(),
                    violations: vec![Violation::new("scenes", "none")],
                }),
                Code::Internal,
                "planner template produced an invalid plan, nothing was stored: scenes: none",
            ),
        ];
        for (error, code, message) in cases {
            let status = Status::from(error);
            assert_eq!((status.code(), status.message()), (code, message));
        }
    }
}
