//! Watch fire latency: `watchers` sessions (spread over the members) each hold a data watch on
//! one znode; one session on the first member writes it. Per repetition the figure is the time
//! from just before the setData leaves until the **last** watcher has its NodeDataChanged event;
//! the watches are set again before the next repetition.

use std::time::Duration;

use tokio::time::Instant;
use zookeeper_client as zk;

use super::{OP_TIMEOUT, RunCtx};
use crate::error::BenchError;
use crate::latency::LatencyRecorder;
use crate::record::BenchResult;
use crate::sessions::{persistent, value};

/// Pause between repetitions, so one write's notifications never overlap the next.
const BETWEEN_REPS: Duration = Duration::from_millis(20);

pub async fn run(ctx: &RunCtx) -> Result<Vec<BenchResult>, BenchError> {
    let p = &ctx.params;
    let writer = ctx.cluster.connect(0, p.session_timeout).await?;
    // Watchers start at member 1 so that, in an ensemble, most of them are not on the writer's.
    let watchers = ctx
        .cluster
        .connect_many(1, p.fire_watchers, p.session_timeout)
        .await?;
    let base = ctx.base_path("watch-fire");
    crate::sessions::ensure_path(&writer, &base).await?;
    let path = format!("{base}/fired");
    let data = value(p.value_bytes);
    writer
        .create(&path, &data, &persistent())
        .await
        .map_err(BenchError::op(format!("creating {path}")))?;
    crate::sessions::catch_up(&watchers, &path).await?;

    let sampler = ctx.sample_rss();
    let mut all = LatencyRecorder::new();
    let mut each = LatencyRecorder::new();
    let mut ack = LatencyRecorder::new();
    for rep in 0..p.fire_reps {
        let armed = arm(&watchers, &path).await?;
        let sent = Instant::now();
        tokio::time::timeout(OP_TIMEOUT, writer.set_data(&path, &data, None))
            .await
            .map_err(|_| BenchError::Stalled {
                what: format!("setData {path} (watch fire)"),
                pending: 1,
                waited: OP_TIMEOUT,
            })?
            .map_err(BenchError::op(format!("setData {path} (watch fire)")))?;
        ack.record(sent.elapsed());
        let mut last = sent;
        for handle in armed {
            let arrival = tokio::time::timeout(OP_TIMEOUT, handle)
                .await
                .map_err(|_| BenchError::Stalled {
                    what: format!("watch fire repetition {rep}: waiting for the watchers' events"),
                    pending: 1,
                    waited: OP_TIMEOUT,
                })?
                .map_err(|e| BenchError::Check(format!("a watcher task failed: {e}")))??;
            each.record(arrival - sent);
            last = last.max(arrival);
        }
        all.record(last - sent);
        tokio::time::sleep(BETWEEN_REPS).await;
    }
    let rss = sampler.finish();
    let mut r = ctx
        .result(
            "watch-fire",
            "fire",
            "time from just before one setData leaves until every one of the watchers (one data watch per session, sessions spread over the members) has its NodeDataChanged event; all_* over repetitions, each_* over every single event",
        )
        .param("watchers", p.fire_watchers)
        .param("reps", p.fire_reps)
        .with_rss(rss);
    all.summary().add_to("all_", &mut r.figures);
    each.summary().add_to("each_", &mut r.figures);
    ack.summary().add_to("write_ack_", &mut r.figures);
    Ok(vec![r])
}

type Arrival = tokio::task::JoinHandle<Result<Instant, BenchError>>;

/// Sets a data watch on `path` from every watcher session and returns, per watcher, a task
/// that resolves to the instant its event arrived. Returns once every watch is registered.
async fn arm(watchers: &[zk::Client], path: &str) -> Result<Vec<Arrival>, BenchError> {
    let replies =
        futures::future::join_all(watchers.iter().map(|c| c.get_and_watch_data(path))).await;
    let mut arrivals = Vec::with_capacity(replies.len());
    for reply in replies {
        let (_, _, watcher) =
            reply.map_err(BenchError::op(format!("getData {path} with a watch")))?;
        arrivals.push(tokio::spawn(async move {
            let event = watcher.changed().await;
            let at = Instant::now();
            if event.event_type != zk::EventType::NodeDataChanged {
                return Err(BenchError::Check(format!(
                    "a watcher got {:?} for {} instead of NodeDataChanged",
                    event.event_type, event.path
                )));
            }
            Ok(at)
        }));
    }
    Ok(arrivals)
}
