//! [`Draft`]: the inputs read once (subject, topic, mood, structure, hook, talking points), and
//! the templates that turn them into the plan's scenes, overlays, voiceover, title and description.

use shortline_domain::plan::{MAX_OVERLAY_CHARS, MAX_TEXT_CHARS, MAX_TITLE_CHARS, SCENES, SCENE_SECONDS};
use shortline_domain::{
    OverlayPosition, OverlayStyle, ProductionPlan, Scene, TextOverlay, Theme, Transition, TrendReportBody,
};

use super::structure::{Hook, Structure};
use super::text::{clip, clip_words, first_clause, lower_first, plural, sentence, squash, upper_first, word_count};
use super::WORDS_PER_SECOND;

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
pub(super) struct Draft<'a> {
    pub(super) theme: &'a Theme,
    pub(super) report: Option<&'a TrendReportBody>,
    /// 0-based variant (variant 1 → 0).
    v: usize,
    duration: u32,
    /// Product name or theme, short enough to speak and to fit an overlay.
    subject: String,
    /// The theme, lower-cased at the start so it reads inside a sentence.
    topic: String,
    pub(super) product: Option<String>,
    tagline: Option<String>,
    audience: Option<String>,
    mood: String,
    structure: Structure,
    hook: Hook,
    points: Vec<Point>,
    youtube: bool,
}

impl<'a> Draft<'a> {
    pub(super) fn new(theme: &'a Theme, report: Option<&'a TrendReportBody>, variant: u32) -> Self {
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

    pub(super) fn plan(&self) -> ProductionPlan {
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

/// Every supported platform (`tiktok`, `youtube_shorts`, `instagram_reels`) plays vertical video;
/// a future square or landscape target maps here.
pub(super) fn aspect_ratio(_platform: &str) -> &'static str {
    "9:16"
}
