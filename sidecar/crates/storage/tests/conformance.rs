//! openraft's own storage conformance suite, run against `LogStore` on disk.

mod common;

use std::io;

use common::{MemStateMachine, TC};
use corral_storage::{LogStore, LogStoreOptions};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::{ErrorSubject, ErrorVerb};
use tempfile::TempDir;

/// Builds a fresh store and state machine in a new temp dir per test case.
struct DiskStoreBuilder {
    segment_size: u64,
    recent_entries_bytes: u64,
}

fn storage_error(e: impl std::fmt::Display) -> openraft::StorageError<TC> {
    openraft::StorageError::from_io_error(
        ErrorSubject::Store,
        ErrorVerb::Read,
        io::Error::other(e.to_string()),
    )
}

impl StoreBuilder<TC, LogStore<TC>, MemStateMachine, TempDir> for DiskStoreBuilder {
    async fn build(
        &self,
    ) -> Result<(TempDir, LogStore<TC>, MemStateMachine), openraft::StorageError<TC>> {
        let dir = tempfile::tempdir().map_err(storage_error)?;
        let store = LogStore::open(
            &dir.path().join("log"),
            LogStoreOptions {
                segment_size: self.segment_size,
                recent_entries_bytes: self.recent_entries_bytes,
                ..Default::default()
            },
        )
        .map_err(storage_error)?;
        let sm = MemStateMachine::new(&dir.path().join("sm"));
        Ok((dir, store, sm))
    }
}

/// openraft's whole suite on stores with these options.
async fn suite(
    segment_size: u64,
    recent_entries_bytes: u64,
) -> Result<(), openraft::StorageError<TC>> {
    Suite::test_all(DiskStoreBuilder {
        segment_size,
        recent_entries_bytes,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_suite_with_default_segments() -> Result<(), openraft::StorageError<TC>> {
    let defaults = LogStoreOptions::default();
    suite(defaults.segment_size, defaults.recent_entries_bytes).await
}

/// Segments small enough that most appends start a new one, so every suite case also crosses
/// segment boundaries (purge and truncation delete whole files).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_suite_with_tiny_segments() -> Result<(), openraft::StorageError<TC>> {
    suite(64, LogStoreOptions::default().recent_entries_bytes).await
}

/// Every read served by the files: the in-memory copies of the newest entries turned off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_suite_reading_only_from_files() -> Result<(), openraft::StorageError<TC>> {
    suite(64, 0).await
}

/// Room in memory for only the newest couple of entries, so most reads take their head from
/// the files and their tail from memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_suite_reading_from_files_and_memory() -> Result<(), openraft::StorageError<TC>> {
    suite(128, 100).await
}
