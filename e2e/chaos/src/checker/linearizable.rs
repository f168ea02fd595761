//! Linearizability of the register and queue histories, judged by stateright's
//! [`LinearizabilityTester`] against sequential reference objects.
//!
//! How a history becomes tester input:
//! - every operation contributes an invocation at `invoke_ns` and, unless its outcome is
//!   unknown, a return at `complete_ns`; the tester is fed these events in time order (an
//!   invocation before a return at the same instant, which orders nothing that was not ordered
//!   in real time), so "completed before invoked" is exactly the real-time order it enforces;
//! - an `info` operation is invoked and never returns: the tester may place it anywhere after
//!   its invocation or leave it out, which is what "may or may not have happened" means;
//! - a `fail` operation did not happen and is left out, and so is an `info` read (it changed
//!   nothing and told nothing).
//!
//! The tester searches interleavings depth-first without memoisation, so its cost can explode
//! on long or very concurrent histories. The workloads keep each key's history short, and every
//! check runs on a step budget ([`Budgeted`]): once the budget is spent every further step is
//! refused, the search unwinds quickly, and the verdict is [`Verdict::GaveUp`] rather than a
//! wrong answer. A linearization found before the budget ran out is genuine, since only steps
//! the reference object accepted were taken.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};

use crate::history::{Op, OpKind, Outcome};

/// What the checker concluded about one key's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order of the operations respects both real time and the reference object.
    NotLinearizable,
    /// The step budget ran out first.
    GaveUp,
    /// The history itself was malformed (a process with two operations in flight).
    Invalid(String),
}

/// A reference object whose steps are counted against a shared budget.
#[derive(Clone, Debug)]
pub struct Budgeted<S> {
    inner: S,
    steps: Arc<AtomicU64>,
    limit: u64,
}

impl<S> Budgeted<S> {
    pub fn new(inner: S, limit: u64) -> Budgeted<S> {
        Budgeted {
            inner,
            steps: Arc::new(AtomicU64::new(0)),
            limit,
        }
    }

    fn exhausted(&self) -> bool {
        self.steps.load(Ordering::Relaxed) >= self.limit
    }
}

impl<S: SequentialSpec> SequentialSpec for Budgeted<S> {
    type Op = S::Op;
    type Ret = S::Ret;

    fn invoke(&mut self, op: &Self::Op) -> Self::Ret {
        self.steps.fetch_add(1, Ordering::Relaxed);
        self.inner.invoke(op)
    }

    fn is_valid_step(&mut self, op: &Self::Op, ret: &Self::Ret) -> bool {
        if self.steps.fetch_add(1, Ordering::Relaxed) >= self.limit {
            return false;
        }
        self.inner.is_valid_step(op, ret)
    }
}

/// A register holding an integer, with compare-and-set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CasRegister(pub i64);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterOp {
    Read,
    Write(i64),
    Cas(i64, i64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterRet {
    ReadOk(i64),
    WriteOk,
    CasOk,
    CasFail,
}

impl SequentialSpec for CasRegister {
    type Op = RegisterOp;
    type Ret = RegisterRet;

    fn invoke(&mut self, op: &RegisterOp) -> RegisterRet {
        match *op {
            RegisterOp::Read => RegisterRet::ReadOk(self.0),
            RegisterOp::Write(v) => {
                self.0 = v;
                RegisterRet::WriteOk
            }
            RegisterOp::Cas(from, to) if self.0 == from => {
                self.0 = to;
                RegisterRet::CasOk
            }
            RegisterOp::Cas(..) => RegisterRet::CasFail,
        }
    }
}

/// A FIFO queue of integers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FifoQueue(pub VecDeque<u64>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueOp {
    Enqueue(u64),
    Dequeue,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueRet {
    EnqueueOk,
    DequeueOk(Option<u64>),
}

impl SequentialSpec for FifoQueue {
    type Op = QueueOp;
    type Ret = QueueRet;

    fn invoke(&mut self, op: &QueueOp) -> QueueRet {
        match op {
            QueueOp::Enqueue(v) => {
                self.0.push_back(*v);
                QueueRet::EnqueueOk
            }
            QueueOp::Dequeue => QueueRet::DequeueOk(self.0.pop_front()),
        }
    }
}

/// One operation as the tester sees it: its call, and its return unless the outcome is unknown.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry<O, R> {
    pub process: u64,
    pub invoke_ns: u64,
    pub call: O,
    pub ret: Option<(u64, R)>,
}

/// The register operations of a history as tester entries.
pub fn register_entries(ops: &[&Op]) -> Vec<Entry<RegisterOp, RegisterRet>> {
    ops.iter()
        .filter_map(|op| {
            let (call, ret) = match (&op.kind, op.outcome) {
                (_, Outcome::Fail) => return None,
                (OpKind::Read { .. }, Outcome::Info) => return None,
                (OpKind::Read { value: Some(v) }, Outcome::Ok) => {
                    (RegisterOp::Read, Some(RegisterRet::ReadOk(*v)))
                }
                (OpKind::Write { value }, Outcome::Ok) => {
                    (RegisterOp::Write(*value), Some(RegisterRet::WriteOk))
                }
                (OpKind::Write { value }, Outcome::Info) => (RegisterOp::Write(*value), None),
                (OpKind::Cas { from, to, swapped }, Outcome::Ok) => (
                    RegisterOp::Cas(*from, *to),
                    Some(if *swapped == Some(true) {
                        RegisterRet::CasOk
                    } else {
                        RegisterRet::CasFail
                    }),
                ),
                (OpKind::Cas { from, to, .. }, Outcome::Info) => {
                    (RegisterOp::Cas(*from, *to), None)
                }
                _ => return None,
            };
            Some(Entry {
                process: op.process,
                invoke_ns: op.invoke_ns,
                call,
                ret: ret.map(|r| (op.complete_ns, r)),
            })
        })
        .collect()
}

/// The queue operations of a history as tester entries.
pub fn queue_entries(ops: &[&Op]) -> Vec<Entry<QueueOp, QueueRet>> {
    ops.iter()
        .filter_map(|op| {
            let (call, ret) = match (&op.kind, op.outcome) {
                (_, Outcome::Fail) => return None,
                (OpKind::Enqueue { value }, Outcome::Ok) => {
                    (QueueOp::Enqueue(*value), Some(QueueRet::EnqueueOk))
                }
                (OpKind::Enqueue { value }, Outcome::Info) => (QueueOp::Enqueue(*value), None),
                (OpKind::Dequeue { value }, Outcome::Ok) => {
                    (QueueOp::Dequeue, Some(QueueRet::DequeueOk(*value)))
                }
                (OpKind::Dequeue { .. }, Outcome::Info) => (QueueOp::Dequeue, None),
                _ => return None,
            };
            Some(Entry {
                process: op.process,
                invoke_ns: op.invoke_ns,
                call,
                ret: ret.map(|r| (op.complete_ns, r)),
            })
        })
        .collect()
}

/// Judge `entries` against `init`, spending at most `budget` reference-object steps.
pub fn check<S>(init: S, entries: &[Entry<S::Op, S::Ret>], budget: u64) -> Verdict
where
    S: SequentialSpec + Clone + Debug,
    S::Op: Clone + Debug,
    S::Ret: Clone + Debug + PartialEq,
{
    // (time, 0 = invoke / 1 = return, entry index): invocations first at equal times.
    let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(entries.len() * 2);
    for (i, entry) in entries.iter().enumerate() {
        events.push((entry.invoke_ns, 0, i));
        if let Some((at, _)) = &entry.ret {
            events.push((*at, 1, i));
        }
    }
    events.sort();
    let reference = Budgeted::new(init, budget);
    let mut tester = LinearizabilityTester::new(reference.clone());
    for (_, kind, i) in events {
        let entry = &entries[i];
        let step = if kind == 0 {
            tester
                .on_invoke(entry.process, entry.call.clone())
                .map(|_| ())
        } else {
            let (_, ret) = entry.ret.as_ref().expect("a return event has a return");
            tester.on_return(entry.process, ret.clone()).map(|_| ())
        };
        if let Err(e) = step {
            return Verdict::Invalid(e);
        }
    }
    if tester.serialized_history().is_some() {
        Verdict::Linearizable
    } else if reference.exhausted() {
        Verdict::GaveUp
    } else {
        Verdict::NotLinearizable
    }
}

/// A witness for a register history that is not linearizable, when there is a simple one: a
/// read that returned a value after another write had replaced it, that write having completed
/// before the read began and after the read value's own write had completed.
pub fn stale_read_witness(ops: &[&Op]) -> Option<String> {
    let secs = |ns: u64| format!("{:.3}s", ns as f64 / 1e9);
    // The operation that wrote each value, and the acknowledged writes.
    let mut writer_of = std::collections::HashMap::new();
    let mut acknowledged = Vec::new();
    for op in ops {
        let written = match op.kind {
            OpKind::Write { value } => Some(value),
            OpKind::Cas { to, swapped, .. } if swapped != Some(false) => Some(to),
            _ => None,
        };
        if let Some(value) = written
            && op.outcome != Outcome::Fail
        {
            writer_of.insert(value, *op);
            if op.outcome == Outcome::Ok {
                acknowledged.push((value, *op));
            }
        }
    }
    for read in ops {
        let (OpKind::Read { value: Some(v) }, Outcome::Ok) = (&read.kind, read.outcome) else {
            continue;
        };
        // When the read value was certainly in place: its write's completion (0: the initial
        // value); an unknown write gives no such bound.
        let in_place_by = match writer_of.get(v) {
            None if *v == 0 => 0,
            Some(w) if w.outcome == Outcome::Ok => w.complete_ns,
            _ => continue,
        };
        if let Some((w, by)) = acknowledged.iter().find(|(w, by)| {
            *w != *v && by.complete_ns < read.invoke_ns && by.invoke_ns > in_place_by
        }) {
            return Some(format!(
                "stale read: process {} read {v} at [{} - {}], but {w} had replaced it at [{} - {}] \
                 (acknowledged before the read began; {v} was in place by {})",
                read.process,
                secs(read.invoke_ns),
                secs(read.complete_ns),
                secs(by.invoke_ns),
                secs(by.complete_ns),
                secs(in_place_by)
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::test_support::op;

    const BUDGET: u64 = 1_000_000;

    fn registers(ops: &[Op]) -> Verdict {
        let refs: Vec<&Op> = ops.iter().collect();
        check(CasRegister(0), &register_entries(&refs), BUDGET)
    }

    fn queues(ops: &[Op]) -> Verdict {
        let refs: Vec<&Op> = ops.iter().collect();
        check(FifoQueue::default(), &queue_entries(&refs), BUDGET)
    }

    fn read(p: u64, v: i64, a: u64, b: u64) -> Op {
        op(p, OpKind::Read { value: Some(v) }, Outcome::Ok, a, b)
    }

    fn write(p: u64, v: i64, outcome: Outcome, a: u64, b: u64) -> Op {
        op(p, OpKind::Write { value: v }, outcome, a, b)
    }

    fn cas(p: u64, from: i64, to: i64, swapped: bool, a: u64, b: u64) -> Op {
        let kind = OpKind::Cas {
            from,
            to,
            swapped: Some(swapped),
        };
        op(p, kind, Outcome::Ok, a, b)
    }

    #[test]
    fn a_sequential_register_history_is_linearizable() {
        let ops = vec![
            read(0, 0, 0, 1),
            write(0, 5, Outcome::Ok, 2, 3),
            read(1, 5, 4, 5),
            cas(1, 5, 6, true, 6, 7),
            cas(0, 5, 7, false, 8, 9),
            read(0, 6, 10, 11),
        ];
        assert_eq!(registers(&ops), Verdict::Linearizable);
    }

    #[test]
    fn concurrent_operations_may_take_effect_in_either_order() {
        // The write overlaps both reads: the old value then the new one is fine.
        let ops = vec![
            write(0, 1, Outcome::Ok, 0, 100),
            read(1, 0, 10, 20),
            read(1, 1, 30, 40),
        ];
        assert_eq!(registers(&ops), Verdict::Linearizable);
    }

    #[test]
    fn a_stale_read_after_an_acknowledged_write_is_caught() {
        let ops = [write(0, 1, Outcome::Ok, 0, 10), read(1, 0, 20, 30)];
        assert_eq!(registers(&ops), Verdict::NotLinearizable);
    }

    #[test]
    fn reading_new_then_old_is_caught_even_while_a_write_is_in_flight() {
        let ops = vec![
            write(0, 1, Outcome::Ok, 0, 100),
            read(1, 1, 10, 20),
            read(2, 0, 30, 40),
        ];
        assert_eq!(registers(&ops), Verdict::NotLinearizable);
    }

    #[test]
    fn an_unknown_write_may_or_may_not_have_happened() {
        let happened = vec![write(0, 7, Outcome::Info, 0, 5), read(1, 7, 50, 60)];
        assert_eq!(registers(&happened), Verdict::Linearizable);
        let did_not = vec![write(0, 7, Outcome::Info, 0, 5), read(1, 0, 50, 60)];
        assert_eq!(registers(&did_not), Verdict::Linearizable);
        // It may even take effect long after the client gave up on it, but not before it was
        // invoked.
        let too_early = vec![read(1, 7, 0, 5), write(0, 7, Outcome::Info, 10, 20)];
        assert_eq!(registers(&too_early), Verdict::NotLinearizable);
    }

    #[test]
    fn a_stale_read_is_explained_with_its_witnesses() {
        let ops = [
            write(0, 1, Outcome::Ok, 0, 10),
            write(0, 2, Outcome::Ok, 20, 30),
            read(1, 1, 40, 50),
        ];
        let refs: Vec<&Op> = ops.iter().collect();
        let witness = stale_read_witness(&refs).unwrap();
        assert!(
            witness.contains("read 1") && witness.contains("2 had replaced it"),
            "{witness}"
        );
        // Overlapping writes leave no simple witness.
        let ops = [
            write(0, 1, Outcome::Ok, 0, 30),
            write(2, 2, Outcome::Ok, 20, 30),
            read(1, 1, 40, 50),
        ];
        let refs: Vec<&Op> = ops.iter().collect();
        assert_eq!(stale_read_witness(&refs), None);
    }

    #[test]
    fn a_failed_write_must_not_be_seen() {
        let ops = vec![write(0, 9, Outcome::Fail, 0, 5), read(1, 9, 10, 20)];
        assert_eq!(registers(&ops), Verdict::NotLinearizable);
    }

    #[test]
    fn a_lost_acknowledged_write_is_caught() {
        // Acknowledged, then a later read (the final read after healing) misses it.
        let ops = vec![
            write(0, 3, Outcome::Ok, 0, 10),
            write(1, 4, Outcome::Info, 5, 15),
            read(2, 0, 100, 110),
        ];
        assert_eq!(registers(&ops), Verdict::NotLinearizable);
    }

    #[test]
    fn two_successful_swaps_from_one_value_are_caught() {
        let ops = vec![cas(0, 0, 1, true, 0, 10), cas(1, 0, 2, true, 0, 10)];
        assert_eq!(registers(&ops), Verdict::NotLinearizable);
    }

    #[test]
    fn a_process_with_two_operations_in_flight_is_an_invalid_history() {
        let ops = vec![
            write(0, 1, Outcome::Info, 0, 5),
            write(0, 2, Outcome::Ok, 6, 7),
        ];
        assert!(matches!(registers(&ops), Verdict::Invalid(_)));
    }

    #[test]
    fn a_fifo_history_is_linearizable_and_reordering_is_caught() {
        let enq = |p, v, a, b| op(p, OpKind::Enqueue { value: v }, Outcome::Ok, a, b);
        let deq = |p, v, a, b| op(p, OpKind::Dequeue { value: v }, Outcome::Ok, a, b);
        let fifo = vec![
            enq(0, 1, 0, 1),
            enq(1, 2, 2, 3),
            deq(0, Some(1), 4, 5),
            deq(1, Some(2), 6, 7),
            deq(0, None, 8, 9),
        ];
        assert_eq!(queues(&fifo), Verdict::Linearizable);
        let reordered = vec![enq(0, 1, 0, 1), enq(1, 2, 2, 3), deq(0, Some(2), 4, 5)];
        assert_eq!(queues(&reordered), Verdict::NotLinearizable);
        let duplicated = vec![
            enq(0, 1, 0, 1),
            deq(0, Some(1), 2, 3),
            deq(1, Some(1), 4, 5),
        ];
        assert_eq!(queues(&duplicated), Verdict::NotLinearizable);
    }

    #[test]
    fn an_unknown_dequeue_may_have_taken_the_head() {
        let enq = |p, v, a, b| op(p, OpKind::Enqueue { value: v }, Outcome::Ok, a, b);
        let ops = vec![
            enq(0, 1, 0, 1),
            enq(0, 2, 2, 3),
            op(1, OpKind::Dequeue { value: None }, Outcome::Info, 4, 5),
            op(2, OpKind::Dequeue { value: Some(2) }, Outcome::Ok, 6, 7),
            op(2, OpKind::Dequeue { value: None }, Outcome::Ok, 8, 9),
        ];
        assert_eq!(queues(&ops), Verdict::Linearizable);
    }

    #[test]
    fn an_exhausted_budget_gives_up_instead_of_judging() {
        let ops = [write(0, 1, Outcome::Ok, 0, 10), read(1, 0, 20, 30)];
        let refs: Vec<&Op> = ops.iter().collect();
        assert_eq!(
            check(CasRegister(0), &register_entries(&refs), 1),
            Verdict::GaveUp
        );
    }
}
