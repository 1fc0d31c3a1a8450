//! Issue 16, must-show 1 and 4 (traces): the three services as separate processes export their
//! spans over OTLP/gRPC to a collector the test runs (opentelemetry-proto's TraceService), and a
//! job is one trace: one tree rooted at the orchestrator's job span, every span with `job_id`.
//! With the collector away, jobs still complete.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use shortline_proto::v1;

use crate::helpers::TestDb;
use crate::pipeline::{small_theme, start_request, wait_for};
use crate::processes::{free_port, shortline_binary, SystemOptions, TestSystem};
use shortline_testing::on_both_backends;

/// One received span, flattened.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: HashMap<String, String>,
}

impl Span {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// An OTLP/gRPC trace receiver on a free port, keeping every span it is sent.
#[derive(Default, Clone)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut kept = self.spans.lock().expect("spans");
        for resource_spans in request.into_inner().resource_spans {
            let resource = resource_spans.resource.map(|r| attributes(&r.attributes)).unwrap_or_default();
            let service = resource.get("service.name").cloned().unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|scope| scope.spans) {
                kept.push(Span {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex::encode(&span.trace_id),
                    span_id: hex::encode(&span.span_id),
                    parent_span_id: hex::encode(&span.parent_span_id),
                    attributes: attributes(&span.attributes),
                });
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

fn attributes(list: &[KeyValue]) -> HashMap<String, String> {
    list.iter()
        .filter_map(|kv| {
            let value = match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => s.clone(),
                Value::IntValue(i) => i.to_string(),
                Value::BoolValue(b) => b.to_string(),
                Value::DoubleValue(d) => d.to_string(),
                other => format!("{other:?}"),
            };
            Some((kv.key.clone(), value))
        })
        .collect()
}

impl Collector {
    /// Serves on 127.0.0.1, port 0; returns the endpoint URL.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        format!("http://{address}")
    }

    fn spans(&self) -> Vec<Span> {
        self.spans.lock().expect("spans").clone()
    }
}

/// Spans leave each service in batches; short ones keep the test quick.
fn traced(endpoint: &str) -> SystemOptions {
    SystemOptions::default().env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint).env("OTEL_BSP_SCHEDULE_DELAY", 200)
}

async fn a_job_is_one_trace_across_the_three_services(db: TestDb) {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let system = TestSystem::start_with(db, traced(&endpoint)).await;
    let mut client = system.orchestrator_client().await;
    let job = client.start_job(start_request(small_theme(false))).await.expect("start").into_inner();
    wait_for(&mut client, job.id, &[v1::JobStatus::AwaitingReview], Duration::from_secs(300)).await;
    let job = client.get_job(v1::GetJobRequest { job_id: job.id }).await.expect("get").into_inner();
    let trace_id = job.trace_id.clone();
    assert_eq!(trace_id.len(), 32, "the job records its trace id: {job:?}");
    let job_id = job.id.to_string();

    // The root (the job span) ends last in the orchestrator; the other services' last batches
    // may come a little later: wait until every parent has arrived.
    let mut spans = Vec::new();
    for _ in 0..100 {
        spans = collector.spans().into_iter().filter(|s| s.trace_id == trace_id).collect();
        let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
        let root = spans.iter().any(|s| s.name == "job" && s.parent_span_id.is_empty());
        if root && spans.iter().all(|s| s.parent_span_id.is_empty() || ids.contains(s.parent_span_id.as_str())) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // One tree: one root, the orchestrator's job span, and every parent present.
    let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let roots: Vec<&Span> = spans.iter().filter(|s| s.parent_span_id.is_empty()).collect();
    assert_eq!(roots.len(), 1, "one root: {roots:#?}");
    assert_eq!((roots[0].name.as_str(), roots[0].service.as_str()), ("job", "shortline-orchestrator"));
    for span in &spans {
        assert!(
            span.parent_span_id.is_empty() || ids.contains(span.parent_span_id.as_str()),
            "the parent of {span:?} is in the trace"
        );
        assert_eq!(span.attribute("job_id"), Some(job_id.as_str()), "every span carries job_id: {span:?}");
    }
    let services: HashSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(services, HashSet::from(["shortline-orchestrator", "shortline-scriptgen", "shortline-composer"]));

    // Every span of the job's work, from any service, is in this trace. (Calls about the job —
    // StartJob, GetJob, WatchJob, GetJobLineage and the lookups it makes — are in the caller's.)
    for span in collector.spans() {
        if span.attribute("job_id") == Some(job_id.as_str())
            && !span.name.starts_with("shortline.v1.OrchestratorService/")
        {
            assert_eq!(span.trace_id, trace_id, "a span of job {job_id} outside its trace: {span:?}");
        }
    }

    // A span per stage attempt (as many as the job's attempt rows; the review waiting for a
    // reviewer is open, not an attempt run), per RPC and per ffmpeg run.
    let attempts: Vec<&Span> = spans.iter().filter(|s| s.name == "stage_attempt").collect();
    let rows = job.stages.iter().filter(|run| run.stage() != v1::Stage::Review).count();
    assert_eq!(attempts.len(), rows, "one span per attempt: {attempts:#?}");
    let stages: HashSet<&str> = attempts.iter().filter_map(|s| s.attribute("stage")).collect();
    for stage in ["trend_collection", "trend_analysis", "script_generation", "media_generation", "composition"] {
        assert!(stages.contains(stage), "{stage} has an attempt span: {stages:?}");
    }
    assert!(attempts.iter().all(|s| s.attribute("attempt").is_some()));
    let span_named = |service: &str, name: &str| spans.iter().any(|s| s.service == service && s.name == name);
    assert!(span_named("shortline-scriptgen", "shortline.v1.ScriptService/GenerateScript"));
    assert!(span_named("shortline-scriptgen", "shortline.v1.ScriptService/GenerateMedia"));
    assert!(span_named("shortline-composer", "shortline.v1.ComposerService/ComposeVideo"));
    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    // The trace crossed the processes: scriptgen's and the composer's server spans are children
    // of the orchestrator's stage attempts.
    for (service, rpc) in [
        ("shortline-scriptgen", "shortline.v1.ScriptService/GenerateScript"),
        ("shortline-composer", "shortline.v1.ComposerService/ComposeVideo"),
    ] {
        let server = spans.iter().find(|s| s.service == service && s.name == rpc).expect("server span");
        let parent = by_id[server.parent_span_id.as_str()];
        assert_eq!((parent.service.as_str(), parent.name.as_str()), ("shortline-orchestrator", "stage_attempt"));
    }
    let ffmpeg = |service: &str| {
        spans
            .iter()
            .filter(|s| s.service == service && s.name == "tool" && s.attribute("program") == Some("ffmpeg"))
            .count()
    };
    assert!(ffmpeg("shortline-scriptgen") >= 1, "clips are made by ffmpeg runs, each a span");
    assert!(ffmpeg("shortline-composer") >= 1, "the render is an ffmpeg run with a span");
    assert!(spans.iter().any(|s| s.name == "db" && s.attribute("db.operation") == Some("start stage attempt")));

    // `shortline show` names the trace.
    let show = tokio::process::Command::new(shortline_binary())
        .args(["show", &job_id])
        .env("SHORTLINE_ORCHESTRATOR__URL", system.orchestrator.url())
        .env("SHORTLINE_DATA_DIR", system.dir.path())
        .output()
        .await
        .expect("shortline show");
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(show.status.success() && shown.contains(&format!("trace {trace_id}")), "{shown}");
}

async fn jobs_complete_with_the_collector_unreachable(db: TestDb) {
    // Nothing listens there: every export fails, and no request may notice.
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let metrics = format!("127.0.0.1:{}", free_port());
    let options = traced(&endpoint).orchestrator_env("SHORTLINE_ORCHESTRATOR__METRICS_LISTEN", &metrics);
    let system = TestSystem::start_with(db, options).await;
    let mut client = system.orchestrator_client().await;
    let job = client.start_job(start_request(small_theme(false))).await.expect("start").into_inner();
    wait_for(&mut client, job.id, &[v1::JobStatus::AwaitingReview], Duration::from_secs(300)).await;
    let job = client.get_job(v1::GetJobRequest { job_id: job.id }).await.expect("get").into_inner();
    assert_eq!(job.trace_id.len(), 32, "the trace id is still recorded: {job:?}");

    // What was lost is counted: the spans that ended, and the batches the collector never took.
    let (mut ended, mut failed) = (0.0, 0.0);
    for _ in 0..150 {
        let text =
            reqwest::get(format!("http://{metrics}/metrics")).await.expect("metrics").text().await.expect("body");
        ended = sample(&text, "shortline_trace_spans_ended_total");
        failed = sample(&text, r#"shortline_trace_spans_exported_total{outcome="failed"}"#);
        if failed > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(failed > 0.0 && ended >= failed, "ended {ended}, failed {failed}");
}

/// The value of one sample line of a Prometheus text exposition (0 when absent).
fn sample(exposition: &str, series: &str) -> f64 {
    exposition.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok()).unwrap_or(0.0)
}

on_both_backends!(a_job_is_one_trace_across_the_three_services);
on_both_backends!(jobs_complete_with_the_collector_unreachable);
