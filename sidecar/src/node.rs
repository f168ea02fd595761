//! `corral-sidecar node`: open the data dir, start Raft, serve clients.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::raft::{Consensus, ConsensusOptions, MemberNode};
use crate::server::Server;
use crate::server::peer_services::PeerServices;

/// How long a starting node waits for its group to elect a leader before serving anyway (a
/// one-member group elects itself at once; the wait matters for ensembles).
const LEADER_WAIT: Duration = Duration::from_secs(30);

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let settings = Arc::new(settings);
    for dir in [&settings.data_dir, &settings.data_log_dir] {
        std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "cannot create the data dir {}; check the path and its permissions",
                dir.display()
            )
        })?;
    }
    // Certificates are read before anything else starts, so that a bad file stops the node
    // with a message naming it.
    let client_tls = match &settings.tls.secure_client {
        Some(secure) => {
            let tls = crate::tls::client_port(secure)
                .context("cannot set up TLS on the secure client port")?;
            tls.watch(settings.tls.reload_interval);
            Some(tls)
        }
        None => None,
    };
    let quorum_tls = match &settings.tls.quorum {
        Some(quorum) => {
            let tls = crate::tls::QuorumTls::load(quorum)
                .context("cannot set up TLS on the quorum port (sslQuorum)")?;
            tls.watch(settings.tls.reload_interval);
            Some(tls)
        }
        None => None,
    };
    // The bootstrap membership comes from the server lines alone, identical in every member's
    // zoo.cfg, so that every member writes the same first entry.
    let mut voters: std::collections::BTreeMap<u64, MemberNode> = settings
        .servers
        .iter()
        .filter(|s| !s.observer)
        .map(|s| (s.id, MemberNode::from_server(s)))
        .collect();
    if settings.servers.is_empty() {
        voters.insert(settings.server_id, MemberNode::new("127.0.0.1:2888"));
    }
    let consensus = Consensus::open(
        &settings.data_dir,
        &settings.data_log_dir,
        ConsensusOptions {
            node_id: settings.server_id,
            voters,
            extended_types_enabled: settings.extended_types_enabled,
            snapshot_retain: settings.autopurge_snap_retain_count as usize,
            snapshot_every: settings.snap_count,
            min_free_disk_bytes: settings.min_free_disk_bytes,
            snapshot_bytes: settings.snap_size_limit_bytes,
            log_segment_bytes: settings.log_segment_bytes,
            peer_tls: quorum_tls.clone(),
        },
    )
    .await
    .context("cannot start the Raft group")?;
    let server = Server::new(settings.clone(), consensus.clone());
    if let Some(me) = settings.servers.iter().find(|s| s.id == settings.server_id) {
        let addr = format!("{}:{}", me.host, me.peer_port);
        let listener = TcpListener::bind(&addr).await.with_context(|| {
            format!("cannot listen on the peer address {addr} (server.{} in zoo.cfg); is the port in use?", me.id)
        })?;
        let handler = consensus.peer_handler(PeerServices::new(&server));
        tokio::spawn(crate::raft::peer::serve(
            listener,
            handler,
            crate::raft::peer::ServerOptions {
                tls: quorum_tls.clone(),
                ..Default::default()
            },
        ));
        tracing::info!(%addr, tls = quorum_tls.is_some(), "serving Raft peers");
    }
    if let Some(addr) = settings.admin_addr {
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on the admin address {addr}; is another server using the port? (set --admin-port; 0 disables it)")
        })?;
        let admin = server.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::admin::http::serve(admin, listener).await {
                tracing::error!(error = %e, "the admin HTTP server stopped");
            }
        });
    }
    if let Some(addr) = settings.metrics_addr {
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on the metrics address {addr}; is another server using the port? (set --metrics-port; 0 disables it)")
        })?;
        let metrics = server.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::admin::metrics::serve_metrics(metrics, listener).await {
                tracing::error!(error = %e, "the metrics HTTP server stopped");
            }
        });
    }
    if !consensus.wait_for_leader(LEADER_WAIT).await {
        tracing::warn!("no leader yet; serving anyway, writes will wait");
    }
    let plain = match settings.client_addr {
        Some(addr) => Some(TcpListener::bind(addr).await.with_context(|| {
            format!(
                "cannot listen on {addr}; is another server using the port? (set --client-port)"
            )
        })?),
        None => None,
    };
    let secure = match &settings.tls.secure_client {
        Some(secure) => {
            let listener = TcpListener::bind(secure.addr).await.with_context(|| {
                format!(
                    "cannot listen on the secure client address {}; is another server using the port? (set --secure-client-port)",
                    secure.addr
                )
            })?;
            let tls = client_tls
                .clone()
                .expect("loaded above for the secure port");
            Some((listener, tls))
        }
        None => None,
    };
    tracing::info!(
        client = ?settings.client_addr,
        secure_client = ?settings.tls.secure_client.as_ref().map(|s| s.addr),
        data_dir = %settings.data_dir.display(),
        server_id = settings.server_id,
        zxid = consensus.core().applied_zxid(),
        "serving clients"
    );
    tokio::select! {
        result = server.serve(plain, secure) => result.context("a client listener failed")?,
        _ = shutdown_signal() => tracing::info!("shutting down"),
        why = consensus.stopped() => {
            tracing::error!(reason = %why, "the Raft core stopped; exiting so that the node is restarted");
            anyhow::bail!(
                "the Raft core stopped ({why}); the node cannot serve or vote without it. \
                 Everything acknowledged is on disk: restart the node (and see the log above for the cause)"
            );
        }
    }
    // Bounded: a Raft core waiting for disk space would otherwise hold the exit forever.
    if tokio::time::timeout(SHUTDOWN_LIMIT, consensus.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            limit_s = SHUTDOWN_LIMIT.as_secs(),
            "Raft did not stop in time (waiting for disk space?); exiting anyway, nothing unsynced was acknowledged"
        );
    }
    Ok(())
}

/// How long a clean shutdown waits for the Raft core to stop.
const SHUTDOWN_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
