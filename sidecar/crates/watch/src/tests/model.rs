//! Random operation sequences checked against a deliberately naive model: a set of
//! (session, path, kind) triples scanned linearly, with the ZooKeeper rules written out directly.

use std::collections::{BTreeMap, BTreeSet};

use corral_proto::{EventType, WatcherType};
use proptest::prelude::*;

use crate::{NoWatcher, Notification, SessionId, WatchRegistry};

const PATHS: [&str; 8] = ["/", "/a", "/a/b", "/a/b/c", "/ab", "/ab/c", "/b", "/b/a"];
const SESSIONS: [SessionId; 4] = [-7, 1, 2, 3];
const NODE_EVENTS: [EventType; 5] = [
    EventType::NodeCreated,
    EventType::NodeDeleted,
    EventType::NodeDataChanged,
    EventType::NodeChildrenChanged,
    EventType::None,
];
const KINDS: [WatcherType; 5] = [
    WatcherType::Children,
    WatcherType::Data,
    WatcherType::Any,
    WatcherType::Persistent,
    WatcherType::PersistentRecursive,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Data,
    Child,
    Persistent,
    Recursive,
}

#[derive(Clone, Debug)]
enum Op {
    Add(SessionId, &'static str, Kind),
    Trigger(&'static str, EventType),
    Remove(SessionId, &'static str, WatcherType),
    RemoveSession(SessionId),
    Replay(Box<ReplayInput>),
}

#[derive(Clone, Debug)]
struct ReplayInput {
    session: SessionId,
    relative_zxid: i64,
    lists: [Vec<String>; 5],
    /// (mzxid, pzxid) per entry of PATHS, None = missing node.
    tree: Vec<Option<(i64, i64)>>,
}

#[derive(Default)]
struct Model {
    watches: BTreeSet<(SessionId, String, Kind)>,
}

fn is_strict_descendant(path: &str, ancestor: &str) -> bool {
    if ancestor == "/" {
        path != "/"
    } else {
        path.starts_with(&format!("{ancestor}/"))
    }
}

impl Model {
    fn trigger(&mut self, path: &str, event: EventType) -> Vec<Notification> {
        use Kind::*;
        let (on_path, consumed): (&[Kind], &[Kind]) = match event {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                (&[Data, Persistent, Recursive], &[Data])
            }
            EventType::NodeDeleted => (&[Data, Child, Persistent, Recursive], &[Data, Child]),
            EventType::NodeChildrenChanged => (&[Child, Persistent], &[Child]),
            _ => (&[], &[]),
        };
        let ancestors_see_it = !on_path.is_empty() && event != EventType::NodeChildrenChanged;
        let notified: BTreeSet<SessionId> = self
            .watches
            .iter()
            .filter(|(_, p, k)| {
                (p == path && on_path.contains(k))
                    || (*k == Recursive && ancestors_see_it && is_strict_descendant(path, p))
            })
            .map(|(s, _, _)| *s)
            .collect();
        self.watches
            .retain(|(_, p, k)| !(p == path && consumed.contains(k)));
        notified
            .into_iter()
            .map(|session| Notification {
                session,
                event,
                path: path.to_string(),
            })
            .collect()
    }

    fn selected(kind: WatcherType) -> &'static [Kind] {
        match kind {
            WatcherType::Children => &[Kind::Child],
            WatcherType::Data => &[Kind::Data],
            WatcherType::Persistent => &[Kind::Persistent],
            WatcherType::PersistentRecursive => &[Kind::Recursive],
            WatcherType::Any => &[Kind::Data, Kind::Child, Kind::Persistent, Kind::Recursive],
        }
    }

    fn contains(&self, session: SessionId, path: &str, kind: WatcherType) -> bool {
        Self::selected(kind)
            .iter()
            .any(|k| self.watches.contains(&(session, path.to_string(), *k)))
    }

    fn remove(
        &mut self,
        session: SessionId,
        path: &str,
        kind: WatcherType,
    ) -> Result<(), NoWatcher> {
        let before = self.watches.len();
        self.watches
            .retain(|(s, p, k)| !(*s == session && p == path && Self::selected(kind).contains(k)));
        if self.watches.len() == before {
            return Err(NoWatcher {
                session,
                path: path.to_string(),
                kind,
            });
        }
        Ok(())
    }

    fn replay(&mut self, input: &ReplayInput) -> Vec<Notification> {
        let lookup = |path: &str| input.tree[PATHS.iter().position(|p| *p == path).unwrap()];
        let rel = input.relative_zxid;
        let [data, exist, child, persistent, recursive] = &input.lists;
        let mut sent = Vec::new();
        let mut send = |event, path: &String| {
            sent.push(Notification {
                session: input.session,
                event,
                path: path.clone(),
            })
        };
        for path in data {
            match lookup(path) {
                None => send(EventType::NodeDeleted, path),
                Some((m, _)) if m > rel => send(EventType::NodeDataChanged, path),
                Some(_) => {
                    self.watches
                        .insert((input.session, path.clone(), Kind::Data));
                }
            }
        }
        for path in exist {
            match lookup(path) {
                Some(_) => send(EventType::NodeCreated, path),
                None => {
                    self.watches
                        .insert((input.session, path.clone(), Kind::Data));
                }
            }
        }
        for path in child {
            match lookup(path) {
                None => send(EventType::NodeDeleted, path),
                Some((_, p)) if p > rel => send(EventType::NodeChildrenChanged, path),
                Some(_) => {
                    self.watches
                        .insert((input.session, path.clone(), Kind::Child));
                }
            }
        }
        for path in persistent {
            self.watches
                .insert((input.session, path.clone(), Kind::Persistent));
        }
        for path in recursive {
            self.watches
                .insert((input.session, path.clone(), Kind::Recursive));
        }
        sent
    }

    fn pairs(&self) -> BTreeMap<(SessionId, String), BTreeSet<Kind>> {
        let mut pairs: BTreeMap<_, BTreeSet<Kind>> = BTreeMap::new();
        for (s, p, k) in &self.watches {
            pairs.entry((*s, p.clone())).or_default().insert(*k);
        }
        pairs
    }

    fn in_data_table(kinds: &BTreeSet<Kind>) -> bool {
        kinds.iter().any(|k| *k != Kind::Child)
    }

    fn watch_count(&self) -> usize {
        self.pairs()
            .values()
            .map(|kinds| {
                let child_table = kinds.contains(&Kind::Child) || kinds.contains(&Kind::Persistent);
                usize::from(Self::in_data_table(kinds)) + usize::from(child_table)
            })
            .sum()
    }

    fn by_session(&self) -> BTreeMap<SessionId, BTreeSet<String>> {
        let mut report: BTreeMap<_, BTreeSet<_>> = BTreeMap::new();
        for ((s, p), kinds) in self.pairs() {
            if Self::in_data_table(&kinds) {
                report.entry(s).or_default().insert(p);
            }
        }
        report
    }

    fn by_path(&self) -> BTreeMap<String, BTreeSet<SessionId>> {
        let mut report: BTreeMap<_, BTreeSet<_>> = BTreeMap::new();
        for ((s, p), kinds) in self.pairs() {
            if Self::in_data_table(&kinds) {
                report.entry(p).or_default().insert(s);
            }
        }
        report
    }
}

fn path() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(&PATHS[..])
}

fn session() -> impl Strategy<Value = SessionId> {
    proptest::sample::select(&SESSIONS[..])
}

fn path_list() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(path().prop_map(String::from), 0..3)
}

fn replay_input() -> impl Strategy<Value = ReplayInput> {
    (
        session(),
        0i64..4,
        [
            path_list(),
            path_list(),
            path_list(),
            path_list(),
            path_list(),
        ],
        proptest::collection::vec(proptest::option::of((0i64..5, 0i64..5)), PATHS.len()),
    )
        .prop_map(|(session, relative_zxid, lists, tree)| ReplayInput {
            session,
            relative_zxid,
            lists,
            tree,
        })
}

fn op() -> impl Strategy<Value = Op> {
    let kind =
        proptest::sample::select(&[Kind::Data, Kind::Child, Kind::Persistent, Kind::Recursive][..]);
    prop_oneof![
        6 => (session(), path(), kind).prop_map(|(s, p, k)| Op::Add(s, p, k)),
        6 => (path(), proptest::sample::select(&NODE_EVENTS[..])).prop_map(|(p, e)| Op::Trigger(p, e)),
        3 => (session(), path(), proptest::sample::select(&KINDS[..]))
            .prop_map(|(s, p, k)| Op::Remove(s, p, k)),
        1 => session().prop_map(Op::RemoveSession),
        1 => replay_input().prop_map(|input| Op::Replay(Box::new(input))),
    ]
}

fn add(reg: &mut WatchRegistry, session: SessionId, path: &str, kind: Kind) {
    match kind {
        Kind::Data => reg.add_data_watch(session, path),
        Kind::Child => reg.add_child_watch(session, path),
        Kind::Persistent => reg.add_persistent_watch(session, path, false),
        Kind::Recursive => reg.add_persistent_watch(session, path, true),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn registry_matches_linear_model(ops in proptest::collection::vec(op(), 1..80)) {
        let mut reg = WatchRegistry::new();
        let mut model = Model::default();
        for op in &ops {
            match op {
                Op::Add(s, p, k) => {
                    add(&mut reg, *s, p, *k);
                    model.watches.insert((*s, p.to_string(), *k));
                }
                Op::Trigger(p, e) => {
                    prop_assert_eq!(reg.trigger(p, *e), model.trigger(p, *e), "{:?}", op);
                }
                Op::Remove(s, p, k) => {
                    prop_assert_eq!(reg.remove(*s, p, *k), model.remove(*s, p, *k), "{:?}", op);
                }
                Op::RemoveSession(s) => {
                    reg.remove_session(*s);
                    model.watches.retain(|(session, _, _)| session != s);
                }
                Op::Replay(input) => {
                    let [data, exist, child, persistent, recursive] = &input.lists;
                    let lookup = |path: &str| {
                        input.tree[PATHS.iter().position(|p| *p == path).unwrap()]
                    };
                    let sent = reg.replay(
                        input.session, input.relative_zxid,
                        data, exist, child, persistent, recursive, lookup,
                    );
                    prop_assert_eq!(sent, model.replay(input), "{:?}", op);
                }
            }
            reg.assert_consistent();
            prop_assert_eq!(reg.watch_count(), model.watch_count());
            let by_session = model.by_session();
            let by_path = model.by_path();
            prop_assert_eq!(reg.session_count(), by_session.len());
            prop_assert_eq!(reg.path_count(), by_path.len());
            prop_assert_eq!(reg.summary().watches, by_path.values().map(BTreeSet::len).sum::<usize>());
            prop_assert_eq!(reg.by_session(), by_session);
            prop_assert_eq!(reg.by_path(), by_path);
            for s in SESSIONS {
                for p in PATHS {
                    for k in KINDS {
                        prop_assert_eq!(reg.contains(s, p, k), model.contains(s, p, k));
                    }
                }
            }
        }
    }
}
