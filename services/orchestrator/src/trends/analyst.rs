//! Trend analysis: which items are analysed, and the deterministic heuristic analyst.

mod classify;
#[cfg(test)]
mod tests;

pub use classify::{classify_audio, classify_hook, classify_style, AudioType, HookType, StyleCategory};

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use futures::future::BoxFuture;
use shortline_domain::{CommonPattern, HashtagCount, TrendItem, TrendReportBody, VideoStyle};

use super::hashtags::normalize_hashtag;
use classify::likely_text_overlay;

/// Analysis looks at the trends posted in the last this many hours...
pub const ANALYSIS_WINDOW_HOURS: u32 = 24;
/// ...and at most this many of them, the fastest-growing first.
pub const ANALYSIS_MAX_ITEMS: usize = 100;

/// How many common patterns a heuristic report lists (one per leading style).
const MAX_PATTERNS: usize = 4;
const MAX_TOP_HASHTAGS: usize = 10;
/// Reach tags every niche uses; they say nothing about a topic, so recommendations skip them.
const GENERIC_HASHTAGS: [&str; 12] = [
    "#fyp",
    "#foryou",
    "#foryoupage",
    "#fypシ",
    "#viral",
    "#trending",
    "#trend",
    "#shorts",
    "#youtubeshorts",
    "#tiktok",
    "#reels",
    "#xyzbca",
];

/// The items a report is made from: those posted within `window_hours` before `now` (items
/// stamped slightly in the future count as new), the `max` with the highest engagement velocity
/// first; ties go to the lower trend id, so the choice is deterministic.
pub fn select_for_analysis(
    items: &[(i64, TrendItem)],
    now: DateTime<Utc>,
    window_hours: u32,
    max: usize,
) -> Vec<(i64, TrendItem)> {
    let since = now - Duration::hours(i64::from(window_hours));
    let mut recent: Vec<(f64, &(i64, TrendItem))> = items
        .iter()
        .filter(|(_, item)| item.posted_at >= since)
        .map(|entry| (entry.1.engagement_velocity(now), entry))
        .collect();
    recent.sort_by(|(va, a), (vb, b)| vb.total_cmp(va).then(a.0.cmp(&b.0)));
    recent.into_iter().take(max).map(|(_, entry)| entry.clone()).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("no trends to analyse")]
    NoTrends,
    /// A provider-backed analyst (an LLM) failed or answered something unusable.
    #[error("analyst {analyst} failed: {message}")]
    Provider { analyst: String, message: String },
    /// The model was not asked: the call would take the job past its budget.
    #[error(transparent)]
    OverBudget(#[from] shortline_providers::budget::BudgetExceeded),
}

/// A report body and what writing it used.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub body: TrendReportBody,
    /// The model that wrote it; empty for the heuristic analyst.
    pub model: String,
    /// What the model calls used, as the provider reported it; `{}` for the heuristic analyst.
    pub usage: serde_json::Value,
    pub cost_micros: i64,
}

impl Analysis {
    /// A report that cost nothing (no model).
    pub fn free(body: TrendReportBody) -> Self {
        Analysis { body, model: String::new(), usage: serde_json::json!({}), cost_micros: 0 }
    }
}

/// Turns the selected trends (with their `trends` row ids) into a report body.
///
/// The future is boxed so the trait is object safe (`Box<dyn Analyst>`) and provider-backed
/// analysts can do I/O; the heuristic one answers immediately.
pub trait Analyst: Send + Sync {
    /// Recorded on the report row, e.g. `heuristic`.
    fn name(&self) -> &str;

    /// The model asked (empty when none is): part of what makes a report reusable.
    fn model(&self) -> &str;

    /// The version of the analyst's prompt and rules: a report written by another version is
    /// not reused. Bump it whenever the prompt or the rules change.
    fn prompt_version(&self) -> &str;

    fn analyze<'a>(
        &'a self,
        items: &'a [(i64, TrendItem)],
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Analysis, AnalysisError>>;
}

/// The offline analyst: keyword rules and counting, no model. The same items give the same report
/// whatever their order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeuristicAnalyst;

impl Analyst for HeuristicAnalyst {
    fn name(&self) -> &str {
        "heuristic"
    }

    fn model(&self) -> &str {
        ""
    }

    fn prompt_version(&self) -> &str {
        "heuristic-1"
    }

    fn analyze<'a>(
        &'a self,
        items: &'a [(i64, TrendItem)],
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Analysis, AnalysisError>> {
        Box::pin(std::future::ready(self.report(items, now).map(Analysis::free)))
    }
}

/// One item as the heuristics see it.
struct Observed<'a> {
    item: &'a TrendItem,
    style: StyleCategory,
    hook: HookType,
    audio: AudioType,
    overlay: bool,
}

impl HeuristicAnalyst {
    /// The report, computed synchronously (what [`Analyst::analyze`] resolves to).
    pub fn report(&self, items: &[(i64, TrendItem)], now: DateTime<Utc>) -> Result<TrendReportBody, AnalysisError> {
        if items.is_empty() {
            return Err(AnalysisError::NoTrends);
        }
        // Work in a canonical order so the input's order cannot change the result.
        let mut sorted: Vec<&(i64, TrendItem)> = items.iter().collect();
        sorted.sort_by(|a, b| {
            (a.0, a.1.platform.as_str(), &a.1.external_id).cmp(&(b.0, b.1.platform.as_str(), &b.1.external_id))
        });
        let observed: Vec<Observed<'_>> = sorted
            .iter()
            .map(|(_, item)| {
                let style = classify_style(item);
                let hook = classify_hook(item);
                let audio = classify_audio(item.sound_name.as_deref(), style);
                let overlay = likely_text_overlay(item, style, hook, audio);
                Observed { item, style, hook, audio, overlay }
            })
            .collect();
        let n = observed.len();

        let styles = ranked(observed.iter().map(|o| o.style));
        let video_styles = styles
            .iter()
            .map(|&(style, count)| VideoStyle {
                category: style.key().to_string(),
                confidence: round(count as f64 / n as f64, 3),
                count: count_i32(count),
            })
            .collect();

        let pattern_styles: Vec<StyleCategory> = {
            let topical: Vec<_> = styles.iter().map(|(s, _)| *s).filter(|s| *s != StyleCategory::Other).collect();
            if topical.is_empty() {
                vec![StyleCategory::Other]
            } else {
                topical
            }
        };
        let common_patterns = pattern_styles
            .into_iter()
            .take(MAX_PATTERNS)
            .map(|style| pattern(style, &observed.iter().filter(|o| o.style == style).collect::<Vec<_>>()))
            .collect();

        let avg_engagement_velocity =
            round(observed.iter().map(|o| o.item.engagement_velocity(now)).sum::<f64>() / n as f64, 2);

        let mut tag_counts: BTreeMap<String, usize> = BTreeMap::new();
        for o in &observed {
            let tags: HashSet<String> = o.item.hashtags.iter().filter_map(|t| normalize_hashtag(t)).collect();
            for tag in tags {
                *tag_counts.entry(tag).or_default() += 1;
            }
        }
        let mut tags: Vec<(String, usize)> = tag_counts.into_iter().collect();
        // BTreeMap order is by tag, and the sort is stable: equal counts stay alphabetical.
        tags.sort_by_key(|t| std::cmp::Reverse(t.1));
        let top_hashtags: Vec<HashtagCount> = tags
            .into_iter()
            .take(MAX_TOP_HASHTAGS)
            .map(|(tag, count)| HashtagCount { tag, count: count_i32(count) })
            .collect();

        let recommendations = recommendations(&observed, &styles, &top_hashtags);
        Ok(TrendReportBody { video_styles, common_patterns, avg_engagement_velocity, top_hashtags, recommendations })
    }
}

fn pattern(style: StyleCategory, group: &[&Observed<'_>]) -> CommonPattern {
    let n = group.len().max(1);
    let avg = group.iter().map(|o| f64::from(o.item.duration_seconds)).sum::<f64>() / n as f64;
    CommonPattern {
        format: style.format().to_string(),
        avg_duration_seconds: round(avg, 1),
        hook_type: ranked(group.iter().map(|o| o.hook)).first().map_or(HookType::Statement, |h| h.0).key().to_string(),
        uses_text_overlay: group.iter().filter(|o| o.overlay).count() * 2 >= n,
        audio_type: ranked(group.iter().map(|o| o.audio))
            .first()
            .map_or(AudioType::Original, |a| a.0)
            .key()
            .to_string(),
    }
}

fn recommendations(
    observed: &[Observed<'_>],
    styles: &[(StyleCategory, usize)],
    top_hashtags: &[HashtagCount],
) -> Vec<String> {
    let n = observed.len();
    let pct = |count: usize| ((count as f64 / n as f64) * 100.0).round() as i64;
    let mut out = Vec::new();

    if let Some(&(style, count)) = styles.iter().find(|(s, _)| *s != StyleCategory::Other).or(styles.first()) {
        out.push(format!(
            "Make it a {}: {} — the leading style ({count} of {n} top videos, {}%).",
            style.label(),
            style.format(),
            pct(count)
        ));
    }

    let hooks = ranked(observed.iter().map(|o| o.hook));
    let hook = hooks.iter().find(|(h, _)| *h != HookType::Statement).or(hooks.first());
    if let Some(&(hook, count)) = hook {
        out.push(format!("{} — {}% of top videos do.", hook.advice(), pct(count)));
    }

    let mut durations: Vec<i32> = observed.iter().map(|o| o.item.duration_seconds).collect();
    durations.sort_unstable();
    let median = durations[durations.len() / 2];
    let avg = durations.iter().map(|d| f64::from(*d)).sum::<f64>() / n as f64;
    out.push(format!(
        "Keep it tight: half of the top videos run {median} s or less (average {avg:.0} s), so land the payoff early."
    ));

    let overlays = observed.iter().filter(|o| o.overlay).count();
    out.push(if overlays * 2 >= n {
        format!(
            "Put the hook on screen as bold text in the first second — {}% of top videos use text overlays.",
            pct(overlays)
        )
    } else {
        format!(
            "Keep on-screen text to the hook and the call to action — only {}% of top videos lean on text overlays.",
            pct(overlays)
        )
    });

    if let Some(&(audio, count)) = ranked(observed.iter().map(|o| o.audio)).first() {
        out.push(format!("{} — {}% of top videos do.", audio.advice(), pct(count)));
    }

    let topical: Vec<&str> =
        top_hashtags.iter().map(|h| h.tag.as_str()).filter(|t| !GENERIC_HASHTAGS.contains(t)).take(3).collect();
    if !topical.is_empty() {
        out.push(format!("Tag {} — the most used topical hashtags among top videos.", topical.join(" ")));
    }
    out
}

/// Values with their counts, most frequent first; ties in the values' own order.
fn ranked<T: Ord + Copy>(values: impl Iterator<Item = T>) -> Vec<(T, usize)> {
    let mut counts: BTreeMap<T, usize> = BTreeMap::new();
    for value in values {
        *counts.entry(value).or_default() += 1;
    }
    let mut ranked: Vec<(T, usize)> = counts.into_iter().collect();
    ranked.sort_by_key(|r| std::cmp::Reverse(r.1));
    ranked
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10_f64.powi(decimals);
    (value * scale).round() / scale
}

fn count_i32(count: usize) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}
