//! The replicated log's payload and what applying it yields. This is the contract between the
//! Raft glue (which proposes and applies commands) and the data tree (which interprets them).

use corral_proto::{Acl, CreateMode, ErrorCode, EventType, Id, Stat};
use serde::{Deserialize, Serialize};

/// One Raft log entry's payload. `time_ms` is the proposing leader's wall clock (ms since the
/// epoch); ctime/mtime, TTL expiry and session bookkeeping use it and nothing else.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub time_ms: i64,
    pub kind: CommandKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CommandKind {
    /// A client's write. `auth` holds every identity of the caller's connection (including its
    /// `ip` id, and `super` when it authenticated as the super user); ACLs are checked against
    /// them at apply time. `owner` is the connection's owner token: a write from a connection
    /// that no longer owns the session fails with SessionMoved.
    Write {
        session_id: i64,
        owner: u64,
        auth: Vec<Id>,
        op: WriteOp,
    },
    /// A new session. The leader draws `password` when proposing; the id comes from the state
    /// machine. Outcome: [`Outcome::SessionCreated`].
    CreateSession {
        timeout_ms: i32,
        password: [u8; 16],
        owner: u64,
    },
    /// A client reconnecting with (id, password) on connection `owner`. Fails with
    /// SessionExpired when the session is unknown or the password differs; otherwise the session
    /// is now owned by `owner`. Outcome: [`Outcome::SessionResumed`].
    ResumeSession {
        session_id: i64,
        password: [u8; 16],
        owner: u64,
    },
    /// A client's closeSession or the leader's expiry. Removes the session and, in the same
    /// entry, all its ephemeral nodes. Closing an unknown session is a no-op that succeeds.
    CloseSession { session_id: i64 },
    /// Leader-proposed removal of an empty container (`deleteContainer`). Apply re-checks that
    /// the node is still a container with no children, and otherwise does nothing.
    ReapContainer { path: String },
    /// Leader-proposed removal of an expired TTL node. Apply re-checks, with this entry's time,
    /// that the node is a TTL node with no children whose `mtime + ttl` has passed.
    ReapTtl { path: String },
    /// Does nothing; used to commit a barrier (e.g. the leader's first entry).
    Noop,
}

/// A client write, already decoded and version-checked for shape (not for state).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WriteOp {
    /// create / create2 / createContainer / createTTL: the wire flavour only changes the reply,
    /// which the server picks. `ttl_ms` is meaningful only for TTL modes; pass -1 (ZooKeeper's
    /// value for plain creates) or 0 otherwise. A positive `ttl_ms` with a non-TTL mode is
    /// refused with BadArguments, as ZooKeeper refuses a createTTL whose flags are not a TTL mode.
    Create {
        path: String,
        /// `None` is null data (the client sent the null buffer), kept distinct from empty data
        /// because ZooKeeper stores it and getData hands it back as null.
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        mode: CreateMode,
        ttl_ms: i64,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        /// `None` is null data, as for [`WriteOp::Create`].
        data: Option<Vec<u8>>,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    /// Only valid inside a multi.
    Check {
        path: String,
        version: i32,
    },
    Multi(Vec<WriteOp>),
}

/// The result of applying one command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// `path` is the actual path (with the sequential suffix, if any).
    Created {
        path: String,
        stat: Stat,
    },
    Deleted,
    DataSet {
        stat: Stat,
    },
    AclSet {
        stat: Stat,
    },
    Checked,
    /// One result per sub-op, in order, with ZooKeeper's pattern on failure: sub-ops before the
    /// failing one report `Err(ErrorCode::Ok)`, the failing one its code, later ones
    /// `Err(ErrorCode::RuntimeInconsistency)`. When any sub-op fails nothing is changed.
    Multi(Vec<Result<Outcome, ErrorCode>>),
    SessionCreated {
        session_id: i64,
        timeout_ms: i32,
    },
    SessionResumed {
        timeout_ms: i32,
    },
    SessionClosed,
    Reaped,
    Nothing,
}

/// A change that may fire watches, in the order it happened. The server's watch manager maps
/// these to notifications (including persistent and recursive watches).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchTrigger {
    pub path: String,
    pub event: EventType,
    /// The ACL a watcher needs READ on to be told: the changed node's, or for
    /// NodeChildrenChanged the parent's (ZooKeeper checks it since CVE-2024-23944, 3.8.4/3.9.2).
    pub acl: crate::node::AclList,
}

/// What [`StateMachine::apply`](crate::StateMachine) returns for one entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    /// The entry's zxid (its Raft log index).
    pub zxid: i64,
    pub result: Result<Outcome, ErrorCode>,
    pub triggers: Vec<WatchTrigger>,
}

/// A one-line summary for logs (openraft requires `Display` of its log payload). Data, ACLs,
/// passwords and auth ids are left out on purpose.
impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            CommandKind::Write { session_id, op, .. } => {
                write!(f, "write(session=0x{session_id:x}, {op})")?
            }
            CommandKind::CreateSession { timeout_ms, .. } => {
                write!(f, "createSession(timeout={timeout_ms}ms)")?
            }
            CommandKind::ResumeSession { session_id, .. } => {
                write!(f, "resumeSession(0x{session_id:x})")?
            }
            CommandKind::CloseSession { session_id } => {
                write!(f, "closeSession(0x{session_id:x})")?
            }
            CommandKind::ReapContainer { path } => write!(f, "reapContainer({path})")?,
            CommandKind::ReapTtl { path } => write!(f, "reapTtl({path})")?,
            CommandKind::Noop => write!(f, "noop")?,
        }
        write!(f, " at {}", self.time_ms)
    }
}

impl std::fmt::Display for WriteOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteOp::Create { path, mode, .. } => write!(f, "create {path} {mode:?}"),
            WriteOp::Delete { path, version } => write!(f, "delete {path} v{version}"),
            WriteOp::SetData { path, version, .. } => write!(f, "setData {path} v{version}"),
            WriteOp::SetAcl { path, version, .. } => write!(f, "setACL {path} v{version}"),
            WriteOp::Check { path, version } => write!(f, "check {path} v{version}"),
            WriteOp::Multi(ops) => {
                write!(f, "multi[")?;
                for (i, op) in ops.iter().enumerate() {
                    if i > 0 {
                        write!(f, "; ")?;
                    }
                    write!(f, "{op}")?;
                }
                write!(f, "]")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_line_without_secrets() {
        let cmd = Command {
            time_ms: 7,
            kind: CommandKind::Write {
                session_id: 255,
                owner: 1,
                auth: vec![Id::new("digest", "alice:secret-hash")],
                op: WriteOp::Multi(vec![
                    WriteOp::Create {
                        path: "/a".into(),
                        data: Some(b"payload".to_vec()),
                        acl: Acl::open_unsafe(),
                        mode: CreateMode::Ephemeral,
                        ttl_ms: -1,
                    },
                    WriteOp::Delete {
                        path: "/b".into(),
                        version: 3,
                    },
                ]),
            },
        };
        assert_eq!(
            cmd.to_string(),
            "write(session=0xff, multi[create /a Ephemeral; delete /b v3]) at 7"
        );
        let create = Command {
            time_ms: 1,
            kind: CommandKind::CreateSession {
                timeout_ms: 30_000,
                password: [0xab; 16],
                owner: 2,
            },
        };
        assert_eq!(create.to_string(), "createSession(timeout=30000ms) at 1");
    }
}
