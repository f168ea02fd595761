//! The admin HTTP server (ZooKeeper's AdminServer, port 8080 by default).
//!
//! - `GET /commands` lists the commands as links, and `GET /commands/<name>` runs one and answers
//!   JSON, as ZooKeeper's `JettyAdminServer` does: every answer carries `command` (the primary
//!   name) and `error` (null on success), always with status 200, an unknown name included.
//!   Aliases (`srvr`, `mntr`, `wchs`...) resolve to the same command. Unlike the four-letter
//!   words, these commands are not gated by `4lw.commands.whitelist`, in ZooKeeper either.
//! - `GET /healthz`: 200 while the process serves.
//! - `GET /readyz`: 200 once the Raft group has a leader and this member has applied everything
//!   committed, else 503 with the reason.
//! - `GET /metrics`: the same Prometheus text as the metrics port.
//!
//! Field names follow ZooKeeper 3.8's `admin/Commands.java` and were compared with the answers
//! of a real ZooKeeper 3.8.0. A field ZooKeeper reports but Corral does not measure (fsync
//! threshold counts, per-connection latencies, TLS counters) is left out rather than invented.
//! The JSON is built by pure functions from plain values; only the `gather_*` helpers read the
//! running server.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use corral_watch::WatchSummary;
use prometheus_client::registry::Registry;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

use super::four_letter::{self, ZOOKEEPER_VERSION};
use super::metrics::{self, Gauge, MetricsSample};
use crate::config::{ServerEntry, Settings};
use crate::server::{ConnectionInfo, Server};

/// How long `/readyz` waits for this member to catch up with the leader's commit index before
/// answering 503. Kubernetes probes time out after 1 s by default; answering within that keeps
/// a slow catch-up a clear "not ready" rather than a probe timeout.
const READY_SYNC_TIMEOUT: Duration = Duration::from_millis(800);

/// Serve the admin API until the listener fails.
pub async fn serve(server: Arc<Server>, listener: TcpListener) -> io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(addr = %addr, "serving the admin API on /commands, /healthz, /readyz, /metrics");
    }
    axum::serve(listener, router(server)).await
}

#[derive(Clone)]
struct AdminState {
    server: Arc<Server>,
    metrics: Arc<Registry>,
}

/// The admin routes, ready to serve.
pub fn router(server: Arc<Server>) -> Router {
    let metrics = Arc::new(metrics::registry(server.clone()));
    Router::new()
        .route("/commands", get(list_commands))
        .route("/commands/", get(list_commands))
        .route("/commands/{name}", get(run_command))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_endpoint))
        .merge(super::membership_http::routes(server.clone()))
        .with_state(AdminState { server, metrics })
}

// ---------------------------------------------------------------------------------------------
// The command table.

/// The AdminServer commands Corral answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminCommand {
    Configuration,
    ConnectionStatReset,
    Connections,
    Dirs,
    Dump,
    Environment,
    GetTraceMask,
    Hash,
    IsReadOnly,
    Leader,
    Monitor,
    Ruok,
    ServerStats,
    StatReset,
    Stats,
    VotingView,
    WatchSummary,
    Watches,
    WatchesByPath,
}

impl AdminCommand {
    pub const ALL: [AdminCommand; 19] = [
        AdminCommand::Configuration,
        AdminCommand::ConnectionStatReset,
        AdminCommand::Connections,
        AdminCommand::Dirs,
        AdminCommand::Dump,
        AdminCommand::Environment,
        AdminCommand::GetTraceMask,
        AdminCommand::Hash,
        AdminCommand::IsReadOnly,
        AdminCommand::Leader,
        AdminCommand::Monitor,
        AdminCommand::Ruok,
        AdminCommand::ServerStats,
        AdminCommand::StatReset,
        AdminCommand::Stats,
        AdminCommand::VotingView,
        AdminCommand::WatchSummary,
        AdminCommand::Watches,
        AdminCommand::WatchesByPath,
    ];

    /// ZooKeeper's names for the command, primary name first.
    pub fn names(self) -> &'static [&'static str] {
        match self {
            AdminCommand::Configuration => &["configuration", "conf", "config"],
            AdminCommand::ConnectionStatReset => &["connection_stat_reset", "crst"],
            AdminCommand::Connections => &["connections", "cons"],
            AdminCommand::Dirs => &["dirs"],
            AdminCommand::Dump => &["dump"],
            AdminCommand::Environment => &["environment", "env", "envi"],
            AdminCommand::GetTraceMask => &["get_trace_mask", "gtmk"],
            AdminCommand::Hash => &["hash"],
            AdminCommand::IsReadOnly => &["is_read_only", "isro"],
            AdminCommand::Leader => &["leader", "lead"],
            AdminCommand::Monitor => &["monitor", "mntr"],
            AdminCommand::Ruok => &["ruok"],
            AdminCommand::ServerStats => &["server_stats", "srvr"],
            AdminCommand::StatReset => &["stat_reset", "srst"],
            AdminCommand::Stats => &["stats", "stat"],
            AdminCommand::VotingView => &["voting_view"],
            AdminCommand::WatchSummary => &["watch_summary", "wchs"],
            AdminCommand::Watches => &["watches", "wchc"],
            AdminCommand::WatchesByPath => &["watches_by_path", "wchp"],
        }
    }

    pub fn primary_name(self) -> &'static str {
        self.names()[0]
    }

    /// The command a URL names; names are case-sensitive, as in ZooKeeper.
    pub fn lookup(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.names().contains(&name))
    }
}

/// The `/commands` page: one link per primary name, sorted, in ZooKeeper's markup.
pub fn command_links() -> String {
    let mut names: Vec<_> = AdminCommand::ALL.iter().map(|c| c.primary_name()).collect();
    names.sort_unstable();
    names
        .into_iter()
        .map(|n| format!("<a href=\"/commands/{n}\">{n}</a>\n<br/>\n"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Pure JSON builders.

/// Wrap a command's data with the `command` and `error` fields every answer carries.
pub fn command_response(command: &str, result: Result<Map<String, Value>, String>) -> Value {
    let (mut data, error) = match result {
        Ok(data) => (data, Value::Null),
        Err(message) => (Map::new(), Value::String(message)),
    };
    data.insert("command".into(), command.into());
    data.insert("error".into(), error);
    Value::Object(data)
}

/// What ZooKeeper answers for a name it does not know (still status 200).
pub fn unknown_command(name: &str) -> Value {
    command_response(name, Err(format!("Unknown command: {name}")))
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Sizes of the snapshot and log directories in bytes (`dirs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirSizes {
    pub data_dir: u64,
    pub log_dir: u64,
}

/// One client connection as `cons` and `stats` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionView {
    pub remote: SocketAddr,
    /// 0 until the handshake has created or resumed a session.
    pub session_id: i64,
    pub session_timeout_ms: i32,
    /// When the connection was accepted, in milliseconds since the Unix epoch.
    pub established_ms: i64,
    pub packets_received: u64,
    pub packets_sent: u64,
}

impl ConnectionView {
    pub fn from_info(info: &ConnectionInfo, now: Instant, now_epoch_ms: i64) -> Self {
        let age = now.saturating_duration_since(info.since).as_millis() as i64;
        ConnectionView {
            remote: info.peer,
            session_id: info.session_id,
            session_timeout_ms: info.timeout_ms,
            established_ms: now_epoch_ms.saturating_sub(age),
            packets_received: info.received,
            packets_sent: info.sent,
        }
    }
}

/// A connection's entry: the brief form (`stats`) has the counters only, the full form
/// (`connections`) the session too.
pub fn connection_json(c: &ConnectionView, brief: bool) -> Value {
    let mut info = json!({
        "remote_socket_address": c.remote.to_string(),
        "packets_received": c.packets_received,
        "packets_sent": c.packets_sent,
    });
    if !brief {
        info["session_id"] = c.session_id.into();
        info["session_timeout"] = c.session_timeout_ms.into();
        info["established"] = c.established_ms.into();
    }
    info
}

/// `connections`: every client connection. Corral serves no TLS port, so the secure list is
/// always empty.
pub fn connections_json(connections: &[ConnectionView]) -> Map<String, Value> {
    object(json!({
        "connections": connections.iter().map(|c| connection_json(c, false)).collect::<Vec<_>>(),
        "secure_connections": [],
    }))
}

/// `server_stats` (`srvr`), and with `connections` also `stats` (`stat`).
pub fn server_stats_json(
    sample: &MetricsSample,
    server_state: &str,
    dirs: DirSizes,
    connections: Option<&[ConnectionView]>,
) -> Map<String, Value> {
    let gauges = sample.gauges();
    let value = |name: &str| {
        gauges
            .iter()
            .find(|g| g.name == name)
            .map_or(Value::Null, |g| g.value.to_json())
    };
    let mut out = object(json!({
        "version": ZOOKEEPER_VERSION,
        "read_only": false,
        "server_stats": {
            "packets_sent": sample.packets_sent,
            "packets_received": sample.packets_received,
            "uptime": sample.uptime_ms,
            "data_dir_size": dirs.data_dir,
            "log_dir_size": dirs.log_dir,
            "provider_null": false,
            "server_state": server_state,
            "last_processed_zxid": sample.last_zxid,
            "outstanding_requests": sample.outstanding_requests,
            "avg_latency": value("avg_latency"),
            "max_latency": value("max_latency"),
            "min_latency": value("min_latency"),
            "num_alive_client_connections": sample.num_alive_connections,
        },
        "node_count": sample.znode_count,
    }));
    if let Some(connections) = connections {
        let brief: Vec<_> = connections
            .iter()
            .map(|c| connection_json(c, true))
            .collect();
        out.insert("connections".into(), brief.into());
        out.insert("secure_connections".into(), json!([]));
    }
    out
}

/// `monitor` (`mntr`): the version and state, then every metric under its Prometheus name, as
/// ZooKeeper's `mntr` dumps its metrics provider. `peer_state` is ZooKeeper's detailed state
/// of an ensemble member ("leading - broadcast"); a standalone server has none.
pub fn monitor_json(
    server_state: &str,
    peer_state: Option<&str>,
    gauges: &[Gauge],
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("version".into(), ZOOKEEPER_VERSION.into());
    out.insert("server_state".into(), server_state.into());
    if let Some(peer_state) = peer_state {
        out.insert("peer_state".into(), peer_state.into());
    }
    for g in gauges {
        out.insert(g.name.into(), g.value.to_json());
    }
    out
}

/// ZooKeeper's detailed peer state for an ensemble member.
pub fn peer_state(is_leader: bool, has_leader: bool) -> &'static str {
    match (is_leader, has_leader) {
        (true, _) => "leading - broadcast",
        (false, true) => "following - broadcast",
        (false, false) => "looking",
    }
}

/// `configuration` (`conf`): ZooKeeper's `ZooKeeperServerConf` keys.
pub fn configuration_json(settings: &Settings) -> Map<String, Value> {
    object(json!({
        // ZooKeeper's getClientPort(): -1 without a plaintext port.
        "client_port": settings.client_addr.map_or(-1, |a| i32::from(a.port())),
        "data_dir": settings.data_dir.display().to_string(),
        "data_log_dir": settings.data_log_dir.display().to_string(),
        "tick_time": settings.tick_time_ms,
        "max_client_cnxns": settings.max_client_cnxns,
        "min_session_timeout": settings.min_session_timeout_ms,
        "max_session_timeout": settings.max_session_timeout_ms,
        "server_id": settings.server_id,
        // ZooKeeper's "use the OS default" value; Corral does not tune the backlog either.
        "client_port_listen_backlog": -1,
    }))
}

/// `environment` (`envi`): key/value pairs, ZooKeeper's keys where one applies.
pub fn environment_json(entries: &[(String, String)]) -> Map<String, Value> {
    entries
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// `watch_summary` (`wchs`).
pub fn watch_summary_json(summary: &WatchSummary) -> Map<String, Value> {
    object(json!({
        "num_connections": summary.sessions,
        "num_paths": summary.paths,
        "num_total_watches": summary.watches,
    }))
}

/// `watches` (`wchc`): session id (decimal, as a JSON key) to the paths it watches.
pub fn watches_json(by_session: &BTreeMap<i64, BTreeSet<String>>) -> Map<String, Value> {
    let map: Map<String, Value> = by_session
        .iter()
        .map(|(session, paths)| (session.to_string(), json!(paths)))
        .collect();
    object(json!({ "session_id_to_watched_paths": map }))
}

/// `watches_by_path` (`wchp`): path to the session ids watching it.
pub fn watches_by_path_json(by_path: &BTreeMap<String, BTreeSet<i64>>) -> Map<String, Value> {
    let map: Map<String, Value> = by_path
        .iter()
        .map(|(path, sessions)| (path.clone(), json!(sessions)))
        .collect();
    object(json!({ "path_to_session_ids": map }))
}

/// `dump`: sessions grouped by expiry, and each session's ephemeral paths.
///
/// ZooKeeper keys the first map by the expiry bucket's time on its own clock. Corral's session
/// deadlines live in the leader's tracker, which does not publish them, so the key here is the
/// session's negotiated timeout in milliseconds (the figure the four-letter `dump` prints too).
pub fn dump_json(
    sessions: &[(i64, i32)],
    ephemerals: &BTreeMap<i64, Vec<String>>,
) -> Map<String, Value> {
    let mut by_timeout: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for &(id, timeout) in sessions {
        by_timeout.entry(timeout).or_default().push(id);
    }
    let expiry: Map<String, Value> = by_timeout
        .into_iter()
        .map(|(timeout, mut ids)| {
            ids.sort_unstable();
            (timeout.to_string(), json!(ids))
        })
        .collect();
    let ephemeral: Map<String, Value> = ephemerals
        .iter()
        .filter(|(_, paths)| !paths.is_empty())
        .map(|(id, paths)| (id.to_string(), json!(paths)))
        .collect();
    object(json!({
        "expiry_time_to_session_ids": expiry,
        "session_id_to_ephemeral_paths": ephemeral,
    }))
}

/// `leader` (`lead`). A standalone ZooKeeper answers "server is not initialized"; Corral's
/// standalone node answers the same, so tools treat it alike. In an ensemble the leader's id
/// and peer host (from the Raft membership) are reported when this member knows them, else -1
/// and "" as in ZooKeeper.
pub fn leader_json(
    standalone: bool,
    is_leader: bool,
    leader: Option<(u64, &str)>,
) -> Result<Map<String, Value>, String> {
    if standalone {
        return Err("server is not initialized".into());
    }
    Ok(object(json!({
        "is_leader": is_leader,
        "leader_id": leader.map_or(-1, |(id, _)| id as i64),
        "leader_ip": leader.map_or("", |(_, host)| host),
    })))
}

/// `voting_view`: voting and observing members as ZooKeeper prints them
/// (`host:peerPort:electionPort:participant`); empty for a standalone node.
pub fn voting_view_json(servers: &[ServerEntry]) -> Map<String, Value> {
    let view: Map<String, Value> = if servers.len() <= 1 {
        Map::new()
    } else {
        servers
            .iter()
            .map(|s| {
                let role = if s.observer {
                    "observer"
                } else {
                    "participant"
                };
                (
                    s.id.to_string(),
                    format!("{}:{}:{}:{role}", s.host, s.peer_port, s.election_port).into(),
                )
            })
            .collect()
    };
    object(json!({ "current_config": view }))
}

/// What `/readyz` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// The group has a leader and this member has applied everything committed.
    Ready { zxid: i64 },
    /// No leader is known (an election is running, or no quorum is reachable).
    NoLeader,
    /// A leader exists but this member could not confirm it has caught up.
    Behind(String),
}

pub fn readiness_json(readiness: &Readiness) -> (StatusCode, Value) {
    match readiness {
        Readiness::Ready { zxid } => (StatusCode::OK, json!({ "status": "ready", "zxid": zxid })),
        Readiness::NoLeader => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({
                "status": "not ready",
                "reason": "the Raft group has no leader; waiting for an election or for a quorum of members to be reachable",
            }),
        ),
        Readiness::Behind(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({
                "status": "not ready",
                "reason": format!("this member has not applied the committed log yet: {why}"),
            }),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the running server.

/// Leadership as this member sees it, read before a command runs.
#[derive(Debug, Clone, Copy)]
struct Leadership {
    is_leader: bool,
    has_leader: bool,
}

async fn leadership(server: &Server) -> Leadership {
    Leadership {
        is_leader: server.consensus.is_leader(),
        // A zero wait only looks at the current Raft metrics.
        has_leader: server.consensus.wait_for_leader(Duration::ZERO).await,
    }
}

fn gather_connections(server: &Server) -> Vec<ConnectionView> {
    let now = Instant::now();
    let now_epoch_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    server
        .stats
        .connections()
        .iter()
        .map(|c| ConnectionView::from_info(c, now, now_epoch_ms))
        .collect()
}

/// Bytes under `dir`, symlinks not followed; 0 when it cannot be read.
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(m) if m.is_dir() => dir_size(&entry.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The snapshot and Raft log directories, where ZooKeeper measures its snapshot and
/// transaction-log directories.
fn gather_dirs(settings: &Settings) -> DirSizes {
    DirSizes {
        data_dir: dir_size(&settings.data_dir.join("snapshots")),
        log_dir: dir_size(&settings.data_log_dir.join("raft")),
    }
}

fn gather_environment(settings: &Settings) -> Vec<(String, String)> {
    let read_trimmed = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| read_trimmed("/proc/sys/kernel/hostname"))
        .unwrap_or_else(|| "localhost".into());
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let mut entries = vec![
        ("zookeeper.version", ZOOKEEPER_VERSION.to_string()),
        ("host.name", host),
        ("corral.version", env!("CARGO_PKG_VERSION").to_string()),
        ("os.name", std::env::consts::OS.to_string()),
        ("os.arch", std::env::consts::ARCH.to_string()),
    ];
    if let Some(release) = read_trimmed("/proc/sys/kernel/osrelease") {
        entries.push(("os.version", release));
    }
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME"));
    if let Ok(user) = user {
        entries.push(("user.name", user));
    }
    if let Ok(home) = std::env::var("HOME") {
        entries.push(("user.home", home));
    }
    entries.push(("user.dir", cwd));
    entries.push(("corral.data.dir", settings.data_dir.display().to_string()));
    entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Run one command against the running server. Blocking: it takes the state lock and may walk
/// directories, so callers run it off the async workers.
fn execute(server: &Server, cmd: AdminCommand, lead: Leadership) -> Value {
    let mode = four_letter::mode(server);
    let standalone = mode == "standalone";
    let result = match cmd {
        AdminCommand::Ruok => Ok(Map::new()),
        AdminCommand::ServerStats | AdminCommand::Stats => {
            let connections = (cmd == AdminCommand::Stats).then(|| gather_connections(server));
            Ok(server_stats_json(
                &MetricsSample::gather(server),
                mode,
                gather_dirs(&server.settings),
                connections.as_deref(),
            ))
        }
        AdminCommand::Monitor => {
            let peer = (!standalone).then(|| peer_state(lead.is_leader, lead.has_leader));
            Ok(monitor_json(
                mode,
                peer,
                &MetricsSample::gather(server).gauges(),
            ))
        }
        AdminCommand::Environment => Ok(environment_json(&gather_environment(&server.settings))),
        AdminCommand::Configuration => Ok(configuration_json(&server.settings)),
        AdminCommand::Connections => Ok(connections_json(&gather_connections(server))),
        AdminCommand::WatchSummary => {
            let summary = server.consensus.core().lock().watches.summary();
            Ok(watch_summary_json(&summary))
        }
        AdminCommand::Watches => {
            let by_session = server.consensus.core().lock().watches.by_session();
            Ok(watches_json(&by_session))
        }
        AdminCommand::WatchesByPath => {
            let by_path = server.consensus.core().lock().watches.by_path();
            Ok(watches_by_path_json(&by_path))
        }
        AdminCommand::Dump => {
            let (sessions, ephemerals) = {
                let core = server.consensus.core().lock();
                let sessions: Vec<(i64, i32)> = core
                    .sm
                    .sessions()
                    .map(|(id, s)| (id, s.timeout_ms))
                    .collect();
                let ephemerals: BTreeMap<i64, Vec<String>> = core
                    .sm
                    .ephemerals_by_session()
                    .map(|(id, paths)| (id, paths.into_iter().map(str::to_string).collect()))
                    .collect();
                (sessions, ephemerals)
            };
            Ok(dump_json(&sessions, &ephemerals))
        }
        AdminCommand::IsReadOnly => Ok(object(json!({ "read_only": false }))),
        AdminCommand::Dirs => {
            let dirs = gather_dirs(&server.settings);
            Ok(object(json!({
                "datadir_size": dirs.data_dir,
                "logdir_size": dirs.log_dir,
            })))
        }
        AdminCommand::Leader => {
            let state = server.consensus.raft_state();
            let leader = state.leader.and_then(|id| {
                state
                    .nodes
                    .get(&id)
                    .map(|node| (id, node.host().to_string()))
            });
            leader_json(
                standalone,
                lead.is_leader,
                leader.as_ref().map(|(id, host)| (*id, host.as_str())),
            )
        }
        AdminCommand::VotingView => Ok(voting_view_json(&current_servers(server))),
        AdminCommand::ConnectionStatReset | AdminCommand::StatReset => {
            // One set of counters backs both, as in the four-letter words.
            server.stats.reset();
            Ok(Map::new())
        }
        // Corral has no trace mask: nothing is traced.
        AdminCommand::GetTraceMask => Ok(object(json!({ "tracemask": 0 }))),
        // No digest history is kept.
        AdminCommand::Hash => Ok(object(json!({ "digests": [] }))),
    };
    command_response(cmd.primary_name(), result)
}

/// The members of the Raft membership in effect, as server lines (a learner is an observer).
fn current_servers(server: &Server) -> Vec<ServerEntry> {
    let state = server.consensus.raft_state();
    state
        .nodes
        .iter()
        .map(|(id, node)| ServerEntry {
            id: *id,
            host: node.host().to_string(),
            peer_port: node
                .addr
                .rsplit_once(':')
                .and_then(|(_, port)| port.parse().ok())
                .unwrap_or(0),
            election_port: node.election_port,
            observer: !state.voters.contains(id),
            client: node.client_addr.clone(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Handlers.

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut text = serde_json::to_string_pretty(body).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        text,
    )
        .into_response()
}

async fn list_commands() -> Response {
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        command_links(),
    )
        .into_response()
}

async fn run_command(State(state): State<AdminState>, UrlPath(name): UrlPath<String>) -> Response {
    let Some(cmd) = AdminCommand::lookup(&name) else {
        tracing::debug!(command = %name, "unknown admin command");
        return json_response(StatusCode::OK, &unknown_command(&name));
    };
    tracing::debug!(command = cmd.primary_name(), "admin command");
    let lead = leadership(&state.server).await;
    let server = state.server.clone();
    match tokio::task::spawn_blocking(move || execute(&server, cmd, lead)).await {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(e) => {
            tracing::error!(command = cmd.primary_name(), error = %e, "admin command failed");
            let body = command_response(
                cmd.primary_name(),
                Err(format!(
                    "the command failed inside the server ({e}); see the server log"
                )),
            );
            json_response(StatusCode::INTERNAL_SERVER_ERROR, &body)
        }
    }
}

async fn healthz() -> Response {
    json_response(StatusCode::OK, &json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AdminState>) -> Response {
    let consensus = &state.server.consensus;
    let readiness = if !consensus.wait_for_leader(Duration::ZERO).await {
        Readiness::NoLeader
    } else {
        // `sync` takes the leader's commit index as a read index and returns once this member
        // has applied up to it: exactly "has applied its log".
        match tokio::time::timeout(READY_SYNC_TIMEOUT, consensus.sync()).await {
            Ok(Ok(())) => Readiness::Ready {
                zxid: consensus.core().applied_zxid(),
            },
            Ok(Err(e)) => Readiness::Behind(e.to_string()),
            Err(_) => Readiness::Behind(format!(
                "catching up took longer than {} ms",
                READY_SYNC_TIMEOUT.as_millis()
            )),
        }
    };
    if !matches!(readiness, Readiness::Ready { .. }) {
        tracing::debug!(?readiness, "readiness probe failed");
    }
    let (status, body) = readiness_json(&readiness);
    json_response(status, &body)
}

async fn metrics_endpoint(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    metrics::metrics_response(&state.metrics, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{NodeArgs, ZooCfg};

    fn settings() -> Settings {
        Settings::merge(&NodeArgs::default(), &ZooCfg::default(), |_| Ok(None)).unwrap()
    }

    fn member(id: u64, observer: bool) -> ServerEntry {
        ServerEntry {
            id,
            host: format!("zk{id}.example"),
            peer_port: 2888,
            election_port: 3888,
            observer,
            client: None,
        }
    }

    fn connection() -> ConnectionView {
        ConnectionView {
            remote: "127.0.0.1:45392".parse().unwrap(),
            session_id: 72_057_643_266_932_736,
            session_timeout_ms: 30_000,
            established_ms: 1_795_260_994_508,
            packets_received: 6,
            packets_sent: 5,
        }
    }

    fn sample() -> MetricsSample {
        MetricsSample {
            min_latency_ms: 1.0,
            avg_latency_ms: 5.333_33,
            max_latency_ms: 16.0,
            packets_received: 6,
            packets_sent: 6,
            num_alive_connections: 1,
            outstanding_requests: 0,
            uptime_ms: 17_019,
            znode_count: 7,
            watch_count: 4,
            ephemerals_count: 1,
            approximate_data_size: 52,
            global_sessions: 1,
            open_file_descriptor_count: Some(20),
            max_file_descriptor_count: Some(1024),
            quorum_size: 1,
            is_leader: true,
            last_zxid: 3,
            raft: Default::default(),
            quorum: None,
        }
    }

    #[test]
    fn every_name_zookeeper_documents_resolves_to_its_primary_name() {
        let expected = [
            ("ruok", "ruok"),
            ("srvr", "server_stats"),
            ("server_stats", "server_stats"),
            ("stat", "stats"),
            ("stats", "stats"),
            ("mntr", "monitor"),
            ("monitor", "monitor"),
            ("envi", "environment"),
            ("env", "environment"),
            ("environment", "environment"),
            ("conf", "configuration"),
            ("config", "configuration"),
            ("configuration", "configuration"),
            ("cons", "connections"),
            ("connections", "connections"),
            ("wchs", "watch_summary"),
            ("watch_summary", "watch_summary"),
            ("wchc", "watches"),
            ("watches", "watches"),
            ("wchp", "watches_by_path"),
            ("watches_by_path", "watches_by_path"),
            ("dump", "dump"),
            ("isro", "is_read_only"),
            ("is_read_only", "is_read_only"),
            ("dirs", "dirs"),
            ("leader", "leader"),
            ("lead", "leader"),
            ("crst", "connection_stat_reset"),
            ("srst", "stat_reset"),
            ("gtmk", "get_trace_mask"),
            ("hash", "hash"),
            ("voting_view", "voting_view"),
        ];
        for (name, primary) in expected {
            let cmd = AdminCommand::lookup(name).unwrap_or_else(|| panic!("{name} unknown"));
            assert_eq!(cmd.primary_name(), primary, "{name}");
        }
    }

    #[test]
    fn names_are_case_sensitive_and_unique() {
        assert_eq!(AdminCommand::lookup("SRVR"), None);
        assert_eq!(AdminCommand::lookup(""), None);
        assert_eq!(AdminCommand::lookup("srvr/"), None);
        let mut all: Vec<_> = AdminCommand::ALL
            .iter()
            .flat_map(|c| c.names().iter().copied())
            .collect();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count, "a name maps to two commands");
    }

    #[test]
    fn command_list_links_primary_names_in_order() {
        let page = command_links();
        assert!(page.starts_with(
            "<a href=\"/commands/configuration\">configuration</a>\n<br/>\n\
             <a href=\"/commands/connection_stat_reset\">connection_stat_reset</a>\n<br/>\n"
        ));
        assert_eq!(page.matches("<a href=").count(), AdminCommand::ALL.len());
        assert!(page.contains("<a href=\"/commands/watches_by_path\">watches_by_path</a>"));
        assert!(!page.contains("/commands/srvr\""), "aliases are not listed");
    }

    #[test]
    fn every_answer_carries_command_and_error() {
        assert_eq!(
            command_response("ruok", Ok(Map::new())),
            json!({ "command": "ruok", "error": null })
        );
        assert_eq!(
            unknown_command("nosuch"),
            json!({ "command": "nosuch", "error": "Unknown command: nosuch" })
        );
        let data = object(json!({ "read_only": false }));
        assert_eq!(
            command_response("is_read_only", Ok(data)),
            json!({ "read_only": false, "command": "is_read_only", "error": null })
        );
        // An error answer carries no data, as ZooKeeper's "server is not initialized".
        assert_eq!(
            command_response("leader", Err("server is not initialized".into())),
            json!({ "command": "leader", "error": "server is not initialized" })
        );
    }

    #[test]
    fn server_stats_has_zookeepers_fields() {
        let dirs = DirSizes {
            data_dir: 100,
            log_dir: 200,
        };
        let out = Value::Object(server_stats_json(&sample(), "standalone", dirs, None));
        assert_eq!(out["version"], ZOOKEEPER_VERSION);
        assert_eq!(out["read_only"], false);
        assert_eq!(out["node_count"], 7);
        let stats = &out["server_stats"];
        assert_eq!(stats["packets_sent"], 6);
        assert_eq!(stats["packets_received"], 6);
        assert_eq!(stats["uptime"], 17_019);
        assert_eq!(stats["data_dir_size"], 100);
        assert_eq!(stats["log_dir_size"], 200);
        assert_eq!(stats["server_state"], "standalone");
        assert_eq!(stats["last_processed_zxid"], 3);
        assert_eq!(stats["outstanding_requests"], 0);
        assert_eq!(stats["avg_latency"], 5.3333);
        assert_eq!(stats["min_latency"], 1);
        assert_eq!(stats["max_latency"], 16);
        assert_eq!(stats["num_alive_client_connections"], 1);
        assert!(
            out.get("connections").is_none(),
            "srvr lists no connections"
        );
    }

    #[test]
    fn stats_adds_brief_connections() {
        let conns = [connection()];
        let out = Value::Object(server_stats_json(
            &sample(),
            "leader",
            DirSizes::default(),
            Some(&conns),
        ));
        assert_eq!(
            out["connections"],
            json!([{
                "remote_socket_address": "127.0.0.1:45392",
                "packets_received": 6,
                "packets_sent": 5,
            }])
        );
        assert_eq!(out["secure_connections"], json!([]));
    }

    #[test]
    fn connections_report_sessions() {
        let out = Value::Object(connections_json(&[connection()]));
        assert_eq!(
            out["connections"],
            json!([{
                "remote_socket_address": "127.0.0.1:45392",
                "packets_received": 6,
                "packets_sent": 5,
                "session_id": 72_057_643_266_932_736_i64,
                "session_timeout": 30_000,
                "established": 1_795_260_994_508_i64,
            }])
        );
        assert_eq!(out["secure_connections"], json!([]));
        assert_eq!(
            Value::Object(connections_json(&[])),
            json!({ "connections": [], "secure_connections": [] })
        );
    }

    #[test]
    fn established_is_the_accept_time_on_the_wall_clock() {
        let now = Instant::now();
        let info = ConnectionInfo {
            peer: "10.0.0.1:5000".parse().unwrap(),
            session_id: 7,
            timeout_ms: 4000,
            since: now - Duration::from_millis(1500),
            received: 3,
            sent: 2,
        };
        let view = ConnectionView::from_info(&info, now, 1_000_000);
        assert_eq!(view.established_ms, 998_500);
        assert_eq!(view.session_id, 7);
        assert_eq!(view.session_timeout_ms, 4000);
        assert_eq!((view.packets_received, view.packets_sent), (3, 2));
    }

    #[test]
    fn monitor_dumps_every_metric_under_its_prometheus_name() {
        let gauges = sample().gauges();
        let out = Value::Object(monitor_json("standalone", None, &gauges));
        assert_eq!(out["version"], ZOOKEEPER_VERSION);
        assert_eq!(out["server_state"], "standalone");
        assert!(out.get("peer_state").is_none());
        for g in &gauges {
            assert_eq!(out[g.name], g.value.to_json(), "{}", g.name);
        }
        assert_eq!(out["znode_count"], 7);
        assert_eq!(out["avg_latency"], 5.3333);
        assert_eq!(out["ephemerals_count"], 1);

        let out = monitor_json("leader", Some(peer_state(true, true)), &gauges);
        assert_eq!(out["peer_state"], "leading - broadcast");
    }

    #[test]
    fn peer_state_reads_like_zookeepers() {
        assert_eq!(peer_state(true, true), "leading - broadcast");
        assert_eq!(peer_state(false, true), "following - broadcast");
        assert_eq!(peer_state(false, false), "looking");
    }

    #[test]
    fn configuration_uses_zookeepers_keys() {
        let out = Value::Object(configuration_json(&settings()));
        assert_eq!(
            out,
            json!({
                "client_port": 2181,
                "data_dir": "corral-data",
                "data_log_dir": "corral-data",
                "tick_time": 2000,
                "max_client_cnxns": 60,
                "min_session_timeout": 4000,
                "max_session_timeout": 40000,
                "server_id": 1,
                "client_port_listen_backlog": -1,
            })
        );
    }

    #[test]
    fn environment_is_a_flat_string_map() {
        let out = environment_json(&[
            ("zookeeper.version".into(), ZOOKEEPER_VERSION.into()),
            ("host.name".into(), "zk-0".into()),
        ]);
        assert_eq!(
            Value::Object(out),
            json!({ "zookeeper.version": ZOOKEEPER_VERSION, "host.name": "zk-0" })
        );
    }

    #[test]
    fn environment_names_the_zookeeper_version_for_clients_that_parse_it() {
        let entries = gather_environment(&settings());
        let version = entries.iter().find(|(k, _)| k == "zookeeper.version");
        assert_eq!(version.map(|(_, v)| v.as_str()), Some(ZOOKEEPER_VERSION));
        assert!(
            entries
                .iter()
                .any(|(k, v)| k == "corral.data.dir" && v == "corral-data")
        );
    }

    #[test]
    fn watch_reports_key_sessions_in_decimal() {
        let summary = WatchSummary {
            sessions: 1,
            paths: 2,
            watches: 2,
        };
        assert_eq!(
            Value::Object(watch_summary_json(&summary)),
            json!({ "num_connections": 1, "num_paths": 2, "num_total_watches": 2 })
        );
        let session = 72_057_643_266_932_736_i64;
        let by_session = BTreeMap::from([(
            session,
            BTreeSet::from(["/b".to_string(), "/a".to_string()]),
        )]);
        assert_eq!(
            Value::Object(watches_json(&by_session)),
            json!({ "session_id_to_watched_paths": { "72057643266932736": ["/a", "/b"] } })
        );
        let by_path = BTreeMap::from([
            ("/a".to_string(), BTreeSet::from([session])),
            ("/b".to_string(), BTreeSet::from([session, 5])),
        ]);
        assert_eq!(
            Value::Object(watches_by_path_json(&by_path)),
            json!({ "path_to_session_ids": { "/a": [session], "/b": [5, session] } })
        );
        assert_eq!(
            Value::Object(watches_json(&BTreeMap::new())),
            json!({ "session_id_to_watched_paths": {} })
        );
    }

    #[test]
    fn dump_groups_sessions_and_lists_only_sessions_with_ephemerals() {
        let sessions = [(3, 30_000), (1, 30_000), (2, 4_000)];
        let ephemerals =
            BTreeMap::from([(1, vec!["/a/e".to_string(), "/b".to_string()]), (2, vec![])]);
        assert_eq!(
            Value::Object(dump_json(&sessions, &ephemerals)),
            json!({
                "expiry_time_to_session_ids": { "30000": [1, 3], "4000": [2] },
                "session_id_to_ephemeral_paths": { "1": ["/a/e", "/b"] },
            })
        );
        assert_eq!(
            Value::Object(dump_json(&[], &BTreeMap::new())),
            json!({ "expiry_time_to_session_ids": {}, "session_id_to_ephemeral_paths": {} })
        );
    }

    #[test]
    fn leader_answers_like_a_standalone_or_quorum_zookeeper() {
        assert_eq!(
            leader_json(true, true, None),
            Err("server is not initialized".to_string())
        );
        assert_eq!(
            leader_json(false, true, Some((2, "zk2.example"))).map(Value::Object),
            Ok(json!({ "is_leader": true, "leader_id": 2, "leader_ip": "zk2.example" }))
        );
        // A follower names the leader it follows.
        assert_eq!(
            leader_json(false, false, Some((3, "10.0.0.3"))).map(Value::Object),
            Ok(json!({ "is_leader": false, "leader_id": 3, "leader_ip": "10.0.0.3" }))
        );
        assert_eq!(
            leader_json(false, false, None).map(Value::Object),
            Ok(json!({ "is_leader": false, "leader_id": -1, "leader_ip": "" }))
        );
    }

    #[test]
    fn voting_view_lists_members_and_is_empty_standalone() {
        assert_eq!(
            Value::Object(voting_view_json(&[])),
            json!({ "current_config": {} })
        );
        assert_eq!(
            Value::Object(voting_view_json(&[member(1, false)])),
            json!({ "current_config": {} })
        );
        assert_eq!(
            Value::Object(voting_view_json(&[member(1, false), member(2, true)])),
            json!({ "current_config": {
                "1": "zk1.example:2888:3888:participant",
                "2": "zk2.example:2888:3888:observer",
            } })
        );
    }

    #[test]
    fn readiness_is_503_until_caught_up() {
        let (status, body) = readiness_json(&Readiness::Ready { zxid: 9 });
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({ "status": "ready", "zxid": 9 }));

        let (status, body) = readiness_json(&Readiness::NoLeader);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body["reason"].as_str().unwrap().contains("no leader"));

        let (status, body) = readiness_json(&Readiness::Behind("timed out".into()));
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body["reason"].as_str().unwrap().contains("timed out"));
    }

    // ----- Over loopback, against a real one-member server. -----

    struct Reply {
        status: u16,
        content_type: String,
        body: String,
    }

    /// One HTTP/1.1 request on a fresh connection; the server closes it after answering.
    async fn request(addr: SocketAddr, method: &str, path: &str, accept: Option<&str>) -> Reply {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
            let head = format!(
                "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{accept}Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).await.unwrap();
            String::from_utf8(raw).unwrap()
        };
        let raw = tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .expect("the admin server answers within 10 s");
        let (head, body) = raw.split_once("\r\n\r\n").expect("a complete HTTP answer");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let content_type = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-type")
                    .then(|| value.trim().to_string())
            })
            .unwrap_or_default();
        Reply {
            status,
            content_type,
            body: body.to_string(),
        }
    }

    async fn start_server(dir: &Path) -> (Arc<Server>, crate::raft::Consensus) {
        use crate::raft::{Consensus, ConsensusOptions};
        let mut settings = settings();
        settings.data_dir = dir.to_path_buf();
        settings.data_log_dir = dir.to_path_buf();
        let consensus = Consensus::open(
            dir,
            dir,
            ConsensusOptions::standalone(settings.server_id, "127.0.0.1:2888".into()),
        )
        .await
        .unwrap();
        assert!(consensus.wait_for_leader(Duration::from_secs(20)).await);
        (
            Server::new(Arc::new(settings), consensus.clone()),
            consensus,
        )
    }

    fn json_body(reply: &Reply) -> Value {
        assert_eq!(reply.content_type, "application/json");
        serde_json::from_str(&reply.body).unwrap()
    }

    #[tokio::test]
    async fn admin_port_answers_commands_health_readiness_and_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let (server, consensus) = start_server(dir.path()).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(serve(server.clone(), listener));

        let ruok = request(addr, "GET", "/commands/ruok", None).await;
        assert_eq!(ruok.status, 200);
        assert_eq!(
            json_body(&ruok),
            json!({ "command": "ruok", "error": null })
        );

        // Not gated by the four-letter whitelist, which by default enables srvr only.
        assert!(!server.settings.four_letter_words.allows("mntr"));
        let mntr = json_body(&request(addr, "GET", "/commands/mntr", None).await);
        assert_eq!(mntr["command"], "monitor");
        assert_eq!(mntr["error"], Value::Null);
        assert_eq!(mntr["server_state"], "standalone");
        assert!(mntr["znode_count"].as_i64().unwrap() >= 1, "{mntr}");

        let srvr = json_body(&request(addr, "GET", "/commands/srvr", None).await);
        assert_eq!(srvr["command"], "server_stats");
        assert_eq!(srvr["server_stats"]["server_state"], "standalone");

        let stat = json_body(&request(addr, "GET", "/commands/stat", None).await);
        assert_eq!(stat["command"], "stats");
        assert_eq!(stat["connections"], json!([]));

        for name in [
            "envi", "conf", "cons", "wchs", "wchc", "wchp", "dump", "isro", "dirs",
        ] {
            let body = json_body(&request(addr, "GET", &format!("/commands/{name}"), None).await);
            assert_eq!(body["error"], Value::Null, "{name}: {body}");
        }

        let leader = json_body(&request(addr, "GET", "/commands/leader", None).await);
        assert_eq!(
            leader,
            json!({ "command": "leader", "error": "server is not initialized" })
        );

        let unknown = request(addr, "GET", "/commands/nosuch", None).await;
        assert_eq!(unknown.status, 200);
        assert_eq!(json_body(&unknown)["error"], "Unknown command: nosuch");

        let list = request(addr, "GET", "/commands", None).await;
        assert_eq!(list.status, 200);
        assert!(
            list.body
                .contains("<a href=\"/commands/monitor\">monitor</a>")
        );

        assert_eq!(
            request(addr, "POST", "/commands/ruok", None).await.status,
            405
        );
        assert_eq!(
            request(addr, "GET", "/nothing-here", None).await.status,
            404
        );
        assert_eq!(request(addr, "GET", "/healthz", None).await.status, 200);

        let ready = request(addr, "GET", "/readyz", None).await;
        assert_eq!(ready.status, 200, "{}", ready.body);
        assert_eq!(json_body(&ready)["status"], "ready");

        let text = request(addr, "GET", "/metrics", None).await;
        assert_eq!(text.status, 200);
        assert!(text.content_type.starts_with("text/plain; version=0.0.4"));
        assert!(
            text.body.contains("# TYPE znode_count gauge\n"),
            "{}",
            text.body
        );
        assert!(!text.body.contains("# EOF"));
        let open = request(
            addr,
            "GET",
            "/metrics",
            Some("application/openmetrics-text;version=1.0.0"),
        )
        .await;
        assert!(
            open.content_type
                .starts_with("application/openmetrics-text")
        );
        assert!(open.body.ends_with("# EOF\n"));

        task.abort();
        consensus.shutdown().await;
    }

    #[tokio::test]
    async fn metrics_port_serves_only_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let (server, consensus) = start_server(dir.path()).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(metrics::serve_metrics(server, listener));

        let reply = request(addr, "GET", "/metrics", None).await;
        assert_eq!(reply.status, 200);
        assert!(reply.body.contains("\nquorum_size 1\n"), "{}", reply.body);
        assert!(reply.body.contains("\nis_leader 1\n"), "{}", reply.body);
        assert_eq!(
            request(addr, "GET", "/commands/ruok", None).await.status,
            404
        );

        task.abort();
        consensus.shutdown().await;
    }

    #[test]
    fn dir_size_sums_files_recursively_and_tolerates_missing_dirs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 10]).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b"), [0u8; 5]).unwrap();
        assert_eq!(dir_size(dir.path()), 15);
        assert_eq!(dir_size(&dir.path().join("missing")), 0);
    }
}
