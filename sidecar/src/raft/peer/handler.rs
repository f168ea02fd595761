//! [`RaftPeerHandler`]: the [`PeerHandler`] of a member. Raft RPCs go to openraft; the
//! application RPCs (forwarded writes, read index, session touches) go to an [`AppHandler`].

use std::sync::Arc;

use corral_tree::{Applied, Command};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use openraft::Raft;
use openraft::alias::SnapshotOf;
use openraft::storage::RaftStateMachine;

use super::server::{PeerHandler, Reply};
use super::wire::{PeerRequest, PeerResponse};
use crate::raft::TypeConfig;
use crate::raft::reconfig_plan::{ReconfigCall, ReconfigFailure};

/// The application's side of the peer protocol, implemented by the node.
///
/// Every method has a default that refuses the request, so that a member without these
/// services still answers (and the caller learns why) instead of timing out.
pub trait AppHandler: Send + Sync + 'static {
    /// A follower forwarded a client write. The outer future is the order-sensitive part: it
    /// must have queued the write for proposal before it resolves, because the next forwarded
    /// write on the same connection is not begun until then. The inner future waits for the
    /// outcome.
    ///
    /// (An `async` block that returns the inner future trips clippy's `async_yields_async`;
    /// building the outer future with `FutureExt::map` or `std::future::ready` does not.)
    fn forward_write(
        &self,
        cmd: Command,
    ) -> BoxFuture<'_, BoxFuture<'static, Result<Applied, String>>> {
        let _ = cmd;
        let refused: BoxFuture<'static, _> =
            Box::pin(std::future::ready(Err(not_supported("forwarded writes"))));
        Box::pin(std::future::ready(refused))
    }

    /// A read index for a follower's `sync`: the log index that the follower must have applied
    /// before it answers.
    fn read_index(&self) -> BoxFuture<'static, Result<u64, String>> {
        Box::pin(async { Err(not_supported("read index requests")) })
    }

    /// Sessions seen alive on a follower.
    fn touch(&self, sessions: Vec<i64>) -> Result<(), String> {
        let _ = sessions;
        Err(not_supported("session touches"))
    }

    /// A follower forwarded a client's `reconfig`; the leader carries it out. The answer is the
    /// index of the membership entry in effect afterwards.
    fn reconfig(&self, call: ReconfigCall) -> BoxFuture<'static, Result<u64, ReconfigFailure>> {
        let _ = call;
        Box::pin(async {
            Err(ReconfigFailure::new(
                corral_proto::ErrorCode::ConnectionLoss,
                not_supported("reconfig requests"),
            ))
        })
    }
}

fn not_supported(what: &str) -> String {
    format!("this member does not serve {what} yet")
}

/// An [`AppHandler`] that refuses every application request.
pub struct NoAppHandler;

impl AppHandler for NoAppHandler {}

/// Dispatches peer requests to a Raft instance and an [`AppHandler`].
pub struct RaftPeerHandler<SM>
where
    SM: RaftStateMachine<TypeConfig>,
{
    raft: Raft<TypeConfig, SM>,
    app: Arc<dyn AppHandler>,
}

impl<SM> RaftPeerHandler<SM>
where
    SM: RaftStateMachine<TypeConfig>,
{
    pub fn new(raft: Raft<TypeConfig, SM>, app: Arc<dyn AppHandler>) -> Self {
        RaftPeerHandler { raft, app }
    }
}

/// A reply that needs no order-sensitive step: begun at once, finished by `fut`.
fn at_once(fut: impl Future<Output = PeerResponse> + Send + 'static) -> BoxFuture<'static, Reply> {
    let reply: Reply = Box::pin(fut);
    Box::pin(std::future::ready(reply))
}

impl<SM> PeerHandler for RaftPeerHandler<SM>
where
    SM: RaftStateMachine<TypeConfig, SnapshotData = Vec<u8>>,
{
    fn begin(&self, req: PeerRequest) -> BoxFuture<'_, Reply> {
        let raft = self.raft.clone();
        match req {
            // Raft RPCs need no ordering across requests: openraft sends one AppendEntries at a
            // time per replication stream, and votes and snapshots carry their own terms.
            PeerRequest::AppendEntries(rpc) => at_once(async move {
                PeerResponse::AppendEntries(raft.append_entries(rpc).await.map_err(|e| e.to_string()))
            }),
            PeerRequest::Vote(rpc) => at_once(async move {
                PeerResponse::Vote(raft.vote(rpc).await.map_err(|e| e.to_string()))
            }),
            PeerRequest::PreVote(rpc) => at_once(async move {
                PeerResponse::Vote(raft.pre_vote(rpc).await.map_err(|e| e.to_string()))
            }),
            PeerRequest::FullSnapshot {
                vote, meta, data, ..
            } => at_once(async move {
                let snapshot = SnapshotOf::<TypeConfig, Vec<u8>> {
                    meta,
                    snapshot: data,
                };
                PeerResponse::Snapshot(
                    raft.install_full_snapshot(vote, snapshot)
                        .await
                        .map_err(|e| e.to_string()),
                )
            }),
            PeerRequest::TransferLeader(rpc) => at_once(async move {
                PeerResponse::TransferLeader(
                    raft.handle_transfer_leader(rpc)
                        .await
                        .map_err(|e| e.to_string()),
                )
            }),
            PeerRequest::ForwardWrite(cmd) => {
                Box::pin(self.app.forward_write(cmd).map(|outcome| -> Reply {
                    Box::pin(async move { PeerResponse::Forwarded(outcome.await) })
                }))
            }
            PeerRequest::ReadIndex => {
                let index = self.app.read_index();
                at_once(async move { PeerResponse::ReadIndex(index.await) })
            }
            PeerRequest::Touch(sessions) => {
                let resp = match self.app.touch(sessions) {
                    Ok(()) => PeerResponse::Touched,
                    Err(e) => PeerResponse::Error(e),
                };
                at_once(std::future::ready(resp))
            }
            PeerRequest::Reconfig(call) => {
                let outcome = self.app.reconfig(call);
                at_once(async move { PeerResponse::Reconfig(outcome.await) })
            }
            // The server reassembles chunks before a handler sees them.
            PeerRequest::SnapshotChunk { .. } => at_once(std::future::ready(PeerResponse::Error(
                "a snapshot chunk reached the request handler; the transport should have buffered it".into(),
            ))),
        }
    }
}
