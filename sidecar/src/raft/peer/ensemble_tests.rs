//! Real openraft groups in one process, over the peer transport on 127.0.0.1: the node's own
//! log store and state machine on separate data directories, [`PeerNetwork`] as the network
//! and [`serve`] + [`RaftPeerHandler`] on each member's peer port.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use corral_proto::{Acl, CreateMode};
use corral_tree::{Applied, Command, CommandKind, Outcome, TreeOptions, WriteOp};
use futures_util::future::BoxFuture;
use openraft::async_runtime::WatchReceiver;
use openraft::{Config, Raft, ReadPolicy, SnapshotPolicy};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::*;
use crate::raft::core::Core;
use crate::raft::network::PeerNetwork;
use crate::raft::state_machine::StateMachineStore;
use crate::raft::{MemberNode, NodeId, TypeConfig};

type MemberRaft = Raft<TypeConfig, StateMachineStore>;

/// Bound on every wait; only "it happened at all" is asserted.
const PATIENCE: Duration = Duration::from_secs(30);

/// The application side as a leader would serve it: propose forwarded writes here.
struct ProposeHere {
    raft: MemberRaft,
}

impl AppHandler for ProposeHere {
    fn forward_write(
        &self,
        cmd: Command,
    ) -> BoxFuture<'_, BoxFuture<'static, Result<Applied, String>>> {
        let raft = self.raft.clone();
        let done: BoxFuture<'static, _> = Box::pin(async move {
            raft.client_write(cmd)
                .await
                .map(|resp| resp.data)
                .map_err(|e| e.to_string())
        });
        Box::pin(std::future::ready(done))
    }

    fn read_index(&self) -> BoxFuture<'static, Result<u64, String>> {
        let raft = self.raft.clone();
        Box::pin(async move {
            raft.ensure_linearizable(ReadPolicy::ReadIndex)
                .await
                .map(|read| read.log_id().index)
                .map_err(|e| e.to_string())
        })
    }
}

struct Member {
    id: NodeId,
    addr: String,
    raft: MemberRaft,
    core: Arc<Core>,
    network: PeerNetwork,
    server: JoinHandle<()>,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn config() -> Arc<Config> {
    let config = Config {
        cluster_name: "corral-test".into(),
        heartbeat_interval: 100,
        election_timeout_min: 500,
        election_timeout_max: 1000,
        // Installing a snapshot is part of the last chunk's round trip.
        install_snapshot_timeout: 5000,
        // Small chunks, so that even a small test snapshot crosses in many of them.
        snapshot_max_chunk_size: 1024,
        snapshot_policy: SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: 0,
        enable_pre_vote: Some(true),
        ..Default::default()
    };
    Arc::new(config.validate().expect("valid test config"))
}

async fn start_member(id: NodeId, dir: &Path, listener: TcpListener) -> Member {
    let addr = listener.local_addr().unwrap().to_string();
    let log_store =
        corral_storage::LogStore::<TypeConfig>::open(&dir.join("raft"), Default::default())
            .expect("open the log");
    let core = Arc::new(Core::new(TreeOptions {
        extended_types_enabled: false,
    }));
    let state_machine =
        StateMachineStore::open(&dir.join("snapshots"), core.clone(), 2).expect("open snapshots");
    let network = PeerNetwork::new(id, ClientOptions::default());
    let raft = Raft::new(id, config(), network.clone(), log_store, state_machine)
        .await
        .expect("start raft");
    let app = Arc::new(ProposeHere { raft: raft.clone() });
    let handler = Arc::new(RaftPeerHandler::new(raft.clone(), app));
    let server = tokio::spawn(serve(listener, handler, ServerOptions::default()));
    Member {
        id,
        addr,
        raft,
        core,
        network,
        server,
    }
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

fn node(m: &Member) -> MemberNode {
    MemberNode::new(m.addr.clone())
}

/// Wait until every member names the same leader; return its id.
async fn agreed_leader(members: &[&Member]) -> NodeId {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let leaders: BTreeSet<_> = members
                .iter()
                .map(|m| m.raft.metrics().borrow_watched().current_leader)
                .collect();
            if let [Some(leader)] = leaders.into_iter().collect::<Vec<_>>()[..] {
                return leader;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the members agreed on a leader")
}

async fn wait_applied(m: &Member, zxid: i64) {
    tokio::time::timeout(PATIENCE, m.core.wait_applied(zxid))
        .await
        .unwrap_or_else(|_| panic!("member {} applied zxid {zxid}", m.id));
}

fn create(session_id: i64, path: &str, data: Vec<u8>) -> Command {
    Command {
        time_ms: 1_700_000_000_000,
        kind: CommandKind::Write {
            session_id,
            owner: 1,
            auth: vec![],
            op: WriteOp::Create {
                path: path.into(),
                data: Some(data),
                acl: Acl::open_unsafe(),
                mode: CreateMode::Persistent,
                ttl_ms: -1,
            },
        },
    }
}

/// `client_write` on `member`, retrying while it refuses for want of a current lease or
/// leadership (a loaded machine can delay a heartbeat round past the lease), up to PATIENCE.
async fn write_retrying(member: &Member, cmd: Command) -> Applied {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match member.raft.client_write(cmd.clone()).await {
            Ok(written) => return written.data,
            Err(e) if e.forward_to_leader().is_some() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("write {cmd}: {e}"),
        }
    }
}

async fn open_session(leader: &Member) -> i64 {
    let cmd = Command {
        time_ms: 1_700_000_000_000,
        kind: CommandKind::CreateSession {
            timeout_ms: 30_000,
            password: [1; 16],
            owner: 1,
        },
    };
    match write_retrying(leader, cmd).await.result {
        Ok(Outcome::SessionCreated { session_id, .. }) => session_id,
        other => panic!("no session: {other:?}"),
    }
}

fn has_node(m: &Member, path: &str) -> bool {
    m.core.lock().sm.stat(path).is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_elect_replicate_forward_and_transfer_leadership() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let listeners = [bind().await, bind().await, bind().await];
    let mut members = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        members.push(start_member(i as NodeId + 1, dirs[i].path(), listener).await);
    }
    let voters: BTreeMap<NodeId, MemberNode> = members.iter().map(|m| (m.id, node(m))).collect();
    members[0]
        .raft
        .initialize(voters)
        .await
        .expect("initialize");
    let all: Vec<&Member> = members.iter().collect();
    let leader_id = agreed_leader(&all).await;
    let leader = &members[leader_id as usize - 1];

    // A write on the leader reaches every member's tree.
    let session = open_session(leader).await;
    let applied = write_retrying(leader, create(session, "/ensemble", b"hello".to_vec())).await;
    assert!(
        matches!(applied.result, Ok(Outcome::Created { .. })),
        "{applied:?}"
    );
    for m in &members {
        wait_applied(m, applied.zxid).await;
        assert!(has_node(m, "/ensemble"), "member {} has the node", m.id);
    }

    // A follower forwards a write to the leader over the application lane, and learns a read
    // index from it.
    let follower = members.iter().find(|m| m.id != leader_id).unwrap();
    let to_leader = follower.network.client(&leader.addr);
    let resp = to_leader
        .call(
            &PeerRequest::ForwardWrite(create(session, "/forwarded", vec![])),
            PATIENCE,
        )
        .await
        .expect("forwarded");
    let PeerResponse::Forwarded(Ok(applied)) = resp else {
        panic!("forwarded write failed: {resp:?}");
    };
    assert!(matches!(&applied.result, Ok(Outcome::Created { path, .. }) if path == "/forwarded"));
    let resp = to_leader.call(&PeerRequest::ReadIndex, PATIENCE).await;
    assert!(
        matches!(resp, Ok(PeerResponse::ReadIndex(Ok(index))) if index >= applied.zxid as u64),
        "{resp:?}"
    );
    for m in &members {
        wait_applied(m, applied.zxid).await;
        assert!(has_node(m, "/forwarded"), "member {} has the node", m.id);
    }

    // Leadership moves on request (the TransferLeader RPC), and the new leader replicates.
    let successor = follower.id;
    leader
        .raft
        .trigger()
        .transfer_leader(successor)
        .await
        .expect("transfer");
    let new_leader_id = tokio::time::timeout(PATIENCE, async {
        loop {
            let leader = agreed_leader(&all).await;
            if leader != leader_id {
                return leader;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("leadership moved");
    let new_leader = &members[new_leader_id as usize - 1];
    // Right after the transfer the new leader may still refuse writes for a moment (e.g. until
    // its leadership is established); retry those refusals only.
    let applied = tokio::time::timeout(PATIENCE, async {
        loop {
            match new_leader
                .raft
                .client_write(create(session, "/after-transfer", vec![]))
                .await
            {
                Ok(resp) => return resp.data,
                Err(e) if e.forward_to_leader().is_some() => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => panic!("write on the new leader: {e}"),
            }
        }
    })
    .await
    .expect("the new leader accepted a write");
    for m in &members {
        wait_applied(m, applied.zxid).await;
        assert!(
            has_node(m, "/after-transfer"),
            "member {} has the node",
            m.id
        );
    }

    for m in &members {
        let _ = m.raft.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_member_catches_up_from_a_chunked_snapshot() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = start_member(1, dirs[0].path(), bind().await).await;
    first
        .raft
        .initialize(BTreeMap::from([(1, node(&first))]))
        .await
        .expect("initialize");
    agreed_leader(&[&first]).await;

    // Enough data that the snapshot spans many 1 KiB chunks.
    let session = open_session(&first).await;
    let mut last = 0;
    for i in 0..20 {
        let data = vec![i as u8; 700];
        last = write_retrying(&first, create(session, &format!("/n{i}"), data))
            .await
            .zxid;
    }
    first.raft.trigger().snapshot().await.expect("snapshot");
    first
        .raft
        .wait(Some(PATIENCE))
        .metrics(
            |m| m.snapshot.is_some_and(|s| s.index >= last as u64),
            "the snapshot was built",
        )
        .await
        .unwrap();
    // Without the log, the only way to catch up is the snapshot.
    first
        .raft
        .trigger()
        .purge_log(last as u64)
        .await
        .expect("purge");
    first
        .raft
        .wait(Some(PATIENCE))
        .metrics(
            |m| m.purged.is_some_and(|p| p.index >= last as u64),
            "the log was purged",
        )
        .await
        .unwrap();
    let snapshot_len = postcard::to_stdvec(&first.core.lock().sm).unwrap().len();
    assert!(snapshot_len > 10 * 1024, "snapshot of {snapshot_len} bytes");

    let second = start_member(2, dirs[1].path(), bind().await).await;
    // A client attached to the learner before the snapshot arrives: its watches belong to the
    // old tree, so it must be disconnected to set them again.
    let (outbox, _to_client) =
        crate::raft::Outbox::new(crate::raft::OutboxLimits::from_soft(1 << 20));
    second.core.lock().attached.insert(
        77,
        crate::raft::core::Attached {
            outbox: outbox.clone(),
            auth: Vec::new(),
            read_only: false,
        },
    );
    first
        .raft
        .add_learner(2, node(&second), true)
        .await
        .expect("add the learner");
    wait_applied(&second, last).await;
    for i in 0..20 {
        let path = format!("/n{i}");
        let (data, _) = second
            .core
            .lock()
            .sm
            .get_data(&path, &[])
            .unwrap_or_else(|e| panic!("{path} on the new member: {e:?}"));
        assert_eq!(data, Some(vec![i as u8; 700]));
    }
    // The log up to `last` is gone from the leader, so the learner can only have caught up by
    // installing the snapshot.
    second
        .raft
        .wait(Some(PATIENCE))
        .metrics(
            |m| m.snapshot.is_some_and(|s| s.index >= last as u64),
            "the learner installed the snapshot",
        )
        .await
        .unwrap();
    assert_eq!(second.core.snapshots_installed(), 1);
    assert!(
        outbox.is_closed(),
        "the attached client was not disconnected when the snapshot replaced the tree"
    );

    first.raft.shutdown().await.ok();
    second.raft.shutdown().await.ok();
}
