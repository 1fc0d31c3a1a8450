//! The one mapping from internal errors to `tonic::Status`.
//!
//! Every error a handler can return implements [`ServiceError`]: its gRPC code and the message a
//! client may see. [`into_status`] logs the error (INTERNAL at `error` with its details, which
//! never leave the process; the rest at `warn` / `debug`) and builds the `Status`. `DbError`
//! converts with `?` (`impl From<DbError> for Status`).
//!
//! | `DbError`             | code                  | why                                              |
//! |-----------------------|-----------------------|--------------------------------------------------|
//! | `UniqueViolation`     | `ALREADY_EXISTS`      | the same row twice                               |
//! | `ForeignKeyViolation` | `FAILED_PRECONDITION` | its job / parent is missing or another job's     |
//! | `NotNullViolation`    | `INVALID_ARGUMENT`    | a required value was missing                     |
//! | `CheckViolation`      | `INVALID_ARGUMENT`    | a value broke a CHECK rule                       |
//! | `NotFound`            | `NOT_FOUND`           |                                                  |
//! | `Unavailable`         | `UNAVAILABLE`         | retry later                                      |
//! | `LeaseLost`           | `ABORTED`             | another worker owns the job now                  |
//! | `Internal`            | `INTERNAL`            | message "internal error"; details only in logs   |
//!
//! Callers who know better map earlier: a foreign key failure on `job_id` for a job that does
//! not exist is NOT_FOUND ("job 7 not found"), which only the caller can tell.
//!
//! Request validation uses [`invalid_argument`] / [`InvalidArgument`] (`"job_id: must be
//! positive"`) and [`require_job_id`].

use std::fmt::{self, Display};

use tonic::{Code, Status};

use shortline_db::DbError;
use shortline_domain::text::{shorten, MESSAGE_CHARS};

/// The generic message of INTERNAL errors; the details are logged, never sent.
pub const INTERNAL_MESSAGE: &str = "internal error";

/// An error that knows how it looks to a gRPC client.
pub trait ServiceError {
    fn status_code(&self) -> Code;
    /// What the client is told. Must not leak internals (SQL, paths, hosts).
    fn public_message(&self) -> String;
}

/// Logs `err` and turns it into a `Status` with its code and public message, cut to
/// [`MESSAGE_CHARS`] so no message outgrows what a status trailer may carry.
pub fn into_status<E: ServiceError + Display>(err: E) -> Status {
    let code = err.status_code();
    match code {
        Code::Internal | Code::Unknown | Code::DataLoss => tracing::error!(error = %err, ?code, "internal error"),
        Code::Unavailable | Code::Aborted | Code::DeadlineExceeded | Code::ResourceExhausted => {
            tracing::warn!(error = %err, ?code, "request failed")
        }
        _ => tracing::debug!(error = %err, ?code, "request refused"),
    }
    Status::new(code, shorten(&err.public_message(), MESSAGE_CHARS))
}

impl ServiceError for DbError {
    fn status_code(&self) -> Code {
        match self {
            DbError::UniqueViolation { .. } => Code::AlreadyExists,
            DbError::ForeignKeyViolation { .. } => Code::FailedPrecondition,
            DbError::NotNullViolation { .. } | DbError::CheckViolation { .. } => Code::InvalidArgument,
            DbError::NotFound => Code::NotFound,
            DbError::Unavailable(_) => Code::Unavailable,
            DbError::LeaseLost { .. } => Code::Aborted,
            DbError::Internal(_) => Code::Internal,
        }
    }

    fn public_message(&self) -> String {
        match self {
            DbError::UniqueViolation { constraint } => format!("already exists ({constraint})"),
            DbError::ForeignKeyViolation { constraint } => {
                format!("refers to a row that does not exist or belongs to another job ({constraint})")
            }
            DbError::NotNullViolation { column } => format!("{column}: is required"),
            DbError::CheckViolation { constraint } => format!("value out of range ({constraint})"),
            DbError::NotFound => "not found".to_owned(),
            // The driver's text may name hosts: logged, not sent.
            DbError::Unavailable(_) => "database unavailable, retry later".to_owned(),
            DbError::LeaseLost { job_id } => format!("job {job_id} is being processed by another worker"),
            DbError::Internal(_) => INTERNAL_MESSAGE.to_owned(),
        }
    }
}

/// A request field with a bad value: `job_id: must be a positive job id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidArgument {
    pub field: String,
    pub reason: String,
}

impl InvalidArgument {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }
}

impl Display for InvalidArgument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for InvalidArgument {}

impl ServiceError for InvalidArgument {
    fn status_code(&self) -> Code {
        Code::InvalidArgument
    }

    fn public_message(&self) -> String {
        self.to_string()
    }
}

impl From<InvalidArgument> for Status {
    fn from(err: InvalidArgument) -> Self {
        into_status(err)
    }
}

impl From<shortline_domain::Violation> for InvalidArgument {
    fn from(violation: shortline_domain::Violation) -> Self {
        Self { field: violation.field, reason: violation.reason }
    }
}

/// INVALID_ARGUMENT `"{field}: {reason}"`.
pub fn invalid_argument(field: impl Into<String>, reason: impl Into<String>) -> Status {
    InvalidArgument::new(field, reason).into()
}

/// INVALID_ARGUMENT listing every violation (`"a: …; b: …"`), e.g. of a theme or a plan.
pub fn invalid_arguments(violations: &[shortline_domain::Violation]) -> Status {
    let status = Status::invalid_argument(shorten(&shortline_domain::describe(violations), MESSAGE_CHARS));
    tracing::debug!(message = status.message(), "request refused");
    status
}

/// `job_id` if it can name a job; INVALID_ARGUMENT `"job_id: must be a positive job id"` if not.
pub fn require_job_id(job_id: i64) -> Result<i64, Status> {
    if job_id > 0 {
        Ok(job_id)
    } else {
        Err(invalid_argument("job_id", "must be a positive job id"))
    }
}

/// NOT_FOUND `"job {job_id} not found"`: what callers map a missing job to, before the DB does.
pub fn job_not_found(job_id: i64) -> Status {
    Status::not_found(format!("job {job_id} not found"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn status(err: DbError) -> Status {
        into_status(err)
    }

    #[test]
    fn every_db_error_has_its_code() {
        shortline_telemetry::init_for_tests();
        let cases = [
            (DbError::UniqueViolation { constraint: "scripts_job_variant".into() }, Code::AlreadyExists),
            (DbError::ForeignKeyViolation { constraint: "scripts_job_fk".into() }, Code::FailedPrecondition),
            (DbError::NotNullViolation { column: "job_id".into() }, Code::InvalidArgument),
            (DbError::CheckViolation { constraint: "videos_status".into() }, Code::InvalidArgument),
            (DbError::NotFound, Code::NotFound),
            (DbError::Unavailable("connection refused".into()), Code::Unavailable),
            (DbError::LeaseLost { job_id: 3 }, Code::Aborted),
            (DbError::Internal("syntax error at or near SELEC".into()), Code::Internal),
        ];
        for (err, code) in cases {
            assert_eq!(err.status_code(), code, "{err}");
            assert_eq!(status(err).code(), code);
        }
    }

    #[test]
    fn messages_are_useful_but_leak_nothing_internal() {
        shortline_telemetry::init_for_tests();
        let internal = status(DbError::Internal("syntax error at or near SELEC in SELEC * FROM jobs".into()));
        assert_eq!(internal.message(), "internal error");

        let unavailable = status(DbError::Unavailable("could not connect to db.internal:5432".into()));
        assert!(!unavailable.message().contains("db.internal"), "{}", unavailable.message());

        let unique = status(DbError::UniqueViolation { constraint: "scripts_job_variant".into() });
        assert!(unique.message().contains("already exists"), "{}", unique.message());
        assert!(unique.message().contains("scripts_job_variant"));

        let not_null = status(DbError::NotNullViolation { column: "job_id".into() });
        assert_eq!(not_null.message(), "job_id: is required");

        assert_eq!(status(DbError::NotFound).message(), "not found");
        assert!(status(DbError::LeaseLost { job_id: 3 }).message().contains("job 3"));
        assert!(status(DbError::ForeignKeyViolation { constraint: "fk".into() }).message().contains("another job"));
        assert!(status(DbError::CheckViolation { constraint: "ck".into() }).message().contains("ck"));
    }

    #[test]
    fn invalid_arguments_name_the_field() {
        let status = invalid_argument("job_id", "must be positive");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "job_id: must be positive");

        let err = InvalidArgument::new("theme.config.video_duration_seconds", "must be between 5 and 180");
        assert_eq!(err.status_code(), Code::InvalidArgument);
        assert_eq!(Status::from(err).message(), "theme.config.video_duration_seconds: must be between 5 and 180");

        let violations = [
            shortline_domain::Violation::new("scenes", "must have 3 to 7 scenes"),
            shortline_domain::Violation::new("hashtags", "must have 5 to 8"),
        ];
        let status = invalid_arguments(&violations);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "scenes: must have 3 to 7 scenes; hashtags: must have 5 to 8");
        let one: InvalidArgument = violations[0].clone().into();
        assert_eq!(one.to_string(), "scenes: must have 3 to 7 scenes");
    }

    #[test]
    fn job_ids_must_be_positive() {
        assert_eq!(require_job_id(1).unwrap(), 1);
        assert_eq!(require_job_id(i64::MAX).unwrap(), i64::MAX);
        for bad in [0, -1, i64::MIN] {
            let status = require_job_id(bad).unwrap_err();
            assert_eq!(status.code(), Code::InvalidArgument);
            assert_eq!(status.message(), "job_id: must be a positive job id");
        }
        let missing = job_not_found(7);
        assert_eq!(missing.code(), Code::NotFound);
        assert_eq!(missing.message(), "job 7 not found");
    }
}
