//! Harness shared by the black-box tests of `corral-sidecar node`.
//!
//! Every test starts its own node process on a free loopback port with its own data directory,
//! so tests run in parallel without sharing state. The node is killed when the [`TestNode`] is
//! dropped; its stderr goes to a log file under the target's tmp dir, whose tail is printed when
//! a test panics.
//!
//! Setting `CORRAL_ITEST_BACKEND=zookeeper` runs the very same tests against Apache ZooKeeper
//! (the Debian 3.8 jars), configured with the equivalent zoo.cfg keys and system properties.
//! That is how the expectations written here are checked against the real thing.

#![allow(dead_code)] // Each test file uses a different part of the harness.

pub mod ensemble;
pub mod netns;
pub mod proxy;
pub mod raw;
pub mod tls;

use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use zookeeper_client as zk;

/// Bound for one network step (a request, a connect, a watch event).
pub const STEP: Duration = Duration::from_secs(20);
/// Bound for a node to start accepting connections.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Session timeout requested by [`TestNode::client`]: long enough for a loaded machine.
pub const CLIENT_SESSION_TIMEOUT: Duration = Duration::from_secs(20);

/// Await `fut`, failing the test with `what` if it takes longer than [`STEP`].
pub async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {STEP:?}: {what}"),
    }
}

/// `bounded!(future)`: await with the [`STEP`] bound; the expression text names the step.
macro_rules! bounded {
    ($fut:expr) => {
        $crate::common::within(stringify!($fut), $fut).await
    };
}

/// Poll `check` every 50 ms until it returns `Some`, failing after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = within(what, check()).await {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("not reached within {limit:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Which server the tests talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Corral,
    ZooKeeper,
}

impl Backend {
    pub fn from_env() -> Backend {
        match std::env::var("CORRAL_ITEST_BACKEND").as_deref() {
            Ok("zookeeper") => Backend::ZooKeeper,
            Ok("corral") | Err(_) => Backend::Corral,
            Ok(other) => panic!("CORRAL_ITEST_BACKEND={other:?}: use `corral` or `zookeeper`"),
        }
    }
}

/// Settings of a test node; `None` leaves the server's default.
#[derive(Debug, Clone, Default)]
pub struct NodeConfig {
    pub tick_time_ms: Option<u32>,
    pub min_session_timeout_ms: Option<u32>,
    pub max_session_timeout_ms: Option<u32>,
    pub max_client_cnxns: Option<u32>,
    pub jute_max_buffer: Option<usize>,
    pub four_letter_words: Option<String>,
    pub super_digest: Option<String>,
    pub extended_types: bool,
    pub container_check_interval_ms: Option<u64>,
    /// Where the temporary data dir is made (a small tmpfs, say); the system temp dir if None.
    pub data_parent: Option<PathBuf>,
    /// Where the node's log file (its stdout and stderr) goes; the test target's temp dir if
    /// None.
    pub log_dir: Option<PathBuf>,
    /// A JAAS file with SASL users (`--jaas-config`; ZooKeeper's
    /// java.security.auth.login.config, with the SASL authentication provider registered).
    pub jaas_config: Option<PathBuf>,
    /// SASL super users (`--sasl-super-user`; ZooKeeper's zookeeper.superUser).
    pub sasl_super_user: Option<String>,
    /// Time a connection has for its handshake (`--handshake-timeout-ms`; ZooKeeper's
    /// zoo.cfg `nio.sessionlessCnxnTimeout`).
    pub handshake_timeout_ms: Option<u64>,
    /// Further `corral-sidecar node` flags (Corral only).
    pub extra_args: Vec<String>,
}

impl NodeConfig {
    /// Short session timeouts for tests that wait for an expiry: sessions may ask for 1-30 s.
    pub fn fast_sessions() -> NodeConfig {
        NodeConfig {
            tick_time_ms: Some(500),
            min_session_timeout_ms: Some(1000),
            max_session_timeout_ms: Some(30000),
            ..NodeConfig::default()
        }
    }
}

/// A spawned server or agent takes its settings from the test's flags and zoo.cfg only: every
/// `CORRAL_*` variable of the caller's environment (which would override them) is removed, and
/// its log level is the test's (`CORRAL_ITEST_LOG`, default info).
pub fn isolate_from_caller_env(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars() {
        if key.starts_with("CORRAL_") && key != "CORRAL_ITEST_BACKEND" {
            cmd.env_remove(key);
        }
    }
    cmd.env(
        "RUST_LOG",
        std::env::var("CORRAL_ITEST_LOG").unwrap_or_else(|_| "info".into()),
    )
}

/// One server process under test.
pub struct TestNode {
    label: String,
    backend: Backend,
    config: NodeConfig,
    data_dir: tempfile::TempDir,
    port: u16,
    log_path: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl TestNode {
    /// Start a node with default settings.
    pub async fn start(label: &str) -> TestNode {
        TestNode::start_with(label, NodeConfig::default()).await
    }

    /// Start a node and wait until it grants sessions.
    pub async fn start_with(label: &str, config: NodeConfig) -> TestNode {
        let prefix = format!("corral-itest-{label}-");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix);
        let data_dir = match &config.data_parent {
            Some(parent) => builder.tempdir_in(parent),
            None => builder.tempdir(),
        }
        .expect("create a temporary data dir");
        let port = free_port();
        let log_dir = config
            .log_dir
            .clone()
            .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("corral-itests"));
        std::fs::create_dir_all(&log_dir).expect("create the test log dir");
        let log_path = log_dir.join(format!("{label}-{port}.log"));
        let _ = std::fs::remove_file(&log_path);
        let mut node = TestNode {
            label: label.to_string(),
            backend: Backend::from_env(),
            config,
            data_dir,
            port,
            log_path,
            child: None,
            starts: 0,
        };
        node.spawn_and_wait().await;
        node
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The connect string for `zookeeper-client`.
    pub fn connect_string(&self) -> String {
        self.addr().to_string()
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The node's data dir.
    pub fn data_path(&self) -> &Path {
        self.data_dir.path()
    }

    /// Start the stopped node again and wait for it to give up: its exit status and its
    /// whole log. Panics if it serves sessions instead.
    pub async fn restart_expecting_failure(&mut self) -> (std::process::ExitStatus, String) {
        assert!(
            self.child.is_none(),
            "the node must be stopped (kill9) first"
        );
        self.starts += 1;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open the node log");
        let stderr = log.try_clone().expect("clone the log handle");
        let mut child = self
            .corral_command()
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawn the node");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("poll the node") {
                let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
                return (status, log);
            }
            if opens_session(self.addr()).await || Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the node was expected to refuse to start; log {}:\n{}",
                    self.log_path.display(),
                    log_tail(&self.log_path, 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running (it has not exited or crashed).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Wait up to `limit` for the process to exit by itself: its exit status, or None if it
    /// still runs.
    pub async fn wait_for_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            let child = self.child.as_mut()?;
            if let Some(status) = child.try_wait().expect("poll the node") {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL the process (no shutdown path runs) and reap it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // Child::kill is SIGKILL on Unix.
            let _ = child.wait();
        }
    }

    /// Start the process again on the same data dir and port.
    pub async fn restart(&mut self) {
        assert!(
            self.child.is_none(),
            "restart() needs the node stopped (kill9) first"
        );
        self.spawn_and_wait().await;
    }

    /// A client session with [`CLIENT_SESSION_TIMEOUT`].
    pub async fn client(&self) -> zk::Client {
        self.client_with(default_connector()).await
    }

    /// A client session from a prepared connector (see [`connector_with_timeout`]).
    pub async fn client_with(&self, connector: zk::Connector) -> zk::Client {
        self.try_client_with(connector)
            .await
            .unwrap_or_else(|e| panic!("connect to {} failed: {e}", self.addr()))
    }

    pub async fn try_client_with(&self, connector: zk::Connector) -> Result<zk::Client, zk::Error> {
        connect_bounded(connector, &self.connect_string()).await
    }

    async fn spawn_and_wait(&mut self) {
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open the node log");
        writeln!(
            log,
            "===== {} start #{} on port {} =====",
            self.label, self.starts, self.port
        )
        .expect("write the node log");
        let mut command = match self.backend {
            Backend::Corral => self.corral_command(),
            Backend::ZooKeeper => self.zookeeper_command(),
        };
        let stderr = log.try_clone().expect("clone the log handle");
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn the {:?} node: {e}", self.backend));
        self.child = Some(child);
        self.wait_until_accepting().await;
    }

    fn corral_command(&self) -> Command {
        let c = &self.config;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_corral-sidecar"));
        cmd.arg("node")
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .args(["--client-port", &self.port.to_string()])
            .args(["--client-port-address", "127.0.0.1"]);
        for flag in ["--admin-port", "--metrics-port"] {
            if !c.extra_args.iter().any(|a| a == flag) {
                cmd.args([flag, "0"]);
            }
        }
        let optional: [(&str, Option<String>); 11] = [
            (
                "--handshake-timeout-ms",
                c.handshake_timeout_ms.map(|v| v.to_string()),
            ),
            (
                "--jaas-config",
                c.jaas_config.as_ref().map(|p| p.display().to_string()),
            ),
            ("--sasl-super-user", c.sasl_super_user.clone()),
            ("--tick-time", c.tick_time_ms.map(|v| v.to_string())),
            (
                "--min-session-timeout",
                c.min_session_timeout_ms.map(|v| v.to_string()),
            ),
            (
                "--max-session-timeout",
                c.max_session_timeout_ms.map(|v| v.to_string()),
            ),
            (
                "--max-client-cnxns",
                c.max_client_cnxns.map(|v| v.to_string()),
            ),
            (
                "--jute-max-buffer",
                c.jute_max_buffer.map(|v| v.to_string()),
            ),
            ("--four-letter-words", c.four_letter_words.clone()),
            ("--super-digest", c.super_digest.clone()),
            (
                "--container-check-interval",
                c.container_check_interval_ms.map(|v| v.to_string()),
            ),
        ];
        for (flag, value) in optional {
            if let Some(value) = value {
                cmd.arg(flag).arg(value);
            }
        }
        if c.extended_types {
            cmd.arg("--extended-types-enabled");
        }
        cmd.args(&c.extra_args);
        // Settings come from the flags above only, never from the caller's environment.
        isolate_from_caller_env(&mut cmd);
        cmd
    }

    /// Apache ZooKeeper with the zoo.cfg keys and system properties equivalent to the flags.
    fn zookeeper_command(&self) -> Command {
        let c = &self.config;
        let dir = self.data_dir.path();
        let mut cfg = format!(
            "dataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n",
            dir.join("zk").display(),
            self.port
        );
        let keys: [(&str, Option<String>); 6] = [
            (
                "nio.sessionlessCnxnTimeout",
                c.handshake_timeout_ms.map(|v| v.to_string()),
            ),
            ("tickTime", c.tick_time_ms.map(|v| v.to_string())),
            (
                "minSessionTimeout",
                c.min_session_timeout_ms.map(|v| v.to_string()),
            ),
            (
                "maxSessionTimeout",
                c.max_session_timeout_ms.map(|v| v.to_string()),
            ),
            ("maxClientCnxns", c.max_client_cnxns.map(|v| v.to_string())),
            ("4lw.commands.whitelist", c.four_letter_words.clone()),
        ];
        for (key, value) in keys {
            if let Some(value) = value {
                cfg.push_str(&format!("{key}={value}\n"));
            }
        }
        if c.tick_time_ms.is_none() {
            cfg.push_str("tickTime=2000\n");
        }
        if c.jaas_config.is_some() {
            cfg.push_str(
                "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n",
            );
        }
        let cfg_path = dir.join("zoo.cfg");
        std::fs::write(&cfg_path, cfg).expect("write zoo.cfg");
        zookeeper_command(c, &cfg_path)
    }

    async fn wait_until_accepting(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                panic!(
                    "the node exited during start-up ({status}); log {}:\n{}",
                    self.log_path.display(),
                    log_tail(&self.log_path, 40)
                );
            }
            if self.serves_sessions().await {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the node did not accept connections on {} within {START_TIMEOUT:?}; log {}:\n{}",
                    self.addr(),
                    self.log_path.display(),
                    log_tail(&self.log_path, 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl TestNode {
    /// Whether a new session can be opened now. An open port is not enough: ZooKeeper binds it
    /// before its database is loaded and closes connections until then. The probe's session is
    /// closed right away so it leaves nothing behind.
    async fn serves_sessions(&self) -> bool {
        opens_session(self.addr()).await
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!(
                "--- node log {} (last lines) ---\n{}",
                self.log_path.display(),
                log_tail(&self.log_path, 60)
            );
        }
    }
}

/// Connect with `connector`, bounded by [`STEP`].
pub async fn connect_bounded(
    connector: zk::Connector,
    addr: &str,
) -> Result<zk::Client, zk::Error> {
    within(&format!("connect to {addr}"), connector.connect(addr)).await
}

/// A connector asking for `timeout` (the client's own default would be 6 s).
pub fn connector_with_timeout(timeout: Duration) -> zk::Connector {
    zk::Client::connector().with_session_timeout(timeout)
}

/// A connector with the harness's default session timeout.
pub fn default_connector() -> zk::Connector {
    connector_with_timeout(CLIENT_SESSION_TIMEOUT)
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// The last `lines` lines of a log file (or a note that it cannot be read).
pub fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// Appends a line to the node's log so that a failing test's steps line up with the node's.
pub fn mark(node: &TestNode, text: &str) {
    if let Ok(mut file) = OpenOptions::new().append(true).open(node.log_path()) {
        let _ = writeln!(file, "===== test: {text} =====");
    }
}

/// ZooKeeper's digest id `user:BASE64(SHA1(user:password))`, as used in ACLs and superDigest.
pub fn digest_id(user: &str, password: &str) -> String {
    let hash = sha1_smol::Sha1::from(format!("{user}:{password}"))
        .digest()
        .bytes();
    format!("{user}:{}", base64(&hash))
}

/// Standard base64 with padding (what Java's Base64 encoder produces).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Whether a new session can be opened at `addr` now. An open port is not enough: ZooKeeper
/// binds it before it has a quorum and closes connections until then. The probe's session is
/// closed right away so that it leaves nothing behind.
pub async fn opens_session(addr: SocketAddr) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = raw::ConnectRequest::new_session(10_000).encode();
        let mut frame = (request.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&request);
        stream.write_all(&frame).await.ok()?;
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).await.ok()?;
        let mut payload = vec![0u8; u32::from_be_bytes(len) as usize];
        stream.read_exact(&mut payload).await.ok()?;
        let response = raw::ConnectResponse::decode(&payload);
        if response.session_id == 0 {
            return None;
        }
        // Frame length 8: RequestHeader{xid 1, closeSession}.
        let close = raw::Jute::new()
            .int(8)
            .int(1)
            .int(raw::op::CLOSE_SESSION)
            .into_vec();
        stream.write_all(&close).await.ok()?;
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
        Some(())
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Some(()))
    )
}

/// Retry `attempt` until it succeeds. While a new leader is elected, requests fail with
/// CONNECTIONLOSS or wait for the reconnect; neither may outlast `limit`. Only retry
/// idempotent operations here.
#[allow(dead_code)] // used by the multi-member tests only
pub async fn until_ok<T, F, Fut>(what: &str, limit: Duration, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, zk::Error>>,
{
    let deadline = Instant::now() + limit;
    loop {
        let last = match tokio::time::timeout(STEP, attempt()).await {
            Ok(Ok(value)) => return value,
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("an attempt took longer than {STEP:?}"),
        };
        if Instant::now() >= deadline {
            panic!("{what}: not done within {limit:?}; last error: {last}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Apache ZooKeeper 3.8.0 (Debian's jars) on `cfg_path`; the settings that are JVM properties for
/// ZooKeeper are passed as such.
pub fn zookeeper_command(node: &NodeConfig, cfg_path: &Path) -> Command {
    let mut cmd = Command::new("java");
    cmd.args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]);
    if let Some(limit) = node.jute_max_buffer {
        cmd.arg(format!("-Djute.maxbuffer={limit}"));
    }
    if let Some(digest) = &node.super_digest {
        cmd.arg(format!(
            "-Dzookeeper.DigestAuthenticationProvider.superDigest={digest}"
        ));
    }
    if node.extended_types {
        cmd.arg("-Dzookeeper.extendedTypesEnabled=true");
    }
    if let Some(jaas) = &node.jaas_config {
        cmd.arg(format!(
            "-Djava.security.auth.login.config={}",
            jaas.display()
        ));
    }
    if let Some(user) = &node.sasl_super_user {
        cmd.arg(format!("-Dzookeeper.superUser={user}"));
    }
    if let Some(ms) = node.container_check_interval_ms {
        cmd.arg(format!("-Dznode.container.checkIntervalMs={ms}"));
    }
    // zookeeper.jar names its dependencies in its manifest; log4j is the one SLF4J binding.
    // Debian's manifest misses netty-codec and netty-resolver, which Netty (the TLS client
    // port) needs.
    cmd.args([
        "-Dzookeeper.root.logger=INFO,CONSOLE",
        "-cp",
        "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar:/usr/share/java/netty-codec.jar:/usr/share/java/netty-resolver.jar:/etc/zookeeper/conf_example",
        "org.apache.zookeeper.server.quorum.QuorumPeerMain",
    ])
    .arg(cfg_path);
    cmd
}

/// One HTTP/1.1 GET on loopback, bounded in time.
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await.ok()?;
        let text = String::from_utf8_lossy(&reply).into_owned();
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status = head.split(' ').nth(1)?.parse().ok()?;
        Some((status, body.to_string()))
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .ok()
        .flatten()
}

/// The value of one gauge on the Prometheus endpoint of the admin server at `port`.
pub async fn prometheus_gauge(port: u16, name: &str) -> Option<i64> {
    let (status, body) = http_get(port, "/metrics").await?;
    if status != 200 {
        return None;
    }
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (key, value) = line.split_once(' ')?;
            (key == name).then(|| value.trim().parse().ok()).flatten()
        })
}
