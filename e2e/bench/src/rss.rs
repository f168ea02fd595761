//! Server memory: `VmRSS` of every server process of the run, sampled on a background thread
//! while a workload runs.
//!
//! For a 3-member shape the figures are the **sum over the members** (every member holds the
//! whole tree), taken per sample; the per-member maxima and end values are kept beside them.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Reads the resident set size in KiB from the text of `/proc/<pid>/status`.
pub fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut fields = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") | None => Some(value),
        Some(_) => None,
    }
}

/// The RSS of one process now, or `None` when it has exited (or the kernel hides it).
pub fn read_rss_kib(pid: u32) -> Option<u64> {
    let path = PathBuf::from(format!("/proc/{pid}/status"));
    let text = std::fs::read_to_string(path).ok()?;
    parse_vm_rss_kib(&text)
}

/// What the sampler saw, summed over members per sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RssSummary {
    pub pids: Vec<u32>,
    pub samples: u64,
    /// Sum over members in the first sample (before the workload's load).
    pub first_sum_kib: u64,
    /// Largest sum over members seen in one sample.
    pub max_sum_kib: u64,
    /// Sum over members in the last sample.
    pub end_sum_kib: u64,
    pub max_per_member_kib: Vec<u64>,
    pub end_per_member_kib: Vec<u64>,
    /// Samples in which some member had no RSS to read (it had exited).
    pub samples_with_missing_member: u64,
}

impl RssSummary {
    pub fn max_sum_mib(&self) -> f64 {
        self.max_sum_kib as f64 / 1024.0
    }

    pub fn end_sum_mib(&self) -> f64 {
        self.end_sum_kib as f64 / 1024.0
    }
}

/// Folds samples into an [`RssSummary`]; pure, so it is tested with plain values.
#[derive(Debug, Clone)]
pub struct RssAccumulator {
    summary: RssSummary,
}

impl RssAccumulator {
    pub fn new(pids: &[u32]) -> Self {
        Self {
            summary: RssSummary {
                pids: pids.to_vec(),
                max_per_member_kib: vec![0; pids.len()],
                end_per_member_kib: vec![0; pids.len()],
                ..RssSummary::default()
            },
        }
    }

    /// One sample: the RSS of each pid, in the order the pids were given.
    pub fn add(&mut self, per_member_kib: &[Option<u64>]) {
        let s = &mut self.summary;
        s.samples += 1;
        if per_member_kib.iter().any(Option::is_none) {
            s.samples_with_missing_member += 1;
        }
        let mut sum = 0;
        for (i, value) in per_member_kib.iter().enumerate() {
            let kib = value.unwrap_or(0);
            sum += kib;
            if let Some(max) = s.max_per_member_kib.get_mut(i) {
                *max = (*max).max(kib);
            }
            if let Some(end) = s.end_per_member_kib.get_mut(i) {
                *end = kib;
            }
        }
        if s.samples == 1 {
            s.first_sum_kib = sum;
        }
        s.max_sum_kib = s.max_sum_kib.max(sum);
        s.end_sum_kib = sum;
    }

    pub fn summary(&self) -> RssSummary {
        self.summary.clone()
    }
}

/// Samples the given pids every `interval` on a thread until [`RssSampler::finish`].
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<RssAccumulator>>,
}

impl RssSampler {
    pub fn start(pids: &[u32], interval: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let pids = pids.to_vec();
        let stop_flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut acc = RssAccumulator::new(&pids);
            loop {
                let sample: Vec<Option<u64>> = pids.iter().map(|&p| read_rss_kib(p)).collect();
                acc.add(&sample);
                if stop_flag.load(Ordering::Relaxed) {
                    return acc;
                }
                // Short sleeps so that finish() returns promptly.
                let mut slept = Duration::ZERO;
                while slept < interval && !stop_flag.load(Ordering::Relaxed) {
                    let step = Duration::from_millis(10).min(interval - slept);
                    std::thread::sleep(step);
                    slept += step;
                }
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Takes one last sample and returns the summary.
    pub fn finish(mut self) -> RssSummary {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(acc)) => acc.summary(),
            // The sampler only reads files; a panic there is a bug, reported as no samples.
            _ => RssSummary::default(),
        }
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tjava\nUmask:\t0022\nVmPeak:\t 5000000 kB\nVmRSS:\t  123456 kB\nRssAnon:\t  100000 kB\n";

    #[test]
    fn vm_rss_is_read_from_proc_status_text() {
        assert_eq!(parse_vm_rss_kib(STATUS), Some(123_456));
    }

    #[test]
    fn missing_or_odd_vm_rss_is_none() {
        assert_eq!(parse_vm_rss_kib("Name:\tx\n"), None);
        assert_eq!(parse_vm_rss_kib("VmRSS:\t12 MB\n"), None);
        assert_eq!(parse_vm_rss_kib("VmRSS:\tlots kB\n"), None);
    }

    #[test]
    fn sums_are_per_sample_and_maxima_per_member() {
        let mut acc = RssAccumulator::new(&[10, 11, 12]);
        acc.add(&[Some(100), Some(200), Some(300)]); // sum 600
        acc.add(&[Some(500), Some(50), Some(60)]); // sum 610
        acc.add(&[Some(90), Some(90), Some(90)]); // sum 270
        let s = acc.summary();
        assert_eq!(s.samples, 3);
        assert_eq!(s.first_sum_kib, 600);
        assert_eq!(s.max_sum_kib, 610);
        assert_eq!(s.end_sum_kib, 270);
        assert_eq!(s.max_per_member_kib, vec![500, 200, 300]);
        assert_eq!(s.end_per_member_kib, vec![90, 90, 90]);
        assert_eq!(s.samples_with_missing_member, 0);
    }

    #[test]
    fn an_exited_member_counts_as_zero_and_is_flagged() {
        let mut acc = RssAccumulator::new(&[1, 2]);
        acc.add(&[Some(100), None]);
        let s = acc.summary();
        assert_eq!(s.end_sum_kib, 100);
        assert_eq!(s.samples_with_missing_member, 1);
    }

    #[test]
    fn the_sampler_reads_this_process() {
        let me = std::process::id();
        let sampler = RssSampler::start(&[me], Duration::from_millis(5));
        std::thread::sleep(Duration::from_millis(30));
        let s = sampler.finish();
        assert!(s.samples >= 2, "{s:?}");
        assert!(s.end_sum_kib > 0, "{s:?}");
        assert_eq!(s.pids, vec![me]);
    }
}
