//! How a PostgreSQL connection is made: TLS as libpq's `sslmode` says (through rustls, the TLS
//! stack the rest of shortline uses, so no OpenSSL), the CA from `sslrootcert` in the URL or
//! `database.ca_file`, and the password from `database.password_file` rather than the URL.
//!
//! | `sslmode`            | TLS                    | the server's certificate                         |
//! |----------------------|------------------------|--------------------------------------------------|
//! | `disable`            | never                  | —                                                |
//! | `prefer` (default)   | when the server offers | not checked (as libpq)                           |
//! | `require`            | always                 | not checked; with a CA: as `verify-ca` (as libpq) |
//! | `verify-ca`          | always                 | chains to the CA                                 |
//! | `verify-full`        | always                 | chains to the CA and names the URL's host        |
//!
//! Files are read for every new connection, so a rotated password or CA is picked up by the
//! pool's next connection without a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use diesel::ConnectionError;
use diesel_async::AsyncPgConnection;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::error::{DbError, DbResult};

/// What a PostgreSQL connection needs besides its URL (`[database]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PgAccess {
    /// A file holding the password (a trailing newline is ignored).
    pub password_file: Option<PathBuf>,
    /// The CA the server's certificate must chain to, when the URL has no `sslrootcert`.
    pub ca_file: Option<PathBuf>,
}

impl From<&shortline_config::DatabaseConfig> for PgAccess {
    fn from(config: &shortline_config::DatabaseConfig) -> Self {
        PgAccess { password_file: config.password_file.clone(), ca_file: config.ca_file.clone() }
    }
}

/// libpq's `sslmode` values shortline supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> DbResult<Self> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(DbError::Internal(format!(
                    "database url: sslmode={other} is not supported: use disable, prefer, require, verify-ca or verify-full"
                )))
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Makes connections to one PostgreSQL database as its URL and [`PgAccess`] say.
#[derive(Debug, Clone)]
pub struct PgConnector {
    /// The URL's settings without `sslmode` and `sslrootcert` (tokio-postgres knows neither
    /// `verify-*` nor `sslrootcert`), and without the file's password (read per connection).
    config: tokio_postgres::Config,
    mode: SslMode,
    ca_file: Option<PathBuf>,
    password_file: Option<PathBuf>,
}

impl PgConnector {
    /// Parses `url` and checks the files it needs now, so a bad setting stops the start.
    pub fn new(url: &str, access: &PgAccess) -> DbResult<Self> {
        // A setting that cannot work is no outage: `migrate --wait` must not wait on it.
        let invalid = |reason: String| DbError::Internal(format!("database url: {reason}"));
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let (mut mode, mut ca_file) = (SslMode::Prefer, access.ca_file.clone());
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => mode = SslMode::parse(&percent_decode(value))?,
                "sslrootcert" => ca_file = Some(PathBuf::from(percent_decode(value))),
                _ => kept.push(pair),
            }
        }
        let stripped = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
        let mut config: tokio_postgres::Config =
            stripped.parse().map_err(|error| invalid(format!("{} ({error})", super::pool::redact(url))))?;
        // libpq: `require` with a root certificate verifies the chain like `verify-ca`.
        if mode == SslMode::Require && ca_file.is_some() {
            mode = SslMode::VerifyCa;
        }
        if matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) && ca_file.is_none() {
            return Err(invalid(format!(
                "sslmode={} needs the CA: sslrootcert=PATH in the URL or database.ca_file",
                mode.as_str()
            )));
        }
        if access.password_file.is_some() && config.get_password().is_some() {
            return Err(invalid("has a password and database.password_file is set: keep only the file".into()));
        }
        config.ssl_mode(match mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        let connector = PgConnector { config, mode, ca_file, password_file: access.password_file.clone() };
        connector.tls_config().map_err(DbError::Unavailable)?;
        connector.password().map_err(DbError::Unavailable)?;
        Ok(connector)
    }

    pub fn mode(&self) -> SslMode {
        self.mode
    }

    /// A new connection; a TLS failure names the host, the mode and why the server was refused.
    pub async fn establish(&self) -> diesel::ConnectionResult<AsyncPgConnection> {
        let mut config = self.config.clone();
        if let Some(password) = self.password().map_err(ConnectionError::BadConnection)? {
            config.password(password);
        }
        match self.tls_config().map_err(ConnectionError::BadConnection)? {
            None => {
                let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(bad_connection)?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await
            }
            Some(tls) => {
                let (client, connection) = config.connect(MakeRustls(tls)).await.map_err(|e| self.describe(e))?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await
            }
        }
    }

    fn password(&self) -> Result<Option<String>, String> {
        let Some(path) = &self.password_file else { return Ok(None) };
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("database.password_file {}: {error}", path.display()))?;
        Ok(Some(text.trim_end_matches(['\n', '\r']).to_owned()))
    }

    /// The rustls client of this mode; `None` for `disable`.
    fn tls_config(&self) -> Result<Option<Arc<ClientConfig>>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let algorithms = provider.signature_verification_algorithms;
        let roots = || match &self.ca_file {
            Some(path) => read_roots(path).map(Arc::new),
            None => Err("no CA file".to_owned()),
        };
        let verifier: Arc<dyn ServerCertVerifier> = match self.mode {
            SslMode::Disable => return Ok(None),
            SslMode::Prefer | SslMode::Require => Arc::new(AnyCertificate { algorithms }),
            SslMode::VerifyCa => Arc::new(CaOnly { roots: roots()?, algorithms }),
            SslMode::VerifyFull => WebPkiServerVerifier::builder_with_provider(roots()?, provider.clone())
                .build()
                .map_err(|error| format!("the CA cannot verify servers: {error}"))?,
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| error.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Some(Arc::new(config)))
    }

    /// A connection error, with the reason spelled out when the TLS handshake refused the server.
    fn describe(&self, error: tokio_postgres::Error) -> ConnectionError {
        let host = self.config.get_hosts().first().map_or_else(String::new, |host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        });
        let rustls_error = std::error::Error::source(&error)
            .and_then(|source| source.downcast_ref::<std::io::Error>())
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        match rustls_error {
            Some(reason) => {
                let ca = self.ca_file.as_deref().map_or_else(String::new, |ca| format!(", CA {}", ca.display()));
                ConnectionError::BadConnection(format!(
                    "TLS to PostgreSQL at {host} (sslmode={}{ca}) refused: {reason}",
                    self.mode.as_str()
                ))
            }
            None => bad_connection(error),
        }
    }
}

/// The error with its causes: tokio-postgres shows only "db error" for the server's answer.
fn bad_connection(error: tokio_postgres::Error) -> ConnectionError {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.contains(&cause_text) {
            message = format!("{message}: {cause_text}");
        }
        source = cause.source();
    }
    ConnectionError::BadConnection(message)
}

fn read_roots(path: &Path) -> Result<RootCertStore, String> {
    shortline_config::pem::roots(path).map_err(|error| format!("database CA: {error}"))
}

/// `%XX` escapes of a URL query value (a path in `sslrootcert` may carry them).
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// `require` and `prefer`: encrypted, but any certificate is taken (libpq does the same); the
/// handshake's signatures are still checked, so the peer holds the certificate's key.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

/// `verify-ca`: the certificate chains to the CA; its names are not compared with the host.
#[derive(Debug)]
struct CaOnly {
    roots: Arc<RootCertStore>,
    algorithms: WebPkiSupportedAlgorithms,
}

/// The signature checks both verifiers share.
macro_rules! handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.algorithms.supported_schemes()
        }
    };
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    handshake_signatures!();
}

impl ServerCertVerifier for CaOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    handshake_signatures!();
}

/// tokio-postgres' TLS hook over tokio-rustls.
struct MakeRustls(Arc<ClientConfig>);

impl tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket> for MakeRustls {
    type Stream = TlsStream;
    type TlsConnect = RustlsConnect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, host: &str) -> Result<RustlsConnect, Self::Error> {
        // A Unix socket has no host name (and PostgreSQL no TLS there): any name will do.
        let host = if host.is_empty() { "localhost" } else { host };
        Ok(RustlsConnect { config: self.0.clone(), server_name: ServerName::try_from(host)?.to_owned() })
    }
}

struct RustlsConnect {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

impl tokio_postgres::tls::TlsConnect<tokio_postgres::Socket> for RustlsConnect {
    type Stream = TlsStream;
    type Error = std::io::Error;
    type Future = futures::future::BoxFuture<'static, std::io::Result<TlsStream>>;

    fn connect(self, socket: tokio_postgres::Socket) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(self.config);
        Box::pin(async move { Ok(TlsStream(connector.connect(self.server_name, socket).await?)) })
    }
}

/// A TLS stream as tokio-postgres takes it.
struct TlsStream(tokio_rustls::client::TlsStream<tokio_postgres::Socket>);

impl tokio_postgres::tls::TlsStream for TlsStream {
    // No `tls-server-end-point` binding: SCRAM then runs without channel binding, as it does
    // over plaintext; the certificate checks above are what authenticate the server.
    fn channel_binding(&self) -> tokio_postgres::tls::ChannelBinding {
        tokio_postgres::tls::ChannelBinding::none()
    }
}

impl tokio::io::AsyncRead for TlsStream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TlsStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_of_the_url() {
        let access = PgAccess::default();
        let plain = PgConnector::new("postgres://u@db:5432/x?application_name=a", &access).unwrap();
        assert_eq!(plain.mode(), SslMode::Prefer);
        let off = PgConnector::new("postgres://u@db/x?sslmode=disable", &access).unwrap();
        assert_eq!(off.mode(), SslMode::Disable);
        let error = PgConnector::new("postgres://u@db/x?sslmode=verify-full", &access).unwrap_err().to_string();
        assert!(error.contains("needs the CA"), "{error}");
        let error = PgConnector::new("postgres://u@db/x?sslmode=allow", &access).unwrap_err().to_string();
        assert!(error.contains("not supported"), "{error}");
        let missing = PgConnector::new("postgres://u@db/x?sslmode=require&sslrootcert=%2Fno%2Fsuch.pem", &access);
        let error = missing.unwrap_err().to_string();
        assert!(error.contains("/no/such.pem"), "{error}");
    }

    #[test]
    fn the_password_comes_from_one_place() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "s3cret\n").unwrap();
        let access = PgAccess { password_file: Some(file), ca_file: None };
        let connector = PgConnector::new("postgres://u@db/x", &access).unwrap();
        assert_eq!(connector.password().unwrap().as_deref(), Some("s3cret"));
        let error = PgConnector::new("postgres://u:inline@db/x", &access).unwrap_err().to_string();
        assert!(error.contains("keep only the file") && !error.contains("inline"), "{error}");
    }
}
