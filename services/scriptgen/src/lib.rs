//! shortline scriptgen: writes production plans (stage SCRIPT_GENERATION) and generates their
//! media (stage MEDIA_GENERATION) behind the `ScriptService` gRPC API.

mod api;
mod app;
mod error;
pub use shortline_generation as media;
pub mod planner;
pub mod providers;

pub use api::{ClipFormat, MediaProviders, ScriptPlanner, MAX_VARIANTS};
pub use app::{Application, HEALTH_SERVICE_NAME};
pub use error::ScriptgenError;
