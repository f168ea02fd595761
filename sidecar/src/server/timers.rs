//! The leader's time-driven duties: expiring sessions and reaping empty containers and expired
//! TTL nodes. Each is proposed through the log and re-checked when applied, so replicas never act
//! on their own clocks (ARCHITECTURE decision 2).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use corral_tree::{Command, CommandKind};

use super::Server;
use super::connection::now_ms;

/// How often expiry is checked; well under the smallest session timeout ZooKeeper allows.
const EXPIRY_INTERVAL: Duration = Duration::from_millis(100);
/// How often the tracker is reconciled with the replicated session table.
const RECONCILE_INTERVAL: Duration = Duration::from_secs(1);
/// Upper bound on reaps proposed per round, so one round never floods the log.
const REAP_BATCH: usize = 1000;

/// How often a follower sends its touches to the leader: well under a third of the smallest
/// session timeout, so a client that pings on time never expires.
const TOUCH_INTERVAL: Duration = Duration::from_millis(250);

/// Bound on one delivery of touches. Well under the smallest session timeout, so that after a
/// leader change the touches reach the new leader long before it could expire anybody; long
/// enough for a leader on a loaded machine to answer.
const TOUCH_DELIVERY_TIMEOUT: Duration = Duration::from_secs(1);

/// How often quorum contact is checked.
const QUORUM_CHECK_INTERVAL: Duration = Duration::from_millis(200);

pub fn spawn(server: Arc<Server>) {
    tokio::spawn(watch_quorum(server.clone()));
    tokio::spawn(expire_sessions(server.clone()));
    tokio::spawn(forward_touches(server.clone()));
    tokio::spawn(reap_nodes(server));
}

/// Without a quorum, close every client connection and refuse new ones until it is back: the
/// clients move to members that can serve them, and nobody reads a state that may be stale.
async fn watch_quorum(server: Arc<Server>) {
    let mut ticker = tokio::time::interval(QUORUM_CHECK_INTERVAL);
    loop {
        ticker.tick().await;
        let quorum = server.consensus.has_quorum();
        let was = server.serving.swap(quorum, Ordering::Relaxed);
        if was && !quorum {
            let core = server.consensus.core().lock();
            tracing::warn!(
                connections = core.attached.len(),
                "lost contact with a quorum; closing client connections until it is back"
            );
            for conn in core.attached.values() {
                conn.outbox.close_now();
            }
        } else if !was && quorum {
            tracing::info!("quorum contact is back; serving clients again");
            // Read-only sessions end so their clients reconnect read-write.
            let core = server.consensus.core().lock();
            for conn in core.attached.values().filter(|c| c.read_only) {
                conn.outbox.close_now();
            }
        }
    }
}

/// Sends this follower's touched sessions to the leader every [`TOUCH_INTERVAL`].
///
/// A delivery is bounded by [`TOUCH_DELIVERY_TIMEOUT`], and a failed one puts its sessions back
/// for the next round, which asks again who leads. Why: when the leader freezes or is cut off,
/// a call to it hangs; waiting it out (ten seconds) starved the new leader of touches, and it
/// expired sessions whose clients were pinging this member all along.
async fn forward_touches(server: Arc<Server>) {
    let mut ticker = tokio::time::interval(TOUCH_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing_since: Option<Instant> = None;
    loop {
        ticker.tick().await;
        if server.consensus.is_leader() {
            failing_since = None;
            continue;
        }
        let touched = server.take_touched();
        if touched.is_empty() {
            continue;
        }
        match server
            .consensus
            .touch_leader(touched.clone(), TOUCH_DELIVERY_TIMEOUT)
            .await
        {
            Ok(()) => {
                if let Some(since) = failing_since.take() {
                    tracing::info!(
                        after = ?since.elapsed(),
                        "session touches reach the leader again"
                    );
                }
            }
            Err(e) => {
                server.touched_again(touched);
                let since = *failing_since.get_or_insert_with(Instant::now);
                tracing::debug!(error = %e, failing_for = ?since.elapsed(), "session touches not delivered to the leader; retrying");
            }
        }
    }
}

/// Expires sessions, on the leader only, and only while a quorum acknowledges it.
///
/// Why the quorum condition: a leader cut off from its followers hears none of their touches,
/// and could not commit an expiry anyway. When it leads with a quorum again (a new term, or the
/// same one after a partition healed) every session gets its full timeout afresh, as under a
/// new ZooKeeper leader, so the followers' queued touches arrive before anybody is judged.
async fn expire_sessions(server: Arc<Server>) {
    let mut was_expiring = false;
    let mut last_reconcile = Instant::now();
    let mut ticker = tokio::time::interval(EXPIRY_INTERVAL);
    loop {
        ticker.tick().await;
        let expiring = server.consensus.is_leader() && server.consensus.has_quorum();
        let now = Instant::now();
        if expiring && !was_expiring {
            let sessions = known_sessions(&server);
            server.tracker().rearm_all(sessions, now);
            tracing::info!(
                sessions = server.tracker().len(),
                "leading with a quorum; re-armed all sessions"
            );
        } else if expiring && now.duration_since(last_reconcile) >= RECONCILE_INTERVAL {
            reconcile(&server, now);
            last_reconcile = now;
        }
        if was_expiring && !expiring && server.consensus.is_leader() {
            tracing::warn!("leading without a quorum; session expiry paused until it is back");
        }
        was_expiring = expiring;
        if !expiring {
            continue;
        }
        let expired = server.tracker().take_expired(now);
        for session_id in expired {
            tracing::info!(
                session = format_args!("0x{session_id:x}"),
                "session expired"
            );
            let cmd = Command {
                time_ms: now_ms(),
                kind: CommandKind::CloseSession { session_id },
            };
            let server = server.clone();
            tokio::spawn(async move {
                match server.consensus.propose(cmd).await {
                    Ok(_) => server.tracker().forget(session_id),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot propose a session expiry; will retry");
                        server.tracker().retry(session_id, Instant::now());
                    }
                }
            });
        }
    }
}

fn known_sessions(server: &Server) -> Vec<(i64, i32)> {
    let core = server.consensus.core().lock();
    core.sm
        .sessions()
        .map(|(id, session)| (id, session.timeout_ms))
        .collect()
}

/// Track sessions created elsewhere (or before a restart) and drop closed ones.
fn reconcile(server: &Server, now: Instant) {
    let sessions = known_sessions(server);
    let live: HashSet<i64> = sessions.iter().map(|(id, _)| *id).collect();
    let mut tracker = server.tracker();
    for (id, timeout) in sessions {
        if !tracker.contains(id) {
            tracker.arm(id, timeout, now);
        }
    }
    let stale: Vec<i64> = tracker
        .ids()
        .into_iter()
        .filter(|id| !live.contains(id))
        .collect();
    for id in stale {
        tracker.forget(id);
    }
}

async fn reap_nodes(server: Arc<Server>) {
    let interval = Duration::from_millis(server.settings.container_check_interval_ms.max(10));
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if !server.consensus.is_leader() {
            continue;
        }
        let now = now_ms();
        let (containers, ttls) = {
            let core = server.consensus.core().lock();
            core.sm.reap_candidates(now, REAP_BATCH)
        };
        let commands = containers
            .into_iter()
            .map(|path| CommandKind::ReapContainer { path })
            .chain(ttls.into_iter().map(|path| CommandKind::ReapTtl { path }));
        for kind in commands {
            let cmd = Command { time_ms: now, kind };
            if let Err(e) = server.consensus.propose(cmd).await {
                tracing::warn!(error = %e, "cannot propose a reap; will retry next round");
                break;
            }
        }
    }
}
