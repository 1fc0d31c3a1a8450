//! Running an external tool (ffmpeg, ffprobe, espeak-ng) under a cancellation token.
//!
//! Every child is spawned with `kill_on_drop(true)` (dropping the future kills it) and raced
//! against `cancel.cancelled()`; on cancellation it is killed *and reaped* before
//! [`MediaError::Cancelled`] is returned, so the caller may delete its partial output knowing
//! nothing writes to it any more. No shell is ever involved: arguments go to the program as-is.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use super::MediaError;

/// How much of a failed tool's stderr is kept in [`MediaError::Failed`].
const STDERR_TAIL_BYTES: usize = 2_000;

/// An external program and how to get it when it is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    /// What to execute: a bare name looked up in `PATH`, or a path.
    pub program: PathBuf,
    /// Shown to the operator when the program is missing, e.g. `apt-get install ffmpeg`.
    pub install_hint: String,
}

impl Tool {
    pub fn new(program: impl Into<PathBuf>, install_hint: impl Into<String>) -> Self {
        Self { program: program.into(), install_hint: install_hint.into() }
    }

    pub fn ffmpeg() -> Self {
        Self::new("ffmpeg", "apt-get install ffmpeg")
    }

    pub fn ffprobe() -> Self {
        Self::new("ffprobe", "apt-get install ffmpeg")
    }

    pub fn espeak_ng() -> Self {
        Self::new("espeak-ng", "apt-get install espeak-ng")
    }

    pub(crate) fn display_name(&self) -> String {
        self.program.display().to_string()
    }

    /// Runs the tool to completion and returns its stdout.
    ///
    /// A non-zero exit is [`MediaError::Failed`] with the tail of stderr; a missing program is
    /// [`MediaError::ToolMissing`]; a fired token is [`MediaError::Cancelled`] (checked before
    /// spawning too, so a cancelled job starts nothing).
    pub async fn run(&self, args: &[OsString], cancel: &CancellationToken) -> Result<Vec<u8>, MediaError> {
        shortline_media::process::traced(self.program.as_os_str(), self.run_inner(args, cancel)).await
    }

    async fn run_inner(&self, args: &[OsString], cancel: &CancellationToken) -> Result<Vec<u8>, MediaError> {
        if cancel.is_cancelled() {
            return Err(MediaError::Cancelled);
        }
        let tool = self.display_name();
        tracing::debug!(tool = %tool, args = ?args, "running media tool");
        let started = Instant::now();
        let spawned = shortline_media::process::command(&self.program).and_then(|mut cmd| {
            cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()
        });
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(MediaError::ToolMissing { tool, install_hint: self.install_hint.clone() });
            }
            Err(e) => return Err(MediaError::io(format!("starting {tool}"), e)),
        };
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let outcome = tokio::select! {
            outcome = async {
                let (out, err) = tokio::join!(read_all(stdout), read_tail(stderr, STDERR_TAIL_BYTES));
                (child.wait().await, out, err)
            } => outcome,
            () = cancel.cancelled() => {
                // Kill and reap, so nothing writes to the output once we return.
                if let Err(e) = child.kill().await {
                    tracing::warn!(tool = %tool, error = %e, "could not kill cancelled media tool");
                }
                tracing::debug!(tool = %tool, "media tool cancelled");
                return Err(MediaError::Cancelled);
            }
        };
        let (status, stdout, stderr_tail) = outcome;
        let status = status.map_err(|e| MediaError::io(format!("waiting for {tool}"), e))?;
        let stdout = stdout.map_err(|e| MediaError::io(format!("reading the output of {tool}"), e))?;
        tracing::debug!(tool = %tool, %status, elapsed_ms = started.elapsed().as_millis() as u64, "media tool finished");
        if !status.success() {
            let stderr_tail = String::from_utf8_lossy(&stderr_tail).trim().to_owned();
            return Err(MediaError::Failed { tool, status: status.to_string(), stderr_tail });
        }
        Ok(stdout)
    }
}

async fn read_all(pipe: Option<impl AsyncRead + Unpin>) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if let Some(mut pipe) = pipe {
        pipe.read_to_end(&mut buf).await?;
    }
    Ok(buf)
}

/// Reads the pipe to its end, keeping only its last `keep` bytes (a chatty tool cannot fill memory).
async fn read_tail(pipe: Option<impl AsyncRead + Unpin>, keep: usize) -> Vec<u8> {
    let mut tail = Vec::new();
    let Some(mut pipe) = pipe else { return tail };
    let mut chunk = [0u8; 4096];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&chunk[..n]);
                if tail.len() > 2 * keep {
                    tail.drain(..tail.len() - keep);
                }
            }
        }
    }
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
    }
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn a_missing_program_is_tool_missing_with_its_install_hint() {
        let tool = Tool::new("/nonexistent/shortline-espeak-ng", "apt-get install espeak-ng");
        let err = tool.run(&[], &CancellationToken::new()).await.expect_err("must fail");
        assert!(matches!(err, MediaError::ToolMissing { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "/nonexistent/shortline-espeak-ng not found: install it with `apt-get install espeak-ng`"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failing_program_reports_the_tail_of_its_stderr() {
        let tool = Tool::ffmpeg();
        let args: Vec<OsString> = ["-hide_banner", "-i", "/nonexistent/input.mp4"].map(OsString::from).to_vec();
        let err = tool.run(&args, &CancellationToken::new()).await.expect_err("must fail");
        let MediaError::Failed { tool, stderr_tail, .. } = err else { panic!("{err:?}") };
        assert_eq!(tool, "ffmpeg");
        assert!(stderr_tail.contains("No such file"), "{stderr_tail}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_cancelled_token_starts_nothing() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        let err = Tool::new("/nonexistent/tool", "-").run(&[], &cancel).await.expect_err("must fail");
        assert!(matches!(err, MediaError::Cancelled), "{err:?}");
    }

    #[tokio::test]
    async fn the_stderr_tail_keeps_the_end() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let tail = read_tail(Some(&data[..]), 100).await;
        assert_eq!(tail, data[data.len() - 100..]);
    }
}
