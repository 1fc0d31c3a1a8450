//! Where media files live, addressed by URI. Services pass URIs between each other, never bytes.
//!
//! The local store is a directory: keys such as `jobs/12/script-3/scene-1.mp4` map to files under
//! it and to `file://` URIs. Every URI a service is handed is checked to lie inside the store, so
//! a caller cannot make a service read or move arbitrary files.

use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MediaStoreError {
    #[error("`{uri}` is not a file:// URI inside the media store")]
    OutsideStore { uri: String },
    #[error("media store I/O on {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

#[derive(Debug, Clone)]
pub struct MediaStore {
    root: PathBuf,
}

impl MediaStore {
    /// A store rooted at `root` (a directory path or a `file://` URI), created if missing.
    pub fn local(root: &str) -> Result<Self, MediaStoreError> {
        let path = PathBuf::from(root.strip_prefix("file://").unwrap_or(root));
        std::fs::create_dir_all(&path).map_err(|source| io(&path, source))?;
        let root = std::fs::canonicalize(&path).map_err(|source| io(&path, source))?;
        Ok(MediaStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file behind a key; its directory is created so the caller can write at once.
    pub fn prepare(&self, key: &str) -> Result<PathBuf, MediaStoreError> {
        let path = self.root.join(key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| io(parent, source))?;
        }
        Ok(path)
    }

    pub fn uri(&self, path: &Path) -> String {
        format!("file://{}", path.display())
    }

    /// The local file a URI names, refusing anything outside the store.
    pub fn resolve(&self, uri: &str) -> Result<PathBuf, MediaStoreError> {
        let outside = || MediaStoreError::OutsideStore { uri: uri.to_owned() };
        let path = Path::new(uri.strip_prefix("file://").ok_or_else(outside)?);
        if path.components().any(|c| matches!(c, Component::ParentDir)) || !path.starts_with(&self.root) {
            return Err(outside());
        }
        Ok(path.to_path_buf())
    }

    /// Moves the file behind `uri` to `key` (same filesystem: an atomic rename) and returns the
    /// new URI.
    pub async fn move_to(&self, uri: &str, key: &str) -> Result<String, MediaStoreError> {
        let from = self.resolve(uri)?;
        let to = self.prepare(key)?;
        tokio::fs::rename(&from, &to).await.map_err(|source| io(&from, source))?;
        Ok(self.uri(&to))
    }
}

fn io(path: &Path, source: std::io::Error) -> MediaStoreError {
    MediaStoreError::Io { path: path.display().to_string(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_move_inside_the_store_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = MediaStore::local(dir.path().to_str().expect("utf-8")).expect("store");
        let path = store.prepare("generated/1/video.mp4").expect("prepare");
        std::fs::write(&path, b"mp4").expect("write");
        let uri = store.uri(&path);
        let moved = store.move_to(&uri, "approved/1/video.mp4").await.expect("move");
        assert!(store.resolve(&moved).expect("inside").exists());
        assert!(!path.exists());
        assert!(store.resolve("file:///etc/passwd").is_err());
        assert!(store.resolve(&format!("file://{}/../x", store.root().display())).is_err());
        assert!(store.resolve("/no/scheme").is_err());
    }
}
