//! PEM key and trust stores, read from bytes so that parsing is tested with plain values.
//!
//! ZooKeeper's PEM key store is one file holding the private key and the certificate chain
//! (`PemReader` takes both from the same file); Corral also takes the key from a file of its own
//! (`--ssl-key`), the shape Kubernetes secrets have. Encrypted keys are refused with a command
//! that decrypts them.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// What can be wrong with the TLS files; every message names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}; check that the file exists and is readable")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid PEM ({detail}); it must hold PEM sections such as CERTIFICATE")]
    Pem { path: PathBuf, detail: String },
    #[error(
        "{path} holds no CERTIFICATE; the key store must hold this server's certificate, then its chain"
    )]
    NoCertificate { path: PathBuf },
    #[error(
        "{path} holds no private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY); put the key in the key store file or name its file with --ssl-key / --ssl-quorum-key"
    )]
    NoKey { path: PathBuf },
    #[error(
        "{path} holds an encrypted private key, which Corral does not decrypt; decrypt it (`openssl pkcs8 -in {path} -out key.pem`) and use the result"
    )]
    EncryptedKey { path: PathBuf },
    #[error("the private key in {path} cannot be used: {detail}")]
    BadKey { path: PathBuf, detail: String },
    #[error("the first certificate in {path} cannot be parsed: {detail}")]
    BadCertificate { path: PathBuf, detail: String },
    #[error(
        "the private key in {key} does not belong to the first certificate in {cert}; the first certificate must be this server's own"
    )]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    #[error("{path} holds no usable CA certificate: {detail}")]
    NoTrustAnchors { path: PathBuf, detail: String },
    #[error("cannot build a TLS configuration from {files}: {detail}")]
    Build { files: String, detail: String },
}

/// Read a whole file, naming it on failure.
pub fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Every CERTIFICATE in `pem`, in file order; at least one.
pub fn certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The first private key in `pem` (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    if is_encrypted(pem) {
        return Err(TlsError::EncryptedKey {
            path: path.to_path_buf(),
        });
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_path_buf(),
        },
        other => TlsError::Pem {
            path: path.to_path_buf(),
            detail: other.to_string(),
        },
    })
}

/// PKCS#8 `ENCRYPTED PRIVATE KEY`, or OpenSSL's legacy encrypted PEM (a `Proc-Type` header).
fn is_encrypted(pem: &[u8]) -> bool {
    let text = String::from_utf8_lossy(pem);
    text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || text.contains("Proc-Type: 4,ENCRYPTED")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_and_key() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn one_file_holds_key_and_chain() {
        let (cert, key) = cert_and_key();
        let both = format!("{key}{cert}{cert}");
        let path = Path::new("/k/server.pem");
        assert_eq!(certificates(path, both.as_bytes()).unwrap().len(), 2);
        assert!(private_key(path, both.as_bytes()).is_ok());
    }

    #[test]
    fn missing_parts_name_the_file() {
        let (cert, key) = cert_and_key();
        let path = Path::new("/k/server.pem");
        let err = private_key(path, cert.as_bytes()).unwrap_err();
        assert!(matches!(err, TlsError::NoKey { .. }), "{err}");
        assert!(err.to_string().contains("/k/server.pem"));
        let err = certificates(path, key.as_bytes()).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        let err = certificates(path, b"-----BEGIN CERTIFICATE-----\n!!!\n").unwrap_err();
        assert!(matches!(err, TlsError::Pem { .. }), "{err}");
    }

    #[test]
    fn encrypted_keys_are_refused_with_a_way_out() {
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let err = private_key(Path::new("/k/enc.pem"), encrypted.as_bytes()).unwrap_err();
        assert!(matches!(err, TlsError::EncryptedKey { .. }));
        assert!(err.to_string().contains("openssl pkcs8"), "{err}");
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(matches!(
            private_key(Path::new("/k/enc.pem"), legacy.as_bytes()),
            Err(TlsError::EncryptedKey { .. })
        ));
    }
}
