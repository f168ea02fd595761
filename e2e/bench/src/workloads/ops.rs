//! create, setData, getData, the 90/10 mix and ephemeral churn, each in two phases:
//!
//! - **max-throughput** (closed loop): every session keeps `inflight` requests outstanding, a
//!   new one leaving as soon as one returns. The figure is completed ops per second; its
//!   latencies are service times (the sender waits for the server, so they are *not*
//!   coordinated-omission safe and are not shown in the table).
//! - **fixed-rate** (open loop): requests leave at a fixed rate, spread round-robin over the
//!   sessions, whatever the server does; each latency runs from the request's *intended* send
//!   time to its reply (see [`crate::schedule`]).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{Future, StreamExt};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;
use zookeeper_client as zk;

use super::{OP_TIMEOUT, RunCtx, ensure_keys};
use crate::error::BenchError;
use crate::latency::LatencyRecorder;
use crate::record::BenchResult;
use crate::schedule::OpenLoopSchedule;
use crate::sessions::{ensure_path, ephemeral, persistent, value};

/// Requests the open-loop sender lets be outstanding before it waits for replies (the wait is
/// still charged to the requests' latency, since it is measured from the intended time).
const MAX_OUTSTANDING: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Create,
    Set,
    Get,
    Mix,
    Churn,
}

impl OpKind {
    fn name(self) -> &'static str {
        match self {
            OpKind::Create => "create",
            OpKind::Set => "set",
            OpKind::Get => "get",
            OpKind::Mix => "mix",
            OpKind::Churn => "churn",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            OpKind::Create => "create of a new persistent znode with a 100-byte value",
            OpKind::Set => "setData of a 100-byte value on one of the existing keys",
            OpKind::Get => "getData of one of the existing 100-byte keys",
            OpKind::Mix => "90 % getData / 10 % setData on the existing keys",
            OpKind::Churn => {
                "create of an ephemeral znode then its delete, pipelined on one session; one op is the pair"
            }
        }
    }

    fn is_write_rate(self) -> bool {
        matches!(self, OpKind::Create | OpKind::Set | OpKind::Churn)
    }
}

type OpFuture = Pin<Box<dyn Future<Output = Result<(), zk::Error>> + Send>>;

/// What one op needs: the keys it reads and writes, the value, and where new znodes go.
struct OpSource {
    kind: OpKind,
    keys: Arc<Vec<String>>,
    value: Arc<Vec<u8>>,
    /// Parent of the znodes create and churn make.
    base: String,
}

impl OpSource {
    /// Sends op number `seq` on `client` (the request leaves when the future is first polled);
    /// `pick` is a random number choosing the key and, for the mix, read or write.
    fn start(&self, client: &zk::Client, seq: u64, pick: u64) -> OpFuture {
        let key = || self.keys[(pick % self.keys.len() as u64) as usize].as_str();
        match self.kind {
            OpKind::Get => get(client, key()),
            OpKind::Set => set(client, key(), &self.value),
            OpKind::Mix => {
                // The high bits choose read or write so the choice is independent of the key.
                if (pick >> 40).is_multiple_of(10) {
                    set(client, key(), &self.value)
                } else {
                    get(client, key())
                }
            }
            OpKind::Create => {
                let client = client.clone();
                let path = format!("{}/n{seq}", self.base);
                let value = Arc::clone(&self.value);
                Box::pin(async move {
                    client
                        .create(&path, &value, &persistent())
                        .await
                        .map(|_| ())
                })
            }
            OpKind::Churn => {
                let client = client.clone();
                let path = format!("{}/e{seq}", self.base);
                let value = Arc::clone(&self.value);
                Box::pin(async move {
                    let options = ephemeral();
                    // Both requests leave back to back; the session's FIFO order makes the
                    // delete see the create.
                    let created = client.create(&path, &value, &options);
                    let deleted = client.delete(&path, None);
                    created.await?;
                    deleted.await
                })
            }
        }
    }
}

fn get(client: &zk::Client, key: &str) -> OpFuture {
    let reply = client.get_data(key);
    Box::pin(async move { reply.await.map(|_| ()) })
}

fn set(client: &zk::Client, key: &str, value: &[u8]) -> OpFuture {
    let reply = client.set_data(key, value, None);
    Box::pin(async move { reply.await.map(|_| ()) })
}

pub async fn run(ctx: &RunCtx, kind: OpKind) -> Result<Vec<BenchResult>, BenchError> {
    let p = &ctx.params;
    let clients = ctx
        .cluster
        .connect_many(0, p.sessions, p.session_timeout)
        .await?;
    let keys = match kind {
        OpKind::Set | OpKind::Get | OpKind::Mix => ensure_keys(ctx, &clients).await?,
        OpKind::Create | OpKind::Churn => Vec::new(),
    };
    let base = ctx.base_path(kind.name());
    let source = |phase: &str| OpSource {
        kind,
        keys: Arc::new(keys.clone()),
        value: Arc::new(value(p.value_bytes)),
        base: format!("{base}/{phase}"),
    };
    if matches!(kind, OpKind::Create | OpKind::Churn) {
        ensure_path(&clients[0], &format!("{base}/max")).await?;
        ensure_path(&clients[0], &format!("{base}/fixed")).await?;
    }

    let sampler = ctx.sample_rss();
    let closed = closed_loop(
        Arc::new(source("max")),
        &clients,
        p.inflight,
        p.warmup,
        p.phase,
    )
    .await?;
    let rss = sampler.finish();
    let mut max = ctx
        .result(
            kind.name(),
            "max-throughput",
            &format!(
                "{}; closed loop: every session keeps `inflight` requests outstanding; throughput = ops completed in the measured window / its length; latencies are service times (not CO-safe)",
                kind.describe()
            ),
        )
        .param("sessions", p.sessions)
        .param("inflight", p.inflight)
        .param("warmup_s", p.warmup.as_secs_f64())
        .param("phase_s", p.phase.as_secs_f64())
        .param("value_bytes", p.value_bytes)
        .with_rss(rss);
    max.figure(
        "throughput_ops_s",
        closed.ops as f64 / p.phase.as_secs_f64(),
    );
    max.figure("ops", closed.ops as f64);
    closed
        .latency
        .summary()
        .add_to("service_", &mut max.figures);

    let rate = if kind.is_write_rate() {
        p.write_rate
    } else {
        p.read_rate
    };
    let sampler = ctx.sample_rss();
    let open = open_loop(Arc::new(source("fixed")), &clients, rate, p.phase).await?;
    let rss = sampler.finish();
    let mut fixed = ctx
        .result(
            kind.name(),
            "fixed-rate",
            &format!(
                "{}; open loop at a fixed rate; latency from each request's intended send time to its reply (CO-safe)",
                kind.describe()
            ),
        )
        .param("sessions", p.sessions)
        .param("rate_ops_s", rate)
        .param("phase_s", p.phase.as_secs_f64())
        .param("value_bytes", p.value_bytes)
        .with_rss(rss);
    open.latency.summary().add_to("", &mut fixed.figures);
    fixed.figure("ops", open.ops as f64);
    fixed.figure("achieved_ops_s", open.achieved_rate);
    fixed.figure("max_send_lag_ms", open.max_send_lag.as_secs_f64() * 1000.0);
    Ok(vec![max, fixed])
}

pub struct ClosedOutcome {
    pub ops: u64,
    pub latency: LatencyRecorder,
}

/// Every session runs `inflight` loops; only ops completing inside the measured window (after
/// `warmup`, for `phase`) count.
async fn closed_loop(
    source: Arc<OpSource>,
    clients: &[zk::Client],
    inflight: usize,
    warmup: Duration,
    phase: Duration,
) -> Result<ClosedOutcome, BenchError> {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + phase;
    let mut tasks = tokio::task::JoinSet::new();
    for (s, client) in clients.iter().enumerate() {
        for slot in 0..inflight {
            let client = client.clone();
            let source = Arc::clone(&source);
            let task = (s * inflight + slot) as u64;
            tasks.spawn(async move {
                let mut rng = SmallRng::seed_from_u64(task);
                let mut latency = LatencyRecorder::new();
                let mut ops = 0u64;
                let mut seq = task << 32;
                loop {
                    let sent = Instant::now();
                    if sent >= end {
                        break;
                    }
                    let op = source.start(&client, seq, rng.random());
                    seq += 1;
                    match tokio::time::timeout(OP_TIMEOUT, op).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            return Err(BenchError::Op {
                                what: format!("{} (max-throughput)", source.kind.name()),
                                source: e,
                            });
                        }
                        Err(_) => {
                            return Err(BenchError::Stalled {
                                what: format!("{} (max-throughput)", source.kind.name()),
                                pending: 1,
                                waited: OP_TIMEOUT,
                            });
                        }
                    }
                    let done = Instant::now();
                    if done >= measure_from && done <= end {
                        ops += 1;
                        latency.record(done - sent);
                    }
                }
                Ok::<_, BenchError>((ops, latency))
            });
        }
    }
    let mut outcome = ClosedOutcome {
        ops: 0,
        latency: LatencyRecorder::new(),
    };
    while let Some(joined) = tasks.join_next().await {
        let (ops, latency) =
            joined.map_err(|e| BenchError::Check(format!("a load task failed: {e}")))??;
        outcome.ops += ops;
        outcome.latency.merge(&latency);
    }
    Ok(outcome)
}

pub struct OpenOutcome {
    pub ops: u64,
    pub latency: LatencyRecorder,
    /// Completed ops / (last reply − start).
    pub achieved_rate: f64,
    /// How far behind its schedule the sender fell at worst (a busy client machine shows here).
    pub max_send_lag: Duration,
}

/// Sends `rate × phase` ops on the schedule, round-robin over the sessions, and records each
/// latency from the op's intended send time.
async fn open_loop(
    source: Arc<OpSource>,
    clients: &[zk::Client],
    rate: f64,
    phase: Duration,
) -> Result<OpenOutcome, BenchError> {
    let schedule = OpenLoopSchedule::new(rate, phase);
    let what = format!("{} (fixed rate {rate}/s)", source.kind.name());
    let mut rng = SmallRng::seed_from_u64(0x5eed);
    let mut pending = FuturesUnordered::new();
    let mut latency = LatencyRecorder::new();
    let mut max_send_lag = Duration::ZERO;
    let mut sent = 0u64;
    let mut last_reply = None;
    let start = Instant::now();
    // Every request is due by start + phase; the drain after that is bounded.
    let give_up = start + phase + OP_TIMEOUT;
    loop {
        let now = Instant::now();
        let due = schedule.due_by(now - start);
        while sent < due && pending.len() < MAX_OUTSTANDING {
            let intended = start + schedule.intended_offset(sent);
            max_send_lag = max_send_lag.max(now.saturating_duration_since(intended));
            let client = &clients[(sent % clients.len() as u64) as usize];
            let op = source.start(client, sent, rng.random());
            pending.push(async move {
                let result = op.await;
                (intended, Instant::now(), result)
            });
            sent += 1;
        }
        if sent == schedule.total() && pending.is_empty() {
            break;
        }
        let next_due = (sent < schedule.total() && pending.len() < MAX_OUTSTANDING)
            .then(|| start + schedule.intended_offset(sent));
        tokio::select! {
            Some((intended, done, result)) = pending.next(), if !pending.is_empty() => {
                result.map_err(|source| BenchError::Op { what: what.clone(), source })?;
                latency.record(done - intended);
                last_reply = Some(done);
            }
            _ = sleep_until_opt(next_due), if next_due.is_some() => {}
            _ = tokio::time::sleep_until(give_up) => {
                return Err(BenchError::Stalled { what, pending: pending.len(), waited: OP_TIMEOUT });
            }
        }
    }
    let elapsed = last_reply.map(|t| t - start).unwrap_or(phase);
    Ok(OpenOutcome {
        ops: latency.count(),
        achieved_rate: latency.count() as f64 / elapsed.as_secs_f64().max(1e-9),
        latency,
        max_send_lag,
    })
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The open-loop mix on existing keys, for workloads that probe a server under some other load.
pub async fn open_loop_mix(
    clients: &[zk::Client],
    keys: Vec<String>,
    value_bytes: usize,
    rate: f64,
    phase: Duration,
) -> Result<OpenOutcome, BenchError> {
    let source = OpSource {
        kind: OpKind::Mix,
        keys: Arc::new(keys),
        value: Arc::new(value(value_bytes)),
        base: String::new(),
    };
    open_loop(Arc::new(source), clients, rate, phase).await
}
