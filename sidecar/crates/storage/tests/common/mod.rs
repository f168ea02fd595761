//! Test-only Raft type config, an in-memory state machine whose snapshots go through
//! `SnapshotStore`, and helpers for driving `LogStore` directly.

#![allow(dead_code)]

use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use corral_storage::{LogStore, LogStoreOptions, SnapshotId, SnapshotStore};
use futures_util::StreamExt;
use openraft::storage::{EntryResponder, IOFlushed, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::type_config::TypeConfigExt;
use openraft::type_config::alias::{
    LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf, VoteOf,
};
use openraft::vote::RaftLeaderIdExt;
use openraft::{
    Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, RaftTypeConfig, SnapshotMeta,
};
use serde::{Deserialize, Serialize};

openraft::declare_raft_types!(
    /// Raft types for the storage tests: string commands, u64 node ids, `BasicNode`.
    pub TestConfig: D = String, R = String
);

pub type TC = TestConfig;

pub fn log_id(term: u64, index: u64) -> LogIdOf<TC> {
    LogId::new(
        <TC as RaftTypeConfig>::LeaderId::new_committed(term, 1),
        index,
    )
}

pub fn blank(term: u64, index: u64) -> <TC as RaftTypeConfig>::Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Blank,
    }
}

/// A normal entry whose payload is `size` bytes, to fill segments quickly.
pub fn normal(term: u64, index: u64, size: usize) -> <TC as RaftTypeConfig>::Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(format!("{index:>size$}")),
    }
}

pub fn vote(term: u64, node: u64) -> VoteOf<TC> {
    openraft::Vote::new(term, node)
}

/// Appends and waits until the store reports the batch durable.
pub async fn append_durably(
    store: &mut LogStore<TC>,
    entries: Vec<<TC as RaftTypeConfig>::Entry>,
) -> io::Result<()> {
    let (tx, rx) = TC::oneshot();
    store.append(entries, IOFlushed::signal(tx)).await?;
    rx.await.map_err(|e| io::Error::other(e.to_string()))?
}

pub fn open(dir: &Path, segment_size: u64) -> LogStore<TC> {
    LogStore::open(
        dir,
        LogStoreOptions {
            segment_size,
            ..Default::default()
        },
    )
    .expect("open log store")
}

/// Runs `f` with a subscriber that records this thread's log output, returned as text.
pub fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf(Arc::new(Mutex::new(Vec::new())));
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
    (out, text)
}

/// Everything the test state machine holds; also its snapshot format.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SmState {
    pub last_applied: Option<LogIdOf<TC>>,
    pub membership: StoredMembershipOf<TC>,
    pub data: Vec<String>,
}

/// In-memory state machine that persists its snapshots through [`SnapshotStore`].
pub struct MemStateMachine {
    pub state: SmState,
    pub snapshots: Arc<SnapshotStore>,
}

impl MemStateMachine {
    pub fn new(dir: &Path) -> Self {
        MemStateMachine {
            state: SmState::default(),
            snapshots: Arc::new(SnapshotStore::open(dir).expect("open snapshot store")),
        }
    }
}

fn encode<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(io::Error::other)
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn persist(store: &SnapshotStore, meta: &SnapshotMetaOf<TC>, data: &[u8]) -> io::Result<()> {
    let Some(last) = &meta.last_log_id else {
        return Ok(());
    };
    let id = SnapshotId {
        last_index: last.index,
        term: last.leader_id.term,
    };
    store.save(id, &encode(meta)?, data)
}

pub struct MemSnapshotBuilder {
    state: SmState,
    snapshots: Arc<SnapshotStore>,
}

impl RaftSnapshotBuilder<TC> for MemSnapshotBuilder {
    type SnapshotData = Vec<u8>;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<TC, Vec<u8>>, io::Error> {
        let meta = SnapshotMeta {
            last_log_id: self.state.last_applied,
            last_membership: self.state.membership.clone(),
        };
        let data = encode(&self.state)?;
        persist(&self.snapshots, &meta, &data)?;
        self.snapshots.purge(2)?;
        Ok(Snapshot {
            meta,
            snapshot: data,
        })
    }
}

impl RaftStateMachine<TC> for MemStateMachine {
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = MemSnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogIdOf<TC>>, StoredMembershipOf<TC>), io::Error> {
        Ok((self.state.last_applied, self.state.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: futures_util::Stream<Item = Result<EntryResponder<TC>, io::Error>>
            + Unpin
            + OptionalSend,
    {
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            self.state.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(d) => self.state.data.push(d),
                EntryPayload::Membership(m) => {
                    self.state.membership = StoredMembershipOf::<TC>::new(Some(entry.log_id), m);
                }
            }
            if let Some(responder) = responder {
                responder.send(String::new());
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        MemSnapshotBuilder {
            state: self.state.clone(),
            snapshots: self.snapshots.clone(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<TC>,
        snapshot: Vec<u8>,
    ) -> Result<(), io::Error> {
        let state: SmState = decode(&snapshot)?;
        persist(&self.snapshots, meta, &snapshot)?;
        self.snapshots.purge(1)?;
        self.state = state;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<SnapshotOf<TC, Vec<u8>>>, io::Error> {
        let Some((meta, data)) = self.snapshots.load_latest()? else {
            return Ok(None);
        };
        Ok(Some(Snapshot {
            meta: decode(&meta)?,
            snapshot: data,
        }))
    }
}
