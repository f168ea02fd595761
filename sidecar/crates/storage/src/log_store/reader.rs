//! The read side: [`LogReader`] and the code that turns index ranges into entries.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, RwLock};

use openraft::entry::RaftEntry;
use openraft::type_config::alias::VoteOf;
use openraft::{OptionalSend, RaftLogReader, RaftTypeConfig};

use super::{EntryLoc, Shared, read_lock};
use crate::codec;
use crate::error::{RESTORE_ADVICE, invalid_data};
use crate::io_worker::Poison;
use crate::record;

/// A cheap, cloneable handle that reads the log and the vote; openraft hands these to its
/// replication tasks. It sees every entry the moment [`super::LogStore`]'s `append` returns.
pub struct LogReader<C: RaftTypeConfig> {
    pub(super) shared: Arc<RwLock<Shared<C>>>,
    pub(super) poison: Poison,
}

impl<C: RaftTypeConfig> Clone for LogReader<C> {
    fn clone(&self) -> Self {
        LogReader {
            shared: self.shared.clone(),
            poison: self.poison.clone(),
        }
    }
}

impl<C: RaftTypeConfig> LogReader<C> {
    /// On-disk bytes of the live entries with an index above `index` (all of them for `None`):
    /// what a snapshot at `index` would let the log drop. Walks the index from the newest
    /// entry back, so it costs one step per entry counted.
    pub fn bytes_after(&self, index: Option<u64>) -> u64 {
        read_lock(&self.shared)
            .entries
            .iter()
            .rev()
            .take_while(|e| index.is_none_or(|i| e.log_id.index > i))
            .map(|e| e.len)
            .sum()
    }
}

impl<C: RaftTypeConfig> RaftLogReader<C> for LogReader<C>
where
    C::Entry: Clone,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, io::Error> {
        self.poison.check()?;
        // The read lock is held across the disk reads so that a concurrent truncation or purge
        // cannot remove bytes between locating and reading them: the read is atomic.
        read_entries(&read_lock(&self.shared), range)
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<C>>, io::Error> {
        self.poison.check()?;
        Ok(read_lock(&self.shared).vote.clone())
    }
}

/// `[start, end)` of a range over log indices.
pub(super) fn resolve_range(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.saturating_add(1),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

/// Reads the entries of `range` that the log holds (none before the first or after the last):
/// the newest from memory, the rest from the files.
pub(super) fn read_entries<C: RaftTypeConfig>(
    shared: &Shared<C>,
    range: impl RangeBounds<u64>,
) -> io::Result<Vec<C::Entry>>
where
    C::Entry: Clone,
{
    let Some(first) = shared.first_index() else {
        return Ok(Vec::new());
    };
    let next = first + shared.entries.len() as u64;
    let (start, end) = resolve_range(&range);
    let (start, end) = (start.max(first), end.min(next));
    if start >= end {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity((end - start) as usize);
    let from_memory = shared.recent.covers_from(start, end).unwrap_or(end);
    read_from_files(shared, first, start, from_memory, &mut out)?;
    shared.recent.copy_range(from_memory, end, &mut out);
    Ok(out)
}

/// Reads the entries `[start, end)` from the segment files; `first` is the first live index.
fn read_from_files<C: RaftTypeConfig>(
    shared: &Shared<C>,
    first: u64,
    start: u64,
    end: u64,
    out: &mut Vec<C::Entry>,
) -> io::Result<()> {
    if start >= end {
        return Ok(());
    }
    let locs = shared
        .entries
        .range((start - first) as usize..(end - first) as usize);
    // Records of one segment are adjacent on disk, so each segment's share of the range is
    // fetched with a single read.
    let mut run: Vec<&EntryLoc<C>> = Vec::new();
    for loc in locs {
        if let Some(prev) = run.last()
            && (prev.segment != loc.segment || prev.offset + prev.len != loc.offset)
        {
            read_run(shared, &run, out)?;
            run.clear();
        }
        run.push(loc);
    }
    read_run(shared, &run, out)
}

fn read_run<C: RaftTypeConfig>(
    shared: &Shared<C>,
    run: &[&EntryLoc<C>],
    out: &mut Vec<C::Entry>,
) -> io::Result<()> {
    let (Some(head), Some(tail)) = (run.first(), run.last()) else {
        return Ok(());
    };
    let segment = shared.segments.get(&head.segment).ok_or_else(|| {
        io::Error::other(format!(
            "log index {} refers to an unknown segment",
            head.log_id.index
        ))
    })?;
    let mut buf = vec![0u8; (tail.offset + tail.len - head.offset) as usize];
    segment
        .file
        .read_exact_at(&mut buf, head.offset)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot read log index {} from {}: {e}",
                    head.log_id.index,
                    segment.path.display()
                ),
            )
        })?;
    for loc in run {
        let rel = (loc.offset - head.offset) as usize;
        let damaged = |why: String| {
            invalid_data(format!(
                "log record for index {} in {} at byte offset {} is damaged: {why}; {RESTORE_ADVICE}",
                loc.log_id.index,
                segment.path.display(),
                loc.offset
            ))
        };
        let span = record::read_record(&buf, rel).map_err(|d| damaged(d.to_string()))?;
        let entry: C::Entry = codec::decode(&buf[span.payload_range()])
            .map_err(|e| damaged(format!("does not decode: {e}")))?;
        if entry.log_id_parts().1 != loc.log_id.index {
            return Err(damaged(format!("holds index {}", entry.log_id_parts().1)));
        }
        out.push(entry);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::resolve_range;

    #[test]
    fn ranges_resolve_to_half_open_bounds() {
        assert_eq!(resolve_range(&(3..7)), (3, 7));
        assert_eq!(resolve_range(&(3..=7)), (3, 8));
        assert_eq!(resolve_range(&(..7)), (0, 7));
        assert_eq!(resolve_range(&(3..)), (3, u64::MAX));
        assert_eq!(resolve_range(&(..)), (0, u64::MAX));
        assert_eq!(resolve_range(&(0..=u64::MAX)), (0, u64::MAX));
    }
}
