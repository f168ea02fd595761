//! `maxClientCnxns`: concurrent connections per client IP, counted with a guard so every exit
//! path of a connection gives its slot back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

pub struct ConnectionLimits {
    max_per_ip: u32,
    counts: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

/// Holds one connection slot for an IP until dropped.
pub struct ConnectionSlot {
    ip: IpAddr,
    counts: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl ConnectionLimits {
    /// `max_per_ip` 0 means unlimited, as in ZooKeeper.
    pub fn new(max_per_ip: u32) -> Self {
        ConnectionLimits {
            max_per_ip,
            counts: Arc::default(),
        }
    }

    /// Take a slot, or None when the IP already holds `max_per_ip` connections.
    pub fn acquire(&self, ip: IpAddr) -> Option<ConnectionSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if self.max_per_ip != 0 && *count >= self.max_per_ip {
            return None;
        }
        *count += 1;
        Some(ConnectionSlot {
            ip,
            counts: self.counts.clone(),
        })
    }

    pub fn total(&self) -> u32 {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .sum()
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_applies_per_ip_and_slots_come_back() {
        let limits = ConnectionLimits::new(2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let s1 = limits.acquire(a).unwrap();
        let _s2 = limits.acquire(a).unwrap();
        assert!(limits.acquire(a).is_none());
        assert!(limits.acquire(b).is_some());
        drop(s1);
        assert!(limits.acquire(a).is_some());
    }

    #[test]
    fn zero_means_unlimited() {
        let limits = ConnectionLimits::new(0);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let slots: Vec<_> = (0..1000).map(|_| limits.acquire(a).unwrap()).collect();
        assert_eq!(limits.total(), 1000);
        drop(slots);
        assert_eq!(limits.total(), 0);
    }
}
