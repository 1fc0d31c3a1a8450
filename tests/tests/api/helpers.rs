//! The test harness: a fresh database per test on either backend (from `shortline-testing`).

pub use shortline_testing::{admin_execute, count_rows, postgres_server_url, TestDb};
