//! corral-chaos: runs real `corral-sidecar node` ensembles in network namespaces under
//! nemeses (kill -9, SIGSTOP, partitions, slow links, leader transfer, membership changes, full
//! disks) while clients record histories, then checks them: linearizability for the register
//! and the queue (stateright's LinearizabilityTester), direct invariants for the set, unique
//! ids and lock workloads, acknowledged writes present at the end, and every member holding the
//! same tree.
//!
//! Output: one line per run as it finishes, then a table of all runs and, last,
//! `N passed, M failed`. Exit status 0 when every run passed (with `--expect-anomalies`: when
//! at least one run found anomalies). A failed run leaves its history, seed, findings, nemesis
//! journal and member logs under `--failures-dir`. Needs root (namespaces, tmpfs mounts).

mod checker;
mod cluster;
mod history;
mod matrix;
mod nemesis;
mod report;
mod run;
mod schedule;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;

use crate::matrix::{Nemesis, Planned, Workload};

#[derive(Debug, Parser)]
#[command(
    name = "corral-chaos",
    about = "Chaos and linearizability suite for corral-sidecar ensembles (needs root)"
)]
struct Args {
    /// The node binary (a release build: cargo build --release -p corral-sidecar).
    #[arg(long, default_value = "target/release/corral-sidecar")]
    binary: PathBuf,
    /// Run the quick subset (every workload once, under 10 minutes); what CI runs.
    #[arg(long, conflicts_with_all = ["minutes", "workload"])]
    quick: bool,
    /// Replay every run that once found a bug in the node (src/matrix.rs REGRESSIONS).
    #[arg(long, conflicts_with_all = ["quick", "minutes", "workload"])]
    regressions: bool,
    /// Run as much of the full matrix (workload × nemesis) as fits in this many minutes.
    #[arg(long, conflicts_with = "workload")]
    minutes: Option<u64>,
    /// With --minutes: every run lasts this long (at least 10 s) instead of a length chosen
    /// from the budget, so a budget holds more runs; past one pass the matrix starts over.
    #[arg(long, requires = "minutes", value_parser = clap::value_parser!(u64).range(10..))]
    run_secs: Option<u64>,
    /// One run: this workload (register, set, unique-ids, queue, lock).
    #[arg(long, requires = "nemesis")]
    workload: Option<Workload>,
    /// One run: this nemesis (none, all, or faults joined with '+': kill, kill-leader, pause,
    /// partition-majority, partition-leader, partition-bridge, slow, leader-transfer,
    /// membership, disk-full).
    #[arg(long, requires = "workload")]
    nemesis: Option<Nemesis>,
    /// Seed of every random choice (of a matrix: of its first run, the next runs count up).
    /// Defaults to the current time.
    #[arg(long)]
    seed: Option<u64>,
    /// One run: how long the workload runs.
    #[arg(long, default_value_t = 60)]
    duration_secs: u64,
    /// One run: voting members at the start (3 or 5).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(3..=5))]
    members: u8,
    /// Where failed runs leave their evidence.
    #[arg(long, default_value = "e2e/chaos/failures")]
    failures_dir: PathBuf,
    /// Forgive overlapping lock holders up to this long (0: none).
    #[arg(long, default_value_t = 0)]
    lock_slack_ms: u64,
    /// Succeed only if some run found anomalies (to show the checker catches a broken node).
    #[arg(long)]
    expect_anomalies: bool,
    /// Write every run's result as JSON here.
    #[arg(long)]
    summary_json: Option<PathBuf>,
    /// Check a saved history (a failed run's history.json) again and print the findings;
    /// runs nothing.
    #[arg(long, conflicts_with_all = ["quick", "minutes", "workload"])]
    check_history: Option<PathBuf>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "corral_chaos=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("corral-chaos: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Re-check a saved history; the workload is recognised from its operations.
fn check_saved(path: &std::path::Path, lock_slack: Duration) -> anyhow::Result<ExitCode> {
    let text = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    let ops: Vec<history::Op> = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a history.json of corral-chaos", path.display()))?;
    let workload = checker::workload_of(&ops)
        .ok_or_else(|| anyhow::anyhow!("{} holds no operations", path.display()))?;
    let findings = checker::check(workload, &ops, lock_slack.as_nanos() as u64);
    println!(
        "{workload}: {} operations on {} keys, {} anomalies, lost writes {}, {} keys unchecked",
        ops.len(),
        findings.keys,
        findings.anomalies.len(),
        findings
            .lost_writes
            .map_or_else(|| "-".to_string(), |n| n.to_string()),
        findings.gave_up
    );
    for anomaly in &findings.anomalies {
        println!("  {anomaly}");
    }
    Ok(if findings.anomalies.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.check_history {
        return check_saved(path, Duration::from_millis(args.lock_slack_ms));
    }
    let binary = std::fs::canonicalize(&args.binary).with_context(|| {
        format!(
            "no node binary at {}; build it with `cargo build --release -p corral-sidecar` or \
             name it with --binary",
            args.binary.display()
        )
    })?;
    if !rustix::process::geteuid().is_root() {
        bail!("corral-chaos needs root (network namespaces, tmpfs mounts); run it with sudo");
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1)
    });
    let plan: Vec<Planned> = if args.regressions {
        for r in matrix::REGRESSIONS {
            println!(
                "regression: seed {} {} × {}: {}",
                r.seed, r.workload, r.nemesis, r.found
            );
        }
        matrix::regression_plan()
    } else if args.quick {
        matrix::quick_plan(seed)
    } else if let Some(minutes) = args.minutes {
        matrix::full_plan(
            Duration::from_secs(minutes * 60),
            seed,
            args.run_secs.map(Duration::from_secs),
        )
    } else if let (Some(workload), Some(nemesis)) = (args.workload, args.nemesis.clone()) {
        vec![Planned {
            workload,
            nemesis,
            seed,
            duration: Duration::from_secs(args.duration_secs),
            members: args.members as usize,
        }]
    } else {
        bail!(
            "choose --quick, --regressions, --minutes N, or --workload W --nemesis X (see --help)"
        );
    };
    let settings = run::Settings {
        binary,
        failures_dir: args.failures_dir.clone(),
        lock_slack: Duration::from_millis(args.lock_slack_ms),
    };
    let started = Instant::now();
    println!(
        "corral-chaos: {} run(s), base seed {seed}, node {}",
        plan.len(),
        settings.binary.display()
    );
    let mut results = Vec::with_capacity(plan.len());
    for (i, planned) in plan.iter().enumerate() {
        println!(
            "[{}/{}] {} × {} (seed {}, {} s, {} members) …",
            i + 1,
            plan.len(),
            planned.workload,
            planned.nemesis,
            planned.seed,
            planned.duration.as_secs(),
            planned.members
        );
        let result = run::run(planned, &settings);
        println!("{}", report::line(&result));
        results.push(result);
    }
    println!();
    print!("{}", report::table(&results, started.elapsed()));
    if let Some(path) = &args.summary_json {
        std::fs::write(path, serde_json::to_vec_pretty(&results)?)
            .with_context(|| format!("write {}", path.display()))?;
    }
    let passed = results.iter().filter(|r| r.passed()).count();
    let failed = results.len() - passed;
    println!("{passed} passed, {failed} failed");
    let anomalies: usize = results.iter().map(|r| r.anomaly_count()).sum();
    let ok = if args.expect_anomalies {
        println!(
            "expecting anomalies from a deliberately broken node: {}",
            if anomalies > 0 {
                format!("the checker reported {anomalies}")
            } else {
                "NONE were reported".to_string()
            }
        );
        anomalies > 0
    } else {
        failed == 0
    };
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
