//! Issue 16, must-show 2: a real Prometheus server (Debian package `prometheus`) scrapes the
//! three services' `/metrics` during a pipeline run, and its HTTP API shows the run.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use shortline_proto::v1;
use tokio::process::{Child, Command};

use crate::helpers::TestDb;
use crate::pipeline::{small_theme, start_request, wait_for};
use crate::processes::{free_port, SystemOptions, TestSystem};
use shortline_testing::on_both_backends;

/// A Prometheus server scraping `targets` every second; killed when dropped.
struct Prometheus {
    child: Child,
    url: String,
}

impl Prometheus {
    fn start(targets: &[String], dir: &Path) -> Prometheus {
        let config = dir.join("prometheus.yml");
        let targets = targets.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(", ");
        let yaml = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: shortline\n    static_configs:\n      - targets: [{targets}]\n"
        );
        std::fs::write(&config, yaml).expect("prometheus.yml");
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).expect("prometheus.log"))
            .kill_on_drop(true)
            .spawn()
            .expect("the `prometheus` binary (Debian package `prometheus`; scripts/dev test installs it)");
        Prometheus { child, url: format!("http://127.0.0.1:{port}") }
    }

    /// The value of the instant `query`'s first series, if it has one.
    async fn query(&self, query: &str) -> Option<f64> {
        let url = format!("{}/api/v1/query", self.url);
        let response = reqwest::Client::new().get(url).query(&[("query", query)]).send().await.ok()?;
        let body: serde_json::Value = response.json().await.ok()?;
        body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }

    /// Waits (scrapes come every second) until `query` answers at least `at_least`.
    async fn wait_for_at_least(&mut self, query: &str, at_least: f64) {
        for _ in 0..120 {
            if let Some(value) = self.query(query).await {
                if value >= at_least {
                    return;
                }
            }
            assert!(self.child.try_wait().expect("try_wait").is_none(), "prometheus exited");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("prometheus never answered `{query}` with at least {at_least}: {:?}", self.query(query).await);
    }
}

async fn prometheus_scrapes_the_services_during_a_pipeline_run(db: TestDb) {
    let ports = [free_port(), free_port(), free_port()];
    let listen = |port: u16| format!("127.0.0.1:{port}");
    let options = SystemOptions::default()
        .orchestrator_env("SHORTLINE_ORCHESTRATOR__METRICS_LISTEN", listen(ports[0]))
        .scriptgen_env("SHORTLINE_SCRIPTGEN__METRICS_LISTEN", listen(ports[1]))
        .composer_env("SHORTLINE_COMPOSER__METRICS_LISTEN", listen(ports[2]));
    let system = TestSystem::start_with(db, options).await;
    let targets: Vec<String> = ports.iter().map(|port| listen(*port)).collect();
    let mut prometheus = Prometheus::start(&targets, system.dir.path());

    let mut client = system.orchestrator_client().await;
    let job = client.start_job(start_request(small_theme(false))).await.expect("start").into_inner();
    wait_for(&mut client, job.id, &[v1::JobStatus::AwaitingReview], Duration::from_secs(300)).await;

    prometheus.wait_for_at_least(r#"sum(grpc_server_handled_total{grpc_method="StartJob",grpc_code="OK"})"#, 1.0).await;
    // The orchestrator's calls reached the other two services, counted there.
    prometheus
        .wait_for_at_least(r#"sum(grpc_server_handled_total{grpc_service="shortline.v1.ScriptService"})"#, 1.0)
        .await;
    prometheus
        .wait_for_at_least(r#"sum(grpc_server_handled_total{grpc_service="shortline.v1.ComposerService"})"#, 1.0)
        .await;
    for stage in ["trend_collection", "trend_analysis", "script_generation", "media_generation", "composition"] {
        let query =
            format!(r#"sum(shortline_stage_attempt_duration_seconds_count{{stage="{stage}",outcome="succeeded"}})"#);
        prometheus.wait_for_at_least(&query, 1.0).await;
    }
    prometheus.wait_for_at_least(r#"shortline_jobs{status="awaiting_review"}"#, 1.0).await;
    prometheus.wait_for_at_least(r#"sum(shortline_render_seconds_count)"#, 1.0).await;
}

on_both_backends!(prometheus_scrapes_the_services_during_a_pipeline_run);
