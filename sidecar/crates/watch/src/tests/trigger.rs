//! Which watches a change fires, which it consumes, and deduplication.

use corral_proto::EventType::{
    self, ChildWatchRemoved, DataWatchRemoved, NodeChildrenChanged, NodeCreated, NodeDataChanged,
    NodeDeleted, PersistentWatchRemoved,
};
use corral_proto::WatcherType;

use super::{S1, S2, S3, fire, summary};
use crate::WatchRegistry;

const NODE_EVENTS: [EventType; 4] = [
    NodeCreated,
    NodeDeleted,
    NodeDataChanged,
    NodeChildrenChanged,
];

#[test]
fn data_watch_fires_once_on_data_changed() {
    let mut reg = WatchRegistry::new();
    reg.add_data_watch(S1, "/a");
    let sent = fire(&mut reg, "/a", NodeDataChanged);
    assert_eq!(summary(&sent), [(S1, NodeDataChanged, "/a")]);
    assert!(fire(&mut reg, "/a", NodeDataChanged).is_empty(), "one-shot");
    assert!(!reg.contains(S1, "/a", WatcherType::Data));
}

#[test]
fn data_watch_fires_on_deleted() {
    let mut reg = WatchRegistry::new();
    reg.add_data_watch(S1, "/a");
    assert_eq!(
        summary(&fire(&mut reg, "/a", NodeDeleted)),
        [(S1, NodeDeleted, "/a")]
    );
    assert_eq!(reg.watch_count(), 0);
}

#[test]
fn exists_watch_on_missing_node_fires_on_created() {
    let mut reg = WatchRegistry::new();
    reg.add_data_watch(S1, "/later");
    assert_eq!(
        summary(&fire(&mut reg, "/later", NodeCreated)),
        [(S1, NodeCreated, "/later")]
    );
    assert!(fire(&mut reg, "/later", NodeCreated).is_empty());
}

#[test]
fn data_watch_ignores_children_changed_and_stays() {
    let mut reg = WatchRegistry::new();
    reg.add_data_watch(S1, "/a");
    assert!(fire(&mut reg, "/a", NodeChildrenChanged).is_empty());
    assert!(reg.contains(S1, "/a", WatcherType::Data));
}

#[test]
fn one_shot_watches_ignore_other_paths() {
    let mut reg = WatchRegistry::new();
    reg.add_data_watch(S1, "/a");
    reg.add_child_watch(S2, "/a");
    for path in ["/", "/a/b", "/ab", "/b"] {
        for event in NODE_EVENTS {
            assert!(fire(&mut reg, path, event).is_empty(), "{path} {event:?}");
        }
    }
    assert_eq!(reg.watch_count(), 2);
}

#[test]
fn child_watch_fires_once_on_children_changed() {
    let mut reg = WatchRegistry::new();
    reg.add_child_watch(S1, "/a");
    assert_eq!(
        summary(&fire(&mut reg, "/a", NodeChildrenChanged)),
        [(S1, NodeChildrenChanged, "/a")]
    );
    assert!(fire(&mut reg, "/a", NodeChildrenChanged).is_empty());
}

#[test]
fn child_watch_fires_on_deleted() {
    let mut reg = WatchRegistry::new();
    reg.add_child_watch(S1, "/a");
    assert_eq!(
        summary(&fire(&mut reg, "/a", NodeDeleted)),
        [(S1, NodeDeleted, "/a")]
    );
    assert_eq!(reg.watch_count(), 0);
}

#[test]
fn child_watch_ignores_created_and_data_changed_and_stays() {
    let mut reg = WatchRegistry::new();
    reg.add_child_watch(S1, "/a");
    assert!(fire(&mut reg, "/a", NodeCreated).is_empty());
    assert!(fire(&mut reg, "/a", NodeDataChanged).is_empty());
    assert!(reg.contains(S1, "/a", WatcherType::Children));
}

#[test]
fn deleted_notifies_once_and_consumes_data_and_child_watches() {
    let mut reg = WatchRegistry::new();
    reg.add_data_watch(S1, "/a");
    reg.add_child_watch(S1, "/a");
    assert_eq!(
        summary(&fire(&mut reg, "/a", NodeDeleted)),
        [(S1, NodeDeleted, "/a")]
    );
    assert!(!reg.contains(S1, "/a", WatcherType::Any));
    assert!(fire(&mut reg, "/a", NodeChildrenChanged).is_empty());
}

#[test]
fn persistent_watch_sees_every_event_on_its_path_and_stays() {
    let mut reg = WatchRegistry::new();
    reg.add_persistent_watch(S1, "/a", false);
    for event in NODE_EVENTS {
        assert_eq!(summary(&fire(&mut reg, "/a", event)), [(S1, event, "/a")]);
    }
    assert!(reg.contains(S1, "/a", WatcherType::Persistent));
}

#[test]
fn persistent_watch_ignores_descendants_and_siblings() {
    let mut reg = WatchRegistry::new();
    reg.add_persistent_watch(S1, "/a", false);
    for path in ["/a/b", "/a/b/c", "/ab", "/"] {
        for event in NODE_EVENTS {
            assert!(fire(&mut reg, path, event).is_empty(), "{path} {event:?}");
        }
    }
}

#[test]
fn recursive_watch_sees_own_path_and_descendants_and_stays() {
    let mut reg = WatchRegistry::new();
    reg.add_persistent_watch(S1, "/a", true);
    for path in ["/a", "/a/b", "/a/b/c/d"] {
        for event in [NodeCreated, NodeDataChanged, NodeDeleted] {
            assert_eq!(
                summary(&fire(&mut reg, path, event)),
                [(S1, event, path)],
                "the event carries the changed path"
            );
        }
    }
    assert!(reg.contains(S1, "/a", WatcherType::PersistentRecursive));
}

#[test]
fn recursive_watch_never_sees_children_changed() {
    let mut reg = WatchRegistry::new();
    reg.add_persistent_watch(S1, "/a", true);
    assert!(fire(&mut reg, "/a", NodeChildrenChanged).is_empty());
    assert!(fire(&mut reg, "/a/b", NodeChildrenChanged).is_empty());
}

#[test]
fn recursive_watch_ignores_ancestors_and_prefix_siblings() {
    let mut reg = WatchRegistry::new();
    reg.add_persistent_watch(S1, "/a", true);
    for path in ["/", "/ab", "/ab/c", "/b/a"] {
        for event in NODE_EVENTS {
            assert!(fire(&mut reg, path, event).is_empty(), "{path} {event:?}");
        }
    }
}

#[test]
fn recursive_watch_on_root_sees_the_whole_tree() {
    let mut reg = WatchRegistry::new();
    reg.add_persistent_watch(S1, "/", true);
    for path in ["/", "/a", "/zookeeper/quota", "/x/y/z"] {
        assert_eq!(
            summary(&fire(&mut reg, path, NodeDataChanged)),
            [(S1, NodeDataChanged, path)]
        );
    }
    assert!(fire(&mut reg, "/", NodeChildrenChanged).is_empty());
}

#[test]
fn one_shot_and_persistent_on_one_path_notify_once_and_persistent_stays() {
    let mut reg = WatchRegistry::new();
    reg.add_persistent_watch(S1, "/a", false);
    reg.add_data_watch(S1, "/a");
    reg.add_child_watch(S1, "/a");

    assert_eq!(fire(&mut reg, "/a", NodeDataChanged).len(), 1);
    assert!(!reg.contains(S1, "/a", WatcherType::Data));
    assert!(reg.contains(S1, "/a", WatcherType::Children));

    assert_eq!(fire(&mut reg, "/a", NodeChildrenChanged).len(), 1);
    assert!(!reg.contains(S1, "/a", WatcherType::Children));

    assert_eq!(fire(&mut reg, "/a", NodeDataChanged).len(), 1);
    assert!(reg.contains(S1, "/a", WatcherType::Persistent));
}

#[test]
fn one_shot_and_recursive_on_one_path_notify_once_and_recursive_stays() {
    let mut reg = WatchRegistry::new();
    reg.add_persistent_watch(S1, "/a", true);
    reg.add_data_watch(S1, "/a");
    assert_eq!(
        summary(&fire(&mut reg, "/a", NodeDataChanged)),
        [(S1, NodeDataChanged, "/a")]
    );
    assert!(!reg.contains(S1, "/a", WatcherType::Data));
    assert_eq!(fire(&mut reg, "/a", NodeDataChanged).len(), 1);
}

#[test]
fn overlapping_watches_of_one_session_notify_once() {
    let mut reg = WatchRegistry::new();
    reg.add_persistent_watch(S1, "/", true);
    reg.add_persistent_watch(S1, "/a", true);
    reg.add_persistent_watch(S1, "/a/b", false);
    reg.add_data_watch(S1, "/a/b");
    reg.add_child_watch(S1, "/a/b");
    assert_eq!(
        summary(&fire(&mut reg, "/a/b", NodeDeleted)),
        [(S1, NodeDeleted, "/a/b")]
    );
}

#[test]
fn child_watch_on_path_with_recursive_ancestor_gets_children_changed_once() {
    let mut reg = WatchRegistry::new();
    reg.add_persistent_watch(S1, "/", true);
    reg.add_child_watch(S1, "/a");
    assert_eq!(
        summary(&fire(&mut reg, "/a", NodeChildrenChanged)),
        [(S1, NodeChildrenChanged, "/a")]
    );
}

#[test]
fn sessions_are_notified_in_id_order_and_only_the_fired_one_shots_go() {
    let mut reg = WatchRegistry::new();
    reg.add_data_watch(S3, "/a");
    reg.add_persistent_watch(S1, "/", true);
    reg.add_child_watch(S2, "/a");
    reg.add_persistent_watch(S2, "/a", false);
    let sent = fire(&mut reg, "/a", NodeDataChanged);
    assert_eq!(
        summary(&sent),
        [
            (S1, NodeDataChanged, "/a"),
            (S2, NodeDataChanged, "/a"),
            (S3, NodeDataChanged, "/a"),
        ]
    );
    assert!(!reg.contains(S3, "/a", WatcherType::Data));
    assert!(reg.contains(S2, "/a", WatcherType::Children), "not fired");
}

#[test]
fn negative_session_ids_sort_first() {
    let mut reg = WatchRegistry::new();
    reg.add_data_watch(1, "/a");
    reg.add_data_watch(-5, "/a");
    let sessions: Vec<_> = fire(&mut reg, "/a", NodeDeleted)
        .iter()
        .map(|n| n.session)
        .collect();
    assert_eq!(sessions, [-5, 1]);
}

#[test]
fn re_registered_one_shot_fires_again() {
    let mut reg = WatchRegistry::new();
    reg.add_data_watch(S1, "/a");
    assert_eq!(fire(&mut reg, "/a", NodeDataChanged).len(), 1);
    reg.add_data_watch(S1, "/a");
    assert_eq!(fire(&mut reg, "/a", NodeDataChanged).len(), 1);
}

#[test]
fn non_node_events_notify_nobody_and_consume_nothing() {
    let mut reg = WatchRegistry::new();
    reg.add_data_watch(S1, "/a");
    reg.add_child_watch(S1, "/a");
    reg.add_persistent_watch(S2, "/", true);
    for event in [
        EventType::None,
        DataWatchRemoved,
        ChildWatchRemoved,
        PersistentWatchRemoved,
    ] {
        assert!(fire(&mut reg, "/a", event).is_empty(), "{event:?}");
    }
    assert_eq!(reg.watch_count(), 3);
}

#[test]
fn trigger_without_any_watch_is_empty() {
    let mut reg = WatchRegistry::new();
    for event in NODE_EVENTS {
        assert!(fire(&mut reg, "/", event).is_empty());
    }
}
