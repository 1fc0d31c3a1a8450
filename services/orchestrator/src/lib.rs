//! The orchestrator: the public API, the job engine that drives every stage, and the stages it
//! runs itself (trend collection and analysis).

mod api;
mod app;
mod clients;
mod collections;
mod engine;
mod error;
mod lineage;
pub mod providers;
mod stages;
pub mod themes;
pub mod trends;

pub use app::Application;
