//! When faults start and heal: a pure function of the seed, the nemesis and the run's length.
//!
//! A run alternates quiet periods and fault periods. Each fault period applies a set of faults
//! (all of the nemesis's faults when it has one, else a random non-empty subset) and heals them
//! at its end. Which member a fault hits is chosen when it starts (the leader is only known
//! then), from the cycle's own seed, so a replay with the same seed makes the same choices
//! wherever the ensemble is in the same state.

use std::time::Duration;

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::matrix::{Fault, Nemesis};

/// Quiet time at the start, so that the workload is under way before the first fault.
pub const WARM_UP: Duration = Duration::from_secs(3);
/// Quiet time at the end, so that the last fault is healed while the clients still run.
pub const COOL_DOWN: Duration = Duration::from_secs(4);
const QUIET: (u64, u64) = (2_000, 5_000);
const FAULT: (u64, u64) = (3_000, 9_000);

/// One fault period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cycle {
    pub start: Duration,
    pub heal: Duration,
    pub faults: Vec<Fault>,
    /// Seeds the choice of targets when the cycle starts.
    pub seed: u64,
}

/// The fault periods of a run of `length`.
pub fn cycles(nemesis: &Nemesis, length: Duration, seed: u64) -> Vec<Cycle> {
    let faults = nemesis.faults();
    if faults.is_empty() {
        return Vec::new();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6e65_6d65_7369_7300);
    let last_heal = length.saturating_sub(COOL_DOWN);
    let mut at = WARM_UP;
    let mut cycles = Vec::new();
    loop {
        let start = at + Duration::from_millis(rng.random_range(QUIET.0..=QUIET.1));
        let heal = start + Duration::from_millis(rng.random_range(FAULT.0..=FAULT.1));
        if heal > last_heal {
            break;
        }
        let chosen = if faults.len() == 1 {
            faults.to_vec()
        } else {
            let mut chosen: Vec<Fault> = faults
                .iter()
                .copied()
                .filter(|_| rng.random_bool(0.5))
                .collect();
            if chosen.is_empty() {
                chosen.push(faults[rng.random_range(0..faults.len())]);
            }
            chosen
        };
        cycles.push(Cycle {
            start,
            heal,
            faults: chosen,
            seed: rng.random(),
        });
        at = heal;
    }
    cycles
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nemesis(text: &str) -> Nemesis {
        text.parse().unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule_and_another_seed_another() {
        let n = nemesis("kill+pause+slow");
        let length = Duration::from_secs(60);
        assert_eq!(cycles(&n, length, 42), cycles(&n, length, 42));
        assert_ne!(cycles(&n, length, 42), cycles(&n, length, 43));
    }

    #[test]
    fn cycles_are_ordered_disjoint_and_healed_before_the_cool_down() {
        let length = Duration::from_secs(120);
        for seed in 0..50 {
            let plan = cycles(&nemesis("all"), length, seed);
            assert!(!plan.is_empty());
            assert!(plan[0].start >= WARM_UP);
            for pair in plan.windows(2) {
                assert!(pair[0].heal <= pair[1].start);
            }
            for cycle in &plan {
                assert!(cycle.start < cycle.heal);
                assert!(cycle.heal <= length - COOL_DOWN);
                assert!(!cycle.faults.is_empty());
            }
        }
    }

    #[test]
    fn a_single_fault_is_in_every_cycle_and_none_makes_no_cycles() {
        let plan = cycles(&nemesis("kill-leader"), Duration::from_secs(60), 1);
        assert!(plan.iter().all(|c| c.faults == vec![Fault::KillLeader]));
        assert!(cycles(&nemesis("none"), Duration::from_secs(60), 1).is_empty());
        // Too short for even one cycle.
        assert!(cycles(&nemesis("kill"), Duration::from_secs(5), 1).is_empty());
    }

    #[test]
    fn combined_nemeses_apply_several_faults_at_once_sometimes() {
        let plan = cycles(&nemesis("all"), Duration::from_secs(600), 9);
        assert!(plan.iter().any(|c| c.faults.len() > 1));
        let used: std::collections::BTreeSet<Fault> =
            plan.iter().flat_map(|c| c.faults.iter().copied()).collect();
        assert_eq!(used.len(), Fault::ALL.len());
    }
}
