//! `SnapshotStore` crash behaviour as an operator sees it: what is loaded and what is logged.

mod common;

use std::fs;
use std::path::PathBuf;

use common::capture_logs;
use corral_storage::{SnapshotId, SnapshotStore};

fn id(last_index: u64, term: u64) -> SnapshotId {
    SnapshotId { last_index, term }
}

fn snapshot_files(store: &SnapshotStore) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(store.dir())
        .unwrap()
        .map(|d| d.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn an_interrupted_save_leaves_the_previous_snapshot_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    store.save(id(100, 2), b"meta-100", b"data-100").unwrap();
    let saved = snapshot_files(&store);
    assert_eq!(saved.len(), 1);

    // A crash while writing snapshot 200 leaves only its temp file behind.
    let tmp = store
        .dir()
        .join("snapshot-00000000000000000200-00000000000000000002.snap.tmp");
    fs::write(&tmp, b"CRLSNAP1 half written").unwrap();

    let (loaded, logs) = capture_logs(|| store.load_latest().unwrap());
    assert_eq!(loaded, Some((b"meta-100".to_vec(), b"data-100".to_vec())));
    assert!(
        logs.contains("WARN") && logs.contains(&tmp.display().to_string()),
        "{logs}"
    );
    assert_eq!(snapshot_files(&store), saved, "the temp file is deleted");
}

#[test]
fn a_damaged_newest_snapshot_falls_back_to_the_previous_one_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    store.save(id(100, 2), b"meta-100", b"data-100").unwrap();
    store
        .save(id(250, 3), b"meta-250", &vec![7u8; 10_000])
        .unwrap();
    let newest = snapshot_files(&store).pop().unwrap();
    let mut bytes = fs::read(&newest).unwrap();
    bytes[5_000] ^= 0x01;
    fs::write(&newest, bytes).unwrap();

    let (loaded, logs) = capture_logs(|| store.load_latest().unwrap());
    assert_eq!(loaded, Some((b"meta-100".to_vec(), b"data-100".to_vec())));
    assert!(
        logs.contains("WARN") && logs.contains("damaged snapshot"),
        "{logs}"
    );
    assert!(logs.contains(&newest.display().to_string()), "{logs}");

    // Reopening the directory sees the same thing: the store keeps no state of its own.
    let reopened = SnapshotStore::open(dir.path()).unwrap();
    assert_eq!(reopened.load_latest().unwrap(), loaded);
}

#[test]
fn a_saved_snapshot_is_found_by_a_new_store_on_the_same_directory() {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    SnapshotStore::open(dir.path())
        .unwrap()
        .save(id(7, 1), b"m", &big)
        .unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    assert_eq!(store.list().unwrap(), vec![id(7, 1)]);
    assert_eq!(store.load_latest().unwrap(), Some((b"m".to_vec(), big)));
}
