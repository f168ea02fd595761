//! multi: shared zxid, sequential visibility, ZooKeeper's failure pattern, atomicity.

use corral_proto::{
    CreateMode, ErrorCode,
    EventType::{NodeChildrenChanged, NodeCreated, NodeDataChanged, NodeDeleted},
};
use corral_tree::{Outcome, WriteOp};

use crate::harness::*;

#[test]
fn sub_ops_see_earlier_ones_and_share_the_zxid() {
    let mut h = H::new();
    let applied = h.write(WriteOp::Multi(vec![
        create_op("/m", b"", CreateMode::Persistent),
        set_data_op("/m", b"v1", 0),
        create_op("/m/", b"", CreateMode::PersistentSequential),
        create_op("/m/", b"", CreateMode::PersistentSequential),
        check_op("/m", 1),
        create_op("/tmp", b"", CreateMode::Persistent),
        delete_op("/tmp", 0),
    ]));
    let zxid = h.zxid;
    let Ok(Outcome::Multi(results)) = applied.result else {
        panic!("{applied:?}")
    };
    assert_eq!(results.len(), 7);
    match &results[1] {
        Ok(Outcome::DataSet { stat }) => {
            assert_eq!((stat.czxid, stat.mzxid, stat.version), (zxid, zxid, 1))
        }
        other => panic!("{other:?}"),
    }
    let paths: Vec<_> = results
        .iter()
        .filter_map(|r| match r {
            Ok(Outcome::Created { path, .. }) => Some(path.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(paths, vec!["/m", "/m/0000000000", "/m/0000000001", "/tmp"]);
    assert_eq!(results[4], Ok(Outcome::Checked));
    assert_eq!(results[6], Ok(Outcome::Deleted));
    assert_eq!(h.stat("/m").pzxid, zxid);
    assert_eq!(h.sm.stat("/tmp"), None);
    assert_eq!(
        triggers(&applied.triggers),
        vec![
            trig("/m", NodeCreated),
            trig("/", NodeChildrenChanged),
            trig("/m", NodeDataChanged),
            trig("/m/0000000000", NodeCreated),
            trig("/m", NodeChildrenChanged),
            trig("/m/0000000001", NodeCreated),
            trig("/m", NodeChildrenChanged),
            trig("/tmp", NodeCreated),
            trig("/", NodeChildrenChanged),
            trig("/tmp", NodeDeleted),
            trig("/", NodeChildrenChanged),
        ]
    );
    h.assert_consistent();
}

#[test]
fn a_failure_reports_the_pattern_and_changes_nothing() {
    let mut h = H::new();
    h.create_ok("/keep", CreateMode::Persistent);
    h.create_ok("/keep/child", CreateMode::Persistent);
    let before = h.sm.tree().clone();
    let applied = h.write(WriteOp::Multi(vec![
        create_op("/new", b"", CreateMode::Ephemeral),
        set_data_op("/keep", b"x", -1),
        delete_op("/keep/child", -1),
        create_op("/new/", b"", CreateMode::PersistentSequential),
        create_op("/x", b"", CreateMode::Persistent),
        delete_op("/nothing", -1),
    ]));
    assert_eq!(
        applied.result,
        Ok(Outcome::Multi(vec![
            Err(ErrorCode::Ok),
            Err(ErrorCode::Ok),
            Err(ErrorCode::Ok),
            Err(ErrorCode::NoChildrenForEphemerals),
            Err(ErrorCode::RuntimeInconsistency),
            Err(ErrorCode::RuntimeInconsistency),
        ]))
    );
    assert!(applied.triggers.is_empty());
    assert_eq!(h.sm.tree(), &before);
    assert_eq!(h.sm.ephemeral_count(), 0);
    assert_eq!(h.sm.last_applied_zxid(), h.zxid);
    // The sequence counter did not move either.
    assert_eq!(
        h.create_ok("/keep/s", CreateMode::PersistentSequential).0,
        "/keep/s0000000001"
    );
    h.assert_consistent();
}

#[test]
fn failure_in_first_and_last_positions() {
    let mut h = H::new();
    let applied = h.write(WriteOp::Multi(vec![
        check_op("/missing", -1),
        create_op("/a", b"", CreateMode::Persistent),
    ]));
    assert_eq!(
        applied.result,
        Ok(Outcome::Multi(vec![
            Err(ErrorCode::NoNode),
            Err(ErrorCode::RuntimeInconsistency)
        ]))
    );
    let applied = h.write(WriteOp::Multi(vec![
        create_op("/a", b"", CreateMode::Persistent),
        create_op("/a", b"", CreateMode::Persistent),
    ]));
    assert_eq!(
        applied.result,
        Ok(Outcome::Multi(vec![
            Err(ErrorCode::Ok),
            Err(ErrorCode::NodeExists)
        ]))
    );
    assert_eq!(h.sm.stat("/a"), None);
}

#[test]
fn empty_and_nested_multis() {
    let mut h = H::new();
    assert_eq!(
        h.write(WriteOp::Multi(vec![])).result,
        Ok(Outcome::Multi(vec![]))
    );
    let before = h.sm.tree().clone();
    let nested = h.write(WriteOp::Multi(vec![
        create_op("/a", b"", CreateMode::Persistent),
        WriteOp::Multi(vec![]),
    ]));
    assert_eq!(nested.result, Err(ErrorCode::MarshallingError));
    assert_eq!(h.sm.tree(), &before);
}

#[test]
fn version_checks_inside_a_multi_see_earlier_sub_ops() {
    let mut h = H::new();
    h.create_ok("/v", CreateMode::Persistent);
    let applied = h.write(WriteOp::Multi(vec![
        set_data_op("/v", b"1", 0),
        set_data_op("/v", b"2", 1),
        check_op("/v", 2),
        set_acl_op("/v", corral_proto::Acl::open_unsafe(), 0),
        set_acl_op("/v", corral_proto::Acl::open_unsafe(), 1),
    ]));
    assert!(
        matches!(&applied.result, Ok(Outcome::Multi(r)) if r.iter().all(Result::is_ok)),
        "{applied:?}"
    );
    let stat = h.stat("/v");
    assert_eq!((stat.version, stat.aversion), (2, 2));
    assert_eq!(
        h.sm.get_data("/v", &[]).unwrap().0.as_deref(),
        Some(&b"2"[..])
    );
}
