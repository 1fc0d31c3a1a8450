//! `shortline probe SERVICE [--ready]`: the container's exec probe. Kubelet's native gRPC probe
//! speaks only plaintext, and a service with a certificate serves TLS only, so the probe runs in
//! the pod and checks the service's own port as a client would: over TLS (trusting `tls.ca_file`,
//! presenting the pod's certificate, verifying the server as the service's identity), which also
//! catches a broken certificate rotation.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use shortline_config::Config;
use shortline_proto::v1::{composer_service_server, orchestrator_service_server, script_service_server};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::embedded::Service;

/// Well inside the probes' `timeoutSeconds`.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

pub async fn run(config: &Config, service: Service, ready: bool) -> anyhow::Result<ExitCode> {
    let (identity, name, listen) = match service {
        Service::Orchestrator => {
            ("orchestrator", orchestrator_service_server::SERVICE_NAME, config.orchestrator.listen)
        }
        Service::Scriptgen => ("scriptgen", script_service_server::SERVICE_NAME, config.scriptgen.listen),
        Service::Composer => ("composer", composer_service_server::SERVICE_NAME, config.composer.listen),
    };
    let address = reachable(listen);
    let url = format!("{}://{address}", crate::embedded::scheme(config));
    let mut endpoint = tonic::transport::Endpoint::from_shared(url.clone())?;
    if let Some(tls) = shortline_grpc::tls::client_config(&config.tls)? {
        endpoint = endpoint.tls_config(tls.domain_name(identity))?;
    }
    let asked = if ready { name } else { "" };
    let check = async {
        let channel = endpoint.connect_timeout(PROBE_TIMEOUT).connect().await?;
        let response = HealthClient::new(channel).check(HealthCheckRequest { service: asked.to_owned() }).await?;
        anyhow::Ok(response.into_inner().status())
    };
    let status = tokio::time::timeout(PROBE_TIMEOUT, check)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {PROBE_TIMEOUT:?}"))
        .and_then(|checked| checked)
        .with_context(|| format!("{identity} at {url}"))?;
    if status == ServingStatus::Serving {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{identity} at {url}: `{asked}` is {}", status.as_str_name());
        Ok(ExitCode::FAILURE)
    }
}

/// The listen address as this pod reaches it: an unspecified address (`0.0.0.0`, `::`) through
/// loopback.
fn reachable(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::from((Ipv4Addr::LOCALHOST, listen.port())),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::from((Ipv6Addr::LOCALHOST, listen.port())),
        _ => listen,
    }
}
