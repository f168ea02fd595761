//! Log segment files: naming, header, and creation.
//!
//! A segment is `log/segment-<first index, 20 digits>.log`: a 20-byte header followed by
//! records (see [`crate::record`]), one per log entry, in index order. The zero-padded name
//! makes lexical and numeric order agree, so a directory listing is already in log order.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::fsutil;

const SEGMENT_MAGIC: &[u8; 8] = b"CRLSEG01";

/// Bytes before the first record: magic, first index (u64 LE), CRC32 of both.
pub(crate) const SEGMENT_HEADER_LEN: usize = 20;

const NAME_PREFIX: &str = "segment-";
const NAME_SUFFIX: &str = ".log";

pub(crate) fn segment_file_name(first_index: u64) -> String {
    format!("{NAME_PREFIX}{first_index:020}{NAME_SUFFIX}")
}

/// The first index encoded in a segment file name, or `None` for any other name.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(NAME_PREFIX)?.strip_suffix(NAME_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) fn encode_segment_header(first_index: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut header = [0u8; SEGMENT_HEADER_LEN];
    header[..8].copy_from_slice(SEGMENT_MAGIC);
    header[8..16].copy_from_slice(&first_index.to_le_bytes());
    let crc = crc32fast::hash(&header[..16]);
    header[16..].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Checks that `bytes` starts with the header of the segment whose name says `first_index`.
pub(crate) fn check_segment_header(bytes: &[u8], first_index: u64) -> Result<(), String> {
    if bytes.len() < SEGMENT_HEADER_LEN {
        return Err(format!(
            "file is {} bytes, shorter than the {SEGMENT_HEADER_LEN}-byte header",
            bytes.len()
        ));
    }
    if &bytes[..8] != SEGMENT_MAGIC {
        return Err("missing or wrong file signature".into());
    }
    let crc = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
    if crc32fast::hash(&bytes[..16]) != crc {
        return Err("header checksum mismatch".into());
    }
    let recorded = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    if recorded != first_index {
        return Err(format!(
            "header says the segment starts at index {recorded} but its name says {first_index}"
        ));
    }
    Ok(())
}

/// An open segment file.
#[derive(Debug)]
pub(crate) struct Segment {
    pub first_index: u64,
    pub path: PathBuf,
    pub file: Arc<File>,
    /// Bytes of valid data (header plus intact records); the next record goes here.
    len: AtomicU64,
}

impl Segment {
    /// Opens an existing segment whose valid data ends at `len`.
    pub(crate) fn open(first_index: u64, path: PathBuf, len: u64) -> io::Result<Segment> {
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        Ok(Segment {
            first_index,
            path,
            file: Arc::new(file),
            len: AtomicU64::new(len),
        })
    }

    /// Creates a new, empty segment in `dir`. The header is written to a temp file and renamed
    /// into place, so a segment file on disk always has a complete header; the directory is
    /// synced so the new file outlives a crash together with what is later appended to it.
    pub(crate) fn create(dir: &Path, first_index: u64) -> io::Result<Segment> {
        let path = dir.join(segment_file_name(first_index));
        let tmp = fsutil::tmp_path(&path);
        fsutil::write_synced(&tmp, &[&encode_segment_header(first_index)])?;
        std::fs::rename(&tmp, &path)?;
        fsutil::sync_dir(dir)?;
        Segment::open(first_index, path, SEGMENT_HEADER_LEN as u64)
    }

    pub(crate) fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    pub(crate) fn set_len(&self, len: u64) {
        self.len.store(len, Ordering::Release)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_numerically() {
        assert_eq!(segment_file_name(42), "segment-00000000000000000042.log");
        assert_eq!(parse_segment_file_name(&segment_file_name(42)), Some(42));
        assert_eq!(
            parse_segment_file_name(&segment_file_name(u64::MAX)),
            Some(u64::MAX)
        );
        assert!(segment_file_name(9) < segment_file_name(10));
        for bad in [
            "segment-42.log",
            "segment-0000000000000000004x.log",
            "segment-00000000000000000042.log.tmp",
            "vote",
        ] {
            assert_eq!(parse_segment_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn header_round_trip_and_mismatches() {
        let header = encode_segment_header(7);
        assert_eq!(check_segment_header(&header, 7), Ok(()));
        assert!(
            check_segment_header(&header, 8)
                .unwrap_err()
                .contains("name says 8")
        );
        assert!(
            check_segment_header(&header[..10], 7)
                .unwrap_err()
                .contains("shorter")
        );
        let mut bad = header;
        bad[9] ^= 1;
        assert!(
            check_segment_header(&bad, 7)
                .unwrap_err()
                .contains("checksum")
        );
    }

    #[test]
    fn create_writes_a_valid_header_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let seg = Segment::create(dir.path(), 5).unwrap();
        assert_eq!(seg.len(), SEGMENT_HEADER_LEN as u64);
        let bytes = std::fs::read(&seg.path).unwrap();
        assert_eq!(check_segment_header(&bytes, 5), Ok(()));
        assert!(!fsutil::tmp_path(&seg.path).exists());
    }
}
