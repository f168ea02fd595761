//! `/zookeeper/config` follows the Raft membership: applying a committed membership entry
//! rewrites it, on every member alike, so that clients read the ensemble as ZooKeeper shows it.
//!
//! The rules, all decided from replicated state only (so every replica agrees):
//! - the text is [`render_dynamic_config`] of the entry's members, and its version is the
//!   entry's log index, which is also the zxid it carries (ARCHITECTURE decision 3), as a real
//!   ZooKeeper versions its configuration with the zxid of the reconfig;
//! - a one-member group whose config node is still empty is a standalone server, and a
//!   standalone ZooKeeper leaves `/zookeeper/config` empty, so nothing is written;
//! - a membership entry carries no leader timestamp, so the node's mtime is left as it was.

use std::collections::BTreeSet;

use corral_tree::path::CONFIG;

use super::core::CoreState;
use super::member_node::render_dynamic_config;
use super::{MemberNode, NodeId};

type Membership = openraft::Membership<NodeId, MemberNode>;

/// The text `/zookeeper/config` holds once `membership`, committed at `index`, is applied; `None`
/// when a standalone server keeps it empty. `current` is the node's data before the entry.
pub fn config_text(membership: &Membership, index: u64, current: &[u8]) -> Option<String> {
    let members: Vec<(NodeId, &MemberNode)> = membership.nodes().map(|(id, n)| (*id, n)).collect();
    if members.len() <= 1 && current.is_empty() {
        return None;
    }
    // During a joint configuration every voter of either half votes.
    let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
    Some(render_dynamic_config(members, &voters, index))
}

impl CoreState {
    /// Apply a committed membership entry at `zxid` to the config node, notifying its watchers.
    pub(crate) fn apply_membership(&mut self, zxid: i64, membership: &Membership) {
        let (current, mtime) = match self.sm.tree().get(CONFIG) {
            Some(node) => (node.data_bytes().to_vec(), node.stat.mtime),
            None => (Vec::new(), 0),
        };
        let Some(text) = config_text(membership, zxid as u64, &current) else {
            return;
        };
        let triggers = self.sm.set_config(zxid, mtime, text.into_bytes());
        self.notify(zxid, &triggers);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn members(ids: &[NodeId]) -> BTreeMap<NodeId, MemberNode> {
        ids.iter()
            .map(|id| {
                let node = MemberNode {
                    addr: format!("127.0.0.1:{}", 2880 + id),
                    election_port: 3880 + *id as u16,
                    client_addr: Some(format!("127.0.0.1:{}", 2180 + id)),
                    observer: false,
                };
                (*id, node)
            })
            .collect()
    }

    #[test]
    fn a_standalone_server_keeps_the_config_node_empty() {
        let one = Membership::new(vec![BTreeSet::from([1])], members(&[1])).unwrap();
        assert_eq!(config_text(&one, 0, b""), None);
    }

    #[test]
    fn an_ensemble_lists_voters_as_participants_and_learners_as_observers() {
        let m = Membership::new(vec![BTreeSet::from([1, 2])], members(&[1, 2, 3])).unwrap();
        assert_eq!(
            config_text(&m, 0x1a, b"").unwrap(),
            "server.1=127.0.0.1:2881:3881:participant;127.0.0.1:2181\n\
             server.2=127.0.0.1:2882:3882:participant;127.0.0.1:2182\n\
             server.3=127.0.0.1:2883:3883:observer;127.0.0.1:2183\n\
             version=1a"
        );
    }

    #[test]
    fn an_ensemble_shrunk_to_one_member_still_shows_its_config() {
        let one = Membership::new(vec![BTreeSet::from([2])], members(&[2])).unwrap();
        let text = config_text(&one, 9, b"server.1=...\nversion=3").unwrap();
        assert!(text.ends_with("version=9"), "{text}");
    }

    #[test]
    fn a_joint_configuration_counts_voters_of_both_halves() {
        let joint = Membership::new(
            vec![BTreeSet::from([1, 2]), BTreeSet::from([1, 2, 3])],
            members(&[1, 2, 3]),
        )
        .unwrap();
        let text = config_text(&joint, 5, b"x").unwrap();
        assert_eq!(text.matches(":participant").count(), 3, "{text}");
    }

    #[test]
    fn applying_a_membership_rewrites_the_node_and_notifies_watchers() {
        let core = super::super::Core::new(corral_tree::TreeOptions::default());
        let m = Membership::new(vec![BTreeSet::from([1, 2, 3])], members(&[1, 2, 3])).unwrap();
        let mut state = core.lock();
        state.apply_membership(4, &m);
        let (data, stat) = state.sm.get_data(CONFIG, &[]).unwrap();
        let text = String::from_utf8(data.unwrap()).unwrap();
        assert!(text.starts_with("server.1=127.0.0.1:2881:3881:participant"));
        assert!(text.ends_with("\nversion=4"));
        assert_eq!((stat.version, stat.mzxid), (-1, 4));
    }
}
