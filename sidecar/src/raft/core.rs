//! The applied state that the Raft state machine and the client connections share.
//!
//! The data tree, the watch registry and the connections' outboxes sit behind ONE lock. Applying
//! an entry fires its watches while holding it, and a read registers its watch while holding it,
//! so a read in one session can never miss the write of another that lands between the read and
//! its watch registration (ZooKeeper's CommitProcessor promise).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use corral_proto::{Id, WatcherEvent, encode_notification, perms};
use corral_tree::{Applied, Command, CommandKind, StateMachine, TreeOptions, WatchTrigger};
use corral_watch::{Notification, WatchRegistry};
use tokio::sync::watch;

pub use super::outbox::{Outbox, OutboxLimits, OutboxReceiver, Outgoing};

/// The connection currently attached to a session on this member.
pub struct Attached {
    pub outbox: Outbox,
    /// The connection's identities: a watcher is told of a change only if these grant READ on
    /// the changed node (ZooKeeper's check since CVE-2024-23944).
    pub auth: Vec<Id>,
    /// A read-only session served while this member has no quorum; closed when it returns so
    /// the client reconnects read-write.
    pub read_only: bool,
}

impl Attached {
    /// Queue a watch notification for this connection.
    pub fn notify(&self, zxid: i64, note: &Notification) {
        let event = WatcherEvent {
            event_type: note.event as i32,
            state: corral_proto::KeeperState::SyncConnected as i32,
            path: note.path.clone(),
        };
        let _ = self.outbox.send_frame(encode_notification(zxid, &event));
    }
}

pub struct CoreState {
    pub sm: StateMachine,
    pub watches: WatchRegistry,
    pub attached: HashMap<i64, Attached>,
}

impl CoreState {
    /// Apply one committed entry: change the tree, fire watches, and close connections of
    /// sessions that ended. Watch notifications are queued before the caller answers the
    /// writer, so they leave before the reply that caused them.
    pub fn apply(&mut self, zxid: i64, cmd: &Command) -> Applied {
        let applied = self.sm.apply(zxid, cmd);
        self.notify(zxid, &applied.triggers);
        if let CommandKind::CloseSession { session_id } = &cmd.kind {
            self.watches.remove_session(*session_id);
            // A client that closed its own session has already detached its outbox; one still
            // attached here means the session expired under a live connection.
            if let Some(conn) = self.attached.remove(session_id) {
                conn.outbox.close_now();
            }
        }
        applied
    }

    /// Queue the notifications that `triggers` (changes made at `zxid`) owe to watchers with
    /// READ on the changed node.
    pub(crate) fn notify(&mut self, zxid: i64, triggers: &[WatchTrigger]) {
        for trigger in triggers {
            for note in self.watches.trigger(&trigger.path, trigger.event) {
                let Some(conn) = self.attached.get(&note.session) else {
                    continue;
                };
                if corral_tree::acl::check(&trigger.acl, perms::READ, &conn.auth).is_err() {
                    continue;
                }
                conn.notify(zxid, &note);
            }
        }
    }
}

pub struct Core {
    state: Mutex<CoreState>,
    applied_zxid: watch::Sender<i64>,
    /// Snapshots received from a leader and installed since this process started.
    snapshots_installed: AtomicU64,
}

impl Core {
    pub fn new(opts: TreeOptions) -> Self {
        Core {
            state: Mutex::new(CoreState {
                sm: StateMachine::new(opts),
                watches: WatchRegistry::new(),
                attached: HashMap::new(),
            }),
            applied_zxid: watch::Sender::new(0),
            snapshots_installed: AtomicU64::new(0),
        }
    }

    /// Lock the shared state. Holders must not await.
    pub fn lock(&self) -> MutexGuard<'_, CoreState> {
        // A panic while holding the lock is a bug that already crashed a task; the state itself
        // is only changed by apply, which does not panic on any input, so keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn snapshots_installed(&self) -> u64 {
        self.snapshots_installed.load(Ordering::Relaxed)
    }

    pub(crate) fn count_installed_snapshot(&self) {
        self.snapshots_installed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn applied_zxid(&self) -> i64 {
        *self.applied_zxid.borrow()
    }

    pub fn subscribe_applied(&self) -> watch::Receiver<i64> {
        self.applied_zxid.subscribe()
    }

    pub(crate) fn publish_applied(&self, zxid: i64) {
        self.applied_zxid.send_replace(zxid);
    }

    /// Wait until the local applied zxid reaches `zxid`.
    pub async fn wait_applied(&self, zxid: i64) {
        let mut rx = self.subscribe_applied();
        let _ = rx.wait_for(|applied| *applied >= zxid).await;
    }
}
