//! Seeded generation of operations.
//!
//! A seed fixes a ChaCha8 stream. The generator also learns from results (which exist and agree
//! on both servers whenever generation continues): paths that were created, the latest data and
//! ACL versions, and which nodes are containers. That feedback keeps version checks right often
//! enough to succeed, and keeps sequential names reachable by later ops.
//!
//! The namespace is deliberately tiny (three names, depth up to three) so that creates collide
//! (NodeExists), parents are missing (NoNode), deletes meet children (NotEmpty) and versions go
//! stale (BadVersion).

use std::collections::{HashMap, HashSet};

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::op::{AclKind, MultiOp, NodeMode, Op, ReadOp, Session};
use crate::outcome::{MultiItem, Outcome};

const NAMES: [&str; 3] = ["a", "b", "c"];
/// Prefixes for sequential creates. "a" on purpose: `/a0000000001` is a string-prefix sibling
/// of `/a`, which getEphemerals' prefix match must treat exactly as ZooKeeper does.
const SEQUENTIAL_PREFIXES: [&str; 2] = ["s", "a"];
/// Bound on remembered created paths; old ones are forgotten at random.
const KNOWN_LIMIT: usize = 48;
/// TTLs between one hour and one day: never reached during a run (see [`NodeMode::Ttl`]).
const TTL_RANGE_MS: std::ops::RangeInclusive<u64> = 3_600_000..=86_400_000;

pub struct Generator {
    rng: ChaCha8Rng,
    /// Paths known to have been created (sequential names included).
    known: Vec<String>,
    /// Latest (version, aversion) seen per path.
    versions: HashMap<String, (i32, i32)>,
    /// Paths that are containers. Their direct children are never deleted and never ephemeral:
    /// an emptied container is reaped on the server's own schedule, which would make the two
    /// servers differ by timing rather than by behaviour.
    containers: HashSet<String>,
    /// The addWatch mode (recursive or not) of each path the watch session watches. A path
    /// keeps its first mode: ZooKeeper 3.8 holds one mode per path and session, so a second
    /// addWatch with the other mode replaces the first (ZOOKEEPER-4466, changed in 3.9), and
    /// the result would depend on the server version rather than on its correctness.
    watch_modes: HashMap<String, bool>,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            known: Vec::new(),
            versions: HashMap::new(),
            containers: HashSet::new(),
            watch_modes: HashMap::new(),
        }
    }

    /// The next operation. Weights are per 100.
    pub fn next_op(&mut self) -> Op {
        let roll = self.rng.random_range(0..100);
        match roll {
            0..24 => self.create_op(),
            24..36 => Op::SetData {
                session: self.session(),
                path: self.path(),
                data: self.data(),
                version: None,
            }
            .with_version_from(self),
            36..47 => self.delete_op(),
            47..57 => self.multi_op(),
            57..65 => Op::GetData {
                path: self.path(),
                watch: self.rng.random_bool(0.5),
            },
            65..73 => Op::GetChildren {
                path: self.any_path_or_root(),
                watch: self.rng.random_bool(0.5),
            },
            73..81 => Op::Exists {
                path: self.path(),
                watch: self.rng.random_bool(0.5),
            },
            81..84 => Op::GetAcl { path: self.path() },
            84..88 => {
                let path = self.path();
                let version = self.acl_version_for(&path);
                Op::SetAcl {
                    acl: self.acl(),
                    path,
                    version,
                }
            }
            88..91 => Op::CountDescendants {
                path: self.any_path_or_root(),
            },
            91..93 => Op::GetEphemerals {
                path: self.any_path_or_root(),
            },
            93..95 => {
                let path = self.any_path_or_root();
                let wanted = self.rng.random_bool(0.5);
                let recursive = *self.watch_modes.entry(path.clone()).or_insert(wanted);
                Op::AddWatch { path, recursive }
            }
            95..97 => {
                let n = self.rng.random_range(1..=3);
                let reads = (0..n)
                    .map(|_| {
                        if self.rng.random_bool(0.5) {
                            ReadOp::GetData(self.path())
                        } else {
                            ReadOp::GetChildren(self.any_path_or_root())
                        }
                    })
                    .collect();
                Op::MultiRead { reads }
            }
            97 => Op::WhoAmI,
            98 => Op::Sync {
                path: self.any_path_or_root(),
            },
            _ => Op::RestartAux,
        }
    }

    /// Learns from an op's (agreed) outcome.
    pub fn observe(&mut self, op: &Op, outcome: &Outcome) {
        match (op, outcome) {
            (Op::Create { mode, .. }, Outcome::Created { path, stat }) => {
                self.learn_created(path, *mode, stat.version, stat.aversion);
            }
            (Op::Delete { path, .. }, Outcome::Done) => self.forget(path),
            (Op::Multi { ops, .. }, Outcome::Multi(items)) => {
                for (op, item) in ops.iter().zip(items) {
                    match (op, item) {
                        (MultiOp::Create { mode, .. }, MultiItem::Create { path, stat }) => {
                            // Without a stat (ZOOKEEPER-4026) a new node's versions are 0.
                            let (version, aversion) =
                                stat.map_or((0, 0), |s| (s.version, s.aversion));
                            self.learn_created(path, *mode, version, aversion);
                        }
                        (MultiOp::SetData { path, .. }, MultiItem::SetData { stat }) => {
                            self.versions
                                .insert(path.clone(), (stat.version, stat.aversion));
                        }
                        (MultiOp::Delete { path, .. }, MultiItem::Delete) => self.forget(path),
                        _ => {}
                    }
                }
            }
            (Op::RestartAux, _) => {}
            _ => {
                if let (Some(path), Some(stat)) = (op_path(op), outcome.stat()) {
                    self.versions
                        .insert(path.to_string(), (stat.version, stat.aversion));
                }
            }
        }
    }

    fn learn_created(&mut self, path: &str, mode: NodeMode, version: i32, aversion: i32) {
        if !self.known.iter().any(|p| p == path) {
            if self.known.len() >= KNOWN_LIMIT {
                let i = self.rng.random_range(0..self.known.len());
                self.known.swap_remove(i);
            }
            self.known.push(path.to_string());
        }
        self.versions.insert(path.to_string(), (version, aversion));
        if mode == NodeMode::Container {
            self.containers.insert(path.to_string());
        } else {
            self.containers.remove(path);
        }
    }

    fn forget(&mut self, path: &str) {
        self.versions.remove(path);
        self.containers.remove(path);
    }

    fn session(&mut self) -> Session {
        if self.rng.random_bool(0.2) {
            Session::Aux
        } else {
            Session::Main
        }
    }

    /// A path in the small namespace, or one created earlier (often sequential).
    fn path(&mut self) -> String {
        self.path_knowing(0.25)
    }

    /// Like [`Generator::path`], picking a created path with probability `known_share`.
    fn path_knowing(&mut self, known_share: f64) -> String {
        if !self.known.is_empty() && self.rng.random_bool(known_share) {
            return self
                .known
                .choose(&mut self.rng)
                .cloned()
                .unwrap_or_default();
        }
        let depth = match self.rng.random_range(0..10) {
            0..4 => 1,
            4..8 => 2,
            _ => 3,
        };
        let mut path = String::new();
        for _ in 0..depth {
            path.push('/');
            path.push_str(NAMES.choose(&mut self.rng).copied().unwrap_or("a"));
        }
        path
    }

    fn any_path_or_root(&mut self) -> String {
        if self.rng.random_bool(0.15) {
            "/".to_string()
        } else {
            self.path()
        }
    }

    fn data(&mut self) -> Vec<u8> {
        if self.rng.random_bool(0.1) {
            return Vec::new();
        }
        let len = self.rng.random_range(1..=24);
        (0..len).map(|_| self.rng.random()).collect()
    }

    fn mode(&mut self) -> NodeMode {
        match self.rng.random_range(0..100) {
            0..30 => NodeMode::Persistent,
            30..45 => NodeMode::Ephemeral,
            45..60 => NodeMode::Sequential,
            60..70 => NodeMode::EphemeralSequential,
            70..80 => NodeMode::Container,
            80..90 => NodeMode::Ttl(self.rng.random_range(TTL_RANGE_MS)),
            _ => NodeMode::SequentialTtl(self.rng.random_range(TTL_RANGE_MS)),
        }
    }

    fn acl(&mut self) -> AclKind {
        match self.rng.random_range(0..100) {
            0..50 => AclKind::Open,
            50..58 => AclKind::ReadOnly,
            58..66 => AclKind::Creator,
            66..74 => AclKind::Digest,
            74..80 => AclKind::OtherDigest,
            80..88 => AclKind::Ip,
            88..94 => AclKind::Mixed,
            94..97 => AclKind::Duplicate,
            _ => AclKind::Invalid,
        }
    }

    /// A version for a versioned write: mostly absent (-1) or right, sometimes stale or random.
    fn version_for(&mut self, known: Option<i32>) -> Option<i32> {
        let roll = self.rng.random_range(0..100);
        match (roll, known) {
            (0..40, _) => None,
            (40..75, Some(v)) => Some(v),
            (75..90, Some(v)) => Some(v + 1),
            (_, _) => Some(self.rng.random_range(0..3)),
        }
    }

    fn data_version_for(&mut self, path: &str) -> Option<i32> {
        let known = self.versions.get(path).map(|v| v.0);
        self.version_for(known)
    }

    fn acl_version_for(&mut self, path: &str) -> Option<i32> {
        let known = self.versions.get(path).map(|v| v.1);
        self.version_for(known)
    }

    /// Create path and mode, with the container rule applied (see [`Generator::containers`]).
    /// `pending_containers` holds containers an enclosing multi creates before this op.
    fn create_parts(&mut self, pending_containers: &HashSet<String>) -> (String, NodeMode) {
        let mut mode = self.mode();
        let path = if mode.is_sequential() {
            let parent = if self.rng.random_bool(0.3) {
                String::new()
            } else {
                self.path()
            };
            let prefix = SEQUENTIAL_PREFIXES
                .choose(&mut self.rng)
                .copied()
                .unwrap_or("s");
            format!("{parent}/{prefix}")
        } else {
            self.path()
        };
        let parent = parent_of(&path);
        if mode.is_ephemeral()
            && (self.containers.contains(parent) || pending_containers.contains(parent))
        {
            mode = if mode.is_sequential() {
                NodeMode::Sequential
            } else {
                NodeMode::Persistent
            };
        }
        (path, mode)
    }

    fn create_op(&mut self) -> Op {
        let session = self.session();
        let (path, mode) = self.create_parts(&HashSet::new());
        Op::Create {
            session,
            path,
            data: self.data(),
            mode,
            acl: self.acl(),
        }
    }

    fn deletable(&self, path: &str, pending_containers: &HashSet<String>) -> bool {
        let parent = parent_of(path);
        !self.containers.contains(parent) && !pending_containers.contains(parent)
    }

    fn delete_op(&mut self) -> Op {
        let path = self.path();
        if !self.deletable(&path, &HashSet::new()) {
            return Op::Exists { path, watch: false };
        }
        let version = self.data_version_for(&path);
        Op::Delete {
            session: self.session(),
            path,
            version,
        }
    }

    fn multi_op(&mut self) -> Op {
        let session = self.session();
        // Short, and biased towards paths that exist, so that a fair share of multis succeeds
        // (a random five-op multi almost always meets a NoNode).
        let n = self.rng.random_range(1..=4);
        let mut pending_containers = HashSet::new();
        let mut ops = Vec::with_capacity(n);
        for _ in 0..n {
            let op = match self.rng.random_range(0..4) {
                0 => {
                    let (path, mode) = self.create_parts(&pending_containers);
                    if mode == NodeMode::Container {
                        pending_containers.insert(path.clone());
                    }
                    MultiOp::Create {
                        path,
                        data: self.data(),
                        mode,
                        acl: self.acl(),
                    }
                }
                1 => {
                    let path = self.path_knowing(0.6);
                    let version = self.data_version_for(&path);
                    MultiOp::SetData {
                        path,
                        data: self.data(),
                        version,
                    }
                }
                2 => {
                    let path = self.path_knowing(0.6);
                    if self.deletable(&path, &pending_containers) {
                        let version = self.data_version_for(&path);
                        MultiOp::Delete { path, version }
                    } else {
                        MultiOp::Check { path, version: -1 }
                    }
                }
                _ => {
                    let path = self.path_knowing(0.6);
                    let version = self.data_version_for(&path).unwrap_or(-1);
                    MultiOp::Check { path, version }
                }
            };
            ops.push(op);
        }
        Op::Multi { session, ops }
    }
}

trait WithVersion {
    fn with_version_from(self, generator: &mut Generator) -> Self;
}

impl WithVersion for Op {
    /// Fills a setData's version from what the generator knows about its path.
    fn with_version_from(self, generator: &mut Generator) -> Op {
        match self {
            Op::SetData {
                session,
                path,
                data,
                ..
            } => {
                let version = generator.data_version_for(&path);
                Op::SetData {
                    session,
                    path,
                    data,
                    version,
                }
            }
            other => other,
        }
    }
}

/// The parent of an absolute path ("/" for top-level nodes and for "/" itself).
pub fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The single path an op reads or writes, if it has one.
fn op_path(op: &Op) -> Option<&str> {
    match op {
        Op::Create { path, .. }
        | Op::SetData { path, .. }
        | Op::Delete { path, .. }
        | Op::GetData { path, .. }
        | Op::GetChildren { path, .. }
        | Op::Exists { path, .. }
        | Op::GetAcl { path }
        | Op::SetAcl { path, .. } => Some(path),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{NormStat, Owner};

    fn stat(version: i32, aversion: i32) -> NormStat {
        NormStat {
            version,
            cversion: 0,
            aversion,
            owner: Owner::None,
            data_length: 0,
            num_children: 0,
        }
    }

    #[test]
    fn a_seed_names_one_sequence() {
        let run = |seed| {
            let mut generator = Generator::new(seed);
            (0..300).map(|_| generator.next_op()).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn every_kind_of_op_and_mode_is_generated() {
        let mut generator = Generator::new(1);
        let mut kinds = HashSet::new();
        let mut modes = HashSet::new();
        let mut acls = HashSet::new();
        for _ in 0..5000 {
            let op = generator.next_op();
            if let Op::Create { mode, acl, .. } = &op {
                modes.insert(format!("{:?}", mode).split('(').next().unwrap().to_string());
                acls.insert(format!("{acl:?}"));
            }
            kinds.insert(
                format!("{op:?}")
                    .split([' ', '{'])
                    .next()
                    .unwrap()
                    .to_string(),
            );
        }
        for kind in [
            "Create",
            "SetData",
            "Delete",
            "Multi",
            "GetData",
            "GetChildren",
            "Exists",
            "GetAcl",
            "SetAcl",
            "CountDescendants",
            "GetEphemerals",
            "AddWatch",
            "MultiRead",
            "WhoAmI",
            "Sync",
            "RestartAux",
        ] {
            assert!(kinds.contains(kind), "{kind} never generated: {kinds:?}");
        }
        assert_eq!(modes.len(), 7, "{modes:?}");
        assert_eq!(acls.len(), 9, "{acls:?}");
    }

    #[test]
    fn learned_versions_are_used_right_and_wrong() {
        let mut generator = Generator::new(3);
        let create = Op::Create {
            session: Session::Main,
            path: "/a".into(),
            data: vec![],
            mode: NodeMode::Persistent,
            acl: AclKind::Open,
        };
        generator.observe(
            &create,
            &Outcome::Created {
                path: "/a".into(),
                stat: stat(7, 2),
            },
        );
        let versions: HashSet<Option<i32>> =
            (0..200).map(|_| generator.data_version_for("/a")).collect();
        assert!(versions.contains(&Some(7)), "{versions:?}");
        assert!(versions.contains(&Some(8)), "{versions:?}");
        assert!(versions.contains(&None), "{versions:?}");
        let acl_versions: HashSet<Option<i32>> =
            (0..200).map(|_| generator.acl_version_for("/a")).collect();
        assert!(acl_versions.contains(&Some(2)), "{acl_versions:?}");
    }

    #[test]
    fn children_of_containers_are_neither_deleted_nor_ephemeral() {
        let mut generator = Generator::new(11);
        for name in NAMES {
            let path = format!("/{name}");
            let create = Op::Create {
                session: Session::Main,
                path: path.clone(),
                data: vec![],
                mode: NodeMode::Container,
                acl: AclKind::Open,
            };
            generator.observe(
                &create,
                &Outcome::Created {
                    path,
                    stat: stat(0, 0),
                },
            );
        }
        for _ in 0..3000 {
            let op = generator.next_op();
            let check = |path: &str, deleting: bool, mode: Option<NodeMode>| {
                if ["/a", "/b", "/c"].contains(&parent_of(path)) {
                    assert!(!deleting, "deletes a container's child: {op}");
                    if let Some(mode) = mode {
                        assert!(!mode.is_ephemeral(), "ephemeral under a container: {op}");
                    }
                }
            };
            match &op {
                Op::Delete { path, .. } => check(path, true, None),
                Op::Create { path, mode, .. } => check(path, false, Some(*mode)),
                Op::Multi { ops, .. } => {
                    for sub in ops {
                        match sub {
                            MultiOp::Delete { path, .. } => check(path, true, None),
                            MultiOp::Create { path, mode, .. } => check(path, false, Some(*mode)),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }

    #[test]
    fn a_deleted_container_frees_its_children() {
        let mut generator = Generator::new(5);
        let create = Op::Create {
            session: Session::Main,
            path: "/a".into(),
            data: vec![],
            mode: NodeMode::Container,
            acl: AclKind::Open,
        };
        generator.observe(
            &create,
            &Outcome::Created {
                path: "/a".into(),
                stat: stat(0, 0),
            },
        );
        assert!(!generator.deletable("/a/b", &HashSet::new()));
        let delete = Op::Delete {
            session: Session::Main,
            path: "/a".into(),
            version: None,
        };
        generator.observe(&delete, &Outcome::Done);
        assert!(generator.deletable("/a/b", &HashSet::new()));
    }

    #[test]
    fn sequential_names_become_targets() {
        let mut generator = Generator::new(9);
        let create = Op::Create {
            session: Session::Main,
            path: "/b/s".into(),
            data: vec![],
            mode: NodeMode::Sequential,
            acl: AclKind::Open,
        };
        generator.observe(
            &create,
            &Outcome::Created {
                path: "/b/s0000000004".into(),
                stat: stat(0, 0),
            },
        );
        let paths: HashSet<String> = (0..400).map(|_| generator.path()).collect();
        assert!(paths.contains("/b/s0000000004"));
    }

    #[test]
    fn a_watched_path_keeps_its_first_watch_mode() {
        let mut generator = Generator::new(21);
        let mut modes: HashMap<String, bool> = HashMap::new();
        let mut seen = 0;
        for _ in 0..20_000 {
            if let Op::AddWatch { path, recursive } = generator.next_op() {
                seen += 1;
                let first = *modes.entry(path.clone()).or_insert(recursive);
                assert_eq!(first, recursive, "{path} changed its watch mode");
            }
        }
        assert!(seen > 100, "only {seen} addWatch ops");
        assert!(modes.values().any(|r| *r) && modes.values().any(|r| !*r));
    }

    #[test]
    fn parents() {
        assert_eq!(parent_of("/a"), "/");
        assert_eq!(parent_of("/a/b"), "/a");
        assert_eq!(parent_of("/"), "/");
    }
}
