//! [`LogStore`]: openraft's `RaftLogStorage` on append-only segment files.
//!
//! Layout of the directory given to [`LogStore::open`]:
//!
//! ```text
//! LOCK                      held (flock) while a store is open
//! vote                      the vote, replaced atomically
//! purged                    the last purged log id, replaced atomically
//! committed                 the committed log id, two alternating slots (see SlotFile)
//! log/segment-<index>.log   log records, one segment per ~segment_size bytes
//! ```
//!
//! Memory: the store keeps an index of every live entry (its log id and where its record lies),
//! and decoded copies of only the newest few (see [`recent`], bounded by
//! [`LogStoreOptions::recent_entries_bytes`]); older reads go to the files (normally served by
//! the page cache). The index costs a few dozen bytes per entry and is bounded by purging,
//! which openraft does after each snapshot.
//!
//! Durability: see [`crate::io_worker`]. `append` writes inline and acknowledges (through
//! openraft's `IOFlushed` callback) only after fsync; vote, truncation and purge are durable
//! when their methods return. At most [`LogStoreOptions::max_unflushed_bytes`] are written and
//! not yet synced: an append beyond that waits for the fsyncs queued before it, so a burst of
//! writes is paced by the disk instead of piling up.
//!
//! A full disk (ENOSPC/EDQUOT) is waited out, not failed: a write or file creation that finds
//! no space is repeated until space returns (logged every 30 s). Nothing is acknowledged before
//! it is durable, so waiting loses nothing, and the node neither crashes nor crash-loops. The
//! server refuses new client writes well before the disk is full; this is the backstop.

mod reader;
mod recent;
mod recovery;

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, TryLockError};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::type_config::TypeConfigExt;
use openraft::type_config::alias::{LogIdOf, VoteOf};
use openraft::type_config::async_runtime::OneshotSender;
use openraft::{OptionalSend, RaftTypeConfig};

pub use self::reader::LogReader;
use self::recent::RecentEntries;
use crate::codec;
use crate::error::StorageError;
use crate::fsutil;
use crate::io_worker::{IoWorker, Job, Poison};
use crate::record;
use crate::segment::{SEGMENT_HEADER_LEN, Segment};
use crate::state_file::{self, SlotFile};

/// Tuning for [`LogStore`].
#[derive(Debug, Clone)]
pub struct LogStoreOptions {
    /// A new segment file is started before an append that would take the current one past
    /// this many bytes. Purging deletes whole segments, so this is the granularity at which
    /// disk space is reclaimed. One append's batch is never split, so a segment can exceed
    /// this when a single batch is larger.
    pub segment_size: u64,
    /// Appended bytes that may wait for their fsync at once; a further append first waits for
    /// the queued fsyncs. Group commit still batches everything below this bound.
    pub max_unflushed_bytes: u64,
    /// Record bytes of the newest entries kept decoded in memory, so that replication and
    /// apply, which read each entry right after its append, need not read the files; 0 turns
    /// this off.
    pub recent_entries_bytes: u64,
}

impl Default for LogStoreOptions {
    fn default() -> Self {
        LogStoreOptions {
            segment_size: 64 * 1024 * 1024,
            max_unflushed_bytes: 64 * 1024 * 1024,
            // Thousands of entries: far more than replication or apply trail behind by while
            // the members keep up, and little memory next to the tree.
            recent_entries_bytes: 2 * 1024 * 1024,
        }
    }
}

/// Where one entry's record lives.
pub(crate) struct EntryLoc<C: RaftTypeConfig> {
    pub log_id: LogIdOf<C>,
    /// First index of the segment holding the record (the key of [`Shared::segments`]).
    pub segment: u64,
    pub offset: u64,
    /// Total framed length of the record.
    pub len: u64,
}

/// State shared between the store and its readers.
pub(crate) struct Shared<C: RaftTypeConfig> {
    /// Live (appended, not purged) entries, contiguous by index.
    entries: VecDeque<EntryLoc<C>>,
    /// Open segment files by first index, oldest first. The oldest may still hold purged
    /// entries before the first live one; it is deleted once all of its entries are purged.
    segments: BTreeMap<u64, Arc<Segment>>,
    /// Decoded copies of a suffix of `entries`.
    recent: RecentEntries<C::Entry>,
    vote: Option<VoteOf<C>>,
    last_purged: Option<LogIdOf<C>>,
}

impl<C: RaftTypeConfig> Shared<C> {
    fn first_index(&self) -> Option<u64> {
        self.entries.front().map(|e| e.log_id.index)
    }

    fn last_log_id(&self) -> Option<LogIdOf<C>> {
        self.entries
            .back()
            .map(|e| e.log_id.clone())
            .or_else(|| self.last_purged.clone())
    }
}

fn read_lock<C: RaftTypeConfig>(shared: &RwLock<Shared<C>>) -> RwLockReadGuard<'_, Shared<C>> {
    // A panic while holding the lock cannot leave the index half-updated in a way that matters
    // more than refusing service would, and the poison flag covers I/O failures.
    shared.read().unwrap_or_else(|e| e.into_inner())
}

fn write_lock<C: RaftTypeConfig>(shared: &RwLock<Shared<C>>) -> RwLockWriteGuard<'_, Shared<C>> {
    shared.write().unwrap_or_else(|e| e.into_inner())
}

/// Durable Raft log storage for any `C: RaftTypeConfig` (its entries, vote and log ids are
/// serialized with serde, which openraft's `serde` feature guarantees).
pub struct LogStore<C: RaftTypeConfig> {
    log_dir: PathBuf,
    vote_path: PathBuf,
    purged_path: PathBuf,
    opts: LogStoreOptions,
    shared: Arc<RwLock<Shared<C>>>,
    poison: Poison,
    /// The segment receiving appends: always the newest one, if any.
    active: Option<Arc<Segment>>,
    committed: SlotFile,
    committed_value: Option<LogIdOf<C>>,
    /// `committed` was written since the last sync was queued.
    committed_dirty: bool,
    /// Bytes appended whose fsync has not completed yet.
    unflushed: Arc<AtomicU64>,
    /// Set when the store closes, so that a wait for disk space gives up.
    closing: Arc<AtomicBool>,
    worker: IoWorker,
}

impl<C: RaftTypeConfig> LogStore<C> {
    /// Opens (creating if needed) the log store in `dir`, verifying every record.
    ///
    /// A torn record at the very end of the newest segment is cut off with a warning; any other
    /// damage fails with an error naming the file and offset. This blocks on file I/O: call it
    /// at startup, before building the Raft node.
    pub fn open(dir: &Path, opts: LogStoreOptions) -> Result<Self, StorageError> {
        if opts.segment_size <= SEGMENT_HEADER_LEN as u64 {
            return Err(StorageError::InvalidOption(format!(
                "segment_size must be more than {SEGMENT_HEADER_LEN} bytes, got {}",
                opts.segment_size
            )));
        }
        fsutil::ensure_dir(dir).map_err(|e| StorageError::io("create directory", dir, e))?;
        let lock = lock_dir(dir)?;
        let log_dir = dir.join("log");
        fsutil::ensure_dir(&log_dir)
            .map_err(|e| StorageError::io("create directory", &log_dir, e))?;

        let vote_path = dir.join("vote");
        let purged_path = dir.join("purged");
        let vote: Option<VoteOf<C>> = state_file::read_value(&vote_path)?;
        let last_purged: Option<LogIdOf<C>> = state_file::read_value(&purged_path)?;
        let (committed, committed_value) =
            SlotFile::open::<Option<LogIdOf<C>>>(&dir.join("committed"))?;
        let committed_value = committed_value.flatten();

        let recovered = recovery::recover_log::<C>(&log_dir, last_purged.as_ref())?;
        let segments: BTreeMap<u64, Arc<Segment>> = recovered
            .segments
            .into_iter()
            .map(|s| (s.first_index, Arc::new(s)))
            .collect();
        let active = segments.values().next_back().cloned();
        tracing::info!(
            dir = %dir.display(),
            segments = segments.len(),
            first_index = recovered.entries.front().map(|e| e.log_id.index),
            last_index = recovered.entries.back().map(|e| e.log_id.index),
            last_purged = last_purged.as_ref().map(|p| p.index),
            "opened Raft log"
        );

        let poison = Poison::default();
        let worker = IoWorker::start("raft-log-io".into(), poison.clone(), Box::new(lock))
            .map_err(|e| StorageError::io("start the I/O thread for", dir, e))?;
        let shared = Shared {
            entries: recovered.entries,
            segments,
            recent: RecentEntries::new(opts.recent_entries_bytes),
            vote,
            last_purged,
        };
        Ok(LogStore {
            log_dir,
            vote_path,
            purged_path,
            opts,
            shared: Arc::new(RwLock::new(shared)),
            poison,
            active,
            committed,
            committed_value,
            committed_dirty: false,
            unflushed: Arc::new(AtomicU64::new(0)),
            closing: Arc::new(AtomicBool::new(false)),
            worker,
        })
    }

    /// Bytes appended and not yet synced (see [`LogStoreOptions::max_unflushed_bytes`]).
    pub fn unflushed_bytes(&self) -> u64 {
        self.unflushed.load(Ordering::Acquire)
    }

    /// Writes `batch` at `offset` of `segment`, waiting out a full disk.
    async fn write_batch(&self, segment: &Segment, batch: &[u8], offset: u64) -> io::Result<()> {
        let mut report = fsutil::FullDiskReport::new("appending to the Raft log", &segment.path);
        loop {
            match segment.file.write_all_at(batch, offset) {
                Ok(()) => {
                    report.done();
                    return Ok(());
                }
                // A partial write leaves bytes past the segment's recorded length; the retry
                // overwrites them, and recovery would cut them off as a torn tail.
                Err(e) if fsutil::is_out_of_space(&e) && !self.closing.load(Ordering::Acquire) => {
                    report.waiting(&e);
                    C::sleep(fsutil::FULL_DISK_RETRY).await;
                }
                Err(e) => {
                    self.poison
                        .set(format!("writing to {} failed: {e}", segment.path.display()));
                    return Err(e);
                }
            }
        }
    }

    /// Runs `op` on the I/O thread after everything queued before it, and waits for it.
    async fn run_on_worker<T: Send + 'static>(
        &self,
        op: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let (tx, rx) = C::oneshot::<io::Result<()>>();
        let output = Arc::new(Mutex::new(None));
        let slot = output.clone();
        self.worker.submit(Job::Run {
            op: Box::new(move || {
                let value = op()?;
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
                Ok(())
            }),
            done: Box::new(move |result| {
                let _ = tx.send(result);
            }),
        });
        rx.await
            .map_err(|_| io::Error::other("Raft log I/O thread stopped"))??;
        let value = output.lock().unwrap_or_else(|e| e.into_inner()).take();
        value.ok_or_else(|| io::Error::other("Raft log I/O operation produced no result"))
    }

    /// The index the next appended entry must have, if the log constrains it.
    fn expected_next_index(shared: &Shared<C>) -> Option<u64> {
        shared.last_log_id().map(|id| id.index + 1)
    }

    /// Whether a batch of `batch_len` bytes needs a fresh segment.
    fn needs_new_segment(&self, batch_len: u64) -> bool {
        match &self.active {
            None => true,
            Some(seg) => {
                let used = seg.len();
                used > SEGMENT_HEADER_LEN as u64 && used + batch_len > self.opts.segment_size
            }
        }
    }
}

/// The store's exclusive claim on its directory.
///
/// Why unlock explicitly instead of relying on close: a flock belongs to the open file
/// description, and a process forked elsewhere in this process (any `Command::spawn`) shares
/// that description until it execs. Closing our descriptor during that window would leave the
/// lock held, and reopening the directory right after would fail with `Locked`.
struct DirLock(File);

impl Drop for DirLock {
    fn drop(&mut self) {
        if let Err(e) = self.0.unlock() {
            tracing::warn!(error = %e, "releasing the Raft log directory lock failed");
        }
    }
}

fn lock_dir(dir: &Path) -> Result<DirLock, StorageError> {
    let path = dir.join("LOCK");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StorageError::io("open", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(DirLock(file)),
        Err(TryLockError::WouldBlock) => Err(StorageError::Locked {
            path: dir.to_path_buf(),
        }),
        Err(TryLockError::Error(e)) => Err(StorageError::io("lock", &path, e)),
    }
}

fn invalid_input(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl<C: RaftTypeConfig> RaftLogStorage<C> for LogStore<C>
where
    C::Entry: Clone,
{
    type LogReader = LogReader<C>;

    async fn get_log_state(&mut self) -> Result<LogState<C>, io::Error> {
        self.poison.check()?;
        let shared = read_lock(&self.shared);
        Ok(LogState {
            last_purged_log_id: shared.last_purged.clone(),
            last_log_id: shared.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        LogReader {
            shared: self.shared.clone(),
            poison: self.poison.clone(),
        }
    }

    async fn save_vote(&mut self, vote: &VoteOf<C>) -> Result<(), io::Error> {
        self.poison.check()?;
        let path = self.vote_path.clone();
        let value = vote.clone();
        let closing = self.closing.clone();
        self.run_on_worker(move || {
            fsutil::retry_while_full("saving the Raft vote", &path, &closing, || {
                state_file::write_value(&path, &value)
            })
        })
        .await?;
        // Readers see the vote only once it is durable.
        write_lock(&self.shared).vote = Some(vote.clone());
        Ok(())
    }

    /// Written in place without its own fsync; it becomes durable with the next append's fsync.
    /// Losing the latest value in a crash is harmless: an older committed id is still committed.
    async fn save_committed(&mut self, committed: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        self.poison.check()?;
        if let Err(e) = self.committed.write(&committed) {
            self.poison
                .set(format!("writing the committed log id failed: {e}"));
            return Err(e);
        }
        self.committed_value = committed;
        self.committed_dirty = true;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<C>>, io::Error> {
        self.poison.check()?;
        Ok(self.committed_value.clone())
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.poison.check()?;
        let entries: Vec<C::Entry> = entries.into_iter().collect();
        let Some(first) = entries.first() else {
            callback.io_completed(Ok(()));
            return Ok(());
        };
        let first_index = first.log_id_parts().1;

        // Raft never leaves holes; refusing them here keeps the on-disk invariants checkable.
        let expected = Self::expected_next_index(&read_lock(&self.shared));
        if let Some(expected) = expected
            && first_index != expected
        {
            return Err(invalid_input(format!(
                "append must continue the log at index {expected}, got index {first_index}; truncate first"
            )));
        }

        // Frame the whole batch so it goes to disk in one write.
        let mut batch = Vec::new();
        let mut placed = Vec::with_capacity(entries.len());
        for (n, entry) in entries.iter().enumerate() {
            let (leader_id, index) = entry.log_id_parts();
            if index != first_index + n as u64 {
                return Err(invalid_input(format!(
                    "entries of one append must be consecutive: expected index {}, got {index}",
                    first_index + n as u64
                )));
            }
            let payload = codec::encode(entry)?;
            if payload.len() >= u32::MAX as usize {
                return Err(invalid_input(format!(
                    "log entry {index} encodes to {} bytes, over the 4 GiB record limit",
                    payload.len()
                )));
            }
            let rel = batch.len() as u64;
            record::encode_record(&payload, &mut batch);
            placed.push((
                LogIdOf::<C>::new(leader_id.clone(), index),
                rel,
                batch.len() as u64 - rel,
            ));
        }

        // Pace a burst by the disk: wait for the fsyncs already queued.
        if self.unflushed_bytes() + batch.len() as u64 > self.opts.max_unflushed_bytes
            && self.unflushed_bytes() > 0
        {
            self.run_on_worker(|| Ok(())).await?;
        }

        if self.needs_new_segment(batch.len() as u64) {
            let dir = self.log_dir.clone();
            let closing = self.closing.clone();
            let segment = Arc::new(
                self.run_on_worker(move || {
                    fsutil::retry_while_full(
                        "starting a new Raft log segment",
                        &dir,
                        &closing,
                        || Segment::create(&dir, first_index),
                    )
                    .map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!("starting a new Raft log segment in {}: {e}", dir.display()),
                        )
                    })
                })
                .await?,
            );
            tracing::debug!(file = %segment.path.display(), "started new log segment");
            write_lock(&self.shared)
                .segments
                .insert(segment.first_index, segment.clone());
            self.active = Some(segment);
        }
        let segment = self
            .active
            .clone()
            .expect("an active segment was just ensured");
        let base = segment.len();
        self.write_batch(&segment, &batch, base).await?;
        segment.set_len(base + batch.len() as u64);

        // Visible to readers now; durable (and acknowledged) once the worker has synced.
        {
            let mut shared = write_lock(&self.shared);
            shared.entries.reserve(placed.len());
            for ((log_id, rel, len), entry) in placed.into_iter().zip(entries) {
                shared.recent.push(log_id.index, entry, len);
                shared.entries.push_back(EntryLoc {
                    log_id,
                    segment: segment.first_index,
                    offset: base + rel,
                    len,
                });
            }
        }
        let mut files = vec![segment.file.clone()];
        if std::mem::take(&mut self.committed_dirty) {
            files.push(self.committed.file().clone());
        }
        let written = batch.len() as u64;
        self.unflushed.fetch_add(written, Ordering::AcqRel);
        let unflushed = self.unflushed.clone();
        self.worker.submit(Job::Sync {
            files,
            done: Box::new(move |result| {
                unflushed.fetch_sub(written, Ordering::AcqRel);
                callback.io_completed(result)
            }),
        });
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        self.poison.check()?;
        // Entries with an index above `keep_through` go; `None` removes every entry.
        let keep_through = last_log_id.map(|id| id.index);
        let removes = |index: u64| keep_through.is_none_or(|k| index > k);

        // Drop the entries from the index first, so readers never reach bytes being removed.
        let (doomed, shrink) = {
            let mut shared = write_lock(&self.shared);
            let Some(pos) = shared.entries.iter().position(|e| removes(e.log_id.index)) else {
                return Ok(());
            };
            let cut = &shared.entries[pos];
            let (cut_segment, cut_offset) = (cut.segment, cut.offset);
            shared.entries.truncate(pos);
            shared.recent.truncate_after(keep_through);
            let doomed_from = keep_through.map_or(0, |k| k + 1);
            let doomed: Vec<Arc<Segment>> = shared
                .segments
                .split_off(&doomed_from)
                .into_values()
                .rev()
                .collect();
            let shrink = shared
                .segments
                .get(&cut_segment)
                .cloned()
                .map(|seg| (seg, cut_offset));
            (doomed, shrink)
        };
        if let Some((seg, len)) = &shrink {
            seg.set_len(*len);
        }
        self.active = read_lock(&self.shared)
            .segments
            .values()
            .next_back()
            .cloned();

        let log_dir = self.log_dir.clone();
        self.run_on_worker(move || {
            // Newest first, so that a crash part-way leaves a shorter log, never one with a hole.
            for seg in &doomed {
                std::fs::remove_file(&seg.path)?;
                fsutil::sync_dir(&log_dir)?;
            }
            if let Some((seg, len)) = shrink {
                seg.file.set_len(len)?;
                seg.file.sync_all()?;
            }
            Ok(())
        })
        .await
    }

    async fn purge(&mut self, log_id: LogIdOf<C>) -> Result<(), io::Error> {
        self.poison.check()?;
        if read_lock(&self.shared)
            .last_purged
            .as_ref()
            .is_some_and(|p| p.index >= log_id.index)
        {
            return Ok(());
        }
        // Record the purge point first: after a crash, open() finishes removing what it covers.
        let path = self.purged_path.clone();
        let value = log_id.clone();
        let closing = self.closing.clone();
        self.run_on_worker(move || {
            fsutil::retry_while_full("recording a Raft log purge", &path, &closing, || {
                state_file::write_value(&path, &value)
            })
        })
        .await?;

        let doomed: Vec<Arc<Segment>> = {
            let mut shared = write_lock(&self.shared);
            while shared
                .entries
                .front()
                .is_some_and(|e| e.log_id.index <= log_id.index)
            {
                shared.entries.pop_front();
            }
            shared.recent.purge_through(log_id.index);
            shared.last_purged = Some(log_id);
            // Segments before the one holding the first live entry hold only purged entries.
            let keep_from = shared.entries.front().map_or(u64::MAX, |e| e.segment);
            let live = match keep_from {
                u64::MAX => BTreeMap::new(),
                k => shared.segments.split_off(&k),
            };
            std::mem::replace(&mut shared.segments, live)
                .into_values()
                .collect()
        };
        if doomed.is_empty() {
            return Ok(());
        }
        if self
            .active
            .as_ref()
            .is_some_and(|a| doomed.iter().any(|d| Arc::ptr_eq(a, d)))
        {
            self.active = None;
        }
        let log_dir = self.log_dir.clone();
        self.run_on_worker(move || {
            // Oldest first, so a crash part-way never leaves a hole.
            for seg in &doomed {
                std::fs::remove_file(&seg.path)?;
            }
            fsutil::sync_dir(&log_dir)
        })
        .await
    }
}

impl<C: RaftTypeConfig> Drop for LogStore<C> {
    fn drop(&mut self) {
        // An operation waiting for disk space gives up, so closing never hangs on a full disk.
        self.closing.store(true, Ordering::Release);
        // Make a committed id saved after the last append durable before the worker stops.
        if self.committed_dirty {
            self.worker.submit(Job::Sync {
                files: vec![self.committed.file().clone()],
                done: Box::new(|_| {}),
            });
        }
    }
}
