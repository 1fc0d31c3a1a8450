//! Settings built from files that other systems replace while a service runs (cert-manager
//! renewing a certificate, a Kubernetes Secret update adding a user): each look compares the
//! files' modification times and sizes with those the settings were built from and builds them
//! again when they changed. Files that cannot be used keep the last good settings (and say so in
//! the log once), and are tried again when they change again.

use std::fmt::Display;
use std::path::Path;
use std::time::SystemTime;

/// When a file last changed and its size (`None`: unreadable); a change of either is a new file.
type Stamp = Option<(SystemTime, u64)>;

fn stamps(paths: &[&Path]) -> Vec<Stamp> {
    paths
        .iter()
        .map(|path| std::fs::metadata(path).ok().and_then(|meta| Some((meta.modified().ok()?, meta.len()))))
        .collect()
}

/// The last good settings built from some files, and the files' stamps when they were built.
pub(crate) struct Watched<T> {
    stamps: Vec<Stamp>,
    value: T,
}

impl<T> Watched<T> {
    /// Builds the settings now: a service does not start with files it cannot use.
    pub(crate) fn build<E>(paths: &[&Path], build: impl FnOnce() -> Result<T, E>) -> Result<Self, E> {
        let stamps = stamps(paths);
        Ok(Watched { stamps, value: build()? })
    }

    pub(crate) fn value(&self) -> &T {
        &self.value
    }

    /// Builds the settings again if the files changed since; true when they are new. `what`
    /// names the files in the log.
    pub(crate) fn refresh<E: Display>(
        &mut self,
        what: &str,
        paths: &[&Path],
        build: impl FnOnce() -> Result<T, E>,
    ) -> bool {
        let stamps = stamps(paths);
        if stamps == self.stamps {
            return false;
        }
        match build() {
            Ok(value) => {
                tracing::info!(files = ?paths, "{what} changed: used from now on");
                *self = Watched { stamps, value };
                true
            }
            Err(error) => {
                tracing::warn!(%error, "{what} changed but cannot be used; keeping the previous ones");
                self.stamps = stamps;
                false
            }
        }
    }
}
