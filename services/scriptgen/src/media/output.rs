//! Writing an output file so that it appears at its final path complete or not at all.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::MediaError;

/// A temporary sibling of a final output path: same directory (so the final `rename` is atomic),
/// hidden, random, ending with the final extension (tools that pick a format by extension still
/// work). Removed on drop unless [`PartialFile::commit`] renamed it into place — so an error, a
/// cancellation or a dropped future never leaves a partial file behind.
#[derive(Debug)]
pub(crate) struct PartialFile {
    tmp: PathBuf,
    dest: PathBuf,
    armed: bool,
}

impl PartialFile {
    /// Reserves a temporary name for `dest` and creates `dest`'s directory if needed.
    pub(crate) async fn new(dest: &Path, tag: &str) -> Result<Self, MediaError> {
        let file_name = dest
            .file_name()
            .ok_or_else(|| MediaError::InvalidRequest(format!("output path {} has no file name", dest.display())))?;
        let dir = match dest.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        tokio::fs::create_dir_all(&dir).await.map_err(|e| MediaError::io(format!("creating {}", dir.display()), e))?;
        let mut name = std::ffi::OsString::from(".");
        name.push(file_name);
        name.push(format!(".{:08x}.{tag}", rand::random::<u32>()));
        if let Some(ext) = dest.extension() {
            name.push(".");
            name.push(ext);
        }
        Ok(Self { tmp: dir.join(name), dest: dest.to_path_buf(), armed: true })
    }

    /// Where the tool writes.
    pub(crate) fn path(&self) -> &Path {
        &self.tmp
    }

    pub(crate) fn dest(&self) -> &Path {
        &self.dest
    }

    /// Moves the finished file to its final path (atomically replacing any file there).
    pub(crate) async fn commit(mut self) -> Result<PathBuf, MediaError> {
        tokio::fs::rename(&self.tmp, &self.dest)
            .await
            .map_err(|e| MediaError::io(format!("moving {} to {}", self.tmp.display(), self.dest.display()), e))?;
        self.armed = false;
        Ok(std::mem::take(&mut self.dest))
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if self.armed {
            match std::fs::remove_file(&self.tmp) {
                Ok(()) => tracing::debug!(path = %self.tmp.display(), "removed partial media file"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(path = %self.tmp.display(), error = %e, "could not remove partial media file"),
            }
        }
    }
}

/// Size and lowercase hex SHA-256 of a file, streamed.
pub(crate) async fn size_and_sha256(path: &Path) -> Result<(u64, String), MediaError> {
    let context = || format!("reading {}", path.display());
    let mut file = tokio::fs::File::open(path).await.map_err(|e| MediaError::io(context(), e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).await.map_err(|e| MediaError::io(context(), e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_partial_file_is_removed_unless_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("sub/clip.mp4");
        let partial = PartialFile::new(&dest, "part").await.expect("partial");
        assert_eq!(partial.path().parent(), dest.parent());
        assert_eq!(partial.path().extension().and_then(|e| e.to_str()), Some("mp4"));
        std::fs::write(partial.path(), b"half").expect("write");
        drop(partial);
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).expect("dir").count(), 0);

        let partial = PartialFile::new(&dest, "part").await.expect("partial");
        std::fs::write(partial.path(), b"whole").expect("write");
        assert_eq!(partial.commit().await.expect("commit"), dest);
        assert_eq!(std::fs::read(&dest).expect("read"), b"whole");
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).expect("dir").count(), 1);
        let (size, sha) = size_and_sha256(&dest).await.expect("hash");
        assert_eq!(size, 5);
        assert_eq!(sha, hex::encode(Sha256::digest(b"whole")));
    }
}
