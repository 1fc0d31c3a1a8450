//! Costs in micro-USD from a provider's reported usage and the configured price table.

use serde::{Deserialize, Serialize};

use shortline_config::Price;

/// What one call used, as the provider reports it (or, where the API reports nothing, as
/// counted from the request: the characters sent to a TTS API are what it bills).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub input_tokens: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub output_tokens: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub characters: u64,
    /// Seconds of generated video (as billed: the duration requested from the model).
    #[serde(default, skip_serializing_if = "is_zero_f")]
    pub seconds: f64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub requests: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_f(n: &f64) -> bool {
    *n == 0.0
}

impl Usage {
    pub fn characters(characters: u64) -> Self {
        Usage { characters, requests: 1, ..Usage::default() }
    }

    pub fn seconds(seconds: f64) -> Self {
        Usage { seconds, requests: 1, ..Usage::default() }
    }

    pub fn tokens(input_tokens: u64, output_tokens: u64) -> Self {
        Usage { input_tokens, output_tokens, requests: 1, ..Usage::default() }
    }

    /// Both usages together.
    pub fn plus(&self, other: &Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens.saturating_add(other.input_tokens),
            output_tokens: self.output_tokens.saturating_add(other.output_tokens),
            characters: self.characters.saturating_add(other.characters),
            seconds: self.seconds + other.seconds,
            requests: self.requests.saturating_add(other.requests),
        }
    }
}

/// `units * price_per_1000 / 1000`, rounded up to a whole micro-USD.
fn per_thousand(units: u64, price_per_1000: u64) -> u128 {
    (u128::from(units) * u128::from(price_per_1000)).div_ceil(1000)
}

/// What `usage` costs at `price`, in micro-USD, each part rounded up (a provider never bills
/// less than a started unit). Saturates at `i64::MAX`.
pub fn cost_micros(price: &Price, usage: &Usage) -> i64 {
    let seconds = if usage.seconds.is_finite() && usage.seconds > 0.0 { usage.seconds } else { 0.0 };
    // Per-second prices apply to whole milliseconds, rounded up.
    let millis = (seconds * 1000.0 - 1e-6).ceil().max(0.0) as u64;
    let total = per_thousand(usage.input_tokens, price.per_1k_input_tokens)
        + per_thousand(usage.output_tokens, price.per_1k_output_tokens)
        + per_thousand(usage.characters, price.per_1k_characters)
        + per_thousand(millis, price.per_second)
        + u128::from(usage.requests) * u128::from(price.per_request);
    i64::try_from(total).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_follow_the_price_table_and_round_up() {
        // OpenAI tts-1: $15 per 1M characters = 15_000 micro-USD per 1k characters.
        let tts = Price { per_1k_characters: 15_000, ..Price::default() };
        assert_eq!(cost_micros(&tts, &Usage::characters(1000)), 15_000);
        assert_eq!(cost_micros(&tts, &Usage::characters(1)), 15);
        assert_eq!(cost_micros(&tts, &Usage::characters(0)), 0);
        // $3 / $15 per 1M tokens.
        let llm = Price { per_1k_input_tokens: 3_000, per_1k_output_tokens: 15_000, ..Price::default() };
        assert_eq!(cost_micros(&llm, &Usage::tokens(1234, 567)), 3_702 + 8_505);
        // $0.05 per second of video.
        let video = Price { per_second: 50_000, ..Price::default() };
        assert_eq!(cost_micros(&video, &Usage::seconds(5.0)), 250_000);
        assert_eq!(cost_micros(&video, &Usage::seconds(0.0001)), 50, "a started millisecond counts");
        let flat = Price { per_request: 7, ..Price::default() };
        assert_eq!(cost_micros(&flat, &Usage::characters(10).plus(&Usage::characters(5))), 14);
    }
}
