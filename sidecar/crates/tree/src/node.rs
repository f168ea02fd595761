//! One znode as the tree stores it, and the Stat a client sees of it.

use std::sync::Arc;

use corral_proto::{Acl, CreateMode, Stat};
use serde::{Deserialize, Serialize};

/// What kind of node this is. ZooKeeper packs this into `ephemeralOwner` (`EphemeralType`);
/// keeping it explicit avoids any clash between session ids and the container/TTL markers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeKind {
    Persistent,
    /// Owned by a session and deleted with it.
    Ephemeral {
        session_id: i64,
    },
    /// Reaped once it had children and has none left.
    Container,
    /// Reaped once it has no children and was not modified for `ttl_ms`.
    Ttl {
        ttl_ms: i64,
    },
}

impl NodeKind {
    pub fn for_create(mode: CreateMode, session_id: i64, ttl_ms: i64) -> Self {
        if mode.is_container() {
            NodeKind::Container
        } else if mode.is_ttl() {
            NodeKind::Ttl { ttl_ms }
        } else if mode.is_ephemeral() {
            NodeKind::Ephemeral { session_id }
        } else {
            NodeKind::Persistent
        }
    }

    /// The `ephemeralOwner` clients see: only real ephemerals show their session; containers and
    /// TTL nodes show 0 (`DataNode.getClientEphemeralOwner`, confirmed on ZooKeeper 3.8.0).
    pub fn client_ephemeral_owner(self) -> i64 {
        match self {
            NodeKind::Ephemeral { session_id } => session_id,
            _ => 0,
        }
    }
}

/// ZooKeeper's `StatPersisted`: the Stat fields that are stored rather than computed.
///
/// `cversion` here counts child *creations*, as ZooKeeper stores it; clients see
/// `2 * cversion - numChildren` (each creation plus each deletion), and sequential names use the
/// stored count. Both quirks are visible to clients, e.g. "/" of a fresh server shows cversion -1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistedStat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub pzxid: i64,
}

impl PersistedStat {
    /// `DataTree.createStat`.
    pub fn created(zxid: i64, time_ms: i64) -> Self {
        PersistedStat {
            czxid: zxid,
            mzxid: zxid,
            ctime: time_ms,
            mtime: time_ms,
            version: 0,
            cversion: 0,
            aversion: 0,
            pzxid: zxid,
        }
    }
}

/// A node's ACL. Shared: the tree keeps one copy of each distinct list (most trees use a
/// handful), as ZooKeeper's `ReferenceCountedACLCache` does.
pub type AclList = Arc<[Acl]>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// `None` when the node was created or last set with null data. ZooKeeper keeps that null
    /// (getData returns it, and clients such as kazoo tell it apart from empty data); sizes and
    /// Stat.dataLength count it as 0 bytes.
    pub data: Option<Vec<u8>>,
    pub acl: AclList,
    pub stat: PersistedStat,
    pub kind: NodeKind,
    /// How many children the node has. The children themselves are found by their keys (see
    /// `path_key`), so no node keeps a list of names.
    pub num_children: i32,
}

impl Node {
    pub fn new(
        data: Option<Vec<u8>>,
        acl: impl Into<AclList>,
        stat: PersistedStat,
        kind: NodeKind,
    ) -> Self {
        Node {
            data,
            acl: acl.into(),
            stat,
            kind,
            num_children: 0,
        }
    }

    /// The data as bytes, null reading as empty: for sizes and quota statistics, where
    /// ZooKeeper counts null as 0 bytes.
    pub fn data_bytes(&self) -> &[u8] {
        self.data.as_deref().unwrap_or_default()
    }

    /// `DataNode.copyStat`: the Stat a client sees.
    pub fn client_stat(&self) -> Stat {
        let num_children = self.num_children;
        Stat {
            czxid: self.stat.czxid,
            mzxid: self.stat.mzxid,
            ctime: self.stat.ctime,
            mtime: self.stat.mtime,
            version: self.stat.version,
            cversion: self
                .stat
                .cversion
                .wrapping_mul(2)
                .wrapping_sub(num_children),
            aversion: self.stat.aversion,
            ephemeral_owner: self.kind.client_ephemeral_owner(),
            data_length: self.data_bytes().len() as i32,
            num_children,
            pzxid: self.stat.pzxid,
        }
    }
}

/// ZooKeeper's approximate size of a node: path length (in UTF-16 units, as Java counts) plus
/// data length.
pub fn approximate_size(path: &str, data: &[u8]) -> u64 {
    (path.encode_utf16().count() + data.len()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_cversion_counts_creations_and_deletions() {
        let mut n = Node::new(
            Some(vec![1, 2]),
            Vec::new(),
            PersistedStat::created(5, 7),
            NodeKind::Persistent,
        );
        assert_eq!(n.client_stat().cversion, 0);
        // Three children created, one deleted: stored 3, visible 3 + 1.
        n.stat.cversion = 3;
        n.num_children = 2;
        let s = n.client_stat();
        assert_eq!((s.cversion, s.num_children, s.data_length), (4, 2, 2));
        // Fresh "/" of ZooKeeper: stored 0 with one child shows -1.
        n.stat.cversion = 0;
        n.num_children = 1;
        assert_eq!(n.client_stat().cversion, -1);
    }

    #[test]
    fn null_data_has_length_zero_and_stays_null() {
        let null = Node::new(
            None,
            Vec::new(),
            PersistedStat::created(5, 7),
            NodeKind::Persistent,
        );
        assert_eq!(null.client_stat().data_length, 0);
        assert_eq!(null.data_bytes(), b"");
        assert_eq!(null.data, None);
        let empty = Node {
            data: Some(Vec::new()),
            ..null.clone()
        };
        assert_eq!(empty.client_stat(), null.client_stat());
        assert_ne!(empty, null);
    }

    #[test]
    fn only_real_ephemerals_show_an_owner() {
        assert_eq!(
            NodeKind::Ephemeral { session_id: 9 }.client_ephemeral_owner(),
            9
        );
        assert_eq!(NodeKind::Container.client_ephemeral_owner(), 0);
        assert_eq!(NodeKind::Ttl { ttl_ms: 5 }.client_ephemeral_owner(), 0);
        assert_eq!(NodeKind::Persistent.client_ephemeral_owner(), 0);
    }

    #[test]
    fn kinds_from_modes() {
        assert_eq!(
            NodeKind::for_create(CreateMode::Container, 3, -1),
            NodeKind::Container
        );
        assert_eq!(
            NodeKind::for_create(CreateMode::PersistentSequentialWithTtl, 3, 10),
            NodeKind::Ttl { ttl_ms: 10 }
        );
        assert_eq!(
            NodeKind::for_create(CreateMode::EphemeralSequential, 3, -1),
            NodeKind::Ephemeral { session_id: 3 }
        );
        assert_eq!(
            NodeKind::for_create(CreateMode::PersistentSequential, 3, -1),
            NodeKind::Persistent
        );
    }

    #[test]
    fn size_counts_utf16_units() {
        assert_eq!(approximate_size("/zookeeper", b""), 10);
        assert_eq!(approximate_size("/é", b"abc"), 5);
    }
}
