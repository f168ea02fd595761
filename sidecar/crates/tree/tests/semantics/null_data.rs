//! Null znode data (the null buffer a client sends for `create(path, null, ...)` or
//! `setData(path, null, v)`): ZooKeeper stores it as null, reports dataLength 0 and returns it
//! from getData as null, which clients such as kazoo read back as `None` rather than `b""`.

use corral_proto::{Acl, CreateMode};
use corral_tree::{Outcome, StateMachine, WriteOp};

use crate::harness::*;

fn create_null(path: &str) -> WriteOp {
    WriteOp::Create {
        path: path.into(),
        data: None,
        acl: Acl::open_unsafe(),
        mode: CreateMode::Persistent,
        ttl_ms: -1,
    }
}

fn set_null(path: &str, version: i32) -> WriteOp {
    WriteOp::SetData {
        path: path.into(),
        data: None,
        version,
    }
}

fn data_of(sm: &StateMachine, path: &str) -> Option<Vec<u8>> {
    sm.get_data(path, &[]).unwrap().0
}

#[test]
fn create_with_null_data_stays_null_with_length_zero() {
    let mut h = H::new();
    let applied = h.write(create_null("/n"));
    let Ok(Outcome::Created { stat, .. }) = applied.result else {
        panic!("{applied:?}")
    };
    assert_eq!(stat.data_length, 0);
    let (data, stat) = h.sm.get_data("/n", &[]).unwrap();
    assert_eq!(data, None);
    assert_eq!(stat.data_length, 0);

    // Empty data is a different value, with the same length.
    assert!(
        h.write(create_op("/e", b"", CreateMode::Persistent))
            .result
            .is_ok()
    );
    assert_eq!(data_of(&h.sm, "/e"), Some(Vec::new()));
    assert_eq!(h.stat("/e").data_length, 0);
    h.assert_consistent();
}

#[test]
fn set_data_to_null_and_back() {
    let mut h = H::new();
    assert!(
        h.write(create_op("/s", b"abc", CreateMode::Persistent))
            .result
            .is_ok()
    );
    let size_with_data = h.sm.approximate_data_size();
    let applied = h.write(set_null("/s", 0));
    let Ok(Outcome::DataSet { stat }) = applied.result else {
        panic!("{applied:?}")
    };
    assert_eq!((stat.version, stat.data_length), (1, 0));
    assert_eq!(data_of(&h.sm, "/s"), None);
    // Null counts as 0 bytes towards the approximate data size.
    assert_eq!(h.sm.approximate_data_size(), size_with_data - 3);
    h.assert_consistent();

    assert!(h.write(set_data_op("/s", b"", 1)).result.is_ok());
    assert_eq!(data_of(&h.sm, "/s"), Some(Vec::new()));
    assert!(h.write(set_null("/s", 2)).result.is_ok());
    assert_eq!(data_of(&h.sm, "/s"), None);
    assert_eq!(h.stat("/s").version, 3);
    h.assert_consistent();
}

#[test]
fn multi_keeps_null_and_a_failed_multi_restores_it() {
    let mut h = H::new();
    let applied = h.write(WriteOp::Multi(vec![
        create_null("/m"),
        create_op("/m/x", b"x", CreateMode::Persistent),
        set_null("/m/x", 0),
    ]));
    assert!(
        matches!(&applied.result, Ok(Outcome::Multi(r)) if r.iter().all(Result::is_ok)),
        "{applied:?}"
    );
    assert_eq!(data_of(&h.sm, "/m"), None);
    assert_eq!(data_of(&h.sm, "/m/x"), None);
    assert_eq!(h.stat("/m/x").data_length, 0);

    // Rolling back a setData puts null back as null, and data back over null.
    let before = h.sm.tree().clone();
    let applied = h.write(WriteOp::Multi(vec![
        set_data_op("/m", b"now data", -1),
        set_data_op("/m/x", b"", -1),
        delete_op("/missing", -1),
    ]));
    assert!(
        matches!(&applied.result, Ok(Outcome::Multi(r)) if r[2].is_err()),
        "{applied:?}"
    );
    assert_eq!(h.sm.tree(), &before);
    assert_eq!(data_of(&h.sm, "/m"), None);
    assert_eq!(data_of(&h.sm, "/m/x"), None);
    h.assert_consistent();
}

#[test]
fn snapshots_keep_null_apart_from_empty() {
    let mut h = H::new();
    assert!(h.write(create_null("/null")).result.is_ok());
    assert!(
        h.write(create_op("/empty", b"", CreateMode::Persistent))
            .result
            .is_ok()
    );
    assert!(
        h.write(create_op("/full", b"abc", CreateMode::Persistent))
            .result
            .is_ok()
    );
    assert!(h.write(set_null("/full", -1)).result.is_ok());

    let bytes = postcard::to_stdvec(&h.sm).unwrap();
    let from_postcard: StateMachine = postcard::from_bytes(&bytes).unwrap();
    let json = serde_json::to_vec(&h.sm).unwrap();
    let from_json: StateMachine = serde_json::from_slice(&json).unwrap();
    for restored in [&from_postcard, &from_json] {
        assert_eq!(restored, &h.sm);
        assert_eq!(data_of(restored, "/null"), None);
        assert_eq!(data_of(restored, "/full"), None);
        assert_eq!(data_of(restored, "/empty"), Some(Vec::new()));
        for path in ["/null", "/full", "/empty"] {
            assert_eq!(restored.stat(path).unwrap().data_length, 0, "{path}");
        }
        restored.tree().check_invariants().unwrap();
    }
}
