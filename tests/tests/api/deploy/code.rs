//! What the code says the manifests must match: the contract's services, the health service
//! names, the default ports, the CLI, and the config a container's environment makes.

use std::collections::BTreeSet;

use clap::Parser;
use prost::Message;
use serde_yaml::Value;
use shortline_config::Config;
use shortline_proto::v1::orchestrator_service_server;

use super::manifests::{at, find, seq_at, str_at};
use super::SECRET_DATABASE_URL;

// ---------------------------------------------------------------------------------------------
// What the code says
// ---------------------------------------------------------------------------------------------

/// The fully qualified services of the contract, from the descriptor set reflection serves.
pub(super) fn contract_services() -> BTreeSet<String> {
    let set = prost_types::FileDescriptorSet::decode(shortline_proto::FILE_DESCRIPTOR_SET).expect("descriptor set");
    set.file
        .iter()
        .flat_map(|file| file.service.iter().map(move |service| format!("{}.{}", file.package(), service.name())))
        .collect()
}

/// The health service name each service registers: the generated server's name, which is what
/// scriptgen and composer export as their health constant.
pub(super) fn health_service(service: &str) -> &'static str {
    match service {
        "orchestrator" => orchestrator_service_server::SERVICE_NAME,
        "scriptgen" => shortline_scriptgen::HEALTH_SERVICE_NAME,
        "composer" => shortline_composer::HEALTH_SERVICE,
        other => panic!("unknown service {other}"),
    }
}

pub(super) fn default_port(defaults: &Config, service: &str) -> u16 {
    match service {
        "orchestrator" => defaults.orchestrator.listen.port(),
        "scriptgen" => defaults.scriptgen.listen.port(),
        "composer" => defaults.composer.listen.port(),
        other => panic!("unknown service {other}"),
    }
}

/// The `shortline` CLI accepts `args` (the container's args after the image's ENTRYPOINT).
pub(super) fn cli_accepts(args: &[String], owner: &str) -> shortline::Command {
    match shortline::Cli::try_parse_from(std::iter::once("shortline".to_owned()).chain(args.iter().cloned())) {
        Ok(cli) => cli.command,
        Err(error) => panic!("{owner}: `shortline {}` is not a shortline command:\n{error}", args.join(" ")),
    }
}

/// The container's environment from ConfigMaps (`envFrom`), then its own `env` (which wins).
pub(super) fn environment(docs: &[Value], container: &Value, owner: &str) -> Vec<(String, Option<String>)> {
    let mut vars = Vec::new();
    for source in seq_at(container, "envFrom") {
        let Some(name) = at(source, "configMapRef.name").as_str() else { continue };
        let data = at(find(docs, "ConfigMap", name), "data");
        let data = data.as_mapping().unwrap_or_else(|| panic!("{owner}: ConfigMap {name} has no data"));
        vars.extend(data.iter().map(|(k, v)| (k.as_str().expect("a key").to_owned(), v.as_str().map(str::to_owned))));
    }
    vars.extend(seq_at(container, "env").iter().map(|var| {
        let value = at(var, "value").as_str().map(str::to_owned).or_else(|| {
            let name = at(var, "valueFrom.configMapKeyRef.name").as_str()?;
            let key = str_at(var, "valueFrom.configMapKeyRef.key");
            let value = at(at(find(docs, "ConfigMap", name), "data"), key).as_str();
            // An optional key the ConfigMap lacks leaves the variable unset, as kubelet does.
            if value.is_none() && at(var, "valueFrom.configMapKeyRef.optional").as_bool() == Some(true) {
                return None;
            }
            Some(value.unwrap_or_else(|| panic!("{key} is not a string in ConfigMap {name}")).to_owned())
        });
        (str_at(var, "name").to_owned(), value)
    }));
    vars
}

/// The config file plus the container's `SHORTLINE_*` overrides (its own literals and its
/// ConfigMaps'; Secrets replaced by placeholders), parsed the way the process will: every key
/// must exist and every value be valid.
pub(super) fn effective_config(docs: &[Value], toml_text: &str, container: &Value, owner: &str) -> Config {
    let mut table: toml::Table = toml_text.parse().expect("TOML");
    for (name, value) in environment(docs, container, owner) {
        let Some(key) = name.strip_prefix("SHORTLINE_") else { continue };
        // The CLI's own variables (SHORTLINE_CONFIG, SHORTLINE_TOKEN_FILE) are no config keys, as
        // Config::load tells them apart: no `__` and no top-level key.
        if !key.contains("__") && key != "DATA_DIR" {
            continue;
        }
        let value = match (value, name.as_str()) {
            (Some(value), _) => value,
            (None, "SHORTLINE_DATABASE__URL") => SECRET_DATABASE_URL.to_owned(),
            (None, _) => panic!("{owner}: {name} has no literal value"),
        };
        let path: Vec<String> = key.to_lowercase().split("__").map(str::to_owned).collect();
        let (last, parents) = path.split_last().expect("a key");
        let mut section = &mut table;
        for part in parents {
            section = section
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .unwrap_or_else(|| panic!("{owner}: {name} names a value, not a section"));
        }
        let value = if let Ok(n) = value.parse::<i64>() {
            toml::Value::Integer(n)
        } else if let Ok(b) = value.parse::<bool>() {
            toml::Value::Boolean(b)
        } else {
            toml::Value::String(value)
        };
        section.insert(last.clone(), value);
    }
    Config::from_toml_str(&table.to_string())
        .unwrap_or_else(|e| panic!("{owner}: the effective config is invalid: {e}"))
}
