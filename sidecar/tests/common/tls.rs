//! TLS for the black-box tests: certificates made at test time (never committed), clients that
//! present them, and a server started from a zoo.cfg with TLS keys.
//!
//! [`TlsServer`] writes one zoo.cfg that both servers read: Corral (`node --zoo-cfg`) or, with
//! `CORRAL_ITEST_BACKEND=zookeeper`, Apache ZooKeeper 3.8.0 with the same file, so the
//! expectations are checked against the real thing.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use zookeeper_client as zk;

use super::{Backend, NodeConfig, free_port, log_tail, raw};

/// A certificate authority made for one test.
pub struct Ca {
    params: CertificateParams,
    key: KeyPair,
    cert: rcgen::Certificate,
}

/// A certificate and its key, in PEM.
#[derive(Clone)]
pub struct Identity {
    pub cert: String,
    pub key: String,
}

impl Identity {
    /// ZooKeeper's PEM key store: the private key, then the certificate.
    pub fn key_store(&self) -> String {
        format!("{}{}", self.key, self.cert)
    }

    /// `zookeeper-client` TLS options presenting this identity and trusting `ca_pem`.
    pub fn zk_tls(&self, ca_pem: &str) -> zk::TlsOptions {
        zk::TlsOptions::new()
            .with_pem_ca(ca_pem)
            .expect("CA PEM")
            .with_pem_identity(&self.cert, &self.key)
            .expect("identity PEM")
    }
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("self-signed CA");
        Ca { params, key, cert }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A certificate with subject `CN=<cn>,O=Corral` for loopback (`localhost`, `127.0.0.1`).
    pub fn issue(&self, cn: &str) -> Identity {
        let key = KeyPair::generate().expect("leaf key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("leaf params");
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Corral");
        params.distinguished_name.push(DnType::CommonName, cn);
        let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).expect("signed leaf");
        Identity {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// Replace a file the way a careful operator (or Kubernetes) does: write aside, then rename.
pub fn replace_file(path: &Path, contents: &str) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, contents).expect("write the new file");
    std::fs::rename(&aside, path).expect("rename it into place");
}

/// A raw rustls client trusting `trusted` (PEM bundle) and presenting `identity`.
pub fn connector(trusted: &str, identity: Option<&Identity>) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(trusted.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA certificate");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots);
    let config = match identity {
        Some(identity) => {
            let chain = CertificateDer::pem_slice_iter(identity.cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .expect("certificate PEM");
            let key = PrivateKeyDer::from_pem_slice(identity.key.as_bytes()).expect("key PEM");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client identity")
        }
        None => builder.with_no_client_auth(),
    };
    TlsConnector::from(Arc::new(config))
}

/// A TLS connection to `addr`, handshake complete (bounded by 5 s).
pub async fn tls_connect(
    addr: SocketAddr,
    connector: &TlsConnector,
) -> std::io::Result<TlsStream<tokio::net::TcpStream>> {
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").expect("server name");
        let mut stream = connector.connect(name, tcp).await?;
        // In TLS 1.3 the server judges the client's certificate after the client has finished:
        // a refusal shows up as the first read failing, so make one exchange happen.
        stream.flush().await?;
        Ok(stream)
    };
    tokio::time::timeout(Duration::from_secs(5), attempt)
        .await
        .unwrap_or_else(|_| Err(std::io::Error::other("TLS connect timed out")))
}

/// Open a session over TLS with the raw protocol and close it; the error says what failed.
pub async fn tls_session(addr: SocketAddr, connector: &TlsConnector) -> Result<i64, String> {
    let attempt = async {
        let mut stream = tls_connect(addr, connector)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let request = raw::ConnectRequest::new_session(10_000).encode();
        let mut frame = (request.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&request);
        stream
            .write_all(&frame)
            .await
            .map_err(|e| format!("write: {e}"))?;
        stream.flush().await.map_err(|e| format!("flush: {e}"))?;
        let mut len = [0u8; 4];
        stream
            .read_exact(&mut len)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let mut payload = vec![0u8; u32::from_be_bytes(len) as usize];
        stream
            .read_exact(&mut payload)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let response = raw::ConnectResponse::decode(&payload);
        let close = raw::Jute::new()
            .int(8)
            .int(1)
            .int(raw::op::CLOSE_SESSION)
            .into_vec();
        let _ = stream.write_all(&close).await;
        let _ = stream.flush().await;
        Ok(response.session_id)
    };
    tokio::time::timeout(Duration::from_secs(5), attempt)
        .await
        .unwrap_or_else(|_| Err("timed out".into()))
}

/// The subject CN of the certificate the server presented on a new connection.
pub async fn server_certificate_cn(addr: SocketAddr, connector: &TlsConnector) -> Option<String> {
    let stream = tls_connect(addr, connector).await.ok()?;
    let der = stream.get_ref().1.peer_certificates()?.first()?.to_vec();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    Some(cn)
}

/// A four-letter word over TLS.
pub async fn tls_four_letter(
    addr: SocketAddr,
    connector: &TlsConnector,
    word: &str,
) -> Option<String> {
    let exchange = async {
        let mut stream = tls_connect(addr, connector).await.ok()?;
        stream.write_all(word.as_bytes()).await.ok()?;
        stream.flush().await.ok()?;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        Some(String::from_utf8_lossy(&answer).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .ok()
        .flatten()
}

/// The files of a server's TLS setup, in its directory.
pub struct TlsFiles {
    pub key_store: PathBuf,
    pub trust_store: PathBuf,
}

/// One server (Corral or ZooKeeper) configured from a zoo.cfg with TLS keys.
pub struct TlsServer {
    backend: Backend,
    dir: tempfile::TempDir,
    pub secure_port: u16,
    /// The plaintext port, if the server has one.
    pub plain_port: Option<u16>,
    pub files: TlsFiles,
    log_path: PathBuf,
    child: Option<Child>,
}

/// What a [`TlsServer`] serves.
pub struct TlsServerConfig<'a> {
    pub label: &'a str,
    pub server: &'a Identity,
    /// PEM bundle of the CAs client certificates must chain to.
    pub trust: &'a str,
    /// Also serve a plaintext client port.
    pub plain_port: bool,
    /// `ssl.clientAuth`, unless ZooKeeper's default (`need`).
    pub client_auth: Option<&'a str>,
    /// More zoo.cfg lines.
    pub extra: &'a [String],
}

impl TlsServer {
    pub async fn start(config: TlsServerConfig<'_>) -> TlsServer {
        let backend = Backend::from_env();
        let dir = tempfile::Builder::new()
            .prefix(&format!("corral-tls-{}-", config.label))
            .tempdir()
            .expect("temporary dir");
        let files = TlsFiles {
            key_store: dir.path().join("server.pem"),
            trust_store: dir.path().join("ca.pem"),
        };
        std::fs::write(&files.key_store, config.server.key_store()).expect("key store");
        std::fs::write(&files.trust_store, config.trust).expect("trust store");
        let secure_port = free_port();
        let plain_port = config.plain_port.then(free_port);
        let mut cfg = format!(
            "tickTime=2000\ndataDir={}\nsecureClientPort={secure_port}\n\
             secureClientPortAddress=127.0.0.1\n\
             serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n\
             ssl.keyStore.location={}\nssl.keyStore.type=PEM\n\
             ssl.trustStore.location={}\nssl.trustStore.type=PEM\n\
             admin.enableServer=false\n4lw.commands.whitelist=*\n",
            dir.path().join("data").display(),
            files.key_store.display(),
            files.trust_store.display(),
        );
        if let Some(port) = plain_port {
            // ZooKeeper refuses clientPortAddress without clientPort.
            cfg.push_str(&format!("clientPort={port}\nclientPortAddress=127.0.0.1\n"));
        }
        if let Some(auth) = config.client_auth {
            cfg.push_str(&format!("ssl.clientAuth={auth}\n"));
        }
        for line in config.extra {
            cfg.push_str(line);
            cfg.push('\n');
        }
        std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
        let cfg_path = dir.path().join("zoo.cfg");
        std::fs::write(&cfg_path, cfg).expect("zoo.cfg");
        let log_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("corral-itests");
        std::fs::create_dir_all(&log_dir).expect("log dir");
        let log_path = log_dir.join(format!("tls-{}-{secure_port}.log", config.label));
        let _ = std::fs::remove_file(&log_path);
        let mut server = TlsServer {
            backend,
            dir,
            secure_port,
            plain_port,
            files,
            log_path,
            child: None,
        };
        server.spawn(&cfg_path);
        server
    }

    fn spawn(&mut self, cfg_path: &Path) {
        let mut command = match self.backend {
            Backend::Corral => {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_corral-sidecar"));
                cmd.arg("node")
                    .arg("--zoo-cfg")
                    .arg(cfg_path)
                    .args(["--metrics-port", "0"])
                    .args(["--tls-reload-interval-ms", "200"]);
                super::isolate_from_caller_env(&mut cmd);
                cmd
            }
            Backend::ZooKeeper => super::zookeeper_command(&NodeConfig::default(), cfg_path),
        };
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open the log");
        let stderr = log.try_clone().expect("clone the log");
        self.child = Some(
            command
                .stdin(Stdio::null())
                .stdout(Stdio::from(log))
                .stderr(Stdio::from(stderr))
                .spawn()
                .expect("spawn the server"),
        );
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn secure_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.secure_port))
    }

    pub fn plain_addr(&self) -> Option<SocketAddr> {
        self.plain_port
            .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Wait until a session can be opened over TLS with `connector`.
    pub async fn wait_serving(&mut self, connector: &TlsConnector) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                panic!(
                    "the server exited during start-up ({status}):\n{}",
                    log_tail(&self.log_path, 40)
                );
            }
            if tls_session(self.secure_addr(), connector).await.is_ok() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "no TLS session on {} within 60 s:\n{}",
                    self.secure_addr(),
                    log_tail(&self.log_path, 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A `zookeeper-client` session over TLS.
    pub async fn client(&self, tls: zk::TlsOptions) -> Result<zk::Client, zk::Error> {
        let addr = self.secure_addr().to_string();
        let connect = zk::Client::connector()
            .with_session_timeout(Duration::from_secs(20))
            .with_connection_timeout(Duration::from_secs(5))
            .with_tls(tls)
            .secure_connect(&addr);
        tokio::time::timeout(Duration::from_secs(20), connect)
            .await
            .unwrap_or(Err(zk::Error::Timeout))
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- TLS server log {} (last lines) ---\n{}",
                self.log_path.display(),
                log_tail(&self.log_path, 60)
            );
        }
    }
}

/// Appends a line to the server's log so that a failing test's steps line up with it.
pub fn mark(server: &TlsServer, text: &str) {
    if let Ok(mut file) = OpenOptions::new().append(true).open(&server.log_path) {
        let _ = writeln!(file, "===== test: {text} =====");
    }
}
