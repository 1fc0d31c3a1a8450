//! The test harness: a fresh database per test on either backend (from `shortline-testing`),
//! and the mock trend source and analyst several tests point the services at ([`trend_mocks`]).

pub mod trend_mocks;

pub use shortline_testing::{admin_execute, count_rows, postgres_server_url, TestDb};
