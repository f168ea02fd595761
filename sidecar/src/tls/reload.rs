//! Certificates that follow their files: [`Reloadable`] holds a configuration built from a set of
//! files and rebuilds it when their contents change, without a restart.
//!
//! - New handshakes take [`Reloadable::current`]; connections already set up keep the
//!   configuration they were made with.
//! - A change is noticed by comparing contents (read every `interval`), so a rewrite in place, an
//!   atomic rename and a Kubernetes secret's symlink swap all count, and a touch alone does not.
//! - A failed rebuild (a half-written file, a key that does not match the new certificate yet)
//!   keeps the previous configuration and logs an error naming the file, once per distinct
//!   failure; the next change is tried again.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::material::Files;
use super::pem::TlsError;

type Build<T> = Box<dyn Fn(&Files) -> Result<T, TlsError> + Send + Sync>;

/// What one [`Reloadable::check`] did.
#[derive(Debug)]
pub enum Check {
    Unchanged,
    Reloaded,
    /// The files changed but the new contents are unusable; the previous configuration stays.
    Failed(TlsError),
}

/// What the files held when last looked at.
enum Seen {
    Contents(Files),
    /// The files could not be read; the message, to log each distinct failure once.
    Unreadable(String),
}

pub struct Reloadable<T> {
    /// Names the endpoint in logs ("secure client port", "quorum").
    what: &'static str,
    paths: Vec<PathBuf>,
    build: Build<T>,
    current: RwLock<Arc<T>>,
    seen: Mutex<Seen>,
}

impl<T: Send + Sync + 'static> Reloadable<T> {
    /// Read the files and build the first configuration; at start-up a failure is fatal.
    pub fn load(
        what: &'static str,
        paths: Vec<PathBuf>,
        build: impl Fn(&Files) -> Result<T, TlsError> + Send + Sync + 'static,
    ) -> Result<Arc<Self>, TlsError> {
        let files = Files::read(&paths)?;
        let first = build(&files)?;
        Ok(Arc::new(Reloadable {
            what,
            paths,
            build: Box::new(build),
            current: RwLock::new(Arc::new(first)),
            seen: Mutex::new(Seen::Contents(files)),
        }))
    }

    /// The configuration new handshakes use.
    pub fn current(&self) -> Arc<T> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Look at the files once; rebuild if they changed.
    pub fn check(&self) -> Check {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let files = match Files::read(&self.paths) {
            Ok(files) => files,
            Err(e) => {
                let message = e.to_string();
                if matches!(&*seen, Seen::Unreadable(previous) if *previous == message) {
                    return Check::Unchanged;
                }
                *seen = Seen::Unreadable(message);
                tracing::error!(endpoint = self.what, error = %e,
                    "cannot reload TLS certificates; keeping the previous ones");
                return Check::Failed(e);
            }
        };
        if matches!(&*seen, Seen::Contents(previous) if *previous == files) {
            return Check::Unchanged;
        }
        let result = (self.build)(&files);
        *seen = Seen::Contents(files);
        match result {
            Ok(config) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
                tracing::info!(endpoint = self.what, files = ?self.paths,
                    "reloaded TLS certificates; new handshakes use them");
                Check::Reloaded
            }
            Err(e) => {
                tracing::error!(endpoint = self.what, error = %e,
                    "cannot reload TLS certificates; keeping the previous ones");
                Check::Failed(e)
            }
        }
    }

    /// Check the files every `interval` until every other holder of this is gone.
    pub fn watch(self: &Arc<Self>, interval: Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(this) = weak.upgrade() else { return };
                // Reading and parsing a few small files; off the async workers all the same.
                let _ = tokio::task::spawn_blocking(move || this.check()).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_number(files: &Files, path: &std::path::Path) -> Result<u32, TlsError> {
        let _ = files;
        let text = std::fs::read_to_string(path).unwrap();
        text.trim().parse().map_err(|_| TlsError::Pem {
            path: path.to_path_buf(),
            detail: format!("{text:?} is not a number"),
        })
    }

    #[test]
    fn changes_are_picked_up_and_bad_ones_keep_the_old_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("value");
        std::fs::write(&path, "1").unwrap();
        let watched = path.clone();
        let r = Reloadable::load("test", vec![path.clone()], move |files| {
            parse_number(files, &watched)
        })
        .unwrap();
        assert_eq!(*r.current(), 1);
        assert!(matches!(r.check(), Check::Unchanged));
        std::fs::write(&path, "2").unwrap();
        assert!(matches!(r.check(), Check::Reloaded));
        assert_eq!(*r.current(), 2);
        std::fs::write(&path, "garbage").unwrap();
        match r.check() {
            Check::Failed(e) => assert!(e.to_string().contains("value"), "{e}"),
            other => panic!("expected a failure, got {other:?}"),
        }
        assert_eq!(*r.current(), 2, "a failed reload keeps the old value");
        // The same bad contents are not tried (nor logged) again.
        assert!(matches!(r.check(), Check::Unchanged));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(r.check(), Check::Failed(TlsError::Read { .. })));
        assert!(matches!(r.check(), Check::Unchanged));
        std::fs::write(&path, "3").unwrap();
        assert!(matches!(r.check(), Check::Reloaded));
        assert_eq!(*r.current(), 3);
    }

    #[test]
    fn a_bad_start_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let Err(err) = Reloadable::load("test", vec![missing], |_| Ok(0u32)) else {
            panic!("missing files fail the start");
        };
        assert!(err.to_string().contains("missing.pem"), "{err}");
    }
}
