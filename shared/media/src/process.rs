//! Spawning media tools (ffmpeg, ffprobe, espeak-ng) so they never outlive their service.
//!
//! `kill_on_drop` covers a cancelled request, but not a service killed with SIGKILL: its children
//! would run on and leave half-written files. Where util-linux's `setpriv` is installed, tools
//! start under `setpriv --pdeathsig KILL`, so the kernel kills them when the service dies.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use tracing::Instrument;

const SETPRIV: &str = "/usr/bin/setpriv";

/// A command for `program` that dies with this process. `NotFound` when `program` is not on
/// PATH, so callers can say which tool to install.
pub fn command(program: impl AsRef<OsStr>) -> std::io::Result<tokio::process::Command> {
    let resolved = resolve(program.as_ref()).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} not found on PATH", program.as_ref().to_string_lossy()),
        )
    })?;
    let mut command = if Path::new(SETPRIV).exists() {
        let mut command = tokio::process::Command::new(SETPRIV);
        command.arg("--pdeathsig").arg("KILL").arg("--").arg(&resolved);
        command
    } else {
        tokio::process::Command::new(&resolved)
    };
    command.kill_on_drop(true);
    Ok(command)
}

/// Runs `run` (one run of the media tool `program`) in its own span,
/// `tool{program=ffmpeg job_id=7}`, which carries the job of the work it runs for and, when the
/// run fails, the error.
pub async fn traced<T, E: std::fmt::Display>(
    program: &OsStr,
    run: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let name = Path::new(program).file_name().unwrap_or(program).to_string_lossy();
    let span = tracing::info_span!(
        "tool",
        program = %name,
        job_id = shortline_telemetry::current_job_id(),
        error = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    let outcome = run.instrument(span.clone()).await;
    if let Err(error) = &outcome {
        span.record("error", tracing::field::display(error));
        span.record("otel.status_code", "error");
    }
    outcome
}

/// `program` itself if it names a path, else its first match on PATH.
fn resolve(program: &OsStr) -> Option<PathBuf> {
    let path = Path::new(program);
    if path.components().count() > 1 {
        return path.is_file().then(|| path.to_path_buf());
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn tools_run_and_missing_ones_are_named() {
        let output = super::command("sh").expect("sh").arg("-c").arg("echo ok").output().await.expect("run");
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "ok");
        let missing = super::command("no-such-tool-here").expect_err("missing");
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }
}
