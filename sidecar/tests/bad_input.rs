//! Bad input on the client port, written byte by byte: oversized and garbage frames, truncated
//! records, four-letter words and the per-IP connection limit. Each case closes only the
//! offending connection; a separate client session keeps working during and after.

#[macro_use]
mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::raw::{self, ConnectRequest, Jute, RawConn, err, op};
use common::{NodeConfig, TestNode};
use zookeeper_client as zk;

/// jute.maxbuffer for these nodes: small, so the limit is cheap to reach.
const LIMIT: usize = 64 * 1024;

fn limited() -> NodeConfig {
    NodeConfig {
        jute_max_buffer: Some(LIMIT),
        ..NodeConfig::default()
    }
}

/// A control session writes and reads back; fails the test if the node stopped serving it.
async fn assert_serving(client: &zk::Client, tag: &str) {
    let path = format!("/healthy-{tag}");
    let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    bounded!(client.create(&path, tag.as_bytes(), &options))
        .unwrap_or_else(|e| panic!("{tag}: create failed: {e}"));
    let (data, _) =
        bounded!(client.get_data(&path)).unwrap_or_else(|e| panic!("{tag}: read failed: {e}"));
    assert_eq!(data, tag.as_bytes());
}

async fn send_and_expect_silent_close(node: &TestNode, bytes: &[u8], what: &str) {
    let mut conn = RawConn::connect(node.addr()).await;
    let _ = conn.write_bytes(bytes).await; // the node may close before reading everything
    let closed = conn.expect_closed(what).await;
    assert!(
        closed.received.is_empty(),
        "{what}: expected no reply, got {:?}",
        closed.received
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn handshake_frame_over_the_limit_is_refused_and_at_the_limit_accepted() {
    let node = TestNode::start_with("bad-handshake-limit", limited()).await;
    let control = node.client().await;

    // Only the length prefix: the node must not wait for a body it will not accept.
    let over = ((LIMIT + 1) as u32).to_be_bytes();
    send_and_expect_silent_close(&node, &over, "handshake length limit+1").await;
    assert_serving(&control, "after-oversized-handshake").await;

    // A ConnectRequest of exactly LIMIT bytes (its password buffer takes up the room).
    let fixed = ConnectRequest::new_session(10_000).encode().len() - 16;
    let at_limit = ConnectRequest {
        password: vec![7; LIMIT - fixed],
        ..ConnectRequest::new_session(10_000)
    };
    assert_eq!(at_limit.encode().len(), LIMIT);
    let mut conn = RawConn::connect(node.addr()).await;
    let reply = conn
        .handshake(&at_limit)
        .await
        .expect("a handshake of exactly jute.maxbuffer bytes is accepted");
    assert_ne!(reply.session_id, 0, "{reply:?}");
    assert!(conn.ping().await.is_empty());
    assert_serving(&control, "after-handshake-at-limit").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn request_frame_over_the_limit_closes_the_session_connection() {
    let node = TestNode::start_with("bad-request-limit", limited()).await;
    let control = node.client().await;
    let (mut conn, _) = RawConn::open_session(node.addr(), 20_000).await;

    // setData whose frame payload is exactly LIMIT bytes: header 8, path 4+4, data 4+n, version 4.
    bounded!(control.create(
        "/big",
        b"",
        &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
    ))
    .unwrap();
    let data = vec![b'x'; LIMIT - 24];
    let body = raw::set_data("/big", &data, -1);
    assert_eq!(body.len() + 8, LIMIT);
    let (reply, _) = conn.call(op::SET_DATA, &body).await;
    assert_eq!(
        reply.err,
        err::OK,
        "a request of exactly jute.maxbuffer bytes is served"
    );
    let (stored, stat) = bounded!(control.get_data("/big")).unwrap();
    assert_eq!(
        (stored.len(), stat.data_length as usize),
        (data.len(), data.len())
    );

    let _ = conn.write_bytes(&((LIMIT + 1) as u32).to_be_bytes()).await;
    let closed = conn.expect_closed("request length limit+1").await;
    assert!(
        closed.received.is_empty(),
        "no reply to an oversized frame: {:?}",
        closed.received
    );
    assert_serving(&control, "after-oversized-request").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_handshakes_close_only_their_connection() {
    let node = TestNode::start("bad-garbage").await;
    let control = node.client().await;
    let mut too_short = 7u32.to_be_bytes().to_vec();
    too_short.extend_from_slice(b"garbage");
    let cases: [(&str, Vec<u8>); 4] = [
        ("a 7-byte frame that is no ConnectRequest", too_short),
        ("a negative frame length", (-1i32).to_be_bytes().to_vec()),
        ("an empty frame", 0u32.to_be_bytes().to_vec()),
        (
            "an unknown four-letter word read as a huge length",
            b"xyzw".to_vec(),
        ),
    ];
    for (i, (what, bytes)) in cases.into_iter().enumerate() {
        send_and_expect_silent_close(&node, &bytes, what).await;
        assert_serving(&control, &format!("after-garbage-{i}")).await;
    }
    // New sessions are still granted.
    let (mut conn, _) = RawConn::open_session(node.addr(), 10_000).await;
    assert!(conn.ping().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_record_closes_the_connection() {
    let node = TestNode::start("bad-truncated").await;
    let control = node.client().await;
    bounded!(control.create(
        "/t",
        b"",
        &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
    ))
    .unwrap();

    for opcode in [op::GET_DATA, op::CREATE] {
        let (mut conn, _) = RawConn::open_session(node.addr(), 10_000).await;
        // The frame length matches the bytes sent; inside, the path claims 100 bytes but has 3.
        let payload = Jute::new()
            .int(1)
            .int(opcode)
            .int(100)
            .raw(b"/t/")
            .into_vec();
        conn.write_frame(&payload).await.unwrap();
        let closed = conn
            .expect_closed(&format!("truncated record for opcode {opcode}"))
            .await;
        // ZooKeeper 3.8 answers MARSHALLINGERROR for the request before it closes; closing
        // without a reply is accepted too. Anything else (a success, a different error) is not.
        if !closed.received.is_empty() {
            let mut frame = raw::Reader::new(&closed.received);
            let len = frame.int();
            let (xid, _zxid, code) = (frame.int(), frame.long(), frame.int());
            assert_eq!(
                (len, xid, code),
                (16, 1, err::MARSHALLING_ERROR),
                "opcode {opcode}: {:?}",
                closed.received
            );
            assert_eq!(frame.remaining(), 0, "nothing after the error reply");
        }
        assert_serving(&control, &format!("after-truncated-{opcode}")).await;
    }
    assert_eq!(
        bounded!(control.list_children("/t")).unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn four_letter_words_follow_the_whitelist() {
    let config = NodeConfig {
        four_letter_words: Some("ruok,srvr".to_string()),
        ..NodeConfig::default()
    };
    let node = TestNode::start_with("bad-4lw", config).await;
    let control = node.client().await;
    let ask = |word: &'static str| {
        let addr = node.addr();
        async move {
            let mut conn = RawConn::connect(addr).await;
            conn.write_bytes(word.as_bytes()).await.unwrap();
            let closed = conn.expect_closed(word).await;
            String::from_utf8(closed.received).expect("four-letter word output is text")
        }
    };

    assert_eq!(ask("ruok").await, "imok");
    let srvr = ask("srvr").await;
    assert!(srvr.contains("Zookeeper version: "), "{srvr}");
    assert!(srvr.contains("Mode: standalone"), "{srvr}");
    assert!(srvr.contains("Zxid: 0x"), "{srvr}");
    for word in ["stat", "envi", "mntr"] {
        assert_eq!(
            ask(word).await,
            format!("{word} is not executed because it is not in the whitelist.\n")
        );
    }
    assert_serving(&control, "after-4lw").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_beyond_max_client_cnxns_are_closed() {
    let config = NodeConfig {
        max_client_cnxns: Some(3),
        ..NodeConfig::default()
    };
    let node = TestNode::start_with("bad-maxcnxns", config).await;
    // The control client connects from 127.0.0.1; the crowd comes from 127.0.0.2, so that
    // only the crowd counts against its address's limit.
    let control = node.client().await;
    let crowd_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let mut crowd = Vec::new();
    for _ in 0..3 {
        let mut conn = RawConn::connect_from(crowd_ip, node.addr()).await;
        let reply = conn
            .handshake(&ConnectRequest::new_session(20_000))
            .await
            .expect("within the limit");
        assert_ne!(reply.session_id, 0);
        crowd.push(conn);
    }

    let mut extra = RawConn::connect_from(crowd_ip, node.addr()).await;
    let _ = extra
        .write_frame(&ConnectRequest::new_session(20_000).encode())
        .await;
    let closed = extra
        .expect_closed("a fourth connection from one address (maxClientCnxns=3)")
        .await;
    assert!(
        closed.received.is_empty(),
        "the extra connection got {:?}",
        closed.received
    );

    for conn in crowd.iter_mut() {
        assert!(
            conn.ping().await.is_empty(),
            "connections within the limit keep working"
        );
    }
    assert_serving(&control, "during-crowd").await;

    // A freed slot can be taken again.
    drop(crowd.pop());
    common::eventually(
        "a slot frees up after a connection closes",
        Duration::from_secs(10),
        || async {
            let mut conn = RawConn::try_connect_from(crowd_ip, node.addr())
                .await
                .ok()?;
            let reply = conn.handshake(&ConnectRequest::new_session(20_000)).await?;
            (reply.session_id != 0).then_some(())
        },
    )
    .await;
    assert_serving(&control, "after-crowd").await;
}
