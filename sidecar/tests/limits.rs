//! Clients that misbehave on purpose cannot exhaust the node: one that pipelines thousands of
//! 1 MB reads and never reads the replies is throttled and then cut off while its neighbours
//! are served and the node's memory stays bounded; one that trickles its handshake (or sends
//! nothing) loses its connection slot once the handshake deadline passes.
//!
//! Against ZooKeeper 3.8.0 (`CORRAL_ITEST_BACKEND=zookeeper`) the handshake test shows where
//! Corral is stricter: ZooKeeper's `nio.sessionlessCnxnTimeout` closes a connection that sends
//! nothing, but every byte renews it, so a trickled handshake holds its slot as long as it
//! likes; Corral's deadline counts from the accept.

#[macro_use]
mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::raw::{self, RawConn};
use common::{Backend, NodeConfig, TestNode, eventually, mark};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use zookeeper_client as zk;

/// A second loopback address, so the per-IP connection limit counts only the test's own
/// misbehaving connections.
const ABUSER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// Resident set size of a process, in bytes.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    let kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/<pid>/status");
    kb * 1024
}

fn open() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// Frames of `count` getData requests for `path` (xids 1..=count), ready to be written at once.
fn pipelined_get_data(path: &str, count: i32) -> Vec<u8> {
    let mut bytes = Vec::new();
    for xid in 1..=count {
        let payload = raw::Jute::new()
            .int(xid)
            .int(raw::op::GET_DATA)
            .raw(&raw::path_watch(path, false))
            .into_vec();
        bytes.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&payload);
    }
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_throttled_then_cut_off_and_memory_stays_bounded() {
    if Backend::from_env() == Backend::ZooKeeper {
        // ZooKeeper queues every reply for such a client (3 GB here) until its heap runs out;
        // the bounds under test are Corral's own.
        return;
    }
    let node = TestNode::start_with("never-reads", NodeConfig::fast_sessions()).await;
    let pid = node.pid().expect("the node runs");
    let client = node.client().await;
    let big = vec![7u8; 1_000_000];
    bounded!(client.create("/big", &big, &open())).expect("create a 1 MB node");

    // The abuser: a session with a short timeout and an ephemeral that shows when it ends.
    let (mut abuser, _) = {
        let mut conn = RawConn::connect_from(ABUSER_IP, node.addr()).await;
        let response = conn
            .handshake(&raw::ConnectRequest::new_session(3_000))
            .await
            .expect("a session for the abuser");
        (conn, response)
    };
    let (reply, _) = bounded!(abuser.call(raw::op::CREATE, &raw::create("/abuser", b"", 1)));
    assert_eq!(reply.err, 0, "the abuser's ephemeral: {reply:?}");
    let before = rss_bytes(pid);

    mark(&node, "3000 pipelined getData of 1 MB, never read");
    let requests = pipelined_get_data("/big", 3000);
    // The node stops reading once it is behind, so the write may not finish; it is bounded.
    let _ = tokio::time::timeout(Duration::from_secs(5), abuser.write_bytes(&requests)).await;

    // Other clients are served meanwhile, and the node's memory stays bounded.
    let mut peak = before;
    for i in 0..20 {
        let path = format!("/neighbour-{i}");
        bounded!(client.create(&path, b"fine", &open())).expect("a neighbour's create");
        let (data, _) = bounded!(client.get_data(&path)).expect("a neighbour's read");
        assert_eq!(data, b"fine");
        peak = peak.max(rss_bytes(pid));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let growth = peak.saturating_sub(before);
    assert!(
        growth < 150 * 1024 * 1024,
        "the node grew by {} MiB while a client left its replies unread",
        growth / (1024 * 1024)
    );

    // The abuser's requests are not read, so its session is not kept alive: it expires, and
    // the connection is closed without sending the rest of the replies.
    mark(&node, "waiting for the abuser's session to expire");
    eventually(
        "the abuser's session expired",
        Duration::from_secs(30),
        || {
            let client = client.clone();
            async move { matches!(bounded!(client.check_stat("/abuser")), Ok(None)).then_some(()) }
        },
    )
    .await;
    let closed = abuser.expect_closed("the abuser's connection").await;
    assert!(
        closed.received.len() < 64 * 1_000_000,
        "the node sent {} MB to a client that read nothing",
        closed.received.len() / 1_000_000
    );
    assert!(node.log_path().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_or_missing_handshake_loses_its_slot_at_the_deadline() {
    let node = TestNode::start_with(
        "slowloris",
        NodeConfig {
            max_client_cnxns: Some(2),
            handshake_timeout_ms: Some(1000),
            ..NodeConfig::default()
        },
    )
    .await;
    let started = Instant::now();
    // One connection sends nothing, the other its ConnectRequest a byte every 100 ms (it
    // would take over 4 s): together they hold both slots of their address.
    let mut silent = RawConn::connect_from(ABUSER_IP, node.addr()).await;
    let request = raw::ConnectRequest::new_session(10_000).encode();
    let mut handshake = (request.len() as u32).to_be_bytes().to_vec();
    handshake.extend_from_slice(&request);
    let trickler = tokio::spawn({
        let addr = node.addr();
        async move {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind((ABUSER_IP, 0).into()).unwrap();
            let mut stream = socket.connect(addr).await.expect("connect the trickler");
            for byte in &handshake {
                if stream.write_all(&[*byte]).await.is_err() {
                    return "cut off";
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // All of it went out: only an answer would mean the deadline was not enforced.
            let mut reply = [0u8; 4];
            match tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut reply)).await
            {
                Ok(Ok(_)) => "answered",
                _ => "cut off",
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    mark(
        &node,
        "a third connection from the same address is over maxClientCnxns",
    );
    if started.elapsed() < Duration::from_millis(800) {
        let mut third = RawConn::connect_from(ABUSER_IP, node.addr()).await;
        let refused = third
            .handshake(&raw::ConnectRequest::new_session(10_000))
            .await;
        assert!(
            refused.is_none(),
            "a third connection was served while two handshakes were pending"
        );
    }

    mark(&node, "both pending handshakes are cut at the deadline");
    let closed = silent.expect_closed("the silent connection").await;
    assert!(closed.received.is_empty());
    let outcome = bounded!(trickler).expect("the trickler task");
    if node.backend() == Backend::Corral {
        assert_eq!(outcome, "cut off", "the trickled handshake was served");
    }

    // The slots are free again: a well-behaved client from the same address gets a session
    // (ZooKeeper frees the slot of the trickler, which it served, once the test drops it).
    let addr = node.addr();
    eventually(
        "a session from the freed address",
        Duration::from_secs(10),
        || async move {
            let mut good = RawConn::try_connect_from(ABUSER_IP, addr).await.ok()?;
            let response = good
                .handshake(&raw::ConnectRequest::new_session(10_000))
                .await?;
            (response.session_id != 0).then_some(())
        },
    )
    .await;
}
