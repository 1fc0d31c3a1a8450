//! What the platform parsers share: the result with its skip counts, and tolerant readers of JSON
//! values (APIs send counts as numbers or as strings, omit fields, send nulls).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use shortline_domain::{Platform, TrendItem};

use super::TrendError;

/// Why one item of an answer was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// The item is not a JSON object.
    NotAnObject,
    /// No usable video id.
    MissingId,
    /// The same video id came twice in one answer (the first one is kept).
    DuplicateId,
    /// No video URL and none can be built.
    MissingUrl,
    /// No posted time, or one that does not parse.
    BadPostedTime,
    /// No duration, an unparsable one, or zero (e.g. a live stream or a photo slideshow).
    BadDuration,
    /// A count (views, likes, comments, shares) that is negative or not a number.
    BadCount,
    /// Not a defect: a YouTube video longer than a Short may be.
    NotAShort,
}

impl SkipReason {
    /// Whether the item was broken (worth a warning) rather than deliberately filtered out.
    pub fn is_defect(self) -> bool {
        self != SkipReason::NotAShort
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::NotAnObject => "not an object",
            SkipReason::MissingId => "missing id",
            SkipReason::DuplicateId => "duplicate id",
            SkipReason::MissingUrl => "missing video url",
            SkipReason::BadPostedTime => "missing or invalid posted time",
            SkipReason::BadDuration => "missing or invalid duration",
            SkipReason::BadCount => "invalid count",
            SkipReason::NotAShort => "longer than a Short",
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed answer: the usable items in answer order, and how many were skipped for each reason.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    pub items: Vec<TrendItem>,
    pub skipped: BTreeMap<SkipReason, usize>,
}

impl Parsed {
    pub fn skipped(&self, reason: SkipReason) -> usize {
        self.skipped.get(&reason).copied().unwrap_or(0)
    }

    pub fn skipped_total(&self) -> usize {
        self.skipped.values().sum()
    }

    /// Adds an item unless its id was already seen.
    fn push(&mut self, item: TrendItem) {
        if self.items.iter().any(|seen| seen.external_id == item.external_id) {
            self.skip(SkipReason::DuplicateId);
        } else {
            self.items.push(item);
        }
    }

    fn skip(&mut self, reason: SkipReason) {
        *self.skipped.entry(reason).or_default() += 1;
    }

    /// Logs what was skipped: a warning with the count per reason for broken items, a debug line
    /// for filtered ones.
    fn log(&self, platform: Platform) {
        let summary = |defects: bool| {
            self.skipped
                .iter()
                .filter(|(reason, _)| reason.is_defect() == defects)
                .map(|(reason, n)| format!("{reason}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let defects: usize = self.skipped.iter().filter(|(r, _)| r.is_defect()).map(|(_, n)| n).sum();
        if defects > 0 {
            tracing::warn!(%platform, kept = self.items.len(), skipped = defects, reasons = %summary(true), "skipped bad trend items");
        }
        let filtered = self.skipped_total() - defects;
        if filtered > 0 {
            tracing::debug!(%platform, kept = self.items.len(), filtered, reasons = %summary(false), "filtered trend items");
        }
    }
}

/// Parses a whole answer of `platform`: `entries` finds the list of items in the document (an
/// answer without one is malformed: it was `expected`), `item` reads each. Broken items are
/// skipped, counted and logged; an error document is an error.
pub(crate) fn answer(
    platform: Platform,
    json: &str,
    entries: impl FnOnce(&Value) -> Option<&Vec<Value>>,
    expected: &str,
    item: impl Fn(&Value) -> Result<TrendItem, SkipReason>,
) -> Result<Parsed, TrendError> {
    let doc = document(platform, json)?;
    if let Some(error) = api_error(platform, &doc) {
        return Err(error);
    }
    let Some(entries) = entries(&doc) else {
        return Err(TrendError::Malformed { platform, reason: format!("expected {expected}") });
    };
    let mut parsed = Parsed::default();
    for entry in entries {
        match item(entry) {
            Ok(item) => parsed.push(item),
            Err(reason) => parsed.skip(reason),
        }
    }
    parsed.log(platform);
    Ok(parsed)
}

/// Parses a whole answer, turning a syntax error into [`TrendError::Malformed`].
pub(crate) fn document(platform: Platform, json: &str) -> Result<Value, TrendError> {
    serde_json::from_str(json).map_err(|e| TrendError::Malformed { platform, reason: format!("not JSON: {e}") })
}

/// An `{"error": {...}}` document (YouTube and Apify both answer errors this way).
pub(crate) fn api_error(platform: Platform, doc: &Value) -> Option<TrendError> {
    let error = doc.as_object()?.get("error")?;
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| error.as_str())
        .unwrap_or("unspecified error")
        .to_string();
    let status = error.get("code").and_then(Value::as_u64).and_then(|c| u16::try_from(c).ok());
    Some(TrendError::Api { platform, status, message })
}

/// A non-empty, trimmed string field (numbers are accepted too: some APIs send ids as numbers).
pub(crate) fn string(value: Option<&Value>) -> Option<String> {
    let text = match value? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// A count: a non-negative integer sent as a number or a numeric string. Absent or null is 0
/// (YouTube omits `likeCount` when likes are hidden, `commentCount` when comments are off).
pub(crate) fn count(value: Option<&Value>) -> Result<i64, SkipReason> {
    let n = match value {
        None | Some(Value::Null) => return Ok(0),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i,
            (None, Some(f)) if f.is_finite() && f >= 0.0 && f < i64::MAX as f64 => f.round() as i64,
            _ => return Err(SkipReason::BadCount),
        },
        Some(Value::String(s)) => s.trim().parse::<i64>().map_err(|_| SkipReason::BadCount)?,
        Some(_) => return Err(SkipReason::BadCount),
    };
    if n < 0 {
        Err(SkipReason::BadCount)
    } else {
        Ok(n)
    }
}

/// An RFC 3339 timestamp, e.g. `2026-11-24T18:00:00.000Z`.
pub(crate) fn rfc3339(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let text = value?.as_str()?;
    DateTime::parse_from_rfc3339(text.trim()).ok().map(|t| t.with_timezone(&Utc))
}

/// Seconds since the Unix epoch, as a number or a numeric string.
pub(crate) fn unix_seconds(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let seconds = match value? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    // Before 2005 there were no short-video platforms; such values are garbage (or milliseconds).
    (seconds > 1_100_000_000).then(|| DateTime::from_timestamp(seconds, 0)).flatten()
}

/// Shortens text to at most `max` characters, cutting at a word boundary when one is near.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    let cut = match cut.rfind(char::is_whitespace) {
        Some(i) if i > max / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end())
}

/// Collapses runs of whitespace (including newlines) into single spaces.
pub(crate) fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_accept_numbers_and_numeric_strings() {
        assert_eq!(count(Some(&json!(12))), Ok(12));
        assert_eq!(count(Some(&json!("4470000"))), Ok(4_470_000));
        assert_eq!(count(Some(&json!(3.0))), Ok(3));
        assert_eq!(count(None), Ok(0));
        assert_eq!(count(Some(&Value::Null)), Ok(0));
        assert_eq!(count(Some(&json!(-1))), Err(SkipReason::BadCount));
        assert_eq!(count(Some(&json!("many"))), Err(SkipReason::BadCount));
        assert_eq!(count(Some(&json!([1]))), Err(SkipReason::BadCount));
    }

    #[test]
    fn times_parse_from_rfc3339_and_unix_seconds() {
        let t = rfc3339(Some(&json!("2026-11-24T18:00:00.000Z"))).expect("parses");
        assert_eq!(unix_seconds(Some(&json!(t.timestamp()))), Some(t));
        assert_eq!(unix_seconds(Some(&json!(t.timestamp().to_string()))), Some(t));
        assert_eq!(rfc3339(Some(&json!("yesterday"))), None);
        assert_eq!(unix_seconds(Some(&json!(12))), None);
    }

    #[test]
    fn clip_cuts_at_words() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("one two three four five", 12), "one two…");
        assert!(clip(&"x".repeat(50), 10).chars().count() <= 10);
    }
}
