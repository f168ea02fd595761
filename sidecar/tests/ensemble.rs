//! The replicated ensemble, seen by clients: reads after `sync` on any member, failover of the
//! leader, sessions that move between members, session expiry across a leader change, and a
//! restarted member catching up.
//!
//! Every expectation here holds against Apache ZooKeeper 3.8 too:
//! `CORRAL_ITEST_BACKEND=zookeeper cargo test -p corral-sidecar --test ensemble`.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::ensemble::{Ensemble, EnsembleConfig};
use common::raw::{self, ConnectRequest, RawConn, err, op};
use common::{NodeConfig, STEP, connect_bounded, connector_with_timeout, eventually, until_ok};
use zookeeper_client as zk;

/// Bound for the ensemble to take writes again after its leader died.
const FAILOVER_LIMIT: Duration = Duration::from_secs(60);
/// Bound for a session to expire once its timeout has passed (the new leader re-arms every
/// session with its full timeout first).
const EXPIRY_LIMIT: Duration = Duration::from_secs(60);
/// `create` flags of the raw protocol.
const EPHEMERAL: i32 = 1;
const PERSISTENT: i32 = 0;

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

fn ephemeral() -> zk::CreateOptions<'static> {
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all())
}

/// `sync` then `getData`: what a client that needs an up-to-date read does.
async fn sync_and_get(client: &zk::Client, path: &str) -> (Vec<u8>, zk::Stat) {
    bounded!(client.sync(path)).unwrap_or_else(|e| panic!("sync {path}: {e}"));
    bounded!(client.get_data(path)).unwrap_or_else(|e| panic!("getData {path}: {e}"))
}

/// `sync` then `exists`.
async fn sync_and_stat(client: &zk::Client, path: &str) -> Option<zk::Stat> {
    bounded!(client.sync(path)).unwrap_or_else(|e| panic!("sync {path}: {e}"));
    bounded!(client.check_stat(path)).unwrap_or_else(|e| panic!("exists {path}: {e}"))
}

/// Resume `session_id` on `addr` with a raw handshake, retrying while the member closes the
/// connection without answering (it has no quorum yet). Returns the server's answer.
async fn raw_resume(
    addr: std::net::SocketAddr,
    session_id: i64,
    password: &[u8],
    timeout_ms: i32,
    limit: Duration,
) -> (RawConn, raw::ConnectResponse) {
    let deadline = Instant::now() + limit;
    loop {
        let mut conn = RawConn::connect(addr).await;
        if let Some(answer) = conn
            .handshake(&ConnectRequest::resume(session_id, password, timeout_ms))
            .await
        {
            return (conn, answer);
        }
        if Instant::now() >= deadline {
            panic!("{addr} closed every resume handshake for {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn write_on_one_member_read_on_the_others(n: usize) {
    let ens = Ensemble::start(n).await;
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        clients.push(ens.client_to(i).await);
    }
    bounded!(clients[0].create("/sync", b"", &persistent())).unwrap();
    for writer in 0..n {
        let path = format!("/sync/by-{writer}");
        let data = format!("written on member {writer}");
        let (created, _) = bounded!(clients[writer].create(&path, data.as_bytes(), &persistent()))
            .unwrap_or_else(|e| panic!("create {path} on member {writer}: {e}"));
        for (reader, client) in clients.iter().enumerate().filter(|(i, _)| *i != writer) {
            let (read, stat) = sync_and_get(client, &path).await;
            assert_eq!(
                read,
                data.as_bytes(),
                "member {reader} after sync must see what member {writer} acknowledged"
            );
            // zxids are the same on every replica, so the whole Stat is.
            assert_eq!(stat, created, "Stat of {path} on member {reader}");
        }
    }
    let expected: Vec<String> = (0..n).map(|i| format!("by-{i}")).collect();
    for (reader, client) in clients.iter().enumerate() {
        bounded!(client.sync("/sync")).unwrap();
        let mut children = bounded!(client.list_children("/sync")).unwrap();
        children.sort();
        assert_eq!(children, expected, "children of /sync on member {reader}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn write_on_one_member_read_on_another_after_sync_3() {
    write_on_one_member_read_on_the_others(3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn write_on_one_member_read_on_another_after_sync_5() {
    write_on_one_member_read_on_the_others(5).await;
}

async fn leader_failover(n: usize) {
    let ens = Ensemble::start(n).await;
    let leader = ens.wait_for_leader().await;
    let survivors: Vec<usize> = (0..n).filter(|&i| i != leader).collect();

    // A session held by one survivor, and a writer that knows only the other survivors.
    let holder = ens.client_to(survivors[0]).await;
    let holder_session = holder.session_id();
    bounded!(holder.create("/failover", b"", &persistent())).unwrap();
    bounded!(holder.create("/failover/eph", b"held", &ephemeral())).unwrap();
    bounded!(holder.create("/failover/value", b"before", &persistent())).unwrap();
    let writer = bounded!(connect_bounded(
        common::default_connector(),
        &ens.connect_string_of(&survivors[1..])
    ))
    .unwrap();

    ens.mark(&format!("kill -9 the leader, member {leader}"));
    ens.member(leader).kill9();
    let new_leader = ens.wait_for_leader().await;
    assert_ne!(new_leader, leader, "the dead leader cannot be leader");

    let stat = until_ok("setData through another member", FAILOVER_LIMIT, || {
        writer.set_data("/failover/value", b"after", None)
    })
    .await;
    assert_eq!(stat.version, 1);
    // Once one write went through, writes keep going through.
    for i in 0..20 {
        let path = format!("/failover/n{i}");
        bounded!(writer.create(&path, b"", &persistent()))
            .unwrap_or_else(|e| panic!("create {path} after the failover: {e}"));
    }

    // The survivor's session lived through the election, with its ephemeral.
    until_ok("a write by the holder session", FAILOVER_LIMIT, || {
        holder.set_data("/failover", b"holder still here", None)
    })
    .await;
    assert_eq!(holder.session_id(), holder_session);
    for &i in &survivors {
        let client = ens.client_to(i).await;
        let eph = sync_and_stat(&client, "/failover/eph")
            .await
            .unwrap_or_else(|| panic!("the holder's ephemeral is gone on member {i}"));
        assert_eq!(eph.ephemeral_owner, holder_session.0, "owner on member {i}");
        let (value, _) = sync_and_get(&client, "/failover/value").await;
        assert_eq!(value, b"after", "acknowledged write on member {i}");
        let children = bounded!(client.list_children("/failover")).unwrap();
        assert_eq!(children.len(), 22, "children of /failover on member {i}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_leader_lets_writes_resume_and_survivors_keep_ephemerals_3() {
    leader_failover(3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_leader_lets_writes_resume_and_survivors_keep_ephemerals_5() {
    leader_failover(5).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_leader_is_replaced_and_rejoins_as_a_follower_when_continued() {
    // Short ticks: ZooKeeper's followers give up on a silent leader after syncLimit ticks.
    let config = EnsembleConfig {
        node: NodeConfig::fast_sessions(),
        ..EnsembleConfig::default()
    };
    let ens = Ensemble::start_with(3, config).await;
    let paused = ens.wait_for_leader().await;
    let others: Vec<usize> = (0..3).filter(|&i| i != paused).collect();
    let writer = bounded!(connect_bounded(
        connector_with_timeout(Duration::from_secs(20)),
        &ens.connect_string_of(&others)
    ))
    .unwrap();
    bounded!(writer.create("/paused", b"before", &persistent())).unwrap();

    ens.member(paused).sigstop();
    let new_leader = ens.wait_for_leader().await;
    assert_ne!(new_leader, paused, "a frozen member cannot stay leader");
    until_ok(
        "a write while the old leader is frozen",
        FAILOVER_LIMIT,
        || writer.set_data("/paused", b"during", None),
    )
    .await;

    ens.member(paused).sigcont();
    let mode = eventually(
        "the continued member reports itself a follower",
        FAILOVER_LIMIT,
        || async {
            let mode = ens.member(paused).mode().await?;
            (mode == "follower").then_some(mode)
        },
    )
    .await;
    assert_eq!(mode, "follower");
    ens.member(paused).wait_until_serving(FAILOVER_LIMIT).await;
    let reader = ens.client_to(paused).await;
    let (data, _) = sync_and_get(&reader, "/paused").await;
    assert_eq!(data, b"during", "the write made while it was frozen");
}

/// A follower tells the leader which of its sessions are alive. When the leader freezes, those
/// reports must reach the new leader well within a session timeout: a follower that kept
/// waiting on the frozen one let the new leader expire sessions whose clients were pinging all
/// along (found by the chaos suite as a lock held by two sessions).
#[tokio::test(flavor = "multi_thread")]
async fn sessions_pinging_followers_outlive_a_frozen_leader() {
    const SESSION: Duration = Duration::from_secs(6);
    let config = EnsembleConfig {
        node: NodeConfig::fast_sessions(),
        ..EnsembleConfig::default()
    };
    let ens = Ensemble::start_with(3, config).await;
    let paused = ens.wait_for_leader().await;
    let followers: Vec<usize> = (0..3).filter(|&i| i != paused).collect();
    // One session on each follower alone, so it is kept alive by that follower's reports.
    let mut sessions = Vec::new();
    for &i in &followers {
        let client = bounded!(connect_bounded(
            connector_with_timeout(SESSION),
            &ens.member(i).connect_string()
        ))
        .unwrap();
        let path = format!("/outlive-{i}");
        bounded!(client.create(&path, b"", &ephemeral())).unwrap();
        sessions.push((client, path));
    }

    ens.mark(&format!("SIGSTOP the leader, member {paused}"));
    ens.member(paused).sigstop();
    let new_leader = ens.wait_for_leader().await;
    assert_ne!(new_leader, paused, "a frozen member cannot stay leader");
    // The new leader gives every session its full timeout when it takes over; three timeouts
    // later a session that the other follower failed to report would be long gone.
    tokio::time::sleep(3 * SESSION).await;

    let observer = bounded!(connect_bounded(
        connector_with_timeout(Duration::from_secs(20)),
        &ens.connect_string_of(&followers)
    ))
    .unwrap();
    for (client, path) in &sessions {
        let stat = sync_and_stat(&observer, path)
            .await
            .unwrap_or_else(|| panic!("{path} vanished: its session expired while pinging"));
        assert_eq!(stat.ephemeral_owner, client.session_id().0);
        until_ok("a write by the pinging session", FAILOVER_LIMIT, || {
            client.set_data(path, b"alive", None)
        })
        .await;
    }
    ens.member(paused).sigcont();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_with_every_member_moves_its_session_when_its_member_dies() {
    let ens = Ensemble::start(3).await;
    let client = ens.client_to_any().await;
    let session = client.session_id();
    bounded!(client.create("/moved", b"", &persistent())).unwrap();
    bounded!(client.create("/moved/eph", b"", &ephemeral())).unwrap();
    let origin = eventually("cons on one member lists the session", STEP, || async {
        match ens.members_holding_session(session.0).await[..] {
            [one] => Some(one),
            _ => None,
        }
    })
    .await;

    ens.mark(&format!("kill -9 member {origin}, which holds the session"));
    ens.member(origin).kill9();
    let moved_to = eventually(
        "the client re-established its session on another member",
        FAILOVER_LIMIT,
        || async {
            if client.state() != zk::SessionState::SyncConnected {
                return None;
            }
            match ens.members_holding_session(session.0).await[..] {
                [one] if one != origin => Some(one),
                _ => None,
            }
        },
    )
    .await;
    assert_ne!(moved_to, origin);
    assert_eq!(
        client.session_id(),
        session,
        "the same session, not a new one"
    );

    until_ok("a write after the move", FAILOVER_LIMIT, || {
        client.set_data("/moved", b"moved", None)
    })
    .await;
    let observer = ens.client_to(moved_to).await;
    let eph = sync_and_stat(&observer, "/moved/eph")
        .await
        .expect("the ephemeral survived the move");
    assert_eq!(eph.ephemeral_owner, session.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_resumes_on_another_member_with_its_id_and_password() {
    let ens = Ensemble::start(3).await;
    // The session starts on the leader, so its move also crosses an election.
    let origin = ens.wait_for_leader().await;
    let others: Vec<usize> = (0..3).filter(|&i| i != origin).collect();
    let (mut conn, granted) = RawConn::open_session(ens.member(origin).addr(), 20_000).await;
    for (path, flags) in [("/resumed", PERSISTENT), ("/resumed/eph", EPHEMERAL)] {
        let (reply, _) = conn.call(op::CREATE, &raw::create(path, b"", flags)).await;
        assert_eq!(reply.err, err::OK, "create {path}");
    }

    ens.mark(&format!("kill -9 member {origin}, which holds the session"));
    ens.member(origin).kill9();
    drop(conn);

    let target = ens.member(others[0]);
    let (mut resumed, answer) = raw_resume(
        target.addr(),
        granted.session_id,
        &granted.password,
        20_000,
        FAILOVER_LIMIT,
    )
    .await;
    assert!(
        !answer.is_expired_reply(),
        "member {} refused to resume a live session: {answer:?}",
        others[0]
    );
    assert_eq!(answer.session_id, granted.session_id);
    assert_eq!(answer.timeout_ms, granted.timeout_ms);
    resumed.ping().await;
    let (reply, _) = resumed
        .call(op::CREATE, &raw::create("/resumed/after", b"", PERSISTENT))
        .await;
    assert_eq!(reply.err, err::OK, "a write on the resumed session");

    let observer = ens.client_to(others[1]).await;
    let eph = sync_and_stat(&observer, "/resumed/eph")
        .await
        .expect("the resumed session's ephemeral is still there");
    assert_eq!(eph.ephemeral_owner, granted.session_id);

    // The password is checked on every member, not only on the one that granted the session.
    let mut wrong = granted.password.clone();
    wrong[0] ^= 0xff;
    let (_, refused) = raw_resume(
        ens.member(others[1]).addr(),
        granted.session_id,
        &wrong,
        20_000,
        STEP,
    )
    .await;
    assert!(
        refused.is_expired_reply(),
        "a wrong password must be refused: {refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_session_expires_while_the_leader_changes() {
    let config = EnsembleConfig {
        node: NodeConfig::fast_sessions(),
        ..EnsembleConfig::default()
    };
    let ens = Ensemble::start_with(3, config).await;
    let leader = ens.wait_for_leader().await;
    let survivors: Vec<usize> = (0..3).filter(|&i| i != leader).collect();

    // A live session that must survive everything below.
    let live = bounded!(connect_bounded(
        connector_with_timeout(Duration::from_secs(20)),
        &ens.connect_string_of(&survivors)
    ))
    .unwrap();
    let live_session = live.session_id();
    bounded!(live.create("/expiry", b"", &persistent())).unwrap();
    bounded!(live.create("/expiry/live", b"", &ephemeral())).unwrap();

    // A session on a survivor that goes silent: its connection stays open, nothing is sent.
    let (mut silent, granted) = RawConn::open_session(ens.member(survivors[0]).addr(), 4_000).await;
    assert_eq!(granted.timeout_ms, 4_000);
    let (reply, _) = silent
        .call(op::CREATE, &raw::create("/expiry/silent", b"", EPHEMERAL))
        .await;
    assert_eq!(reply.err, err::OK);
    let eph = sync_and_stat(&live, "/expiry/silent")
        .await
        .expect("the silent session's ephemeral exists before the failover");
    assert_eq!(eph.ephemeral_owner, granted.session_id);
    silent.ping().await; // Fresh right before the leader dies.

    ens.mark(&format!("kill -9 the leader, member {leader}"));
    ens.member(leader).kill9();
    let new_leader = ens.wait_for_leader().await;
    assert_ne!(new_leader, leader);

    eventually(
        "the silent session expired and its ephemeral was deleted",
        EXPIRY_LIMIT,
        || async {
            let gone = async {
                live.sync("/expiry").await.ok()?;
                match live.check_stat("/expiry/silent").await {
                    Ok(None) => Some(()),
                    _ => None,
                }
            };
            tokio::time::timeout(Duration::from_secs(5), gone)
                .await
                .ok()
                .flatten()
        },
    )
    .await;

    // The expiry holds on every member: none resumes the session.
    for &i in &survivors {
        let (_, answer) = raw_resume(
            ens.member(i).addr(),
            granted.session_id,
            &granted.password,
            4_000,
            STEP,
        )
        .await;
        assert!(
            answer.is_expired_reply(),
            "member {i} resumed an expired session: {answer:?}"
        );
    }

    // The other session lived on, with its ephemeral.
    until_ok("a write by the live session", FAILOVER_LIMIT, || {
        live.set_data("/expiry", b"still here", None)
    })
    .await;
    assert_eq!(live.session_id(), live_session);
    let eph = sync_and_stat(&live, "/expiry/live")
        .await
        .expect("the live session's ephemeral survived");
    assert_eq!(eph.ephemeral_owner, live_session.0);
    drop(silent);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_member_catches_up_from_a_snapshot() {
    // With a snapshot every ~100 transactions and 500 entries kept behind the newest one, the
    // survivors purge the log the stopped member would need, so it can only catch up by
    // installing a snapshot, as a ZooKeeper follower that is too far behind gets a SNAP.
    const WRITES: usize = 1000;
    let config = EnsembleConfig {
        snap_count: Some(100),
        ..EnsembleConfig::default()
    };
    let ens = Ensemble::start_with(3, config).await;
    let leader = ens.wait_for_leader().await;
    let lagging = (0..3).find(|&i| i != leader).unwrap();
    let others: Vec<usize> = (0..3).filter(|&i| i != lagging).collect();
    let writer = bounded!(connect_bounded(
        common::default_connector(),
        &ens.connect_string_of(&others)
    ))
    .unwrap();
    bounded!(writer.create("/catchup", b"", &persistent())).unwrap();
    let corral = ens.backend() == common::Backend::Corral;
    let lagging_last = if corral {
        let last = ens.gauge(lagging, "raft_last_log_index").await;
        Some(last.expect("the member reports raft_last_log_index"))
    } else {
        None
    };

    ens.mark(&format!(
        "kill -9 member {lagging}; writes while it is down"
    ));
    ens.member(lagging).kill9();
    let paths: Vec<String> = (0..WRITES).map(|i| format!("/catchup/n{i:04}")).collect();
    for batch in paths.chunks(50) {
        let creates = batch
            .iter()
            .map(|path| writer.create(path, path.as_bytes(), &persistent()));
        for (path, result) in batch
            .iter()
            .zip(bounded!(futures_util::future::join_all(creates)))
        {
            result.unwrap_or_else(|e| panic!("create {path}: {e}"));
        }
    }
    bounded!(writer.set_data("/catchup", b"done", None)).unwrap();

    if let Some(lagging_last) = lagging_last {
        // Snapshots are built in the background: wait until both survivors have dropped the
        // entries after the stopped member's last one.
        for &i in &others {
            eventually(
                &format!("member {i} purges its log past index {lagging_last}"),
                Duration::from_secs(30),
                || async {
                    let purged = ens.gauge(i, "raft_purged_index").await?;
                    (purged > lagging_last + 1).then_some(())
                },
            )
            .await;
        }
    }

    ens.mark(&format!("restart member {lagging}"));
    ens.member(lagging).restart().await;
    let reader = ens.client_to(lagging).await;
    let (data, stat) = sync_and_get(&reader, "/catchup").await;
    assert_eq!(data, b"done");
    let (_, leader_stat) = sync_and_get(&writer, "/catchup").await;
    assert_eq!(
        stat, leader_stat,
        "Stat of /catchup on the restarted member"
    );
    let mut children = bounded!(reader.list_children("/catchup")).unwrap();
    children.sort();
    let expected: Vec<String> = (0..WRITES).map(|i| format!("n{i:04}")).collect();
    assert_eq!(children, expected);
    let (last, _) = bounded!(reader.get_data(&paths[WRITES - 1])).unwrap();
    assert_eq!(last, paths[WRITES - 1].as_bytes());
    if corral {
        let installed = ens.gauge(lagging, "raft_snapshots_installed").await;
        assert!(
            installed >= Some(1),
            "the restarted member caught up without installing a snapshot \
             (raft_snapshots_installed = {installed:?}); see {}",
            ens.member(lagging).log_path().display()
        );
    }

    // And it keeps up with writes after the restart.
    bounded!(writer.create("/catchup/after", b"after", &persistent())).unwrap();
    let (after, _) = sync_and_get(&reader, "/catchup/after").await;
    assert_eq!(after, b"after");
}
