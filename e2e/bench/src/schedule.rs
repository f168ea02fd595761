//! The open-loop schedule: request `i` is *intended* to leave at `i / rate` seconds after the
//! start, whatever happened to the requests before it.
//!
//! Latency is measured from that intended time, not from the moment the request actually left.
//! A server that stalls for a second therefore charges the stall to every request that should
//! have been sent during it (about `rate` of them), instead of to the one request that was
//! waiting; that is what makes the recorded latencies free of coordinated omission.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenLoopSchedule {
    rate_per_sec: f64,
    total: u64,
}

impl OpenLoopSchedule {
    /// A schedule of `rate_per_sec` requests a second for `duration` (at least one request).
    pub fn new(rate_per_sec: f64, duration: Duration) -> Self {
        let total = (rate_per_sec * duration.as_secs_f64()).floor().max(1.0) as u64;
        Self {
            rate_per_sec,
            total,
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// When request `i` is due, as an offset from the start.
    pub fn intended_offset(&self, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate_per_sec)
    }

    /// How many requests are due `elapsed` after the start (request 0 is due at once).
    pub fn due_by(&self, elapsed: Duration) -> u64 {
        let mut due =
            ((elapsed.as_secs_f64() * self.rate_per_sec).floor() as u64 + 1).min(self.total);
        // The float estimate can be one off at a boundary; settle it against intended_offset so
        // that the two never disagree about a request.
        while due < self.total && self.intended_offset(due) <= elapsed {
            due += 1;
        }
        while due > 0 && self.intended_offset(due - 1) > elapsed {
            due -= 1;
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_is_rate_times_duration() {
        let s = OpenLoopSchedule::new(1000.0, Duration::from_secs(3));
        assert_eq!(s.total(), 3000);
        assert_eq!(
            OpenLoopSchedule::new(0.1, Duration::from_secs(1)).total(),
            1
        );
    }

    #[test]
    fn intended_times_are_evenly_spaced() {
        let s = OpenLoopSchedule::new(200.0, Duration::from_secs(1));
        assert_eq!(s.intended_offset(0), Duration::ZERO);
        assert_eq!(s.intended_offset(1), Duration::from_millis(5));
        assert_eq!(s.intended_offset(100), Duration::from_millis(500));
    }

    #[test]
    fn due_counts_every_request_whose_time_has_come() {
        let s = OpenLoopSchedule::new(1000.0, Duration::from_secs(1));
        assert_eq!(s.due_by(Duration::ZERO), 1);
        assert_eq!(s.due_by(Duration::from_micros(999)), 1);
        assert_eq!(s.due_by(Duration::from_millis(1)), 2);
        assert_eq!(s.due_by(Duration::from_millis(250)), 251);
        // A sender that fell behind catches up in one burst, never beyond the end.
        assert_eq!(s.due_by(Duration::from_secs(60)), 1000);
    }

    #[test]
    fn due_and_intended_agree() {
        let s = OpenLoopSchedule::new(7777.0, Duration::from_secs(2));
        for i in [0u64, 1, 2, 500, 7776, 15_000] {
            // Request i is due exactly at its own intended time, not before.
            let at = s.intended_offset(i);
            assert!(s.due_by(at) > i, "request {i} not due at its intended time");
            if i > 0 {
                let just_before = at - Duration::from_nanos(1000);
                assert!(
                    s.due_by(just_before) <= i,
                    "request {i} due before its time"
                );
            }
        }
    }
}
