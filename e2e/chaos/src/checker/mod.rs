//! Judging a run's history: linearizability for the register and the queue, direct invariants
//! for the set, the unique ids and the lock, and a count of acknowledged writes missing at the
//! end.

pub mod invariants;
pub mod linearizable;

use std::collections::BTreeSet;

use serde::Serialize;

use crate::history::{self, Op, OpKind, Outcome};
use crate::matrix::Workload;
use linearizable::{CasRegister, FifoQueue, Verdict};

/// Reference-object steps one key's linearizability check may take: enough for the short
/// per-key histories the workloads produce, small enough to finish in seconds.
pub const STEP_BUDGET: u64 = 3_000_000;

/// What the checkers found in one history.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Findings {
    pub keys: usize,
    /// One line per anomaly.
    pub anomalies: Vec<String>,
    /// Acknowledged writes missing at the end (set elements, unique ids, queue items);
    /// `None` where the workload has no such count (a register is overwritten on purpose).
    pub lost_writes: Option<usize>,
    /// Keys whose linearizability check ran out of budget (neither passed nor failed).
    pub gave_up: usize,
}

/// Judge a history of `workload`.
pub fn check(workload: Workload, ops: &[Op], lock_slack_ns: u64) -> Findings {
    let keys = history::keys(ops);
    let mut findings = Findings {
        keys: keys.len(),
        ..Findings::default()
    };
    for key in &keys {
        let key_ops = history::of_key(ops, key);
        match workload {
            Workload::Register => {
                let entries = linearizable::register_entries(&key_ops);
                let verdict = linearizable::check(CasRegister(0), &entries, STEP_BUDGET);
                let witness = (verdict == Verdict::NotLinearizable)
                    .then(|| linearizable::stale_read_witness(&key_ops))
                    .flatten();
                judge(&mut findings, key, verdict, witness);
            }
            Workload::Queue => {
                let entries = linearizable::queue_entries(&key_ops);
                let verdict = linearizable::check(FifoQueue::default(), &entries, STEP_BUDGET);
                judge(&mut findings, key, verdict, None);
                *findings.lost_writes.get_or_insert(0) += lost_queue_items(&key_ops);
            }
            Workload::Set => {
                let found = invariants::check_set(&key_ops);
                *findings.lost_writes.get_or_insert(0) += lost_set_elements(&key_ops);
                prefixed(&mut findings, key, found);
            }
            Workload::UniqueIds => {
                let found = invariants::check_unique_ids(&key_ops);
                *findings.lost_writes.get_or_insert(0) += found
                    .iter()
                    .filter(|line| line.contains("lost writes"))
                    .count();
                prefixed(&mut findings, key, found);
            }
            Workload::Lock => {
                let found = invariants::check_lock(&key_ops, lock_slack_ns);
                prefixed(&mut findings, key, found);
            }
        }
    }
    findings
}

/// The workload a history came from, recognised by its first operation.
pub fn workload_of(ops: &[Op]) -> Option<Workload> {
    ops.first().map(|op| match op.kind {
        OpKind::Read { .. } | OpKind::Write { .. } | OpKind::Cas { .. } => Workload::Register,
        OpKind::Add { .. } | OpKind::ReadSet { .. } => Workload::Set,
        OpKind::NextId { .. } => Workload::UniqueIds,
        OpKind::Enqueue { .. } | OpKind::Dequeue { .. } => Workload::Queue,
        OpKind::Hold { .. } | OpKind::FencedWrite { .. } => Workload::Lock,
    })
}

fn judge(findings: &mut Findings, key: &str, verdict: Verdict, witness: Option<String>) {
    match verdict {
        Verdict::Linearizable => {}
        Verdict::GaveUp => findings.gave_up += 1,
        Verdict::NotLinearizable => findings.anomalies.push(format!(
            "{key}: not linearizable: {}",
            witness.unwrap_or_else(|| "see history.json for its operations".into())
        )),
        Verdict::Invalid(why) => findings.anomalies.push(format!(
            "{key}: the harness recorded an invalid history: {why}"
        )),
    }
}

fn prefixed(findings: &mut Findings, key: &str, found: Vec<String>) {
    findings
        .anomalies
        .extend(found.into_iter().map(|line| format!("{key}: {line}")));
}

/// Acknowledged set elements absent from the last read (taken after healing), counting only
/// adds acknowledged before that read began (without a final read, the last read of the run
/// may be concurrent with later adds).
fn lost_set_elements(ops: &[&Op]) -> usize {
    let Some((last, read_at)) = ops
        .iter()
        .filter(|op| op.outcome == Outcome::Ok)
        .filter_map(|op| match &op.kind {
            OpKind::ReadSet { elements: Some(e) } => {
                Some((e.iter().copied().collect::<BTreeSet<u64>>(), op.invoke_ns))
            }
            _ => None,
        })
        .max_by_key(|(_, at)| *at)
    else {
        return 0;
    };
    ops.iter()
        .filter(|op| op.outcome == Outcome::Ok && op.complete_ns < read_at)
        .filter(|op| matches!(op.kind, OpKind::Add { element } if !last.contains(&element)))
        .count()
}

/// Acknowledged enqueues never dequeued, beyond what the unknown dequeues could have taken. The
/// queue is drained after healing, so every value still there is dequeued by then.
fn lost_queue_items(ops: &[&Op]) -> usize {
    let mut dequeued = BTreeSet::new();
    let mut unknown_dequeues = 0;
    for op in ops {
        match (&op.kind, op.outcome) {
            (OpKind::Dequeue { value: Some(v) }, Outcome::Ok) => {
                dequeued.insert(*v);
            }
            (OpKind::Dequeue { .. }, Outcome::Info) => unknown_dequeues += 1,
            _ => {}
        }
    }
    let missing = ops
        .iter()
        .filter(|op| op.outcome == Outcome::Ok)
        .filter(|op| matches!(op.kind, OpKind::Enqueue { value } if !dequeued.contains(&value)))
        .count();
    missing.saturating_sub(unknown_dequeues)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::test_support::op;

    #[test]
    fn a_register_history_is_judged_per_key() {
        let mut stale = vec![
            op(0, OpKind::Write { value: 1 }, Outcome::Ok, 0, 10),
            op(1, OpKind::Read { value: Some(0) }, Outcome::Ok, 20, 30),
        ];
        let mut fine = stale.clone();
        for o in &mut fine {
            o.key = "other".into();
        }
        fine[1].kind = OpKind::Read { value: Some(1) };
        stale.extend(fine);
        let findings = check(Workload::Register, &stale, 0);
        assert_eq!(findings.keys, 2);
        assert_eq!(findings.anomalies.len(), 1);
        assert!(findings.anomalies[0].starts_with("k: not linearizable"));
        assert_eq!(findings.lost_writes, None);
    }

    #[test]
    fn lost_queue_items_count_what_unknown_dequeues_cannot_explain() {
        let enq = |v| op(0, OpKind::Enqueue { value: v }, Outcome::Ok, 0, 1);
        let ops = [
            enq(1),
            enq(2),
            enq(3),
            op(1, OpKind::Dequeue { value: Some(1) }, Outcome::Ok, 2, 3),
            op(2, OpKind::Dequeue { value: None }, Outcome::Info, 4, 5),
            op(3, OpKind::Dequeue { value: None }, Outcome::Ok, 6, 7),
        ];
        let refs: Vec<&Op> = ops.iter().collect();
        assert_eq!(lost_queue_items(&refs), 1);
        let findings = check(Workload::Queue, &ops, 0);
        assert_eq!(findings.lost_writes, Some(1));
        assert_eq!(findings.anomalies.len(), 1, "{:?}", findings.anomalies);
    }

    #[test]
    fn lost_set_elements_are_counted_against_the_last_read() {
        let ops = [
            op(0, OpKind::Add { element: 1 }, Outcome::Ok, 0, 1),
            op(0, OpKind::Add { element: 2 }, Outcome::Ok, 2, 3),
            // Acknowledged after the last read began: not counted against it.
            op(0, OpKind::Add { element: 3 }, Outcome::Ok, 4, 9),
            op(
                1,
                OpKind::ReadSet {
                    elements: Some(vec![1]),
                },
                Outcome::Ok,
                4,
                5,
            ),
        ];
        let findings = check(Workload::Set, &ops, 0);
        assert_eq!(findings.lost_writes, Some(1));
        assert_eq!(findings.anomalies.len(), 1);
    }
}
