//! Small checksummed files holding one value each: the vote, the purge point, the committed id.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec;
use crate::error::StorageError;
use crate::fsutil;
use crate::record::{self, RecordSpan};

/// Identifies (and versions) a single-value state file.
const STATE_MAGIC: &[u8; 8] = b"CRLSTAT1";

/// Durably replaces the value stored at `path` (temp file + fsync + rename + directory fsync).
pub(crate) fn write_value<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let payload = codec::encode(value)?;
    let mut contents = STATE_MAGIC.to_vec();
    record::encode_record(&payload, &mut contents);
    fsutil::atomic_write(path, &contents)
}

/// Reads the value stored at `path`; `None` when the file does not exist.
///
/// Files are only ever replaced by rename, so a damaged file is never a torn write: it is
/// reported as corruption rather than ignored.
pub(crate) fn read_value<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, StorageError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io("read", path, e)),
    };
    let corrupt = |reason: String| StorageError::CorruptStateFile {
        file: path.to_path_buf(),
        reason,
    };
    if bytes.len() < STATE_MAGIC.len() || &bytes[..STATE_MAGIC.len()] != STATE_MAGIC {
        return Err(corrupt("missing or wrong file signature".into()));
    }
    let span =
        record::read_record(&bytes, STATE_MAGIC.len()).map_err(|d| corrupt(d.to_string()))?;
    if span.offset + span.total_len() != bytes.len() {
        return Err(corrupt("unexpected bytes after the value".into()));
    }
    codec::decode(&bytes[span.payload_range()])
        .map(Some)
        .map_err(|e| corrupt(format!("cannot decode value: {e}")))
}

/// Size of each of the two slots of a [`SlotFile`].
const SLOT_SIZE: usize = 4096;

/// A value that is rewritten often and whose loss of the latest update is harmless (the
/// committed log id: an older one is still a correct lower bound).
///
/// Writing a whole new file per update would cost several fsyncs; instead the value alternates
/// between two fixed slots, each a checksummed record of `(sequence, value)`. An update is one
/// positional write into the older slot and is synced later together with the log (see the
/// I/O worker), so a torn update can only damage the slot being written while the other still
/// holds the previous value.
pub(crate) struct SlotFile {
    path: PathBuf,
    file: Arc<File>,
    seq: u64,
}

impl SlotFile {
    /// Opens (creating if needed) the slot file and returns the newest intact value.
    pub(crate) fn open<T: DeserializeOwned>(
        path: &Path,
    ) -> Result<(SlotFile, Option<T>), StorageError> {
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StorageError::io("open", path, e))?;
        if !existed {
            fsutil::sync_dir(fsutil::parent_of(path))
                .map_err(|e| StorageError::io("sync directory of", path, e))?;
        }
        let bytes = std::fs::read(path).map_err(|e| StorageError::io("read", path, e))?;
        let mut best: Option<(u64, T)> = None;
        for slot in 0..2 {
            let start = slot * SLOT_SIZE;
            if start >= bytes.len() {
                continue;
            }
            let end = (start + SLOT_SIZE).min(bytes.len());
            let Some((seq, value)) = decode_slot::<T>(&bytes[start..end]) else {
                continue;
            };
            if best.as_ref().is_none_or(|(s, _)| seq > *s) {
                best = Some((seq, value));
            }
        }
        if best.is_none() && !bytes.is_empty() {
            tracing::warn!(
                file = %path.display(),
                "no intact value in slot file; continuing without it (the committed log id is advisory and will be re-learned from the leader)"
            );
        }
        let (seq, value) = match best {
            Some((seq, value)) => (seq, Some(value)),
            None => (0, None),
        };
        Ok((
            SlotFile {
                path: path.to_path_buf(),
                file: Arc::new(file),
                seq,
            },
            value,
        ))
    }

    /// Writes `value` into the older slot without syncing; see [`SlotFile::file`].
    pub(crate) fn write<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        let seq = self.seq + 1;
        let payload = codec::encode(&(seq, value))?;
        let mut buf = Vec::with_capacity(record::RECORD_HEADER_LEN + payload.len());
        record::encode_record(&payload, &mut buf);
        if buf.len() > SLOT_SIZE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "value for {} is {} bytes, more than the {SLOT_SIZE}-byte slot",
                    self.path.display(),
                    buf.len()
                ),
            ));
        }
        let slot = (seq % 2) as usize;
        self.file.write_all_at(&buf, (slot * SLOT_SIZE) as u64)?;
        self.seq = seq;
        Ok(())
    }

    /// The handle to sync to make the last write durable.
    pub(crate) fn file(&self) -> &Arc<File> {
        &self.file
    }
}

fn decode_slot<T: DeserializeOwned>(slot: &[u8]) -> Option<(u64, T)> {
    let span: RecordSpan = record::read_record(slot, 0).ok()?;
    codec::decode(&slot[span.payload_range()]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_round_trip_and_absent_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vote");
        assert_eq!(read_value::<(u64, String)>(&path).unwrap(), None);
        write_value(&path, &(7u64, "x".to_string())).unwrap();
        assert_eq!(
            read_value::<(u64, String)>(&path).unwrap(),
            Some((7, "x".to_string()))
        );
    }

    #[test]
    fn damaged_value_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vote");
        write_value(&path, &12345u64).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        let err = read_value::<u64>(&path).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, StorageError::CorruptStateFile { .. }),
            "{msg}"
        );
        assert!(msg.contains("vote"), "{msg}");
        assert!(msg.contains("restore"), "{msg}");
    }

    #[test]
    fn slot_file_keeps_newest_and_survives_a_torn_slot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("committed");
        let (mut slots, v) = SlotFile::open::<u64>(&path).unwrap();
        assert_eq!(v, None);
        for value in 1..=5u64 {
            slots.write(&value).unwrap();
        }
        drop(slots);
        let (_, v) = SlotFile::open::<u64>(&path).unwrap();
        assert_eq!(v, Some(5));

        // Damage the slot holding the newest value (seq 5 -> slot 1): the previous value wins.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[SLOT_SIZE + record::RECORD_HEADER_LEN] ^= 0xFF;
        std::fs::write(&path, &bytes).unwrap();
        let (mut slots, v) = SlotFile::open::<u64>(&path).unwrap();
        assert_eq!(v, Some(4));

        // Writing continues after the newest intact sequence.
        slots.write(&9u64).unwrap();
        drop(slots);
        assert_eq!(SlotFile::open::<u64>(&path).unwrap().1, Some(9));
    }

    #[test]
    fn slot_file_with_no_intact_slot_yields_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("committed");
        std::fs::write(&path, vec![0xEE; 100]).unwrap();
        assert_eq!(SlotFile::open::<u64>(&path).unwrap().1, None);
    }
}
