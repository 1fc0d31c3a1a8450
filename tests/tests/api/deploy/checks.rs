//! The per-container checks of `manifests_match_the_code`: secrets only as files and only a
//! service's own, object storage for the media store, and the NetworkPolicies' edges.

use std::collections::BTreeSet;
use std::path::Path;

use serde_yaml::Value;
use shortline_config::{Config, StoreLocation};

use super::manifests::{at, find, labels, of_kind, seq_at, str_at, strings, u64_at};

/// Secrets reach containers only as files: no `env` entry from a Secret, and no Secret as
/// `envFrom` but the media bucket's keys (the S3 client reads those from the environment only;
/// a pod identity replaces them).
pub(super) fn check_files_only(container: &Value, owner: &str) {
    for var in seq_at(container, "env") {
        let name = str_at(var, "name");
        let secret = at(var, "valueFrom.secretKeyRef.name").as_str();
        let allowed = secret.is_some_and(|secret| secret.starts_with("shortline-media-credentials"));
        assert!(secret.is_none() || allowed, "{owner}: {name} comes from Secret {secret:?}: mount it as a file");
    }
    for source in seq_at(container, "envFrom") {
        if let Some(secret) = at(source, "secretRef.name").as_str() {
            assert!(secret.starts_with("shortline-media-credentials"), "{owner}: Secret {secret} as environment");
        }
    }
}

/// The Secret (and its key, when the volume names items) that `file` is mounted from.
pub(super) fn secret_item(template: &Value, container: &Value, file: &Path, owner: &str) -> (String, Option<String>) {
    let mount = seq_at(container, "volumeMounts")
        .iter()
        .find(|m| file.parent() == Some(Path::new(str_at(m, "mountPath"))))
        .unwrap_or_else(|| panic!("{owner}: nothing is mounted at {}", file.display()));
    let volume = seq_at(template, "spec.volumes")
        .iter()
        .find(|v| at(v, "name") == at(mount, "name"))
        .unwrap_or_else(|| panic!("{owner}: no volume {:?}", at(mount, "name")));
    let generated = at(volume, "secret.secretName")
        .as_str()
        .unwrap_or_else(|| panic!("{owner}: {} is not from a Secret", file.display()));
    // Without the content hash kustomize appends to the Secrets it generates.
    let secret = match generated.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 10 && hash.chars().all(|c| c.is_ascii_alphanumeric()) => name,
        _ => generated,
    }
    .to_owned();
    let name = file.file_name().and_then(|n| n.to_str()).expect("a file name");
    let items = seq_at(volume, "secret.items");
    let key = items.iter().find(|item| str_at(item, "path") == name).map(|item| str_at(item, "key").to_owned());
    assert!(items.is_empty() || key.is_some(), "{owner}: {name} is not an item of {secret}");
    (secret, key)
}

/// A service's secrets as the config names them: its own database password, its TLS files from
/// its own certificate Secret, the token file on the orchestrator only, and provider keys only
/// of the providers it calls.
pub(super) fn check_secret_files(effective: &Config, template: &Value, container: &Value, service: &str, owner: &str) {
    let password = effective.database.password_file.as_deref().unwrap_or_else(|| panic!("{owner}: password_file"));
    assert_eq!(
        secret_item(template, container, password, owner),
        ("shortline-database".to_owned(), Some(format!("{service}-password"))),
        "{owner}: its own password"
    );
    let tls = &effective.tls;
    for file in [&tls.cert_file, &tls.key_file, &tls.ca_file] {
        let file = file.as_deref().unwrap_or_else(|| panic!("{owner}: tls.* unset"));
        assert_eq!(secret_item(template, container, file, owner).0, format!("shortline-{service}-tls"), "{owner}");
    }
    match &effective.auth.tokens_file {
        Some(tokens) if service == "orchestrator" => {
            assert_eq!(secret_item(template, container, tokens, owner).0, "shortline-auth-tokens", "{owner}")
        }
        None if service != "orchestrator" => {}
        other => panic!("{owner}: auth.tokens_file {other:?}"),
    }
    let p = &effective.providers;
    let keys = [
        ("apify", &p.apify.api_key_file, "orchestrator"),
        ("youtube", &p.youtube.api_key_file, "orchestrator"),
        ("anthropic", &p.anthropic.api_key_file, "orchestrator scriptgen"),
        ("openai_compatible", &p.openai_compatible.api_key_file, "orchestrator scriptgen"),
        ("openai", &p.openai.api_key_file, "scriptgen"),
        ("elevenlabs", &p.elevenlabs.api_key_file, "scriptgen"),
        ("fish_audio", &p.fish_audio.api_key_file, "scriptgen"),
        ("fal", &p.fal.api_key_file, "scriptgen"),
        ("pexels", &p.pexels.api_key_file, "scriptgen"),
        ("heygen", &p.heygen.api_key_file, "scriptgen"),
    ];
    let provider_volume = seq_at(template, "spec.volumes")
        .iter()
        .find(|v| at(v, "secret.secretName").as_str().is_some_and(|s| s.starts_with("shortline-provider-keys")));
    let mounted: BTreeSet<String> = provider_volume
        .map(|v| seq_at(v, "secret.items").iter().map(|item| str_at(item, "key").to_owned()).collect())
        .unwrap_or_default();
    if let Some(volume) = provider_volume {
        assert!(!seq_at(volume, "secret.items").is_empty(), "{owner}: provider keys mounted whole");
    }
    let mut expected = BTreeSet::new();
    for (provider, file, users) in keys {
        let file = file.as_deref().unwrap_or_else(|| panic!("{owner}: providers.{provider}.api_key_file unset"));
        if users.split(' ').any(|user| user == service) {
            expected.insert(provider.to_owned());
            let (secret, key) = secret_item(template, container, file, owner);
            assert!(secret.starts_with("shortline-provider-keys"), "{owner}: {provider}'s key");
            assert_eq!(key.as_deref(), Some(provider), "{owner}: {provider}'s key file");
        }
    }
    assert_eq!(mounted, expected, "{owner}: the provider keys it may see");
}

/// scriptgen's and composer's media store: an `s3://` bucket (on an in-cluster service when the
/// endpoint names one), credentials from the `shortline-media-credentials` Secret, scratch space
/// on an emptyDir, and no shared volume.
pub(super) fn check_object_storage(
    docs: &[Value],
    effective: &Config,
    template: &Value,
    container: &Value,
    owner: &str,
) {
    let root = effective.media_root();
    assert!(
        matches!(StoreLocation::parse(&root), Ok(StoreLocation::S3 { .. })),
        "{owner}: the media store {root} is not object storage"
    );
    if let Some(endpoint) = &effective.media.s3.endpoint {
        let authority = endpoint.split_once("://").map_or(endpoint.as_str(), |(_, rest)| rest).trim_end_matches('/');
        if let Some((host, port)) = authority.split_once(':').filter(|(host, _)| !host.contains('.')) {
            let service = find(docs, "Service", host);
            let port: u64 = port.parse().expect("a port");
            assert!(
                seq_at(service, "spec.ports").iter().any(|p| u64_at(p, "port") == port),
                "{owner}: Service {host} has no port {port}"
            );
        }
    }
    let mut secrets = seq_at(container, "envFrom").iter().filter_map(|source| at(source, "secretRef.name").as_str());
    assert!(
        secrets.any(|name| name.starts_with("shortline-media-credentials")),
        "{owner}: no shortline-media-credentials Secret"
    );
    let scratch = effective.media_scratch_dir();
    let mount = seq_at(container, "volumeMounts")
        .iter()
        .find(|m| Path::new(str_at(m, "mountPath")) == scratch)
        .unwrap_or_else(|| panic!("{owner}: media.scratch_dir {} is not mounted", scratch.display()));
    let volume =
        seq_at(template, "spec.volumes").iter().find(|v| at(v, "name") == at(mount, "name")).expect("scratch volume");
    assert!(at(volume, "emptyDir").is_mapping(), "{owner}: the scratch dir is an emptyDir");
    for volume in seq_at(template, "spec.volumes") {
        assert!(
            at(volume, "persistentVolumeClaim").is_null(),
            "{owner}: mounts a volume claim; the media store is object storage"
        );
    }
}

/// (from component, to component, port) of every NetworkPolicy rule naming pods by component:
/// egress rules of the selected pods to pods, and ingress rules into the selected pods (`*` for
/// "any pod of the namespace").
pub(super) type Edge = (String, String, u16);

pub(super) fn network_edges(docs: &[Value]) -> (Vec<Edge>, Vec<Edge>) {
    let component = |selector: &Value| -> Option<Vec<String>> {
        let labels = labels(at(selector, "matchLabels"));
        if let Some(c) = labels.get("app.kubernetes.io/component") {
            return Some(vec![c.clone()]);
        }
        seq_at(selector, "matchExpressions")
            .iter()
            .find(|e| str_at(e, "key") == "app.kubernetes.io/component" && str_at(e, "operator") == "In")
            .map(|e| strings(at(e, "values")))
    };
    let ports = |rule: &Value| -> Vec<u16> {
        seq_at(rule, "ports").iter().map(|p| u16::try_from(u64_at(p, "port")).expect("a port")).collect()
    };
    let (mut egress, mut ingress) = (Vec::new(), Vec::new());
    for policy in of_kind(docs, "NetworkPolicy") {
        let Some(selected) = component(at(policy, "spec.podSelector")) else { continue };
        for rule in seq_at(policy, "spec.egress") {
            for peer in seq_at(rule, "to") {
                let Some(targets) = component(at(peer, "podSelector")) else { continue };
                for (from, to, port) in cross(&selected, &targets, &ports(rule)) {
                    egress.push((from, to, port));
                }
            }
        }
        for rule in seq_at(policy, "spec.ingress") {
            for peer in seq_at(rule, "from") {
                let pod_selector = at(peer, "podSelector");
                if pod_selector.is_null() {
                    continue;
                }
                let sources = component(pod_selector).unwrap_or_else(|| vec!["*".to_owned()]);
                for (from, to, port) in cross(&sources, &selected, &ports(rule)) {
                    ingress.push((from, to, port));
                }
            }
        }
    }
    (egress, ingress)
}

pub(super) fn cross(from: &[String], to: &[String], ports: &[u16]) -> Vec<Edge> {
    from.iter()
        .flat_map(|f| to.iter().flat_map(move |t| ports.iter().map(move |p| (f.clone(), t.clone(), *p))))
        .collect()
}
