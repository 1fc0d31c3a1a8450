//! The data layer: one repository API over PostgreSQL or SQLite.
//!
//! Models follow crates.io's `crates_io_database`: a `X` (a row as read) and a `NewX` (a row to
//! insert) per table, and async query functions in one module per table. Every function takes a
//! [`Conn`], so it works on a pooled connection or inside a [`transaction!`](crate::transaction).

// The database macros (`dispatch!`, `insert_rows!`, `transaction!`) expand in the calling crate;
// they name diesel through these paths so callers need no diesel dependency of their own.
#[doc(hidden)]
pub use {diesel as __diesel, diesel_async as __diesel_async};

pub mod error;
pub mod migrations;
pub mod models;
pub mod pg_connect;
pub mod pool;
pub mod schema;

pub use error::{DbError, DbResult};

/// Every table, each after the tables it refers to (the order rows can be inserted in).
pub const TABLES: [&str; 12] = [
    "jobs",
    "job_stages",
    "trend_collections",
    "trend_collection_uses",
    "trends",
    "trend_sightings",
    "trend_reports",
    "trend_report_items",
    "scripts",
    "media_assets",
    "videos",
    "source_quota_usage",
];
pub use models::*;
pub use pg_connect::PgAccess;
pub use pool::{Backend, Conn, DbPool, PoolOptions, PooledConn};

/// The current time as stored: UTC, microsecond precision (what both backends keep).
pub fn now() -> chrono::NaiveDateTime {
    use chrono::{DurationRound, TimeDelta};
    let now = chrono::Utc::now().naive_utc();
    now.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(now)
}
