//! Test support shared by every crate's tests: a fresh database per test on either backend
//! ([`TestDb`], [`on_both_backends!`]), fixtures, a local HTTP server that records requests and
//! answers as scripted (provider tests), and instances of the LLM schemas. A dev-dependency
//! only; nothing here ships.

mod database;
pub mod fixtures;
pub mod http_mock;
pub mod media;
pub mod providers;
pub mod schema_instances;

pub use database::{admin_execute, count_rows, files_under, init_tracing, postgres_server_url, TestDb};
