//! Session create/resume/close, ownership, and ephemeral bookkeeping.

use corral_proto::{
    CreateMode, ErrorCode,
    EventType::{NodeChildrenChanged, NodeDeleted},
};
use corral_tree::{CommandKind, Outcome};

use crate::harness::*;

#[test]
fn ids_come_from_the_first_entry_time_then_count_up() {
    let mut h = H::new();
    let first = h.sid;
    assert_eq!(first, (((T0 + STEP_MS) as u64) << 24 >> 8) as i64);
    assert!(first > 0);
    let second = h.new_session(2);
    assert_eq!(second, first + 1);
    h.run(CommandKind::CloseSession { session_id: second });
    assert_eq!(h.new_session(3), first + 2, "ids are not reused");
    let s = h.sm.session(first).unwrap();
    assert_eq!((s.timeout_ms, s.password, s.owner), (30_000, [1; 16], 1));
    assert_eq!(
        h.sm.sessions().map(|(id, _)| id).collect::<Vec<_>>(),
        vec![first, first + 2]
    );
}

#[test]
fn resume_checks_the_password_and_moves_ownership() {
    let mut h = H::new();
    let sid = h.sid;
    let wrong = h.run(CommandKind::ResumeSession {
        session_id: sid,
        password: [9; 16],
        owner: 2,
    });
    assert_eq!(wrong.result, Err(ErrorCode::SessionExpired));
    assert_eq!(h.sm.session(sid).unwrap().owner, 1);
    let unknown = h.run(CommandKind::ResumeSession {
        session_id: sid + 1,
        password: [1; 16],
        owner: 2,
    });
    assert_eq!(unknown.result, Err(ErrorCode::SessionExpired));
    let ok = h.run(CommandKind::ResumeSession {
        session_id: sid,
        password: [1; 16],
        owner: 2,
    });
    assert_eq!(
        ok.result,
        Ok(Outcome::SessionResumed { timeout_ms: 30_000 })
    );
    assert_eq!(h.sm.session(sid).unwrap().owner, 2);
    // The old connection's writes now fail; the new one's succeed.
    assert_eq!(
        h.create("/a", CreateMode::Persistent),
        Err(ErrorCode::SessionMoved)
    );
    h.owner = 2;
    assert!(h.create("/a", CreateMode::Ephemeral).is_ok());
}

#[test]
fn ephemerals_are_tracked_and_removed_with_their_session() {
    let mut h = H::new();
    let me = h.sid;
    h.create_ok("/app", CreateMode::Persistent);
    h.create_ok("/app/b", CreateMode::Ephemeral);
    h.create_ok("/app/a", CreateMode::Ephemeral);
    let (seq, _) = h.create_ok("/app/s-", CreateMode::EphemeralSequential);
    h.create_ok("/z", CreateMode::Ephemeral);
    h.create_ok("/gone", CreateMode::Ephemeral);
    h.write(delete_op("/gone", -1));
    assert_eq!(h.sm.ephemeral_count(), 4);
    assert_eq!(
        h.sm.get_ephemerals(me, ""),
        vec!["/app/a", "/app/b", seq.as_str(), "/z"]
    );
    assert_eq!(h.sm.get_ephemerals(me, " / "), h.sm.get_ephemerals(me, ""));
    assert_eq!(
        h.sm.get_ephemerals(me, "/app/"),
        vec!["/app/a", "/app/b", seq.as_str()]
    );
    assert_eq!(
        h.sm.get_ephemerals(me, "/ap"),
        vec!["/app/a", "/app/b", seq.as_str()]
    );
    assert_eq!(h.sm.get_ephemerals(me, "/nothing"), Vec::<String>::new());

    // Another session's ephemerals are separate and survive.
    h.sid = h.new_session(7);
    h.owner = 7;
    h.create_ok("/other", CreateMode::Ephemeral);
    let other = h.sid;
    assert_eq!(h.sm.get_ephemerals(me, "/other"), Vec::<String>::new());
    let dump: Vec<_> = h.sm.ephemerals_by_session().collect();
    assert_eq!(dump.len(), 2);
    assert_eq!(dump[1], (other, vec!["/other"]));

    let app_before = h.stat("/app");
    let closed = h.run(CommandKind::CloseSession { session_id: me });
    assert_eq!(closed.result, Ok(Outcome::SessionClosed));
    assert_eq!(
        triggers(&closed.triggers),
        vec![
            trig("/app/a", NodeDeleted),
            trig("/app", NodeChildrenChanged),
            trig("/app/b", NodeDeleted),
            trig("/app", NodeChildrenChanged),
            trig(&seq, NodeDeleted),
            trig("/app", NodeChildrenChanged),
            trig("/z", NodeDeleted),
            trig("/", NodeChildrenChanged),
        ]
    );
    assert!(h.sm.session(me).is_none());
    assert_eq!(h.sm.get_ephemerals(me, ""), Vec::<String>::new());
    assert_eq!(h.sm.ephemeral_count(), 1);
    let app = h.stat("/app");
    assert_eq!(app.num_children, 0);
    assert_eq!(app.pzxid, h.zxid);
    assert_eq!(app.cversion, app_before.cversion + 3);
    assert!(h.sm.stat("/other").is_some());
    h.assert_consistent();
}

#[test]
fn closing_an_unknown_session_is_a_noop() {
    let mut h = H::new();
    let before = h.sm.tree().clone();
    let applied = h.run(CommandKind::CloseSession { session_id: 12345 });
    assert_eq!(applied.result, Ok(Outcome::SessionClosed));
    assert!(applied.triggers.is_empty());
    assert_eq!(h.sm.tree(), &before);
    assert!(h.sm.session(h.sid).is_some());
}
