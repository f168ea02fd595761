//! Memory with many znodes resident: create `znodes` persistent znodes of 100 bytes (1000 per
//! parent), wait for the servers to settle, and report the RSS then (summed over members). Each
//! member must also report at least that many znodes (`mntr` `zk_znode_count`) before the final
//! sample, so an ensemble's followers are measured holding the whole tree.

use std::time::Duration;

use tokio::time::Instant;

use super::{RunCtx, create_all};
use crate::error::BenchError;
use crate::fourlw;
use crate::record::BenchResult;
use crate::sessions::{ensure_path, persistent, value};

const PER_PARENT: usize = 1000;
/// Requests in flight during the bulk create.
const WINDOW: usize = 512;
/// How long every member may take to report the znodes after the last create returned.
const CATCH_UP: Duration = Duration::from_secs(120);

pub async fn run(ctx: &RunCtx) -> Result<Vec<BenchResult>, BenchError> {
    let p = &ctx.params;
    let clients = ctx
        .cluster
        .connect_many(0, p.sessions, p.session_timeout)
        .await?;
    let base = ctx.base_path("resident");
    ensure_path(&clients[0], &base).await?;
    let parents = p.resident_znodes.div_ceil(PER_PARENT);

    let sampler = ctx.sample_rss();
    let options = persistent();
    create_all(
        &clients,
        (0..parents).map(|d| format!("{base}/d{d}")),
        b"",
        &options,
        WINDOW,
        false,
    )
    .await?;
    let started = Instant::now();
    let created = create_all(
        &clients,
        (0..p.resident_znodes).map(|i| format!("{base}/d{}/n{}", i / PER_PARENT, i % PER_PARENT)),
        &value(p.value_bytes),
        &options,
        WINDOW,
        false,
    )
    .await?;
    let create_time = started.elapsed();
    let reported = wait_for_znode_counts(ctx, (created + parents as u64) as u64).await?;
    tokio::time::sleep(p.resident_settle).await;
    let rss = sampler.finish();

    let mut r = ctx
        .result(
            "resident",
            "resident",
            "RSS (summed over members) after creating the znodes (100-byte values, 1000 per parent) and a settle pause, once every member reports them; create_ops_s is the pipelined bulk create rate",
        )
        .param("znodes", p.resident_znodes)
        .param("value_bytes", p.value_bytes)
        .param("settle_s", p.resident_settle.as_secs_f64())
        .with_rss(rss.clone());
    r.figure(
        "create_ops_s",
        created as f64 / create_time.as_secs_f64().max(1e-9),
    );
    r.figure("rss_start_mib", rss.first_sum_kib as f64 / 1024.0);
    r.figure(
        "rss_growth_mib",
        (rss.end_sum_kib as f64 - rss.first_sum_kib as f64) / 1024.0,
    );
    if let Some(min) = reported.iter().min() {
        r.figure("znodes_reported_min", *min as f64);
    }
    Ok(vec![r])
}

/// Polls `mntr` on every member until each reports at least `at_least` znodes; returns the
/// counts. A member that does not answer `mntr` (not whitelisted) is an error: the figure would
/// otherwise be unverified.
async fn wait_for_znode_counts(ctx: &RunCtx, at_least: u64) -> Result<Vec<u64>, BenchError> {
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let mut counts = Vec::new();
        for member in ctx.cluster.members() {
            let mntr = fourlw::ask(member, "mntr", Duration::from_secs(10)).await?;
            let count = fourlw::mntr_value(&mntr, "zk_znode_count").ok_or_else(|| {
                BenchError::Check(format!(
                    "mntr from {member} has no zk_znode_count line; is mntr whitelisted (4lw.commands.whitelist=*)?"
                ))
            })?;
            counts.push(count);
        }
        if counts.iter().all(|&c| c >= at_least) {
            return Ok(counts);
        }
        if Instant::now() >= deadline {
            return Err(BenchError::Check(format!(
                "members report {counts:?} znodes {CATCH_UP:?} after the bulk create, expected at least {at_least} each"
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
