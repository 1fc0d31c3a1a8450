//! The JSON schemas sent to LLMs, built from the same bounds their validators check: every rule
//! JSON Schema can express (ranges, lengths, item counts, enums, required fields, patterns) is
//! in the schema the model is given; only what it cannot express (sums, cross-field timing,
//! bounds that depend on the input) stays in the prompt and the validator.
//!
//! Objects are strict — every property required, nothing else allowed — as OpenAI's strict
//! structured outputs require. [`openai_strict`] drops the keywords OpenAI's strict mode does
//! not support (its Structured Outputs guide, "Supported schemas": strings take `pattern` and
//! `format`, not `minLength`/`maxLength`); Anthropic's tool `input_schema` takes the full
//! schema. With feature `http-mock`, [`instances_within`] generates instances at and between
//! a schema's bounds, for the property tests that hold schema and validator together.

use std::ops::RangeInclusive;

use serde_json::{json, Map, Value};

/// A pattern that a string with something besides white space matches.
pub const NOT_BLANK: &str = "\\S";

/// A strict object: the properties in order, all required, no others.
pub fn object(properties: &[(&str, Value)]) -> Value {
    let required: Vec<&str> = properties.iter().map(|(name, _)| *name).collect();
    let properties: Map<String, Value> =
        properties.iter().map(|(name, schema)| ((*name).to_owned(), schema.clone())).collect();
    json!({ "type": "object", "additionalProperties": false, "required": required, "properties": properties })
}

/// An array of `count` items of `items`.
pub fn array(items: Value, count: RangeInclusive<usize>) -> Value {
    json!({ "type": "array", "items": items, "minItems": count.start(), "maxItems": count.end() })
}

/// A string of `chars` characters (at least one of them not white space when the minimum is 1
/// or more).
pub fn text(chars: RangeInclusive<usize>) -> Value {
    let mut schema = json!({ "type": "string", "minLength": chars.start(), "maxLength": chars.end() });
    if *chars.start() > 0 {
        schema["pattern"] = json!(NOT_BLANK);
    }
    schema
}

/// A string matching `pattern` of `chars` characters.
pub fn text_matching(pattern: &str, chars: RangeInclusive<usize>) -> Value {
    json!({ "type": "string", "pattern": pattern, "minLength": chars.start(), "maxLength": chars.end() })
}

/// One of `values`.
pub fn one_of(values: &[&str]) -> Value {
    json!({ "type": "string", "enum": values })
}

/// A number within `range`.
pub fn number(range: RangeInclusive<f64>) -> Value {
    json!({ "type": "number", "minimum": range.start(), "maximum": range.end() })
}

/// An integer within `range`.
pub fn integer(range: RangeInclusive<i64>) -> Value {
    json!({ "type": "integer", "minimum": range.start(), "maximum": range.end() })
}

pub fn boolean() -> Value {
    json!({ "type": "boolean" })
}

/// `schema` without the keywords OpenAI's strict structured outputs refuse (`minLength`,
/// `maxLength`); the validator still checks those lengths.
pub fn openai_strict(schema: &Value) -> Value {
    let Value::Object(map) = schema else { return schema.clone() };
    let mut out = Map::new();
    for (key, value) in map {
        match (key.as_str(), value) {
            ("minLength" | "maxLength", _) => {}
            // Property names are data, not keywords: only their schemas are rewritten.
            ("properties", Value::Object(properties)) => {
                let properties = properties.iter().map(|(name, sub)| (name.clone(), openai_strict(sub))).collect();
                out.insert(key.clone(), Value::Object(properties));
            }
            ("items", sub) => {
                out.insert(key.clone(), openai_strict(sub));
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(out)
}

/// Instances of `schema` (the subset built here): one with every number, length and count at
/// its lower bound, one with all at their upper bounds, then `random` more with each drawn
/// between its bounds (seeded by `seed`, so a failure can be replayed).
#[cfg(feature = "http-mock")]
pub fn instances_within(schema: &Value, random: usize, seed: u64) -> Vec<Value> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = vec![instance(schema, &mut |low: f64, _| low), instance(schema, &mut |_, high: f64| high)];
    for _ in 0..random {
        out.push(instance(schema, &mut |low: f64, high: f64| {
            if low < high {
                rng.random_range(low..=high)
            } else {
                low
            }
        }));
    }
    out
}

/// An instance of `schema` with each bound chosen by `pick(low, high)`.
#[cfg(feature = "http-mock")]
fn instance(schema: &Value, pick: &mut dyn FnMut(f64, f64) -> f64) -> Value {
    let bound = |key: &str, default: f64| schema.get(key).and_then(Value::as_f64).unwrap_or(default);
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let index = pick(0.0, (values.len().max(1) - 1) as f64).round() as usize;
        return values.get(index).cloned().unwrap_or(Value::Null);
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let properties = schema.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
            Value::Object(properties.iter().map(|(name, sub)| (name.clone(), instance(sub, pick))).collect())
        }
        Some("array") => {
            let count = pick(bound("minItems", 0.0), bound("maxItems", 3.0)).round() as usize;
            let items = schema.get("items").cloned().unwrap_or(Value::Null);
            Value::Array((0..count).map(|_| instance(&items, pick)).collect())
        }
        Some("string") => {
            let chars = pick(bound("minLength", 1.0), bound("maxLength", 20.0)).round() as usize;
            // A `#tag`-like pattern is the only one these schemas use besides "not blank".
            let prefix = match schema.get("pattern").and_then(Value::as_str) {
                Some(pattern) if pattern.starts_with("^#") => "#",
                _ => "",
            };
            let body: String =
                "abcdefghijklmnopqrstuvwxyz".chars().cycle().take(chars.saturating_sub(prefix.len())).collect();
            Value::String(format!("{prefix}{body}"))
        }
        Some("number") => json!(pick(bound("minimum", 0.0), bound("maximum", 100.0))),
        Some("integer") => json!(pick(bound("minimum", 0.0), bound("maximum", 100.0)).round() as i64),
        Some("boolean") => json!(pick(0.0, 1.0) >= 0.5),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_strict_and_openai_gets_only_keywords_it_supports() {
        let schema =
            object(&[("name", text(1..=60)), ("score", number(0.0..=1.0)), ("tags", array(text(1..=5), 1..=3))]);
        assert_eq!(schema["required"], json!(["name", "score", "tags"]));
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["properties"]["name"]["maxLength"], 60);
        assert_eq!(schema["properties"]["score"]["maximum"], 1.0);
        let strict = openai_strict(&schema);
        assert_eq!(strict["properties"]["name"], json!({"type": "string", "pattern": NOT_BLANK}));
        assert_eq!(strict["properties"]["tags"]["maxItems"], 3);
        assert_eq!(strict["properties"]["score"], schema["properties"]["score"]);
    }
}
