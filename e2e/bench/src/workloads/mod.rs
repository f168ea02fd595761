//! The workloads. Each one takes a [`RunCtx`] and returns its results; the caller prints them.
//!
//! Every znode a workload creates lives under `/bench/<workload>/<run id>`, so a workload can be
//! repeated against the same server without colliding with an earlier run.

pub mod expiry;
pub mod hold;
pub mod many_watches;
pub mod ops;
pub mod resident;
pub mod watch_fire;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{StreamExt, TryStreamExt};
use zookeeper_client as zk;

use crate::cli::{Params, Workload};
use crate::error::BenchError;
use crate::record::{BenchResult, RunLabel};
use crate::rss::RssSampler;
use crate::sessions::Cluster;

/// How often server memory is sampled.
const RSS_INTERVAL: Duration = Duration::from_millis(100);
/// Bound on any single request; a server that takes longer has stalled, and the run fails.
pub const OP_TIMEOUT: Duration = Duration::from_secs(60);

pub struct RunCtx {
    pub cluster: Cluster,
    pub pids: Vec<u32>,
    pub label: RunLabel,
    pub params: Params,
    /// Distinguishes this run's znodes from earlier runs' on the same server.
    pub run_id: String,
}

impl RunCtx {
    pub fn new(cluster: Cluster, pids: Vec<u32>, label: RunLabel, params: Params) -> Self {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Self {
            cluster,
            pids,
            label,
            params,
            run_id: format!("r{millis}"),
        }
    }

    pub fn sample_rss(&self) -> RssSampler {
        RssSampler::start(&self.pids, RSS_INTERVAL)
    }

    /// `/bench/<workload>/<run id>`.
    pub fn base_path(&self, workload: &str) -> String {
        format!("/bench/{workload}/{}", self.run_id)
    }

    pub fn result(&self, workload: &str, phase: &str, what: &str) -> BenchResult {
        BenchResult::new(&self.label, workload, phase, what)
    }
}

pub async fn run(ctx: &RunCtx, workload: Workload) -> Result<Vec<BenchResult>, BenchError> {
    match workload {
        Workload::Create => ops::run(ctx, ops::OpKind::Create).await,
        Workload::Set => ops::run(ctx, ops::OpKind::Set).await,
        Workload::Get => ops::run(ctx, ops::OpKind::Get).await,
        Workload::Mix => ops::run(ctx, ops::OpKind::Mix).await,
        Workload::Churn => ops::run(ctx, ops::OpKind::Churn).await,
        Workload::WatchFire => watch_fire::run(ctx).await,
        Workload::Resident => resident::run(ctx).await,
        Workload::ManyWatches => many_watches::run(ctx).await,
        Workload::Expiry => expiry::run(ctx).await,
    }
}

/// Creates every path, spreading them over `clients` with `window` requests in flight.
/// With `tolerate_existing`, a path that already exists counts as created.
pub async fn create_all(
    clients: &[zk::Client],
    paths: impl Iterator<Item = String>,
    data: &[u8],
    options: &zk::CreateOptions<'static>,
    window: usize,
    tolerate_existing: bool,
) -> Result<u64, BenchError> {
    let n = clients.len();
    let requests = paths.enumerate().map(|(i, path)| {
        let client = clients[i % n].clone();
        let data = data.to_vec();
        let options = options.clone();
        async move {
            let created =
                tokio::time::timeout(OP_TIMEOUT, client.create(&path, &data, &options)).await;
            match created {
                Ok(Ok(_)) => Ok(1u64),
                Ok(Err(zk::Error::NodeExists)) if tolerate_existing => Ok(1),
                Ok(Err(source)) => Err(BenchError::Op {
                    what: format!("creating {path}"),
                    source,
                }),
                Err(_) => Err(BenchError::Stalled {
                    what: format!("creating {path}"),
                    pending: 1,
                    waited: OP_TIMEOUT,
                }),
            }
        }
    });
    futures::stream::iter(requests)
        .buffer_unordered(window.max(1))
        .try_fold(0u64, |total, one| async move { Ok(total + one) })
        .await
}

/// The existing znodes that set/get/mix (and the many-watches probe) read and write:
/// `/bench/kv/k<j>`, shared by every run on a server.
pub async fn ensure_keys(ctx: &RunCtx, clients: &[zk::Client]) -> Result<Vec<String>, BenchError> {
    crate::sessions::ensure_path(&clients[0], "/bench/kv").await?;
    let keys: Vec<String> = (0..ctx.params.keys)
        .map(|j| format!("/bench/kv/k{j}"))
        .collect();
    let value = crate::sessions::value(ctx.params.value_bytes);
    create_all(
        clients,
        keys.iter().cloned(),
        &value,
        &crate::sessions::persistent(),
        256,
        true,
    )
    .await?;
    Ok(keys)
}
