//! The JSON schemas sent to LLMs, built from the same bounds their validators check: every rule
//! JSON Schema can express (ranges, lengths, item counts, enums, required fields, patterns) is
//! in the schema the model is given; only what it cannot express (sums, cross-field timing,
//! bounds that depend on the input) stays in the prompt and the validator.
//!
//! Objects are strict — every property required, nothing else allowed — as OpenAI's strict
//! structured outputs require. [`openai_strict`] drops the keywords OpenAI's strict mode does
//! not support (its Structured Outputs guide, "Supported schemas": strings take `pattern` and
//! `format`, not `minLength`/`maxLength`); Anthropic's tool `input_schema` takes the full
//! schema.
//! `shortline_testing::schema_instances` generates instances at and between a schema's bounds,
//! for the property tests that hold schema and validator together.

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
