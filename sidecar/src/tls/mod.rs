//! TLS for the secure client port and the quorum port, with rustls.
//!
//! - [`pem`]: PEM key and trust stores.
//! - [`material`]: rustls server and client configurations built from their contents.
//! - [`verifier`]: client certificates (with X.509 v1 support) and quorum server certificates.
//! - [`reload`]: configurations rebuilt when their files change.
//! - [`dn`]: a certificate subject in the form ZooKeeper's `x509` ACL scheme uses.
//!
//! The crypto provider is aws-lc-rs, named explicitly (never a process-wide default).

pub mod dn;
mod material;
mod pem;
mod reload;
mod verifier;

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, ServerConfig};

use crate::config::{QuorumTlsSettings, SecureClientSettings};
pub use material::Files;
pub use pem::TlsError;
pub use reload::{Check, Reloadable};

/// The process's one crypto provider.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}

/// The secure client port's server configuration, following its files.
pub fn client_port(
    settings: &SecureClientSettings,
) -> Result<Arc<Reloadable<ServerConfig>>, TlsError> {
    let stores = settings.stores.clone();
    let client_auth = settings.client_auth;
    let provider = provider();
    Reloadable::load("secure client port", stores.files(), move |files| {
        material::server_config(&stores, client_auth, files, &provider)
    })
}

/// Both sides of quorum TLS, following their files: members accept only peers whose
/// certificates chain to the quorum trust store, and present their own when they connect.
#[derive(Clone)]
pub struct QuorumTls {
    pub server: Arc<Reloadable<ServerConfig>>,
    pub client: Arc<Reloadable<ClientConfig>>,
}

impl std::fmt::Debug for QuorumTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QuorumTls")
    }
}

impl QuorumTls {
    pub fn load(settings: &QuorumTlsSettings) -> Result<QuorumTls, TlsError> {
        let provider = provider();
        let stores = settings.stores.clone();
        let server = {
            let (stores, provider) = (stores.clone(), provider.clone());
            Reloadable::load("quorum (accepting)", stores.files(), move |files| {
                material::server_config(&stores, crate::config::ClientAuth::Need, files, &provider)
            })?
        };
        let hostname_verification = settings.hostname_verification;
        let client = Reloadable::load("quorum (connecting)", stores.files(), move |files| {
            material::client_config(&stores, hostname_verification, files, &provider)
        })?;
        Ok(QuorumTls { server, client })
    }

    /// Check the files every `interval`.
    pub fn watch(&self, interval: std::time::Duration) {
        self.server.watch(interval);
        self.client.watch(interval);
    }
}

/// The subject of the first certificate the peer presented, as ZooKeeper's `x509` scheme names
/// it; `None` without a certificate.
pub fn x509_identity(certs: Option<&[CertificateDer<'_>]>) -> Option<String> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let first = certs?.first()?;
    let (_, cert) = X509Certificate::from_der(first.as_ref()).ok()?;
    Some(dn::java_rfc2253(cert.subject()))
}

#[cfg(test)]
mod tests;
