//! [`StateMachine`]: the data tree plus the session table, changed only by applying committed
//! commands, and read locally by the server.

use corral_proto::{Acl, ErrorCode, Id, Stat, perms};
use serde::{Deserialize, Serialize};

use crate::acl;
use crate::command::{Applied, Command, CommandKind, Outcome, WatchTrigger, WriteOp};
use crate::node::NodeKind;
use crate::session::{Session, SessionTable};
use crate::tree::{DataTree, Journal};
use crate::write::{self, Effects, WriteContext};

/// Settings that change what apply does. Every member of a group must use the same values, or
/// their trees diverge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeOptions {
    /// ZooKeeper's `zookeeper.extendedTypesEnabled`: TTL creates get Unimplemented when false.
    pub extended_types_enabled: bool,
}

/// The whole replicated state; serializing it is the Raft snapshot. Every collection in it is
/// ordered, so equal states serialize to equal bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateMachine {
    opts: TreeOptions,
    tree: DataTree,
    sessions: SessionTable,
    last_applied_zxid: i64,
}

impl StateMachine {
    /// The state of a fresh ZooKeeper 3.8 standalone server (see [`DataTree::new`]).
    pub fn new(opts: TreeOptions) -> Self {
        StateMachine {
            opts,
            tree: DataTree::new(),
            sessions: SessionTable::default(),
            last_applied_zxid: 0,
        }
    }

    /// A copy to serialize as a snapshot, made in O(sessions) rather than O(nodes), so that it
    /// can be taken under the lock and encoded outside it. Equal to `self` once serialized and
    /// read back; only for serializing (its tree's indexes are empty).
    pub fn snapshot_copy(&self) -> StateMachine {
        StateMachine {
            opts: self.opts,
            tree: self.tree.snapshot_copy(),
            sessions: self.sessions.clone(),
            last_applied_zxid: self.last_applied_zxid,
        }
    }

    pub fn options(&self) -> TreeOptions {
        self.opts
    }

    /// Options travel inside snapshots; a member restoring one may re-assert its configured
    /// options with this (they must agree across the group anyway).
    pub fn set_options(&mut self, opts: TreeOptions) {
        self.opts = opts;
    }

    /// Apply one committed entry. `zxid` is its Raft log index. A failing command still counts
    /// as applied: it changes nothing and returns its error.
    pub fn apply(&mut self, zxid: i64, cmd: &Command) -> Applied {
        let mut triggers = Vec::new();
        let time_ms = cmd.time_ms;
        let result = match &cmd.kind {
            CommandKind::Write {
                session_id,
                owner,
                auth,
                op,
            } => self.apply_write(zxid, time_ms, *session_id, *owner, auth, op, &mut triggers),
            CommandKind::CreateSession {
                timeout_ms,
                password,
                owner,
            } => {
                let session = Session {
                    timeout_ms: *timeout_ms,
                    password: *password,
                    owner: *owner,
                };
                let session_id = self.sessions.create(time_ms, session);
                Ok(Outcome::SessionCreated {
                    session_id,
                    timeout_ms: *timeout_ms,
                })
            }
            CommandKind::ResumeSession {
                session_id,
                password,
                owner,
            } => match self.sessions.get_mut(*session_id) {
                Some(s) if s.password == *password => {
                    s.owner = *owner;
                    Ok(Outcome::SessionResumed {
                        timeout_ms: s.timeout_ms,
                    })
                }
                _ => Err(ErrorCode::SessionExpired),
            },
            CommandKind::CloseSession { session_id } => {
                self.close_session(zxid, *session_id, &mut triggers);
                Ok(Outcome::SessionClosed)
            }
            CommandKind::ReapContainer { path } => {
                let still_due = self
                    .tree
                    .get(path)
                    .is_some_and(|n| n.kind == NodeKind::Container && n.num_children == 0);
                Ok(self.reap_if(still_due, zxid, path, &mut triggers))
            }
            CommandKind::ReapTtl { path } => {
                let still_due = self.tree.get(path).is_some_and(|n| {
                    n.num_children == 0 && ttl_expired(n.kind, n.stat.mtime, time_ms)
                });
                Ok(self.reap_if(still_due, zxid, path, &mut triggers))
            }
            CommandKind::Noop => Ok(Outcome::Nothing),
        };
        self.last_applied_zxid = self.last_applied_zxid.max(zxid);
        Applied {
            zxid,
            result,
            triggers,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_write(
        &mut self,
        zxid: i64,
        time_ms: i64,
        session_id: i64,
        owner: u64,
        auth: &[Id],
        op: &WriteOp,
        triggers: &mut Vec<WatchTrigger>,
    ) -> Result<Outcome, ErrorCode> {
        let session = self
            .sessions
            .get(session_id)
            .ok_or(ErrorCode::SessionExpired)?;
        if session.owner != owner {
            return Err(ErrorCode::SessionMoved);
        }
        let ctx = WriteContext {
            zxid,
            time_ms,
            session_id,
            auth,
            extended_types_enabled: self.opts.extended_types_enabled,
        };
        let mut fx = Effects {
            tree: &mut self.tree,
            journal: Journal::default(),
            triggers: Vec::new(),
        };
        let result = write::apply_op(&ctx, &mut fx, op);
        if let Err(code) = result {
            tracing::debug!(zxid, session_id, error = ?code, "write refused");
        }
        triggers.append(&mut fx.triggers);
        result
    }

    /// `killSession`: the session's ephemerals go in this same entry, in path order.
    fn close_session(&mut self, zxid: i64, session_id: i64, triggers: &mut Vec<WatchTrigger>) {
        let paths: Vec<String> = self
            .tree
            .ephemerals_of(session_id)
            .map(str::to_string)
            .collect();
        let mut fx = Effects {
            tree: &mut self.tree,
            journal: Journal::default(),
            triggers: Vec::new(),
        };
        for path in &paths {
            write::delete_unchecked(&mut fx, path, zxid);
        }
        triggers.append(&mut fx.triggers);
        if self.sessions.remove(session_id).is_some() {
            tracing::debug!(zxid, session_id, ephemerals = paths.len(), "session closed");
        }
    }

    fn reap_if(
        &mut self,
        due: bool,
        zxid: i64,
        path: &str,
        triggers: &mut Vec<WatchTrigger>,
    ) -> Outcome {
        if !due {
            return Outcome::Nothing;
        }
        let mut fx = Effects {
            tree: &mut self.tree,
            journal: Journal::default(),
            triggers: Vec::new(),
        };
        write::delete_unchecked(&mut fx, path, zxid);
        triggers.append(&mut fx.triggers);
        tracing::debug!(zxid, path, "reaped");
        Outcome::Reaped
    }

    pub fn last_applied_zxid(&self) -> i64 {
        self.last_applied_zxid
    }

    /// Store the ensemble's dynamic configuration in `/zookeeper/config`, as ZooKeeper's reconfig
    /// transaction does: a setData of the config node with version -1 (so its dataVersion reads
    /// -1 afterwards, as on a real ensemble). A membership change is not a client write, so there
    /// is no session or ACL check here; the Raft glue calls this when it applies a committed
    /// membership entry at `zxid`. `time_ms` becomes the node's mtime. Returns the data-changed
    /// trigger for watchers of the config node.
    pub fn set_config(&mut self, zxid: i64, time_ms: i64, data: Vec<u8>) -> Vec<WatchTrigger> {
        let mut journal = Journal::default();
        self.tree.set_data(
            crate::path::CONFIG,
            Some(data),
            -1,
            zxid,
            time_ms,
            &mut journal,
        );
        self.last_applied_zxid = self.last_applied_zxid.max(zxid);
        let acl = self
            .tree
            .get(crate::path::CONFIG)
            .map(|n| n.acl.clone())
            .unwrap_or_default();
        vec![WatchTrigger {
            path: crate::path::CONFIG.to_string(),
            event: corral_proto::EventType::NodeDataChanged,
            acl,
        }]
    }

    /// getData: needs READ. The data is `None` when the node holds null data, which the reply
    /// must carry as null (not as empty).
    pub fn get_data(&self, path: &str, auth: &[Id]) -> Result<(Option<Vec<u8>>, Stat), ErrorCode> {
        let node = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        acl::check(&node.acl, perms::READ, auth)?;
        Ok((node.data.clone(), node.client_stat()))
    }

    /// exists: no ACL check, as in ZooKeeper up to 3.8.3 and 3.9.1 (see
    /// [`exists_with_acl`](Self::exists_with_acl) for the later rule).
    pub fn exists(&self, path: &str) -> Option<Stat> {
        self.stat(path)
    }

    /// exists as ZooKeeper 3.8.4+ and 3.9.2+ answer it (ZOOKEEPER-2590): an existing node needs
    /// READ; a missing one is reported without any check.
    pub fn exists_with_acl(&self, path: &str, auth: &[Id]) -> Result<Option<Stat>, ErrorCode> {
        match self.tree.get(path) {
            Some(node) => {
                acl::check(&node.acl, perms::READ, auth)?;
                Ok(Some(node.client_stat()))
            }
            None => Ok(None),
        }
    }

    /// getChildren / getChildren2: needs READ. Names come sorted (ZooKeeper leaves the order
    /// unspecified).
    pub fn get_children(&self, path: &str, auth: &[Id]) -> Result<(Vec<String>, Stat), ErrorCode> {
        let node = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        acl::check(&node.acl, perms::READ, auth)?;
        let children = self
            .tree
            .children(path)
            .map(|(name, _)| name.to_string())
            .collect();
        Ok((children, node.client_stat()))
    }

    /// getACL: needs READ or ADMIN; without ADMIN, digest hashes are masked ("user:x").
    pub fn get_acl(&self, path: &str, auth: &[Id]) -> Result<(Vec<Acl>, Stat), ErrorCode> {
        let node = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        acl::check(&node.acl, perms::READ | perms::ADMIN, auth)?;
        let list = match acl::check(&node.acl, perms::ADMIN, auth) {
            Ok(()) => node.acl.to_vec(),
            Err(_) => acl::mask_digests(&node.acl),
        };
        Ok((list, node.client_stat()))
    }

    /// getAllChildrenNumber: needs READ; counts descendants at every depth ("/" counts the
    /// `/zookeeper` nodes too, as ZooKeeper does).
    pub fn get_all_children_number(&self, path: &str, auth: &[Id]) -> Result<i32, ErrorCode> {
        let node = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        acl::check(&node.acl, perms::READ, auth)?;
        Ok(self.tree.descendant_count(path) as i32)
    }

    /// getEphemerals: the session's ephemeral paths starting with `prefix`; an empty, blank or
    /// "/" prefix means all of them. Sorted by path.
    pub fn get_ephemerals(&self, session_id: i64, prefix: &str) -> Vec<String> {
        // Java's String.trim() strips every char <= ' '.
        let trimmed = prefix.trim_matches(|c: char| c <= ' ');
        let all = trimmed.is_empty() || trimmed == "/";
        self.tree
            .ephemerals_of(session_id)
            .filter(|p| all || p.starts_with(prefix))
            .map(str::to_string)
            .collect()
    }

    /// The Stat of a node, without any ACL check (setWatches replay, 4lw, admin).
    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.tree.get(path).map(|n| n.client_stat())
    }

    pub fn session(&self, id: i64) -> Option<&Session> {
        self.sessions.get(id)
    }

    /// Every live session, by id.
    pub fn sessions(&self) -> impl Iterator<Item = (i64, &Session)> {
        self.sessions.iter()
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// For 4lw `dump`: each session that owns ephemerals, with their paths (both sorted).
    pub fn ephemerals_by_session(&self) -> impl Iterator<Item = (i64, Vec<&str>)> {
        self.tree
            .ephemerals()
            .map(|(id, set)| (id, set.iter().map(String::as_str).collect()))
    }

    /// Nodes the leader should propose to reap at `now_ms`: empty containers that once had a
    /// child (ZooKeeper's ContainerManager rule: cversion > 0 && no children), and TTL nodes with
    /// no children whose mtime + ttl < now. Returns (containers, ttl_nodes), at most `limit`
    /// paths in all, containers first, each list in path order.
    pub fn reap_candidates(&self, now_ms: i64, limit: usize) -> (Vec<String>, Vec<String>) {
        let containers: Vec<String> = self
            .tree
            .containers()
            .filter(|p| {
                self.tree
                    .get(p)
                    .is_some_and(|n| n.num_children == 0 && n.stat.cversion > 0)
            })
            .take(limit)
            .map(str::to_string)
            .collect();
        let ttls: Vec<String> = self
            .tree
            .ttls()
            .filter(|p| {
                self.tree.get(p).is_some_and(|n| {
                    n.num_children == 0 && ttl_expired(n.kind, n.stat.mtime, now_ms)
                })
            })
            .take(limit - containers.len())
            .map(str::to_string)
            .collect();
        (containers, ttls)
    }

    /// The node count ZooKeeper reports (`zk_znode_count`, srvr's "Node count"): its map holds
    /// the root twice (as "/" and ""), so a fresh server reports 5 for its 4 nodes.
    pub fn node_count(&self) -> usize {
        self.tree.len() + 1
    }

    pub fn ephemeral_count(&self) -> usize {
        self.tree.ephemeral_count()
    }

    /// `zk_approximate_data_size`: the sum of path lengths and data lengths of all nodes.
    pub fn approximate_data_size(&self) -> u64 {
        self.tree.data_size()
    }

    /// Read access to the tree, for diagnostics and tests.
    pub fn tree(&self) -> &DataTree {
        &self.tree
    }
}

/// ContainerManager's TTL rule: a TTL node expires once more than `ttl` ms passed since its
/// last modification.
fn ttl_expired(kind: NodeKind, mtime: i64, now_ms: i64) -> bool {
    match kind {
        NodeKind::Ttl { ttl_ms } => ttl_ms != 0 && now_ms.saturating_sub(mtime) > ttl_ms,
        _ => false,
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    #[test]
    fn set_config_stores_the_text_with_version_minus_one_and_fires_data_changed() {
        let mut sm = StateMachine::new(TreeOptions::default());
        let text = b"server.1=h1:2888:3888:participant\nversion=0".to_vec();
        let triggers = sm.set_config(7, 1_700_000_000_000, text.clone());
        let (data, stat) = sm.get_data(crate::path::CONFIG, &[]).unwrap();
        assert_eq!(data, Some(text.clone()));
        assert_eq!(stat.version, -1);
        assert_eq!(stat.mzxid, 7);
        assert_eq!(stat.mtime, 1_700_000_000_000);
        assert_eq!(stat.czxid, 0);
        assert_eq!(stat.data_length, text.len() as i32);
        assert_eq!(sm.last_applied_zxid(), 7);
        assert_eq!(triggers.len(), 1);
        assert_eq!(triggers[0].path, crate::path::CONFIG);
        assert_eq!(triggers[0].event, corral_proto::EventType::NodeDataChanged);
        assert_eq!(*triggers[0].acl, *Acl::read_unsafe());
        // Clients still cannot write it (the ACL is world:anyone READ).
        assert_eq!(
            sm.get_acl(crate::path::CONFIG, &[]).unwrap().0,
            Acl::read_unsafe()
        );
    }
}
