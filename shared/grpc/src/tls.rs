//! TLS of the gRPC servers and clients, from PEM files (`[tls]`): a server re-reads its
//! certificate, key and CA when the files change (cert-manager and Kubernetes Secret updates
//! rotate them), so new connections get the new certificate without a restart; a client
//! presents the same certificate as its identity (mutual TLS), which the called service checks
//! against the identities it admits ([`crate::auth`]), and re-reads the files as well
//! ([`ReloadingClientTls`], which [`crate::balance`] channels look at). A change is seen by
//! the files' modification times and sizes; files that cannot be used keep the last good ones.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use shortline_config::pem::{certificates, private_key, read, roots, PemError};
use shortline_config::TlsConfig;

use crate::watched::Watched;

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

    fn paths(&self) -> Vec<&Path> {
        [self.cert.as_path(), self.key.as_path()].into_iter().chain(self.ca.as_deref()).collect()
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

/// A server's TLS settings, rebuilt from the files at the first handshake after they change. A
/// rotation to unreadable files keeps the last good settings (and says so in the log).
pub struct ReloadingTls {
    files: TlsFiles,
    current: Mutex<Watched<Arc<ServerConfig>>>,
}

impl ReloadingTls {
    /// Reads the files now: a server does not start with certificates it cannot use.
    pub fn new(files: TlsFiles) -> Result<Self, TlsError> {
        let current = Watched::build(&files.paths(), || files.server_config())?;
        Ok(ReloadingTls { files, current: Mutex::new(current) })
    }

    /// The settings for the next handshake.
    pub fn config(&self) -> Arc<ServerConfig> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.refresh("TLS files", &self.files.paths(), || self.files.server_config());
        current.value().clone()
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
/// The files are checked here (tonic parses them only when an endpoint takes them), so a
/// half-written file or a key that is not the certificate's is an error where they are read.
pub fn client_config(tls: &TlsConfig) -> Result<Option<ClientTlsConfig>, TlsError> {
    let Some(ca) = &tls.ca_file else { return Ok(None) };
    // A CA file without a certificate would make a client that trusts nothing.
    roots(ca)?;
    let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?));
    if let Some(files) = TlsFiles::from_config(tls)? {
        config = config.identity(Identity::from_pem(read(&files.cert)?, read(&files.key)?));
    }
    Endpoint::from_static("https://localhost").tls_config(config.clone()).map_err(|error| {
        let why = std::error::Error::source(&error).map_or_else(|| error.to_string(), ToString::to_string);
        TlsError::Config(format!("the client certificate, key or CA cannot be used: {why}"))
    })?;
    Ok(Some(config))
}

/// A client's TLS settings ([`client_config`]), built again by [`Self::reload`] when the files
/// change, so that endpoints made afterwards present the new certificate and trust the new CA.
/// A rotation to files that cannot be used keeps the last good settings (and says so in the log).
pub struct ReloadingClientTls {
    tls: TlsConfig,
    current: Watched<Option<ClientTlsConfig>>,
}

impl ReloadingClientTls {
    /// Reads the files now: a client does not start with certificates it cannot use.
    pub fn new(tls: &TlsConfig) -> Result<Self, TlsError> {
        let tls = tls.clone();
        let current = Watched::build(&Self::paths(&tls), || client_config(&tls))?;
        Ok(ReloadingClientTls { tls, current })
    }

    /// The files the settings come from; none without a CA (no TLS settings to change).
    fn paths(tls: &TlsConfig) -> Vec<&Path> {
        match &tls.ca_file {
            Some(ca) => [Some(ca), tls.cert_file.as_ref(), tls.key_file.as_ref()]
                .into_iter()
                .flatten()
                .map(PathBuf::as_path)
                .collect(),
            None => Vec::new(),
        }
    }

    /// The settings new endpoints take.
    pub fn config(&self) -> Option<&ClientTlsConfig> {
        self.current.value().as_ref()
    }

    /// Builds the settings again if the files changed; true when they are new (endpoints made
    /// before present the old certificate).
    pub fn reload(&mut self) -> bool {
        let tls = &self.tls;
        self.current.refresh("TLS files", &Self::paths(tls), || client_config(tls))
    }
}

/// An endpoint for `url` (connecting lazily); an `https://` URL over TLS as [`client_config`] says.
pub fn endpoint(url: &str, tls: &TlsConfig) -> Result<Endpoint, TlsError> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|error| TlsError::Config(format!("`{url}` is not a URL: {error}")))?;
    if !url.starts_with("https://") {
        return Ok(endpoint);
    }
    let config = client_config(tls)?.unwrap_or_default();
    endpoint.tls_config(config).map_err(|error| TlsError::Config(format!("`{url}`: {error}")))
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{GrpcServer, Readiness, Shutdown};
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    /// A test CA that signs certificates for DNS names.
    pub(crate) struct TestCa {
        issuer: Issuer<'static, KeyPair>,
        pub(crate) pem: String,
    }

    impl TestCa {
        pub(crate) fn new() -> TestCa {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let key = KeyPair::generate().unwrap();
            let pem = params.self_signed(&key).unwrap().pem();
            TestCa { issuer: Issuer::new(params, key), pem }
        }

        /// A certificate and key (PEM) for `names`.
        pub(crate) fn issue(&self, names: &[&str]) -> (String, String) {
            let key = KeyPair::generate().unwrap();
            let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
            let cert = CertificateParams::new(names).unwrap().signed_by(&key, &self.issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        }
    }

    pub(crate) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
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

    #[test]
    fn client_files_that_cannot_be_used_keep_the_last_good_settings() {
        shortline_telemetry::init_for_tests();
        let dir = tempfile::tempdir().unwrap();
        let (first_ca, second_ca) = (TestCa::new(), TestCa::new());
        let (cert, key) = first_ca.issue(&["orchestrator"]);
        let tls = TlsConfig {
            ca_file: Some(write(dir.path(), "ca.crt", &first_ca.pem)),
            cert_file: Some(write(dir.path(), "tls.crt", &cert)),
            key_file: Some(write(dir.path(), "tls.key", &key)),
        };
        let mut client = ReloadingClientTls::new(&tls).unwrap();
        // The settings hold the files' bytes, so their Debug form tells which files they are from.
        let first = format!("{:?}", client.config().unwrap());
        assert!(!client.reload(), "nothing changed");

        let (new_cert, new_key) = second_ca.issue(&["orchestrator"]);
        for (name, text, why) in [
            ("tls.crt", "not a certificate", "a certificate file without a certificate"),
            ("tls.crt", new_cert.as_str(), "a certificate whose key is not there yet"),
            ("ca.crt", "", "an empty CA file"),
        ] {
            write(dir.path(), name, text);
            assert!(!client.reload(), "took {why}");
            assert_eq!(format!("{:?}", client.config().unwrap()), first, "after {why}");
        }
        std::fs::remove_file(dir.path().join("tls.key")).unwrap();
        assert!(!client.reload(), "took a key file that is gone");
        assert_eq!(format!("{:?}", client.config().unwrap()), first);

        write(dir.path(), "tls.key", &new_key);
        write(dir.path(), "ca.crt", &second_ca.pem);
        assert!(client.reload(), "did not take the rotated files");
        assert_ne!(format!("{:?}", client.config().unwrap()), first);
        assert!(!client.reload(), "nothing changed since");
    }
}
