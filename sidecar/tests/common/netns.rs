//! Members of an ensemble in their own network namespaces, for tests that partition the network.
//!
//! The topology (a namespace per member, one for the test's client, a bridge; partitions made by
//! poisoning neighbour entries, so the client still reaches every member and a test can see what
//! a cut-off member answers) is the shared `corral-testbed` crate's, private to the test process:
//! namespaces `corral-p<pid>-…`, addresses `10.213.<pid % 200>.<id>`.
//!
//! The test's own client calls run inside the client namespace: [`NetnsEnsemble::run_client`]
//! runs a future on a thread that has joined that namespace with `setns(2)` and on a tokio
//! runtime built there, whose worker threads inherit the namespace. Every socket the test opens
//! is thus created inside the namespace, exactly as a process started with `ip netns exec` would
//! create it, and the whole harness (zookeeper-client, raw frames, four-letter words) is usable.
//!
//! Members are started with `ip netns exec NS corral-sidecar node --zoo-cfg FILE` (or Apache
//! ZooKeeper's `QuorumPeerMain` from the same zoo.cfg with `CORRAL_ITEST_BACKEND=zookeeper`).
//! `ip netns exec` execs the command in place, so the child's pid is the server's pid.
//!
//! Cleanup is a drop guard: dropping [`NetnsEnsemble`] kills every member and then deletes every
//! namespace (which destroys the veth pairs and the bridge inside them), also when the test
//! panicked. Each `ip` invocation is bounded in time.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::future::Future;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use corral_testbed::netns::{NetnsError, Topology, enter_namespace};

use super::ensemble::four_letter_word;
use super::opens_session;
use super::{Backend, log_tail};

/// Ports inside each member namespace. Every member has its own addresses, so the ports can be
/// the conventional ones without colliding with anything.
pub const CLIENT_PORT: u16 = 2181;
const PEER_PORT: u16 = 2888;
const ELECTION_PORT: u16 = 3888;
/// Corral's admin API, on the member namespace's own loopback.
const ADMIN_PORT: u16 = 8080;
/// ZooKeeper's learners give up on a silent leader (and a leader on silent learners) after
/// `syncLimit` ticks; with a 500 ms tick that is 2.5 s, close to Corral's quorum-loss bound.
const TICK_TIME_MS: u32 = 500;
const INIT_LIMIT_TICKS: u32 = 20;
const SYNC_LIMIT_TICKS: u32 = 5;
const MIN_SESSION_TIMEOUT_MS: u32 = 1_000;
const MAX_SESSION_TIMEOUT_MS: u32 = 30_000;

/// Why the topology could not be set up at all: the machine refuses `ip netns` (not root, no
/// CAP_SYS_ADMIN, no iproute2). This is the only condition under which a partition test may
/// skip.
#[derive(Debug)]
pub struct Refused(pub String);

/// Second octet of the test's addresses (`10.213.<pid % 200>.<id>`; the chaos suite uses 214).
const OCTET: u8 = 213;

/// The test's namespaces: `Err` only when the machine refuses them; any other failure fails
/// the test.
fn create_topology(members: usize) -> Result<Topology, Refused> {
    match Topology::create(&format!("corral-p{}", std::process::id()), OCTET, members) {
        Ok(topology) => Ok(topology),
        Err(NetnsError::Refused(why)) => Err(Refused(why)),
        Err(e) => panic!("cannot set up the test's network namespaces: {e}"),
    }
}

/// One member, in its own namespace.
pub struct NetnsMember {
    id: usize,
    ip: Ipv4Addr,
    ns: String,
    dir: PathBuf,
    log_path: PathBuf,
    child: Mutex<Option<Child>>,
}

impl NetnsMember {
    /// The server id (`myid`, the `N` of `server.N`), 1-based.
    pub fn id(&self) -> usize {
        self.id
    }

    /// The client address, reachable from the client namespace.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.ip, CLIENT_PORT))
    }

    pub fn connect_string(&self) -> String {
        self.addr().to_string()
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn zoo_cfg_path(&self) -> PathBuf {
        self.dir.join("zoo.cfg")
    }

    /// A four-letter word; `None` when the member does not answer in time. Call it from the
    /// client namespace.
    pub async fn four_letter(&self, word: &str) -> Option<String> {
        four_letter_word(self.addr(), word).await
    }

    /// The `Mode:` of `srvr`, or `None` when the member does not serve (ZooKeeper answers "not
    /// currently serving requests" without a quorum).
    pub async fn mode(&self) -> Option<String> {
        let answer = self.four_letter("srvr").await?;
        answer
            .lines()
            .find_map(|line| line.strip_prefix("Mode:"))
            .map(|mode| mode.trim().to_string())
    }

    /// Whether a new session can be opened on this member now.
    pub async fn opens_session(&self) -> bool {
        opens_session(self.addr()).await
    }

    /// Wait until this member grants sessions; fails the test after `limit` or if it exits.
    pub async fn wait_until_serving(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            self.check_alive();
            if self.opens_session().await {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "member {} did not serve sessions on {} within {limit:?}; log {}:\n{}",
                    self.id,
                    self.addr(),
                    self.log_path.display(),
                    log_tail(&self.log_path, 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Append a line to the member's log so that a failing test's steps line up with it.
    pub fn mark(&self, text: &str) {
        if let Ok(mut file) = OpenOptions::new().append(true).open(&self.log_path) {
            let _ = writeln!(file, "===== test: {text} =====");
        }
    }

    /// Fails the test if the process has exited on its own.
    pub fn check_alive(&self) {
        let mut child = self.lock();
        if let Some(status) = child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            *child = None;
            drop(child);
            panic!(
                "member {} exited ({status}); log {}:\n{}",
                self.id,
                self.log_path.display(),
                log_tail(&self.log_path, 40)
            );
        }
    }

    fn kill9(&self) {
        if let Some(mut child) = self.lock().take() {
            let _ = child.kill(); // SIGKILL: `ip netns exec` replaced itself with the server.
            let _ = child.wait();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An ensemble whose members each live in their own namespace. Dropping it kills the members
/// and deletes the namespaces.
pub struct NetnsEnsemble {
    backend: Backend,
    members: Vec<NetnsMember>,
    // Dropped after the members are killed (see Drop): a namespace with a live process in it
    // would outlive its name.
    topology: Topology,
    _dir: tempfile::TempDir,
}

impl NetnsEnsemble {
    /// Create the topology and start `n` members in it (not waiting for them: see
    /// [`NetnsEnsemble::wait_until_serving`]). `Err` only when the machine refuses `ip netns`.
    pub fn start(n: usize, label: &str) -> Result<NetnsEnsemble, Refused> {
        let topology = create_topology(n)?;
        let backend = Backend::from_env();
        let dir = tempfile::Builder::new()
            .prefix(&format!("corral-netns-{label}-"))
            .tempdir()
            .expect("create the ensemble's temporary dir");
        let log_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("corral-itests");
        std::fs::create_dir_all(&log_dir).expect("create the test log dir");
        let members: Vec<NetnsMember> = (1..=n)
            .map(|id| {
                let log_path = log_dir.join(format!("{label}-p{}-m{id}.log", std::process::id()));
                let _ = std::fs::remove_file(&log_path);
                NetnsMember {
                    id,
                    ip: topology.member_ip(id),
                    ns: topology.member_ns(id),
                    dir: dir.path().join(format!("member-{id}")),
                    log_path,
                    child: Mutex::new(None),
                }
            })
            .collect();
        let ensemble = NetnsEnsemble {
            backend,
            members,
            topology,
            _dir: dir,
        };
        for member in &ensemble.members {
            std::fs::create_dir_all(member.data_dir()).expect("create a member's data dir");
            std::fs::write(member.data_dir().join("myid"), format!("{}\n", member.id))
                .expect("write myid");
            std::fs::write(member.zoo_cfg_path(), ensemble.zoo_cfg(member))
                .expect("write a member's zoo.cfg");
        }
        for member in &ensemble.members {
            ensemble.spawn(member);
        }
        Ok(ensemble)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// Member `id` (1-based).
    pub fn member(&self, id: usize) -> &NetnsMember {
        assert!(
            (1..=self.members.len()).contains(&id),
            "no member {id} in an ensemble of {}",
            self.members.len()
        );
        &self.members[id - 1]
    }

    pub fn ids(&self) -> Vec<usize> {
        (1..=self.members.len()).collect()
    }

    /// A connect string naming the given members.
    pub fn connect_string_of(&self, ids: &[usize]) -> String {
        ids.iter()
            .map(|&id| self.member(id).connect_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Write a marker line into every member's log.
    pub fn mark(&self, text: &str) {
        for member in &self.members {
            member.mark(text);
        }
    }

    /// Run `body` to completion on a tokio runtime whose threads are inside the client
    /// namespace, and return its output. A panic in `body` is re-raised on the caller's thread,
    /// so the caller's drop guards run.
    pub fn run_client<T: Send>(&self, body: impl Future<Output = T> + Send) -> T {
        let client_ns = self.topology.client_ns();
        std::thread::scope(|scope| {
            let runner = std::thread::Builder::new()
                .name("netns-client".into())
                .spawn_scoped(scope, move || {
                    enter_namespace(&client_ns)
                        .unwrap_or_else(|e| panic!("join namespace {client_ns}: {e}"));
                    // Built after setns: its worker and blocking threads inherit the namespace.
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()
                        .expect("build the client runtime")
                        .block_on(body)
                })
                .expect("start the client thread");
            runner
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Wait until every member grants sessions.
    pub async fn wait_until_serving(&self, limit: Duration) {
        for member in &self.members {
            member.wait_until_serving(limit).await;
        }
    }

    /// The `srvr` modes of the given members (`None`: not serving or not answering).
    pub async fn modes_of(&self, ids: &[usize]) -> Vec<(usize, Option<String>)> {
        let mut modes = Vec::with_capacity(ids.len());
        for &id in ids {
            modes.push((id, self.member(id).mode().await));
        }
        modes
    }

    /// Poll until exactly one of `ids` reports `Mode: leader` and return it. Members outside
    /// `ids` are not asked. Fails the test after `limit`, listing the modes last seen.
    pub async fn wait_for_leader_among(&self, ids: &[usize], limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            for member in &self.members {
                member.check_alive();
            }
            let modes = self.modes_of(ids).await;
            let leaders: Vec<usize> = modes
                .iter()
                .filter(|(_, mode)| mode.as_deref() == Some("leader"))
                .map(|(id, _)| *id)
                .collect();
            if let [leader] = leaders[..] {
                return leader;
            }
            if Instant::now() >= deadline {
                panic!("no single leader among members {ids:?} within {limit:?}; modes: {modes:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn spawn(&self, member: &NetnsMember) {
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&member.log_path)
            .expect("open the member log");
        writeln!(
            log,
            "===== member {} in namespace {} at {} =====",
            member.id,
            member.ns,
            member.addr()
        )
        .expect("write the member log");
        let mut command = match self.backend {
            Backend::Corral => self.corral_command(member),
            Backend::ZooKeeper => self.zookeeper_command(member),
        };
        let stderr = log.try_clone().expect("clone the log handle");
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?} member {}: {e}", self.backend, member.id));
        *member.lock() = Some(child);
    }

    fn corral_command(&self, member: &NetnsMember) -> Command {
        let mut cmd = self
            .topology
            .command_in(&member.ns, env!("CARGO_BIN_EXE_corral-sidecar"));
        cmd.arg("node")
            .arg("--zoo-cfg")
            .arg(member.zoo_cfg_path())
            .args(["--metrics-port", "0"]);
        // Settings come from the zoo.cfg only, never from the caller's environment.
        super::isolate_from_caller_env(&mut cmd);
        cmd
    }

    fn zookeeper_command(&self, member: &NetnsMember) -> Command {
        let mut cmd = self.topology.command_in(&member.ns, "java");
        cmd.args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]);
        // zookeeper.jar names its dependencies in its manifest; log4j is the one SLF4J binding.
        cmd.args([
            "-Dzookeeper.root.logger=INFO,CONSOLE",
            "-cp",
            "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar:/etc/zookeeper/conf_example",
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        ])
        .arg(member.zoo_cfg_path());
        cmd
    }

    /// The zoo.cfg of `member`: every address is a namespace address.
    fn zoo_cfg(&self, member: &NetnsMember) -> String {
        let mut cfg = String::new();
        let mut line = |key: &str, value: &dyn std::fmt::Display| {
            let _ = writeln!(cfg, "{key}={value}");
        };
        line("tickTime", &TICK_TIME_MS);
        line("initLimit", &INIT_LIMIT_TICKS);
        line("syncLimit", &SYNC_LIMIT_TICKS);
        line("minSessionTimeout", &MIN_SESSION_TIMEOUT_MS);
        line("maxSessionTimeout", &MAX_SESSION_TIMEOUT_MS);
        line("dataDir", &member.data_dir().display());
        line("clientPort", &CLIENT_PORT);
        line("clientPortAddress", &member.ip);
        line("4lw.commands.whitelist", &"*");
        line("admin.serverAddress", &"127.0.0.1");
        line("admin.serverPort", &ADMIN_PORT);
        if self.backend == Backend::ZooKeeper {
            // The AdminServer would need Jetty and is not what these tests compare.
            line("admin.enableServer", &"false");
        }
        for other in &self.members {
            line(
                &format!("server.{}", other.id),
                &format_args!("{}:{PEER_PORT}:{ELECTION_PORT}:participant", other.ip),
            );
        }
        cfg
    }
}

impl Drop for NetnsEnsemble {
    fn drop(&mut self) {
        for member in &self.members {
            member.kill9();
        }
        if std::thread::panicking() {
            for member in &self.members {
                eprintln!(
                    "--- member {} log {} (last lines) ---\n{}",
                    member.id,
                    member.log_path.display(),
                    log_tail(&member.log_path, 60)
                );
            }
        }
        // The topology field is dropped next and deletes the namespaces.
    }
}

/// Tell whoever runs the tests that a partition test did not run, and why. Written to the
/// process's stderr directly, not through `eprintln!`, which the test harness captures and
/// shows only for failing tests.
pub fn announce_skip(test: &str, refused: &Refused) {
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: this machine refuses network namespaces: {}",
        refused.0
    );
}
