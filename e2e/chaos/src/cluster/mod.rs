//! An ensemble of real `corral-sidecar node` processes, each in its own network namespace, with
//! the levers the nemeses pull: kill, pause, partition, slow links, membership and leadership
//! changes through the admin API, and full disks.
//!
//! Dropping a [`Cluster`] kills every member, stops the link relays, unmounts the data disks and
//! deletes the namespaces, also when the run failed.

pub mod admin;
pub mod member;
pub mod netns;
pub mod proxy;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use serde_json::Value;
use zookeeper_client as zk;

use member::{CLIENT_PORT, ELECTION_PORT, Member, PEER_PORT};
use netns::Topology;
use proxy::{Links, MemberRelays};

/// Bound for a membership change or a leader transfer through the admin API.
const ADMIN_CHANGE_LIMIT: Duration = Duration::from_secs(20);

pub struct Cluster {
    binary: PathBuf,
    pub links: Arc<Links>,
    relays: Vec<MemberRelays>,
    members: Vec<Member>,
    /// The voters as the harness last learned them (from the leader when it could ask).
    voters: Mutex<Vec<usize>>,
    topology: Topology,
    // Last: the member dirs (and their unmounted disks) go once everything else is gone.
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Create the namespaces and start `voters` voting members plus `spares` members that wait
    /// to be added.
    pub fn start(
        binary: &Path,
        voters: usize,
        spares: usize,
        seed: u64,
    ) -> anyhow::Result<Cluster> {
        let total = voters + spares;
        let topology = netns::create(total)?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}{}-", netns::PREFIX, std::process::id()))
            .tempdir()
            .context("create the run's directory")?;
        let links = Arc::new(Links::default());
        let mut members = Vec::with_capacity(total);
        for id in 1..=total {
            members.push(Member::prepare(&topology, id, dir.path())?);
        }
        let mut relays = Vec::with_capacity(total);
        for id in 1..=total {
            relays.push(MemberRelays::start(
                &topology,
                id,
                PEER_PORT,
                links.clone(),
                seed.wrapping_add(id as u64),
            )?);
        }
        let voter_ids: Vec<usize> = (1..=voters).collect();
        let cluster = Cluster {
            binary: binary.to_path_buf(),
            links,
            relays,
            members,
            voters: Mutex::new(voter_ids.clone()),
            topology,
            _dir: dir,
        };
        for member in &cluster.members {
            member.write_config(&cluster.topology, &voter_ids)?;
            member.spawn(&cluster.topology, &cluster.binary)?;
        }
        Ok(cluster)
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn member(&self, id: usize) -> &Member {
        &self.members[id - 1]
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    pub fn voters(&self) -> Vec<usize> {
        self.lock_voters().clone()
    }

    /// Members not in the configuration, waiting to be added.
    pub fn spares(&self) -> Vec<usize> {
        let voters = self.voters();
        (1..=self.members.len())
            .filter(|id| !voters.contains(id))
            .collect()
    }

    /// A marker line in every member's log.
    pub fn mark(&self, text: &str) {
        for member in &self.members {
            member.mark(text);
        }
    }

    /// A member whose process exited without the harness killing it, with its status.
    pub fn crashed(&self) -> Option<(usize, String)> {
        self.members
            .iter()
            .find_map(|m| m.exited_on_its_own().map(|status| (m.id, status)))
    }

    /// The leader, as the running, unpaused members report it: the one that says it leads in
    /// the highest term.
    pub async fn leader(&self) -> Option<usize> {
        let mut best: Option<(u64, usize)> = None;
        for member in &self.members {
            if member.is_paused() || !member.is_running() {
                continue;
            }
            if let Some(view) = admin::membership(member.admin_addr()).await
                && view["is_leader"].as_bool() == Some(true)
            {
                let term = view["term"].as_u64().unwrap_or(0);
                if best.is_none_or(|(t, _)| term > t) {
                    best = Some((term, member.id));
                }
            }
        }
        best.map(|(_, id)| id)
    }

    /// Wait until every voter runs, the voters agree on one leader, and each voter grants a
    /// session; returns the leader. Refreshes the harness's view of the voters.
    pub async fn wait_healthy(&self, limit: Duration) -> anyhow::Result<usize> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some((id, status)) = self.crashed() {
                bail!("member {id} exited by itself ({status})");
            }
            let last = match self.health().await {
                Ok(leader) => return Ok(leader),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                bail!("the ensemble was not healthy within {limit:?}: {last}");
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn health(&self) -> anyhow::Result<usize> {
        let leader = self.leader().await.ok_or_else(|| anyhow!("no leader"))?;
        let view = admin::membership(self.member(leader).admin_addr())
            .await
            .ok_or_else(|| anyhow!("leader {leader} does not answer /membership"))?;
        let voters = admin::ids(&view, "voters");
        if view["changing"].as_bool() == Some(true) {
            bail!("a membership change is in progress");
        }
        *self.lock_voters() = voters.clone();
        for &id in &voters {
            let member = self.member(id);
            if !member.is_running() || member.is_paused() {
                bail!("voter {id} is not running");
            }
            let view = admin::membership(member.admin_addr())
                .await
                .ok_or_else(|| anyhow!("voter {id} does not answer /membership"))?;
            if view["leader"]["id"].as_u64() != Some(leader as u64) {
                bail!(
                    "voter {id} names leader {} (not {leader})",
                    view["leader"]["id"]
                );
            }
            session_probe(&member.client_addr().to_string())
                .await
                .with_context(|| format!("voter {id} grants no session"))?;
        }
        Ok(leader)
    }

    /// Send an admin change to the leader, retrying (also after "not the leader") until
    /// `ADMIN_CHANGE_LIMIT`; returns the final answer.
    pub async fn on_leader(&self, method: &str, path: &str, body: &str) -> anyhow::Result<Value> {
        let deadline = Instant::now() + ADMIN_CHANGE_LIMIT;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Some(leader) = self.leader().await {
                let addr = self.member(leader).admin_addr();
                match admin::request(addr, method, path, body, ADMIN_CHANGE_LIMIT).await {
                    Ok((200, answer)) => return Ok(answer),
                    Ok((status, answer)) => last = format!("{status}: {answer}"),
                    Err(e) => last = e.to_string(),
                }
                // A refusal (409 without a leader to follow) is final.
                if last.starts_with("409") && !last.contains("\"leader\"") {
                    bail!("{method} {path} refused: {last}");
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        bail!("{method} {path}: not done within {ADMIN_CHANGE_LIMIT:?}; last answer {last}")
    }

    /// Add spare `id` as a learner and promote it to voter.
    pub async fn grow(&self, id: usize) -> anyhow::Result<()> {
        let member = self.member(id);
        let body = format!(
            r#"{{"id": {id}, "addr": "m{id}:{PEER_PORT}", "election_port": {ELECTION_PORT}, "client_addr": "{}:{CLIENT_PORT}", "wait_secs": 15}}"#,
            member.ip
        );
        self.mark(&format!("membership: add learner {id}"));
        self.on_leader("POST", "/membership/learners", &body)
            .await?;
        self.mark(&format!("membership: promote {id}"));
        let answer = self
            .on_leader("POST", &format!("/membership/voters/{id}"), "")
            .await?;
        *self.lock_voters() = admin::ids(&answer["membership"], "voters");
        Ok(())
    }

    /// Remove voter `id`, then wipe it and start it again as a spare.
    pub async fn shrink(&self, id: usize) -> anyhow::Result<()> {
        self.mark(&format!("membership: remove {id}"));
        let answer = self
            .on_leader("DELETE", &format!("/membership/members/{id}"), "")
            .await?;
        let voters = admin::ids(&answer["membership"], "voters");
        *self.lock_voters() = voters.clone();
        let member = self.member(id);
        member.kill9();
        member.reset_data()?;
        member.write_config(&self.topology, &voters)?;
        member.spawn(&self.topology, &self.binary)
    }

    /// Move leadership to `id`.
    pub async fn transfer_leader(&self, id: usize) -> anyhow::Result<()> {
        self.mark(&format!("transfer leadership to {id}"));
        self.on_leader("POST", "/membership/leader", &format!(r#"{{"id": {id}}}"#))
            .await
            .map(|_| ())
    }

    /// Undo every fault: resume paused members, restart killed ones, heal partitions, clear
    /// link shapes, free disks.
    pub fn heal_all(&self) -> anyhow::Result<()> {
        for member in &self.members {
            member.resume();
            member.free_disk();
        }
        self.topology.heal()?;
        self.links.clear();
        for member in &self.members {
            if !member.is_running() {
                member.spawn(&self.topology, &self.binary)?;
            }
        }
        Ok(())
    }

    /// Every voter's tree under `root`, read after `sync`, compared: `Ok` with the number of
    /// znodes when all agree, else the differences. Retries for `limit` (sessions of the
    /// finished workload may still be expiring).
    pub async fn converged(&self, root: &str, limit: Duration) -> anyhow::Result<usize> {
        let deadline = Instant::now() + limit;
        loop {
            let attempt = self.compare_trees(root).await;
            match attempt {
                Ok(count) => return Ok(count),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    }

    async fn compare_trees(&self, root: &str) -> anyhow::Result<usize> {
        let mut trees: Vec<(usize, Tree)> = Vec::new();
        for id in self.voters() {
            let addr = self.member(id).client_addr().to_string();
            let tree = tokio::time::timeout(Duration::from_secs(30), read_tree(&addr, root))
                .await
                .map_err(|_| anyhow!("reading member {id}'s tree took over 30 s"))?
                .with_context(|| format!("read member {id}'s tree"))?;
            trees.push((id, tree));
        }
        let (first, reference) = trees.first().ok_or_else(|| anyhow!("no voters"))?;
        for (id, tree) in &trees[1..] {
            let differences = tree_differences(reference, tree);
            if !differences.is_empty() {
                bail!(
                    "members {first} and {id} hold different trees under {root} ({} differences, first ones:\n{})",
                    differences.len(),
                    differences[..differences.len().min(10)].join("\n")
                );
            }
        }
        Ok(reference.len())
    }

    fn lock_voters(&self) -> MutexGuard<'_, Vec<usize>> {
        self.voters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Copy every member's log into `dir`.
    pub fn save_logs(&self, dir: &Path) {
        for member in &self.members {
            let _ = std::fs::copy(
                &member.log_path,
                dir.join(format!("member-{}.log", member.id)),
            );
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Members first (their drop kills and unmounts), then the relays, then the namespaces
        // (the topology field drops after these).
        self.members.clear();
        self.relays.clear();
    }
}

/// Path → (data, Stat).
pub type Tree = BTreeMap<String, (Vec<u8>, zk::Stat)>;

/// A session on one member that reads `root` and everything below it after `sync`.
pub async fn read_tree(addr: &str, root: &str) -> Result<Tree, zk::Error> {
    let client = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .connect(addr)
        .await?;
    client.sync(root).await?;
    let mut tree = Tree::new();
    let mut pending = vec![root.to_string()];
    while let Some(path) = pending.pop() {
        let (data, stat) = match client.get_data(&path).await {
            Ok(found) => found,
            Err(zk::Error::NoNode) if path != root => continue,
            Err(e) => return Err(e),
        };
        let children = match client.list_children(&path).await {
            Ok(children) => children,
            Err(zk::Error::NoNode) => continue,
            Err(e) => return Err(e),
        };
        let prefix = if path == "/" {
            String::new()
        } else {
            path.clone()
        };
        pending.extend(children.iter().map(|child| format!("{prefix}/{child}")));
        tree.insert(path, (data, stat));
    }
    Ok(tree)
}

/// One line per path missing, extra or different in `other`.
pub fn tree_differences(reference: &Tree, other: &Tree) -> Vec<String> {
    let mut lines = Vec::new();
    for (path, entry) in reference {
        match other.get(path) {
            None => lines.push(format!("  {path}: missing")),
            Some(theirs) if theirs != entry => {
                lines.push(format!("  {path}: {entry:?} != {theirs:?}"))
            }
            Some(_) => {}
        }
    }
    for path in other.keys().filter(|p| !reference.contains_key(*p)) {
        lines.push(format!("  {path}: extra"));
    }
    lines
}

/// Open (and close) a session on `addr`, within 5 s.
async fn session_probe(addr: &str) -> anyhow::Result<()> {
    let connect = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(5))
        .with_fail_eagerly()
        .connect(addr);
    match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(_client)) => Ok(()),
        Ok(Err(e)) => Err(anyhow!("{e}")),
        Err(_) => Err(anyhow!("no session within 5 s")),
    }
}
