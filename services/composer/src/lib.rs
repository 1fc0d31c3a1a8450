//! The composer: turns a script's media into an H.264/AAC MP4 and a thumbnail (stage
//! COMPOSITION) and records review decisions on it (stage REVIEW). It writes only the `videos`
//! table and reads scripts and assets through scriptgen's RPCs.

mod api;
mod app;
mod compose;
mod error;
pub use shortline_render as render;
mod scriptgen;

pub use app::{Application, HEALTH_SERVICE};
pub use error::ComposerError;
