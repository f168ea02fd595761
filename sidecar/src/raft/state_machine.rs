//! openraft's state-machine side: apply committed entries to the shared [`Core`], and build,
//! persist and install snapshots of it.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral_storage::{SnapshotId, SnapshotStore};
use corral_tree::{Applied, Outcome, StateMachine};
use futures_util::{Stream, TryStreamExt};
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, RaftSnapshotBuilder};

use super::TypeConfig;
use super::core::Core;

type Meta = SnapshotMetaOf<TypeConfig>;
type Membership = StoredMembershipOf<TypeConfig>;
type AppliedLogId = Option<LogIdOf<TypeConfig>>;
type Snapshot = SnapshotOf<TypeConfig, Vec<u8>>;

/// Snapshot meta is stored as JSON (small, and robust to openraft's own serde layout); the tree
/// itself as postcard, which is compact for large trees.
fn encode_meta(meta: &Meta) -> io::Result<Vec<u8>> {
    serde_json::to_vec(meta).map_err(io::Error::other)
}

fn decode_meta(bytes: &[u8]) -> io::Result<Meta> {
    serde_json::from_slice(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn encode_tree(sm: &StateMachine) -> io::Result<Vec<u8>> {
    postcard::to_stdvec(sm).map_err(io::Error::other)
}

fn decode_tree(bytes: &[u8]) -> io::Result<StateMachine> {
    postcard::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn snapshot_id(meta: &Meta) -> SnapshotId {
    meta.last_log_id.as_ref().map_or(
        SnapshotId {
            last_index: 0,
            term: 0,
        },
        |id| SnapshotId {
            last_index: id.index,
            term: id.leader_id.term,
        },
    )
}

pub struct StateMachineStore {
    core: Arc<Core>,
    last_applied: AppliedLogId,
    membership: Membership,
    snapshots: Arc<SnapshotStore>,
    retain: usize,
    replay: Option<Replay>,
}

/// How often a slow start-up reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// The re-application of the committed log at start-up, reported while it runs.
struct Replay {
    target: u64,
    started: Instant,
    last_report: Instant,
}

impl Replay {
    /// Called after each applied entry; false once the target is reached.
    fn progress(&mut self, index: u64) -> bool {
        if index >= self.target {
            tracing::info!(
                index,
                elapsed_ms = self.started.elapsed().as_millis() as u64,
                "replayed the committed log"
            );
            return false;
        }
        if self.last_report.elapsed() >= PROGRESS_EVERY {
            self.last_report = Instant::now();
            tracing::info!(
                index,
                target = self.target,
                elapsed_s = self.started.elapsed().as_secs(),
                "replaying the committed log"
            );
        }
        true
    }
}

impl StateMachineStore {
    /// Load the newest valid snapshot, if any, into `core`.
    pub fn open(dir: &Path, core: Arc<Core>, retain: usize) -> io::Result<Self> {
        let snapshots = Arc::new(SnapshotStore::open(dir)?);
        let mut store = StateMachineStore {
            core,
            last_applied: None,
            membership: Membership::default(),
            snapshots,
            retain: retain.max(1),
            replay: None,
        };
        let started = Instant::now();
        if let Some((meta, data)) = store.snapshots.load_latest()? {
            let meta = decode_meta(&meta)?;
            store.restore(&meta, &data)?;
            tracing::info!(
                last_log_id = ?meta.last_log_id,
                bytes = data.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "loaded state from snapshot"
            );
        }
        Ok(store)
    }

    /// Index of the last entry in the loaded state (the snapshot's, right after open).
    pub fn last_applied_index(&self) -> Option<u64> {
        self.last_applied.as_ref().map(|id| id.index)
    }

    /// Report the start-up replay of the log up to `committed` (the log store's committed
    /// index), if there is anything to replay past the snapshot.
    pub fn expect_replay(&mut self, committed: Option<u64>) {
        let from = self.last_applied.as_ref().map_or(0, |id| id.index);
        if let Some(target) = committed.filter(|&c| c > from) {
            tracing::info!(
                from,
                target,
                "replaying the committed log after the snapshot"
            );
            self.replay = Some(Replay {
                target,
                started: Instant::now(),
                last_report: Instant::now(),
            });
        }
    }

    fn restore(&mut self, meta: &Meta, data: &[u8]) -> io::Result<()> {
        let sm = decode_tree(data)?;
        let zxid = meta.last_log_id.as_ref().map_or(0, |id| id.index as i64);
        {
            let mut state = self.core.lock();
            state.sm = sm;
            // Watches were registered against the replaced tree, and the changes between it and
            // the snapshot were never applied here, so nobody was told of them. Closing the
            // connections makes each client reconnect and replay its watches with its last
            // zxid (SetWatches), which fires every event it missed. At start-up nobody is
            // attached yet.
            state.watches = corral_watch::WatchRegistry::new();
            if !state.attached.is_empty() {
                tracing::info!(
                    connections = state.attached.len(),
                    "closing client connections so their watches are set again on the new state"
                );
                for conn in state.attached.values() {
                    conn.outbox.close_now();
                }
            }
        }
        self.core.publish_applied(zxid);
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        Ok(())
    }

    fn nothing(zxid: i64) -> Applied {
        Applied {
            zxid,
            result: Ok(Outcome::Nothing),
            triggers: Vec::new(),
        }
    }
}

pub struct SnapshotBuilder {
    meta: Meta,
    /// The state at `meta.last_log_id`, sharing its nodes with the live tree (copy-on-write).
    state: Option<StateMachine>,
    snapshots: Arc<SnapshotStore>,
    retain: usize,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = Vec<u8>;

    async fn build_snapshot(&mut self) -> io::Result<Snapshot> {
        let meta_bytes = encode_meta(&self.meta)?;
        let id = snapshot_id(&self.meta);
        let snapshots = self.snapshots.clone();
        let state = self
            .state
            .take()
            .ok_or_else(|| io::Error::other("this snapshot builder was already used"))?;
        let retain = self.retain;
        // Encoding a large tree and writing and fsyncing it take a while: off the async
        // workers, and outside the tree's lock, so clients are not held up meanwhile.
        let data = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let data = encode_tree(&state)?;
            drop(state);
            tracing::debug!(
                bytes = data.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "encoded the snapshot"
            );
            snapshots.save(id, &meta_bytes, &data)?;
            snapshots.purge(retain)?;
            Ok::<_, io::Error>(data)
        })
        .await
        .map_err(io::Error::other)??;
        Ok(Snapshot {
            meta: self.meta.clone(),
            snapshot: data,
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> io::Result<(AppliedLogId, Membership)> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> io::Result<()>
    where
        Strm: Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + Send,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            let zxid = entry.log_id.index as i64;
            let applied = match &entry.payload {
                EntryPayload::Normal(cmd) => self.core.lock().apply(zxid, cmd),
                EntryPayload::Blank => Self::nothing(zxid),
                EntryPayload::Membership(m) => {
                    self.membership = Membership::new(Some(entry.log_id), m.clone());
                    self.core.lock().apply_membership(zxid, m);
                    Self::nothing(zxid)
                }
            };
            self.last_applied = Some(entry.log_id);
            self.core.publish_applied(zxid);
            if let Some(replay) = &mut self.replay
                && !replay.progress(entry.log_id.index)
            {
                self.replay = None;
            }
            if let Some(responder) = responder {
                responder.send(applied);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        // A consistent cut at last_applied, copied in O(sessions) under the lock; encoding and
        // writing happen later in build_snapshot, outside it.
        let state = self.core.lock().sm.snapshot_copy();
        SnapshotBuilder {
            meta: Meta {
                last_log_id: self.last_applied,
                last_membership: self.membership.clone(),
            },
            state: Some(state),
            snapshots: self.snapshots.clone(),
            retain: self.retain,
        }
    }

    async fn install_snapshot(&mut self, meta: &Meta, snapshot: Vec<u8>) -> io::Result<()> {
        self.restore(meta, &snapshot)?;
        self.core.count_installed_snapshot();
        tracing::info!(
            last_log_id = ?meta.last_log_id,
            bytes = snapshot.len(),
            "installed a snapshot sent by the leader"
        );
        let meta_bytes = encode_meta(meta)?;
        self.snapshots
            .save(snapshot_id(meta), &meta_bytes, &snapshot)?;
        self.snapshots.purge(self.retain)
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<Snapshot>> {
        match self.snapshots.load_latest()? {
            Some((meta, data)) => Ok(Some(Snapshot {
                meta: decode_meta(&meta)?,
                snapshot: data,
            })),
            None => Ok(None),
        }
    }
}
