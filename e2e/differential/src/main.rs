//! corral-differential: applies the same seeded random ZooKeeper operations to two servers
//! (normally Apache ZooKeeper 3.8.0 and corral) and compares error codes, data, children,
//! stats (minus zxids and times), ACLs and watch notifications op by op.
//!
//! Output: one line per seed, a report for every mismatch (seed, op index, op, both results),
//! then `differential: S seeds, N operations, M mismatches` and, last, `P passed, F failed`
//! counting seeds. Exit status 0 only when every seed passed. `RUST_LOG=corral_differential=debug`
//! traces every op with both results, to follow the history that led to a mismatch.

mod generate;
mod op;
mod outcome;
mod run;
mod target;

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;

use crate::run::{Perturbed, SeedResult, Tally, run_seed};
use crate::target::{TargetError, ZkTarget};

#[derive(Debug, Parser)]
#[command(
    name = "corral-differential",
    about = "Apply the same seeded random ZooKeeper operations to two servers and compare every result"
)]
struct Args {
    /// First server, host:port (the reference, normally Apache ZooKeeper).
    #[arg(long)]
    a: String,
    /// Second server, host:port (the candidate, normally corral).
    #[arg(long)]
    b: String,
    /// Name of the first server in reports.
    #[arg(long, default_value = "zookeeper")]
    a_name: String,
    /// Name of the second server in reports.
    #[arg(long, default_value = "corral")]
    b_name: String,
    /// Number of seeds (each gets a fresh subtree and fresh sessions).
    #[arg(long, default_value_t = 20)]
    seeds: u64,
    /// Operations per seed.
    #[arg(long, default_value_t = 600)]
    ops: usize,
    /// The first seed; seeds run from here upwards.
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    /// Names the run's subtree /corral-differential/<run-id>; defaults to the current time.
    #[arg(long)]
    run_id: Option<String>,
    /// Bound on each operation (and each connection attempt), in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    op_timeout_ms: u64,
    /// Stop at the first failing seed.
    #[arg(long)]
    fail_fast: bool,
    /// Run the first seed with both sides on the first server, alter the second side's result
    /// of the middle op, and succeed only if the run reports exactly that mismatch.
    #[arg(long)]
    self_test: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if args.ops == 0 || args.seeds == 0 {
        eprintln!("corral-differential: --seeds and --ops must be at least 1");
        return ExitCode::from(2);
    }
    let run_id = args.run_id.clone().unwrap_or_else(|| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        format!("run-{}", now.as_millis())
    });
    if args.self_test {
        self_test(&args, &run_id).await
    } else {
        differential(&args, &run_id).await
    }
}

/// Each side gets its own subtree, so both sides may even be the same server (the self-test
/// does that). Paths are compared relative to these roots.
fn seed_root(run_id: &str, seed: u64, side: &str) -> String {
    format!("/corral-differential/{run_id}/seed-{seed}/{side}")
}

/// Connects side A to `a_addr` and side B to `b_addr`, each under its own seed root.
async fn connect_pair(
    args: &Args,
    run_id: &str,
    seed: u64,
    (a_addr, b_addr): (&str, &str),
) -> Result<(ZkTarget, ZkTarget), (String, TargetError)> {
    let limit = Duration::from_millis(args.op_timeout_ms);
    let (a_root, b_root) = (seed_root(run_id, seed, "a"), seed_root(run_id, seed, "b"));
    let (a, b) = tokio::join!(
        ZkTarget::connect(a_addr, &a_root, limit),
        ZkTarget::connect(b_addr, &b_root, limit)
    );
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(e), _) => Err((args.a_name.clone(), e)),
        (_, Err(e)) => Err((args.b_name.clone(), e)),
    }
}

fn print_seed(args: &Args, result: &SeedResult, elapsed: Duration) {
    if let Some(mismatch) = &result.mismatch {
        println!("{}", mismatch.report(&args.a_name, &args.b_name));
    }
    if let Some((index, op, outcome)) = &result.transport_failure {
        println!(
            "seed {}: both servers failed op {index} ({op}) on the transport: {outcome}",
            result.seed
        );
    }
    println!(
        "seed {}: {} operations, {} ({:.1} s)",
        result.seed,
        result.applied,
        if result.passed() { "ok" } else { "FAILED" },
        elapsed.as_secs_f64()
    );
}

async fn differential(args: &Args, run_id: &str) -> ExitCode {
    println!(
        "differential: {} ({}) vs {} ({}), seeds {}..={}, {} ops each, run id {run_id}",
        args.a_name,
        args.a,
        args.b_name,
        args.b,
        args.first_seed,
        args.first_seed + args.seeds - 1,
        args.ops
    );
    let (mut passed, mut failed, mut operations, mut mismatches) = (0u64, 0u64, 0usize, 0usize);
    let mut tally = Tally::default();
    for seed in args.first_seed..args.first_seed + args.seeds {
        let started = Instant::now();
        let servers = (args.a.as_str(), args.b.as_str());
        let (mut a, mut b) = match connect_pair(args, run_id, seed, servers).await {
            Ok(pair) => pair,
            Err((name, e)) => {
                println!("seed {seed}: cannot start on {name}: {e}");
                failed += 1;
                // A server that cannot take a session will not take the next seed either.
                break;
            }
        };
        let result = run_seed(seed, args.ops, &mut a, &mut b).await;
        operations += result.applied;
        tally.add(&result.tally);
        print_seed(args, &result, started.elapsed());
        if result.passed() {
            passed += 1;
        } else {
            failed += 1;
            if result.mismatch.is_some() {
                mismatches += 1;
            }
        }
        let transport_broken = result.transport_failure.is_some();
        drop((a, b));
        if !result.passed() && (args.fail_fast || transport_broken) {
            break;
        }
    }
    println!(
        "outcomes (agreed by both servers), {} watch notifications compared:",
        tally.events
    );
    for line in tally.lines() {
        println!("{line}");
    }
    println!(
        "differential: {} seeds, {operations} operations, {mismatches} mismatches",
        passed + failed
    );
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs one seed with the second server's result of op `ops / 2` altered; passes only when
/// the run reports that op as the mismatch.
async fn self_test(args: &Args, run_id: &str) -> ExitCode {
    let seed = args.first_seed;
    let at = args.ops / 2;
    println!(
        "differential self-test: seed {seed}, {} ops against {} ({}) twice, the second side's result of op {at} altered",
        args.ops, args.a_name, args.a
    );
    let started = Instant::now();
    // Both sides run on the reference server, so that the test depends only on the tester
    // and on that server, never on the candidate's own differences.
    let servers = (args.a.as_str(), args.a.as_str());
    let (mut a, b) = match connect_pair(args, run_id, seed, servers).await {
        Ok(pair) => pair,
        Err((name, e)) => {
            println!("self-test: cannot start on {name}: {e}");
            println!("0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
    };
    let mut b = Perturbed { inner: b, at };
    let result = run_seed(seed, args.ops, &mut a, &mut b).await;
    print_seed(args, &result, started.elapsed());
    let caught = result
        .mismatch
        .as_ref()
        .is_some_and(|m| m.index == at && m.what == "result");
    if caught {
        println!("self-test: the altered result of op {at} was reported as a mismatch");
        println!("1 passed, 0 failed");
        ExitCode::SUCCESS
    } else {
        println!(
            "self-test: expected a mismatch at op {at}, got {}",
            match &result.mismatch {
                Some(m) => format!("one at op {}", m.index),
                None => "none".to_string(),
            }
        );
        println!("0 passed, 1 failed");
        ExitCode::FAILURE
    }
}
