//! The `corral-sidecar` binary. Errors are reported with anyhow at this edge only.

use clap::{Parser, Subcommand};
use corral_sidecar::config::{NodeArgs, Settings};
use corral_sidecar::register::RegisterArgs;
use tracing_subscriber::EnvFilter;

/// jemalloc rather than the system allocator: the node allocates and frees millions of small
/// objects (znodes, requests, log entries) across threads, and glibc's malloc took ~15 % of the
/// leader's CPU under writes. Measured with e2e/bench (1 member, 1M znodes): bulk create 45.7k
/// -> 62.2k ops/s, resident 445 -> 432 MiB. mimalloc was as fast but kept twice the memory.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "corral-sidecar",
    version,
    about = "Corral's coordination node and sidecars"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up: the size of the flag structs does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run a ZooKeeper-compatible coordination node (a member of a Raft group).
    Node(NodeArgs),
    /// Keep the local region server registered as an ephemeral znode while it is healthy.
    ///
    /// The znode `<parent>/<host,port,startcode>` exists for exactly as long as the server
    /// passes its health check. It is removed after --failure-threshold failed checks in a row,
    /// on SIGTERM (so no preStop hook is needed), and by ZooKeeper when the agent's session
    /// ends. Every flag can also be set with the environment variable shown.
    Register(RegisterArgs),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        // A log line that cannot be written (stderr on a full disk, a closed pipe) is dropped.
        // Reporting it would go through eprintln!, which panics when stderr fails, and a panic
        // inside the Raft core task stops the member for good.
        .log_internal_errors(false)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Node(args) => {
            let settings = Settings::resolve(&args)?;
            tokio::runtime::Runtime::new()?.block_on(corral_sidecar::node::run(settings))
        }
        Command::Register(args) => {
            let runtime = tokio::runtime::Runtime::new()?;
            let result = runtime.block_on(corral_sidecar::register::run(args));
            // The agent has deregistered and closed its session; leftover tasks (HTTP, health
            // checks) must not hold up the exit that SIGTERM handling promises.
            runtime.shutdown_timeout(std::time::Duration::from_millis(200));
            Ok(result?)
        }
    }
}
