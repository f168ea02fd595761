//! TLS on the client port: a TLS-only server refuses plaintext, client certificates must come
//! from the trusted CA, the `x509` ACL scheme grants by certificate subject, and certificates
//! rotated on disk are picked up without a restart.
//!
//! Every test but the rotation one also runs against Apache ZooKeeper 3.8.0
//! (`CORRAL_ITEST_BACKEND=zookeeper`) from the same zoo.cfg.

#[macro_use]
mod common;

use std::time::Duration;

use common::Backend;
use common::tls::{
    Ca, TlsServer, TlsServerConfig, connector, mark, replace_file, server_certificate_cn,
    tls_four_letter, tls_session,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use zookeeper_client as zk;

fn open() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// Send a plaintext ConnectRequest to `addr`; what comes back before the server closes.
async fn plaintext_connect(addr: std::net::SocketAddr) -> Vec<u8> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = common::raw::ConnectRequest::new_session(10_000).encode();
        let mut frame = (request.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&request);
        stream.write_all(&frame).await.ok()?;
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply).await;
        Some(reply)
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("the server closes a plaintext connection on its TLS port")
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_only_server_refuses_plaintext() {
    let ca = Ca::new("corral-test-ca");
    let client_id = ca.issue("client");
    let mut server = TlsServer::start(TlsServerConfig {
        label: "tls-only",
        server: &ca.issue("server"),
        trust: &ca.pem(),
        plain_port: false,
        client_auth: None,
        extra: &[],
    })
    .await;
    let tls = connector(&ca.pem(), Some(&client_id));
    server.wait_serving(&tls).await;

    let client = server
        .client(client_id.zk_tls(&ca.pem()))
        .await
        .expect("a session over TLS");
    bounded!(client.create("/tls-only", b"over tls", &open())).expect("create over TLS");
    let (data, _) = bounded!(client.get_data("/tls-only")).expect("read over TLS");
    assert_eq!(data, b"over tls");

    mark(&server, "plaintext ConnectRequest on the TLS port");
    let reply = plaintext_connect(server.secure_addr()).await;
    // No ZooKeeper answer (a ConnectResponse frame); at most a TLS alert record (0x15).
    assert!(
        reply.is_empty() || reply[0] == 0x15,
        "a plaintext client got a reply on the TLS port: {reply:?}"
    );
    let secure_addr = server.secure_addr().to_string();
    let plain = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .with_connection_timeout(Duration::from_secs(2))
        .connect(&secure_addr);
    let plain = tokio::time::timeout(Duration::from_secs(15), plain).await;
    assert!(
        !matches!(plain, Ok(Ok(_))),
        "a plaintext zookeeper client must not get a session on the TLS port"
    );

    // No plaintext port is configured, and the server says so.
    let conf = tls_four_letter(server.secure_addr(), &tls, "conf")
        .await
        .expect("conf over TLS");
    let client_port = conf
        .lines()
        .find_map(|l| l.strip_prefix("clientPort="))
        .expect("conf names clientPort");
    assert!(
        client_port == "-1",
        "a TLS-only server has no plaintext port (ZooKeeper prints -1), got clientPort={client_port}:\n{conf}"
    );
    assert!(
        conf.contains(&format!("secureClientPort={}", server.secure_port)),
        "{conf}"
    );
    if server.backend() == Backend::Corral {
        assert!(
            server
                .log()
                .contains("plaintext client on the secure client port"),
            "the refusal is logged"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_from_another_ca_is_refused() {
    let ca = Ca::new("corral-test-ca");
    let other = Ca::new("corral-other-ca");
    let good = ca.issue("client");
    let stranger = other.issue("client");
    let mut server = TlsServer::start(TlsServerConfig {
        label: "wrong-ca",
        server: &ca.issue("server"),
        trust: &ca.pem(),
        plain_port: false,
        client_auth: None,
        extra: &[],
    })
    .await;
    server
        .wait_serving(&connector(&ca.pem(), Some(&good)))
        .await;

    mark(&server, "client certificate from another CA");
    let refused = tls_session(server.secure_addr(), &connector(&ca.pem(), Some(&stranger))).await;
    assert!(
        refused.is_err(),
        "a certificate from another CA was accepted"
    );
    let refused = server.client(stranger.zk_tls(&ca.pem())).await;
    assert!(
        refused.is_err(),
        "zookeeper-client got a session with a stranger's certificate"
    );

    mark(
        &server,
        "no client certificate (ssl.clientAuth defaults to need)",
    );
    let refused = tls_session(server.secure_addr(), &connector(&ca.pem(), None)).await;
    assert!(
        refused.is_err(),
        "a client without a certificate was accepted"
    );

    assert!(
        tls_session(server.secure_addr(), &connector(&ca.pem(), Some(&good)))
            .await
            .is_ok()
    );
    if server.backend() == Backend::Corral {
        assert!(server.log().contains("TLS handshake with a client failed"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_client_auth_want_serves_clients_without_a_certificate() {
    let ca = Ca::new("corral-test-ca");
    let other = Ca::new("corral-other-ca");
    let mut server = TlsServer::start(TlsServerConfig {
        label: "want",
        server: &ca.issue("server"),
        trust: &ca.pem(),
        plain_port: false,
        client_auth: Some("want"),
        extra: &[],
    })
    .await;
    server.wait_serving(&connector(&ca.pem(), None)).await;
    let anonymous = zk::TlsOptions::new().with_pem_ca(&ca.pem()).unwrap();
    let client = server
        .client(anonymous)
        .await
        .expect("a session without a certificate");
    let ids = bounded!(client.list_auth_users()).expect("whoami");
    assert!(
        ids.iter().all(|id| id.scheme() != "x509"),
        "no certificate, no x509 id: {ids:?}"
    );
    let refused = tls_session(
        server.secure_addr(),
        &connector(&ca.pem(), Some(&other.issue("client"))),
    )
    .await;
    assert!(refused.is_err(), "a presented certificate is still checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x509_acls_grant_by_certificate_subject() {
    let ca = Ca::new("corral-test-ca");
    let alice_id = ca.issue("alice");
    let bob_id = ca.issue("bob");
    let mut server = TlsServer::start(TlsServerConfig {
        label: "x509-acl",
        server: &ca.issue("server"),
        trust: &ca.pem(),
        plain_port: true,
        client_auth: None,
        extra: &[],
    })
    .await;
    server
        .wait_serving(&connector(&ca.pem(), Some(&alice_id)))
        .await;
    let alice = server
        .client(alice_id.zk_tls(&ca.pem()))
        .await
        .expect("alice");
    let bob = server.client(bob_id.zk_tls(&ca.pem())).await.expect("bob");
    let plain = common::connect_bounded(
        common::default_connector(),
        &server.plain_addr().unwrap().to_string(),
    )
    .await
    .expect("a plaintext session");

    // The id is the subject as Java's X500Principal.getName() prints it.
    let alice_dn = "CN=alice,O=Corral";
    let ids = bounded!(alice.list_auth_users()).expect("whoami");
    assert!(
        ids.iter()
            .any(|id| id.scheme() == "x509" && id.user() == alice_dn),
        "alice's ids: {ids:?}"
    );

    let alice_only = [zk::Acl::new(
        zk::Permission::ALL,
        zk::AuthId::new("x509", alice_dn),
    )];
    let options = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&alice_only));
    bounded!(alice.create("/alice", b"secret", &options)).expect("create with an x509 ACL");
    let (data, _) = bounded!(alice.get_data("/alice")).expect("alice reads her node");
    assert_eq!(data, b"secret");
    assert_eq!(
        bounded!(bob.get_data("/alice")).unwrap_err(),
        zk::Error::NoAuth,
        "bob's certificate does not match"
    );
    assert_eq!(
        bounded!(plain.get_data("/alice")).unwrap_err(),
        zk::Error::NoAuth,
        "a plaintext client has no x509 id"
    );

    // `auth` expands to the certificate's id.
    let creator = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    bounded!(bob.create("/bob", b"", &creator)).expect("create with the creator's ids");
    let (acl, _) = bounded!(bob.get_acl("/bob")).expect("getACL");
    assert_eq!(
        acl,
        vec![zk::Acl::new(
            zk::Permission::ALL,
            zk::AuthId::new("x509", "CN=bob,O=Corral")
        )]
    );
    assert_eq!(
        bounded!(alice.get_data("/bob")).unwrap_err(),
        zk::Error::NoAuth
    );

    // An x509 id must parse as a DN.
    let malformed = [zk::Acl::new(
        zk::Permission::ALL,
        zk::AuthId::new("x509", "alice"),
    )];
    let options = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&malformed));
    assert_eq!(
        bounded!(alice.create("/malformed", b"", &options)).unwrap_err(),
        zk::Error::InvalidAcl
    );

    // addauth x509 authenticates the connection's certificate again: fine over TLS ...
    bounded!(alice.auth("x509", b"ignored")).expect("addauth x509 with a certificate");
    let (data, _) = bounded!(alice.get_data("/alice")).expect("still alice");
    assert_eq!(data, b"secret");
    // ... and AUTHFAILED without one, as on the plaintext port.
    mark(&server, "addauth x509 on the plaintext port");
    let failed = bounded!(plain.auth("x509", b"CN=alice,O=Corral"));
    assert_eq!(failed.unwrap_err(), zk::Error::AuthFailed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_certificates_are_used_without_a_restart() {
    if Backend::from_env() == Backend::ZooKeeper {
        // ZooKeeper 3.8.0 reloads client-port certificates only with client.certReload and a
        // different mechanism; this is Corral's behaviour.
        return;
    }
    let ca1 = Ca::new("corral-ca-1");
    let ca2 = Ca::new("corral-ca-2");
    let both = format!("{}{}", ca1.pem(), ca2.pem());
    let client1 = ca1.issue("client-1");
    let client2 = ca2.issue("client-2");
    let mut server = TlsServer::start(TlsServerConfig {
        label: "rotation",
        server: &ca1.issue("server-1"),
        trust: &ca1.pem(),
        plain_port: false,
        client_auth: None,
        extra: &[],
    })
    .await;
    let trusts_both_as_1 = connector(&both, Some(&client1));
    server.wait_serving(&trusts_both_as_1).await;
    let before = server
        .client(client1.zk_tls(&ca1.pem()))
        .await
        .expect("session before");
    bounded!(before.create("/rotation", b"v1", &open())).expect("create");
    assert_eq!(
        server_certificate_cn(server.secure_addr(), &trusts_both_as_1).await,
        Some("server-1".to_string())
    );
    assert!(
        tls_session(server.secure_addr(), &connector(&both, Some(&client2)))
            .await
            .is_err(),
        "CA 2 is not trusted yet"
    );

    mark(&server, "rotate: server-2 from CA 2, trust CA 1 and CA 2");
    replace_file(&server.files.key_store, &ca2.issue("server-2").key_store());
    replace_file(&server.files.trust_store, &both);
    common::eventually(
        "the new server certificate is presented",
        Duration::from_secs(20),
        || async {
            (server_certificate_cn(server.secure_addr(), &trusts_both_as_1)
                .await
                .as_deref()
                == Some("server-2"))
            .then_some(())
        },
    )
    .await;
    let session = tls_session(server.secure_addr(), &connector(&both, Some(&client2))).await;
    assert!(
        session.is_ok(),
        "a client of the newly trusted CA: {session:?}"
    );
    let after = server
        .client(client2.zk_tls(&both))
        .await
        .expect("session after");
    let (data, _) = bounded!(after.get_data("/rotation")).expect("read after rotation");
    assert_eq!(data, b"v1");
    // The connection made before the rotation keeps working.
    bounded!(before.set_data("/rotation", b"v2", None)).expect("the old connection still works");

    mark(
        &server,
        "a broken key store is refused and the last good one kept",
    );
    std::fs::write(
        &server.files.key_store,
        "-----BEGIN CERTIFICATE-----\nnot base64!\n",
    )
    .unwrap();
    common::eventually(
        "the bad file is reported",
        Duration::from_secs(20),
        || async {
            let log = server.log();
            (log.contains("cannot reload TLS certificates") && log.contains("server.pem"))
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        server_certificate_cn(server.secure_addr(), &trusts_both_as_1).await,
        Some("server-2".to_string())
    );
    assert!(server.dir().exists());
}
