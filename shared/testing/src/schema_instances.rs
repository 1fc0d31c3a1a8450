//! Instances of the JSON schemas shortline gives LLMs (`shortline_providers::schema`), at and
//! between their bounds: property tests check that every instance the schema allows passes the
//! validator the schema was built from.

use serde_json::{json, Value};

/// Instances of `schema` (the subset built here): one with every number, length and count at
/// its lower bound, one with all at their upper bounds, then `random` more with each drawn
/// between its bounds (seeded by `seed`, so a failure can be replayed).
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
