//! Themes: what a pipeline run is about. The replaced system's YAML files load unchanged; TOML
//! works too. Loading reports every bad value with its field and the reason.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{describe, Violation};
use crate::text::{control_character, quote, shorten, MESSAGE_CHARS};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Theme {
    pub config: ThemeConfig,
    #[serde(default)]
    pub content_references: Vec<ContentReference>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThemeConfig {
    pub theme: String,
    #[serde(default = "default_platform")]
    pub target_platform: String,
    #[serde(default = "default_duration")]
    pub video_duration_seconds: u32,
    #[serde(default = "default_style")]
    pub style: String,
    #[serde(default)]
    pub auto_post: bool,
    #[serde(default)]
    pub product_name: Option<String>,
    #[serde(default)]
    pub tagline: Option<String>,
    #[serde(default)]
    pub target_audience: Option<String>,
    #[serde(default)]
    pub tone: Option<String>,
    /// The most a job of this theme may spend on paid providers, in USD; overrides
    /// `pipeline.job_budget_usd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    /// A presenter who speaks the voiceover on camera (`providers.avatar`), instead of clips
    /// and a voice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<ThemeAvatar>,
    /// Analyse the job's trend collection anew instead of reusing the report the same analyst
    /// settings already made of it.
    #[serde(default)]
    pub fresh_analysis: bool,
    /// How the voiceover's captions are burnt into the video.
    #[serde(default)]
    pub captions: CaptionStyle,
}

/// A theme's `config.captions`: `off`, `phrase` (the default: one phrase at a time, at most two
/// lines) or `word` (the phrase with the spoken word highlighted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptionStyle {
    Off,
    #[default]
    Phrase,
    Word,
}

/// A theme's `config.avatar`: the provider's ids of the presenter and of the voice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThemeAvatar {
    pub avatar_id: String,
    pub voice_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentReference {
    pub ref_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub media_url: Option<String>,
    #[serde(default)]
    pub talking_points: Vec<String>,
}

fn default_platform() -> String {
    "tiktok".into()
}
fn default_duration() -> u32 {
    20
}
fn default_style() -> String {
    "energetic".into()
}

pub const PLATFORMS: [&str; 3] = ["tiktok", "youtube_shorts", "instagram_reels"];
/// The replaced system's spellings of [`PLATFORMS`], accepted and stored as today's value.
const PLATFORM_ALIASES: [(&str, &str); 6] = [
    ("youtube", "youtube_shorts"),
    ("youtube-shorts", "youtube_shorts"),
    ("shorts", "youtube_shorts"),
    ("instagram", "instagram_reels"),
    ("instagram-reels", "instagram_reels"),
    ("reels", "instagram_reels"),
];
pub const REFERENCE_KINDS: [&str; 5] = ["product", "feature", "testimonial", "url", "image"];
/// A plan has 3–7 scenes of 2–4 s, so these are the durations a theme may ask for.
pub const DURATION_SECONDS: std::ops::RangeInclusive<u32> = 6..=28;
/// The most a theme may take, in bytes: the text its file expands to (a YAML alias counts each
/// time it is used) and its stored JSON. Themes are a few KiB; this keeps a job row, and every
/// message that carries its theme, small.
pub const MAX_THEME_BYTES: usize = 128 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("cannot read theme file {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("theme file {path}: unknown format (use .yaml, .yml or .toml)")]
    UnknownFormat { path: String },
    #[error("theme file {path} is not UTF-8: invalid byte at position {position}")]
    NotUtf8 { path: String, position: usize },
    /// The text does not parse, or a value has the wrong type; `field` names the value (empty
    /// when the problem is the whole text's).
    #[error("theme is not valid {format}: {}{message}", if .field.is_empty() { String::new() } else { format!("{}: ", .field) })]
    Syntax { format: &'static str, field: String, message: String },
    #[error("invalid theme: {}", describe(.0))]
    Invalid(Vec<Violation>),
    #[error("theme is too large: {0}")]
    TooLarge(String),
}

/// A parser's error names the offending text, which may be all of a huge value: bounded.
fn syntax(format: &'static str, error: impl std::fmt::Display) -> ThemeError {
    ThemeError::Syntax { format, field: String::new(), message: shorten(&error.to_string(), MESSAGE_CHARS) }
}

/// Deserializes a theme, naming the field of a type error, and of a missing field the field
/// itself (`config: is required`), not the value around it.
fn deserialize<'de, D>(format: &'static str, deserializer: D) -> Result<Theme, ThemeError>
where
    D: serde::Deserializer<'de>,
    D::Error: std::fmt::Display,
{
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let parent = if path == "." { String::new() } else { path };
        let message = error.into_inner().to_string();
        // serde_yaml starts its messages with the path it tracks itself.
        let message = message.strip_prefix(&format!("{parent}: ")).unwrap_or(&message);
        let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
        let (field, message) = match missing {
            Some(name) if parent.is_empty() => (name.to_owned(), "is required"),
            Some(name) => (format!("{parent}.{name}"), "is required"),
            None => (parent, message),
        };
        ThemeError::Syntax { format, field, message: shorten(message, MESSAGE_CHARS) }
    })
}

impl Theme {
    /// Loads a `.yaml`/`.yml` (the replaced system's layout) or `.toml` theme file.
    pub fn load(path: &Path) -> Result<Self, ThemeError> {
        let display = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ThemeError::Io { path: display.clone(), source })?;
        let text = String::from_utf8(bytes)
            .map_err(|e| ThemeError::NotUtf8 { path: display.clone(), position: e.utf8_error().valid_up_to() })?;
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("yaml" | "yml") => Self::from_yaml(&text),
            Some("toml") => Self::from_toml(&text),
            _ => Err(ThemeError::UnknownFormat { path: display }),
        }
    }

    pub fn from_yaml(text: &str) -> Result<Self, ThemeError> {
        // Measured before anything is built: one anchored value aliased a thousand times would
        // otherwise expand a 100 KiB file to a 100 MiB theme.
        let total = std::cell::Cell::new(0);
        let expanded = ExpandedSize { total: &total, limit: MAX_THEME_BYTES };
        if let Err(error) = serde::de::DeserializeSeed::deserialize(expanded, serde_yaml::Deserializer::from_str(text))
        {
            return Err(if total.get() > MAX_THEME_BYTES {
                ThemeError::TooLarge(format!(
                    "it expands to more than the limit of {MAX_THEME_BYTES} bytes (an alias counts each time it is used)"
                ))
            } else {
                syntax("YAML", error)
            });
        }
        deserialize("YAML", serde_yaml::Deserializer::from_str(text))?.validated()
    }

    pub fn from_toml(text: &str) -> Result<Self, ThemeError> {
        let deserializer = toml::Deserializer::parse(text).map_err(|e| syntax("TOML", e))?;
        deserialize("TOML", deserializer)?.validated()
    }

    /// Parses a theme sent inline (JSON, as the API carries it).
    pub fn from_json(text: &str) -> Result<Self, ThemeError> {
        deserialize("JSON", &mut serde_json::Deserializer::from_str(text))?.validated()
    }

    pub fn validated(mut self) -> Result<Self, ThemeError> {
        self.normalize();
        let v = self.violations();
        if !v.is_empty() {
            return Err(ThemeError::Invalid(v));
        }
        self.check_stored_size().map_err(ThemeError::TooLarge)?;
        Ok(self)
    }

    /// Replaces the replaced system's spellings (`youtube`, `Instagram`, ...) with today's values.
    pub fn normalize(&mut self) {
        let platform = self.config.target_platform.trim().to_ascii_lowercase();
        let canonical = PLATFORMS
            .iter()
            .find(|p| **p == platform)
            .or_else(|| PLATFORM_ALIASES.iter().find(|(alias, _)| *alias == platform).map(|(_, p)| p));
        if let Some(canonical) = canonical {
            self.config.target_platform = (*canonical).to_owned();
        }
    }

    /// Whether the theme's stored JSON fits [`MAX_THEME_BYTES`]; the reason if not.
    pub fn check_stored_size(&self) -> Result<(), String> {
        let bytes = serde_json::to_vec(self).map_or(usize::MAX, |json| json.len());
        if bytes > MAX_THEME_BYTES {
            Err(format!("it takes {bytes} bytes stored, more than the limit of {MAX_THEME_BYTES} bytes"))
        } else {
            Ok(())
        }
    }

    pub fn violations(&self) -> Vec<Violation> {
        let mut v = Vec::new();
        let c = &self.config;
        if c.theme.trim().is_empty() {
            v.push(Violation::new("config.theme", "must not be empty"));
        } else if c.theme.chars().count() > 200 {
            v.push(Violation::new("config.theme", "longer than 200 characters"));
        }
        if !PLATFORMS.contains(&c.target_platform.as_str()) {
            v.push(Violation::new(
                "config.target_platform",
                format!("{} is not one of {PLATFORMS:?}", quote(&c.target_platform)),
            ));
        }
        if !DURATION_SECONDS.contains(&c.video_duration_seconds) {
            v.push(Violation::new(
                "config.video_duration_seconds",
                format!(
                    "{} is outside {}..={}",
                    c.video_duration_seconds,
                    DURATION_SECONDS.start(),
                    DURATION_SECONDS.end()
                ),
            ));
        }
        if c.style.trim().is_empty() {
            v.push(Violation::new("config.style", "must not be empty"));
        } else if c.style.chars().count() > 200 {
            v.push(Violation::new("config.style", "longer than 200 characters"));
        }
        for (name, value) in [
            ("product_name", &c.product_name),
            ("tagline", &c.tagline),
            ("target_audience", &c.target_audience),
            ("tone", &c.tone),
        ] {
            if let Some(value) = value {
                if value.chars().count() > 200 {
                    v.push(Violation::new(format!("config.{name}"), "longer than 200 characters"));
                }
            }
        }
        if let Some(budget) = c.budget_usd {
            if !(budget.is_finite() && budget >= 0.0) {
                v.push(Violation::new("config.budget_usd", format!("must be 0 or more USD, got {budget}")));
            }
        }
        if let Some(avatar) = &c.avatar {
            for (field, value) in [("avatar_id", &avatar.avatar_id), ("voice_id", &avatar.voice_id)] {
                if value.trim().is_empty() || value.len() > 200 {
                    v.push(Violation::new(format!("config.avatar.{field}"), "must be an id of 1 to 200 characters"));
                }
            }
        }
        for (field, value) in self.text_fields() {
            if let Some(reason) = control_character(value) {
                v.push(Violation::new(field, reason));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, r) in self.content_references.iter().enumerate() {
            let field = format!("content_references[{i}]");
            if r.ref_id.trim().is_empty() {
                v.push(Violation::new(format!("{field}.ref_id"), "must not be empty"));
            } else if !seen.insert(r.ref_id.as_str()) {
                v.push(Violation::new(format!("{field}.ref_id"), format!("{} is used twice", quote(&r.ref_id))));
            }
            if !REFERENCE_KINDS.contains(&r.kind.as_str()) {
                v.push(Violation::new(
                    format!("{field}.type"),
                    format!("{} is not one of {REFERENCE_KINDS:?}", quote(&r.kind)),
                ));
            }
            if r.title.trim().is_empty() {
                v.push(Violation::new(format!("{field}.title"), "must not be empty"));
            }
            if r.talking_points.len() > 10 {
                v.push(Violation::new(format!("{field}.talking_points"), "at most 10"));
            }
        }
        v
    }

    /// Every text value of the theme with its field path: the values that are stored and
    /// spoken, so each obeys the rules of stored text.
    fn text_fields(&self) -> Vec<(String, &str)> {
        let c = &self.config;
        let mut fields: Vec<(String, &str)> = vec![
            ("config.theme".into(), &c.theme),
            ("config.target_platform".into(), &c.target_platform),
            ("config.style".into(), &c.style),
        ];
        for (name, value) in [
            ("product_name", &c.product_name),
            ("tagline", &c.tagline),
            ("target_audience", &c.target_audience),
            ("tone", &c.tone),
        ] {
            fields.extend(value.as_deref().map(|value| (format!("config.{name}"), value)));
        }
        if let Some(avatar) = &c.avatar {
            fields.push(("config.avatar.avatar_id".into(), &avatar.avatar_id));
            fields.push(("config.avatar.voice_id".into(), &avatar.voice_id));
        }
        for (i, r) in self.content_references.iter().enumerate() {
            let field = format!("content_references[{i}]");
            fields.push((format!("{field}.ref_id"), &r.ref_id));
            fields.push((format!("{field}.type"), &r.kind));
            fields.push((format!("{field}.title"), &r.title));
            fields.push((format!("{field}.description"), &r.description));
            fields.extend(r.media_url.as_deref().map(|url| (format!("{field}.media_url"), url)));
            for (j, point) in r.talking_points.iter().enumerate() {
                fields.push((format!("{field}.talking_points[{j}]"), point));
            }
        }
        fields
    }
}

/// Walks a YAML document as it expands (aliases replayed) without building anything, adding up
/// its text and one byte per node, and fails once the total passes `limit`.
#[derive(Clone, Copy)]
struct ExpandedSize<'a> {
    total: &'a std::cell::Cell<usize>,
    limit: usize,
}

impl ExpandedSize<'_> {
    fn add<E: serde::de::Error>(self, bytes: usize) -> Result<(), E> {
        let total = self.total.get().saturating_add(bytes.saturating_add(1));
        self.total.set(total);
        if total > self.limit {
            Err(E::custom("too large"))
        } else {
            Ok(())
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for ExpandedSize<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ExpandedSize<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a theme")
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.add(0)
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.add(0)
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.add(0)
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.add(0)
    }
    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<(), E> {
        self.add(value.len())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.add(0)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.add(0)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        self.add(0)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        self.add(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captions_default_to_phrase_and_take_off_phrase_or_word() {
        assert_eq!(Theme::from_yaml("config:\n  theme: x\n").expect("theme").config.captions, CaptionStyle::Phrase);
        let word = Theme::from_toml("[config]\ntheme = \"x\"\ncaptions = \"word\"\n").expect("theme");
        assert_eq!(word.config.captions, CaptionStyle::Word);
        // Unquoted: YAML 1.2 (serde_yaml) reads `off` as a string, not a boolean.
        let off = Theme::from_yaml("config:\n  theme: x\n  captions: off\n").expect("theme");
        assert_eq!(off.config.captions, CaptionStyle::Off);
        match Theme::from_yaml("config:\n  theme: x\n  captions: big\n") {
            Err(ThemeError::Syntax { field, .. }) => assert_eq!(field, "config.captions"),
            other => panic!("{other:?}"),
        }
    }

    const OLD_LAYOUT: &str = r#"
config:
  theme: "Eco-friendly water bottles"
  target_platform: tiktok
  video_duration_seconds: 20
  style: energetic
  auto_post: false
  product_name: "AquaPure"
  tagline: "Hydrate sustainably"
  target_audience: "Gen Z"
  tone: "fun"
content_references:
  - ref_id: "ref_001"
    type: product
    title: "AquaPure bottle"
    description: "Keeps water cold for 24 hours"
    media_url: null
    talking_points:
      - "Made from recycled steel"
"#;

    #[test]
    fn the_old_yaml_layout_loads() {
        let theme = Theme::from_yaml(OLD_LAYOUT).expect("loads");
        assert_eq!(theme.config.product_name.as_deref(), Some("AquaPure"));
        assert_eq!(theme.content_references[0].kind, "product");
    }

    #[test]
    fn bad_values_name_their_field() {
        let text = OLD_LAYOUT
            .replace("video_duration_seconds: 20", "video_duration_seconds: 99")
            .replace("type: product", "type: rumour");
        let err = Theme::from_yaml(&text).expect_err("invalid");
        let message = err.to_string();
        assert!(message.contains("config.video_duration_seconds: 99 is outside"), "{message}");
        assert!(message.contains("content_references[0].type"), "{message}");
    }

    #[test]
    fn control_characters_are_refused_in_every_text_field() {
        let text = OLD_LAYOUT
            .replace("Eco-friendly water bottles", "Eco\\u0000friendly")
            .replace("Hydrate sustainably", "Hydrate\\u0007 sustainably")
            .replace("Keeps water cold for 24 hours", "Keeps water\\u0000 cold")
            .replace("Made from recycled steel", "Made\\u001b[31m from steel");
        let err = Theme::from_yaml(&text).expect_err("control characters");
        let message = err.to_string();
        for field in [
            "config.theme",
            "config.tagline",
            "content_references[0].description",
            "content_references[0].talking_points[0]",
        ] {
            assert!(message.contains(&format!("{field}: contains the control character")), "{field}: {message}");
        }
        let fine = OLD_LAYOUT.replace("Keeps water cold for 24 hours", "Keeps water cold\\n\\tfor 24 hours");
        Theme::from_yaml(&fine).expect("newline and tab are text");
    }

    /// A theme file of `count` references sharing one anchored 1 KiB description.
    fn aliased(count: usize) -> String {
        let mut text = format!(
            "config:\n  theme: t\ncontent_references:\n  - {{ref_id: r0, type: product, title: t, description: &big \"{}\"}}\n",
            "x".repeat(1024)
        );
        for i in 1..count {
            text.push_str(&format!("  - {{ref_id: r{i}, type: product, title: t, description: *big}}\n"));
        }
        text
    }

    #[test]
    fn aliases_count_each_time_they_are_used() {
        let text = aliased(200); // 12 KiB expanding to 200 KiB
        assert!(text.len() < 16 * 1024);
        let message = Theme::from_yaml(&text).expect_err("too large once expanded").to_string();
        assert!(message.contains(&format!("expands to more than the limit of {MAX_THEME_BYTES} bytes")), "{message}");
        Theme::from_yaml(&aliased(50)).expect("50 KiB expanded fits");
    }

    #[test]
    fn a_theme_too_large_to_store_is_refused() {
        let text = OLD_LAYOUT.replace("Keeps water cold for 24 hours", &"x".repeat(MAX_THEME_BYTES));
        let parsed: Theme = serde_yaml::from_str(&text).expect("parses");
        let message = parsed.validated().expect_err("too large").to_string();
        assert!(message.contains(&format!("more than the limit of {MAX_THEME_BYTES} bytes")), "{message}");
    }

    #[test]
    fn type_errors_and_missing_fields_name_their_field() {
        let cases = [
            (
                Theme::from_yaml(&OLD_LAYOUT.replace("video_duration_seconds: 20", "video_duration_seconds: soon")),
                "config.video_duration_seconds",
            ),
            (Theme::from_yaml(&OLD_LAYOUT.replace("auto_post: false", "auto_post: [1]")), "config.auto_post"),
            (
                Theme::from_yaml(&OLD_LAYOUT.replace("    title: \"AquaPure bottle\"\n", "")),
                "content_references[0].title",
            ),
            (
                Theme::from_toml("[config]\ntheme = \"t\"\nvideo_duration_seconds = \"20\"\n"),
                "config.video_duration_seconds",
            ),
            (Theme::from_json(r#"{"config": {"theme": 7}}"#), "config.theme"),
        ];
        for (result, field) in cases {
            match result {
                Err(ThemeError::Syntax { field: got, message, .. }) => {
                    assert_eq!(got, field, "{message}");
                    assert!(!message.starts_with(field), "the field only once: {message}");
                }
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_theme_without_config_says_config_is_required() {
        let text = OLD_LAYOUT.split("content_references:").nth(1).map(|rest| format!("content_references:{rest}"));
        match Theme::from_yaml(&text.expect("references")) {
            Err(ThemeError::Syntax { field, message, .. }) => {
                assert_eq!((field.as_str(), message.as_str()), ("config", "is required"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_file_that_is_not_utf8_gives_the_byte_position() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("latin1.yaml");
        std::fs::write(&path, b"config:\n  theme: \"Caf\xe9\"\n").expect("write");
        match Theme::load(&path) {
            Err(error @ ThemeError::NotUtf8 { position: 21, .. }) => {
                assert!(error.to_string().contains("invalid byte at position 21"), "{error}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_replaced_systems_platform_spellings_are_aliases() {
        for (old, today) in [
            ("youtube", "youtube_shorts"),
            ("instagram", "instagram_reels"),
            ("YouTube", "youtube_shorts"),
            ("Instagram-Reels", "instagram_reels"),
            ("TikTok", "tiktok"),
            ("youtube_shorts", "youtube_shorts"),
        ] {
            let theme =
                Theme::from_yaml(&OLD_LAYOUT.replace("target_platform: tiktok", &format!("target_platform: {old}")))
                    .unwrap_or_else(|e| panic!("{old}: {e}"));
            assert_eq!(theme.config.target_platform, today, "{old}");
        }
        let error = Theme::from_yaml(&OLD_LAYOUT.replace("target_platform: tiktok", "target_platform: myspace"));
        assert!(error.expect_err("unknown").to_string().contains("config.target_platform: `myspace` is not one of"));
    }
}
