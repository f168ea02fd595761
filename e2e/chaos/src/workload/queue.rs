//! A FIFO queue per key: `enqueue(v)` creates the sequential child `v<v>-`, `dequeue` lists the
//! children after `sync` and deletes the lowest one it can (the next one when another client
//! took it first). Checked for linearizability against a FIFO queue.
//!
//! Why a dequeue takes effect atomically at its successful delete: the listing was taken after
//! the dequeue began; anything enqueued since has a higher sequence number, so at the delete
//! nothing older than the deleted child is left (the older ones in the listing were tried
//! first and found gone). An empty listing is an empty queue at the listing. When every delete
//! found its child gone, nothing was removed: the dequeue failed.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use zookeeper_client as zk;

use super::{Ctx, Failure, KeyPool, KeyedWorker, Session, bounded, breathe, record, sequence_of};
use crate::history::{OpKind, Outcome};

/// Bound on the dequeues that drain one queue after healing.
const DRAIN_LIMIT: usize = 500;

pub async fn work(ctx: Arc<Ctx>, pool: Arc<KeyPool>, worker: u64) {
    let mut rng = ctx.rng(worker);
    let mut session = Session::standard(ctx.connect_string(&mut rng));
    let mut keyed = KeyedWorker::new(&ctx, &pool);
    while ctx.running() {
        breathe(&mut rng).await;
        let Some(client) = session.client().await else {
            continue;
        };
        let Some(key) = keyed.key(&mut rng, client, b"").await else {
            continue;
        };
        let invoke = ctx.recorder.now_ns();
        let (kind, result) = if rng.random_bool(0.5) {
            let value = ctx.unique_value();
            (
                OpKind::Enqueue { value },
                enqueue(client, &key, value).await,
            )
        } else {
            let result = dequeue(client, &key).await;
            let value = result.as_ref().ok().copied().flatten();
            (OpKind::Dequeue { value }, result.map(|_| ()))
        };
        keyed.finish(&key, kind, invoke, result);
    }
}

async fn enqueue(client: &zk::Client, key: &str, value: u64) -> Result<(), Failure> {
    let options = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    bounded(client.create(&format!("{key}/v{value}-"), b"", &options))
        .await
        .map(|_| ())
}

/// `v17-0000000004` → 17.
fn value_of(name: &str) -> Option<u64> {
    name.strip_prefix('v')?.split('-').next()?.parse().ok()
}

/// The removed value, `None` for an empty queue.
async fn dequeue(client: &zk::Client, key: &str) -> Result<Option<u64>, Failure> {
    bounded(client.sync(key)).await?;
    let children = bounded(client.list_children(key)).await?;
    let mut items: Vec<(u64, u64, String)> = Vec::with_capacity(children.len());
    for child in children {
        match (sequence_of(&child), value_of(&child)) {
            (Some(seq), Some(value)) => items.push((seq, value, child)),
            _ => {
                return Err(Failure::Definite(zk::Error::UnexpectedError(format!(
                    "{key} has a child {child:?} nobody should have created"
                ))));
            }
        }
    }
    if items.is_empty() {
        return Ok(None);
    }
    items.sort_unstable();
    for (_, value, child) in items {
        match bounded(client.delete(&format!("{key}/{child}"), None)).await {
            Ok(()) => return Ok(Some(value)),
            Err(Failure::Definite(zk::Error::NoNode)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Failure::Definite(zk::Error::NoNode))
}

/// After healing: dequeue until the queue is empty, recording every dequeue.
pub async fn finish(ctx: &Ctx, key: &str) -> anyhow::Result<()> {
    let mut rng = ctx.rng(u64::MAX - 1);
    let mut session = Session::standard(ctx.connect_string(&mut rng));
    let mut process = ctx.recorder.process();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let mut drained = 0;
    while drained < DRAIN_LIMIT {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "draining {key} after healing did not finish within 90 s"
        );
        let Some(client) = session.client().await else {
            continue;
        };
        let invoke = ctx.recorder.now_ns();
        match dequeue(client, key).await {
            Ok(None) => {
                let kind = OpKind::Dequeue { value: None };
                record(ctx, process, key, kind, invoke, Outcome::Ok, None);
                return Ok(());
            }
            Ok(value) => {
                record(
                    ctx,
                    process,
                    key,
                    OpKind::Dequeue { value },
                    invoke,
                    Outcome::Ok,
                    None,
                );
                drained += 1;
            }
            Err(failure) => {
                let outcome = failure.outcome();
                let kind = OpKind::Dequeue { value: None };
                record(
                    ctx,
                    process,
                    key,
                    kind,
                    invoke,
                    outcome,
                    Some(failure.describe()),
                );
                if outcome == Outcome::Info {
                    process = ctx.recorder.process();
                    session.abandon();
                }
            }
        }
    }
    anyhow::bail!("{key} still had items after {DRAIN_LIMIT} dequeues")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_children_carry_their_value_and_sequence() {
        assert_eq!(value_of("v17-0000000004"), Some(17));
        assert_eq!(sequence_of("v17-0000000004"), Some(4));
        assert_eq!(value_of("x17-0000000004"), None);
    }
}
