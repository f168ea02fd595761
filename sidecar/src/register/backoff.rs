//! Capped exponential backoff for retries that must never give up (connecting, writing the
//! registration): quick at first so that a blip costs little, then no faster than the cap so
//! that a long outage does not flood the ensemble or the log.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    next: Duration,
}

impl Backoff {
    /// The first delay is `first` (at most `cap`); each later one doubles, up to `cap`.
    pub fn new(first: Duration, cap: Duration) -> Backoff {
        let first = first.min(cap);
        Backoff {
            first,
            cap,
            next: first,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.cap);
        delay
    }

    /// After a success: the next failure starts again from the first delay.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn doubles_up_to_the_cap_and_stays_there() {
        let mut backoff = Backoff::new(ms(100), ms(1000));
        let delays: Vec<_> = (0..7).map(|_| backoff.next_delay()).collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800, 1000, 1000, 1000].map(ms).to_vec()
        );
    }

    #[test]
    fn reset_starts_over() {
        let mut backoff = Backoff::new(ms(100), ms(1000));
        backoff.next_delay();
        backoff.next_delay();
        backoff.reset();
        assert_eq!(backoff.next_delay(), ms(100));
    }

    #[test]
    fn a_cap_below_the_first_delay_wins() {
        let mut backoff = Backoff::new(ms(500), ms(50));
        assert_eq!(backoff.next_delay(), ms(50));
        assert_eq!(backoff.next_delay(), ms(50));
    }
}
