//! gRPC server scaffolding every shortline service uses: health, reflection, request spans with
//! `job_id`, readiness polling and graceful shutdown.
//!
//! # Shape
//!
//! A service's `Application` binds its listener itself (so it can report the real address when
//! the port is 0), builds [`tonic::service::Routes`] with its own service, and hands everything
//! to [`serve`] (or to [`GrpcServer`] for the less common knobs):
//!
//! ```ignore
//! use crate::{self, Readiness, Shutdown};
//!
//! let listener = tokio::net::TcpListener::bind(config.scriptgen.listen).await?;
//! let addr = listener.local_addr()?;
//! let routes = tonic::service::Routes::new(ScriptServiceServer::new(service));
//! let db = pool.clone();
//! let readiness = Readiness::new(move || {
//!     let db = db.clone();
//!     async move { db.ping().await.is_ok() }
//! });
//! let shutdown = Shutdown::on_signals();
//! grpc::GrpcServer::new(routes)
//!     .health_service(ScriptServiceServer::<Svc>::NAME)   // or the "shortline.v1.ScriptService" string
//!     .readiness(readiness)
//!     .drain_timeout(config.pipeline.shutdown_grace())
//!     .serve(listener, shutdown)
//!     .await?;
//! ```
//!
//! # What the server does
//!
//! - Serves the caller's routes plus `grpc.health.v1.Health` and server reflection **v1 and
//!   v1alpha** (grpcurl 1.8 speaks only v1alpha) over `shortline_proto::FILE_DESCRIPTOR_SET` and
//!   the health service's own descriptors.
//! - Health: every named service starts NOT_SERVING; the readiness probe runs at start and then
//!   every [`Readiness::every`] interval (default 5 s; a probe slower than the interval counts as
//!   not ready) and sets them SERVING / NOT_SERVING. `""` (the whole server) is liveness: SERVING
//!   from start until shutdown, so a database outage makes a pod unready, not restarted.
//! - Shutdown ([`Shutdown::trigger`], SIGTERM or Ctrl-C with [`Shutdown::on_signals`]): FIRST
//!   stops the probe and sets everything NOT_SERVING (health watchers and load balancers see it),
//!   then stops accepting connections and drains in-flight calls; calls still running after the
//!   drain timeout (default 20 s) are dropped and `serve` returns.
//! - Every request runs in an `info` span `grpc` with `rpc` (the gRPC path) and `job_id` (from the
//!   [`JOB_ID_HEADER`] metadata, else empty: a handler may fill it with [`record_job_id`]).
//!   Clients put the header on outgoing calls with [`with_job_id`] / [`set_job_id`], so one
//!   job's spans line up across services.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

use crate::tls::ReloadingTls;
use tokio_stream::wrappers::ReceiverStream;

/// The metadata key carrying the job a call works for, on every inter-service call.
pub const JOB_ID_HEADER: &str = "x-shortline-job-id";

/// How often readiness is probed unless [`Readiness::every`] says otherwise.
pub const DEFAULT_READINESS_INTERVAL: Duration = Duration::from_secs(5);

/// How long in-flight calls may run after shutdown unless [`GrpcServer::drain_timeout`] says
/// otherwise (the default of `pipeline.shutdown_grace_seconds`).
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Shutdown
// ---------------------------------------------------------------------------------------------

/// A process-wide "stop now" signal: cheap to clone, every clone sees the same trigger.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// A shutdown that happens only when [`Shutdown::trigger`] is called.
    pub fn new() -> Self {
        Self::default()
    }

    /// A shutdown also triggered by SIGTERM (Kubernetes) or Ctrl-C. Spawns a task, so it must be
    /// called inside a Tokio runtime; the task ends when the shutdown is triggered either way.
    pub fn on_signals() -> Self {
        let shutdown = Self::new();
        let token = shutdown.token.clone();
        tokio::spawn(async move {
            tokio::select! {
                signal = wait_for_signal() => {
                    tracing::info!(signal, "shutdown signal received");
                    token.cancel();
                }
                () = token.cancelled() => {}
            }
        });
        shutdown
    }

    /// Starts the shutdown; idempotent.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes when the shutdown is triggered (at once if it already was).
    pub fn cancelled(&self) -> impl Future<Output = ()> + Send + 'static {
        self.token.clone().cancelled_owned()
    }

    /// The underlying token, for `select!`-ing in workers or deriving child tokens.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// A shutdown triggered with this one, but which can also be triggered on its own.
    pub fn child(&self) -> Shutdown {
        Shutdown { token: self.token.child_token() }
    }
}

impl From<CancellationToken> for Shutdown {
    fn from(token: CancellationToken) -> Self {
        Self { token }
    }
}

/// Waits for SIGTERM or Ctrl-C (SIGINT) and names the one received.
async fn wait_for_signal() -> &'static str {
    let ctrl_c = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "SIGINT",
            Err(error) => {
                tracing::warn!(%error, "cannot listen for Ctrl-C");
                std::future::pending().await
            }
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
                "SIGTERM"
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<&'static str>();
    tokio::select! {
        name = ctrl_c => name,
        name = terminate => name,
    }
}

// ---------------------------------------------------------------------------------------------
// Readiness
// ---------------------------------------------------------------------------------------------

type ProbeFuture = Pin<Box<dyn Future<Output = bool> + Send>>;

/// A readiness probe (e.g. a database ping) and how often it runs.
#[derive(Clone)]
pub struct Readiness {
    probe: Arc<dyn Fn() -> ProbeFuture + Send + Sync>,
    interval: Duration,
}

impl Readiness {
    /// `probe` is called at start and then every [`DEFAULT_READINESS_INTERVAL`].
    pub fn new<F, Fut>(probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        Self { probe: Arc::new(move || Box::pin(probe())), interval: DEFAULT_READINESS_INTERVAL }
    }

    /// Always ready (a service with no dependencies).
    pub fn always() -> Self {
        Self::new(|| async { true })
    }

    /// Probe every `interval` instead (a probe slower than `interval` counts as not ready).
    pub fn every(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Runs the probe once, bounded by the interval.
    pub async fn check(&self) -> bool {
        tokio::time::timeout(self.interval, (self.probe)()).await.unwrap_or(false)
    }
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Readiness").field("interval", &self.interval).finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------------
// Serving
// ---------------------------------------------------------------------------------------------

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The reflection service could not be built from the file descriptor sets.
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// A service's routes plus the health and lifecycle settings; [`GrpcServer::serve`] runs it.
pub struct GrpcServer {
    routes: Routes,
    health_services: Vec<String>,
    readiness: Readiness,
    drain_timeout: Duration,
    lame_duck: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    tls: Option<Arc<ReloadingTls>>,
}

impl fmt::Debug for GrpcServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcServer")
            .field("health_services", &self.health_services)
            .field("readiness", &self.readiness)
            .field("drain_timeout", &self.drain_timeout)
            .field("lame_duck", &self.lame_duck.is_some())
            .finish_non_exhaustive()
    }
}

impl GrpcServer {
    /// Serve `routes` (the caller's services), always ready, with the default drain timeout.
    pub fn new(routes: Routes) -> Self {
        Self {
            routes,
            health_services: Vec::new(),
            readiness: Readiness::always(),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            lame_duck: None,
            tls: None,
        }
    }

    /// After shutdown starts, keep accepting calls (health answers NOT_SERVING, so clients and
    /// load balancers move away) until `done` completes — e.g. until the orchestrator's engine
    /// has finished or released its jobs — and only then stop accepting and drain.
    pub fn stop_accepting_after(mut self, done: impl Future<Output = ()> + Send + 'static) -> Self {
        self.lame_duck = Some(Box::pin(done));
        self
    }

    /// Report `name` (a fully qualified service, e.g. `shortline.v1.ScriptService`) in health,
    /// following readiness. `""` (the whole server) is always reported.
    pub fn health_service(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        if !name.is_empty() && !self.health_services.contains(&name) {
            self.health_services.push(name);
        }
        self
    }

    /// [`GrpcServer::health_service`] for each of `names`.
    pub fn health_services<I, S>(self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        names.into_iter().fold(self, GrpcServer::health_service)
    }

    pub fn readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = readiness;
        self
    }

    /// Serve TLS only (with client certificates when the files name a CA); `None`: plaintext.
    pub fn tls(mut self, tls: Option<Arc<ReloadingTls>>) -> Self {
        self.tls = tls;
        self
    }

    /// How long in-flight calls may finish after shutdown before they are dropped.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Serves on `listener` until `shutdown` is triggered and in-flight calls are drained (or
    /// the drain timeout passes).
    pub async fn serve(self, listener: TcpListener, shutdown: Shutdown) -> Result<(), ServeError> {
        let GrpcServer { routes, health_services, readiness, drain_timeout, lame_duck, tls } = self;
        let local_addr = listener.local_addr().map(|addr| addr.to_string()).unwrap_or_default();

        let (reporter, health_server) = tonic_health::server::health_reporter();
        let health = Health { reporter, names: health_services };
        // `""` (the whole server) is liveness: SERVING while the process serves, whatever its
        // dependencies do, so an outage of the database makes pods unready, not restarted.
        health.reporter.set_service_status("", ServingStatus::Serving).await;
        health.set(ServingStatus::NotServing).await;

        let reflection_v1 = reflection_builder(&health.names).build_v1()?;
        let reflection_v1alpha = reflection_builder(&health.names).build_v1alpha()?;
        let routes = routes.add_service(health_server).add_service(reflection_v1).add_service(reflection_v1alpha);

        // The probe loop stops on shutdown, and with this function (drop guard) on any exit.
        let stop_probe = CancellationToken::new();
        let _stop_probe_on_exit = stop_probe.clone().drop_guard();
        let probe_task = tokio::spawn(poll_readiness(health.clone(), readiness, stop_probe.clone()));

        // Runs when shutdown is triggered, before tonic stops accepting: NOT_SERVING first.
        let stopped_accepting = CancellationToken::new();
        let signal = {
            let shutdown = shutdown.clone();
            let health = health.clone();
            let stopped_accepting = stopped_accepting.clone();
            let local_addr = local_addr.clone();
            async move {
                shutdown.cancelled().await;
                stop_probe.cancel();
                let _ = probe_task.await;
                health.set(ServingStatus::NotServing).await;
                health.reporter.set_service_status("", ServingStatus::NotServing).await;
                if let Some(done) = lame_duck {
                    tracing::info!(addr = %local_addr, "shutting down: NOT_SERVING, finishing work before closing");
                    done.await;
                }
                tracing::info!(addr = %local_addr, "shutting down: NOT_SERVING, draining in-flight calls");
                stopped_accepting.cancel();
            }
        };

        let router = tonic::transport::Server::builder()
            .layer(shortline_telemetry::metrics::GrpcMetricsLayer)
            .trace_fn(request_span)
            .layer(crate::codes::GrpcCodesLayer)
            .add_routes(routes);
        let server: Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>> = match tls {
            Some(tls) => {
                let incoming = tls.incoming(listener, stopped_accepting.clone());
                Box::pin(router.serve_with_incoming_shutdown(ReceiverStream::new(incoming), signal))
            }
            None => {
                let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                Box::pin(router.serve_with_incoming_shutdown(incoming, signal))
            }
        };

        tracing::info!(addr = %local_addr, services = ?health.names, "gRPC server listening");
        tokio::select! {
            result = server => result?,
            () = async {
                stopped_accepting.cancelled().await;
                tokio::time::sleep(drain_timeout).await;
            } => {
                tracing::warn!(?drain_timeout, "in-flight calls did not finish in time; dropping them");
            }
        }
        tracing::info!(addr = %local_addr, "gRPC server stopped");
        Ok(())
    }
}

/// [`GrpcServer`] in one call: serve `routes` on `listener`, report `health_services` following
/// `readiness`, until `shutdown` (drain timeout: [`DEFAULT_DRAIN_TIMEOUT`]).
pub async fn serve<I, S>(
    listener: TcpListener,
    routes: Routes,
    health_services: I,
    readiness: Readiness,
    shutdown: Shutdown,
) -> Result<(), ServeError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    GrpcServer::new(routes).health_services(health_services).readiness(readiness).serve(listener, shutdown).await
}

/// The services every port serves besides its own, as reflection lists them.
const INFRASTRUCTURE_SERVICES: [&str; 3] =
    ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"];

/// Reflection over shortline's own protos and the health service's, listing only `served` (the
/// port's own services) and the infrastructure services: the descriptors hold all three
/// shortline services, and a port must not advertise the two it answers UNIMPLEMENTED.
fn reflection_builder(served: &[String]) -> tonic_reflection::server::Builder<'static> {
    let builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(shortline_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    served
        .iter()
        .map(String::as_str)
        .chain(INFRASTRUCTURE_SERVICES)
        .fold(builder, |builder, name| builder.with_service_name(name))
}

#[derive(Clone)]
struct Health {
    reporter: HealthReporter,
    /// `""` first, then the named services.
    names: Vec<String>,
}

impl Health {
    async fn set(&self, status: ServingStatus) {
        for name in &self.names {
            self.reporter.set_service_status(name, status).await;
        }
    }
}

async fn poll_readiness(health: Health, readiness: Readiness, stop: CancellationToken) {
    let mut last: Option<bool> = None;
    loop {
        let ready = tokio::select! {
            () = stop.cancelled() => return,
            ready = readiness.check() => ready,
        };
        if last != Some(ready) {
            if ready {
                tracing::info!("ready: SERVING");
            } else if last.is_some() {
                tracing::warn!("readiness probe failed: NOT_SERVING");
            } else {
                tracing::info!("not ready yet: NOT_SERVING");
            }
            health.set(if ready { ServingStatus::Serving } else { ServingStatus::NotServing }).await;
            last = Some(ready);
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(readiness.interval()) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// job_id propagation
// ---------------------------------------------------------------------------------------------

/// The span every request runs in: `grpc{rpc=/shortline.v1.ScriptService/GenerateScript job_id=7}`.
pub fn request_span(request: &tonic::codegen::http::Request<()>) -> tracing::Span {
    let span = tracing::info_span!("grpc", rpc = %request.uri().path(), job_id = tracing::field::Empty);
    if let Some(job_id) = parse_job_id(request.headers().get(JOB_ID_HEADER).and_then(|v| v.to_str().ok())) {
        span.record("job_id", job_id);
    }
    span
}

/// Records `job_id` on the current request span (when the caller did not send the header, e.g.
/// grpcurl, the handler knows it from the request message).
pub fn record_job_id(job_id: i64) {
    tracing::Span::current().record("job_id", job_id);
}

/// The job id carried in `metadata`, if any (and well-formed).
pub fn job_id_from_metadata(metadata: &MetadataMap) -> Option<i64> {
    parse_job_id(metadata.get(JOB_ID_HEADER).and_then(|v| v.to_str().ok()))
}

fn parse_job_id(value: Option<&str>) -> Option<i64> {
    value?.trim().parse().ok()
}

/// Whether a failed call broke in the transport (a refused, reset or closed connection, an
/// HTTP/2 error), whatever code tonic gave it (UNAVAILABLE, UNKNOWN, CANCELLED, INTERNAL…):
/// the other side is away, e.g. restarting. Statuses a server sent carry no source; those tonic
/// made from a failed connection carry the error that broke it.
pub fn is_connection_failure(status: &tonic::Status) -> bool {
    std::iter::successors(std::error::Error::source(status), |e| e.source()).any(|e| {
        e.is::<hyper::Error>() || e.is::<h2::Error>() || e.is::<tonic::transport::Error>() || e.is::<std::io::Error>()
    })
}

/// Puts `job_id` into outgoing metadata.
pub fn set_job_id(metadata: &mut MetadataMap, job_id: i64) {
    metadata.insert(JOB_ID_HEADER, MetadataValue::from(job_id));
}

/// Wraps `message` into a request that carries `job_id` in its metadata:
/// `client.generate_script(with_job_id(req, job_id)).await`.
pub fn with_job_id<T>(message: T, job_id: i64) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    set_job_id(request.metadata_mut(), job_id);
    request
}

/// A client interceptor that stamps one job's id on every call of a client made for that job:
/// `ScriptServiceClient::with_interceptor(channel, JobIdInterceptor(job_id))`.
#[derive(Debug, Clone, Copy)]
pub struct JobIdInterceptor(pub i64);

impl tonic::service::Interceptor for JobIdInterceptor {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        set_job_id(request.metadata_mut(), self.0);
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tonic::service::Interceptor;

    #[test]
    fn transport_errors_under_a_status_are_connection_failures_and_a_server_s_words_are_not() {
        let reset = tonic::Status::from_error(Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset)));
        assert!(is_connection_failure(&reset));
        let h2_reset = tonic::Status::from_error(Box::new(h2::Error::from(h2::Reason::INTERNAL_ERROR)));
        assert_eq!(h2_reset.code(), tonic::Code::Internal);
        assert!(is_connection_failure(&h2_reset));
        assert!(!is_connection_failure(&tonic::Status::unknown("h2 protocol error: transport error")));
        assert!(!is_connection_failure(&tonic::Status::unavailable("draining")));
    }
    use tonic::transport::Channel;
    use tonic_health::pb::health_check_response::ServingStatus as Status;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    const SERVICE: &str = "shortline.v1.TestService";
    const INTERVAL: Duration = Duration::from_millis(20);

    async fn check(client: &mut HealthClient<Channel>, service: &str) -> Status {
        let response = client.check(HealthCheckRequest { service: service.to_owned() }).await.unwrap();
        response.into_inner().status()
    }

    /// Polls `Check` until it answers `want` (at most ~100 probe intervals).
    async fn wait_for(client: &mut HealthClient<Channel>, service: &str, want: Status) {
        for _ in 0..100 {
            if check(client, service).await == want {
                return;
            }
            tokio::time::sleep(INTERVAL).await;
        }
        panic!("{service:?} never became {want:?}");
    }

    #[tokio::test]
    async fn health_follows_readiness_and_goes_not_serving_before_shutdown_completes() {
        shortline_telemetry::init_for_tests();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ready = Arc::new(AtomicBool::new(true));
        let readiness = {
            let ready = ready.clone();
            Readiness::new(move || {
                let ready = ready.clone();
                async move { ready.load(Ordering::SeqCst) }
            })
            .every(INTERVAL)
        };
        let shutdown = Shutdown::new();
        let server = tokio::spawn(serve(listener, Routes::default(), [SERVICE], readiness, shutdown.clone()));

        let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
        let mut client = HealthClient::new(channel);
        wait_for(&mut client, SERVICE, Status::Serving).await;
        wait_for(&mut client, "", Status::Serving).await;
        // Unknown services are NOT_FOUND, as the health protocol says.
        let unknown = client.check(HealthCheckRequest { service: "nope".into() }).await.unwrap_err();
        assert_eq!(unknown.code(), tonic::Code::NotFound);

        ready.store(false, Ordering::SeqCst);
        wait_for(&mut client, SERVICE, Status::NotServing).await;
        assert_eq!(check(&mut client, "").await, Status::Serving, "liveness does not follow readiness");
        ready.store(true, Ordering::SeqCst);
        wait_for(&mut client, SERVICE, Status::Serving).await;

        // An open Watch is an in-flight call: it keeps the server draining, and it must see
        // NOT_SERVING, which proves the status flips before the server completes.
        let mut watch = client.watch(HealthCheckRequest { service: SERVICE.into() }).await.unwrap().into_inner();
        assert_eq!(watch.message().await.unwrap().unwrap().status(), Status::Serving);
        shutdown.trigger();
        let update = tokio::time::timeout(Duration::from_secs(5), watch.message()).await.unwrap().unwrap().unwrap();
        assert_eq!(update.status(), Status::NotServing);
        assert!(!server.is_finished(), "the server finished before draining the open Watch");
        // The listener is closed: new connections are refused.
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());

        // Ending the last in-flight call (and the connection) lets the server complete.
        drop(watch);
        drop(client);
        tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap().unwrap();
    }

    #[tokio::test]
    async fn not_ready_at_start_means_not_serving_and_drain_timeout_bounds_shutdown() {
        shortline_telemetry::init_for_tests();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // A probe that never answers counts as not ready.
        let readiness = Readiness::new(std::future::pending::<bool>).every(INTERVAL);
        let shutdown = Shutdown::new();
        let server = GrpcServer::new(Routes::default())
            .health_service(SERVICE)
            .readiness(readiness)
            .drain_timeout(Duration::from_millis(50));
        let server = tokio::spawn(server.serve(listener, shutdown.clone()));

        let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
        let mut client = HealthClient::new(channel);
        assert_eq!(check(&mut client, SERVICE).await, Status::NotServing);
        tokio::time::sleep(INTERVAL * 3).await;
        assert_eq!(check(&mut client, SERVICE).await, Status::NotServing);
        assert_eq!(check(&mut client, "").await, Status::Serving, "alive, not ready");

        // A Watch that is never closed would hold the drain forever; the timeout ends it.
        let mut watch = client.watch(HealthCheckRequest { service: SERVICE.into() }).await.unwrap().into_inner();
        watch.message().await.unwrap();
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap().unwrap();
    }

    #[tokio::test]
    async fn reflection_v1_and_v1alpha_are_served() {
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient as ClientV1;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest as RequestV1;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse as ResponseV1;
        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as ClientV1Alpha;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as RequestV1Alpha;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse as ResponseV1Alpha;

        shortline_telemetry::init_for_tests();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let server = tokio::spawn(serve(listener, Routes::default(), [SERVICE], Readiness::always(), shutdown.clone()));
        let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();

        let request = tonic_reflection::pb::v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(RequestV1::ListServices(String::new())),
        };
        let mut client = ClientV1::new(channel.clone());
        let mut stream = client.server_reflection_info(tokio_stream::once(request)).await.unwrap().into_inner();
        let Some(ResponseV1::ListServicesResponse(list)) = stream.message().await.unwrap().unwrap().message_response
        else {
            panic!("expected a service list");
        };
        let mut names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
        names.sort();
        // Only what the port serves: not the shortline services it does not.
        assert_eq!(
            names,
            [
                "grpc.health.v1.Health",
                "grpc.reflection.v1.ServerReflection",
                "grpc.reflection.v1alpha.ServerReflection",
                SERVICE
            ]
        );

        let request = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(RequestV1Alpha::FileContainingSymbol("grpc.health.v1.Health".into())),
        };
        let mut client = ClientV1Alpha::new(channel);
        let mut stream = client.server_reflection_info(tokio_stream::once(request)).await.unwrap().into_inner();
        let response = stream.message().await.unwrap().unwrap().message_response;
        assert!(
            matches!(response, Some(ResponseV1Alpha::FileDescriptorResponse(ref files)) if !files.file_descriptor_proto.is_empty()),
            "{response:?}"
        );

        drop(stream);
        drop(client);
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap().unwrap();
    }

    #[test]
    fn job_id_travels_in_metadata() {
        let request = with_job_id("payload", 42);
        assert_eq!(request.metadata().get(JOB_ID_HEADER).unwrap(), "42");
        assert_eq!(job_id_from_metadata(request.metadata()), Some(42));

        let request = JobIdInterceptor(7).call(tonic::Request::new(())).unwrap();
        assert_eq!(job_id_from_metadata(request.metadata()), Some(7));

        let mut metadata = MetadataMap::new();
        assert_eq!(job_id_from_metadata(&metadata), None);
        metadata.insert(JOB_ID_HEADER, MetadataValue::from_static("not-a-number"));
        assert_eq!(job_id_from_metadata(&metadata), None);
    }

    #[test]
    fn request_span_reads_the_path_and_job_id() {
        shortline_telemetry::init_for_tests();
        let request = tonic::codegen::http::Request::builder()
            .uri("/shortline.v1.ScriptService/GenerateScript")
            .header(JOB_ID_HEADER, "9")
            .body(())
            .unwrap();
        let span = request_span(&request);
        if let Some(metadata) = span.metadata() {
            assert_eq!(metadata.name(), "grpc");
            assert!(metadata.fields().field("job_id").is_some());
            assert!(metadata.fields().field("rpc").is_some());
        }
    }

    #[tokio::test]
    async fn shutdown_clones_and_children_see_the_trigger() {
        let shutdown = Shutdown::new();
        let child = shutdown.child();
        let waiter = tokio::spawn(shutdown.cancelled());
        assert!(!child.is_triggered());
        shutdown.clone().trigger();
        waiter.await.unwrap();
        assert!(shutdown.is_triggered() && child.is_triggered() && shutdown.token().is_cancelled());

        // A child triggers alone.
        let parent = Shutdown::new();
        let child = parent.child();
        child.trigger();
        assert!(!parent.is_triggered());

        // on_signals' task ends with a manual trigger too.
        let signals = Shutdown::on_signals();
        signals.trigger();
        signals.cancelled().await;
    }
}
