//! The video's storyline ([`Structure`]) and its opening hook ([`Hook`]), read from the report's
//! leading style and common patterns, with how each reads and cuts.

use shortline_domain::Transition;

/// The video's storyline, from the report's leading style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Structure {
    Listicle,
    Tutorial,
    Showcase,
    Transformation,
    DayInTheLife,
    Storytime,
    Explainer,
    Comedy,
    Challenge,
}

impl Structure {
    /// Reads a report's style category, whoever wrote it (`listicle`, `Product review`, ...).
    pub(super) fn from_category(category: &str) -> Option<Self> {
        let c = category.to_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| c.contains(w));
        Some(if has(&["list", "top "]) {
            Structure::Listicle
        } else if has(&["transform", "before", "makeover", "glow"]) {
            Structure::Transformation
        } else if has(&["day in", "day_in", "routine", "vlog"]) {
            Structure::DayInTheLife
        } else if has(&["story"]) {
            Structure::Storytime
        } else if has(&["review", "product", "showcase", "unbox", "haul"]) {
            Structure::Showcase
        } else if has(&["tutorial", "how", "guide", "step", "recipe"]) {
            Structure::Tutorial
        } else if has(&["explain", "educat", "fact"]) {
            Structure::Explainer
        } else if has(&["comedy", "skit", "humor", "humour", "funny", "meme"]) {
            Structure::Comedy
        } else if has(&["challenge", "trend", "dance"]) {
            Structure::Challenge
        } else {
            return None;
        })
    }

    pub(super) fn describe(self) -> &'static str {
        match self {
            Structure::Listicle => "a numbered list, one point per cut",
            Structure::Tutorial => "a step-by-step demo with on-screen steps",
            Structure::Showcase => "a hands-on product showcase ending in a verdict",
            Structure::Transformation => "a before/after transformation with a reveal",
            Structure::DayInTheLife => "a day-in-the-life montage",
            Structure::Storytime => "a story told to camera with cutaways",
            Structure::Explainer => "a quick explainer answering one question",
            Structure::Comedy => "a relatable skit with a punchline",
            Structure::Challenge => "a trend/challenge cut to the beat",
        }
    }

    /// How scenes are entered (rotated by the variant); the closing scene always fades in.
    pub(super) fn transitions(self) -> [Transition; 3] {
        match self {
            Structure::Listicle | Structure::Tutorial | Structure::Comedy | Structure::Challenge => {
                [Transition::Cut, Transition::Cut, Transition::Fade]
            }
            Structure::Showcase | Structure::Explainer => [Transition::Cut, Transition::Dissolve, Transition::Cut],
            Structure::Transformation | Structure::DayInTheLife | Structure::Storytime => {
                [Transition::Dissolve, Transition::Cut, Transition::Fade]
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hook {
    Question,
    BoldClaim,
    Pov,
    Number,
    WaitForIt,
    Statement,
}

impl Hook {
    /// The order hooks are tried in when the report does not say (or for later variants).
    pub(super) const DEFAULTS: [Hook; 5] = [Hook::Question, Hook::BoldClaim, Hook::Pov, Hook::Number, Hook::WaitForIt];

    pub(super) fn from_report(hook_type: &str) -> Option<Self> {
        let h = hook_type.to_lowercase();
        Some(if h.contains("pov") || h.contains("point of view") {
            Hook::Pov
        } else if h.contains("question") {
            Hook::Question
        } else if h.contains("bold") || h.contains("claim") || h.contains("controvers") {
            Hook::BoldClaim
        } else if h.contains("number") || h.contains("list") {
            Hook::Number
        } else if h.contains("wait") || h.contains("tease") || h.contains("suspense") {
            Hook::WaitForIt
        } else if h.contains("statement") {
            Hook::Statement
        } else {
            return None;
        })
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Hook::Question => "question",
            Hook::BoldClaim => "bold claim",
            Hook::Pov => "POV",
            Hook::Number => "number",
            Hook::WaitForIt => "wait-for-it",
            Hook::Statement => "statement",
        }
    }
}
