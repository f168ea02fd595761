//! [`MemberNode`]: what the Raft membership records about each member, and ZooKeeper's dynamic
//! configuration text rendered from it.
//!
//! ZooKeeper clients see the membership in `/zookeeper/config` and in the reply to `reconfig`,
//! as lines `server.N=host:quorumPort:electionPort:role[;clientHost:clientPort]` followed by
//! `version=<hex>` (`QuorumMaj.toString` and `QuorumServer.toString` in ZooKeeper). Rendering
//! them needs more than openraft's `BasicNode` address, so the membership carries all of it, and
//! every member renders the same text from the same committed entry.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::NodeId;
use crate::config::ServerEntry;

/// One member as the Raft membership stores it (openraft's `Node` type).
///
/// Equality matters to openraft: adding a member that exists with a different value is refused
/// rather than silently changing where its traffic goes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberNode {
    /// The quorum (peer) address, `host:port`: Raft traffic and forwarded requests go here.
    pub addr: String,
    /// ZooKeeper's election port: accepted and shown, never used (Raft elects over `addr`).
    /// 0 when it was never given (a member added through the admin API without one).
    pub election_port: u16,
    /// The client address, `host:port`, when it was given with the member (`;...` in a server
    /// line). ZooKeeper prints it only in that case, and so does [`MemberNode::zk_spec`].
    pub client_addr: Option<String>,
    /// Joined as an observer: meant to stay a non-voting learner.
    pub observer: bool,
}

impl MemberNode {
    /// A member known only by its peer address.
    pub fn new(addr: impl Into<String>) -> Self {
        MemberNode {
            addr: addr.into(),
            ..MemberNode::default()
        }
    }

    /// The member a zoo.cfg `server.N` line (or a reconfig server spec) describes.
    pub fn from_server(entry: &ServerEntry) -> Self {
        MemberNode {
            addr: format!("{}:{}", entry.host, entry.peer_port),
            election_port: entry.election_port,
            client_addr: entry.client.clone(),
            observer: entry.observer,
        }
    }

    /// The host part of the peer address.
    pub fn host(&self) -> &str {
        self.addr
            .rsplit_once(':')
            .map_or(self.addr.as_str(), |(host, _)| host)
    }

    /// The value of this member's `server.N=` line: `host:peer:election:role[;client]`. The role
    /// follows what the member is in the configuration (a voter is a participant, anyone else
    /// an observer), not what it asked to be when it joined.
    pub fn zk_spec(&self, voter: bool) -> String {
        let role = if voter { "participant" } else { "observer" };
        let mut spec = format!("{}:{}:{role}", self.addr, self.election_port);
        if let Some(client) = &self.client_addr {
            spec.push(';');
            spec.push_str(client);
        }
        spec
    }
}

impl fmt::Display for MemberNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr)?;
        if let Some(client) = &self.client_addr {
            write!(f, " (clients {client})")?;
        }
        Ok(())
    }
}

/// ZooKeeper's dynamic configuration text: one `server.N=...` line per member in id order, then
/// `version=<hex>` without a trailing newline (kazoo reads the version from the last line).
pub fn render_dynamic_config<'a>(
    members: impl IntoIterator<Item = (NodeId, &'a MemberNode)>,
    voters: &BTreeSet<NodeId>,
    version: u64,
) -> String {
    let mut members: Vec<_> = members.into_iter().collect();
    members.sort_by_key(|(id, _)| *id);
    let mut text = String::new();
    for (id, node) in members {
        text.push_str(&format!(
            "server.{id}={}\n",
            node.zk_spec(voters.contains(&id))
        ));
    }
    text.push_str(&format!("version={version:x}"));
    text
}

/// Parse the dynamic version out of a configuration text (its `version=` line), as clients do.
pub fn config_version(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("version="))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(addr: &str, election: u16, client: Option<&str>) -> MemberNode {
        MemberNode {
            addr: addr.into(),
            election_port: election,
            client_addr: client.map(str::to_string),
            observer: false,
        }
    }

    #[test]
    fn specs_read_like_zookeepers_server_lines() {
        let n = node("10.0.0.1:2888", 3888, Some("0.0.0.0:2181"));
        assert_eq!(
            n.zk_spec(true),
            "10.0.0.1:2888:3888:participant;0.0.0.0:2181"
        );
        assert_eq!(n.zk_spec(false), "10.0.0.1:2888:3888:observer;0.0.0.0:2181");
        let bare = node("localhost:24281", 24381, None);
        assert_eq!(bare.zk_spec(true), "localhost:24281:24381:participant");
        assert_eq!(bare.host(), "localhost");
    }

    #[test]
    fn a_server_line_becomes_a_member() {
        let entry =
            crate::config::parse_server("server.100", "0.0.0.0:1234:2345:observer;0.0.0.0:3456")
                .unwrap();
        let n = MemberNode::from_server(&entry);
        assert_eq!(n.addr, "0.0.0.0:1234");
        assert!(n.observer);
        assert_eq!(
            n.zk_spec(false),
            "0.0.0.0:1234:2345:observer;0.0.0.0:3456",
            "a joining spec comes back exactly as written"
        );
    }

    #[test]
    fn the_config_text_matches_a_real_ensembles() {
        // As /zookeeper/config read from a 3-member ZooKeeper 3.8.0 with an observer added.
        let a = node("localhost:24281", 24381, None);
        let b = node("localhost:24282", 24382, None);
        let c = node("localhost:24283", 24383, None);
        let obs = node("0.0.0.0:31234", 31235, Some("0.0.0.0:31236"));
        let text = render_dynamic_config(
            [(100, &obs), (2, &b), (1, &a), (3, &c)],
            &BTreeSet::from([1, 2, 3]),
            0x1_0000_0009,
        );
        assert_eq!(
            text,
            "server.1=localhost:24281:24381:participant\n\
             server.2=localhost:24282:24382:participant\n\
             server.3=localhost:24283:24383:participant\n\
             server.100=0.0.0.0:31234:31235:observer;0.0.0.0:31236\n\
             version=100000009"
        );
        assert_eq!(config_version(&text), Some(0x1_0000_0009));
        assert_eq!(config_version("server.1=x"), None);
    }
}
