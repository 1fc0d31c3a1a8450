//! The PEM files the configuration names (TLS certificates, keys and CAs), read and checked: a
//! file that holds nothing usable is an error naming it.

use std::path::{Path, PathBuf};

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum PemError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} holds no usable {what}")]
    Empty { path: PathBuf, what: &'static str },
}

pub fn read(path: &Path) -> Result<Vec<u8>, PemError> {
    std::fs::read(path).map_err(|source| PemError::Read { path: path.into(), source })
}

pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&read(path)?).filter_map(Result::ok).collect();
    if certs.is_empty() {
        return Err(PemError::Empty { path: path.into(), what: "PEM certificate" });
    }
    Ok(certs)
}

pub fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, PemError> {
    PrivateKeyDer::from_pem_slice(&read(path)?)
        .map_err(|_| PemError::Empty { path: path.into(), what: "PEM private key" })
}

pub fn roots(path: &Path) -> Result<RootCertStore, PemError> {
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certificates(path)?);
    if added == 0 {
        return Err(PemError::Empty { path: path.into(), what: "CA certificate" });
    }
    Ok(roots)
}
