//! The operations the tester applies to both servers. Plain values: the generator makes them,
//! each target executes them, and a mismatch report prints them.
//!
//! Every path is relative to the seed's root (each target's client is chrooted there), so the
//! two servers see identical paths even if their roots differ.

use std::fmt;

/// Which of a target's sessions sends a write. `Main` has digest auth as [`DIGEST_USER`];
/// `Aux` has no auth and is closed and replaced by [`Op::RestartAux`], which removes its
/// ephemerals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Session {
    Main,
    Aux,
}

/// The digest identity of the main session (`addauth digest corral:secret`).
pub const DIGEST_USER: &str = "corral";
pub const DIGEST_PASSWORD: &str = "secret";
/// `digest:` ACL ids are `user:base64(sha1("user:password"))`; precomputed so that the tester
/// needs no hashing code.
pub const DIGEST_ID: &str = "corral:tdeZho8NbNdHzNl1M0Ah+qD9VmM=";
/// A digest identity no session of the tester holds: nodes protected by it answer NoAuth.
pub const OTHER_DIGEST_ID: &str = "other:uWOxNPxiIiHLpvQQ4KTHakJOm4U=";

/// Create modes, including the extended types (container, TTL) that need
/// `zookeeper.extendedTypesEnabled=true` on ZooKeeper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeMode {
    Persistent,
    Ephemeral,
    Sequential,
    EphemeralSequential,
    Container,
    /// TTL in milliseconds. The generator keeps TTLs far longer than a run, so that the time a
    /// server's reaper happens to run never shows up as a difference.
    Ttl(u64),
    SequentialTtl(u64),
}

impl NodeMode {
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            NodeMode::Sequential | NodeMode::EphemeralSequential | NodeMode::SequentialTtl(_)
        )
    }

    pub fn is_ephemeral(self) -> bool {
        matches!(self, NodeMode::Ephemeral | NodeMode::EphemeralSequential)
    }
}

/// ACL lists the generator chooses from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclKind {
    /// world:anyone, all permissions.
    Open,
    /// world:anyone, READ only.
    ReadOnly,
    /// auth:(creator), all permissions; the server substitutes the session's digest identity,
    /// and refuses it (InvalidACL) for a session without one.
    Creator,
    /// digest:corral, all permissions: the main session may do anything, aux nothing.
    Digest,
    /// digest:other, all permissions: no session of the tester may touch the node.
    OtherDigest,
    /// ip:127.0.0.1, all permissions.
    Ip,
    /// world:anyone READ plus digest:corral all.
    Mixed,
    /// The same entry twice: servers drop duplicates.
    Duplicate,
    /// An unknown scheme: the server answers InvalidACL.
    Invalid,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiOp {
    Create {
        path: String,
        data: Vec<u8>,
        mode: NodeMode,
        acl: AclKind,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        version: Option<i32>,
    },
    Delete {
        path: String,
        version: Option<i32>,
    },
    /// `version` -1 matches any version.
    Check {
        path: String,
        version: i32,
    },
}

/// One read inside a multiRead request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadOp {
    GetData(String),
    GetChildren(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Create {
        session: Session,
        path: String,
        data: Vec<u8>,
        mode: NodeMode,
        acl: AclKind,
    },
    SetData {
        session: Session,
        path: String,
        data: Vec<u8>,
        version: Option<i32>,
    },
    Delete {
        session: Session,
        path: String,
        version: Option<i32>,
    },
    Multi {
        session: Session,
        ops: Vec<MultiOp>,
    },
    /// getData on the main session, optionally leaving a one-shot data watch.
    GetData {
        path: String,
        watch: bool,
    },
    /// getChildren2 on the main session, optionally leaving a one-shot child watch.
    GetChildren {
        path: String,
        watch: bool,
    },
    /// exists on the main session, optionally leaving a one-shot exist/data watch.
    Exists {
        path: String,
        watch: bool,
    },
    GetAcl {
        path: String,
    },
    SetAcl {
        path: String,
        acl: AclKind,
        version: Option<i32>,
    },
    /// getAllChildrenNumber.
    CountDescendants {
        path: String,
    },
    /// getEphemerals of the main session under a path prefix.
    GetEphemerals {
        path: String,
    },
    /// addWatch (persistent or persistent-recursive) on the separate watch session, so that it
    /// never shares a path with the main session's one-shot watches (ZooKeeper keeps one watch
    /// mode per path and connection).
    AddWatch {
        path: String,
        recursive: bool,
    },
    MultiRead {
        reads: Vec<ReadOp>,
    },
    /// whoAmI on the main session.
    WhoAmI,
    Sync {
        path: String,
    },
    /// Closes the aux session (its ephemerals go) and opens a new one.
    RestartAux,
}

impl Op {
    /// The session whose connection carries the op's reply. Watch notifications caused by a
    /// write reach the main session before the reply only when the main session wrote.
    pub fn session(&self) -> Session {
        match self {
            Op::Create { session, .. }
            | Op::SetData { session, .. }
            | Op::Delete { session, .. }
            | Op::Multi { session, .. } => *session,
            Op::RestartAux => Session::Aux,
            _ => Session::Main,
        }
    }

    /// A short name of the op's kind, for coverage counts.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Create { mode, .. } => match mode {
                NodeMode::Persistent => "create persistent",
                NodeMode::Ephemeral => "create ephemeral",
                NodeMode::Sequential => "create sequential",
                NodeMode::EphemeralSequential => "create ephemeral-sequential",
                NodeMode::Container => "create container",
                NodeMode::Ttl(_) => "create ttl",
                NodeMode::SequentialTtl(_) => "create sequential-ttl",
            },
            Op::SetData { .. } => "setData",
            Op::Delete { .. } => "delete",
            Op::Multi { .. } => "multi",
            Op::GetData { watch: false, .. } => "getData",
            Op::GetData { watch: true, .. } => "getData+watch",
            Op::GetChildren { watch: false, .. } => "getChildren2",
            Op::GetChildren { watch: true, .. } => "getChildren2+watch",
            Op::Exists { watch: false, .. } => "exists",
            Op::Exists { watch: true, .. } => "exists+watch",
            Op::GetAcl { .. } => "getACL",
            Op::SetAcl { .. } => "setACL",
            Op::CountDescendants { .. } => "getAllChildrenNumber",
            Op::GetEphemerals { .. } => "getEphemerals",
            Op::AddWatch {
                recursive: false, ..
            } => "addWatch persistent",
            Op::AddWatch {
                recursive: true, ..
            } => "addWatch recursive",
            Op::MultiRead { .. } => "multiRead",
            Op::WhoAmI => "whoAmI",
            Op::Sync { .. } => "sync",
            Op::RestartAux => "restart aux session",
        }
    }

    /// True for operations that can change the tree (and therefore fire watches).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Op::Create { .. }
                | Op::SetData { .. }
                | Op::Delete { .. }
                | Op::Multi { .. }
                | Op::SetAcl { .. }
                | Op::RestartAux
        )
    }
}

/// Byte strings print as text when they are printable ASCII, else as hex.
pub struct ShowBytes<'a>(pub &'a [u8]);

impl fmt::Display for ShowBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            write!(f, "{:?}", String::from_utf8_lossy(self.0))
        } else {
            f.write_str("0x")?;
            for b in self.0 {
                write!(f, "{b:02x}")?;
            }
            Ok(())
        }
    }
}

fn fmt_version(v: Option<i32>) -> String {
    v.map_or_else(|| "-1".to_string(), |v| v.to_string())
}

impl fmt::Display for MultiOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MultiOp::Create {
                path,
                data,
                mode,
                acl,
            } => write!(
                f,
                "create {path} {} mode={mode:?} acl={acl:?}",
                ShowBytes(data)
            ),
            MultiOp::SetData {
                path,
                data,
                version,
            } => write!(
                f,
                "setData {path} {} version={}",
                ShowBytes(data),
                fmt_version(*version)
            ),
            MultiOp::Delete { path, version } => {
                write!(f, "delete {path} version={}", fmt_version(*version))
            }
            MultiOp::Check { path, version } => write!(f, "check {path} version={version}"),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Create {
                session,
                path,
                data,
                mode,
                acl,
            } => write!(
                f,
                "[{session:?}] create {path} {} mode={mode:?} acl={acl:?}",
                ShowBytes(data)
            ),
            Op::SetData {
                session,
                path,
                data,
                version,
            } => write!(
                f,
                "[{session:?}] setData {path} {} version={}",
                ShowBytes(data),
                fmt_version(*version)
            ),
            Op::Delete {
                session,
                path,
                version,
            } => write!(
                f,
                "[{session:?}] delete {path} version={}",
                fmt_version(*version)
            ),
            Op::Multi { session, ops } => {
                write!(f, "[{session:?}] multi [")?;
                for (i, op) in ops.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{op}")?;
                }
                f.write_str("]")
            }
            Op::GetData { path, watch } => write!(f, "getData {path} watch={watch}"),
            Op::GetChildren { path, watch } => write!(f, "getChildren2 {path} watch={watch}"),
            Op::Exists { path, watch } => write!(f, "exists {path} watch={watch}"),
            Op::GetAcl { path } => write!(f, "getACL {path}"),
            Op::SetAcl { path, acl, version } => write!(
                f,
                "setACL {path} acl={acl:?} version={}",
                fmt_version(*version)
            ),
            Op::CountDescendants { path } => write!(f, "getAllChildrenNumber {path}"),
            Op::GetEphemerals { path } => write!(f, "getEphemerals {path}"),
            Op::AddWatch { path, recursive } => write!(
                f,
                "addWatch {path} mode={}",
                if *recursive {
                    "PERSISTENT_RECURSIVE"
                } else {
                    "PERSISTENT"
                }
            ),
            Op::MultiRead { reads } => {
                f.write_str("multiRead [")?;
                for (i, read) in reads.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    match read {
                        ReadOp::GetData(p) => write!(f, "getData {p}")?,
                        ReadOp::GetChildren(p) => write!(f, "getChildren {p}")?,
                    }
                }
                f.write_str("]")
            }
            Op::WhoAmI => f.write_str("whoAmI"),
            Op::Sync { path } => write!(f, "sync {path}"),
            Op::RestartAux => f.write_str("close the aux session and open a new one"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_print_readably() {
        let op = Op::Multi {
            session: Session::Aux,
            ops: vec![
                MultiOp::Check {
                    path: "/a".into(),
                    version: 3,
                },
                MultiOp::SetData {
                    path: "/a".into(),
                    data: vec![0, 255],
                    version: None,
                },
            ],
        };
        assert_eq!(
            op.to_string(),
            "[Aux] multi [check /a version=3; setData /a 0x00ff version=-1]"
        );
        let op = Op::Create {
            session: Session::Main,
            path: "/b".into(),
            data: b"x y".to_vec(),
            mode: NodeMode::Ttl(5),
            acl: AclKind::Open,
        };
        assert_eq!(
            op.to_string(),
            "[Main] create /b \"x y\" mode=Ttl(5) acl=Open"
        );
    }

    #[test]
    fn sessions_and_write_classification() {
        assert_eq!(Op::RestartAux.session(), Session::Aux);
        assert!(Op::RestartAux.is_write());
        let read = Op::GetData {
            path: "/a".into(),
            watch: true,
        };
        assert_eq!(read.session(), Session::Main);
        assert!(!read.is_write());
    }
}
