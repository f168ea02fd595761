//! Durability: every acknowledged write survives `kill -9` and a restart on the same data dir.

#[macro_use]
mod common;

use std::collections::BTreeMap;

use common::raw::{self, ConnectRequest, RawConn, err, op};
use common::{TestNode, mark};
use zookeeper_client as zk;

const ROUNDS: usize = 20;

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// Each round writes a few small nodes, updates a counter, deletes a node of the previous round
/// and creates one sequential node, all acknowledged; then the node is SIGKILLed and restarted,
/// and everything acknowledged so far must be there, with nothing else.
#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_survive_kill_9() {
    let mut node = TestNode::start("durability-kill9").await;
    let mut expected: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut last_mzxid = 0;
    {
        let client = node.client().await;
        bounded!(client.create("/d", b"", &persistent())).unwrap();
        bounded!(client.create("/seq", b"", &persistent())).unwrap();
        bounded!(client.create("/counter", b"start", &persistent())).unwrap();
    }

    for round in 0..ROUNDS {
        mark(&node, &format!("round {round}: writing"));
        let client = node.client().await;
        for k in 0..3 {
            let name = format!("r{round:02}-{k}");
            let data = format!("round {round} item {k}").into_bytes();
            bounded!(client.create(&format!("/d/{name}"), &data, &persistent())).unwrap();
            expected.insert(name, data);
        }
        let counter =
            bounded!(client.set_data("/counter", round.to_string().as_bytes(), Some(round as i32)))
                .unwrap();
        assert!(
            counter.mzxid > last_mzxid,
            "zxids keep growing across restarts"
        );
        last_mzxid = counter.mzxid;
        if round > 0 {
            let gone = format!("r{:02}-0", round - 1);
            bounded!(client.delete(&format!("/d/{gone}"), None)).unwrap();
            expected.remove(&gone);
        }
        let (_, seq) = bounded!(client.create(
            "/seq/n-",
            b"",
            &zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all())
        ))
        .unwrap();
        assert_eq!(
            seq.into_i64(),
            round as i64,
            "sequence numbers continue after a restart"
        );
        drop(client);

        node.kill9();
        mark(&node, &format!("round {round}: restarting after kill -9"));
        node.restart().await;

        let client = node.client().await;
        let mut children = bounded!(client.list_children("/d")).unwrap();
        children.sort();
        assert_eq!(
            children,
            expected.keys().cloned().collect::<Vec<_>>(),
            "round {round}: children of /d"
        );
        for (name, data) in &expected {
            let (stored, _) = bounded!(client.get_data(&format!("/d/{name}"))).unwrap();
            assert_eq!(&stored, data, "round {round}: /d/{name}");
        }
        let (value, stat) = bounded!(client.get_data("/counter")).unwrap();
        assert_eq!(
            value,
            round.to_string().as_bytes(),
            "round {round}: counter"
        );
        assert_eq!((stat.version, stat.mzxid), (round as i32 + 1, last_mzxid));
        assert_eq!(
            bounded!(client.count_descendants_number("/seq")).unwrap(),
            round + 1
        );
    }
}

/// A session and its ephemeral outlive a crash of the node: the client resumes it afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn sessions_survive_a_restart() {
    let mut node = TestNode::start("durability-session").await;
    let (mut conn, granted) = RawConn::open_session(node.addr(), 30_000).await;
    let (reply, _) = conn.call(op::CREATE, &raw::create("/mine", b"e", 1)).await;
    assert_eq!(reply.err, err::OK);
    drop(conn);

    node.kill9();
    node.restart().await;

    let observer = node.client().await;
    let stat = bounded!(observer.check_stat("/mine"))
        .unwrap()
        .expect("the ephemeral survived the restart");
    assert_eq!(stat.ephemeral_owner, granted.session_id);
    let (_, _, w) = bounded!(observer.get_and_watch_data("/mine")).unwrap();

    let mut conn = RawConn::connect(node.addr()).await;
    let resumed = conn
        .handshake(&ConnectRequest::resume(
            granted.session_id,
            &granted.password,
            30_000,
        ))
        .await
        .expect("no answer to the resume");
    assert_eq!(
        resumed.session_id, granted.session_id,
        "the session is resumed, not replaced"
    );
    let (reply, _) = conn.call(op::CLOSE_SESSION, &[]).await;
    assert_eq!(reply.err, err::OK);
    let event = bounded!(w.changed());
    assert_eq!(
        (event.event_type, event.path.as_str()),
        (zk::EventType::NodeDeleted, "/mine")
    );
}
