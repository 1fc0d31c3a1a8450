//! OpenLineage run events (<https://openlineage.io>, schema 2-0-2): a run per job, and a child
//! run per stage attempt (ParentRunFacet → the job's run), each with its START and one of
//! COMPLETE, FAIL (with an ErrorMessageRunFacet) or ABORT, and the stage's input and output
//! datasets. Lineage tools (Marquez, DataHub, OpenMetadata, Purview) read them.
//!
//! Off unless `lineage.url` or `lineage.file` is set. Events go through a bounded queue to a
//! task of their own that sends them (retrying an HTTP endpoint that fails): emitting never
//! waits and never fails a job; past `lineage.buffer` queued events, new ones are dropped and
//! counted.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use shortline_config::LineageConfig;
use shortline_db::{JobKind, StageName};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tracing::{info, warn};

const SCHEMA_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const PARENT_FACET_URL: &str = "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet";
const ERROR_FACET_URL: &str =
    "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";
/// Who made the events (a URI, as the schema asks).
const PRODUCER: &str = concat!("urn:shortline:orchestrator:", env!("CARGO_PKG_VERSION"));
/// Attempts to deliver one event to an HTTP endpoint before it is dropped.
const HTTP_ATTEMPTS: u32 = 5;

/// A run's transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Start,
    Complete,
    Fail,
    Abort,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Start => "START",
            EventType::Complete => "COMPLETE",
            EventType::Fail => "FAIL",
            EventType::Abort => "ABORT",
        }
    }
}

/// The emitter the engine calls; a no-op when lineage is off.
pub struct Lineage {
    namespace: String,
    queue: Option<mpsc::Sender<Value>>,
    dropped: AtomicU64,
}

impl Lineage {
    /// Starts the sending task when `config` names a destination (call inside a tokio runtime).
    pub fn start(config: &LineageConfig) -> Lineage {
        let queue = config.enabled().then(|| {
            let (sender, receiver) = mpsc::channel(config.buffer.max(1));
            tokio::spawn(deliver(receiver, config.url.clone(), config.file.clone()));
            sender
        });
        Lineage { namespace: config.namespace.clone(), queue, dropped: AtomicU64::new(0) }
    }

    /// The event of `job`'s run.
    pub fn job(&self, event: EventType, job_id: i64, kind: JobKind, error: Option<&str>) {
        if self.queue.is_none() {
            return;
        }
        let mut facets = serde_json::Map::new();
        if let Some(message) = error {
            facets.insert("errorMessage".into(), error_facet(message));
        }
        self.emit(json!({
            "eventType": event.as_str(),
            "eventTime": now(),
            "producer": PRODUCER,
            "schemaURL": SCHEMA_URL,
            "run": { "runId": job_run_id(&self.namespace, job_id), "facets": facets },
            "job": { "namespace": self.namespace, "name": job_name(kind) },
            "inputs": [],
            "outputs": [],
        }));
    }

    /// The event of one attempt of `stage`, a child run of the job's run.
    pub fn stage(
        &self,
        event: EventType,
        job_id: i64,
        kind: JobKind,
        stage: StageName,
        attempt: i32,
        error: Option<&str>,
    ) {
        if self.queue.is_none() {
            return;
        }
        let mut facets = serde_json::Map::new();
        facets.insert(
            "parent".into(),
            json!({
                "_producer": PRODUCER,
                "_schemaURL": PARENT_FACET_URL,
                "run": { "runId": job_run_id(&self.namespace, job_id) },
                "job": { "namespace": self.namespace, "name": job_name(kind) },
            }),
        );
        if let Some(message) = error {
            facets.insert("errorMessage".into(), error_facet(message));
        }
        let (inputs, outputs) = datasets(stage);
        let dataset = |name: &&str| json!({ "namespace": self.namespace, "name": format!("job/{job_id}/{name}") });
        self.emit(json!({
            "eventType": event.as_str(),
            "eventTime": now(),
            "producer": PRODUCER,
            "schemaURL": SCHEMA_URL,
            "run": { "runId": stage_run_id(&self.namespace, job_id, stage, attempt), "facets": facets },
            "job": { "namespace": self.namespace, "name": format!("{}.{stage}", job_name(kind)) },
            "inputs": inputs.iter().map(dataset).collect::<Vec<_>>(),
            // What a stage makes exists only once it succeeded.
            "outputs": if event == EventType::Complete { outputs.iter().map(dataset).collect::<Vec<_>>() } else { Vec::new() },
        }));
    }

    fn emit(&self, event: Value) {
        let Some(queue) = &self.queue else { return };
        if queue.try_send(event).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // Once, then at every thousandth: a lineage outage is one problem, not a log flood.
            if dropped == 1 || dropped.is_multiple_of(1000) {
                warn!(dropped, "lineage events dropped: the queue is full (the endpoint is slow or away)");
            }
        }
    }
}

/// The datasets a stage reads and writes, named per job: `job/7/scripts`.
fn datasets(stage: StageName) -> (&'static [&'static str], &'static [&'static str]) {
    match stage {
        StageName::TrendCollection => (&[], &["trend_collection"]),
        StageName::TrendAnalysis => (&["trend_collection"], &["trend_report"]),
        StageName::ScriptGeneration => (&["trend_report"], &["scripts"]),
        StageName::MediaGeneration => (&["scripts"], &["media_assets"]),
        StageName::Composition => (&["scripts", "media_assets"], &["videos"]),
        StageName::Review => (&["videos"], &[]),
    }
}

fn job_name(kind: JobKind) -> String {
    format!("shortline.{kind}")
}

fn error_facet(message: &str) -> Value {
    json!({ "_producer": PRODUCER, "_schemaURL": ERROR_FACET_URL, "message": message, "programmingLanguage": "Rust" })
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The job's run id: derived from the namespace and the job id, so every worker that runs part
/// of the job (after a restart, a takeover) names the same run.
fn job_run_id(namespace: &str, job_id: i64) -> String {
    derived_uuid(&format!("{namespace}/job/{job_id}"))
}

fn stage_run_id(namespace: &str, job_id: i64, stage: StageName, attempt: i32) -> String {
    derived_uuid(&format!("{namespace}/job/{job_id}/{stage}/{attempt}"))
}

/// A UUID (version 8, RFC 9562's custom layout) made from the SHA-256 of `name`.
fn derived_uuid(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes).to_string()
}

/// Sends queued events in order until the emitter is dropped.
async fn deliver(mut queue: mpsc::Receiver<Value>, url: Option<String>, file: Option<PathBuf>) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
    while let Some(event) = queue.recv().await {
        if let Some(path) = &file {
            if let Err(error) = append_line(path, &event).await {
                warn!(path = %path.display(), %error, "cannot write a lineage event");
            }
        }
        if let Some(url) = &url {
            post(&http, url, &event).await;
        }
    }
}

async fn append_line(path: &PathBuf, event: &Value) -> std::io::Result<()> {
    let mut line = event.to_string();
    line.push('\n');
    let mut file = tokio::fs::OpenOptions::new().create(true).append(true).open(path).await?;
    file.write_all(line.as_bytes()).await?;
    file.flush().await
}

/// POSTs one event, retrying with backoff; gives up (and says so) after [`HTTP_ATTEMPTS`].
async fn post(http: &reqwest::Client, url: &str, event: &Value) {
    let mut pause = Duration::from_millis(500);
    for attempt in 1..=HTTP_ATTEMPTS {
        match http.post(url).json(event).send().await {
            Ok(response) if response.status().is_success() => return,
            // A 4xx will not pass on a second try.
            Ok(response) if response.status().is_client_error() => {
                warn!(url, status = response.status().as_u16(), "the lineage endpoint refused an event");
                return;
            }
            Ok(response) => {
                info!(url, attempt, status = response.status().as_u16(), "lineage endpoint failed; retrying")
            }
            Err(error) => info!(url, attempt, error = %error.without_url(), "lineage endpoint unreachable; retrying"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(10));
    }
    warn!(url, "a lineage event was dropped after {HTTP_ATTEMPTS} attempts");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_uuids_stable_per_job_and_attempt() {
        let id = job_run_id("shortline", 7);
        assert_eq!(id, job_run_id("shortline", 7));
        assert_ne!(id, job_run_id("shortline-prod", 7));
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        let first = stage_run_id("shortline", 7, StageName::Composition, 1);
        assert_ne!(first, stage_run_id("shortline", 7, StageName::Composition, 2));
    }

    #[tokio::test]
    async fn http_events_are_retried_until_the_endpoint_takes_them() {
        use shortline_testing::http_mock::{MockResponse, MockServer};

        let server =
            MockServer::sequence(vec![MockResponse::text(503, "busy"), MockResponse::json(201, json!({}))]).await;
        let config = LineageConfig { url: Some(format!("{}/api/v1/lineage", server.url())), ..Default::default() };
        let lineage = Lineage::start(&config);
        lineage.job(EventType::Start, 7, JobKind::Pipeline, None);
        lineage.stage(EventType::Fail, 7, JobKind::Pipeline, StageName::Composition, 1, Some("ffmpeg failed"));
        for _ in 0..100 {
            if server.requests().len() >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let requests = server.requests();
        assert_eq!(requests.len(), 3, "{requests:?}");
        assert!(requests.iter().all(|r| r.method == "POST" && r.path == "/api/v1/lineage"));
        assert_eq!(requests[0].json(), requests[1].json(), "the refused event is sent again");
        assert_eq!(requests[1].json()["eventType"], "START");
        let failed = requests[2].json();
        assert_eq!(failed["run"]["facets"]["errorMessage"]["message"], "ffmpeg failed");
        assert_eq!(failed["run"]["facets"]["parent"]["run"]["runId"], job_run_id("shortline", 7));
    }

    #[tokio::test]
    async fn a_full_queue_drops_events_instead_of_waiting() {
        // Nothing listens there: the first event is stuck in its retries, the queue holds one more.
        let config =
            LineageConfig { url: Some("http://127.0.0.1:9/api/v1/lineage".into()), buffer: 1, ..Default::default() };
        let lineage = Lineage::start(&config);
        let started = std::time::Instant::now();
        for _ in 0..100 {
            lineage.job(EventType::Start, 1, JobKind::Pipeline, None);
        }
        assert!(started.elapsed() < Duration::from_secs(1), "emitting waited: {:?}", started.elapsed());
        assert!(lineage.dropped.load(Ordering::Relaxed) >= 98);
    }
}
