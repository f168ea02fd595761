//! Prometheus metrics under ZooKeeper's names.
//!
//! ZooKeeper's Prometheus provider exports the gauges that `ZooKeeperServer.registerMetrics`
//! registers (`znode_count`, `packets_received`, `avg_latency`, ...), plus `quorum_size` in an
//! ensemble, all as Prometheus gauges without a prefix. Dashboards and alerts written for
//! ZooKeeper therefore work unchanged when the same names carry the same meaning here; the few
//! values ZooKeeper has no metric for (`is_leader`, `last_zxid`, the Raft state as `raft_*`) get
//! plain names of their own. On the leader, the follower counts ZooKeeper's leader registers
//! (`learners`, `synced_followers`, `synced_observers`, `pending_syncs`, ...) are exported too.
//!
//! Values are read from the [`Server`] at scrape time by a custom [`Collector`], so nothing has
//! to keep a second copy of the counters up to date. The same list of gauges feeds the JSON of
//! the admin `monitor` command, as ZooKeeper's `mntr` dumps its metrics provider.

use std::fmt::Write as _;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use super::four_letter;
use crate::raft::membership::{QuorumStats, RaftState};
use crate::server::Server;

/// One gauge value. ZooKeeper reports latencies' average as a fraction and everything else as a
/// whole number; keeping the two apart keeps the `monitor` JSON's numbers in ZooKeeper's form.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GaugeValue {
    Int(i64),
    Float(f64),
}

impl GaugeValue {
    pub fn to_json(self) -> serde_json::Value {
        match self {
            GaugeValue::Int(v) => v.into(),
            GaugeValue::Float(v) => serde_json::Number::from_f64(v)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
        }
    }
}

/// A named gauge as exported.
#[derive(Debug, Clone, PartialEq)]
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    pub value: GaugeValue,
}

/// Everything one scrape reports, as plain values read from the server in one go.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricsSample {
    /// Request latency in milliseconds since the last stats reset.
    pub min_latency_ms: f64,
    pub avg_latency_ms: f64,
    pub max_latency_ms: f64,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub num_alive_connections: u64,
    pub outstanding_requests: u64,
    pub uptime_ms: u64,
    pub znode_count: u64,
    pub watch_count: u64,
    pub ephemerals_count: u64,
    pub approximate_data_size: u64,
    pub global_sessions: u64,
    /// None where the platform cannot tell (no `/proc`).
    pub open_file_descriptor_count: Option<u64>,
    pub max_file_descriptor_count: Option<u64>,
    /// Voting members of the group; 1 for a standalone node (a one-member group).
    pub quorum_size: u64,
    pub is_leader: bool,
    /// The zxid (Raft log index) applied on this member.
    pub last_zxid: i64,
    /// This member's Raft state.
    pub raft: RaftGauges,
    /// On the leader only: its followers and observers, as ZooKeeper's leader counts them.
    pub quorum: Option<QuorumStats>,
}

/// Raft state exported as gauges (names prefixed `raft_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RaftGauges {
    pub term: u64,
    pub leader_id: Option<u64>,
    pub last_log_index: Option<u64>,
    pub committed_index: Option<u64>,
    pub applied_index: i64,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    pub snapshots_installed: u64,
    pub voters: u64,
    pub learners: u64,
}

impl RaftGauges {
    pub fn from_state(state: &RaftState) -> Self {
        RaftGauges {
            term: state.term,
            leader_id: state.leader,
            last_log_index: state.last_log_index,
            committed_index: state.committed_index,
            applied_index: state.applied_index,
            snapshot_index: state.snapshot_index,
            purged_index: state.purged_index,
            snapshots_installed: state.snapshots_installed,
            voters: state.voters.len() as u64,
            learners: (state.nodes.len() - state.voters.len().min(state.nodes.len())) as u64,
        }
    }
}

impl MetricsSample {
    /// Read the current values from a running server.
    pub fn gather(server: &Server) -> Self {
        let snap = four_letter::snapshot(server);
        let global_sessions = server.consensus.core().lock().sm.session_count();
        let (min, avg, max) = server.stats.latency_ms();
        let raft = server.consensus.raft_state();
        MetricsSample {
            min_latency_ms: min,
            avg_latency_ms: avg,
            max_latency_ms: max,
            packets_received: server.stats.packets_received.load(Ordering::Relaxed),
            packets_sent: server.stats.packets_sent.load(Ordering::Relaxed),
            num_alive_connections: u64::from(server.limits.total()),
            outstanding_requests: server.stats.outstanding_requests.load(Ordering::Relaxed),
            uptime_ms: server.started.elapsed().as_millis().min(u64::MAX as u128) as u64,
            znode_count: snap.node_count as u64,
            watch_count: snap.watches as u64,
            ephemerals_count: snap.ephemerals as u64,
            approximate_data_size: snap.data_size,
            global_sessions: global_sessions as u64,
            open_file_descriptor_count: open_file_descriptor_count(),
            max_file_descriptor_count: std::fs::read_to_string("/proc/self/limits")
                .ok()
                .and_then(|text| parse_max_open_files(&text)),
            quorum_size: (raft.voters.len() as u64).max(1),
            is_leader: raft.is_leader(),
            last_zxid: snap.zxid,
            raft: RaftGauges::from_state(&raft),
            quorum: raft.quorum_stats(),
        }
    }

    /// The exported gauges, in a fixed order.
    pub fn gauges(&self) -> Vec<Gauge> {
        use GaugeValue::{Float, Int};
        let int = |v: u64| Int(i64::try_from(v).unwrap_or(i64::MAX));
        let mut gauges = vec![
            gauge(
                "avg_latency",
                "Average request latency in milliseconds since the last stats reset",
                Float(round4(self.avg_latency_ms)),
            ),
            // ZooKeeper keeps min and max latency as whole milliseconds.
            gauge(
                "min_latency",
                "Minimum request latency in milliseconds since the last stats reset",
                Int(self.min_latency_ms.round() as i64),
            ),
            gauge(
                "max_latency",
                "Maximum request latency in milliseconds since the last stats reset",
                Int(self.max_latency_ms.round() as i64),
            ),
            gauge(
                "packets_received",
                "Client packets received since the last stats reset",
                int(self.packets_received),
            ),
            gauge(
                "packets_sent",
                "Client packets sent since the last stats reset",
                int(self.packets_sent),
            ),
            gauge(
                "num_alive_connections",
                "Open client connections",
                int(self.num_alive_connections),
            ),
            gauge(
                "outstanding_requests",
                "Client requests received and not yet answered",
                int(self.outstanding_requests),
            ),
            gauge(
                "uptime",
                "Milliseconds since this server started",
                int(self.uptime_ms),
            ),
            gauge(
                "znode_count",
                "Znodes in the data tree",
                int(self.znode_count),
            ),
            gauge(
                "watch_count",
                "Watches registered on this member",
                int(self.watch_count),
            ),
            gauge(
                "ephemerals_count",
                "Ephemeral znodes in the data tree",
                int(self.ephemerals_count),
            ),
            gauge(
                "approximate_data_size",
                "Approximate size of the data tree in bytes (paths plus data)",
                int(self.approximate_data_size),
            ),
            gauge(
                "global_sessions",
                "Sessions open in the replicated session table",
                int(self.global_sessions),
            ),
            // Corral has no local sessions; the gauge exists so that ZooKeeper dashboards that
            // sum global and local sessions keep working.
            gauge(
                "local_sessions",
                "Local sessions (always 0: every session is replicated)",
                Int(0),
            ),
        ];
        if let Some(open) = self.open_file_descriptor_count {
            gauges.push(gauge(
                "open_file_descriptor_count",
                "Open file descriptors of this process",
                int(open),
            ));
        }
        if let Some(max) = self.max_file_descriptor_count {
            gauges.push(gauge(
                "max_file_descriptor_count",
                "Soft limit on open file descriptors of this process",
                int(max),
            ));
        }
        gauges.extend([
            gauge(
                "quorum_size",
                "Voting members of the Raft group",
                int(self.quorum_size),
            ),
            gauge(
                "is_leader",
                "1 when this member leads the Raft group, else 0",
                Int(i64::from(self.is_leader)),
            ),
            gauge(
                "last_zxid",
                "Last zxid (Raft log index) applied on this member",
                Int(self.last_zxid),
            ),
        ]);
        let opt = |v: Option<u64>| v.map_or(Int(-1), int);
        let raft = &self.raft;
        gauges.extend([
            gauge("raft_term", "Current Raft term", int(raft.term)),
            gauge(
                "raft_leader_id",
                "Id of the leader this member knows, -1 when none",
                opt(raft.leader_id),
            ),
            gauge(
                "raft_last_log_index",
                "Index of the last entry in this member's Raft log, -1 when empty",
                opt(raft.last_log_index),
            ),
            gauge(
                "raft_committed_index",
                "Index of the last entry this member knows is committed, -1 when none",
                opt(raft.committed_index),
            ),
            gauge(
                "raft_applied_index",
                "Index of the last entry applied on this member",
                Int(raft.applied_index),
            ),
            gauge(
                "raft_snapshot_index",
                "Last log index covered by this member's newest snapshot, -1 when none",
                opt(raft.snapshot_index),
            ),
            gauge(
                "raft_purged_index",
                "Last log index removed from this member's log, -1 when none",
                opt(raft.purged_index),
            ),
            gauge(
                "raft_snapshots_installed",
                "Snapshots received from a leader and installed since this process started",
                int(raft.snapshots_installed),
            ),
            gauge(
                "raft_voters",
                "Voting members of the Raft group",
                int(raft.voters),
            ),
            gauge(
                "raft_learners",
                "Non-voting members (learners, observers) of the Raft group",
                int(raft.learners),
            ),
        ]);
        // ZooKeeper's leader registers these; followers do not report them.
        if let Some(q) = &self.quorum {
            gauges.extend([
                gauge(
                    "learners",
                    "Other members in touch with this leader",
                    int(q.learners),
                ),
                gauge(
                    "followers",
                    "Other voting members of the configuration",
                    int(q.followers),
                ),
                gauge(
                    "synced_followers",
                    "Other voters in touch with this leader and caught up",
                    int(q.synced_followers),
                ),
                gauge(
                    "synced_non_voting_followers",
                    "Non-voting followers in sync (always 0: a non-voter is an observer here)",
                    Int(0),
                ),
                gauge(
                    "synced_observers",
                    "Observers (learners) in touch with this leader and caught up",
                    int(q.synced_observers),
                ),
                gauge(
                    "pending_syncs",
                    "Syncs waiting on the leader (always 0: sync takes a read index)",
                    Int(0),
                ),
            ]);
        }
        gauges
    }
}

fn gauge(name: &'static str, help: &'static str, value: GaugeValue) -> Gauge {
    Gauge { name, help, value }
}

/// ZooKeeper reports the average latency with four decimals.
fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

/// Open descriptors, from `/proc/self/fd`. The directory handle used to list it is itself one
/// of the entries, so it is not counted.
pub fn open_file_descriptor_count() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    Some((entries.count() as u64).saturating_sub(1))
}

/// The soft "Max open files" limit from the text of `/proc/self/limits`; None when unlimited or
/// absent.
pub fn parse_max_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Reports a fresh [`MetricsSample`] on every scrape.
pub struct SampleCollector {
    source: Box<dyn Fn() -> MetricsSample + Send + Sync>,
}

impl SampleCollector {
    pub fn new(source: impl Fn() -> MetricsSample + Send + Sync + 'static) -> Self {
        SampleCollector {
            source: Box::new(source),
        }
    }
}

impl std::fmt::Debug for SampleCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleCollector").finish_non_exhaustive()
    }
}

impl Collector for SampleCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for g in (self.source)().gauges() {
            let metric = encoder.encode_descriptor(g.name, g.help, None, MetricType::Gauge)?;
            match g.value {
                GaugeValue::Int(v) => ConstGauge::new(v).encode(metric)?,
                GaugeValue::Float(v) => ConstGauge::new(v).encode(metric)?,
            }
        }
        Ok(())
    }
}

/// A registry whose only collector reads `source` at scrape time.
pub fn registry_from(source: impl Fn() -> MetricsSample + Send + Sync + 'static) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SampleCollector::new(source)));
    registry
}

/// The node's registry: ZooKeeper's gauges read from `server`.
pub fn registry(server: Arc<Server>) -> Registry {
    registry_from(move || MetricsSample::gather(&server))
}

/// The two text formats a scraper may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposition {
    /// OpenMetrics 1.0, chosen when the scraper's `Accept` names it (Prometheus does).
    OpenMetrics,
    /// The classic Prometheus text format 0.0.4, for everything else (curl, older scrapers).
    Text004,
}

impl Exposition {
    pub fn negotiate(accept: Option<&str>) -> Self {
        match accept {
            Some(accept) if accept.contains("application/openmetrics-text") => {
                Exposition::OpenMetrics
            }
            _ => Exposition::Text004,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Exposition::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Exposition::Text004 => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// Encode the registry. Every metric is a gauge, whose OpenMetrics lines are also valid 0.0.4
/// text; only the OpenMetrics `# EOF` terminator is left out of the classic format.
pub fn render(registry: &Registry, format: Exposition) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail, and the collector reports no errors of its own.
    if let Err(e) = prometheus_client::encoding::text::encode_registry(&mut out, registry) {
        tracing::error!(error = %e, "encoding metrics failed");
    }
    if format == Exposition::OpenMetrics {
        let _ = out.write_str("# EOF\n");
    }
    out
}

/// The `/metrics` answer for a request with these headers.
pub fn metrics_response(registry: &Registry, headers: &HeaderMap) -> Response {
    let format = Exposition::negotiate(headers.get(ACCEPT).and_then(|v| v.to_str().ok()));
    let body = render(registry, format);
    (
        StatusCode::OK,
        [(
            CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        )],
        body,
    )
        .into_response()
}

async fn metrics_handler(State(registry): State<Arc<Registry>>, headers: HeaderMap) -> Response {
    metrics_response(&registry, &headers)
}

/// A router serving only `/metrics`, as ZooKeeper's Prometheus provider does on its own port.
pub fn metrics_router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .with_state(registry)
}

/// Serve `/metrics` on the metrics port (ZooKeeper's `metricsProvider.httpPort`, 7000 by
/// default) until the listener fails.
pub async fn serve_metrics(server: Arc<Server>, listener: TcpListener) -> io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(addr = %addr, "serving Prometheus metrics on /metrics");
    }
    axum::serve(listener, metrics_router(Arc::new(registry(server)))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MetricsSample {
        MetricsSample {
            min_latency_ms: 0.4,
            avg_latency_ms: 5.333_333,
            max_latency_ms: 16.2,
            packets_received: 6,
            packets_sent: 7,
            num_alive_connections: 1,
            outstanding_requests: 0,
            uptime_ms: 17_019,
            znode_count: 7,
            watch_count: 4,
            ephemerals_count: 1,
            approximate_data_size: 52,
            global_sessions: 1,
            open_file_descriptor_count: Some(273),
            max_file_descriptor_count: Some(20_000),
            quorum_size: 3,
            is_leader: true,
            last_zxid: 42,
            raft: RaftGauges {
                term: 4,
                leader_id: Some(1),
                last_log_index: Some(44),
                committed_index: Some(43),
                applied_index: 42,
                snapshot_index: Some(40),
                purged_index: None,
                snapshots_installed: 1,
                voters: 3,
                learners: 1,
            },
            quorum: Some(QuorumStats {
                learners: 3,
                followers: 2,
                synced_followers: 2,
                synced_observers: 1,
            }),
        }
    }

    fn value(gauges: &[Gauge], name: &str) -> Option<GaugeValue> {
        gauges.iter().find(|g| g.name == name).map(|g| g.value)
    }

    #[test]
    fn gauges_carry_zookeepers_names_and_units() {
        let gauges = sample().gauges();
        assert_eq!(
            value(&gauges, "avg_latency"),
            Some(GaugeValue::Float(5.3333))
        );
        assert_eq!(value(&gauges, "min_latency"), Some(GaugeValue::Int(0)));
        assert_eq!(value(&gauges, "max_latency"), Some(GaugeValue::Int(16)));
        assert_eq!(value(&gauges, "packets_received"), Some(GaugeValue::Int(6)));
        assert_eq!(value(&gauges, "packets_sent"), Some(GaugeValue::Int(7)));
        assert_eq!(
            value(&gauges, "num_alive_connections"),
            Some(GaugeValue::Int(1))
        );
        assert_eq!(value(&gauges, "uptime"), Some(GaugeValue::Int(17_019)));
        assert_eq!(value(&gauges, "znode_count"), Some(GaugeValue::Int(7)));
        assert_eq!(value(&gauges, "watch_count"), Some(GaugeValue::Int(4)));
        assert_eq!(value(&gauges, "ephemerals_count"), Some(GaugeValue::Int(1)));
        assert_eq!(
            value(&gauges, "approximate_data_size"),
            Some(GaugeValue::Int(52))
        );
        assert_eq!(value(&gauges, "global_sessions"), Some(GaugeValue::Int(1)));
        assert_eq!(value(&gauges, "local_sessions"), Some(GaugeValue::Int(0)));
        assert_eq!(
            value(&gauges, "open_file_descriptor_count"),
            Some(GaugeValue::Int(273))
        );
        assert_eq!(
            value(&gauges, "max_file_descriptor_count"),
            Some(GaugeValue::Int(20_000))
        );
        assert_eq!(value(&gauges, "quorum_size"), Some(GaugeValue::Int(3)));
        assert_eq!(value(&gauges, "is_leader"), Some(GaugeValue::Int(1)));
        assert_eq!(value(&gauges, "last_zxid"), Some(GaugeValue::Int(42)));
        assert_eq!(
            value(&gauges, "raft_applied_index"),
            Some(GaugeValue::Int(42))
        );
        assert_eq!(value(&gauges, "raft_voters"), Some(GaugeValue::Int(3)));
        assert_eq!(value(&gauges, "raft_learners"), Some(GaugeValue::Int(1)));
        assert_eq!(value(&gauges, "learners"), Some(GaugeValue::Int(3)));
        assert_eq!(value(&gauges, "synced_followers"), Some(GaugeValue::Int(2)));
        assert_eq!(value(&gauges, "synced_observers"), Some(GaugeValue::Int(1)));
        assert_eq!(value(&gauges, "pending_syncs"), Some(GaugeValue::Int(0)));
    }

    #[test]
    fn unknown_descriptor_counts_are_left_out_rather_than_reported_as_zero() {
        let gauges = MetricsSample {
            open_file_descriptor_count: None,
            max_file_descriptor_count: None,
            ..sample()
        }
        .gauges();
        assert_eq!(value(&gauges, "open_file_descriptor_count"), None);
        assert_eq!(value(&gauges, "max_file_descriptor_count"), None);
    }

    #[test]
    fn gauge_names_are_unique_and_valid_prometheus_names() {
        let gauges = sample().gauges();
        let mut names: Vec<_> = gauges.iter().map(|g| g.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), gauges.len());
        for name in names {
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
        }
    }

    #[test]
    fn huge_counters_saturate_instead_of_wrapping_negative() {
        let gauges = MetricsSample {
            packets_received: u64::MAX,
            ..sample()
        }
        .gauges();
        assert_eq!(
            value(&gauges, "packets_received"),
            Some(GaugeValue::Int(i64::MAX))
        );
    }

    #[test]
    fn openmetrics_text_has_gauges_help_and_eof() {
        let registry = registry_from(sample);
        let text = render(&registry, Exposition::OpenMetrics);
        assert!(
            text.contains("# TYPE znode_count gauge\nznode_count 7\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP znode_count Znodes in the data tree\n"),
            "{text}"
        );
        assert!(text.contains("\navg_latency 5.3333\n"), "{text}");
        assert!(text.contains("\nis_leader 1\n"), "{text}");
        assert!(text.contains("\nlast_zxid 42\n"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        // Nothing is namespaced: ZooKeeper's provider exports bare names.
        assert!(!text.contains("zk_"), "{text}");
    }

    #[test]
    fn classic_text_is_the_same_without_the_eof_marker() {
        let registry = registry_from(sample);
        let open = render(&registry, Exposition::OpenMetrics);
        let classic = render(&registry, Exposition::Text004);
        assert_eq!(format!("{classic}# EOF\n"), open);
        assert!(!classic.contains("# EOF"));
        // Every sample line is `name value` with a numeric value.
        for line in classic.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.split_once(' ').expect(line);
            assert!(!name.is_empty());
            value.parse::<f64>().expect(line);
        }
    }

    #[test]
    fn every_scrape_reads_fresh_values() {
        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let source = counter.clone();
        let registry = registry_from(move || MetricsSample {
            znode_count: source.fetch_add(1, Ordering::SeqCst) + 1,
            ..MetricsSample::default()
        });
        assert!(render(&registry, Exposition::Text004).contains("\nznode_count 1\n"));
        assert!(render(&registry, Exposition::Text004).contains("\nznode_count 2\n"));
    }

    #[test]
    fn negotiation_prefers_openmetrics_only_when_asked() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(
            Exposition::negotiate(Some(prometheus)),
            Exposition::OpenMetrics
        );
        assert_eq!(Exposition::negotiate(Some("*/*")), Exposition::Text004);
        assert_eq!(Exposition::negotiate(None), Exposition::Text004);
        assert!(
            Exposition::Text004
                .content_type()
                .starts_with("text/plain; version=0.0.4")
        );
    }

    #[test]
    fn max_open_files_is_the_soft_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_max_open_files(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_max_open_files(unlimited), None);
        assert_eq!(parse_max_open_files(""), None);
    }

    #[test]
    fn raft_gauges_count_voters_and_learners_from_the_membership() {
        use std::collections::{BTreeMap, BTreeSet};

        use crate::raft::MemberNode;
        let state = RaftState {
            me: 2,
            term: 7,
            leader: Some(1),
            voters: BTreeSet::from([1, 2, 3]),
            nodes: (1..=4)
                .map(|id| (id, MemberNode::new(format!("zk{id}:2888"))))
                .collect::<BTreeMap<_, _>>(),
            last_log_index: Some(9),
            committed_index: Some(8),
            applied_index: 8,
            ..RaftState::default()
        };
        let raft = RaftGauges::from_state(&state);
        assert_eq!((raft.voters, raft.learners), (3, 1));
        let gauges = MetricsSample {
            raft,
            quorum: state.quorum_stats(),
            ..sample()
        }
        .gauges();
        assert_eq!(value(&gauges, "raft_term"), Some(GaugeValue::Int(7)));
        assert_eq!(value(&gauges, "raft_leader_id"), Some(GaugeValue::Int(1)));
        assert_eq!(
            value(&gauges, "raft_committed_index"),
            Some(GaugeValue::Int(8))
        );
        // A follower does not report the leader's follower counts, as in ZooKeeper.
        assert_eq!(value(&gauges, "synced_followers"), None);
        let none = RaftGauges::from_state(&RaftState::default());
        let gauges = MetricsSample {
            raft: none,
            ..sample()
        }
        .gauges();
        assert_eq!(value(&gauges, "raft_leader_id"), Some(GaugeValue::Int(-1)));
        assert_eq!(
            value(&gauges, "raft_last_log_index"),
            Some(GaugeValue::Int(-1))
        );
    }

    #[test]
    fn monitor_values_keep_integers_integral() {
        assert_eq!(GaugeValue::Int(3).to_json(), serde_json::json!(3));
        assert_eq!(GaugeValue::Float(0.5).to_json(), serde_json::json!(0.5));
        assert_eq!(
            GaugeValue::Float(f64::NAN).to_json(),
            serde_json::Value::Null
        );
    }
}
