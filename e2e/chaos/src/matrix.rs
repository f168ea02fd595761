//! The names of workloads and nemeses, and which runs a session makes: the full matrix fitted
//! into a time budget, the quick subset CI runs, or one run to replay.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

/// What the clients do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Workload {
    Register,
    Set,
    UniqueIds,
    Queue,
    Lock,
}

impl Workload {
    pub const ALL: [Workload; 5] = [
        Workload::Register,
        Workload::Set,
        Workload::UniqueIds,
        Workload::Queue,
        Workload::Lock,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Register => "register",
            Workload::Set => "set",
            Workload::UniqueIds => "unique-ids",
            Workload::Queue => "queue",
            Workload::Lock => "lock",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(s: &str) -> Result<Workload, String> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown workload {s:?}; choose one of: {}",
                    Workload::ALL.map(Workload::name).join(", ")
                )
            })
    }
}

/// One kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Fault {
    /// kill -9 a random member; restart it when healing.
    Kill,
    /// kill -9 the leader; restart it when healing.
    KillLeader,
    /// SIGSTOP a random member (sometimes the leader), like a long GC pause; SIGCONT it when
    /// healing.
    Pause,
    /// Split the members into a random minority and majority.
    PartitionMajority,
    /// Cut the leader off from every other member.
    PartitionLeader,
    /// A-B-C: B sees both sides, A and C do not see each other.
    PartitionBridge,
    /// Delay (with jitter) every peer link and sever peer connections now and then.
    Slow,
    /// Move leadership to another voter through the admin API.
    LeaderTransfer,
    /// Add a spare member as a voter, or remove a voter (then wipe it and keep it as a spare).
    Membership,
    /// Fill one member's data disk (below --min-free-disk-mb, or completely).
    DiskFull,
}

impl Fault {
    pub const ALL: [Fault; 10] = [
        Fault::Kill,
        Fault::KillLeader,
        Fault::Pause,
        Fault::PartitionMajority,
        Fault::PartitionLeader,
        Fault::PartitionBridge,
        Fault::Slow,
        Fault::LeaderTransfer,
        Fault::Membership,
        Fault::DiskFull,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::KillLeader => "kill-leader",
            Fault::Pause => "pause",
            Fault::PartitionMajority => "partition-majority",
            Fault::PartitionLeader => "partition-leader",
            Fault::PartitionBridge => "partition-bridge",
            Fault::Slow => "slow",
            Fault::LeaderTransfer => "leader-transfer",
            Fault::Membership => "membership",
            Fault::DiskFull => "disk-full",
        }
    }
}

/// The faults of one run, applied together in each cycle (a random non-empty subset of them
/// when there are several). Empty: no faults at all.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Nemesis(pub Vec<Fault>);

impl Nemesis {
    pub fn faults(&self) -> &[Fault] {
        &self.0
    }

    pub fn contains(&self, fault: Fault) -> bool {
        self.0.contains(&fault)
    }

    /// Spare members to start beside the voters: a membership change needs someone to add.
    pub fn spares(&self) -> usize {
        if self.contains(Fault::Membership) {
            2
        } else {
            0
        }
    }
}

impl fmt::Display for Nemesis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        if self.0.len() == Fault::ALL.len() {
            return f.write_str("all");
        }
        let names: Vec<&str> = self.0.iter().map(|fault| fault.name()).collect();
        f.write_str(&names.join("+"))
    }
}

impl FromStr for Nemesis {
    type Err = String;

    /// `none`, `all`, or fault names joined with `+` (`kill+partition-leader`).
    fn from_str(s: &str) -> Result<Nemesis, String> {
        match s {
            "none" => return Ok(Nemesis(Vec::new())),
            "all" => return Ok(Nemesis(Fault::ALL.to_vec())),
            _ => {}
        }
        let mut faults = Vec::new();
        for part in s.split('+') {
            let fault = Fault::ALL
                .into_iter()
                .find(|f| f.name() == part)
                .ok_or_else(|| {
                    format!(
                        "unknown fault {part:?} in nemesis {s:?}; use none, all, or names \
                         joined with '+' from: {}",
                        Fault::ALL.map(Fault::name).join(", ")
                    )
                })?;
            if !faults.contains(&fault) {
                faults.push(fault);
            }
        }
        faults.sort();
        Ok(Nemesis(faults))
    }
}

/// The nemeses of the full matrix: none, each fault alone, some pairs, and everything at once.
pub fn full_nemeses() -> Vec<Nemesis> {
    let mut all = vec![Nemesis(Vec::new())];
    all.extend(Fault::ALL.iter().map(|f| Nemesis(vec![*f])));
    for combo in [
        "kill+partition-majority",
        "pause+slow",
        "partition-leader+leader-transfer",
        "kill+membership",
        "partition-bridge+disk-full",
        "all",
    ] {
        all.push(combo.parse().expect("a valid built-in combination"));
    }
    all
}

/// One run of the matrix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Planned {
    pub workload: Workload,
    pub nemesis: Nemesis,
    pub seed: u64,
    pub duration: Duration,
    /// Voting members at the start (3 or 5).
    pub members: usize,
}

/// Time a run takes beyond its workload: starting the ensemble, healing, final reads,
/// comparing the members' trees, checking, tearing down. Measured on the 2-core machine.
pub const RUN_OVERHEAD: Duration = Duration::from_secs(15);
/// Workload durations the full matrix chooses between.
const SHORTEST_RUN: Duration = Duration::from_secs(30);
const LONGEST_RUN: Duration = Duration::from_secs(90);

/// Every workload × nemesis pair, ordered so that any prefix spreads over both: the pairs come
/// in diagonals (workload w with nemesis (w + d) mod N), and the diagonals in the order
/// 0, W, 2W, …, 1, W+1, … so that the first ⌈N/W⌉ diagonals already cover every nemesis with
/// every workload in each.
pub fn ordered_pairs(workloads: &[Workload], nemeses: &[Nemesis]) -> Vec<(Workload, Nemesis)> {
    let (w, n) = (workloads.len(), nemeses.len());
    if w == 0 || n == 0 {
        return Vec::new();
    }
    let mut diagonals: Vec<usize> = Vec::with_capacity(n);
    for start in 0..w.min(n) {
        diagonals.extend((start..n).step_by(w));
    }
    let mut pairs = Vec::with_capacity(w * n);
    for d in diagonals {
        for (i, workload) in workloads.iter().enumerate() {
            pairs.push((*workload, nemeses[(i + d) % n].clone()));
        }
    }
    pairs
}

/// The full matrix fitted into `budget`. Each run lasts `run_length` if given, else as long as
/// fits between the shortest and longest run length; then as many runs as fit are planned,
/// in [`ordered_pairs`] order, starting the matrix over (with new seeds) when a budget holds
/// more than one pass. Seeds follow from `base_seed`.
pub fn full_plan(budget: Duration, base_seed: u64, run_length: Option<Duration>) -> Vec<Planned> {
    let pairs = ordered_pairs(&Workload::ALL, &full_nemeses());
    let duration = run_length.unwrap_or_else(|| {
        (budget / pairs.len() as u32)
            .saturating_sub(RUN_OVERHEAD)
            .clamp(SHORTEST_RUN, LONGEST_RUN)
    });
    let fit = (budget.as_secs() / (duration + RUN_OVERHEAD).as_secs().max(1)).max(1) as usize;
    pairs
        .into_iter()
        .cycle()
        .take(fit)
        .enumerate()
        .map(|(i, (workload, nemesis))| Planned {
            // Every third run on five voters; membership changes grow from three.
            members: if i % 3 == 2 && !nemesis.contains(Fault::Membership) {
                5
            } else {
                3
            },
            workload,
            nemesis,
            seed: base_seed.wrapping_add(i as u64),
            duration,
        })
        .collect()
}

/// The quick subset for CI (under 10 minutes on the 2-core machine): every workload once, and
/// the faults that have found the most trouble elsewhere — a leader cut off, the leader
/// killed, a paused member, a bridge, membership changes and slow links — two of them combined.
pub fn quick_plan(base_seed: u64) -> Vec<Planned> {
    let runs = [
        (Workload::Register, "partition-leader"),
        (Workload::Queue, "kill-leader"),
        (Workload::Set, "pause+slow"),
        (Workload::UniqueIds, "partition-bridge"), // on five voters, see below
        (Workload::Lock, "partition-majority"),
        (Workload::Register, "kill+membership"),
    ];
    runs.into_iter()
        .enumerate()
        .map(|(i, (workload, nemesis))| Planned {
            members: if workload == Workload::UniqueIds {
                5
            } else {
                3
            },
            workload,
            nemesis: nemesis.parse().expect("a valid built-in nemesis"),
            seed: base_seed.wrapping_add(i as u64),
            duration: Duration::from_secs(45),
        })
        .collect()
}

/// A run that once found a bug in the node, replayed with its seed, workload, nemesis,
/// duration and size, so that the bug stays fixed.
pub struct Regression {
    pub seed: u64,
    pub workload: Workload,
    pub nemesis: &'static str,
    pub duration_secs: u64,
    pub members: usize,
    /// What it found, and where the fix is tested without the harness.
    pub found: &'static str,
}

pub const REGRESSIONS: &[Regression] = &[
    Regression {
        seed: 5,
        workload: Workload::Lock,
        nemesis: "partition-majority",
        duration_secs: 45,
        members: 3,
        found: "two lock holders at once: a follower's session touches waited 10 s on the cut-off \
                leader, so the new leader expired sessions that were pinging \
                (sidecar/tests/ensemble.rs sessions_pinging_followers_outlive_a_frozen_leader)",
    },
    Regression {
        seed: 15,
        workload: Workload::Lock,
        nemesis: "partition-majority+partition-leader",
        duration_secs: 40,
        members: 3,
        found: "two lock holders at once after the leader was isolated (same cause as seed 5)",
    },
    Regression {
        seed: 3,
        workload: Workload::Set,
        nemesis: "pause+slow",
        duration_secs: 45,
        members: 3,
        found: "a member never served again: a log line that could not be written (host disk \
                full) panicked its Raft core, and the node kept its ports open \
                (sidecar/tests/disk_full.rs a_full_disk_under_the_log_output_loses_log_lines_only, \
                storage_faults.rs a_fatal_log_failure_makes_the_node_exit_with_the_reason)",
    },
];

/// Every regression replay, in order.
pub fn regression_plan() -> Vec<Planned> {
    REGRESSIONS
        .iter()
        .map(|r| Planned {
            workload: r.workload,
            nemesis: r.nemesis.parse().expect("a valid built-in nemesis"),
            seed: r.seed,
            duration: Duration::from_secs(r.duration_secs),
            members: r.members,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn regression_replays_parse() {
        let plan = regression_plan();
        assert_eq!(plan.len(), REGRESSIONS.len());
        assert!(plan.iter().all(|p| p.members == 3 || p.members == 5));
    }

    #[test]
    fn nemesis_names_round_trip_and_combine() {
        for text in ["none", "all", "kill", "kill+partition-leader", "disk-full"] {
            let nemesis: Nemesis = text.parse().unwrap();
            assert_eq!(nemesis.to_string(), text);
        }
        let sorted: Nemesis = "slow+kill+slow".parse().unwrap();
        assert_eq!(sorted.faults(), &[Fault::Kill, Fault::Slow]);
        let err = "kill+explode".parse::<Nemesis>().unwrap_err();
        assert!(
            err.contains("explode") && err.contains("partition-bridge"),
            "{err}"
        );
        assert_eq!("membership".parse::<Nemesis>().unwrap().spares(), 2);
        assert_eq!("kill".parse::<Nemesis>().unwrap().spares(), 0);
        assert!("queue".parse::<Workload>().is_ok());
        assert!(
            "bank"
                .parse::<Workload>()
                .unwrap_err()
                .contains("unique-ids")
        );
    }

    #[test]
    fn ordered_pairs_cover_everything_once_and_spread_early() {
        let nemeses = full_nemeses();
        let pairs = ordered_pairs(&Workload::ALL, &nemeses);
        assert_eq!(pairs.len(), Workload::ALL.len() * nemeses.len());
        let distinct: BTreeSet<_> = pairs.iter().cloned().collect();
        assert_eq!(distinct.len(), pairs.len());
        // The first ⌈N/W⌉ diagonals cover every nemesis.
        let first = nemeses.len().div_ceil(Workload::ALL.len()) * Workload::ALL.len();
        let covered: BTreeSet<_> = pairs[..first].iter().map(|(_, n)| n.clone()).collect();
        assert_eq!(covered.len(), nemeses.len());
        // Any W consecutive pairs from the start run every workload.
        let workloads: BTreeSet<_> = pairs[..5].iter().map(|(w, _)| *w).collect();
        assert_eq!(workloads.len(), 5);
    }

    #[test]
    fn the_full_plan_fits_its_budget() {
        for minutes in [5, 30, 60, 600] {
            let budget = Duration::from_secs(minutes * 60);
            let plan = full_plan(budget, 100, None);
            let total: Duration = plan.iter().map(|p| p.duration + RUN_OVERHEAD).sum();
            assert!(!plan.is_empty());
            assert!(
                total <= budget || plan.len() == 1,
                "{minutes} min: {total:?}"
            );
            assert!(plan.iter().all(|p| p.duration >= SHORTEST_RUN));
            assert_eq!(plan[1].seed, 101);
        }
        // A long budget runs longer runs, and the whole matrix more than once.
        let matrix = Workload::ALL.len() * full_nemeses().len();
        let long = full_plan(Duration::from_secs(600 * 60), 0, None);
        assert_eq!(long[0].duration, LONGEST_RUN);
        assert!(long.len() > 2 * matrix);
        assert_eq!(long[matrix].workload, long[0].workload);
        assert_eq!(long[matrix].nemesis, long[0].nemesis);
        assert_ne!(long[matrix].seed, long[0].seed);
    }

    #[test]
    fn a_fixed_run_length_fits_more_runs_than_the_matrix_holds() {
        let matrix = Workload::ALL.len() * full_nemeses().len();
        let run = Duration::from_secs(30);
        let plan = full_plan(Duration::from_secs(80 * 60), 0, Some(run));
        assert_eq!(plan.len(), 80 * 60 / (30 + RUN_OVERHEAD.as_secs()) as usize);
        assert!(plan.len() > matrix);
        assert!(plan.iter().all(|p| p.duration == run));
    }

    #[test]
    fn the_quick_plan_runs_every_workload_within_ten_minutes() {
        let plan = quick_plan(7);
        let workloads: BTreeSet<_> = plan.iter().map(|p| p.workload).collect();
        assert_eq!(workloads.len(), Workload::ALL.len());
        let total: Duration = plan.iter().map(|p| p.duration + RUN_OVERHEAD).sum();
        assert!(total < Duration::from_secs(600), "{total:?}");
    }
}
