//! Every watch kind: one-shot data, exist and child watches, persistent and persistent-recursive
//! watches, watch removal, and the rule that a watch fires before the reply of the write that
//! triggered it on the same connection.

#[macro_use]
mod common;

use common::TestNode;
use common::raw::{self, Jute, Notification, RawConn, err, event, op, watcher_type};
use futures_util::FutureExt as _;
use zookeeper_client as zk;

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

async fn next_event(watcher: &mut zk::PersistentWatcher) -> (zk::EventType, String) {
    let event = bounded!(watcher.changed());
    (event.event_type, event.path)
}

async fn oneshot_event(watcher: zk::OneshotWatcher) -> (zk::EventType, String) {
    let event = bounded!(watcher.changed());
    (event.event_type, event.path)
}

fn note(event_type: i32, path: &str) -> Notification {
    Notification {
        event_type,
        state: raw::SYNC_CONNECTED,
        path: path.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn data_watch_fires_on_change_and_on_delete() {
    let node = TestNode::start("watch-data").await;
    let writer = node.client().await;
    let watcher = node.client().await;
    bounded!(writer.create("/w", b"1", &persistent())).unwrap();

    let (data, _, w) = bounded!(watcher.get_and_watch_data("/w")).unwrap();
    assert_eq!(data, b"1");
    bounded!(writer.set_data("/w", b"2", None)).unwrap();
    assert_eq!(
        oneshot_event(w).await,
        (zk::EventType::NodeDataChanged, "/w".into())
    );

    let (data, _, w) = bounded!(watcher.get_and_watch_data("/w")).unwrap();
    assert_eq!(data, b"2");
    bounded!(writer.delete("/w", None)).unwrap();
    assert_eq!(
        oneshot_event(w).await,
        (zk::EventType::NodeDeleted, "/w".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exist_watch_fires_on_create_change_and_delete() {
    let node = TestNode::start("watch-exist").await;
    let writer = node.client().await;
    let watcher = node.client().await;

    let (stat, w) = bounded!(watcher.check_and_watch_stat("/x")).unwrap();
    assert_eq!(stat, None, "an exist watch is set on a missing node");
    bounded!(writer.create("/x", b"", &persistent())).unwrap();
    assert_eq!(
        oneshot_event(w).await,
        (zk::EventType::NodeCreated, "/x".into())
    );

    let (_, w) = bounded!(watcher.check_and_watch_stat("/x")).unwrap();
    bounded!(writer.set_data("/x", b"d", None)).unwrap();
    assert_eq!(
        oneshot_event(w).await,
        (zk::EventType::NodeDataChanged, "/x".into())
    );

    let (_, w) = bounded!(watcher.check_and_watch_stat("/x")).unwrap();
    bounded!(writer.delete("/x", None)).unwrap();
    assert_eq!(
        oneshot_event(w).await,
        (zk::EventType::NodeDeleted, "/x".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn child_watch_fires_on_children_and_on_delete_only() {
    let node = TestNode::start("watch-child").await;
    let writer = node.client().await;
    let watcher = node.client().await;
    bounded!(writer.create("/p", b"", &persistent())).unwrap();

    // getChildren2 with a watch; a setData on the parent must not consume it.
    let (_, _, w) = bounded!(watcher.get_and_watch_children("/p")).unwrap();
    bounded!(writer.set_data("/p", b"data", None)).unwrap();
    bounded!(writer.create("/p/a", b"", &persistent())).unwrap();
    assert_eq!(
        oneshot_event(w).await,
        (zk::EventType::NodeChildrenChanged, "/p".into())
    );

    // getChildren (opcode 8) with a watch; a change below a child must not consume it.
    let (children, w) = bounded!(watcher.list_and_watch_children("/p")).unwrap();
    assert_eq!(children, ["a"]);
    bounded!(writer.create("/p/a/deeper", b"", &persistent())).unwrap();
    bounded!(writer.set_data("/p/a", b"x", None)).unwrap();
    bounded!(writer.delete("/p/a/deeper", None)).unwrap();
    bounded!(writer.delete("/p/a", None)).unwrap();
    assert_eq!(
        oneshot_event(w).await,
        (zk::EventType::NodeChildrenChanged, "/p".into())
    );

    // Deleting the watched node fires both its child and data watches with NodeDeleted.
    let (_, _, child_w) = bounded!(watcher.get_and_watch_children("/p")).unwrap();
    let (_, _, data_w) = bounded!(watcher.get_and_watch_data("/p")).unwrap();
    bounded!(writer.delete("/p", None)).unwrap();
    assert_eq!(
        oneshot_event(child_w).await,
        (zk::EventType::NodeDeleted, "/p".into())
    );
    assert_eq!(
        oneshot_event(data_w).await,
        (zk::EventType::NodeDeleted, "/p".into())
    );
}

/// On the wire: a one-shot watch is delivered once, however many changes follow.
#[tokio::test(flavor = "multi_thread")]
async fn one_shot_watch_is_delivered_once() {
    let node = TestNode::start("watch-once").await;
    let writer = node.client().await;
    bounded!(writer.create("/once", b"", &persistent())).unwrap();
    bounded!(writer.create("/once/c", b"", &persistent())).unwrap();

    let (mut conn, _) = RawConn::open_session(node.addr(), 10_000).await;
    let (reply, _) = conn
        .call(op::GET_DATA, &raw::path_watch("/once", true))
        .await;
    assert_eq!(reply.err, err::OK);
    let (reply, _) = conn
        .call(op::GET_CHILDREN, &raw::path_watch("/once", true))
        .await;
    assert_eq!(reply.err, err::OK);
    for value in [&b"1"[..], b"2", b"3"] {
        bounded!(writer.set_data("/once", value, None)).unwrap();
    }
    bounded!(writer.create("/once/d", b"", &persistent())).unwrap();
    bounded!(writer.delete("/once/d", None)).unwrap();
    // The writes were acknowledged before the ping was sent, so their notifications precede
    // the ping's reply on this connection.
    let seen = conn.ping().await;
    assert_eq!(
        seen,
        [
            note(event::NODE_DATA_CHANGED, "/once"),
            note(event::NODE_CHILDREN_CHANGED, "/once"),
        ]
    );
    assert_eq!(conn.ping().await, [], "no second delivery");
}

#[tokio::test(flavor = "multi_thread")]
async fn persistent_watch_sees_every_change_and_stays() {
    let node = TestNode::start("watch-persistent").await;
    let writer = node.client().await;
    let watcher = node.client().await;
    let mut w = bounded!(watcher.watch("/pw", zk::AddWatchMode::Persistent)).unwrap();

    bounded!(writer.create("/pw", b"", &persistent())).unwrap();
    assert_eq!(
        next_event(&mut w).await,
        (zk::EventType::NodeCreated, "/pw".into())
    );
    bounded!(writer.set_data("/pw", b"1", None)).unwrap();
    assert_eq!(
        next_event(&mut w).await,
        (zk::EventType::NodeDataChanged, "/pw".into())
    );
    bounded!(writer.set_data("/pw", b"2", None)).unwrap();
    assert_eq!(
        next_event(&mut w).await,
        (zk::EventType::NodeDataChanged, "/pw".into())
    );
    bounded!(writer.create("/pw/c", b"", &persistent())).unwrap();
    assert_eq!(
        next_event(&mut w).await,
        (zk::EventType::NodeChildrenChanged, "/pw".into())
    );

    // Below the direct children nothing is reported (this is not a recursive watch).
    bounded!(writer.create("/pw/c/g", b"", &persistent())).unwrap();
    bounded!(writer.set_data("/pw/c", b"x", None)).unwrap();
    bounded!(writer.delete("/pw/c/g", None)).unwrap();
    bounded!(writer.delete("/pw/c", None)).unwrap();
    assert_eq!(
        next_event(&mut w).await,
        (zk::EventType::NodeChildrenChanged, "/pw".into())
    );

    bounded!(writer.delete("/pw", None)).unwrap();
    assert_eq!(
        next_event(&mut w).await,
        (zk::EventType::NodeDeleted, "/pw".into())
    );
    bounded!(writer.create("/pw", b"", &persistent())).unwrap();
    assert_eq!(
        next_event(&mut w).await,
        (zk::EventType::NodeCreated, "/pw".into()),
        "the watch stays after a delete"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn recursive_watch_sees_descendants_through_the_client() {
    let node = TestNode::start("watch-recursive").await;
    let writer = node.client().await;
    let watcher = node.client().await;
    let mut w = bounded!(watcher.watch("/rw", zk::AddWatchMode::PersistentRecursive)).unwrap();

    bounded!(writer.create("/rw", b"", &persistent())).unwrap();
    bounded!(writer.create("/rw/a", b"", &persistent())).unwrap();
    bounded!(writer.create("/rw/a/b", b"", &persistent())).unwrap();
    bounded!(writer.set_data("/rw/a/b", b"1", None)).unwrap();
    bounded!(writer.create("/rwx", b"", &persistent())).unwrap(); // a sibling, not below /rw
    bounded!(writer.delete("/rw/a/b", None)).unwrap();
    bounded!(writer.set_data("/rw", b"end", None)).unwrap();
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(next_event(&mut w).await);
    }
    use zk::EventType::*;
    assert_eq!(
        seen,
        [
            (NodeCreated, "/rw".to_string()),
            (NodeCreated, "/rw/a".to_string()),
            (NodeCreated, "/rw/a/b".to_string()),
            (NodeDataChanged, "/rw/a/b".to_string()),
            (NodeDeleted, "/rw/a/b".to_string()),
            (NodeDataChanged, "/rw".to_string()),
        ]
    );
}

/// On the wire: a persistent-recursive watch never reports NodeChildrenChanged, and a
/// persistent one does; both stay registered after firing.
#[tokio::test(flavor = "multi_thread")]
async fn add_watch_modes_on_the_wire() {
    let node = TestNode::start("watch-addwatch").await;
    let writer = node.client().await;
    bounded!(writer.create("/r", b"", &persistent())).unwrap();
    bounded!(writer.create("/q", b"", &persistent())).unwrap();

    let (mut conn, _) = RawConn::open_session(node.addr(), 10_000).await;
    let recursive = Jute::new().string("/r").int(1).into_vec();
    assert_eq!(conn.call(op::ADD_WATCH, &recursive).await.0.err, err::OK);
    let persistent_mode = Jute::new().string("/q").int(0).into_vec();
    assert_eq!(
        conn.call(op::ADD_WATCH, &persistent_mode).await.0.err,
        err::OK
    );

    bounded!(writer.create("/r/a", b"", &persistent())).unwrap();
    bounded!(writer.create("/r/a/b", b"", &persistent())).unwrap();
    bounded!(writer.delete("/r/a/b", None)).unwrap();
    bounded!(writer.create("/q/a", b"", &persistent())).unwrap();
    bounded!(writer.create("/q/a/b", b"", &persistent())).unwrap();
    bounded!(writer.set_data("/q", b"", None)).unwrap();
    bounded!(writer.set_data("/r", b"", None)).unwrap();
    assert_eq!(
        conn.ping().await,
        [
            note(event::NODE_CREATED, "/r/a"),
            note(event::NODE_CREATED, "/r/a/b"),
            note(event::NODE_DELETED, "/r/a/b"),
            note(event::NODE_CHILDREN_CHANGED, "/q"),
            note(event::NODE_DATA_CHANGED, "/q"),
            note(event::NODE_DATA_CHANGED, "/r"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_fires_before_the_reply_of_the_triggering_write() {
    let node = TestNode::start("watch-order").await;
    let client = node.client().await;
    bounded!(client.create("/f", b"", &persistent())).unwrap();

    // Through the client: when setData returns, the event has already been dispatched,
    // because the notification frame precedes the reply frame on the connection.
    let (_, _, w) = bounded!(client.get_and_watch_data("/f")).unwrap();
    bounded!(client.set_data("/f", b"1", None)).unwrap();
    let event = w
        .changed()
        .now_or_never()
        .expect("the watch event was not delivered before the reply");
    assert_eq!(
        (event.event_type, event.path.as_str()),
        (zk::EventType::NodeDataChanged, "/f")
    );

    // On the wire, for data, exist and child watches.
    let (mut conn, _) = RawConn::open_session(node.addr(), 10_000).await;
    assert_eq!(
        conn.call(op::GET_DATA, &raw::path_watch("/f", true))
            .await
            .0
            .err,
        err::OK
    );
    let (reply, before) = conn
        .call(op::SET_DATA, &raw::set_data("/f", b"2", -1))
        .await;
    assert_eq!(reply.err, err::OK);
    assert_eq!(before, [note(event::NODE_DATA_CHANGED, "/f")]);

    assert_eq!(
        conn.call(op::EXISTS, &raw::path_watch("/f/new", true))
            .await
            .0
            .err,
        err::NO_NODE
    );
    assert_eq!(
        conn.call(op::GET_CHILDREN, &raw::path_watch("/f", true))
            .await
            .0
            .err,
        err::OK
    );
    let (reply, before) = conn.call(op::CREATE, &raw::create("/f/new", b"", 0)).await;
    assert_eq!(reply.err, err::OK);
    let mut before = before;
    before.sort_by_key(|n| n.event_type);
    assert_eq!(
        before,
        [
            note(event::NODE_CREATED, "/f/new"),
            note(event::NODE_CHILDREN_CHANGED, "/f")
        ]
    );
}

/// checkWatches and removeWatches on the wire: a removed watch no longer fires.
#[tokio::test(flavor = "multi_thread")]
async fn removed_watches_do_not_fire() {
    let node = TestNode::start("watch-remove").await;
    let writer = node.client().await;
    bounded!(writer.create("/rm", b"", &persistent())).unwrap();
    let (mut conn, _) = RawConn::open_session(node.addr(), 10_000).await;

    assert_eq!(
        conn.call(op::EXISTS, &raw::path_watch("/rm/gone", true))
            .await
            .0
            .err,
        err::NO_NODE
    );
    assert_eq!(
        conn.call(op::GET_CHILDREN, &raw::path_watch("/rm", true))
            .await
            .0
            .err,
        err::OK
    );
    let check = |path: &str, kind: i32| raw::watches(path, kind);
    assert_eq!(
        conn.call(op::CHECK_WATCHES, &check("/rm/gone", watcher_type::DATA))
            .await
            .0
            .err,
        err::OK
    );
    assert_eq!(
        conn.call(
            op::CHECK_WATCHES,
            &check("/rm/gone", watcher_type::CHILDREN)
        )
        .await
        .0
        .err,
        err::NO_WATCHER
    );
    assert_eq!(
        conn.call(op::CHECK_WATCHES, &check("/rm", watcher_type::CHILDREN))
            .await
            .0
            .err,
        err::OK
    );
    assert_eq!(
        conn.call(op::CHECK_WATCHES, &check("/nowhere", watcher_type::ANY))
            .await
            .0
            .err,
        err::NO_WATCHER
    );

    assert_eq!(
        conn.call(op::REMOVE_WATCHES, &check("/rm/gone", watcher_type::ANY))
            .await
            .0
            .err,
        err::OK
    );
    assert_eq!(
        conn.call(op::CHECK_WATCHES, &check("/rm/gone", watcher_type::ANY))
            .await
            .0
            .err,
        err::NO_WATCHER
    );
    assert_eq!(
        conn.call(op::REMOVE_WATCHES, &check("/rm/gone", watcher_type::ANY))
            .await
            .0
            .err,
        err::NO_WATCHER
    );
    assert_eq!(
        conn.call(op::REMOVE_WATCHES, &check("/rm", watcher_type::CHILDREN))
            .await
            .0
            .err,
        err::OK
    );

    // Neither removed watch fires; a watch set afterwards does.
    assert_eq!(
        conn.call(op::EXISTS, &raw::path_watch("/rm/kept", true))
            .await
            .0
            .err,
        err::NO_NODE
    );
    bounded!(writer.create("/rm/gone", b"", &persistent())).unwrap();
    bounded!(writer.create("/rm/kept", b"", &persistent())).unwrap();
    assert_eq!(conn.ping().await, [note(event::NODE_CREATED, "/rm/kept")]);
}

/// Through the client: removing a watcher (removeWatches) succeeds and other watchers of the
/// session keep working.
#[tokio::test(flavor = "multi_thread")]
#[allow(deprecated)] // `remove()` is the only way to observe removeWatches' reply.
async fn client_watch_removal() {
    let node = TestNode::start("watch-remove-client").await;
    let writer = node.client().await;
    let client = node.client().await;
    bounded!(writer.create("/cw", b"", &persistent())).unwrap();

    let (_, _, data_w) = bounded!(client.get_and_watch_data("/cw")).unwrap();
    let (_, _, child_w) = bounded!(client.get_and_watch_children("/cw")).unwrap();
    bounded!(data_w.remove()).unwrap();
    bounded!(writer.set_data("/cw", b"1", None)).unwrap();
    bounded!(writer.create("/cw/k", b"", &persistent())).unwrap();
    assert_eq!(
        oneshot_event(child_w).await,
        (zk::EventType::NodeChildrenChanged, "/cw".into())
    );

    // Dropping a persistent watcher sends removeWatches for it (ZooKeeper removes persistent
    // watches by path, so it is set on a path of its own here).
    let recursive =
        bounded!(client.watch("/elsewhere", zk::AddWatchMode::PersistentRecursive)).unwrap();
    bounded!(recursive.remove()).unwrap();

    // The session is healthy afterwards: a new data watch still fires.
    let (_, _, data_w) = bounded!(client.get_and_watch_data("/cw")).unwrap();
    bounded!(writer.set_data("/cw", b"2", None)).unwrap();
    assert_eq!(
        oneshot_event(data_w).await,
        (zk::EventType::NodeDataChanged, "/cw".into())
    );
}
