//! Errors from opening the stores.
//!
//! Once open, the openraft trait methods report `std::io::Error`, as openraft requires; those
//! carry the same kind of message (file, offset, what to do) in their text.

use std::io;
use std::path::PathBuf;

/// The advice shared by every "this member's data can't be trusted" error.
pub(crate) const RESTORE_ADVICE: &str = "this member's Raft data cannot be trusted; restore it from its peers: \
     stop the node, move its data directory aside (keep it for diagnosis), and start it empty \
     so the leader re-sends a snapshot and the log (a single-member group has no peers: \
     restore its data directory from a backup instead)";

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A filesystem operation failed (permissions, missing disk, full disk...).
    #[error(
        "cannot {action} {path}: {source}; check that the path exists, is writable by this process and the disk is healthy"
    )]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Another process (or another store in this process) already uses the directory.
    #[error(
        "{path} is locked by another running node; two nodes must never share a data directory — stop the other node or give this one its own directory"
    )]
    Locked { path: PathBuf },

    /// A log record is damaged somewhere other than an unacknowledged tail.
    #[error("corrupt log record in {file} at byte offset {offset}: {reason}; {RESTORE_ADVICE}")]
    CorruptRecord {
        file: PathBuf,
        offset: u64,
        reason: String,
    },

    /// A segment file's header is damaged or does not match its name.
    #[error("corrupt log segment header in {file}: {reason}; {RESTORE_ADVICE}")]
    CorruptSegmentHeader { file: PathBuf, reason: String },

    /// Log entries that should exist are missing (a segment file was removed or renamed).
    #[error(
        "log entries are missing: expected index {expected} at the start of {file}, found {found}; {RESTORE_ADVICE}"
    )]
    MissingEntries {
        file: PathBuf,
        expected: u64,
        found: u64,
    },

    /// A small state file (vote, purge point) is damaged. The vote in particular must never be
    /// guessed: forgetting it could let this member vote twice in one term.
    #[error("corrupt state file {file}: {reason}; {RESTORE_ADVICE}")]
    CorruptStateFile { file: PathBuf, reason: String },

    /// A snapshot name or option given by the caller is invalid.
    #[error("invalid storage option: {0}")]
    InvalidOption(String),
}

impl StorageError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StorageError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for the `io::Error` the openraft trait methods return when data on disk is bad.
pub(crate) fn invalid_data(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}
