//! A grow-only set per key: `add` creates the child `e<element>`, `read` is `sync` +
//! `getChildren`. Checked directly (checker::invariants::check_set).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use zookeeper_client as zk;

use super::{Ctx, Failure, KeyPool, KeyedWorker, Session, bounded, breathe, record, with_retries};
use crate::history::{OpKind, Outcome};

pub async fn work(ctx: Arc<Ctx>, pool: Arc<KeyPool>, worker: u64) {
    let mut rng = ctx.rng(worker);
    let mut session = Session::standard(ctx.connect_string(&mut rng));
    let mut keyed = KeyedWorker::new(&ctx, &pool);
    let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    while ctx.running() {
        breathe(&mut rng).await;
        let Some(client) = session.client().await else {
            continue;
        };
        let Some(key) = keyed.key(&mut rng, client, b"").await else {
            continue;
        };
        let invoke = ctx.recorder.now_ns();
        let (kind, result) = if rng.random_bool(0.6) {
            let element = ctx.unique_value();
            let path = format!("{key}/e{element}");
            let result = bounded(client.create(&path, b"", &options))
                .await
                .map(|_| ());
            (OpKind::Add { element }, result)
        } else {
            let result = listing(client, &key, element_of).await;
            let elements = result.as_ref().ok().cloned();
            (OpKind::ReadSet { elements }, result.map(|_| ()))
        };
        keyed.finish(&key, kind, invoke, result);
    }
}

/// `e17` → 17.
pub fn element_of(name: &str) -> Option<u64> {
    name.strip_prefix('e')?.parse().ok()
}

/// `sync` + `getChildren` of `key`, each child parsed by `parse` (sorted). A child that does
/// not parse is reported as an error: nothing else is ever created there.
pub async fn listing(
    client: &zk::Client,
    key: &str,
    parse: fn(&str) -> Option<u64>,
) -> Result<Vec<u64>, Failure> {
    bounded(client.sync(key)).await?;
    let children = bounded(client.list_children(key)).await?;
    let mut values = Vec::with_capacity(children.len());
    for child in children {
        values.push(parse(&child).ok_or_else(|| {
            Failure::Unknown(format!(
                "{key} has a child {child:?} nobody should have created"
            ))
        })?);
    }
    values.sort_unstable();
    Ok(values)
}

/// After healing: one last listing of `key`, parsed by `parse`.
pub async fn final_listing(
    ctx: &Ctx,
    key: &str,
    parse: fn(&str) -> Option<u64>,
) -> anyhow::Result<()> {
    let process = ctx.recorder.process();
    let invoke = ctx.recorder.now_ns();
    let what = format!("final listing of {key}");
    let elements = with_retries(ctx, &what, Duration::from_secs(60), |client| async move {
        listing(&client, key, parse).await
    })
    .await?;
    let kind = OpKind::ReadSet {
        elements: Some(elements),
    };
    record(ctx, process, key, kind, invoke, Outcome::Ok, None);
    Ok(())
}

pub async fn finish(ctx: &Ctx, key: &str) -> anyhow::Result<()> {
    final_listing(ctx, key, element_of).await
}
