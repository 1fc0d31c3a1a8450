//! Trend collection and analysis: where trending short videos come from, and what the analyst
//! concludes from them.
//!
//! - [`TrendSource`] is one platform's feed of trending items. Every real source has an offline
//!   twin, [`SampleTrendSource`], which answers with bundled sample data shaped exactly like the
//!   real API's answer and parsed by the same parser ([`parse_apify_tiktok`],
//!   [`parse_youtube_videos_list`]).
//! - [`Analyst`] turns the items selected by [`select_for_analysis`] into a
//!   [`TrendReportBody`](shortline_domain::TrendReportBody); [`HeuristicAnalyst`] is the
//!   deterministic offline one.

mod analyst;
mod hashtags;
mod parse;
mod sample;
mod tiktok;
mod youtube;

pub use analyst::{
    classify_audio, classify_hook, classify_style, select_for_analysis, Analysis, AnalysisError, Analyst, AudioType,
    HeuristicAnalyst, HookType, StyleCategory, ANALYSIS_MAX_ITEMS, ANALYSIS_WINDOW_HOURS,
};
pub use hashtags::{extract_hashtags, normalize_hashtag};
pub use parse::{Parsed, SkipReason};
pub use sample::{SampleTrendSource, SAMPLE_NEWEST_AGE_MINUTES};
pub use tiktok::parse_apify_tiktok;
pub use youtube::{parse_iso8601_duration, parse_youtube_videos_list, YOUTUBE_SHORTS_MAX_SECONDS};

use futures::future::BoxFuture;
use shortline_domain::{Platform, TrendItem};

/// Why a trend source could not deliver items. Individual bad items are not errors: parsers skip
/// them and count why (see [`Parsed`]); only an answer that is unusable as a whole is.
#[derive(Debug, thiserror::Error)]
pub enum TrendError {
    /// The answer is not the documented shape at all (not JSON, no item list, ...).
    #[error("{platform} answer is malformed: {reason}")]
    Malformed { platform: Platform, reason: String },
    /// The API answered with an error document or an error status.
    #[error("{platform} API error{}: {message}", .status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Api { platform: Platform, status: Option<u16>, message: String },
    /// The request did not get an answer (connection, timeout, ...).
    #[error("{platform} request failed: {message}")]
    Transport { platform: Platform, message: String },
}

/// What one fetch from a source brought.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    pub items: Vec<TrendItem>,
    /// What the provider charged for it, as it reports it (an Apify run's usage); YouTube is paid
    /// in quota units and the bundled samples are free.
    pub cost_micros: i64,
}

impl Fetched {
    pub fn free(items: Vec<TrendItem>) -> Self {
        Fetched { items, cost_micros: 0 }
    }
}

/// One platform's feed of trending short videos.
///
/// `fetch` returns a boxed future so the trait stays object safe (`Box<dyn TrendSource>`) without
/// the async-trait crate.
pub trait TrendSource: Send + Sync {
    fn platform(&self) -> Platform;

    /// Up to `limit` trending items, in the platform's trending order, and what they cost.
    fn fetch(&self, limit: usize) -> BoxFuture<'_, Result<Fetched, TrendError>>;

    /// The region its items come from (part of what a shared collection is of); `None`: any.
    fn region(&self) -> Option<&str> {
        None
    }

    /// The daily quota one fetch spends, for a source that has one (the bundled samples do not).
    fn quota(&self) -> Option<SourceQuota> {
        None
    }
}

/// A source's daily quota: what one fetch (one collection) spends of it, and the day's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceQuota {
    /// The quota's name in `source_quota_usage`, e.g. `youtube`.
    pub source: &'static str,
    /// What it counts, e.g. `units`, `runs`.
    pub unit: &'static str,
    pub per_fetch: i64,
    pub daily_limit: i64,
}
