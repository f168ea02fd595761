//! Counts and reports behind `wchs`, `wchc`, `wchp` and the `watch_count` metric.

use std::collections::{BTreeMap, BTreeSet};

use corral_proto::EventType::{NodeChildrenChanged, NodeDataChanged, NodeDeleted};

use super::{S1, S2, S3, Setup, fire};
use crate::{WatchRegistry, WatchSummary};

#[test]
fn empty_registry_reports_nothing() {
    let reg = WatchRegistry::new();
    assert_eq!(reg.watch_count(), 0);
    assert_eq!(reg.path_count(), 0);
    assert_eq!(reg.session_count(), 0);
    assert_eq!(reg.summary(), WatchSummary::default());
    assert!(reg.by_session().is_empty());
    assert!(reg.by_path().is_empty());
}

#[test]
fn watch_count_counts_table_entries_like_zookeeper() {
    let cases: [(Setup, usize); 6] = [
        (|r| r.add_data_watch(S1, "/a"), 1),
        (|r| r.add_child_watch(S1, "/a"), 1),
        (|r| r.add_persistent_watch(S1, "/a", true), 1),
        (|r| r.add_persistent_watch(S1, "/a", false), 2),
        (
            |r| {
                r.add_data_watch(S1, "/a");
                r.add_child_watch(S1, "/a");
            },
            2,
        ),
        (
            |r| {
                r.add_data_watch(S1, "/a");
                r.add_persistent_watch(S1, "/a", false);
                r.add_persistent_watch(S1, "/a", true);
            },
            2,
        ),
    ];
    for (add, expected) in cases {
        let mut reg = WatchRegistry::new();
        add(&mut reg);
        assert_eq!(reg.watch_count(), expected);
    }
}

#[test]
fn reports_list_data_table_watches_and_leave_child_only_paths_out() {
    let mut reg = WatchRegistry::new();
    reg.add_data_watch(S1, "/a");
    reg.add_child_watch(S1, "/only-children");
    reg.add_persistent_watch(S2, "/p", false);
    reg.add_persistent_watch(S2, "/", true);
    reg.add_data_watch(S2, "/a");
    reg.add_child_watch(S3, "/a"); // S3 only has a child watch

    let by_session = BTreeMap::from([
        (S1, BTreeSet::from(["/a".to_string()])),
        (S2, BTreeSet::from(["/".into(), "/a".into(), "/p".into()])),
    ]);
    assert_eq!(reg.by_session(), by_session);

    let by_path = BTreeMap::from([
        ("/".to_string(), BTreeSet::from([S2])),
        ("/a".into(), BTreeSet::from([S1, S2])),
        ("/p".into(), BTreeSet::from([S2])),
    ]);
    assert_eq!(reg.by_path(), by_path);

    assert_eq!(reg.session_count(), 2);
    assert_eq!(reg.path_count(), 3);
    assert_eq!(
        reg.summary(),
        WatchSummary {
            sessions: 2,
            paths: 3,
            watches: 4
        }
    );
    // data /a ×2, child /only-children, persistent /p ×2, recursive /, child /a (S3)
    assert_eq!(reg.watch_count(), 7);
}

#[test]
fn counts_follow_firing_and_session_removal() {
    let mut reg = WatchRegistry::new();
    reg.add_data_watch(S1, "/a");
    reg.add_child_watch(S1, "/a");
    reg.add_persistent_watch(S2, "/a", false);
    assert_eq!(reg.watch_count(), 4);

    fire(&mut reg, "/a", NodeDataChanged);
    assert_eq!(reg.watch_count(), 3);
    assert_eq!(reg.session_count(), 1, "S1 is left with a child watch only");

    fire(&mut reg, "/a", NodeChildrenChanged);
    assert_eq!(reg.watch_count(), 2);
    assert!(!reg.by_session().contains_key(&S1));

    fire(&mut reg, "/a", NodeDeleted);
    assert_eq!(reg.watch_count(), 2, "persistent survives deletion");

    reg.remove_session(S2);
    assert_eq!(reg.watch_count(), 0);
    assert_eq!(reg.path_count(), 0);
    assert_eq!(reg.session_count(), 0);
    reg.assert_consistent();
}
