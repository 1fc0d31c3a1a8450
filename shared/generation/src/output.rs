//! Writing an output file so that it appears at its final path complete or not at all.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::MediaError;

pub(crate) use shortline_media::partial::PartialFile;

/// A partial file beside `dest` (see [`PartialFile`]): complete at `dest`, or not there at all.
pub(crate) fn partial(dest: &Path) -> Result<PartialFile, MediaError> {
    PartialFile::beside(dest).map_err(|e| MediaError::io(format!("preparing {}", dest.display()), e))
}

/// Renames a finished partial file into place.
pub(crate) async fn commit(file: PartialFile) -> Result<PathBuf, MediaError> {
    let dest = file.dest().to_path_buf();
    file.commit().await.map_err(|e| MediaError::io(format!("moving a finished file to {}", dest.display()), e))
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
