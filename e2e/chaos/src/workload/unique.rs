//! Unique ids from sequential znodes: every acknowledged `create(key/id-, SEQUENTIAL)` names a
//! sequence number no other acknowledged create got, and ids follow real time. Checked directly
//! (checker::invariants::check_unique_ids), with the final listing for lost ids.

use std::sync::Arc;

use zookeeper_client as zk;

use super::{Ctx, KeyPool, KeyedWorker, Session, bounded, breathe, sequence_of, set};
use crate::history::OpKind;

pub async fn work(ctx: Arc<Ctx>, pool: Arc<KeyPool>, worker: u64) {
    let mut rng = ctx.rng(worker);
    let mut session = Session::standard(ctx.connect_string(&mut rng));
    let mut keyed = KeyedWorker::new(&ctx, &pool);
    let options = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    while ctx.running() {
        breathe(&mut rng).await;
        let Some(client) = session.client().await else {
            continue;
        };
        let Some(key) = keyed.key(&mut rng, client, b"").await else {
            continue;
        };
        let invoke = ctx.recorder.now_ns();
        let result = bounded(client.create(&format!("{key}/id-"), b"", &options)).await;
        let id = result.as_ref().ok().map(|(_, seq)| seq.into_i64() as u64);
        keyed.finish(&key, OpKind::NextId { id }, invoke, result.map(|_| ()));
    }
}

pub async fn finish(ctx: &Ctx, key: &str) -> anyhow::Result<()> {
    set::final_listing(ctx, key, sequence_of).await
}
