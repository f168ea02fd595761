//! The registry itself: three indexes kept in step by one update function.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use corral_proto::{EventType, WatcherType};

use crate::modes::{EventRule, Modes};
use crate::path::proper_ancestors;

/// ZooKeeper session id (the key a connection's watches are filed under).
pub type SessionId = i64;

/// One watch event to send to one session: `WatcherEvent{type, state = SyncConnected, path}`.
/// `path` is the changed node (for a recursive watch, the descendant, not the watched path).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Notification {
    pub session: SessionId,
    pub event: EventType,
    pub path: String,
}

/// removeWatches found nothing to remove; the server answers `NOWATCHER` (-121).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "session 0x{session:x} holds no {kind:?} watch on {path}; \
     the client must only remove watches it registered (answered with NOWATCHER)"
)]
pub struct NoWatcher {
    pub session: SessionId,
    pub path: String,
    pub kind: WatcherType,
}

/// What `wchs` prints: ZooKeeper's `WatchesSummary`, taken from the data table only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchSummary {
    /// Sessions ("connections") with at least one data-table watch.
    pub sessions: usize,
    /// Paths with at least one data-table watch.
    pub paths: usize,
    /// (session, path) pairs in the data table ("Total watches").
    pub watches: usize,
}

/// The watches held by the sessions connected to this member.
///
/// Indexed by path for triggering, by session for dropping a connection, and separately for
/// recursive watches so that the ancestor walk of each change only looks at paths that hold one.
#[derive(Clone, Debug, Default)]
pub struct WatchRegistry {
    /// Every watch: path → session → modes. A BTreeMap per path gives a stable session order.
    by_path: HashMap<String, BTreeMap<SessionId, Modes>>,
    /// session → the paths it holds any watch on.
    by_session: HashMap<SessionId, HashSet<String>>,
    /// path → the sessions holding a recursive watch there (a subset of `by_path`).
    recursive: HashMap<String, BTreeSet<SessionId>>,
    /// Entries of ZooKeeper's data and child tables together (`DataTree.getWatchCount`).
    table_entries: usize,
}

impl WatchRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// getData/exists on an existing node, or exists on a missing node (ZooKeeper keeps both as
    /// "data watches": exists on a missing node fires on NodeCreated).
    pub fn add_data_watch(&mut self, session: SessionId, path: &str) {
        self.update(session, path, |held| held.union(Modes::DATA));
    }

    /// getChildren with a watch.
    pub fn add_child_watch(&mut self, session: SessionId, path: &str) {
        self.update(session, path, |held| held.union(Modes::CHILD));
    }

    /// addWatch with mode PERSISTENT (`recursive == false`) or PERSISTENT_RECURSIVE.
    pub fn add_persistent_watch(&mut self, session: SessionId, path: &str, recursive: bool) {
        let mode = if recursive {
            Modes::RECURSIVE
        } else {
            Modes::PERSISTENT
        };
        self.update(session, path, |held| held.union(mode));
    }

    /// One applied change (path + NodeCreated/NodeDeleted/NodeDataChanged/NodeChildrenChanged)
    /// → the notifications to send, ordered by session id, at most one per session (ZooKeeper
    /// collects the watchers of one trigger in a set). One-shot watches that fired are removed,
    /// persistent ones stay. Other event types are never caused by a change and notify nobody.
    ///
    /// Who is notified, for a change at `path`:
    /// - NodeCreated, NodeDataChanged: data and persistent watches on `path`, recursive watches on
    ///   `path` or any ancestor.
    /// - NodeDeleted: data, child and persistent watches on `path`, recursive watches on `path`
    ///   or any ancestor. Both one-shot kinds are consumed even when the session gets a single
    ///   event for them.
    /// - NodeChildrenChanged: child and persistent watches on `path` only; recursive watches never
    ///   see it (their owners learn about children from the children's own events).
    pub fn trigger(&mut self, path: &str, event: EventType) -> Vec<Notification> {
        let Some(rule) = EventRule::for_event(event) else {
            return Vec::new();
        };
        let mut notified = BTreeSet::new();

        let on_path: Vec<(SessionId, Modes)> = match self.by_path.get(path) {
            Some(holders) => holders
                .iter()
                .filter(|(_, held)| held.intersects(rule.fires))
                .map(|(&session, &held)| (session, held))
                .collect(),
            None => Vec::new(),
        };
        for (session, held) in on_path {
            notified.insert(session);
            if held.intersects(rule.consumes) {
                self.update(session, path, |held| held.without(rule.consumes));
            }
        }

        if rule.reaches_ancestors && !self.recursive.is_empty() {
            for ancestor in proper_ancestors(path) {
                if let Some(sessions) = self.recursive.get(ancestor) {
                    notified.extend(sessions.iter().copied());
                }
            }
        }

        notified
            .into_iter()
            .map(|session| Notification {
                session,
                event,
                path: path.to_owned(),
            })
            .collect()
    }

    /// Connection/session gone: drop all its watches.
    pub fn remove_session(&mut self, session: SessionId) {
        let Some(paths) = self.by_session.get(&session) else {
            return;
        };
        let paths: Vec<String> = paths.iter().cloned().collect();
        for path in paths {
            self.update(session, &path, |_| Modes::NONE);
        }
    }

    /// checkWatches: does the session hold a watch of this type on `path`? Children/Data ask for
    /// the one-shot watch (an exists watch is a Data watch), Persistent/PersistentRecursive for
    /// that mode, Any for any watch at all (ZooKeeper 3.9 `DataTree.containsWatcher`).
    pub fn contains(&self, session: SessionId, path: &str, kind: WatcherType) -> bool {
        self.held(session, path)
            .intersects(Modes::selected_by(kind))
    }

    /// removeWatches: remove the session's watches on `path` selected by `kind` (the same
    /// selection as [`contains`](Self::contains); Any removes every watch on the path, persistent
    /// and recursive included). `Err(NoWatcher)` when there was none; the server then answers
    /// NOWATCHER (-121).
    pub fn remove(
        &mut self,
        session: SessionId,
        path: &str,
        kind: WatcherType,
    ) -> Result<(), NoWatcher> {
        let selected = Modes::selected_by(kind);
        let (before, after) = self.update(session, path, |held| held.without(selected));
        if before == after {
            return Err(NoWatcher {
                session,
                path: path.to_owned(),
                kind,
            });
        }
        Ok(())
    }

    /// setWatches / setWatches2 replay on reconnect. `lookup(path)` gives the node's current
    /// (mzxid, pzxid) or None if missing. Returns the notifications to send immediately, in
    /// ZooKeeper's order (data list, then exist list, then child list, each in the given order):
    /// - data watch → NodeDeleted if gone, NodeDataChanged if mzxid > relative_zxid, else
    ///   registered;
    /// - exist watch → NodeCreated if the node exists now, else registered;
    /// - child watch → NodeDeleted if gone, NodeChildrenChanged if pzxid > relative_zxid, else
    ///   registered;
    /// - persistent and recursive watches are registered.
    ///
    /// Unlike [`trigger`](Self::trigger), nothing is deduplicated: ZooKeeper sends one event per
    /// listed path (`DataTree.setWatches`), so a node listed as both data and child watch that is
    /// gone yields two NodeDeleted events, exactly as from ZooKeeper.
    #[allow(clippy::too_many_arguments)] // mirrors the fields of the SetWatches2 record
    pub fn replay(
        &mut self,
        session: SessionId,
        relative_zxid: i64,
        data: &[String],
        exist: &[String],
        child: &[String],
        persistent: &[String],
        persistent_recursive: &[String],
        lookup: impl Fn(&str) -> Option<(i64, i64)>,
    ) -> Vec<Notification> {
        let mut immediate = Vec::new();
        let mut notify = |event: EventType, path: &str| {
            immediate.push(Notification {
                session,
                event,
                path: path.to_owned(),
            })
        };
        for path in data {
            match lookup(path) {
                None => notify(EventType::NodeDeleted, path),
                Some((mzxid, _)) if mzxid > relative_zxid => {
                    notify(EventType::NodeDataChanged, path)
                }
                Some(_) => self.add_data_watch(session, path),
            }
        }
        for path in exist {
            match lookup(path) {
                Some(_) => notify(EventType::NodeCreated, path),
                None => self.add_data_watch(session, path),
            }
        }
        for path in child {
            match lookup(path) {
                None => notify(EventType::NodeDeleted, path),
                Some((_, pzxid)) if pzxid > relative_zxid => {
                    notify(EventType::NodeChildrenChanged, path)
                }
                Some(_) => self.add_child_watch(session, path),
            }
        }
        for path in persistent {
            self.add_persistent_watch(session, path, false);
        }
        for path in persistent_recursive {
            self.add_persistent_watch(session, path, true);
        }
        immediate
    }

    /// Total watches as ZooKeeper's `watch_count` metric counts them: entries of the data table
    /// plus entries of the child table. A data or exists watch counts 1, a child watch 1, a
    /// recursive watch 1, a persistent watch 2 (it sits in both tables); a session's data and
    /// child watch on one path count 2. (ZooKeeper 3.8.0 counted a recursive watch 2, as it also
    /// filed it in the child table; 3.9 counts 1.)
    pub fn watch_count(&self) -> usize {
        self.table_entries
    }

    /// Paths with at least one data-table watch (data/exists, persistent or recursive): the
    /// "watching N paths" of `wchs`. Like ZooKeeper's 4lw reports, child-only paths are left out.
    pub fn path_count(&self) -> usize {
        self.by_path
            .values()
            .filter(|holders| holders.values().any(|held| held.in_data_table()))
            .count()
    }

    /// Sessions holding at least one data-table watch: the "N connections" of `wchs`.
    pub fn session_count(&self) -> usize {
        self.by_session
            .iter()
            .filter(|(session, paths)| {
                paths
                    .iter()
                    .any(|path| self.held(**session, path).in_data_table())
            })
            .count()
    }

    /// The whole `wchs` line: sessions, paths and total watches of the data table.
    pub fn summary(&self) -> WatchSummary {
        let mut summary = WatchSummary::default();
        for holders in self.by_path.values() {
            let on_path = holders.values().filter(|h| h.in_data_table()).count();
            summary.watches += on_path;
            summary.paths += usize::from(on_path > 0);
        }
        summary.sessions = self.session_count();
        summary
    }

    /// `wchc`: session → watched paths. ZooKeeper reports its data table only, so a path a
    /// session watches only through getChildren does not appear (checked on ZooKeeper 3.8.0).
    pub fn by_session(&self) -> BTreeMap<SessionId, BTreeSet<String>> {
        let mut report: BTreeMap<SessionId, BTreeSet<String>> = BTreeMap::new();
        for (path, holders) in &self.by_path {
            for (&session, held) in holders {
                if held.in_data_table() {
                    report.entry(session).or_default().insert(path.clone());
                }
            }
        }
        report
    }

    /// `wchp`: path → sessions watching it, from the data table like [`by_session`](Self::by_session).
    pub fn by_path(&self) -> BTreeMap<String, BTreeSet<SessionId>> {
        let mut report = BTreeMap::new();
        for (path, holders) in &self.by_path {
            let sessions: BTreeSet<SessionId> = holders
                .iter()
                .filter(|(_, held)| held.in_data_table())
                .map(|(&session, _)| session)
                .collect();
            if !sessions.is_empty() {
                report.insert(path.clone(), sessions);
            }
        }
        report
    }

    fn held(&self, session: SessionId, path: &str) -> Modes {
        self.by_path
            .get(path)
            .and_then(|holders| holders.get(&session))
            .copied()
            .unwrap_or(Modes::NONE)
    }

    /// The single place that changes what a session holds on a path; it keeps all three indexes
    /// and the entry count consistent. Returns the modes before and after.
    fn update(
        &mut self,
        session: SessionId,
        path: &str,
        change: impl FnOnce(Modes) -> Modes,
    ) -> (Modes, Modes) {
        let before = self.held(session, path);
        let after = change(before);
        if before == after {
            return (before, after);
        }

        self.table_entries = self.table_entries - before.table_entries() + after.table_entries();

        if after.is_empty() {
            if let Some(holders) = self.by_path.get_mut(path) {
                holders.remove(&session);
                if holders.is_empty() {
                    self.by_path.remove(path);
                }
            }
            if let Some(paths) = self.by_session.get_mut(&session) {
                paths.remove(path);
                if paths.is_empty() {
                    self.by_session.remove(&session);
                }
            }
        } else {
            self.by_path
                .entry(path.to_owned())
                .or_default()
                .insert(session, after);
            if before.is_empty() {
                self.by_session
                    .entry(session)
                    .or_default()
                    .insert(path.to_owned());
            }
        }

        let was_recursive = before.intersects(Modes::RECURSIVE);
        let is_recursive = after.intersects(Modes::RECURSIVE);
        if is_recursive && !was_recursive {
            self.recursive
                .entry(path.to_owned())
                .or_default()
                .insert(session);
        } else if was_recursive
            && !is_recursive
            && let Some(sessions) = self.recursive.get_mut(path)
        {
            sessions.remove(&session);
            if sessions.is_empty() {
                self.recursive.remove(path);
            }
        }

        (before, after)
    }

    /// Checks that the indexes agree with each other; used by the tests after every step.
    #[cfg(test)]
    pub(crate) fn assert_consistent(&self) {
        let mut entries = 0;
        let mut recursive_pairs = 0;
        for (path, holders) in &self.by_path {
            assert!(!holders.is_empty(), "empty holder map left for {path}");
            for (session, held) in holders {
                assert!(!held.is_empty(), "empty modes left for {session} on {path}");
                assert!(self.by_session[session].contains(path));
                entries += held.table_entries();
                if held.intersects(Modes::RECURSIVE) {
                    recursive_pairs += 1;
                    assert!(self.recursive[path].contains(session));
                }
            }
        }
        let session_pairs: usize = self.by_session.values().map(HashSet::len).sum();
        let pairs: usize = self.by_path.values().map(BTreeMap::len).sum();
        assert_eq!(session_pairs, pairs);
        let indexed_recursive: usize = self.recursive.values().map(BTreeSet::len).sum();
        assert_eq!(indexed_recursive, recursive_pairs);
        assert_eq!(entries, self.table_entries);
    }
}
