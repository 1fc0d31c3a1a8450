//! What a real provider reported about a file it made, kept until the asset row is written.
//!
//! [`GeneratedFile`](crate::media::GeneratedFile) carries provider, model and cost; the rest of
//! the story (each provider tried, why the chain moved on, the usage the provider reported, its
//! request id) is recorded here under the file's SHA-256 and merged into the asset's `usage`
//! JSON when the row is built.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

/// Entries kept at most; older ones (takes that were not kept) are forgotten.
const CAPACITY: usize = 256;

/// Provider details by file SHA-256. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct UsageLedger(Arc<Mutex<VecDeque<(String, Value)>>>);

impl UsageLedger {
    /// Records `details` (a JSON object) for the file whose SHA-256 is `sha256`.
    pub fn record(&self, sha256: &str, details: Value) {
        let mut entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|(sha, _)| sha != sha256);
        if entries.len() >= CAPACITY {
            entries.pop_front();
        }
        entries.push_back((sha256.to_owned(), details));
    }

    /// Removes and returns the details of `sha256`.
    pub fn take(&self, sha256: &str) -> Option<Value> {
        let mut entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let index = entries.iter().position(|(sha, _)| sha == sha256)?;
        entries.remove(index).map(|(_, details)| details)
    }

    /// Moves the details of `sha256` into the object `usage`, keeping keys it already has.
    pub fn merge_into(&self, sha256: &str, usage: &mut Value) {
        let (Some(Value::Object(details)), Value::Object(usage)) = (self.take(sha256), usage) else { return };
        for (key, value) in details {
            usage.entry(key).or_insert(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn details_merge_once_without_overwriting() {
        let ledger = UsageLedger::default();
        ledger.record("abc", json!({"provider": "openai", "characters": 999}));
        let mut usage = json!({"characters": 12});
        ledger.merge_into("abc", &mut usage);
        assert_eq!(usage, json!({"characters": 12, "provider": "openai"}));
        let mut again = json!({});
        ledger.merge_into("abc", &mut again);
        assert_eq!(again, json!({}), "taken");
        for i in 0..(CAPACITY + 5) {
            ledger.record(&i.to_string(), json!({}));
        }
        assert!(ledger.take("0").is_none(), "the oldest are forgotten");
        assert!(ledger.take(&(CAPACITY + 4).to_string()).is_some());
    }
}
