//! Test support shared by every crate's tests: a local HTTP server that records requests and
//! answers as scripted, for provider tests. A dev-dependency only; nothing here ships.

pub mod http_mock;
pub mod schema_instances;
