//! Membership changes through the admin API, on real member processes: grow a 3-member
//! ensemble to 5 one step at a time and shrink it back to 3 while a client keeps writing, and
//! refuse a removal that would break the quorum. ZooKeeper's `reconfig` is exercised on the
//! grown ensemble through a member that enables it.
//!
//! The admin API is Corral's own, so under `CORRAL_ITEST_BACKEND=zookeeper` these tests say so
//! and do nothing.

#[macro_use]
mod common;

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::ensemble::{Ensemble, four_letter_word};
use common::opens_session;
use common::{Backend, connect_bounded, connector_with_timeout, eventually, free_port, log_tail};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use zookeeper_client as zk;

/// Bound for one admin call; a change waits for its commit (and a learner for its catch-up).
const ADMIN_TIMEOUT: Duration = Duration::from_secs(120);
/// Bound for a joining member to start and for the cluster to settle after a change.
const SETTLE: Duration = Duration::from_secs(60);
/// The writer's session timeout: no step of the test may take its session away.
const WRITER_SESSION: Duration = Duration::from_secs(20);
/// The super user's digest for `super:test`, as kazoo's harness configures it.
const SUPER_DIGEST: &str = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";

fn corral_only(ens: &Ensemble) -> bool {
    if ens.backend() == Backend::ZooKeeper {
        eprintln!("the membership admin API is Corral's own; nothing to compare with ZooKeeper");
        return false;
    }
    true
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

fn ephemeral() -> zk::CreateOptions<'static> {
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all())
}

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client for the admin API.

/// One request on a fresh connection; returns the status and the JSON body.
async fn http(port: u16, method: &str, path: &str, body: &str) -> Result<(u16, Value), String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect to admin port {port}: {e}"))?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .map_err(|e| e.to_string())?;
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw
            .split_once("\r\n\r\n")
            .ok_or_else(|| format!("incomplete answer: {raw:?}"))?;
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no status in {head:?}"))?;
        let json = serde_json::from_str(body).map_err(|e| format!("{e}: {body:?}"))?;
        Ok((status, json))
    };
    tokio::time::timeout(ADMIN_TIMEOUT, exchange)
        .await
        .map_err(|_| {
            format!("{method} {path} on port {port}: no answer within {ADMIN_TIMEOUT:?}")
        })?
}

/// Members by server id: their admin ports (the original three and any joiners).
struct AdminPorts(Vec<(u64, u16)>);

impl AdminPorts {
    fn port(&self, id: u64) -> Option<u16> {
        self.0.iter().find(|(i, _)| *i == id).map(|(_, p)| *p)
    }

    /// The leader's id, as the first member that answers knows it.
    async fn leader(&self) -> Option<u64> {
        for (_, port) in &self.0 {
            if let Ok((200, view)) = http(*port, "GET", "/membership", "").await
                && let Some(id) = view["leader"]["id"].as_u64()
            {
                return Some(id);
            }
        }
        None
    }

    /// Send a change to the leader, following a "not the leader" answer once, and retrying
    /// while there is no leader; returns the final status and body.
    async fn on_leader(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let deadline = Instant::now() + SETTLE;
        loop {
            let leader = self.leader().await;
            if let Some(port) = leader.and_then(|id| self.port(id)) {
                match http(port, method, path, body).await {
                    Ok((409, answer)) if answer.get("leader").is_some() => {
                        // Leadership moved between the lookup and the call: ask again.
                    }
                    Ok((503, answer))
                        if answer["error"]
                            .as_str()
                            .is_some_and(|e| e.contains("no leader")) => {}
                    Ok(answer) => return answer,
                    Err(e) => eprintln!("{method} {path}: {e}; retrying"),
                }
            }
            if Instant::now() >= deadline {
                panic!("{method} {path}: no leader answered within {SETTLE:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn expect_ok(&self, method: &str, path: &str, body: &str) -> Value {
        let (status, answer) = self.on_leader(method, path, body).await;
        assert_eq!(status, 200, "{method} {path} {body}: {answer}");
        answer
    }

    async fn membership(&self) -> Value {
        self.expect_ok("GET", "/membership", "").await
    }
}

fn ids(members: &Value) -> Vec<u64> {
    members
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["id"].as_u64()).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// A member started to join an existing ensemble.

/// A `corral-sidecar node` whose zoo.cfg lists the ensemble's participants and itself as an
/// observer: it does not bootstrap, and waits for the leader to add it.
struct Joiner {
    id: u64,
    client: u16,
    peer: u16,
    election: u16,
    admin: u16,
    log_path: PathBuf,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl Joiner {
    fn start(id: u64, ens: &Ensemble, label: &str) -> Joiner {
        let dir = tempfile::Builder::new()
            .prefix(&format!("corral-join-{id}-"))
            .tempdir()
            .expect("create the joiner's dir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("create the joiner's data dir");
        std::fs::write(data.join("myid"), format!("{id}\n")).expect("write myid");
        let (client, peer, election, admin) = (free_port(), free_port(), free_port(), free_port());
        let mut cfg = String::new();
        let _ = writeln!(cfg, "tickTime=2000\ndataDir={}", data.display());
        let _ = writeln!(cfg, "clientPort={client}\nclientPortAddress=127.0.0.1");
        let _ = writeln!(
            cfg,
            "admin.serverAddress=127.0.0.1\nadmin.serverPort={admin}"
        );
        let _ = writeln!(cfg, "4lw.commands.whitelist=*\nreconfigEnabled=true");
        for member in ens.members() {
            let ports = member.ports();
            let _ = writeln!(
                cfg,
                "server.{}=127.0.0.1:{}:{}:participant",
                member.id(),
                ports.peer,
                ports.election
            );
        }
        let _ = writeln!(
            cfg,
            "server.{id}=127.0.0.1:{peer}:{election}:observer;127.0.0.1:{client}"
        );
        let cfg_path = dir.path().join("zoo.cfg");
        std::fs::write(&cfg_path, cfg).expect("write the joiner's zoo.cfg");
        let log_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("corral-itests");
        std::fs::create_dir_all(&log_dir).expect("create the test log dir");
        let log_path = log_dir.join(format!("membership-{label}-joiner{id}-{client}.log"));
        let log = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&log_path)
            .expect("open the joiner's log");
        let stderr = log.try_clone().expect("clone the log handle");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_corral-sidecar"));
        cmd.arg("node").arg("--zoo-cfg").arg(&cfg_path).args([
            "--metrics-port",
            "0",
            "--super-digest",
            SUPER_DIGEST,
        ]);
        common::isolate_from_caller_env(&mut cmd);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawn the joining member");
        Joiner {
            id,
            client,
            peer,
            election,
            admin,
            log_path,
            child: Some(child),
            _dir: dir,
        }
    }

    fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.client)
    }

    /// The body of `POST /membership/learners` for this member.
    fn learner_request(&self) -> String {
        format!(
            r#"{{"id": {}, "addr": "127.0.0.1:{}", "election_port": {}, "client_addr": "127.0.0.1:{}"}}"#,
            self.id, self.peer, self.election, self.client
        )
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Joiner {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- joiner {} log {} (last lines) ---\n{}",
                self.id,
                self.log_path.display(),
                log_tail(&self.log_path, 40)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The steady client load.

/// What the writer saw.
#[derive(Debug, Default)]
struct Written {
    /// Paths whose create was acknowledged.
    acked: Vec<String>,
    /// Errors other than a lost connection (whose outcome is unknown and is not counted).
    errors: Vec<String>,
}

/// Create `/load/w-<n>` one after another until `stop`, pausing a little between writes;
/// `acked` counts the acknowledged ones as they come.
async fn write_steadily(
    client: Arc<zk::Client>,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
) -> Written {
    let mut written = Written::default();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let path = format!("/load/w-{n:06}");
        n += 1;
        match tokio::time::timeout(
            Duration::from_secs(20),
            client.create(&path, b"x", &persistent()),
        )
        .await
        {
            Ok(Ok(_)) => {
                written.acked.push(path);
                acked.fetch_add(1, Ordering::Relaxed);
            }
            // The outcome of a write cut off by a reconnect is unknown to the client.
            Ok(Err(zk::Error::ConnectionLoss)) | Err(_) => {}
            Ok(Err(e)) => written.errors.push(format!("{path}: {e}")),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    written
}

/// Wait until the writer has had `more` further writes acknowledged: the load goes on.
async fn load_continues(acked: &AtomicUsize, more: usize, after: &str) {
    let from = acked.load(Ordering::Relaxed);
    eventually(
        &format!("writes are acknowledged after {after}"),
        SETTLE,
        || async { (acked.load(Ordering::Relaxed) >= from + more).then_some(()) },
    )
    .await;
}

/// A value of `mntr`'s tab-separated output.
fn mntr_field(mntr: &str, name: &str) -> Option<String> {
    mntr.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('\t'))
        .map(str::to_string)
}

/// Wait until a member serves sessions (it has joined and caught up).
async fn wait_serving(addr: &str) {
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    eventually("the member serves sessions", SETTLE, || async {
        opens_session(addr).await.then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn grow_three_to_five_and_shrink_back_under_load_loses_no_acknowledged_write() {
    let ens = Ensemble::start(3).await;
    if !corral_only(&ens) {
        return;
    }
    let first_leader = ens.wait_for_leader().await;
    let mut joiners = vec![
        Joiner::start(4, &ens, "grow"),
        Joiner::start(5, &ens, "grow"),
    ];
    let mut admin = AdminPorts(
        ens.members()
            .iter()
            .map(|m| (m.id(), m.ports().admin))
            .collect(),
    );
    admin.0.extend(joiners.iter().map(|j| (j.id, j.admin)));

    // The writer stays on members that survive the shrink: the first leader and the joiners.
    let hosts = format!(
        "{},{},{}",
        ens.member(first_leader).connect_string(),
        joiners[0].connect_string(),
        joiners[1].connect_string()
    );
    let writer = Arc::new(
        connect_bounded(connector_with_timeout(WRITER_SESSION), &hosts)
            .await
            .expect("the writer connects"),
    );
    let session = writer.session().id().0;
    bounded!(writer.create("/load", b"", &persistent())).unwrap();
    bounded!(writer.create("/writer-alive", b"", &ephemeral())).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn(write_steadily(writer.clone(), stop.clone(), acked.clone()));
    load_continues(&acked, 5, "the start").await;

    // Grow, one step at a time.
    for joiner in &joiners {
        ens.mark(&format!("add learner {}", joiner.id));
        let added = admin
            .expect_ok("POST", "/membership/learners", &joiner.learner_request())
            .await;
        assert!(
            ids(&added["membership"]["learners"]).contains(&joiner.id),
            "{added}"
        );
        load_continues(&acked, 5, &format!("adding learner {}", joiner.id)).await;
        ens.mark(&format!("promote {}", joiner.id));
        let promoted = admin
            .expect_ok("POST", &format!("/membership/voters/{}", joiner.id), "")
            .await;
        assert!(
            ids(&promoted["membership"]["voters"]).contains(&joiner.id),
            "{promoted}"
        );
        load_continues(&acked, 5, &format!("promoting {}", joiner.id)).await;
        wait_serving(&joiner.connect_string()).await;
    }
    let grown = admin.membership().await;
    assert_eq!(ids(&grown["voters"]), vec![1, 2, 3, 4, 5], "{grown}");
    assert_eq!(ids(&grown["learners"]), Vec::<u64>::new());

    // Clients see the five participants in /zookeeper/config, the joiners with their client
    // addresses, on a new member too.
    let on_joiner = connect_bounded(
        connector_with_timeout(WRITER_SESSION),
        &joiners[0].connect_string(),
    )
    .await
    .expect("connect to a joined member");
    bounded!(on_joiner.sync("/")).unwrap();
    let (config, _) = bounded!(on_joiner.get_config()).unwrap();
    let config = String::from_utf8(config).unwrap();
    assert_eq!(config.matches(":participant").count(), 5, "{config}");
    assert!(
        config.contains(&format!(
            "server.4=127.0.0.1:{}:{}:participant;127.0.0.1:{}",
            joiners[0].peer, joiners[0].election, joiners[0].client
        )),
        "{config}"
    );

    // Leadership moves to a joined member on request; it then reports its followers as
    // ZooKeeper's leader does, and the others name it.
    ens.mark("transfer leadership to 4");
    let moved = admin
        .expect_ok("POST", "/membership/leader", r#"{"id": 4}"#)
        .await;
    assert_eq!(moved["leader"], 4, "{moved}");
    let joiner4: std::net::SocketAddr = joiners[0].connect_string().parse().unwrap();
    // A new leader counts a follower as synced once it has acknowledged it.
    let mntr = eventually("member 4 reports synced followers", SETTLE, || async {
        let mntr = four_letter_word(joiner4, "mntr").await?;
        let synced: u32 = mntr_field(&mntr, "zk_synced_followers")?.parse().ok()?;
        (synced >= 2).then_some(mntr)
    })
    .await;
    assert_eq!(
        mntr_field(&mntr, "zk_server_state").as_deref(),
        Some("leader"),
        "{mntr}"
    );
    assert_eq!(
        mntr_field(&mntr, "zk_followers").as_deref(),
        Some("4"),
        "{mntr}"
    );
    assert_eq!(
        mntr_field(&mntr, "zk_pending_syncs").as_deref(),
        Some("0"),
        "{mntr}"
    );
    let (status, lead) = http(
        ens.member(first_leader).ports().admin,
        "GET",
        "/commands/leader",
        "",
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        (lead["is_leader"].clone(), lead["leader_id"].clone()),
        (Value::Bool(false), Value::from(4)),
        "{lead}"
    );
    load_continues(&acked, 5, "transferring leadership").await;

    // ZooKeeper's reconfig, through a member that enables it: an observer comes and goes.
    let su = connect_bounded(
        connector_with_timeout(WRITER_SESSION).with_auth("digest", b"super:test"),
        &joiners[1].connect_string(),
    )
    .await
    .expect("connect as the super user");
    let observer = "server.100=127.0.0.1:1:2:observer;127.0.0.1:3";
    let (added, stat) = bounded!(su.update_ensemble(
        zk::EnsembleUpdate::Incremental {
            joinings: vec![observer].into_iter(),
            leavings: Vec::new().into_iter(),
        },
        None
    ))
    .expect("reconfig adds an observer");
    let added = String::from_utf8(added).unwrap();
    assert!(added.contains(observer), "{added}");
    assert_eq!(
        stat.version, -1,
        "a reconfigured config node has version -1"
    );
    let version = added.rsplit_once("version=").unwrap().1.to_string();
    assert_eq!(
        i64::from_str_radix(&version, 16).unwrap(),
        stat.mzxid,
        "the config version is the zxid of the change"
    );
    let stale = su
        .update_ensemble(
            zk::EnsembleUpdate::Incremental {
                joinings: Vec::new().into_iter(),
                leavings: vec!["100"].into_iter(),
            },
            Some(stat.mzxid + 1),
        )
        .await;
    assert!(matches!(stale, Err(zk::Error::BadVersion)), "{stale:?}");
    let (removed, _) = bounded!(su.update_ensemble(
        zk::EnsembleUpdate::Incremental {
            joinings: Vec::new().into_iter(),
            leavings: vec!["100"].into_iter(),
        },
        Some(stat.mzxid)
    ))
    .expect("reconfig removes the observer");
    assert!(!String::from_utf8(removed).unwrap().contains("server.100"));

    // Shrink back to three: the original members other than the first leader leave, so the
    // remaining voters are the first leader and the two joiners.
    let leaving: Vec<usize> = (0..3).filter(|&i| i != first_leader).collect();
    for &i in &leaving {
        let id = ens.member(i).id();
        ens.mark(&format!("remove {id}"));
        let removed = admin
            .expect_ok("DELETE", &format!("/membership/members/{id}"), "")
            .await;
        assert!(
            !ids(&removed["membership"]["voters"]).contains(&id),
            "{removed}"
        );
        // A member that is out no longer serves clients (it hears from no leader)...
        let removed_addr = ens.member(i).addr();
        eventually(
            &format!("removed member {id} refuses new sessions"),
            SETTLE,
            || async { (!opens_session(removed_addr).await).then_some(()) },
        )
        .await;
        // ... and an operator stops it.
        ens.member(i).kill9();
        admin.0.retain(|(member, _)| *member != id);
        load_continues(&acked, 5, &format!("removing {id}")).await;
    }
    let shrunk = admin.membership().await;
    let mut expected = vec![ens.member(first_leader).id(), 4, 5];
    expected.sort_unstable();
    assert_eq!(ids(&shrunk["voters"]), expected, "{shrunk}");

    stop.store(true, Ordering::Relaxed);
    let written = bounded!(load).expect("the writer task");
    assert!(
        written.errors.is_empty(),
        "the writer saw errors: {:?}",
        written.errors
    );
    assert_eq!(written.acked.len(), acked.load(Ordering::Relaxed));

    // No acknowledged write is lost, on any remaining member; the session never expired.
    assert_eq!(writer.session().id().0, session);
    let survivors: Vec<String> = vec![
        ens.member(first_leader).connect_string(),
        joiners[0].connect_string(),
        joiners[1].connect_string(),
    ];
    for hosts in &survivors {
        let reader = connect_bounded(connector_with_timeout(WRITER_SESSION), hosts)
            .await
            .unwrap_or_else(|e| panic!("connect to {hosts}: {e}"));
        bounded!(reader.sync("/load")).unwrap();
        let children: std::collections::BTreeSet<String> = bounded!(reader.list_children("/load"))
            .unwrap()
            .into_iter()
            .map(|c| format!("/load/{c}"))
            .collect();
        let lost: Vec<&String> = written
            .acked
            .iter()
            .filter(|p| !children.contains(*p))
            .collect();
        assert!(
            lost.is_empty(),
            "member {hosts} lost acknowledged writes: {lost:?}"
        );
        let alive = bounded!(reader.check_stat("/writer-alive")).unwrap();
        assert_eq!(
            alive.map(|s| s.ephemeral_owner),
            Some(session),
            "the writer's ephemeral survives on {hosts}: its session never expired"
        );
    }
    for joiner in &mut joiners {
        joiner.kill();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removal_that_would_break_the_quorum_is_refused() {
    let ens = Ensemble::start(3).await;
    if !corral_only(&ens) {
        return;
    }
    let leader = ens.wait_for_leader().await;
    let admin = AdminPorts(
        ens.members()
            .iter()
            .map(|m| (m.id(), m.ports().admin))
            .collect(),
    );
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let (down, live) = (followers[0], followers[1]);

    // A follower asked directly refuses and names the leader.
    let (status, answer) = http(
        ens.member(live).ports().admin,
        "DELETE",
        &format!("/membership/members/{}", ens.member(down).id()),
        "",
    )
    .await
    .unwrap();
    assert_eq!(status, 409, "{answer}");
    assert_eq!(
        answer["leader"]["id"].as_u64(),
        Some(ens.member(leader).id())
    );

    ens.member(down).kill9();
    // Wait until the leader no longer counts the dead member as live.
    eventually("the leader notices the dead member", SETTLE, || async {
        let view = admin.membership().await;
        let age = view["voters"]
            .as_array()?
            .iter()
            .find(|m| m["id"].as_u64() == Some(ens.member(down).id()))?["millis_since_ack"]
            .as_u64();
        (age.is_none_or(|ms| ms > 3_000)).then_some(())
    })
    .await;

    // Removing the live follower would leave {leader, dead member}: one live voter of two.
    let (status, answer) = admin
        .on_leader(
            "DELETE",
            &format!("/membership/members/{}", ens.member(live).id()),
            "",
        )
        .await;
    assert_eq!(status, 409, "{answer}");
    let reason = answer["error"].as_str().unwrap();
    assert!(reason.contains("fewer than a quorum"), "{reason}");
    let view = admin.membership().await;
    assert_eq!(
        ids(&view["voters"]),
        vec![1, 2, 3],
        "nothing changed: {view}"
    );

    // The ensemble still takes writes.
    let client = ens.client_to(live).await;
    bounded!(client.create("/still-writable", b"", &persistent())).unwrap();

    // Removing the dead member is the way out, and is accepted.
    let removed = admin
        .expect_ok(
            "DELETE",
            &format!("/membership/members/{}", ens.member(down).id()),
            "",
        )
        .await;
    assert_eq!(ids(&removed["membership"]["voters"]).len(), 2, "{removed}");
    // Two voters now: neither may leave (one voter cannot carry a quorum of two).
    let (status, answer) = admin
        .on_leader(
            "DELETE",
            &format!("/membership/members/{}", ens.member(live).id()),
            "",
        )
        .await;
    assert_eq!(status, 409, "{answer}");
}
