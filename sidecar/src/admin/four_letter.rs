//! Four-letter words, recognised as the first four bytes of a fresh connection (where a
//! ConnectRequest's length would be), answered in ZooKeeper's text format, then closed.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::server::Server;

/// The version reported by `srvr`, `stat` and `envi`. Clients parse it (kazoo's
/// `server_version()` reads `zookeeper.version=` from `envi`), so it names the ZooKeeper protocol
/// level implemented, then Corral's own version.
pub const ZOOKEEPER_VERSION: &str = concat!(
    "3.9.3-corral-",
    env!("CARGO_PKG_VERSION"),
    ", built on 1970-01-01 00:00 UTC"
);

const WORDS: &[&str] = &[
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "hash", "isro", "mntr", "ruok", "srst",
    "srvr", "stat", "stmk", "wchc", "wchp", "wchs",
];

/// The word, if these four bytes are one.
pub fn recognise(head: &[u8; 4]) -> Option<&'static str> {
    WORDS.iter().copied().find(|w| w.as_bytes() == head)
}

/// ZooKeeper's answer from a member that is not serving (no quorum).
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

/// The words that report on a serving server, refused while not serving.
const NEED_SERVING: &[&str] = &[
    "srvr", "stat", "mntr", "cons", "crst", "srst", "wchs", "wchc", "wchp", "dump", "dirs",
];

/// The full text answer, honouring `4lw.commands.whitelist`.
pub fn respond(server: &Server, word: &str) -> String {
    if !server.settings.four_letter_words.allows(word) {
        return format!("{word} is not executed because it is not in the whitelist.\n");
    }
    // Without a quorum this member serves no clients, and says so where ZooKeeper does.
    if NEED_SERVING.contains(&word) && !server.serving.load(Ordering::Relaxed) {
        return NOT_SERVING.to_string();
    }
    match word {
        "ruok" => "imok".to_string(),
        "srvr" => srvr(server, false),
        "stat" => srvr(server, true),
        "isro" => "rw".to_string(),
        "envi" => envi(server),
        "conf" => conf(server),
        "cons" => cons(server),
        "crst" => {
            server.stats.reset();
            "Connection stats reset.\n".to_string()
        }
        "srst" => {
            server.stats.reset();
            "Server stats reset.\n".to_string()
        }
        "mntr" => mntr(server),
        "wchs" => wchs(server),
        "wchc" => wchc(server),
        "wchp" => wchp(server),
        "dump" => dump(server),
        "dirs" => dirs(server),
        "gtmk" => "0\n".to_string(),
        "stmk" => "0\n".to_string(),
        "hash" => "No digest history available.\n".to_string(),
        _ => String::new(),
    }
}

/// Everything the text commands need, gathered under one short lock.
pub struct Snapshot {
    pub zxid: i64,
    pub node_count: usize,
    pub ephemerals: usize,
    pub data_size: u64,
    pub watches: usize,
    pub watched_paths: usize,
    pub watching_sessions: usize,
}

pub fn snapshot(server: &Server) -> Snapshot {
    let core = server.consensus.core().lock();
    Snapshot {
        zxid: server.consensus.core().applied_zxid(),
        node_count: core.sm.node_count(),
        ephemerals: core.sm.ephemeral_count(),
        data_size: core.sm.approximate_data_size(),
        watches: core.watches.watch_count(),
        watched_paths: core.watches.path_count(),
        watching_sessions: core.watches.session_count(),
    }
}

/// `standalone` for a node configured without an ensemble that never gained members, else
/// `leader` or `follower` (a non-voting learner included, as ZooKeeper's observers report
/// `observer`; here every non-leader follows the leader's log).
pub fn mode(server: &Server) -> &'static str {
    if server.settings.servers.len() <= 1 && server.consensus.member_count() <= 1 {
        "standalone"
    } else if server.consensus.is_leader() {
        "leader"
    } else {
        "follower"
    }
}

fn srvr(server: &Server, with_clients: bool) -> String {
    let snap = snapshot(server);
    let (min, avg, max) = server.stats.latency_ms();
    let mut out = format!("Zookeeper version: {ZOOKEEPER_VERSION}\n");
    if with_clients {
        out.push_str("Clients:\n");
        for c in server.stats.connections() {
            let _ = writeln!(
                out,
                " /{}[1](queued=0,recved={},sent={})",
                c.peer, c.received, c.sent
            );
        }
        out.push('\n');
    }
    let _ = write!(
        out,
        "Latency min/avg/max: {min:.0}/{avg:.4}/{max:.0}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: 0x{:x}\nMode: {}\nNode count: {}\n",
        server.stats.packets_received.load(Ordering::Relaxed),
        server.stats.packets_sent.load(Ordering::Relaxed),
        server.limits.total(),
        server.stats.outstanding_requests.load(Ordering::Relaxed),
        snap.zxid,
        mode(server),
        snap.node_count,
    );
    out
}

fn envi(server: &Server) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    format!(
        "Environment:\nzookeeper.version={ZOOKEEPER_VERSION}\nhost.name={host}\ncorral.version={}\nos.name={}\nos.arch={}\nuser.dir={cwd}\ncorral.data.dir={}\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH,
        server.settings.data_dir.display(),
    )
}

fn conf(server: &Server) -> String {
    let s = &server.settings;
    let mut out = format!(
        "clientPort={}\nsecureClientPort={}\ndataDir={}\ndataDirSize=0\ndataLogDir={}\ndataLogSize=0\ntickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\nmaxSessionTimeout={}\nclientPortListenBacklog=-1\nserverId={}\n",
        // ZooKeeper prints -1 for a port it does not serve.
        s.client_addr.map_or(-1, |a| i32::from(a.port())),
        s.tls
            .secure_client
            .as_ref()
            .map_or(-1, |c| i32::from(c.addr.port())),
        s.data_dir.display(),
        s.data_log_dir.display(),
        s.tick_time_ms,
        s.max_client_cnxns,
        s.min_session_timeout_ms,
        s.max_session_timeout_ms,
        s.server_id,
    );
    for m in &s.servers {
        let _ = writeln!(
            out,
            "server.{}={}:{}:{}:{}",
            m.id,
            m.host,
            m.peer_port,
            m.election_port,
            if m.observer {
                "observer"
            } else {
                "participant"
            }
        );
    }
    out
}

fn cons(server: &Server) -> String {
    let mut out = String::new();
    for c in server.stats.connections() {
        let _ = writeln!(
            out,
            " /{}[1](queued=0,recved={},sent={},sid=0x{:x},lop=NA,est={},to={})",
            c.peer,
            c.received,
            c.sent,
            c.session_id,
            c.since.elapsed().as_millis(),
            c.timeout_ms
        );
    }
    out.push('\n');
    out
}

fn mntr(server: &Server) -> String {
    let snap = snapshot(server);
    let (min, avg, max) = server.stats.latency_ms();
    let mut out = String::new();
    let mut kv = |k: &str, v: String| {
        let _ = writeln!(out, "{k}\t{v}");
    };
    kv("zk_version", ZOOKEEPER_VERSION.to_string());
    kv("zk_server_state", mode(server).to_string());
    kv("zk_avg_latency", format!("{avg:.4}"));
    kv("zk_max_latency", format!("{max:.0}"));
    kv("zk_min_latency", format!("{min:.0}"));
    kv(
        "zk_packets_received",
        server
            .stats
            .packets_received
            .load(Ordering::Relaxed)
            .to_string(),
    );
    kv(
        "zk_packets_sent",
        server
            .stats
            .packets_sent
            .load(Ordering::Relaxed)
            .to_string(),
    );
    kv(
        "zk_num_alive_connections",
        server.limits.total().to_string(),
    );
    kv(
        "zk_outstanding_requests",
        server
            .stats
            .outstanding_requests
            .load(Ordering::Relaxed)
            .to_string(),
    );
    kv("zk_znode_count", snap.node_count.to_string());
    kv("zk_watch_count", snap.watches.to_string());
    kv("zk_ephemerals_count", snap.ephemerals.to_string());
    kv("zk_approximate_data_size", snap.data_size.to_string());
    kv("zk_open_file_descriptor_count", open_fds().to_string());
    kv(
        "zk_uptime",
        server.started.elapsed().as_millis().to_string(),
    );
    kv("zk_last_zxid", snap.zxid.to_string());
    // Only a leader reports its followers, as ZooKeeper's LeaderZooKeeperServer does.
    // `zk_followers` is the name ZooKeeper 3.4/3.5 printed; `zk_learners` is 3.8's.
    if let Some(q) = server.consensus.raft_state().quorum_stats() {
        kv("zk_learners", q.learners.to_string());
        kv("zk_followers", q.followers.to_string());
        kv("zk_synced_followers", q.synced_followers.to_string());
        kv("zk_synced_non_voting_followers", "0".to_string());
        kv("zk_synced_observers", q.synced_observers.to_string());
        kv("zk_pending_syncs", "0".to_string());
    }
    out
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn wchs(server: &Server) -> String {
    let snap = snapshot(server);
    format!(
        "{} connections watching {} paths\nTotal watches:{}\n",
        snap.watching_sessions, snap.watched_paths, snap.watches
    )
}

fn wchc(server: &Server) -> String {
    let by_session = server.consensus.core().lock().watches.by_session();
    let mut out = String::new();
    for (session, paths) in by_session {
        let _ = writeln!(out, "0x{session:x}");
        for path in paths {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out
}

fn wchp(server: &Server) -> String {
    let by_path = server.consensus.core().lock().watches.by_path();
    let mut out = String::new();
    for (path, sessions) in by_path {
        let _ = writeln!(out, "{path}");
        for session in sessions {
            let _ = writeln!(out, "\t0x{session:x}");
        }
    }
    out
}

fn dump(server: &Server) -> String {
    let core = server.consensus.core().lock();
    let mut out = String::from("SessionTracker dump:\nSession Sets (");
    let sessions: Vec<_> = core
        .sm
        .sessions()
        .map(|(id, s)| (id, s.timeout_ms))
        .collect();
    let _ = writeln!(out, "{})/({}):", sessions.len(), sessions.len());
    for (id, timeout) in &sessions {
        let _ = writeln!(out, "0x{id:x}\t{timeout}ms");
    }
    out.push_str("ephemeral nodes dump:\n");
    let _ = writeln!(out, "Sessions with Ephemerals ({}):", sessions.len());
    for (id, _) in &sessions {
        let _ = writeln!(out, "0x{id:x}:");
        for path in core.sm.get_ephemerals(*id, "/") {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out
}

fn dirs(server: &Server) -> String {
    let size = |dir: &std::path::Path| -> u64 {
        fn walk(dir: &std::path::Path) -> u64 {
            std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| match e.metadata() {
                            Ok(m) if m.is_dir() => walk(&e.path()),
                            Ok(m) => m.len(),
                            Err(_) => 0,
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        walk(dir)
    };
    format!(
        "datadir_size: {}\nlogdir_size: {}\n",
        size(&server.settings.data_dir.join("snapshots")),
        size(&server.settings.data_log_dir.join("raft"))
    )
}
