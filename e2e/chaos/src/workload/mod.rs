//! The client workloads. Each runs a few concurrent workers, each with its own ZooKeeper
//! session (the `zookeeper-client` crate, an implementation independent of the node), records
//! every operation into the run's [`Recorder`], and after healing reads back what it needs for
//! the final checks.

pub mod lock;
pub mod queue;
pub mod register;
pub mod set;
pub mod unique;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use zookeeper_client as zk;

use crate::history::{Op, OpKind, Outcome, Recorder};
use crate::matrix::Workload;

/// Bound for one operation; past it the client gives up and the outcome is unknown.
pub const OP_TIMEOUT: Duration = Duration::from_secs(4);
/// Bound for opening a session.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(6);
/// Session timeout of the workers (the lock workload asks for less, to see expiries).
const SESSION_TIMEOUT: Duration = Duration::from_secs(8);
/// Everything the suite writes lives below this.
pub const ROOT: &str = "/chaos";

/// What every worker of a run shares.
pub struct Ctx {
    pub recorder: Arc<Recorder>,
    pub connect: Vec<String>,
    pub seed: u64,
    pub deadline: Instant,
    /// Values handed out to writes, enqueues and adds: unique in the run.
    next_value: AtomicU64,
}

impl Ctx {
    pub fn new(recorder: Arc<Recorder>, connect: Vec<String>, seed: u64, deadline: Instant) -> Ctx {
        Ctx {
            recorder,
            connect,
            seed,
            deadline,
            next_value: AtomicU64::new(1),
        }
    }

    pub fn unique_value(&self) -> u64 {
        self.next_value.fetch_add(1, Ordering::Relaxed)
    }

    pub fn running(&self) -> bool {
        Instant::now() < self.deadline
    }

    /// The random stream of worker `worker`.
    pub fn rng(&self, worker: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(
            self.seed ^ worker.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        )
    }

    /// The members in an order of this worker's own, so that sessions spread over them.
    pub fn connect_string(&self, rng: &mut ChaCha8Rng) -> String {
        let mut hosts = self.connect.clone();
        hosts.shuffle(rng);
        hosts.join(",")
    }
}

/// The keys a workload's workers share, with the budgets that keep each key's history short.
pub fn pool(workload: Workload) -> Arc<KeyPool> {
    let prefix = format!("{ROOT}/{}", workload.name());
    Arc::new(match workload {
        Workload::Register => KeyPool::new(&prefix, 3, 90, 4),
        Workload::Set => KeyPool::new(&prefix, 2, 250, usize::MAX),
        Workload::UniqueIds => KeyPool::new(&prefix, 2, 400, usize::MAX),
        Workload::Queue => KeyPool::new(&prefix, 3, 60, 3),
        Workload::Lock => KeyPool::new(&prefix, 1, usize::MAX, usize::MAX),
    })
}

/// Run `workload` until the deadline.
pub async fn run(workload: Workload, ctx: Arc<Ctx>, pool: Arc<KeyPool>) -> anyhow::Result<()> {
    let workers = match workload {
        Workload::Lock => lock::WORKERS,
        _ => 5,
    };
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let (ctx, pool) = (ctx.clone(), pool.clone());
        tasks.push(tokio::spawn(async move {
            match workload {
                Workload::Register => register::work(ctx, pool, worker).await,
                Workload::Set => set::work(ctx, pool, worker).await,
                Workload::UniqueIds => unique::work(ctx, pool, worker).await,
                Workload::Queue => queue::work(ctx, pool, worker).await,
                Workload::Lock => lock::work(ctx, pool, worker).await,
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    Ok(())
}

/// Read back what the checks need once the ensemble is healed (recorded like any operation).
pub async fn finish(workload: Workload, ctx: Arc<Ctx>, pool: Arc<KeyPool>) -> anyhow::Result<()> {
    for key in pool.created_keys() {
        match workload {
            Workload::Register => register::finish(&ctx, &key).await?,
            Workload::Set => set::finish(&ctx, &key).await?,
            Workload::UniqueIds => unique::finish(&ctx, &key).await?,
            Workload::Queue => queue::finish(&ctx, &key).await?,
            Workload::Lock => {}
        }
    }
    Ok(())
}

/// Whether the server answered that the operation did not happen. Anything else (a lost
/// connection, a timeout, an expired session, a closed client) leaves the outcome unknown.
pub fn definite(error: &zk::Error) -> bool {
    use zk::Error as E;
    matches!(
        error,
        E::NoNode
            | E::NodeExists
            | E::BadVersion
            | E::NotEmpty
            | E::Throttled
            | E::NoAuth
            | E::InvalidAcl
            | E::NoChildrenForEphemerals
            | E::NotReadOnly
            | E::QuotaExceeded
            | E::BadArguments(_)
            | E::Unimplemented
            | E::ReconfigDisabled
    )
}

/// Why an operation did not complete normally.
#[derive(Debug)]
pub enum Failure {
    /// The server answered that it did not happen.
    Definite(zk::Error),
    /// Unknown outcome.
    Unknown(String),
}

impl Failure {
    pub fn outcome(&self) -> Outcome {
        match self {
            Failure::Definite(_) => Outcome::Fail,
            Failure::Unknown(_) => Outcome::Info,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Failure::Definite(e) => e.to_string(),
            Failure::Unknown(why) => why.clone(),
        }
    }
}

impl From<zk::Error> for Failure {
    fn from(e: zk::Error) -> Failure {
        if definite(&e) {
            Failure::Definite(e)
        } else {
            Failure::Unknown(e.to_string())
        }
    }
}

/// Await a client call within [`OP_TIMEOUT`].
pub async fn bounded<T>(
    call: impl std::future::Future<Output = Result<T, zk::Error>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(OP_TIMEOUT, call).await {
        Ok(result) => result.map_err(Failure::from),
        Err(_) => Err(Failure::Unknown(format!("no answer within {OP_TIMEOUT:?}"))),
    }
}

/// A worker's session, opened lazily and replaced when it expires or is abandoned.
pub struct Session {
    connect: String,
    timeout: Duration,
    client: Option<zk::Client>,
}

impl Session {
    pub fn new(connect: String, timeout: Duration) -> Session {
        Session {
            connect,
            timeout,
            client: None,
        }
    }

    pub fn standard(connect: String) -> Session {
        Session::new(connect, SESSION_TIMEOUT)
    }

    /// The client, connecting first if needed; `None` if no session could be had within the
    /// connect bound (the worker then pauses and tries again).
    pub async fn client(&mut self) -> Option<&zk::Client> {
        let usable = self.client.as_ref().is_some_and(|c| {
            !matches!(
                c.state(),
                zk::SessionState::Expired | zk::SessionState::Closed | zk::SessionState::AuthFailed
            )
        });
        if !usable {
            self.client = None;
            let connect = zk::Client::connector()
                .with_session_timeout(self.timeout)
                .connect(&self.connect);
            match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
                Ok(Ok(client)) => self.client = Some(client),
                _ => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    return None;
                }
            }
        }
        self.client.as_ref()
    }

    /// Drop the session (closing it if the server can be told).
    pub fn abandon(&mut self) {
        self.client = None;
    }
}

/// Keys handed out to workers: a few at a time, each retired after `max_ops` operations or
/// `max_unknown` unknown writes, so that every key's history stays short enough for the
/// linearizability checker.
pub struct KeyPool {
    prefix: String,
    active: usize,
    max_ops: usize,
    max_unknown: usize,
    state: Mutex<PoolState>,
}

#[derive(Default)]
struct PoolState {
    next: u64,
    live: Vec<KeyUse>,
    /// Every key ever handed out, and whether its znode is known to exist.
    all: BTreeMap<String, bool>,
}

struct KeyUse {
    key: String,
    ops: usize,
    unknown: usize,
}

impl KeyPool {
    pub fn new(prefix: &str, active: usize, max_ops: usize, max_unknown: usize) -> KeyPool {
        KeyPool {
            prefix: prefix.to_string(),
            active,
            max_ops,
            max_unknown,
            state: Mutex::new(PoolState::default()),
        }
    }

    /// A key for the next operation, counted against its budget.
    pub fn take(&self, rng: &mut ChaCha8Rng) -> String {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .live
            .retain(|k| k.ops < self.max_ops && k.unknown < self.max_unknown);
        while state.live.len() < self.active {
            let key = format!("{}/k{}", self.prefix, state.next);
            state.next += 1;
            state.all.insert(key.clone(), false);
            state.live.push(KeyUse {
                key,
                ops: 0,
                unknown: 0,
            });
        }
        let i = rng.random_range(0..state.live.len());
        state.live[i].ops += 1;
        state.live[i].key.clone()
    }

    /// An operation on `key` ended with an unknown outcome.
    pub fn unknown(&self, key: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = state.live.iter_mut().find(|k| k.key == key) {
            k.unknown += 1;
        }
    }

    pub fn is_created(&self, key: &str) -> bool {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.all.get(key).copied().unwrap_or(false)
    }

    pub fn created(&self, key: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.all.insert(key.to_string(), true);
    }

    /// Every key whose znode exists.
    pub fn created_keys(&self) -> Vec<String> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .all
            .iter()
            .filter(|(_, created)| **created)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// Create `path` (and `/chaos` and the workload's root) with `data` unless it exists.
pub async fn ensure(client: &zk::Client, path: &str, data: &[u8]) -> Result<(), Failure> {
    let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let mut prefix = String::new();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        prefix.push('/');
        prefix.push_str(part);
        let bytes: &[u8] = if i + 1 == parts.len() { data } else { b"" };
        match bounded(client.create(&prefix, bytes, &options)).await {
            Ok(_) | Err(Failure::Definite(zk::Error::NodeExists)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Run `attempt` with fresh sessions until it succeeds or `limit` passes (for the reads after
/// healing, which must not give up on the first lost connection).
pub async fn with_retries<T, F, Fut>(
    ctx: &Ctx,
    what: &str,
    limit: Duration,
    mut attempt: F,
) -> anyhow::Result<T>
where
    F: FnMut(zk::Client) -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    let deadline = Instant::now() + limit;
    let mut rng = ctx.rng(u64::MAX);
    let mut last = String::from("no session");
    while Instant::now() < deadline {
        let mut session = Session::standard(ctx.connect_string(&mut rng));
        if let Some(client) = session.client().await {
            match attempt(client.clone()).await {
                Ok(value) => return Ok(value),
                Err(e) => last = e.describe(),
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    anyhow::bail!("{what}: not done within {limit:?}; last error: {last}")
}

/// Record one operation.
pub fn record(
    ctx: &Ctx,
    process: u64,
    key: &str,
    kind: OpKind,
    invoke_ns: u64,
    outcome: Outcome,
    error: Option<String>,
) {
    ctx.recorder.record(Op {
        process,
        key: key.to_string(),
        kind,
        invoke_ns,
        complete_ns: ctx.recorder.now_ns(),
        outcome,
        error,
    });
}

/// What the loop of every keyed worker (register, set, unique ids, queue) shares: a key whose
/// znode exists, and the recording of each operation's outcome.
pub struct KeyedWorker<'a> {
    ctx: &'a Ctx,
    pool: &'a KeyPool,
    /// The logical process the next operation belongs to.
    process: u64,
}

impl<'a> KeyedWorker<'a> {
    pub fn new(ctx: &'a Ctx, pool: &'a KeyPool) -> Self {
        KeyedWorker {
            ctx,
            pool,
            process: ctx.recorder.process(),
        }
    }

    /// A key for the next operation, its znode created holding `initial` if nobody has made
    /// it yet; `None` when that failed (the worker tries again with another round).
    pub async fn key(
        &self,
        rng: &mut ChaCha8Rng,
        client: &zk::Client,
        initial: &[u8],
    ) -> Option<String> {
        let key = self.pool.take(rng);
        if !self.pool.is_created(&key) {
            ensure(client, &key, initial).await.ok()?;
            self.pool.created(&key);
        }
        Some(key)
    }

    /// Records an operation on `key` invoked at `invoke_ns`. After an unknown outcome the key
    /// is charged with it (the pool retires keys with many) and the worker goes on as a new
    /// logical process, since its request may still take effect later.
    pub fn finish(&mut self, key: &str, kind: OpKind, invoke_ns: u64, result: Result<(), Failure>) {
        match result {
            Ok(()) => record(
                self.ctx,
                self.process,
                key,
                kind,
                invoke_ns,
                Outcome::Ok,
                None,
            ),
            Err(failure) => {
                let outcome = failure.outcome();
                let error = Some(failure.describe());
                record(self.ctx, self.process, key, kind, invoke_ns, outcome, error);
                if outcome == Outcome::Info {
                    self.pool.unknown(key);
                    self.process = self.ctx.recorder.process();
                }
            }
        }
    }
}

/// A short random pause between a worker's operations.
pub async fn breathe(rng: &mut ChaCha8Rng) {
    tokio::time::sleep(Duration::from_millis(rng.random_range(5..30))).await;
}

/// The sequence number at the end of a sequential node's name (`…-0000000042`).
pub fn sequence_of(name: &str) -> Option<u64> {
    let digits = name.rsplit('-').next()?;
    (digits.len() >= 10).then(|| digits.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_pool_retires_keys_after_their_budget() {
        let pool = KeyPool::new("/chaos/register", 2, 3, 2);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let taken: Vec<String> = (0..12).map(|_| pool.take(&mut rng)).collect();
        let mut counts: BTreeMap<&String, usize> = BTreeMap::new();
        for key in &taken {
            *counts.entry(key).or_default() += 1;
        }
        assert!(counts.values().all(|&n| n <= 3), "{counts:?}");
        assert!(counts.len() >= 4, "{counts:?}");
        // Unknown outcomes retire a key early.
        let pool = KeyPool::new("/q", 1, 100, 2);
        let first = pool.take(&mut rng);
        pool.unknown(&first);
        pool.unknown(&first);
        assert_ne!(pool.take(&mut rng), first);
        assert!(pool.created_keys().is_empty());
        pool.created(&first);
        assert_eq!(pool.created_keys(), vec![first.clone()]);
        assert!(pool.is_created(&first));
    }

    #[test]
    fn sequence_numbers_are_parsed_from_names() {
        assert_eq!(sequence_of("id-0000000042"), Some(42));
        assert_eq!(sequence_of("v17-0000000003"), Some(3));
        assert_eq!(sequence_of("n-"), None);
        assert_eq!(sequence_of("plain"), None);
    }

    #[test]
    fn only_server_answers_are_definite() {
        assert!(definite(&zk::Error::BadVersion));
        assert!(definite(&zk::Error::Throttled));
        assert!(!definite(&zk::Error::ConnectionLoss));
        assert!(!definite(&zk::Error::SessionExpired));
        assert!(!definite(&zk::Error::Timeout));
    }
}
