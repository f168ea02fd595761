//! Sessions: resumption across a lost connection (ephemerals and watches kept, missed changes
//! replayed), expiry, closeSession, refused reconnects, and timeout negotiation.

#[macro_use]
mod common;

use std::time::Duration;

use common::proxy::Proxy;
use common::raw::{self, ConnectRequest, Jute, RawConn, err, event, op};
use common::{Backend, NodeConfig, TestNode, connect_bounded, connector_with_timeout};
use zookeeper_client as zk;

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

fn ephemeral() -> zk::CreateOptions<'static> {
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all())
}

async fn oneshot_event(watcher: zk::OneshotWatcher) -> (zk::EventType, String) {
    let event = bounded!(watcher.changed());
    (event.event_type, event.path)
}

/// Wait until `states` reports `wanted`, failing on a terminal state that is not `wanted`.
async fn wait_for_state(states: &mut zk::StateWatcher, wanted: zk::SessionState) {
    bounded!(async {
        loop {
            let state = states.changed().await;
            if state == wanted {
                return;
            }
            assert!(
                !state.is_terminated(),
                "session ended in {state} while waiting for {wanted}"
            );
        }
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn cut_connection_resumes_the_session_with_ephemerals_and_watches() {
    let node = TestNode::start("sess-resume").await;
    let proxy = Proxy::start(node.addr()).await;
    let a = bounded!(connect_bounded(
        connector_with_timeout(Duration::from_secs(20)),
        &proxy.connect_string()
    ))
    .unwrap();
    let b = node.client().await;
    let session = a.session_id();

    bounded!(a.create("/s", b"", &persistent())).unwrap();
    bounded!(a.create("/s/eph", b"", &ephemeral())).unwrap();
    bounded!(a.create("/s/watched", b"", &persistent())).unwrap();
    let (_, _, data_w) = bounded!(a.get_and_watch_data("/s/watched")).unwrap();
    let (_, _, child_w) = bounded!(a.get_and_watch_children("/s")).unwrap();

    let mut states = a.state_watcher();
    proxy.sever();
    wait_for_state(&mut states, zk::SessionState::SyncConnected).await;
    assert_eq!(a.session_id(), session);

    let eph = bounded!(b.check_stat("/s/eph"))
        .unwrap()
        .expect("the ephemeral survived the reconnect");
    assert_eq!(eph.ephemeral_owner, session.0);
    assert_eq!(bounded!(a.list_ephemerals("/")).unwrap(), ["/s/eph"]);

    bounded!(b.set_data("/s/watched", b"x", None)).unwrap();
    assert_eq!(
        oneshot_event(data_w).await,
        (zk::EventType::NodeDataChanged, "/s/watched".into())
    );
    bounded!(b.create("/s/new", b"", &persistent())).unwrap();
    assert_eq!(
        oneshot_event(child_w).await,
        (zk::EventType::NodeChildrenChanged, "/s".into())
    );

    // Writes still go through the resumed session.
    bounded!(a.create("/s/eph2", b"", &ephemeral())).unwrap();
    assert_eq!(
        bounded!(b.check_stat("/s/eph2"))
            .unwrap()
            .unwrap()
            .ephemeral_owner,
        session.0
    );
}

/// Persistent watches are re-registered with setWatches2 on the new connection. Checked on the
/// wire: zookeeper-client 0.11.2 only ever re-sends setWatches (its `resend_watches` never
/// raises the list index), so its persistent watchers go deaf after a reconnect on any server.
#[tokio::test(flavor = "multi_thread")]
async fn set_watches2_restores_persistent_watches_on_a_resumed_session() {
    let node = TestNode::start("sess-setwatches2").await;
    let writer = node.client().await;
    let (mut first, granted) = RawConn::open_session(node.addr(), 20_000).await;
    let add_watch = |path: &str, mode: i32| Jute::new().string(path).int(mode).into_vec();
    let (reply, _) = first.call(op::ADD_WATCH, &add_watch("/p", 0)).await;
    assert_eq!(reply.err, err::OK);
    let last_zxid = reply.zxid;
    drop(first);

    let mut second = RawConn::connect(node.addr()).await;
    let resumed = second
        .handshake(&ConnectRequest::resume(
            granted.session_id,
            &granted.password,
            20_000,
        ))
        .await
        .expect("no answer to a resume");
    assert_eq!(resumed.session_id, granted.session_id);
    let strings = |list: &[&str]| {
        list.iter()
            .fold(Jute::new().int(list.len() as i32), |jute, path| {
                jute.string(path)
            })
            .into_vec()
    };
    let set_watches2 = Jute::new()
        .long(last_zxid)
        .raw(&strings(&[])) // data
        .raw(&strings(&[])) // exist
        .raw(&strings(&[])) // child
        .raw(&strings(&["/p"])) // persistent
        .raw(&strings(&["/q"])) // persistent recursive
        .into_vec();
    second
        .send_with_xid(raw::SET_WATCHES_XID, op::SET_WATCHES2, &set_watches2)
        .await;
    let (reply, early) = second.reply_to(raw::SET_WATCHES_XID).await;
    assert_eq!((reply.err, early.len()), (err::OK, 0));

    bounded!(writer.create("/p", b"", &persistent())).unwrap();
    bounded!(writer.create("/p/child", b"", &persistent())).unwrap();
    bounded!(writer.create("/q", b"", &persistent())).unwrap();
    bounded!(writer.create("/q/x", b"", &persistent())).unwrap();
    bounded!(writer.set_data("/p", b"", None)).unwrap();
    let note = |event_type: i32, path: &str| raw::Notification {
        event_type,
        state: raw::SYNC_CONNECTED,
        path: path.to_string(),
    };
    assert_eq!(
        second.ping().await,
        [
            note(event::NODE_CREATED, "/p"),
            note(event::NODE_CHILDREN_CHANGED, "/p"),
            note(event::NODE_CREATED, "/q"),
            note(event::NODE_CREATED, "/q/x"),
            note(event::NODE_DATA_CHANGED, "/p"),
        ]
    );
}

/// Changes made while the client was cut off are reported when it reconnects, through the
/// setWatches replay (ZooKeeper's DataTree.setWatches rules).
#[tokio::test(flavor = "multi_thread")]
async fn changes_missed_while_disconnected_fire_after_reconnect() {
    let node = TestNode::start("sess-setwatches").await;
    let proxy = Proxy::start(node.addr()).await;
    let a = bounded!(connect_bounded(
        connector_with_timeout(Duration::from_secs(20)),
        &proxy.connect_string()
    ))
    .unwrap();
    let b = node.client().await;
    bounded!(b.create("/m", b"", &persistent())).unwrap();
    bounded!(b.create("/gone", b"", &persistent())).unwrap();
    let (_, _, data_w) = bounded!(a.get_and_watch_data("/m")).unwrap();
    let (_, _, child_w) = bounded!(a.get_and_watch_children("/m")).unwrap();
    let (_, exist_w) = bounded!(a.check_and_watch_stat("/m-new")).unwrap();
    let (_, _, deleted_w) = bounded!(a.get_and_watch_data("/gone")).unwrap();

    proxy.blackhole();
    bounded!(b.set_data("/m", b"changed", None)).unwrap();
    bounded!(b.create("/m/c", b"", &persistent())).unwrap();
    bounded!(b.create("/m-new", b"", &persistent())).unwrap();
    bounded!(b.delete("/gone", None)).unwrap();
    proxy.restore();

    assert_eq!(
        oneshot_event(data_w).await,
        (zk::EventType::NodeDataChanged, "/m".into())
    );
    assert_eq!(
        oneshot_event(child_w).await,
        (zk::EventType::NodeChildrenChanged, "/m".into())
    );
    assert_eq!(
        oneshot_event(exist_w).await,
        (zk::EventType::NodeCreated, "/m-new".into())
    );
    assert_eq!(
        oneshot_event(deleted_w).await,
        (zk::EventType::NodeDeleted, "/gone".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn new_connection_resumes_a_session_by_id_and_password() {
    let node = TestNode::start("sess-reattach").await;
    let detached = node
        .client_with(common::default_connector().with_detached())
        .await;
    let session = detached.session_id();
    bounded!(detached.create("/owned", b"", &ephemeral())).unwrap();
    let mut states = detached.state_watcher();
    let info = detached.into_session(); // closes the connection, not the session
    wait_for_state(&mut states, zk::SessionState::Closed).await;

    let resumed = node
        .client_with(common::default_connector().with_session(info))
        .await;
    assert_eq!(resumed.session_id(), session);
    assert_eq!(bounded!(resumed.list_ephemerals("/")).unwrap(), ["/owned"]);
    let stat = bounded!(resumed.check_stat("/owned")).unwrap().unwrap();
    assert_eq!(stat.ephemeral_owner, session.0);
    bounded!(resumed.delete("/owned", None)).unwrap();
}

/// The same over raw frames, ending with closeSession: the ephemerals go at once.
#[tokio::test(flavor = "multi_thread")]
async fn raw_resume_then_close_session() {
    let node = TestNode::start("sess-raw-resume").await;
    let observer = node.client().await;
    bounded!(observer.create("/r", b"", &persistent())).unwrap();

    let (mut first, granted) = RawConn::open_session(node.addr(), 30_000).await;
    assert_eq!(granted.password.len(), 16, "{granted:?}");
    let (reply, _) = first.call(op::CREATE, &raw::create("/r/eph", b"", 1)).await;
    assert_eq!(reply.err, err::OK);
    let (_, _, child_w) = bounded!(observer.get_and_watch_children("/r")).unwrap();
    drop(first); // the TCP connection ends; the session does not

    let mut second = RawConn::connect(node.addr()).await;
    let resumed = second
        .handshake(&ConnectRequest::resume(
            granted.session_id,
            &granted.password,
            30_000,
        ))
        .await
        .expect("no answer to a resume");
    assert_eq!(resumed.session_id, granted.session_id);
    assert_eq!(resumed.timeout_ms, granted.timeout_ms);
    assert_eq!(resumed.password.len(), 16);
    assert!(second.ping().await.is_empty());
    let stat = bounded!(observer.check_stat("/r/eph"))
        .unwrap()
        .expect("ephemeral kept across the resume");
    assert_eq!(stat.ephemeral_owner, granted.session_id);

    let (reply, _) = second.call(op::CLOSE_SESSION, &[]).await;
    assert_eq!(reply.err, err::OK);
    second
        .expect_closed("the node closes the connection after closeSession")
        .await;
    assert_eq!(
        oneshot_event(child_w).await,
        (zk::EventType::NodeChildrenChanged, "/r".into())
    );
    assert_eq!(bounded!(observer.check_stat("/r/eph")).unwrap(), None);

    let mut third = RawConn::connect(node.addr()).await;
    let refused = third
        .handshake(&ConnectRequest::resume(
            granted.session_id,
            &granted.password,
            30_000,
        ))
        .await
        .expect("a closed session is answered, not dropped");
    assert!(refused.is_expired_reply(), "{refused:?}");
    third.expect_closed("after the expired reply").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn client_close_deletes_ephemerals_and_ends_the_session() {
    let node = TestNode::start("sess-close").await;
    let observer = node.client().await;
    // A long timeout: if close were ignored the ephemeral would outlive the test's bound.
    let owner = node
        .client_with(connector_with_timeout(Duration::from_secs(40)))
        .await;
    bounded!(observer.create("/c", b"", &persistent())).unwrap();
    bounded!(owner.create("/c/e", b"", &ephemeral())).unwrap();
    let (_, _, data_w) = bounded!(observer.get_and_watch_data("/c/e")).unwrap();
    let (_, _, child_w) = bounded!(observer.get_and_watch_children("/c")).unwrap();

    let mut states = owner.state_watcher();
    let info = owner.into_session(); // the last handle: the client sends closeSession
    wait_for_state(&mut states, zk::SessionState::Closed).await;
    assert_eq!(
        oneshot_event(data_w).await,
        (zk::EventType::NodeDeleted, "/c/e".into())
    );
    assert_eq!(
        oneshot_event(child_w).await,
        (zk::EventType::NodeChildrenChanged, "/c".into())
    );

    let resumed = node
        .try_client_with(common::default_connector().with_session(info))
        .await;
    assert_eq!(resumed.unwrap_err(), zk::Error::SessionExpired);
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_session_expires_and_its_ephemerals_go() {
    let node = TestNode::start_with("sess-expire-raw", NodeConfig::fast_sessions()).await;
    let observer = node.client().await;
    bounded!(observer.create("/x", b"", &persistent())).unwrap();

    let (mut silent, granted) = RawConn::open_session(node.addr(), 2000).await;
    assert_eq!(granted.timeout_ms, 2000);
    assert_eq!(
        silent
            .call(op::CREATE, &raw::create("/x/eph", b"", 1))
            .await
            .0
            .err,
        err::OK
    );
    let (_, _, data_w) = bounded!(observer.get_and_watch_data("/x/eph")).unwrap();
    let (_, _, child_w) = bounded!(observer.get_and_watch_children("/x")).unwrap();
    assert_eq!(
        bounded!(observer.check_stat("/x/eph"))
            .unwrap()
            .unwrap()
            .ephemeral_owner,
        granted.session_id
    );

    // No pings from now on.
    assert_eq!(
        oneshot_event(data_w).await,
        (zk::EventType::NodeDeleted, "/x/eph".into())
    );
    assert_eq!(
        oneshot_event(child_w).await,
        (zk::EventType::NodeChildrenChanged, "/x".into())
    );
    silent
        .expect_closed("the node closes the connection of an expired session")
        .await;

    let mut retry = RawConn::connect(node.addr()).await;
    let reply = retry
        .handshake(&ConnectRequest::resume(
            granted.session_id,
            &granted.password,
            2000,
        ))
        .await
        .expect("an expired session is answered, not dropped");
    assert!(reply.is_expired_reply(), "{reply:?}");
    assert_eq!(
        reply.read_only,
        Some(false),
        "the readOnly byte mirrors the request"
    );
    retry.expect_closed("after the expired reply").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn client_cut_off_past_its_timeout_sees_expired() {
    let node = TestNode::start_with("sess-expire-client", NodeConfig::fast_sessions()).await;
    let proxy = Proxy::start(node.addr()).await;
    let a = bounded!(connect_bounded(
        connector_with_timeout(Duration::from_secs(2)),
        &proxy.connect_string()
    ))
    .unwrap();
    let observer = node.client().await;
    bounded!(a.create("/bh", b"", &ephemeral())).unwrap();
    let (_, _, w) = bounded!(observer.get_and_watch_data("/bh")).unwrap();
    let mut states = a.state_watcher();

    proxy.blackhole();
    assert_eq!(
        oneshot_event(w).await,
        (zk::EventType::NodeDeleted, "/bh".into())
    );
    proxy.restore();
    wait_for_state(&mut states, zk::SessionState::Expired).await;
    assert_eq!(
        bounded!(a.get_data("/")).unwrap_err(),
        zk::Error::SessionExpired
    );
    bounded!(observer.create("/after", b"", &persistent())).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_gets_the_expired_reply_and_the_session_lives_on() {
    let node = TestNode::start("sess-bad-password").await;
    let victim = node.client().await;
    let session = victim.session_id();
    bounded!(victim.create("/v", b"", &ephemeral())).unwrap();
    let mut states = victim.state_watcher();

    for password in [vec![0xAB; 16], vec![1, 2, 3]] {
        let mut conn = RawConn::connect(node.addr()).await;
        let reply = conn
            .handshake(&ConnectRequest::resume(session.0, &password, 20_000))
            .await;
        match (node.backend(), reply) {
            (_, Some(reply)) => assert!(reply.is_expired_reply(), "{reply:?}"),
            // ZooKeeper closes the session's current connection before it checks the password
            // (ZooKeeperServer.processConnectRequest: closeSession(CLIENT_RECONNECT), then
            // reopenSession), and that close can take the new connection down before the reply.
            (Backend::ZooKeeper, None) => {}
            (Backend::Corral, None) => {
                panic!("a wrong password must be answered with the expired reply")
            }
        }
        conn.expect_closed("after refusing the password").await;
    }

    // The session survives; its connection may have been bounced (ZooKeeper does that), in
    // which case the client reconnects with the right password.
    bounded!(victim.set_data("/v", b"still mine", None)).unwrap();
    assert_eq!(victim.session_id(), session);
    let state = states.state();
    assert!(
        !state.is_terminated(),
        "the rightful session ended: {state}"
    );
    let stat = bounded!(victim.check_stat("/v")).unwrap().unwrap();
    assert_eq!(stat.ephemeral_owner, session.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn client_ahead_of_the_server_is_refused_without_reply() {
    let node = TestNode::start("sess-zxid-ahead").await;
    let client = node.client().await;
    bounded!(client.create("/z", b"", &persistent())).unwrap();

    let mut conn = RawConn::connect(node.addr()).await;
    let request = ConnectRequest {
        last_zxid_seen: 1 << 60,
        ..ConnectRequest::new_session(10_000)
    };
    conn.write_frame(&request.encode()).await.unwrap();
    let closed = conn
        .expect_closed("a client that has seen a newer zxid")
        .await;
    assert!(
        closed.received.is_empty(),
        "the refusal must carry no reply, got {:?}",
        closed.received
    );

    // A client whose lastZxidSeen is current is accepted.
    let (_, stat) = bounded!(client.get_data("/z")).unwrap();
    let mut conn = RawConn::connect(node.addr()).await;
    let request = ConnectRequest {
        last_zxid_seen: stat.czxid,
        ..ConnectRequest::new_session(10_000)
    };
    let reply = conn
        .handshake(&request)
        .await
        .expect("a current client is answered");
    assert_ne!(reply.session_id, 0);
    bounded!(client.create("/z/after", b"", &persistent())).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn session_timeout_is_clamped_and_the_read_only_byte_mirrored() {
    let config = NodeConfig {
        tick_time_ms: Some(2000),
        ..NodeConfig::default()
    };
    let node = TestNode::start_with("sess-timeouts", config).await;
    for (asked, granted) in [(100, 4000), (10_000, 10_000), (1_000_000, 40_000)] {
        let (_, reply) = RawConn::open_session(node.addr(), asked).await;
        assert_eq!(reply.timeout_ms, granted, "asked for {asked} ms");
        assert_eq!(reply.read_only, Some(false));
        assert_eq!(reply.password.len(), 16);
    }
    // A 3.3-era handshake without the readOnly byte gets an answer without it.
    let mut conn = RawConn::connect(node.addr()).await;
    let old = ConnectRequest {
        read_only: None,
        ..ConnectRequest::new_session(10_000)
    };
    let reply = conn
        .handshake(&old)
        .await
        .expect("an old client is answered");
    assert_eq!(reply.read_only, None);
    assert_ne!(reply.session_id, 0);
    assert!(conn.ping().await.is_empty());

    let client = node
        .client_with(connector_with_timeout(Duration::from_millis(1000)))
        .await;
    assert_eq!(client.session_timeout(), Duration::from_millis(4000));
}
