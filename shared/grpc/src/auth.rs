//! Who may call what: users present a bearer token (`authorization: Bearer …`) that a token
//! file names and gives a role; a [`Guard`] in front of a service checks the token and the role
//! the called method needs before the service sees the call.
//!
//! # The token file
//!
//! TOML, one `[[tokens]]` table per token, the token itself never stored:
//!
//! ```toml
//! [[tokens]]
//! name = "alice"
//! role = "operator"          # viewer | operator | reviewer | admin
//! sha256 = "9f86d08…"       # hex SHA-256 of the token: `printf %s "$TOKEN" | sha256sum`
//! ```
//!
//! SHA-256 without salt or stretching is enough here because tokens are long random secrets,
//! not passwords people pick: nothing to guess from a leaked file, and a check costs one hash.
//!
//! The file is looked at again on every call ([`TokenFile`]): a Secret update adds or revokes a
//! user without a restart, and a file that cannot be used keeps the last good tokens.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tonic::body::Body;
use tonic::codegen::http;
use tonic::codegen::Service;
use tonic::server::NamedService;
use tonic::Status;

use crate::watched::Watched;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads: jobs, lineage, trends, reports; watching.
    Viewer,
    /// A viewer who also starts, cancels and retries jobs and collects or analyses trends.
    Operator,
    /// A viewer who also approves and rejects videos.
    Reviewer,
    /// Everything.
    Admin,
}

/// What a method needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    Operate,
    Review,
}

impl Role {
    pub fn grants(self, permission: Permission) -> bool {
        matches!(
            (self, permission),
            (Role::Admin, _)
                | (_, Permission::Read)
                | (Role::Operator, Permission::Operate)
                | (Role::Reviewer, Permission::Review)
        )
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        })
    }
}

/// The authenticated user of a call, in the request's extensions for the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

/// The user a handler acts for: the guard's [`Caller`], or `None` where no guard runs
/// (authentication off).
pub fn caller_name<T>(request: &tonic::Request<T>) -> Option<String> {
    request.extensions().get::<Caller>().map(|caller| caller.name.clone())
}

#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("cannot read the token file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the token file {path} is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFileText {
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    role: Role,
    sha256: String,
}

/// The known tokens, by the hex SHA-256 of the token.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    by_hash: HashMap<String, Caller>,
}

impl Tokens {
    pub fn load(path: &Path) -> Result<Tokens, TokenFileError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| TokenFileError::Read { path: path.into(), source })?;
        Tokens::parse(&text).map_err(|reason| TokenFileError::Invalid { path: path.into(), reason })
    }

    fn parse(text: &str) -> Result<Tokens, String> {
        let file: TokenFileText = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut by_hash = HashMap::new();
        for TokenEntry { name, role, sha256 } in file.tokens {
            let hash = sha256.trim().to_ascii_lowercase();
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("token `{name}`: sha256 must be 64 hex digits"));
            }
            if name.trim().is_empty() {
                return Err("a token has an empty name".into());
            }
            if by_hash.insert(hash, Caller { name: name.clone(), role }).is_some() {
                return Err(format!("token `{name}`: the same token is listed twice"));
            }
        }
        Ok(Tokens { by_hash })
    }

    /// The user whose token this is.
    pub fn find(&self, token: &str) -> Option<&Caller> {
        self.by_hash.get(&hash_token(token))
    }
}

/// The token file, read again when it changes (its modification time or size), so that users
/// added to or removed from it are known from the next call on.
pub struct TokenFile {
    path: PathBuf,
    current: Mutex<Watched<Arc<Tokens>>>,
}

impl TokenFile {
    /// Reads the file now: a service does not start with a token file it cannot use.
    pub fn load(path: &Path) -> Result<TokenFile, TokenFileError> {
        let current = Watched::build(&[path], || Tokens::load(path).map(Arc::new))?;
        Ok(TokenFile { path: path.to_owned(), current: Mutex::new(current) })
    }

    /// The tokens as the file says now (one `stat` when it has not changed).
    pub fn tokens(&self) -> Arc<Tokens> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.refresh("the token file", &[self.path.as_path()], || Tokens::load(&self.path).map(Arc::new));
        current.value().clone()
    }
}

/// The hex SHA-256 of a token, as the token file stores it.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Whom a call comes from, or why it is refused: UNAUTHENTICATED without a known token,
/// PERMISSION_DENIED when the role does not grant what the method needs.
fn authorize(tokens: &Tokens, permission: Option<Permission>, headers: &http::HeaderMap) -> Result<Caller, Status> {
    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| Status::unauthenticated("a bearer token is required (authorization: Bearer …)"))?;
    let caller = tokens.find(token).ok_or_else(|| Status::unauthenticated("unknown token"))?;
    // A method the policy does not know is nobody's but the admin's.
    let allowed = match permission {
        Some(permission) => caller.role.grants(permission),
        None => caller.role == Role::Admin,
    };
    if !allowed {
        return Err(Status::permission_denied(format!("{} `{}` may not call this method", caller.role, caller.name)));
    }
    Ok(caller.clone())
}

/// Whether the client certificate of the call's connection (verified against `tls.ca_file`
/// during the handshake) names one of `identities` in its subject alternative names:
/// UNAUTHENTICATED without a certificate, PERMISSION_DENIED for another identity.
fn authorize_peer(identities: &[&str], extensions: &http::Extensions) -> Result<(), Status> {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    let certificates = extensions.get::<TlsConnectInfo<TcpConnectInfo>>().and_then(TlsConnectInfo::peer_certs);
    let Some(leaf) = certificates.as_deref().and_then(|certificates| certificates.first()) else {
        return Err(Status::unauthenticated("a client certificate is required"));
    };
    let parsed = rustls::server::ParsedCertificate::try_from(leaf)
        .map_err(|_| Status::unauthenticated("the client certificate cannot be read"))?;
    let admitted = identities.iter().any(|identity| {
        rustls_pki_types::ServerName::try_from(*identity)
            .is_ok_and(|name| rustls::client::verify_server_name(&parsed, &name).is_ok())
    });
    if !admitted {
        return Err(Status::permission_denied(format!("only {} may call this service", identities.join(" and "))));
    }
    Ok(())
}

/// The identities (DNS names in the client certificate) the services call each other with.
pub const ORCHESTRATOR_IDENTITY: &str = "orchestrator";
pub const COMPOSER_IDENTITY: &str = "composer";

/// Who may call a guarded service.
#[derive(Clone)]
pub enum Policy {
    /// Users with bearer tokens; each method (the last segment of the path) needs the
    /// permission `permission_of` says, and an admitted call carries its [`Caller`].
    Users { tokens: Arc<TokenFile>, permission_of: fn(&str) -> Option<Permission> },
    /// Other services, by the identity in their client certificate (mutual TLS).
    Services { identities: &'static [&'static str] },
}

/// A service behind its [`Policy`]: a refused call never reaches the service.
#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    policy: Policy,
}

impl<S> Guard<S> {
    pub fn new(inner: S, policy: Policy) -> Self {
        Guard { inner, policy }
    }
}

impl<S: NamedService> NamedService for Guard<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<Body>> for Guard<S>
where
    S: Service<http::Request<Body>, Response = http::Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: tonic::codegen::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let method = request.uri().path().rsplit('/').next().unwrap_or_default();
        let admitted = match &self.policy {
            Policy::Users { tokens, permission_of } => {
                authorize(&tokens.tokens(), permission_of(method), request.headers()).map(Some)
            }
            Policy::Services { identities } => authorize_peer(identities, request.extensions()).map(|()| None),
        };
        match admitted {
            Ok(caller) => {
                if let Some(caller) = caller {
                    request.extensions_mut().insert(caller);
                }
                // The clone that was made ready serves this call; the fresh one waits its turn.
                let fresh = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, fresh);
                Box::pin(async move { Ok(inner.call(request).await?.map(Body::new)) })
            }
            Err(status) => Box::pin(async move { Ok(status.into_http()) }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn tokens() -> Tokens {
        Tokens::parse(&format!(
            "[[tokens]]\nname = \"vera\"\nrole = \"viewer\"\nsha256 = \"{}\"\n",
            hash_token("vera-secret").to_uppercase()
        ))
        .unwrap()
    }

    fn bearer(token: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        headers
    }

    #[test]
    fn roles_grant_what_the_issue_says() {
        use Permission::*;
        let table = [
            (Role::Viewer, [true, false, false]),
            (Role::Operator, [true, true, false]),
            (Role::Reviewer, [true, false, true]),
            (Role::Admin, [true, true, true]),
        ];
        for (role, grants) in table {
            assert_eq!([role.grants(Read), role.grants(Operate), role.grants(Review)], grants, "{role}");
        }
    }

    #[test]
    fn tokens_are_checked_by_hash_and_role() {
        let tokens = tokens();
        let caller = authorize(&tokens, Some(Permission::Read), &bearer("vera-secret")).unwrap();
        assert_eq!(caller, Caller { name: "vera".into(), role: Role::Viewer });
        let denied = authorize(&tokens, Some(Permission::Operate), &bearer("vera-secret")).unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        let unknown_method = authorize(&tokens, None, &bearer("vera-secret")).unwrap_err();
        assert_eq!(unknown_method.code(), tonic::Code::PermissionDenied);
        for headers in [bearer("wrong"), http::HeaderMap::new()] {
            let refused = authorize(&tokens, Some(Permission::Read), &headers).unwrap_err();
            assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        }
    }

    fn entry(name: &str, role: &str, token: &str) -> String {
        format!("[[tokens]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n", hash_token(token))
    }

    #[test]
    fn a_changed_token_file_is_used_from_the_next_call_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        std::fs::write(&path, entry("vera", "viewer", "vera-secret")).unwrap();
        let file = TokenFile::load(&path).unwrap();
        assert_eq!(file.tokens().find("vera-secret").map(|c| c.role), Some(Role::Viewer));

        // A Secret update: vera is revoked, otto added (another size, so seen at once even where
        // modification times are coarse).
        std::fs::write(&path, entry("otto", "operator", "otto-secret-longer")).unwrap();
        let tokens = file.tokens();
        assert!(tokens.find("vera-secret").is_none(), "a revoked token is refused");
        assert_eq!(tokens.find("otto-secret-longer").map(|c| c.name.as_str()), Some("otto"));

        // A half-written or broken file keeps the tokens that were good, and so does a removed one.
        std::fs::write(&path, "[[tokens]]\nname = \"x\"").unwrap();
        assert!(file.tokens().find("otto-secret-longer").is_some());
        std::fs::remove_file(&path).unwrap();
        assert!(file.tokens().find("otto-secret-longer").is_some());
        // A service does not start on a broken file.
        assert!(TokenFile::load(&path).is_err());
    }

    #[test]
    fn a_bad_token_file_says_what_is_wrong() {
        let short = Tokens::parse("[[tokens]]\nname = \"a\"\nrole = \"viewer\"\nsha256 = \"abc\"\n").unwrap_err();
        assert!(short.contains("64 hex digits"), "{short}");
        let role = Tokens::parse("[[tokens]]\nname = \"a\"\nrole = \"king\"\nsha256 = \"abc\"\n").unwrap_err();
        assert!(role.contains("king"), "{role}");
    }
}
