//! `[providers]`: which providers make what ([`ProvidersConfig`], the provider name enums,
//! [`ProviderSet`]), each real provider's section, model [`Price`]s, and the section's checks.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::validate::{check_endpoint_url, Problems};

/// `[providers]`: which providers make what, and how the real (HTTP) ones are reached.
///
/// `set` picks the family every kind defaults to (`offline` unless told otherwise). A non-empty
/// per-kind list (`voice`, `clips`) replaces the set's provider of that kind with real providers
/// tried in that order: the next one is tried when one answers 402, 429 or a 5xx that outlived
/// its retries. Each real provider has a section with its base URL, timeout, model and key file;
/// its key comes from that file or the environment (never from this file, so a config dump
/// cannot leak it). Every model a listed provider uses needs a price: the provider catalogue's
/// ([`crate::catalogue`]), or one in `prices`, which also overrides the catalogue's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProvidersConfig {
    pub set: ProviderSet,
    /// Voice providers in failover order; empty: the set's own (espeak-ng, or null).
    pub voice: Vec<VoiceProviderName>,
    /// Clip providers in failover order; empty: the set's own (procedural, or null).
    pub clips: Vec<ClipProviderName>,
    /// Real trend sources; empty: the bundled samples. When set, only these are collected.
    pub trends: Vec<TrendSourceName>,
    /// The LLM analyst of trend reports; unset: the heuristic analyst.
    pub analyst: Option<LlmProviderName>,
    /// The LLM that writes production plans; unset: the template planner.
    pub planner: Option<LlmProviderName>,
    /// The avatar video provider used for themes that ask for an avatar (it replaces the clips
    /// and the voice); unset: such themes are refused.
    pub avatar: Option<AvatarProviderName>,
    pub http: ProviderHttpConfig,
    pub openai: OpenAiConfig,
    pub elevenlabs: ElevenLabsConfig,
    pub fish_audio: FishAudioConfig,
    pub fal: FalConfig,
    pub pexels: PexelsConfig,
    pub apify: ApifyConfig,
    pub youtube: YoutubeConfig,
    pub anthropic: AnthropicConfig,
    pub openai_compatible: OpenAiCompatibleConfig,
    pub heygen: HeygenConfig,
    /// Price per model id, in micro-USD (`[providers.prices."tts-1"] per_1k_characters = 15000`),
    /// over the catalogue's; needed for a model the catalogue does not know.
    pub prices: std::collections::BTreeMap<String, Price>,
}

impl ProvidersConfig {
    /// The price of `model`: the configured one, else the provider catalogue's.
    pub fn price(&self, model: &str) -> Option<&Price> {
        self.prices.get(model).or_else(|| crate::catalogue::default_price(model))
    }

    /// The price of every model the listed providers use (see [`ProvidersConfig::price`]).
    pub fn effective_prices(&self) -> std::collections::BTreeMap<String, Price> {
        let mut prices = self.prices.clone();
        for (model, _) in self.priced_models() {
            if let Some(price) = self.price(&model) {
                prices.entry(model).or_insert(*price);
            }
        }
        prices
    }

    /// The model the LLM `llm` is configured with.
    pub fn llm_model(&self, llm: LlmProviderName) -> &str {
        match llm {
            LlmProviderName::Anthropic => &self.anthropic.model,
            LlmProviderName::OpenaiCompatible => &self.openai_compatible.model,
        }
    }

    /// The models the listed providers use, with who uses them (for price checks and listings).
    /// Pexels stock footage is free and needs no price.
    pub fn priced_models(&self) -> Vec<(String, String)> {
        let mut models = Vec::new();
        for voice in &self.voice {
            let model = match voice {
                VoiceProviderName::Openai => &self.openai.tts_model,
                VoiceProviderName::Elevenlabs => &self.elevenlabs.model,
                VoiceProviderName::FishAudio => &self.fish_audio.model,
            };
            models.push((model.clone(), format!("voice provider {}", voice.as_str())));
        }
        for clips in &self.clips {
            let model = match clips {
                ClipProviderName::FalKling => &self.fal.kling_model,
                ClipProviderName::FalMinimax => &self.fal.minimax_model,
                ClipProviderName::Pexels => continue,
            };
            models.push((model.clone(), format!("clip provider {}", clips.as_str())));
        }
        if let Some(avatar) = self.avatar {
            models.push((self.heygen.model.clone(), format!("avatar provider {}", avatar.as_str())));
        }
        for (role, llm) in [("analyst", self.analyst), ("planner", self.planner)] {
            if let Some(llm) = llm {
                models.push((self.llm_model(llm).to_owned(), format!("{role} {}", llm.as_str())));
            }
        }
        models
    }

    pub(crate) fn check(&self, v: &mut Problems) {
        for (i, voice) in self.voice.iter().enumerate() {
            if self.voice[..i].contains(voice) {
                v.push("providers.voice", format!("`{}` is listed twice", voice.as_str()));
            }
        }
        for (i, clips) in self.clips.iter().enumerate() {
            if self.clips[..i].contains(clips) {
                v.push("providers.clips", format!("`{}` is listed twice", clips.as_str()));
            }
        }
        let h = &self.http;
        v.check(h.backoff_initial_ms > 0, "providers.http.backoff_initial_ms", "must be greater than 0");
        v.check(
            h.backoff_max_ms >= h.backoff_initial_ms,
            "providers.http.backoff_max_ms",
            format!("must be at least providers.http.backoff_initial_ms ({})", h.backoff_initial_ms),
        );
        v.check(h.poll_interval_ms > 0, "providers.http.poll_interval_ms", "must be greater than 0");
        v.check(
            h.generation_timeout_seconds > 0,
            "providers.http.generation_timeout_seconds",
            "must be greater than 0",
        );
        v.check(h.download_timeout_seconds > 0, "providers.http.download_timeout_seconds", "must be greater than 0");
        // (section, base_url, timeout_ms, required names)
        type Section<'a> = (&'a str, &'a str, u64, Vec<(&'a str, &'a str)>);
        let sections: [Section<'_>; 10] = [
            (
                "openai",
                &self.openai.base_url,
                self.openai.timeout_ms,
                vec![("tts_model", &self.openai.tts_model), ("tts_voice", &self.openai.tts_voice)],
            ),
            (
                "elevenlabs",
                &self.elevenlabs.base_url,
                self.elevenlabs.timeout_ms,
                vec![("model", &self.elevenlabs.model), ("voice_id", &self.elevenlabs.voice_id)],
            ),
            (
                "fish_audio",
                &self.fish_audio.base_url,
                self.fish_audio.timeout_ms,
                vec![("model", &self.fish_audio.model)],
            ),
            (
                "fal",
                &self.fal.base_url,
                self.fal.timeout_ms,
                vec![("kling_model", &self.fal.kling_model), ("minimax_model", &self.fal.minimax_model)],
            ),
            ("pexels", &self.pexels.base_url, self.pexels.timeout_ms, vec![]),
            ("apify", &self.apify.base_url, self.apify.timeout_ms, vec![("actor_id", &self.apify.actor_id)]),
            ("youtube", &self.youtube.base_url, self.youtube.timeout_ms, vec![]),
            (
                "anthropic",
                &self.anthropic.base_url,
                self.anthropic.timeout_ms,
                vec![("model", &self.anthropic.model), ("version", &self.anthropic.version)],
            ),
            (
                "openai_compatible",
                &self.openai_compatible.base_url,
                self.openai_compatible.timeout_ms,
                vec![("model", &self.openai_compatible.model)],
            ),
            ("heygen", &self.heygen.base_url, self.heygen.timeout_ms, vec![("model", &self.heygen.model)]),
        ];
        for (section, base_url, timeout_ms, names) in sections {
            if let Err(reason) = check_endpoint_url(base_url) {
                v.push(format!("providers.{section}.base_url"), reason);
            }
            v.check(timeout_ms > 0, format!("providers.{section}.timeout_ms"), "must be greater than 0");
            for (field, value) in names {
                v.check(!value.trim().is_empty(), format!("providers.{section}.{field}"), "must not be empty");
            }
        }
        if let Err(reason) = check_endpoint_url(&self.fal.platform_base_url) {
            v.push("providers.fal.platform_base_url", reason);
        }
        for (i, source) in self.trends.iter().enumerate() {
            if self.trends[..i].contains(source) {
                v.push("providers.trends", format!("`{}` is listed twice", source.as_str()));
            }
        }
        let plans = crate::catalogue::lookup("heygen", "heygen-avatar")
            .map_or(&[][..], |entry| entry.limits.max_short_side_by_plan);
        let largest = plans.iter().map(|(_, side)| *side).max().unwrap_or(u32::MAX);
        v.check(
            (144..=largest).contains(&self.heygen.max_short_side),
            "providers.heygen.max_short_side",
            format!("must be between 144 and {largest}, the largest any HeyGen API plan renders ({plans:?})"),
        );
        v.check(self.anthropic.max_tokens > 0, "providers.anthropic.max_tokens", "must be greater than 0");
        v.check(
            (1..=720).contains(&self.youtube.published_within_hours),
            "providers.youtube.published_within_hours",
            "must be between 1 and 720",
        );
        if self.elevenlabs.voice_id.contains(['/', '?', '#']) {
            v.push("providers.elevenlabs.voice_id", "must be a voice id, not a path");
        }
        for (model, user) in self.priced_models() {
            if self.price(&model).is_some() {
                continue;
            }
            v.push(
                "providers.prices",
                format!(
                    "model `{model}` ({user}) is not in the provider catalogue: check the id against the provider's model list, and add [providers.prices.\"{model}\"] with its price in micro-USD (see the provider's price list)"
                ),
            );
        }
    }
}

/// A real voice provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoiceProviderName {
    /// OpenAI text-to-speech (`POST /v1/audio/speech`).
    Openai,
    /// ElevenLabs text-to-speech (`POST /v1/text-to-speech/{voice_id}`).
    Elevenlabs,
    /// Fish Audio text-to-speech (`POST /v1/tts`).
    FishAudio,
}

impl VoiceProviderName {
    pub fn as_str(self) -> &'static str {
        match self {
            VoiceProviderName::Openai => "openai",
            VoiceProviderName::Elevenlabs => "elevenlabs",
            VoiceProviderName::FishAudio => "fish_audio",
        }
    }
}

/// A real clip provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClipProviderName {
    /// Kling text-to-video through fal.ai's queue API.
    FalKling,
    /// MiniMax (Hailuo) text-to-video through fal.ai's queue API.
    FalMinimax,
    /// Pexels stock video search.
    Pexels,
}

impl ClipProviderName {
    pub fn as_str(self) -> &'static str {
        match self {
            ClipProviderName::FalKling => "fal_kling",
            ClipProviderName::FalMinimax => "fal_minimax",
            ClipProviderName::Pexels => "pexels",
        }
    }
}

/// A real trend source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendSourceName {
    /// TikTok through an Apify actor run (start, poll, read the dataset).
    ApifyTiktok,
    /// YouTube Data API v3 (`search.list`, then `videos.list`).
    Youtube,
}

impl TrendSourceName {
    pub fn as_str(self) -> &'static str {
        match self {
            TrendSourceName::ApifyTiktok => "apify_tiktok",
            TrendSourceName::Youtube => "youtube",
        }
    }
}

/// A real avatar video provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AvatarProviderName {
    /// HeyGen (`POST /v2/video/generate`, poll `GET /v1/video_status.get`, download).
    Heygen,
}

impl AvatarProviderName {
    pub fn as_str(self) -> &'static str {
        match self {
            AvatarProviderName::Heygen => "heygen",
        }
    }
}

/// `[providers.heygen]`: HeyGen avatar videos.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeygenConfig {
    pub base_url: String,
    /// A file holding the key; else `SHORTLINE_HEYGEN_API_KEY`, then `HEYGEN_API_KEY`.
    pub api_key_file: Option<PathBuf>,
    /// The timeout of one call (generate, status); the whole generation has
    /// `providers.http.generation_timeout_seconds`.
    pub timeout_ms: u64,
    /// The name HeyGen's price is listed under in `providers.prices` (it bills per second of
    /// video), and recorded as the asset's model.
    pub model: String,
    /// The short side of the largest frame asked for: HeyGen's free API plan renders up to
    /// 720p; a paid plan may allow 1080.
    pub max_short_side: u32,
}

impl Default for HeygenConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.heygen.com".into(),
            api_key_file: None,
            timeout_ms: 30_000,
            model: "heygen-avatar".into(),
            max_short_side: 720,
        }
    }
}

/// An LLM API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmProviderName {
    /// Anthropic Messages API with tool use for structured output.
    Anthropic,
    /// OpenAI-compatible chat completions with a JSON-schema response format (OpenAI,
    /// OpenRouter, vLLM, Ollama).
    OpenaiCompatible,
}

impl LlmProviderName {
    pub fn as_str(self) -> &'static str {
        match self {
            LlmProviderName::Anthropic => "anthropic",
            LlmProviderName::OpenaiCompatible => "openai_compatible",
        }
    }
}

/// `[providers.apify]`: the Apify actor that scrapes TikTok.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApifyConfig {
    pub base_url: String,
    /// A file holding the token; else `SHORTLINE_APIFY_API_KEY`, then `APIFY_TOKEN`.
    pub api_key_file: Option<PathBuf>,
    pub timeout_ms: u64,
    /// `username~actor-name` or the actor's id.
    pub actor_id: String,
    /// Hashtags the actor scrapes (without `#`).
    pub hashtags: Vec<String>,
    /// Actor runs (one per trend collection) allowed per UTC day, across replicas; unset: no limit.
    pub daily_runs: Option<u64>,
}

impl Default for ApifyConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.apify.com".into(),
            api_key_file: None,
            timeout_ms: 30_000,
            actor_id: "clockworks~tiktok-scraper".into(),
            hashtags: vec!["fyp".into()],
            daily_runs: None,
        }
    }
}

/// `[providers.youtube]`: the YouTube Data API v3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct YoutubeConfig {
    pub base_url: String,
    /// A file holding the API key; else `SHORTLINE_YOUTUBE_API_KEY`, then `YOUTUBE_API_KEY`.
    pub api_key_file: Option<PathBuf>,
    pub timeout_ms: u64,
    /// ISO 3166-1 alpha-2 region of the search; unset: worldwide.
    pub region_code: Option<String>,
    /// Only videos published in the last this many hours.
    pub published_within_hours: u32,
    /// The project's daily quota in units (a collection spends 101: `search.list` 100,
    /// `videos.list` 1), shared by every replica; Google resets it at midnight Pacific time,
    /// shortline counts UTC days.
    pub daily_quota_units: u64,
}

impl Default for YoutubeConfig {
    fn default() -> Self {
        Self {
            base_url: "https://www.googleapis.com".into(),
            api_key_file: None,
            timeout_ms: 30_000,
            region_code: None,
            published_within_hours: 72,
            daily_quota_units: 10_000,
        }
    }
}

/// `[providers.anthropic]`: the Anthropic Messages API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnthropicConfig {
    pub base_url: String,
    /// A file holding the key; else `SHORTLINE_ANTHROPIC_API_KEY`, then `ANTHROPIC_API_KEY`.
    pub api_key_file: Option<PathBuf>,
    pub timeout_ms: u64,
    pub model: String,
    pub max_tokens: u32,
    /// The `anthropic-version` header.
    pub version: String,
}

impl Default for AnthropicConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.anthropic.com".into(),
            api_key_file: None,
            timeout_ms: 120_000,
            model: "claude-sonnet-4-5".into(),
            max_tokens: 4096,
            version: "2023-06-01".into(),
        }
    }
}

/// `[providers.openai_compatible]`: any OpenAI-compatible chat completions API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiCompatibleConfig {
    /// Up to and including the version, e.g. `https://api.openai.com/v1`,
    /// `https://openrouter.ai/api/v1`, `http://localhost:11434/v1` (Ollama).
    pub base_url: String,
    /// A file holding the key; else `SHORTLINE_OPENAI_COMPATIBLE_API_KEY`, then
    /// `OPENAI_API_KEY`; none at all is fine for a local server.
    pub api_key_file: Option<PathBuf>,
    pub timeout_ms: u64,
    pub model: String,
}

impl Default for OpenAiCompatibleConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com/v1".into(),
            api_key_file: None,
            timeout_ms: 120_000,
            model: "gpt-4o-mini".into(),
        }
    }
}

/// A model's price in micro-USD (1 USD = 1,000,000). Unset parts are 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Price {
    pub per_1k_input_tokens: u64,
    pub per_1k_output_tokens: u64,
    /// Text-to-speech: per 1000 characters spoken.
    pub per_1k_characters: u64,
    /// Video generation: per second of generated video.
    pub per_second: u64,
    /// A flat price per call.
    pub per_request: u64,
}

/// `[providers.http]`: retries, polling and downloads of every real provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderHttpConfig {
    /// Retries after the first attempt on 429 and 5xx.
    pub max_retries: u32,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// The longest `Retry-After` waited for; a provider asking for more is failed over at once.
    pub retry_after_max_seconds: u64,
    /// How often a queued generation (fal.ai) is polled.
    pub poll_interval_ms: u64,
    /// How long a queued generation may take in total.
    pub generation_timeout_seconds: u64,
    /// The timeout of downloading one generated or stock file.
    pub download_timeout_seconds: u64,
}

impl Default for ProviderHttpConfig {
    fn default() -> Self {
        Self {
            max_retries: 3,
            backoff_initial_ms: 500,
            backoff_max_ms: 8_000,
            retry_after_max_seconds: 30,
            poll_interval_ms: 2_000,
            generation_timeout_seconds: 600,
            download_timeout_seconds: 300,
        }
    }
}

impl ProviderHttpConfig {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub fn generation_timeout(&self) -> Duration {
        Duration::from_secs(self.generation_timeout_seconds)
    }

    pub fn download_timeout(&self) -> Duration {
        Duration::from_secs(self.download_timeout_seconds)
    }
}

/// `[providers.openai]`: OpenAI text-to-speech.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiConfig {
    pub base_url: String,
    /// A file holding the key; else `SHORTLINE_OPENAI_API_KEY`, then `OPENAI_API_KEY`.
    pub api_key_file: Option<PathBuf>,
    pub timeout_ms: u64,
    pub tts_model: String,
    pub tts_voice: String,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com".into(),
            api_key_file: None,
            timeout_ms: 60_000,
            tts_model: "tts-1".into(),
            tts_voice: "alloy".into(),
        }
    }
}

/// `[providers.elevenlabs]`: ElevenLabs text-to-speech.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ElevenLabsConfig {
    pub base_url: String,
    /// A file holding the key; else `SHORTLINE_ELEVENLABS_API_KEY`, then `ELEVENLABS_API_KEY`.
    pub api_key_file: Option<PathBuf>,
    pub timeout_ms: u64,
    pub model: String,
    pub voice_id: String,
}

impl Default for ElevenLabsConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.elevenlabs.io".into(),
            api_key_file: None,
            timeout_ms: 60_000,
            model: "eleven_multilingual_v2".into(),
            voice_id: "JBFqnCBsd6RMkjVDRZzb".into(),
        }
    }
}

/// `[providers.fish_audio]`: Fish Audio text-to-speech.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FishAudioConfig {
    pub base_url: String,
    /// A file holding the key; else `SHORTLINE_FISH_AUDIO_API_KEY`, then `FISH_API_KEY`.
    pub api_key_file: Option<PathBuf>,
    pub timeout_ms: u64,
    /// Sent in the `model` header (`s1`, `s2-pro`, ...).
    pub model: String,
    /// The voice model id; unset: the provider's default voice.
    pub reference_id: Option<String>,
}

impl Default for FishAudioConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.fish.audio".into(),
            api_key_file: None,
            timeout_ms: 60_000,
            model: "s1".into(),
            reference_id: None,
        }
    }
}

/// `[providers.fal]`: fal.ai's queue API (Kling and MiniMax text-to-video).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FalConfig {
    pub base_url: String,
    /// A file holding the key; else `SHORTLINE_FAL_API_KEY`, then `FAL_KEY`.
    pub api_key_file: Option<PathBuf>,
    /// The timeout of one call (submit, status, result); the whole generation has
    /// `providers.http.generation_timeout_seconds`.
    pub timeout_ms: u64,
    /// fal's platform API (model pricing), where `shortline providers` proves the key.
    pub platform_base_url: String,
    /// An endpoint id from fal's model list (the official `fal-js` client's endpoint types).
    pub kling_model: String,
    pub minimax_model: String,
}

impl Default for FalConfig {
    fn default() -> Self {
        Self {
            base_url: "https://queue.fal.run".into(),
            api_key_file: None,
            timeout_ms: 30_000,
            platform_base_url: "https://api.fal.ai".into(),
            // fal-js `libs/client/src/types/endpoints.ts` lists Kling text-to-video as
            // v2.1/master, v2.5-turbo/pro, v2.6/pro...; there is no v2.1/standard/text-to-video.
            kling_model: "fal-ai/kling-video/v2.5-turbo/pro/text-to-video".into(),
            minimax_model: "fal-ai/minimax/hailuo-02/standard/text-to-video".into(),
        }
    }
}

/// `[providers.pexels]`: Pexels stock video search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PexelsConfig {
    pub base_url: String,
    /// A file holding the key; else `SHORTLINE_PEXELS_API_KEY`, then `PEXELS_API_KEY`.
    pub api_key_file: Option<PathBuf>,
    pub timeout_ms: u64,
}

impl Default for PexelsConfig {
    fn default() -> Self {
        Self { base_url: "https://api.pexels.com".into(), api_key_file: None, timeout_ms: 30_000 }
    }
}

/// Which family of providers the services use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderSet {
    /// No network, no keys: bundled samples, heuristics, ffmpeg and espeak-ng.
    #[default]
    Offline,
    /// No media work at all, tiny placeholder files. Only for benchmarks of orchestration
    /// overhead.
    Null,
}
