//! Certificate checks beyond what webpki offers out of the box.
//!
//! - [`ClientVerifier`]: client certificates must chain to the trust store (webpki), except that
//!   an X.509 **v1** certificate issued directly by a trusted CA is also accepted. webpki only
//!   accepts v3 certificates, while Java's PKIX (and so ZooKeeper) accepts v1 ones, and real
//!   clients present them: kazoo's own test harness signs v1 client certificates. The v1 path
//!   checks what webpki would for such a certificate: the validity period, the issuer's name and
//!   its signature (SHA-1 refused, as webpki does); a v1 certificate carries no extensions to
//!   check, and no intermediate CA is supported on that path.
//! - [`ServerVerifier`]: a member's certificate must chain to the quorum trust store; with
//!   `ssl.quorum.hostnameVerification=false` it need not name the member's host.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls13_signature_with_raw_key};
use rustls::pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use x509_parser::prelude::{FromDer, X509Certificate, X509Version};
use x509_parser::time::ASN1Time;

/// sha1WithRSAEncryption, its OIW alias and ecdsa-with-SHA1: refused, as webpki refuses them.
const SHA1_SIGNATURES: [&str; 3] = ["1.2.840.113549.1.1.5", "1.3.14.3.2.29", "1.2.840.10045.4.1"];

/// webpki's client certificate check, plus v1 certificates issued directly by a trusted CA.
#[derive(Debug)]
pub struct ClientVerifier {
    webpki: Arc<dyn ClientCertVerifier>,
    /// The trust store, for the v1 path.
    roots: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

impl ClientVerifier {
    pub fn new(
        webpki: Arc<dyn ClientCertVerifier>,
        roots: Vec<CertificateDer<'static>>,
        provider: Arc<CryptoProvider>,
    ) -> Self {
        ClientVerifier {
            webpki,
            roots,
            provider,
        }
    }
}

/// The certificate parsed, if it is an X.509 v1 (or v2) certificate; webpki handles v3 ones.
fn parse_v1<'a>(der: &'a CertificateDer<'_>) -> Option<X509Certificate<'a>> {
    let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
    (cert.version() != X509Version::V3).then_some(cert)
}

impl ClientVerifier {
    fn verify_v1(&self, cert: &X509Certificate<'_>, now: UnixTime) -> Result<(), Error> {
        let now = ASN1Time::from_timestamp(now.as_secs() as i64)
            .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let validity = cert.validity();
        if now < validity.not_before {
            return Err(CertificateError::NotValidYet.into());
        }
        if now > validity.not_after {
            return Err(CertificateError::Expired.into());
        }
        let algorithm = cert.signature_algorithm.algorithm.to_id_string();
        if SHA1_SIGNATURES.contains(&algorithm.as_str()) {
            return Err(CertificateError::ApplicationVerificationFailure.into());
        }
        let mut issuer_found = false;
        for root in &self.roots {
            let Ok((_, ca)) = X509Certificate::from_der(root.as_ref()) else {
                continue;
            };
            if ca.subject().as_raw() != cert.issuer().as_raw() {
                continue;
            }
            issuer_found = true;
            if cert.verify_signature(Some(ca.public_key())).is_ok() {
                return Ok(());
            }
        }
        Err(if issuer_found {
            CertificateError::BadSignature.into()
        } else {
            CertificateError::UnknownIssuer.into()
        })
    }

    /// A handshake signature by the key of a v1 certificate.
    fn verify_v1_signature(
        &self,
        message: &[u8],
        cert: &X509Certificate<'_>,
        dss: &DigitallySignedStruct,
        tls13: bool,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        if tls13 {
            let spki = SubjectPublicKeyInfoDer::from(cert.public_key().raw);
            return verify_tls13_signature_with_raw_key(message, &spki, dss, algorithms);
        }
        // TLS 1.2 does not bind a scheme to a curve: any algorithm of the scheme that accepts
        // the key and the signature will do.
        let key = &cert.public_key().subject_public_key.data;
        let candidates = algorithms
            .mapping
            .iter()
            .find(|(scheme, _)| *scheme == dss.scheme)
            .map(|(_, algs)| *algs)
            .ok_or_else(|| {
                Error::PeerMisbehaved(
                    rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
                )
            })?;
        if candidates
            .iter()
            .any(|alg| alg.verify_signature(key, message, dss.signature()).is_ok())
        {
            Ok(HandshakeSignatureValid::assertion())
        } else {
            Err(CertificateError::BadSignature.into())
        }
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.webpki.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.webpki.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.webpki.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        match parse_v1(end_entity) {
            Some(cert) => self
                .verify_v1(&cert, now)
                .map(|()| ClientCertVerified::assertion()),
            None => self
                .webpki
                .verify_client_cert(end_entity, intermediates, now),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        match parse_v1(cert) {
            Some(parsed) => self.verify_v1_signature(message, &parsed, dss, false),
            None => self.webpki.verify_tls12_signature(message, cert, dss),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        match parse_v1(cert) {
            Some(parsed) => self.verify_v1_signature(message, &parsed, dss, true),
            None => self.webpki.verify_tls13_signature(message, cert, dss),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// webpki's server certificate check; the name check is skipped when hostname verification is
/// off (ZooKeeper's `ssl.quorum.hostnameVerification=false`). The chain is checked either way.
#[derive(Debug)]
pub struct ServerVerifier {
    webpki: Arc<dyn ServerCertVerifier>,
    hostname_verification: bool,
}

impl ServerVerifier {
    pub fn new(webpki: Arc<dyn ServerCertVerifier>, hostname_verification: bool) -> Self {
        ServerVerifier {
            webpki,
            hostname_verification,
        }
    }
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let verified = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match verified {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.hostname_verification => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
