//! Kill -9 a process in the middle of appending, then reopen: every acknowledged entry must be
//! there, the log must be contiguous, and open must succeed (at most cutting a torn tail).
//!
//! A killed process does not lose the page cache, so this checks that the on-disk format is
//! recoverable at any instant and that acknowledgements are never ahead of the writes; it cannot
//! check fsync itself (that would need a power cut).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{append_durably, normal, open};
use openraft::storage::{RaftLogReader, RaftLogStorage};

const DIR_VAR: &str = "CORRAL_STORAGE_CRASH_DIR";
const SEGMENT_SIZE: u64 = 8 * 1024;

/// The writer run in a child process: appends batches forever (bounded by count and time),
/// printing the last index of each batch once it is acknowledged.
#[test]
#[ignore = "helper process for kill_during_appends_loses_no_acknowledged_entry"]
fn crash_child_writer() {
    let dir = std::env::var(DIR_VAR).expect("run by the crash test with its directory set");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut store = open(std::path::Path::new(&dir), SEGMENT_SIZE);
        let mut next = store
            .get_log_state()
            .await
            .unwrap()
            .last_log_id
            .map_or(1, |id| id.index + 1);
        let deadline = Instant::now() + Duration::from_secs(30);
        for round in 0..50_000u64 {
            if Instant::now() > deadline {
                break;
            }
            let count = 1 + (round % 7);
            let batch = (next..next + count)
                .map(|i| normal(1, i, 10 + (i % 300) as usize))
                .collect();
            append_durably(&mut store, batch).await.unwrap();
            next += count;
            println!("acked {}", next - 1);
        }
    });
}

#[tokio::test]
async fn kill_during_appends_loses_no_acknowledged_entry() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    for round in 0..3 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_writer",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut acked = 0u64;
        let mut seen = 0;
        // Let it run for a while, then kill it mid-stream.
        while seen < 150 + round * 70 {
            let Some(line) = lines.next() else { break };
            if let Some(n) = line.unwrap().strip_prefix("acked ") {
                acked = n.parse().unwrap();
                seen += 1;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Acknowledgements already in the pipe were made before the kill.
        for line in lines {
            if let Some(n) = line.unwrap().strip_prefix("acked ") {
                acked = n.parse().unwrap();
            }
        }
        assert!(acked > 0, "the child acknowledged nothing");

        let mut store = open(dir.path(), SEGMENT_SIZE);
        let last = store
            .get_log_state()
            .await
            .unwrap()
            .last_log_id
            .expect("a non-empty log")
            .index;
        assert!(
            last >= acked,
            "round {round}: acknowledged {acked} but only {last} survived"
        );
        let mut reader = store.get_log_reader().await;
        let entries = reader.try_get_log_entries(..).await.unwrap();
        let indices: Vec<u64> = entries.iter().map(|e| e.log_id.index).collect();
        assert_eq!(indices, (1..=last).collect::<Vec<_>>(), "round {round}");
    }
}
