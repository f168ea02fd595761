//! Session liveness as the leader sees it. Pure: callers pass the current instant in.
//!
//! Only the leader expires sessions, by proposing their close through the log; a member that
//! becomes leader re-arms every known session with its full timeout first, so a failover never
//! expires sessions whose clients were healthy (ZooKeeper's SessionTrackerImpl does the same).

use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct SessionTracker {
    sessions: HashMap<i64, Tracked>,
}

#[derive(Debug, Clone, Copy)]
struct Tracked {
    timeout: Duration,
    deadline: Instant,
    /// Set once the close has been proposed, so it is proposed once.
    closing: bool,
}

impl SessionTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Start tracking (or re-arm) a session with a full timeout from `now`.
    pub fn arm(&mut self, session: i64, timeout_ms: i32, now: Instant) {
        let timeout = Duration::from_millis(timeout_ms.max(0) as u64);
        self.sessions.insert(
            session,
            Tracked {
                timeout,
                deadline: now + timeout,
                closing: false,
            },
        );
    }

    /// The client showed signs of life.
    pub fn touch(&mut self, session: i64, now: Instant) {
        if let Some(t) = self.sessions.get_mut(&session)
            && !t.closing
        {
            t.deadline = now + t.timeout;
        }
    }

    /// The session is gone from the state machine.
    pub fn forget(&mut self, session: i64) {
        self.sessions.remove(&session);
    }

    /// Sessions whose deadline has passed and whose close was not yet proposed; marks them.
    pub fn take_expired(&mut self, now: Instant) -> Vec<i64> {
        let mut expired: Vec<i64> = self
            .sessions
            .iter_mut()
            .filter(|(_, t)| !t.closing && t.deadline <= now)
            .map(|(id, t)| {
                t.closing = true;
                *id
            })
            .collect();
        expired.sort_unstable();
        expired
    }

    /// A proposed close failed (e.g. leadership moved); let it be proposed again later.
    pub fn retry(&mut self, session: i64, now: Instant) {
        if let Some(t) = self.sessions.get_mut(&session) {
            t.closing = false;
            t.deadline = now;
        }
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn ids(&self) -> Vec<i64> {
        self.sessions.keys().copied().collect()
    }

    pub fn contains(&self, session: i64) -> bool {
        self.sessions.contains_key(&session)
    }

    /// Replace everything with `sessions`, each re-armed with its full timeout.
    pub fn rearm_all(&mut self, sessions: impl IntoIterator<Item = (i64, i32)>, now: Instant) {
        self.sessions.clear();
        for (id, timeout_ms) in sessions {
            self.arm(id, timeout_ms, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_expires_only_after_its_full_timeout_without_touches() {
        let t0 = Instant::now();
        let mut tracker = SessionTracker::new();
        tracker.arm(1, 1000, t0);
        assert!(
            tracker
                .take_expired(t0 + Duration::from_millis(999))
                .is_empty()
        );
        assert_eq!(
            tracker.take_expired(t0 + Duration::from_millis(1000)),
            vec![1]
        );
        // Proposed once only.
        assert!(
            tracker
                .take_expired(t0 + Duration::from_millis(5000))
                .is_empty()
        );
    }

    #[test]
    fn touches_push_the_deadline() {
        let t0 = Instant::now();
        let mut tracker = SessionTracker::new();
        tracker.arm(1, 1000, t0);
        tracker.touch(1, t0 + Duration::from_millis(900));
        assert!(
            tracker
                .take_expired(t0 + Duration::from_millis(1800))
                .is_empty()
        );
        assert_eq!(
            tracker.take_expired(t0 + Duration::from_millis(1900)),
            vec![1]
        );
    }

    #[test]
    fn rearm_gives_every_session_a_fresh_timeout() {
        let t0 = Instant::now();
        let mut tracker = SessionTracker::new();
        tracker.arm(1, 1000, t0);
        let later = t0 + Duration::from_secs(10);
        tracker.rearm_all([(1, 1000), (2, 2000)], later);
        assert!(
            tracker
                .take_expired(later + Duration::from_millis(999))
                .is_empty()
        );
        assert_eq!(
            tracker.take_expired(later + Duration::from_millis(2000)),
            vec![1, 2]
        );
    }

    #[test]
    fn a_failed_close_is_retried_and_forgotten_sessions_never_expire() {
        let t0 = Instant::now();
        let mut tracker = SessionTracker::new();
        tracker.arm(1, 10, t0);
        tracker.arm(2, 10, t0);
        tracker.forget(2);
        let t1 = t0 + Duration::from_millis(10);
        assert_eq!(tracker.take_expired(t1), vec![1]);
        tracker.retry(1, t1);
        assert_eq!(tracker.take_expired(t1), vec![1]);
        assert_eq!(tracker.len(), 1);
    }
}
