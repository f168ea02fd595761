//! Refusing client writes before the disk fills up.
//!
//! Why: a write the log store cannot put on disk has to wait for space (see corral-storage), and
//! a leader waiting for space serves nobody. Checking the free space of the log and snapshot
//! filesystems and refusing new writes below a reserve keeps the node answering: writes fail at
//! once with an error the client understands, reads keep working, and writes resume by
//! themselves once space is back. Apache ZooKeeper has no such guard (its server exits on a
//! failed log write); the reserve is Corral's own setting.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// How often the free space is measured.
const CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// Whether writes must be refused with `free` bytes left and `reserve` required.
pub fn below_reserve(free: u64, reserve: u64) -> bool {
    free < reserve
}

/// The free space of the filesystems under the Raft log and the snapshots.
pub struct DiskSpace {
    paths: Vec<PathBuf>,
    reserve: u64,
    low: AtomicBool,
    free: AtomicU64,
}

impl DiskSpace {
    /// Watches `paths` (directories that exist), refusing writes below `reserve` bytes free on
    /// any of them. A reserve of 0 disables the guard.
    pub fn new(paths: Vec<PathBuf>, reserve: u64) -> Arc<Self> {
        let guard = Arc::new(DiskSpace {
            paths,
            reserve,
            low: AtomicBool::new(false),
            free: AtomicU64::new(u64::MAX),
        });
        guard.refresh();
        guard
    }

    /// Bytes free on the fullest watched filesystem at the last check, when writes are refused.
    pub fn refusal(&self) -> Option<u64> {
        self.low
            .load(Ordering::Acquire)
            .then(|| self.free.load(Ordering::Acquire))
    }

    pub fn reserve(&self) -> u64 {
        self.reserve
    }

    /// Measures now, and logs when writes stop or resume being refused.
    pub fn refresh(&self) {
        if self.reserve == 0 {
            return;
        }
        let mut free = u64::MAX;
        for path in &self.paths {
            match rustix::fs::statvfs(path) {
                Ok(stat) => free = free.min(stat.f_bavail.saturating_mul(stat.f_frsize)),
                // Unknown is not low: the log store still waits out a real ENOSPC.
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "cannot measure free disk space")
                }
            }
        }
        self.free.store(free, Ordering::Release);
        let low = below_reserve(free, self.reserve);
        let was = self.low.swap(low, Ordering::AcqRel);
        if low && !was {
            tracing::error!(
                free_bytes = free,
                reserve_bytes = self.reserve,
                paths = ?self.paths,
                "disk space is below the reserve: refusing client writes (THROTTLEDOP) until space is freed; reads keep working"
            );
        } else if was && !low {
            tracing::info!(
                free_bytes = free,
                reserve_bytes = self.reserve,
                "disk space is above the reserve again: accepting writes"
            );
        }
    }

    /// Re-measures every [`CHECK_INTERVAL`] for as long as the guard is in use.
    pub fn spawn_monitor(self: &Arc<Self>) {
        if self.reserve == 0 {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(CHECK_INTERVAL);
            loop {
                ticker.tick().await;
                let Some(guard) = weak.upgrade() else { return };
                // statvfs is a quick syscall, but it is still a syscall on a possibly slow disk.
                let _ = tokio::task::spawn_blocking(move || guard.refresh()).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_refused_strictly_below_the_reserve() {
        assert!(below_reserve(0, 1));
        assert!(below_reserve(99, 100));
        assert!(!below_reserve(100, 100));
        assert!(!below_reserve(u64::MAX, 100));
    }

    #[test]
    fn a_zero_reserve_never_refuses() {
        let guard = DiskSpace::new(vec![PathBuf::from("/")], 0);
        assert_eq!(guard.refusal(), None);
    }

    #[test]
    fn an_impossible_reserve_refuses_and_reports_the_free_space() {
        let dir = tempfile::tempdir().unwrap();
        let guard = DiskSpace::new(vec![dir.path().to_path_buf()], u64::MAX);
        let free = guard.refusal().expect("no filesystem has 16 EiB free");
        assert!(free < u64::MAX);
        let roomy = DiskSpace::new(vec![dir.path().to_path_buf()], 1);
        assert_eq!(roomy.refusal(), None);
    }
}
