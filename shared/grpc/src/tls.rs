//! TLS of the gRPC servers and clients, from PEM files (`[tls]`): a server re-reads its
//! certificate, key and CA when the files change (cert-manager and Kubernetes Secret updates
//! rotate them), so new connections get the new certificate without a restart; a client
//! presents the same certificate as its identity (mutual TLS), which the called service checks
//! against the identities it admits ([`crate::auth`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use shortline_config::pem::{certificates, private_key, read, roots, PemError};
use shortline_config::TlsConfig;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls: {0}")]
    Pem(#[from] PemError),
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("tls: the CA file cannot verify clients: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("tls: {0}")]
    Config(String),
}

/// The files of a server's TLS: its certificate chain and key, and the CA its clients'
/// certificates must chain to (none: clients present no certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: Option<PathBuf>,
}

impl TlsFiles {
    /// The files `[tls]` names; `None` when TLS is off (no certificate), an error when only
    /// part of a certificate and key is given.
    pub fn from_config(config: &TlsConfig) -> Result<Option<TlsFiles>, TlsError> {
        match (&config.cert_file, &config.key_file) {
            (Some(cert), Some(key)) => {
                Ok(Some(TlsFiles { cert: cert.clone(), key: key.clone(), ca: config.ca_file.clone() }))
            }
            (None, None) => Ok(None),
            _ => Err(TlsError::Config("tls.cert_file and tls.key_file go together".into())),
        }
    }

    fn paths(&self) -> impl Iterator<Item = &Path> {
        [self.cert.as_path(), self.key.as_path()].into_iter().chain(self.ca.as_deref())
    }

    /// When each file last changed, and its size: a change of either means a rotation.
    fn stamps(&self) -> Vec<Stamp> {
        self.paths()
            .map(|path| std::fs::metadata(path).ok().and_then(|meta| Some((meta.modified().ok()?, meta.len()))))
            .collect()
    }

    fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
        let builder = match &self.ca {
            // A client without a certificate is let through the handshake so that it gets a
            // gRPC answer (UNAUTHENTICATED) rather than a bare TLS failure.
            Some(ca) => builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider)
                    .allow_unauthenticated()
                    .build()?,
            ),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(certificates(&self.cert)?, private_key(&self.key)?)?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }
}

/// When a file last changed and its size (`None`: unreadable); a change of either is a rotation.
type Stamp = Option<(SystemTime, u64)>;

/// A server's TLS settings, rebuilt from the files at the first handshake after they change. A
/// rotation to unreadable files keeps the last good settings (and says so in the log).
pub struct ReloadingTls {
    files: TlsFiles,
    current: Mutex<(Vec<Stamp>, Arc<ServerConfig>)>,
}

impl ReloadingTls {
    /// Reads the files now: a server does not start with certificates it cannot use.
    pub fn new(files: TlsFiles) -> Result<Self, TlsError> {
        let stamps = files.stamps();
        let config = files.server_config()?;
        Ok(ReloadingTls { files, current: Mutex::new((stamps, config)) })
    }

    /// The settings for the next handshake.
    pub fn config(&self) -> Arc<ServerConfig> {
        let stamps = self.files.stamps();
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.0 != stamps {
            match self.files.server_config() {
                Ok(config) => {
                    tracing::info!(cert = %self.files.cert.display(), "TLS files changed: new connections use them");
                    *current = (stamps, config);
                }
                Err(error) => tracing::warn!(%error, "TLS files changed but cannot be used; keeping the previous ones"),
            }
        }
        current.1.clone()
    }

    /// Accepts connections on `listener` and hands each over once its handshake is done (a
    /// failed or slow handshake drops that connection only), until `stop` is cancelled or the
    /// receiver is dropped; the listener closes then.
    pub fn incoming(
        self: Arc<Self>,
        listener: TcpListener,
        stop: CancellationToken,
    ) -> mpsc::Receiver<std::io::Result<TlsStream<TcpStream>>> {
        let (sender, receiver) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    () = stop.cancelled() => return,
                    () = sender.closed() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            tracing::warn!(%error, "cannot accept a connection");
                            continue;
                        }
                    },
                };
                let _ = stream.set_nodelay(true);
                let acceptor = tokio_rustls::TlsAcceptor::from(self.config());
                let sender = sender.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = sender.send(Ok(tls)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        receiver
    }
}

/// The client side of `[tls]`: trust `tls.ca_file` and present this process's certificate as its
/// identity. `None` when no CA is configured (system roots are not used between the services).
pub fn client_config(tls: &TlsConfig) -> Result<Option<tonic::transport::ClientTlsConfig>, TlsError> {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let Some(ca) = &tls.ca_file else { return Ok(None) };
    let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?));
    if let Some(files) = TlsFiles::from_config(tls)? {
        config = config.identity(Identity::from_pem(read(&files.cert)?, read(&files.key)?));
    }
    Ok(Some(config))
}

/// An endpoint for `url` (connecting lazily); an `https://` URL over TLS as [`client_config`] says.
pub fn endpoint(url: &str, tls: &TlsConfig) -> Result<tonic::transport::Endpoint, TlsError> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())
        .map_err(|error| TlsError::Config(format!("`{url}` is not a URL: {error}")))?;
    if !url.starts_with("https://") {
        return Ok(endpoint);
    }
    let config = client_config(tls)?.unwrap_or_default();
    endpoint.tls_config(config).map_err(|error| TlsError::Config(format!("`{url}`: {error}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{GrpcServer, Readiness, Shutdown};
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    /// A test CA that signs certificates for DNS names.
    struct TestCa {
        issuer: Issuer<'static, KeyPair>,
        pem: String,
    }

    impl TestCa {
        fn new() -> TestCa {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let key = KeyPair::generate().unwrap();
            let pem = params.self_signed(&key).unwrap().pem();
            TestCa { issuer: Issuer::new(params, key), pem }
        }

        /// A certificate and key (PEM) for `names`.
        fn issue(&self, names: &[&str]) -> (String, String) {
            let key = KeyPair::generate().unwrap();
            let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
            let cert = CertificateParams::new(names).unwrap().signed_by(&key, &self.issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        }
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        // Written aside and renamed in, as a Secret update swaps the file at once.
        std::fs::write(dir.join(format!(".{name}.new")), text).unwrap();
        std::fs::rename(dir.join(format!(".{name}.new")), &path).unwrap();
        path
    }

    async fn health_over_tls(addr: std::net::SocketAddr, ca_pem: &str) -> Result<(), String> {
        let ca = dir_with(ca_pem);
        let tls = TlsConfig { ca_file: Some(ca.path().join("ca.pem")), ..TlsConfig::default() };
        let channel = endpoint(&format!("https://localhost:{}", addr.port()), &tls)
            .unwrap()
            .connect()
            .await
            .map_err(|error| format!("{error:?}"))?;
        HealthClient::new(channel)
            .check(HealthCheckRequest { service: String::new() })
            .await
            .map(drop)
            .map_err(|status| status.to_string())
    }

    fn dir_with(ca_pem: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "ca.pem", ca_pem);
        dir
    }

    #[tokio::test]
    async fn tls_only_and_a_rotated_certificate_is_served_without_a_restart() {
        shortline_telemetry::init_for_tests();
        let dir = tempfile::tempdir().unwrap();
        let (first_ca, second_ca) = (TestCa::new(), TestCa::new());
        let (cert, key) = first_ca.issue(&["localhost"]);
        let files =
            TlsFiles { cert: write(dir.path(), "tls.crt", &cert), key: write(dir.path(), "tls.key", &key), ca: None };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let server = GrpcServer::new(tonic::service::Routes::default())
            .readiness(Readiness::always())
            .tls(Some(Arc::new(ReloadingTls::new(files).unwrap())));
        let server = tokio::spawn(server.serve(listener, shutdown.clone()));

        health_over_tls(addr, &first_ca.pem).await.expect("TLS with the first certificate");
        // A plaintext client gets no answer.
        let plaintext = tonic::transport::Channel::from_shared(format!("http://{addr}")).unwrap().connect().await;
        let refused = match plaintext {
            Err(_) => true,
            Ok(channel) => HealthClient::new(channel).check(HealthCheckRequest::default()).await.is_err(),
        };
        assert!(refused, "a plaintext call was answered");
        assert!(health_over_tls(addr, &second_ca.pem).await.is_err(), "trusted a CA that signed nothing yet");

        // Rotation: new files, same paths; the next connection gets the new certificate.
        let (cert, key) = second_ca.issue(&["localhost"]);
        write(dir.path(), "tls.key", &key);
        write(dir.path(), "tls.crt", &cert);
        health_over_tls(addr, &second_ca.pem).await.expect("TLS with the rotated certificate");
        assert!(health_over_tls(addr, &first_ca.pem).await.is_err(), "still serving the old certificate");

        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap().unwrap();
    }
}
