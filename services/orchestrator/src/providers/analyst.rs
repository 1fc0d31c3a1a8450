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

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};
use shortline_shared::budget;
use shortline_shared::config::Price;
use shortline_shared::domain::{CommonPattern, TrendItem, TrendReportBody, VideoStyle};
use shortline_shared::http::llm::StructuredLlm;
use shortline_shared::http::{cost_micros, Usage};

use crate::trends::{Analysis, AnalysisError, Analyst, HeuristicAnalyst};

/// The tool / schema name.
pub const REPORT_SCHEMA_NAME: &str = "trend_report";
const MAX_STYLES: usize = 8;
const MAX_PATTERNS: usize = 6;
const MAX_RECOMMENDATIONS: usize = 8;
const MAX_TEXT: usize = 300;

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

/// The JSON schema of [`ModelReport`] (strict: every property required, nothing else allowed).
pub fn report_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["video_styles", "common_patterns", "recommendations"],
        "properties": {
            "video_styles": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["category", "confidence", "count"],
                    "properties": {
                        "category": { "type": "string" },
                        "confidence": { "type": "number" },
                        "count": { "type": "integer" }
                    }
                }
            },
            "common_patterns": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["format", "avg_duration_seconds", "hook_type", "uses_text_overlay", "audio_type"],
                    "properties": {
                        "format": { "type": "string" },
                        "avg_duration_seconds": { "type": "number" },
                        "hook_type": { "type": "string" },
                        "uses_text_overlay": { "type": "boolean" },
                        "audio_type": { "type": "string" }
                    }
                }
            },
            "recommendations": { "type": "array", "items": { "type": "string" } }
        }
    })
}

/// Why a model report breaks the rules, one line each; empty when it is fine.
fn violations(report: &ModelReport, analysed: usize) -> Vec<String> {
    let mut v = Vec::new();
    if report.video_styles.is_empty() || report.video_styles.len() > MAX_STYLES {
        v.push(format!("video_styles: needs 1 to {MAX_STYLES} entries, got {}", report.video_styles.len()));
    }
    for (i, style) in report.video_styles.iter().enumerate() {
        if style.category.trim().is_empty() || style.category.len() > 60 {
            v.push(format!("video_styles[{i}].category: must be a short non-empty name"));
        }
        if !(style.confidence.is_finite() && (0.0..=1.0).contains(&style.confidence)) {
            v.push(format!("video_styles[{i}].confidence: must be between 0 and 1, got {}", style.confidence));
        }
        if style.count < 0 || style.count as usize > analysed {
            v.push(format!(
                "video_styles[{i}].count: must be between 0 and {analysed} (the trends analysed), got {}",
                style.count
            ));
        }
    }
    if report.common_patterns.is_empty() || report.common_patterns.len() > MAX_PATTERNS {
        v.push(format!("common_patterns: needs 1 to {MAX_PATTERNS} entries, got {}", report.common_patterns.len()));
    }
    for (i, pattern) in report.common_patterns.iter().enumerate() {
        for (field, value) in
            [("format", &pattern.format), ("hook_type", &pattern.hook_type), ("audio_type", &pattern.audio_type)]
        {
            if value.trim().is_empty() || value.len() > 60 {
                v.push(format!("common_patterns[{i}].{field}: must be a short non-empty name"));
            }
        }
        if !(pattern.avg_duration_seconds.is_finite() && (1.0..=600.0).contains(&pattern.avg_duration_seconds)) {
            v.push(format!(
                "common_patterns[{i}].avg_duration_seconds: must be between 1 and 600, got {}",
                pattern.avg_duration_seconds
            ));
        }
    }
    if report.recommendations.is_empty() || report.recommendations.len() > MAX_RECOMMENDATIONS {
        v.push(format!(
            "recommendations: needs 1 to {MAX_RECOMMENDATIONS} entries, got {}",
            report.recommendations.len()
        ));
    }
    for (i, text) in report.recommendations.iter().enumerate() {
        if text.trim().is_empty() || text.chars().count() > MAX_TEXT {
            v.push(format!("recommendations[{i}]: must be 1 to {MAX_TEXT} characters"));
        }
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
        let schema = report_schema();
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
            budget::record_paid(self.cost(&answer.usage));
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

    fn analyze<'a>(
        &'a self,
        items: &'a [(i64, TrendItem)],
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Analysis, AnalysisError>> {
        Box::pin(self.report(items, now))
    }
}
