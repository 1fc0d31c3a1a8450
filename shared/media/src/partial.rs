//! A file being produced beside its final path, renamed into place only when complete.
//!
//! Tools write to `.{name}.{unique}.partial.{ext}` in the final file's directory (same
//! filesystem, so the rename is atomic). Dropping an uncommitted `PartialFile` removes it, so an
//! error or a cancelled request leaves nothing. A process killed outright cannot run that drop;
//! its leftovers are removed by the next commit of the same final path, which is deterministic
//! for every file shortline makes, so a re-run after a crash also cleans up.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct PartialFile {
    tmp: PathBuf,
    dest: PathBuf,
    armed: bool,
}

impl PartialFile {
    /// Reserves a temporary name beside `dest`, creating `dest`'s directory if needed.
    pub fn beside(dest: &Path) -> std::io::Result<Self> {
        let name = dest.file_name().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{} has no file name", dest.display()))
        })?;
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut tmp = OsString::from(".");
        tmp.push(name);
        tmp.push(format!(".{}", uuid::Uuid::new_v4().simple()));
        tmp.push(partial_suffix(dest));
        Ok(PartialFile { tmp: dest.with_file_name(tmp), dest: dest.to_path_buf(), armed: true })
    }

    /// Where the tool writes.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Renames the finished file into place (replacing any file there) and removes partial
    /// files of the same destination that a killed process left behind.
    pub async fn commit(mut self) -> std::io::Result<PathBuf> {
        tokio::fs::rename(&self.tmp, &self.dest).await?;
        self.armed = false;
        remove_leftovers_of(&self.dest);
        Ok(std::mem::take(&mut self.dest))
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if self.armed {
            match std::fs::remove_file(&self.tmp) {
                Ok(()) | Err(_) => {}
            }
        }
    }
}

/// A scratch directory beside `dest` for the files a tool reads while making it (e.g. a filter
/// graph); removed on drop, and — if a killed process left it — by the next commit of `dest`.
pub fn work_dir_beside(dest: &Path) -> std::io::Result<tempfile::TempDir> {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = dest.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(WORK_SUFFIX).tempdir_in(dir)
}

const WORK_SUFFIX: &str = ".partial.work";

/// Whether `path` is a work directory made by [`work_dir_beside`].
pub fn is_work_dir(path: &Path) -> bool {
    path.file_name().is_some_and(|name| name.to_string_lossy().ends_with(WORK_SUFFIX))
}

fn partial_suffix(dest: &Path) -> String {
    match dest.extension() {
        Some(ext) => format!(".partial.{}", ext.to_string_lossy()),
        None => ".partial".to_owned(),
    }
}

/// Removes the partial files and work directories of `dest` that killed processes left: what a
/// commit of `dest` does, and what a generation that failed does for the files it was making.
pub fn remove_leftovers_of(dest: &Path) {
    let (Some(dir), Some(name)) = (dest.parent(), dest.file_name()) else { return };
    let prefix = format!("{}.", name.to_string_lossy());
    let suffix = partial_suffix(dest);
    let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() { Path::new(".") } else { dir }) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        // A tool writing into a partial file may make its own partial file beside that one
        // (`..{name}.{a}.partial.{ext}.{b}.partial.{ext}`): a leftover of `dest` as well.
        let ours = file_name.starts_with('.') && file_name.trim_start_matches('.').starts_with(&prefix);
        if !ours {
            continue;
        }
        if file_name.ends_with(&suffix) {
            tracing::info!(path = %entry.path().display(), "removing a partial file left by an interrupted run");
            let _ = std::fs::remove_file(entry.path());
        } else if file_name.ends_with(WORK_SUFFIX) {
            tracing::info!(path = %entry.path().display(), "removing a work directory left by an interrupted run");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The name of the one partial file of `dest` that is there now.
    fn leftover_name(dest: &Path) -> String {
        let dir = dest.parent().expect("dir");
        names(dir).into_iter().find(|n| n.starts_with('.') && n.contains(".partial")).expect("a partial file")
    }

    #[tokio::test]
    async fn only_committed_files_remain_and_leftovers_are_swept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("out/v.mp4");
        let dropped = PartialFile::beside(&dest).expect("partial");
        std::fs::write(dropped.path(), b"half").expect("write");
        drop(dropped);
        assert!(names(&dir.path().join("out")).is_empty());

        // A killed process's leftover (never dropped), then a successful run of the same file.
        let leftover = PartialFile::beside(&dest).expect("partial");
        std::fs::write(leftover.path(), b"half").expect("write");
        std::mem::forget(leftover);
        // A tool that wrote into that partial file through a partial file of its own.
        let nested = PartialFile::beside(&dir.path().join("out").join(leftover_name(&dest))).expect("nested partial");
        std::fs::write(nested.path(), b"half of half").expect("write");
        std::mem::forget(nested);
        let work = work_dir_beside(&dest).expect("work dir");
        std::fs::write(work.path().join("graph.txt"), b"graph").expect("write");
        std::mem::forget(work);
        let unrelated = dir.path().join("out/.w.mp4.1234.partial.mp4");
        std::fs::write(&unrelated, b"other").expect("write");
        let done = PartialFile::beside(&dest).expect("partial");
        std::fs::write(done.path(), b"whole").expect("write");
        assert_eq!(done.commit().await.expect("commit"), dest);
        assert_eq!(names(&dir.path().join("out")), [".w.mp4.1234.partial.mp4", "v.mp4"]);
    }
}
