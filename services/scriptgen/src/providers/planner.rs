//! [`LlmPlanner`]: production plans written by an LLM (Anthropic Messages with tool use, or an
//! OpenAI-compatible chat API with a JSON schema).
//!
//! The model gets the theme, the trend report and the variant, and the plan rules; it answers
//! in the plan's JSON schema. The answer is checked with [`ProductionPlan::violations`]: a plan
//! that breaks a rule (a missing field, overlays past the end, scene times that do not add up,
//! ...) is asked for once more with the violations in the prompt; if the second answer breaks
//! rules too, planning fails with [`PlanError::InvalidPlan`] naming every violation. No invalid
//! plan is ever returned, so none can be stored. Token usage becomes a cost from the price table;
//! each call is first estimated and checked against the job's budget.
//!
//! The service calls [`LlmPlanner::plan_with_usage`] (async, with usage and cost) where the
//! offline [`TemplatePlanner`](crate::planner::TemplatePlanner) is called directly.

use std::sync::Arc;

use serde_json::Value;
use shortline_config::Price;
use shortline_domain::plan::{
    ASPECT_RATIOS, HASHTAGS, MAX_HASHTAG_BYTES, MAX_OVERLAYS, MAX_OVERLAY_CHARS, MAX_TEXT_CHARS, MAX_TITLE_CHARS,
    SCENES, SCENE_SECONDS,
};
use shortline_domain::{describe, ProductionPlan, Theme, TrendReportBody, Violation};
use shortline_providers::budget;
use shortline_providers::llm::StructuredLlm;
use shortline_providers::schema;
use shortline_providers::{cost_micros, Usage};

use crate::planner::PlanError;

/// The tool / schema name.
pub const PLAN_SCHEMA_NAME: &str = "production_plan";

/// A plan and what writing it used.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmPlan {
    pub plan: ProductionPlan,
    pub usage: Usage,
    pub cost_micros: i64,
    /// Model calls it took (1, or 2 when the first answer broke the rules).
    pub calls: u32,
}

/// A planner backed by an LLM.
pub struct LlmPlanner {
    llm: Arc<dyn StructuredLlm>,
    name: String,
    price: Option<Price>,
}

/// The plan rules JSON Schema cannot express, which stay in the prompt ([`rules`]) and in
/// [`ProductionPlan::violations`]: (the violation's field, with `[i]` for any index; why).
pub const INEXPRESSIBLE_RULES: [(&str, &str); 4] = [
    ("duration_seconds", "must equal the sum of the scenes' durations"),
    ("scenes[i].number", "must count 1, 2, 3, ... in order"),
    ("text_overlays[i].start_seconds", "must come before the overlay's end_seconds"),
    ("text_overlays[i].end_seconds", "must not be past the plan's duration_seconds"),
];

/// The JSON schema of a [`ProductionPlan`]: strict, and carrying every plan rule JSON Schema can
/// express, from the same bounds [`ProductionPlan::violations`] checks (see
/// [`INEXPRESSIBLE_RULES`] for the rest).
pub fn plan_schema() -> Value {
    let longest = SCENES.end() * (*SCENE_SECONDS.end() as usize);
    let video_seconds = (*SCENES.start() as f64 * SCENE_SECONDS.start())..=(longest as f64);
    let overlay_seconds = 0.0..=(longest as f64);
    let long_text = || schema::text(1..=MAX_TEXT_CHARS);
    let overlay_text = || schema::text(1..=MAX_OVERLAY_CHARS);
    let scene = schema::object(&[
        ("number", schema::integer(1..=i64::try_from(*SCENES.end()).unwrap_or(i64::MAX))),
        ("duration_seconds", schema::number(SCENE_SECONDS)),
        ("visual_prompt", long_text()),
        ("transition", schema::one_of(&TRANSITIONS)),
    ]);
    let overlay = schema::object(&[
        ("text", overlay_text()),
        ("start_seconds", schema::number(overlay_seconds.clone())),
        ("end_seconds", schema::number(overlay_seconds)),
        ("position", schema::one_of(&OVERLAY_POSITIONS)),
        ("style", schema::one_of(&OVERLAY_STYLES)),
    ]);
    schema::object(&[
        ("video_prompt", long_text()),
        ("duration_seconds", schema::number(video_seconds)),
        ("aspect_ratio", schema::one_of(&ASPECT_RATIOS)),
        ("scenes", schema::array(scene, SCENES)),
        ("voiceover_script", long_text()),
        ("hook_text", overlay_text()),
        ("cta_text", overlay_text()),
        ("text_overlays", schema::array(overlay, 0..=MAX_OVERLAYS)),
        ("hashtags", schema::array(schema::text_matching(HASHTAG_PATTERN, 2..=MAX_HASHTAG_BYTES), HASHTAGS)),
        ("title", schema::text(1..=MAX_TITLE_CHARS)),
        ("description", long_text()),
    ])
}

/// `#` and a word without white space (the hashtag rule of [`ProductionPlan::violations`]).
const HASHTAG_PATTERN: &str = "^#\\S+$";
/// The overlay positions, styles and scene transitions the composer renders (their serde names).
const TRANSITIONS: [&str; 3] = ["cut", "fade", "dissolve"];
const OVERLAY_POSITIONS: [&str; 3] = ["top", "center", "bottom"];
const OVERLAY_STYLES: [&str; 3] = ["bold", "normal", "highlight"];

fn rules(theme: &Theme) -> String {
    format!(
        "Rules: {min_scenes} to {max_scenes} scenes numbered 1, 2, 3, ... of {min_s} to {max_s} seconds each; \
         duration_seconds is exactly the sum of the scene durations and close to {target} seconds; aspect_ratio \
         is one of {ratios:?}; {min_tags} to {max_tags} hashtags starting with #; at most {overlays} text \
         overlays of at most {overlay_chars} characters, each with 0 <= start_seconds < end_seconds <= \
         duration_seconds; hook_text and cta_text at most {overlay_chars} characters; title at most {title} \
         characters; voiceover_script, video_prompt and description at most {text} characters; the voiceover \
         must be speakable in the video's duration (about 2.3 words per second).",
        min_scenes = SCENES.start(),
        max_scenes = SCENES.end(),
        min_s = SCENE_SECONDS.start(),
        max_s = SCENE_SECONDS.end(),
        target = theme.config.video_duration_seconds,
        ratios = ASPECT_RATIOS,
        min_tags = HASHTAGS.start(),
        max_tags = HASHTAGS.end(),
        overlays = MAX_OVERLAYS,
        overlay_chars = MAX_OVERLAY_CHARS,
        title = MAX_TITLE_CHARS,
        text = MAX_TEXT_CHARS,
    )
}

const SYSTEM: &str = "You plan short vertical marketing videos (TikTok, YouTube Shorts, Reels) from a theme and \
the latest trend report: scenes with visual prompts for a video generator, a voiceover, a hook, a call to action, \
text overlays, hashtags, a title and a description. Answer only through the production_plan structure.";

impl LlmPlanner {
    pub fn new(llm: Arc<dyn StructuredLlm>, price: Option<Price>) -> Self {
        let name = format!("{}/{}", llm.name(), llm.model());
        Self { llm, name, price }
    }

    /// What `usage` costs at the model's price (0 without one).
    fn cost(&self, usage: &Usage) -> i64 {
        self.price.as_ref().map_or(0, |price| cost_micros(price, usage))
    }

    /// `provider/model`, recorded as the script's planner.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The model's id, recorded as the script's model.
    pub fn model(&self) -> &str {
        self.llm.model()
    }

    /// Plans variant `variant` of `theme`: the plan (valid by [`ProductionPlan::violations`]),
    /// its usage and cost; or why not.
    pub async fn plan_with_usage(
        &self,
        theme: &Theme,
        report: Option<&TrendReportBody>,
        variant: u32,
    ) -> Result<LlmPlan, PlanError> {
        let violations = theme.violations();
        if !violations.is_empty() {
            return Err(PlanError::InvalidTheme(violations));
        }
        let provider = |message: String| PlanError::Provider { planner: self.name.clone(), message };
        let request = format!(
            "Theme:\n{}\n\nTrend report:\n{}\n\nThis is variant {variant}: make its hook, ordering and pacing \
             different from other variants.\n\n{}",
            serde_json::to_string_pretty(theme).map_err(|e| provider(e.to_string()))?,
            report.map_or_else(|| "(none)".to_owned(), |r| serde_json::to_string_pretty(r).unwrap_or_default()),
            rules(theme),
        );
        let schema = plan_schema();
        let mut prompt = request.clone();
        let mut usage = Usage::default();
        let mut last: Vec<Violation> = Vec::new();
        for call in 1..=2u32 {
            let estimate = self.cost(&self.llm.estimate(SYSTEM, &prompt, &schema));
            budget::check_before_call(&self.name, estimate)?;
            let answer = self
                .llm
                .complete(SYSTEM, &prompt, PLAN_SCHEMA_NAME, &schema)
                .await
                .map_err(|e| provider(e.to_string()))?;
            budget::record_paid(&self.name, self.cost(&answer.usage));
            usage = usage.plus(&answer.usage);
            let violations = match serde_json::from_value::<ProductionPlan>(answer.value) {
                Ok(plan) => {
                    let violations = plan.violations();
                    if violations.is_empty() {
                        let cost = self.cost(&usage);
                        tracing::info!(planner = %self.name, calls = call, input_tokens = usage.input_tokens,
                            output_tokens = usage.output_tokens, cost_micros = cost, "plan written by the model");
                        return Ok(LlmPlan { plan, usage, cost_micros: cost, calls: call });
                    }
                    violations
                }
                Err(e) => vec![Violation::new("plan", format!("does not match the production_plan structure: {e}"))],
            };
            tracing::warn!(planner = %self.name, call, violations = %describe(&violations), "the model's plan breaks the rules");
            prompt = format!(
                "{request}\n\nYour previous plan broke these rules; answer again, fixing every one:\n- {}",
                violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n- ")
            );
            last = violations;
        }
        Err(PlanError::InvalidPlan { planner: self.name.clone(), violations: last })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A violation's field with every index written `[i]`, as [`INEXPRESSIBLE_RULES`] names them.
    fn generic(field: &str) -> String {
        let mut out = String::new();
        let mut in_index = false;
        for c in field.chars() {
            match c {
                '[' => {
                    in_index = true;
                    out.push_str("[i");
                }
                ']' => {
                    in_index = false;
                    out.push(']');
                }
                _ if in_index => {}
                _ => out.push(c),
            }
        }
        out
    }

    /// Point 9's property: every instance of the schema the model is given — at its lower
    /// bounds, its upper bounds and 300 draws between — passes [`ProductionPlan::violations`]
    /// except for the rules JSON Schema cannot express, which are listed in
    /// [`INEXPRESSIBLE_RULES`].
    #[test]
    fn every_instance_of_the_plan_schema_passes_the_validator_but_for_the_listed_rules() {
        let inexpressible: Vec<&str> = INEXPRESSIBLE_RULES.iter().map(|(field, _)| *field).collect();
        for (n, instance) in
            shortline_testing::schema_instances::instances_within(&plan_schema(), 300, 9).into_iter().enumerate()
        {
            let plan: ProductionPlan = serde_json::from_value(instance.clone())
                .unwrap_or_else(|e| panic!("instance {n} does not deserialise: {e}\n{instance}"));
            let unlisted: Vec<Violation> = plan
                .violations()
                .into_iter()
                .filter(|v| !inexpressible.contains(&generic(&v.field).as_str()))
                .collect();
            assert!(unlisted.is_empty(), "instance {n} of the schema breaks {unlisted:?}\n{instance}");
        }
    }

    /// The listed rules are stated in the prompt the model gets.
    #[test]
    fn the_inexpressible_rules_are_in_the_prompt() {
        let theme = Theme::from_yaml("config:\n  theme: Cups\n").unwrap();
        let prompt = rules(&theme);
        for needle in
            ["sum of the scene durations", "numbered 1, 2, 3", "start_seconds < end_seconds", "<= duration_seconds"]
        {
            assert!(prompt.contains(needle), "{needle:?} is not in {prompt}");
        }
    }
}
