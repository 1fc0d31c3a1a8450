//! `[lineage]`: where the orchestrator sends OpenLineage run events (off unless a URL or a file
//! is set).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LineageConfig {
    /// The HTTP endpoint events are POSTed to, e.g. Marquez's `http://marquez:5000/api/v1/lineage`.
    pub url: Option<String>,
    /// A file events are appended to, one JSON object per line.
    pub file: Option<PathBuf>,
    /// The namespace of shortline's jobs and datasets: one per deployment.
    pub namespace: String,
    /// Events held in memory while the endpoint is slow or away; past it new events are dropped.
    pub buffer: usize,
}

impl Default for LineageConfig {
    fn default() -> Self {
        Self { url: None, file: None, namespace: "shortline".to_owned(), buffer: 10_000 }
    }
}

impl LineageConfig {
    /// Whether events are sent anywhere.
    pub fn enabled(&self) -> bool {
        self.url.is_some() || self.file.is_some()
    }
}
