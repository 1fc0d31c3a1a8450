//! API keys: read from a secret file or the environment, printed as `***` everywhere.
//!
//! An [`ApiKey`] has no `Serialize`, and its `Debug` and `Display` print `***`, so a key cannot
//! reach a log line, an error message, an RPC answer or a database row by being formatted or
//! serialised; the only way to the bytes is [`ApiKey::expose`], used where a request header or
//! query parameter is built. Error texts that quote an answer are passed through
//! [`ApiKey::redact`] as well, in case a provider echoes the key back.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A provider's API key. `Debug`/`Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(Arc<str>);

impl ApiKey {
    /// A key from its text (surrounding whitespace, e.g. a secret file's newline, is dropped).
    /// `None` for an empty text.
    pub fn new(text: &str) -> Option<Self> {
        let text = text.trim();
        (!text.is_empty()).then(|| ApiKey(Arc::from(text)))
    }

    /// The key itself: only for building the request that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the key replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        if self.0.len() < 4 {
            // A key this short cannot be told from ordinary text; nothing sensible to replace.
            return text.to_owned();
        }
        text.replace(&*self.0, "***")
    }

    /// The key of a provider, looked up in this order:
    ///
    /// 1. the secret file `file` (its whole content, trimmed), when configured — an unreadable
    ///    or empty file is an error, not a silent fall-through;
    /// 2. each environment variable of `vars` in order (e.g. `SHORTLINE_OPENAI_API_KEY`, then
    ///    the provider's usual `OPENAI_API_KEY`); empty variables are skipped.
    ///
    /// `Ok(None)` when none is set.
    pub fn lookup(file: Option<&Path>, vars: &[&str]) -> Result<Option<ApiKey>, KeyError> {
        if let Some(file) = file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| KeyError { origin: format!("secret file {}", file.display()), reason: e.to_string() })?;
            return ApiKey::new(&text).map(Some).ok_or_else(|| KeyError {
                origin: format!("secret file {}", file.display()),
                reason: "is empty".into(),
            });
        }
        Ok(vars.iter().find_map(|var| std::env::var(var).ok().and_then(|value| ApiKey::new(&value))))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A configured key source that could not be read. Names the source, never a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {reason}")]
pub struct KeyError {
    /// e.g. `secret file /run/secrets/openai`.
    pub origin: String,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_never_print() {
        let key = ApiKey::new("  sk-secret-123\n").unwrap();
        assert_eq!(key.expose(), "sk-secret-123");
        assert_eq!(format!("{key} {key:?} {:?}", Some(&key)), "*** *** Some(***)");
        assert_eq!(key.redact("bad key sk-secret-123 given"), "bad key *** given");
        assert!(ApiKey::new(" \n").is_none());
    }

    #[test]
    fn lookup_prefers_the_file_and_reports_a_bad_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, "from-file\n").unwrap();
        let key = ApiKey::lookup(Some(&file), &["SHORTLINE_TEST_NO_SUCH_VAR"]).unwrap().unwrap();
        assert_eq!(key.expose(), "from-file");
        std::fs::write(&file, "\n").unwrap();
        let error = ApiKey::lookup(Some(&file), &[]).unwrap_err();
        assert!(error.to_string().contains("is empty"), "{error}");
        let missing = ApiKey::lookup(Some(&dir.path().join("nope")), &[]).unwrap_err();
        assert!(missing.to_string().contains("secret file"), "{missing}");
        assert_eq!(ApiKey::lookup(None, &["SHORTLINE_TEST_NO_SUCH_VAR"]).unwrap(), None);
    }
}
