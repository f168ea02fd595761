//! Membership changes and their visibility: what the admin API (and, through
//! [`super::reconfig`], ZooKeeper's `reconfig`) does to the Raft group.
//!
//! Every change runs on the leader, one step at a time, and returns only once it is committed
//! (or, for a leadership transfer, once the new leader is seen). Before proposing, the step is
//! checked by [`membership_plan::check`] against what the leader knows right now; the proposal
//! itself carries the membership it was checked against as a precondition, so two racing
//! changes cannot both pass. A member that is not the leader refuses with the leader's id and
//! address, so that the caller retries there.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use openraft::errors::{ChangeMembershipError, ClientWriteError, RaftError};
use openraft::raft::Precondition;
use openraft::{ChangeMembers, Instant as _};
use serde::Serialize;

use super::membership_plan::{self, Change, ClusterView, Plan, Refusal};
use super::{Consensus, MemberNode, NodeId, TypeConfig};

/// A member counts as live when it acknowledged the leader within this window. Heartbeats go
/// out every 250 ms, so a live member is normally well inside it; a busy machine must not make
/// a healthy member look dead.
pub const LIVE_WINDOW: Duration = Duration::from_secs(3);
/// A member whose log is at most this many entries behind the leader's counts as caught up.
pub const CATCH_UP_LAG: u64 = 1000;
/// Bound for one membership entry to commit.
pub const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default bound for a new learner to catch up before `add_learner` gives up waiting.
pub const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound for leadership to move after a transfer was triggered.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(15);

type LogId = openraft::alias::LogIdOf<TypeConfig>;

/// Why a membership request failed.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    #[error(
        "member {me} is not the leader; the leader is member {leader} at {} (clients: {}): send the request there",
        node.addr,
        node.client_addr.as_deref().unwrap_or("unknown")
    )]
    NotLeader {
        me: NodeId,
        leader: NodeId,
        node: MemberNode,
    },
    #[error(
        "no leader is known to member {0}; the ensemble is electing one or has no quorum: retry shortly"
    )]
    NoLeader(NodeId),
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    #[error(
        "learner {id} was added but did not catch up within {timeout:?} (matched index {matched:?}, \
         leader's last index {last:?}); it stays a learner: check that it runs and reaches the \
         leader, then promote it, or remove it"
    )]
    CatchUpTimeout {
        id: NodeId,
        timeout: Duration,
        matched: Option<u64>,
        last: Option<u64>,
    },
    #[error(
        "the change was proposed but not committed within {0:?}; the ensemble may have lost its \
         quorum. Read GET /membership before retrying: the change may still take effect"
    )]
    CommitTimeout(Duration),
    #[error(
        "leadership did not move to member {id} within {timeout:?}; the current leader is {leader:?}"
    )]
    TransferTimeout {
        id: NodeId,
        timeout: Duration,
        leader: Option<NodeId>,
    },
    #[error("Raft failed the change: {0}")]
    Raft(String),
}

/// One member as `GET /membership` shows it. The replication fields are known only on the
/// leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberStatus {
    pub id: NodeId,
    pub addr: String,
    pub election_port: u16,
    pub client_addr: Option<String>,
    pub observer: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub millis_since_ack: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caught_up: Option<bool>,
}

/// The leader as a member knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaderInfo {
    pub id: NodeId,
    pub addr: String,
    pub client_addr: Option<String>,
}

/// The membership as this member sees it (`GET /membership`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MembershipView {
    /// The member that answered.
    pub member_id: NodeId,
    pub is_leader: bool,
    pub leader: Option<LeaderInfo>,
    pub term: u64,
    /// Log index of the membership entry in effect; also the version `/zookeeper/config` shows
    /// (in hex there).
    pub membership_log_index: Option<u64>,
    /// A joint configuration is in effect or the last membership entry is not committed yet.
    pub changing: bool,
    pub last_log_index: Option<u64>,
    pub committed_index: Option<u64>,
    /// The index (zxid) this member has applied.
    pub applied_index: i64,
    pub voters: Vec<MemberStatus>,
    pub learners: Vec<MemberStatus>,
}

/// What the membership code reads from openraft's metrics, as plain values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RaftState {
    pub me: NodeId,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub voters: BTreeSet<NodeId>,
    pub nodes: BTreeMap<NodeId, MemberNode>,
    pub joint: bool,
    pub membership_index: Option<u64>,
    pub membership_committed: bool,
    pub last_log_index: Option<u64>,
    pub committed_index: Option<u64>,
    pub applied_index: i64,
    /// Last log index covered by this member's newest snapshot.
    pub snapshot_index: Option<u64>,
    /// Last log index removed from this member's log (covered by a snapshot).
    pub purged_index: Option<u64>,
    /// Snapshots received from a leader since this process started.
    pub snapshots_installed: u64,
    /// On the leader: each other member's matched log index.
    pub matched: Option<BTreeMap<NodeId, Option<u64>>>,
    /// On the leader: time since each other member's last acknowledgement.
    pub ack_age: Option<BTreeMap<NodeId, Option<Duration>>>,
}

impl RaftState {
    pub fn is_leader(&self) -> bool {
        self.leader == Some(self.me)
    }

    fn caught_up(&self, id: NodeId) -> bool {
        if id == self.me {
            return true;
        }
        let matched = self
            .matched
            .as_ref()
            .and_then(|m| m.get(&id).copied().flatten());
        match (matched, self.last_log_index) {
            (Some(matched), Some(last)) => matched + CATCH_UP_LAG >= last,
            (_, None) => true,
            (None, Some(_)) => false,
        }
    }

    fn live(&self, id: NodeId) -> bool {
        id == self.me
            || self
                .ack_age
                .as_ref()
                .and_then(|a| a.get(&id).copied().flatten())
                .is_some_and(|age| age <= LIVE_WINDOW)
    }

    /// The planner's input; meaningful on the leader.
    pub fn cluster_view(&self) -> ClusterView {
        ClusterView {
            leader: self.me,
            voters: self.voters.clone(),
            nodes: self.nodes.clone(),
            changing: self.joint || !self.membership_committed,
            live: self
                .nodes
                .keys()
                .copied()
                .filter(|id| self.live(*id))
                .collect(),
            caught_up: self
                .nodes
                .keys()
                .copied()
                .filter(|id| self.caught_up(*id))
                .collect(),
        }
    }

    /// The view `GET /membership` answers.
    pub fn membership_view(&self) -> MembershipView {
        let status = |id: NodeId, node: &MemberNode| {
            let leader_only = self.is_leader();
            MemberStatus {
                id,
                addr: node.addr.clone(),
                election_port: node.election_port,
                client_addr: node.client_addr.clone(),
                observer: node.observer,
                matched_index: if id == self.me {
                    self.last_log_index
                } else {
                    self.matched
                        .as_ref()
                        .and_then(|m| m.get(&id).copied().flatten())
                },
                millis_since_ack: if id == self.me {
                    None
                } else {
                    self.ack_age
                        .as_ref()
                        .and_then(|a| a.get(&id).copied().flatten())
                        .map(|age| age.as_millis().min(u64::MAX as u128) as u64)
                },
                caught_up: leader_only.then(|| self.caught_up(id)),
            }
        };
        let (voters, learners): (Vec<_>, Vec<_>) = self
            .nodes
            .iter()
            .map(|(id, node)| status(*id, node))
            .partition(|s| self.voters.contains(&s.id));
        MembershipView {
            member_id: self.me,
            is_leader: self.is_leader(),
            leader: self.leader.and_then(|id| {
                self.nodes.get(&id).map(|node| LeaderInfo {
                    id,
                    addr: node.addr.clone(),
                    client_addr: node.client_addr.clone(),
                })
            }),
            term: self.term,
            membership_log_index: self.membership_index,
            changing: self.joint || !self.membership_committed,
            last_log_index: self.last_log_index,
            committed_index: self.committed_index,
            applied_index: self.applied_index,
            voters,
            learners,
        }
    }

    /// Followers, observers and their sync state as ZooKeeper's leader reports them in `mntr`.
    /// `None` unless this member leads.
    pub fn quorum_stats(&self) -> Option<QuorumStats> {
        if !self.is_leader() {
            return None;
        }
        let others = self.nodes.keys().copied().filter(|id| *id != self.me);
        let mut stats = QuorumStats::default();
        for id in others {
            let live = self.live(id);
            if live {
                stats.learners += 1;
            }
            let synced = live && self.caught_up(id);
            if self.voters.contains(&id) {
                stats.followers += 1;
                stats.synced_followers += u64::from(synced);
            } else {
                stats.synced_observers += u64::from(synced);
            }
        }
        Some(stats)
    }
}

/// The leader's view of its followers, under ZooKeeper's `mntr` names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuorumStats {
    /// Other members in touch with the leader (ZooKeeper's `learners`: connected learner
    /// handlers).
    pub learners: u64,
    /// Other voters in the configuration (ZooKeeper 3.4-3.5's `followers`).
    pub followers: u64,
    /// Other voters that are in touch and caught up.
    pub synced_followers: u64,
    /// Non-voting members that are in touch and caught up.
    pub synced_observers: u64,
}

impl Consensus {
    /// Read openraft's metrics as plain values.
    pub fn raft_state(&self) -> RaftState {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        let membership = m.membership_config.membership();
        RaftState {
            me: self.node_id,
            term: m.current_term,
            leader: m.current_leader,
            voters: membership.voter_ids().collect(),
            nodes: membership
                .nodes()
                .map(|(id, node)| (*id, node.clone()))
                .collect(),
            joint: membership.get_joint_config().len() > 1,
            membership_index: m.membership_config.log_id().as_ref().map(|id| id.index),
            membership_committed: m.committed_membership_config.log_id()
                == m.membership_config.log_id(),
            last_log_index: m.last_log_index,
            committed_index: m.local_committed.as_ref().map(|id| id.index),
            applied_index: self.core.applied_zxid(),
            snapshot_index: m.snapshot.as_ref().map(|id| id.index),
            purged_index: m.purged.as_ref().map(|id| id.index),
            snapshots_installed: self.core.snapshots_installed(),
            matched: m.replication.as_ref().map(|r| {
                r.iter()
                    .map(|(id, log_id)| (*id, log_id.as_ref().map(|l| l.index)))
                    .collect()
            }),
            ack_age: m.heartbeat.as_ref().map(|h| {
                h.iter()
                    .map(|(id, at)| (*id, at.as_ref().map(|at| at.elapsed())))
                    .collect()
            }),
        }
    }

    /// Voters and learners in the membership in effect here.
    pub fn member_count(&self) -> usize {
        self.raft
            .metrics()
            .borrow_watched()
            .membership_config
            .membership()
            .nodes()
            .count()
    }

    /// The membership as this member sees it.
    pub fn membership(&self) -> MembershipView {
        self.raft_state().membership_view()
    }

    /// The leader's state, or who to ask instead.
    fn leader_state(&self) -> Result<RaftState, MembershipError> {
        let state = self.raft_state();
        match state.leader {
            Some(leader) if leader == self.node_id => Ok(state),
            Some(leader) => match state.nodes.get(&leader) {
                Some(node) => Err(MembershipError::NotLeader {
                    me: self.node_id,
                    leader,
                    node: node.clone(),
                }),
                None => Err(MembershipError::NoLeader(self.node_id)),
            },
            None => Err(MembershipError::NoLeader(self.node_id)),
        }
    }

    /// Add `id` at `node` as a learner and wait (up to `catch_up`) until its log has caught
    /// up with the leader's. Returns the index of the membership entry that added it.
    pub async fn add_learner(
        &self,
        id: NodeId,
        node: MemberNode,
        catch_up: Duration,
    ) -> Result<u64, MembershipError> {
        let index = self.change(Change::AddLearner { id, node }).await?;
        self.wait_caught_up(id, catch_up).await?;
        Ok(index)
    }

    /// Make learner `id` a voter; it must have caught up.
    pub async fn promote(&self, id: NodeId) -> Result<u64, MembershipError> {
        self.change(Change::Promote {
            id,
            require_caught_up: true,
        })
        .await
    }

    /// Take voter or learner `id` out of the ensemble.
    pub async fn remove(&self, id: NodeId) -> Result<u64, MembershipError> {
        self.change(Change::Remove { id }).await
    }

    /// Hand leadership to voter `id` and wait until this member sees it lead.
    pub async fn transfer_leader(&self, id: NodeId) -> Result<(), MembershipError> {
        let state = self.leader_state()?;
        if membership_plan::check(&state.cluster_view(), &Change::TransferLeader { id })?
            == Plan::AlreadyDone
        {
            return Ok(());
        }
        tracing::info!(target_member = id, "transferring leadership");
        self.raft
            .trigger()
            .transfer_leader(id)
            .await
            .map_err(|e| MembershipError::Raft(e.to_string()))?;
        let mut metrics = self.raft.metrics();
        let moved = tokio::time::timeout(TRANSFER_TIMEOUT, async {
            loop {
                if metrics.borrow_watched().current_leader == Some(id) {
                    return true;
                }
                if metrics.changed().await.is_err() {
                    return false;
                }
            }
        })
        .await;
        match moved {
            Ok(true) => Ok(()),
            _ => Err(MembershipError::TransferTimeout {
                id,
                timeout: TRANSFER_TIMEOUT,
                leader: self.raft.metrics().borrow_watched().current_leader,
            }),
        }
    }

    /// Check one step against the leader's current view and propose it; returns the index of
    /// the membership entry in effect afterwards.
    pub(crate) async fn change(&self, change: Change) -> Result<u64, MembershipError> {
        let state = self.leader_state()?;
        let view = state.cluster_view();
        let current = state.membership_index.unwrap_or(0);
        if membership_plan::check(&view, &change)? == Plan::AlreadyDone {
            tracing::info!(?change, "membership change already in effect");
            return Ok(current);
        }
        let (members, retain): (ChangeMembers<NodeId, MemberNode>, bool) = match &change {
            Change::AddLearner { id, node } => (
                ChangeMembers::AddNodes(BTreeMap::from([(*id, node.clone())])),
                true,
            ),
            Change::Promote { id, .. } => {
                (ChangeMembers::AddVoterIds(BTreeSet::from([*id])), false)
            }
            Change::Demote { id } => (ChangeMembers::RemoveVoters(BTreeSet::from([*id])), true),
            Change::Remove { id } if view.voters.contains(id) => {
                (ChangeMembers::RemoveVoters(BTreeSet::from([*id])), false)
            }
            Change::Remove { id } => (ChangeMembers::RemoveNodes(BTreeSet::from([*id])), false),
            Change::TransferLeader { .. } => {
                return Err(MembershipError::Raft(
                    "a leadership transfer is not a membership entry".into(),
                ));
            }
        };
        tracing::info!(
            ?change,
            from_index = current,
            "proposing a membership change"
        );
        // The precondition makes the proposal fail if another change landed after the check.
        let precondition = Precondition::LastMembershipLogId {
            last_membership_log_id: self.membership_log_id(),
        };
        let proposal = self
            .raft
            .change_membership_if(members, retain, [precondition]);
        let resp = match tokio::time::timeout(COMMIT_TIMEOUT, proposal).await {
            Err(_) => return Err(MembershipError::CommitTimeout(COMMIT_TIMEOUT)),
            Ok(result) => result.map_err(|e| self.write_error(e))?,
        };
        tracing::info!(
            ?change,
            index = resp.log_id.index,
            "membership change committed"
        );
        // The commit is reported before the metrics show the new membership; wait (bounded) for
        // them, so that whoever reads the membership right after this call sees the change.
        let index = resp.log_id.index;
        let mut metrics = self.raft.metrics();
        let _ = tokio::time::timeout(COMMIT_TIMEOUT, async {
            loop {
                let shown = metrics
                    .borrow_watched()
                    .membership_config
                    .log_id()
                    .is_some_and(|id| id.index >= index);
                if shown || metrics.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        Ok(index)
    }

    fn membership_log_id(&self) -> Option<LogId> {
        *self
            .raft
            .metrics()
            .borrow_watched()
            .membership_config
            .log_id()
    }

    fn write_error(
        &self,
        e: RaftError<TypeConfig, ClientWriteError<TypeConfig>>,
    ) -> MembershipError {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                match (f.leader_id, f.leader_node) {
                    (Some(leader), Some(node)) => MembershipError::NotLeader {
                        me: self.node_id,
                        leader,
                        node,
                    },
                    _ => MembershipError::NoLeader(self.node_id),
                }
            }
            RaftError::APIError(ClientWriteError::PreconditionFailed(_))
            | RaftError::APIError(ClientWriteError::ChangeMembershipError(
                ChangeMembershipError::InProgress(_),
            )) => MembershipError::Refused(Refusal::ChangeInProgress),
            other => MembershipError::Raft(other.to_string()),
        }
    }

    /// Wait until the leader's replication to `id` is within [`CATCH_UP_LAG`] of its log.
    async fn wait_caught_up(&self, id: NodeId, limit: Duration) -> Result<(), MembershipError> {
        let mut metrics = self.raft.metrics();
        let caught_up = tokio::time::timeout(limit, async {
            loop {
                let state = self.raft_state();
                if !state.is_leader() {
                    return Err(self
                        .leader_state()
                        .err()
                        .unwrap_or(MembershipError::NoLeader(self.node_id)));
                }
                if state.caught_up(id) {
                    return Ok(());
                }
                if metrics.changed().await.is_err() {
                    return Err(MembershipError::Raft("Raft stopped".into()));
                }
            }
        })
        .await;
        match caught_up {
            Ok(result) => result,
            Err(_) => {
                let state = self.raft_state();
                Err(MembershipError::CatchUpTimeout {
                    id,
                    timeout: limit,
                    matched: state
                        .matched
                        .as_ref()
                        .and_then(|m| m.get(&id).copied().flatten()),
                    last: state.last_log_index,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: NodeId) -> MemberNode {
        MemberNode {
            addr: format!("10.0.0.{id}:2888"),
            election_port: 3888,
            client_addr: Some(format!("10.0.0.{id}:2181")),
            observer: false,
        }
    }

    /// Leader 1 of voters {1,2,3} and learner 4; 2 is live and current, 3 silent, 4 behind.
    fn leader_state() -> RaftState {
        RaftState {
            me: 1,
            term: 3,
            leader: Some(1),
            voters: BTreeSet::from([1, 2, 3]),
            nodes: (1..=4).map(|id| (id, node(id))).collect(),
            joint: false,
            membership_index: Some(12),
            membership_committed: true,
            last_log_index: Some(5000),
            committed_index: Some(5000),
            applied_index: 5000,
            snapshot_index: Some(4000),
            purged_index: Some(3500),
            snapshots_installed: 0,
            matched: Some(BTreeMap::from([
                (2, Some(4990)),
                (3, Some(4500)),
                (4, Some(10)),
            ])),
            ack_age: Some(BTreeMap::from([
                (2, Some(Duration::from_millis(120))),
                (3, Some(Duration::from_secs(40))),
                (4, None),
            ])),
        }
    }

    #[test]
    fn the_leader_sees_who_is_live_and_caught_up() {
        let view = leader_state().cluster_view();
        assert_eq!(view.live, BTreeSet::from([1, 2]));
        assert_eq!(view.caught_up, BTreeSet::from([1, 2, 3]));
        assert_eq!(view.learners(), BTreeSet::from([4]));
        assert!(!view.changing);
    }

    #[test]
    fn an_uncommitted_or_joint_membership_is_a_change_in_progress() {
        let mut state = leader_state();
        state.membership_committed = false;
        assert!(state.cluster_view().changing);
        let mut state = leader_state();
        state.joint = true;
        assert!(state.membership_view().changing);
    }

    #[test]
    fn the_view_lists_voters_learners_and_replication_on_the_leader() {
        let view = leader_state().membership_view();
        assert!(view.is_leader);
        assert_eq!(
            view.leader,
            Some(LeaderInfo {
                id: 1,
                addr: "10.0.0.1:2888".into(),
                client_addr: Some("10.0.0.1:2181".into())
            })
        );
        let ids = |members: &[MemberStatus]| members.iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(ids(&view.voters), vec![1, 2, 3]);
        assert_eq!(ids(&view.learners), vec![4]);
        let two = &view.voters[1];
        assert_eq!(
            (two.matched_index, two.millis_since_ack, two.caught_up),
            (Some(4990), Some(120), Some(true))
        );
        assert_eq!(view.learners[0].caught_up, Some(false));
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["membership_log_index"], 12);
        assert_eq!(json["voters"][0]["client_addr"], "10.0.0.1:2181");
    }

    #[test]
    fn a_follower_view_has_no_replication_fields() {
        let mut state = leader_state();
        state.me = 2;
        state.matched = None;
        state.ack_age = None;
        let view = state.membership_view();
        assert!(!view.is_leader);
        assert_eq!(view.leader.as_ref().map(|l| l.id), Some(1));
        let json = serde_json::to_value(&view).unwrap();
        assert!(json["voters"][2].get("matched_index").is_none(), "{json}");
        assert_eq!(state.quorum_stats(), None);
    }

    #[test]
    fn quorum_stats_count_like_zookeepers_leader() {
        let stats = leader_state().quorum_stats().unwrap();
        assert_eq!(
            stats,
            QuorumStats {
                learners: 1,
                followers: 2,
                synced_followers: 1,
                synced_observers: 0,
            }
        );
    }

    #[test]
    fn not_leader_names_the_leader_and_its_addresses() {
        let e = MembershipError::NotLeader {
            me: 2,
            leader: 1,
            node: node(1),
        };
        let text = e.to_string();
        assert!(
            text.contains("member 1 at 10.0.0.1:2888") && text.contains("10.0.0.1:2181"),
            "{text}"
        );
    }
}
