//! Sequences replayed against Apache ZooKeeper 3.8.0 with a raw-protocol client; each expected
//! list below is what that server sent. The writes are turned into triggers the way the data
//! tree reports them: create/delete fire the node's event and NodeChildrenChanged on the parent.
//! Where 3.8.0 and 3.9 differ, the test says so and expects 3.9 (see the crate documentation).

use corral_proto::EventType::{
    self, NodeChildrenChanged, NodeCreated, NodeDataChanged, NodeDeleted,
};
use corral_proto::WatcherType;

use super::S1;
use crate::{Notification, WatchRegistry};

/// A stand-in for the applied writes of one session, collecting what that session is sent.
struct Session {
    reg: WatchRegistry,
    received: Vec<(EventType, String)>,
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(cut) => &path[..cut],
    }
}

impl Session {
    fn new() -> Self {
        Session {
            reg: WatchRegistry::new(),
            received: Vec::new(),
        }
    }

    fn apply(&mut self, triggers: &[(&str, EventType)]) {
        for (path, event) in triggers {
            let sent: Vec<Notification> = self.reg.trigger(path, *event);
            self.reg.assert_consistent();
            for n in sent {
                assert_eq!(n.session, S1);
                self.received.push((n.event, n.path));
            }
        }
    }

    fn create(&mut self, path: &str) {
        self.apply(&[(path, NodeCreated), (parent(path), NodeChildrenChanged)]);
    }

    fn delete(&mut self, path: &str) {
        self.apply(&[(path, NodeDeleted), (parent(path), NodeChildrenChanged)]);
    }

    fn set(&mut self, path: &str) {
        self.apply(&[(path, NodeDataChanged)]);
    }

    fn drain(&mut self) -> Vec<(EventType, String)> {
        std::mem::take(&mut self.received)
    }
}

fn events(expected: &[(EventType, &str)]) -> Vec<(EventType, String)> {
    expected.iter().map(|(e, p)| (*e, p.to_string())).collect()
}

#[test]
fn one_shot_watches() {
    let mut s = Session::new();
    s.reg.add_data_watch(S1, "/w1"); // exists on a missing node
    s.create("/w1");
    assert_eq!(s.drain(), events(&[(NodeCreated, "/w1")]));

    s.reg.add_data_watch(S1, "/w1");
    s.reg.add_child_watch(S1, "/w1");
    s.delete("/w1");
    assert_eq!(s.drain(), events(&[(NodeDeleted, "/w1")]));
}

#[test]
fn persistent_watch_sequence() {
    let mut s = Session::new();
    s.reg.add_persistent_watch(S1, "/p", false);
    s.create("/p");
    s.set("/p");
    s.create("/p/c");
    s.set("/p/c");
    s.delete("/p/c");
    s.delete("/p");
    s.create("/p");
    assert_eq!(
        s.drain(),
        events(&[
            (NodeCreated, "/p"),
            (NodeDataChanged, "/p"),
            (NodeChildrenChanged, "/p"),
            (NodeChildrenChanged, "/p"),
            (NodeDeleted, "/p"),
            (NodeCreated, "/p"),
        ])
    );
    assert!(s.reg.contains(S1, "/p", WatcherType::Any));
}

#[test]
fn recursive_watch_sequence() {
    let mut s = Session::new();
    s.reg.add_persistent_watch(S1, "/r", true);
    s.create("/r");
    s.create("/r/c");
    s.set("/r/c");
    s.create("/r/c/d");
    s.create("/rx");
    s.set("/rx");
    s.delete("/r/c/d");
    s.delete("/r/c");
    s.set("/r");
    s.delete("/r");
    assert_eq!(
        s.drain(),
        events(&[
            (NodeCreated, "/r"),
            (NodeCreated, "/r/c"),
            (NodeDataChanged, "/r/c"),
            (NodeCreated, "/r/c/d"),
            (NodeDeleted, "/r/c/d"),
            (NodeDeleted, "/r/c"),
            (NodeDataChanged, "/r"),
            (NodeDeleted, "/r"),
        ])
    );
}

#[test]
fn recursive_and_child_watch_on_root() {
    let mut s = Session::new();
    s.reg.add_persistent_watch(S1, "/", true);
    s.reg.add_child_watch(S1, "/");
    s.create("/q");
    assert_eq!(
        s.drain(),
        events(&[(NodeCreated, "/q"), (NodeChildrenChanged, "/")])
    );
    s.create("/q2");
    assert_eq!(s.drain(), events(&[(NodeCreated, "/q2")]));
    assert_eq!(s.reg.remove(S1, "/", WatcherType::Any), Ok(()));
    s.create("/q3");
    assert!(s.drain().is_empty());
    assert!(s.reg.remove(S1, "/", WatcherType::Any).is_err());
}

#[test]
fn one_shot_beside_persistent_keeps_the_persistent_watch() {
    // 3.8.0 sent nothing for the second setData: its getData replaced the persistent data
    // watch by a one-shot (ZOOKEEPER-4466). 3.9 keeps both, and so do we.
    let mut s = Session::new();
    s.reg.add_persistent_watch(S1, "/m", false);
    s.create("/m");
    s.drain();
    s.reg.add_data_watch(S1, "/m");
    s.set("/m");
    assert_eq!(s.drain(), events(&[(NodeDataChanged, "/m")]));
    s.set("/m");
    assert_eq!(
        s.drain(),
        events(&[(NodeDataChanged, "/m")]),
        "3.9 behaviour"
    );
    s.create("/m/c");
    assert_eq!(s.drain(), events(&[(NodeChildrenChanged, "/m")]));
}

#[test]
fn remove_children_leaves_the_data_watch() {
    let mut s = Session::new();
    s.create("/rc");
    s.reg.add_data_watch(S1, "/rc");
    s.reg.add_child_watch(S1, "/rc");
    assert_eq!(s.reg.remove(S1, "/rc", WatcherType::Children), Ok(()));
    assert!(!s.reg.contains(S1, "/rc", WatcherType::Children));
    assert!(s.reg.contains(S1, "/rc", WatcherType::Data));
    s.delete("/rc");
    assert_eq!(s.drain(), events(&[(NodeDeleted, "/rc")]));
}

#[test]
fn set_watches_replay() {
    // ZooKeeper: five nodes created, the client's zxid noted, then /sw-data written, a child
    // created under /sw-children and /sw-deleted removed; a new connection replays.
    let relative_zxid = 5;
    let lookup = |path: &str| match path {
        "/sw-unchanged" | "/sw-exists" => Some((1, 1)),
        "/sw-data" => Some((10, 1)),
        "/sw-children" => Some((1, 10)),
        _ => None,
    };
    let list = |paths: &[&str]| paths.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    let mut reg = WatchRegistry::new();
    let sent = reg.replay(
        S1,
        relative_zxid,
        &list(&["/sw-unchanged", "/sw-data", "/sw-deleted", "/sw-children"]),
        &list(&["/sw-exists", "/sw-missing"]),
        &list(&["/sw-unchanged", "/sw-data", "/sw-children", "/sw-deleted"]),
        &[],
        &[],
        lookup,
    );
    let sent: Vec<_> = sent.into_iter().map(|n| (n.event, n.path)).collect();
    assert_eq!(
        sent,
        events(&[
            (NodeDataChanged, "/sw-data"),
            (NodeDeleted, "/sw-deleted"),
            (NodeCreated, "/sw-exists"),
            (NodeChildrenChanged, "/sw-children"),
            (NodeDeleted, "/sw-deleted"),
        ])
    );
    assert!(reg.contains(S1, "/sw-unchanged", WatcherType::Data));
    assert!(reg.contains(S1, "/sw-data", WatcherType::Children));
    assert!(reg.contains(S1, "/sw-missing", WatcherType::Data));
    assert!(!reg.contains(S1, "/sw-data", WatcherType::Data));

    let sent = reg.replay(
        S1,
        relative_zxid,
        &[],
        &[],
        &[],
        &list(&["/sw-gone-p"]),
        &list(&["/sw-gone-r"]),
        lookup,
    );
    assert!(sent.is_empty());
    assert!(reg.contains(S1, "/sw-gone-p", WatcherType::Any));
    let created: Vec<_> = ["/sw-gone-r", "/sw-gone-r/k"]
        .into_iter()
        .flat_map(|path| reg.trigger(path, NodeCreated))
        .map(|n| (n.event, n.path))
        .collect();
    assert_eq!(
        created,
        events(&[(NodeCreated, "/sw-gone-r"), (NodeCreated, "/sw-gone-r/k")])
    );
}

#[test]
fn reports_leave_child_only_sessions_out() {
    // ZooKeeper printed "2 connections watching 4 paths / Total watches:4" for: A a child watch
    // on /rep; B a persistent watch on /rep and an exists watch on /rep-missing; C persistent
    // /p and recursive /r (C also held a child-table-only watch there, left out here as ZooKeeper
    // left it out of the report). A does not appear in wchc or wchp.
    let (a, b, c) = (0xa, 0xb, 0xc);
    let mut reg = WatchRegistry::new();
    reg.add_child_watch(a, "/rep");
    reg.add_persistent_watch(b, "/rep", false);
    reg.add_data_watch(b, "/rep-missing");
    reg.add_persistent_watch(c, "/p", false);
    reg.add_persistent_watch(c, "/r", true);
    let summary = reg.summary();
    assert_eq!(
        (summary.sessions, summary.paths, summary.watches),
        (2, 4, 4)
    );
    assert!(!reg.by_session().contains_key(&a));
    assert!(!reg.by_path()["/rep"].contains(&a));
    // zk_watch_count: 1 (A) + 2 + 1 (B) + 2 + 1 (C). ZooKeeper 3.8.0 reported 9: the extra
    // child-table watch of C, and the recursive watch counted twice because 3.8.0 also put it
    // in the child table; 3.9 counts it once (ZOOKEEPER-4466).
    assert_eq!(reg.watch_count(), 7);
}
