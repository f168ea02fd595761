//! Durable storage for the Raft log and state-machine snapshots.
//!
//! - [`LogStore`] implements openraft's `RaftLogStorage` (with [`LogReader`] as its
//!   `RaftLogReader`) on checksummed, append-only segment files. Appends are acknowledged only
//!   after fsync, with group commit; a torn tail left by a crash is cut off on open, and any
//!   other damage stops the open with an error naming the file and offset.
//! - [`SnapshotStore`] keeps state-machine snapshots as opaque, checksummed, atomically written
//!   files, independent of the Raft type config.
//!
//! Unix only: positional reads and writes (`FileExt`) and directory fsync.

#![cfg(unix)]

mod codec;
mod error;
mod fsutil;
mod io_worker;
mod log_store;
mod record;
mod segment;
mod snapshot;
mod state_file;

pub use error::StorageError;
pub use fsutil::is_out_of_space;
pub use log_store::{LogReader, LogStore, LogStoreOptions};
pub use snapshot::{SnapshotId, SnapshotStore};
