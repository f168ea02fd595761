//! Rebuilding the in-memory index from the segment files when the store opens.
//!
//! Every record of every segment is checked. The only damage that is repaired is a torn tail:
//! damage in the last segment after which no intact record exists. That is what a crash
//! during an append leaves behind, and such an append was never acknowledged (its fsync had
//! not returned), so dropping it loses nothing Raft relies on. Any other damage means bytes that
//! were once durable have changed; the store then refuses to open instead of guessing.

use std::collections::VecDeque;
use std::fs;
use std::path::{Path, PathBuf};

use openraft::RaftTypeConfig;
use openraft::entry::RaftEntry;
use openraft::type_config::alias::LogIdOf;

use super::EntryLoc;
use crate::codec;
use crate::error::StorageError;
use crate::fsutil;
use crate::record::{self, DamageReport};
use crate::segment::{self, SEGMENT_HEADER_LEN, Segment};

pub(super) struct Recovered<C: RaftTypeConfig> {
    pub segments: Vec<Segment>,
    pub entries: VecDeque<EntryLoc<C>>,
}

/// What to do about damage found while scanning a segment.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum DamageVerdict {
    /// An unacknowledged, torn tail: cut the file at the damaged record.
    TruncateTail,
    /// Durable data changed: refuse to open, with this explanation.
    Corrupt(String),
}

/// Decides whether damage is a torn tail. Pure, so the policy is testable on its own.
pub(super) fn judge_damage(report: &DamageReport, in_last_segment: bool) -> DamageVerdict {
    match (in_last_segment, report.intact_record_after) {
        (true, None) => DamageVerdict::TruncateTail,
        (true, Some(next)) => DamageVerdict::Corrupt(format!(
            "{}, and an intact record follows at byte offset {next}, so this is not a torn tail",
            report.damage
        )),
        (false, _) => DamageVerdict::Corrupt(format!(
            "{}, in a segment that is followed by newer segments, so it was once durable",
            report.damage
        )),
    }
}

/// One segment after its records were checked and decoded.
struct ScannedSegment<C: RaftTypeConfig> {
    first_index: u64,
    path: PathBuf,
    valid_len: u64,
    entries: Vec<EntryLoc<C>>,
}

/// How often a slow start-up reports its progress.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

pub(super) fn recover_log<C>(
    log_dir: &Path,
    purged: Option<&LogIdOf<C>>,
) -> Result<Recovered<C>, StorageError>
where
    C: RaftTypeConfig,
{
    let files = list_segments(log_dir)?;
    let mut scanned: Vec<ScannedSegment<C>> = Vec::with_capacity(files.len());
    // Verifying every record of a long log takes a while: say how far it got.
    let started = std::time::Instant::now();
    let mut last_report = started;
    for (i, (first_index, path)) in files.iter().enumerate() {
        let in_last_segment = i + 1 == files.len();
        scanned.push(scan_segment::<C>(*first_index, path, in_last_segment)?);
        if last_report.elapsed() >= PROGRESS_EVERY {
            last_report = std::time::Instant::now();
            tracing::info!(
                dir = %log_dir.display(),
                verified_segments = i + 1,
                segments = files.len(),
                elapsed_s = started.elapsed().as_secs(),
                "verifying the Raft log"
            );
        }
    }
    if started.elapsed() >= PROGRESS_EVERY {
        tracing::info!(
            dir = %log_dir.display(),
            segments = files.len(),
            elapsed_s = started.elapsed().as_secs(),
            "verified the Raft log"
        );
    }

    // Segments are written contiguously; a gap means a file went missing.
    let mut expected_next: Option<u64> = None;
    for seg in scanned.iter().filter(|s| !s.entries.is_empty()) {
        if let Some(expected) = expected_next
            && seg.first_index != expected
        {
            return Err(StorageError::MissingEntries {
                file: seg.path.clone(),
                expected,
                found: seg.first_index,
            });
        }
        expected_next = Some(seg.first_index + seg.entries.len() as u64);
    }

    let purged_index = purged.map(|p| p.index);
    let mut segments = Vec::new();
    let mut entries = VecDeque::new();
    for seg in scanned {
        let last_index = seg.entries.last().map(|e| e.log_id.index);
        let fully_purged = match (last_index, purged_index) {
            (Some(last), Some(p)) => last <= p,
            (Some(_), None) => false,
            (None, _) => true,
        };
        if fully_purged {
            // Either a purge was interrupted before it removed this file, or the segment holds
            // no records at all (created just before a crash, or its only records were torn).
            tracing::info!(file = %seg.path.display(), "removing log segment with no live entries");
            fs::remove_file(&seg.path).map_err(|e| StorageError::io("remove", &seg.path, e))?;
            continue;
        }
        entries.extend(
            seg.entries
                .into_iter()
                .filter(|e| purged_index.is_none_or(|p| e.log_id.index > p)),
        );
        let opened = Segment::open(seg.first_index, seg.path.clone(), seg.valid_len)
            .map_err(|e| StorageError::io("open", &seg.path, e))?;
        segments.push(opened);
    }
    fsutil::sync_dir(log_dir).map_err(|e| StorageError::io("sync directory", log_dir, e))?;

    if let (Some(p), Some(front)) = (purged_index, entries.front())
        && front.log_id.index != p + 1
    {
        let file = segments.first().map(|s| s.path.clone()).unwrap_or_default();
        return Err(StorageError::MissingEntries {
            file,
            expected: p + 1,
            found: front.log_id.index,
        });
    }
    Ok(Recovered { segments, entries })
}

/// Segment files of `log_dir`, oldest first. Leftover temp files are removed; other files are
/// left alone with a warning.
fn list_segments(log_dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let read_dir = fs::read_dir(log_dir).map_err(|e| StorageError::io("list", log_dir, e))?;
    let mut segments = Vec::new();
    for dirent in read_dir {
        let dirent = dirent.map_err(|e| StorageError::io("list", log_dir, e))?;
        let path = dirent.path();
        let name = dirent.file_name().to_string_lossy().into_owned();
        if name.ends_with(fsutil::TMP_SUFFIX) {
            tracing::warn!(file = %path.display(), "removing leftover temporary file from an interrupted segment creation");
            fs::remove_file(&path).map_err(|e| StorageError::io("remove", &path, e))?;
            continue;
        }
        match segment::parse_segment_file_name(&name) {
            Some(first_index) => segments.push((first_index, path)),
            None => {
                tracing::warn!(file = %path.display(), "ignoring unexpected file in the log directory")
            }
        }
    }
    segments.sort_unstable_by_key(|(first, _)| *first);
    Ok(segments)
}

fn scan_segment<C>(
    first_index: u64,
    path: &Path,
    in_last_segment: bool,
) -> Result<ScannedSegment<C>, StorageError>
where
    C: RaftTypeConfig,
{
    let bytes = fs::read(path).map_err(|e| StorageError::io("read", path, e))?;
    segment::check_segment_header(&bytes, first_index).map_err(|reason| {
        StorageError::CorruptSegmentHeader {
            file: path.to_path_buf(),
            reason,
        }
    })?;
    let scan = record::scan_records(&bytes, SEGMENT_HEADER_LEN);
    if let Some(report) = &scan.damage {
        match judge_damage(report, in_last_segment) {
            DamageVerdict::TruncateTail => truncate_torn_tail(path, report)?,
            DamageVerdict::Corrupt(reason) => {
                return Err(StorageError::CorruptRecord {
                    file: path.to_path_buf(),
                    offset: report.offset as u64,
                    reason,
                });
            }
        }
    }

    let mut entries = Vec::with_capacity(scan.records.len());
    for (n, span) in scan.records.iter().enumerate() {
        let corrupt = |reason: String| StorageError::CorruptRecord {
            file: path.to_path_buf(),
            offset: span.offset as u64,
            reason,
        };
        let entry: C::Entry = codec::decode(&bytes[span.payload_range()]).map_err(|e| {
            corrupt(format!(
                "checksum is intact but the record does not decode as a log entry ({e}); was it written by an incompatible version?"
            ))
        })?;
        let (leader_id, index) = entry.log_id_parts();
        let expected = first_index + n as u64;
        if index != expected {
            return Err(corrupt(format!(
                "record holds log index {index}, expected {expected}"
            )));
        }
        entries.push(EntryLoc {
            log_id: LogIdOf::<C>::new(leader_id.clone(), index),
            segment: first_index,
            offset: span.offset as u64,
            len: span.total_len() as u64,
        });
    }
    Ok(ScannedSegment {
        first_index,
        path: path.to_path_buf(),
        valid_len: scan.valid_end as u64,
        entries,
    })
}

fn truncate_torn_tail(path: &Path, report: &DamageReport) -> Result<(), StorageError> {
    tracing::warn!(
        file = %path.display(),
        offset = report.offset,
        damage = %report.damage,
        "truncating torn tail of the Raft log: the last append before the crash was never acknowledged"
    );
    let file = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| StorageError::io("open", path, e))?;
    file.set_len(report.offset as u64)
        .and_then(|()| file.sync_all())
        .map_err(|e| StorageError::io("truncate", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Damage;

    fn report(intact_record_after: Option<usize>) -> DamageReport {
        DamageReport {
            offset: 100,
            damage: Damage::BadPayloadChecksum,
            intact_record_after,
        }
    }

    #[test]
    fn only_a_tail_without_later_records_in_the_last_segment_is_torn() {
        assert_eq!(
            judge_damage(&report(None), true),
            DamageVerdict::TruncateTail
        );
        let DamageVerdict::Corrupt(why) = judge_damage(&report(Some(140)), true) else {
            panic!("expected corruption");
        };
        assert!(why.contains("140"), "{why}");
        let DamageVerdict::Corrupt(why) = judge_damage(&report(None), false) else {
            panic!("expected corruption");
        };
        assert!(why.contains("newer segments"), "{why}");
    }
}
