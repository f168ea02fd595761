//! Every client opcode through `zookeeper-client`, with exact Stat fields and error codes.

#[macro_use]
mod common;

use std::time::Duration;

use common::raw::{self, Jute, RawConn, Reader, err, op};
use common::{NodeConfig, TestNode, connector_with_timeout};
use zookeeper_client as zk;

fn mode(mode: zk::CreateMode) -> zk::CreateOptions<'static> {
    mode.with_acls(zk::Acls::anyone_all())
}

fn persistent() -> zk::CreateOptions<'static> {
    mode(zk::CreateMode::Persistent)
}

async fn sorted_children(client: &zk::Client, path: &str) -> Vec<String> {
    let mut children = bounded!(client.list_children(path)).unwrap();
    children.sort();
    children
}

/// Stat invariants of a node that was just created and never changed.
fn assert_fresh(stat: &zk::Stat, data_len: usize, owner: i64) {
    assert!(stat.czxid > 0, "czxid must be a real zxid: {stat:?}");
    assert_eq!(
        stat.mzxid, stat.czxid,
        "mzxid == czxid after create: {stat:?}"
    );
    assert_eq!(
        stat.pzxid, stat.czxid,
        "pzxid == czxid for a node without children: {stat:?}"
    );
    assert_eq!(stat.ctime, stat.mtime, "{stat:?}");
    assert!(stat.ctime > 0, "{stat:?}");
    assert_eq!(
        (stat.version, stat.cversion, stat.aversion),
        (0, 0, 0),
        "{stat:?}"
    );
    assert_eq!(stat.num_children, 0, "{stat:?}");
    assert_eq!(stat.data_length as usize, data_len, "{stat:?}");
    assert_eq!(stat.ephemeral_owner, owner, "{stat:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_every_mode_returns_exact_stats() {
    let node = TestNode::start("ops-create").await;
    let client = node.client().await;
    let session = client.session_id().0;

    let (stat, seq) = bounded!(client.create("/ops", b"root", &persistent())).unwrap();
    assert_fresh(&stat, 4, 0);
    assert_eq!(
        seq.into_i64(),
        -1,
        "a non-sequential create has no sequence"
    );
    let (data, got) = bounded!(client.get_data("/ops")).unwrap();
    assert_eq!(
        (data.as_slice(), got),
        (&b"root"[..], stat),
        "create2's stat is the node's stat"
    );

    let (eph, _) =
        bounded!(client.create("/ops/eph", b"e", &mode(zk::CreateMode::Ephemeral))).unwrap();
    assert_fresh(&eph, 1, session);
    assert!(eph.czxid > stat.czxid);
    let parent = bounded!(client.check_stat("/ops")).unwrap().unwrap();
    assert_eq!(parent.num_children, 1);
    assert_eq!(
        parent.cversion, 1,
        "a child create bumps the parent's cversion"
    );
    assert_eq!(parent.pzxid, eph.czxid, "parent pzxid is the child's czxid");
    assert_eq!(
        (parent.version, parent.mzxid),
        (0, stat.mzxid),
        "child create leaves parent data alone"
    );

    let refused = bounded!(client.create("/ops/eph/child", b"", &persistent()));
    assert_eq!(refused.unwrap_err(), zk::Error::NoChildrenForEphemerals);

    let (container, _) =
        bounded!(client.create("/ops/container", b"cc", &mode(zk::CreateMode::Container))).unwrap();
    assert_fresh(&container, 2, 0);
    assert_eq!(
        bounded!(client.check_stat("/ops/container")).unwrap(),
        Some(container)
    );

    // Opcode 1 (plain create, no stat in the reply) as a 3.4 client sends it.
    let old = node
        .client_with(
            connector_with_timeout(common::CLIENT_SESSION_TIMEOUT).with_server_version(3, 4, 0),
        )
        .await;
    let (invalid, _) = bounded!(old.create("/ops/plain", b"p", &persistent())).unwrap();
    assert!(
        invalid.is_invalid(),
        "the client reports no stat for opcode 1"
    );
    let plain = bounded!(client.check_stat("/ops/plain"))
        .unwrap()
        .expect("created through opcode 1");
    assert_fresh(&plain, 1, 0);

    assert_eq!(
        bounded!(client.create("/ops", b"", &persistent())).unwrap_err(),
        zk::Error::NodeExists
    );
    assert_eq!(
        bounded!(client.create("/missing/x", b"", &persistent())).unwrap_err(),
        zk::Error::NoNode
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sequential_suffix_comes_from_parent_cversion() {
    let node = TestNode::start("ops-seq").await;
    let client = node.client().await;
    let session = client.session_id().0;
    bounded!(client.create("/s", b"", &persistent())).unwrap();

    let (stat, seq) =
        bounded!(client.create("/s/p-", b"x", &mode(zk::CreateMode::PersistentSequential)))
            .unwrap();
    assert_eq!(
        (seq.into_i64(), seq.to_string()),
        (0, "0000000000".to_string())
    );
    assert_fresh(&stat, 1, 0);
    assert!(
        bounded!(client.check_stat("/s/p-0000000000"))
            .unwrap()
            .is_some()
    );

    // ZooKeeper stores cversion as the count of child creations and names sequential nodes
    // with it, but reports `2 * stored - numChildren` (creations plus deletions) in Stat
    // (DataNode.copyStat). So after a create and a delete of another child the visible
    // cversion is 3 while the next suffix is 2.
    bounded!(client.create("/s/x", b"", &persistent())).unwrap();
    bounded!(client.delete("/s/x", None)).unwrap();
    let parent = bounded!(client.check_stat("/s")).unwrap().unwrap();
    assert_eq!((parent.cversion, parent.num_children), (3, 1));
    let (eph, seq) =
        bounded!(client.create("/s/e-", b"", &mode(zk::CreateMode::EphemeralSequential))).unwrap();
    assert_eq!(seq.to_string(), "0000000002");
    assert_fresh(&eph, 0, session);
    assert_eq!(
        sorted_children(&client, "/s").await,
        ["e-0000000002", "p-0000000000"]
    );
    let parent = bounded!(client.check_stat("/s")).unwrap().unwrap();
    assert_eq!((parent.cversion, parent.num_children), (4, 2));
    assert_eq!(parent.pzxid, eph.czxid);

    bounded!(client.delete("/s/e-0000000002", None)).unwrap();
    let (_, seq) =
        bounded!(client.create("/s/f-", b"", &mode(zk::CreateMode::PersistentSequential))).unwrap();
    assert_eq!(seq.to_string(), "0000000003");
    let parent = bounded!(client.check_stat("/s")).unwrap().unwrap();
    assert_eq!((parent.cversion, parent.num_children), (6, 2));

    // A sequential name directly under a path ending in '/' is just the counter.
    bounded!(client.create("/q", b"", &persistent())).unwrap();
    let (_, seq) =
        bounded!(client.create("/q/", b"", &mode(zk::CreateMode::PersistentSequential))).unwrap();
    assert_eq!(seq.into_i64(), 0);
    assert_eq!(sorted_children(&client, "/q").await, ["0000000000"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn ttl_nodes_are_unimplemented_without_extended_types() {
    let node = TestNode::start("ops-ttl-off").await;
    let client = node.client().await;
    let ttl = mode(zk::CreateMode::Persistent).with_ttl(Duration::from_secs(60));
    assert_eq!(
        bounded!(client.create("/ttl", b"", &ttl)).unwrap_err(),
        zk::Error::Unimplemented
    );
    let seq_ttl = mode(zk::CreateMode::PersistentSequential).with_ttl(Duration::from_secs(60));
    assert_eq!(
        bounded!(client.create("/ttl-", b"", &seq_ttl)).unwrap_err(),
        zk::Error::Unimplemented
    );
    assert_eq!(bounded!(client.check_stat("/ttl")).unwrap(), None);
    // The session is still fine after the refusal.
    bounded!(client.create("/after", b"", &persistent())).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn ttl_nodes_with_extended_types() {
    let config = NodeConfig {
        extended_types: true,
        ..NodeConfig::default()
    };
    let node = TestNode::start_with("ops-ttl-on", config).await;
    let client = node.client().await;
    let ttl = mode(zk::CreateMode::Persistent).with_ttl(Duration::from_secs(600));
    let (stat, _) = bounded!(client.create("/t", b"ttl", &ttl)).unwrap();
    assert_fresh(&stat, 3, 0); // TTL nodes report ephemeralOwner 0, never the TTL encoding.
    assert_eq!(bounded!(client.get_data("/t")).unwrap().1, stat);

    let seq_ttl = mode(zk::CreateMode::PersistentSequential).with_ttl(Duration::from_secs(600));
    let (stat, seq) = bounded!(client.create("/t/q-", b"", &seq_ttl)).unwrap();
    assert_eq!(seq.to_string(), "0000000000");
    assert_fresh(&stat, 0, 0);
    assert_eq!(sorted_children(&client, "/t").await, ["q-0000000000"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_containers_and_expired_ttl_nodes_are_reaped() {
    let config = NodeConfig {
        extended_types: true,
        container_check_interval_ms: Some(200),
        ..NodeConfig::default()
    };
    let node = TestNode::start_with("ops-reap", config).await;
    let client = node.client().await;
    let container = mode(zk::CreateMode::Container);
    bounded!(client.create("/never-used", b"", &container)).unwrap();
    bounded!(client.create("/used", b"", &container)).unwrap();
    bounded!(client.create("/used/child", b"", &persistent())).unwrap();
    bounded!(client.delete("/used/child", None)).unwrap();
    let ttl = mode(zk::CreateMode::Persistent).with_ttl(Duration::from_millis(300));
    bounded!(client.create("/short", b"", &ttl)).unwrap();
    bounded!(client.create("/short-with-child", b"", &ttl)).unwrap();
    bounded!(client.create("/short-with-child/c", b"", &persistent())).unwrap();

    common::eventually(
        "the emptied container and the expired TTL node are deleted",
        Duration::from_secs(30),
        || async {
            let used = client.check_stat("/used").await.unwrap();
            let short = client.check_stat("/short").await.unwrap();
            (used.is_none() && short.is_none()).then_some(())
        },
    )
    .await;
    // A container that never had a child, and a TTL node with a child, are kept.
    assert!(
        bounded!(client.check_stat("/never-used"))
            .unwrap()
            .is_some()
    );
    assert!(
        bounded!(client.check_stat("/short-with-child"))
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_checks_versions_and_children() {
    let node = TestNode::start("ops-delete").await;
    let client = node.client().await;
    bounded!(client.create("/d", b"", &persistent())).unwrap();
    let (created, _) = bounded!(client.create("/d/n", b"", &persistent())).unwrap();
    bounded!(client.set_data("/d/n", b"1", None)).unwrap();

    assert_eq!(
        bounded!(client.delete("/d/n", Some(0))).unwrap_err(),
        zk::Error::BadVersion
    );
    assert_eq!(
        bounded!(client.delete("/d", None)).unwrap_err(),
        zk::Error::NotEmpty
    );
    bounded!(client.delete("/d/n", Some(1))).unwrap();
    assert_eq!(bounded!(client.check_stat("/d/n")).unwrap(), None);
    assert_eq!(
        bounded!(client.delete("/d/n", None)).unwrap_err(),
        zk::Error::NoNode
    );

    let parent = bounded!(client.check_stat("/d")).unwrap().unwrap();
    assert_eq!(
        (parent.num_children, parent.cversion),
        (0, 2),
        "create and delete each bump cversion"
    );
    assert!(
        parent.pzxid > created.czxid,
        "the delete moved the parent's pzxid"
    );
    bounded!(client.delete("/d", Some(0))).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn exists_get_and_set_data_with_versions() {
    let node = TestNode::start("ops-data").await;
    let client = node.client().await;
    assert_eq!(bounded!(client.check_stat("/v")).unwrap(), None);
    assert_eq!(
        bounded!(client.get_data("/v")).unwrap_err(),
        zk::Error::NoNode
    );
    assert_eq!(
        bounded!(client.set_data("/v", b"x", None)).unwrap_err(),
        zk::Error::NoNode
    );

    let (created, _) = bounded!(client.create("/v", b"abc", &persistent())).unwrap();
    let s1 = bounded!(client.set_data("/v", b"hello", None)).unwrap();
    assert_eq!(
        (s1.version, s1.data_length, s1.czxid),
        (1, 5, created.czxid)
    );
    assert!(s1.mzxid > created.mzxid, "setData moves mzxid forward");
    assert!(s1.mtime >= created.mtime);
    assert_eq!(
        (s1.ctime, s1.pzxid, s1.cversion),
        (created.ctime, created.pzxid, 0),
        "setData changes data fields only"
    );

    let s2 = bounded!(client.set_data("/v", b"", Some(1))).unwrap();
    assert_eq!((s2.version, s2.data_length), (2, 0));
    assert!(s2.mzxid > s1.mzxid);
    assert_eq!(
        bounded!(client.set_data("/v", b"late", Some(1))).unwrap_err(),
        zk::Error::BadVersion
    );

    let (data, stat) = bounded!(client.get_data("/v")).unwrap();
    assert!(data.is_empty());
    assert_eq!(stat, s2);
    assert_eq!(bounded!(client.check_stat("/v")).unwrap(), Some(s2));
}

#[tokio::test(flavor = "multi_thread")]
async fn get_and_set_acl_with_versions() {
    let node = TestNode::start("ops-acl").await;
    let client = node.client().await;
    bounded!(client.create("/a", b"", &persistent())).unwrap();
    let (acl, stat) = bounded!(client.get_acl("/a")).unwrap();
    assert_eq!(
        acl,
        vec![zk::Acl::new(zk::Permission::ALL, zk::AuthId::anyone())]
    );
    assert_eq!(stat, bounded!(client.get_data("/a")).unwrap().1);

    let read_only = [zk::Acl::new(zk::Permission::READ, zk::AuthId::anyone())];
    assert_eq!(
        bounded!(client.set_acl("/a", &read_only, Some(3))).unwrap_err(),
        zk::Error::BadVersion
    );
    let after = bounded!(client.set_acl("/a", &read_only, Some(0))).unwrap();
    assert_eq!(
        (after.aversion, after.version, after.mzxid),
        (1, 0, stat.mzxid),
        "setACL bumps only aversion"
    );
    let (acl, stat) = bounded!(client.get_acl("/a")).unwrap();
    assert_eq!((acl, stat.aversion), (read_only.to_vec(), 1));

    // Without ADMIN the ACL cannot be changed any more, whatever the version; nor the data.
    assert_eq!(
        bounded!(client.set_acl("/a", &read_only, Some(1))).unwrap_err(),
        zk::Error::NoAuth
    );
    assert_eq!(
        bounded!(client.set_data("/a", b"x", None)).unwrap_err(),
        zk::Error::NoAuth
    );
    assert_eq!(
        bounded!(client.get_acl("/nope")).unwrap_err(),
        zk::Error::NoNode
    );
    assert_eq!(
        bounded!(client.set_acl("/nope", &read_only, None)).unwrap_err(),
        zk::Error::NoNode
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn get_children_and_get_children2() {
    let node = TestNode::start("ops-children").await;
    let client = node.client().await;
    bounded!(client.create("/c", b"", &persistent())).unwrap();
    assert!(bounded!(client.list_children("/c")).unwrap().is_empty());
    for name in ["b", "a", "c"] {
        bounded!(client.create(&format!("/c/{name}"), b"", &persistent())).unwrap();
    }
    assert_eq!(sorted_children(&client, "/c").await, ["a", "b", "c"]);
    let (mut children, stat) = bounded!(client.get_children("/c")).unwrap();
    children.sort();
    assert_eq!(children, ["a", "b", "c"]);
    assert_eq!((stat.num_children, stat.cversion), (3, 3));
    assert_eq!(stat, bounded!(client.get_data("/c")).unwrap().1);
    assert_eq!(
        bounded!(client.list_children("/none")).unwrap_err(),
        zk::Error::NoNode
    );
    assert_eq!(
        bounded!(client.get_children("/none")).unwrap_err(),
        zk::Error::NoNode
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_then_read_sees_the_write() {
    let node = TestNode::start("ops-sync").await;
    let writer = node.client().await;
    let reader = node.client().await;
    bounded!(writer.create("/sync", b"v1", &persistent())).unwrap();
    bounded!(reader.sync("/sync")).unwrap();
    assert_eq!(bounded!(reader.get_data("/sync")).unwrap().0, b"v1");
    // ZooKeeper's sync does not look the path up.
    bounded!(reader.sync("/no-such-node")).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_applies_all_ops_at_one_zxid() {
    let node = TestNode::start("ops-multi").await;
    let client = node.client().await;
    bounded!(client.create("/m", b"", &persistent())).unwrap();
    bounded!(client.create("/m/x", b"", &persistent())).unwrap();
    bounded!(client.create("/m/y", b"", &persistent())).unwrap();

    let mut writer = client.new_multi_writer();
    writer.add_create("/m/a", b"new", &persistent()).unwrap();
    writer.add_set_data("/m/x", b"set", Some(0)).unwrap();
    writer.add_check_version("/m/x", 1).unwrap(); // sees the setData before it
    writer.add_delete("/m/y", None).unwrap();
    let results = bounded!(writer.commit()).unwrap();
    assert_eq!(results.len(), 4, "{results:?}");
    let zk::MultiWriteResult::Create {
        path,
        stat: created,
    } = &results[0]
    else {
        panic!("first result is not a create: {results:?}")
    };
    assert_eq!(path, "/m/a");
    let zk::MultiWriteResult::SetData { stat: set } = &results[1] else {
        panic!("second result is not a setData: {results:?}")
    };
    assert_eq!(results[2], zk::MultiWriteResult::Check);
    assert_eq!(results[3], zk::MultiWriteResult::Delete);
    assert_eq!(set.version, 1);

    let a = bounded!(client.get_data("/m/a")).unwrap();
    assert_eq!(a.0, b"new");
    if !created.is_invalid() {
        assert_eq!(*created, a.1);
    }
    assert_eq!(
        a.1.czxid, set.mzxid,
        "every op of a multi has the same zxid"
    );
    assert_eq!(bounded!(client.check_stat("/m/y")).unwrap(), None);
    let parent = bounded!(client.check_stat("/m")).unwrap().unwrap();
    assert_eq!(parent.pzxid, set.mzxid);
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_multi_reports_the_failing_op_and_applies_nothing() {
    let node = TestNode::start("ops-multi-fail").await;
    let client = node.client().await;
    bounded!(client.create("/mf", b"", &persistent())).unwrap();
    bounded!(client.create("/mf/x", b"orig", &persistent())).unwrap();
    let before = bounded!(client.check_stat("/mf")).unwrap().unwrap();

    let mut writer = client.new_multi_writer();
    writer.add_create("/mf/a", b"", &persistent()).unwrap();
    writer.add_set_data("/mf/x", b"changed", Some(5)).unwrap();
    writer.add_create("/mf/b", b"", &persistent()).unwrap();
    let error = bounded!(writer.commit()).unwrap_err();
    assert_eq!(
        error,
        zk::MultiWriteError::OperationFailed {
            index: 1,
            source: zk::Error::BadVersion
        }
    );

    let mut writer = client.new_multi_writer();
    writer.add_check_version("/mf/missing", 0).unwrap();
    writer.add_create("/mf/c", b"", &persistent()).unwrap();
    let error = bounded!(writer.commit()).unwrap_err();
    assert_eq!(
        error,
        zk::MultiWriteError::OperationFailed {
            index: 0,
            source: zk::Error::NoNode
        }
    );

    let mut writer = client.new_multi_writer();
    writer.add_delete("/mf/x", None).unwrap();
    writer.add_create("/mf/d", b"", &persistent()).unwrap();
    writer.add_create("/mf", b"", &persistent()).unwrap();
    let error = bounded!(writer.commit()).unwrap_err();
    assert_eq!(
        error,
        zk::MultiWriteError::OperationFailed {
            index: 2,
            source: zk::Error::NodeExists
        }
    );

    assert_eq!(sorted_children(&client, "/mf").await, ["x"]);
    assert_eq!(bounded!(client.get_data("/mf/x")).unwrap().0, b"orig");
    let after = bounded!(client.check_stat("/mf")).unwrap().unwrap();
    assert_eq!(
        (after.cversion, after.pzxid),
        (before.cversion, before.pzxid)
    );
}

/// The exact result list of a failed multi, read off the wire: earlier ops report OK, the
/// failing op its error, later ops RUNTIMEINCONSISTENCY; the header itself carries no error.
#[tokio::test(flavor = "multi_thread")]
async fn failed_multi_result_layout_on_the_wire() {
    let node = TestNode::start("ops-multi-wire").await;
    let client = node.client().await;
    bounded!(client.create("/w", b"", &persistent())).unwrap();

    let (mut conn, _) = RawConn::open_session(node.addr(), 10_000).await;
    let multi_header = |opcode: i32| Jute::new().int(opcode).boolean(false).int(-1);
    let body = multi_header(op::CREATE)
        .raw(&raw::create("/w/a", b"", 0))
        .raw(&multi_header(op::CHECK).string("/w").int(7).into_vec())
        .raw(&multi_header(op::DELETE).string("/w/a").int(-1).into_vec())
        .int(-1)
        .boolean(true)
        .int(-1)
        .into_vec();
    let (reply, _) = conn.call(op::MULTI, &body).await;
    assert_eq!(
        reply.err,
        err::OK,
        "ZooKeeper reports a failed multi inside the results"
    );
    let mut r = Reader::new(&reply.body);
    let mut results = Vec::new();
    loop {
        let (opcode, done, code) = (r.int(), r.boolean(), r.int());
        if done {
            assert_eq!((opcode, code), (-1, -1), "end marker");
            break;
        }
        assert_eq!(
            opcode,
            op::ERROR,
            "every result of a failed multi is an error result"
        );
        assert_eq!(code, r.int(), "ErrorResponse repeats the header's code");
        results.push(code);
    }
    assert_eq!(
        results,
        [err::OK, err::BAD_VERSION, err::RUNTIME_INCONSISTENCY]
    );
    assert_eq!(r.remaining(), 0);
    assert_eq!(bounded!(client.check_stat("/w/a")).unwrap(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_read_reports_each_result() {
    let node = TestNode::start("ops-multiread").await;
    let client = node.client().await;
    bounded!(client.create("/mr", b"", &persistent())).unwrap();
    let (stat, _) = bounded!(client.create("/mr/a", b"aa", &persistent())).unwrap();

    let mut reader = client.new_multi_reader();
    reader.add_get_data("/mr/a").unwrap();
    reader.add_get_children("/mr").unwrap();
    reader.add_get_data("/mr/missing").unwrap();
    let results = bounded!(reader.commit()).unwrap();
    assert_eq!(results.len(), 3, "{results:?}");
    match &results[0] {
        zk::MultiReadResult::Data { data, stat: got } => {
            assert_eq!((data.as_slice(), got), (&b"aa"[..], &stat))
        }
        other => panic!("expected data, got {other:?}"),
    }
    match &results[1] {
        zk::MultiReadResult::Children { children } => assert_eq!(children, &["a".to_string()]),
        other => panic!("expected children, got {other:?}"),
    }
    match &results[2] {
        zk::MultiReadResult::Error { err } => assert_eq!(err, &zk::Error::NoNode),
        other => panic!("expected NoNode, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn get_ephemerals_and_all_children_number() {
    let node = TestNode::start("ops-eph").await;
    let client = node.client().await;
    let other = node.client().await;
    let eph = mode(zk::CreateMode::Ephemeral);
    bounded!(client.create("/e", b"", &persistent())).unwrap();
    for path in ["/e/a1", "/e/ab", "/e/b"] {
        bounded!(client.create(path, b"", &eph)).unwrap();
    }
    bounded!(other.create("/e/a-other", b"", &eph)).unwrap();
    bounded!(client.create("/e/persistent", b"", &persistent())).unwrap();

    let mut mine = bounded!(client.list_ephemerals("/")).unwrap();
    mine.sort();
    assert_eq!(mine, ["/e/a1", "/e/ab", "/e/b"]);
    let mut prefixed = bounded!(client.list_ephemerals("/e/a")).unwrap();
    prefixed.sort();
    assert_eq!(
        prefixed,
        ["/e/a1", "/e/ab"],
        "the prefix is a string prefix, not a parent path"
    );
    assert_eq!(
        bounded!(other.list_ephemerals("/")).unwrap(),
        ["/e/a-other"]
    );

    bounded!(client.create("/e/persistent/x", b"", &persistent())).unwrap();
    bounded!(client.create("/e/persistent/x/y", b"", &persistent())).unwrap();
    assert_eq!(bounded!(client.count_descendants_number("/e")).unwrap(), 7);
    assert_eq!(
        bounded!(client.count_descendants_number("/e/persistent")).unwrap(),
        2
    );
    assert_eq!(
        bounded!(client.count_descendants_number("/e/b")).unwrap(),
        0
    );
    assert_eq!(
        bounded!(client.count_descendants_number("/none")).unwrap_err(),
        zk::Error::NoNode
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn who_am_i_lists_the_session_identities() {
    let node = TestNode::start("ops-whoami").await;
    let client = node.client().await;
    let users = bounded!(client.list_auth_users()).unwrap();
    assert_eq!(users, vec![zk::AuthUser::new("ip", "127.0.0.1")]);
    bounded!(client.auth("digest", b"alice:secret")).unwrap();
    let mut users = bounded!(client.list_auth_users()).unwrap();
    // The order of identities is not part of the contract (ZooKeeper lists the digest first).
    users.sort_by(|a, b| (a.scheme(), a.user()).cmp(&(b.scheme(), b.user())));
    assert_eq!(
        users,
        vec![
            zk::AuthUser::new("digest", "alice"),
            zk::AuthUser::new("ip", "127.0.0.1")
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_session_is_kept_alive_by_pings() {
    let node = TestNode::start_with("ops-ping", NodeConfig::fast_sessions()).await;
    let timeout = Duration::from_millis(2000);
    let client = node.client_with(connector_with_timeout(timeout)).await;
    assert_eq!(client.session_timeout(), timeout);
    let session = client.session_id();
    let mut states = client.state_watcher();
    bounded!(client.create("/alive", b"", &mode(zk::CreateMode::Ephemeral))).unwrap();

    // Three session timeouts without a request: only the client's pings keep it alive.
    tokio::time::sleep(timeout * 3).await;
    let observer = node.client().await;
    let stat = bounded!(observer.check_stat("/alive"))
        .unwrap()
        .expect("the ephemeral outlived the idle time");
    assert_eq!(stat.ephemeral_owner, session.0);
    assert_eq!(client.state(), zk::SessionState::SyncConnected);
    assert!(
        tokio::time::timeout(Duration::ZERO, states.changed())
            .await
            .is_err(),
        "the session changed state while idle"
    );
    bounded!(client.set_data("/alive", b"still", None)).unwrap();
}
