//! A replicated ensemble of N members on loopback, for the tests of the Raft ensemble.
//!
//! Every member gets its own directory with a ZooKeeper-style `zoo.cfg` (tickTime, initLimit,
//! syncLimit, dataDir, clientPort, clientPortAddress, admin port, `4lw.commands.whitelist`, one
//! `server.N=127.0.0.1:PEER:ELECTION:participant` line per member) and a `myid` file in its data
//! dir, exactly what an operator would write for Apache ZooKeeper. The node is started as
//! `corral-sidecar node --zoo-cfg FILE --metrics-port 0`, so the ensemble is configured only by
//! the zoo.cfg path, as it is under kazoo's harness.
//!
//! `CORRAL_ITEST_BACKEND=zookeeper` starts one Apache ZooKeeper 3.8 `QuorumPeerMain` per member
//! from the same zoo.cfg (plus `admin.enableServer=false`), so every expectation written against
//! [`Ensemble`] can be checked against the real thing.
//!
//! Members are addressed by index `0..n`; member `i` has `myid` `i + 1`. All process control
//! (kill -9, SIGSTOP, SIGCONT, restart on the same data dir and ports) goes through [`Member`],
//! whose methods take `&self` so that a test can hold several members at once. Every wait is
//! bounded. Member logs go to the target's tmp dir and their tails are printed when a test
//! panics.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use zookeeper_client as zk;

use super::{
    Backend, NodeConfig, connect_bounded, default_connector, free_port, log_tail, opens_session,
};

/// Bound for every member of a new ensemble to serve sessions: JVM start-up plus the first
/// election, on a small machine shared with other tests.
const ENSEMBLE_START_TIMEOUT: Duration = Duration::from_secs(90);
/// Bound for a restarted member to serve sessions again (it has to rejoin and catch up).
const MEMBER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound for [`Ensemble::wait_for_leader`].
pub const ELECTION_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound for one four-letter word exchange. A SIGSTOPped member accepts the TCP connection (the
/// kernel does) but never answers, so this must be short.
const FOUR_LETTER_TIMEOUT: Duration = Duration::from_secs(3);

/// Ticks a follower may take to connect and sync to a new leader, and to lag behind it
/// (ZooKeeper refuses a replicated zoo.cfg without them; Corral warns about them and ignores
/// them). Generous, because JVMs on a busy 2-core machine are slow.
const INIT_LIMIT_TICKS: u32 = 20;
const SYNC_LIMIT_TICKS: u32 = 10;

/// Settings shared by every member of an ensemble.
#[derive(Debug, Clone, Default)]
pub struct EnsembleConfig {
    /// The per-node settings, as for a single [`super::TestNode`].
    pub node: NodeConfig,
    /// zoo.cfg `snapCount`: ZooKeeper snapshots after about this many transactions, so that a
    /// member that was down is brought up to date from a snapshot rather than from the log.
    pub snap_count: Option<u32>,
    /// More zoo.cfg lines for every member (e.g. `sslQuorum=true` and its stores).
    pub extra_cfg: Vec<String>,
}

/// Ports of one member, all on 127.0.0.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberPorts {
    pub client: u16,
    /// The quorum port of the `server.N` line: Raft traffic for Corral.
    pub peer: u16,
    /// The election port of the `server.N` line (ZooKeeper's leader election; unused by Corral).
    pub election: u16,
    /// `admin.serverPort`: Corral's admin HTTP API. ZooKeeper's AdminServer stays disabled.
    pub admin: u16,
}

/// The process behind a member, if any.
#[derive(Debug, Default)]
struct Process {
    child: Option<Child>,
    /// Stopped with SIGSTOP and not continued yet.
    paused: bool,
    starts: u32,
}

/// One member of an [`Ensemble`].
pub struct Member {
    index: usize,
    backend: Backend,
    label: String,
    config: EnsembleConfig,
    dir: PathBuf,
    ports: MemberPorts,
    log_path: PathBuf,
    process: Mutex<Process>,
}

impl Member {
    /// Position in the ensemble, `0..n`.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The server id (`myid`, the `N` of `server.N`): index + 1.
    pub fn id(&self) -> u64 {
        self.index as u64 + 1
    }

    pub fn ports(&self) -> MemberPorts {
        self.ports
    }

    /// The client address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports.client))
    }

    /// A connect string naming this member only.
    pub fn connect_string(&self) -> String {
        self.addr().to_string()
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// dataDir (holds `myid`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn zoo_cfg_path(&self) -> PathBuf {
        self.dir.join("zoo.cfg")
    }

    /// Whether a process is running and not paused.
    pub fn is_up(&self) -> bool {
        let process = self.lock();
        process.child.is_some() && !process.paused
    }

    /// SIGKILL the process (no shutdown path runs) and reap it. A paused process dies too.
    pub fn kill9(&self) {
        let mut process = self.lock();
        if let Some(mut child) = process.child.take() {
            let _ = child.kill(); // Child::kill is SIGKILL on Unix.
            let _ = child.wait();
        }
        process.paused = false;
        drop(process);
        self.mark("kill -9");
    }

    /// Freeze the process with SIGSTOP: its sockets stay open but nothing is answered, like a
    /// member stuck in a long GC pause or on a hung disk.
    pub fn sigstop(&self) {
        let mut process = self.lock();
        let pid = Self::pid_of(&process, "sigstop");
        self.mark("kill -STOP");
        send_signal("STOP", pid);
        process.paused = true;
    }

    /// Resume a process frozen by [`Member::sigstop`].
    pub fn sigcont(&self) {
        let mut process = self.lock();
        let pid = Self::pid_of(&process, "sigcont");
        send_signal("CONT", pid);
        process.paused = false;
        drop(process);
        self.mark("kill -CONT");
    }

    /// Start the process again on the same data dir, zoo.cfg and ports, and wait until it
    /// serves sessions (which needs a quorum among the running members).
    pub async fn restart(&self) {
        assert!(
            self.lock().child.is_none(),
            "restart() needs member {} stopped (kill9) first",
            self.index
        );
        self.spawn();
        self.wait_until_serving(MEMBER_START_TIMEOUT).await;
    }

    /// A client session with the harness's default timeout, connected to this member only.
    pub async fn client(&self) -> zk::Client {
        self.client_with(default_connector()).await
    }

    /// A client session from a prepared connector, connected to this member only.
    pub async fn client_with(&self, connector: zk::Connector) -> zk::Client {
        connect_bounded(connector, &self.connect_string())
            .await
            .unwrap_or_else(|e| panic!("connect to member {} at {}: {e}", self.index, self.addr()))
    }

    /// Send a four-letter word; `None` if the member is down, paused, or does not answer in
    /// time.
    pub async fn four_letter(&self, word: &str) -> Option<String> {
        if !self.is_up() {
            return None;
        }
        four_letter_word(self.addr(), word).await
    }

    /// The `Mode:` reported by `srvr` (`leader`, `follower`, `standalone`...), or `None` when
    /// the member does not serve (ZooKeeper answers "not currently serving requests" while it
    /// has no quorum).
    pub async fn mode(&self) -> Option<String> {
        let answer = self.four_letter("srvr").await?;
        answer
            .lines()
            .find_map(|line| line.strip_prefix("Mode:"))
            .map(|mode| mode.trim().to_string())
    }

    /// Whether `cons` on this member lists a connection of `session_id`.
    pub async fn holds_session(&self, session_id: i64) -> bool {
        // Both servers print the id as unsigned hex followed by a comma (`sid=0x1a2b,`).
        let needle = format!("sid=0x{:x},", session_id as u64);
        self.four_letter("cons")
            .await
            .is_some_and(|cons| cons.contains(&needle))
    }

    /// Append a line to the member's log so that a failing test's steps line up with it.
    pub fn mark(&self, text: &str) {
        if let Ok(mut file) = OpenOptions::new().append(true).open(&self.log_path) {
            let _ = writeln!(file, "===== test: {text} =====");
        }
    }

    /// Wait until a new session can be opened on this member; fails the test after `limit` or
    /// when the process exits.
    pub async fn wait_until_serving(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            self.check_alive("starting");
            if opens_session(self.addr()).await {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "member {} ({}) did not serve sessions on {} within {limit:?}; log {}:\n{}",
                    self.index,
                    self.label,
                    self.addr(),
                    self.log_path.display(),
                    log_tail(&self.log_path, 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Process> {
        // A panic while the lock was held leaves plain data behind; keep going to clean up.
        self.process.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pid_of(process: &Process, what: &str) -> u32 {
        process
            .child
            .as_ref()
            .map(Child::id)
            .unwrap_or_else(|| panic!("{what}: the member has no running process"))
    }

    /// Fails the test if the process has exited on its own.
    fn check_alive(&self, during: &str) {
        let mut process = self.lock();
        let exited = process
            .child
            .as_mut()
            .and_then(|child| child.try_wait().ok().flatten());
        if let Some(status) = exited {
            process.child = None;
            drop(process);
            panic!(
                "member {} exited while {during} ({status}); log {}:\n{}",
                self.index,
                self.log_path.display(),
                log_tail(&self.log_path, 40)
            );
        }
    }

    fn spawn(&self) {
        let mut process = self.lock();
        process.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open the member log");
        writeln!(
            log,
            "===== {} member {} (myid {}) start #{} =====",
            self.label,
            self.index,
            self.id(),
            process.starts
        )
        .expect("write the member log");
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
            .unwrap_or_else(|e| panic!("spawn {:?} member {}: {e}", self.backend, self.index));
        process.child = Some(child);
        process.paused = false;
    }

    fn corral_command(&self) -> Command {
        let node = &self.config.node;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_corral-sidecar"));
        cmd.arg("node")
            .arg("--zoo-cfg")
            .arg(self.zoo_cfg_path())
            .args(["--metrics-port", "0"]);
        // Settings without a zoo.cfg key in Corral are flags, as the kazoo shim passes them.
        if let Some(digest) = &node.super_digest {
            cmd.args(["--super-digest", digest]);
        }
        if node.extended_types {
            cmd.arg("--extended-types-enabled");
        }
        if let Some(limit) = node.jute_max_buffer {
            cmd.args(["--jute-max-buffer", &limit.to_string()]);
        }
        if let Some(ms) = node.container_check_interval_ms {
            cmd.args(["--container-check-interval", &ms.to_string()]);
        }
        // Settings come from the zoo.cfg and the flags above only, never from the caller's
        // environment.
        super::isolate_from_caller_env(&mut cmd);
        cmd
    }

    /// Apache ZooKeeper from the same zoo.cfg; settings that are JVM properties for ZooKeeper
    /// are passed as such.
    fn zookeeper_command(&self) -> Command {
        super::zookeeper_command(&self.config.node, &self.zoo_cfg_path())
    }
}

/// An ensemble of members on loopback. Dropping it kills every member.
pub struct Ensemble {
    label: String,
    backend: Backend,
    members: Vec<Member>,
    // Declared last: dropped after the members, whose processes use it.
    _dir: tempfile::TempDir,
}

impl Ensemble {
    /// Start `n` members with default settings and wait until every member serves sessions
    /// and one reports itself leader.
    pub async fn start(n: usize) -> Ensemble {
        Ensemble::start_with(n, EnsembleConfig::default()).await
    }

    /// Start `n` members with `config` and wait until every member serves sessions and one
    /// reports itself leader.
    pub async fn start_with(n: usize, config: EnsembleConfig) -> Ensemble {
        assert!(n >= 1, "an ensemble needs at least one member");
        let backend = Backend::from_env();
        let label = current_test_label();
        let dir = tempfile::Builder::new()
            .prefix(&format!("corral-ens-{label}-"))
            .tempdir()
            .expect("create the ensemble's temporary dir");
        let log_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("corral-itests");
        std::fs::create_dir_all(&log_dir).expect("create the test log dir");
        let ports = distinct_member_ports(n);
        let members: Vec<Member> = ports
            .iter()
            .enumerate()
            .map(|(index, ports)| {
                let member_dir = dir.path().join(format!("member-{}", index + 1));
                let log_path =
                    log_dir.join(format!("ens-{label}-m{}-{}.log", index + 1, ports.client));
                let _ = std::fs::remove_file(&log_path);
                Member {
                    index,
                    backend,
                    label: label.clone(),
                    config: config.clone(),
                    dir: member_dir,
                    ports: *ports,
                    log_path,
                    process: Mutex::new(Process::default()),
                }
            })
            .collect();
        for member in &members {
            std::fs::create_dir_all(member.data_dir()).expect("create a member's data dir");
            std::fs::write(member.data_dir().join("myid"), format!("{}\n", member.id()))
                .expect("write myid");
            let cfg = zoo_cfg(backend, &config, member, &ports);
            std::fs::write(member.zoo_cfg_path(), cfg).expect("write a member's zoo.cfg");
        }
        let ensemble = Ensemble {
            label,
            backend,
            members,
            _dir: dir,
        };
        // ZooKeeper's harnesses start the highest id first; either order must work.
        for member in &ensemble.members {
            member.spawn();
        }
        for member in &ensemble.members {
            member.wait_until_serving(ENSEMBLE_START_TIMEOUT).await;
        }
        ensemble.wait_for_leader().await;
        ensemble
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// Member `i` (`0..n`).
    pub fn member(&self, i: usize) -> &Member {
        self.members
            .get(i)
            .unwrap_or_else(|| panic!("no member {i} in an ensemble of {}", self.members.len()))
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// A connect string naming every member, as clients of a real ensemble use.
    pub fn connect_string(&self) -> String {
        self.connect_string_of(&(0..self.size()).collect::<Vec<_>>())
    }

    /// A connect string naming the given members.
    pub fn connect_string_of(&self, indices: &[usize]) -> String {
        indices
            .iter()
            .map(|&i| self.member(i).connect_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A client session connected to member `i` only.
    pub async fn client_to(&self, i: usize) -> zk::Client {
        self.member(i).client().await
    }

    /// A client session with a connect string naming every member (the client picks one).
    pub async fn client_to_any(&self) -> zk::Client {
        let hosts = self.connect_string();
        connect_bounded(default_connector(), &hosts)
            .await
            .unwrap_or_else(|e| panic!("connect to {hosts}: {e}"))
    }

    /// The member that reports `Mode: leader` right now (or `standalone` in an ensemble of
    /// one), if exactly one does. Down and paused members are not asked.
    pub async fn leader_index(&self) -> Option<usize> {
        let modes = self.modes().await;
        let leaders: Vec<usize> = modes
            .iter()
            .enumerate()
            .filter(|(_, mode)| self.is_leader_mode(mode.as_deref()))
            .map(|(i, _)| i)
            .collect();
        match leaders[..] {
            [leader] => Some(leader),
            _ => None,
        }
    }

    /// Poll every running member's `srvr` until exactly one reports `Mode: leader`, and return
    /// its index. Fails the test after [`ELECTION_TIMEOUT`], listing the modes last seen.
    pub async fn wait_for_leader(&self) -> usize {
        let deadline = Instant::now() + ELECTION_TIMEOUT;
        loop {
            for member in &self.members {
                if member.lock().child.is_some() {
                    member.check_alive("electing a leader");
                }
            }
            if let Some(leader) = self.leader_index().await {
                return leader;
            }
            if Instant::now() >= deadline {
                let modes = self.modes().await;
                panic!(
                    "no single leader among the running members within {ELECTION_TIMEOUT:?}; \
                     modes by member: {modes:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The members whose `cons` lists a connection of `session_id`.
    pub async fn members_holding_session(&self, session_id: i64) -> Vec<usize> {
        let mut holders = Vec::new();
        for member in &self.members {
            if member.holds_session(session_id).await {
                holders.push(member.index);
            }
        }
        holders
    }

    /// Corral's admin HTTP API of member `i` (`http://127.0.0.1:PORT`), or `None` against
    /// ZooKeeper, whose AdminServer is disabled and has no membership API to compare with.
    pub fn admin_url(&self, i: usize) -> Option<String> {
        match self.backend {
            Backend::Corral => Some(format!("http://127.0.0.1:{}", self.member(i).ports.admin)),
            Backend::ZooKeeper => None,
        }
    }

    /// Member `i`'s Prometheus gauge `name`; `None` against ZooKeeper, or while it does not answer.
    pub async fn gauge(&self, i: usize, name: &str) -> Option<i64> {
        match self.backend {
            Backend::Corral => super::prometheus_gauge(self.member(i).ports.admin, name).await,
            Backend::ZooKeeper => None,
        }
    }

    /// Write a marker line into every member's log.
    pub fn mark(&self, text: &str) {
        for member in &self.members {
            member.mark(text);
        }
    }

    /// `srvr` modes of every member, `None` for down, paused or not serving members.
    async fn modes(&self) -> Vec<Option<String>> {
        let mut modes = Vec::with_capacity(self.members.len());
        for member in &self.members {
            modes.push(member.mode().await);
        }
        modes
    }

    fn is_leader_mode(&self, mode: Option<&str>) -> bool {
        match mode {
            Some("leader") => true,
            // A one-member ensemble is a standalone server for ZooKeeper.
            Some("standalone") => self.members.len() == 1,
            _ => false,
        }
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for member in &self.members {
            let mut process = member.lock();
            if let Some(mut child) = process.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            for member in &self.members {
                eprintln!(
                    "--- {} member {} log {} (last lines) ---\n{}",
                    self.label,
                    member.index,
                    member.log_path.display(),
                    log_tail(&member.log_path, 40)
                );
            }
        }
    }
}

/// The zoo.cfg of `member`, naming every member of the ensemble.
fn zoo_cfg(
    backend: Backend,
    config: &EnsembleConfig,
    member: &Member,
    all: &[MemberPorts],
) -> String {
    let node = &config.node;
    let mut cfg = String::new();
    let mut line = |key: &str, value: &dyn std::fmt::Display| {
        let _ = writeln!(cfg, "{key}={value}");
    };
    line("tickTime", &node.tick_time_ms.unwrap_or(2000));
    line("initLimit", &INIT_LIMIT_TICKS);
    line("syncLimit", &SYNC_LIMIT_TICKS);
    line("dataDir", &member.data_dir().display());
    line("clientPort", &member.ports.client);
    line("clientPortAddress", &"127.0.0.1");
    line("admin.serverAddress", &"127.0.0.1");
    line("admin.serverPort", &member.ports.admin);
    line(
        "4lw.commands.whitelist",
        &node.four_letter_words.as_deref().unwrap_or("*"),
    );
    if let Some(ms) = node.min_session_timeout_ms {
        line("minSessionTimeout", &ms);
    }
    if let Some(ms) = node.max_session_timeout_ms {
        line("maxSessionTimeout", &ms);
    }
    if let Some(count) = node.max_client_cnxns {
        line("maxClientCnxns", &count);
    }
    if let Some(count) = config.snap_count {
        line("snapCount", &count);
    }
    if backend == Backend::ZooKeeper {
        // The AdminServer would need Jetty and is not what these tests compare.
        line("admin.enableServer", &"false");
    }
    for (index, ports) in all.iter().enumerate() {
        line(
            &format!("server.{}", index + 1),
            &format_args!("127.0.0.1:{}:{}:participant", ports.peer, ports.election),
        );
    }
    for extra in &config.extra_cfg {
        let _ = writeln!(cfg, "{extra}");
    }
    cfg
}

/// Four free loopback ports per member, all different from each other.
fn distinct_member_ports(n: usize) -> Vec<MemberPorts> {
    let mut taken = std::collections::HashSet::new();
    let mut next = || loop {
        let port = free_port();
        if taken.insert(port) {
            return port;
        }
    };
    (0..n)
        .map(|_| MemberPorts {
            client: next(),
            peer: next(),
            election: next(),
            admin: next(),
        })
        .collect()
}

/// The running test's name (libtest names the test thread after it), made safe for file names.
fn current_test_label() -> String {
    let name = std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .unwrap_or("ensemble")
        .rsplit("::")
        .next()
        .unwrap_or("ensemble")
        .to_string();
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(48)
        .collect()
}

fn send_signal(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap_or_else(|e| panic!("run kill -{signal} {pid}: {e}"));
    assert!(status.success(), "kill -{signal} {pid} failed: {status}");
}

/// A four-letter word exchange: connect, send the word, read until the server closes.
pub async fn four_letter_word(addr: SocketAddr, word: &str) -> Option<String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream.write_all(word.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        Some(String::from_utf8_lossy(&answer).into_owned())
    };
    tokio::time::timeout(FOUR_LETTER_TIMEOUT, exchange)
        .await
        .ok()
        .flatten()
}
