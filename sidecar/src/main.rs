//! The `corral-sidecar` binary. Errors are reported with anyhow at this edge only.

use clap::{Parser, Subcommand};
use corral_sidecar::config::{NodeArgs, Settings};
use tracing_subscriber::EnvFilter;

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

#[derive(Subcommand)]
enum Command {
    /// Run a ZooKeeper-compatible coordination node (a member of a Raft group).
    Node(NodeArgs),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Node(args) => {
            let settings = Settings::resolve(&args)?;
            tokio::runtime::Runtime::new()?.block_on(corral_sidecar::node::run(settings))
        }
    }
}
