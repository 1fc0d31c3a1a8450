//! Production planners: a theme, the latest trend report and a variant number become a
//! [`ProductionPlan`] (scenes, voiceover, hook, CTA, overlays, hashtags, title, description).
//!
//! [`TemplatePlanner`] is the deterministic offline planner: the same inputs always give the same
//! plan, different variants give different hooks, orderings and pacing, and every valid theme
//! (6..=28 s) gives a plan with no [`ProductionPlan::violations`].

mod draft;
mod hashtags;
mod structure;
#[cfg(test)]
mod tests;
mod text;

use shortline_domain::{describe, ProductionPlan, Theme, TrendReportBody, Violation};

use draft::Draft;

/// Speaking rate the voiceover is sized for (words per second).
pub const WORDS_PER_SECOND: f64 = 2.3;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("invalid theme: {}", describe(.0))]
    InvalidTheme(Vec<Violation>),
    /// The planner produced a plan that breaks the plan rules (a provider-backed planner's answer
    /// can; the template planner's cannot).
    #[error("planner {planner} produced an invalid plan: {}", describe(.violations))]
    InvalidPlan { planner: String, violations: Vec<Violation> },
    /// A provider-backed planner (an LLM) failed.
    #[error("planner {planner} failed: {message}")]
    Provider { planner: String, message: String },
    /// The model was not asked: the call would take the job past its budget.
    #[error(transparent)]
    OverBudget(#[from] shortline_providers::budget::BudgetExceeded),
}

/// Writes the production plan for one variant of a theme. `report` is the latest trend report,
/// if there is one; `variant` numbers the alternatives of one job (1, 2, 3, ...).
pub trait Planner: Send + Sync {
    /// Recorded with the script, e.g. `template`.
    fn name(&self) -> &str;

    fn plan(&self, theme: &Theme, report: Option<&TrendReportBody>, variant: u32) -> Result<ProductionPlan, PlanError>;
}

/// The offline planner: fills templates from the theme (config, content references and their
/// talking points), the report (top style → structure, hook type, top hashtags, first
/// recommendation) and the variant (hook, ordering of points, pacing, transitions, title, CTA).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TemplatePlanner;

impl Planner for TemplatePlanner {
    fn name(&self) -> &str {
        "template"
    }

    fn plan(&self, theme: &Theme, report: Option<&TrendReportBody>, variant: u32) -> Result<ProductionPlan, PlanError> {
        let violations = theme.violations();
        if !violations.is_empty() {
            return Err(PlanError::InvalidTheme(violations));
        }
        let plan = Draft::new(theme, report, variant).plan();
        let violations = plan.violations();
        if violations.is_empty() {
            Ok(plan)
        } else {
            Err(PlanError::InvalidPlan { planner: self.name().into(), violations })
        }
    }
}
