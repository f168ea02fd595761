//! The rules every membership change must pass before it is proposed, as pure functions of a
//! [`ClusterView`] (what the leader knows right now).
//!
//! Raft's joint consensus keeps a change *safe*; these rules keep it *live*, which is where
//! ZooKeeper ensembles get hurt (operators.md §7: a removal while another member is down leaves
//! an ensemble without a quorum). A change is refused when:
//! - a previous change is still in flight (a joint configuration, or a membership entry not yet
//!   committed): one step at a time;
//! - the current voters cannot commit anything (too few of them answered recently);
//! - it would leave fewer voters than a quorum of the current configuration;
//! - the voters the leader has heard from recently would not be a quorum of the new
//!   configuration (removing a live voter while another is down, promoting while others are);
//! - it names a member that cannot take the role (an unknown member, a learner that has not
//!   caught up, a leadership target that is silent or behind).
//!
//! Repeating a change that is already in effect is not an error ([`Plan::AlreadyDone`]), so an
//! operator can retry a step whose answer it did not see.

use std::collections::{BTreeMap, BTreeSet};

use super::{MemberNode, NodeId};

/// Votes needed among `voters` members: a strict majority.
pub fn quorum(voters: usize) -> usize {
    voters / 2 + 1
}

/// The membership as the leader sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    pub leader: NodeId,
    pub voters: BTreeSet<NodeId>,
    /// Every member, voters and learners.
    pub nodes: BTreeMap<NodeId, MemberNode>,
    /// A joint configuration is in effect, or the last membership entry is not committed.
    pub changing: bool,
    /// Members that acknowledged the leader recently; the leader itself included.
    pub live: BTreeSet<NodeId>,
    /// Members whose log is close to the leader's; the leader itself included.
    pub caught_up: BTreeSet<NodeId>,
}

impl ClusterView {
    pub fn learners(&self) -> BTreeSet<NodeId> {
        self.nodes
            .keys()
            .filter(|id| !self.voters.contains(id))
            .copied()
            .collect()
    }

    /// Live and caught up: what ZooKeeper calls a synced learner.
    pub fn synced(&self) -> BTreeSet<NodeId> {
        self.live.intersection(&self.caught_up).copied().collect()
    }

    fn live_among(&self, voters: &BTreeSet<NodeId>) -> BTreeSet<NodeId> {
        voters.intersection(&self.live).copied().collect()
    }
}

/// One step of a membership change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Add a non-voting member, which the leader starts replicating to.
    AddLearner { id: NodeId, node: MemberNode },
    /// Make a learner a voter. The admin API insists that it has caught up; ZooKeeper's
    /// `reconfig` lets a new participant join unsynced as long as a synced quorum remains.
    Promote { id: NodeId, require_caught_up: bool },
    /// Make a voter a learner (ZooKeeper: a participant re-joining as an observer).
    Demote { id: NodeId },
    /// Take a voter or learner out of the ensemble.
    Remove { id: NodeId },
    /// Hand leadership to another voter.
    TransferLeader { id: NodeId },
}

/// What to do about an accepted change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Propose,
    /// The change is already in effect; nothing to propose.
    AlreadyDone,
}

/// Why a change was refused. Each message says what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "a previous membership change is still in progress (joint configuration or uncommitted \
         membership entry); retry once it has completed"
    )]
    ChangeInProgress,
    #[error(
        "the current voters {voters:?} cannot commit a change: only {live:?} acknowledged the \
         leader recently and {quorum} are needed; bring members back first"
    )]
    NoQuorum {
        voters: BTreeSet<NodeId>,
        live: BTreeSet<NodeId>,
        quorum: usize,
    },
    #[error("member {id} already exists as {existing}; remove it first to add it as {requested}")]
    MemberExists {
        id: NodeId,
        existing: MemberNode,
        requested: MemberNode,
    },
    #[error("peer address {addr} is already used by member {other}; give the new member its own")]
    AddressInUse { addr: String, other: NodeId },
    #[error("member {0} is not part of the ensemble; add it as a learner first")]
    UnknownMember(NodeId),
    #[error("member {0} is a learner, not a voter; promote it first")]
    NotAVoter(NodeId),
    #[error(
        "member {0} has not caught up with the leader's log; wait until it has (GET /membership \
         shows its matched index) and retry"
    )]
    NotCaughtUp(NodeId),
    #[error(
        "member {0} has not acknowledged the leader recently; check that it runs and is reachable"
    )]
    NotLive(NodeId),
    #[error(
        "taking voter {id} out would leave {remaining} voters, fewer than the {quorum} that a \
         quorum of the current {current} needs; add a member first"
    )]
    TooFewVoters {
        id: NodeId,
        remaining: usize,
        current: usize,
        quorum: usize,
    },
    #[error(
        "after this change the voters would be {new_voters:?}, of which only {live:?} \
         acknowledged the leader recently: fewer than a quorum of {quorum}; bring the silent \
         members back (or remove them) first"
    )]
    WouldLoseQuorum {
        new_voters: BTreeSet<NodeId>,
        live: BTreeSet<NodeId>,
        quorum: usize,
    },
}

impl Refusal {
    /// The refusal says the ensemble lacks a quorum now (not that the request is wrong).
    pub fn is_no_quorum(&self) -> bool {
        matches!(self, Refusal::NoQuorum { .. })
    }
}

/// Check `change` against `view`.
pub fn check(view: &ClusterView, change: &Change) -> Result<Plan, Refusal> {
    match change {
        Change::AddLearner { id, node } => {
            if let Some(existing) = view.nodes.get(id) {
                return if existing == node {
                    Ok(Plan::AlreadyDone)
                } else {
                    Err(Refusal::MemberExists {
                        id: *id,
                        existing: existing.clone(),
                        requested: node.clone(),
                    })
                };
            }
            if let Some((other, _)) = view.nodes.iter().find(|(_, n)| n.addr == node.addr) {
                return Err(Refusal::AddressInUse {
                    addr: node.addr.clone(),
                    other: *other,
                });
            }
            can_commit(view)?;
            Ok(Plan::Propose)
        }
        Change::Promote {
            id,
            require_caught_up,
        } => {
            if !view.nodes.contains_key(id) {
                return Err(Refusal::UnknownMember(*id));
            }
            if view.voters.contains(id) {
                return Ok(Plan::AlreadyDone);
            }
            can_commit(view)?;
            if *require_caught_up && !(view.caught_up.contains(id) && view.live.contains(id)) {
                return Err(Refusal::NotCaughtUp(*id));
            }
            let mut new_voters = view.voters.clone();
            new_voters.insert(*id);
            keeps_live_quorum(view, new_voters)?;
            Ok(Plan::Propose)
        }
        Change::Demote { id } | Change::Remove { id } => {
            if !view.nodes.contains_key(id) {
                return match change {
                    Change::Remove { .. } => Ok(Plan::AlreadyDone),
                    _ => Err(Refusal::UnknownMember(*id)),
                };
            }
            if !view.voters.contains(id) {
                return match change {
                    Change::Remove { .. } => {
                        can_commit(view)?;
                        Ok(Plan::Propose)
                    }
                    _ => Ok(Plan::AlreadyDone),
                };
            }
            can_commit(view)?;
            let mut new_voters = view.voters.clone();
            new_voters.remove(id);
            let needed = quorum(view.voters.len());
            if new_voters.len() < needed {
                return Err(Refusal::TooFewVoters {
                    id: *id,
                    remaining: new_voters.len(),
                    current: view.voters.len(),
                    quorum: needed,
                });
            }
            keeps_live_quorum(view, new_voters)?;
            Ok(Plan::Propose)
        }
        Change::TransferLeader { id } => {
            if !view.nodes.contains_key(id) {
                return Err(Refusal::UnknownMember(*id));
            }
            if !view.voters.contains(id) {
                return Err(Refusal::NotAVoter(*id));
            }
            if *id == view.leader {
                return Ok(Plan::AlreadyDone);
            }
            if !view.live.contains(id) {
                return Err(Refusal::NotLive(*id));
            }
            if !view.caught_up.contains(id) {
                return Err(Refusal::NotCaughtUp(*id));
            }
            Ok(Plan::Propose)
        }
    }
}

/// Membership changes commit through the current voters (the joint entry needs a quorum of the
/// old configuration too), and only one may be in flight.
fn can_commit(view: &ClusterView) -> Result<(), Refusal> {
    if view.changing {
        return Err(Refusal::ChangeInProgress);
    }
    let live = view.live_among(&view.voters);
    let needed = quorum(view.voters.len());
    if live.len() < needed {
        return Err(Refusal::NoQuorum {
            voters: view.voters.clone(),
            live,
            quorum: needed,
        });
    }
    Ok(())
}

fn keeps_live_quorum(view: &ClusterView, new_voters: BTreeSet<NodeId>) -> Result<(), Refusal> {
    let live = view.live_among(&new_voters);
    let needed = quorum(new_voters.len());
    if live.len() < needed {
        return Err(Refusal::WouldLoseQuorum {
            new_voters,
            live,
            quorum: needed,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: NodeId) -> MemberNode {
        MemberNode::new(format!("10.0.0.{id}:2888"))
    }

    /// Voters `voters`, learners `learners`, leader 1; everyone live and caught up.
    fn view(voters: &[NodeId], learners: &[NodeId]) -> ClusterView {
        let all: BTreeSet<NodeId> = voters.iter().chain(learners).copied().collect();
        ClusterView {
            leader: voters[0],
            voters: voters.iter().copied().collect(),
            nodes: all.iter().map(|id| (*id, node(*id))).collect(),
            changing: false,
            live: all.clone(),
            caught_up: all,
        }
    }

    fn down(mut v: ClusterView, ids: &[NodeId]) -> ClusterView {
        for id in ids {
            v.live.remove(id);
        }
        v
    }

    fn remove(id: NodeId) -> Change {
        Change::Remove { id }
    }

    fn promote(id: NodeId) -> Change {
        Change::Promote {
            id,
            require_caught_up: true,
        }
    }

    #[test]
    fn quorum_is_a_strict_majority() {
        let table: Vec<usize> = (1..=7).map(quorum).collect();
        assert_eq!(table, vec![1, 2, 2, 3, 3, 4, 4]);
    }

    #[test]
    fn growing_three_to_five_one_step_at_a_time_is_accepted() {
        let v = view(&[1, 2, 3], &[]);
        let add = |id| Change::AddLearner { id, node: node(id) };
        assert_eq!(check(&v, &add(4)), Ok(Plan::Propose));
        let v = view(&[1, 2, 3], &[4]);
        assert_eq!(check(&v, &promote(4)), Ok(Plan::Propose));
        let v = view(&[1, 2, 3, 4], &[]);
        assert_eq!(check(&v, &add(5)), Ok(Plan::Propose));
        let v = view(&[1, 2, 3, 4], &[5]);
        assert_eq!(check(&v, &promote(5)), Ok(Plan::Propose));
    }

    #[test]
    fn shrinking_five_to_three_is_accepted_while_everyone_is_live() {
        assert_eq!(
            check(&view(&[1, 2, 3, 4, 5], &[]), &remove(5)),
            Ok(Plan::Propose)
        );
        assert_eq!(
            check(&view(&[1, 2, 3, 4], &[]), &remove(4)),
            Ok(Plan::Propose)
        );
    }

    #[test]
    fn removing_a_live_voter_while_another_is_down_is_refused() {
        // operators.md §7: {1,2,3} with 3 down; removing 2 leaves {1,3} with one live voter.
        let v = down(view(&[1, 2, 3], &[]), &[3]);
        assert_eq!(
            check(&v, &remove(2)),
            Err(Refusal::WouldLoseQuorum {
                new_voters: BTreeSet::from([1, 3]),
                live: BTreeSet::from([1]),
                quorum: 2,
            })
        );
        // Removing the member that is down is the way out, and is accepted.
        assert_eq!(check(&v, &remove(3)), Ok(Plan::Propose));
    }

    #[test]
    fn removals_that_leave_fewer_voters_than_a_quorum_are_refused() {
        assert_eq!(
            check(&view(&[1, 2], &[]), &remove(2)),
            Err(Refusal::TooFewVoters {
                id: 2,
                remaining: 1,
                current: 2,
                quorum: 2,
            })
        );
        assert!(matches!(
            check(&view(&[1], &[]), &remove(1)),
            Err(Refusal::TooFewVoters { remaining: 0, .. })
        ));
        assert!(matches!(
            check(&view(&[1, 2], &[]), &Change::Demote { id: 1 }),
            Err(Refusal::TooFewVoters { .. })
        ));
    }

    #[test]
    fn nothing_is_proposed_without_a_live_quorum_of_the_current_voters() {
        let v = down(view(&[1, 2, 3], &[4]), &[2, 3]);
        for change in [
            remove(4),
            promote(4),
            Change::AddLearner {
                id: 5,
                node: node(5),
            },
        ] {
            let refusal = check(&v, &change).unwrap_err();
            assert!(refusal.is_no_quorum(), "{change:?}: {refusal}");
        }
    }

    #[test]
    fn one_change_at_a_time() {
        let mut v = view(&[1, 2, 3], &[4]);
        v.changing = true;
        assert_eq!(check(&v, &promote(4)), Err(Refusal::ChangeInProgress));
        assert_eq!(check(&v, &remove(3)), Err(Refusal::ChangeInProgress));
        // Leadership transfer is not a membership change.
        assert_eq!(
            check(&v, &Change::TransferLeader { id: 2 }),
            Ok(Plan::Propose)
        );
    }

    #[test]
    fn promotion_needs_a_caught_up_learner_unless_reconfig_allows_it() {
        let mut v = view(&[1, 2, 3], &[4]);
        v.caught_up.remove(&4);
        assert_eq!(check(&v, &promote(4)), Err(Refusal::NotCaughtUp(4)));
        let lenient = Change::Promote {
            id: 4,
            require_caught_up: false,
        };
        assert_eq!(check(&v, &lenient), Ok(Plan::Propose));
        // ... but never when the new voters would lack a live quorum: {1,2,3,4} needs 3, and
        // only 1 and 2 (the leader counts) plus nobody else answered.
        let v = down(v, &[3, 4]);
        assert!(matches!(
            check(&v, &lenient),
            Err(Refusal::WouldLoseQuorum { quorum: 3, .. })
        ));
    }

    #[test]
    fn repeated_steps_are_already_done_and_conflicting_ones_refused() {
        let v = view(&[1, 2, 3], &[4]);
        assert_eq!(
            check(
                &v,
                &Change::AddLearner {
                    id: 4,
                    node: node(4)
                }
            ),
            Ok(Plan::AlreadyDone)
        );
        assert!(matches!(
            check(
                &v,
                &Change::AddLearner {
                    id: 4,
                    node: node(9)
                }
            ),
            Err(Refusal::MemberExists { id: 4, .. })
        ));
        assert_eq!(
            check(
                &v,
                &Change::AddLearner {
                    id: 7,
                    node: node(2)
                }
            ),
            Err(Refusal::AddressInUse {
                addr: "10.0.0.2:2888".into(),
                other: 2
            })
        );
        assert_eq!(check(&v, &promote(2)), Ok(Plan::AlreadyDone));
        assert_eq!(check(&v, &remove(9)), Ok(Plan::AlreadyDone));
        assert_eq!(check(&v, &Change::Demote { id: 4 }), Ok(Plan::AlreadyDone));
        assert_eq!(check(&v, &promote(9)), Err(Refusal::UnknownMember(9)));
    }

    #[test]
    fn a_learner_can_always_leave_while_the_voters_have_a_quorum() {
        let v = down(view(&[1, 2, 3], &[4]), &[3, 4]);
        assert_eq!(check(&v, &remove(4)), Ok(Plan::Propose));
    }

    #[test]
    fn leadership_goes_only_to_a_live_caught_up_voter() {
        let mut v = view(&[1, 2, 3], &[4]);
        assert_eq!(
            check(&v, &Change::TransferLeader { id: 1 }),
            Ok(Plan::AlreadyDone)
        );
        assert_eq!(
            check(&v, &Change::TransferLeader { id: 4 }),
            Err(Refusal::NotAVoter(4))
        );
        v.caught_up.remove(&2);
        assert_eq!(
            check(&v, &Change::TransferLeader { id: 2 }),
            Err(Refusal::NotCaughtUp(2))
        );
        let v = down(v, &[3]);
        assert_eq!(
            check(&v, &Change::TransferLeader { id: 3 }),
            Err(Refusal::NotLive(3))
        );
    }

    #[test]
    fn refusals_explain_what_to_do() {
        let text = Refusal::WouldLoseQuorum {
            new_voters: BTreeSet::from([1, 3]),
            live: BTreeSet::from([1]),
            quorum: 2,
        }
        .to_string();
        assert!(
            text.contains("{1, 3}") && text.contains("quorum of 2"),
            "{text}"
        );
    }
}
