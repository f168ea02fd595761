//! ACL schemes as nodes see them: world, auth expansion, digest, ip, super; getACL masking.

use corral_proto::{Acl, CreateMode, ErrorCode, Id, perms};
use corral_tree::acl::digest_id;

use crate::harness::*;

fn alice() -> Id {
    Id::new("digest", digest_id("alice:secret"))
}

#[test]
fn auth_expands_to_the_callers_digest_ids() {
    let mut h = H::new();
    let auth_acl = vec![acl(perms::ALL, "auth", "")];
    // Unauthenticated (only an ip id): InvalidAcl, as ZooKeeper 3.8.0 answered for /z.
    h.auth = vec![Id::new("ip", "127.0.0.1")];
    assert_eq!(
        h.write(create_with_acl(
            "/z",
            b"",
            auth_acl.clone(),
            CreateMode::Persistent
        ))
        .result,
        Err(ErrorCode::InvalidAcl)
    );
    // With alice and super, the node gets alice's digest only (ZooKeeper 3.8.0 did the same:
    // super's "super:" id has no provider and is skipped).
    let super_digest = Id::new("digest", digest_id("super:super"));
    h.auth = vec![
        Id::new("ip", "127.0.0.1"),
        alice(),
        Id::new("super", ""),
        super_digest.clone(),
    ];
    assert!(
        h.write(create_with_acl("/z", b"", auth_acl, CreateMode::Persistent))
            .result
            .is_ok()
    );
    assert_eq!(
        h.sm.get_acl("/z", &h.auth).unwrap().0,
        vec![
            Acl {
                perms: perms::ALL,
                id: alice()
            },
            Acl {
                perms: perms::ALL,
                id: super_digest
            },
        ]
    );
    // Alice alone can use it; the world cannot.
    assert!(h.sm.get_data("/z", &[alice()]).is_ok());
    assert_eq!(h.sm.get_data("/z", &[]), Err(ErrorCode::NoAuth));
}

#[test]
fn digest_and_ip_grant_what_they_name() {
    let mut h = H::new();
    let list = vec![
        Acl {
            perms: perms::READ | perms::WRITE,
            id: alice(),
        },
        acl(perms::READ, "ip", "10.0.0.0/8"),
        acl(perms::ALL, "ip", "2001:db8::/32"),
    ];
    assert!(
        h.write(create_with_acl("/n", b"d", list, CreateMode::Persistent))
            .result
            .is_ok()
    );
    let lan = [Id::new("ip", "10.20.30.40")];
    let wan = [Id::new("ip", "11.0.0.1")];
    let v6 = [Id::new("ip", "2001:db8:1::7")];
    assert!(h.sm.get_data("/n", &lan).is_ok());
    assert_eq!(h.sm.get_data("/n", &wan), Err(ErrorCode::NoAuth));
    assert!(h.sm.get_data("/n", &v6).is_ok());
    assert!(h.sm.get_data("/n", &[alice()]).is_ok());
    assert_eq!(
        h.sm.get_data("/n", &[Id::new("digest", digest_id("alice:wrong"))]),
        Err(ErrorCode::NoAuth)
    );
    // WRITE: alice yes, the LAN no, the v6 prefix yes.
    assert_eq!(
        h.write_as(&lan, set_data_op("/n", b"x", -1)).result,
        Err(ErrorCode::NoAuth)
    );
    assert!(
        h.write_as(&[alice()], set_data_op("/n", b"x", -1))
            .result
            .is_ok()
    );
    assert!(h.write_as(&v6, set_data_op("/n", b"y", -1)).result.is_ok());
}

#[test]
fn super_passes_every_check() {
    let mut h = H::new();
    let su = [Id::new("super", "")];
    assert!(
        h.write(create_with_acl(
            "/locked",
            b"",
            vec![Acl {
                perms: perms::READ,
                id: alice()
            }],
            CreateMode::Persistent
        ))
        .result
        .is_ok()
    );
    assert_eq!(h.sm.get_data("/locked", &[]), Err(ErrorCode::NoAuth));
    assert!(h.sm.get_data("/locked", &su).is_ok());
    assert!(h.sm.get_children("/locked", &su).is_ok());
    assert!(
        h.write_as(&su, create_op("/locked/kid", b"", CreateMode::Persistent))
            .result
            .is_ok()
    );
    assert!(
        h.write_as(&su, set_data_op("/locked", b"x", -1))
            .result
            .is_ok()
    );
    assert!(h.write_as(&su, delete_op("/locked/kid", -1)).result.is_ok());
    assert!(
        h.write_as(&su, set_data_op("/zookeeper/config", b"cfg", -1))
            .result
            .is_ok()
    );
    // super sees unmasked ACLs.
    assert_eq!(h.sm.get_acl("/locked", &su).unwrap().0[0].id, alice());
}

#[test]
fn get_acl_needs_read_or_admin_and_masks_without_admin() {
    let mut h = H::new();
    let reader = [Id::new("digest", digest_id("reader:pw"))];
    let admin = [Id::new("digest", digest_id("admin:pw"))];
    let list = vec![
        Acl {
            perms: perms::READ,
            id: reader[0].clone(),
        },
        Acl {
            perms: perms::ADMIN,
            id: admin[0].clone(),
        },
        acl(perms::CREATE, "ip", "10.0.0.0/8"),
    ];
    assert!(
        h.write(create_with_acl(
            "/n",
            b"",
            list.clone(),
            CreateMode::Persistent
        ))
        .result
        .is_ok()
    );
    // Neither READ nor ADMIN (ZooKeeper 3.8.0: "Insufficient permission").
    assert_eq!(h.sm.get_acl("/n", &[]), Err(ErrorCode::NoAuth));
    assert_eq!(
        h.sm.get_acl("/n", &[Id::new("ip", "10.0.0.1")]),
        Err(ErrorCode::NoAuth)
    );
    // READ only: digest hashes masked (3.8.0 showed "alice:x").
    let (masked, _) = h.sm.get_acl("/n", &reader).unwrap();
    assert_eq!(masked[0].id, Id::new("digest", "reader:x"));
    assert_eq!(masked[1].id, Id::new("digest", "admin:x"));
    assert_eq!(masked[2], list[2]);
    // ADMIN: the real list.
    assert_eq!(h.sm.get_acl("/n", &admin).unwrap().0, list);
    assert_eq!(h.sm.get_acl("/missing", &admin), Err(ErrorCode::NoNode));
}

#[test]
fn acl_lists_are_validated_and_deduplicated() {
    let mut h = H::new();
    let open = Acl::open_unsafe();
    let doubled = vec![open[0].clone(), open[0].clone()];
    assert!(
        h.write(create_with_acl("/d", b"", doubled, CreateMode::Persistent))
            .result
            .is_ok()
    );
    assert_eq!(h.sm.get_acl("/d", &[]).unwrap().0, open);
    for bad in [
        acl(perms::ALL, "world", "everyone"),
        acl(perms::ALL, "digest", "nohash"),
        acl(perms::ALL, "ip", "300.0.0.1"),
        acl(perms::ALL, "ip", "10.0.0.0/33"),
        acl(perms::ALL, "unknown", "x"),
    ] {
        assert_eq!(
            h.write(create_with_acl(
                "/bad",
                b"",
                vec![bad.clone()],
                CreateMode::Persistent
            ))
            .result,
            Err(ErrorCode::InvalidAcl),
            "{bad:?}"
        );
    }
}
