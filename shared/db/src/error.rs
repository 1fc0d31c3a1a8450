//! Typed database errors: each failure a caller can act on has its own variant.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A unique constraint refused the row (e.g. the same `(job_id, variant)` twice).
    #[error("unique constraint violated: {constraint}")]
    UniqueViolation { constraint: String },
    /// A foreign key refused the row: its `job_id` or parent does not exist (or belongs to
    /// another job), or a delete would orphan children.
    #[error("foreign key violated: {constraint}")]
    ForeignKeyViolation { constraint: String },
    /// A required column was NULL.
    #[error("required column is null: {column}")]
    NotNullViolation { column: String },
    /// A CHECK constraint refused the row.
    #[error("check constraint violated: {constraint}")]
    CheckViolation { constraint: String },
    /// The row looked up does not exist (or is not visible in the job it was asked for).
    #[error("row not found")]
    NotFound,
    /// The database could not be reached, or no pooled connection became free in time.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A write was fenced off: the caller no longer holds the job's lease.
    #[error("lease lost: job {job_id} is owned by another worker")]
    LeaseLost { job_id: i64 },
    /// Anything else: a bug or an unexpected database answer. Logged, never shown to clients.
    #[error("database error: {0}")]
    Internal(String),
}

pub type DbResult<T> = Result<T, DbError>;

impl From<DieselError> for DbError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => DbError::NotFound,
            DieselError::DatabaseError(kind, info) => {
                let constraint = info.constraint_name().map(str::to_owned).unwrap_or_else(|| info.message().to_owned());
                match kind {
                    DatabaseErrorKind::UniqueViolation => DbError::UniqueViolation { constraint },
                    DatabaseErrorKind::ForeignKeyViolation => DbError::ForeignKeyViolation { constraint },
                    DatabaseErrorKind::NotNullViolation => DbError::NotNullViolation {
                        column: info.column_name().map(str::to_owned).unwrap_or(constraint),
                    },
                    DatabaseErrorKind::CheckViolation => DbError::CheckViolation { constraint },
                    DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                        DbError::Unavailable(info.message().to_owned())
                    }
                    _ => classify_message(info.message()),
                }
            }
            DieselError::BrokenTransactionManager => DbError::Unavailable("connection lost mid-transaction".into()),
            other => DbError::Internal(other.to_string()),
        }
    }
}

/// Messages of errors that pass once the database (or a fresh connection) is back. Both drivers
/// report these conditions only through their message: SQLite's busy database, and PostgreSQL's
/// connection-level failures (SQLSTATE classes 08 and 57, e.g. a backend terminated by an
/// administrator or a restarting server). The pool drops the dead connection on its own.
const TRANSIENT_MESSAGES: [&str; 9] = [
    "database is locked",
    "database is busy",
    "terminating connection",
    "connection closed",
    "server closed the connection",
    "connection reset",
    "broken pipe",
    "the database system is starting up",
    "the database system is shutting down",
];

fn classify_message(message: &str) -> DbError {
    let lower = message.to_ascii_lowercase();
    if TRANSIENT_MESSAGES.iter().any(|m| lower.contains(m)) {
        DbError::Unavailable(message.to_owned())
    } else {
        DbError::Internal(message.to_owned())
    }
}

impl DbError {
    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, DbError::Unavailable(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_connections_and_busy_databases_are_transient() {
        assert!(classify_message("terminating connection due to administrator command").is_transient());
        assert!(classify_message("database is locked").is_transient());
        assert!(!classify_message("syntax error at or near").is_transient());
    }
}
