//! Mutual TLS between members (zoo.cfg `sslQuorum=true` with `ssl.quorum.*` PEM stores): a
//! three-member ensemble replicates over it, and a member whose certificate comes from another
//! CA is refused, with the refusal logged.
//!
//! The ensemble part also runs against Apache ZooKeeper 3.8.0 (`CORRAL_ITEST_BACKEND=zookeeper`)
//! from the same zoo.cfg lines.

#[macro_use]
mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::ensemble::{Ensemble, EnsembleConfig};
use common::tls::{Ca, Identity};
use common::{Backend, free_port, log_tail};
use zookeeper_client as zk;

/// The zoo.cfg lines that turn quorum TLS on with `identity`, trusting `ca_pem`, written to `dir`.
fn ssl_quorum_lines(dir: &std::path::Path, identity: &Identity, ca_pem: &str) -> Vec<String> {
    let key_store = dir.join("quorum.pem");
    let trust_store = dir.join("quorum-ca.pem");
    std::fs::write(&key_store, identity.key_store()).expect("quorum key store");
    std::fs::write(&trust_store, ca_pem).expect("quorum trust store");
    vec![
        "sslQuorum=true".to_string(),
        format!("ssl.quorum.keyStore.location={}", key_store.display()),
        "ssl.quorum.keyStore.type=PEM".to_string(),
        format!("ssl.quorum.trustStore.location={}", trust_store.display()),
        "ssl.quorum.trustStore.type=PEM".to_string(),
    ]
}

/// Kills the outsider process however the test ends.
struct Outsider(std::process::Child);

impl Drop for Outsider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ensemble_replicates_over_mutual_tls_and_refuses_other_cas() {
    let certs = tempfile::tempdir().expect("certificate dir");
    let ca = Ca::new("corral-quorum-ca");
    // Every member presents the same certificate, valid for 127.0.0.1 and localhost.
    let config = EnsembleConfig {
        extra_cfg: ssl_quorum_lines(certs.path(), &ca.issue("member"), &ca.pem()),
        ..EnsembleConfig::default()
    };
    let ensemble = Ensemble::start_with(3, config).await;
    let writer = ensemble.client_to(0).await;
    bounded!(writer.create(
        "/over-tls",
        b"replicated",
        &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
    ))
    .expect("a write commits over the TLS quorum");
    for i in 0..ensemble.size() {
        let reader = ensemble.client_to(i).await;
        bounded!(reader.sync("/over-tls")).expect("sync");
        let (data, _) = bounded!(reader.get_data("/over-tls")).expect("every member has it");
        assert_eq!(data, b"replicated", "member {i}");
    }
    if ensemble.backend() == Backend::ZooKeeper {
        return;
    }
    for member in ensemble.members() {
        let log = std::fs::read_to_string(member.log_path()).unwrap_or_default();
        assert!(
            log.contains("serving Raft peers") && log.contains("tls=true"),
            "member {}",
            member.index()
        );
    }

    // An outsider with a certificate from another CA claims member 1 as its peer: it bootstraps a
    // two-member group with it and asks for its vote over the quorum port.
    ensemble.mark("outsider with a certificate from another CA");
    let other = Ca::new("corral-outsider-ca");
    let dir = tempfile::tempdir().expect("outsider dir");
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data").join("myid"), "9\n").unwrap();
    let first = ensemble.member(0).ports();
    let mut cfg = format!(
        "tickTime=2000\ndataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\n\
         admin.enableServer=false\nserver.1=127.0.0.1:{}:{}:participant\n\
         server.9=127.0.0.1:{}:{}:participant\n",
        dir.path().join("data").display(),
        free_port(),
        first.peer,
        first.election,
        free_port(),
        free_port(),
    );
    for line in ssl_quorum_lines(dir.path(), &other.issue("outsider"), &other.pem()) {
        cfg.push_str(&line);
        cfg.push('\n');
    }
    std::fs::write(dir.path().join("zoo.cfg"), cfg).unwrap();
    let log_path = dir.path().join("outsider.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let _outsider = Outsider(
        Command::new(env!("CARGO_BIN_EXE_corral-sidecar"))
            .arg("node")
            .arg("--zoo-cfg")
            .arg(dir.path().join("zoo.cfg"))
            .args(["--metrics-port", "0"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn the outsider"),
    );
    let member_log = ensemble.member(0).log_path().to_path_buf();
    common::eventually(
        "member 1 logs that it refused the outsider",
        Duration::from_secs(30),
        || async {
            let log = std::fs::read_to_string(&member_log).unwrap_or_default();
            let refused = log
                .lines()
                .find(|l| l.contains("refused a peer connection on the quorum port"))?;
            Some(refused.to_string())
        },
    )
    .await;
    let refusal = std::fs::read_to_string(&member_log)
        .unwrap_or_default()
        .lines()
        .find(|l| l.contains("refused a peer connection on the quorum port"))
        .map(str::to_string)
        .unwrap_or_default();
    assert!(
        refusal.contains("peer=127.0.0.1:"),
        "the refusal names the peer's address: {refusal}\noutsider log:\n{}",
        log_tail(&log_path, 20)
    );
    // The ensemble is unaffected.
    let client = ensemble.client_to(1).await;
    bounded!(client.set_data("/over-tls", b"still", None)).expect("the ensemble still commits");
}
