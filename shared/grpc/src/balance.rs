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
//!   that go are dropped. Calls go over plain HTTP/2 (`http://`) to each address.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use tonic::transport::channel::Change;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint, Uri};

use shortline_config::{ServiceTarget, TlsConfig};
use tracing::{debug, warn};

/// How often a `dns:///` target is resolved again.
pub const DNS_REFRESH: Duration = Duration::from_secs(10);

/// How long opening a connection to one instance may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A channel to `target` that connects lazily and reconnects on its own, so a service starts
/// (and keeps going) while the ones it calls restart. A `dns:///` target is resolved by a task
/// that ends when the channel is dropped; it needs a Tokio runtime.
/// `https://` URLs, and every instance of a `dns:///` target when `tls.ca_file` is set, are reached
/// over TLS (see [`crate::tls::client_config`]); a `dns:///` instance is verified as `host`.
pub fn connect_lazy(target: &str, tls: &TlsConfig) -> Result<Channel, String> {
    let client_tls = crate::tls::client_config(tls).map_err(|e| e.to_string())?;
    match ServiceTarget::parse(target)? {
        ServiceTarget::Urls(urls) => {
            let endpoints =
                urls.into_iter().map(|uri| endpoint(uri, client_tls.clone())).collect::<Result<Vec<_>, _>>()?;
            match <[Endpoint; 1]>::try_from(endpoints) {
                Ok([one]) => Ok(one.connect_lazy()),
                Err(many) => Ok(Channel::balance_list(many.into_iter())),
            }
        }
        ServiceTarget::Dns { host, port } => {
            let (channel, changes) = Channel::balance_channel(64);
            let client_tls = client_tls.map(|config| config.domain_name(host.clone()));
            tokio::spawn(follow_dns(host, port, client_tls, changes));
            Ok(channel)
        }
    }
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

/// Resolves `host` every [`DNS_REFRESH`] and adds and removes the channel's endpoints to match.
/// A failed or empty lookup keeps the addresses already known (a DNS hiccup should not empty
/// the channel).
async fn follow_dns(
    host: String,
    port: u16,
    client_tls: Option<ClientTlsConfig>,
    changes: tokio::sync::mpsc::Sender<Change<SocketAddr, Endpoint>>,
) {
    let mut known = BTreeSet::new();
    loop {
        match tokio::net::lookup_host((host.as_str(), port)).await {
            Ok(found) => {
                let found: BTreeSet<SocketAddr> = found.collect();
                if !found.is_empty() {
                    for change in diff(&known, &found, client_tls.as_ref()) {
                        if changes.send(change).await.is_err() {
                            return;
                        }
                    }
                    if found != known {
                        debug!(%host, addresses = ?found, "service instances changed");
                    }
                    known = found;
                }
            }
            Err(error) => warn!(%host, %error, "cannot resolve the service's instances; keeping the known ones"),
        }
        tokio::select! {
            _ = tokio::time::sleep(DNS_REFRESH) => {}
            _ = changes.closed() => return,
        }
    }
}

/// What turns the endpoints `known` into `found`.
fn diff(
    known: &BTreeSet<SocketAddr>,
    found: &BTreeSet<SocketAddr>,
    client_tls: Option<&ClientTlsConfig>,
) -> Vec<Change<SocketAddr, Endpoint>> {
    let scheme = if client_tls.is_some() { "https" } else { "http" };
    let removed = known.difference(found).map(|address| Change::Remove(*address));
    let added = found.difference(known).filter_map(|address| {
        let uri = format!("{scheme}://{address}").parse().expect("a socket address makes a URI");
        match endpoint(uri, client_tls.cloned()) {
            Ok(endpoint) => Some(Change::Insert(*address, endpoint)),
            Err(error) => {
                warn!(%address, %error, "cannot make an endpoint for the instance");
                None
            }
        }
    });
    removed.chain(added).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn addresses(list: &[&str]) -> BTreeSet<SocketAddr> {
        list.iter().map(|a| a.parse().expect("address")).collect()
    }

    #[test]
    fn a_new_lookup_adds_new_instances_and_removes_gone_ones() {
        let known = addresses(&["10.0.0.1:50053", "10.0.0.2:50053"]);
        let found = addresses(&["10.0.0.2:50053", "10.0.0.3:50053"]);
        let changes: Vec<String> = diff(&known, &found, None)
            .into_iter()
            .map(|change| match change {
                Change::Insert(address, endpoint) => format!("+{address} {}", endpoint.uri()),
                Change::Remove(address) => format!("-{address}"),
            })
            .collect();
        assert_eq!(changes, ["-10.0.0.1:50053", "+10.0.0.3:50053 http://10.0.0.3:50053/"]);
        assert!(diff(&found, &found, None).is_empty());
    }
}
