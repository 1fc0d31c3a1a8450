//! The container image and Kubernetes manifests (issue 7).
//!
//! - Every overlay renders with `kubectl kustomize` and validates with
//!   `kubernetes-validate --strict` against the Kubernetes versions in [`KUBERNETES_VERSIONS`].
//! - The manifests and the code stay in step: ports, gRPC health service names, config keys and
//!   entry points in the rendered manifests are checked against the code's own defaults,
//!   constants and CLI parser, and the cluster config file starts the real services, which
//!   answer the probes' `shortline probe` commands. No Secret reaches a container as an environment
//!   variable (but the media bucket's keys); each service mounts only its own secret files.
//!
//! The first two need `kubectl` and `kubernetes-validate` (`pip install kubernetes-validate`; its
//! schemas are bundled, no network). Without them a test is skipped with a note, except in CI
//! (`CI` set), where a missing tool fails it.
//!
//! The tests are here; what they read the manifests and the code with is beside them:
//! [`manifests`] (rendering and navigating), [`code`] (what the code says) and [`checks`] (the
//! per-container checks).

mod checks;
mod code;
mod manifests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_yaml::Value;
use shortline_config::Config;
use shortline_grpc::Shutdown;
use shortline_proto::v1::{composer_service_server, orchestrator_service_server, script_service_server};

use crate::helpers::TestDb;
use checks::*;
use code::*;
use manifests::*;

const OVERLAYS: [&str; 2] = ["dev", "prod"];

/// The oldest Kubernetes the manifests support (the
/// `sleep` preStop action is on by default since 1.30) and the newest `kubernetes-validate` ships.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.30.0", "1.37.0"];

/// The three services: `shortline serve <name>`, Deployment and Service `shortline-<name>`.
const SERVICES: [&str; 3] = ["orchestrator", "scriptgen", "composer"];

/// A placeholder for values that come from Secrets when the effective config is checked.
const SECRET_DATABASE_URL: &str = "postgres://login:secret@database.invalid:5432/shortline";

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

// Must show 1: every overlay renders and validates strictly for current Kubernetes versions.
#[test]
fn every_overlay_renders_and_validates_strictly() {
    if !tools_present(true) {
        return;
    }
    // The validator must be able to say no: an unknown field fails --strict.
    let broken =
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  ports:\n    - port: 1\n      portName: nope\n";
    for version in KUBERNETES_VERSIONS {
        assert!(validate(broken, version).is_err(), "kubernetes-validate {version} accepted an unknown field");
    }
    for overlay in OVERLAYS {
        let yaml = render(overlay);
        let docs = documents(&yaml);
        assert!(docs.len() > 20, "{overlay} renders only {} objects", docs.len());
        for version in KUBERNETES_VERSIONS {
            if let Err(report) = validate(&yaml, version) {
                panic!("overlay {overlay} does not validate against Kubernetes {version}:\n{report}");
            }
        }
    }
}

// Must show 2: the manifests and the code agree on ports, health names, config keys and entry
// points, in every overlay.
#[test]
fn manifests_match_the_code() {
    if !tools_present(false) {
        return;
    }
    let defaults = Config::default();
    let contract = contract_services();
    let base_toml = std::fs::read_to_string(repo_root().join("deploy/k8s/base/shortline.toml")).expect("base config");
    let dockerfile = std::fs::read_to_string(repo_root().join("deploy/docker/Dockerfile")).expect("Dockerfile");

    // The image: `shortline` is the entry point; the default command serves the orchestrator;
    // it runs as the non-root uid the pods ask for.
    let instruction = |name: &str| {
        let lines: Vec<_> = dockerfile.lines().filter(|l| l.starts_with(name)).collect();
        lines.last().unwrap_or_else(|| panic!("no {name} in the Dockerfile")).to_string()
    };
    assert_eq!(instruction("ENTRYPOINT "), r#"ENTRYPOINT ["shortline"]"#);
    assert_eq!(instruction("CMD "), r#"CMD ["serve", "orchestrator"]"#);
    assert_eq!(instruction("USER "), "USER 10001:10001");
    assert!(matches!(
        cli_accepts(&["serve".into(), "orchestrator".into()], "Dockerfile"),
        shortline::Command::Serve { .. }
    ));

    for overlay in OVERLAYS {
        let docs = documents(&render(overlay));

        // The config file, as mounted: every key real and valid; the orchestrator's own trend
        // timer off (the CronJob refreshes); services bind every interface on the default ports
        // and reach each other through their Services.
        let config_map = config_map(&docs);
        let toml_text = config_map
            .get("data")
            .and_then(|data| data.get("shortline.toml"))
            .and_then(Value::as_str)
            .expect("the ConfigMap holds shortline.toml");
        assert_eq!(toml_text, base_toml, "{overlay}: the ConfigMap holds deploy/k8s/base/shortline.toml");
        let config = Config::from_toml_str(toml_text)
            .unwrap_or_else(|e| panic!("{overlay}: the cluster config is invalid: {e}"));
        assert_eq!(
            config.pipeline.trend_refresh_interval_hours, 0,
            "{overlay}: the CronJob, not the orchestrator, refreshes trends"
        );
        let config_map_name = str_at(config_map, "metadata.name");

        for service in SERVICES {
            let port = default_port(&defaults, service);
            let health = health_service(service);
            assert!(contract.contains(health), "{health} is not a service of the contract {contract:?}");
            let generated = match service {
                "orchestrator" => orchestrator_service_server::SERVICE_NAME,
                "scriptgen" => script_service_server::SERVICE_NAME,
                _ => composer_service_server::SERVICE_NAME,
            };
            assert_eq!(health, generated, "{service} registers its generated service's name");
            let (listen, url) = match service {
                "orchestrator" => (config.orchestrator.listen, &config.orchestrator.url),
                "scriptgen" => (config.scriptgen.listen, &config.scriptgen.url),
                _ => (config.composer.listen, &config.composer.url),
            };
            let owner = format!("{overlay}: shortline-{service}");
            assert!(listen.ip().is_unspecified(), "{owner}: listens on {listen}");
            assert_eq!(listen.port(), port, "{owner}: listen port");
            // The CLI reaches the orchestrator's ClusterIP Service; the services balance their
            // calls over the pods behind scriptgen's and composer's headless Services.
            let expected = match service {
                "orchestrator" => format!("https://shortline-{service}:{port}"),
                _ => format!("dns:///shortline-{service}-headless:{port}"),
            };
            assert_eq!(*url, expected, "{owner}: url");

            // Deployment: `shortline serve <service>`, the gRPC port, native gRPC probes on the
            // names the service registers, the config file mounted where SHORTLINE_CONFIG says,
            // its own database login, a drain window longer than the service's.
            let deployment = find(&docs, "Deployment", &format!("shortline-{service}"));
            let template = at(deployment, "spec.template");
            let container = the_container(template, &owner);
            assert!(at(container, "command").is_null(), "{owner}: the image's ENTRYPOINT (shortline) runs");
            let args = strings(at(container, "args"));
            assert_eq!(args, ["serve", service], "{owner}: args");
            match cli_accepts(&args, &owner) {
                shortline::Command::Serve { service: parsed, .. } => {
                    assert_eq!(format!("{parsed:?}").to_lowercase(), service, "{owner}: serves the right service")
                }
                other => panic!("{owner}: `shortline {}` is {other:?}", args.join(" ")),
            }
            // Two ports: gRPC, and the Prometheus endpoint where the cluster config puts it
            // (`<service>.metrics_listen`), announced to pod-discovering scrapers.
            let metrics_listen = match service {
                "orchestrator" => config.orchestrator.metrics_listen,
                "scriptgen" => config.scriptgen.metrics_listen,
                _ => config.composer.metrics_listen,
            };
            let metrics_port = metrics_listen.unwrap_or_else(|| panic!("{owner}: no metrics_listen")).port();
            let ports: Vec<_> = seq_at(container, "ports")
                .iter()
                .map(|p| (str_at(p, "name").to_owned(), u64_at(p, "containerPort")))
                .collect();
            assert_eq!(
                ports,
                [("grpc".to_owned(), u64::from(port)), ("metrics".to_owned(), u64::from(metrics_port))],
                "{owner}: container ports"
            );
            let annotations = labels(at(template, "metadata.annotations"));
            assert_eq!(annotations.get("prometheus.io/scrape").map(String::as_str), Some("true"), "{owner}");
            assert_eq!(annotations.get("prometheus.io/port"), Some(&metrics_port.to_string()), "{owner}");
            assert_eq!(annotations.get("prometheus.io/path").map(String::as_str), Some("/metrics"), "{owner}");

            // Exec probes (`shortline probe`, over the pod's TLS): readiness asks for the service,
            // startup and liveness for the server.
            for (probe, ready) in [("readinessProbe", true), ("livenessProbe", false), ("startupProbe", false)] {
                let command = strings(at(container, &format!("{probe}.exec.command")));
                assert_eq!(command.first().map(String::as_str), Some("shortline"), "{owner}: {probe} runs shortline");
                match cli_accepts(&command[1..], &owner) {
                    shortline::Command::Probe { service: probed, ready: asks_ready } => {
                        assert_eq!(format!("{probed:?}").to_lowercase(), service, "{owner}: {probe} probes itself");
                        assert_eq!(asks_ready, ready, "{owner}: {probe} --ready");
                    }
                    other => panic!("{owner}: {probe} runs {other:?}"),
                }
            }

            let config_path = at(env_var(container, "SHORTLINE_CONFIG").expect("SHORTLINE_CONFIG"), "value")
                .as_str()
                .expect("a path");
            let mount = seq_at(container, "volumeMounts")
                .iter()
                .find(|m| config_path.starts_with(&format!("{}/", str_at(m, "mountPath"))))
                .unwrap_or_else(|| panic!("{owner}: nothing mounted at {config_path}"));
            assert_eq!(config_path, format!("{}/shortline.toml", str_at(mount, "mountPath")), "{owner}");
            let volume = seq_at(template, "spec.volumes")
                .iter()
                .find(|v| at(v, "name") == at(mount, "name"))
                .expect("the config volume");
            assert_eq!(str_at(volume, "configMap.name"), config_map_name, "{owner}: mounts the config ConfigMap");

            let database = env_var(container, "SHORTLINE_DATABASE__URL")
                .unwrap_or_else(|| panic!("{owner}: SHORTLINE_DATABASE__URL"));
            assert!(str_at(database, "valueFrom.configMapKeyRef.name").starts_with("shortline-database"), "{owner}");
            assert_eq!(
                str_at(database, "valueFrom.configMapKeyRef.key"),
                format!("{service}-url"),
                "{owner}: its own login"
            );
            let effective = effective_config(&docs, toml_text, container, &owner);
            check_secret_files(&effective, template, container, service, &owner);

            let grace = u64_at(template, "spec.terminationGracePeriodSeconds");
            let pre_stop = at(container, "lifecycle.preStop.sleep.seconds").as_u64().unwrap_or(0);
            assert!(
                grace > effective.pipeline.shutdown_grace_seconds + pre_stop,
                "{owner}: terminationGracePeriodSeconds {grace} must exceed the preStop sleep ({pre_stop} s) \
                 + pipeline.shutdown_grace_seconds ({})",
                effective.pipeline.shutdown_grace_seconds
            );

            // The services that touch media use object storage, with their keys from the
            // credentials Secret, and work on local copies in an emptyDir at the scratch dir.
            if service != "orchestrator" {
                check_object_storage(&docs, &effective, template, container, &owner);
            }

            // Service: ClusterIP, port `grpc` with appProtocol grpc on the default port, selecting
            // the Deployment's pods.
            let svc = find(&docs, "Service", &format!("shortline-{service}"));
            assert_eq!(at(svc, "spec.type").as_str().unwrap_or("ClusterIP"), "ClusterIP", "{owner}");
            let service_ports = seq_at(svc, "spec.ports");
            assert_eq!(service_ports.len(), 2, "{owner}: the grpc and metrics Service ports");
            let metrics = &service_ports[1];
            assert_eq!(
                (str_at(metrics, "name"), u64_at(metrics, "port"), str_at(metrics, "targetPort")),
                ("metrics", u64::from(metrics_port), "metrics"),
                "{owner}: metrics Service port"
            );
            let service_port = &service_ports[0];
            assert_eq!(str_at(service_port, "name"), "grpc", "{owner}");
            assert_eq!(str_at(service_port, "appProtocol"), "grpc", "{owner}");
            assert_eq!(u64_at(service_port, "port"), u64::from(port), "{owner}: Service port");
            let target = at(service_port, "targetPort");
            assert!(
                target.as_str() == Some("grpc") || target.as_u64() == Some(u64::from(port)),
                "{owner}: targetPort {target:?}"
            );
            let selector = labels(at(svc, "spec.selector"));
            let pod_labels = labels(at(template, "metadata.labels"));
            assert!(
                !selector.is_empty() && selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v)),
                "{owner}: selector"
            );
            assert_eq!(labels(at(deployment, "spec.selector.matchLabels")), selector, "{owner}: Deployment selector");

            // scriptgen and composer also have a headless Service over the same pods and port,
            // the name their clients resolve to every pod's address.
            if service != "orchestrator" {
                let headless = find(&docs, "Service", &format!("shortline-{service}-headless"));
                assert_eq!(str_at(headless, "spec.clusterIP"), "None", "{owner}: headless");
                assert_eq!(labels(at(headless, "spec.selector")), selector, "{owner}: headless selector");
                assert_eq!(at(headless, "spec.ports"), at(svc, "spec.ports"), "{owner}: headless ports");
            }
        }

        // The migration Job: `shortline migrate` as the migrator login.
        let job = find(&docs, "Job", "shortline-migrate");
        let container = the_container(at(job, "spec.template"), "Job/shortline-migrate");
        let args = strings(at(container, "args"));
        assert_eq!(args, ["migrate", "--wait"], "{overlay}: migrate args");
        assert!(matches!(cli_accepts(&args, "Job/shortline-migrate"), shortline::Command::Migrate { wait: true, .. }));
        let database = env_var(container, "SHORTLINE_DATABASE__URL").expect("migrate database URL");
        assert_eq!(str_at(database, "valueFrom.configMapKeyRef.key"), "migrate-url");
        let effective = effective_config(&docs, toml_text, container, "Job/shortline-migrate");
        let password = effective.database.password_file.as_deref().expect("the migrator's password file");
        assert_eq!(
            secret_item(at(job, "spec.template"), container, password, "Job/shortline-migrate"),
            ("shortline-database".to_owned(), Some("migrate-password".to_owned()))
        );

        // The trend refresh CronJob: `shortline trends collect` against the orchestrator Service.
        let cron = find(&docs, "CronJob", "shortline-trends-refresh");
        assert_eq!(str_at(cron, "spec.schedule"), "0 */6 * * *", "{overlay}: every 6 hours");
        let container = the_container(at(cron, "spec.jobTemplate.spec.template"), "CronJob/shortline-trends-refresh");
        let args = strings(at(container, "args"));
        assert_eq!(args, ["trends", "collect"], "{overlay}: CronJob args");
        cli_accepts(&args, "CronJob/shortline-trends-refresh");
        let orchestrator_url = env_var(container, "SHORTLINE_ORCHESTRATOR__URL").expect("SHORTLINE_ORCHESTRATOR__URL");
        assert_eq!(str_at(orchestrator_url, "value"), config.orchestrator.url);
        assert!(env_var(container, "SHORTLINE_DATABASE__URL").is_none(), "the CronJob needs no database login");
        let effective = effective_config(&docs, toml_text, container, "CronJob/shortline-trends-refresh");
        let cron_template = at(cron, "spec.jobTemplate.spec.template");
        let ca = effective.tls.ca_file.as_deref().expect("the CronJob trusts the orchestrator's CA");
        assert_eq!(
            secret_item(cron_template, container, ca, "CronJob").0,
            "shortline-orchestrator-tls",
            "{overlay}: the CronJob trusts the CA of the orchestrator's certificate"
        );
        let token_file = str_at(env_var(container, "SHORTLINE_TOKEN_FILE").expect("SHORTLINE_TOKEN_FILE"), "value");
        assert_eq!(
            secret_item(cron_template, container, Path::new(token_file), "CronJob").0,
            "shortline-trends-refresh-token"
        );

        // Every pod: non-root (the image's uid), read-only root, no privilege escalation, no
        // capabilities, scratch space on an emptyDir at /tmp, covered by the default-deny policy.
        for (owner, template) in pod_templates(&docs) {
            let owner = format!("{overlay}: {owner}");
            assert_eq!(
                at(template, "spec.securityContext.runAsNonRoot").as_bool(),
                Some(true),
                "{owner}: runAsNonRoot"
            );
            let container = the_container(template, &owner);
            check_files_only(container, &owner);
            if str_at(container, "image").contains("shortline") {
                let component = labels(at(template, "metadata.labels"))
                    .get("app.kubernetes.io/component")
                    .cloned()
                    .unwrap_or_else(|| panic!("{owner}: no component label"));
                let account = str_at(template, "spec.serviceAccountName");
                assert_eq!(account, format!("shortline-{component}"), "{owner}: a ServiceAccount of its own");
                let sa = find(&docs, "ServiceAccount", account);
                assert_eq!(at(sa, "automountServiceAccountToken").as_bool(), Some(false), "{owner}: {account}");
                assert_eq!(at(template, "spec.automountServiceAccountToken").as_bool(), Some(false), "{owner}");
            }
            assert_eq!(
                at(container, "securityContext.readOnlyRootFilesystem").as_bool(),
                Some(true),
                "{owner}: read-only root"
            );
            assert_eq!(at(container, "securityContext.allowPrivilegeEscalation").as_bool(), Some(false), "{owner}");
            assert_eq!(strings(at(container, "securityContext.capabilities.drop")), ["ALL"], "{owner}");
            assert!(
                at(container, "resources.requests").is_mapping() && at(container, "resources.limits").is_mapping(),
                "{owner}: resources"
            );
            if str_at(container, "image").contains("shortline") {
                assert_eq!(u64_at(template, "spec.securityContext.runAsUser"), 10001, "{owner}: the image's user");
                let tmp = seq_at(container, "volumeMounts")
                    .iter()
                    .find(|m| str_at(m, "mountPath") == "/tmp")
                    .expect("/tmp mounted");
                let volume = seq_at(template, "spec.volumes")
                    .iter()
                    .find(|v| at(v, "name") == at(tmp, "name"))
                    .expect("tmp volume");
                assert!(at(volume, "emptyDir").is_mapping(), "{owner}: /tmp is an emptyDir");
            }
            assert_eq!(
                labels(at(template, "metadata.labels")).get("app.kubernetes.io/part-of").map(String::as_str),
                Some("shortline"),
                "{owner}"
            );
        }

        // NetworkPolicies admit exactly the calls of the design, on the code's ports.
        let port_of = |component: &str| SERVICES.contains(&component).then(|| default_port(&defaults, component));
        let (egress, ingress) = network_edges(&docs);
        let egress: BTreeSet<_> = egress.into_iter().filter(|(_, to, _)| port_of(to).is_some()).collect();
        let ingress: BTreeSet<_> = ingress.into_iter().filter(|(_, to, _)| port_of(to).is_some()).collect();
        let edge = |from: &str, to: &str| (from.to_owned(), to.to_owned(), port_of(to).expect("a service"));
        assert_eq!(
            egress,
            BTreeSet::from([
                edge("orchestrator", "scriptgen"),
                edge("orchestrator", "composer"),
                edge("composer", "scriptgen"),
                edge("trends-refresh", "orchestrator"),
            ]),
            "{overlay}: egress between shortline pods"
        );
        assert_eq!(
            ingress,
            BTreeSet::from([
                edge("*", "orchestrator"),
                edge("orchestrator", "scriptgen"),
                edge("composer", "scriptgen"),
                edge("orchestrator", "composer"),
            ]),
            "{overlay}: ingress to shortline services"
        );

        // Scrapes of every metrics port are admitted from the monitoring namespace.
        let scraped: BTreeSet<u64> = of_kind(&docs, "NetworkPolicy")
            .flat_map(|policy| seq_at(policy, "spec.ingress"))
            .filter(|rule| {
                seq_at(rule, "from").iter().any(|peer| {
                    labels(at(peer, "namespaceSelector.matchLabels")).get("kubernetes.io/metadata.name")
                        == Some(&"monitoring".to_owned())
                })
            })
            .flat_map(|rule| seq_at(rule, "ports").iter().map(|p| u64_at(p, "port")).collect::<Vec<_>>())
            .collect();
        let metrics_ports: BTreeSet<u64> =
            [config.orchestrator.metrics_listen, config.scriptgen.metrics_listen, config.composer.metrics_listen]
                .iter()
                .flatten()
                .map(|address| u64::from(address.port()))
                .collect();
        assert_eq!(scraped, metrics_ports, "{overlay}: the monitoring namespace scrapes every metrics port");

        // The autoscalers scale the Deployments that exist.
        for hpa in of_kind(&docs, "HorizontalPodAutoscaler") {
            find(&docs, str_at(hpa, "spec.scaleTargetRef.kind"), str_at(hpa, "spec.scaleTargetRef.name"));
        }
        let scaled: BTreeSet<_> = of_kind(&docs, "HorizontalPodAutoscaler")
            .map(|h| str_at(h, "spec.scaleTargetRef.name").to_owned())
            .collect();
        assert_eq!(
            scaled,
            BTreeSet::from(["shortline-composer".to_owned(), "shortline-scriptgen".to_owned()]),
            "{overlay}"
        );
    }
}

// Must show 2, at run time: the cluster's config file (listening on port 0 here, on a test
// database) starts the three real services, and each answers the health checks its probes make.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_config_starts_services_that_answer_their_probes() {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let toml_text = std::fs::read_to_string(repo_root().join("deploy/k8s/base/shortline.toml")).expect("base config");
    let mut config = Config::from_toml_str(&toml_text).expect("the cluster config");
    config.database.url = Some(db.url.clone());
    config.data_dir = dir.path().to_owned();
    config.media.root = Some(dir.path().join("media").display().to_string());
    for listen in [&mut config.orchestrator.listen, &mut config.scriptgen.listen, &mut config.composer.listen] {
        *listen = "127.0.0.1:0".parse().expect("address");
    }
    // The metrics ports too: tests run side by side.
    for metrics in [
        &mut config.orchestrator.metrics_listen,
        &mut config.scriptgen.metrics_listen,
        &mut config.composer.metrics_listen,
    ] {
        *metrics = Some("127.0.0.1:0".parse().expect("address"));
    }

    // The probes of the base Deployments, as written: `shortline probe ...` commands.
    let mut probes = BTreeMap::new();
    for service in SERVICES {
        let text =
            std::fs::read_to_string(repo_root().join(format!("deploy/k8s/base/{service}.yaml"))).expect("manifest");
        let docs = documents(&text);
        let deployment = find(&docs, "Deployment", &format!("shortline-{service}"));
        let container = the_container(at(deployment, "spec.template"), service);
        let commands: Vec<Vec<String>> = ["readinessProbe", "livenessProbe", "startupProbe"]
            .iter()
            .map(|probe| strings(at(container, &format!("{probe}.exec.command"))))
            .collect();
        probes.insert(service, commands);
    }
    // Run as the pod would, with the service's listen address (port 0 here: the one it got).
    let probe = |command: &[String], service: &str, address: std::net::SocketAddr| {
        std::process::Command::new(crate::processes::shortline_binary())
            .args(&command[1..])
            .env(format!("SHORTLINE_{}__LISTEN", service.to_uppercase()), address.to_string())
            .env("SHORTLINE_DATA_DIR", dir.path())
            .output()
            .expect("shortline probe")
    };

    let shutdown = Shutdown::new();
    let embedded = shortline::Embedded::start(config, &shutdown, shortline::Work::Pipeline)
        .await
        .expect("start the three services");
    for (service, address) in
        [("orchestrator", embedded.orchestrator), ("scriptgen", embedded.scriptgen), ("composer", embedded.composer)]
    {
        for command in &probes[service] {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            loop {
                let output = probe(command, service, address);
                if output.status.success() {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{service}: `{}` fails after 20 s: {}",
                    command.join(" "),
                    String::from_utf8_lossy(&output.stderr)
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        // Where nothing listens, the probe fails, so the checks above mean something.
        let nowhere = std::net::SocketAddr::from(([127, 0, 0, 1], crate::processes::free_port()));
        assert!(!probe(&probes[service][0], service, nowhere).status.success(), "{service}: a probe of nothing");
    }
    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(60), embedded.stopped())
        .await
        .expect("stopped in time")
        .expect("stopped cleanly");
}

// The image build context is an allow-list that keeps everything the build needs.
#[test]
fn the_build_context_holds_what_the_image_build_needs() {
    let ignore = std::fs::read_to_string(repo_root().join(".dockerignore")).expect(".dockerignore");
    let lines: Vec<&str> = ignore.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert_eq!(lines.first(), Some(&"*"), "an allow-list: everything is excluded first");
    let allowed: BTreeSet<&str> =
        lines.iter().filter_map(|l| l.strip_prefix('!')).map(|l| l.trim_end_matches('/')).collect();
    // The workspace's manifests and every member, plus the files the crates include at compile time.
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).expect("Cargo.toml");
    let workspace: toml::Table = manifest.parse().expect("workspace manifest");
    let members = strings_of_toml(&workspace["workspace"]["members"]);
    let mut needed: BTreeSet<String> = ["Cargo.toml", "Cargo.lock", "themes"].map(str::to_owned).into();
    needed.extend(members.iter().map(|m| m.split('/').next().expect("a path").to_owned()));
    for path in &needed {
        assert!(allowed.contains(path.as_str()), ".dockerignore leaves out `{path}`, which the build needs");
    }
    for never in ["**/target/", "**/.shortline/"] {
        assert!(lines.contains(&never), ".dockerignore must exclude {never}");
    }
}

fn strings_of_toml(value: &toml::Value) -> Vec<String> {
    value.as_array().expect("an array").iter().map(|v| v.as_str().expect("a string").to_owned()).collect()
}

/// The standard labels every object of every overlay carries, non-empty.
const STANDARD_LABELS: [&str; 6] = ["name", "instance", "version", "component", "part-of", "managed-by"];

// Issue 17: every object says what it is, which instance and version it belongs to, and what
// manages it; PostgreSQL and MinIO in dev are labelled as what they are.
#[test]
fn every_object_carries_the_standard_labels() {
    if !tools_present(false) {
        return;
    }
    for overlay in OVERLAYS {
        for object in documents(&render(overlay)) {
            let owner = format!("{overlay}: {}", name_of(&object));
            let labels = labels(at(&object, "metadata.labels"));
            for label in STANDARD_LABELS {
                let value = labels.get(&format!("app.kubernetes.io/{label}"));
                assert!(value.is_some_and(|v| !v.is_empty()), "{owner}: no app.kubernetes.io/{label}");
            }
            assert_eq!(labels["app.kubernetes.io/instance"], format!("shortline-{overlay}"), "{owner}");
            assert_eq!(labels["app.kubernetes.io/part-of"], "shortline", "{owner}");
            let name = &labels["app.kubernetes.io/name"];
            let expected = match str_at(&object, "metadata.name") {
                n if n.starts_with("shortline-postgres") => "postgresql",
                n if n.starts_with("shortline-minio") => "minio",
                _ => "shortline",
            };
            assert_eq!(name, expected, "{owner}");
        }
    }
}

/// A Kubernetes quantity in bytes (`64Mi`, `6Gi`).
fn bytes(quantity: &str) -> u64 {
    let (number, unit) = quantity.split_at(quantity.find(|c: char| !c.is_ascii_digit()).unwrap_or(quantity.len()));
    let scale = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        other => panic!("unexpected unit {other} in {quantity}"),
    };
    number.parse::<u64>().expect("a number") * scale
}

// Issue 17: the migration Job and the CronJob request and limit ephemeral storage; every pod's
// emptyDirs fit within its containers' ephemeral-storage limit; prod spreads pods over zones.
#[test]
fn storage_is_bounded_and_prod_spreads_over_zones() {
    if !tools_present(false) {
        return;
    }
    for overlay in OVERLAYS {
        let docs = documents(&render(overlay));
        for (owner, template) in pod_templates(&docs) {
            let owner = format!("{overlay}: {owner}");
            let containers = seq_at(template, "spec.containers");
            let limit: u64 =
                containers.iter().map(|c| at(c, "resources.limits.ephemeral-storage").as_str().map_or(0, bytes)).sum();
            let empty_dirs: u64 = seq_at(template, "spec.volumes")
                .iter()
                .filter_map(|volume| at(volume, "emptyDir.sizeLimit").as_str().map(bytes))
                .sum();
            if empty_dirs > 0 {
                assert!(limit > empty_dirs, "{owner}: emptyDirs of {empty_dirs} bytes within a limit of {limit}");
            }
        }
        let templates = pod_templates(&docs);
        for name in ["shortline-migrate", "shortline-trends-refresh"] {
            let (_, template) = templates
                .iter()
                .find(|(owner, _)| owner.ends_with(&format!("/{name}")))
                .unwrap_or_else(|| panic!("{overlay}: no {name}"));
            for container in seq_at(template, "spec.containers") {
                for bound in ["requests", "limits"] {
                    let value = at(container, &format!("resources.{bound}.ephemeral-storage"));
                    assert!(value.as_str().is_some(), "{overlay}: {name}: no ephemeral-storage {bound}");
                }
            }
        }
        if overlay == "prod" {
            for service in SERVICES {
                let deployment = find(&docs, "Deployment", &format!("shortline-{service}"));
                let keys: Vec<&str> = seq_at(deployment, "spec.template.spec.topologySpreadConstraints")
                    .iter()
                    .map(|constraint| str_at(constraint, "topologyKey"))
                    .collect();
                assert!(keys.contains(&"topology.kubernetes.io/zone"), "prod: {service} spreads over {keys:?}");
                assert!(keys.contains(&"kubernetes.io/hostname"), "prod: {service} spreads over {keys:?}");
            }
        }
    }
}
