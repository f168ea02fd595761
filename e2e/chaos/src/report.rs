//! The lines and the table the suite prints.

use std::fmt::Write as _;
use std::time::Duration;

use crate::run::{RunResult, replay_command};

fn verdict(result: &RunResult) -> &'static str {
    if result.passed() {
        "pass"
    } else if result.anomaly_count() > 0 {
        "ANOMALY"
    } else {
        "ERROR"
    }
}

fn lost(result: &RunResult) -> String {
    result
        .findings
        .lost_writes
        .map_or_else(|| "-".to_string(), |n| n.to_string())
}

/// One line for a finished run, with its evidence when it failed.
pub fn line(result: &RunResult) -> String {
    let mut text = format!(
        "  {} in {:.0}s: ok {} fail {} info {}, {} anomalies, lost writes {}, {} keys unchecked, members {}",
        verdict(result),
        result.elapsed.as_secs_f64(),
        result.counts.ok,
        result.counts.fail,
        result.counts.info,
        result.anomaly_count(),
        lost(result),
        result.findings.gave_up,
        match &result.converged {
            Ok(n) => format!("agree on {n} znodes"),
            Err(why) => format!("DIVERGED or unchecked: {why}"),
        }
    );
    if let Some(error) = &result.error {
        let _ = write!(text, "\n  error: {error}");
    }
    for anomaly in result.findings.anomalies.iter().take(5) {
        let _ = write!(text, "\n  anomaly: {anomaly}");
    }
    if result.findings.anomalies.len() > 5 {
        let _ = write!(text, "\n  … {} more", result.findings.anomalies.len() - 5);
    }
    if let Some(dir) = &result.failure_dir {
        let _ = write!(text, "\n  evidence: {}", dir.display());
    }
    if !result.passed() {
        let _ = write!(text, "\n  replay: {}", replay_command(&result.plan));
    }
    text
}

/// The table of every run.
pub fn table(results: &[RunResult], elapsed: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<11} {:<34} {:>20} {:>3} {:>5} {:>6} {:>5} {:>5} {:>9} {:>5} {:>9} {:>8}",
        "workload",
        "nemesis",
        "seed",
        "n",
        "secs",
        "ok",
        "fail",
        "info",
        "anomalies",
        "lost",
        "unchecked",
        "verdict"
    );
    for r in results {
        let _ = writeln!(
            out,
            "{:<11} {:<34} {:>20} {:>3} {:>5} {:>6} {:>5} {:>5} {:>9} {:>5} {:>9} {:>8}",
            r.plan.workload.name(),
            r.plan.nemesis.to_string(),
            r.plan.seed,
            r.plan.members,
            r.elapsed.as_secs(),
            r.counts.ok,
            r.counts.fail,
            r.counts.info,
            r.anomaly_count(),
            lost(r),
            r.findings.gave_up,
            verdict(r)
        );
    }
    let ops: usize = results
        .iter()
        .map(|r| r.counts.ok + r.counts.fail + r.counts.info)
        .sum();
    let _ = writeln!(
        out,
        "{} runs, {} operations, {} anomalies, {} lost writes, in {:.1} min",
        results.len(),
        ops,
        results.iter().map(|r| r.anomaly_count()).sum::<usize>(),
        results
            .iter()
            .filter_map(|r| r.findings.lost_writes)
            .sum::<usize>(),
        elapsed.as_secs_f64() / 60.0
    );
    out
}
