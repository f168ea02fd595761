//! Every refusal, from both sides of its check, and the order in which ZooKeeper's
//! PrepRequestProcessor runs the checks when several would fail.

use corral_proto::ErrorCode::{
    BadArguments, BadVersion, InvalidAcl, NoAuth, NoChildrenForEphemerals, NoNode, NodeExists,
    NotEmpty, SessionExpired, SessionMoved, Unimplemented,
};
use corral_proto::{Acl, CreateMode, Id, perms};
use corral_tree::{CommandKind, MAX_TTL_MS, Outcome, TreeOptions, WriteOp};

use crate::harness::*;

/// A node whose ACL grants everything except `missing` to the world.
fn all_but(h: &mut H, path: &str, missing: i32) {
    let op = create_with_acl(
        path,
        b"",
        vec![acl(perms::ALL & !missing, "world", "anyone")],
        CreateMode::Persistent,
    );
    assert!(h.write(op).result.is_ok());
}

fn state_unchanged_by(h: &mut H, op: WriteOp) -> corral_proto::ErrorCode {
    let before = h.sm.tree().clone();
    let applied = h.write(op);
    assert!(applied.triggers.is_empty());
    assert_eq!(h.sm.tree(), &before, "a refused write changed the tree");
    applied.result.expect_err("expected a refusal")
}

#[test]
fn create_path_checks() {
    let mut h = H::new();
    assert_eq!(
        state_unchanged_by(&mut h, create_op("noslash", b"", CreateMode::Persistent)),
        BadArguments
    );
    assert_eq!(
        state_unchanged_by(&mut h, create_op("/a\0", b"", CreateMode::Persistent)),
        BadArguments
    );
    // A trailing slash is only caught after the parent lookup: NoNode while "/a" is missing...
    assert_eq!(
        state_unchanged_by(&mut h, create_op("/a/", b"", CreateMode::Persistent)),
        NoNode
    );
    h.create_ok("/a", CreateMode::Persistent);
    // ...BadArguments once it exists, and fine when the suffix follows.
    assert_eq!(
        state_unchanged_by(&mut h, create_op("/a/", b"", CreateMode::Persistent)),
        BadArguments
    );
    assert!(h.create("/a/", CreateMode::PersistentSequential).is_ok());
    assert_eq!(
        state_unchanged_by(&mut h, create_op("/a/./b", b"", CreateMode::Persistent)),
        NoNode
    );
    assert_eq!(
        state_unchanged_by(&mut h, create_op("/a/.", b"", CreateMode::Persistent)),
        BadArguments
    );
    assert_eq!(
        state_unchanged_by(&mut h, create_op("/a/b\u{1}", b"", CreateMode::Persistent)),
        BadArguments
    );
    assert!(h.create("/a/.b", CreateMode::Persistent).is_ok());
    // Creating the root reaches the existence check.
    assert_eq!(
        state_unchanged_by(&mut h, create_op("/", b"", CreateMode::Persistent)),
        NodeExists
    );
}

#[test]
fn create_check_order() {
    let mut h = H::new();
    // InvalidAcl comes before the parent lookup.
    assert_eq!(
        state_unchanged_by(
            &mut h,
            create_with_acl("/missing/x", b"", vec![], CreateMode::Persistent)
        ),
        InvalidAcl
    );
    assert_eq!(
        state_unchanged_by(&mut h, create_op("/missing/x", b"", CreateMode::Persistent)),
        NoNode
    );
    // NoAuth (CREATE on the parent) comes before NodeExists.
    all_but(&mut h, "/p", perms::CREATE);
    h.write_as(
        &[Id::new("super", "")],
        create_op("/p/x", b"", CreateMode::Persistent),
    );
    assert_eq!(
        state_unchanged_by(&mut h, create_op("/p/x", b"", CreateMode::Persistent)),
        NoAuth
    );
    assert_eq!(
        state_unchanged_by(&mut h, create_op("/p/y", b"", CreateMode::Persistent)),
        NoAuth
    );
    // Other permissions on the parent do not matter.
    all_but(&mut h, "/q", perms::ALL & !perms::CREATE);
    assert!(h.create("/q/x", CreateMode::Persistent).is_ok());
    assert_eq!(
        state_unchanged_by(&mut h, create_op("/q/x", b"", CreateMode::Persistent)),
        NodeExists
    );
    // Ephemeral parents refuse children, after the existence check.
    h.create_ok("/e", CreateMode::Ephemeral);
    assert_eq!(
        state_unchanged_by(&mut h, create_op("/e/x", b"", CreateMode::Persistent)),
        NoChildrenForEphemerals
    );
    assert_eq!(
        state_unchanged_by(&mut h, create_op("/e/x", b"", CreateMode::Ephemeral)),
        NoChildrenForEphemerals
    );
}

#[test]
fn ttl_checks_come_first() {
    let mut off = H::with(TreeOptions {
        extended_types_enabled: false,
    });
    assert_eq!(
        state_unchanged_by(&mut off, ttl_op("/t", CreateMode::PersistentWithTtl, 10)),
        Unimplemented
    );
    assert_eq!(
        state_unchanged_by(
            &mut off,
            ttl_op("bad", CreateMode::PersistentSequentialWithTtl, 0)
        ),
        Unimplemented
    );
    // Containers are not extended types: they work either way.
    assert!(off.create("/c", CreateMode::Container).is_ok());

    let mut h = H::new();
    for ttl in [0, -1, MAX_TTL_MS + 1, i64::MAX] {
        assert_eq!(
            state_unchanged_by(
                &mut h,
                ttl_op("/missing/t", CreateMode::PersistentWithTtl, ttl)
            ),
            BadArguments,
            "{ttl}"
        );
    }
    assert!(
        h.write(ttl_op("/t1", CreateMode::PersistentWithTtl, 1))
            .result
            .is_ok()
    );
    assert!(
        h.write(ttl_op("/t2", CreateMode::PersistentWithTtl, MAX_TTL_MS))
            .result
            .is_ok()
    );
    // A positive TTL with a mode that has none is a malformed createTTL.
    assert_eq!(
        state_unchanged_by(&mut h, ttl_op("/p", CreateMode::Persistent, 10)),
        BadArguments
    );
    assert!(
        h.write(ttl_op("/p0", CreateMode::Persistent, 0))
            .result
            .is_ok()
    );
    assert!(
        h.write(ttl_op("/p1", CreateMode::Persistent, -1))
            .result
            .is_ok()
    );
}

#[test]
fn session_checks_come_before_everything() {
    let mut h = H::new();
    h.owner = 99;
    assert_eq!(
        state_unchanged_by(&mut h, create_op("bad path", b"", CreateMode::Persistent)),
        SessionMoved
    );
    assert_eq!(
        state_unchanged_by(&mut h, ttl_op("/t", CreateMode::PersistentWithTtl, 0)),
        SessionMoved
    );
    h.owner = 1;
    let sid = h.sid;
    h.sid = sid + 1000;
    assert_eq!(
        state_unchanged_by(&mut h, create_op("/ok", b"", CreateMode::Persistent)),
        SessionExpired
    );
    assert_eq!(
        state_unchanged_by(&mut h, WriteOp::Multi(vec![])),
        SessionExpired
    );
    h.sid = sid;
    assert!(h.create("/ok", CreateMode::Persistent).is_ok());
    h.run(CommandKind::CloseSession { session_id: sid });
    assert_eq!(
        state_unchanged_by(&mut h, delete_op("/ok", -1)),
        SessionExpired
    );
}

#[test]
fn delete_check_order() {
    let mut h = H::new();
    for p in [
        "/",
        "/zookeeper",
        "/zookeeper/quota",
        "/zookeeper/config",
        "noslash",
        "/a\0",
    ] {
        assert_eq!(
            state_unchanged_by(&mut h, delete_op(p, -1)),
            BadArguments,
            "{p}"
        );
    }
    assert_eq!(
        state_unchanged_by(&mut h, delete_op("/missing/x", -1)),
        NoNode
    );
    assert_eq!(
        state_unchanged_by(&mut h, delete_op("/missing", -1)),
        NoNode
    );
    // DELETE is needed on the parent, and is checked before the node's existence.
    all_but(&mut h, "/p", perms::DELETE);
    assert_eq!(state_unchanged_by(&mut h, delete_op("/p/none", -1)), NoAuth);
    h.create_ok("/p/x", CreateMode::Persistent);
    assert_eq!(state_unchanged_by(&mut h, delete_op("/p/x", -1)), NoAuth);
    // The node's own ACL does not matter.
    h.write(create_with_acl(
        "/open",
        b"",
        Acl::open_unsafe(),
        CreateMode::Persistent,
    ));
    h.write(create_with_acl(
        "/open/locked",
        b"",
        vec![acl(perms::READ, "world", "anyone")],
        CreateMode::Persistent,
    ));
    assert_eq!(
        h.write(delete_op("/open/locked", 0)).result,
        Ok(Outcome::Deleted)
    );
    // Trailing slash: not validated as a path, just not found.
    assert_eq!(state_unchanged_by(&mut h, delete_op("/open/", -1)), NoNode);
    // BadVersion comes before NotEmpty.
    h.create_ok("/open/child", CreateMode::Persistent);
    assert_eq!(
        state_unchanged_by(&mut h, delete_op("/open", 5)),
        BadVersion
    );
    assert_eq!(state_unchanged_by(&mut h, delete_op("/open", 0)), NotEmpty);
    assert_eq!(
        state_unchanged_by(&mut h, delete_op("/open/child", 1)),
        BadVersion
    );
    assert_eq!(
        h.write(delete_op("/open/child", 0)).result,
        Ok(Outcome::Deleted)
    );
    assert_eq!(h.write(delete_op("/open", 0)).result, Ok(Outcome::Deleted));
    // Children of /zookeeper are ordinary nodes.
    h.create_ok("/zookeeper/mine", CreateMode::Persistent);
    assert_eq!(
        h.write(delete_op("/zookeeper/mine", -1)).result,
        Ok(Outcome::Deleted)
    );
}

#[test]
fn set_data_check_order() {
    let mut h = H::new();
    assert_eq!(
        state_unchanged_by(&mut h, set_data_op("/a/", b"", -1)),
        BadArguments
    );
    assert_eq!(
        state_unchanged_by(&mut h, set_data_op("/a", b"", -1)),
        NoNode
    );
    all_but(&mut h, "/a", perms::WRITE);
    // NoAuth before BadVersion.
    assert_eq!(
        state_unchanged_by(&mut h, set_data_op("/a", b"", 7)),
        NoAuth
    );
    assert_eq!(
        state_unchanged_by(&mut h, set_data_op("/a", b"", -1)),
        NoAuth
    );
    all_but(&mut h, "/b", perms::ADMIN);
    assert_eq!(
        state_unchanged_by(&mut h, set_data_op("/b", b"", 1)),
        BadVersion
    );
    assert!(h.write(set_data_op("/b", b"", 0)).result.is_ok());
    assert!(h.write(set_data_op("/b", b"", 1)).result.is_ok());
    assert!(h.write(set_data_op("/b", b"", -1)).result.is_ok());
    // The config node is world-readable only.
    assert_eq!(
        state_unchanged_by(&mut h, set_data_op("/zookeeper/config", b"x", -1)),
        NoAuth
    );
    // The root is writable.
    assert!(h.write(set_data_op("/", b"root", -1)).result.is_ok());
}

#[test]
fn set_acl_check_order() {
    let mut h = H::new();
    assert_eq!(
        state_unchanged_by(&mut h, set_acl_op("bad", vec![], -1)),
        BadArguments
    );
    // InvalidAcl before NoNode.
    assert_eq!(
        state_unchanged_by(&mut h, set_acl_op("/a", vec![], -1)),
        InvalidAcl
    );
    assert_eq!(
        state_unchanged_by(&mut h, set_acl_op("/a", Acl::open_unsafe(), -1)),
        NoNode
    );
    all_but(&mut h, "/a", perms::ADMIN);
    // NoAuth before BadVersion; it is ADMIN that counts.
    assert_eq!(
        state_unchanged_by(&mut h, set_acl_op("/a", Acl::open_unsafe(), 3)),
        NoAuth
    );
    all_but(&mut h, "/b", perms::ALL & !perms::ADMIN);
    assert_eq!(
        state_unchanged_by(&mut h, set_acl_op("/b", Acl::open_unsafe(), 3)),
        BadVersion
    );
    assert!(
        h.write(set_acl_op("/b", Acl::open_unsafe(), 0))
            .result
            .is_ok()
    );
    assert_eq!(
        state_unchanged_by(&mut h, set_acl_op("/b", Acl::open_unsafe(), 0)),
        BadVersion
    );
    assert_eq!(
        state_unchanged_by(
            &mut h,
            set_acl_op("/zookeeper/config", Acl::open_unsafe(), -1)
        ),
        NoAuth
    );
}

#[test]
fn check_check_order() {
    let mut h = H::new();
    assert_eq!(
        state_unchanged_by(&mut h, check_op("/a/", -1)),
        BadArguments
    );
    assert_eq!(state_unchanged_by(&mut h, check_op("/a", -1)), NoNode);
    all_but(&mut h, "/a", perms::READ);
    assert_eq!(state_unchanged_by(&mut h, check_op("/a", 4)), NoAuth);
    all_but(&mut h, "/b", perms::WRITE);
    assert_eq!(state_unchanged_by(&mut h, check_op("/b", 1)), BadVersion);
    assert_eq!(h.write(check_op("/b", 0)).result, Ok(Outcome::Checked));
    assert_eq!(h.write(check_op("/b", -1)).result, Ok(Outcome::Checked));
}
