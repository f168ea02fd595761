//! ZooKeeper's `reconfig` request, turned into membership [`Change`]s: pure parsing and
//! planning, checked in the order ZooKeeper's `PrepRequestProcessor` checks (3.8/3.9):
//! reconfig in progress, config version (`fromConfig`), server specs, at least two voters, a
//! synced quorum of the new configuration. (Whether reconfig is enabled at all, and the ACL of
//! `/zookeeper/config`, are checked by the caller, before and after these.)
//!
//! ZooKeeper applies a reconfig as one atomic configuration switch; here it becomes a sequence of
//! single steps (add learners, promote, demote, remove), each of which must pass the rules of
//! [`super::membership_plan`] when it is taken. Requests ZooKeeper accepts that change nothing
//! (leaving an unknown id, an empty request) answer the current configuration without writing a
//! new one, where ZooKeeper would bump the version.

use std::collections::{BTreeMap, BTreeSet};

use corral_proto::{ErrorCode, Id};
use serde::{Deserialize, Serialize};

use super::membership_plan::{Change, ClusterView, quorum};
use super::{MemberNode, NodeId};

/// A `reconfig` request as the client sent it, plus the caller's identities (checked against
/// the ACL of `/zookeeper/config` on the leader). It crosses the peer protocol when a follower
/// forwards it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconfigCall {
    pub joining: Option<String>,
    pub leaving: Option<String>,
    pub new_members: Option<String>,
    /// The config version the client based its change on; -1 for any.
    pub from_config: i64,
    pub auth: Vec<Id>,
}

/// Why a reconfig failed, as the client will see it: a ZooKeeper error code and, for the log,
/// the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{reason} ({code:?})")]
pub struct ReconfigFailure {
    pub code: ErrorCode,
    pub reason: String,
}

impl ReconfigFailure {
    pub fn new(code: ErrorCode, reason: impl Into<String>) -> Self {
        ReconfigFailure {
            code,
            reason: reason.into(),
        }
    }

    fn bad_arguments(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadArguments, reason)
    }
}

/// A member of the configuration a reconfig asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wanted {
    node: MemberNode,
    voter: bool,
}

/// The steps that take the ensemble of `view` (config version `version`) to what `call` asks.
pub fn plan_reconfig(
    view: &ClusterView,
    version: u64,
    call: &ReconfigCall,
) -> Result<Vec<Change>, ReconfigFailure> {
    if view.changing {
        return Err(ReconfigFailure::new(
            ErrorCode::ReconfigInProgress,
            "a previous membership change is still in progress",
        ));
    }
    if call.from_config != -1 && call.from_config as u64 != version {
        return Err(ReconfigFailure::new(
            ErrorCode::BadVersion,
            format!(
                "reconfiguration from version {:x} failed: the current version is {version:x}",
                call.from_config
            ),
        ));
    }
    let wanted = match &call.new_members {
        Some(members) => parse_new_members(members)?,
        None => incremental(view, call)?,
    };
    let voters: BTreeSet<NodeId> = wanted
        .iter()
        .filter(|(_, w)| w.voter)
        .map(|(id, _)| *id)
        .collect();
    // ZooKeeper with standaloneEnabled (its default) insists on two voters.
    if voters.len() < 2 {
        return Err(ReconfigFailure::bad_arguments(
            "the new configuration must include at least 2 participants",
        ));
    }
    let changes = diff(view, &wanted)?;
    // PrepRequestProcessor: "there must be a connected and synced quorum in new configuration".
    let synced: BTreeSet<NodeId> = view.synced().intersection(&voters).copied().collect();
    if synced.len() < quorum(voters.len()) {
        return Err(ReconfigFailure::new(
            ErrorCode::NewConfigNoQuorum,
            format!(
                "the new voters {voters:?} would have only {synced:?} connected and synced; {} are needed",
                quorum(voters.len())
            ),
        ));
    }
    Ok(changes)
}

/// Incremental: the current members, minus `leaving`, plus (or replaced by) `joining`.
fn incremental(
    view: &ClusterView,
    call: &ReconfigCall,
) -> Result<BTreeMap<NodeId, Wanted>, ReconfigFailure> {
    let mut wanted: BTreeMap<NodeId, Wanted> = view
        .nodes
        .iter()
        .map(|(id, node)| {
            let voter = view.voters.contains(id);
            (
                *id,
                Wanted {
                    node: node.clone(),
                    voter,
                },
            )
        })
        .collect();
    for item in list(call.leaving.as_deref()) {
        let id: NodeId = item.parse().map_err(|_| {
            ReconfigFailure::bad_arguments(format!("leaving server id {item:?} is not a number"))
        })?;
        wanted.remove(&id);
    }
    for item in list(call.joining.as_deref()) {
        let (id, joiner) = parse_server_spec(item)?;
        if joiner.node.client_addr.is_none() {
            return Err(ReconfigFailure::bad_arguments(format!(
                "joining server {item:?} has no client address: each server needs its quorum, \
                 election and client ports"
            )));
        }
        if let Some((other, _)) = wanted
            .iter()
            .find(|(other, w)| **other != id && w.node.addr == joiner.node.addr)
        {
            return Err(ReconfigFailure::bad_arguments(format!(
                "joining server {id} uses the quorum address {} of server {other}",
                joiner.node.addr
            )));
        }
        wanted.insert(id, joiner);
    }
    Ok(wanted)
}

/// Non-incremental: the whole new membership, `server.N=...` items separated by commas or
/// newlines (a `version=` line, as in a config read back from `/zookeeper/config`, is ignored).
fn parse_new_members(text: &str) -> Result<BTreeMap<NodeId, Wanted>, ReconfigFailure> {
    let mut wanted = BTreeMap::new();
    for item in text.split([',', '\n']).map(str::trim) {
        if item.is_empty() || item.starts_with("version=") {
            continue;
        }
        let (id, member) = parse_server_spec(item)?;
        if wanted.insert(id, member).is_some() {
            return Err(ReconfigFailure::bad_arguments(format!(
                "server {id} is listed twice"
            )));
        }
    }
    Ok(wanted)
}

/// `server.N=host:quorumPort:electionPort[:role][;[clientHost:]clientPort]`
fn parse_server_spec(item: &str) -> Result<(NodeId, Wanted), ReconfigFailure> {
    let bad = || {
        ReconfigFailure::bad_arguments(format!(
            "{item:?} is not a server spec; expected \
             server.N=host:quorumPort:electionPort[:participant|observer][;[clientHost:]clientPort]"
        ))
    };
    let (key, value) = item.split_once('=').ok_or_else(bad)?;
    let entry = crate::config::parse_server(key, value).ok_or_else(bad)?;
    let node = MemberNode::from_server(&entry);
    Ok((
        entry.id,
        Wanted {
            voter: !node.observer,
            node,
        },
    ))
}

fn list(text: Option<&str>) -> impl Iterator<Item = &str> {
    text.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The steps from the current membership to `wanted`, ordered so that the ensemble never has
/// fewer voters than it needs on the way: additions and promotions first, then demotions, then
/// removals.
fn diff(
    view: &ClusterView,
    wanted: &BTreeMap<NodeId, Wanted>,
) -> Result<Vec<Change>, ReconfigFailure> {
    let mut adds = Vec::new();
    let mut promotions = Vec::new();
    let mut demotions = Vec::new();
    let mut removals = Vec::new();
    for (id, w) in wanted {
        let is_voter = view.voters.contains(id);
        match view.nodes.get(id) {
            None => {
                adds.push(Change::AddLearner {
                    id: *id,
                    node: w.node.clone(),
                });
                if w.voter {
                    promotions.push(Change::Promote {
                        id: *id,
                        require_caught_up: false,
                    });
                }
            }
            Some(existing) if !same_addresses(existing, &w.node) => {
                return Err(ReconfigFailure::bad_arguments(format!(
                    "server {id} exists as {}; changing a member's addresses is not supported: \
                     remove it, then add it again",
                    existing.zk_spec(is_voter)
                )));
            }
            Some(_) if w.voter && !is_voter => promotions.push(Change::Promote {
                id: *id,
                require_caught_up: false,
            }),
            Some(_) if !w.voter && is_voter => demotions.push(Change::Demote { id: *id }),
            Some(_) => {}
        }
    }
    for id in view.nodes.keys() {
        if !wanted.contains_key(id) {
            removals.push(Change::Remove { id: *id });
        }
    }
    Ok(adds
        .into_iter()
        .chain(promotions)
        .chain(demotions)
        .chain(removals)
        .collect())
}

/// The same member: its role may change, its addresses may not. A server line without a client
/// address matches any (the static `clientPort` of ZooKeeper's own line is not shown either).
fn same_addresses(existing: &MemberNode, wanted: &MemberNode) -> bool {
    existing.addr == wanted.addr
        && existing.election_port == wanted.election_port
        && (wanted.client_addr.is_none() || existing.client_addr == wanted.client_addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: NodeId) -> MemberNode {
        MemberNode {
            addr: format!("localhost:2428{id}"),
            election_port: 24380 + id as u16,
            client_addr: None,
            observer: false,
        }
    }

    fn three() -> ClusterView {
        let all: BTreeSet<NodeId> = BTreeSet::from([1, 2, 3]);
        ClusterView {
            leader: 1,
            voters: all.clone(),
            nodes: all.iter().map(|id| (*id, node(*id))).collect(),
            changing: false,
            live: all.clone(),
            caught_up: all,
        }
    }

    fn call(joining: Option<&str>, leaving: Option<&str>, from_config: i64) -> ReconfigCall {
        ReconfigCall {
            joining: joining.map(str::to_string),
            leaving: leaving.map(str::to_string),
            new_members: None,
            from_config,
            auth: Vec::new(),
        }
    }

    fn code(result: Result<Vec<Change>, ReconfigFailure>) -> ErrorCode {
        result.unwrap_err().code
    }

    const OBSERVER: &str = "server.100=0.0.0.0:31234:31235:observer;0.0.0.0:31236";

    #[test]
    fn kazoo_adds_and_removes_an_observer() {
        let changes = plan_reconfig(&three(), 0x1_0000_0000, &call(Some(OBSERVER), None, -1));
        let Ok(changes) = changes else {
            panic!("{changes:?}")
        };
        assert_eq!(changes.len(), 1);
        let Change::AddLearner { id: 100, node } = &changes[0] else {
            panic!("{changes:?}")
        };
        assert_eq!(node.zk_spec(false), OBSERVER.split_once('=').unwrap().1);

        let mut view = three();
        view.nodes.insert(100, node.clone());
        let changes = plan_reconfig(&view, 7, &call(None, Some("100"), -1)).unwrap();
        assert_eq!(changes, vec![Change::Remove { id: 100 }]);
    }

    #[test]
    fn a_stale_or_future_version_is_bad_version() {
        assert_eq!(
            code(plan_reconfig(&three(), 7, &call(Some(OBSERVER), None, 8))),
            ErrorCode::BadVersion
        );
        assert!(plan_reconfig(&three(), 7, &call(Some(OBSERVER), None, 7)).is_ok());
    }

    #[test]
    fn malformed_specs_are_bad_arguments() {
        for joining in [
            "some thing",
            "server.5=127.0.0.1:1234",
            "server.5=127.0.0.1:1234:1235:observer",
            "server.x=127.0.0.1:1234:1235;2181",
            "server.5=127.0.0.1:1234:1235:referee;2181",
        ] {
            assert_eq!(
                code(plan_reconfig(&three(), 0, &call(Some(joining), None, -1))),
                ErrorCode::BadArguments,
                "{joining}"
            );
        }
        assert_eq!(
            code(plan_reconfig(&three(), 0, &call(None, Some("two"), -1))),
            ErrorCode::BadArguments
        );
    }

    #[test]
    fn a_joining_server_may_not_take_anothers_address() {
        let joining = "server.9=localhost:24282:1:participant;2181";
        assert_eq!(
            code(plan_reconfig(&three(), 0, &call(Some(joining), None, -1))),
            ErrorCode::BadArguments
        );
    }

    #[test]
    fn fewer_than_two_voters_is_bad_arguments() {
        assert_eq!(
            code(plan_reconfig(&three(), 0, &call(None, Some("1,2"), -1))),
            ErrorCode::BadArguments
        );
    }

    #[test]
    fn in_progress_comes_before_everything_else() {
        let mut view = three();
        view.changing = true;
        assert_eq!(
            code(plan_reconfig(&view, 0, &call(Some("garbage"), None, 99))),
            ErrorCode::ReconfigInProgress
        );
    }

    #[test]
    fn a_new_participant_joins_unsynced_only_if_a_synced_quorum_remains() {
        let joining = "server.4=127.0.0.1:31237:31238:participant;127.0.0.1:31239";
        let changes = plan_reconfig(&three(), 0, &call(Some(joining), None, -1)).unwrap();
        assert!(matches!(changes[0], Change::AddLearner { id: 4, .. }));
        assert_eq!(
            changes[1],
            Change::Promote {
                id: 4,
                require_caught_up: false
            }
        );
        let mut one_down = three();
        one_down.live.remove(&3);
        assert_eq!(
            code(plan_reconfig(&one_down, 0, &call(Some(joining), None, -1))),
            ErrorCode::NewConfigNoQuorum
        );
    }

    #[test]
    fn new_members_are_diffed_into_ordered_steps() {
        let mut view = three();
        view.nodes.insert(4, node(4)); // a learner, in touch and caught up
        view.live.insert(4);
        view.caught_up.insert(4);
        let members = format!(
            "server.1={},server.2={}\nserver.4={}\nversion=100000000",
            node(1).zk_spec(true),
            node(2).zk_spec(false),
            node(4).zk_spec(true),
        );
        let req = ReconfigCall {
            new_members: Some(members),
            ..call(None, None, -1)
        };
        let changes = plan_reconfig(&view, 0, &req).unwrap();
        assert_eq!(
            changes,
            vec![
                Change::Promote {
                    id: 4,
                    require_caught_up: false
                },
                Change::Demote { id: 2 },
                Change::Remove { id: 3 },
            ]
        );
    }

    #[test]
    fn changing_a_members_addresses_is_refused() {
        let joining = "server.2=localhost:29999:24382:participant;2181";
        assert_eq!(
            code(plan_reconfig(&three(), 0, &call(Some(joining), None, -1))),
            ErrorCode::BadArguments
        );
    }

    #[test]
    fn requests_that_change_nothing_plan_nothing() {
        assert_eq!(
            plan_reconfig(&three(), 0, &call(None, None, -1)),
            Ok(vec![])
        );
        assert_eq!(
            plan_reconfig(&three(), 0, &call(None, Some("77"), -1)),
            Ok(vec![])
        );
    }
}
