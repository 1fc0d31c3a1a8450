//! The provider catalogue: per provider, the models shortline knows, each with its price (the
//! date and the source it was taken from) and its limits. Config checking reads it: a model id
//! it does not know needs a price in `providers.prices`; a known model's catalogue price is the
//! default (a `providers.prices` entry overrides it); sizes above a provider's limit are refused.
//!
//! Prices change: each entry says where and when its price was read. They were read from the
//! providers' public price pages and could not be re-checked from this machine (no network);
//! entries marked `unverified` are the ones to confirm before a budget depends on them.

use crate::Price;

/// One model a provider offers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CatalogueModel {
    /// The config section of its provider (`openai`, `elevenlabs`, `fish_audio`, `fal`,
    /// `heygen`, `anthropic`, `openai_compatible`, `pexels`).
    pub provider: &'static str,
    /// The model id as the API takes it.
    pub model: &'static str,
    /// In micro-USD.
    pub price: Price,
    /// Where the price was read, and when (`YYYY-MM`).
    pub price_source: &'static str,
    pub price_date: &'static str,
    /// `false` when the figure could not be confirmed against the source when it was entered.
    pub price_verified: bool,
    pub limits: Limits,
}

/// What a model accepts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limits {
    /// The longest text one request may carry (TTS input), in characters.
    pub max_text_chars: Option<usize>,
    /// The clip lengths a video model generates, in seconds.
    pub durations_seconds: &'static [f64],
    /// The largest frame's short side per API plan, e.g. `[("free", 720), ("pro", 1080)]`.
    pub max_short_side_by_plan: &'static [(&'static str, u32)],
}

const NO_LIMITS: Limits = Limits { max_text_chars: None, durations_seconds: &[], max_short_side_by_plan: &[] };

const fn per_1k_characters(micros: u64) -> Price {
    Price { per_1k_input_tokens: 0, per_1k_output_tokens: 0, per_1k_characters: micros, per_second: 0, per_request: 0 }
}

const fn per_second(micros: u64) -> Price {
    Price { per_1k_input_tokens: 0, per_1k_output_tokens: 0, per_1k_characters: 0, per_second: micros, per_request: 0 }
}

const fn per_1k_tokens(input: u64, output: u64) -> Price {
    Price {
        per_1k_input_tokens: input,
        per_1k_output_tokens: output,
        per_1k_characters: 0,
        per_second: 0,
        per_request: 0,
    }
}

/// The models shortline knows.
pub const CATALOGUE: &[CatalogueModel] = &[
    // OpenAI text-to-speech. Input limit: `CreateSpeechRequest.input.maxLength` 4096 in OpenAI's
    // OpenAPI document (openai/openai-openapi f85dbe2).
    CatalogueModel {
        provider: "openai",
        model: "tts-1",
        price: per_1k_characters(15_000), // $15 per 1M characters
        price_source: "openai.com/api/pricing",
        price_date: "2025-11",
        price_verified: true,
        limits: Limits { max_text_chars: Some(4096), ..NO_LIMITS },
    },
    CatalogueModel {
        provider: "openai",
        model: "tts-1-hd",
        price: per_1k_characters(30_000), // $30 per 1M characters
        price_source: "openai.com/api/pricing",
        price_date: "2025-11",
        price_verified: true,
        limits: Limits { max_text_chars: Some(4096), ..NO_LIMITS },
    },
    // ElevenLabs: API (pay-as-you-go) rates per 1k characters; the per-request character limits
    // are from its models page.
    CatalogueModel {
        provider: "elevenlabs",
        model: "eleven_multilingual_v2",
        price: per_1k_characters(100_000), // $0.10 per 1k characters
        price_source: "elevenlabs.io/pricing/api",
        price_date: "2025-11",
        price_verified: false,
        limits: Limits { max_text_chars: Some(10_000), ..NO_LIMITS },
    },
    CatalogueModel {
        provider: "elevenlabs",
        model: "eleven_flash_v2_5",
        price: per_1k_characters(50_000), // $0.05 per 1k characters
        price_source: "elevenlabs.io/pricing/api",
        price_date: "2025-11",
        price_verified: false,
        limits: Limits { max_text_chars: Some(40_000), ..NO_LIMITS },
    },
    CatalogueModel {
        provider: "elevenlabs",
        model: "eleven_turbo_v2_5",
        price: per_1k_characters(50_000), // $0.05 per 1k characters
        price_source: "elevenlabs.io/pricing/api",
        price_date: "2025-11",
        price_verified: false,
        limits: Limits { max_text_chars: Some(40_000), ..NO_LIMITS },
    },
    // Fish Audio bills UTF-8 bytes ("characters" here): $15 per 1M.
    CatalogueModel {
        provider: "fish_audio",
        model: "s1",
        price: per_1k_characters(15_000),
        price_source: "fish.audio/plan (API pricing)",
        price_date: "2025-11",
        price_verified: false,
        limits: NO_LIMITS,
    },
    // fal.ai: endpoint ids from fal-js `libs/client/src/types/endpoints.ts`; durations from their
    // input types (`duration?: "5" | "10"`, Hailuo-02 `"6" | "10"`); prices from each model's page.
    CatalogueModel {
        provider: "fal",
        model: "fal-ai/kling-video/v2.5-turbo/pro/text-to-video",
        price: per_second(70_000), // $0.35 per 5 s, $0.07 per further second
        price_source: "fal.ai/models/fal-ai/kling-video/v2.5-turbo/pro/text-to-video",
        price_date: "2025-11",
        price_verified: false,
        limits: Limits { durations_seconds: &[5.0, 10.0], ..NO_LIMITS },
    },
    CatalogueModel {
        provider: "fal",
        model: "fal-ai/kling-video/v2.1/master/text-to-video",
        price: per_second(280_000), // $1.40 per 5 s
        price_source: "fal.ai/models/fal-ai/kling-video/v2.1/master/text-to-video",
        price_date: "2025-11",
        price_verified: false,
        limits: Limits { durations_seconds: &[5.0, 10.0], ..NO_LIMITS },
    },
    CatalogueModel {
        provider: "fal",
        model: "fal-ai/minimax/hailuo-02/standard/text-to-video",
        price: per_second(45_000), // $0.045 per second (768p)
        price_source: "fal.ai/models/fal-ai/minimax/hailuo-02/standard/text-to-video",
        price_date: "2025-11",
        price_verified: false,
        limits: Limits { durations_seconds: &[6.0, 10.0], ..NO_LIMITS },
    },
    // HeyGen bills API credits per minute of avatar video; the per-second figure is the Pro API
    // plan's ($99 for 100 credits, 1 credit a minute). Resolution per plan from its API pricing.
    CatalogueModel {
        provider: "heygen",
        model: "heygen-avatar",
        price: per_second(16_500),
        price_source: "heygen.com/api-pricing",
        price_date: "2025-11",
        price_verified: false,
        limits: Limits { max_short_side_by_plan: &[("free", 720), ("pro", 1080), ("scale", 2160)], ..NO_LIMITS },
    },
    // Anthropic, per 1M tokens: Sonnet 4.5 $3 in / $15 out, Haiku 4.5 $1 / $5.
    CatalogueModel {
        provider: "anthropic",
        model: "claude-sonnet-4-5",
        price: per_1k_tokens(3_000, 15_000),
        price_source: "anthropic.com/pricing#api",
        price_date: "2025-11",
        price_verified: true,
        limits: NO_LIMITS,
    },
    CatalogueModel {
        provider: "anthropic",
        model: "claude-haiku-4-5",
        price: per_1k_tokens(1_000, 5_000),
        price_source: "anthropic.com/pricing#api",
        price_date: "2025-11",
        price_verified: true,
        limits: NO_LIMITS,
    },
    // OpenAI chat, per 1M tokens: gpt-4o-mini $0.15 in / $0.60 out.
    CatalogueModel {
        provider: "openai_compatible",
        model: "gpt-4o-mini",
        price: per_1k_tokens(150, 600),
        price_source: "openai.com/api/pricing",
        price_date: "2025-11",
        price_verified: true,
        limits: NO_LIMITS,
    },
];

/// The catalogue's entry for `model` of the provider whose config section is `provider`.
pub fn lookup(provider: &str, model: &str) -> Option<&'static CatalogueModel> {
    CATALOGUE.iter().find(|entry| entry.provider == provider && entry.model == model)
}

/// The catalogue's price of `model`, whichever provider offers it.
pub fn default_price(model: &str) -> Option<&'static Price> {
    CATALOGUE.iter().find(|entry| entry.model == model).map(|entry| &entry.price)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_unique_and_says_where_its_price_comes_from() {
        for (i, entry) in CATALOGUE.iter().enumerate() {
            assert!(CATALOGUE[..i].iter().all(|other| other.model != entry.model), "{} is listed twice", entry.model);
            assert!(!entry.price_source.is_empty() && entry.price_date.len() == 7, "{entry:?}");
        }
    }

    /// Point 4: ElevenLabs' API rate, not three times it; point 9: the default analyst model
    /// has a price.
    #[test]
    fn defaults_are_priced_at_the_published_api_rates() {
        assert_eq!(default_price("eleven_multilingual_v2").map(|p| p.per_1k_characters), Some(100_000));
        let sonnet = default_price("claude-sonnet-4-5").expect("the default Anthropic model is priced");
        assert_eq!((sonnet.per_1k_input_tokens, sonnet.per_1k_output_tokens), (3_000, 15_000));
        assert_eq!(lookup("openai", "tts-1").and_then(|m| m.limits.max_text_chars), Some(4096));
        assert!(lookup("fal", "fal-ai/kling-video/v2.1/standard/text-to-video").is_none(), "not an endpoint fal has");
    }
}
