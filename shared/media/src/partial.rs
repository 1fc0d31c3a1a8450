//! A file being produced beside its final path, renamed into place only when complete.
//!
//! Tools write to `.{name}.{unique}.partial.{ext}` in the final file's directory (same
//! filesystem, so the rename is atomic). Dropping an uncommitted `PartialFile` removes it, so an
//! error or a cancelled request leaves nothing. A process killed outright cannot run that drop;
//! its leftovers are removed by the next commit of the same final path, which is deterministic
//! for every file shortline makes, so a re-run after a crash also cleans up.
//!
//! Bytes made in memory go in through [`PartialFile::write`], not `tokio::fs::write`: a file
//! operation runs on Tokio's blocking pool and goes on when its future is dropped (a cancelled
//! request), so it could create the file again after the drop removed it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Debug)]
pub struct PartialFile {
    tmp: PathBuf,
    dest: PathBuf,
    armed: bool,
    /// Set by the drop; a write on the blocking pool holds it while it writes, so it either
    /// finishes before the drop removes the file or sees it set and writes nothing.
    abandoned: Arc<Mutex<bool>>,
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
        Ok(PartialFile {
            tmp: dest.with_file_name(tmp),
            dest: dest.to_path_buf(),
            armed: true,
            abandoned: Arc::new(Mutex::new(false)),
        })
    }

    /// Writes `contents` as the whole file, on the blocking pool. If the file is dropped while
    /// this runs, the file is gone afterwards all the same (see the module docs).
    pub async fn write(&self, contents: impl Into<Vec<u8>>) -> std::io::Result<()> {
        let (path, contents, abandoned) = (self.tmp.clone(), contents.into(), self.abandoned.clone());
        tokio::task::spawn_blocking(move || {
            let abandoned = abandoned.lock().unwrap_or_else(PoisonError::into_inner);
            if *abandoned {
                return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "the partial file was dropped"));
            }
            std::fs::write(&path, contents)
        })
        .await
        .map_err(std::io::Error::other)?
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
            // Waits for a write in progress (at most one file's write, and only when a request
            // is dropped mid-write).
            let mut abandoned = self.abandoned.lock().unwrap_or_else(PoisonError::into_inner);
            *abandoned = true;
            match std::fs::remove_file(&self.tmp) {
                Ok(()) | Err(_) => {}
            }
        }
    }
}

/// Writes `contents` through an open file's own handle, on the blocking pool: if the future is
/// dropped and the file removed meanwhile (a `tempfile::NamedTempFile` dropped with a cancelled
/// request), the write goes on into the removed file and its name does not come back, as it
/// would with `tokio::fs::write` to the path.
pub async fn write_through(file: &std::fs::File, contents: impl Into<Vec<u8>>) -> std::io::Result<()> {
    use std::io::Write as _;
    let (mut file, contents) = (file.try_clone()?, contents.into());
    tokio::task::spawn_blocking(move || file.write_all(&contents)).await.map_err(std::io::Error::other)?
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

    /// A request dropped while its file is being written (the write's future dropped, then the
    /// partial file): nothing is left, whichever of the write and the drop runs first. With
    /// `tokio::fs::write` the write went on after the drop and left the file in most rounds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_dropped_midway_leaves_nothing() {
        use std::future::Future as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let contents = vec![7u8; 1 << 20];
        for round in 0..50 {
            let partial = PartialFile::beside(&dir.path().join(format!("v{round}.wav"))).expect("partial");
            let mut write = Box::pin(partial.write(contents.clone()));
            // Polled once: the write is on the blocking pool.
            let waker = futures::task::noop_waker();
            let _ = write.as_mut().poll(&mut std::task::Context::from_waker(&waker));
            drop(write);
            drop(partial);
        }
        // Whatever the blocking pool still had to do is done.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));

        // A write that is not dropped lands and commits.
        let partial = PartialFile::beside(&dir.path().join("kept.wav")).expect("partial");
        partial.write(b"whole".to_vec()).await.expect("write");
        partial.commit().await.expect("commit");
        assert_eq!(names(dir.path()), ["kept.wav"]);
    }
}
