//! Container and TTL reaping: candidates at the leader, re-validation at apply.

use corral_proto::{
    CreateMode,
    EventType::{NodeChildrenChanged, NodeDeleted},
};
use corral_tree::{CommandKind, Outcome};

use crate::harness::*;

fn reap_container(h: &mut H, path: &str) -> corral_tree::Applied {
    h.run(CommandKind::ReapContainer { path: path.into() })
}

fn reap_ttl(h: &mut H, path: &str) -> corral_tree::Applied {
    h.run(CommandKind::ReapTtl { path: path.into() })
}

#[test]
fn containers_are_candidates_once_emptied() {
    let mut h = H::new();
    h.create_ok("/c", CreateMode::Container);
    h.create_ok("/plain", CreateMode::Persistent);
    // Never had a child: kept (the cversion > 0 rule).
    assert_eq!(h.sm.reap_candidates(h.time, 10), (vec![], vec![]));
    h.create_ok("/c/x", CreateMode::Persistent);
    assert_eq!(h.sm.reap_candidates(h.time, 10), (vec![], vec![]));
    h.write(delete_op("/c/x", -1));
    assert_eq!(
        h.sm.reap_candidates(h.time, 10),
        (vec!["/c".to_string()], vec![])
    );
    assert_eq!(h.sm.reap_candidates(h.time, 0), (vec![], vec![]));

    // Apply re-checks: a child came back, so nothing happens.
    h.create_ok("/c/y", CreateMode::Persistent);
    let applied = reap_container(&mut h, "/c");
    assert_eq!(applied.result, Ok(Outcome::Nothing));
    assert!(applied.triggers.is_empty());
    // Not a container, or missing: nothing.
    assert_eq!(
        reap_container(&mut h, "/plain").result,
        Ok(Outcome::Nothing)
    );
    assert_eq!(
        reap_container(&mut h, "/missing").result,
        Ok(Outcome::Nothing)
    );
    assert!(h.sm.stat("/plain").is_some());

    h.write(delete_op("/c/y", -1));
    let applied = reap_container(&mut h, "/c");
    assert_eq!(applied.result, Ok(Outcome::Reaped));
    assert_eq!(
        triggers(&applied.triggers),
        vec![trig("/c", NodeDeleted), trig("/", NodeChildrenChanged)]
    );
    assert_eq!(h.sm.stat("/c"), None);
    assert_eq!(h.stat("/").pzxid, h.zxid);
    h.assert_consistent();
}

#[test]
fn ttl_nodes_expire_after_mtime_plus_ttl() {
    let mut h = H::new();
    let ttl = 10 * STEP_MS;
    assert!(
        h.write(ttl_op("/t", CreateMode::PersistentWithTtl, ttl))
            .result
            .is_ok()
    );
    let mtime = h.stat("/t").mtime;
    assert_eq!(h.sm.reap_candidates(mtime + ttl, 10), (vec![], vec![]));
    assert_eq!(
        h.sm.reap_candidates(mtime + ttl + 1, 10),
        (vec![], vec!["/t".to_string()])
    );
    // A child keeps it.
    h.create_ok("/t/kid", CreateMode::Persistent);
    assert_eq!(h.sm.reap_candidates(mtime + ttl + 1, 10), (vec![], vec![]));
    h.write(delete_op("/t/kid", -1));
    // setData refreshes mtime.
    h.write(set_data_op("/t", b"touch", -1));
    let mtime = h.stat("/t").mtime;
    assert_eq!(h.sm.reap_candidates(mtime + ttl, 10), (vec![], vec![]));

    // Apply uses the entry's own time: too early does nothing...
    assert_eq!(h.time, mtime);
    let applied = reap_ttl(&mut h, "/t");
    assert_eq!(applied.result, Ok(Outcome::Nothing));
    // ...and once the entry time is past mtime + ttl it deletes.
    h.time = mtime + ttl;
    let applied = reap_ttl(&mut h, "/t");
    assert_eq!(applied.result, Ok(Outcome::Reaped));
    assert_eq!(
        triggers(&applied.triggers),
        vec![trig("/t", NodeDeleted), trig("/", NodeChildrenChanged)]
    );
    // ReapTtl never deletes other kinds.
    h.create_ok("/p", CreateMode::Persistent);
    h.time += 1_000_000_000;
    assert_eq!(reap_ttl(&mut h, "/p").result, Ok(Outcome::Nothing));
    h.assert_consistent();
}

#[test]
fn candidates_are_bounded_containers_first() {
    let mut h = H::new();
    for i in 0..3 {
        let c = format!("/c{i}");
        h.create_ok(&c, CreateMode::Container);
        h.create_ok(&format!("{c}/x"), CreateMode::Persistent);
        h.write(delete_op(&format!("{c}/x"), -1));
        assert!(
            h.write(ttl_op(&format!("/t{i}"), CreateMode::PersistentWithTtl, 1))
                .result
                .is_ok()
        );
    }
    let later = h.time + 10;
    let (c, t) = h.sm.reap_candidates(later, 4);
    assert_eq!(c, vec!["/c0", "/c1", "/c2"]);
    assert_eq!(t, vec!["/t0"]);
    let (c, t) = h.sm.reap_candidates(later, 2);
    assert_eq!((c.len(), t.len()), (2, 0));
    let (c, t) = h.sm.reap_candidates(later, 100);
    assert_eq!((c.len(), t.len()), (3, 3));
}
