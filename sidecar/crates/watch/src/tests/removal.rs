//! checkWatches, removeWatches and dropping a session.

use corral_proto::EventType::{NodeChildrenChanged, NodeDataChanged, NodeDeleted};
use corral_proto::WatcherType::{self, Any, Children, Data, Persistent, PersistentRecursive};

use super::{S1, S2, Setup, fire};
use crate::{NoWatcher, WatchRegistry};

const KINDS: [WatcherType; 5] = [Children, Data, Any, Persistent, PersistentRecursive];

/// The kinds `contains` answers true for, in `KINDS` order.
fn held_kinds(reg: &WatchRegistry, path: &str) -> Vec<WatcherType> {
    KINDS
        .into_iter()
        .filter(|&kind| reg.contains(S1, path, kind))
        .collect()
}

#[test]
fn contains_selects_by_mode() {
    let cases: [(Setup, &[WatcherType]); 4] = [
        (|r| r.add_data_watch(S1, "/a"), &[Data, Any]),
        (|r| r.add_child_watch(S1, "/a"), &[Children, Any]),
        (
            |r| r.add_persistent_watch(S1, "/a", false),
            &[Any, Persistent],
        ),
        (
            |r| r.add_persistent_watch(S1, "/a", true),
            &[Any, PersistentRecursive],
        ),
    ];
    for (add, expected) in cases {
        let mut reg = WatchRegistry::new();
        add(&mut reg);
        assert_eq!(held_kinds(&reg, "/a"), expected);
        assert!(held_kinds(&reg, "/a/b").is_empty(), "no inheritance");
        assert!(held_kinds(&reg, "/").is_empty());
        assert!(!reg.contains(S2, "/a", Any), "other session");
    }
}

#[test]
fn remove_data_takes_the_one_shot_only() {
    let mut reg = WatchRegistry::new();
    reg.add_data_watch(S1, "/a");
    reg.add_persistent_watch(S1, "/a", false);
    reg.add_child_watch(S1, "/a");
    assert_eq!(reg.remove(S1, "/a", Data), Ok(()));
    assert_eq!(held_kinds(&reg, "/a"), [Children, Any, Persistent]);
    assert!(
        reg.remove(S1, "/a", Data).is_err(),
        "persistent is not a Data watch"
    );
    reg.assert_consistent();
}

#[test]
fn remove_children_takes_the_one_shot_only() {
    let mut reg = WatchRegistry::new();
    reg.add_child_watch(S1, "/a");
    reg.add_data_watch(S1, "/a");
    reg.add_persistent_watch(S1, "/a", false);
    assert_eq!(reg.remove(S1, "/a", Children), Ok(()));
    assert_eq!(held_kinds(&reg, "/a"), [Data, Any, Persistent]);
    assert!(reg.remove(S1, "/a", Children).is_err());
    // The persistent watch still reports children changes.
    assert_eq!(fire(&mut reg, "/a", NodeChildrenChanged).len(), 1);
}

#[test]
fn remove_persistent_leaves_one_shot_and_recursive() {
    let mut reg = WatchRegistry::new();
    reg.add_persistent_watch(S1, "/a", false);
    reg.add_persistent_watch(S1, "/a", true);
    reg.add_data_watch(S1, "/a");
    assert_eq!(reg.remove(S1, "/a", Persistent), Ok(()));
    assert_eq!(held_kinds(&reg, "/a"), [Data, Any, PersistentRecursive]);
    assert!(fire(&mut reg, "/a", NodeChildrenChanged).is_empty());
    assert!(reg.remove(S1, "/a", Persistent).is_err());
}

#[test]
fn remove_recursive_stops_descendant_events() {
    let mut reg = WatchRegistry::new();
    reg.add_persistent_watch(S1, "/a", true);
    reg.add_persistent_watch(S1, "/a", false);
    assert_eq!(reg.remove(S1, "/a", PersistentRecursive), Ok(()));
    assert!(fire(&mut reg, "/a/b", NodeDataChanged).is_empty());
    assert_eq!(
        fire(&mut reg, "/a", NodeDataChanged).len(),
        1,
        "persistent stays"
    );
    assert!(reg.remove(S1, "/a", PersistentRecursive).is_err());
}

#[test]
fn remove_any_takes_every_watch_on_the_path_including_persistent_ones() {
    let mut reg = WatchRegistry::new();
    reg.add_data_watch(S1, "/a");
    reg.add_child_watch(S1, "/a");
    reg.add_persistent_watch(S1, "/a", false);
    reg.add_persistent_watch(S1, "/a", true);
    reg.add_data_watch(S1, "/a/b");
    assert_eq!(reg.remove(S1, "/a", Any), Ok(()));
    assert!(held_kinds(&reg, "/a").is_empty());
    assert_eq!(
        held_kinds(&reg, "/a/b"),
        [Data, Any],
        "other paths untouched"
    );
    assert_eq!(reg.remove(S1, "/a", Any).unwrap_err().kind, Any);
    reg.assert_consistent();
}

#[test]
fn remove_without_a_matching_watch_is_no_watcher() {
    let mut reg = WatchRegistry::new();
    reg.add_data_watch(S2, "/a");
    let err = reg.remove(S1, "/a", Data).unwrap_err();
    assert_eq!(
        err,
        NoWatcher {
            session: S1,
            path: "/a".into(),
            kind: Data
        }
    );
    let message = err.to_string();
    assert!(
        message.contains("0x100") && message.contains("/a"),
        "{message}"
    );
    assert!(message.contains("NOWATCHER"), "{message}");
    assert!(reg.contains(S2, "/a", Data), "other session untouched");
}

#[test]
fn remove_session_drops_all_its_watches_and_only_its_own() {
    let mut reg = WatchRegistry::new();
    reg.add_data_watch(S1, "/a");
    reg.add_child_watch(S1, "/b");
    reg.add_persistent_watch(S1, "/c", false);
    reg.add_persistent_watch(S1, "/", true);
    reg.add_data_watch(S2, "/a");
    reg.remove_session(S1);
    reg.assert_consistent();
    for path in ["/", "/a", "/b", "/c"] {
        assert!(!reg.contains(S1, path, Any), "{path}");
    }
    let sent = fire(&mut reg, "/a", NodeDeleted);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].session, S2);
    assert!(
        fire(&mut reg, "/x", NodeDataChanged).is_empty(),
        "recursive gone"
    );
    reg.remove_session(S1);
    reg.remove_session(0x999);
    assert_eq!(reg.watch_count(), 0);
}

#[test]
fn adding_the_same_watch_twice_holds_it_once() {
    let mut reg = WatchRegistry::new();
    for _ in 0..2 {
        reg.add_data_watch(S1, "/a");
        reg.add_persistent_watch(S1, "/a", true);
    }
    assert_eq!(reg.watch_count(), 1, "one data-table entry");
    assert_eq!(fire(&mut reg, "/a", NodeDataChanged).len(), 1);
    assert_eq!(reg.remove(S1, "/a", PersistentRecursive), Ok(()));
    assert!(reg.remove(S1, "/a", PersistentRecursive).is_err());
}
