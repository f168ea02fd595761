//! A small tmpfs to fill, for full-disk behaviour: mounted on a fresh temp dir (or a given
//! folder), filled with one file down to a chosen number of free bytes, and unmounted on drop.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::netns::bounded;

/// Bound for one `mount` or `umount`.
const MOUNT_TIMEOUT: Duration = Duration::from_secs(10);
/// The file that takes the space.
const FILLER: &str = "filler";

#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// `mount -t tmpfs` failed: usually not root (it needs CAP_SYS_ADMIN).
    #[error("cannot mount a tmpfs on {path}: {why} (mounting needs root)")]
    Mount { path: PathBuf, why: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

pub struct SmallDisk {
    path: PathBuf,
    /// The temp dir the disk is mounted on, removed after the unmount.
    _temp: Option<tempfile::TempDir>,
}

impl SmallDisk {
    /// A tmpfs of `size` (mount's syntax: `64m`, `1m`) on a fresh temp dir.
    pub fn mount(size: &str) -> Result<SmallDisk, DiskError> {
        let temp = tempfile::tempdir().map_err(|source| DiskError::Io {
            what: "create a temp dir under",
            path: std::env::temp_dir(),
            source,
        })?;
        let mut disk = SmallDisk::mount_at(temp.path(), size)?;
        disk._temp = Some(temp);
        Ok(disk)
    }

    /// A tmpfs of `size` on `path`, which is created if missing.
    pub fn mount_at(path: &Path, size: &str) -> Result<SmallDisk, DiskError> {
        std::fs::create_dir_all(path).map_err(|source| DiskError::Io {
            what: "create",
            path: path.to_path_buf(),
            source,
        })?;
        let mounted = bounded(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(path),
            MOUNT_TIMEOUT,
        );
        let why = match mounted {
            Ok(output) if output.status.success() => {
                return Ok(SmallDisk {
                    path: path.to_path_buf(),
                    _temp: None,
                });
            }
            Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_string(),
            Err(e) => e.to_string(),
        };
        Err(DiskError::Mount {
            path: path.to_path_buf(),
            why,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes an unprivileged writer can still use.
    pub fn free_bytes(&self) -> Result<u64, DiskError> {
        let stat = rustix::fs::statvfs(&self.path).map_err(|e| DiskError::Io {
            what: "statvfs",
            path: self.path.clone(),
            source: e.into(),
        })?;
        Ok(stat.f_bavail * stat.f_frsize)
    }

    /// Takes the free space down to `leave_bytes` with one file, and returns its path; with 0
    /// the disk is full to the last byte.
    pub fn fill(&self, leave_bytes: u64) -> Result<PathBuf, DiskError> {
        let filler = self.path.join(FILLER);
        let io = |source| DiskError::Io {
            what: "write",
            path: filler.clone(),
            source,
        };
        let mut remaining = self.free_bytes()?.saturating_sub(leave_bytes);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&filler)
            .map_err(io)?;
        let chunk = vec![0xA5u8; 1 << 20];
        while remaining > 0 {
            let n = remaining.min(chunk.len() as u64) as usize;
            if file.write_all(&chunk[..n]).is_err() {
                break; // ENOSPC: full is the most that can be asked.
            }
            remaining -= n as u64;
        }
        if leave_bytes == 0 {
            // Smaller writes take the last partial blocks.
            while file.write_all(&chunk[..4096]).is_ok() {}
            while file.write_all(&[0]).is_ok() {}
        }
        Ok(filler)
    }

    /// Gives the space back. Returns whether the disk had been filled.
    pub fn free(&self) -> bool {
        std::fs::remove_file(self.path.join(FILLER)).is_ok()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a process that still has a file open there must not keep the mount alive.
        let _ = bounded(
            Command::new("umount").arg("-l").arg(&self.path),
            MOUNT_TIMEOUT,
        );
    }
}
