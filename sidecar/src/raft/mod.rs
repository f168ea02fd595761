//! Everything that touches openraft lives in this module, so that an openraft upgrade changes one
//! place (ARCHITECTURE decision 1). The rest of the node sees [`Consensus`]: propose a command,
//! learn its outcome, wait for a read index, and read the shared [`Core`].

mod config_node;
mod core;
pub mod data_format;
pub mod disk_space;
mod member_node;
pub mod membership;
pub mod membership_plan;
mod network;
mod outbox;
pub mod peer;
mod reconfig;
pub mod reconfig_plan;
mod snapshot_policy;
mod state_machine;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use corral_tree::{Applied, Command};
use openraft::Instant as _;
use openraft::async_runtime::WatchReceiver;
use openraft::impls::ProgressResponder;
use openraft::{Config, Raft, ReadPolicy};
use tokio::sync::oneshot;

pub use self::core::{Attached, Core, CoreState, Outbox, OutboxLimits, OutboxReceiver, Outgoing};
pub use self::member_node::{MemberNode, config_version, render_dynamic_config};
pub use self::network::PeerNetwork;
use self::peer::{
    AppHandler, ClientOptions, PeerHandler, PeerRequest, PeerResponse, RaftPeerHandler,
};
use self::state_machine::StateMachineStore;

openraft::declare_raft_types!(
    /// Corral's Raft types: the log carries [`Command`]s and applying one yields [`Applied`].
    pub TypeConfig:
        D = Command,
        R = Applied,
        NodeId = u64,
        Node = MemberNode,
);

pub type NodeId = u64;

/// How long a write may take to commit (or a forwarded one to come back) before the client's
/// connection is closed so it retries elsewhere, as ZooKeeper clients do on CONNECTIONLOSS.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// When this member last received AppendEntries (the leader's replication and heartbeats).
#[derive(Clone, Default)]
struct LeaderContact(Arc<std::sync::Mutex<Option<std::time::Instant>>>);

impl LeaderContact {
    fn touch(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(std::time::Instant::now());
    }

    fn recent(&self, within: Duration) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|at| at.elapsed() < within)
    }
}

/// Notes every AppendEntries before handing the request on.
struct LeaderContactRecorder {
    inner: Arc<dyn PeerHandler>,
    contact: LeaderContact,
}

impl PeerHandler for LeaderContactRecorder {
    fn begin(&self, req: PeerRequest) -> futures_util::future::BoxFuture<'_, peer::Reply> {
        if matches!(req, PeerRequest::AppendEntries(_)) {
            self.contact.touch();
        }
        self.inner.begin(req)
    }
}

/// A leader that has not heard from a quorum for this long considers itself cut off; a little
/// over openraft's election timeout, after which the majority side elects a new leader anyway.
const QUORUM_LOSS: Duration = Duration::from_millis(2_500);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
type CorralRaft = Raft<TypeConfig, StateMachineStore>;

#[derive(Debug, thiserror::Error)]
pub enum ConsensusError {
    #[error("cannot open the Raft log in {dir}: {source}")]
    OpenLog {
        dir: String,
        source: corral_storage::StorageError,
    },
    #[error("cannot read snapshots in {dir}: {source}")]
    OpenSnapshots { dir: String, source: std::io::Error },
    #[error("Raft failed to start: {0}")]
    Start(String),
    #[error(transparent)]
    DataFormat(#[from] data_format::DataFormatError),
    #[error(
        "the Raft log in {log_dir} was purged up to index {purged}, but the newest intact snapshot in \
         {snap_dir} reaches only index {snapshot}: the entries in between are gone (a damaged or \
         deleted snapshot; see the warnings above). This member's data cannot be trusted: stop it, \
         move its data directory aside, and start it empty so the leader sends a snapshot (a \
         single-member group has no peers: restore its data directory from a backup instead)"
    )]
    SnapshotBehindLog {
        log_dir: String,
        snap_dir: String,
        purged: u64,
        snapshot: String,
    },
    #[error(
        "this member cannot accept writes right now ({0}); the client should retry or try another server"
    )]
    NotAvailable(String),
}

/// Options that shape the Raft group.
pub struct ConsensusOptions {
    pub node_id: NodeId,
    /// The voting members, this member included. Every member of a new ensemble bootstraps
    /// with this same set, so a first start needs no manual step; a member that already has a
    /// log never bootstraps again. A member that is not among them (one started to join an
    /// existing ensemble) never bootstraps: it waits for the leader to add it.
    pub voters: BTreeMap<NodeId, MemberNode>,
    pub extended_types_enabled: bool,
    pub snapshot_retain: usize,
    /// Take a snapshot after this many entries (zoo.cfg snapCount).
    pub snapshot_every: u64,
    /// Refuse new writes while less than this many bytes are free on the log's or the
    /// snapshots' filesystem; 0 turns the guard off.
    pub min_free_disk_bytes: u64,
    /// Also take a snapshot once the log since the last one holds this many bytes.
    pub snapshot_bytes: u64,
    /// Size of a Raft log segment file.
    pub log_segment_bytes: u64,
    /// Mutual TLS to other members (sslQuorum); plain TCP when `None`.
    pub peer_tls: Option<crate::tls::QuorumTls>,
}

impl ConsensusOptions {
    /// A one-member group: this node alone, at `peer_addr`.
    pub fn standalone(node_id: NodeId, peer_addr: String) -> Self {
        ConsensusOptions {
            node_id,
            voters: BTreeMap::from([(node_id, MemberNode::new(peer_addr))]),
            extended_types_enabled: false,
            snapshot_retain: 3,
            snapshot_every: 100_000,
            min_free_disk_bytes: 0,
            snapshot_bytes: 4 << 30,
            log_segment_bytes: 64 << 20,
            peer_tls: None,
        }
    }
}

/// A handle on the node's Raft group and its applied state.
#[derive(Clone)]
pub struct Consensus {
    raft: CorralRaft,
    core: Arc<Core>,
    node_id: NodeId,
    network: PeerNetwork,
    leader_contact: LeaderContact,
    disk_space: Arc<disk_space::DiskSpace>,
}

impl Consensus {
    /// Open (or create) the log and snapshots under `data_dir`, start Raft, and make a fresh
    /// directory a one-member group.
    /// The Raft log goes under `log_dir` (zoo.cfg's dataLogDir, which may be a separate, fast
    /// disk) and snapshots under `data_dir`.
    pub async fn open(
        data_dir: &Path,
        log_dir: &Path,
        opts: ConsensusOptions,
    ) -> Result<Self, ConsensusError> {
        data_format::check_or_stamp(data_dir)?;
        if log_dir != data_dir {
            data_format::check_or_stamp(log_dir)?;
        }
        let log_dir = log_dir.join("raft");
        let mut log_store = corral_storage::LogStore::<TypeConfig>::open(
            &log_dir,
            corral_storage::LogStoreOptions {
                segment_size: opts.log_segment_bytes,
                ..Default::default()
            },
        )
        .map_err(|source| ConsensusError::OpenLog {
            dir: log_dir.display().to_string(),
            source,
        })?;
        let core = Arc::new(Core::new(corral_tree::TreeOptions {
            extended_types_enabled: opts.extended_types_enabled,
        }));
        let snap_dir = data_dir.join("snapshots");
        let mut state_machine =
            StateMachineStore::open(&snap_dir, core.clone(), opts.snapshot_retain).map_err(
                |source| ConsensusError::OpenSnapshots {
                    dir: snap_dir.display().to_string(),
                    source,
                },
            )?;
        {
            use openraft::storage::RaftLogStorage as _;
            let purged = log_store
                .get_log_state()
                .await
                .ok()
                .and_then(|state| state.last_purged_log_id)
                .map(|id| id.index);
            let snapshot = state_machine.last_applied_index();
            if let Some(purged) = purged
                && snapshot.is_none_or(|s| s < purged)
            {
                return Err(ConsensusError::SnapshotBehindLog {
                    log_dir: log_dir.display().to_string(),
                    snap_dir: snap_dir.display().to_string(),
                    purged,
                    snapshot: snapshot.map_or("none".into(), |s| s.to_string()),
                });
            }
            let committed = log_store.read_committed().await.ok().flatten();
            state_machine.expect_replay(committed.map(|id| id.index));
        }
        let config = Config {
            cluster_name: "corral".into(),
            heartbeat_interval: 250,
            election_timeout_min: 1000,
            election_timeout_max: 2000,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(snapshot_policy::jittered(
                opts.snapshot_every,
                rand::random(),
            )),
            // Entries kept behind a snapshot, so a member a little behind catches up from the
            // log; one further behind gets the snapshot (ZooKeeper's commitLogCount is 500).
            max_in_snapshot_log_to_keep: 500,
            // A snapshot's last chunk is answered only after the follower installed it; a large
            // tree takes far longer than openraft's 200 ms default.
            install_snapshot_timeout: 10_000,
            // A member healed from a partition asks before it campaigns, so it cannot depose a
            // healthy leader with its inflated term (ZooKeeper's healed follower just rejoins).
            enable_pre_vote: Some(true),
            ..Default::default()
        };
        let config = Arc::new(
            config
                .validate()
                .map_err(|e| ConsensusError::Start(e.to_string()))?,
        );
        let log_reader = {
            use openraft::storage::RaftLogStorage as _;
            log_store.get_log_reader().await
        };
        let network = PeerNetwork::new(
            opts.node_id,
            ClientOptions {
                tls: opts.peer_tls.clone(),
                ..ClientOptions::default()
            },
        );
        let raft = Raft::new(
            opts.node_id,
            config,
            network.clone(),
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| ConsensusError::Start(e.to_string()))?;
        snapshot_policy::spawn_size_trigger(
            raft.clone(),
            log_reader,
            snapshot_policy::jittered(opts.snapshot_bytes, rand::random()),
        );
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| ConsensusError::Start(e.to_string()))?;
        if !initialized && !opts.voters.contains_key(&opts.node_id) {
            tracing::info!(
                node_id = opts.node_id,
                "not a participant of the configured ensemble; waiting to be added by its leader"
            );
        } else if !initialized {
            let members = opts.voters.clone();
            // Initializing every member with the same membership is safe: it is the same first
            // log entry everywhere, and a member that already received the leader's log rejects it.
            match raft.initialize(members).await {
                Ok(()) => tracing::info!(
                    node_id = opts.node_id,
                    voters = ?opts.voters.keys().collect::<Vec<_>>(),
                    "bootstrapped a new Raft group"
                ),
                Err(openraft::error::RaftError::APIError(
                    openraft::error::InitializeError::NotAllowed(e),
                )) => tracing::info!(reason = %e, "already part of an initialized group"),
                Err(e) => return Err(ConsensusError::Start(e.to_string())),
            }
        }
        let disk_space = disk_space::DiskSpace::new(
            vec![log_dir.clone(), snap_dir.clone()],
            opts.min_free_disk_bytes,
        );
        disk_space.spawn_monitor();
        Ok(Consensus {
            raft,
            core,
            node_id: opts.node_id,
            network,
            leader_contact: LeaderContact::default(),
            disk_space,
        })
    }

    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// Wait until this member leads (standalone: right after start).
    pub async fn wait_for_leader(&self, timeout: Duration) -> bool {
        let mut metrics = self.raft.metrics();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if metrics.borrow_watched().current_leader.is_some() {
                return true;
            }
            if tokio::time::timeout_at(deadline, metrics.changed())
                .await
                .is_err()
            {
                return false;
            }
        }
    }

    /// Whether this member is in touch with a quorum: it knows a leader, and if it is the
    /// leader, a quorum acknowledged it recently. A member without one must not serve clients
    /// (ZooKeeper shuts its client port down in that state).
    pub fn has_quorum(&self) -> bool {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        match metrics.current_leader {
            None => false,
            Some(leader) if leader == self.node_id => {
                let voters = metrics.membership_config.membership().voter_ids().count();
                voters <= 1
                    || metrics
                        .last_quorum_acked
                        .as_ref()
                        .is_some_and(|acked| acked.elapsed() < QUORUM_LOSS)
            }
            // A member taken out of the membership (or not yet added) hears from no leader;
            // what it last knew is stale. A follower must also have heard from its leader
            // lately: openraft keeps naming a dead leader while pre-votes fail.
            Some(_) => {
                metrics
                    .membership_config
                    .membership()
                    .get_node(&self.node_id)
                    .is_some()
                    && self.leader_contact.recent(QUORUM_LOSS)
            }
        }
    }

    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow_watched().current_leader == Some(self.node_id)
    }

    /// The current leader and its peer address, as this member knows them.
    pub fn leader(&self) -> Option<(NodeId, String)> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow_watched();
        let leader = metrics.current_leader?;
        let addr = metrics
            .membership_config
            .membership()
            .get_node(&leader)?
            .addr
            .clone();
        Some((leader, addr))
    }

    /// Submit a command. Commands submitted one after another from one task enter the log in
    /// that order, which is what keeps a session's writes in FIFO order: on the leader they go
    /// straight to Raft; on a follower they are queued, in call order, on the one connection to
    /// the leader. The receiver yields the outcome once the entry is applied HERE, so a client's
    /// next read on this member sees its write.
    pub async fn submit(
        &self,
        cmd: Command,
    ) -> Result<oneshot::Receiver<Result<Applied, ConsensusError>>, ConsensusError> {
        match self.leader() {
            Some((leader, _)) if leader == self.node_id => self.submit_local(cmd).await,
            Some((leader, addr)) => Ok(self.forward(leader, &addr, cmd)),
            None => Err(ConsensusError::NotAvailable(
                "no leader is known (the ensemble has no quorum?)".into(),
            )),
        }
    }

    /// Propose on this member's Raft, which must be leading. The leader stamps the time.
    pub async fn submit_local(
        &self,
        mut cmd: Command,
    ) -> Result<oneshot::Receiver<Result<Applied, ConsensusError>>, ConsensusError> {
        if let Some(free) = self.disk_space.refusal() {
            // A definite answer, not an unknown outcome: the write was not executed, so the
            // client gets THROTTLEDOP (ZooKeeper's "rejected, not executed, retry later") and
            // keeps its connection.
            tracing::debug!(
                free_bytes = free,
                reserve_bytes = self.disk_space.reserve(),
                "refusing a write: disk space below the reserve"
            );
            let (tx, out) = oneshot::channel();
            let _ = tx.send(Ok(Applied {
                zxid: self.core.applied_zxid(),
                result: Err(corral_proto::ErrorCode::ThrottledOp),
                triggers: Vec::new(),
            }));
            return Ok(out);
        }
        cmd.time_ms = now_ms();
        let (responder, rx) = ProgressResponder::complete_only();
        self.raft
            .write(cmd)
            .responder(responder)
            .await
            .map_err(|e| ConsensusError::NotAvailable(e.to_string()))?;
        let (tx, out) = oneshot::channel();
        tokio::spawn(async move {
            let result = match tokio::time::timeout(WRITE_TIMEOUT, rx).await {
                Ok(Ok(Ok(resp))) => Ok(resp.data),
                Ok(Ok(Err(e))) => Err(ConsensusError::NotAvailable(e.to_string())),
                Ok(Err(_)) => Err(ConsensusError::NotAvailable("the write was dropped".into())),
                Err(_) => Err(ConsensusError::NotAvailable(format!(
                    "not committed within {WRITE_TIMEOUT:?} (no quorum?)"
                ))),
            };
            let _ = tx.send(result);
        });
        Ok(out)
    }

    fn forward(
        &self,
        leader: NodeId,
        addr: &str,
        cmd: Command,
    ) -> oneshot::Receiver<Result<Applied, ConsensusError>> {
        // `call` queues the request before returning: this is the order-preserving step.
        let call = self
            .network
            .client(addr)
            .call(&PeerRequest::ForwardWrite(cmd), WRITE_TIMEOUT);
        let core = self.core.clone();
        let (tx, out) = oneshot::channel();
        tokio::spawn(async move {
            let result = match call.await {
                Ok(PeerResponse::Forwarded(Ok(applied))) => {
                    let zxid = applied.zxid;
                    match tokio::time::timeout(WRITE_TIMEOUT, core.wait_applied(zxid)).await {
                        Ok(()) => Ok(applied),
                        Err(_) => Err(ConsensusError::NotAvailable(format!(
                            "zxid 0x{zxid:x} committed but not applied here within {WRITE_TIMEOUT:?}"
                        ))),
                    }
                }
                Ok(PeerResponse::Forwarded(Err(e))) | Ok(PeerResponse::Error(e)) => Err(
                    ConsensusError::NotAvailable(format!("leader {leader} refused: {e}")),
                ),
                Ok(other) => Err(ConsensusError::NotAvailable(format!(
                    "leader {leader} answered {} to a forwarded write",
                    other.kind()
                ))),
                Err(e) => Err(ConsensusError::NotAvailable(format!(
                    "forwarding to leader {leader} failed: {e}"
                ))),
            };
            let _ = tx.send(result);
        });
        out
    }

    /// A read index: the leader's commit index once it has confirmed it still leads. On a
    /// follower, asked of the leader.
    pub async fn read_index(&self) -> Result<u64, ConsensusError> {
        match self.leader() {
            Some((leader, _)) if leader == self.node_id => self
                .raft
                .ensure_linearizable(ReadPolicy::ReadIndex)
                .await
                .map(|read| read.index())
                .map_err(|e| ConsensusError::NotAvailable(e.to_string())),
            Some((leader, addr)) => {
                let reply = self
                    .network
                    .client(&addr)
                    .call(&PeerRequest::ReadIndex, WRITE_TIMEOUT)
                    .await;
                match reply {
                    Ok(PeerResponse::ReadIndex(Ok(index))) => Ok(index),
                    Ok(PeerResponse::ReadIndex(Err(e))) | Ok(PeerResponse::Error(e)) => Err(
                        ConsensusError::NotAvailable(format!("leader {leader}: {e}")),
                    ),
                    Ok(other) => Err(ConsensusError::NotAvailable(format!(
                        "leader {leader} answered {} to a read index request",
                        other.kind()
                    ))),
                    Err(e) => Err(ConsensusError::NotAvailable(e.to_string())),
                }
            }
            None => Err(ConsensusError::NotAvailable("no leader is known".into())),
        }
    }

    /// Tell the leader which sessions showed signs of life here (ZooKeeper's follower touch
    /// table). Best effort: a lost touch only shortens a session's slack until the next one.
    pub async fn touch_leader(
        &self,
        sessions: Vec<i64>,
        timeout: Duration,
    ) -> Result<(), ConsensusError> {
        let Some((leader, addr)) = self.leader() else {
            return Err(ConsensusError::NotAvailable("no leader is known".into()));
        };
        if leader == self.node_id {
            return Ok(());
        }
        match self
            .network
            .client(&addr)
            .call(&PeerRequest::Touch(sessions), timeout)
            .await
        {
            Ok(PeerResponse::Touched) => Ok(()),
            Ok(other) => Err(ConsensusError::NotAvailable(format!(
                "leader {leader} answered {} to a touch",
                other.kind()
            ))),
            Err(e) => Err(ConsensusError::NotAvailable(e.to_string())),
        }
    }

    /// The handler for this member's peer port: Raft RPCs, plus the application requests that
    /// `app` serves.
    pub fn peer_handler(&self, app: Arc<dyn AppHandler>) -> Arc<dyn PeerHandler> {
        let app = self.with_membership_services(app);
        Arc::new(LeaderContactRecorder {
            inner: Arc::new(RaftPeerHandler::new(self.raft.clone(), app)),
            contact: self.leader_contact.clone(),
        })
    }

    /// Propose and wait for the outcome.
    pub async fn propose(&self, cmd: Command) -> Result<Applied, ConsensusError> {
        self.submit(cmd)
            .await?
            .await
            .unwrap_or_else(|_| Err(ConsensusError::NotAvailable("the write was dropped".into())))
    }

    /// Wait until everything committed before this call is applied locally (ZooKeeper's `sync`,
    /// made linearizable with a read index from the leader).
    pub async fn sync(&self) -> Result<(), ConsensusError> {
        if cfg!(feature = "chaos-broken-sync") {
            return Ok(()); // Deliberately broken (e2e/chaos --broken): no read index.
        }
        let index = self.read_index().await?;
        match tokio::time::timeout(WRITE_TIMEOUT, self.core.wait_applied(index as i64)).await {
            Ok(()) => Ok(()),
            Err(_) => Err(ConsensusError::NotAvailable(format!(
                "read index {index} not applied here within {WRITE_TIMEOUT:?}"
            ))),
        }
    }

    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }

    /// Resolves once the Raft core has stopped for good, with why: a fatal storage error, or a
    /// panic in the core task. Without its core a member can neither serve nor vote, yet its
    /// ports would stay open; the node exits instead so that its supervisor restarts it.
    pub async fn stopped(&self) -> String {
        let mut metrics = self.raft.metrics();
        loop {
            if let Err(fatal) = &metrics.borrow_watched().running_state {
                return fatal.to_string();
            }
            if metrics.changed().await.is_err() {
                return "the Raft core task ended without a report (it panicked)".into();
            }
        }
    }
}
