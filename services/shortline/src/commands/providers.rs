//! `shortline providers`: what makes each kind of thing (sources, analyst, planner, clips,
//! voice), where the real providers are, whether their keys are set (never the keys), and
//! whether each answers a cheap authenticated request. Needs no services; writes nothing.

use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;
use shortline_config::{ProviderSet, ProvidersConfig};
use shortline_providers::{configured_endpoints, key_variables, reqwest, Endpoint};

use crate::output::{self, Table};

/// One row: a kind and who makes it.
#[derive(Debug, Serialize)]
struct ProviderRow {
    kind: &'static str,
    provider: String,
    /// Empty for the offline providers.
    base_url: String,
    /// Where the key comes from (`file …`, `env VAR`), `not set`, or `not needed`.
    key: String,
    /// `ok`, `error: …`, `offline` (nothing to check) or `not checked`.
    check: String,
    #[serde(skip)]
    failed: bool,
}

/// Lists the providers; with `check`, calls each real one (at most `timeout` each, no retries).
pub async fn run(config: &ProvidersConfig, check: bool, timeout: Duration, json: bool) -> anyhow::Result<ExitCode> {
    let mut rows = offline_rows(config);
    // No retries: a check says how the provider answers now, quickly.
    let mut once = config.clone();
    once.http.max_retries = 0;
    for (kind, endpoint) in configured_endpoints(config) {
        let key = key_source(&endpoint);
        let (check, failed) = match check {
            true => check_endpoint(&once, &endpoint, timeout).await,
            false => ("not checked".to_owned(), false),
        };
        let (provider, base_url) = (endpoint.name.to_owned(), endpoint.base_url.to_owned());
        rows.push(ProviderRow { kind, provider, base_url, key, check, failed });
    }
    rows.sort_by_key(|row| KINDS.iter().position(|kind| *kind == row.kind));
    let failed = rows.iter().any(|row| row.failed);
    if json {
        output::print_json(&serde_json::json!({ "providers": rows }))?;
    } else {
        let mut table = Table::new(&["KIND", "PROVIDER", "BASE URL", "KEY", "CHECK"]);
        for row in &rows {
            let cells = [row.kind, &row.provider, &row.base_url, &row.key, &row.check];
            table.row(cells.map(str::to_owned).to_vec());
        }
        table.print();
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The kinds, in the order a job uses them.
const KINDS: [&str; 6] = ["sources", "analyst", "planner", "clips", "voice", "avatar"];

/// The kinds no real provider is listed for, with what makes them instead.
fn offline_rows(config: &ProvidersConfig) -> Vec<ProviderRow> {
    let null = config.set == ProviderSet::Null;
    let offline = [
        ("sources", config.trends.is_empty(), "bundled samples"),
        ("analyst", config.analyst.is_none(), "heuristic"),
        ("planner", config.planner.is_none(), "template"),
        ("clips", config.clips.is_empty(), if null { "null (placeholders)" } else { "procedural (ffmpeg)" }),
        ("voice", config.voice.is_empty(), if null { "null (placeholders)" } else { "espeak-ng" }),
        ("avatar", config.avatar.is_none(), "none"),
    ];
    offline
        .into_iter()
        .filter(|(_, offline, _)| *offline)
        .map(|(kind, _, provider)| ProviderRow {
            kind,
            provider: provider.to_owned(),
            base_url: String::new(),
            key: "not needed".to_owned(),
            check: "offline".to_owned(),
            failed: false,
        })
        .collect()
}

/// Where the endpoint's key would be read from, without reading it out.
fn key_source(endpoint: &Endpoint<'_>) -> String {
    if let Some(file) = endpoint.key_file {
        return format!("file {}", file.display());
    }
    let set = key_variables(endpoint.key_owner)
        .into_iter()
        .find(|var| std::env::var(var).is_ok_and(|v| !v.trim().is_empty()));
    match set {
        Some(var) => format!("env {var}"),
        None if endpoint.key_optional => "not set (not needed)".to_owned(),
        None => "not set".to_owned(),
    }
}

/// A cheap authenticated GET the provider documents whose success proves the key: its URL and
/// extra headers.
struct CheckRequest {
    url: String,
    headers: Vec<(&'static str, String)>,
}

fn check_request(config: &ProvidersConfig, endpoint: &Endpoint<'_>) -> CheckRequest {
    let on_base = |path: &str| format!("{}{path}", endpoint.base_url.trim_end_matches('/'));
    let (url, headers) = match endpoint.name {
        "youtube" => (on_base("/youtube/v3/i18nRegions?part=snippet"), vec![]),
        "apify" => (on_base("/v2/users/me"), vec![]),
        "anthropic" => (on_base("/v1/models"), vec![("anthropic-version", config.anthropic.version.clone())]),
        "openai_compatible" => (on_base("/models"), vec![]),
        "openai" => (on_base("/v1/models"), vec![]),
        "elevenlabs" => (on_base("/v1/user"), vec![]),
        "fish_audio" => (on_base("/wallet/self/api-credit"), vec![]),
        "pexels" => (on_base("/videos/popular?per_page=1"), vec![]),
        "heygen" => (on_base("/v2/user/remaining_quota"), vec![]),
        // fal's queue has nothing a key can list (an unknown request's status answers 404
        // whatever the key); its platform API's model pricing needs the key and knows the
        // configured endpoint, so a 200 proves both.
        name => {
            let model = if name == "fal_minimax" { &config.fal.minimax_model } else { &config.fal.kling_model };
            let base = config.fal.platform_base_url.trim_end_matches('/');
            let url = reqwest::Url::parse_with_params(&format!("{base}/v1/models/pricing"), [("endpoint_id", model)])
                .map_or_else(|_| format!("{base}/v1/models/pricing"), String::from);
            (url, vec![])
        }
    };
    CheckRequest { url, headers }
}

async fn check_endpoint(config: &ProvidersConfig, endpoint: &Endpoint<'_>, timeout: Duration) -> (String, bool) {
    let mut endpoint = endpoint.clone();
    endpoint.timeout_ms = endpoint.timeout_ms.min(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
    let client = match endpoint.client(config) {
        Ok(client) => client,
        Err(error) => return (format!("error: {}", error.reason), true),
    };
    let CheckRequest { url, headers } = check_request(config, &endpoint);
    let answer = client
        .send("check", |http| {
            headers.iter().fold(http.get(&url), |request, (name, value)| request.header(*name, value))
        })
        .await;
    match answer {
        Ok(reply) if (200..300).contains(&reply.status) => ("ok".to_owned(), false),
        Ok(reply) => (format!("error: answered HTTP {} instead of 200", reply.status), true),
        Err(error) => (format!("error: {error}"), true),
    }
}
