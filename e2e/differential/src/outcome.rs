//! Normalised results: what two ZooKeeper-compatible servers must agree on.
//!
//! Fields that legitimately differ between two servers are dropped or reduced here, once, so
//! that comparing is plain equality:
//! - `czxid`, `mzxid`, `pzxid`, `ctime`, `mtime` depend on each server's history and clock;
//! - `ephemeralOwner` is a session id, which differs per server; it is reduced to which of the
//!   tester's sessions owns the node (none, main, aux, another);
//! - child lists and other server-side sets arrive in no defined order and are sorted.

use std::fmt;

use crate::op::ShowBytes;

/// Who owns an ephemeral node, as far as the tester can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// `ephemeralOwner` is zero (persistent, container and TTL nodes).
    None,
    Main,
    Aux,
    /// A session id the tester does not hold (e.g. an aux session already closed).
    Other,
}

impl Owner {
    pub fn classify(ephemeral_owner: i64, main: i64, aux: i64) -> Owner {
        if ephemeral_owner == 0 {
            Owner::None
        } else if ephemeral_owner == main {
            Owner::Main
        } else if ephemeral_owner == aux {
            Owner::Aux
        } else {
            Owner::Other
        }
    }
}

/// A Stat without the fields two servers cannot share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormStat {
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub owner: Owner,
    pub data_length: i32,
    pub num_children: i32,
}

impl fmt::Display for NormStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{version={} cversion={} aversion={} owner={:?} dataLength={} numChildren={}}}",
            self.version,
            self.cversion,
            self.aversion,
            self.owner,
            self.data_length,
            self.num_children
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiItem {
    Check,
    Delete,
    /// `stat` is `None` when the server answered the create2 inside the multi with a plain
    /// create result, as ZooKeeper before 3.9 does (ZOOKEEPER-4026).
    Create {
        path: String,
        stat: Option<NormStat>,
    },
    SetData {
        stat: NormStat,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadItem {
    Data { data: Vec<u8>, stat: NormStat },
    Children { children: Vec<String> },
    Failed { error: String },
}

/// The normalised result of one [`crate::op::Op`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// create: the path actually created (sequential suffix included) and its stat.
    Created {
        path: String,
        stat: NormStat,
    },
    /// setData, setACL.
    Stat(NormStat),
    /// delete, sync, addWatch, restarting the aux session.
    Done,
    Data {
        data: Vec<u8>,
        stat: NormStat,
    },
    /// getChildren2; children sorted.
    Children {
        children: Vec<String>,
        stat: NormStat,
    },
    Exists(Option<NormStat>),
    /// ACL entries as `scheme:id=perms`, in the server's order.
    Acl {
        acl: Vec<String>,
        stat: NormStat,
    },
    Count(usize),
    /// getEphemerals paths or whoAmI identities, sorted.
    Names(Vec<String>),
    Multi(Vec<MultiItem>),
    MultiRead(Vec<ReadItem>),
    /// The server (or the connection) answered with an error.
    Failed {
        error: String,
    },
    /// A multi was refused at `index` with `error`.
    MultiFailed {
        index: usize,
        error: String,
    },
}

impl Outcome {
    pub fn failed(error: impl Into<String>) -> Outcome {
        Outcome::Failed {
            error: error.into(),
        }
    }

    /// The stat this outcome carries, if any (used to learn versions for later ops).
    pub fn stat(&self) -> Option<&NormStat> {
        match self {
            Outcome::Created { stat, .. }
            | Outcome::Stat(stat)
            | Outcome::Data { stat, .. }
            | Outcome::Children { stat, .. }
            | Outcome::Acl { stat, .. } => Some(stat),
            Outcome::Exists(stat) => stat.as_ref(),
            _ => None,
        }
    }

    /// "ok", or the error's name: what coverage counts group results by.
    pub fn label(&self) -> String {
        match self {
            Outcome::Failed { error } => error.clone(),
            Outcome::MultiFailed { error, .. } => format!("failed op: {error}"),
            _ => "ok".to_string(),
        }
    }

    /// True when the error means the connection or the server is gone rather than a semantic
    /// answer; continuing the run after that only produces noise.
    pub fn is_transport_failure(&self) -> bool {
        match self {
            Outcome::Failed { error } => TRANSPORT_ERRORS.iter().any(|e| error.starts_with(e)),
            _ => false,
        }
    }
}

/// Error names that describe the link, not the tree.
pub const TRANSPORT_ERRORS: &[&str] = &[
    "ConnectionLoss",
    "SessionExpired",
    "ClientClosed",
    "Timeout",
    "NoHosts",
];

impl fmt::Display for MultiItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MultiItem::Check => f.write_str("check ok"),
            MultiItem::Delete => f.write_str("delete ok"),
            MultiItem::Create {
                path,
                stat: Some(stat),
            } => write!(f, "created {path} {stat}"),
            MultiItem::Create { path, stat: None } => write!(f, "created {path} (no stat)"),
            MultiItem::SetData { stat } => write!(f, "setData ok {stat}"),
        }
    }
}

impl fmt::Display for ReadItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadItem::Data { data, stat } => write!(f, "data {} {stat}", ShowBytes(data)),
            ReadItem::Children { children } => write!(f, "children {children:?}"),
            ReadItem::Failed { error } => write!(f, "error {error}"),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Created { path, stat } => write!(f, "created {path} {stat}"),
            Outcome::Stat(stat) => write!(f, "ok {stat}"),
            Outcome::Done => f.write_str("ok"),
            Outcome::Data { data, stat } => write!(f, "data {} {stat}", ShowBytes(data)),
            Outcome::Children { children, stat } => write!(f, "children {children:?} {stat}"),
            Outcome::Exists(None) => f.write_str("does not exist"),
            Outcome::Exists(Some(stat)) => write!(f, "exists {stat}"),
            Outcome::Acl { acl, stat } => write!(f, "acl {acl:?} {stat}"),
            Outcome::Count(n) => write!(f, "count {n}"),
            Outcome::Names(names) => write!(f, "{names:?}"),
            Outcome::Multi(items) => {
                f.write_str("multi ok [")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Outcome::MultiRead(items) => {
                f.write_str("multiRead [")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Outcome::Failed { error } => write!(f, "error {error}"),
            Outcome::MultiFailed { index, error } => {
                write!(f, "multi failed at op {index}: {error}")
            }
        }
    }
}

/// Whether the candidate's outcome matches the reference's. Equality, with one allowance for
/// a difference between ZooKeeper versions: ZooKeeper 3.8 answers a create2 inside a multi
/// without its stat (ZOOKEEPER-4026, fixed in 3.9), so when the reference reports no stat
/// there, any stat from the candidate is accepted (later reads still check the node).
pub fn agrees(reference: &Outcome, candidate: &Outcome) -> bool {
    if reference == candidate {
        return true;
    }
    match (reference, candidate) {
        (Outcome::Multi(expected), Outcome::Multi(got)) => {
            expected.len() == got.len()
                && expected.iter().zip(got).all(|pair| match pair {
                    (
                        MultiItem::Create {
                            path: expected_path,
                            stat: None,
                        },
                        MultiItem::Create { path, .. },
                    ) => expected_path == path,
                    (expected, got) => expected == got,
                })
        }
        _ => false,
    }
}

/// A watch notification as the tester compares it. `watch` is the index of the op that
/// registered the watch, which is the same on both servers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Event {
    pub watch: usize,
    pub kind: String,
    pub path: String,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "watch of op {}: {} {}", self.watch, self.kind, self.path)
    }
}

/// Sorts events so that the comparison does not depend on the order in which one op's events
/// were delivered: ZooKeeper removes a closed session's ephemerals in hash-set order, so a
/// recursive watch sees those deletions in no defined order. Events of different ops are never
/// mixed, so the order across ops is still compared.
pub fn normalise_events(mut events: Vec<Event>) -> Vec<Event> {
    events.sort();
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(version: i32) -> NormStat {
        NormStat {
            version,
            cversion: 0,
            aversion: 0,
            owner: Owner::None,
            data_length: 1,
            num_children: 0,
        }
    }

    #[test]
    fn owners_are_classified_by_session() {
        assert_eq!(Owner::classify(0, 5, 6), Owner::None);
        assert_eq!(Owner::classify(5, 5, 6), Owner::Main);
        assert_eq!(Owner::classify(6, 5, 6), Owner::Aux);
        assert_eq!(Owner::classify(7, 5, 6), Owner::Other);
    }

    #[test]
    fn a_changed_stat_field_is_a_difference() {
        let a = Outcome::Data {
            data: b"x".to_vec(),
            stat: stat(1),
        };
        let mut b = a.clone();
        assert_eq!(a, b);
        if let Outcome::Data { stat, .. } = &mut b {
            stat.version = 2;
        }
        assert_ne!(a, b);
    }

    #[test]
    fn a_multi_create_without_stat_accepts_any_stat_but_not_another_path() {
        let reference = Outcome::Multi(vec![
            MultiItem::Check,
            MultiItem::Create {
                path: "/a".into(),
                stat: None,
            },
        ]);
        let with_stat = |path: &str| {
            Outcome::Multi(vec![
                MultiItem::Check,
                MultiItem::Create {
                    path: path.into(),
                    stat: Some(stat(0)),
                },
            ])
        };
        assert!(agrees(&reference, &reference));
        assert!(agrees(&reference, &with_stat("/a")));
        assert!(!agrees(&reference, &with_stat("/b")));
        // The allowance is one-way: a reference stat must be matched.
        assert!(!agrees(&with_stat("/a"), &reference));
        assert!(!agrees(&reference, &Outcome::Multi(vec![MultiItem::Check])));
        assert!(!agrees(&Outcome::Done, &Outcome::failed("NoNode")));
    }

    #[test]
    fn transport_failures_are_recognised() {
        assert!(Outcome::failed("ConnectionLoss").is_transport_failure());
        assert!(Outcome::failed("Timeout after 10s").is_transport_failure());
        assert!(!Outcome::failed("NoNode").is_transport_failure());
        assert!(!Outcome::Done.is_transport_failure());
    }

    #[test]
    fn events_of_one_op_compare_as_a_set() {
        let e = |watch, path: &str| Event {
            watch,
            kind: "NodeDeleted".into(),
            path: path.into(),
        };
        assert_eq!(
            normalise_events(vec![e(3, "/b"), e(1, "/a")]),
            normalise_events(vec![e(1, "/a"), e(3, "/b")])
        );
    }

    #[test]
    fn outcomes_print_their_content() {
        let out = Outcome::MultiFailed {
            index: 2,
            error: "NoNode".into(),
        };
        assert_eq!(out.to_string(), "multi failed at op 2: NoNode");
        assert_eq!(
            Outcome::Created {
                path: "/a0000000001".into(),
                stat: stat(0)
            }
            .to_string(),
            "created /a0000000001 {version=0 cversion=0 aversion=0 owner=None dataLength=1 numChildren=0}"
        );
    }
}
