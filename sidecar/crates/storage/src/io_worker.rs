//! A dedicated thread that performs the store's durable I/O in submission order.
//!
//! Why a thread: fsync takes milliseconds and would otherwise stall an async runtime worker.
//! Why one thread: openraft requires log and vote I/O to complete in the order it was issued,
//! and a single FIFO queue gives that for free.
//!
//! Group commit: `append` writes its records to the page cache on the caller's task (so they
//! are readable at once) and queues a [`Job::Sync`]. Whenever the worker wakes it drains every
//! job queued so far; a run of consecutive sync jobs is served by one fsync per distinct file,
//! and only then are their completions reported, in order. Under load many appends therefore
//! share one fsync, while a lone append still gets its own immediately.
//!
//! Poisoning: after any failed operation the worker fails every later job without running it.
//! A failed fsync leaves the page cache in an unknown state (the kernel may drop the dirty
//! pages), so retrying could acknowledge data that is not on disk.

use std::fs::File;
use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Reports the outcome of a job; called on the worker thread.
pub(crate) type Done = Box<dyn FnOnce(io::Result<()>) + Send>;

pub(crate) enum Job {
    /// Sync these files, then report.
    Sync { files: Vec<Arc<File>>, done: Done },
    /// Run an arbitrary durable operation (vote write, truncation, purge), then report.
    Run {
        op: Box<dyn FnOnce() -> io::Result<()> + Send>,
        done: Done,
    },
}

/// The first failure seen by the store, shared by the store, its readers and the worker.
#[derive(Clone, Default)]
pub(crate) struct Poison(Arc<Mutex<Option<String>>>);

impl Poison {
    pub(crate) fn set(&self, why: String) {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            tracing::error!(error = %why, "Raft log storage failed; refusing all further I/O");
            *slot = Some(why);
        }
    }

    /// `Err` once the store has failed.
    pub(crate) fn check(&self) -> io::Result<()> {
        match &*self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            None => Ok(()),
            Some(why) => Err(io::Error::other(format!(
                "Raft log storage is unusable after an earlier I/O failure ({why}); restart the node"
            ))),
        }
    }
}

pub(crate) struct IoWorker {
    tx: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl IoWorker {
    /// Starts the worker. `keep_alive` is dropped only when the worker exits (used to hold the
    /// directory lock until the last queued fsync has finished).
    pub(crate) fn start(
        name: String,
        poison: Poison,
        keep_alive: Box<dyn Send>,
    ) -> io::Result<IoWorker> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            run(rx, poison);
            drop(keep_alive);
        })?;
        Ok(IoWorker {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues a job. If the worker is gone the job is failed at once.
    pub(crate) fn submit(&self, job: Job) {
        let Some(tx) = &self.tx else {
            fail(job, stopped());
            return;
        };
        if let Err(mpsc::SendError(job)) = tx.send(job) {
            fail(job, stopped());
        }
    }
}

impl Drop for IoWorker {
    /// Lets the worker finish what is queued, then waits for it, so that whoever opens the
    /// directory next finds every acknowledged write on disk and the lock released.
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("Raft log I/O worker panicked");
        }
    }
}

fn stopped() -> io::Error {
    io::Error::other("Raft log I/O worker has stopped")
}

fn fail(job: Job, err: io::Error) {
    match job {
        Job::Sync { done, .. } | Job::Run { done, .. } => done(Err(err)),
    }
}

fn run(rx: Receiver<Job>, poison: Poison) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        process_batch(batch, &poison);
    }
}

fn process_batch(batch: Vec<Job>, poison: &Poison) {
    let mut pending_syncs: Vec<(Vec<Arc<File>>, Done)> = Vec::new();
    for job in batch {
        match job {
            Job::Sync { files, done } => pending_syncs.push((files, done)),
            Job::Run { op, done } => {
                // Earlier syncs must complete before a later operation runs.
                flush_syncs(std::mem::take(&mut pending_syncs), poison);
                match poison.check() {
                    Err(e) => done(Err(e)),
                    Ok(()) => {
                        let result = op();
                        if let Err(e) = &result {
                            poison.set(e.to_string());
                        }
                        done(result);
                    }
                }
            }
        }
    }
    flush_syncs(pending_syncs, poison);
}

/// Syncs every distinct file of a run of sync jobs once, then reports to each job in order.
fn flush_syncs(jobs: Vec<(Vec<Arc<File>>, Done)>, poison: &Poison) {
    if jobs.is_empty() {
        return;
    }
    let mut distinct: Vec<&Arc<File>> = Vec::new();
    for file in jobs.iter().flat_map(|(files, _)| files) {
        if !distinct.iter().any(|seen| Arc::ptr_eq(seen, file)) {
            distinct.push(file);
        }
    }
    let mut outcome = poison.check();
    if outcome.is_ok() {
        for file in distinct {
            if let Err(e) = file.sync_data() {
                poison.set(format!("fsync failed: {e}"));
                outcome = Err(e);
                break;
            }
        }
    }
    for (_, done) in jobs {
        done(match &outcome {
            Ok(()) => Ok(()),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    fn collect_done(tx: &Sender<(usize, bool)>, id: usize) -> Done {
        let tx = tx.clone();
        Box::new(move |r| tx.send((id, r.is_ok())).unwrap())
    }

    #[test]
    fn jobs_complete_in_submission_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = Arc::new(File::create(dir.path().join("f")).unwrap());
        let poison = Poison::default();
        let worker = IoWorker::start("test-io".into(), poison, Box::new(())).unwrap();
        let (tx, rx) = channel();
        for id in 0..20 {
            if id % 5 == 4 {
                worker.submit(Job::Run {
                    op: Box::new(|| Ok(())),
                    done: collect_done(&tx, id),
                });
            } else {
                worker.submit(Job::Sync {
                    files: vec![file.clone()],
                    done: collect_done(&tx, id),
                });
            }
        }
        drop(worker);
        let got: Vec<(usize, bool)> = rx.try_iter().collect();
        assert_eq!(got, (0..20).map(|i| (i, true)).collect::<Vec<_>>());
    }

    #[test]
    fn a_failed_operation_poisons_every_later_job() {
        let dir = tempfile::tempdir().unwrap();
        let file = Arc::new(File::create(dir.path().join("f")).unwrap());
        let poison = Poison::default();
        let worker = IoWorker::start("test-io".into(), poison.clone(), Box::new(())).unwrap();
        let (tx, rx) = channel();
        worker.submit(Job::Sync {
            files: vec![file.clone()],
            done: collect_done(&tx, 0),
        });
        worker.submit(Job::Run {
            op: Box::new(|| Err(io::Error::other("disk on fire"))),
            done: collect_done(&tx, 1),
        });
        worker.submit(Job::Sync {
            files: vec![file],
            done: collect_done(&tx, 2),
        });
        drop(worker);
        let got: Vec<(usize, bool)> = rx.try_iter().collect();
        assert_eq!(got, vec![(0, true), (1, false), (2, false)]);
        let err = poison.check().unwrap_err().to_string();
        assert!(err.contains("disk on fire"), "{err}");
    }
}
