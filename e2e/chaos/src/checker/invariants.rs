//! Direct checks of the grow-only set, unique-id and lock histories. Each returns one line per
//! anomaly, naming the operations involved, and an empty list when the history is fine.
//!
//! "Before" always means real time as the client saw it: operation A precedes B when A
//! completed before B was invoked. Unknown (`info`) operations are allowed to have happened or
//! not, at any time after their invocation.

use std::collections::{BTreeMap, BTreeSet};

use crate::history::{Op, OpKind, Outcome};

fn ms(ns: u64) -> String {
    format!("{:.3}s", ns as f64 / 1e9)
}

/// The grow-only set on one key: every acknowledged add is in every read invoked after it was
/// acknowledged; nothing appears that nobody tried to add (or that failed); an element once
/// read is in every read invoked after that read completed.
pub fn check_set(ops: &[&Op]) -> Vec<String> {
    let mut anomalies = Vec::new();
    let mut acked: BTreeMap<u64, u64> = BTreeMap::new(); // element -> ack time
    let mut attempted: BTreeSet<u64> = BTreeSet::new();
    let mut failed: BTreeSet<u64> = BTreeSet::new();
    let mut reads: Vec<(&Op, BTreeSet<u64>)> = Vec::new();
    for op in ops {
        match (&op.kind, op.outcome) {
            (OpKind::Add { element }, Outcome::Ok) => {
                acked.insert(*element, op.complete_ns);
                attempted.insert(*element);
            }
            (OpKind::Add { element }, Outcome::Info) => {
                attempted.insert(*element);
            }
            (OpKind::Add { element }, Outcome::Fail) => {
                failed.insert(*element);
            }
            (
                OpKind::ReadSet {
                    elements: Some(elements),
                },
                Outcome::Ok,
            ) => reads.push((op, elements.iter().copied().collect())),
            _ => {}
        }
    }
    for (read, elements) in &reads {
        for e in elements {
            if failed.contains(e) && !attempted.contains(e) {
                anomalies.push(format!(
                    "read [{} - {}] (process {}) holds element {e}, whose add failed",
                    ms(read.invoke_ns),
                    ms(read.complete_ns),
                    read.process
                ));
            } else if !attempted.contains(e) {
                anomalies.push(format!(
                    "read [{} - {}] (process {}) holds element {e}, which nobody added",
                    ms(read.invoke_ns),
                    ms(read.complete_ns),
                    read.process
                ));
            }
        }
        let missing: Vec<u64> = acked
            .iter()
            .filter(|(e, acked_at)| **acked_at < read.invoke_ns && !elements.contains(e))
            .map(|(e, _)| *e)
            .collect();
        if !missing.is_empty() {
            anomalies.push(format!(
                "read [{} - {}] (process {}) lacks acknowledged elements {missing:?} (lost writes)",
                ms(read.invoke_ns),
                ms(read.complete_ns),
                read.process
            ));
        }
    }
    for (earlier, seen) in &reads {
        for (later, elements) in &reads {
            if earlier.complete_ns >= later.invoke_ns {
                continue;
            }
            let gone: Vec<u64> = seen.difference(elements).copied().collect();
            if !gone.is_empty() {
                anomalies.push(format!(
                    "elements {gone:?} read at [{} - {}] are missing from the later read [{} - {}]",
                    ms(earlier.invoke_ns),
                    ms(earlier.complete_ns),
                    ms(later.invoke_ns),
                    ms(later.complete_ns)
                ));
            }
        }
    }
    anomalies
}

/// Unique ids on one key: no sequence number is handed out twice, an id acknowledged before
/// another was requested is smaller, and every acknowledged id is in the final listing (a
/// `ReadSet` of the sequence numbers present at the end), when there is one.
pub fn check_unique_ids(ops: &[&Op]) -> Vec<String> {
    let mut anomalies = Vec::new();
    let granted: Vec<(&Op, u64)> = ops
        .iter()
        .filter_map(|op| match (&op.kind, op.outcome) {
            (OpKind::NextId { id: Some(id) }, Outcome::Ok) => Some((*op, *id)),
            _ => None,
        })
        .collect();
    let mut owners: BTreeMap<u64, &Op> = BTreeMap::new();
    for (op, id) in &granted {
        if let Some(first) = owners.insert(*id, op) {
            anomalies.push(format!(
                "id {id} was handed out twice: to process {} at {} and to process {} at {}",
                first.process,
                ms(first.complete_ns),
                op.process,
                ms(op.complete_ns)
            ));
        }
    }
    // Real-time order: sorted by completion, every later-invoked op must get a larger id than
    // the largest id among ops completed before its invocation.
    let mut by_completion = granted.clone();
    by_completion.sort_by_key(|(op, _)| op.complete_ns);
    let mut by_invocation = granted.clone();
    by_invocation.sort_by_key(|(op, _)| op.invoke_ns);
    let mut done = 0;
    let mut largest: Option<(u64, &Op)> = None;
    for (op, id) in &by_invocation {
        while done < by_completion.len() && by_completion[done].0.complete_ns < op.invoke_ns {
            let (earlier, earlier_id) = by_completion[done];
            if largest.is_none_or(|(l, _)| earlier_id > l) {
                largest = Some((earlier_id, earlier));
            }
            done += 1;
        }
        if let Some((l, earlier)) = largest
            && *id <= l
        {
            anomalies.push(format!(
                "id {id} (process {}, invoked at {}) is not above id {l}, acknowledged earlier at {}",
                op.process,
                ms(op.invoke_ns),
                ms(earlier.complete_ns)
            ));
        }
    }
    let listings: Vec<BTreeSet<u64>> = ops
        .iter()
        .filter_map(|op| match (&op.kind, op.outcome) {
            (
                OpKind::ReadSet {
                    elements: Some(elements),
                },
                Outcome::Ok,
            ) => Some(elements.iter().copied().collect()),
            _ => None,
        })
        .collect();
    if let Some(last) = listings.last() {
        let lost: Vec<u64> = owners
            .keys()
            .filter(|id| !last.contains(id))
            .copied()
            .collect();
        if !lost.is_empty() {
            anomalies.push(format!(
                "acknowledged ids {lost:?} are missing from the final listing (lost writes)"
            ));
        }
    }
    anomalies
}

/// The lock on one key.
///
/// - Belief: no two sessions believed they held the lock at overlapping times. A holder's
///   belief ends when it starts releasing, or as soon as it sees its connection drop or its
///   session expire (it must stop acting then: it cannot tell whether its session lives on).
///   `slack_ns` forgives overlaps up to that length (0: none).
/// - Fencing: the data node's versions, from writes fenced by the holder's lock node, are all
///   different, and in version order the holders form runs that never return: once another
///   holder wrote, an earlier one never writes again; and the lock nodes of successive runs
///   were created in increasing order (the lock goes to the lowest node).
pub fn check_lock(ops: &[&Op], slack_ns: u64) -> Vec<String> {
    let mut anomalies = Vec::new();
    let mut holds: Vec<(&Op, i64, u64)> = ops
        .iter()
        .filter_map(|op| match op.kind {
            OpKind::Hold { session, seq } => Some((*op, session, seq)),
            _ => None,
        })
        .collect();
    holds.sort_by_key(|(op, _, _)| op.invoke_ns);
    for (i, (a, a_session, a_seq)) in holds.iter().enumerate() {
        for (b, b_session, b_seq) in &holds[i + 1..] {
            if b.invoke_ns >= a.complete_ns {
                continue;
            }
            let overlap = a.complete_ns.min(b.complete_ns) - b.invoke_ns;
            if overlap > slack_ns {
                anomalies.push(format!(
                    "two holders at once for {:.3}s: session 0x{a_session:x} (lock node {a_seq}) \
                     held [{} - {}], session 0x{b_session:x} (lock node {b_seq}) held [{} - {}]",
                    overlap as f64 / 1e9,
                    ms(a.invoke_ns),
                    ms(a.complete_ns),
                    ms(b.invoke_ns),
                    ms(b.complete_ns)
                ));
            }
        }
    }
    let mut fenced: Vec<(i32, i64, u64, &Op)> = ops
        .iter()
        .filter_map(|op| match (&op.kind, op.outcome) {
            (
                OpKind::FencedWrite {
                    session,
                    seq,
                    version: Some(version),
                },
                Outcome::Ok,
            ) => Some((*version, *session, *seq, *op)),
            _ => None,
        })
        .collect();
    fenced.sort_by_key(|(version, ..)| *version);
    for pair in fenced.windows(2) {
        if pair[0].0 == pair[1].0 {
            anomalies.push(format!(
                "two fenced writes produced data version {}: lock nodes {} and {}",
                pair[0].0, pair[0].2, pair[1].2
            ));
        }
    }
    let mut finished: BTreeSet<u64> = BTreeSet::new();
    let mut current: Option<u64> = None;
    for (version, session, seq, op) in &fenced {
        if current == Some(*seq) {
            continue;
        }
        if let Some(previous) = current {
            finished.insert(previous);
            if *seq < previous {
                anomalies.push(format!(
                    "lock node {seq} (session 0x{session:x}) wrote version {version} after lock \
                     node {previous}, created later, had written: the lock went out of order"
                ));
            }
        }
        if finished.contains(seq) {
            anomalies.push(format!(
                "lock node {seq} (session 0x{session:x}) wrote version {version} at {} after \
                 another holder had written: two holders interleaved",
                ms(op.complete_ns)
            ));
        }
        current = Some(*seq);
    }
    anomalies
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::test_support::op;

    fn add(p: u64, e: u64, outcome: Outcome, a: u64, b: u64) -> Op {
        op(p, OpKind::Add { element: e }, outcome, a, b)
    }

    fn read_set(p: u64, elements: &[u64], a: u64, b: u64) -> Op {
        let kind = OpKind::ReadSet {
            elements: Some(elements.to_vec()),
        };
        op(p, kind, Outcome::Ok, a, b)
    }

    fn refs(ops: &[Op]) -> Vec<&Op> {
        ops.iter().collect()
    }

    #[test]
    fn a_good_set_history_has_no_anomalies() {
        let ops = vec![
            add(0, 1, Outcome::Ok, 0, 10),
            add(1, 2, Outcome::Info, 5, 15),
            add(2, 3, Outcome::Ok, 12, 30), // concurrent with the first read
            read_set(3, &[1], 20, 25),
            read_set(3, &[1, 2, 3], 40, 45),
        ];
        assert_eq!(check_set(&refs(&ops)), Vec::<String>::new());
    }

    #[test]
    fn set_lost_phantom_failed_and_vanishing_elements_are_caught() {
        let lost = vec![add(0, 1, Outcome::Ok, 0, 10), read_set(1, &[], 20, 30)];
        assert_eq!(check_set(&refs(&lost)).len(), 1);
        let phantom = vec![read_set(1, &[9], 20, 30)];
        assert!(check_set(&refs(&phantom))[0].contains("nobody added"));
        let failed = vec![add(0, 4, Outcome::Fail, 0, 1), read_set(1, &[4], 2, 3)];
        assert!(check_set(&refs(&failed))[0].contains("failed"));
        let vanished = vec![
            add(0, 5, Outcome::Info, 0, 1),
            read_set(1, &[5], 2, 3),
            read_set(2, &[], 4, 5),
        ];
        assert!(check_set(&refs(&vanished))[0].contains("missing from the later read"));
    }

    fn next_id(p: u64, id: Option<u64>, outcome: Outcome, a: u64, b: u64) -> Op {
        op(p, OpKind::NextId { id }, outcome, a, b)
    }

    #[test]
    fn unique_ids_pass_when_unique_ordered_and_kept() {
        let ops = vec![
            next_id(0, Some(1), Outcome::Ok, 0, 10),
            next_id(1, Some(3), Outcome::Ok, 5, 15), // concurrent with the next one
            next_id(2, Some(2), Outcome::Ok, 6, 16),
            next_id(3, None, Outcome::Info, 7, 8),
            next_id(0, Some(5), Outcome::Ok, 20, 30),
            read_set(9, &[1, 2, 3, 4, 5], 40, 50),
        ];
        assert_eq!(check_unique_ids(&refs(&ops)), Vec::<String>::new());
    }

    #[test]
    fn duplicate_reordered_and_lost_ids_are_caught() {
        let dup = vec![
            next_id(0, Some(1), Outcome::Ok, 0, 10),
            next_id(1, Some(1), Outcome::Ok, 5, 15),
        ];
        assert!(check_unique_ids(&refs(&dup))[0].contains("twice"));
        let backwards = vec![
            next_id(0, Some(7), Outcome::Ok, 0, 10),
            next_id(1, Some(6), Outcome::Ok, 20, 30),
        ];
        assert!(check_unique_ids(&refs(&backwards))[0].contains("not above"));
        let lost = vec![
            next_id(0, Some(1), Outcome::Ok, 0, 10),
            read_set(1, &[], 20, 30),
        ];
        assert!(check_unique_ids(&refs(&lost))[0].contains("lost"));
    }

    fn hold(session: i64, seq: u64, from: u64, to: u64) -> Op {
        op(0, OpKind::Hold { session, seq }, Outcome::Ok, from, to)
    }

    fn fenced(session: i64, seq: u64, version: i32, at: u64) -> Op {
        let kind = OpKind::FencedWrite {
            session,
            seq,
            version: Some(version),
        };
        op(0, kind, Outcome::Ok, at, at + 1)
    }

    #[test]
    fn consecutive_holders_pass() {
        let ops = vec![
            hold(1, 0, 0, 100),
            fenced(1, 0, 1, 10),
            fenced(1, 0, 2, 20),
            hold(2, 1, 100, 200),
            fenced(2, 1, 3, 150),
        ];
        assert_eq!(check_lock(&refs(&ops), 0), Vec::<String>::new());
    }

    #[test]
    fn overlapping_holders_are_caught_beyond_the_slack() {
        let ops = vec![hold(1, 0, 0, 100), hold(2, 1, 90, 200)];
        assert_eq!(check_lock(&refs(&ops), 0).len(), 1);
        assert_eq!(check_lock(&refs(&ops), 10), Vec::<String>::new());
    }

    #[test]
    fn interleaved_or_out_of_order_fenced_writes_are_caught() {
        let interleaved = vec![fenced(1, 0, 1, 0), fenced(2, 1, 2, 5), fenced(1, 0, 3, 9)];
        let found = check_lock(&refs(&interleaved), 0);
        assert!(found.iter().any(|a| a.contains("interleaved")), "{found:?}");
        let backwards = vec![fenced(2, 5, 1, 0), fenced(1, 4, 2, 5)];
        assert!(check_lock(&refs(&backwards), 0)[0].contains("out of order"));
        let same_version = vec![fenced(1, 0, 1, 0), fenced(2, 1, 1, 5)];
        assert!(
            check_lock(&refs(&same_version), 0)
                .iter()
                .any(|a| a.contains("version 1"))
        );
    }
}
