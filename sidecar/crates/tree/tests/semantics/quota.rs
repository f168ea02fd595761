//! Quota statistics, replaying what zkCli's setquota/delquota did on ZooKeeper 3.8.0.

use corral_proto::CreateMode;
use corral_tree::{Outcome, WriteOp};

use crate::harness::*;

const STATS: &str = "/zookeeper/quota/app/zookeeper_stats";
const LIMITS: &str = "/zookeeper/quota/app/zookeeper_limits";

fn data(h: &H, path: &str) -> String {
    let data = h.sm.get_data(path, &[]).unwrap().0;
    String::from_utf8(data.expect("quota nodes hold data")).unwrap()
}

/// What `setquota -n 10 /app` sends.
fn set_quota(h: &mut H) {
    h.create_ok("/zookeeper/quota/app", CreateMode::Persistent);
    let limits = b"count=10,bytes=-1=;byteHardLimit=-1;countHardLimit=-1";
    assert!(
        h.write(create_op(LIMITS, limits, CreateMode::Persistent))
            .result
            .is_ok()
    );
    // The client's payload for the statistics node is replaced by the server's own count.
    let applied = h.write(create_op(STATS, b"count=0,bytes=0", CreateMode::Persistent));
    let Ok(Outcome::Created { stat, .. }) = applied.result else {
        panic!("{applied:?}")
    };
    assert_eq!(
        stat.data_length, 15,
        "the create reply shows the client's data length"
    );
}

#[test]
fn statistics_follow_creates_deletes_and_data_changes() {
    let mut h = H::new();
    h.create_ok("/app", CreateMode::Persistent);
    assert!(
        h.write(create_op("/app/a", b"12345", CreateMode::Persistent))
            .result
            .is_ok()
    );
    set_quota(&mut h);
    assert_eq!(h.sm.tree().quotas().collect::<Vec<_>>(), vec!["/app"]);
    assert_eq!(data(&h, STATS), "count=2,bytes=5");
    let stat_before = h.stat(STATS);
    assert_eq!(stat_before.data_length, 15);

    assert!(
        h.write(create_op("/app/b", b"xy", CreateMode::Persistent))
            .result
            .is_ok()
    );
    assert!(h.write(set_data_op("/app/a", b"1", -1)).result.is_ok());
    assert_eq!(data(&h, STATS), "count=3,bytes=3");
    assert!(h.write(delete_op("/app/b", -1)).result.is_ok());
    assert_eq!(data(&h, STATS), "count=2,bytes=1");
    // Only the data changed: versions and zxids stay as the create left them.
    let stat = h.stat(STATS);
    assert_eq!(
        (stat.mzxid, stat.version, stat.data_length),
        (stat_before.mzxid, 0, 15)
    );
    // Paths that merely share a prefix string are not covered.
    h.create_ok("/application", CreateMode::Persistent);
    assert_eq!(data(&h, STATS), "count=2,bytes=1");
    h.assert_consistent();

    // A failed multi leaves the statistics as they were.
    let applied = h.write(WriteOp::Multi(vec![
        create_op("/app/c", b"abc", CreateMode::Persistent),
        delete_op("/missing", -1),
    ]));
    assert!(matches!(applied.result, Ok(Outcome::Multi(ref r)) if r[1].is_err()));
    assert_eq!(data(&h, STATS), "count=2,bytes=1");

    // delquota: statistics and limits go, and counting stops.
    assert!(h.write(delete_op(STATS, -1)).result.is_ok());
    assert!(h.write(delete_op(LIMITS, -1)).result.is_ok());
    assert_eq!(h.sm.tree().quotas().count(), 0);
    assert!(
        h.write(delete_op("/zookeeper/quota/app", -1))
            .result
            .is_ok()
    );
    h.create_ok("/app/c", CreateMode::Persistent);
    h.assert_consistent();
}

#[test]
fn nested_quotas_count_in_the_deepest_and_go_with_their_parent() {
    let mut h = H::new();
    h.create_ok("/app", CreateMode::Persistent);
    h.create_ok("/app/sub", CreateMode::Persistent);
    set_quota(&mut h);
    let sub_stats = "/zookeeper/quota/app/sub/zookeeper_stats";
    h.create_ok("/zookeeper/quota/app/sub", CreateMode::Persistent);
    h.create_ok(
        "/zookeeper/quota/app/sub/zookeeper_limits",
        CreateMode::Persistent,
    );
    h.create_ok(sub_stats, CreateMode::Persistent);
    assert_eq!(data(&h, sub_stats), "count=1,bytes=0");
    assert_eq!(data(&h, STATS), "count=2,bytes=0");
    h.create_ok("/app/sub/x", CreateMode::Persistent);
    assert_eq!(data(&h, sub_stats), "count=2,bytes=0");
    assert_eq!(data(&h, STATS), "count=2,bytes=0");
    // Removing the outer limit node drops the nested quota too (ZooKeeper's trie).
    assert!(h.write(delete_op(LIMITS, -1)).result.is_ok());
    assert_eq!(h.sm.tree().quotas().count(), 0);
    h.create_ok("/app/sub/y", CreateMode::Persistent);
    assert_eq!(data(&h, sub_stats), "count=2,bytes=0");
}

#[test]
fn unreadable_statistics_are_left_alone() {
    let mut h = H::new();
    h.create_ok("/app", CreateMode::Persistent);
    set_quota(&mut h);
    assert!(h.write(set_data_op(STATS, b"garbage", -1)).result.is_ok());
    h.create_ok("/app/x", CreateMode::Persistent);
    assert_eq!(data(&h, STATS), "garbage");
    h.assert_consistent();
}
