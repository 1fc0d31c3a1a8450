//! Client channels that spread calls over every instance of a service, not one connection.
//!
//! gRPC keeps one long-lived HTTP/2 connection per channel, so a channel to a Kubernetes
//! Service's virtual IP sends every call to the one pod behind that connection. A service target
//! may therefore name all instances, and the channel balances each call over them (tower's
//! power-of-two-choices on in-flight calls):
//!
//! - `http://host:port`: one address, as before (a Service's virtual IP, a local process);
//! - `http://a:50053,http://b:50053`: a fixed list;
//! - `dns:///host:port`: every address `host` resolves to (a headless Service's name gives one
//!   per ready pod), resolved again every [`DNS_REFRESH`] so pods that come are used and pods
//!   that go are dropped. Calls go to each address over TLS when `tls.ca_file` is set, else over
//!   plain HTTP/2.
//!
//! Every channel is a balanced one whose endpoints a task keeps until the channel is dropped. The
//! task also looks at the TLS files every [`TLS_CHECK`] and, when cert-manager or a Secret update
//! has rotated them, makes every endpoint again with the new settings
//! ([`crate::tls::ReloadingClientTls`]), so new connections present the new certificate and trust
//! the new CA without a restart. (tonic takes TLS settings per endpoint, read once when the
//! endpoint is made, and a balanced channel has no connector of our own; an endpoint inserted
//! under a key the channel knows replaces the old one, and connects at its first call.)

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc::Sender;
use tokio::time::{interval, interval_at, Instant, MissedTickBehavior};
use tonic::transport::channel::Change;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint, Uri};

use shortline_config::{ServiceTarget, TlsConfig};
use tracing::{debug, warn};

use crate::tls::ReloadingClientTls;

/// How often a `dns:///` target is resolved again.
pub const DNS_REFRESH: Duration = Duration::from_secs(10);

/// How often a channel looks whether its TLS files changed (a Secret update reaches the pod's
/// files a minute or so after cert-manager renews it, so a few seconds more do not matter).
pub const TLS_CHECK: Duration = Duration::from_secs(5);

/// How long opening a connection to one instance may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A channel to `target` that connects lazily and reconnects on its own, so a service starts
/// (and keeps going) while the ones it calls restart. Its instances are kept by a task that ends
/// when the channel is dropped; it needs a Tokio runtime.
/// `https://` URLs, and every instance of a `dns:///` target when `tls.ca_file` is set, are reached
/// over TLS (see [`crate::tls::client_config`]); a `dns:///` instance is verified as `host`. The
/// TLS files are read now (an error if they cannot be used) and again when they change.
pub fn connect_lazy(target: &str, tls: &TlsConfig) -> Result<Channel, String> {
    connect_lazy_checking(target, tls, TLS_CHECK)
}

/// [`connect_lazy`], looking at the TLS files every `tls_check`.
fn connect_lazy_checking(target: &str, tls: &TlsConfig, tls_check: Duration) -> Result<Channel, String> {
    let tls = ReloadingClientTls::new(tls).map_err(|e| e.to_string())?;
    let (instances, known) = match ServiceTarget::parse(target)? {
        ServiceTarget::Urls(urls) => (Instances::Fixed, urls),
        // Resolved by the task at once.
        ServiceTarget::Dns { host, port } => (Instances::Dns { host, port }, Vec::new()),
    };
    let (channel, changes) = Channel::balance_channel(known.len().max(64));
    // A fixed list's endpoints are there before the first call, and a bad one is an error now.
    let client_tls = instances.client_tls(&tls);
    for uri in &known {
        let change = Change::Insert(uri.clone(), endpoint(uri.clone(), client_tls.clone())?);
        changes.try_send(change).map_err(|e| e.to_string())?;
    }
    tokio::spawn(Follow { instances, known, tls }.run(tls_check, changes));
    Ok(channel)
}

/// An endpoint for one instance; over TLS when its scheme is `https`.
fn endpoint(uri: Uri, client_tls: Option<ClientTlsConfig>) -> Result<Endpoint, String> {
    let over_tls = uri.scheme_str() == Some("https");
    let endpoint = Endpoint::from(uri).connect_timeout(CONNECT_TIMEOUT).tcp_nodelay(true);
    if !over_tls {
        return Ok(endpoint);
    }
    endpoint.tls_config(client_tls.unwrap_or_default()).map_err(|e| e.to_string())
}

/// Where a channel's instances are: the URLs it was made with, or what a name resolves to.
enum Instances {
    Fixed,
    Dns { host: String, port: u16 },
}

impl Instances {
    /// The TLS settings of an endpoint; a `dns:///` instance is reached by address but verified as
    /// `host`.
    fn client_tls(&self, tls: &ReloadingClientTls) -> Option<ClientTlsConfig> {
        let config = tls.config().cloned();
        match self {
            Instances::Fixed => config,
            Instances::Dns { host, .. } => config.map(|config| config.domain_name(host.clone())),
        }
    }
}

/// What the task keeping a channel's endpoints knows: each endpoint is keyed by its URI.
struct Follow {
    instances: Instances,
    known: Vec<Uri>,
    tls: ReloadingClientTls,
}

impl Follow {
    /// Until the channel is dropped: resolves a `dns:///` target every [`DNS_REFRESH`] and adds
    /// and removes endpoints to match, and looks at the TLS files every `tls_check`; when they
    /// changed, makes every endpoint again (an insert under a known key replaces that endpoint),
    /// so new connections present the new certificate and trust the new CA.
    async fn run(mut self, tls_check: Duration, changes: Sender<Change<Uri, Endpoint>>) {
        let resolves = matches!(self.instances, Instances::Dns { .. });
        let mut resolve = interval(DNS_REFRESH);
        let mut check = interval_at(Instant::now() + tls_check, tls_check);
        check.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let batch = tokio::select! {
                _ = resolve.tick(), if resolves => self.resolve().await,
                _ = check.tick() => self.reload(),
                () = changes.closed() => return,
            };
            for change in batch {
                if changes.send(change).await.is_err() {
                    return;
                }
            }
        }
    }

    /// The changes a new lookup of a `dns:///` target makes. A failed or empty lookup keeps the
    /// addresses already known (a DNS hiccup should not empty the channel).
    async fn resolve(&mut self) -> Vec<Change<Uri, Endpoint>> {
        let Instances::Dns { host, port } = &self.instances else { return Vec::new() };
        let found: BTreeSet<SocketAddr> = match tokio::net::lookup_host((host.as_str(), *port)).await {
            Ok(found) => found.collect(),
            Err(error) => {
                warn!(%host, %error, "cannot resolve the service's instances; keeping the known ones");
                return Vec::new();
            }
        };
        if found.is_empty() {
            return Vec::new();
        }
        let client_tls = self.instances.client_tls(&self.tls);
        let scheme = if client_tls.is_some() { "https" } else { "http" };
        let found: Vec<Uri> = found
            .iter()
            .map(|address| format!("{scheme}://{address}").parse().expect("a socket address makes a URI"))
            .collect();
        let changes = diff(&self.known, &found, client_tls.as_ref());
        if found != self.known {
            debug!(%host, addresses = ?found, "service instances changed");
        }
        self.known = found;
        changes
    }

    /// Every endpoint made again if the TLS files changed; none if not.
    fn reload(&mut self) -> Vec<Change<Uri, Endpoint>> {
        if !self.tls.reload() {
            return Vec::new();
        }
        diff(&[], &self.known, self.instances.client_tls(&self.tls).as_ref())
    }
}

/// What turns the endpoints `known` into `found`.
fn diff(known: &[Uri], found: &[Uri], client_tls: Option<&ClientTlsConfig>) -> Vec<Change<Uri, Endpoint>> {
    let removed = known.iter().filter(|uri| !found.contains(uri)).map(|uri| Change::Remove(uri.clone()));
    let added = found.iter().filter(|uri| !known.contains(uri)).filter_map(|uri| {
        match endpoint(uri.clone(), client_tls.cloned()) {
            Ok(endpoint) => Some(Change::Insert(uri.clone(), endpoint)),
            Err(error) => {
                warn!(%uri, %error, "cannot make an endpoint for the instance");
                None
            }
        }
    });
    removed.chain(added).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::tls::tests::{write, TestCa};
    use crate::tls::{ReloadingTls, TlsFiles};
    use crate::{GrpcServer, Readiness, ServeError, Shutdown};
    use std::sync::Arc;
    use tokio::net::TcpListener;
    use tokio::task::JoinHandle;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    #[test]
    fn targets_parse_or_say_why_not() {
        assert_eq!(
            ServiceTarget::parse("dns:///shortline-composer-headless:50053"),
            Ok(ServiceTarget::Dns { host: "shortline-composer-headless".into(), port: 50053 })
        );
        let ServiceTarget::Urls(urls) = ServiceTarget::parse("http://127.0.0.2:1, http://127.0.0.3:1").expect("list")
        else {
            panic!("a list of URLs")
        };
        assert_eq!(urls.len(), 2);
        assert!(
            matches!(ServiceTarget::parse("http://scriptgen:50052"), Ok(ServiceTarget::Urls(urls)) if urls.len() == 1)
        );
        for (bad, says) in [
            ("dns:///composer", "no port"),
            ("dns:///:50053", "needs a host"),
            ("dns:///composer:http", "no valid port"),
            ("ftp://composer:1", "must start with"),
            ("http://composer:0", "port 0"),
            ("http://a:1,", "not a URL"),
        ] {
            let error = ServiceTarget::parse(bad).expect_err(bad);
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    fn uris(list: &[&str]) -> Vec<Uri> {
        list.iter().map(|uri| uri.parse().expect("URI")).collect()
    }

    fn described(changes: Vec<Change<Uri, Endpoint>>) -> Vec<String> {
        changes
            .into_iter()
            .map(|change| match change {
                Change::Insert(uri, endpoint) => format!("+{uri} {}", endpoint.uri()),
                Change::Remove(uri) => format!("-{uri}"),
            })
            .collect()
    }

    #[test]
    fn a_new_lookup_adds_new_instances_and_removes_gone_ones() {
        let known = uris(&["http://10.0.0.1:50053", "http://10.0.0.2:50053"]);
        let found = uris(&["http://10.0.0.2:50053", "http://10.0.0.3:50053"]);
        assert_eq!(
            described(diff(&known, &found, None)),
            ["-http://10.0.0.1:50053/", "+http://10.0.0.3:50053/ http://10.0.0.3:50053/"]
        );
        assert!(diff(&found, &found, None).is_empty());
    }

    /// A server of the health service on a local port, over TLS when `tls` is given.
    async fn health_server(tls: Option<ReloadingTls>) -> (u16, Shutdown, JoinHandle<Result<(), ServeError>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shutdown = Shutdown::new();
        let server =
            GrpcServer::new(tonic::service::Routes::default()).readiness(Readiness::always()).tls(tls.map(Arc::new));
        (port, shutdown.clone(), tokio::spawn(server.serve(listener, shutdown)))
    }

    async fn health(channel: &Channel) -> Result<(), tonic::Status> {
        let mut client = HealthClient::new(channel.clone());
        match tokio::time::timeout(Duration::from_secs(5), client.check(HealthCheckRequest::default())).await {
            Ok(answer) => answer.map(drop),
            Err(_) => Err(tonic::Status::deadline_exceeded("no answer")),
        }
    }

    async fn stop(shutdown: Shutdown, server: JoinHandle<Result<(), ServeError>>) {
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_list_of_urls_is_served_by_its_instances() {
        let (first, first_shutdown, first_server) = health_server(None).await;
        let (second, second_shutdown, second_server) = health_server(None).await;
        let channel =
            connect_lazy(&format!("http://127.0.0.1:{first}, http://127.0.0.1:{second}"), &TlsConfig::default())
                .unwrap();
        for _ in 0..10 {
            health(&channel).await.expect("a call over the list");
        }
        let single = connect_lazy(&format!("http://127.0.0.1:{first}"), &TlsConfig::default()).unwrap();
        health(&single).await.expect("a call to a single URL");
        stop(first_shutdown, first_server).await;
        stop(second_shutdown, second_server).await;
    }

    #[tokio::test]
    async fn a_rotated_client_certificate_is_presented_without_a_restart() {
        shortline_telemetry::init_for_tests();
        let dir = tempfile::tempdir().unwrap();
        let (first_ca, second_ca) = (TestCa::new(), TestCa::new());
        // The server admits only clients whose certificate chains to the second CA.
        let (cert, key) = second_ca.issue(&["localhost"]);
        let server_files = TlsFiles {
            cert: write(dir.path(), "server.crt", &cert),
            key: write(dir.path(), "server.key", &key),
            ca: Some(write(dir.path(), "ca.crt", &second_ca.pem)),
        };
        let (port, shutdown, server) = health_server(Some(ReloadingTls::new(server_files).unwrap())).await;

        let (cert, key) = first_ca.issue(&["orchestrator"]);
        let tls = TlsConfig {
            ca_file: Some(dir.path().join("ca.crt")),
            cert_file: Some(write(dir.path(), "client.crt", &cert)),
            key_file: Some(write(dir.path(), "client.key", &key)),
        };
        let check = Duration::from_millis(50);
        let channel = connect_lazy_checking(&format!("https://localhost:{port}"), &tls, check).unwrap();
        assert!(health(&channel).await.is_err(), "a certificate from an untrusted CA was admitted");

        // Rotation: new files, same paths; the same channel's next connection presents them.
        // (After a pause, so that a file system with coarse times gives them new ones.)
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (cert, key) = second_ca.issue(&["orchestrator"]);
        write(dir.path(), "client.key", &key);
        write(dir.path(), "client.crt", &cert);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut answer = health(&channel).await;
        while answer.is_err() && Instant::now() < deadline {
            tokio::time::sleep(check).await;
            answer = health(&channel).await;
        }
        answer.expect("the rotated certificate was not presented");
        stop(shutdown, server).await;
    }
}
