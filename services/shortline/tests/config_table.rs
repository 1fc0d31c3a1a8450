//! The README's configuration table and the `Config` type describe the same keys: every key of
//! `Config::default()` has a row (with its environment variable and default), and every row
//! names a real key.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use shortline_config::{Config, ENV_PREFIX, ENV_SEPARATOR};

/// `Config::default()` flattened to dotted keys (`media.width` -> 1080). Unset options stay as
/// keys (JSON `null`).
fn config_keys() -> BTreeMap<String, Value> {
    fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    flatten(&path, value, out);
                }
            }
            other => {
                out.insert(prefix.to_owned(), other.clone());
            }
        }
    }
    let value = serde_json::to_value(Config::default()).expect("Config serialises");
    let mut out = BTreeMap::new();
    flatten("", &value, &mut out);
    out
}

/// One row of the README table.
#[derive(Debug)]
struct Row {
    default: String,
    env: String,
    meaning: String,
}

/// The rows of the first table in README.md's "Configuration" section whose header starts with
/// `| key |`, by key.
fn readme_rows() -> BTreeMap<String, Row> {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let text = std::fs::read_to_string(&readme).expect("README.md");
    let section = text.split("\n## Configuration").nth(1).expect("README has a `## Configuration` section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut lines = section.lines().skip_while(|line| !line.starts_with("| key |"));
    assert!(lines.next().is_some(), "the Configuration section has no `| key | … |` table");
    let mut rows = BTreeMap::new();
    for line in lines.skip(1).take_while(|line| line.starts_with('|')) {
        let cells: Vec<&str> = line.trim().trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(cells.len(), 4, "a row needs key, default, environment variable and meaning: {line}");
        let key = cells[0].trim_matches('`').to_owned();
        let row = Row {
            default: cells[1].to_owned(),
            env: cells[2].trim_matches('`').to_owned(),
            meaning: cells[3].to_owned(),
        };
        assert!(rows.insert(key.clone(), row).is_none(), "`{key}` has two rows");
    }
    rows
}

fn env_var(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.split('.').map(str::to_ascii_uppercase).collect::<Vec<_>>().join(ENV_SEPARATOR))
}

#[test]
fn the_readme_table_lists_every_config_key_and_nothing_else() {
    let keys = config_keys();
    let rows = readme_rows();
    let missing: Vec<&String> = keys.keys().filter(|key| !rows.contains_key(*key)).collect();
    let unknown: Vec<&String> = rows.keys().filter(|key| !keys.contains_key(*key)).collect();
    assert!(missing.is_empty(), "README's configuration table lacks {missing:?}");
    assert!(unknown.is_empty(), "README's configuration table has keys Config does not: {unknown:?}");
}

#[test]
fn each_row_names_its_environment_variable_and_default() {
    let rows = readme_rows();
    for (key, default) in config_keys() {
        let Some(row) = rows.get(&key) else { continue };
        assert_eq!(row.env, env_var(&key), "environment variable of `{key}`");
        assert!(!row.meaning.is_empty(), "`{key}` has no meaning");
        let shown = match &default {
            // Unset by default: described in words.
            Value::Null => continue,
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        assert!(
            row.default.contains(&format!("`{shown}`")),
            "the default of `{key}` is `{shown}`, the README says {}",
            row.default
        );
    }
}

#[test]
fn the_table_parses_as_expected() {
    // Guards the parser itself: a few rows it must see.
    let rows = readme_rows();
    assert!(rows.contains_key("data_dir"));
    assert!(rows.contains_key("pipeline.stage_timeout_seconds.composition"));
    assert_eq!(env_var("database.url"), "SHORTLINE_DATABASE__URL");
}
