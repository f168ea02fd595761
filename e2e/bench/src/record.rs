//! One benchmark result: a JSON object on one line of the output.
//!
//! ```json
//! {"server":"corral","shape":3,"rep":1,"workload":"get","phase":"fixed-rate",
//!  "what":"...","params":{...},"figures":{"p99_ms":1.2,...},"rss":{...}}
//! ```
//!
//! `figures` is a flat map of named numbers (units in the name: `_ms`, `_ops_s`, `_mib`);
//! the runner's table picks the ones it shows by (workload, phase, figure).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::rss::RssSummary;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// `corral` or `zookeeper` (any label the runner gives).
    pub server: String,
    /// Number of members: 1 or 3.
    pub shape: u32,
    /// Repetition number, from 1.
    pub rep: u32,
    pub workload: String,
    /// `max-throughput` (closed loop), `fixed-rate` (open loop), or a workload's own phase name.
    pub phase: String,
    /// One sentence saying exactly what the figures measure.
    pub what: String,
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    #[serde(default)]
    pub figures: BTreeMap<String, f64>,
    /// Server memory sampled during the phase (summed over members).
    #[serde(default)]
    pub rss: Option<RssSummary>,
}

/// Who the results are for; copied into every result.
#[derive(Debug, Clone, PartialEq)]
pub struct RunLabel {
    pub server: String,
    pub shape: u32,
    pub rep: u32,
}

impl BenchResult {
    pub fn new(label: &RunLabel, workload: &str, phase: &str, what: &str) -> Self {
        Self {
            server: label.server.clone(),
            shape: label.shape,
            rep: label.rep,
            workload: workload.to_string(),
            phase: phase.to_string(),
            what: what.to_string(),
            params: BTreeMap::new(),
            figures: BTreeMap::new(),
            rss: None,
        }
    }

    pub fn param(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.params.insert(name.to_string(), value.into());
        self
    }

    pub fn figure(&mut self, name: &str, value: f64) {
        self.figures.insert(name.to_string(), value);
    }

    /// Attaches the memory samples and copies the summed figures into `figures`.
    pub fn with_rss(mut self, rss: RssSummary) -> Self {
        self.figure("rss_max_mib", rss.max_sum_mib());
        self.figure("rss_end_mib", rss.end_sum_mib());
        self.rss = Some(rss);
        self
    }

    pub fn to_json_line(&self) -> String {
        // A struct of strings, numbers and maps always serialises.
        serde_json::to_string(self).expect("a BenchResult serialises to JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_round_trips_through_one_json_line() {
        let label = RunLabel {
            server: "corral".into(),
            shape: 3,
            rep: 2,
        };
        let mut r = BenchResult::new(&label, "get", "fixed-rate", "getData latency")
            .param("rate_ops_s", 5000)
            .with_rss(RssSummary {
                pids: vec![1, 2, 3],
                samples: 4,
                max_sum_kib: 2048,
                end_sum_kib: 1024,
                ..RssSummary::default()
            });
        r.figure("p99_ms", 1.5);
        let line = r.to_json_line();
        assert!(!line.contains('\n'));
        let back: BenchResult = serde_json::from_str(&line).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.figures["rss_max_mib"], 2.0);
        assert_eq!(back.figures["rss_end_mib"], 1.0);
    }
}
