//! Carrying out a schedule of fault cycles on a live cluster (see schedule.rs for when).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::seq::{IndexedRandom as _, SliceRandom as _};
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

use crate::cluster::Cluster;
use crate::cluster::member::MIN_FREE_DISK_MB;
use crate::cluster::proxy::Shape;
use crate::matrix::Fault;
use crate::schedule::Cycle;

/// What the nemesis did, on the history's clock (seconds since the run started) and with the
/// wall-clock time (UTC) that the member logs use.
pub struct Journal {
    origin: Instant,
    lines: Mutex<Vec<String>>,
}

impl Journal {
    pub fn new(origin: Instant) -> Journal {
        Journal {
            origin,
            lines: Mutex::new(Vec::new()),
        }
    }

    pub fn note(&self, cluster: &Cluster, text: String) {
        let line = format!(
            "{:>8.3}s ({}) {text}",
            self.origin.elapsed().as_secs_f64(),
            wall_clock()
        );
        tracing::info!("nemesis: {text}");
        cluster.mark(&line);
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    }

    /// The wall-clock time of the history's time 0.
    pub fn origin_wall_clock(&self) -> String {
        let now = std::time::SystemTime::now();
        wall_clock_of(now - self.origin.elapsed())
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn wall_clock() -> String {
    wall_clock_of(std::time::SystemTime::now())
}

/// `HH:MM:SS.mmmZ` of a time, as the member logs print it.
fn wall_clock_of(time: std::time::SystemTime) -> String {
    let since = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        since.subsec_millis()
    )
}

/// Run every cycle: apply its faults at its start, heal everything at its end. Faults the
/// cluster refuses (a membership change during a partition, say) are noted and skipped; a
/// failure of the harness's own machinery ends the run.
pub async fn run(
    cluster: &Cluster,
    cycles: &[Cycle],
    start: Instant,
    journal: &Journal,
) -> anyhow::Result<()> {
    for cycle in cycles {
        tokio::time::sleep_until((start + cycle.start).into()).await;
        let mut rng = ChaCha8Rng::seed_from_u64(cycle.seed);
        for fault in &cycle.faults {
            match apply(cluster, *fault, &mut rng).await {
                Ok(what) => journal.note(cluster, what),
                Err(e) => journal.note(cluster, format!("{}: skipped: {e:#}", fault.name())),
            }
        }
        tokio::time::sleep_until((start + cycle.heal).into()).await;
        cluster.heal_all()?;
        journal.note(cluster, "heal everything".into());
    }
    Ok(())
}

/// Voters that run and are not paused.
fn live_voters(cluster: &Cluster) -> Vec<usize> {
    cluster
        .voters()
        .into_iter()
        .filter(|&id| cluster.member(id).is_running() && !cluster.member(id).is_paused())
        .collect()
}

fn pick(ids: &[usize], rng: &mut ChaCha8Rng) -> anyhow::Result<usize> {
    ids.choose(rng)
        .copied()
        .ok_or_else(|| anyhow::anyhow!("no member to choose from"))
}

async fn leader_or_any(cluster: &Cluster, rng: &mut ChaCha8Rng) -> anyhow::Result<usize> {
    match cluster.leader().await {
        Some(leader) => Ok(leader),
        None => pick(&live_voters(cluster), rng),
    }
}

/// Apply one fault; the description of what was done.
async fn apply(cluster: &Cluster, fault: Fault, rng: &mut ChaCha8Rng) -> anyhow::Result<String> {
    let voters = cluster.voters();
    match fault {
        Fault::Kill => {
            let id = pick(&live_voters(cluster), rng)?;
            cluster.member(id).kill9();
            Ok(format!("kill -9 member {id}"))
        }
        Fault::KillLeader => {
            let id = leader_or_any(cluster, rng).await?;
            cluster.member(id).kill9();
            Ok(format!("kill -9 the leader, member {id}"))
        }
        Fault::Pause => {
            let id = if rng.random_bool(0.3) {
                leader_or_any(cluster, rng).await?
            } else {
                pick(&live_voters(cluster), rng)?
            };
            cluster.member(id).pause();
            Ok(format!("SIGSTOP member {id}"))
        }
        Fault::PartitionMajority => {
            let mut shuffled = voters.clone();
            shuffled.shuffle(rng);
            let minority_size = (shuffled.len() - 1) / 2;
            let (minority, majority) = shuffled.split_at(minority_size.max(1));
            cluster.topology().cut(minority, majority)?;
            Ok(format!("partition {minority:?} | {majority:?}"))
        }
        Fault::PartitionLeader => {
            let leader = leader_or_any(cluster, rng).await?;
            let others: Vec<usize> = (1..=cluster.members().len())
                .filter(|&id| id != leader)
                .collect();
            cluster.topology().cut(&[leader], &others)?;
            Ok(format!("isolate the leader, member {leader}"))
        }
        Fault::PartitionBridge => {
            let mut shuffled = voters.clone();
            shuffled.shuffle(rng);
            let bridge = shuffled.remove(0);
            let (left, right) = shuffled.split_at(shuffled.len() / 2);
            cluster.topology().cut(left, right)?;
            Ok(format!(
                "bridge: {left:?} and {right:?} cannot see each other, member {bridge} sees both"
            ))
        }
        Fault::Slow => {
            let shape = Shape {
                delay: Duration::from_millis(rng.random_range(30..400)),
                jitter: Duration::from_millis(rng.random_range(0..150)),
                sever_per_sec: rng.random_range(0.0..0.3),
            };
            let all = 1..=cluster.members().len();
            let target = rng
                .random_bool(0.5)
                .then(|| pick(&voters, rng))
                .transpose()?;
            for from in all.clone() {
                for to in all.clone() {
                    if from != to && target.is_none_or(|t| t == from || t == to) {
                        cluster.links.set(from, to, shape);
                    }
                }
            }
            Ok(match target {
                Some(t) => format!("slow links of member {t}: {shape:?}"),
                None => format!("slow links everywhere: {shape:?}"),
            })
        }
        Fault::LeaderTransfer => {
            let leader = leader_or_any(cluster, rng).await?;
            let others: Vec<usize> = live_voters(cluster)
                .into_iter()
                .filter(|&id| id != leader)
                .collect();
            let target = pick(&others, rng)?;
            cluster.transfer_leader(target).await?;
            Ok(format!(
                "leadership moved from member {leader} to member {target}"
            ))
        }
        Fault::Membership => {
            let spares = cluster.spares();
            let grow = !spares.is_empty() && (voters.len() <= 3 || rng.random_bool(0.5));
            if grow {
                let id = pick(&spares, rng)?;
                cluster.grow(id).await?;
                Ok(format!("membership: member {id} added as a voter"))
            } else if voters.len() > 3 {
                let id = pick(&voters, rng)?;
                cluster.shrink(id).await?;
                Ok(format!(
                    "membership: member {id} removed (wiped, restarted as a spare)"
                ))
            } else {
                anyhow::bail!("no spare to add and too few voters to remove one")
            }
        }
        Fault::DiskFull => {
            let id = pick(&live_voters(cluster), rng)?;
            let completely = rng.random_bool(0.5);
            let leave = if completely {
                0
            } else {
                MIN_FREE_DISK_MB * 1024 * 1024 / 2
            };
            let member = cluster.member(id);
            tokio::task::block_in_place(|| member.fill_disk(leave))?;
            Ok(if completely {
                format!("member {id}'s disk filled completely")
            } else {
                format!("member {id}'s disk filled below --min-free-disk-mb")
            })
        }
    }
}
