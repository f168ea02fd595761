//! ACL enforcement: digest and ip ids, the super digest, `auth` scheme expansion, getACL masking,
//! and refused authentication.

#[macro_use]
mod common;

use common::raw::{Jute, Message, RawConn, err};
use common::{NodeConfig, TestNode, digest_id};
use zookeeper_client as zk;

const SUPER_PASSWORD: &str = "superpw";

fn open() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

fn digest_acl(user: &str, password: &str, perms: zk::Permission) -> zk::Acl {
    zk::Acl::new(perms, zk::AuthId::new("digest", &digest_id(user, password)))
}

async fn node_with_super(label: &str) -> TestNode {
    let config = NodeConfig {
        super_digest: Some(digest_id("super", SUPER_PASSWORD)),
        ..NodeConfig::default()
    };
    TestNode::start_with(label, config).await
}

async fn authed(node: &TestNode, credentials: &[&str]) -> zk::Client {
    let client = node.client().await;
    for credential in credentials {
        bounded!(client.auth("digest", credential.as_bytes())).unwrap();
    }
    client
}

fn sorted(mut acl: Vec<zk::Acl>) -> Vec<zk::Acl> {
    acl.sort_by(|a, b| (a.scheme(), a.id()).cmp(&(b.scheme(), b.id())));
    acl
}

#[test]
fn digest_ids_match_zookeeper() {
    // Printed by ZooKeeper 3.8's `DigestAuthenticationProvider super:superpw`.
    assert_eq!(
        digest_id("super", "superpw"),
        "super:g9oN2HttPfn8MMWJZ2r45Np/LIA="
    );
    assert_eq!(common::base64(b"a"), "YQ==");
    assert_eq!(common::base64(b"ab"), "YWI=");
    assert_eq!(common::base64(b"abc"), "YWJj");
}

#[tokio::test(flavor = "multi_thread")]
async fn digest_acl_denies_others_and_allows_the_owner() {
    let node = node_with_super("acl-digest").await;
    let alice = authed(&node, &["alice:secret"]).await;
    let only_alice = [digest_acl("alice", "secret", zk::Permission::ALL)];
    let options = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&only_alice));
    bounded!(alice.create("/secure", b"top", &options)).unwrap();
    bounded!(alice.create("/secure/child", b"", &options)).unwrap();

    let anonymous = node.client().await;
    let bob = authed(&node, &["bob:secret"]).await;
    let wrong_password = authed(&node, &["alice:wrong"]).await;
    for (who, client) in [
        ("anonymous", &anonymous),
        ("bob", &bob),
        ("alice with a wrong password", &wrong_password),
    ] {
        let denied = zk::Error::NoAuth;
        assert_eq!(
            bounded!(client.get_data("/secure")).unwrap_err(),
            denied,
            "{who}: getData"
        );
        assert_eq!(
            bounded!(client.set_data("/secure", b"x", None)).unwrap_err(),
            denied,
            "{who}: setData"
        );
        assert_eq!(
            bounded!(client.create("/secure/new", b"", &open())).unwrap_err(),
            denied,
            "{who}: create"
        );
        assert_eq!(
            bounded!(client.delete("/secure/child", None)).unwrap_err(),
            denied,
            "{who}: delete"
        );
        assert_eq!(
            bounded!(client.list_children("/secure")).unwrap_err(),
            denied,
            "{who}: getChildren"
        );
        assert_eq!(
            bounded!(client.get_acl("/secure")).unwrap_err(),
            denied,
            "{who}: getACL"
        );
        assert_eq!(
            bounded!(client.set_acl("/secure", &only_alice, None)).unwrap_err(),
            denied,
            "{who}: setACL"
        );
        // exists is never ACL-checked.
        assert!(
            bounded!(client.check_stat("/secure")).unwrap().is_some(),
            "{who}: exists"
        );
    }

    // The owner can do everything, and getACL shows the digest id in full.
    assert_eq!(bounded!(alice.get_data("/secure")).unwrap().0, b"top");
    bounded!(alice.set_data("/secure", b"v2", Some(0))).unwrap();
    bounded!(alice.create("/secure/new", b"", &options)).unwrap();
    bounded!(alice.delete("/secure/new", None)).unwrap();
    let (acl, _) = bounded!(alice.get_acl("/secure")).unwrap();
    assert_eq!(acl, only_alice);
    let (acl, _) = bounded!(alice.get_acl("/secure")).unwrap();
    assert_eq!(acl[0].id(), digest_id("alice", "secret"));
}

#[tokio::test(flavor = "multi_thread")]
async fn super_digest_passes_every_check() {
    let node = node_with_super("acl-super").await;
    let alice = authed(&node, &["alice:secret"]).await;
    let read_only_alice = [digest_acl("alice", "secret", zk::Permission::READ)];
    let options = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&read_only_alice));
    bounded!(alice.create("/locked", b"", &open())).unwrap();
    bounded!(alice.create("/locked/leaf", b"", &options)).unwrap();
    bounded!(alice.set_acl("/locked", &read_only_alice, None)).unwrap();
    assert_eq!(
        bounded!(alice.set_data("/locked", b"x", None)).unwrap_err(),
        zk::Error::NoAuth
    );

    let root = authed(&node, &[&format!("super:{SUPER_PASSWORD}")]).await;
    let not_root = authed(&node, &["super:wrong"]).await;
    assert_eq!(
        bounded!(not_root.set_data("/locked", b"x", None)).unwrap_err(),
        zk::Error::NoAuth
    );

    bounded!(root.set_data("/locked", b"by root", None)).unwrap();
    assert_eq!(bounded!(root.get_data("/locked")).unwrap().0, b"by root");
    bounded!(root.create("/locked/new", b"", &open())).unwrap();
    bounded!(root.delete("/locked/leaf", None)).unwrap();
    let (acl, _) = bounded!(root.get_acl("/locked")).unwrap();
    assert_eq!(acl, read_only_alice, "super sees the digest unmasked");
    bounded!(root.set_acl("/locked", zk::Acls::anyone_all().as_ref(), None)).unwrap();
    let anonymous = node.client().await;
    bounded!(anonymous.set_data("/locked", b"open again", None)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn get_acl_masks_digests_for_readers_without_admin() {
    let node = TestNode::start("acl-mask").await;
    let alice = authed(&node, &["alice:secret"]).await;
    let acl = [
        digest_acl("alice", "secret", zk::Permission::ALL),
        zk::Acl::new(zk::Permission::READ, zk::AuthId::anyone()),
    ];
    bounded!(alice.create(
        "/masked",
        b"",
        &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&acl))
    ))
    .unwrap();

    let anonymous = node.client().await;
    let (seen, _) = bounded!(anonymous.get_acl("/masked")).unwrap();
    assert_eq!(
        seen,
        [
            zk::Acl::new(zk::Permission::ALL, zk::AuthId::new("digest", "alice:x")),
            zk::Acl::new(zk::Permission::READ, zk::AuthId::anyone()),
        ],
        "a reader without ADMIN sees digest ids as user:x"
    );
    assert_eq!(bounded!(alice.get_acl("/masked")).unwrap().0, acl);
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_scheme_expands_to_every_identity_of_the_caller() {
    let node = TestNode::start("acl-auth-scheme").await;
    let both = authed(&node, &["alice:secret", "bob:pw"]).await;
    bounded!(both.create(
        "/mine",
        b"",
        &zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all())
    ))
    .unwrap();
    let (acl, _) = bounded!(both.get_acl("/mine")).unwrap();
    assert_eq!(
        sorted(acl),
        [
            digest_acl("alice", "secret", zk::Permission::ALL),
            digest_acl("bob", "pw", zk::Permission::ALL)
        ],
        "`auth` is replaced by the caller's digest ids (never its ip id)"
    );

    let alice = authed(&node, &["alice:secret"]).await;
    let read_admin = zk::Permission::READ | zk::Permission::ADMIN;
    let auth_read = [zk::Acl::new(read_admin, zk::AuthId::authed())];
    bounded!(alice.set_acl("/mine", &auth_read, None)).unwrap();
    assert_eq!(
        bounded!(alice.get_acl("/mine")).unwrap().0,
        [digest_acl("alice", "secret", read_admin)],
        "setACL expands `auth` to the identities of the session that sets it"
    );

    // Bob alone lost access; alice can still read.
    let bob = authed(&node, &["bob:pw"]).await;
    assert_eq!(
        bounded!(bob.get_data("/mine")).unwrap_err(),
        zk::Error::NoAuth
    );
    bounded!(alice.get_data("/mine")).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_acls_are_refused() {
    let node = TestNode::start("acl-invalid").await;
    let anonymous = node.client().await;
    let creator = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    assert_eq!(
        bounded!(anonymous.create("/a", b"", &creator)).unwrap_err(),
        zk::Error::InvalidAcl
    );
    bounded!(anonymous.create("/b", b"", &open())).unwrap();
    assert_eq!(
        bounded!(anonymous.set_acl("/b", zk::Acls::creator_all().as_ref(), None)).unwrap_err(),
        zk::Error::InvalidAcl
    );
    for (scheme, id) in [
        ("digest", "no-colon"),
        ("nosuchscheme", "x"),
        ("ip", "not-an-address"),
    ] {
        let acl = [zk::Acl::new(
            zk::Permission::ALL,
            zk::AuthId::new(scheme, id),
        )];
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&acl));
        assert_eq!(
            bounded!(anonymous.create("/c", b"", &options)).unwrap_err(),
            zk::Error::InvalidAcl,
            "{scheme}:{id}"
        );
    }
    assert_eq!(bounded!(anonymous.check_stat("/a")).unwrap(), None);
    assert_eq!(bounded!(anonymous.check_stat("/c")).unwrap(), None);
    assert_eq!(
        bounded!(anonymous.get_acl("/b")).unwrap().0,
        zk::Acls::anyone_all().to_vec()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ip_acl_matches_the_client_address() {
    let node = TestNode::start("acl-ip").await;
    let client = node.client().await;
    let here = [zk::Acl::new(
        zk::Permission::READ,
        zk::AuthId::new("ip", "127.0.0.1"),
    )];
    let there = [zk::Acl::new(
        zk::Permission::READ,
        zk::AuthId::new("ip", "10.1.2.3"),
    )];
    let subnet = [zk::Acl::new(
        zk::Permission::READ,
        zk::AuthId::new("ip", "127.0.0.0/8"),
    )];
    for (path, acl) in [("/here", &here), ("/there", &there), ("/subnet", &subnet)] {
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::new(acl));
        bounded!(client.create(path, b"", &options)).unwrap();
    }
    bounded!(client.get_data("/here")).unwrap();
    bounded!(client.get_data("/subnet")).unwrap();
    assert_eq!(
        bounded!(client.get_data("/there")).unwrap_err(),
        zk::Error::NoAuth
    );
    assert_eq!(
        bounded!(client.set_data("/here", b"", None)).unwrap_err(),
        zk::Error::NoAuth
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_auth_scheme_fails_only_that_session() {
    let node = TestNode::start("acl-authfailed").await;
    let bystander = node.client().await;
    let client = node.client().await;
    let mut states = client.state_watcher();
    assert_eq!(
        bounded!(client.auth("nosuchscheme", b"whatever")).unwrap_err(),
        zk::Error::AuthFailed
    );
    let state = bounded!(async {
        loop {
            let state = states.changed().await;
            if state.is_terminated() {
                return state;
            }
        }
    });
    assert_eq!(state, zk::SessionState::AuthFailed);
    bounded!(bystander.create("/still-fine", b"", &open())).unwrap();
}

/// ZooKeeper echoes the auth packet's xid in the reply (ZooKeeperServer.processPacket builds
/// `ReplyHeader(h.getXid(), 0, OK)`). The Java client always uses −4, but zookeeper-client sends
/// auth with ordinary xids and matches the reply by xid.
#[tokio::test(flavor = "multi_thread")]
async fn auth_reply_echoes_the_request_xid() {
    let node = TestNode::start("acl-auth-xid").await;
    let (mut conn, _) = RawConn::open_session(node.addr(), 10_000).await;
    for xid in [-4, 7] {
        let packet = Jute::new()
            .int(0)
            .string("digest")
            .buffer(b"alice:secret")
            .into_vec();
        conn.send_with_xid(xid, 100, &packet).await;
        match conn.next_message().await {
            Message::Reply(reply) => {
                assert_eq!((reply.xid, reply.err), (xid, err::OK), "{reply:?}")
            }
            other => panic!("expected the auth reply, got {other:?}"),
        }
    }
    let (reply, _) = conn.call(107, &[]).await; // whoAmI still answers on this connection
    assert_eq!(reply.err, err::OK);
}
