//! setWatches / setWatches2 replay rules.

use std::collections::HashMap;

use corral_proto::EventType::{NodeChildrenChanged, NodeCreated, NodeDataChanged, NodeDeleted};
use corral_proto::WatcherType::{Any, Children, Data, Persistent, PersistentRecursive};

use super::{S1, fire, summary};
use crate::{Notification, WatchRegistry};

const RELATIVE_ZXID: i64 = 100;

/// A tiny tree: path → (mzxid, pzxid).
fn tree() -> HashMap<&'static str, (i64, i64)> {
    HashMap::from([
        ("/old", (50, 60)),             // unchanged since the client last saw it
        ("/at", (100, 100)),            // changed exactly at the client's zxid: not newer
        ("/data-newer", (150, 60)),     // data changed since
        ("/children-newer", (50, 150)), // children changed since
    ])
}

struct Lists<'a> {
    data: &'a [&'a str],
    exist: &'a [&'a str],
    child: &'a [&'a str],
    persistent: &'a [&'a str],
    recursive: &'a [&'a str],
}

const NONE: Lists<'static> = Lists {
    data: &[],
    exist: &[],
    child: &[],
    persistent: &[],
    recursive: &[],
};

fn replay(reg: &mut WatchRegistry, lists: Lists<'_>) -> Vec<Notification> {
    let owned = |paths: &[&str]| paths.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    let tree = tree();
    let sent = reg.replay(
        S1,
        RELATIVE_ZXID,
        &owned(lists.data),
        &owned(lists.exist),
        &owned(lists.child),
        &owned(lists.persistent),
        &owned(lists.recursive),
        |path| tree.get(path).copied(),
    );
    reg.assert_consistent();
    sent
}

#[test]
fn data_watch_on_missing_node_reports_deleted_and_is_not_kept() {
    let mut reg = WatchRegistry::new();
    let data: &[&str] = &["/gone"];
    let sent = replay(&mut reg, Lists { data, ..NONE });
    assert_eq!(summary(&sent), [(S1, NodeDeleted, "/gone")]);
    assert!(!reg.contains(S1, "/gone", Any));
}

#[test]
fn data_watch_on_newer_data_reports_data_changed_and_is_not_kept() {
    let mut reg = WatchRegistry::new();
    let data: &[&str] = &["/data-newer"];
    let sent = replay(&mut reg, Lists { data, ..NONE });
    assert_eq!(summary(&sent), [(S1, NodeDataChanged, "/data-newer")]);
    assert!(!reg.contains(S1, "/data-newer", Any));
}

#[test]
fn data_watch_on_unchanged_node_is_registered() {
    let mut reg = WatchRegistry::new();
    let data: &[&str] = &["/old", "/at", "/children-newer"];
    assert!(replay(&mut reg, Lists { data, ..NONE }).is_empty());
    for path in data {
        assert!(reg.contains(S1, path, Data), "{path}");
    }
    assert_eq!(fire(&mut reg, "/old", NodeDataChanged).len(), 1);
}

#[test]
fn exist_watch_on_existing_node_reports_created_and_is_not_kept() {
    let mut reg = WatchRegistry::new();
    let exist: &[&str] = &["/old"];
    let sent = replay(&mut reg, Lists { exist, ..NONE });
    assert_eq!(summary(&sent), [(S1, NodeCreated, "/old")]);
    assert!(!reg.contains(S1, "/old", Any));
}

#[test]
fn exist_watch_on_missing_node_is_registered_as_data_watch() {
    let mut reg = WatchRegistry::new();
    let exist: &[&str] = &["/gone"];
    assert!(replay(&mut reg, Lists { exist, ..NONE }).is_empty());
    assert!(reg.contains(S1, "/gone", Data));
    assert_eq!(
        summary(&fire(&mut reg, "/gone", NodeCreated)),
        [(S1, NodeCreated, "/gone")]
    );
}

#[test]
fn child_watch_on_missing_node_reports_deleted() {
    let mut reg = WatchRegistry::new();
    let child: &[&str] = &["/gone"];
    let sent = replay(&mut reg, Lists { child, ..NONE });
    assert_eq!(summary(&sent), [(S1, NodeDeleted, "/gone")]);
    assert!(!reg.contains(S1, "/gone", Any));
}

#[test]
fn child_watch_on_newer_children_reports_children_changed() {
    let mut reg = WatchRegistry::new();
    let child: &[&str] = &["/children-newer"];
    let sent = replay(&mut reg, Lists { child, ..NONE });
    assert_eq!(
        summary(&sent),
        [(S1, NodeChildrenChanged, "/children-newer")]
    );
    assert!(!reg.contains(S1, "/children-newer", Any));
}

#[test]
fn child_watch_on_unchanged_children_is_registered() {
    let mut reg = WatchRegistry::new();
    let child: &[&str] = &["/old", "/at", "/data-newer"];
    assert!(replay(&mut reg, Lists { child, ..NONE }).is_empty());
    for path in child {
        assert!(reg.contains(S1, path, Children), "{path}");
    }
}

#[test]
fn persistent_and_recursive_watches_are_registered_whatever_the_node_state() {
    let mut reg = WatchRegistry::new();
    let paths: &[&str] = &["/gone", "/data-newer", "/children-newer", "/old"];
    let sent = replay(
        &mut reg,
        Lists {
            persistent: paths,
            recursive: paths,
            ..NONE
        },
    );
    assert!(sent.is_empty());
    for path in paths {
        assert!(reg.contains(S1, path, Persistent), "{path}");
        assert!(reg.contains(S1, path, PersistentRecursive), "{path}");
    }
    assert_eq!(fire(&mut reg, "/gone/x", NodeCreated).len(), 1);
}

#[test]
fn immediate_events_come_in_list_order_without_deduplication() {
    let mut reg = WatchRegistry::new();
    let sent = replay(
        &mut reg,
        Lists {
            data: &["/gone", "/data-newer"],
            exist: &["/old"],
            child: &["/gone", "/children-newer"],
            ..NONE
        },
    );
    assert_eq!(
        summary(&sent),
        [
            (S1, NodeDeleted, "/gone"),
            (S1, NodeDataChanged, "/data-newer"),
            (S1, NodeCreated, "/old"),
            (S1, NodeDeleted, "/gone"),
            (S1, NodeChildrenChanged, "/children-newer"),
        ]
    );
    assert_eq!(reg.watch_count(), 0);
}
