//! A lock per key, by ZooKeeper's recipe: each contender creates an ephemeral sequential node
//! under the key; the lowest node holds the lock; the others watch their predecessor.
//!
//! A holder believes it holds the lock from the moment it sees its node lowest until it starts
//! releasing, or until its connection or session changes state at all: after a disconnect it
//! cannot know whether its session (and node) still live, so it must stop acting, as Curator's
//! lock recipe tells its users. That belief is recorded as a `Hold` operation over exactly
//! that interval. While holding, the worker writes the key's data node with a multi fenced by
//! its lock node (`check(node)` + `setData`), so the server itself refuses a holder whose node
//! is gone. Checked by checker::invariants::check_lock.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use zookeeper_client as zk;

use super::{Ctx, Failure, KeyPool, Session, bounded, ensure, record, sequence_of};
use crate::history::{OpKind, Outcome};

/// Contending sessions.
pub const WORKERS: u64 = 4;
/// Short sessions, so that a holder cut off from the quorum loses its node within the run.
const LOCK_SESSION_TIMEOUT: Duration = Duration::from_secs(3);
/// Bound on waiting for a predecessor before looking again.
const WAIT_STEP: Duration = Duration::from_secs(3);

pub async fn work(ctx: Arc<Ctx>, pool: Arc<KeyPool>, worker: u64) {
    let mut rng = ctx.rng(worker);
    let mut session = Session::new(ctx.connect_string(&mut rng), LOCK_SESSION_TIMEOUT);
    let mut process = ctx.recorder.process();
    while ctx.running() {
        tokio::time::sleep(Duration::from_millis(rng.random_range(10..200))).await;
        let Some(client) = session.client().await else {
            continue;
        };
        let client = client.clone();
        let key = pool.take(&mut rng);
        let data = format!("{key}-data");
        if !pool.is_created(&key) {
            match (
                ensure(&client, &key, b"").await,
                ensure(&client, &data, b"").await,
            ) {
                (Ok(()), Ok(())) => pool.created(&key),
                _ => continue,
            }
        }
        let mut attempt = Attempt {
            ctx: &ctx,
            client: &client,
            states: client.state_watcher(),
            session: client.session_id().0,
            key: &key,
            data: &data,
            process,
        };
        let kept = attempt.run(&mut rng).await;
        process = attempt.process;
        if !kept {
            session.abandon();
        }
    }
}

/// One acquire-hold-release round on one session.
struct Attempt<'a> {
    ctx: &'a Ctx,
    client: &'a zk::Client,
    states: zk::StateWatcher,
    session: i64,
    key: &'a str,
    data: &'a str,
    process: u64,
}

impl Attempt<'_> {
    /// Whether the session is still fit for another round.
    async fn run(&mut self, rng: &mut rand_chacha::ChaCha8Rng) -> bool {
        let options = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
        let seq = match bounded(
            self.client
                .create(&format!("{}/n-", self.key), b"", &options),
        )
        .await
        {
            Ok((_, sequence)) => sequence.into_i64() as u64,
            Err(_) => return false,
        };
        let node = format!("{}/n-{seq:010}", self.key);
        if !self.wait_until_lowest(seq).await {
            return false;
        }
        let from = self.ctx.recorder.now_ns();
        let hold_for = Duration::from_millis(rng.random_range(200..1200));
        let started = std::time::Instant::now();
        let mut still_held = true;
        let mut n = 0u64;
        while still_held && started.elapsed() < hold_for {
            n += 1;
            still_held = self.fenced_write(&node, seq, n).await;
            if still_held {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = self.states.changed() => still_held = false,
                }
            }
        }
        // The belief ends here: the release starts, or the connection or session moved.
        let kind = OpKind::Hold {
            session: self.session,
            seq,
        };
        record(
            self.ctx,
            self.process,
            self.key,
            kind,
            from,
            Outcome::Ok,
            None,
        );
        still_held && bounded(self.client.delete(&node, None)).await.is_ok()
    }

    /// Wait until `seq` is the lowest node; `false` if the session is no longer trustworthy or
    /// the run is over.
    async fn wait_until_lowest(&mut self, seq: u64) -> bool {
        while self.ctx.running() {
            let Ok(children) = bounded(self.client.list_children(self.key)).await else {
                return false;
            };
            let mut seqs: Vec<u64> = children.iter().filter_map(|c| sequence_of(c)).collect();
            seqs.sort_unstable();
            if !seqs.contains(&seq) {
                return false; // Our node is gone: the session expired.
            }
            let Some(predecessor) = seqs.iter().copied().filter(|s| *s < seq).max() else {
                return true;
            };
            let path = format!("{}/n-{predecessor:010}", self.key);
            let Ok((stat, watcher)) = bounded(self.client.check_and_watch_stat(&path)).await else {
                return false;
            };
            if stat.is_none() {
                continue;
            }
            tokio::select! {
                _ = watcher.changed() => {}
                _ = tokio::time::sleep(WAIT_STEP) => {}
                _ = self.states.changed() => return false,
            }
        }
        false
    }

    /// One write fenced by the lock node; `false` once the holder must stop.
    async fn fenced_write(&mut self, node: &str, seq: u64, n: u64) -> bool {
        let invoke = self.ctx.recorder.now_ns();
        let payload = format!("0x{:x}:{seq}:{n}", self.session);
        let mut writer = self.client.new_multi_writer();
        let staged = writer
            .add_check_version(node, 0)
            .and_then(|()| writer.add_set_data(self.data, payload.as_bytes(), None));
        if staged.is_err() {
            return false;
        }
        let commit = tokio::time::timeout(super::OP_TIMEOUT, writer.commit());
        let result: Result<i32, Failure> = tokio::select! {
            result = commit => match result {
                Ok(Ok(results)) => match results.last() {
                    Some(zk::MultiWriteResult::SetData { stat }) => Ok(stat.version),
                    other => Err(Failure::Unknown(format!("unexpected multi results {other:?}"))),
                },
                Ok(Err(zk::MultiWriteError::OperationFailed { source, .. })) => {
                    Err(Failure::Definite(source))
                }
                Ok(Err(zk::MultiWriteError::RequestFailed { source })) => Err(Failure::from(source)),
                Err(_) => Err(Failure::Unknown("no answer in time".into())),
            },
            _ = self.states.changed() => Err(Failure::Unknown("the session changed state".into())),
        };
        let (version, outcome, error) = match &result {
            Ok(version) => (Some(*version), Outcome::Ok, None),
            Err(failure) => (None, failure.outcome(), Some(failure.describe())),
        };
        let kind = OpKind::FencedWrite {
            session: self.session,
            seq,
            version,
        };
        record(
            self.ctx,
            self.process,
            self.key,
            kind,
            invoke,
            outcome,
            error,
        );
        if outcome == Outcome::Info {
            self.process = self.ctx.recorder.process();
        }
        result.is_ok()
    }
}
