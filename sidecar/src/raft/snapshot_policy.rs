//! When to take a snapshot: after a number of entries (zoo.cfg snapCount, through openraft's
//! policy) or once the log since the last snapshot holds a number of bytes (snapSizeLimitInKb,
//! checked here). Both thresholds are drawn at random between half and all of the setting, as
//! ZooKeeper does, so the members of an ensemble do not all snapshot at the same moment.

use std::time::Duration;

use corral_storage::LogReader;
use openraft::async_runtime::WatchReceiver;

use super::{CorralRaft, TypeConfig};

/// How often the log's size is checked against the byte threshold.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// A threshold in `(setting / 2, setting]`, picked by `roll` (ZooKeeper's randRoll).
pub fn jittered(setting: u64, roll: u64) -> u64 {
    let half = setting / 2;
    half + 1 + roll % (setting - half).max(1)
}

/// Whether a snapshot is due: `bytes` logged since the last snapshot, and no snapshot was
/// already asked for at this same snapshot index.
pub fn size_snapshot_due(
    bytes: u64,
    threshold: u64,
    snapshot_index: Option<u64>,
    asked_at: Option<Option<u64>>,
) -> bool {
    bytes >= threshold && asked_at != Some(snapshot_index)
}

/// Triggers a snapshot whenever the log since the last one reaches `threshold` bytes; ends when
/// the Raft node stops.
pub fn spawn_size_trigger(raft: CorralRaft, log: LogReader<TypeConfig>, threshold: u64) {
    tokio::spawn(async move {
        let mut asked_at: Option<Option<u64>> = None;
        let mut ticker = tokio::time::interval(CHECK_EVERY);
        loop {
            ticker.tick().await;
            let snapshot_index = raft
                .metrics()
                .borrow_watched()
                .snapshot
                .as_ref()
                .map(|id| id.index);
            let bytes = log.bytes_after(snapshot_index);
            if !size_snapshot_due(bytes, threshold, snapshot_index, asked_at) {
                continue;
            }
            tracing::info!(
                bytes,
                threshold,
                "the log since the last snapshot reached the size limit; taking a snapshot"
            );
            asked_at = Some(snapshot_index);
            if raft.trigger().snapshot().await.is_err() {
                return; // The Raft node has stopped.
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jittered_thresholds_lie_between_half_and_all_of_the_setting() {
        for setting in [1u64, 2, 3, 100, 100_000] {
            for roll in [0u64, 1, 7, 49, 50, 99, u64::MAX] {
                let t = jittered(setting, roll);
                assert!(t > setting / 2 && t <= setting, "{setting} {roll} -> {t}");
            }
        }
        assert_eq!(jittered(100, 0), 51);
        assert_eq!(jittered(100, 49), 100);
        assert_eq!(jittered(1, 12345), 1);
    }

    #[test]
    fn a_size_snapshot_is_asked_for_once_per_snapshot_index() {
        assert!(!size_snapshot_due(99, 100, Some(5), None));
        assert!(size_snapshot_due(100, 100, Some(5), None));
        // Already asked while the snapshot at 5 was current: wait for it to be taken.
        assert!(!size_snapshot_due(500, 100, Some(5), Some(Some(5))));
        assert!(size_snapshot_due(500, 100, Some(9), Some(Some(5))));
        assert!(size_snapshot_due(100, 100, None, Some(Some(5))));
        assert!(!size_snapshot_due(100, 100, None, Some(None)));
    }
}
