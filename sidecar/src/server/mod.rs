//! The client side of a node: the listener, connections, and the per-session request pipeline.

mod connection;
mod limits;
pub mod peer_services;
mod reconfig;
mod requests;
mod secure;
mod sequencer;
pub mod session_tracker;
mod stats;
mod timers;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::net::TcpListener;

use crate::config::Settings;
use crate::raft::Consensus;
pub use limits::ConnectionLimits;
use session_tracker::SessionTracker;
pub use stats::{ConnectionInfo, ServerStats};

/// What every connection shares.
pub struct Server {
    pub settings: Arc<Settings>,
    pub consensus: Consensus,
    pub tracker: Mutex<SessionTracker>,
    /// False while this member has no quorum: clients are turned away, as ZooKeeper does.
    pub serving: std::sync::atomic::AtomicBool,
    /// Sessions seen alive here since the last touch sent to the leader (followers only).
    touched: Mutex<std::collections::HashSet<i64>>,
    pub limits: ConnectionLimits,
    pub stats: ServerStats,
    pub started: Instant,
    next_connection: AtomicU64,
}

impl Server {
    pub fn new(settings: Arc<Settings>, consensus: Consensus) -> Arc<Self> {
        Arc::new(Server {
            limits: ConnectionLimits::new(settings.max_client_cnxns),
            settings,
            consensus,
            tracker: Mutex::new(SessionTracker::new()),
            touched: Mutex::default(),
            serving: std::sync::atomic::AtomicBool::new(true),
            stats: ServerStats::default(),
            started: Instant::now(),
            next_connection: AtomicU64::new(1),
        })
    }

    /// A token unique to one connection on this member; the state machine records the
    /// session's current owner so that a superseded connection's writes fail with SessionMoved.
    fn new_owner(&self) -> u64 {
        let seq = self.next_connection.fetch_add(1, Ordering::Relaxed);
        (self.consensus.node_id() << 48) | (seq & 0xffff_ffff_ffff)
    }

    pub fn tracker(&self) -> std::sync::MutexGuard<'_, SessionTracker> {
        self.tracker.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A session showed signs of life on this member: keep it alive here, and remember to tell
    /// the leader, which alone expires sessions.
    pub fn touch(&self, session: i64) {
        self.tracker().touch(session, Instant::now());
        if !self.consensus.is_leader() {
            self.touched
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(session);
        }
    }

    /// The sessions touched since the last call.
    pub fn take_touched(&self) -> Vec<i64> {
        let mut touched = self.touched.lock().unwrap_or_else(|p| p.into_inner());
        touched.drain().collect()
    }

    /// Sessions whose touches could not be delivered: sent again with the next round.
    pub fn touched_again(&self, sessions: Vec<i64>) {
        self.touched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(sessions);
    }

    /// Serve clients on the plaintext port, the secure (TLS) port, or both, until a listener
    /// fails. The session timers run either way.
    pub async fn serve(
        self: Arc<Self>,
        plain: Option<TcpListener>,
        secure: Option<(
            TcpListener,
            Arc<crate::tls::Reloadable<rustls::ServerConfig>>,
        )>,
    ) -> std::io::Result<()> {
        timers::spawn(self.clone());
        let plain = async {
            match plain {
                Some(listener) => self.clone().serve_plain(listener).await,
                None => std::future::pending().await,
            }
        };
        let secure = async {
            match secure {
                Some((listener, tls)) => secure::serve(self.clone(), listener, tls).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = plain => result,
            result = secure => result,
        }
    }

    async fn serve_plain(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (stream, peer) = listener.accept().await?;
            let server = self.clone();
            tokio::spawn(async move { connection::run(server, stream, peer).await });
        }
    }

    pub fn local_client_addr(listener: &TcpListener) -> Option<SocketAddr> {
        listener.local_addr().ok()
    }
}
