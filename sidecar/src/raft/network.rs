//! openraft's side of the peer transport ([`super::peer`]).
//!
//! [`PeerNetwork`] is the `RaftNetworkFactory`. It keeps one [`PeerClient`] per target and
//! *lane*, so that a large AppendEntries or a snapshot never holds up heartbeats to the same
//! member: replication (and votes), heartbeats and snapshots each have their own connection.
//! Application requests (forwarded writes, read index, touches) have a fourth, reached through
//! [`PeerNetwork::client`].
//!
//! Errors map onto openraft's as follows:
//! - a call that could not be made, or whose connection was lost: `Unreachable`, so openraft
//!   backs off before retrying that member;
//! - no reply within `RPCOption::soft_ttl()`: `Timeout` (openraft may cancel the call at the
//!   hard TTL; the soft one ends it first);
//! - the remote Raft failed (it is stopped or its storage broke): `Unreachable` as well, since
//!   only a restart of that member helps. openraft's `RPCError<C>` offers no typed remote error
//!   for these RPCs (its `RemoteError` is `Infallible` there);
//! - anything else the peer says that makes no sense here (an unsupported request, a reply of
//!   the wrong kind): `Network`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use openraft::error::{
    NetworkError, RPCError, ReplicationClosed, StreamingError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};

use super::peer::wire::{self, Vote};
use super::peer::{CallError, ClientOptions, PeerClient, PeerRequest, PeerResponse};
use super::{MemberNode, NodeId, TypeConfig};

type Snapshot = openraft::alias::SnapshotOf<TypeConfig, Vec<u8>>;

/// Which connection to a member a client uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Lane {
    /// AppendEntries with entries, votes, leader transfer.
    Replication,
    Heartbeat,
    Snapshot,
}

struct Pool {
    self_id: NodeId,
    opts: ClientOptions,
    raft_clients: Mutex<HashMap<(NodeId, Lane), PeerClient>>,
    app_clients: Mutex<HashMap<String, PeerClient>>,
    transfer_ids: Arc<AtomicU64>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each holder does one lookup or insert; a panic cannot leave the map half-changed.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The member's peer connections: openraft's network factory, and the application's way to
/// reach other members. Clones share the connections.
#[derive(Clone)]
pub struct PeerNetwork {
    pool: Arc<Pool>,
}

impl PeerNetwork {
    /// The network of member `self_id` (named in timeout errors).
    pub fn new(self_id: NodeId, opts: ClientOptions) -> Self {
        PeerNetwork {
            pool: Arc::new(Pool {
                self_id,
                opts,
                raft_clients: Mutex::new(HashMap::new()),
                app_clients: Mutex::new(HashMap::new()),
                transfer_ids: Arc::new(AtomicU64::new(1)),
            }),
        }
    }

    /// The connection for application requests ([`PeerRequest::ForwardWrite`],
    /// [`PeerRequest::ReadIndex`], [`PeerRequest::Touch`]) to the member at `addr`
    /// ("host:port", as in its [`MemberNode`]). Requests sent through it, by any clone, leave in
    /// the order they are called.
    pub fn client(&self, addr: &str) -> PeerClient {
        locked(&self.pool.app_clients)
            .entry(addr.to_string())
            .or_insert_with(|| PeerClient::new(addr, self.pool.opts.clone()))
            .clone()
    }

    fn link(&self, target: NodeId, node: &MemberNode, lane: Lane) -> PeerLink {
        let client = {
            let mut clients = locked(&self.pool.raft_clients);
            match clients.get(&(target, lane)) {
                Some(c) if c.addr() == node.addr => c.clone(),
                // New, or the member moved (a membership change gave it another address).
                _ => {
                    let c = PeerClient::new(node.addr.clone(), self.pool.opts.clone());
                    clients.insert((target, lane), c.clone());
                    c
                }
            }
        };
        PeerLink {
            self_id: self.pool.self_id,
            target,
            client,
            transfer_ids: self.pool.transfer_ids.clone(),
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerLink;

    async fn new_client(&mut self, target: NodeId, node: &MemberNode) -> PeerLink {
        self.link(target, node, Lane::Replication)
    }

    async fn new_heartbeat_client(&mut self, target: NodeId, node: &MemberNode) -> PeerLink {
        self.link(target, node, Lane::Heartbeat)
    }

    async fn new_snapshot_client(&mut self, target: NodeId, node: &MemberNode) -> PeerLink {
        self.link(target, node, Lane::Snapshot)
    }
}

/// openraft's client for one target member.
pub struct PeerLink {
    self_id: NodeId,
    target: NodeId,
    client: PeerClient,
    transfer_ids: Arc<AtomicU64>,
}

impl PeerLink {
    fn call_failed(&self, action: RPCTypes, e: CallError) -> RPCError<TypeConfig> {
        match e {
            CallError::Timeout { timeout, .. } => RPCError::Timeout(Timeout {
                action,
                id: self.self_id,
                target: self.target,
                timeout,
            }),
            CallError::Encode { .. } => RPCError::Network(NetworkError::new(&e)),
            CallError::NotSent { .. } | CallError::ConnectionLost { .. } => {
                RPCError::Unreachable(Unreachable::new(&e))
            }
        }
    }

    fn remote_failed(&self, action: RPCTypes, reason: &str) -> RPCError<TypeConfig> {
        RPCError::Unreachable(Unreachable::from_string(format!(
            "member {} cannot serve {action}: {reason}",
            self.target
        )))
    }

    fn unexpected(&self, action: RPCTypes, resp: &PeerResponse) -> RPCError<TypeConfig> {
        let what = match resp {
            PeerResponse::Error(reason) => format!("an error: {reason}"),
            other => format!("an unexpected reply: {other:?}"),
        };
        RPCError::Network(NetworkError::from_string(format!(
            "member {} answered {action} with {what}",
            self.target
        )))
    }

    async fn call(
        &self,
        action: RPCTypes,
        req: &PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, RPCError<TypeConfig>> {
        self.client
            .call(req, timeout)
            .await
            .map_err(|e| self.call_failed(action, e))
    }

    async fn call_vote(
        &self,
        req: PeerRequest,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self.call(RPCTypes::Vote, &req, option.soft_ttl()).await? {
            PeerResponse::Vote(Ok(resp)) => Ok(resp),
            PeerResponse::Vote(Err(e)) => Err(self.remote_failed(RPCTypes::Vote, &e)),
            other => Err(self.unexpected(RPCTypes::Vote, &other)),
        }
    }

    async fn send_snapshot(
        &self,
        vote: Vote,
        snapshot: Snapshot,
        chunk_len: usize,
        timeout: Duration,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let action = RPCTypes::InstallSnapshot;
        let transfer = self.transfer_ids.fetch_add(1, Ordering::Relaxed);
        let parts = super::peer::split_snapshot(&snapshot.snapshot, chunk_len);
        let Some(((last_offset, last), leading)) = parts.split_last() else {
            // split() always yields at least one part.
            return Err(NetworkError::from_string("a snapshot split into no parts").into());
        };
        for (offset, piece) in leading {
            let req = PeerRequest::SnapshotChunk {
                transfer,
                offset: *offset,
                data: piece.to_vec(),
            };
            match self.call(action, &req, timeout).await? {
                PeerResponse::SnapshotChunk => {}
                other => return Err(self.unexpected(action, &other).into()),
            }
        }
        tracing::debug!(
            target_member = self.target,
            transfer,
            bytes = snapshot.snapshot.len(),
            chunks = parts.len(),
            "sending the last part of a snapshot"
        );
        let req = PeerRequest::FullSnapshot {
            transfer,
            vote,
            meta: snapshot.meta,
            offset: *last_offset,
            data: last.to_vec(),
        };
        match self.call(action, &req, timeout).await? {
            PeerResponse::Snapshot(Ok(resp)) => Ok(resp),
            PeerResponse::Snapshot(Err(e)) => Err(self.remote_failed(action, &e).into()),
            other => Err(self.unexpected(action, &other).into()),
        }
    }
}

/// Encode an AppendEntries, dropping trailing entries until it fits a frame; `rpc` is left as
/// sent. Returns the frame and whether entries were dropped.
fn encode_append(
    rpc: &mut AppendEntriesRequest<TypeConfig>,
    max_frame_len: usize,
) -> Result<(wire::EncodedFrame, bool), wire::WireError> {
    let mut shortened = false;
    loop {
        match wire::encode_append_entries(rpc, max_frame_len) {
            Ok(frame) => return Ok((frame, shortened)),
            Err(wire::WireError::FrameTooLarge { .. }) if rpc.entries.len() > 1 => {
                rpc.entries.truncate(rpc.entries.len() / 2);
                shortened = true;
            }
            Err(e) => return Err(e),
        }
    }
}

impl RaftNetworkV2<TypeConfig> for PeerLink {
    type SnapshotData = Vec<u8>;

    async fn append_entries(
        &mut self,
        mut rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let action = RPCTypes::AppendEntries;
        let (frame, shortened) = match encode_append(&mut rpc, self.client.max_frame_len()) {
            Ok(encoded) => encoded,
            Err(e) => {
                tracing::error!(target_member = self.target, error = %e,
                    "a single log entry does not fit a peer frame; it cannot be replicated");
                return Err(RPCError::Network(NetworkError::new(&e)));
            }
        };
        let resp = match self.client.call_encoded(frame, option.soft_ttl()).await {
            Ok(PeerResponse::AppendEntries(Ok(resp))) => resp,
            Ok(PeerResponse::AppendEntries(Err(e))) => return Err(self.remote_failed(action, &e)),
            Ok(other) => return Err(self.unexpected(action, &other)),
            Err(e) => return Err(self.call_failed(action, e)),
        };
        // When only a prefix was sent, its full success is a partial success of the request.
        match resp {
            AppendEntriesResponse::Success if shortened => Ok(
                AppendEntriesResponse::PartialSuccess(rpc.entries.last().map(|e| e.log_id)),
            ),
            resp => Ok(resp),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call_vote(PeerRequest::Vote(rpc), option).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call_vote(PeerRequest::PreVote(rpc), option).await
    }

    /// Sends the snapshot in chunks of openraft's `snapshot_max_chunk_size` (capped to fit a
    /// frame). `soft_ttl` bounds each chunk, not the whole transfer: a transfer's length grows
    /// with the tree, a chunk's does not. The last chunk's reply waits for the install, so
    /// `install_snapshot_timeout` must cover installing the largest expected snapshot.
    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let chunk_len =
            super::peer::chunk_len(option.snapshot_chunk_size(), self.client.max_frame_len());
        let send = self.send_snapshot(vote, snapshot, chunk_len, option.soft_ttl());
        tokio::select! {
            result = send => result,
            closed = cancel => Err(StreamingError::Closed(closed)),
        }
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        let action = RPCTypes::TransferLeader;
        match self
            .call(action, &PeerRequest::TransferLeader(req), option.soft_ttl())
            .await?
        {
            PeerResponse::TransferLeader(Ok(resp)) => Ok(resp),
            PeerResponse::TransferLeader(Err(e)) => Err(self.remote_failed(action, &e)),
            other => Err(self.unexpected(action, &other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use openraft::impls::leader_id_adv::LeaderId;
    use openraft::{EntryPayload, LogId};

    use super::*;

    fn request(entries: usize, payload: usize) -> AppendEntriesRequest<TypeConfig> {
        let cmd = corral_tree::Command {
            time_ms: 0,
            kind: corral_tree::CommandKind::ReapTtl {
                path: "x".repeat(payload),
            },
        };
        AppendEntriesRequest {
            vote: Vote::new_committed(1, 1),
            prev_log_id: Some(LogId::new(
                LeaderId {
                    term: 1,
                    node_id: 1,
                },
                4,
            )),
            entries: (0..entries as u64)
                .map(|i| openraft::Entry {
                    log_id: LogId::new(
                        LeaderId {
                            term: 1,
                            node_id: 1,
                        },
                        5 + i,
                    ),
                    payload: EntryPayload::Normal(cmd.clone()),
                })
                .collect(),
            leader_commit: None,
        }
    }

    #[test]
    fn an_append_that_fits_is_sent_whole() {
        let mut rpc = request(10, 100);
        let (_, shortened) = encode_append(&mut rpc, 64 * 1024).unwrap();
        assert!(!shortened);
        assert_eq!(rpc.entries.len(), 10);
    }

    #[test]
    fn an_oversized_append_sends_a_prefix_that_fits() {
        let mut rpc = request(10, 1000);
        let (frame, shortened) = encode_append(&mut rpc, 4000).unwrap();
        assert!(shortened);
        assert!(frame.len() - 4 <= 4000);
        assert!(!rpc.entries.is_empty() && rpc.entries.len() < 10);
        // The prefix starts where the request started.
        assert_eq!(rpc.entries[0].log_id.index, 5);
        assert_eq!(rpc.prev_log_id.unwrap().index, 4);
        let (_, decoded): (u64, PeerRequest) = wire::decode(&frame.as_bytes()[4..]).unwrap();
        assert!(
            matches!(decoded, PeerRequest::AppendEntries(d) if d.entries.len() == rpc.entries.len())
        );
    }

    #[test]
    fn a_single_entry_over_the_limit_is_an_error() {
        assert!(matches!(
            encode_append(&mut request(1, 5000), 4000),
            Err(wire::WireError::FrameTooLarge { .. })
        ));
    }
}
