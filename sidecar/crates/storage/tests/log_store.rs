//! `LogStore` behaviour on disk: reopening, truncation and purge across segments, crash
//! recovery (torn tails) and refusal to open on real corruption.

mod common;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use common::{TC, append_durably, blank, capture_logs, log_id, normal, open, vote};
use corral_storage::{LogStore, LogStoreOptions, StorageError};
use openraft::storage::{IOFlushed, RaftLogReader, RaftLogStorage};
use openraft::type_config::TypeConfigExt;
use openraft::{EntryPayload, RaftTypeConfig};

type Entry = <TC as RaftTypeConfig>::Entry;

/// Small enough that a few 40-byte entries fill a segment.
const TINY: u64 = 200;
const DEFAULT: u64 = 64 * 1024 * 1024;

/// `(index, term, payload)` of entries, comparable across reopen.
fn summary(entries: &[Entry]) -> Vec<(u64, u64, String)> {
    entries
        .iter()
        .map(|e| {
            let payload = match &e.payload {
                EntryPayload::Normal(d) => d.clone(),
                other => format!("{other:?}"),
            };
            (e.log_id.index, e.log_id.leader_id.term, payload)
        })
        .collect()
}

async fn all_entries(store: &mut LogStore<TC>) -> Vec<(u64, u64, String)> {
    let mut reader = store.get_log_reader().await;
    summary(&reader.try_get_log_entries(..).await.expect("read entries"))
}

fn indices(entries: &[(u64, u64, String)]) -> Vec<u64> {
    entries.iter().map(|e| e.0).collect()
}

/// Segment files of a store directory, oldest first.
fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    files
}

fn segment_first_index(path: &Path) -> u64 {
    let name = path.file_name().unwrap().to_str().unwrap();
    name.trim_start_matches("segment-")
        .trim_end_matches(".log")
        .parse()
        .unwrap()
}

/// Byte offsets of the records in a segment file (20-byte header, then
/// `len u32 | payload crc u32 | header crc u32 | payload`).
fn record_offsets(path: &Path) -> Vec<u64> {
    let bytes = fs::read(path).unwrap();
    let mut offsets = Vec::new();
    let mut at = 20;
    while at + 12 <= bytes.len() {
        offsets.push(at as u64);
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 12 + len;
    }
    offsets
}

fn flip_byte(path: &Path, at: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at as usize] ^= 0x04;
    fs::write(path, bytes).unwrap();
}

/// Appends entries `from..=to` of `term`, one append call per `batch` entries.
async fn fill(store: &mut LogStore<TC>, term: u64, from: u64, to: u64, batch: usize) {
    let entries: Vec<u64> = (from..=to).collect();
    for chunk in entries.chunks(batch) {
        let batch = chunk.iter().map(|&i| normal(term, i, 24)).collect();
        append_durably(store, batch).await.expect("append");
    }
}

#[tokio::test]
async fn reopen_returns_the_same_log_state_entries_vote_and_committed() {
    let dir = tempfile::tempdir().unwrap();
    let (state, entries) = {
        let mut store = open(dir.path(), TINY);
        append_durably(&mut store, vec![blank(1, 1)]).await.unwrap();
        fill(&mut store, 1, 2, 40, 3).await;
        store.save_vote(&vote(3, 2)).await.unwrap();
        store.save_committed(Some(log_id(1, 30))).await.unwrap();
        fill(&mut store, 1, 41, 42, 2).await;
        (
            store.get_log_state().await.unwrap(),
            all_entries(&mut store).await,
        )
    };
    assert!(
        segment_files(dir.path()).len() > 5,
        "tiny segments should roll often"
    );
    assert_eq!(indices(&entries), (1..=42).collect::<Vec<_>>());

    let mut store = open(dir.path(), TINY);
    assert_eq!(store.get_log_state().await.unwrap(), state);
    assert_eq!(state.last_log_id, Some(log_id(1, 42)));
    assert_eq!(all_entries(&mut store).await, entries);
    let mut reader = store.get_log_reader().await;
    assert_eq!(reader.read_vote().await.unwrap(), Some(vote(3, 2)));
    assert_eq!(store.read_committed().await.unwrap(), Some(log_id(1, 30)));
    // Sub-ranges spanning segment boundaries read back exactly.
    let part = summary(&reader.try_get_log_entries(7..=23).await.unwrap());
    assert_eq!(part, entries[6..23].to_vec());
}

#[tokio::test]
async fn committed_saved_after_the_last_append_survives_a_clean_close() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path(), DEFAULT);
        fill(&mut store, 1, 1, 5, 5).await;
        store.save_committed(Some(log_id(1, 5))).await.unwrap();
    }
    let mut store = open(dir.path(), DEFAULT);
    assert_eq!(store.read_committed().await.unwrap(), Some(log_id(1, 5)));
}

#[tokio::test]
async fn vote_is_durable_once_save_vote_returns() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path(), DEFAULT);
        let mut reader = store.get_log_reader().await;
        assert_eq!(reader.read_vote().await.unwrap(), None);
        store.save_vote(&vote(1, 1)).await.unwrap();
        assert_eq!(reader.read_vote().await.unwrap(), Some(vote(1, 1)));
    }
    {
        let mut store = open(dir.path(), DEFAULT);
        let mut reader = store.get_log_reader().await;
        assert_eq!(reader.read_vote().await.unwrap(), Some(vote(1, 1)));
        store.save_vote(&vote(5, 3)).await.unwrap();
    }
    let mut store = open(dir.path(), DEFAULT);
    let mut reader = store.get_log_reader().await;
    assert_eq!(reader.read_vote().await.unwrap(), Some(vote(5, 3)));
}

#[tokio::test]
async fn truncate_across_segment_boundaries_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path(), TINY);
        fill(&mut store, 1, 1, 30, 2).await;
        let before = segment_files(dir.path());
        assert!(before.len() > 4);

        store.truncate_after(Some(log_id(1, 12))).await.unwrap();
        assert_eq!(
            indices(&all_entries(&mut store).await),
            (1..=12).collect::<Vec<_>>()
        );
        let after = segment_files(dir.path());
        assert!(
            after.len() < before.len(),
            "segments past index 12 are deleted"
        );
        assert!(
            after.iter().all(|p| segment_first_index(p) <= 12),
            "{after:?}"
        );
        assert_eq!(
            store.get_log_state().await.unwrap().last_log_id,
            Some(log_id(1, 12))
        );

        // The log continues from the truncation point with a new term.
        fill(&mut store, 2, 13, 20, 3).await;
    }
    let mut store = open(dir.path(), TINY);
    let entries = all_entries(&mut store).await;
    assert_eq!(indices(&entries), (1..=20).collect::<Vec<_>>());
    assert!(entries[..12].iter().all(|e| e.1 == 1));
    assert!(entries[12..].iter().all(|e| e.1 == 2));

    store.truncate_after(None).await.unwrap();
    drop(store);
    let mut store = open(dir.path(), TINY);
    assert_eq!(all_entries(&mut store).await, vec![]);
    let state = store.get_log_state().await.unwrap();
    assert_eq!((state.last_purged_log_id, state.last_log_id), (None, None));
    assert!(segment_files(dir.path()).is_empty());
}

#[tokio::test]
async fn truncate_inside_a_segment_then_append_overwrites_the_cut_bytes() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path(), DEFAULT);
        fill(&mut store, 1, 1, 10, 10).await;
        store.truncate_after(Some(log_id(1, 4))).await.unwrap();
        fill(&mut store, 3, 5, 6, 1).await;
    }
    let mut store = open(dir.path(), DEFAULT);
    let entries = all_entries(&mut store).await;
    assert_eq!(indices(&entries), (1..=6).collect::<Vec<_>>());
    assert_eq!(entries[4].1, 3);
    assert_eq!(segment_files(dir.path()).len(), 1);
}

#[tokio::test]
async fn purge_deletes_whole_segments_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path(), TINY);
        fill(&mut store, 1, 1, 30, 2).await;
        store.purge(log_id(1, 17)).await.unwrap();
        assert_eq!(
            indices(&all_entries(&mut store).await),
            (18..=30).collect::<Vec<_>>()
        );
        let files = segment_files(dir.path());
        let firsts: Vec<u64> = files.iter().map(|p| segment_first_index(p)).collect();
        // Only the segment holding index 18 may start at or before it.
        assert!(
            firsts[0] <= 18 && firsts.get(1).is_none_or(|&f| f > 18),
            "{firsts:?}"
        );
    }
    {
        let mut store = open(dir.path(), TINY);
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 17)));
        assert_eq!(state.last_log_id, Some(log_id(1, 30)));
        assert_eq!(
            indices(&all_entries(&mut store).await),
            (18..=30).collect::<Vec<_>>()
        );
        fill(&mut store, 1, 31, 32, 1).await;

        // Purging past the last entry empties the log; it then continues after the purge point.
        store.purge(log_id(2, 40)).await.unwrap();
        assert!(segment_files(dir.path()).is_empty());
        let state = store.get_log_state().await.unwrap();
        assert_eq!(
            (state.last_purged_log_id, state.last_log_id),
            (Some(log_id(2, 40)), Some(log_id(2, 40)))
        );
        append_durably(&mut store, vec![blank(2, 41)])
            .await
            .unwrap();
    }
    let mut store = open(dir.path(), TINY);
    let state = store.get_log_state().await.unwrap();
    assert_eq!(
        (state.last_purged_log_id, state.last_log_id),
        (Some(log_id(2, 40)), Some(log_id(2, 41)))
    );
    assert_eq!(indices(&all_entries(&mut store).await), vec![41]);
}

#[tokio::test]
async fn torn_tail_is_truncated_with_a_warning_and_earlier_entries_survive() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path(), DEFAULT);
        fill(&mut store, 1, 1, 10, 1).await;
    }
    let segment = segment_files(dir.path()).pop().unwrap();
    let last_record = *record_offsets(&segment).last().unwrap();
    let len = fs::metadata(&segment).unwrap().len();
    // A crash mid-append: the last record is only partly on disk.
    fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(len - 5)
        .unwrap();

    let (mut store, logs) = capture_logs(|| open(dir.path(), DEFAULT));
    assert!(
        logs.contains("WARN") && logs.contains("torn tail"),
        "{logs}"
    );
    assert!(logs.contains(&segment.display().to_string()), "{logs}");
    assert!(logs.contains(&format!("offset={last_record}")), "{logs}");
    assert_eq!(fs::metadata(&segment).unwrap().len(), last_record);
    assert_eq!(
        indices(&all_entries(&mut store).await),
        (1..=9).collect::<Vec<_>>()
    );
    assert_eq!(
        store.get_log_state().await.unwrap().last_log_id,
        Some(log_id(1, 9))
    );

    // The log continues where the intact part ends, and reopens cleanly.
    append_durably(&mut store, vec![blank(2, 10)])
        .await
        .unwrap();
    drop(store);
    let (mut store, logs) = capture_logs(|| open(dir.path(), DEFAULT));
    assert!(!logs.contains("WARN"), "{logs}");
    assert_eq!(
        indices(&all_entries(&mut store).await),
        (1..=10).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn garbage_after_the_last_record_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path(), DEFAULT);
        fill(&mut store, 1, 1, 10, 4).await;
    }
    let segment = segment_files(dir.path()).pop().unwrap();
    let clean_len = fs::metadata(&segment).unwrap().len();
    let mut bytes = fs::read(&segment).unwrap();
    bytes.extend_from_slice(&[0xAB; 37]);
    fs::write(&segment, bytes).unwrap();

    let (mut store, logs) = capture_logs(|| open(dir.path(), DEFAULT));
    assert!(logs.contains("torn tail"), "{logs}");
    assert_eq!(fs::metadata(&segment).unwrap().len(), clean_len);
    assert_eq!(
        indices(&all_entries(&mut store).await),
        (1..=10).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_newest_segment_left_with_only_its_header_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path(), TINY);
        fill(&mut store, 1, 1, 12, 1).await;
    }
    let newest = segment_files(dir.path()).pop().unwrap();
    let first = segment_first_index(&newest);
    fs::OpenOptions::new()
        .write(true)
        .open(&newest)
        .unwrap()
        .set_len(20)
        .unwrap();

    let mut store = open(dir.path(), TINY);
    assert!(!newest.exists());
    assert_eq!(
        indices(&all_entries(&mut store).await),
        (1..first).collect::<Vec<_>>()
    );
    fill(&mut store, 2, first, first + 1, 1).await;
    drop(store);
    let mut store = open(dir.path(), TINY);
    assert_eq!(
        indices(&all_entries(&mut store).await),
        (1..=first + 1).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn flipped_byte_in_a_middle_record_fails_open_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path(), DEFAULT);
        fill(&mut store, 1, 1, 10, 3).await;
    }
    let segment = segment_files(dir.path()).pop().unwrap();
    let fifth = record_offsets(&segment)[4];
    flip_byte(&segment, fifth + 12 + 3);

    let err = LogStore::<TC>::open(
        dir.path(),
        LogStoreOptions {
            segment_size: DEFAULT,
            ..Default::default()
        },
    )
    .err()
    .expect("open must fail");
    let msg = err.to_string();
    match &err {
        StorageError::CorruptRecord { file, offset, .. } => {
            assert_eq!(file, &segment);
            assert_eq!(*offset, fifth);
        }
        other => panic!("expected CorruptRecord, got {other:?}"),
    }
    assert!(msg.contains(&segment.display().to_string()), "{msg}");
    assert!(msg.contains(&format!("offset {fifth}")), "{msg}");
    assert!(msg.contains("restore it from its peers"), "{msg}");
    // Nothing was "repaired": the damaged file is untouched.
    assert_eq!(record_offsets(&segment).len(), 10);
}

#[tokio::test]
async fn damage_in_an_older_segment_fails_open_even_in_its_last_record() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path(), TINY);
        fill(&mut store, 1, 1, 12, 1).await;
    }
    let files = segment_files(dir.path());
    assert!(files.len() >= 3);
    let older = &files[0];
    let last_record = *record_offsets(older).last().unwrap();
    let len = fs::metadata(older).unwrap().len();
    flip_byte(older, len - 1);

    let err = LogStore::<TC>::open(
        dir.path(),
        LogStoreOptions {
            segment_size: TINY,
            ..Default::default()
        },
    )
    .err()
    .expect("open must fail");
    match err {
        StorageError::CorruptRecord {
            file,
            offset,
            reason,
        } => {
            assert_eq!(&file, older);
            assert_eq!(offset, last_record);
            assert!(reason.contains("newer segments"), "{reason}");
        }
        other => panic!("expected CorruptRecord, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_segment_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path(), TINY);
        fill(&mut store, 1, 1, 20, 1).await;
    }
    let files = segment_files(dir.path());
    fs::remove_file(&files[1]).unwrap();
    let err = LogStore::<TC>::open(
        dir.path(),
        LogStoreOptions {
            segment_size: TINY,
            ..Default::default()
        },
    )
    .err()
    .expect("open must fail");
    match &err {
        StorageError::MissingEntries {
            file,
            expected,
            found,
        } => {
            assert_eq!(file, &files[2]);
            assert_eq!(*expected, segment_first_index(&files[1]));
            assert_eq!(*found, segment_first_index(&files[2]));
        }
        other => panic!("expected MissingEntries, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_first_segment_after_purge_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path(), TINY);
        fill(&mut store, 1, 1, 20, 1).await;
        store.purge(log_id(1, 2)).await.unwrap();
    }
    let files = segment_files(dir.path());
    fs::remove_file(&files[0]).unwrap();
    let err = LogStore::<TC>::open(
        dir.path(),
        LogStoreOptions {
            segment_size: TINY,
            ..Default::default()
        },
    )
    .err()
    .expect("open must fail");
    assert!(
        matches!(err, StorageError::MissingEntries { expected: 3, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn damaged_vote_file_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path(), DEFAULT);
        store.save_vote(&vote(4, 1)).await.unwrap();
    }
    let vote_file = dir.path().join("vote");
    let len = fs::metadata(&vote_file).unwrap().len();
    flip_byte(&vote_file, len - 1);
    let err = LogStore::<TC>::open(dir.path(), LogStoreOptions::default())
        .err()
        .expect("open must fail");
    assert!(
        matches!(err, StorageError::CorruptStateFile { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains(&vote_file.display().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn a_directory_is_opened_by_one_store_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path(), DEFAULT);
    let err = LogStore::<TC>::open(dir.path(), LogStoreOptions::default())
        .err()
        .expect("second open must fail");
    assert!(matches!(err, StorageError::Locked { .. }), "{err}");
    drop(first);
    let _again = open(dir.path(), DEFAULT);
}

#[tokio::test]
async fn append_must_continue_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), DEFAULT);
    fill(&mut store, 1, 1, 3, 3).await;
    for bad in [
        vec![blank(1, 5)],
        vec![blank(1, 3)],
        vec![blank(1, 4), blank(1, 6)],
    ] {
        let err = append_durably(&mut store, bad).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    }
    // A rejected append changes nothing, and the store stays usable.
    append_durably(&mut store, vec![blank(1, 4)]).await.unwrap();
    assert_eq!(
        indices(&all_entries(&mut store).await),
        (1..=4).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn appended_entries_are_readable_at_once_and_all_get_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), 4096);
    let mut reader = store.get_log_reader().await;
    let mut pending = Vec::new();
    for i in 1..=200u64 {
        let (tx, rx) = TC::oneshot();
        store
            .append(vec![normal(1, i, 30)], IOFlushed::signal(tx))
            .await
            .unwrap();
        // Readable as soon as append returns, before the flush is reported.
        let got = reader.try_get_log_entries(i..=i).await.unwrap();
        assert_eq!(summary(&got)[0].0, i);
        pending.push(rx);
    }
    for rx in pending {
        rx.await.unwrap().unwrap();
    }
    drop(store);
    let mut store = open(dir.path(), 4096);
    assert_eq!(
        indices(&all_entries(&mut store).await),
        (1..=200).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_renamed_segment_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path(), DEFAULT);
        fill(&mut store, 1, 1, 3, 3).await;
    }
    let segment = segment_files(dir.path()).pop().unwrap();
    let renamed = segment.with_file_name("segment-00000000000000000007.log");
    fs::rename(&segment, &renamed).unwrap();
    let err = LogStore::<TC>::open(dir.path(), LogStoreOptions::default())
        .err()
        .expect("open must fail");
    match err {
        StorageError::CorruptSegmentHeader { file, reason } => {
            assert_eq!(file, renamed);
            assert!(reason.contains("starts at index 1"), "{reason}");
        }
        other => panic!("expected CorruptSegmentHeader, got {other:?}"),
    }
}

#[tokio::test]
async fn a_zero_segment_size_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let err = LogStore::<TC>::open(
        dir.path(),
        LogStoreOptions {
            segment_size: 0,
            ..Default::default()
        },
    )
    .err()
    .expect("open must fail");
    assert!(matches!(err, StorageError::InvalidOption(_)), "{err}");
}

/// The newest entries are served from memory and older ones from the files; whatever mix a
/// range needs, the result is exactly what the files hold, after truncation and purge too.
#[tokio::test]
async fn reads_mixing_memory_and_files_return_what_the_files_hold() {
    let dir = tempfile::tempdir().unwrap();
    let options = LogStoreOptions {
        segment_size: TINY,
        // A few of the ~50-byte records.
        recent_entries_bytes: 200,
        ..Default::default()
    };
    let mut store = LogStore::<TC>::open(dir.path(), options.clone()).unwrap();
    fill(&mut store, 1, 1, 40, 3).await;
    store.truncate_after(Some(log_id(1, 30))).await.unwrap();
    fill(&mut store, 2, 31, 45, 4).await;
    store.purge(log_id(1, 10)).await.unwrap();

    let expected: Vec<(u64, u64, String)> = (11..=45)
        .map(|i| (i, if i <= 30 { 1 } else { 2 }, format!("{i:>24}")))
        .collect();
    let mut reader = store.get_log_reader().await;
    for start in 8..=47 {
        for end in start..=48 {
            let got = summary(&reader.try_get_log_entries(start..end).await.unwrap());
            let want: Vec<_> = expected
                .iter()
                .filter(|e| (start..end).contains(&e.0))
                .cloned()
                .collect();
            assert_eq!(got, want, "range {start}..{end}");
        }
    }
    drop(reader);
    drop(store);
    // A reopened store has nothing in memory: the files alone give the same log.
    let mut reopened = LogStore::<TC>::open(dir.path(), options).unwrap();
    assert_eq!(all_entries(&mut reopened).await, expected);
}
