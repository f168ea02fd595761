//! Small filesystem helpers whose point is durability.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Suffix of files that are being written and not yet renamed into place.
pub(crate) const TMP_SUFFIX: &str = ".tmp";

/// Makes directory entries (created, renamed or removed files) in `dir` durable.
///
/// A rename or unlink is only a change to the directory; until the directory itself is synced a
/// crash may undo it even though the file contents were synced.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces `path` with `contents` so that after a crash the file holds either the old or the
/// new contents, never a mix: write a sibling temp file, sync it, rename it over `path`, and
/// sync the directory so the rename itself survives.
pub(crate) fn atomic_write(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = tmp_path(path);
    write_synced(&tmp, &[contents])?;
    fs::rename(&tmp, path)?;
    sync_dir(parent_of(path))
}

/// Writes `parts` to `tmp` (created or truncated) and syncs it. On failure the half-made file
/// is removed, giving its space back: the disk may be full, and a retry starts afresh.
pub(crate) fn write_synced(tmp: &Path, parts: &[&[u8]]) -> io::Result<()> {
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)
        .and_then(|mut file| {
            for part in parts {
                file.write_all(part)?;
            }
            file.sync_all()
        });
    if written.is_err() {
        let _ = fs::remove_file(tmp);
    }
    written
}

/// The temp-file name used while `path` is being written.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().expect("a file path").to_os_string();
    name.push(TMP_SUFFIX);
    path.with_file_name(name)
}

/// Whether `err` means the filesystem has no room left (ENOSPC) or the quota is spent (EDQUOT).
pub fn is_out_of_space(err: &io::Error) -> bool {
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    err.kind() == io::ErrorKind::StorageFull
        || err.kind() == io::ErrorKind::QuotaExceeded
        || matches!(err.raw_os_error(), Some(ENOSPC | EDQUOT))
}

/// How long to wait between attempts while the disk is full.
pub(crate) const FULL_DISK_RETRY: Duration = Duration::from_millis(250);
/// How often the wait for space is logged again.
const FULL_DISK_LOG_EVERY: Duration = Duration::from_secs(30);

/// Logs the wait for disk space when it starts and every [`FULL_DISK_LOG_EVERY`] after.
pub(crate) struct FullDiskReport {
    what: &'static str,
    path: PathBuf,
    started: Instant,
    last_logged: Option<Instant>,
}

impl FullDiskReport {
    pub(crate) fn new(what: &'static str, path: &Path) -> Self {
        FullDiskReport {
            what,
            path: path.to_path_buf(),
            started: Instant::now(),
            last_logged: None,
        }
    }

    pub(crate) fn waiting(&mut self, err: &io::Error) {
        if self
            .last_logged
            .is_none_or(|at| at.elapsed() >= FULL_DISK_LOG_EVERY)
        {
            tracing::warn!(
                file = %self.path.display(),
                error = %err,
                waited_s = self.started.elapsed().as_secs(),
                "the disk is full: {} waits for space (free some, or grow the volume); \
                 nothing unwritten has been acknowledged",
                self.what
            );
            self.last_logged = Some(Instant::now());
        }
    }

    pub(crate) fn done(&self) {
        if self.last_logged.is_some() {
            tracing::info!(
                file = %self.path.display(),
                waited_s = self.started.elapsed().as_secs(),
                "disk space is back: {} went through",
                self.what
            );
        }
    }
}

/// Runs `op` until it succeeds, fails for a reason other than a full disk, or `stop` is set.
///
/// Why wait rather than fail: a failed write is fatal to the Raft node, and a node that exits on
/// a full disk crash-loops until someone frees space. Nothing acknowledged depends on an
/// operation that has not completed, so waiting loses nothing; `op` must be safe to repeat
/// (every caller rewrites a temp file or the same byte range from the start).
pub(crate) fn retry_while_full<T>(
    what: &'static str,
    path: &Path,
    stop: &AtomicBool,
    mut op: impl FnMut() -> io::Result<T>,
) -> io::Result<T> {
    let mut report = FullDiskReport::new(what, path);
    loop {
        match op() {
            Err(e) if is_out_of_space(&e) && !stop.load(Ordering::Acquire) => {
                report.waiting(&e);
                std::thread::sleep(FULL_DISK_RETRY);
            }
            other => {
                if other.is_ok() {
                    report.done();
                }
                return other;
            }
        }
    }
}

pub(crate) fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates `dir` (and its parents) if needed, syncing the parent so the new entry is durable.
pub(crate) fn ensure_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir)?;
    sync_dir(parent_of(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_contents_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("value");
        atomic_write(&path, b"one").unwrap();
        atomic_write(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(!tmp_path(&path).exists());
    }

    #[test]
    fn only_enospc_and_edquot_count_as_out_of_space() {
        assert!(is_out_of_space(&io::Error::from_raw_os_error(28)));
        assert!(is_out_of_space(&io::Error::from_raw_os_error(122)));
        assert!(is_out_of_space(&io::Error::from(
            io::ErrorKind::StorageFull
        )));
        assert!(!is_out_of_space(&io::Error::from_raw_os_error(5)));
        assert!(!is_out_of_space(&io::Error::other("disk on fire")));
    }

    #[test]
    fn retry_while_full_repeats_only_out_of_space_failures() {
        let stop = AtomicBool::new(false);
        let mut attempts = 0;
        let out = retry_while_full("a test write", Path::new("/x"), &stop, || {
            attempts += 1;
            if attempts < 3 {
                Err(io::Error::from_raw_os_error(28))
            } else {
                Ok(attempts)
            }
        });
        assert_eq!(out.unwrap(), 3);

        let mut attempts = 0;
        let out: io::Result<()> = retry_while_full("a test write", Path::new("/x"), &stop, || {
            attempts += 1;
            Err(io::Error::from_raw_os_error(5))
        });
        assert_eq!(out.unwrap_err().raw_os_error(), Some(5));
        assert_eq!(attempts, 1, "other errors are not retried");

        stop.store(true, Ordering::Release);
        let out: io::Result<()> = retry_while_full("a test write", Path::new("/x"), &stop, || {
            Err(io::Error::from_raw_os_error(28))
        });
        assert!(
            is_out_of_space(&out.unwrap_err()),
            "a stopping store gives up"
        );
    }

    #[test]
    fn tmp_path_is_a_sibling() {
        assert_eq!(
            tmp_path(Path::new("/a/b/vote")),
            PathBuf::from("/a/b/vote.tmp")
        );
    }
}
