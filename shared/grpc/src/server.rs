//! gRPC server scaffolding every shortline service uses: health, reflection, request spans with
//! `job_id`, readiness polling and graceful shutdown.
//!
//! # Shape
//!
//! The services start and serve through [`crate::service::ServiceStart`], which does this for
//! them. By hand: bind the listener first (so the real address is known when the port is 0),
//! build [`tonic::service::Routes`] with the service, and hand everything to [`serve`] (or to
//! [`GrpcServer`] for the less common knobs):
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
//!   Clients put the header on outgoing calls with `client::request` / [`set_job_id`], so one
//!   job's spans line up across services.

mod calls;
mod lifecycle;

pub use calls::{is_connection_failure, job_id_from_metadata, record_job_id, request_span, set_job_id, JOB_ID_HEADER};
pub use lifecycle::{Readiness, Shutdown, DEFAULT_READINESS_INTERVAL};

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use crate::tls::ReloadingTls;
use lifecycle::{poll_readiness, Health};
use tokio_stream::wrappers::ReceiverStream;

/// How long in-flight calls may run after shutdown unless [`GrpcServer::drain_timeout`] says
/// otherwise (the default of `pipeline.shutdown_grace_seconds`).
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
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
}
