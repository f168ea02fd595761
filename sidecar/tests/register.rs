//! `corral-sidecar register` end to end: the real agent binary against a real node, with a
//! stand-in region server (a TCP listener or a scripted HTTP server) that each test starts and
//! stops. The node is observed through an independent client (`zookeeper-client`).

#[macro_use]
mod common;
mod register_support;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{NodeConfig, TestNode, digest_id, eventually};
use register_support::{Agent, HttpStandIn, TcpStandIn, owner_of};
use zookeeper_client as zk;

/// The startcode written to the tests' startcode files, so the znode name is known up front.
const STARTCODE: u64 = 1_700_000_000_123;
/// Bound for anything the agent does in reaction to a change (several health intervals,
/// backoffs, a session timeout).
const WAIT: Duration = Duration::from_secs(30);
/// The host as given; the name carries it lower-cased.
const HOST: &str = "RS-0.Example";

async fn start_node(label: &str) -> TestNode {
    TestNode::start_with(label, NodeConfig::fast_sessions()).await
}

/// A temporary dir holding a startcode file with [`STARTCODE`].
fn startcode_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("startcode");
    std::fs::write(&path, format!("{STARTCODE}\n")).expect("write the startcode file");
    (dir, path)
}

fn name_for(rpc_port: u16) -> String {
    format!("rs-0.example,{rpc_port},{STARTCODE}")
}

/// Flags every test passes, then `extra`. Checks run every 100 ms so tests move quickly.
fn agent_args(zk: &str, parent: &str, rpc_port: u16, extra: &[&str]) -> Vec<String> {
    let rpc_port = rpc_port.to_string();
    let base = [
        "--zk",
        zk,
        "--parent",
        parent,
        "--host",
        HOST,
        "--rpc-port",
        &rpc_port,
        "--health-interval-ms",
        "100",
        "--max-backoff-ms",
        "1000",
    ];
    base.iter().chain(extra).map(|s| s.to_string()).collect()
}

/// Wait until `path` exists; returns its ephemeral owner.
async fn registered(observer: &zk::Client, path: &str) -> i64 {
    eventually(&format!("{path} exists"), WAIT, || async {
        owner_of(observer, path).await
    })
    .await
}

/// Wait until `path` is gone.
async fn deregistered(observer: &zk::Client, path: &str) {
    eventually(&format!("{path} is gone"), WAIT, || async {
        owner_of(observer, path).await.is_none().then_some(())
    })
    .await
}

/// Wait until `/healthz` answers and its body contains `text`; returns the status.
async fn healthz_says(agent: &Agent, text: &str) -> u16 {
    eventually(&format!("/healthz says {text:?}"), WAIT, || async {
        agent
            .healthz()
            .await
            .filter(|(_, body)| body.contains(text))
            .map(|(status, _)| status)
    })
    .await
}

/// Wait until a metric sample reaches at least `min`; returns its value.
async fn metric_at_least(agent: &Agent, sample: &str, min: f64) -> f64 {
    eventually(&format!("{sample} >= {min}"), WAIT, || async {
        agent.metric(sample).await.filter(|v| *v >= min)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn registers_under_a_chrooted_parent_once_the_server_is_healthy() {
    let node = start_node("reg-chroot").await;
    let observer = node.client().await;
    let mut server = TcpStandIn::stopped();
    let (_dir, startcode) = startcode_file();
    let zk = format!("{}/tenant-a", node.addr());
    let extra = [
        "--health-tcp",
        &server.addr(),
        "--startcode-file",
        startcode.to_str().unwrap(),
        "--info-port",
        "16030",
        "--pod",
        "rs-0",
        "--node",
        "worker-1",
    ];
    let agent = Agent::spawn(
        "chroot",
        &agent_args(&zk, "/hbase-c1/servers", server.port(), &extra),
    );
    let path = format!("/tenant-a/hbase-c1/servers/{}", name_for(server.port()));

    // Unhealthy: nothing is registered, and /healthz says why.
    assert_eq!(healthz_says(&agent, "health check").await, 503);
    metric_at_least(
        &agent,
        "corral_register_health_checks_total{result=\"fail\"}",
        3.0,
    )
    .await;
    assert_eq!(owner_of(&observer, &path).await, None);

    server.start().await;
    let owner = registered(&observer, &path).await;
    assert_ne!(owner, 0, "the registration is ephemeral");
    // The chroot and the parent were created, persistent.
    assert_eq!(owner_of(&observer, "/tenant-a").await, Some(0));
    assert_eq!(
        owner_of(&observer, "/tenant-a/hbase-c1/servers").await,
        Some(0)
    );
    let (children, _) = bounded!(observer.get_children("/tenant-a/hbase-c1/servers")).unwrap();
    assert_eq!(children, [name_for(server.port())]);

    let (data, _) = bounded!(observer.get_data(&path)).unwrap();
    assert_eq!(data[0], b'{', "JSON data never starts with 0xFF");
    let document: serde_json::Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(
        document,
        serde_json::json!({
            "host": "rs-0.example",
            "rpc_port": server.port(),
            "info_port": 16030,
            "pod": "rs-0",
            "node": "worker-1",
            "startcode": STARTCODE,
            "state": "serving",
        })
    );

    assert_eq!(healthz_says(&agent, "registered").await, 200);
    assert_eq!(agent.metric("corral_register_registered").await, Some(1.0));
    assert_eq!(
        agent.metric("corral_register_registrations_total").await,
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deregisters_when_the_server_stops_and_registers_again_when_it_returns() {
    let node = start_node("reg-tcp-flap").await;
    let observer = node.client().await;
    let mut server = TcpStandIn::started().await;
    let (_dir, startcode) = startcode_file();
    let extra = [
        "--health-tcp",
        &server.addr(),
        "--startcode-file",
        startcode.to_str().unwrap(),
        "--failure-threshold",
        "2",
    ];
    let zk = node.addr().to_string();
    let agent = Agent::spawn("tcp-flap", &agent_args(&zk, "/c1", server.port(), &extra));
    let path = format!("/c1/{}", name_for(server.port()));
    let owner = registered(&observer, &path).await;

    server.stop().await;
    deregistered(&observer, &path).await;
    assert_eq!(
        agent
            .metric("corral_register_deregistrations_total{reason=\"unhealthy\"}")
            .await,
        Some(1.0)
    );
    assert_eq!(healthz_says(&agent, "health check").await, 503);

    server.start().await;
    let again = registered(&observer, &path).await;
    assert_eq!(again, owner, "registered again in the same session");
    assert_eq!(healthz_says(&agent, "registered").await, 200);
    assert_eq!(
        agent.metric("corral_register_registrations_total").await,
        Some(2.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn http_check_removes_the_znode_only_after_the_failure_threshold() {
    let node = start_node("reg-http").await;
    let observer = node.client().await;
    let server = HttpStandIn::start(200).await;
    let (_dir, startcode) = startcode_file();
    let url = server.url();
    // A long check timeout lets the stand-in hold a check open while the test looks.
    let extra = [
        "--health-http",
        &url,
        "--startcode-file",
        startcode.to_str().unwrap(),
        "--failure-threshold",
        "3",
        "--health-timeout-ms",
        "60000",
    ];
    let zk = node.addr().to_string();
    let agent = Agent::spawn("http", &agent_args(&zk, "/c1", 16020, &extra));
    let path = format!("/c1/{}", name_for(16020));
    let owner = registered(&observer, &path).await;

    // Two failures, then the third check is held open: still registered.
    server.script(&[503, 503]);
    eventually(
        "two 503s answered and a third check waiting",
        WAIT,
        || async {
            let answered = server.answered();
            let waiting = server.arrived() == answered.len() as u64 + 1;
            (waiting && answered.ends_with(&[503, 503])).then_some(())
        },
    )
    .await;
    assert_eq!(
        owner_of(&observer, &path).await,
        Some(owner),
        "two failures in a row are below the threshold of three"
    );

    // The third failure in a row deregisters.
    server.push(503);
    deregistered(&observer, &path).await;
    assert_eq!(
        agent
            .metric("corral_register_health_checks_total{result=\"fail\"}")
            .await,
        Some(3.0)
    );

    server.always(200);
    assert_eq!(registered(&observer, &path).await, owner);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_deletes_the_znode_closes_the_session_and_exits_within_a_second() {
    let node = start_node("reg-sigterm").await;
    let observer = node.client().await;
    let server = TcpStandIn::started().await;
    let (_dir, startcode) = startcode_file();
    // A long session timeout: a removal within a second cannot be the session expiring.
    let extra = [
        "--health-tcp",
        &server.addr(),
        "--startcode-file",
        startcode.to_str().unwrap(),
        "--session-timeout-ms",
        "20000",
    ];
    let zk = node.addr().to_string();
    let mut agent = Agent::spawn("sigterm", &agent_args(&zk, "/c1", server.port(), &extra));
    let path = format!("/c1/{}", name_for(server.port()));
    registered(&observer, &path).await;
    assert_eq!(healthz_says(&agent, "registered").await, 200);

    let sent = Instant::now();
    agent.signal("TERM");
    let status = agent.wait_exit(Duration::from_secs(10)).await;
    let elapsed = sent.elapsed();
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
    assert!(
        elapsed <= Duration::from_secs(1),
        "SIGTERM handling took {elapsed:?}"
    );
    assert_eq!(owner_of(&observer, &path).await, None, "gone at exit");
    let log = agent.log();
    assert!(log.contains("deregistered: deleted the znode"), "{log}");
    assert!(log.contains("session closed"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn after_kill_9_the_znode_vanishes_when_the_session_times_out() {
    let node = start_node("reg-kill9").await;
    let observer = node.client().await;
    let server = TcpStandIn::started().await;
    let (_dir, startcode) = startcode_file();
    let extra = [
        "--health-tcp",
        &server.addr(),
        "--startcode-file",
        startcode.to_str().unwrap(),
        "--session-timeout-ms",
        "4000",
    ];
    let zk = node.addr().to_string();
    let mut agent = Agent::spawn("kill9", &agent_args(&zk, "/c1", server.port(), &extra));
    let path = format!("/c1/{}", name_for(server.port()));
    let owner = registered(&observer, &path).await;

    agent.kill9();
    // Nothing ran on the way out: the znode lives on with the session…
    assert_eq!(owner_of(&observer, &path).await, Some(owner));
    // …until the ensemble expires the session.
    deregistered(&observer, &path).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn registers_again_in_a_new_session_after_a_forced_expiry() {
    let node = start_node("reg-expiry").await;
    let observer = node.client().await;
    let server = TcpStandIn::started().await;
    let (_dir, startcode) = startcode_file();
    let extra = [
        "--health-tcp",
        &server.addr(),
        "--startcode-file",
        startcode.to_str().unwrap(),
        "--session-timeout-ms",
        "2000",
    ];
    let zk = node.addr().to_string();
    let mut agent = Agent::spawn("expiry", &agent_args(&zk, "/c1", server.port(), &extra));
    let path = format!("/c1/{}", name_for(server.port()));
    let first = registered(&observer, &path).await;

    // A stopped process sends no pings: the ensemble expires its session and the znode.
    agent.signal("STOP");
    deregistered(&observer, &path).await;
    agent.signal("CONT");

    let second = eventually("registered in a new session", WAIT, || async {
        owner_of(&observer, &path)
            .await
            .filter(|&owner| owner != first)
    })
    .await;
    assert_ne!(second, 0);
    assert!(
        agent.is_running(),
        "an expired session never ends the agent"
    );
    assert_eq!(
        agent.metric("corral_register_sessions_total").await,
        Some(2.0)
    );
    assert!(
        agent
            .metric("corral_register_session_expirations_total")
            .await
            .unwrap()
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn waits_for_a_znode_owned_by_another_session_instead_of_deleting_it() {
    let node = start_node("reg-existing").await;
    let observer = node.client().await;
    let server = TcpStandIn::started().await;
    let (_dir, startcode) = startcode_file();
    let path = format!("/c1/{}", name_for(server.port()));

    // An earlier registration, still alive in a session of its own.
    let previous = node.client().await;
    let previous_session = previous.session_id().0;
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    bounded!(previous.create("/c1", b"", &open)).unwrap();
    bounded!(previous.create(&path, b"previous", &ephemeral)).unwrap();

    let extra = [
        "--health-tcp",
        &server.addr(),
        "--startcode-file",
        startcode.to_str().unwrap(),
    ];
    let zk = node.addr().to_string();
    let agent = Agent::spawn("existing", &agent_args(&zk, "/c1", server.port(), &extra));

    let waiting = format!("held by session {previous_session:#x}");
    assert_eq!(healthz_says(&agent, &waiting).await, 503);
    assert_eq!(
        agent
            .metric("corral_register_waiting_for_previous_owner")
            .await,
        Some(1.0)
    );
    // Healthy and waiting, it has neither deleted nor rewritten the other session's znode.
    metric_at_least(
        &agent,
        "corral_register_health_checks_total{result=\"pass\"}",
        5.0,
    )
    .await;
    assert_eq!(owner_of(&observer, &path).await, Some(previous_session));
    let (data, _) = bounded!(observer.get_data(&path)).unwrap();
    assert_eq!(data, b"previous");

    // The earlier session ends: the agent registers at once (a watch, not the session timeout).
    drop(previous);
    let owner = eventually("registered by the agent", WAIT, || async {
        owner_of(&observer, &path)
            .await
            .filter(|&owner| owner != previous_session)
    })
    .await;
    assert_ne!(owner, 0);
    assert_eq!(healthz_says(&agent, "registered").await, 200);
    let (data, _) = bounded!(observer.get_data(&path)).unwrap();
    assert_eq!(data[0], b'{');
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_agent_waits_for_its_predecessors_session_to_time_out() {
    let node = start_node("reg-restart").await;
    let observer = node.client().await;
    let server = TcpStandIn::started().await;
    let (_dir, startcode) = startcode_file();
    // The same startcode file gives the restarted agent the same name.
    let extra = [
        "--health-tcp",
        &server.addr(),
        "--startcode-file",
        startcode.to_str().unwrap(),
        "--session-timeout-ms",
        "6000",
    ];
    let zk = node.addr().to_string();
    let args = agent_args(&zk, "/c1", server.port(), &extra);
    let path = format!("/c1/{}", name_for(server.port()));
    let mut first = Agent::spawn("restart-1", &args);
    let first_owner = registered(&observer, &path).await;
    first.kill9();

    let second = Agent::spawn("restart-2", &args);
    let waiting = format!("held by session {first_owner:#x}");
    assert_eq!(healthz_says(&second, &waiting).await, 503);
    let second_owner = eventually("registered by the restarted agent", WAIT, || async {
        owner_of(&observer, &path)
            .await
            .filter(|&owner| owner != first_owner)
    })
    .await;
    assert_ne!(second_owner, 0);
    assert_eq!(healthz_says(&second, "registered").await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_a_parent_ending_in_rs_and_says_why() {
    let node = start_node("reg-rs").await;
    let observer = node.client().await;
    let plain = node.addr().to_string();
    let chrooted = format!("{}/hbase", node.addr());
    for (zk, parent) in [(plain.as_str(), "/hbase/rs"), (chrooted.as_str(), "/rs")] {
        let mut agent = Agent::spawn("rs", &agent_args(zk, parent, 16020, &[]));
        let status = agent.wait_exit(WAIT).await;
        assert!(!status.success(), "{zk} {parent}: exit status {status}");
        let log = agent.log();
        assert!(log.contains("/hbase/rs"), "{log}");
        assert!(log.contains("region servers create their own"), "{log}");
        assert!(
            log.contains("--i-know-hbase-does-not-self-register"),
            "{log}"
        );
    }
    assert_eq!(owner_of(&observer, "/hbase").await, None, "nothing created");
}

#[tokio::test(flavor = "multi_thread")]
async fn digest_auth_and_the_creator_acl() {
    let node = start_node("reg-digest").await;
    let observer = node.client().await;
    let server = TcpStandIn::started().await;
    let (_dir, startcode) = startcode_file();
    let extra = [
        "--health-tcp",
        &server.addr(),
        "--startcode-file",
        startcode.to_str().unwrap(),
        "--digest-auth",
        "registrar:s3cret",
        "--acl",
        "creator",
    ];
    let zk = node.addr().to_string();
    let _agent = Agent::spawn("digest", &agent_args(&zk, "/c1", server.port(), &extra));
    let path = format!("/c1/{}", name_for(server.port()));
    registered(&observer, &path).await;

    let expected = {
        let mut acl = vec![
            zk::Acl::new(
                zk::Permission::ALL,
                zk::AuthId::new("digest", &digest_id("registrar", "s3cret")),
            ),
            zk::Acl::new(zk::Permission::READ, zk::AuthId::anyone()),
        ];
        acl.sort_by(|a, b| a.scheme().cmp(b.scheme()));
        acl
    };
    // getACL shows digest hashes only to a client holding ADMIN, as ZooKeeper does.
    let registrar = node.client().await;
    bounded!(registrar.auth("digest", b"registrar:s3cret")).unwrap();
    for znode in ["/c1", path.as_str()] {
        let (mut acl, _) = bounded!(registrar.get_acl(znode)).unwrap();
        acl.sort_by(|a, b| a.scheme().cmp(b.scheme()));
        assert_eq!(acl, expected, "{znode}");
    }
    // Everyone may read the registration; only the registrar may change it.
    bounded!(observer.get_data(&path)).unwrap();
    assert_eq!(
        bounded!(observer.delete(&path, None)),
        Err(zk::Error::NoAuth)
    );
}

/// RegionServerInfo's fields as numbered in HBase.proto, read with prost.
#[derive(Clone, PartialEq, prost::Message)]
struct RegionServerInfo {
    #[prost(int32, optional, tag = "1")]
    info_port: Option<i32>,
    #[prost(message, optional, tag = "2")]
    version_info: Option<VersionInfo>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct VersionInfo {
    #[prost(string, required, tag = "1")]
    version: String,
    #[prost(uint32, optional, tag = "7")]
    version_major: Option<u32>,
    #[prost(uint32, optional, tag = "8")]
    version_minor: Option<u32>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test(flavor = "multi_thread")]
async fn hbase_format_with_a_startcode_taken_at_start() {
    let node = start_node("reg-hbase").await;
    let observer = node.client().await;
    let server = TcpStandIn::started().await;
    let extra = [
        "--health-tcp",
        &server.addr(),
        "--format",
        "hbase",
        "--hbase-version",
        "2.5.8",
        "--info-port",
        "16030",
    ];
    let zk = node.addr().to_string();
    let before = now_ms();
    let _agent = Agent::spawn(
        "hbase",
        &agent_args(&zk, "/hbase-c2/servers", server.port(), &extra),
    );
    let children = eventually("one registration", WAIT, || async {
        bounded!(observer.get_children("/hbase-c2/servers"))
            .ok()
            .map(|(children, _)| children)
            .filter(|children| !children.is_empty())
    })
    .await;
    let after = now_ms();
    assert_eq!(children.len(), 1);
    let fields: Vec<&str> = children[0].split(',').collect();
    assert_eq!(fields[..2], ["rs-0.example", &server.port().to_string()]);
    let startcode: u64 = fields[2].parse().expect("a numeric startcode");
    assert!(
        (before..=after).contains(&startcode),
        "startcode {startcode} is the agent's start time in ms"
    );

    let path = format!("/hbase-c2/servers/{}", children[0]);
    let (data, _) = bounded!(observer.get_data(&path)).unwrap();
    assert_eq!(
        &data[..4],
        b"PBUF",
        "HBase's magic, no 0xFF metadata prefix"
    );
    let info = <RegionServerInfo as prost::Message>::decode(&data[4..]).unwrap();
    assert_eq!(info.info_port, Some(16030));
    let version = info.version_info.unwrap();
    assert_eq!(version.version, "2.5.8");
    assert_eq!(
        (version.version_major, version.version_minor),
        (Some(2), Some(5))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keeps_retrying_through_an_ensemble_outage() {
    let mut node = start_node("reg-outage").await;
    let server = TcpStandIn::started().await;
    let (_dir, startcode) = startcode_file();
    let extra = [
        "--health-tcp",
        &server.addr(),
        "--startcode-file",
        startcode.to_str().unwrap(),
        "--session-timeout-ms",
        "4000",
    ];
    let zk = node.addr().to_string();
    let mut agent = Agent::spawn("outage", &agent_args(&zk, "/c1", server.port(), &extra));
    let path = format!("/c1/{}", name_for(server.port()));
    let first = {
        let observer = node.client().await;
        registered(&observer, &path).await
    };

    // Down for longer than the session timeout: the session cannot survive on the client side.
    node.kill9();
    metric_at_least(&agent, "corral_register_disconnects_total", 1.0).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        agent.is_running(),
        "the agent never exits on connection loss"
    );
    node.restart().await;

    // The old session's znode lingers until the restarted node expires that session; the
    // agent waits for it, then registers in its new session.
    let observer = node.client().await;
    eventually("registered in a new session", WAIT, || async {
        owner_of(&observer, &path)
            .await
            .filter(|&owner| owner != first)
    })
    .await;
    assert_eq!(healthz_says(&agent, "registered").await, 200);
    assert!(
        agent
            .metric("corral_register_sessions_total")
            .await
            .unwrap()
            >= 2.0
    );
    assert!(agent.is_running());
}

#[tokio::test(flavor = "multi_thread")]
async fn help_explains_every_flag_and_its_environment_variable() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_corral-sidecar"))
        .args(["register", "--help"])
        .output()
        .expect("run --help");
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in [
        "zk",
        "parent",
        "host",
        "rpc-port",
        "info-port",
        "name",
        "startcode-file",
        "format",
        "hbase-version",
        "pod",
        "node",
        "health-tcp",
        "health-http",
        "health-interval-ms",
        "health-timeout-ms",
        "success-threshold",
        "failure-threshold",
        "session-timeout-ms",
        "digest-auth",
        "acl",
        "http-port",
        "http-address",
        "shutdown-timeout-ms",
        "max-backoff-ms",
        "i-know-hbase-does-not-self-register",
    ] {
        assert!(
            help.contains(&format!("--{flag}")),
            "--{flag} missing:\n{help}"
        );
        let env = format!("CORRAL_REGISTER_{}", flag.replace('-', "_").to_uppercase());
        assert!(help.contains(&env), "{env} missing:\n{help}");
    }
}
