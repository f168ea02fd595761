//! A full disk is waited out, not failed: the log store on a tiny tmpfs (root only; skipped
//! with a message elsewhere), and the bound on unflushed bytes.

mod common;

use std::fs;
use std::time::Duration;

use common::{TC, append_durably, normal};
use corral_storage::{LogStore, LogStoreOptions, SnapshotId, SnapshotStore};
use corral_testbed::SmallDisk;
use openraft::storage::{IOFlushed, RaftLogReader, RaftLogStorage};
use openraft::type_config::TypeConfigExt;

/// A tmpfs of `size`; `None` (with a message) where the test cannot run.
fn small_disk(size: &str) -> Option<SmallDisk> {
    match SmallDisk::mount(size) {
        Ok(disk) => Some(disk),
        Err(e) => {
            eprintln!("SKIPPED: {e}; the full-disk test did not run");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_append_on_a_full_disk_waits_for_space_and_loses_nothing() {
    let Some(disk) = small_disk("2m") else {
        return;
    };
    let log_dir = disk.path().join("raft");
    let mut store = LogStore::<TC>::open(
        &log_dir,
        LogStoreOptions {
            segment_size: 256 * 1024,
            ..Default::default()
        },
    )
    .unwrap();
    append_durably(&mut store, (1..=10).map(|i| normal(1, i, 100)).collect())
        .await
        .unwrap();

    let filler = disk.fill(0).unwrap();
    // 40 KiB of entries cannot fit: the append waits instead of failing the store.
    let (tx, rx) = TC::oneshot();
    let batch: Vec<_> = (11..=50).map(|i| normal(1, i, 1000)).collect();
    let append = store.append(batch, IOFlushed::signal(tx));
    let mut append = Box::pin(append);
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), &mut append)
            .await
            .is_err(),
        "an append on a full disk must wait for space, not fail"
    );
    fs::remove_file(&filler).unwrap();
    tokio::time::timeout(Duration::from_secs(30), append)
        .await
        .expect("the append goes through once there is space")
        .unwrap();
    rx.await.unwrap().unwrap();

    // The store is not poisoned: it keeps working, and everything is there after a reopen.
    append_durably(&mut store, vec![normal(1, 51, 10)])
        .await
        .unwrap();
    drop(store);
    let mut store = LogStore::<TC>::open(&log_dir, LogStoreOptions::default()).unwrap();
    let mut reader = store.get_log_reader().await;
    let entries = reader.try_get_log_entries(1..=51).await.unwrap();
    assert_eq!(entries.len(), 51);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_segment_and_a_vote_on_a_full_disk_wait_for_space() {
    let Some(disk) = small_disk("2m") else {
        return;
    };
    let log_dir = disk.path().join("raft");
    let mut store = LogStore::<TC>::open(
        &log_dir,
        LogStoreOptions {
            segment_size: 8 * 1024,
            ..Default::default()
        },
    )
    .unwrap();
    // Exactly fills the first segment, so the next append starts a new file.
    append_durably(&mut store, vec![normal(1, 1, 7000)])
        .await
        .unwrap();
    let filler = disk.fill(0).unwrap();
    let waiting = async {
        store.save_vote(&common::vote(2, 1)).await.unwrap();
        append_durably(&mut store, vec![normal(2, 2, 7000)])
            .await
            .unwrap();
    };
    let mut waiting = Box::pin(waiting);
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), &mut waiting)
            .await
            .is_err(),
        "saving a vote on a full disk must wait for space"
    );
    fs::remove_file(&filler).unwrap();
    tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("the vote and the append go through once there is space");
    drop(store);
    let mut store = LogStore::<TC>::open(&log_dir, LogStoreOptions::default()).unwrap();
    let mut reader = store.get_log_reader().await;
    assert_eq!(reader.read_vote().await.unwrap(), Some(common::vote(2, 1)));
}

#[test]
fn a_snapshot_on_a_full_disk_is_saved_once_there_is_space() {
    let Some(disk) = small_disk("1m") else {
        return;
    };
    let store = std::sync::Arc::new(SnapshotStore::open(&disk.path().join("snapshots")).unwrap());
    let filler = disk.fill(0).unwrap();
    let data = vec![7u8; 200 * 1024];
    let saver = {
        let store = store.clone();
        let data = data.clone();
        std::thread::spawn(move || {
            store.save(
                SnapshotId {
                    last_index: 9,
                    term: 1,
                },
                b"meta",
                &data,
            )
        })
    };
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!saver.is_finished(), "the save must wait for space");
    fs::remove_file(&filler).unwrap();
    saver.join().unwrap().unwrap();
    let (meta, loaded) = store.load_latest().unwrap().unwrap();
    assert_eq!((meta.as_slice(), loaded), (&b"meta"[..], data));
}

#[tokio::test(flavor = "multi_thread")]
async fn unflushed_bytes_stay_under_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LogStore::<TC>::open(
        dir.path(),
        LogStoreOptions {
            max_unflushed_bytes: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let mut previous = None;
    for i in 1..=50u64 {
        let (tx, rx) = TC::oneshot();
        store
            .append(vec![normal(1, i, 100)], IOFlushed::signal(tx))
            .await
            .unwrap();
        // With a one-byte bound an append returns only after the one before it is durable.
        if let Some(rx) = previous.replace(rx) {
            let mut rx = std::pin::pin!(rx);
            let done = futures_util::poll!(&mut rx);
            assert!(
                matches!(done, std::task::Poll::Ready(Ok(Ok(())))),
                "append {i} returned before append {} was flushed",
                i - 1
            );
        }
        assert!(store.unflushed_bytes() < 1024);
    }
    previous.unwrap().await.unwrap().unwrap();
    assert_eq!(store.unflushed_bytes(), 0);
}
