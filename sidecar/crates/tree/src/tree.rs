//! The data tree: znodes keyed by path, plus the indexes ZooKeeper keeps beside them
//! (ephemerals per session, containers, TTL nodes, approximate data size).
//!
//! Mutations here assume the caller validated them (see `write.rs`); each records how to undo
//! itself in a [`Journal`], so that a failing multi can put everything back without copying
//! the tree.
//!
//! Memory and snapshots: the nodes live in a persistent (copy-on-write) ordered map keyed by
//! [`PathKey`], whose order puts siblings together, so a node keeps a child count rather than
//! its children's names; ACL lists are shared between the nodes that use the same one. Cloning
//! the tree is O(1) (plus the small indexes), which lets a snapshot copy it under the lock and
//! encode the copy outside it. Only the nodes and quotas are serialized; every index is rebuilt
//! when a snapshot is read.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use corral_proto::{Acl, Stat};
use imbl::OrdMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::node::{AclList, Node, NodeKind, PersistedStat, approximate_size};
use crate::path;
use crate::path_key::{PathKey, PathStr};
use crate::quota::{self, StatsTrack};

#[derive(Clone, Debug)]
pub struct DataTree {
    /// Nodes behind their own pointer: the map's B-tree chunks stay small (a few words per
    /// entry, however large a node is), and copying a chunk for a write during a snapshot
    /// copies pointers, not nodes.
    nodes: OrdMap<PathKey, Arc<Node>>,
    /// Session id -> paths of its ephemeral nodes.
    ephemerals: BTreeMap<i64, BTreeSet<String>>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    /// Sum of `approximate_size` over all nodes, kept up to date on every change.
    data_size: u64,
    /// Paths with a quota (ZooKeeper's `pTrie`), normalized; see `quota.rs`.
    quotas: BTreeSet<String>,
    acls: AclCache,
}

/// Equal trees have equal nodes and quotas; the indexes and the ACL cache follow from those.
impl PartialEq for DataTree {
    fn eq(&self, other: &Self) -> bool {
        self.nodes == other.nodes
            && self.quotas == other.quotas
            && self.data_size == other.data_size
            && self.ephemerals == other.ephemerals
            && self.containers == other.containers
            && self.ttls == other.ttls
    }
}

impl Eq for DataTree {}

/// One shared copy of each distinct ACL list in use.
#[derive(Clone, Debug, Default)]
struct AclCache(HashSet<AclList>);

impl AclCache {
    fn intern(&mut self, acl: AclList) -> AclList {
        if let Some(shared) = self.0.get(&*acl) {
            return shared.clone();
        }
        self.0.insert(acl.clone());
        acl
    }

    /// `acl` is about to be dropped by a node: forget the list once nothing else uses it.
    fn release(&mut self, acl: &AclList) {
        // Two holders: the cache and the departing node.
        if std::sync::Arc::strong_count(acl) == 2 {
            self.0.remove(&**acl);
        }
    }
}

/// What a snapshot stores of the tree: nodes in key order, and the quota paths.
#[derive(Serialize)]
struct StoredTreeRef<'a> {
    #[serde(serialize_with = "nodes_as_seq")]
    nodes: &'a OrdMap<PathKey, Arc<Node>>,
    quotas: &'a BTreeSet<String>,
}

fn nodes_as_seq<S: Serializer>(
    nodes: &&OrdMap<PathKey, Arc<Node>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(nodes.iter())
}

#[derive(Deserialize)]
struct StoredTree {
    nodes: Vec<(PathKey, Node)>,
    quotas: BTreeSet<String>,
}

impl Serialize for DataTree {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StoredTreeRef {
            nodes: &self.nodes,
            quotas: &self.quotas,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for DataTree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = StoredTree::deserialize(deserializer)?;
        let mut tree = DataTree::empty();
        tree.quotas = stored.quotas;
        for (path, node) in stored.nodes {
            tree.insert_indexed(path.as_str(), node);
        }
        Ok(tree)
    }
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
        acl: AclList,
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
        let mut tree = DataTree::empty();
        let system = |acl: Vec<Acl>, aversion: i32| {
            let stat = PersistedStat {
                aversion,
                ..PersistedStat::default()
            };
            Node::new(Some(Vec::new()), acl, stat, NodeKind::Persistent)
        };
        for p in [path::ROOT, path::ZOOKEEPER, path::QUOTA] {
            tree.insert_indexed(p, system(Acl::open_unsafe(), 0));
        }
        tree.insert_indexed(path::CONFIG, system(Acl::read_unsafe(), -1));
        // Linked directly, without counting as child creations (stored cversion stays 0).
        for p in [path::ZOOKEEPER, path::QUOTA, path::CONFIG] {
            let (parent, _) = path::split_last(p).expect("system paths have a slash");
            tree.node_mut(parent).num_children += 1;
        }
        tree
    }

    /// What a snapshot stores of this tree, copied in O(1) (plus the quota paths): the nodes
    /// are shared until either side changes them. Only for serializing: its indexes are empty.
    pub fn snapshot_copy(&self) -> DataTree {
        DataTree {
            nodes: self.nodes.clone(),
            quotas: self.quotas.clone(),
            ..DataTree::empty()
        }
    }

    /// No nodes at all, not even "/": the start of [`DataTree::new`] and of reading a snapshot.
    fn empty() -> Self {
        DataTree {
            nodes: OrdMap::new(),
            ephemerals: BTreeMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            data_size: 0,
            quotas: BTreeSet::new(),
            acls: AclCache::default(),
        }
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(PathStr::new(key(path))).map(|n| &**n)
    }

    pub fn contains(&self, path: &str) -> bool {
        self.nodes.contains_key(PathStr::new(key(path)))
    }

    /// A node to change; copied first if a snapshot still shares it.
    fn node_mut(&mut self, path: &str) -> &mut Node {
        Arc::make_mut(
            self.nodes
                .get_mut(PathStr::new(key(path)))
                .expect("mutation of a node the caller checked exists"),
        )
    }

    /// The children of `parent` as (name, node), in name order: a range scan, since siblings
    /// are neighbours in the map (see `path_key`).
    pub fn children<'a>(&'a self, parent: &str) -> impl Iterator<Item = (&'a str, &'a Node)> + 'a {
        let parent = key(parent);
        // The smallest key of a child of `parent` would be `parent/` (an empty name); for the
        // root, that key is "/" itself, which is the root node and so excluded too.
        let (lower, parent_part) = if parent == path::ROOT {
            (path::ROOT.to_string(), String::new())
        } else {
            (format!("{parent}/"), parent.to_string())
        };
        self.nodes
            .range::<_, PathStr>((Bound::Excluded(PathStr::new(&lower)), Bound::Unbounded))
            .map(|(k, n)| (PathStr::new(k.as_str()).split(), &**n))
            .take_while(move |((p, _), _)| *p == parent_part)
            .map(|((_, name), n)| (name, n))
    }

    /// Every node below `path` (not `path` itself), parents before their children.
    fn descendants<'a>(&'a self, path: &str) -> impl Iterator<Item = (String, &'a Node)> + 'a {
        let mut stack = vec![key(path).to_string()];
        let mut pending: Vec<(String, &'a Node)> = Vec::new();
        std::iter::from_fn(move || {
            loop {
                if let Some(next) = pending.pop() {
                    stack.push(next.0.clone());
                    return Some(next);
                }
                let parent = stack.pop()?;
                pending.extend(
                    self.children(&parent)
                        .map(|(name, n)| (path::join(&parent, name), n)),
                );
                pending.reverse();
            }
        })
    }

    fn insert_indexed(&mut self, path: &str, mut node: Node) {
        node.acl = self.acls.intern(node.acl);
        self.data_size += approximate_size(path, node.data_bytes());
        match node.kind {
            NodeKind::Ephemeral { session_id } => {
                self.ephemerals
                    .entry(session_id)
                    .or_default()
                    .insert(path.to_string());
            }
            NodeKind::Container => {
                self.containers.insert(path.to_string());
            }
            NodeKind::Ttl { .. } => {
                self.ttls.insert(path.to_string());
            }
            NodeKind::Persistent => {}
        }
        self.nodes.insert(PathKey::new(path), Arc::new(node));
    }

    fn remove_indexed(&mut self, path: &str) -> Node {
        let node = self
            .nodes
            .remove(PathStr::new(path))
            .map(Arc::unwrap_or_clone)
            .expect("removal of a node the caller checked exists");
        self.acls.release(&node.acl);
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
        parent_node.num_children += 1;
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
        self.insert_indexed(path, node);
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
        let (mut count, mut bytes) = (1, node.data_bytes().len() as i64);
        for (_, n) in self.descendants(path) {
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
        let Some(node) = self.get(&stat_path) else {
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
        parent_node.num_children -= 1;
        if zxid > parent_node.stat.pzxid {
            parent_node.stat.pzxid = zxid;
        }
        let node = self.remove_indexed(path);
        debug_assert_eq!(node.num_children, 0, "deleted {path} with children");
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
        let node = self.node_mut(path);
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
        acl: impl Into<AclList>,
        aversion: i32,
        journal: &mut Journal,
    ) -> Stat {
        let path = key(path);
        let acl = self.acls.intern(acl.into());
        let node = self.node_mut(path);
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
                    let p = self.node_mut(&parent);
                    p.num_children -= 1;
                    p.stat = parent_stat;
                }
                Undo::Deleted {
                    path,
                    parent,
                    node,
                    parent_stat,
                } => {
                    let p = self.node_mut(&parent);
                    p.num_children += 1;
                    p.stat = parent_stat;
                    self.insert_indexed(&path, node);
                }
                Undo::DataSet { path, data, stat } => {
                    self.restore_data(&path, data);
                    self.node_mut(&path).stat = stat;
                }
                Undo::AclSet { path, acl, stat } => {
                    let acl = self.acls.intern(acl);
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
        self.descendants(path).count()
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

    /// Every node, siblings together (see `path_key`), "/" first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(p, n)| (p.as_str(), &**n))
    }

    /// Distinct ACL lists held in common by the nodes.
    pub fn distinct_acls(&self) -> usize {
        self.acls.0.len()
    }

    /// Recompute every index from the nodes and compare; for tests and debugging.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut size = 0;
        let mut eph: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
        let (mut containers, mut ttls) = (BTreeSet::new(), BTreeSet::new());
        let mut children: BTreeMap<&str, i32> = BTreeMap::new();
        for (p, n) in self.nodes.iter() {
            let p = p.as_str();
            size += approximate_size(p, n.data_bytes());
            match n.kind {
                NodeKind::Ephemeral { session_id } => {
                    eph.entry(session_id).or_default().insert(p.to_string());
                }
                NodeKind::Container => {
                    containers.insert(p.to_string());
                }
                NodeKind::Ttl { .. } => {
                    ttls.insert(p.to_string());
                }
                NodeKind::Persistent => {}
            }
            if p != path::ROOT {
                let (parent, _) = path::split_last(p).ok_or(format!("{p} has no parent"))?;
                self.get(parent).ok_or(format!("{p} is an orphan"))?;
                *children.entry(key(parent)).or_default() += 1;
            }
            if !self.acls.0.contains(&n.acl) {
                return Err(format!("{p} has an ACL list outside the cache"));
            }
        }
        for (p, n) in self.nodes.iter() {
            let counted = children.get(p.as_str()).copied().unwrap_or(0);
            if n.num_children != counted {
                return Err(format!(
                    "{} counts {} children, has {counted}",
                    p.as_str(),
                    n.num_children
                ));
            }
            if self.children(p.as_str()).count() != counted as usize {
                return Err(format!("{} children are not neighbours", p.as_str()));
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
        assert_eq!(*config.acl, *Acl::read_unsafe());
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
