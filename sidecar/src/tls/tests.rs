//! Handshakes in memory: the configurations built from PEM files, against rustls clients.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, PublicKeyData as _,
    SigningKey as _,
};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::material::{self, Files};
use super::{TlsError, provider, x509_identity};
use crate::config::{ClientAuth, TlsStores};

/// A CA with its key.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    params: CertificateParams,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key, params }
    }

    /// A v3 leaf certificate for `names` (DNS names or IPs) with subject `CN=<cn>,O=Corral`.
    fn leaf(&self, cn: &str, names: &[&str]) -> (String, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Corral");
        params.distinguished_name.push(DnType::CommonName, cn);
        let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key)
    }

    /// An X.509 v1 certificate (no extensions), as kazoo's test harness makes them.
    fn v1_leaf(&self, cn: &str) -> (String, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let ca_der = self.cert.der().to_vec();
        let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();
        let issuer = ca.subject().as_raw().to_vec();
        // ecdsa-with-SHA256
        let algorithm = tlv(
            0x30,
            &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02],
        );
        let validity = tlv(
            0x30,
            &[tlv(0x17, b"000101000000Z"), tlv(0x18, b"20991231235959Z")].concat(),
        );
        let cn_attr = tlv(
            0x30,
            &[vec![0x06, 0x03, 0x55, 0x04, 0x03], tlv(0x0c, cn.as_bytes())].concat(),
        );
        let subject = tlv(0x30, &tlv(0x31, &cn_attr));
        let tbs = tlv(
            0x30,
            &[
                vec![0x02, 0x01, 0x07],
                algorithm.clone(),
                issuer,
                validity,
                subject,
                key.subject_public_key_info(),
            ]
            .concat(),
        );
        let signature = self.key.sign(&tbs).unwrap();
        let der = tlv(
            0x30,
            &[
                tbs,
                algorithm,
                tlv(0x03, &[&[0u8][..], &signature].concat()),
            ]
            .concat(),
        );
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64(&der)
        );
        (pem, key)
    }
}

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match body.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(body);
    out
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// The stores of a server whose key store holds `key` then `cert`, trusting `ca`.
fn stores(cert: &str, key: &KeyPair, ca: &Ca) -> (TlsStores, Files) {
    let stores = TlsStores {
        key_store: PathBuf::from("/t/server.pem"),
        key: None,
        trust_store: Some(PathBuf::from("/t/ca.pem")),
        password_given: false,
    };
    let mut files = Files::default();
    files.insert("/t/server.pem", format!("{}{cert}", key.serialize_pem()));
    files.insert("/t/ca.pem", ca.cert.pem());
    (stores, files)
}

/// A rustls client trusting `ca`, presenting `identity` if given.
fn client(ca: &Ca, identity: Option<&(String, KeyPair)>) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.der().clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => {
            let chain = vec![
                <CertificateDer as rustls::pki_types::pem::PemObject>::from_pem_slice(
                    cert.as_bytes(),
                )
                .unwrap(),
            ];
            let key = PrivatePkcs8KeyDer::from(key.serialize_der()).into();
            // Not with_client_auth_cert: its key check refuses v1 certificates.
            let key = provider().key_provider.load_private_key(key).unwrap();
            let certified = rustls::sign::CertifiedKey::new(chain, key);
            builder.with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(
                certified,
            )))
        }
        None => builder.with_no_client_auth(),
    };
    TlsConnector::from(Arc::new(config))
}

/// Run one handshake; the server's outcome and the subject it saw.
async fn handshake(
    server: rustls::ServerConfig,
    client: TlsConnector,
    name: &str,
) -> Result<Option<String>, String> {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let name = ServerName::try_from(name.to_string()).unwrap();
    let (accepted, _connected) =
        tokio::join!(acceptor.accept(server_io), client.connect(name, client_io));
    accepted
        .map(|stream| x509_identity(stream.get_ref().1.peer_certificates()))
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn client_certificates_follow_ssl_client_auth() {
    let ca = Ca::new("test-ca");
    let other = Ca::new("other-ca");
    let (server_cert, server_key) = ca.leaf("server", &["localhost"]);
    let (stores, files) = stores(&server_cert, &server_key, &ca);
    let good = ca.leaf("client", &[]);
    let stranger = other.leaf("client", &[]);
    let config = |auth| material::server_config(&stores, auth, &files, &provider()).unwrap();

    let seen = handshake(
        config(ClientAuth::Need),
        client(&ca, Some(&good)),
        "localhost",
    )
    .await;
    assert_eq!(seen, Ok(Some("CN=client,O=Corral".to_string())));
    let refused = handshake(
        config(ClientAuth::Need),
        client(&ca, Some(&stranger)),
        "localhost",
    );
    assert!(
        refused.await.is_err(),
        "a certificate from another CA is refused"
    );
    let missing = handshake(config(ClientAuth::Need), client(&ca, None), "localhost").await;
    assert!(
        missing.is_err(),
        "need: a client without a certificate is refused"
    );

    let seen = handshake(config(ClientAuth::Want), client(&ca, None), "localhost").await;
    assert_eq!(seen, Ok(None), "want: no certificate, no x509 identity");
    let refused = handshake(
        config(ClientAuth::Want),
        client(&ca, Some(&stranger)),
        "localhost",
    );
    assert!(
        refused.await.is_err(),
        "want: a presented certificate is still checked"
    );

    let seen = handshake(
        config(ClientAuth::None),
        client(&ca, Some(&good)),
        "localhost",
    )
    .await;
    assert_eq!(seen, Ok(None), "none: no certificate is asked for");
}

#[tokio::test]
async fn version_1_certificates_are_accepted_from_a_trusted_ca_only() {
    let ca = Ca::new("test-ca");
    let other = Ca::new("other-ca");
    // kazoo's server certificate is v1 too: the key store must take it (Python's ssl module,
    // kazoo's client, accepts it; rustls clients would not, so the handshakes below use v3).
    let (v1_cert, v1_key) = ca.v1_leaf("localhost");
    let (v1_stores, v1_files) = stores(&v1_cert, &v1_key, &ca);
    assert!(material::server_config(&v1_stores, ClientAuth::Need, &v1_files, &provider()).is_ok());
    let (server_cert, server_key) = ca.leaf("server", &["localhost"]);
    let (stores, files) = stores(&server_cert, &server_key, &ca);
    let config =
        || material::server_config(&stores, ClientAuth::Need, &files, &provider()).unwrap();
    let v1 = ca.v1_leaf("v1-client");
    let seen = handshake(config(), client(&ca, Some(&v1)), "localhost").await;
    assert_eq!(seen, Ok(Some("CN=v1-client".to_string())));
    let forged = other.v1_leaf("v1-client");
    let refused = handshake(config(), client(&ca, Some(&forged)), "localhost").await;
    assert!(
        refused.is_err(),
        "a v1 certificate from another CA is refused"
    );
    // A v1 certificate whose issuer name matches but whose signature does not.
    let mut impostor_ca = Ca::new("test-ca");
    impostor_ca.params.distinguished_name = ca.params.distinguished_name.clone();
    let impostor = impostor_ca.v1_leaf("v1-client");
    let refused = handshake(config(), client(&ca, Some(&impostor)), "localhost").await;
    let err = refused.expect_err("a bad signature is refused");
    assert!(
        err.contains("BadSignature") || err.contains("signature"),
        "{err}"
    );
}

#[test]
fn a_key_that_does_not_match_its_certificate_is_refused() {
    let ca = Ca::new("test-ca");
    let (cert, _) = ca.leaf("server", &["localhost"]);
    let wrong_key = KeyPair::generate().unwrap();
    let (stores, files) = stores(&cert, &wrong_key, &ca);
    let err = material::server_config(&stores, ClientAuth::Need, &files, &provider())
        .expect_err("mismatch");
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
    assert!(err.to_string().contains("/t/server.pem"), "{err}");
}

#[test]
fn a_separate_key_file_is_read() {
    let ca = Ca::new("test-ca");
    let (cert, key) = ca.leaf("server", &["localhost"]);
    let stores = TlsStores {
        key_store: PathBuf::from("/t/tls.crt"),
        key: Some(PathBuf::from("/t/tls.key")),
        trust_store: Some(PathBuf::from("/t/ca.crt")),
        password_given: true,
    };
    let mut files = Files::default();
    files.insert("/t/tls.crt", cert);
    files.insert("/t/tls.key", key.serialize_pem());
    files.insert("/t/ca.crt", ca.cert.pem());
    assert!(material::server_config(&stores, ClientAuth::Need, &files, &provider()).is_ok());
}

#[tokio::test]
async fn quorum_members_check_each_other() {
    let ca = Ca::new("quorum-ca");
    let other = Ca::new("other-ca");
    let member = ca.leaf("member", &["localhost"]);
    let (stores_a, files_a) = stores(&member.0, &member.1, &ca);
    let server =
        || material::server_config(&stores_a, ClientAuth::Need, &files_a, &provider()).unwrap();
    let connector = |stores: &TlsStores, files: &Files, verify| {
        TlsConnector::from(Arc::new(
            material::client_config(stores, verify, files, &provider()).unwrap(),
        ))
    };
    // The same member identity on the connecting side.
    let seen = handshake(server(), connector(&stores_a, &files_a, true), "localhost").await;
    assert_eq!(seen, Ok(Some("CN=member,O=Corral".to_string())));
    // The certificate names localhost, not 127.0.0.1: refused with hostname verification.
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let acceptor = TlsAcceptor::from(Arc::new(server()));
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let (_, connected) = tokio::join!(
        acceptor.accept(server_io),
        connector(&stores_a, &files_a, true).connect(name, client_io)
    );
    assert!(connected.is_err(), "a name mismatch is refused");
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let acceptor = TlsAcceptor::from(Arc::new(server()));
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let (accepted, connected) = tokio::join!(
        acceptor.accept(server_io),
        connector(&stores_a, &files_a, false).connect(name, client_io)
    );
    assert!(
        accepted.is_ok() && connected.is_ok(),
        "without hostname verification"
    );
    // A member of another CA is refused by the server.
    let outsider = other.leaf("outsider", &["localhost"]);
    let (stores_x, mut files_x) = stores(&outsider.0, &outsider.1, &other);
    files_x.insert(
        "/t/ca.pem",
        format!("{}{}", ca.cert.pem(), other.cert.pem()),
    );
    let refused = handshake(server(), connector(&stores_x, &files_x, true), "localhost").await;
    assert!(
        refused.is_err(),
        "the outsider's certificate does not chain to the quorum CA"
    );
}
