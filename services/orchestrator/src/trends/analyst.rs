//! Trend analysis: which items are analysed, and the deterministic heuristic analyst.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use futures::future::BoxFuture;
use shortline_domain::{CommonPattern, HashtagCount, TrendItem, TrendReportBody, VideoStyle};

use super::hashtags::normalize_hashtag;

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

/// Lowercase words separated by single spaces, with a space at both ends, so phrases match whole
/// words: `" here s how "` matches "Here's how", `" trend "` does not match "trending".
fn words(text: &str) -> String {
    let mut out = String::from(" ");
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        out.extend(word.chars().flat_map(char::to_lowercase));
        out.push(' ');
    }
    out
}

fn has_phrase(haystack: &str, phrase: &str) -> bool {
    haystack.contains(&format!(" {phrase} "))
}

/// The style of a video, in tie-break order (the first of equally strong matches wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StyleCategory {
    Listicle,
    Transformation,
    DayInTheLife,
    Storytime,
    ProductReview,
    Tutorial,
    Explainer,
    Comedy,
    TrendChallenge,
    Other,
}

impl StyleCategory {
    pub const ALL: [StyleCategory; 10] = [
        StyleCategory::Listicle,
        StyleCategory::Transformation,
        StyleCategory::DayInTheLife,
        StyleCategory::Storytime,
        StyleCategory::ProductReview,
        StyleCategory::Tutorial,
        StyleCategory::Explainer,
        StyleCategory::Comedy,
        StyleCategory::TrendChallenge,
        StyleCategory::Other,
    ];

    /// The category as written in reports (`VideoStyle::category`).
    pub fn key(self) -> &'static str {
        match self {
            StyleCategory::Listicle => "listicle",
            StyleCategory::Transformation => "transformation",
            StyleCategory::DayInTheLife => "day_in_the_life",
            StyleCategory::Storytime => "storytime",
            StyleCategory::ProductReview => "product_review",
            StyleCategory::Tutorial => "tutorial",
            StyleCategory::Explainer => "explainer",
            StyleCategory::Comedy => "comedy",
            StyleCategory::TrendChallenge => "trend_challenge",
            StyleCategory::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            StyleCategory::Listicle => "listicle",
            StyleCategory::Transformation => "transformation / before-after",
            StyleCategory::DayInTheLife => "day in the life",
            StyleCategory::Storytime => "storytime",
            StyleCategory::ProductReview => "product showcase / review",
            StyleCategory::Tutorial => "tutorial / how-to",
            StyleCategory::Explainer => "explainer",
            StyleCategory::Comedy => "comedy / skit",
            StyleCategory::TrendChallenge => "trend / challenge",
            StyleCategory::Other => "general clip",
        }
    }

    /// The format written in the style's common pattern.
    pub fn format(self) -> &'static str {
        match self {
            StyleCategory::Listicle => "numbered list, one point per cut",
            StyleCategory::Transformation => "before/after reveal",
            StyleCategory::DayInTheLife => "day-in-the-life montage",
            StyleCategory::Storytime => "talking-head story told in parts",
            StyleCategory::ProductReview => "hands-on product showcase with a verdict",
            StyleCategory::Tutorial => "step-by-step demo with on-screen steps",
            StyleCategory::Explainer => "quick explainer answering one question",
            StyleCategory::Comedy => "relatable skit with a punchline",
            StyleCategory::TrendChallenge => "trend or challenge on a trending sound",
            StyleCategory::Other => "general short-form clip",
        }
    }

    /// Phrases (in [`words`] form) that point to the style; each distinct match scores one.
    fn keywords(self) -> &'static [&'static str] {
        match self {
            StyleCategory::Listicle => &["top 3", "top 5", "top 10", "ranking", "ranked", "tier list"],
            StyleCategory::Transformation => &[
                "before and after",
                "beforeandafter",
                "before after",
                "transformation",
                "glow up",
                "glowup",
                "makeover",
                "restoration",
                "restore",
                "thriftflip",
                "thrift flip",
                "furnitureflip",
                "turning",
                "deep clean",
                "detailing",
                "cardetailing",
                "satisfying",
            ],
            StyleCategory::DayInTheLife => &[
                "day in the life",
                "day in my life",
                "dayinthelife",
                "dayinmylife",
                "ditl",
                "what i eat in a day",
                "whatieatinaday",
                "routine",
                "vlog",
                "come with me",
                "spend the day",
            ],
            StyleCategory::Storytime => &[
                "storytime",
                "story time",
                "let me tell you",
                "the time i",
                "the day my",
                "part 1",
                "part 2",
                "part 3",
                "true story",
            ],
            StyleCategory::ProductReview => &[
                "review",
                "honest review",
                "unboxing",
                "unbox",
                "haul",
                "worth it",
                "worth the hype",
                "tiktokmademebuyit",
                "amazonfinds",
                "amazon finds",
                "gadget",
                "gadgets",
                "product",
                "dupe",
                "dupes",
                "tested",
                "test",
                "vs",
            ],
            StyleCategory::Tutorial => &[
                "how to",
                "howto",
                "how i",
                "tutorial",
                "step by step",
                "tips",
                "tip",
                "hack",
                "hacks",
                "lifehack",
                "learn",
                "guide",
                "here s how",
                "recipe",
                "fix",
                "template",
                "technique",
                "method",
            ],
            StyleCategory::Explainer => &[
                "why",
                "explained",
                "explainer",
                "did you know",
                "fact",
                "facts",
                "catfacts",
                "science",
                "nobody is talking about",
                "nobody talks about",
                "the truth about",
                "the answer",
            ],
            StyleCategory::Comedy => {
                &["comedy", "funny", "skit", "joke", "prank", "relatable", "lol", "meme", "reacts", "when your"]
            }
            StyleCategory::TrendChallenge => {
                &["challenge", "dancechallenge", "dance", "trend", "viral", "trying the", "75hard", "duet"]
            }
            StyleCategory::Other => &[],
        }
    }
}

/// Nouns that make "<number> <noun>" a list ("5 settings", "3 travel hacks").
const LIST_NOUNS: [&str; 32] = [
    "things",
    "ways",
    "reasons",
    "tips",
    "tricks",
    "hacks",
    "exercises",
    "stretches",
    "moves",
    "settings",
    "habits",
    "mistakes",
    "signs",
    "places",
    "spots",
    "beaches",
    "foods",
    "products",
    "items",
    "ideas",
    "rules",
    "steps",
    "secrets",
    "apps",
    "books",
    "gadgets",
    "recipes",
    "outfits",
    "lessons",
    "facts",
    "myths",
    "questions",
];

fn is_number_word(word: &str) -> bool {
    (word.len() <= 3 && word.chars().all(|c| c.is_ascii_digit()))
        || ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"].contains(&word)
}

/// A numbered-list title: "<number> [word] <plural noun>" near the start, or "top <number>".
fn listicle_score(words: &str) -> usize {
    let tokens: Vec<&str> = words.split_whitespace().collect();
    let numbered = tokens
        .iter()
        .enumerate()
        .any(|(i, t)| is_number_word(t) && tokens.iter().skip(i + 1).take(2).any(|next| LIST_NOUNS.contains(next)));
    if numbered {
        2
    } else {
        0
    }
}

/// The style of one item, by keyword rules over its title, description and hashtags.
pub fn classify_style(item: &TrendItem) -> StyleCategory {
    let tags: Vec<&str> = item.hashtags.iter().map(|t| t.trim_start_matches('#')).collect();
    let text = words(&format!("{} {} {}", item.title, item.description, tags.join(" ")));
    let title = words(&item.title);
    let mut best = (0, StyleCategory::Other);
    for style in StyleCategory::ALL {
        let mut score = style.keywords().iter().filter(|k| has_phrase(&text, k)).count();
        if style == StyleCategory::Listicle {
            score += listicle_score(&title);
        }
        if score > best.0 {
            best = (score, style);
        }
    }
    best.1
}

/// How a video opens, judged from its title's first words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HookType {
    Question,
    BoldClaim,
    Pov,
    Number,
    WaitForIt,
    /// None of the above: a plain description of what is shown.
    Statement,
}

impl HookType {
    pub fn key(self) -> &'static str {
        match self {
            HookType::Question => "question",
            HookType::BoldClaim => "bold_claim",
            HookType::Pov => "pov",
            HookType::Number => "number",
            HookType::WaitForIt => "wait_for_it",
            HookType::Statement => "statement",
        }
    }

    fn advice(self) -> &'static str {
        match self {
            HookType::Question => "Open with a question hook (\"Is this actually worth it?\")",
            HookType::BoldClaim => "Open with a bold claim (\"Stop doing X — do this instead\")",
            HookType::Pov => "Open with a \"POV:\" caption that puts the viewer in the scene",
            HookType::Number => "Open with a number (\"3 things…\") and count through them",
            HookType::WaitForIt => "Tease the payoff (\"wait for it\") and deliver it in the last seconds",
            HookType::Statement => "Open on the most striking shot with a one-line statement",
        }
    }
}

const QUESTION_WORDS: [&str; 22] = [
    "why", "what", "who", "which", "where", "when", "would", "should", "could", "can", "do", "does", "did", "is",
    "are", "was", "have", "has", "ever", "will", "how", "anyone",
];
const WAIT_PHRASES: [&str; 8] = [
    "wait for it",
    "wait till the end",
    "wait until the end",
    "wait for the end",
    "watch till the end",
    "watch until the end",
    "wait til the end",
    "keep watching",
];
const BOLD_WORDS: [&str; 21] = [
    "stop",
    "never",
    "always",
    "best",
    "worst",
    "only",
    "nobody",
    "no one",
    "everyone",
    "secret",
    "you need",
    "you ve been",
    "wrong",
    "game changer",
    "changed my life",
    "must",
    "beats",
    "the truth",
    "don t",
    "ultimate",
    "guaranteed",
];

/// The hook type of an item, from the opening of its title: POV, a number, a question, a
/// "wait for it" tease, a bold claim, or else a statement.
pub fn classify_hook(item: &TrendItem) -> HookType {
    let title = item.title.trim();
    let first_sentence = title
        .char_indices()
        .find(|(_, c)| matches!(c, '.' | '!' | '?' | '…'))
        .map_or(title, |(i, c)| &title[..i + c.len_utf8()]);
    let is_question = first_sentence.ends_with('?');
    let sentence_words = words(first_sentence);
    let first = sentence_words.split_whitespace().next().unwrap_or_default();
    let opening = words(&format!("{title} {}", item.description.chars().take(120).collect::<String>()));

    if first == "pov" {
        HookType::Pov
    } else if first == "top" || is_number_word(first) {
        HookType::Number
    } else if is_question && QUESTION_WORDS.contains(&first) {
        HookType::Question
    } else if WAIT_PHRASES.iter().any(|p| has_phrase(&opening, p)) {
        HookType::WaitForIt
    } else if BOLD_WORDS.iter().any(|p| has_phrase(&sentence_words, p)) || first_sentence.ends_with('!') {
        HookType::BoldClaim
    } else if is_question && sentence_words.split_whitespace().count() <= 8 {
        HookType::Question
    } else {
        HookType::Statement
    }
}

/// What a video's sound is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AudioType {
    TrendingSound,
    Original,
    Voiceover,
}

impl AudioType {
    pub fn key(self) -> &'static str {
        match self {
            AudioType::TrendingSound => "trending_sound",
            AudioType::Original => "original_audio",
            AudioType::Voiceover => "voiceover",
        }
    }

    fn advice(self) -> &'static str {
        match self {
            AudioType::TrendingSound => "Cut to a trending sound and keep any voiceover short",
            AudioType::Original => "Record original audio (talk to camera, real sound)",
            AudioType::Voiceover => "Narrate with a clear voiceover that explains what is shown",
        }
    }
}

/// The audio type from the sound's name: a voiceover if the name says so, original audio for
/// "original sound" (in the languages TikTok uses), otherwise a named track: a trending sound.
/// Without a sound name (YouTube reports none) the style decides: styles that explain or tell
/// are narrated, the others carry their own sound.
pub fn classify_audio(sound_name: Option<&str>, style: StyleCategory) -> AudioType {
    match sound_name.map(str::trim).filter(|s| !s.is_empty()) {
        Some(name) => {
            let name = words(name);
            if ["voiceover", "voice over", "narration", "narrated", "text to speech", "tts"]
                .iter()
                .any(|p| has_phrase(&name, p))
            {
                AudioType::Voiceover
            } else if [
                "original sound",
                "original audio",
                "sonido original",
                "son original",
                "som original",
                "originalton",
                "suono originale",
            ]
            .iter()
            .any(|p| has_phrase(&name, p))
            {
                AudioType::Original
            } else {
                AudioType::TrendingSound
            }
        }
        None => match style {
            StyleCategory::Tutorial
            | StyleCategory::ProductReview
            | StyleCategory::Storytime
            | StyleCategory::Listicle
            | StyleCategory::Explainer
            | StyleCategory::DayInTheLife => AudioType::Voiceover,
            StyleCategory::Comedy
            | StyleCategory::Transformation
            | StyleCategory::TrendChallenge
            | StyleCategory::Other => AudioType::Original,
        },
    }
}

/// Whether the video probably carries on-screen text. Platforms do not report it, so: hooks that
/// are read rather than heard (POV, numbers, "wait for it"), formats built on captions (lists,
/// steps, before/after, day-in-the-life), videos set to a music track (nobody speaks, so text
/// carries the message), or captions that refer to on-screen text.
fn likely_text_overlay(item: &TrendItem, style: StyleCategory, hook: HookType, audio: AudioType) -> bool {
    let text = words(&format!("{} {}", item.title, item.description));
    matches!(hook, HookType::Pov | HookType::Number | HookType::WaitForIt)
        || matches!(
            style,
            StyleCategory::Listicle
                | StyleCategory::Tutorial
                | StyleCategory::Transformation
                | StyleCategory::DayInTheLife
        )
        || audio == AudioType::TrendingSound
        || ["read the caption", "on screen", "text on screen", "read till the end"].iter().any(|p| has_phrase(&text, p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trends::SampleTrendSource;
    use shortline_domain::Platform;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2031-05-06T07:08:09Z").expect("valid").with_timezone(&Utc)
    }

    /// Both bundled samples as stored trends (ids 1..).
    fn stored() -> Vec<(i64, TrendItem)> {
        SampleTrendSource::all()
            .into_iter()
            .flat_map(|s| s.items_at(now(), usize::MAX).expect("samples parse"))
            .enumerate()
            .map(|(i, item)| (i as i64 + 1, item))
            .collect()
    }

    fn item(title: &str, description: &str, tags: &[&str], sound: Option<&str>) -> TrendItem {
        TrendItem {
            platform: Platform::Tiktok,
            external_id: title.to_string(),
            title: title.to_string(),
            description: description.to_string(),
            hashtags: tags.iter().map(|t| t.to_string()).collect(),
            views: 1000,
            likes: 100,
            comments: 10,
            shares: 5,
            duration_seconds: 20,
            creator: "someone".into(),
            sound_name: sound.map(String::from),
            video_url: "https://example.com/v".into(),
            thumbnail_url: None,
            posted_at: now() - Duration::hours(2),
        }
    }

    #[test]
    fn selection_keeps_the_window_and_orders_by_velocity() {
        let mut items = stored();
        let mut old = items[0].1.clone();
        old.external_id = "old".into();
        old.posted_at = now() - Duration::hours(25);
        old.likes = i64::MAX / 4;
        items.push((999, old));

        let selected = select_for_analysis(&items, now(), ANALYSIS_WINDOW_HOURS, ANALYSIS_MAX_ITEMS);
        assert_eq!(selected.len(), 37);
        assert!(selected.iter().all(|(id, _)| *id != 999), "the 25 h old item is outside the window");
        let velocities: Vec<f64> = selected.iter().map(|(_, i)| i.engagement_velocity(now())).collect();
        assert!(velocities.windows(2).all(|w| w[0] >= w[1]), "{velocities:?}");

        let top = select_for_analysis(&items, now(), 24, 5);
        assert_eq!(top, selected[..5].to_vec());
        assert!(select_for_analysis(&items, now(), 0, 100).is_empty());
    }

    #[test]
    fn styles_hooks_and_audio_follow_the_keyword_rules() {
        let cases = [
            ("5 iPhone settings you need to turn off right now", StyleCategory::Listicle, HookType::Number),
            (
                "Before and after: 10 year old carpet deep clean wait for it",
                StyleCategory::Transformation,
                HookType::WaitForIt,
            ),
            ("How to make crispy garlic butter potatoes", StyleCategory::Tutorial, HookType::Statement),
            ("Is this $25 blender actually worth it? Honest review", StyleCategory::ProductReview, HookType::Question),
            ("POV: the group project partner shows up. #skit", StyleCategory::Comedy, HookType::Pov),
            ("Storytime: the day my landlord kept my deposit", StyleCategory::Storytime, HookType::Statement),
            ("What I eat in a day as a busy mom", StyleCategory::DayInTheLife, HookType::Statement),
            ("Stop wasting money on serums #dupes", StyleCategory::ProductReview, HookType::BoldClaim),
            ("Why do cats knock things off tables?", StyleCategory::Explainer, HookType::Question),
            ("Learned the #dancechallenge in one take", StyleCategory::TrendChallenge, HookType::Statement),
            ("A quiet walk by the sea", StyleCategory::Other, HookType::Statement),
        ];
        for (title, style, hook) in cases {
            let it = item(title, "", &[], None);
            assert_eq!((classify_style(&it), classify_hook(&it)), (style, hook), "{title}");
        }
        assert_eq!(classify_audio(Some("original sound - chef.mara"), StyleCategory::Tutorial), AudioType::Original);
        assert_eq!(classify_audio(Some("Voiceover - techwithjun"), StyleCategory::Comedy), AudioType::Voiceover);
        assert_eq!(classify_audio(Some("Moonwalk Shuffle - DJ Palo"), StyleCategory::Comedy), AudioType::TrendingSound);
        assert_eq!(classify_audio(None, StyleCategory::Tutorial), AudioType::Voiceover);
        assert_eq!(classify_audio(None, StyleCategory::Comedy), AudioType::Original);
        // Whole words only: "trending" is not "trend", "thesis" is not "tip".
        assert_eq!(classify_style(&item("Trending thesis topics", "", &[], None)), StyleCategory::Other);
    }

    #[test]
    fn the_sample_report_is_complete_and_deterministic() {
        let items = select_for_analysis(&stored(), now(), 24, 100);
        let report = HeuristicAnalyst.report(&items, now()).expect("report");

        let counted: i32 = report.video_styles.iter().map(|s| s.count).sum();
        assert_eq!(counted, 37);
        assert!(report.video_styles.windows(2).all(|w| w[0].count >= w[1].count));
        assert_eq!(report.video_styles[0].category, "listicle");
        assert!(report.video_styles.len() >= 6, "a varied sample: {:?}", report.video_styles);
        let confidence: f64 = report.video_styles.iter().map(|s| s.confidence).sum();
        assert!((confidence - 1.0).abs() < 0.01);

        assert!((1..=MAX_PATTERNS).contains(&report.common_patterns.len()));
        assert_eq!(report.common_patterns[0].format, StyleCategory::Listicle.format());
        assert_eq!(report.common_patterns[0].hook_type, "number");
        for p in &report.common_patterns {
            assert!(p.avg_duration_seconds > 0.0 && p.avg_duration_seconds <= 60.0);
        }

        assert!(report.avg_engagement_velocity > 0.0);
        assert_eq!(report.top_hashtags.len(), 10);
        assert!(report.top_hashtags.windows(2).all(|w| w[0].count >= w[1].count));
        assert!(report.top_hashtags.iter().all(|h| h.tag.starts_with('#') && h.tag == h.tag.to_lowercase()));
        assert_eq!(report.top_hashtags[0], HashtagCount { tag: "#shorts".into(), count: 9 });

        assert!((3..=6).contains(&report.recommendations.len()), "{:?}", report.recommendations);
        assert!(report.recommendations[1].starts_with("Open with a number"), "{:?}", report.recommendations);

        // Same input, same output; the order of the input does not matter either.
        assert_eq!(HeuristicAnalyst.report(&items, now()).expect("report"), report);
        let mut reversed = items.clone();
        reversed.reverse();
        assert_eq!(HeuristicAnalyst.report(&reversed, now()).expect("report"), report);
    }

    #[tokio::test]
    async fn the_analyst_is_object_safe_and_refuses_nothing_to_analyse() {
        let analyst: Box<dyn Analyst> = Box::new(HeuristicAnalyst);
        assert_eq!(analyst.name(), "heuristic");
        let items = stored();
        let report = analyst.analyze(&items, now()).await.expect("report");
        assert_eq!(report, Analysis::free(HeuristicAnalyst.report(&items, now()).expect("report")));
        assert!(matches!(analyst.analyze(&[], now()).await, Err(AnalysisError::NoTrends)));

        let one = [(7, item("Why is nobody talking about this?", "", &["#fyp"], Some("original sound")))];
        let report = analyst.analyze(&one, now()).await.expect("one item is enough").body;
        assert_eq!(report.video_styles.len(), 1);
        assert!((3..=6).contains(&report.recommendations.len()), "{:?}", report.recommendations);
    }
}
