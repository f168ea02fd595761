//! `corral-sidecar register`: the registration agent.
//!
//! It runs beside a region server and keeps it registered as an ephemeral znode at
//! `<parent>/<host,port,startcode>` for exactly as long as the server passes its health check.
//! It holds its own session through the `zookeeper-client` crate (never this crate's server
//! code), so it works against any ZooKeeper-compatible ensemble.
//!
//! - [`args`]: flags and their validation.
//! - [`znode`]: the path and the data (JSON or HBase's `PBUF` + RegionServerInfo).
//! - [`health`]: TCP and HTTP checks and the threshold state machine.
//! - [`agent`]: the session loop.
//! - [`http`]: `/healthz`, `/livez` and `/metrics`.

pub mod agent;
pub mod args;
pub mod backoff;
pub mod health;
pub mod http;
pub mod znode;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

pub use args::{RegisterArgs, RegisterConfig};

use http::{CheckLabels, CheckResult, Metrics, Phase};

/// Why the agent could not start. Once started, it only stops on SIGTERM or SIGINT.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(transparent)]
    Config(#[from] args::ConfigError),
    #[error(transparent)]
    Startcode(#[from] args::StartcodeError),
    #[error("cannot install the SIGTERM/SIGINT handler: {0}")]
    Signal(std::io::Error),
    #[error(
        "cannot listen on {addr} for /healthz and /metrics: {source}; choose another --http-port \
         (or 0 to disable the HTTP server)"
    )]
    HttpBind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Run the agent until SIGTERM (or SIGINT) has been handled. Must run inside a tokio runtime.
pub async fn run(args: RegisterArgs) -> Result<(), RegisterError> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let startcode = args::resolve_startcode(args.startcode_file.as_deref(), now_ms)?;
    let config = Arc::new(RegisterConfig::from_args(&args, startcode)?);
    tracing::info!(
        zk = %config.connect.raw,
        path = %config.path,
        absolute_path = %config.connect.absolute(&config.path),
        format = ?config.format,
        health = %config.health.target,
        "registration agent starting"
    );

    // Signals first, so that a SIGTERM at any later point is handled.
    let (shutdown_sender, shutdown) = watch::channel(false);
    let mut terminate = signal(SignalKind::terminate()).map_err(RegisterError::Signal)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(RegisterError::Signal)?;
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "stop requested");
        shutdown_sender.send_replace(true);
        // The sender stays alive: a closed channel would read as "no shutdown can come".
        std::future::pending::<()>().await;
    });

    let metrics = Arc::new(Metrics::default());
    let (phase_sender, phase) = watch::channel(Phase::Connecting);
    if let Some(addr) = config.http {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| RegisterError::HttpBind { addr, source })?;
        let bound = listener.local_addr().unwrap_or(addr);
        tracing::info!(addr = %bound, "serving /healthz, /livez and /metrics");
        let router = http::router(phase, &metrics);
        tokio::spawn(async move {
            if let Err(e) = http::serve(listener, router).await {
                tracing::error!(error = %e, "the HTTP server stopped");
            }
        });
    }

    let (healthy_sender, healthy) = watch::channel(false);
    let check_metrics = metrics.clone();
    tokio::spawn(health::run_checks(
        config.health.clone(),
        healthy_sender,
        move |report| {
            let result = if report.passed {
                CheckResult::Pass
            } else {
                CheckResult::Fail
            };
            check_metrics
                .health_checks
                .get_or_create(&CheckLabels { result })
                .inc();
            if report.transition.is_some() {
                check_metrics.healthy.set(i64::from(report.passed));
            }
        },
    ));

    agent::Agent::new(config, metrics, phase_sender, healthy, shutdown)
        .run()
        .await;
    tracing::info!("registration agent stopped");
    Ok(())
}
