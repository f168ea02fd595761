//! Everything that touches openraft lives in this module, so that an openraft upgrade changes one
//! place (ARCHITECTURE decision 1). The rest of the node sees [`Consensus`]: propose a command,
//! learn its outcome, wait for a read index, and read the shared [`Core`].

mod core;
mod network;
pub mod peer;
mod state_machine;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use corral_tree::{Applied, Command};
use openraft::async_runtime::WatchReceiver;
use openraft::impls::ProgressResponder;
use openraft::{BasicNode, Config, Raft, ReadPolicy};

pub use self::core::{Attached, Core, CoreState, Outbox, Outgoing};
use self::network::PeerNetwork;
use self::state_machine::StateMachineStore;

openraft::declare_raft_types!(
    /// Corral's Raft types: the log carries [`Command`]s and applying one yields [`Applied`].
    pub TypeConfig:
        D = Command,
        R = Applied,
        NodeId = u64,
        Node = BasicNode,
);

pub type NodeId = u64;
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
    #[error(
        "this member cannot accept writes right now ({0}); the client should retry or try another server"
    )]
    NotAvailable(String),
}

/// Options that shape the Raft group.
pub struct ConsensusOptions {
    pub node_id: NodeId,
    /// This member's peer address, recorded in the membership.
    pub peer_addr: String,
    pub extended_types_enabled: bool,
    pub snapshot_retain: usize,
}

/// A handle on the node's Raft group and its applied state.
#[derive(Clone)]
pub struct Consensus {
    raft: CorralRaft,
    core: Arc<Core>,
    node_id: NodeId,
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
        let log_dir = log_dir.join("raft");
        let log_store = corral_storage::LogStore::<TypeConfig>::open(&log_dir, Default::default())
            .map_err(|source| ConsensusError::OpenLog {
                dir: log_dir.display().to_string(),
                source,
            })?;
        let core = Arc::new(Core::new(corral_tree::TreeOptions {
            extended_types_enabled: opts.extended_types_enabled,
        }));
        let snap_dir = data_dir.join("snapshots");
        let state_machine = StateMachineStore::open(&snap_dir, core.clone(), opts.snapshot_retain)
            .map_err(|source| ConsensusError::OpenSnapshots {
                dir: snap_dir.display().to_string(),
                source,
            })?;
        let config = Config {
            cluster_name: "corral".into(),
            heartbeat_interval: 250,
            election_timeout_min: 1000,
            election_timeout_max: 2000,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(20_000),
            max_in_snapshot_log_to_keep: 1000,
            ..Default::default()
        };
        let config = Arc::new(
            config
                .validate()
                .map_err(|e| ConsensusError::Start(e.to_string()))?,
        );
        let raft = Raft::new(opts.node_id, config, PeerNetwork, log_store, state_machine)
            .await
            .map_err(|e| ConsensusError::Start(e.to_string()))?;
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| ConsensusError::Start(e.to_string()))?;
        if !initialized {
            let members = BTreeMap::from([(
                opts.node_id,
                BasicNode {
                    addr: opts.peer_addr.clone(),
                },
            )]);
            raft.initialize(members)
                .await
                .map_err(|e| ConsensusError::Start(e.to_string()))?;
            tracing::info!(
                node_id = opts.node_id,
                "initialized a new one-member Raft group"
            );
        }
        Ok(Consensus {
            raft,
            core,
            node_id: opts.node_id,
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

    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow_watched().current_leader == Some(self.node_id)
    }

    /// Submit a command. Commands submitted one after another from one task enter the log in
    /// that order, which is what keeps a session's writes in FIFO order; the returned receiver
    /// yields the outcome once the entry is applied here.
    pub async fn submit(
        &self,
        cmd: Command,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<Applied, ConsensusError>>, ConsensusError>
    {
        let (responder, rx) = ProgressResponder::complete_only();
        self.raft
            .write(cmd)
            .responder(responder)
            .await
            .map_err(|e| ConsensusError::NotAvailable(e.to_string()))?;
        let (tx, out) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let result = match rx.await {
                Ok(Ok(resp)) => Ok(resp.data),
                Ok(Err(e)) => Err(ConsensusError::NotAvailable(e.to_string())),
                Err(_) => Err(ConsensusError::NotAvailable("the write was dropped".into())),
            };
            let _ = tx.send(result);
        });
        Ok(out)
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
        self.raft
            .ensure_linearizable(ReadPolicy::ReadIndex)
            .await
            .map(|_| ())
            .map_err(|e| ConsensusError::NotAvailable(e.to_string()))
    }

    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}
