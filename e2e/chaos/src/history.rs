//! Histories: every operation a client invoked, when, and how it ended.
//!
//! An operation is recorded once it is over, with its real-time bounds: `invoke_ns` is taken
//! before the request leaves the client and `complete_ns` after its answer (or after the client
//! gave up on it), both on one monotonic clock that starts with the run. Whatever the server did
//! for the operation happened inside those bounds, which is what the checkers rely on.
//!
//! The outcome follows Jepsen's vocabulary:
//! - `ok`: the server answered and the operation took effect (a read returned its value);
//! - `fail`: the server answered that it did not take effect (BADVERSION, THROTTLEDOP, ...);
//! - `info`: the outcome is unknown (connection loss, a timeout, an expired session): it may
//!   have taken effect at any time after its invocation, even after `complete_ns`.
//!
//! A logical process issues one operation at a time. After an `info` operation its request
//! may still be applied later, concurrently with whatever comes next, so the client continues
//! as a new process (see [`Recorder::process`]): no process ever has two operations in flight.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// How an operation ended.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Fail,
    Info,
}

/// What an operation did, with the values it sent and (for `ok`) the values it got back.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "f", rename_all = "kebab-case")]
pub enum OpKind {
    /// Register: `sync` then `getData`; `value` is what was read.
    Read { value: Option<i64> },
    /// Register: unconditional `setData`.
    Write { value: i64 },
    /// Register: `sync`, `getData`, and if the value is `from`, `setData(to, version)`.
    /// `swapped` tells whether it did (`ok` either way once the server answered).
    Cas {
        from: i64,
        to: i64,
        swapped: Option<bool>,
    },
    /// Grow-only set: create child `e<element>`.
    Add { element: u64 },
    /// Grow-only set (and the final listing of the other workloads): `sync` then
    /// `getChildren`, parsed back into elements.
    ReadSet { elements: Option<Vec<u64>> },
    /// Unique ids: a sequential create; `id` is the sequence number the server gave.
    NextId { id: Option<u64> },
    /// Queue: a sequential create carrying `value`.
    Enqueue { value: u64 },
    /// Queue: remove the lowest child; `value` is what was removed (`None`: the queue was
    /// empty).
    Dequeue { value: Option<u64> },
    /// Lock: `session` believed it held the lock through its node `seq` from `invoke_ns`
    /// (when it learned so) to `complete_ns` (when it released it or saw its connection or
    /// session go). Always `ok`.
    Hold { session: i64, seq: u64 },
    /// Lock: a write fenced by the holder's lock node (a multi of `check(lock node)` and
    /// `setData(data node)`); `version` is the data node's version after it.
    FencedWrite {
        session: i64,
        seq: u64,
        version: Option<i32>,
    },
}

/// One operation of a history.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Op {
    pub process: u64,
    /// The independent key (znode) the operation worked on.
    pub key: String,
    #[serde(flatten)]
    pub kind: OpKind,
    pub invoke_ns: u64,
    pub complete_ns: u64,
    pub outcome: Outcome,
    /// The error that made it `fail` or `info`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// Collects the operations of one run from every client task.
pub struct Recorder {
    start: Instant,
    next_process: AtomicU64,
    ops: Mutex<Vec<Op>>,
}

impl Recorder {
    pub fn new(start: Instant) -> Recorder {
        Recorder {
            start,
            next_process: AtomicU64::new(0),
            ops: Mutex::new(Vec::new()),
        }
    }

    /// The instant that is time 0 of the history.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Nanoseconds since the run started.
    pub fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// A fresh logical process id.
    pub fn process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }

    pub fn record(&self, op: Op) {
        self.ops.lock().unwrap_or_else(|e| e.into_inner()).push(op);
    }

    /// The history so far, ordered by invocation time.
    pub fn snapshot(&self) -> Vec<Op> {
        let mut ops = self.ops.lock().unwrap_or_else(|e| e.into_inner()).clone();
        ops.sort_by_key(|op| (op.invoke_ns, op.complete_ns, op.process));
        ops
    }
}

/// Counts of outcomes in a history, for the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub ok: usize,
    pub fail: usize,
    pub info: usize,
}

impl Counts {
    pub fn of(ops: &[Op]) -> Counts {
        let mut counts = Counts::default();
        for op in ops {
            match op.outcome {
                Outcome::Ok => counts.ok += 1,
                Outcome::Fail => counts.fail += 1,
                Outcome::Info => counts.info += 1,
            }
        }
        counts
    }
}

/// The operations on `key`, in the order they were given.
pub fn of_key<'a>(ops: &'a [Op], key: &str) -> Vec<&'a Op> {
    ops.iter().filter(|op| op.key == key).collect()
}

/// Every key that appears in `ops`, sorted.
pub fn keys(ops: &[Op]) -> Vec<String> {
    let mut keys: Vec<String> = ops.iter().map(|op| op.key.clone()).collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
pub mod test_support {
    use super::*;

    /// An operation with the given bounds, for hand-made histories.
    pub fn op(process: u64, kind: OpKind, outcome: Outcome, invoke: u64, complete: u64) -> Op {
        Op {
            process,
            key: "k".into(),
            kind,
            invoke_ns: invoke,
            complete_ns: complete,
            outcome,
            error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::op;
    use super::*;

    #[test]
    fn processes_are_fresh_and_snapshots_are_in_invocation_order() {
        let recorder = Recorder::new(Instant::now());
        let (a, b) = (recorder.process(), recorder.process());
        assert_ne!(a, b);
        recorder.record(op(b, OpKind::Write { value: 2 }, Outcome::Ok, 20, 30));
        recorder.record(op(a, OpKind::Write { value: 1 }, Outcome::Info, 10, 40));
        let ops = recorder.snapshot();
        assert_eq!(ops[0].invoke_ns, 10);
        assert_eq!(ops[1].invoke_ns, 20);
        assert_eq!(
            Counts::of(&ops),
            Counts {
                ok: 1,
                fail: 0,
                info: 1
            }
        );
    }

    #[test]
    fn ops_round_trip_through_json_with_their_kind_inline() {
        let original = Op {
            error: Some("connection loss".into()),
            ..op(
                3,
                OpKind::Cas {
                    from: 1,
                    to: 2,
                    swapped: None,
                },
                Outcome::Info,
                5,
                9,
            )
        };
        let text = serde_json::to_string(&original).unwrap();
        assert!(text.contains(r#""f":"cas""#), "{text}");
        assert!(text.contains(r#""outcome":"info""#), "{text}");
        let back: Op = serde_json::from_str(&text).unwrap();
        assert_eq!(back, original);
    }

    #[test]
    fn keys_are_listed_once_and_filtered() {
        let mut a = op(0, OpKind::Read { value: Some(0) }, Outcome::Ok, 0, 1);
        a.key = "b".into();
        let mut b = a.clone();
        b.key = "a".into();
        let ops = vec![a.clone(), b, a];
        assert_eq!(keys(&ops), vec!["a".to_string(), "b".to_string()]);
        assert_eq!(of_key(&ops, "b").len(), 2);
    }
}
