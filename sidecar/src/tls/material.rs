//! rustls configurations built from the contents of the store files.
//!
//! Everything here works on bytes already read ([`Files`]), so a reload can read the files once,
//! compare them with what it has, and build from exactly what it compared.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::pem::{self, TlsError};
use super::verifier::{ClientVerifier, ServerVerifier};
use crate::config::{ClientAuth, TlsStores};

/// The contents of a set of files, by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Files(BTreeMap<PathBuf, Vec<u8>>);

impl Files {
    /// Read every file; the first that cannot be read is the error.
    pub fn read(paths: &[PathBuf]) -> Result<Files, TlsError> {
        let mut files = BTreeMap::new();
        for path in paths {
            files.insert(path.clone(), pem::read(path)?);
        }
        Ok(Files(files))
    }

    pub fn insert(&mut self, path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) {
        self.0.insert(path.into(), contents.into());
    }

    fn get(&self, path: &Path) -> Result<&[u8], TlsError> {
        self.0
            .get(path)
            .map(Vec::as_slice)
            .ok_or_else(|| TlsError::Read {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "not loaded"),
            })
    }
}

fn files_named(stores: &TlsStores) -> String {
    stores
        .files()
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn build_error(stores: &TlsStores, detail: impl std::fmt::Display) -> TlsError {
    TlsError::Build {
        files: files_named(stores),
        detail: detail.to_string(),
    }
}

/// This endpoint's certificate chain and private key, checked to belong together.
pub fn certified_key(
    stores: &TlsStores,
    files: &Files,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = pem::certificates(&stores.key_store, files.get(&stores.key_store)?)?;
    let key_path = stores.key.as_deref().unwrap_or(&stores.key_store);
    let key = pem::private_key(key_path, files.get(key_path)?)?;
    if stores.password_given {
        tracing::warn!(file = %key_path.display(),
            "the key store password is ignored: PEM private keys are read unencrypted");
    }
    let signing_key =
        provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| TlsError::BadKey {
                path: key_path.to_path_buf(),
                detail: e.to_string(),
            })?;
    // rustls' own consistency check parses the certificate with webpki, which refuses X.509 v1
    // certificates; compare the public keys with a parser that takes every version.
    let (_, leaf) =
        X509Certificate::from_der(chain[0].as_ref()).map_err(|e| TlsError::BadCertificate {
            path: stores.key_store.clone(),
            detail: e.to_string(),
        })?;
    if let Some(public) = signing_key.public_key()
        && public.as_ref() != leaf.public_key().raw
    {
        return Err(TlsError::KeyMismatch {
            key: key_path.to_path_buf(),
            cert: stores.key_store.clone(),
        });
    }
    Ok(Arc::new(CertifiedKey::new(chain, signing_key)))
}

/// The CA certificates of a trust store, as webpki roots and as DER.
pub fn trust_roots(
    path: &Path,
    files: &Files,
) -> Result<(RootCertStore, Vec<CertificateDer<'static>>), TlsError> {
    let certs = pem::certificates(path, files.get(path)?)?;
    let mut roots = RootCertStore::empty();
    for cert in &certs {
        roots
            .add(cert.clone())
            .map_err(|e| TlsError::NoTrustAnchors {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })?;
    }
    Ok((roots, certs))
}

/// The server side of a TLS endpoint: this server's certificate, and the client certificate
/// policy (`need`: required and checked; `want`: checked if presented; `none`: not asked for).
pub fn server_config(
    stores: &TlsStores,
    client_auth: ClientAuth,
    files: &Files,
    provider: &Arc<CryptoProvider>,
) -> Result<ServerConfig, TlsError> {
    let key = certified_key(stores, files, provider)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| build_error(stores, e))?;
    let builder = match (client_auth, &stores.trust_store) {
        (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
        (auth, Some(trust_path)) => {
            let (roots, ders) = trust_roots(trust_path, files)?;
            let webpki =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let webpki = if auth == ClientAuth::Want {
                webpki.allow_unauthenticated()
            } else {
                webpki
            };
            let webpki = webpki.build().map_err(|e| build_error(stores, e))?;
            builder.with_client_cert_verifier(Arc::new(ClientVerifier::new(
                webpki,
                ders,
                provider.clone(),
            )))
        }
    };
    Ok(builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(key))))
}

/// The client side of quorum TLS: presents this member's certificate and checks the peer's
/// against the trust store (and its name, with hostname verification).
pub fn client_config(
    stores: &TlsStores,
    hostname_verification: bool,
    files: &Files,
    provider: &Arc<CryptoProvider>,
) -> Result<ClientConfig, TlsError> {
    let key = certified_key(stores, files, provider)?;
    let trust_path = stores
        .trust_store
        .as_deref()
        .ok_or_else(|| build_error(stores, "no trust store"))?;
    let (roots, _) = trust_roots(trust_path, files)?;
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| build_error(stores, e))?;
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| build_error(stores, e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ServerVerifier::new(
            webpki,
            hostname_verification,
        )))
        .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(key)));
    Ok(config)
}
