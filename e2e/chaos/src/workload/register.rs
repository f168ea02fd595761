//! A compare-and-set register per key: `read` is `sync` + `getData`, `write` is `setData`, and
//! `cas(from, to)` is `sync` + `getData` and, when the value is `from`, `setData(to, version)`.
//!
//! Why this CAS is atomic: a versioned `setData` succeeds only if nothing changed the znode
//! since the read, so at that instant the value is still `from`. Every write carries a value
//! never written before, so a BADVERSION means the value moved away from `from` inside the
//! operation's bounds, which is a valid point for the CAS to fail. The read in a CAS is synced
//! first: a stale local read could make it fail at a point outside its bounds.

use std::collections::HashMap;
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
    // The value this worker last read per key: its CAS tries to move that value on.
    let mut last_seen: HashMap<String, i64> = HashMap::new();
    while ctx.running() {
        breathe(&mut rng).await;
        let Some(client) = session.client().await else {
            continue;
        };
        let Some(key) = keyed.key(&mut rng, client, b"0").await else {
            continue;
        };
        let roll: f64 = rng.random();
        let invoke = ctx.recorder.now_ns();
        let (kind, result) = if roll < 0.4 {
            let result = read(client, &key).await;
            let value = result.as_ref().ok().map(|(v, _)| *v);
            if let Some(v) = value {
                last_seen.insert(key.clone(), v);
            }
            (OpKind::Read { value }, result.map(|_| ()))
        } else if roll < 0.7 {
            let value = ctx.unique_value() as i64;
            let result = bounded(client.set_data(&key, value.to_string().as_bytes(), None))
                .await
                .map(|_| ());
            (OpKind::Write { value }, result)
        } else {
            let from = last_seen.get(&key).copied().unwrap_or(0);
            let to = ctx.unique_value() as i64;
            let (swapped, result) = cas(client, &key, from, to).await;
            (OpKind::Cas { from, to, swapped }, result)
        };
        keyed.finish(&key, kind, invoke, result);
    }
}

/// `sync` then `getData`: the value and version.
async fn read(client: &zk::Client, key: &str) -> Result<(i64, i32), Failure> {
    bounded(client.sync(key)).await?;
    let (data, stat) = bounded(client.get_data(key)).await?;
    let value = std::str::from_utf8(&data)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| Failure::Unknown(format!("{key} holds {data:?}, not a number")))?;
    Ok((value, stat.version))
}

/// The CAS: `(Some(swapped), Ok)` once decided; a failure before the `setData` was sent is
/// definite (nothing was written), one after it is whatever the `setData` gave.
async fn cas(
    client: &zk::Client,
    key: &str,
    from: i64,
    to: i64,
) -> (Option<bool>, Result<(), Failure>) {
    let (value, version) = match read(client, key).await {
        Ok(read) => read,
        Err(e) => return (None, Err(Failure::Definite(definite_cause(e)))),
    };
    if value != from {
        return (Some(false), Ok(()));
    }
    match bounded(client.set_data(key, to.to_string().as_bytes(), Some(version))).await {
        Ok(_) => (Some(true), Ok(())),
        Err(Failure::Definite(zk::Error::BadVersion)) => (Some(false), Ok(())),
        Err(e) => (None, Err(e)),
    }
}

/// The error to report for a CAS that never sent its write.
fn definite_cause(failure: Failure) -> zk::Error {
    match failure {
        Failure::Definite(e) => e,
        Failure::Unknown(why) => zk::Error::UnexpectedError(format!(
            "the read before the write failed ({why}); nothing was written"
        )),
    }
}

/// After healing: one last synced read of `key`.
pub async fn finish(ctx: &Ctx, key: &str) -> anyhow::Result<()> {
    let process = ctx.recorder.process();
    let invoke = ctx.recorder.now_ns();
    let what = format!("final read of {key}");
    let value = with_retries(ctx, &what, Duration::from_secs(60), |client| async move {
        read(&client, key).await.map(|(v, _)| v)
    })
    .await?;
    let kind = OpKind::Read { value: Some(value) };
    record(ctx, process, key, kind, invoke, Outcome::Ok, None);
    Ok(())
}
