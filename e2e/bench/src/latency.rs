//! Latency recording with an HDR histogram, and the figures extracted from it.
//!
//! Values are kept in microseconds from 1 µs to one hour with three significant digits, so a
//! percentile is exact to 0.1 % of its value whatever the spread of the run.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Longest latency the histogram can hold; anything slower is clamped to it (and a run that slow
/// has already failed its drain bound).
const MAX_MICROS: u64 = 3_600_000_000;

/// Accumulates latencies of one workload phase.
#[derive(Debug, Clone)]
pub struct LatencyRecorder {
    hist: Histogram<u64>,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyRecorder {
    pub fn new() -> Self {
        // Bounds are constants that hdrhistogram accepts (low >= 1, high >= 2 * low, sigfig <= 5).
        let hist = Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds");
        Self { hist }
    }

    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(MAX_MICROS)
            .clamp(1, MAX_MICROS);
        self.hist.saturating_record(micros);
    }

    /// Adds every value another recorder holds (per-task recorders are merged at the end).
    pub fn merge(&mut self, other: &LatencyRecorder) {
        // Same bounds on both sides, so adding cannot fail.
        self.hist
            .add(&other.hist)
            .expect("histograms with equal bounds");
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    pub fn summary(&self) -> LatencySummary {
        if self.hist.is_empty() {
            return LatencySummary::default();
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        LatencySummary {
            count: self.hist.len(),
            mean_ms: self.hist.mean() / 1000.0,
            p50_ms: ms(self.hist.value_at_quantile(0.50)),
            p99_ms: ms(self.hist.value_at_quantile(0.99)),
            p999_ms: ms(self.hist.value_at_quantile(0.999)),
            max_ms: ms(self.hist.max()),
        }
    }
}

/// The figures reported for a latency distribution, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    /// Writes the figures into a result's figure map as `<prefix>mean_ms`, `<prefix>p50_ms`, ...
    pub fn add_to(&self, prefix: &str, figures: &mut BTreeMap<String, f64>) {
        let mut put = |name: &str, value: f64| {
            figures.insert(format!("{prefix}{name}"), value);
        };
        put("mean_ms", self.mean_ms);
        put("p50_ms", self.p50_ms);
        put("p99_ms", self.p99_ms);
        put("p999_ms", self.p999_ms);
        put("max_ms", self.max_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= expected * 0.002 + 1e-9
    }

    #[test]
    fn percentiles_of_a_uniform_spread() {
        let mut rec = LatencyRecorder::new();
        for ms in 1..=1000u64 {
            rec.record(Duration::from_millis(ms));
        }
        let s = rec.summary();
        assert_eq!(s.count, 1000);
        assert!(close(s.p50_ms, 500.0), "{s:?}");
        assert!(close(s.p99_ms, 990.0), "{s:?}");
        assert!(close(s.p999_ms, 999.0), "{s:?}");
        assert!(close(s.max_ms, 1000.0), "{s:?}");
        assert!(close(s.mean_ms, 500.5), "{s:?}");
    }

    #[test]
    fn one_slow_request_in_a_thousand_shows_at_p999_not_p99() {
        let mut rec = LatencyRecorder::new();
        for _ in 0..999 {
            rec.record(Duration::from_micros(200));
        }
        rec.record(Duration::from_secs(2));
        let s = rec.summary();
        assert!(close(s.p99_ms, 0.2), "{s:?}");
        assert!(close(s.max_ms, 2000.0), "{s:?}");
    }

    #[test]
    fn merging_keeps_every_value() {
        let mut a = LatencyRecorder::new();
        let mut b = LatencyRecorder::new();
        a.record(Duration::from_millis(1));
        b.record(Duration::from_millis(3));
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert!(close(a.summary().mean_ms, 2.0));
    }

    #[test]
    fn sub_microsecond_and_huge_values_are_clamped_not_lost() {
        let mut rec = LatencyRecorder::new();
        rec.record(Duration::from_nanos(10));
        rec.record(Duration::from_secs(10 * 3600));
        assert_eq!(rec.count(), 2);
        assert!(rec.summary().max_ms >= 3_600_000.0 * 0.999);
    }

    #[test]
    fn an_empty_recorder_reports_zeroes() {
        assert_eq!(LatencyRecorder::new().summary(), LatencySummary::default());
    }

    #[test]
    fn figures_get_the_prefix() {
        let mut figures = BTreeMap::new();
        let s = LatencySummary {
            count: 1,
            mean_ms: 1.0,
            p50_ms: 2.0,
            p99_ms: 3.0,
            p999_ms: 4.0,
            max_ms: 5.0,
        };
        s.add_to("all_", &mut figures);
        assert_eq!(figures["all_p99_ms"], 3.0);
        assert_eq!(figures.len(), 5);
    }
}
