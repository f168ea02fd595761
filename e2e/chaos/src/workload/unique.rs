//! Unique ids from sequential znodes: every acknowledged `create(key/id-, SEQUENTIAL)` names a
//! sequence number no other acknowledged create got, and ids follow real time. Checked directly
//! (checker::invariants::check_unique_ids), with the final listing for lost ids.

use std::sync::Arc;

use zookeeper_client as zk;

use super::{Ctx, KeyPool, Session, bounded, breathe, ensure, record, sequence_of, set};
use crate::history::{OpKind, Outcome};

pub async fn work(ctx: Arc<Ctx>, pool: Arc<KeyPool>, worker: u64) {
    let mut rng = ctx.rng(worker);
    let mut session = Session::standard(ctx.connect_string(&mut rng));
    let mut process = ctx.recorder.process();
    let options = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    while ctx.running() {
        breathe(&mut rng).await;
        let Some(client) = session.client().await else {
            continue;
        };
        let key = pool.take(&mut rng);
        if !pool.is_created(&key) {
            match ensure(client, &key, b"").await {
                Ok(()) => pool.created(&key),
                Err(_) => continue,
            }
        }
        let invoke = ctx.recorder.now_ns();
        match bounded(client.create(&format!("{key}/id-"), b"", &options)).await {
            Ok((_, sequence)) => {
                let id = Some(sequence.into_i64() as u64);
                record(
                    &ctx,
                    process,
                    &key,
                    OpKind::NextId { id },
                    invoke,
                    Outcome::Ok,
                    None,
                );
            }
            Err(failure) => {
                let outcome = failure.outcome();
                let kind = OpKind::NextId { id: None };
                record(
                    &ctx,
                    process,
                    &key,
                    kind,
                    invoke,
                    outcome,
                    Some(failure.describe()),
                );
                if outcome == Outcome::Info {
                    process = ctx.recorder.process();
                }
            }
        }
    }
}

pub async fn finish(ctx: &Ctx, key: &str) -> anyhow::Result<()> {
    set::final_listing(ctx, key, sequence_of).await
}
