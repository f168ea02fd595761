//! [`SnapshotStore`]: state-machine snapshots as checksummed files, written atomically.
//!
//! The store does not interpret snapshots: the caller passes opaque `meta` and `data` bytes
//! (the Raft glue serializes openraft's snapshot meta and its own state into them).
//!
//! File: `<dir>/snapshot-<last index, 20 digits>-<term, 20 digits>.snap`
//!
//! ```text
//! magic "CRLSNAP1" | last_index u64 | term u64 | meta_len u64 | data_len u64 | meta | data | crc32
//! ```
//!
//! The CRC32 covers everything before it. A file is written under a temp name, synced, renamed
//! into place, and the directory synced; so a snapshot file either is complete or does not
//! exist, and the checksum catches later damage.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use crate::fsutil;

const SNAPSHOT_MAGIC: &[u8; 8] = b"CRLSNAP1";
const HEADER_LEN: usize = 40;
const TRAILER_LEN: usize = 4;
const NAME_PREFIX: &str = "snapshot-";
const NAME_SUFFIX: &str = ".snap";

/// Which log position a snapshot covers; orders snapshots (newest = greatest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnapshotId {
    /// Index of the last log entry included in the snapshot.
    pub last_index: u64,
    /// Term of that entry.
    pub term: u64,
}

impl SnapshotId {
    fn file_name(&self) -> String {
        format!(
            "{NAME_PREFIX}{:020}-{:020}{NAME_SUFFIX}",
            self.last_index, self.term
        )
    }

    fn parse_file_name(name: &str) -> Option<SnapshotId> {
        let middle = name.strip_prefix(NAME_PREFIX)?.strip_suffix(NAME_SUFFIX)?;
        let (index, term) = middle.split_once('-')?;
        let number = |s: &str| {
            (s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
        };
        Some(SnapshotId {
            last_index: number(index)?,
            term: number(term)?,
        })
    }
}

/// Encodes a snapshot file image. Pure; see the module docs for the layout.
fn encode_header(id: SnapshotId, meta_len: usize, data_len: usize) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(SNAPSHOT_MAGIC);
    header[8..16].copy_from_slice(&id.last_index.to_le_bytes());
    header[16..24].copy_from_slice(&id.term.to_le_bytes());
    header[24..32].copy_from_slice(&(meta_len as u64).to_le_bytes());
    header[32..40].copy_from_slice(&(data_len as u64).to_le_bytes());
    header
}

/// Checks a whole snapshot file image and splits it into `(meta, data)` ranges.
fn decode_file(
    bytes: &[u8],
    expected: SnapshotId,
) -> Result<(std::ops::Range<usize>, std::ops::Range<usize>), String> {
    if bytes.len() < HEADER_LEN + TRAILER_LEN {
        return Err(format!(
            "file is {} bytes, too short for a snapshot",
            bytes.len()
        ));
    }
    if &bytes[..8] != SNAPSHOT_MAGIC {
        return Err("missing or wrong file signature".into());
    }
    let field = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let id = SnapshotId {
        last_index: field(8),
        term: field(16),
    };
    let (meta_len, data_len) = (field(24), field(32));
    let expected_len = (HEADER_LEN as u64)
        .checked_add(meta_len)
        .and_then(|n| n.checked_add(data_len))
        .and_then(|n| n.checked_add(TRAILER_LEN as u64));
    if expected_len != Some(bytes.len() as u64) {
        return Err(format!(
            "file is {} bytes but its header describes {meta_len} bytes of meta and {data_len} of data",
            bytes.len()
        ));
    }
    let body_end = bytes.len() - TRAILER_LEN;
    let crc = u32::from_le_bytes(bytes[body_end..].try_into().expect("4 bytes"));
    if crc32fast::hash(&bytes[..body_end]) != crc {
        return Err("checksum mismatch".into());
    }
    if id != expected {
        return Err(format!(
            "header says index {} term {} but the file name says index {} term {}",
            id.last_index, id.term, expected.last_index, expected.term
        ));
    }
    let meta_end = HEADER_LEN + meta_len as usize;
    Ok((HEADER_LEN..meta_end, meta_end..body_end))
}

/// Snapshot files in one directory. Operations are serialized within the process, so cleaning
/// up temp files never races with a save in progress.
pub struct SnapshotStore {
    dir: PathBuf,
    lock: Mutex<()>,
}

impl SnapshotStore {
    /// Opens (creating if needed) the snapshot store whose files live directly in `dir`
    /// (conventionally `<data dir>/snapshots`).
    pub fn open(dir: &Path) -> io::Result<SnapshotStore> {
        fsutil::ensure_dir(dir).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create snapshot directory {}: {e}", dir.display()),
            )
        })?;
        Ok(SnapshotStore {
            dir: dir.to_path_buf(),
            lock: Mutex::new(()),
        })
    }

    /// The directory holding the snapshot files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Durably stores a snapshot; when this returns `Ok` the snapshot survives a crash.
    /// Saving the same id again replaces the earlier file.
    pub fn save(&self, id: SnapshotId, meta: &[u8], data: &[u8]) -> io::Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let path = self.dir.join(id.file_name());
        let tmp = fsutil::tmp_path(&path);
        let header = encode_header(id, meta.len(), data.len());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header);
        crc.update(meta);
        crc.update(data);
        let crc = crc.finalize().to_le_bytes();
        // Never give up on a full disk: the snapshot is built in the background, and failing
        // it would stop the Raft node. Each attempt starts the temp file afresh.
        static NEVER: AtomicBool = AtomicBool::new(false);
        fsutil::retry_while_full("saving a snapshot", &tmp, &NEVER, || {
            fsutil::write_synced(&tmp, &[&header, meta, data, &crc])
        })?;
        fs::rename(&tmp, &path)?;
        fsutil::sync_dir(&self.dir)?;
        tracing::info!(file = %path.display(), last_index = id.last_index, term = id.term, bytes = data.len(), "saved snapshot");
        Ok(())
    }

    /// The newest intact snapshot as `(meta, data)`, or `None` if there is none.
    ///
    /// Damaged snapshot files are skipped with a warning (an older one is used instead);
    /// leftover temp files from an interrupted save are deleted with a warning.
    pub fn load_latest(&self) -> io::Result<Option<(Vec<u8>, Vec<u8>)>> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        for id in self.scan_dir()? {
            if let Some(loaded) = self.load_checked(id)? {
                return Ok(Some(loaded));
            }
        }
        Ok(None)
    }

    /// Ids of the snapshot files present (intact or not), newest first.
    pub fn list(&self) -> io::Result<Vec<SnapshotId>> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.scan_dir()
    }

    /// Keeps the newest `keep` intact snapshots and deletes the rest, damaged ones included.
    pub fn purge(&self, keep: usize) -> io::Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut kept = 0;
        let mut removed_any = false;
        for id in self.scan_dir()? {
            // Intact-ness is only checked while looking for the ones to keep, so that a damaged
            // newest file never causes the last good snapshot to be deleted.
            if kept < keep && self.load_checked(id)?.is_some() {
                kept += 1;
                continue;
            }
            let path = self.dir.join(id.file_name());
            fs::remove_file(&path)?;
            tracing::info!(file = %path.display(), "removed old snapshot");
            removed_any = true;
        }
        if removed_any {
            fsutil::sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Lists snapshot files newest first, deleting leftover temp files on the way.
    fn scan_dir(&self) -> io::Result<Vec<SnapshotId>> {
        let mut ids = Vec::new();
        for dirent in fs::read_dir(&self.dir)? {
            let dirent = dirent?;
            let name = dirent.file_name().to_string_lossy().into_owned();
            let path = dirent.path();
            if name.ends_with(fsutil::TMP_SUFFIX) {
                tracing::warn!(file = %path.display(), "deleting leftover temporary snapshot file from an interrupted save");
                fs::remove_file(&path)?;
                continue;
            }
            match SnapshotId::parse_file_name(&name) {
                Some(id) => ids.push(id),
                None => {
                    tracing::warn!(file = %path.display(), "ignoring unexpected file in the snapshot directory")
                }
            }
        }
        ids.sort_unstable_by(|a, b| b.cmp(a));
        Ok(ids)
    }

    /// Reads and verifies one snapshot; `None` (with a warning) when it is damaged.
    fn load_checked(&self, id: SnapshotId) -> io::Result<Option<(Vec<u8>, Vec<u8>)>> {
        let path = self.dir.join(id.file_name());
        let bytes = fs::read(&path)?;
        match decode_file(&bytes, id) {
            Ok((meta, data)) => Ok(Some((bytes[meta].to_vec(), bytes[data].to_vec()))),
            Err(reason) => {
                tracing::warn!(file = %path.display(), %reason, "skipping damaged snapshot; an older one will be used if present");
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(last_index: u64, term: u64) -> SnapshotId {
        SnapshotId { last_index, term }
    }

    fn store() -> (tempfile::TempDir, SnapshotStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::open(dir.path()).unwrap();
        (dir, store)
    }

    fn flip_byte(path: &Path, at: usize) {
        let mut bytes = fs::read(path).unwrap();
        bytes[at] ^= 0x20;
        fs::write(path, bytes).unwrap();
    }

    #[test]
    fn file_names_round_trip() {
        let name = id(42, 7).file_name();
        assert_eq!(
            name,
            "snapshot-00000000000000000042-00000000000000000007.snap"
        );
        assert_eq!(SnapshotId::parse_file_name(&name), Some(id(42, 7)));
        for bad in [
            "snapshot-42-7.snap",
            "snapshot-00000000000000000042.snap",
            "x.snap",
        ] {
            assert_eq!(SnapshotId::parse_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn empty_store_has_no_snapshot() {
        let (_dir, store) = store();
        assert_eq!(store.load_latest().unwrap(), None);
    }

    #[test]
    fn newest_snapshot_wins_by_index() {
        let (_dir, store) = store();
        store.save(id(10, 1), b"m10", b"d10").unwrap();
        store.save(id(200, 3), b"m200", b"d200").unwrap();
        store.save(id(30, 2), b"m30", b"").unwrap();
        assert_eq!(
            store.load_latest().unwrap(),
            Some((b"m200".to_vec(), b"d200".to_vec()))
        );
        assert_eq!(
            store.list().unwrap(),
            vec![id(200, 3), id(30, 2), id(10, 1)]
        );
    }

    #[test]
    fn leftover_temp_file_is_ignored_and_deleted() {
        let (_dir, store) = store();
        store.save(id(5, 1), b"meta", b"data").unwrap();
        // An interrupted save of a newer snapshot: only its temp file exists.
        let tmp = fsutil::tmp_path(&store.dir().join(id(9, 1).file_name()));
        fs::write(&tmp, b"partial").unwrap();
        assert_eq!(
            store.load_latest().unwrap(),
            Some((b"meta".to_vec(), b"data".to_vec()))
        );
        assert!(!tmp.exists());
    }

    #[test]
    fn damaged_newest_falls_back_to_previous() {
        let (_dir, store) = store();
        store.save(id(5, 1), b"old-meta", b"old-data").unwrap();
        store.save(id(9, 2), b"new-meta", b"new-data").unwrap();
        let newest = store.dir().join(id(9, 2).file_name());
        flip_byte(&newest, HEADER_LEN + 10);
        assert_eq!(
            store.load_latest().unwrap(),
            Some((b"old-meta".to_vec(), b"old-data".to_vec()))
        );
    }

    #[test]
    fn truncated_or_renamed_files_are_detected() {
        let (_dir, store) = store();
        store.save(id(5, 1), b"meta", b"data").unwrap();
        let path = store.dir().join(id(5, 1).file_name());
        let bytes = fs::read(&path).unwrap();

        let err = decode_file(&bytes[..bytes.len() - 1], id(5, 1)).unwrap_err();
        assert!(err.contains("describes"), "{err}");
        let err = decode_file(&bytes, id(6, 1)).unwrap_err();
        assert!(err.contains("file name says index 6"), "{err}");

        fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert_eq!(store.load_latest().unwrap(), None);
    }

    #[test]
    fn purge_keeps_newest_intact_ones() {
        let (_dir, store) = store();
        for i in 1..=5 {
            store
                .save(id(i * 10, 1), b"m", format!("d{i}").as_bytes())
                .unwrap();
        }
        store.purge(2).unwrap();
        assert_eq!(store.list().unwrap(), vec![id(50, 1), id(40, 1)]);
        store.purge(0).unwrap();
        assert_eq!(store.list().unwrap(), vec![]);
    }

    #[test]
    fn purge_never_counts_a_damaged_snapshot_as_kept() {
        let (_dir, store) = store();
        store.save(id(10, 1), b"m", b"good").unwrap();
        store.save(id(20, 1), b"m", b"bad").unwrap();
        flip_byte(&store.dir().join(id(20, 1).file_name()), HEADER_LEN);
        store.purge(1).unwrap();
        assert_eq!(store.list().unwrap(), vec![id(10, 1)]);
        assert_eq!(
            store.load_latest().unwrap(),
            Some((b"m".to_vec(), b"good".to_vec()))
        );
    }
}
