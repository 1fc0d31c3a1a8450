//! [`LlmAnalyst`]: trend reports written by an LLM (Anthropic Messages with tool use, or an
//! OpenAI-compatible chat API with a JSON schema).
//!
//! The model is given the selected trends and asked for the styles, common patterns and
//! recommendations in a fixed JSON schema; the numbers that are plain arithmetic (average
//! engagement velocity, top hashtags) are computed from the data as the heuristic analyst does.
//! The answer is checked against the report rules; an answer that breaks them is asked for once
//! more with the violations in the prompt, then the stage fails with a readable reason. Nothing
//! invalid is returned (so nothing invalid is stored). Token usage becomes a cost from the price
//! table, stored with the report; each call is first estimated and checked against the job's
//! budget.

use std::ops::RangeInclusive;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};
use shortline_config::Price;
use shortline_domain::{CommonPattern, TrendItem, TrendReportBody, VideoStyle};
use shortline_providers::budget;
use shortline_providers::llm::StructuredLlm;
use shortline_providers::schema;
use shortline_providers::{cost_micros, Usage};

use crate::trends::{Analysis, AnalysisError, Analyst, HeuristicAnalyst};

/// The tool / schema name.
pub const REPORT_SCHEMA_NAME: &str = "trend_report";

/// The version of [`SYSTEM`], the prompt and the report rules: a report is reused only by the
/// same version (bump it with any change to them).
pub const PROMPT_VERSION: &str = "llm-1";

// The report rules, read by both the schema the model is given and the validator.
const STYLES: RangeInclusive<usize> = 1..=8;
const PATTERNS: RangeInclusive<usize> = 1..=6;
const RECOMMENDATIONS: RangeInclusive<usize> = 1..=8;
/// Characters of a name (a style's category, a pattern's format, hook or audio type).
const NAME_CHARS: RangeInclusive<usize> = 1..=60;
const RECOMMENDATION_CHARS: RangeInclusive<usize> = 1..=300;
/// The share of the analysed trends showing a style.
const CONFIDENCE: RangeInclusive<f64> = 0.0..=1.0;
const AVG_DURATION_SECONDS: RangeInclusive<f64> = 1.0..=600.0;

const SYSTEM: &str = "You analyse trending short-form videos (TikTok, YouTube Shorts) for a team that makes \
short marketing videos. From the trends given, name the video styles that dominate (with the share of \
trends showing each as confidence 0..1 and how many trends show it), the common patterns (format, typical \
duration in seconds, hook type, whether text overlays are used, audio type) and concrete recommendations \
for a new video. Answer only through the trend_report structure.";

/// What the model writes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelReport {
    video_styles: Vec<VideoStyle>,
    common_patterns: Vec<CommonPattern>,
    recommendations: Vec<String>,
}

/// The JSON schema of [`ModelReport`] for a report on `analysed` trends: strict, and carrying
/// every report rule (counts, lengths, ranges; a style's `count` at most `analysed`).
pub fn report_schema(analysed: usize) -> Value {
    let name = || schema::text(NAME_CHARS);
    let style = schema::object(&[
        ("category", name()),
        ("confidence", schema::number(CONFIDENCE)),
        ("count", schema::integer(0..=i64::try_from(analysed).unwrap_or(i64::MAX))),
    ]);
    let pattern = schema::object(&[
        ("format", name()),
        ("avg_duration_seconds", schema::number(AVG_DURATION_SECONDS)),
        ("hook_type", name()),
        ("uses_text_overlay", schema::boolean()),
        ("audio_type", name()),
    ]);
    schema::object(&[
        ("video_styles", schema::array(style, STYLES)),
        ("common_patterns", schema::array(pattern, PATTERNS)),
        ("recommendations", schema::array(schema::text(RECOMMENDATION_CHARS), RECOMMENDATIONS)),
    ])
}

/// `field: needs a to b entries` when `len` is outside `range`.
fn count_rule(v: &mut Vec<String>, field: &str, len: usize, range: &RangeInclusive<usize>) {
    if !range.contains(&len) {
        v.push(format!("{field}: needs {} to {} entries, got {len}", range.start(), range.end()));
    }
}

/// `field: must be a to b characters` unless `text` (not blank) is within `range`.
fn text_rule(v: &mut Vec<String>, field: &str, text: &str, range: &RangeInclusive<usize>) {
    if text.trim().is_empty() || !range.contains(&text.chars().count()) {
        v.push(format!("{field}: must be {} to {} characters, not blank", range.start(), range.end()));
    }
}

/// `field: must be between a and b` unless `value` is within `range`.
fn range_rule(v: &mut Vec<String>, field: &str, value: f64, range: &RangeInclusive<f64>) {
    if !(value.is_finite() && range.contains(&value)) {
        v.push(format!("{field}: must be between {} and {}, got {value}", range.start(), range.end()));
    }
}

/// Why a model report breaks the rules, one line each; empty when it is fine.
fn violations(report: &ModelReport, analysed: usize) -> Vec<String> {
    let mut v = Vec::new();
    count_rule(&mut v, "video_styles", report.video_styles.len(), &STYLES);
    for (i, style) in report.video_styles.iter().enumerate() {
        text_rule(&mut v, &format!("video_styles[{i}].category"), &style.category, &NAME_CHARS);
        range_rule(&mut v, &format!("video_styles[{i}].confidence"), style.confidence, &CONFIDENCE);
        if style.count < 0 || style.count as usize > analysed {
            v.push(format!(
                "video_styles[{i}].count: must be between 0 and {analysed} (the trends analysed), got {}",
                style.count
            ));
        }
    }
    count_rule(&mut v, "common_patterns", report.common_patterns.len(), &PATTERNS);
    for (i, pattern) in report.common_patterns.iter().enumerate() {
        for (field, value) in
            [("format", &pattern.format), ("hook_type", &pattern.hook_type), ("audio_type", &pattern.audio_type)]
        {
            text_rule(&mut v, &format!("common_patterns[{i}].{field}"), value, &NAME_CHARS);
        }
        range_rule(
            &mut v,
            &format!("common_patterns[{i}].avg_duration_seconds"),
            pattern.avg_duration_seconds,
            &AVG_DURATION_SECONDS,
        );
    }
    count_rule(&mut v, "recommendations", report.recommendations.len(), &RECOMMENDATIONS);
    for (i, text) in report.recommendations.iter().enumerate() {
        text_rule(&mut v, &format!("recommendations[{i}]"), text, &RECOMMENDATION_CHARS);
    }
    v
}

/// The trends as the model sees them.
fn describe(items: &[(i64, TrendItem)], now: DateTime<Utc>) -> String {
    let trends: Vec<Value> = items
        .iter()
        .map(|(_, item)| {
            json!({
                "platform": item.platform.as_str(),
                "title": item.title,
                "description": item.description.chars().take(200).collect::<String>(),
                "hashtags": item.hashtags,
                "duration_seconds": item.duration_seconds,
                "views": item.views,
                "likes": item.likes,
                "comments": item.comments,
                "shares": item.shares,
                "sound": item.sound_name,
                "engagement_per_hour": (item.engagement_velocity(now) * 10.0).round() / 10.0,
            })
        })
        .collect();
    format!("{} trends posted in the last day, fastest-growing first:\n{}", trends.len(), Value::Array(trends))
}

/// An [`Analyst`] backed by an LLM.
pub struct LlmAnalyst {
    llm: Arc<dyn StructuredLlm>,
    name: String,
    price: Option<Price>,
}

impl LlmAnalyst {
    pub fn new(llm: Arc<dyn StructuredLlm>, price: Option<Price>) -> Self {
        let name = format!("{}/{}", llm.name(), llm.model());
        Self { llm, name, price }
    }

    /// What `usage` costs at the model's price (0 without one).
    fn cost(&self, usage: &Usage) -> i64 {
        self.price.as_ref().map_or(0, |price| cost_micros(price, usage))
    }

    async fn report(&self, items: &[(i64, TrendItem)], now: DateTime<Utc>) -> Result<Analysis, AnalysisError> {
        // The arithmetic part, and the "no trends" check, as the heuristic analyst does them.
        let computed = HeuristicAnalyst.report(items, now)?;
        let fail = |message: String| AnalysisError::Provider { analyst: self.name.clone(), message };
        let schema = report_schema(items.len());
        let data = describe(items, now);
        let mut prompt = data.clone();
        let mut usage = Usage::default();
        let mut last_violations = Vec::new();
        for attempt in 1..=2 {
            let estimate = self.cost(&self.llm.estimate(SYSTEM, &prompt, &schema));
            budget::check_before_call(&self.name, estimate)?;
            let answer = self
                .llm
                .complete(SYSTEM, &prompt, REPORT_SCHEMA_NAME, &schema)
                .await
                .map_err(|e| fail(e.to_string()))?;
            budget::record_paid(&self.name, self.cost(&answer.usage));
            usage = usage.plus(&answer.usage);
            let problems = match serde_json::from_value::<ModelReport>(answer.value) {
                Ok(report) => {
                    let problems = violations(&report, items.len());
                    if problems.is_empty() {
                        let cost = self.cost(&usage);
                        tracing::info!(
                            analyst = %self.name,
                            attempts = attempt,
                            input_tokens = usage.input_tokens,
                            output_tokens = usage.output_tokens,
                            cost_micros = cost,
                            "trend report written by the model"
                        );
                        let body = TrendReportBody {
                            video_styles: report.video_styles,
                            common_patterns: report.common_patterns,
                            recommendations: report.recommendations,
                            ..computed
                        };
                        return Ok(Analysis {
                            body,
                            model: self.llm.model().to_owned(),
                            usage: json!({ "reported_usage": usage, "calls": attempt }),
                            cost_micros: cost,
                        });
                    }
                    problems
                }
                Err(e) => vec![format!("the answer does not match the trend_report structure: {e}")],
            };
            tracing::warn!(analyst = %self.name, attempt, violations = ?problems, "the model's report breaks the rules");
            prompt = format!(
                "{data}\n\nYour previous answer broke these rules; answer again, fixing every one:\n- {}",
                problems.join("\n- ")
            );
            last_violations = problems;
        }
        Err(fail(format!(
            "the model's report broke the report rules twice (asked again with the violations): {}",
            last_violations.join("; ")
        )))
    }
}

impl Analyst for LlmAnalyst {
    fn name(&self) -> &str {
        &self.name
    }

    fn model(&self) -> &str {
        self.llm.model()
    }

    fn prompt_version(&self) -> &str {
        PROMPT_VERSION
    }

    fn analyze<'a>(
        &'a self,
        items: &'a [(i64, TrendItem)],
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Analysis, AnalysisError>> {
        Box::pin(self.report(items, now))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Point 9's property: every instance of the schema the model is given — at its lower
    /// bounds, its upper bounds and 300 draws between — passes the validator. Nothing the
    /// report rules ask is left to prose alone: there is no inexpressible rule to list.
    #[test]
    fn every_instance_of_the_report_schema_passes_the_validator() {
        for analysed in [1, 7, 40] {
            let schema = report_schema(analysed);
            for (n, instance) in
                shortline_testing::schema_instances::instances_within(&schema, 300, 14).into_iter().enumerate()
            {
                let report: ModelReport = serde_json::from_value(instance.clone())
                    .unwrap_or_else(|e| panic!("instance {n} does not deserialise: {e}\n{instance}"));
                let broken = violations(&report, analysed);
                assert!(broken.is_empty(), "instance {n} of the schema breaks {broken:?}\n{instance}");
            }
        }
    }

    /// The rules the old schema left to prose are in the schema now.
    #[test]
    fn ranges_the_validator_enforces_are_in_the_schema() {
        let schema = report_schema(12);
        let style = &schema["properties"]["video_styles"]["items"]["properties"];
        assert_eq!(
            (style["confidence"]["minimum"].as_f64(), style["confidence"]["maximum"].as_f64()),
            (Some(0.0), Some(1.0))
        );
        assert_eq!(style["count"]["maximum"], 12);
        let pattern = &schema["properties"]["common_patterns"]["items"]["properties"];
        assert_eq!(pattern["avg_duration_seconds"]["minimum"], 1.0);
        assert_eq!(pattern["avg_duration_seconds"]["maximum"], 600.0);
        assert_eq!(schema["properties"]["recommendations"]["maxItems"], 8);
    }
}
