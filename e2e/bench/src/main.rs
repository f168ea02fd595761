//! corral-bench: the same ZooKeeper workloads against corral and Apache ZooKeeper.
//!
//! `corral-bench run` drives one server or ensemble (the runner, `e2e/bench/run.sh`, starts
//! them) and prints one JSON line per result on stdout; `corral-bench table` reads those lines
//! from every run and prints the comparison table. Progress and errors go to stderr. The exit
//! status is non-zero only when something broke (a server refused or stalled, a check failed),
//! never because a number is slow.

mod cli;
mod error;
mod fourlw;
mod latency;
mod record;
mod rss;
mod schedule;
mod sessions;
mod table;
mod workloads;

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;

use crate::cli::{Cli, Command, Params, RunArgs, TableArgs};
use crate::record::{BenchResult, RunLabel};
use crate::sessions::Cluster;
use crate::workloads::RunCtx;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Table(args) => table(&args),
        Command::Run(args) => runtime().and_then(|rt| rt.block_on(run(*args))),
        Command::HoldEphemerals(args) => runtime().and_then(|rt| {
            rt.block_on(workloads::hold::run(&args))
                .context("holding sessions for the expiry workload")
        }),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("corral-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // Two workers: the machine the benchmark is meant for has two cores, shared with the servers.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let params = Params::for_profile(args.profile)
        .with_overrides(&args.overrides)
        .map_err(anyhow::Error::msg)?;
    if args.pids.is_empty() {
        bail!("--pids is empty: give every server process id so that its memory can be sampled");
    }
    let label = RunLabel {
        server: args.server.clone(),
        shape: args.shape.unwrap_or(args.members.len() as u32),
        rep: args.rep,
    };
    let ctx = RunCtx::new(
        Cluster::new(args.members.clone()),
        args.pids.clone(),
        label,
        params,
    );
    for workload in &args.workloads {
        eprintln!(
            "[{}] {} ({} member(s), rep {}): {}",
            now_hms(),
            ctx.label.server,
            ctx.label.shape,
            ctx.label.rep,
            workload.name()
        );
        let results = workloads::run(&ctx, *workload).await.with_context(|| {
            format!("workload {} against {}", workload.name(), ctx.label.server)
        })?;
        let mut out = std::io::stdout().lock();
        for r in &results {
            writeln!(out, "{}", r.to_json_line()).context("writing a result to stdout")?;
        }
        out.flush().context("writing results to stdout")?;
    }
    Ok(())
}

fn table(args: &TableArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.input)
        .with_context(|| format!("reading results from {}", args.input.display()))?;
    // Lines that are not results (a stray log line) are skipped, not fatal.
    let results: Vec<BenchResult> = text
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    if results.is_empty() {
        bail!("no result lines in {}", args.input.display());
    }
    let rows = table::build_rows(&results, &args.a, &args.b);
    print!("{}", table::render(&rows, &args.a, &args.b));
    Ok(())
}

/// Wall-clock time of day (UTC) for progress lines.
fn now_hms() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}
