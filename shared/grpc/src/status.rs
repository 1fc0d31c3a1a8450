//! The one mapping from internal errors to `tonic::Status`.
//!
//! Every error a handler can return implements [`ServiceError`]: its gRPC code and the message a
//! client may see. [`into_status`] logs the error (INTERNAL at `error` with its details, which
//! never leave the process; the rest at `warn` / `debug`) and builds the `Status`.
//! [`RequestError`] holds what every service answers (bad arguments, missing rows, the database,
//! another service's answer, busy slots, internal faults); a service's own error enum wraps it.
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
//! not exist is NOT_FOUND ("job 7 not found", [`RequestError::JobNotFound`]), which only the
//! caller can tell.
//!
//! Request validation uses [`RequestError::invalid`] (`"job_id: must be a positive job id"`),
//! [`job_scoped`] / [`require_job_id`], [`require_id`] and [`require_job`].

use std::fmt::Display;

use tonic::{Code, Status};

use crate::client::downstream_status;
use crate::record_job_id;
use crate::slots::SlotsBusy;
use shortline_db::{Conn, DbError};
use shortline_domain::text::{shorten, MESSAGE_CHARS};
use shortline_domain::{describe, Violation};

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

/// What a handler of any service may answer, each variant with its code and the message a
/// client sees. A service with errors of its own wraps it (`#[error(transparent)]
/// Request(#[from] RequestError)`, see [`crate::wraps_request_error`]); one without uses it as is.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Request fields with bad values: INVALID_ARGUMENT `"field: reason; ..."`.
    #[error("{}", describe(.0))]
    Invalid(Vec<Violation>),
    /// NOT_FOUND `"job 7 not found"`: what callers map a missing job to, before the DB does.
    #[error("job {0} not found")]
    JobNotFound(i64),
    #[error("{0}")]
    NotFound(String),
    /// The request needs a state or a setting that is not there; retrying cannot help.
    #[error("{0}")]
    FailedPrecondition(String),
    /// Other work held what this call waited for past its deadline; worth another attempt.
    #[error("{0}")]
    Aborted(String),
    /// The database's answer, with [`DbError`]'s mapping (the table above).
    #[error(transparent)]
    Db(#[from] DbError),
    /// A call to another service failed; its status is passed on as it came.
    #[error("{service} answered {}: {}", .status.code(), .status.message())]
    Downstream { service: &'static str, status: Status },
    /// Every slot of heavy work of this process is busy (RESOURCE_EXHAUSTED: retry later).
    #[error(transparent)]
    Busy(#[from] SlotsBusy),
    /// A fault of this service: INTERNAL [`INTERNAL_MESSAGE`], the details only in the log.
    #[error("{0}")]
    Internal(String),
}

impl RequestError {
    /// INVALID_ARGUMENT `"{field}: {reason}"`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        RequestError::Invalid(vec![Violation::new(field, reason)])
    }

    /// What a failed call to `service` is to its caller (see [`downstream_status`]), for `map_err`.
    pub fn downstream(service: &'static str) -> impl Fn(Status) -> RequestError + Copy {
        move |status| RequestError::Downstream { service, status: downstream_status(service, status) }
    }
}

impl ServiceError for RequestError {
    fn status_code(&self) -> Code {
        match self {
            RequestError::Invalid(_) => Code::InvalidArgument,
            RequestError::JobNotFound(_) | RequestError::NotFound(_) => Code::NotFound,
            RequestError::FailedPrecondition(_) => Code::FailedPrecondition,
            RequestError::Aborted(_) => Code::Aborted,
            RequestError::Db(db) => db.status_code(),
            RequestError::Downstream { status, .. } => status.code(),
            RequestError::Busy(_) => Code::ResourceExhausted,
            RequestError::Internal(_) => Code::Internal,
        }
    }

    fn public_message(&self) -> String {
        match self {
            RequestError::Db(db) => db.public_message(),
            RequestError::Downstream { status, .. } => status.message().to_owned(),
            RequestError::Internal(_) => INTERNAL_MESSAGE.to_owned(),
            other => other.to_string(),
        }
    }
}

impl From<RequestError> for Status {
    fn from(error: RequestError) -> Self {
        into_status(error)
    }
}

/// Makes a service's error enum, which wraps [`RequestError`] in its variant `Request` and
/// implements [`ServiceError`], convert like `RequestError` does: `?` turns a `DbError` or a
/// [`SlotsBusy`] into it (through `RequestError`), and it into a `Status` through
/// [`into_status`]. (The service crate names `shortline_db` and `tonic`, as every service does.)
#[macro_export]
macro_rules! wraps_request_error {
    ($error:ident) => {
        impl From<::shortline_db::DbError> for $error {
            fn from(error: ::shortline_db::DbError) -> Self {
                $error::Request(error.into())
            }
        }

        impl From<$crate::slots::SlotsBusy> for $error {
            fn from(busy: $crate::slots::SlotsBusy) -> Self {
                $error::Request(busy.into())
            }
        }

        impl From<$error> for ::tonic::Status {
            fn from(error: $error) -> Self {
                $crate::status::into_status(error)
            }
        }
    };
}

/// `job_id` if it can name a job; INVALID_ARGUMENT `"job_id: must be a positive job id"` if not.
pub fn require_job_id(job_id: i64) -> Result<i64, Status> {
    if job_id > 0 {
        Ok(job_id)
    } else {
        Err(RequestError::invalid("job_id", "must be a positive job id").into())
    }
}

/// The job id of a job-scoped request, checked and named in the request's span (so its logs
/// and traces carry it even when the caller sent no job id header).
pub fn job_scoped(job_id: i64) -> Result<i64, Status> {
    let job_id = require_job_id(job_id)?;
    record_job_id(job_id);
    Ok(job_id)
}

/// `id` if it is positive; INVALID_ARGUMENT `"{field}: must be a positive id"` if not.
pub fn require_id(field: &str, id: i64) -> Result<i64, RequestError> {
    if id > 0 {
        Ok(id)
    } else {
        Err(RequestError::invalid(field, "must be a positive id"))
    }
}

/// NOT_FOUND "job N not found" unless the job exists. Lookups scoped by the job ask it only when
/// they found nothing (a row of the job proves the job exists), to tell "no such job" from "no
/// such row": one query less on every successful call.
pub async fn require_job(conn: &mut Conn<'_>, job_id: i64) -> Result<(), RequestError> {
    if shortline_db::jobs::exists(conn, job_id).await? {
        Ok(())
    } else {
        Err(RequestError::JobNotFound(job_id))
    }
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
    fn request_errors_have_their_codes_and_keep_internals_inside() {
        shortline_telemetry::init_for_tests();
        let busy = SlotsBusy { capacity: 1, what: "render", setting: "composer.max_concurrent_renders" };
        let cases = [
            (
                RequestError::invalid("theme.config.video_duration_seconds", "must be between 5 and 180"),
                Code::InvalidArgument,
                "theme.config.video_duration_seconds: must be between 5 and 180",
            ),
            (
                RequestError::Invalid(vec![
                    Violation::new("scenes", "must have 3 to 7 scenes"),
                    Violation::new("hashtags", "must have 5 to 8"),
                ]),
                Code::InvalidArgument,
                "scenes: must have 3 to 7 scenes; hashtags: must have 5 to 8",
            ),
            (RequestError::JobNotFound(7), Code::NotFound, "job 7 not found"),
            (RequestError::NotFound("video 3 not found".into()), Code::NotFound, "video 3 not found"),
            (
                RequestError::FailedPrecondition("video 3 is already approved".into()),
                Code::FailedPrecondition,
                "video 3 is already approved",
            ),
            (
                RequestError::Aborted("collection 2 is still running".into()),
                Code::Aborted,
                "collection 2 is still running",
            ),
            (RequestError::Db(DbError::Internal("SELEC".into())), Code::Internal, INTERNAL_MESSAGE),
            (
                RequestError::Downstream { service: "scriptgen", status: Status::not_found("script 4 not found") },
                Code::NotFound,
                "script 4 not found",
            ),
            (
                RequestError::Busy(busy),
                Code::ResourceExhausted,
                "all 1 render slots of this process are busy (composer.max_concurrent_renders); retry later",
            ),
            (RequestError::Internal("plan column unreadable".into()), Code::Internal, INTERNAL_MESSAGE),
        ];
        for (error, code, message) in cases {
            let status = Status::from(error);
            assert_eq!((status.code(), status.message()), (code, message));
        }
    }

    #[test]
    fn ids_must_be_positive() {
        assert_eq!(require_job_id(1).unwrap(), 1);
        assert_eq!(require_job_id(i64::MAX).unwrap(), i64::MAX);
        for bad in [0, -1, i64::MIN] {
            let status = require_job_id(bad).unwrap_err();
            assert_eq!(status.code(), Code::InvalidArgument);
            assert_eq!(status.message(), "job_id: must be a positive job id");
            assert_eq!(job_scoped(bad).unwrap_err().message(), "job_id: must be a positive job id");
            let status = Status::from(require_id("video_id", bad).unwrap_err());
            assert_eq!((status.code(), status.message()), (Code::InvalidArgument, "video_id: must be a positive id"));
        }
        assert_eq!(job_scoped(9).unwrap(), 9);
        assert_eq!(require_id("video_id", 3).unwrap(), 3);
    }
}
