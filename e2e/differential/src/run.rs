//! The per-seed loop: generate an op, apply it to both targets, compare the results and the
//! watch notifications it caused, learn from the (agreed) result, repeat.

use std::collections::BTreeMap;
use std::fmt;

use crate::generate::Generator;
use crate::op::Op;
use crate::outcome::{Event, Outcome, agrees};
use crate::target::Target;

/// The first difference found in a seed.
#[derive(Debug)]
pub struct Mismatch {
    pub seed: u64,
    pub index: usize,
    pub op: Op,
    /// "result" or "watch events".
    pub what: &'static str,
    pub a: String,
    pub b: String,
}

impl Mismatch {
    pub fn report(&self, a_name: &str, b_name: &str) -> String {
        format!(
            "MISMATCH seed {} op {} ({}): {}\n  {:<10} {}\n  {:<10} {}\n  reproduce with: --first-seed {} --seeds 1 --ops {}",
            self.seed,
            self.index,
            self.what,
            self.op,
            format!("{a_name}:"),
            self.a,
            format!("{b_name}:"),
            self.b,
            self.seed,
            self.index + 1
        )
    }
}

/// How often each kind of op ended in each way, plus the watch notifications compared: shows
/// that a run exercised both success and error paths.
#[derive(Debug, Default)]
pub struct Tally {
    pub outcomes: BTreeMap<(&'static str, String), usize>,
    pub events: usize,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        for (key, n) in &other.outcomes {
            *self.outcomes.entry(key.clone()).or_default() += n;
        }
        self.events += other.events;
    }

    /// One line per op kind: `  kind: ok 120, NoNode 33, ...`.
    pub fn lines(&self) -> Vec<String> {
        let mut by_kind: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for ((kind, label), n) in &self.outcomes {
            by_kind
                .entry(kind)
                .or_default()
                .push(format!("{label} {n}"));
        }
        by_kind
            .into_iter()
            .map(|(kind, counts)| format!("  {kind}: {}", counts.join(", ")))
            .collect()
    }
}

#[derive(Debug)]
pub struct SeedResult {
    pub seed: u64,
    /// Ops applied to both targets (including the mismatching one).
    pub applied: usize,
    pub mismatch: Option<Mismatch>,
    /// Both targets failed the same op on the transport (timeouts, lost connections): their
    /// answers agree but say nothing about the tree, so the seed counts as failed.
    pub transport_failure: Option<(usize, Op, Outcome)>,
    pub tally: Tally,
}

impl SeedResult {
    pub fn passed(&self) -> bool {
        self.mismatch.is_none() && self.transport_failure.is_none()
    }
}

struct EventList<'a>(&'a [Event]);

impl fmt::Display for EventList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(no events)");
        }
        for (i, event) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{event}")?;
        }
        Ok(())
    }
}

pub async fn run_seed<A: Target, B: Target>(
    seed: u64,
    ops: usize,
    a: &mut A,
    b: &mut B,
) -> SeedResult {
    let mut generator = Generator::new(seed);
    let mut result = SeedResult {
        seed,
        applied: 0,
        mismatch: None,
        transport_failure: None,
        tally: Tally::default(),
    };
    for index in 0..ops {
        let op = generator.next_op();
        let (outcome_a, outcome_b) = tokio::join!(a.apply(index, &op), b.apply(index, &op));
        result.applied = index + 1;
        tracing::debug!(seed, index, op = %op, a = %outcome_a, b = %outcome_b, "applied");
        if !agrees(&outcome_a, &outcome_b) {
            result.mismatch = Some(Mismatch {
                seed,
                index,
                op,
                what: "result",
                a: outcome_a.to_string(),
                b: outcome_b.to_string(),
            });
            return result;
        }
        if outcome_a.is_transport_failure() {
            result.transport_failure = Some((index, op, outcome_a));
            return result;
        }
        *result
            .tally
            .outcomes
            .entry((op.kind(), outcome_a.label()))
            .or_default() += 1;
        generator.observe(&op, &outcome_a);
        if op.is_write() {
            let (events_a, events_b) = tokio::join!(a.take_events(&op), b.take_events(&op));
            if !events_a.is_empty() || !events_b.is_empty() {
                tracing::debug!(
                    seed,
                    index,
                    a = %EventList(&events_a),
                    b = %EventList(&events_b),
                    "watch events"
                );
            }
            if events_a != events_b {
                result.mismatch = Some(Mismatch {
                    seed,
                    index,
                    what: "watch events",
                    a: EventList(&events_a).to_string(),
                    b: EventList(&events_b).to_string(),
                    op,
                });
                return result;
            }
            result.tally.events += events_a.len();
        }
    }
    result
}

/// Wraps a target and alters its result of one op, so that a run can show that a difference
/// is caught and reported (`--self-test`).
pub struct Perturbed<T> {
    pub inner: T,
    pub at: usize,
}

/// Changes an outcome into one that differs from it.
pub fn perturb(outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Created { path, mut stat } => {
            stat.version += 1;
            Outcome::Created { path, stat }
        }
        Outcome::Stat(mut stat) => {
            stat.version += 1;
            Outcome::Stat(stat)
        }
        Outcome::Failed { error } => Outcome::failed(format!("{error} (perturbed)")),
        Outcome::Count(n) => Outcome::Count(n + 1),
        _ => Outcome::failed("perturbed"),
    }
}

impl<T: Target> Target for Perturbed<T> {
    async fn apply(&mut self, index: usize, op: &Op) -> Outcome {
        let outcome = self.inner.apply(index, op).await;
        if index == self.at {
            perturb(outcome)
        } else {
            outcome
        }
    }

    async fn take_events(&mut self, last: &Op) -> Vec<Event> {
        self.inner.take_events(last).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{NormStat, Owner};

    /// A stand-in server: every op answers with a value derived from the op alone, and every
    /// write to a path starting with `/a` notifies a watch. Two of them always agree.
    struct Echo {
        /// Index of an op whose events this fake reports differently, if any.
        odd_events_at: Option<usize>,
        last_index: usize,
    }

    impl Echo {
        fn new() -> Echo {
            Echo {
                odd_events_at: None,
                last_index: 0,
            }
        }
    }

    impl Target for Echo {
        async fn apply(&mut self, index: usize, op: &Op) -> Outcome {
            self.last_index = index;
            let text = op.to_string();
            if text.len().is_multiple_of(3) {
                Outcome::failed("NoNode")
            } else {
                Outcome::Stat(NormStat {
                    version: text.len() as i32,
                    cversion: 0,
                    aversion: 0,
                    owner: Owner::None,
                    data_length: 0,
                    num_children: 0,
                })
            }
        }

        async fn take_events(&mut self, last: &Op) -> Vec<Event> {
            let kind = if self.odd_events_at == Some(self.last_index) {
                "NodeDeleted"
            } else {
                "NodeDataChanged"
            };
            if last.to_string().contains(" /a") {
                vec![Event {
                    watch: 0,
                    kind: kind.into(),
                    path: "/a".into(),
                }]
            } else {
                Vec::new()
            }
        }
    }

    #[tokio::test]
    async fn agreeing_targets_pass_every_op() {
        let result = run_seed(4, 500, &mut Echo::new(), &mut Echo::new()).await;
        assert!(result.passed(), "{result:?}");
        assert_eq!(result.applied, 500);
        assert_eq!(result.tally.outcomes.values().sum::<usize>(), 500);
        assert!(result.tally.events > 0);
        let lines = result.tally.lines();
        assert!(lines.iter().any(|l| l.contains("NoNode")), "{lines:?}");
        assert!(lines.iter().any(|l| l.contains("ok")), "{lines:?}");
    }

    #[tokio::test]
    async fn a_perturbed_result_is_reported_at_its_op() {
        let mut b = Perturbed {
            inner: Echo::new(),
            at: 137,
        };
        let result = run_seed(4, 500, &mut Echo::new(), &mut b).await;
        let mismatch = result.mismatch.expect("the perturbed op must be reported");
        assert_eq!(mismatch.index, 137);
        assert_eq!(mismatch.what, "result");
        assert_eq!(result.applied, 138);
        let report = mismatch.report("zookeeper", "corral");
        assert!(report.starts_with("MISMATCH seed 4 op 137"), "{report}");
        assert!(report.contains("zookeeper:"), "{report}");
        assert!(
            report.contains("--first-seed 4 --seeds 1 --ops 138"),
            "{report}"
        );
    }

    #[tokio::test]
    async fn differing_watch_events_are_reported() {
        // Find a write to /a… the generator makes for this seed, and make B report its event
        // differently.
        let mut generator = Generator::new(8);
        let index = (0..500)
            .find(|_| {
                let op = generator.next_op();
                op.is_write() && op.to_string().contains(" /a")
            })
            .expect("seed 8 writes under /a");
        let mut b = Echo::new();
        b.odd_events_at = Some(index);
        let result = run_seed(8, 500, &mut Echo::new(), &mut b).await;
        let mismatch = result
            .mismatch
            .expect("the event difference must be reported");
        assert_eq!(mismatch.what, "watch events");
        assert_eq!(mismatch.index, index);
        assert!(mismatch.a.contains("NodeDataChanged"), "{mismatch:?}");
        assert!(mismatch.b.contains("NodeDeleted"), "{mismatch:?}");
    }

    #[tokio::test]
    async fn agreed_transport_failures_fail_the_seed() {
        struct Down;
        impl Target for Down {
            async fn apply(&mut self, _: usize, _: &Op) -> Outcome {
                Outcome::failed("ConnectionLoss")
            }
            async fn take_events(&mut self, _: &Op) -> Vec<Event> {
                Vec::new()
            }
        }
        let result = run_seed(1, 50, &mut Down, &mut Down).await;
        assert!(!result.passed());
        assert!(result.mismatch.is_none());
        assert_eq!(result.transport_failure.map(|t| t.0), Some(0));
    }

    #[test]
    fn perturbing_always_changes_an_outcome() {
        let samples = [
            Outcome::Done,
            Outcome::failed("NoNode"),
            Outcome::Count(3),
            Outcome::Exists(None),
            Outcome::Names(vec![]),
        ];
        for outcome in samples {
            assert_ne!(perturb(outcome.clone()), outcome);
        }
    }
}
