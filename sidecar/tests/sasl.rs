//! SASL (DIGEST-MD5) logins with users from a JAAS file, and the `sasl` ACL scheme.
//!
//! The logins use the `zookeeper-client` crate's own DIGEST-MD5 client; the failure replies
//! are checked byte by byte on a raw connection. Every test also runs against Apache
//! ZooKeeper 3.8.0 (`CORRAL_ITEST_BACKEND=zookeeper`), configured with the same JAAS file,
//! `authProvider.1=...SASLAuthenticationProvider` and `-Dzookeeper.superUser`.

#[macro_use]
mod common;

use std::path::PathBuf;

use common::raw::{self, RawConn};
use common::{NodeConfig, TestNode, default_connector, mark};
use zookeeper_client as zk;

const JAAS: &str = r#"
// Users of the tests; kazoo's harness writes the same shape.
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_alice="alice-secret"
    user_bob="bob-secret"
    user_admin="admin-secret";
};
Client {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    username="alice"
    password="alice-secret";
};
"#;

const SASL_OPCODE: i32 = 102;
const AUTH_FAILED: i32 = -115;
const WHO_AM_I: i32 = 107;

/// A node with the test users, `admin` a SASL super user. The JAAS file lives in the returned
/// directory.
async fn start(label: &str) -> (TestNode, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temp dir for the JAAS file");
    let jaas = dir.path().join("jaas.conf");
    std::fs::write(&jaas, JAAS).expect("write the JAAS file");
    let node = TestNode::start_with(
        label,
        NodeConfig {
            jaas_config: Some(jaas),
            sasl_super_user: Some("admin".into()),
            ..NodeConfig::default()
        },
    )
    .await;
    (node, dir)
}

async fn sasl_client(node: &TestNode, user: &'static str, password: &'static str) -> zk::Client {
    node.client_with(default_connector().with_sasl(zk::SaslOptions::digest_md5(user, password)))
        .await
}

fn sasl_only(user: &str) -> Vec<zk::Acl> {
    vec![zk::Acl::new(
        zk::Permission::ALL,
        zk::AuthId::new("sasl", user),
    )]
}

fn create_options(acl: &[zk::Acl]) -> zk::CreateOptions<'_> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::new(acl))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sasl_acl_admits_its_user_and_nobody_else() {
    let (node, _dir) = start("sasl-acl").await;
    let alice = sasl_client(&node, "alice", "alice-secret").await;
    let bob = sasl_client(&node, "bob", "bob-secret").await;
    let anonymous = node.client().await;

    let acl = sasl_only("alice");
    bounded!(alice.create("/alices", b"mine", &create_options(&acl))).expect("alice creates");
    let (data, _) = bounded!(alice.get_data("/alices")).expect("alice reads her node");
    assert_eq!(data, b"mine");
    bounded!(alice.set_data("/alices", b"still mine", None)).expect("alice writes");

    mark(&node, "bob and an anonymous client are refused");
    assert_eq!(
        bounded!(bob.get_data("/alices")).unwrap_err(),
        zk::Error::NoAuth
    );
    assert_eq!(
        bounded!(bob.set_data("/alices", b"bob's", None)).unwrap_err(),
        zk::Error::NoAuth
    );
    assert_eq!(
        bounded!(anonymous.get_data("/alices")).unwrap_err(),
        zk::Error::NoAuth
    );

    // getACL shows the sasl id as set; the `auth` scheme expands to the SASL identity.
    let (acl_read, _) = bounded!(alice.get_acl("/alices")).expect("alice reads the ACL");
    assert_eq!(acl_read, acl);
    let auth = vec![zk::Acl::new(
        zk::Permission::ALL,
        zk::AuthId::new("auth", ""),
    )];
    bounded!(bob.create("/bobs", b"", &create_options(&auth))).expect("bob creates with auth");
    let (bobs_acl, _) = bounded!(bob.get_acl("/bobs")).expect("bob reads his ACL");
    assert_eq!(bobs_acl, sasl_only("bob"));
    assert_eq!(
        bounded!(alice.get_data("/bobs")).unwrap_err(),
        zk::Error::NoAuth
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sasl_super_user_passes_every_acl() {
    let (node, _dir) = start("sasl-super").await;
    let alice = sasl_client(&node, "alice", "alice-secret").await;
    let admin = sasl_client(&node, "admin", "admin-secret").await;
    let digest_only = vec![zk::Acl::new(
        zk::Permission::ALL,
        zk::AuthId::new("digest", &common::digest_id("carol", "pw")),
    )];
    bounded!(alice.create("/alices", b"a", &create_options(&sasl_only("alice")))).unwrap();
    bounded!(alice.create("/carols", b"c", &create_options(&digest_only))).unwrap();
    for path in ["/alices", "/carols"] {
        bounded!(admin.get_data(path)).unwrap_or_else(|e| panic!("admin reads {path}: {e}"));
    }
    bounded!(admin.delete("/carols", None)).expect("admin deletes another user's node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_or_an_unknown_user_fails_the_login() {
    let (node, _dir) = start("sasl-wrong").await;
    for (user, password) in [("alice", "not-her-password"), ("mallory", "anything")] {
        mark(&node, &format!("login as {user}"));
        let connector = default_connector()
            .with_sasl(zk::SaslOptions::digest_md5(user, password))
            .with_fail_eagerly();
        let result = bounded!(connector.connect(&node.connect_string()));
        assert!(
            matches!(result, Err(zk::Error::AuthFailed)),
            "{user}: expected AuthFailed, got {:?}",
            result.map(|_| "a session")
        );
    }
    // The server still serves the right password.
    let alice = sasl_client(&node, "alice", "alice-secret").await;
    bounded!(alice.check_stat("/")).expect("alice is served");
}

/// ZooKeeper's exact answers on the wire: the challenge, and for a wrong response an
/// AUTHFAILED header with zxid 0 and a null token, then the connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_login_answers_auth_failed_with_a_null_token_and_closes() {
    let (node, _dir) = start("sasl-wire").await;
    let (mut conn, _) = RawConn::open_session(node.addr(), 10_000).await;
    let first = raw::Jute::new().buffer(b"").into_vec();
    let (reply, _) = bounded!(conn.call(SASL_OPCODE, &first));
    assert_eq!((reply.err, reply.zxid), (0, 0), "{reply:?}");
    let challenge = raw::Reader::new(&reply.body)
        .buffer()
        .expect("a challenge token");
    let challenge = String::from_utf8(challenge).expect("a text challenge");
    assert!(
        challenge.starts_with("realm=\"zk-sasl-md5\",nonce=\"")
            && challenge.ends_with("\",charset=utf-8,algorithm=md5-sess"),
        "{challenge}"
    );
    let nonce = challenge
        .split("nonce=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a nonce");
    let response = format!(
        r#"qop=auth,realm="zk-sasl-md5",username="alice",nonce="{nonce}",cnonce="c",nc=00000001,digest-uri="zookeeper/zk-sasl-md5",response=00000000000000000000000000000000"#
    );
    let xid = conn
        .send_request(
            SASL_OPCODE,
            &raw::Jute::new().buffer(response.as_bytes()).into_vec(),
        )
        .await;
    let (reply, _) = bounded!(conn.reply_to(xid));
    assert_eq!((reply.xid, reply.zxid, reply.err), (xid, 0, AUTH_FAILED));
    assert_eq!(
        reply.body,
        (-1i32).to_be_bytes(),
        "a null SetSASLResponse token"
    );
    let closed = conn.expect_closed("after a failed SASL login").await;
    assert!(closed.received.is_empty(), "{:?}", closed.received);
}

/// Without SASL users ZooKeeper answers a SASL request with err 0 and a null token (its
/// connection has no SASL server) and keeps the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_users_a_sasl_request_gets_no_token_and_the_connection_stays() {
    let node = TestNode::start("sasl-off").await;
    let (mut conn, _) = RawConn::open_session(node.addr(), 10_000).await;
    for _ in 0..2 {
        let (reply, _) = bounded!(conn.call(SASL_OPCODE, &raw::Jute::new().buffer(b"").into_vec()));
        assert_eq!((reply.zxid, reply.err), (0, 0), "{reply:?}");
        assert_eq!(reply.body, (-1i32).to_be_bytes());
    }
    let (reply, _) = bounded!(conn.call(WHO_AM_I, &[]));
    assert_eq!(reply.err, 0);
    let mut r = raw::Reader::new(&reply.body);
    assert_eq!(r.int(), 1, "only the ip identity");
    assert_eq!(r.string(), "ip");
}

/// whoAmI names the SASL user (and `super` for a super user).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_am_i_shows_the_sasl_identity() {
    let (node, _dir) = start("sasl-whoami").await;
    let identities = |client: zk::Client| async move {
        let mut infos: Vec<(String, String)> = bounded!(client.list_auth_users())
            .expect("whoAmI")
            .into_iter()
            .map(|info| (info.scheme().to_string(), info.user().to_string()))
            .collect();
        infos.sort();
        infos
    };
    let alice = sasl_client(&node, "alice", "alice-secret").await;
    assert_eq!(
        identities(alice).await,
        vec![
            ("ip".to_string(), "127.0.0.1".to_string()),
            ("sasl".to_string(), "alice".to_string())
        ]
    );
    let admin = sasl_client(&node, "admin", "admin-secret").await;
    assert_eq!(
        identities(admin).await,
        vec![
            ("ip".to_string(), "127.0.0.1".to_string()),
            ("sasl".to_string(), "admin".to_string()),
            ("super".to_string(), String::new()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_jaas_file_stops_start_up_naming_it() {
    if common::Backend::from_env() == common::Backend::ZooKeeper {
        return; // The message under test is Corral's.
    }
    let missing = PathBuf::from("/nonexistent/corral-test/jaas.conf");
    let data = tempfile::tempdir().expect("a data dir");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_corral-sidecar"))
        .args([
            "node",
            "--admin-port",
            "0",
            "--metrics-port",
            "0",
            "--client-port",
        ])
        .arg(common::free_port().to_string())
        .arg("--data-dir")
        .arg(data.path())
        .arg("--jaas-config")
        .arg(&missing)
        .env("RUST_LOG", "error")
        .output()
        .expect("run the node");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/nonexistent/corral-test/jaas.conf"),
        "{stderr}"
    );
}
