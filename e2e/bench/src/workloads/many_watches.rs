//! Request latency while many watches are registered.
//!
//! A server keeps one watch per (session, znode, kind): a session that asks twice for a data
//! watch on the same znode holds one watch. One million watches on a *single* znode would thus
//! need a million sessions, so the watches are spread instead: `watch_sessions` sessions (over
//! the members) each set a data watch (getData with watch=true) on the same `watch_nodes`
//! znodes, `watch_sessions × watch_nodes` watches in all, checked against the servers' own
//! `zk_watch_count`. While they stay registered, separate probe sessions run the open-loop
//! 90/10 getData/setData mix on other znodes (which fires none of the watches); the figures
//! are the probe's latencies (from intended send time) and the RSS with the watches held.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use tokio::time::Instant;
use zookeeper_client as zk;

use super::{OP_TIMEOUT, RunCtx, create_all, ensure_keys, ops};
use crate::error::BenchError;
use crate::fourlw;
use crate::record::BenchResult;
use crate::sessions::{ensure_path, persistent, value};

/// Sessions setting their watches at once, and requests in flight per session while they do.
const SESSIONS_AT_ONCE: usize = 16;
const WINDOW_PER_SESSION: usize = 256;
/// Sessions issuing the probe requests.
const PROBE_SESSIONS: usize = 8;

pub async fn run(ctx: &RunCtx) -> Result<Vec<BenchResult>, BenchError> {
    let p = &ctx.params;
    let setup = ctx.cluster.connect_many(0, 4, p.session_timeout).await?;
    let base = ctx.base_path("many-watches");
    ensure_path(&setup[0], &base).await?;
    let nodes: Vec<String> = (0..p.watch_nodes).map(|j| format!("{base}/w{j}")).collect();
    create_all(
        &setup,
        nodes.iter().cloned(),
        &value(p.value_bytes),
        &persistent(),
        256,
        false,
    )
    .await?;
    let keys = ensure_keys(ctx, &setup).await?;
    drop(setup);

    let sampler = ctx.sample_rss();
    let holders = ctx
        .cluster
        .connect_many(0, p.watch_sessions, p.session_timeout)
        .await?;
    crate::sessions::catch_up(&holders, &base).await?;
    let started = Instant::now();
    let watchers = set_watches(&holders, &nodes).await?;
    let set_time = started.elapsed();
    let expected = (p.watch_sessions * p.watch_nodes) as u64;
    let mut server_watches = 0u64;
    for member in ctx.cluster.members() {
        let mntr = fourlw::ask(member, "mntr", Duration::from_secs(30)).await?;
        server_watches += fourlw::mntr_value(&mntr, "zk_watch_count").ok_or_else(|| {
            BenchError::Check(format!(
                "mntr from {member} has no zk_watch_count line; is mntr whitelisted (4lw.commands.whitelist=*)?"
            ))
        })?;
    }
    if server_watches < expected {
        return Err(BenchError::Check(format!(
            "the servers report {server_watches} watches after {expected} were set"
        )));
    }

    let probes = ctx
        .cluster
        .connect_many(p.watch_sessions, PROBE_SESSIONS, p.session_timeout)
        .await?;
    let probe = ops::open_loop_mix(&probes, keys, p.value_bytes, p.probe_rate, p.phase).await?;
    let rss = sampler.finish();

    // Close the sessions before dropping the watchers: a watcher dropped while its session is
    // open makes the client send removeWatches for it, a million requests nobody measures.
    drop(holders);
    drop(watchers);

    let mut r = ctx
        .result(
            "many-watches",
            "probe",
            "latency of an open-loop 90/10 getData/setData probe on other znodes (from intended send time) while the watch-holding sessions keep their data watches; RSS summed over members with the watches held",
        )
        .param("watches", expected)
        .param("watch_sessions", p.watch_sessions)
        .param("watch_nodes", p.watch_nodes)
        .param("probe_sessions", PROBE_SESSIONS)
        .param("rate_ops_s", p.probe_rate)
        .param("phase_s", p.phase.as_secs_f64())
        .with_rss(rss);
    probe.latency.summary().add_to("", &mut r.figures);
    r.figure("server_watch_count", server_watches as f64);
    r.figure("watch_set_s", set_time.as_secs_f64());
    r.figure(
        "watch_set_per_s",
        expected as f64 / set_time.as_secs_f64().max(1e-9),
    );
    r.figure("achieved_ops_s", probe.achieved_rate);
    Ok(vec![r])
}

/// Every holder sets a data watch on every node; returns the watchers, which must outlive the
/// measurement (dropping one removes its watch).
async fn set_watches(
    holders: &[zk::Client],
    nodes: &[String],
) -> Result<Vec<zk::OneshotWatcher>, BenchError> {
    let per_session = futures::stream::iter(holders.iter().map(|client| async move {
        futures::stream::iter(nodes.iter().map(|path| async move {
            match tokio::time::timeout(OP_TIMEOUT, client.get_and_watch_data(path)).await {
                Ok(Ok((_, _, watcher))) => Ok(watcher),
                Ok(Err(source)) => Err(BenchError::Op {
                    what: format!("getData {path} with a watch"),
                    source,
                }),
                Err(_) => Err(BenchError::Stalled {
                    what: format!("getData {path} with a watch"),
                    pending: 1,
                    waited: OP_TIMEOUT,
                }),
            }
        }))
        .buffer_unordered(WINDOW_PER_SESSION)
        .try_collect::<Vec<_>>()
        .await
    }))
    .buffer_unordered(SESSIONS_AT_ONCE)
    .try_collect::<Vec<_>>()
    .await?;
    Ok(per_session.into_iter().flatten().collect())
}
