//! The production plan a script stage writes: scenes, voiceover, overlays and metadata.

use serde::{Deserialize, Serialize};

use super::Violation;

/// Bounds of a plan, from the replaced system's planner prompt (3–7 scenes of 2–4 s, 5–8 tags).
pub const SCENES: std::ops::RangeInclusive<usize> = 3..=7;
pub const SCENE_SECONDS: std::ops::RangeInclusive<f64> = 2.0..=4.0;
pub const HASHTAGS: std::ops::RangeInclusive<usize> = 5..=8;
pub const MAX_OVERLAYS: usize = 12;
pub const MAX_OVERLAY_CHARS: usize = 120;
pub const MAX_TEXT_CHARS: usize = 2_000;
pub const MAX_TITLE_CHARS: usize = 150;
/// The longest hashtag, `#` included.
pub const MAX_HASHTAG_BYTES: usize = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    Cut,
    Fade,
    Dissolve,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverlayPosition {
    Top,
    Center,
    Bottom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverlayStyle {
    Bold,
    Normal,
    Highlight,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    /// 1-based and consecutive.
    pub number: u32,
    pub duration_seconds: f64,
    pub visual_prompt: String,
    /// How this scene is entered from the previous one (ignored for the first scene).
    pub transition: Transition,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextOverlay {
    pub text: String,
    pub start_seconds: f64,
    pub end_seconds: f64,
    pub position: OverlayPosition,
    pub style: OverlayStyle,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductionPlan {
    pub video_prompt: String,
    /// Always the sum of the scenes' durations (checked by `validate`).
    pub duration_seconds: f64,
    /// "9:16", "1:1" or "16:9".
    pub aspect_ratio: String,
    pub scenes: Vec<Scene>,
    pub voiceover_script: String,
    pub hook_text: String,
    pub cta_text: String,
    pub text_overlays: Vec<TextOverlay>,
    pub hashtags: Vec<String>,
    pub title: String,
    pub description: String,
}

pub const ASPECT_RATIOS: [&str; 3] = ["9:16", "1:1", "16:9"];

impl ProductionPlan {
    /// Every rule the plan breaks; empty when it may be stored.
    pub fn violations(&self) -> Vec<Violation> {
        let mut v = Vec::new();
        text(&mut v, "video_prompt", &self.video_prompt, MAX_TEXT_CHARS);
        text(&mut v, "voiceover_script", &self.voiceover_script, MAX_TEXT_CHARS);
        text(&mut v, "hook_text", &self.hook_text, MAX_OVERLAY_CHARS);
        text(&mut v, "cta_text", &self.cta_text, MAX_OVERLAY_CHARS);
        text(&mut v, "title", &self.title, MAX_TITLE_CHARS);
        text(&mut v, "description", &self.description, MAX_TEXT_CHARS);
        if !ASPECT_RATIOS.contains(&self.aspect_ratio.as_str()) {
            v.push(Violation::new("aspect_ratio", format!("must be one of {ASPECT_RATIOS:?}")));
        }
        if !SCENES.contains(&self.scenes.len()) {
            v.push(Violation::new(
                "scenes",
                format!("has {} scenes, must have {} to {}", self.scenes.len(), SCENES.start(), SCENES.end()),
            ));
        }
        for (i, scene) in self.scenes.iter().enumerate() {
            let field = format!("scenes[{i}]");
            if scene.number as usize != i + 1 {
                v.push(Violation::new(format!("{field}.number"), format!("must be {}", i + 1)));
            }
            if !SCENE_SECONDS.contains(&scene.duration_seconds) {
                v.push(Violation::new(
                    format!("{field}.duration_seconds"),
                    format!(
                        "{} is outside {}..={} s",
                        scene.duration_seconds,
                        SCENE_SECONDS.start(),
                        SCENE_SECONDS.end()
                    ),
                ));
            }
            text(&mut v, &format!("{field}.visual_prompt"), &scene.visual_prompt, MAX_TEXT_CHARS);
        }
        let total: f64 = self.scenes.iter().map(|s| s.duration_seconds).sum();
        if (total - self.duration_seconds).abs() > 0.01 {
            v.push(Violation::new(
                "duration_seconds",
                format!("is {} but the scenes add up to {total}", self.duration_seconds),
            ));
        }
        if self.text_overlays.len() > MAX_OVERLAYS {
            v.push(Violation::new("text_overlays", format!("at most {MAX_OVERLAYS} overlays")));
        }
        for (i, overlay) in self.text_overlays.iter().enumerate() {
            let field = format!("text_overlays[{i}]");
            text(&mut v, &format!("{field}.text"), &overlay.text, MAX_OVERLAY_CHARS);
            if !(overlay.start_seconds >= 0.0 && overlay.start_seconds < overlay.end_seconds) {
                v.push(Violation::new(format!("{field}.start_seconds"), "must be >= 0 and before end_seconds"));
            }
            if overlay.end_seconds > self.duration_seconds + 1e-9 {
                v.push(Violation::new(
                    format!("{field}.end_seconds"),
                    format!("{} is past the end of the video ({} s)", overlay.end_seconds, self.duration_seconds),
                ));
            }
        }
        if !HASHTAGS.contains(&self.hashtags.len()) {
            v.push(Violation::new(
                "hashtags",
                format!("has {}, must have {} to {}", self.hashtags.len(), HASHTAGS.start(), HASHTAGS.end()),
            ));
        }
        for (i, tag) in self.hashtags.iter().enumerate() {
            let valid = tag.starts_with('#')
                && tag.len() > 1
                && tag.len() <= MAX_HASHTAG_BYTES
                && !tag.chars().any(char::is_whitespace);
            if !valid {
                v.push(Violation::new(
                    format!("hashtags[{i}]"),
                    "must be `#` and a word with no spaces, at most 60 bytes",
                ));
            }
        }
        v
    }
}

#[cfg(any(test, feature = "fixtures"))]
impl ProductionPlan {
    /// A sound 9 s plan (three 3 s scenes joined by fades, one overlay, five hashtags): what
    /// tests start from.
    pub fn sample() -> ProductionPlan {
        ProductionPlan {
            video_prompt: "a bright product demo".into(),
            duration_seconds: 9.0,
            aspect_ratio: "9:16".into(),
            scenes: (1..=3)
                .map(|n| Scene {
                    number: n,
                    duration_seconds: 3.0,
                    visual_prompt: format!("shot {n}"),
                    transition: Transition::Fade,
                })
                .collect(),
            voiceover_script: "Hello there.".into(),
            hook_text: "Wait for it".into(),
            cta_text: "Follow for more".into(),
            text_overlays: vec![TextOverlay {
                text: "Wait for it".into(),
                start_seconds: 0.0,
                end_seconds: 3.0,
                position: OverlayPosition::Top,
                style: OverlayStyle::Bold,
            }],
            hashtags: ["#a", "#b", "#c", "#d", "#e"].map(String::from).to_vec(),
            title: "Demo".into(),
            description: "A demo".into(),
        }
    }
}

/// Normalises one hashtag: a leading `#`, lowercase, only letters, digits and `_` (spaces and
/// punctuation are dropped, so a YouTube tag `"Knife Sharpening"` becomes `#knifesharpening`).
/// `None` when nothing is left or the result is longer than [`MAX_HASHTAG_BYTES`]. Trend
/// parsers, the analyst and the planner all use it, so a tag counted in a report is the tag a
/// plan writes.
pub fn normalize_hashtag(raw: &str) -> Option<String> {
    let body: String = raw
        .trim()
        .trim_start_matches('#')
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .flat_map(char::to_lowercase)
        .collect();
    if body.is_empty() || body.len() + 1 > MAX_HASHTAG_BYTES {
        return None;
    }
    Some(format!("#{body}"))
}

fn text(v: &mut Vec<Violation>, field: &str, value: &str, max_chars: usize) {
    if value.trim().is_empty() {
        v.push(Violation::new(field, "must not be empty"));
    } else if value.chars().count() > max_chars {
        v.push(Violation::new(field, format!("longer than {max_chars} characters")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sound_plan_has_no_violations() {
        assert_eq!(ProductionPlan::sample().violations(), vec![]);
    }

    #[test]
    fn tags_are_lowercase_with_one_leading_hash_and_no_spaces() {
        assert_eq!(normalize_hashtag("#FoodTok").as_deref(), Some("#foodtok"));
        assert_eq!(normalize_hashtag("Knife Sharpening").as_deref(), Some("#knifesharpening"));
        assert_eq!(normalize_hashtag("##75Hard").as_deref(), Some("#75hard"));
        assert_eq!(normalize_hashtag("what_i_eat").as_deref(), Some("#what_i_eat"));
        assert_eq!(normalize_hashtag("  #  "), None);
        assert_eq!(normalize_hashtag(&"x".repeat(59)).map(|t| t.len()), Some(60));
        assert_eq!(normalize_hashtag(&"x".repeat(60)), None);
    }

    #[test]
    fn overlays_past_the_end_and_bad_counts_are_named() {
        let mut plan = ProductionPlan::sample();
        plan.text_overlays[0].end_seconds = 12.0;
        plan.scenes.truncate(2);
        plan.duration_seconds = 6.0;
        plan.hashtags.push("no hash".into());
        let fields: Vec<_> = plan.violations().into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["scenes", "text_overlays[0].end_seconds", "hashtags[5]"]);
    }
}
