//! What each successful write does to Stats, data and triggers.

use corral_proto::{
    Acl, CreateMode,
    EventType::{NodeChildrenChanged, NodeCreated, NodeDataChanged, NodeDeleted},
    Stat,
};
use corral_tree::Outcome;

use crate::harness::*;

#[test]
fn fresh_server_nodes_match_zookeeper_3_8() {
    let h = H::new();
    let zero = Stat {
        num_children: 0,
        ..Stat::default()
    };
    // Observed on ZooKeeper 3.8.0: all-zero stats, cversion -1 on "/" (1 child) and -2 on
    // "/zookeeper" (2 children), aclVersion -1 on the config node.
    assert_eq!(
        h.stat("/"),
        Stat {
            cversion: -1,
            num_children: 1,
            ..zero
        }
    );
    assert_eq!(
        h.stat("/zookeeper"),
        Stat {
            cversion: -2,
            num_children: 2,
            ..zero
        }
    );
    assert_eq!(h.stat("/zookeeper/quota"), zero);
    assert_eq!(
        h.stat("/zookeeper/config"),
        Stat {
            aversion: -1,
            ..zero
        }
    );
    for p in ["/", "/zookeeper", "/zookeeper/quota"] {
        assert_eq!(h.sm.get_acl(p, &[]).unwrap().0, Acl::open_unsafe());
        assert_eq!(h.sm.get_data(p, &[]).unwrap().0, Some(Vec::new()));
    }
    assert_eq!(
        h.sm.get_acl("/zookeeper/config", &[]).unwrap().0,
        Acl::read_unsafe()
    );
    assert_eq!(
        h.sm.get_data("/zookeeper/config", &[]).unwrap().0,
        Some(Vec::new())
    );
    assert_eq!(
        h.sm.get_children("/", &[]).unwrap().0,
        vec!["zookeeper".to_string()]
    );
    assert_eq!(
        h.sm.get_children("/zookeeper", &[]).unwrap().0,
        vec!["config".to_string(), "quota".to_string()]
    );
    // mntr on a fresh 3.8.0: zk_znode_count 5 (the root is counted twice), data size 44.
    assert_eq!(h.sm.node_count(), 5);
    assert_eq!(h.sm.approximate_data_size(), 44);
    assert_eq!(h.sm.get_all_children_number("/", &[]).unwrap(), 3);
    assert_eq!(h.sm.ephemeral_count(), 0);
}

#[test]
fn create_sets_the_new_stat_and_the_parents() {
    let mut h = H::new();
    h.create_ok("/a", CreateMode::Persistent);
    let parent_before = h.stat("/a");
    let applied = h.write(create_op("/a/b", b"hello", CreateMode::Persistent));
    let (zxid, time) = (h.zxid, h.time);
    let Ok(Outcome::Created { path, stat }) = applied.result else {
        panic!("{applied:?}")
    };
    assert_eq!(path, "/a/b");
    assert_eq!(
        stat,
        Stat {
            czxid: zxid,
            mzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 5,
            num_children: 0,
            pzxid: zxid,
        }
    );
    assert_eq!(h.stat("/a/b"), stat);
    let parent = h.stat("/a");
    assert_eq!(parent.cversion, parent_before.cversion + 1);
    assert_eq!(parent.pzxid, zxid);
    assert_eq!(parent.num_children, 1);
    // The parent's own data stats do not move.
    assert_eq!(
        (parent.mzxid, parent.mtime, parent.version),
        (parent_before.mzxid, parent_before.mtime, 0)
    );
    assert_eq!(
        triggers(&applied.triggers),
        vec![trig("/a/b", NodeCreated), trig("/a", NodeChildrenChanged)]
    );
    assert_eq!(
        h.sm.get_data("/a/b", &[]).unwrap().0.as_deref(),
        Some(&b"hello"[..])
    );
    h.assert_consistent();
}

#[test]
fn children_of_the_root_trigger_on_slash() {
    let mut h = H::new();
    let applied = h.write(create_op("/a", b"", CreateMode::Persistent));
    assert_eq!(
        triggers(&applied.triggers),
        vec![trig("/a", NodeCreated), trig("/", NodeChildrenChanged)]
    );
    assert_eq!(h.stat("/").pzxid, h.zxid);
    // Stored cversion 1, two children: 2*1-2.
    assert_eq!(h.stat("/").cversion, 0);
    let applied = h.write(delete_op("/a", -1));
    assert_eq!(
        triggers(&applied.triggers),
        vec![trig("/a", NodeDeleted), trig("/", NodeChildrenChanged)]
    );
}

#[test]
fn delete_moves_parent_pzxid_and_visible_cversion() {
    let mut h = H::new();
    h.create_ok("/a", CreateMode::Persistent);
    h.create_ok("/a/b", CreateMode::Persistent);
    let before = h.stat("/a");
    let applied = h.write(delete_op("/a/b", 0));
    assert_eq!(applied.result, Ok(Outcome::Deleted));
    let after = h.stat("/a");
    // As on ZooKeeper 3.8.0: create+delete of one child shows cversion 2.
    assert_eq!(after.cversion, 2);
    assert_eq!(before.cversion, 1);
    assert_eq!(after.pzxid, h.zxid);
    assert_eq!(after.num_children, 0);
    assert_eq!(h.sm.stat("/a/b"), None);
    assert_eq!(
        triggers(&applied.triggers),
        vec![trig("/a/b", NodeDeleted), trig("/a", NodeChildrenChanged)]
    );
    h.assert_consistent();
}

#[test]
fn set_data_bumps_version_mzxid_mtime_only() {
    let mut h = H::new();
    let (_, created) = h.create_ok("/a", CreateMode::Persistent);
    let applied = h.write(set_data_op("/a", b"xyz", -1));
    let Ok(Outcome::DataSet { stat }) = applied.result else {
        panic!("{applied:?}")
    };
    assert_eq!(
        stat,
        Stat {
            mzxid: h.zxid,
            mtime: h.time,
            version: 1,
            data_length: 3,
            ..created
        }
    );
    assert_eq!(
        triggers(&applied.triggers),
        vec![trig("/a", NodeDataChanged)]
    );
    let applied = h.write(set_data_op("/a", b"", 1));
    let Ok(Outcome::DataSet { stat }) = applied.result else {
        panic!("{applied:?}")
    };
    assert_eq!((stat.version, stat.data_length), (2, 0));
    assert_eq!(h.sm.approximate_data_size(), 44 + 2);
    h.assert_consistent();
}

#[test]
fn set_acl_bumps_aversion_without_triggers() {
    let mut h = H::new();
    let (_, created) = h.create_ok("/a", CreateMode::Persistent);
    let applied = h.write(set_acl_op("/a", Acl::read_unsafe(), 0));
    assert_eq!(
        applied.result,
        Ok(Outcome::AclSet {
            stat: Stat {
                aversion: 1,
                ..created
            }
        })
    );
    assert!(applied.triggers.is_empty());
    assert_eq!(h.sm.get_acl("/a", &[]).unwrap().0, Acl::read_unsafe());
    // The config node starts at aversion -1, so its first setACL (by super) lands on 0.
    let applied = h.write_as(
        &[corral_proto::Id::new("super", "")],
        set_acl_op("/zookeeper/config", Acl::open_unsafe(), -1),
    );
    let Ok(Outcome::AclSet { stat }) = applied.result else {
        panic!("{applied:?}")
    };
    assert_eq!(stat.aversion, 0);
}

#[test]
fn sequential_suffix_is_the_stored_child_creation_count() {
    let mut h = H::new();
    h.create_ok("/s", CreateMode::Persistent);
    assert_eq!(
        h.create_ok("/s/a", CreateMode::PersistentSequential).0,
        "/s/a0000000000"
    );
    h.create_ok("/s/b", CreateMode::Persistent);
    h.write(delete_op("/s/b", -1));
    // Deletions do not advance the counter (ZooKeeper 3.8.0: x0000000001 after b came and went
    // as the second child).
    assert_eq!(
        h.create_ok("/s/c", CreateMode::PersistentSequential).0,
        "/s/c0000000002"
    );
    assert_eq!(h.stat("/s").cversion, 2 * 3 - 2);
    // An empty name gives bare numbers (Curator's "/parent/" + sequential).
    assert_eq!(
        h.create_ok("/s/", CreateMode::EphemeralSequential).0,
        "/s/0000000003"
    );
    // TTL and ephemeral sequential share the counter.
    assert_eq!(
        match h
            .write(ttl_op("/s/t", CreateMode::PersistentSequentialWithTtl, 10))
            .result
        {
            Ok(Outcome::Created { path, .. }) => path,
            other => panic!("{other:?}"),
        },
        "/s/t0000000004"
    );
    // Under a fresh root the count starts at 0 ("/zookeeper" was linked, not created).
    let mut h = H::new();
    assert_eq!(
        h.create_ok("/x", CreateMode::PersistentSequential).0,
        "/x0000000000"
    );
}

#[test]
fn node_kinds_show_the_owner_only_for_ephemerals() {
    let mut h = H::new();
    assert_eq!(
        h.create_ok("/e", CreateMode::Ephemeral).1.ephemeral_owner,
        h.sid
    );
    assert_eq!(
        h.create_ok("/c", CreateMode::Container).1.ephemeral_owner,
        0
    );
    let applied = h.write(ttl_op("/t", CreateMode::PersistentWithTtl, 5_000));
    let Ok(Outcome::Created { stat, .. }) = applied.result else {
        panic!("{applied:?}")
    };
    assert_eq!(stat.ephemeral_owner, 0);
    // Containers and TTL nodes may have children; only real ephemerals may not.
    h.create_ok("/c/x", CreateMode::Persistent);
    h.create_ok("/t/x", CreateMode::Persistent);
    h.assert_consistent();
}

#[test]
fn zookeeper_subtree_accepts_children() {
    // ZooKeeper 3.8.0 lets clients create under /zookeeper (world has cdrwa there).
    let mut h = H::new();
    h.create_ok("/zookeeper/foo", CreateMode::Persistent);
    assert_eq!(h.stat("/zookeeper").cversion, -1);
    assert_eq!(h.stat("/zookeeper").pzxid, h.zxid);
    assert_eq!(
        h.write(delete_op("/zookeeper/foo", -1)).result,
        Ok(Outcome::Deleted)
    );
}

#[test]
fn zxid_advances_on_failures_too() {
    let mut h = H::new();
    let applied = h.write(delete_op("/missing", -1));
    assert!(applied.result.is_err());
    assert!(applied.triggers.is_empty());
    assert_eq!(h.sm.last_applied_zxid(), h.zxid);
    let applied = h.run(corral_tree::CommandKind::Noop);
    assert_eq!(applied.result, Ok(Outcome::Nothing));
    assert_eq!(h.sm.last_applied_zxid(), h.zxid);
}
