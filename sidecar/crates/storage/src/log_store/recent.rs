//! [`RecentEntries`]: decoded copies of the newest log entries.
//!
//! Why: every entry is read back right after it is appended — by each follower's replication
//! stream and by the state machine's apply — so without this each of those reads goes to the
//! segment file, checks the record's checksum and decodes it again (on a 3-member leader, three
//! times per entry). Serving those reads from memory keeps the write path off the files; older
//! entries (a lagging follower, a restart) still come from disk.
//!
//! Pure bookkeeping: the store keeps it a suffix of its live entries (same indices, ending at
//! the last one), so a reader may take any range's tail from here and the rest from the files.

use std::collections::VecDeque;

pub(crate) struct RecentEntries<E> {
    /// Index of `entries[0]`.
    first_index: u64,
    /// Each entry with its on-disk record length, which is what the budget counts.
    entries: VecDeque<(E, u64)>,
    bytes: u64,
    budget: u64,
}

impl<E> RecentEntries<E> {
    /// Keeps at most `budget` bytes of records (measured on disk); 0 keeps nothing.
    pub fn new(budget: u64) -> Self {
        RecentEntries {
            first_index: 0,
            entries: VecDeque::new(),
            bytes: 0,
            budget,
        }
    }

    /// The index after the last entry held, if any are.
    fn end(&self) -> Option<u64> {
        (!self.entries.is_empty()).then(|| self.first_index + self.entries.len() as u64)
    }

    /// Adds the entry at `index`, just appended to the log, dropping the oldest entries held
    /// to stay within the budget. An index that does not continue the entries held starts
    /// over from it, so the held entries always stay contiguous.
    pub fn push(&mut self, index: u64, entry: E, record_len: u64) {
        if self.end() != Some(index) {
            self.clear();
            self.first_index = index;
        }
        self.entries.push_back((entry, record_len));
        self.bytes += record_len;
        while self.bytes > self.budget {
            let Some((_, len)) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= len;
            self.first_index += 1;
        }
    }

    /// Forgets entries with an index above `keep_through` (all of them for `None`), as the log
    /// does on truncation.
    pub fn truncate_after(&mut self, keep_through: Option<u64>) {
        let keep = match keep_through {
            None => 0,
            Some(k) if k < self.first_index => 0,
            Some(k) => (k - self.first_index + 1).min(self.entries.len() as u64) as usize,
        };
        for (_, len) in self.entries.drain(keep..) {
            self.bytes -= len;
        }
    }

    /// Forgets entries with an index up to `through`, as the log does on purge.
    pub fn purge_through(&mut self, through: u64) {
        while self.first_index <= through {
            let Some((_, len)) = self.entries.pop_front() else {
                return;
            };
            self.bytes -= len;
            self.first_index += 1;
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// The first index at or after `start` that is held, when `[start, end)` reaches into the
    /// held entries: entries below it must come from elsewhere.
    pub fn covers_from(&self, start: u64, end: u64) -> Option<u64> {
        let held_end = self.end()?;
        let from = start.max(self.first_index);
        (from < end.min(held_end)).then_some(from)
    }
}

impl<E: Clone> RecentEntries<E> {
    /// Copies of the held entries in `[start, end)`.
    pub fn copy_range(&self, start: u64, end: u64, out: &mut Vec<E>) {
        let Some(held_end) = self.end() else {
            return;
        };
        let from = start.max(self.first_index);
        let to = end.min(held_end);
        if from >= to {
            return;
        }
        let range = (from - self.first_index) as usize..(to - self.first_index) as usize;
        out.extend(self.entries.range(range).map(|(e, _)| e.clone()));
    }

    #[cfg(test)]
    fn held(&self) -> Vec<E> {
        self.entries.iter().map(|(e, _)| e.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(budget: u64, indices: std::ops::Range<u64>) -> RecentEntries<u64> {
        let mut r = RecentEntries::new(budget);
        for i in indices {
            r.push(i, i, 10);
        }
        r
    }

    #[test]
    fn keeps_the_newest_entries_within_the_budget() {
        let r = filled(30, 1..6);
        assert_eq!(r.held(), vec![3, 4, 5]);
        assert_eq!(r.bytes, 30);
        // Exactly at the budget stays; one byte over drops the oldest.
        let r = filled(29, 1..6);
        assert_eq!(r.held(), vec![4, 5]);
    }

    #[test]
    fn a_zero_budget_holds_nothing() {
        let r = filled(0, 1..4);
        assert!(r.held().is_empty());
        assert_eq!(r.covers_from(1, 4), None);
    }

    #[test]
    fn a_gap_starts_over() {
        let mut r = filled(100, 1..4);
        r.push(7, 7, 10);
        assert_eq!(r.held(), vec![7]);
        assert_eq!(r.bytes, 10);
        assert_eq!(r.covers_from(1, 8), Some(7));
    }

    #[test]
    fn ranges_split_between_files_and_memory() {
        let r = filled(30, 1..6); // holds 3..=5
        assert_eq!(r.covers_from(1, 3), None);
        assert_eq!(r.covers_from(1, 4), Some(3));
        assert_eq!(r.covers_from(4, 100), Some(4));
        assert_eq!(r.covers_from(6, 100), None);
        let mut out = vec![];
        r.copy_range(1, 100, &mut out);
        assert_eq!(out, vec![3, 4, 5]);
        out.clear();
        r.copy_range(4, 5, &mut out);
        assert_eq!(out, vec![4]);
    }

    #[test]
    fn truncation_and_purge_follow_the_log() {
        let mut r = filled(100, 1..6);
        r.truncate_after(Some(3));
        assert_eq!(r.held(), vec![1, 2, 3]);
        assert_eq!(r.bytes, 30);
        // The next append continues after the truncation point.
        r.push(4, 40, 10);
        assert_eq!(r.held(), vec![1, 2, 3, 40]);
        r.purge_through(2);
        assert_eq!(r.held(), vec![3, 40]);
        r.purge_through(9);
        assert!(r.held().is_empty());
        assert_eq!(r.bytes, 0);
        let mut r = filled(100, 5..8);
        r.truncate_after(Some(2));
        assert!(r.held().is_empty());
        let mut r = filled(100, 5..8);
        r.truncate_after(None);
        assert!(r.held().is_empty());
        let mut r = filled(100, 5..8);
        r.truncate_after(Some(50));
        assert_eq!(r.held(), vec![5, 6, 7]);
    }
}
