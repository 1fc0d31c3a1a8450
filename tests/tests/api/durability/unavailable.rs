//! scriptgen failing behind a faulty proxy: UNAVAILABLE retried (also past `max_attempts`
//! and up to the stage's deadline), INVALID_ARGUMENT failing at once.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use shortline_db::{JobStatus, StageName, StageStatus};
use shortline_proto::v1;
use shortline_proto::v1::script_service_client::ScriptServiceClient;
use shortline_proto::v1::script_service_server::{ScriptService, ScriptServiceServer};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use super::support::*;
use crate::helpers::TestDb;
use crate::processes::{SystemOptions, TestSystem};

// =============================================================================================
// 4. scriptgen answers UNAVAILABLE three times, then succeeds; INVALID_ARGUMENT fails at once
// =============================================================================================

/// A ScriptService in the test process that forwards to the real scriptgen, but answers the
/// first `fail_first` GenerateScript calls with `fault` itself.
#[derive(Clone)]
struct FaultyScriptgen {
    /// The real scriptgen, once it listens (it starts on a port of its own choosing after the
    /// proxy, whose address the orchestrator is started with).
    upstream: Arc<OnceLock<ScriptServiceClient<Channel>>>,
    fail_first: usize,
    fault: tonic::Code,
    message: &'static str,
    /// When each GenerateScript call came.
    calls: Arc<Mutex<Vec<Instant>>>,
}

impl FaultyScriptgen {
    fn upstream(&self) -> Result<ScriptServiceClient<Channel>, Status> {
        self.upstream.get().cloned().ok_or_else(|| Status::unavailable("proxy: scriptgen has not started yet"))
    }
}

fn forward<T>(request: Request<T>) -> Request<T> {
    let (metadata, _, message) = request.into_parts();
    Request::from_parts(metadata, tonic::Extensions::default(), message)
}

#[tonic::async_trait]
impl ScriptService for FaultyScriptgen {
    async fn generate_script(
        &self,
        request: Request<v1::GenerateScriptRequest>,
    ) -> Result<Response<v1::Script>, Status> {
        let call = {
            let mut calls = self.calls.lock().expect("lock");
            calls.push(Instant::now());
            calls.len()
        };
        if call <= self.fail_first {
            return Err(Status::new(self.fault, self.message));
        }
        self.upstream()?.generate_script(forward(request)).await
    }

    async fn generate_media(
        &self,
        request: Request<v1::GenerateMediaRequest>,
    ) -> Result<Response<v1::GenerateMediaResponse>, Status> {
        self.upstream()?.generate_media(forward(request)).await
    }

    async fn get_script(&self, request: Request<v1::GetScriptRequest>) -> Result<Response<v1::Script>, Status> {
        self.upstream()?.get_script(forward(request)).await
    }

    async fn list_scripts(
        &self,
        request: Request<v1::ListScriptsRequest>,
    ) -> Result<Response<v1::ListScriptsResponse>, Status> {
        self.upstream()?.list_scripts(forward(request)).await
    }

    async fn list_media_assets(
        &self,
        request: Request<v1::ListMediaAssetsRequest>,
    ) -> Result<Response<v1::ListMediaAssetsResponse>, Status> {
        self.upstream()?.list_media_assets(forward(request)).await
    }
}

/// Serves `proxy` on a free port of 127.0.0.1 until the test ends.
async fn serve_proxy(proxy: FaultyScriptgen) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
    let address = listener.local_addr().expect("proxy address");
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(ScriptServiceServer::new(proxy))
            .serve_with_incoming(incoming)
            .await
            .expect("proxy serves");
    });
    address
}

/// The system with the orchestrator reaching scriptgen through a faulty proxy (the composer
/// talks to scriptgen directly).
async fn system_behind_proxy(
    db: TestDb,
    fail_first: usize,
    fault: tonic::Code,
    message: &'static str,
) -> (TestSystem, Arc<Mutex<Vec<Instant>>>) {
    system_behind_proxy_with(db, fail_first, fault, message, SystemOptions::default()).await
}

/// [`system_behind_proxy`] with more settings.
async fn system_behind_proxy_with(
    db: TestDb,
    fail_first: usize,
    fault: tonic::Code,
    message: &'static str,
    options: SystemOptions,
) -> (TestSystem, Arc<Mutex<Vec<Instant>>>) {
    let upstream = Arc::new(OnceLock::new());
    let calls = Arc::new(Mutex::new(Vec::new()));
    let proxy =
        serve_proxy(FaultyScriptgen { upstream: upstream.clone(), fail_first, fault, message, calls: calls.clone() })
            .await;
    let options = options
        .env("SHORTLINE_PIPELINE__BACKOFF_INITIAL_MS", 200)
        .env("SHORTLINE_PIPELINE__MAX_ATTEMPTS", 4)
        .orchestrator_env("SHORTLINE_SCRIPTGEN__URL", format!("http://{proxy}"));
    let system = TestSystem::start_with(db, options).await;
    let channel = tonic::transport::Endpoint::from_shared(system.scriptgen.url()).expect("url").connect_lazy();
    upstream.set(ScriptServiceClient::new(channel)).expect("set once");
    (system, calls)
}

pub(super) async fn unavailable_three_times_then_success(db: TestDb) {
    let (system, calls) =
        system_behind_proxy(db, 3, tonic::Code::Unavailable, "proxy: scriptgen is briefly away").await;
    let mut client = system.orchestrator_client().await;
    let job_id = start_job(&mut client, false).await;
    let job = wait_job(&system, job_id, &[JobStatus::AwaitingReview], Duration::from_secs(120)).await;
    let context = diagnostics(&system, job_id).await;
    let rows = attempts(&system.db, job_id).await;
    let mut problems = attempt_problems(&rows, job.status);
    problems.extend(duplicate_row_problems(&system.db, job_id, 1).await);

    let scripts = of_stage(&rows, StageName::ScriptGeneration);
    let statuses: Vec<StageStatus> = scripts.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [StageStatus::Failed, StageStatus::Failed, StageStatus::Failed, StageStatus::Succeeded],
        "script_generation attempts\n{context}"
    );
    assert_eq!(scripts.iter().map(|a| a.attempt).collect::<Vec<_>>(), [1, 2, 3, 4], "{context}");
    for failed in &scripts[..3] {
        let error = failed.error.as_deref().unwrap_or_default();
        if !error.contains("proxy: scriptgen is briefly away") {
            problems.push(format!("attempt {} does not say why it failed: {error:?}", failed.attempt));
        }
    }
    // Exponential backoff (200 ms doubling, jittered to half..full): the gaps grow.
    let gaps: Vec<Duration> = scripts.windows(2).map(|w| since(w[1].started_at, w[0].started_at)).collect();
    if !(gaps[0] >= Duration::from_millis(100) && gaps[1] > gaps[0] && gaps[2] > gaps[1]) {
        problems.push(format!("gaps between attempts do not grow from the 100..200 ms backoff: {gaps:?}"));
    }
    let proxy_calls = calls.lock().expect("lock").clone();
    if proxy_calls.len() != 4 {
        problems.push(format!("the proxy saw {} GenerateScript calls, expected 4", proxy_calls.len()));
    }
    assert_no_problems(&problems, &context);
}

/// A scriptgen that is away longer than `max_attempts` quick retries last (a restart, a pod
/// rescheduled) is waited for: UNAVAILABLE is retried over the stage's deadline, not counted.
pub(super) async fn unavailable_past_max_attempts_is_waited_for(db: TestDb) {
    let (system, calls) = system_behind_proxy_with(
        db,
        6,
        tonic::Code::Unavailable,
        "proxy: scriptgen is restarting",
        // Short pauses keep the test quick; six of them are still more than max_attempts (4).
        SystemOptions::default().env("SHORTLINE_PIPELINE__BACKOFF_MAX_MS", 400),
    )
    .await;
    let mut client = system.orchestrator_client().await;
    let job_id = start_job(&mut client, false).await;
    let job =
        wait_job(&system, job_id, &[JobStatus::AwaitingReview, JobStatus::Failed], Duration::from_secs(120)).await;
    let context = diagnostics(&system, job_id).await;
    assert_eq!(job.status, JobStatus::AwaitingReview, "{context}");
    let rows = attempts(&system.db, job_id).await;
    let statuses: Vec<StageStatus> = of_stage(&rows, StageName::ScriptGeneration).iter().map(|a| a.status).collect();
    let mut expected = vec![StageStatus::Failed; 6];
    expected.push(StageStatus::Succeeded);
    assert_eq!(statuses, expected, "script_generation attempts\n{context}");
    assert_eq!(calls.lock().expect("lock").len(), 7, "{context}");
}

/// The wait for an unreachable service ends with the stage's deadline; the job's error says
/// the service stayed unreachable.
pub(super) async fn unreachable_past_the_stage_deadline_fails_the_job(db: TestDb) {
    let (system, calls) = system_behind_proxy_with(
        db,
        usize::MAX,
        tonic::Code::Unavailable,
        "proxy: scriptgen is gone",
        SystemOptions::default().orchestrator_env("SHORTLINE_PIPELINE__STAGE_TIMEOUT_SECONDS__SCRIPT_GENERATION", 2),
    )
    .await;
    let mut client = system.orchestrator_client().await;
    let job_id = start_job(&mut client, false).await;
    let job = wait_job(&system, job_id, &[JobStatus::Failed], Duration::from_secs(60)).await;
    let context = diagnostics(&system, job_id).await;
    let error = job.error.clone().unwrap_or_default();
    assert!(
        error.contains("proxy: scriptgen is gone") && error.contains("still unreachable after"),
        "{error:?}\n{context}"
    );
    // Retried while the 2 s lasted, then given up: the job is not left waiting.
    assert!(calls.lock().expect("lock").len() > 1, "{context}");
}

pub(super) async fn invalid_argument_fails_after_one_attempt(db: TestDb) {
    const MESSAGE: &str = "proxy: the theme breaks the content policy";
    let (system, calls) = system_behind_proxy(db, usize::MAX, tonic::Code::InvalidArgument, MESSAGE).await;
    let mut client = system.orchestrator_client().await;
    let job_id = start_job(&mut client, false).await;
    wait_job(&system, job_id, &[JobStatus::Failed], Duration::from_secs(60)).await;
    let context = diagnostics(&system, job_id).await;

    let job = client.get_job(v1::GetJobRequest { job_id }).await.expect("get job").into_inner();
    assert_eq!(job.status(), v1::JobStatus::Failed, "{context}");
    assert_eq!(job.failed_stage(), v1::Stage::ScriptGeneration, "{context}");
    assert!(job.error.contains(MESSAGE), "the job's error does not carry the proxy's message: {:?}", job.error);
    assert!(job.error.contains("scriptgen"), "the job's error does not name the service: {:?}", job.error);
    assert!(
        !job.error.contains("Status {") && !job.error.contains("metadata"),
        "the job's error is not readable: {:?}",
        job.error
    );

    let rows = attempts(&system.db, job_id).await;
    let scripts = of_stage(&rows, StageName::ScriptGeneration);
    assert_eq!(scripts.len(), 1, "one attempt only:\n{context}");
    assert_eq!(scripts[0].status, StageStatus::Failed);
    assert!(scripts[0].error.as_deref().unwrap_or_default().contains(MESSAGE), "{context}");
    assert!(
        rows.iter()
            .all(|a| [StageName::TrendCollection, StageName::TrendAnalysis, StageName::ScriptGeneration]
                .contains(&a.stage)),
        "no stage after the failed one runs:\n{context}"
    );
    assert_eq!(calls.lock().expect("lock").len(), 1, "the proxy saw more than one GenerateScript call");
}
