//! Counters behind `srvr`, `stat`, `mntr`, `cons` and `/metrics`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct ServerStats {
    pub packets_received: AtomicU64,
    pub packets_sent: AtomicU64,
    pub outstanding_requests: AtomicU64,
    latency_count: AtomicU64,
    latency_total_us: AtomicU64,
    latency_min_us: AtomicU64,
    latency_max_us: AtomicU64,
    connections: Mutex<BTreeMap<u64, ConnectionInfo>>,
}

#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    pub peer: SocketAddr,
    pub session_id: i64,
    pub timeout_ms: i32,
    pub since: Instant,
    pub received: u64,
    pub sent: u64,
}

impl ServerStats {
    pub fn record_latency(&self, elapsed: Duration) {
        let us = elapsed.as_micros().min(u64::MAX as u128) as u64;
        let first = self.latency_count.fetch_add(1, Ordering::Relaxed) == 0;
        self.latency_total_us.fetch_add(us, Ordering::Relaxed);
        if first {
            self.latency_min_us.store(us, Ordering::Relaxed);
        } else {
            self.latency_min_us.fetch_min(us, Ordering::Relaxed);
        }
        self.latency_max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// (min, avg, max) request latency in milliseconds, as `srvr` prints them.
    pub fn latency_ms(&self) -> (f64, f64, f64) {
        let count = self.latency_count.load(Ordering::Relaxed);
        if count == 0 {
            return (0.0, 0.0, 0.0);
        }
        let total = self.latency_total_us.load(Ordering::Relaxed) as f64;
        (
            self.latency_min_us.load(Ordering::Relaxed) as f64 / 1000.0,
            total / count as f64 / 1000.0,
            self.latency_max_us.load(Ordering::Relaxed) as f64 / 1000.0,
        )
    }

    pub fn reset(&self) {
        for counter in [
            &self.packets_received,
            &self.packets_sent,
            &self.latency_count,
            &self.latency_total_us,
            &self.latency_min_us,
            &self.latency_max_us,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }

    pub fn connection_opened(&self, id: u64, info: ConnectionInfo) {
        self.lock().insert(id, info);
    }

    pub fn connection_update(&self, id: u64, f: impl FnOnce(&mut ConnectionInfo)) {
        if let Some(info) = self.lock().get_mut(&id) {
            f(info);
        }
    }

    pub fn connection_closed(&self, id: u64) {
        self.lock().remove(&id);
    }

    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, ConnectionInfo>> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }
}
