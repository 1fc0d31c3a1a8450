//! Rendering the overlays (`kubectl kustomize`), validating them (`kubernetes-validate`) and
//! finding one's way in the rendered objects.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_yaml::Value;

pub(super) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root").to_owned()
}

// ---------------------------------------------------------------------------------------------
// Tools and rendering
// ---------------------------------------------------------------------------------------------

pub(super) fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).output().map(|o| o.status.success()).unwrap_or(false)
}

/// Whether kubectl (and, with `validator`, kubernetes-validate) can run: locally a missing tool
/// skips the test with a note; in CI it fails the test.
pub(super) fn tools_present(validator: bool) -> bool {
    let mut missing = Vec::new();
    if !runs("kubectl", &["version", "--client"]) {
        missing.push("kubectl (with its built-in kustomize)");
    }
    if validator && !runs("kubernetes-validate", &["--version"]) {
        missing.push("kubernetes-validate (pip install kubernetes-validate)");
    }
    if missing.is_empty() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "CI must have {}", missing.join(" and "));
    eprintln!("skipped: {} not installed", missing.join(" and "));
    false
}

/// `kubectl kustomize deploy/k8s/overlays/<overlay>`.
pub(super) fn render(overlay: &str) -> String {
    let dir = repo_root().join("deploy/k8s/overlays").join(overlay);
    let output = Command::new("kubectl").arg("kustomize").arg(&dir).output().expect("run kubectl");
    assert!(
        output.status.success(),
        "kubectl kustomize {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 manifests")
}

/// `kubernetes-validate --strict` on `yaml` (written to a temporary file) for `version`.
pub(super) fn validate(yaml: &str, version: &str) -> Result<(), String> {
    let mut file = tempfile::Builder::new().suffix(".yaml").tempfile().expect("temp file");
    file.write_all(yaml.as_bytes()).expect("write manifests");
    let output = Command::new("kubernetes-validate")
        .args(["--strict", "--quiet", "--kubernetes-version", version])
        .arg(file.path())
        .output()
        .expect("run kubernetes-validate");
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
    }
}

pub(super) fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("a YAML document"))
        .filter(|doc| !doc.is_null())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Navigating the rendered objects
// ---------------------------------------------------------------------------------------------

pub(super) static NULL: Value = Value::Null;

/// `value` at a dotted path (`spec.template.spec.containers.0.args`); Null when absent.
pub(super) fn at<'a>(value: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(value, |v, key| match (v, key.parse::<usize>()) {
        (Value::Sequence(items), Ok(index)) => items.get(index).unwrap_or(&NULL),
        _ => v.get(key).unwrap_or(&NULL),
    })
}

pub(super) fn str_at<'a>(value: &'a Value, path: &str) -> &'a str {
    at(value, path).as_str().unwrap_or_else(|| panic!("{path} is not a string in {}", name_of(value)))
}

pub(super) fn u64_at(value: &Value, path: &str) -> u64 {
    at(value, path).as_u64().unwrap_or_else(|| panic!("{path} is not a number in {}", name_of(value)))
}

pub(super) fn seq_at<'a>(value: &'a Value, path: &str) -> &'a [Value] {
    at(value, path).as_sequence().map(Vec::as_slice).unwrap_or(&[])
}

pub(super) fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|s| s.iter().map(|v| v.as_str().expect("a string").to_owned()).collect())
        .unwrap_or_default()
}

pub(super) fn name_of(object: &Value) -> String {
    format!("{}/{}", at(object, "kind").as_str().unwrap_or("?"), at(object, "metadata.name").as_str().unwrap_or("?"))
}

pub(super) fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| at(d, "kind").as_str() == Some(kind) && at(d, "metadata.name").as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {kind} {name} in the rendered manifests"))
}

pub(super) fn of_kind<'a>(docs: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    docs.iter().filter(move |d| at(d, "kind").as_str() == Some(kind))
}

/// The generated config ConfigMap (its name carries a content hash).
pub(super) fn config_map(docs: &[Value]) -> &Value {
    let mut maps = of_kind(docs, "ConfigMap").filter(|d| str_at(d, "metadata.name").starts_with("shortline-config-"));
    let map = maps.next().expect("a shortline-config ConfigMap");
    assert!(maps.next().is_none(), "one shortline-config ConfigMap");
    map
}

/// Every pod template of a workload: (owner, pod spec path prefix).
pub(super) fn pod_templates(docs: &[Value]) -> Vec<(String, &Value)> {
    docs.iter()
        .filter_map(|d| {
            let template = match at(d, "kind").as_str()? {
                "Deployment" | "StatefulSet" | "Job" => at(d, "spec.template"),
                "CronJob" => at(d, "spec.jobTemplate.spec.template"),
                _ => return None,
            };
            Some((name_of(d), template))
        })
        .collect()
}

pub(super) fn the_container<'a>(template: &'a Value, owner: &str) -> &'a Value {
    let containers = seq_at(template, "spec.containers");
    assert_eq!(containers.len(), 1, "{owner}: one container");
    &containers[0]
}

pub(super) fn env_var<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    seq_at(container, "env").iter().find(|e| at(e, "name").as_str() == Some(name))
}

pub(super) fn labels(value: &Value) -> BTreeMap<String, String> {
    value
        .as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str().expect("key").to_owned(), v.as_str().expect("label value").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}
