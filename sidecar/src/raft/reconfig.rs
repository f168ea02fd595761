//! ZooKeeper's `reconfig`, carried out with the same steps as the admin API.
//!
//! The member that holds the client's connection hands the request to the leader (over the
//! peer protocol when it is a follower). The leader plans it ([`plan_reconfig`]), checks the
//! caller's WRITE permission on `/zookeeper/config` last (as ZooKeeper's PrepRequestProcessor
//! does), then takes the steps one at a time, each checked by the membership rules. The answer
//! is the index of the membership entry in effect afterwards, which is also the version
//! `/zookeeper/config` shows once that entry is applied.

use std::sync::Arc;
use std::time::Duration;

use corral_proto::{ErrorCode, perms};
use corral_tree::{Applied, Command};
use futures_util::future::BoxFuture;

use super::membership::MembershipError;
use super::membership_plan::Refusal;
use super::peer::{AppHandler, PeerRequest, PeerResponse};
use super::reconfig_plan::{ReconfigCall, ReconfigFailure, plan_reconfig};
use super::{Consensus, NodeId};

/// Bound for a forwarded reconfig: every step it takes is itself bounded, by
/// [`super::membership::COMMIT_TIMEOUT`] each.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(90);

fn connection_loss(reason: impl Into<String>) -> ReconfigFailure {
    ReconfigFailure::new(ErrorCode::ConnectionLoss, reason)
}

/// How a failed step reads to a ZooKeeper client.
fn step_failure(step: &str, e: MembershipError) -> ReconfigFailure {
    match e {
        MembershipError::Refused(Refusal::ChangeInProgress) => {
            ReconfigFailure::new(ErrorCode::ReconfigInProgress, format!("{step}: {e}"))
        }
        MembershipError::Refused(_) => {
            ReconfigFailure::new(ErrorCode::NewConfigNoQuorum, format!("{step}: {e}"))
        }
        // Leadership moved or the outcome is unknown: like a write, the client must reconnect
        // and look (it reads /zookeeper/config).
        other => connection_loss(format!("{step}: {other}")),
    }
}

impl Consensus {
    /// Carry out a client's reconfig, on the leader (forwarding it there from a follower).
    pub async fn reconfig(&self, call: ReconfigCall) -> Result<u64, ReconfigFailure> {
        match self.leader() {
            None => Err(connection_loss("no leader is known")),
            Some((leader, _)) if leader == self.node_id => self.reconfig_here(call).await,
            Some((leader, addr)) => self.forward_reconfig(leader, &addr, call).await,
        }
    }

    async fn forward_reconfig(
        &self,
        leader: NodeId,
        addr: &str,
        call: ReconfigCall,
    ) -> Result<u64, ReconfigFailure> {
        let reply = self
            .network
            .client(addr)
            .call(&PeerRequest::Reconfig(call), FORWARD_TIMEOUT)
            .await;
        match reply {
            Ok(PeerResponse::Reconfig(result)) => result,
            Ok(PeerResponse::Error(e)) => Err(connection_loss(format!("leader {leader}: {e}"))),
            Ok(other) => Err(connection_loss(format!(
                "leader {leader} answered {} to a reconfig",
                other.kind()
            ))),
            Err(e) => Err(connection_loss(format!(
                "forwarding a reconfig to leader {leader} failed: {e}"
            ))),
        }
    }

    /// Carry out a reconfig on this member, which must lead.
    pub async fn reconfig_here(&self, call: ReconfigCall) -> Result<u64, ReconfigFailure> {
        let state = self.raft_state();
        if !state.is_leader() {
            return Err(connection_loss(format!(
                "member {} is no longer the leader",
                self.node_id
            )));
        }
        let version = state.membership_index.unwrap_or(0);
        let steps = plan_reconfig(&state.cluster_view(), version, &call)?;
        let acl = self
            .core
            .lock()
            .sm
            .tree()
            .get(corral_tree::path::CONFIG)
            .map(|node| node.acl.clone())
            .unwrap_or_default();
        if corral_tree::acl::check(&acl, perms::WRITE, &call.auth).is_err() {
            return Err(ReconfigFailure::new(
                ErrorCode::NoAuth,
                "reconfig needs WRITE on /zookeeper/config (the super user)",
            ));
        }
        tracing::info!(?steps, from_version = version, "reconfig");
        let mut index = version;
        for step in steps {
            let label = format!("{step:?}");
            index = self
                .change(step)
                .await
                .map_err(|e| step_failure(&label, e))?;
        }
        Ok(index)
    }

    /// The peer handler's application side, with reconfig served by this member.
    pub(crate) fn with_membership_services(&self, app: Arc<dyn AppHandler>) -> Arc<dyn AppHandler> {
        Arc::new(MembershipServices {
            app,
            consensus: self.clone(),
        })
    }
}

/// Serves forwarded reconfigs itself and passes every other application request on.
struct MembershipServices {
    app: Arc<dyn AppHandler>,
    consensus: Consensus,
}

impl AppHandler for MembershipServices {
    fn forward_write(
        &self,
        cmd: Command,
    ) -> BoxFuture<'_, BoxFuture<'static, Result<Applied, String>>> {
        self.app.forward_write(cmd)
    }

    fn read_index(&self) -> BoxFuture<'static, Result<u64, String>> {
        self.app.read_index()
    }

    fn touch(&self, sessions: Vec<i64>) -> Result<(), String> {
        self.app.touch(sessions)
    }

    fn reconfig(&self, call: ReconfigCall) -> BoxFuture<'static, Result<u64, ReconfigFailure>> {
        let consensus = self.consensus.clone();
        Box::pin(async move { consensus.reconfig_here(call).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_steps_read_as_zookeeper_errors() {
        let code = |e| step_failure("step", e).code;
        assert_eq!(
            code(MembershipError::Refused(Refusal::ChangeInProgress)),
            ErrorCode::ReconfigInProgress
        );
        assert_eq!(
            code(MembershipError::Refused(Refusal::NotCaughtUp(4))),
            ErrorCode::NewConfigNoQuorum
        );
        assert_eq!(
            code(MembershipError::CommitTimeout(Duration::from_secs(1))),
            ErrorCode::ConnectionLoss
        );
        assert_eq!(
            code(MembershipError::NoLeader(2)),
            ErrorCode::ConnectionLoss
        );
    }
}
