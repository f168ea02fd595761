//! The data tree: znodes keyed by path, plus the indexes ZooKeeper keeps beside them
//! (ephemerals per session, containers, TTL nodes, approximate data size).
//!
//! Mutations here assume the caller validated them (see `write.rs`); each records how to undo
//! itself in a [`Journal`], so that a failing multi can put everything back without copying
//! the tree.

use std::collections::{BTreeMap, BTreeSet};

use corral_proto::{Acl, Stat};
use serde::{Deserialize, Serialize};

use crate::node::{Node, NodeKind, PersistedStat, approximate_size};
use crate::path;
use crate::quota::{self, StatsTrack};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataTree {
    nodes: BTreeMap<String, Node>,
    /// Session id -> paths of its ephemeral nodes.
    ephemerals: BTreeMap<i64, BTreeSet<String>>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    /// Sum of `approximate_size` over all nodes, kept up to date on every change.
    data_size: u64,
    /// Paths with a quota (ZooKeeper's `pTrie`), normalized; see `quota.rs`.
    quotas: BTreeSet<String>,
}

/// How to revert one mutation.
#[derive(Debug)]
enum Undo {
    Created {
        path: String,
        parent: String,
        parent_stat: PersistedStat,
    },
    Deleted {
        path: String,
        parent: String,
        node: Node,
        parent_stat: PersistedStat,
    },
    DataSet {
        path: String,
        data: Option<Vec<u8>>,
        stat: PersistedStat,
    },
    AclSet {
        path: String,
        acl: Vec<Acl>,
        stat: PersistedStat,
    },
    /// A quota statistics node's data was rewritten (its Stat was not touched).
    StatsData {
        path: String,
        data: Option<Vec<u8>>,
    },
    QuotaAdded {
        path: String,
    },
    QuotasRemoved {
        paths: Vec<String>,
    },
}

/// The undo log of one command; [`DataTree::rollback`] replays it backwards.
#[derive(Debug, Default)]
pub struct Journal(Vec<Undo>);

impl Journal {
    /// Append `later`, whose changes happened after this journal's.
    pub fn extend(&mut self, later: Journal) {
        self.0.extend(later.0);
    }
}

/// ZooKeeper's root is reachable both as "/" and as "" (the parent part of "/a").
fn key(path: &str) -> &str {
    if path.is_empty() { path::ROOT } else { path }
}

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

impl DataTree {
    /// The tree of a fresh ZooKeeper 3.8 server: "/", "/zookeeper", "/zookeeper/quota" and
    /// "/zookeeper/config", all with zero stats and empty data. Only the config node differs: it
    /// is world-readable only, and its aversion is -1 because ZooKeeper sets that ACL with
    /// version -1 (`DataTree.addConfigNode`; both confirmed on a running 3.8.0).
    pub fn new() -> Self {
        let mut tree = DataTree {
            nodes: BTreeMap::new(),
            ephemerals: BTreeMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            data_size: 0,
            quotas: BTreeSet::new(),
        };
        let system = |acl: Vec<Acl>, aversion: i32| {
            let stat = PersistedStat {
                aversion,
                ..PersistedStat::default()
            };
            Node::new(Some(Vec::new()), acl, stat, NodeKind::Persistent)
        };
        for p in [path::ROOT, path::ZOOKEEPER, path::QUOTA] {
            tree.insert_indexed(p.to_string(), system(Acl::open_unsafe(), 0));
        }
        tree.insert_indexed(path::CONFIG.to_string(), system(Acl::read_unsafe(), -1));
        // Linked directly, without counting as child creations (stored cversion stays 0).
        for p in [path::ZOOKEEPER, path::QUOTA, path::CONFIG] {
            let (parent, name) = path::split_last(p).expect("system paths have a slash");
            tree.node_mut(parent).children.insert(name.to_string());
        }
        tree
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(key(path))
    }

    pub fn contains(&self, path: &str) -> bool {
        self.nodes.contains_key(key(path))
    }

    fn node_mut(&mut self, path: &str) -> &mut Node {
        self.nodes
            .get_mut(key(path))
            .expect("mutation of a node the caller checked exists")
    }

    fn insert_indexed(&mut self, path: String, node: Node) {
        self.data_size += approximate_size(&path, node.data_bytes());
        match node.kind {
            NodeKind::Ephemeral { session_id } => {
                self.ephemerals
                    .entry(session_id)
                    .or_default()
                    .insert(path.clone());
            }
            NodeKind::Container => {
                self.containers.insert(path.clone());
            }
            NodeKind::Ttl { .. } => {
                self.ttls.insert(path.clone());
            }
            NodeKind::Persistent => {}
        }
        self.nodes.insert(path, node);
    }

    fn remove_indexed(&mut self, path: &str) -> Node {
        let node = self
            .nodes
            .remove(path)
            .expect("removal of a node the caller checked exists");
        self.data_size -= approximate_size(path, node.data_bytes());
        match node.kind {
            NodeKind::Ephemeral { session_id } => {
                if let Some(set) = self.ephemerals.get_mut(&session_id) {
                    set.remove(path);
                    if set.is_empty() {
                        self.ephemerals.remove(&session_id);
                    }
                }
            }
            NodeKind::Container => {
                self.containers.remove(path);
            }
            NodeKind::Ttl { .. } => {
                self.ttls.remove(path);
            }
            NodeKind::Persistent => {}
        }
        node
    }

    /// `DataTree.createNode`: add `node` at `path` under `parent` (which must exist, without a
    /// child of that name), count a child creation on the parent and set its pzxid.
    pub fn create(&mut self, path: &str, node: Node, zxid: i64, journal: &mut Journal) -> Stat {
        let (parent, name) = path::split_last(path).expect("validated create path");
        let parent = key(parent).to_string();
        let parent_node = self.node_mut(&parent);
        let parent_stat = parent_node.stat;
        parent_node.children.insert(name.to_string());
        // ZooKeeper only moves cversion forward (it guards against replays); at i32 overflow the
        // guard keeps the old value, and so do we.
        let next = parent_stat.cversion.wrapping_add(1);
        if next > parent_node.stat.cversion {
            parent_node.stat.cversion = next;
            parent_node.stat.pzxid = zxid;
        }
        // The Stat is taken before any quota bookkeeping rewrites a statistics node's data, as
        // ZooKeeper copies it inside createNode.
        let stat = node.client_stat();
        let bytes = node.data_bytes().len() as i64;
        self.insert_indexed(path.to_string(), node);
        journal.0.push(Undo::Created {
            path: path.to_string(),
            parent: parent.clone(),
            parent_stat,
        });
        if parent.starts_with(path::QUOTA) {
            let target = quota::trim_quota_path(&parent)
                .unwrap_or_default()
                .to_string();
            if name == quota::LIMIT_NODE && !quota::components(&target).is_empty() {
                let normalized = quota::normalize(&target);
                if self.quotas.insert(normalized.clone()) {
                    journal.0.push(Undo::QuotaAdded { path: normalized });
                }
            }
            if name == quota::STAT_NODE {
                let (count, bytes) = self.subtree_totals(&target);
                self.write_stats(path, StatsTrack::new(count, bytes), journal);
            }
        }
        self.count_in_quota(path, 1, bytes, journal);
        stat
    }

    /// `DataTree.getCounts`: nodes and data bytes of the subtree at `path` (0, 0 if missing).
    fn subtree_totals(&self, path: &str) -> (i64, i64) {
        // ZooKeeper looks the path up literally, with "" meaning the root.
        let Some(node) = self.get(path) else {
            return (0, 0);
        };
        let prefix = format!("{}/", key(path).trim_end_matches('/'));
        let below = self
            .nodes
            .range::<str, _>((
                std::ops::Bound::Included(prefix.as_str()),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(p, _)| p.starts_with(&prefix));
        let (mut count, mut bytes) = (1, node.data_bytes().len() as i64);
        for (_, n) in below {
            count += 1;
            bytes += n.data_bytes().len() as i64;
        }
        (count, bytes)
    }

    /// `updateQuotaStat`: add to the statistics of the quota covering `path`, if any.
    fn count_in_quota(&mut self, path: &str, count: i64, bytes: i64, journal: &mut Journal) {
        if self.quotas.is_empty() {
            return;
        }
        let Some(prefix) = quota::max_prefix(self.quotas.iter(), path).cloned() else {
            return;
        };
        let stat_path = quota::stat_path(&prefix);
        let Some(node) = self.nodes.get(&stat_path) else {
            tracing::warn!(quota = %prefix, "quota statistics node missing");
            return;
        };
        let Some(mut stats) = StatsTrack::parse(node.data_bytes()) else {
            tracing::warn!(path = %stat_path, "quota statistics unreadable; left unchanged");
            return;
        };
        stats.add(count, bytes);
        self.write_stats(&stat_path, stats, journal);
    }

    /// Rewrite a statistics node's data without touching its Stat, as ZooKeeper does.
    fn write_stats(&mut self, path: &str, stats: StatsTrack, journal: &mut Journal) {
        let data = stats.to_text().into_bytes();
        let new_size = approximate_size(path, &data);
        let node = self.node_mut(path);
        let old = node.data.replace(data);
        let old_size = approximate_size(path, old.as_deref().unwrap_or_default());
        self.data_size = self.data_size - old_size + new_size;
        journal.0.push(Undo::StatsData {
            path: path.to_string(),
            data: old,
        });
    }

    /// `DataTree.deleteNode`: remove a childless node; the parent's pzxid moves to `zxid`, its
    /// stored cversion does not change (the visible one does, through numChildren).
    pub fn delete(&mut self, path: &str, zxid: i64, journal: &mut Journal) {
        let (parent, name) = path::split_last(path).expect("validated delete path");
        let parent = key(parent).to_string();
        let parent_node = self.node_mut(&parent);
        let parent_stat = parent_node.stat;
        parent_node.children.remove(name);
        if zxid > parent_node.stat.pzxid {
            parent_node.stat.pzxid = zxid;
        }
        let node = self.remove_indexed(path);
        debug_assert!(node.children.is_empty(), "deleted {path} with children");
        let bytes = node.data_bytes().len() as i64;
        let name = name.to_string();
        journal.0.push(Undo::Deleted {
            path: path.to_string(),
            parent: parent.clone(),
            node,
            parent_stat,
        });
        // Removing a limit node drops that quota and every quota nested below it (ZooKeeper's
        // PathTrie.deletePath removes the whole trie subtree).
        if parent.starts_with(path::ZOOKEEPER) && name == quota::LIMIT_NODE {
            let target = quota::trim_quota_path(&parent).unwrap_or_default();
            let root = quota::components(target);
            if !root.is_empty() {
                let gone: Vec<String> = self
                    .quotas
                    .iter()
                    .filter(|q| quota::components(q).starts_with(&root))
                    .cloned()
                    .collect();
                for q in &gone {
                    self.quotas.remove(q);
                }
                if !gone.is_empty() {
                    journal.0.push(Undo::QuotasRemoved { paths: gone });
                }
            }
        }
        self.count_in_quota(path, -1, -bytes, journal);
    }

    /// `DataTree.setData`.
    pub fn set_data(
        &mut self,
        path: &str,
        data: Option<Vec<u8>>,
        version: i32,
        zxid: i64,
        time_ms: i64,
        journal: &mut Journal,
    ) -> Stat {
        let path = key(path);
        let node = self.nodes.get_mut(path).expect("validated setData path");
        let old_stat = node.stat;
        let old_data = std::mem::replace(&mut node.data, data);
        let old_bytes = old_data.as_deref().unwrap_or_default();
        node.stat.version = version;
        node.stat.mtime = time_ms;
        node.stat.mzxid = zxid;
        let stat = node.client_stat();
        let bytes_diff = node.data_bytes().len() as i64 - old_bytes.len() as i64;
        let new_size = approximate_size(path, node.data_bytes());
        self.data_size = self.data_size - approximate_size(path, old_bytes) + new_size;
        journal.0.push(Undo::DataSet {
            path: path.to_string(),
            data: old_data,
            stat: old_stat,
        });
        self.count_in_quota(path, 0, bytes_diff, journal);
        stat
    }

    /// `DataTree.setACL`.
    pub fn set_acl(
        &mut self,
        path: &str,
        acl: Vec<Acl>,
        aversion: i32,
        journal: &mut Journal,
    ) -> Stat {
        let path = key(path);
        let node = self.nodes.get_mut(path).expect("validated setACL path");
        let old_stat = node.stat;
        let old_acl = std::mem::replace(&mut node.acl, acl);
        node.stat.aversion = aversion;
        let stat = node.client_stat();
        journal.0.push(Undo::AclSet {
            path: path.to_string(),
            acl: old_acl,
            stat: old_stat,
        });
        stat
    }

    /// Revert everything recorded in `journal`, newest first.
    pub fn rollback(&mut self, journal: Journal) {
        for undo in journal.0.into_iter().rev() {
            match undo {
                Undo::Created {
                    path,
                    parent,
                    parent_stat,
                } => {
                    self.remove_indexed(&path);
                    let (_, name) = path::split_last(&path).expect("created path");
                    let p = self.node_mut(&parent);
                    p.children.remove(name);
                    p.stat = parent_stat;
                }
                Undo::Deleted {
                    path,
                    parent,
                    node,
                    parent_stat,
                } => {
                    let (_, name) = path::split_last(&path).expect("deleted path");
                    let p = self.node_mut(&parent);
                    p.children.insert(name.to_string());
                    p.stat = parent_stat;
                    self.insert_indexed(path, node);
                }
                Undo::DataSet { path, data, stat } => {
                    self.restore_data(&path, data);
                    self.node_mut(&path).stat = stat;
                }
                Undo::AclSet { path, acl, stat } => {
                    let node = self.node_mut(&path);
                    node.acl = acl;
                    node.stat = stat;
                }
                Undo::StatsData { path, data } => self.restore_data(&path, data),
                Undo::QuotaAdded { path } => {
                    self.quotas.remove(&path);
                }
                Undo::QuotasRemoved { paths } => self.quotas.extend(paths),
            }
        }
    }

    /// Put back a node's earlier data during rollback, keeping `data_size` in step.
    fn restore_data(&mut self, path: &str, data: Option<Vec<u8>>) {
        let size = approximate_size(path, data.as_deref().unwrap_or_default());
        let node = self.node_mut(path);
        let current = std::mem::replace(&mut node.data, data);
        let current_size = approximate_size(path, current.as_deref().unwrap_or_default());
        self.data_size = self.data_size - current_size + size;
    }

    /// Number of nodes below `path`, at any depth (`DataTree.getAllChildrenNumber`).
    pub fn descendant_count(&self, path: &str) -> usize {
        let path = key(path);
        if path == path::ROOT {
            return self.nodes.len() - 1;
        }
        let prefix = format!("{path}/");
        self.nodes
            .range::<str, _>((
                std::ops::Bound::Included(prefix.as_str()),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(p, _)| p.starts_with(&prefix))
            .count()
    }

    /// Paths of the ephemeral nodes owned by `session_id`, in path order.
    pub fn ephemerals_of(&self, session_id: i64) -> impl Iterator<Item = &str> {
        self.ephemerals
            .get(&session_id)
            .into_iter()
            .flat_map(|set| set.iter().map(String::as_str))
    }

    pub fn ephemerals(&self) -> impl Iterator<Item = (i64, &BTreeSet<String>)> {
        self.ephemerals.iter().map(|(id, set)| (*id, set))
    }

    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(BTreeSet::len).sum()
    }

    pub fn containers(&self) -> impl Iterator<Item = &str> {
        self.containers.iter().map(String::as_str)
    }

    pub fn ttls(&self) -> impl Iterator<Item = &str> {
        self.ttls.iter().map(String::as_str)
    }

    /// Real znodes, "/" included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Paths that carry a quota, normalized ("/app").
    pub fn quotas(&self) -> impl Iterator<Item = &str> {
        self.quotas.iter().map(String::as_str)
    }

    pub fn data_size(&self) -> u64 {
        self.data_size
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(p, n)| (p.as_str(), n))
    }

    /// Recompute every index from the nodes and compare; for tests and debugging.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut size = 0;
        let mut eph: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
        let (mut containers, mut ttls) = (BTreeSet::new(), BTreeSet::new());
        for (p, n) in &self.nodes {
            size += approximate_size(p, n.data_bytes());
            match n.kind {
                NodeKind::Ephemeral { session_id } => {
                    eph.entry(session_id).or_default().insert(p.clone());
                }
                NodeKind::Container => {
                    containers.insert(p.clone());
                }
                NodeKind::Ttl { .. } => {
                    ttls.insert(p.clone());
                }
                NodeKind::Persistent => {}
            }
            if p != path::ROOT {
                let (parent, name) = path::split_last(p).ok_or(format!("{p} has no parent"))?;
                let parent = self.get(parent).ok_or(format!("{p} is an orphan"))?;
                if !parent.children.contains(name) {
                    return Err(format!("{p} missing from its parent's children"));
                }
            }
            for c in &n.children {
                if !self.nodes.contains_key(&path::join(p, c)) {
                    return Err(format!("{p} lists missing child {c}"));
                }
            }
        }
        if size != self.data_size {
            return Err(format!("data size {} != recomputed {size}", self.data_size));
        }
        if eph != self.ephemerals || containers != self.containers || ttls != self.ttls {
            return Err("kind indexes out of date".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(kind: NodeKind, zxid: i64) -> Node {
        Node::new(
            Some(b"d".to_vec()),
            Acl::open_unsafe(),
            PersistedStat::created(zxid, 100),
            kind,
        )
    }

    #[test]
    fn fresh_tree_matches_zookeeper() {
        let t = DataTree::new();
        assert_eq!(t.len(), 4);
        assert_eq!(t.data_size(), 1 + 10 + 16 + 17);
        let root = t.get("/").unwrap();
        assert_eq!(root.client_stat().cversion, -1);
        assert_eq!(t.get("").unwrap(), root);
        assert_eq!(t.get("/zookeeper").unwrap().client_stat().cversion, -2);
        let config = t.get("/zookeeper/config").unwrap();
        assert_eq!(config.acl, Acl::read_unsafe());
        assert_eq!(config.client_stat().aversion, -1);
        assert_eq!(t.descendant_count("/"), 3);
        assert_eq!(t.descendant_count("/zookeeper"), 2);
        t.check_invariants().unwrap();
    }

    #[test]
    fn rollback_restores_everything() {
        let mut t = DataTree::new();
        let mut j = Journal::default();
        t.create("/a", leaf(NodeKind::Persistent, 1), 1, &mut j);
        t.create(
            "/a/e",
            leaf(NodeKind::Ephemeral { session_id: 7 }, 1),
            1,
            &mut j,
        );
        let before = t.clone();
        let mut j = Journal::default();
        t.create("/a/c", leaf(NodeKind::Container, 2), 2, &mut j);
        t.create("/a/t", leaf(NodeKind::Ttl { ttl_ms: 5 }, 2), 2, &mut j);
        t.set_data("/a", Some(b"longer data".to_vec()), 1, 2, 200, &mut j);
        t.set_acl("/a", Acl::read_unsafe(), 1, &mut j);
        t.delete("/a/e", 2, &mut j);
        t.delete("/a/t", 2, &mut j);
        t.check_invariants().unwrap();
        assert_ne!(t, before);
        t.rollback(j);
        assert_eq!(t, before);
        t.check_invariants().unwrap();
    }

    #[test]
    fn rollback_restores_quota_bookkeeping() {
        let mut t = DataTree::new();
        let mut j = Journal::default();
        for p in ["/app", "/zookeeper/quota/app"] {
            t.create(p, leaf(NodeKind::Persistent, 1), 1, &mut j);
        }
        let limits = "/zookeeper/quota/app/zookeeper_limits";
        let stats = "/zookeeper/quota/app/zookeeper_stats";
        let before = t.clone();
        let mut j = Journal::default();
        t.create(limits, leaf(NodeKind::Persistent, 2), 2, &mut j);
        t.create(stats, leaf(NodeKind::Persistent, 2), 2, &mut j);
        assert_eq!(t.get(stats).unwrap().data_bytes(), b"count=1,bytes=1");
        t.create("/app/x", leaf(NodeKind::Persistent, 2), 2, &mut j);
        t.set_data("/app/x", Some(b"four".to_vec()), 1, 2, 200, &mut j);
        assert_eq!(t.get(stats).unwrap().data_bytes(), b"count=2,bytes=5");
        assert_eq!(t.quotas().collect::<Vec<_>>(), vec!["/app"]);
        t.delete(limits, 2, &mut j);
        assert_eq!(t.quotas().count(), 0);
        t.create(limits, leaf(NodeKind::Persistent, 2), 2, &mut j);
        t.check_invariants().unwrap();
        t.rollback(j);
        assert_eq!(t, before);
        assert_eq!(t.quotas().count(), 0);
        t.check_invariants().unwrap();
    }

    #[test]
    fn rollback_restores_existing_quotas_and_their_statistics() {
        let mut t = DataTree::new();
        let mut j = Journal::default();
        let limits = "/zookeeper/quota/app/zookeeper_limits";
        let stats = "/zookeeper/quota/app/zookeeper_stats";
        for p in ["/app", "/zookeeper/quota/app", limits, stats] {
            t.create(p, leaf(NodeKind::Persistent, 1), 1, &mut j);
        }
        let before = t.clone();
        let mut j = Journal::default();
        t.create("/app/x", leaf(NodeKind::Persistent, 2), 2, &mut j);
        t.set_data("/app", Some(b"four".to_vec()), 1, 2, 200, &mut j);
        assert_eq!(t.get(stats).unwrap().data_bytes(), b"count=2,bytes=5");
        t.delete(limits, 2, &mut j);
        assert_eq!(t.quotas().count(), 0);
        t.rollback(j);
        assert_eq!(t, before);
        assert_eq!(t.get(stats).unwrap().data_bytes(), b"count=1,bytes=1");
        assert_eq!(t.quotas().collect::<Vec<_>>(), vec!["/app"]);
        t.check_invariants().unwrap();
    }

    #[test]
    fn counts_descendants_by_prefix_only() {
        let mut t = DataTree::new();
        let mut j = Journal::default();
        for p in ["/a", "/a/b", "/a/b/c", "/ab", "/a-"] {
            t.create(p, leaf(NodeKind::Persistent, 1), 1, &mut j);
        }
        assert_eq!(t.descendant_count("/a"), 2);
        assert_eq!(t.descendant_count("/a/b/c"), 0);
        assert_eq!(t.descendant_count("/"), 8);
    }
}
