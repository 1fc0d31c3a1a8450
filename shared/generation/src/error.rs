//! The one error type of the media providers.

use std::path::PathBuf;

/// Why a media provider did not produce its file.
///
/// Whatever the variant, no file is left at the requested output path and no temporary file is
/// left beside it.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The external program could not be started because it is not installed (ENOENT on spawn).
    #[error("{tool} not found: install it with `{install_hint}`")]
    ToolMissing { tool: String, install_hint: String },
    /// The external program ran and failed; `stderr_tail` is the end of what it printed.
    #[error("{tool} failed ({status}): {stderr_tail}")]
    Failed { tool: String, status: String, stderr_tail: String },
    /// The cancellation token fired; the child process was killed and reaped.
    #[error("media generation cancelled")]
    Cancelled,
    /// A file-system or process-spawn error other than a missing tool.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The program reported success but its output is not what was asked for.
    #[error("invalid output {}: {reason}", path.display())]
    InvalidOutput { path: PathBuf, reason: String },
    /// The request itself cannot be served (odd frame size, empty text, ...); nothing was run.
    #[error("invalid media request: {0}")]
    InvalidRequest(String),
    /// A provider could not be reached, timed out, or kept answering 429 or 5xx: worth trying
    /// again later. `reason` is the whole (redacted) error of the last provider tried; `tried`
    /// what each provider of the chain answered, for the log.
    #[error("{kind} provider unavailable, retry later: {reason}")]
    ProviderUnavailable { kind: String, reason: String, tried: String },
    /// The voiceover, even spoken as fast as the fit policy allows, is longer than any video may
    /// be: the script's words are too long to speak in a short.
    #[error(
        "the voiceover lasts {voice_seconds:.1} s even at {words_per_minute} words per minute; a video lasts at most \
         {max_seconds} s: shorten the theme's texts (a long unreadable word is spelled out letter by letter)"
    )]
    VoiceTooLong { voice_seconds: f64, words_per_minute: u32, max_seconds: f64 },
    /// A paid call was not made: it would take the job past its budget.
    #[error(transparent)]
    OverBudget(#[from] shortline_providers::budget::BudgetExceeded),
}

impl MediaError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }

    pub fn invalid_output(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::InvalidOutput { path: path.into(), reason: reason.into() }
    }
}
