//! Production planners: a theme, the latest trend report and a variant number become a
//! [`ProductionPlan`] (scenes, voiceover, hook, CTA, overlays, hashtags, title, description).
//!
//! [`TemplatePlanner`] is the deterministic offline planner: the same inputs always give the same
//! plan, different variants give different hooks, orderings and pacing, and every valid theme
//! (6..=28 s) gives a plan with no [`ProductionPlan::violations`].

use shortline_shared::domain::plan::{
    HASHTAGS, MAX_OVERLAY_CHARS, MAX_TEXT_CHARS, MAX_TITLE_CHARS, SCENES, SCENE_SECONDS,
};
use shortline_shared::domain::{
    describe, OverlayPosition, OverlayStyle, ProductionPlan, Scene, TextOverlay, Theme, Transition, TrendReportBody,
    Violation,
};

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
    OverBudget(#[from] shortline_shared::budget::BudgetExceeded),
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

/// The video's storyline, from the report's leading style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Structure {
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
    fn from_category(category: &str) -> Option<Self> {
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

    fn describe(self) -> &'static str {
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
    fn transitions(self) -> [Transition; 3] {
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
enum Hook {
    Question,
    BoldClaim,
    Pov,
    Number,
    WaitForIt,
    Statement,
}

impl Hook {
    /// The order hooks are tried in when the report does not say (or for later variants).
    const DEFAULTS: [Hook; 5] = [Hook::Question, Hook::BoldClaim, Hook::Pov, Hook::Number, Hook::WaitForIt];

    fn from_report(hook_type: &str) -> Option<Self> {
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

    fn name(self) -> &'static str {
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

/// One talking point and where it came from.
#[derive(Debug, Clone)]
struct Point {
    text: String,
    testimonial: bool,
    media_url: Option<String>,
}

/// Adds a talking point (one line, at most 14 words / 90 characters) unless it is blank or
/// already there.
fn push(points: &mut Vec<Point>, text: &str, testimonial: bool, media_url: Option<&String>) {
    let text = clip_words(squash(text).trim_end_matches(['.', '!', ';', ',']), 14, 90);
    if !text.is_empty() && !points.iter().any(|p| p.text.eq_ignore_ascii_case(&text)) {
        let media_url = media_url.map(|u| squash(u)).filter(|u| !u.is_empty() && u.len() <= 200);
        points.push(Point { text, testimonial, media_url });
    }
}

/// Everything the templates need, read once from the inputs.
struct Draft<'a> {
    theme: &'a Theme,
    report: Option<&'a TrendReportBody>,
    /// 0-based variant (variant 1 → 0).
    v: usize,
    duration: u32,
    /// Product name or theme, short enough to speak and to fit an overlay.
    subject: String,
    /// The theme, lower-cased at the start so it reads inside a sentence.
    topic: String,
    product: Option<String>,
    tagline: Option<String>,
    audience: Option<String>,
    mood: String,
    structure: Structure,
    hook: Hook,
    points: Vec<Point>,
    youtube: bool,
}

impl<'a> Draft<'a> {
    fn new(theme: &'a Theme, report: Option<&'a TrendReportBody>, variant: u32) -> Self {
        let c = &theme.config;
        let v = variant.saturating_sub(1) as usize;
        let nonblank = |s: &Option<String>| s.as_deref().map(squash).filter(|s| !s.is_empty());
        let product = nonblank(&c.product_name).map(|p| clip_words(&p, 4, 32));
        let topic = lower_first(&clip_words(&squash(&c.theme), 6, 48));
        let subject = product.clone().unwrap_or_else(|| clip_words(&topic, 4, 32));
        let tone = nonblank(&c.tone);
        let style = clip(&squash(&c.style), 40);
        let mood = match tone {
            Some(tone) if tone.to_lowercase() != style.to_lowercase() => format!("{style}, {}", clip(&tone, 40)),
            _ => style,
        };

        let structure = report
            .and_then(|r| {
                let mut styles: Vec<_> = r.video_styles.iter().collect();
                // Stable: equally common styles keep the report's order.
                styles.sort_by_key(|s| std::cmp::Reverse(s.count));
                styles.iter().find_map(|s| Structure::from_category(&s.category))
            })
            .unwrap_or(if product.is_some() { Structure::Showcase } else { Structure::Tutorial });

        let mut hooks: Vec<Hook> = Vec::new();
        for hook in report
            .into_iter()
            .flat_map(|r| r.common_patterns.iter().filter_map(|p| Hook::from_report(&p.hook_type)))
            .chain(Hook::DEFAULTS)
        {
            if !hooks.contains(&hook) {
                hooks.push(hook);
            }
        }
        let hook = hooks[v % hooks.len()];

        let mut points: Vec<Point> = Vec::new();
        for r in &theme.content_references {
            let testimonial = r.kind == "testimonial";
            let before = points.len();
            for tp in &r.talking_points {
                push(&mut points, tp, testimonial, r.media_url.as_ref());
            }
            if points.len() == before {
                let first_sentence = r.description.split(['.', '!', '?', '\n']).next().unwrap_or_default();
                let text = if first_sentence.trim().is_empty() { r.title.as_str() } else { first_sentence };
                push(&mut points, text, testimonial, r.media_url.as_ref());
            }
        }
        // Different variants lead with different points.
        if !points.is_empty() {
            let shift = v % points.len();
            points.rotate_left(shift);
        }
        if let Some(tagline) = nonblank(&c.tagline) {
            push(&mut points, &tagline, false, None);
        }
        if let Some(audience) = nonblank(&c.target_audience) {
            push(&mut points, &format!("made for {}", clip_words(&audience, 8, 60)), false, None);
        }
        for generic in [
            format!("what makes {subject} different"),
            format!("how {subject} fits into a normal day"),
            format!("the detail most people miss about {subject}"),
            format!("why people keep coming back to {subject}"),
            format!("the result you can expect from {subject}"),
        ] {
            push(&mut points, &generic, false, None);
        }

        Draft {
            theme,
            report,
            v,
            duration: c.video_duration_seconds,
            subject,
            topic,
            product,
            tagline: nonblank(&c.tagline).map(|t| clip(&t, 80)),
            audience: nonblank(&c.target_audience).map(|a| clip(&a, 60)),
            mood,
            structure,
            hook,
            points,
            youtube: c.target_platform == "youtube_shorts",
        }
    }

    fn plan(&self) -> ProductionPlan {
        let durations = self.scene_durations();
        let n = durations.len();
        let body = n - 2;
        let points: Vec<&Point> = (0..body).map(|k| &self.points[k % self.points.len()]).collect();
        let hook_text = clip(&self.hook_text(body), MAX_OVERLAY_CHARS);
        let cta_text = clip(&self.cta_text(), MAX_OVERLAY_CHARS);

        let starts: Vec<u32> = durations
            .iter()
            .scan(0, |t, d| {
                let start = *t;
                *t += d;
                Some(start)
            })
            .collect();

        let palette = self.structure.transitions();
        let mut scenes: Vec<Scene> = Vec::with_capacity(n);
        for (i, &seconds) in durations.iter().enumerate() {
            let (prompt, transition) = if i == 0 {
                (self.hook_visual(body), Transition::Cut)
            } else if i == n - 1 {
                (self.cta_visual(), Transition::Fade)
            } else {
                (self.body_visual(i, body, points[i - 1]), palette[(i + self.v) % palette.len()])
            };
            let mut prompt =
                clip(&format!("{prompt}. {}, vertical 9:16 framing", upper_first(&self.mood_visual())), MAX_TEXT_CHARS);
            if scenes.iter().any(|s| s.visual_prompt == prompt) {
                prompt = clip(&format!("{prompt}, alternate angle {}", i + 1), MAX_TEXT_CHARS);
            }
            scenes.push(Scene {
                number: (i + 1) as u32,
                duration_seconds: f64::from(seconds),
                visual_prompt: prompt,
                transition,
            });
        }

        let mut text_overlays = vec![TextOverlay {
            text: hook_text.clone(),
            start_seconds: 0.0,
            end_seconds: f64::from(durations[0]),
            position: OverlayPosition::Top,
            style: OverlayStyle::Bold,
        }];
        for (k, point) in points.iter().enumerate() {
            let i = k + 1;
            text_overlays.push(TextOverlay {
                text: clip(&self.overlay_text(k + 1, point), MAX_OVERLAY_CHARS),
                start_seconds: f64::from(starts[i]),
                end_seconds: f64::from(starts[i] + durations[i]),
                position: OverlayPosition::Center,
                style: OverlayStyle::Normal,
            });
        }
        text_overlays.push(TextOverlay {
            text: cta_text.clone(),
            start_seconds: f64::from(starts[n - 1]),
            end_seconds: f64::from(self.duration),
            position: OverlayPosition::Bottom,
            style: OverlayStyle::Highlight,
        });

        let voiceover_script = clip(&self.voiceover(&hook_text, &cta_text, &points), MAX_TEXT_CHARS);
        let hashtags = self.hashtags();
        let title = clip(&self.title(&hook_text, &points), MAX_TITLE_CHARS);
        let description = clip(&self.description(&hook_text, &cta_text, &points, &hashtags), MAX_TEXT_CHARS);
        let video_prompt = clip(&self.video_prompt(n), MAX_TEXT_CHARS);

        ProductionPlan {
            video_prompt,
            duration_seconds: f64::from(self.duration),
            aspect_ratio: aspect_ratio(&self.theme.config.target_platform).into(),
            scenes,
            voiceover_script,
            hook_text,
            cta_text,
            text_overlays,
            hashtags,
            title,
            description,
        }
    }

    /// Splits the duration into 3–7 whole-second scenes of 2–4 s that add up exactly. The count
    /// aims at ~3.2 s per scene; variants 2 and 3 try one scene more and one fewer (when possible).
    fn scene_durations(&self) -> Vec<u32> {
        let d = self.duration.clamp(6, 28);
        let (min_s, max_s) = (*SCENE_SECONDS.start() as u32, *SCENE_SECONDS.end() as u32);
        let lo = (d.div_ceil(max_s) as usize).max(*SCENES.start());
        let hi = ((d / min_s) as usize).min(*SCENES.end());
        let preferred = (f64::from(d) / 3.2).round() as usize;
        let n = match self.v % 3 {
            1 => preferred + 1,
            2 => preferred.saturating_sub(1),
            _ => preferred,
        }
        .clamp(lo, hi);
        let base = d / n as u32;
        let extra = (d % n as u32) as usize;
        // Extra seconds go to the middle scenes, then the closing one: the hook stays short.
        let mut durations = vec![base; n];
        for k in 0..extra {
            let i = if k < n - 2 { 1 + (k + self.v) % (n - 2) } else { n - 1 };
            durations[i] += 1;
        }
        durations
    }

    fn hook_text(&self, body: usize) -> String {
        let s = &self.subject;
        let cap = upper_first(s);
        let d = self.duration;
        let t = self.v % 3;
        match self.hook {
            Hook::Question => [
                format!("Is {s} actually worth the hype?"),
                format!("Ever tried {s} like this?"),
                format!("What if {s} took just {d} seconds?"),
            ][t]
                .clone(),
            Hook::BoldClaim => [
                format!("{cap} just changed the game."),
                format!("Nobody talks about this side of {s}."),
                format!("This is the only {s} video you need."),
            ][t]
                .clone(),
            Hook::Pov => [
                format!("POV: you just discovered {s}"),
                format!("POV: {s} finally clicks"),
                format!("POV: you tried {s} for a week"),
            ][t]
                .clone(),
            Hook::Number => [
                format!("{body} {} to know about {s}", plural(body, "thing", "things")),
                format!("{body} {} to try {s}", plural(body, "reason", "reasons")),
                format!("{body} {} {s} makes life easier", plural(body, "way", "ways")),
            ][t]
                .clone(),
            Hook::WaitForIt => [
                format!("Wait for it… {s} in {d} seconds"),
                format!("Watch till the end: {s} like never before"),
                format!("Wait for the last shot of {s}"),
            ][t]
                .clone(),
            Hook::Statement => {
                [format!("Here's {s} in {d} seconds."), format!("Meet {s}."), format!("This is {s}, up close.")][t]
                    .clone()
            }
        }
    }

    fn cta_text(&self) -> String {
        let follow = if self.youtube { "Subscribe" } else { "Follow" };
        match &self.product {
            Some(p) => [
                format!("Get {p} today — link in bio"),
                format!("Try {p} and tell me what you think"),
                format!("Tap the link to get your {p}"),
            ][self.v % 3]
                .clone(),
            None => [
                format!("{follow} for more {}", clip_words(&self.topic, 4, 40)),
                "Save this and share it with a friend".to_string(),
                format!("{follow} for part 2"),
            ][self.v % 3]
                .clone(),
        }
    }

    fn mood_visual(&self) -> String {
        format!("{} mood, bright natural light, crisp focus", self.mood)
    }

    /// What the opening and closing shots show: the product, or the theme's best example.
    fn hero(&self) -> String {
        match &self.product {
            Some(p) => p.clone(),
            None => format!("a standout example of {}", self.topic),
        }
    }

    fn hook_visual(&self, body: usize) -> String {
        let h = self.hero();
        match self.hook {
            Hook::Question => format!("Opening hook: a presenter raises an eyebrow at the camera next to {h}"),
            Hook::BoldClaim => format!("Opening hook: dramatic fast push-in on {h}, high-contrast first frame"),
            Hook::Pov => format!("Opening hook: first-person point-of-view shot discovering {h}"),
            Hook::Number => format!("Opening hook: a big number {body} pops up over a hero shot of {h}"),
            Hook::WaitForIt => format!("Opening hook: slow teasing zoom toward {h}, the payoff kept out of frame"),
            Hook::Statement => format!("Opening hook: striking centered hero shot of {h} that stops the scroll"),
        }
    }

    fn body_visual(&self, i: usize, body: usize, point: &Point) -> String {
        let p = lower_first(&point.text);
        let product = self.product.as_deref();
        let with = product.map(|p| format!(" with {p}")).unwrap_or_default();
        let in_frame = product.map(|p| format!(", {p} in frame")).unwrap_or_default();
        let angles =
            ["macro detail shot", "in-hand demo", "lifestyle shot", "side-by-side comparison", "slow orbit shot"];
        let times = ["Morning", "Midday", "Afternoon", "Evening", "Night"];
        let mut visual = match self.structure {
            Structure::Listicle => format!("Item {i} of {body}, shown clearly{in_frame}: {p}"),
            Structure::Tutorial => format!("Step {i}, hands-on close-up{with}: {p}"),
            Structure::Showcase => {
                let of = product.map(|p| format!(" of {p} in use")).unwrap_or_default();
                format!("Shot {i}, {}{of}: {p}", angles[(i - 1) % angles.len()])
            }
            Structure::Transformation if i == 1 => format!("Before: {p}, flat dull light, the problem in plain view"),
            Structure::Transformation if i == body => format!("After reveal {i}, bright and clean{in_frame}: {p}"),
            Structure::Transformation => format!("Process {i}, time-lapse feel{with}: {p}"),
            Structure::DayInTheLife => format!("{} moment {i} in a real home{with}: {p}", times[(i - 1) % times.len()]),
            Structure::Storytime => {
                format!("Story beat {i}, storyteller talks to camera with a cutaway illustrating: {p}")
            }
            Structure::Explainer => format!("Explainer visual {i}, simple motion graphics{in_frame}: {p}"),
            Structure::Comedy => {
                let prop = product.map(|p| format!(", {p} as the punchline prop")).unwrap_or_default();
                format!("Skit beat {i}, exaggerated reaction{prop}: {p}")
            }
            Structure::Challenge => format!("Trend beat {i}, moves cut on the beat{in_frame}: {p}"),
        };
        if let Some(url) = &point.media_url {
            visual.push_str(&format!(" (match the reference {url})"));
        }
        visual
    }

    fn cta_visual(&self) -> String {
        let h = self.hero();
        match &self.tagline {
            Some(tagline) => format!(
                "Closing shot: {h} centered on a clean background, mood of \"{tagline}\", space at the bottom for the call to action"
            ),
            None => format!("Closing shot: {h} centered on a clean background, space at the bottom for the call to action"),
        }
    }

    fn overlay_text(&self, k: usize, point: &Point) -> String {
        let text = upper_first(&clip_words(&point.text, 8, 60));
        if point.testimonial {
            return format!("“{text}”");
        }
        match self.structure {
            Structure::Listicle => format!("{k}. {text}"),
            Structure::Tutorial => format!("Step {k}: {text}"),
            _ => text,
        }
    }

    /// A script of about `duration × 2.3` words that follows the picture: the hook, one line per
    /// body scene (as many as fit), the tagline or filler lines if words are left, the call to
    /// action.
    fn voiceover(&self, hook_text: &str, cta_text: &str, points: &[&Point]) -> String {
        let target = (f64::from(self.duration) * WORDS_PER_SECOND).round() as usize;
        let hook = sentence(hook_text);
        let mut cta = sentence(cta_text);
        if word_count(&hook) + word_count(&cta) > target {
            // Short videos with long names: say a shorter call to action than the overlay shows.
            cta = sentence(match (&self.product, self.youtube) {
                (Some(_), _) => "Link in bio",
                (None, true) => "Subscribe for more",
                (None, false) => "Follow for more",
            });
        }
        let fixed = word_count(&hook) + word_count(&cta);

        // Each body line in a full and a short form (its first clause). Start from the short
        // forms; drop lines from the end while they overshoot the target by more than an eighth
        // (the overlays still show those points), then lengthen lines while words are left.
        let mut body: Vec<(String, String)> = points
            .iter()
            .enumerate()
            .map(|(k, point)| {
                let prefix = self.spoken_prefix(k, points.len(), point);
                let text = lower_first(&point.text);
                let full = sentence(format!("{prefix} {text}").trim());
                let clause = first_clause(&text);
                // A testimonial is quoted whole or not at all.
                let short = if !point.testimonial && word_count(clause) >= 2 && clause != text {
                    sentence(format!("{prefix} {clause}").trim())
                } else {
                    full.clone()
                };
                (short, full)
            })
            .collect();
        let cap = target + target / 8;
        let mut used = fixed + body.iter().map(|(short, _)| word_count(short)).sum::<usize>();
        while used > cap {
            match body.pop() {
                Some((short, _)) => used -= word_count(&short),
                None => break,
            }
        }
        let mut lines = vec![hook];
        for (short, full) in body {
            let extra = word_count(&full) - word_count(&short);
            if used + extra <= target {
                used += extra;
                lines.push(full);
            } else {
                lines.push(short);
            }
        }

        let mut fillers: Vec<String> = Vec::new();
        if let Some(tagline) = &self.tagline {
            fillers.push(sentence(tagline));
        }
        if let Some(audience) = &self.audience {
            fillers.push(sentence(&format!("made for {}", lower_first(audience))));
        }
        fillers.extend(
            [
                "Here's why it matters".to_string(),
                format!("Keep watching, {} is worth it", self.subject),
                "You'll wonder how you managed without it".to_string(),
                "Trust me on this one".to_string(),
                "It really is that simple".to_string(),
                "See it for yourself".to_string(),
            ]
            .iter()
            .map(|s| sentence(s)),
        );
        for line in fillers {
            let repeated = lines.iter().any(|l| l.eq_ignore_ascii_case(&line));
            if !repeated && used + word_count(&line) <= target {
                used += word_count(&line);
                lines.push(line);
            }
        }
        lines.push(cta);
        lines.join(" ")
    }

    /// How the body line of scene `k` (0-based among `body` scenes) starts when spoken.
    fn spoken_prefix(&self, k: usize, body: usize, point: &Point) -> &'static str {
        const ORDINALS: [&str; 5] = ["First,", "Second,", "Third,", "Fourth,", "Fifth,"];
        if point.testimonial {
            return "People say:";
        }
        let last = body > 1 && k == body - 1;
        match self.structure {
            Structure::Listicle => ORDINALS[k % ORDINALS.len()],
            Structure::Tutorial if k == 0 => "First,",
            Structure::Tutorial if last => "Finally,",
            Structure::Tutorial => ["Next,", "Then,", "After that,"][(k - 1) % 3],
            Structure::Transformation if k == 0 => "Before:",
            Structure::Transformation if last => "After:",
            Structure::Storytime if k > 0 => "Then",
            _ => "",
        }
    }

    /// 5–8 hashtags: the product and the theme, the report's top topical tags for this platform,
    /// the platform's reach tag, words of the theme, then general ones if still short.
    fn hashtags(&self) -> Vec<String> {
        let c = &self.theme.config;
        let mut candidates: Vec<String> = Vec::new();
        if let Some(product) = &c.product_name {
            candidates.push(product.clone());
        }
        // Words as tags: "Self-heating" → "selfheating"; short and filler words are left out.
        let theme_words: Vec<String> = c
            .theme
            .split_whitespace()
            .map(|w| w.chars().filter(|ch| ch.is_alphanumeric()).collect::<String>())
            .filter(|w| w.chars().count() >= 3 && !STOPWORDS.contains(&w.to_lowercase().as_str()))
            .collect();
        // The last two words usually name the niche: "smart coffee mug" → #coffeemug.
        let niche = (theme_words.len() >= 2).then(|| theme_words[theme_words.len() - 2..].concat());
        let compact_theme: String = c.theme.chars().filter(|ch| ch.is_alphanumeric()).collect();
        if compact_theme.chars().count() <= 24 {
            candidates.push(compact_theme);
        }
        candidates.extend(niche.clone());
        let platform_tag = match c.target_platform.as_str() {
            "youtube_shorts" => "#shorts",
            "instagram_reels" => "#reels",
            _ => "#fyp",
        };
        if let Some(report) = self.report {
            candidates.extend(
                report
                    .top_hashtags
                    .iter()
                    .map(|h| h.tag.clone())
                    .filter(|t| {
                        let t = normalize_tag(t).unwrap_or_default();
                        !PLATFORM_TAGS.contains(&t.as_str()) || t == platform_tag
                    })
                    .take(3),
            );
        }
        candidates.push(platform_tag.to_string());
        candidates.extend(theme_words.iter().rev().cloned());
        let general = if self.product.is_some() { "#musthave" } else { "#howto" };
        candidates.extend([general, "#tips", "#trending", "#viral", "#explore"].map(String::from));

        let mut tags: Vec<String> = Vec::new();
        for tag in candidates.iter().filter_map(|t| normalize_tag(t)) {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        tags.truncate(*HASHTAGS.end());
        tags
    }

    fn title(&self, hook_text: &str, points: &[&Point]) -> String {
        let cap = upper_first(&self.subject);
        match self.v % 3 {
            0 => match &self.tagline {
                Some(tagline) => format!("{cap} — {tagline}"),
                None => format!("{cap} in {} seconds", self.duration),
            },
            1 => hook_text.trim_end_matches('.').to_string(),
            _ => match points.first() {
                Some(p) => format!("{cap}: {}", lower_first(&p.text)),
                None => cap,
            },
        }
    }

    fn description(&self, hook_text: &str, cta_text: &str, points: &[&Point], hashtags: &[String]) -> String {
        let mut parts = vec![sentence(self.tagline.as_deref().unwrap_or(hook_text))];
        let listed: Vec<String> = points.iter().take(4).map(|p| lower_first(&p.text)).collect();
        let about = match &self.audience {
            Some(a) => format!("{} for {}: {}", upper_first(&self.subject), lower_first(a), listed.join("; ")),
            None => format!("{}: {}", upper_first(&self.subject), listed.join("; ")),
        };
        parts.push(sentence(&about));
        parts.push(sentence(cta_text));
        parts.push(hashtags.join(" "));
        parts.join(" ")
    }

    fn video_prompt(&self, scenes: usize) -> String {
        let c = &self.theme.config;
        let platform = match c.target_platform.as_str() {
            "youtube_shorts" => "YouTube Short",
            "instagram_reels" => "Instagram Reel",
            _ => "TikTok",
        };
        let mut prompt =
            format!("A {}-second vertical 9:16 {platform} about {}", self.duration, clip(&squash(&c.theme), 200));
        if let Some(product) = &self.product {
            prompt.push_str(&format!(" featuring {product}"));
        }
        if let Some(tagline) = &self.tagline {
            prompt.push_str(&format!(" (\"{tagline}\")"));
        }
        prompt.push_str(&format!(". Mood: {}.", self.mood));
        if let Some(audience) = &self.audience {
            prompt.push_str(&format!(" Audience: {audience}."));
        }
        prompt.push_str(&format!(
            " Structure: {} in {scenes} scenes, opening with a {} hook and closing on a call to action.",
            self.structure.describe(),
            self.hook.name()
        ));
        if let Some(first) = self.report.and_then(|r| r.recommendations.first()) {
            prompt.push_str(&format!(" Trend insight: {}", clip(&squash(first), 300)));
        }
        prompt.push_str(" Consistent color grade, smooth motion, no on-screen logos or watermarks.");
        prompt
    }
}

/// Tags that only make sense on one platform; the report's ones are kept only for their platform.
const PLATFORM_TAGS: [&str; 9] =
    ["#fyp", "#foryou", "#foryoupage", "#tiktok", "#shorts", "#youtubeshorts", "#youtube", "#reels", "#instagram"];

const STOPWORDS: [&str; 18] = [
    "with", "from", "that", "this", "your", "their", "about", "into", "for", "and", "the", "best", "more", "most",
    "very", "just", "how", "you",
];

/// Every supported platform (`tiktok`, `youtube_shorts`, `instagram_reels`) plays vertical video;
/// a future square or landscape target maps here.
fn aspect_ratio(_platform: &str) -> &'static str {
    "9:16"
}

/// `#` and lowercase letters, digits and `_` only; `None` if empty or longer than 60 bytes.
fn normalize_tag(raw: &str) -> Option<String> {
    let body: String = raw
        .trim()
        .trim_start_matches('#')
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .flat_map(char::to_lowercase)
        .collect();
    (!body.is_empty() && body.len() < 60).then(|| format!("#{body}"))
}

fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// The text up to its first comma, semicolon, colon, parenthesis or dash.
fn first_clause(text: &str) -> &str {
    text.split([',', ';', ':', '(', '—', '–']).next().unwrap_or_default().trim()
}

fn plural<'s>(n: usize, one: &'s str, many: &'s str) -> &'s str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// At most `max_chars` characters, cut at a word boundary when one is near, with `…` when cut.
fn clip(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    let cut = match cut.rfind(char::is_whitespace) {
        Some(i) if i > cut.len() / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end())
}

/// At most `max_words` words and `max_chars` characters.
fn clip_words(text: &str, max_words: usize, max_chars: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let joined = words.iter().take(max_words).copied().collect::<Vec<_>>().join(" ");
    if words.len() > max_words {
        clip(&format!("{joined}…"), max_chars)
    } else {
        clip(&joined, max_chars)
    }
}

fn upper_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Lower-cases the first letter so the text reads inside a sentence, unless it looks like a name.
fn lower_first(text: &str) -> String {
    let first_word = text.split_whitespace().next().unwrap_or_default();
    if first_word == "I" || first_word.starts_with("I'") || first_word.starts_with("I’") {
        return text.to_string();
    }
    // Internal capitals ("iPhone", "AquaPure", "NYC") or a capitalised second word ("Gen Z",
    // "New York") mark a name.
    let second_capital = text.split_whitespace().nth(1).and_then(|w| w.chars().next()).is_some_and(char::is_uppercase);
    if second_capital || first_word.chars().skip(1).any(char::is_uppercase) {
        return text.to_string();
    }
    let mut chars = text.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

/// Capitalised and ending in punctuation.
fn sentence(text: &str) -> String {
    let text = upper_first(text.trim());
    if text.ends_with(['.', '!', '?', '…']) {
        text
    } else {
        format!("{text}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shortline_shared::domain::{CommonPattern, ContentReference, HashtagCount, ThemeConfig, VideoStyle};

    fn theme(duration: u32, with_references: bool) -> Theme {
        Theme {
            config: ThemeConfig {
                theme: "Eco-friendly water bottles".into(),
                target_platform: "tiktok".into(),
                video_duration_seconds: duration,
                style: "energetic".into(),
                auto_post: false,
                product_name: Some("AquaPure".into()),
                tagline: Some("Hydrate sustainably".into()),
                target_audience: Some("Gen Z".into()),
                tone: Some("fun".into()),
                budget_usd: None,
                avatar: None,
                captions: Default::default(),
            },
            content_references: if with_references {
                vec![
                    ContentReference {
                        ref_id: "ref_001".into(),
                        kind: "product".into(),
                        title: "AquaPure bottle".into(),
                        description: "Keeps water cold for 24 hours".into(),
                        media_url: None,
                        talking_points: vec![
                            "Made from recycled steel".into(),
                            "Keeps water cold for 24 hours".into(),
                            "Fits every cup holder".into(),
                        ],
                    },
                    ContentReference {
                        ref_id: "ref_002".into(),
                        kind: "testimonial".into(),
                        title: "A happy hiker".into(),
                        description: "Best bottle I have owned. It survived a 3 m drop.".into(),
                        media_url: Some("https://example.com/hiker.jpg".into()),
                        talking_points: vec![],
                    },
                ]
            } else {
                vec![]
            },
        }
    }

    fn report() -> TrendReportBody {
        TrendReportBody {
            video_styles: vec![
                VideoStyle { category: "listicle".into(), confidence: 0.4, count: 4 },
                VideoStyle { category: "comedy".into(), confidence: 0.3, count: 3 },
            ],
            common_patterns: vec![
                CommonPattern {
                    format: "numbered list, one point per cut".into(),
                    avg_duration_seconds: 24.0,
                    hook_type: "number".into(),
                    uses_text_overlay: true,
                    audio_type: "voiceover".into(),
                },
                CommonPattern {
                    format: "relatable skit with a punchline".into(),
                    avg_duration_seconds: 14.0,
                    hook_type: "pov".into(),
                    uses_text_overlay: true,
                    audio_type: "trending_sound".into(),
                },
            ],
            avg_engagement_velocity: 1234.5,
            top_hashtags: vec![
                HashtagCount { tag: "#shorts".into(), count: 9 },
                HashtagCount { tag: "#hydration".into(), count: 5 },
                HashtagCount { tag: "#fyp".into(), count: 4 },
                HashtagCount { tag: "#GymTok".into(), count: 3 },
                HashtagCount { tag: "#hiking".into(), count: 2 },
                HashtagCount { tag: "#camping".into(), count: 1 },
            ],
            recommendations: vec![
                "Open with a number (\"3 things…\") and count through them — 40% of top videos do.".into()
            ],
        }
    }

    /// Every structural promise beyond `violations()`.
    fn check(plan: &ProductionPlan, theme: &Theme, context: &str) {
        assert_eq!(plan.violations(), vec![], "{context}");
        let d = f64::from(theme.config.video_duration_seconds);
        assert_eq!(plan.duration_seconds, d, "{context}");
        assert_eq!(plan.scenes.iter().map(|s| s.duration_seconds).sum::<f64>(), d, "{context}");
        assert!(plan.scenes.iter().all(|s| s.duration_seconds.fract() == 0.0), "{context}");
        assert_eq!(plan.aspect_ratio, "9:16");

        let prompts: std::collections::HashSet<_> = plan.scenes.iter().map(|s| &s.visual_prompt).collect();
        assert_eq!(prompts.len(), plan.scenes.len(), "distinct visual prompts: {context}");
        assert_eq!(plan.scenes.last().map(|s| s.transition), Some(Transition::Fade), "{context}");

        let target = d * WORDS_PER_SECOND;
        let words = plan.voiceover_script.split_whitespace().count() as f64;
        assert!(words >= target * 0.75 && words <= target * 1.3 + 2.0, "{words} words for {target}: {context}");

        let first = &plan.text_overlays[0];
        assert_eq!((first.start_seconds, first.position, first.style), (0.0, OverlayPosition::Top, OverlayStyle::Bold));
        assert_eq!(first.text, plan.hook_text);
        let last = plan.text_overlays.last().expect("overlays");
        assert_eq!(
            (last.end_seconds, last.position, last.style),
            (d, OverlayPosition::Bottom, OverlayStyle::Highlight)
        );
        assert_eq!(last.text, plan.cta_text);
        for (i, a) in plan.text_overlays.iter().enumerate() {
            for b in &plan.text_overlays[i + 1..] {
                let overlap = a.start_seconds < b.end_seconds && b.start_seconds < a.end_seconds;
                assert!(!(overlap && a.position == b.position), "{a:?} overlaps {b:?}: {context}");
            }
        }

        let unique: std::collections::HashSet<_> = plan.hashtags.iter().collect();
        assert_eq!(unique.len(), plan.hashtags.len(), "{context}");
        assert!(plan.hashtags.iter().all(|t| *t == t.to_lowercase()), "{context}");
    }

    #[test]
    fn every_duration_and_variant_gives_a_valid_plan() {
        let report = report();
        for duration in 6..=28 {
            for variant in 1..=3 {
                for with_references in [true, false] {
                    for report in [None, Some(&report)] {
                        let theme = theme(duration, with_references);
                        let context = format!(
                            "{duration} s, variant {variant}, refs {with_references}, report {}",
                            report.is_some()
                        );
                        let plan = TemplatePlanner.plan(&theme, report, variant).expect(&context);
                        check(&plan, &theme, &context);
                    }
                }
            }
        }
    }

    #[test]
    fn durations_split_into_whole_seconds() {
        let split = |d: u32, variant: u32| -> Vec<f64> {
            let plan = TemplatePlanner.plan(&theme(d, true), None, variant).expect("plan");
            plan.scenes.iter().map(|s| s.duration_seconds).collect()
        };
        assert_eq!(split(6, 1), [2.0, 2.0, 2.0]);
        assert_eq!(split(28, 2), [4.0; 7]);
        assert_eq!(split(20, 1), [3.0, 4.0, 4.0, 3.0, 3.0, 3.0]);
        assert_eq!(split(20, 2).len(), 7);
        assert_eq!(split(20, 3).len(), 5);
    }

    #[test]
    fn the_report_shapes_the_plan() {
        let theme = theme(20, true);
        let report = report();
        let plan = TemplatePlanner.plan(&theme, Some(&report), 1).expect("plan");
        // Top style "listicle" → numbered body, top hook "number" → a number hook.
        assert!(plan.hook_text.starts_with(|c: char| c.is_ascii_digit()), "{}", plan.hook_text);
        assert!(plan.text_overlays[1].text.starts_with("1. "), "{:?}", plan.text_overlays[1]);
        assert!(plan.scenes[1].visual_prompt.starts_with("Item 1 of"), "{}", plan.scenes[1].visual_prompt);
        assert!(plan.video_prompt.contains("Trend insight: Open with a number"), "{}", plan.video_prompt);
        // Topical report tags are used; other platforms' reach tags are not.
        assert!(plan.hashtags.contains(&"#hydration".to_string()), "{:?}", plan.hashtags);
        assert!(plan.hashtags.contains(&"#gymtok".to_string()), "{:?}", plan.hashtags);
        assert!(!plan.hashtags.contains(&"#shorts".to_string()), "{:?}", plan.hashtags);
        assert_eq!(plan.hashtags[..2], ["#aquapure".to_string(), "#ecofriendlywaterbottles".to_string()]);
        // The second variant follows the report's second hook.
        let second = TemplatePlanner.plan(&theme, Some(&report), 2).expect("plan");
        assert!(second.hook_text.starts_with("POV:"), "{}", second.hook_text);
        // Without a report, a product theme is a showcase.
        let plain = TemplatePlanner.plan(&theme, None, 1).expect("plan");
        assert!(plain.scenes[1].visual_prompt.starts_with("Shot 1"), "{}", plain.scenes[1].visual_prompt);
    }

    #[test]
    fn variants_differ_and_each_is_deterministic() {
        let report = report();
        for report in [None, Some(&report)] {
            for with_references in [true, false] {
                let theme = theme(18, with_references);
                let plans: Vec<_> = (1..=3).map(|v| TemplatePlanner.plan(&theme, report, v).expect("plan")).collect();
                for (i, a) in plans.iter().enumerate() {
                    for b in &plans[i + 1..] {
                        assert_ne!(a.hook_text, b.hook_text);
                        assert_ne!(a.title, b.title);
                        assert_ne!(a.cta_text, b.cta_text);
                    }
                }
                for (v, plan) in (1..=3).zip(&plans) {
                    assert_eq!(&TemplatePlanner.plan(&theme, report, v).expect("plan"), plan);
                }
            }
        }
        // With references, variants also lead with different talking points.
        let theme = theme(18, true);
        let first_points: Vec<String> = (1..=3)
            .map(|v| TemplatePlanner.plan(&theme, None, v).expect("plan").text_overlays[1].text.clone())
            .collect();
        assert_ne!(first_points[0], first_points[1]);
        assert_ne!(first_points[1], first_points[2]);
    }

    #[test]
    fn extreme_but_valid_themes_still_plan() {
        let long = "word ".repeat(38) + "end";
        let mut theme = theme(6, true);
        theme.config.theme = long.clone() + " #@!";
        theme.config.product_name = Some("Ünïcode Prödüct — 2000 ✨".repeat(8));
        theme.config.tagline = Some("  ".into());
        theme.config.target_audience = Some(long.clone());
        theme.config.tone = Some(long.clone());
        theme.config.style = "x".into();
        theme.config.target_platform = "youtube_shorts".into();
        theme.content_references[0].talking_points = vec!["".into(), "p ".repeat(2000), "🔥".into(), "q".repeat(5000)];
        theme.content_references[1].description = "d".repeat(10_000);
        assert_eq!(theme.violations(), vec![]);
        for duration in [6, 17, 28] {
            theme.config.video_duration_seconds = duration;
            for variant in [0, 1, 2, 3, 7, u32::MAX] {
                let plan = TemplatePlanner.plan(&theme, Some(&report()), variant).expect("plan");
                check(&plan, &theme, &format!("{duration} s, variant {variant}"));
                assert!(plan.hashtags.contains(&"#shorts".to_string()), "{:?}", plan.hashtags);
            }
        }
        // A report that says nothing usable is ignored, not an error.
        let empty = TrendReportBody {
            video_styles: vec![VideoStyle { category: "???".into(), confidence: 1.0, count: 1 }],
            common_patterns: vec![],
            avg_engagement_velocity: 0.0,
            top_hashtags: vec![HashtagCount { tag: "# #".into(), count: 1 }],
            recommendations: vec![],
        };
        let plan = TemplatePlanner.plan(&theme, Some(&empty), 1).expect("plan");
        check(&plan, &theme, "empty report");
    }

    #[test]
    fn an_invalid_theme_is_refused_with_its_violations() {
        let mut theme = theme(40, true);
        theme.config.target_platform = "myspace".into();
        let err = TemplatePlanner.plan(&theme, None, 1).expect_err("invalid");
        let PlanError::InvalidTheme(violations) = &err else { panic!("{err}") };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["config.target_platform", "config.video_duration_seconds"]);
        assert!(err.to_string().starts_with("invalid theme: config.target_platform"), "{err}");
    }

    #[test]
    fn every_theme_file_loads_and_plans() {
        let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../themes"));
        let mut paths: Vec<_> =
            std::fs::read_dir(dir).expect("themes/ exists").map(|e| e.expect("entry").path()).collect();
        paths.sort();
        let names: Vec<_> = paths.iter().filter_map(|p| p.file_name()?.to_str().map(String::from)).collect();
        for expected in ["product-demo.yaml", "cooking-niche.toml", "fitness-auto.toml"] {
            assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
        }
        let planner: Box<dyn Planner> = Box::new(TemplatePlanner);
        assert_eq!(planner.name(), "template");
        for path in &paths {
            let theme = Theme::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for variant in 1..=3 {
                for report in [None, Some(report())] {
                    let plan = planner.plan(&theme, report.as_ref(), variant).expect("plan");
                    check(&plan, &theme, &format!("{} variant {variant}", path.display()));
                }
            }
        }
        let fitness = Theme::load(&dir.join("fitness-auto.toml")).expect("loads");
        assert!(fitness.config.auto_post);
        let demo = Theme::load(&dir.join("product-demo.yaml")).expect("loads");
        assert_eq!(demo.content_references.len(), 3);
    }
}
