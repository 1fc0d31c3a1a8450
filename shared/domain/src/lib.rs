//! The pipeline's domain types, shared by every service and the CLI.
//!
//! They are plain serde structs: services store them as JSON columns and mirror them in protobuf
//! messages. Validation lives next to each type so every entry point applies the same rules.

pub mod captions;
pub mod plan;
pub mod report;
pub mod text;
pub mod theme;
pub mod trend;

pub use plan::{OverlayPosition, OverlayStyle, ProductionPlan, Scene, TextOverlay, Transition};
pub use report::{CommonPattern, HashtagCount, TrendReportBody, VideoStyle};
pub use theme::{CaptionStyle, ContentReference, Theme, ThemeAvatar, ThemeConfig, ThemeError};
pub use trend::{Platform, TrendItem};

/// One rule broken by a value: the field's path (e.g. `scenes[2].duration_seconds`) and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Violation {
    pub field: String,
    pub reason: String,
}

impl Violation {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Joins violations into one readable line, e.g. for an INVALID_ARGUMENT message.
pub fn describe(violations: &[Violation]) -> String {
    violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}
