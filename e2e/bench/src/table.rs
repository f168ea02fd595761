//! The comparison table: for every shown figure and shape, the median over repetitions of each
//! server's value, and the ratio of the two.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::record::BenchResult;

/// One row kind of the table: which figure of which result, and how to read it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FigureSpec {
    pub workload: &'static str,
    pub phase: &'static str,
    pub figure: &'static str,
    /// Row label; `{name}` is replaced by that param of the results (e.g. `{rate_ops_s}`).
    pub label: &'static str,
    pub higher_is_better: bool,
}

const fn spec(
    workload: &'static str,
    phase: &'static str,
    figure: &'static str,
    label: &'static str,
    higher_is_better: bool,
) -> FigureSpec {
    FigureSpec {
        workload,
        phase,
        figure,
        label,
        higher_is_better,
    }
}

const MAX: &str = "max-throughput";
const FIXED: &str = "fixed-rate";

/// The rows of the table, in order. Everything else stays in the JSON lines.
pub const SHOWN: &[FigureSpec] = &[
    spec(
        "create",
        MAX,
        "throughput_ops_s",
        "create: max throughput (ops/s)",
        true,
    ),
    spec(
        "create",
        FIXED,
        "p50_ms",
        "create: p50 at {rate_ops_s}/s (ms)",
        false,
    ),
    spec(
        "create",
        FIXED,
        "p99_ms",
        "create: p99 at {rate_ops_s}/s (ms)",
        false,
    ),
    spec(
        "create",
        FIXED,
        "p999_ms",
        "create: p99.9 at {rate_ops_s}/s (ms)",
        false,
    ),
    spec(
        "set",
        MAX,
        "throughput_ops_s",
        "setData: max throughput (ops/s)",
        true,
    ),
    spec(
        "set",
        FIXED,
        "p50_ms",
        "setData: p50 at {rate_ops_s}/s (ms)",
        false,
    ),
    spec(
        "set",
        FIXED,
        "p99_ms",
        "setData: p99 at {rate_ops_s}/s (ms)",
        false,
    ),
    spec(
        "set",
        FIXED,
        "p999_ms",
        "setData: p99.9 at {rate_ops_s}/s (ms)",
        false,
    ),
    spec(
        "get",
        MAX,
        "throughput_ops_s",
        "getData: max throughput (ops/s)",
        true,
    ),
    spec(
        "get",
        FIXED,
        "p50_ms",
        "getData: p50 at {rate_ops_s}/s (ms)",
        false,
    ),
    spec(
        "get",
        FIXED,
        "p99_ms",
        "getData: p99 at {rate_ops_s}/s (ms)",
        false,
    ),
    spec(
        "get",
        FIXED,
        "p999_ms",
        "getData: p99.9 at {rate_ops_s}/s (ms)",
        false,
    ),
    spec(
        "mix",
        MAX,
        "throughput_ops_s",
        "90/10 read/write: max throughput (ops/s)",
        true,
    ),
    spec(
        "mix",
        FIXED,
        "p50_ms",
        "90/10 read/write: p50 at {rate_ops_s}/s (ms)",
        false,
    ),
    spec(
        "mix",
        FIXED,
        "p99_ms",
        "90/10 read/write: p99 at {rate_ops_s}/s (ms)",
        false,
    ),
    spec(
        "mix",
        FIXED,
        "p999_ms",
        "90/10 read/write: p99.9 at {rate_ops_s}/s (ms)",
        false,
    ),
    spec(
        "mix",
        MAX,
        "rss_max_mib",
        "90/10 max throughput: peak RSS (MiB)",
        false,
    ),
    spec(
        "churn",
        MAX,
        "throughput_ops_s",
        "ephemeral create+delete: max (pairs/s)",
        true,
    ),
    spec(
        "churn",
        FIXED,
        "p99_ms",
        "ephemeral create+delete: p99 at {rate_ops_s}/s (ms)",
        false,
    ),
    spec(
        "watch-fire",
        "fire",
        "all_p50_ms",
        "watch fire, all {watchers} notified: p50 (ms)",
        false,
    ),
    spec(
        "watch-fire",
        "fire",
        "all_p99_ms",
        "watch fire, all {watchers} notified: p99 (ms)",
        false,
    ),
    spec(
        "resident",
        "resident",
        "rss_end_mib",
        "RSS with {znodes} znodes resident (MiB)",
        false,
    ),
    spec(
        "resident",
        "resident",
        "create_ops_s",
        "bulk create of {znodes} znodes (ops/s)",
        true,
    ),
    spec(
        "many-watches",
        "probe",
        "mean_ms",
        "{watches} watches: mean request latency (ms)",
        false,
    ),
    spec(
        "many-watches",
        "probe",
        "p99_ms",
        "{watches} watches: p99 request latency (ms)",
        false,
    ),
    spec(
        "many-watches",
        "probe",
        "rss_end_mib",
        "{watches} watches: RSS (MiB)",
        false,
    ),
    spec(
        "expiry",
        "expiry",
        "all_notified_ms",
        "{ephemerals} ephemerals expire: last heartbeat to all gone+notified (ms)",
        false,
    ),
    spec(
        "expiry",
        "expiry",
        "after_timeout_ms",
        "{ephemerals} ephemerals expire: time past the {timeout_ms} ms timeout (ms)",
        false,
    ),
];

/// The median; the mean of the middle two for an even count. `None` for no values.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

/// `a / b`, or `None` when it would mean nothing (a missing side, or b not positive).
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && a >= 0.0 => Some(a / b),
        _ => None,
    }
}

/// Which side the figure favours; `None` for a tie within 2 % or a missing side.
pub fn better<'a>(
    spec: &FigureSpec,
    a_name: &'a str,
    b_name: &'a str,
    a: Option<f64>,
    b: Option<f64>,
) -> Option<&'a str> {
    let (a, b) = (a?, b?);
    let scale = a.abs().max(b.abs());
    if scale == 0.0 || (a - b).abs() <= scale * 0.02 {
        return None;
    }
    let a_wins = if spec.higher_is_better { a > b } else { a < b };
    Some(if a_wins { a_name } else { b_name })
}

/// Three significant digits without scientific notation.
pub fn format_value(v: f64) -> String {
    let magnitude = v.abs();
    if magnitude >= 100.0 {
        format!("{v:.0}")
    } else if magnitude >= 10.0 {
        format!("{v:.1}")
    } else if magnitude >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Replaces `{name}` with the param `name` of a result (numbers without a trailing `.0`).
pub fn fill_label(template: &str, result: Option<&BenchResult>) -> String {
    let mut out = template.to_string();
    if let Some(r) = result {
        for (name, value) in &r.params {
            let text = match value {
                serde_json::Value::Number(n) => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
                    _ => n.to_string(),
                },
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out = out.replace(&format!("{{{name}}}"), &text);
        }
    }
    out
}

/// One computed row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub label: String,
    pub shape: u32,
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub ratio: Option<f64>,
    pub better: Option<String>,
    pub reps_a: usize,
    pub reps_b: usize,
}

/// Builds the rows for every spec and every shape present in the results.
pub fn build_rows(results: &[BenchResult], a_name: &str, b_name: &str) -> Vec<Row> {
    let shapes: BTreeSet<u32> = results.iter().map(|r| r.shape).collect();
    let mut rows = Vec::new();
    for spec in SHOWN {
        for &shape in &shapes {
            let matching = |server: &str| {
                results
                    .iter()
                    .filter(|r| {
                        r.server == server
                            && r.shape == shape
                            && r.workload == spec.workload
                            && r.phase == spec.phase
                    })
                    .collect::<Vec<_>>()
            };
            let of_a = matching(a_name);
            let of_b = matching(b_name);
            if of_a.is_empty() && of_b.is_empty() {
                continue;
            }
            let values = |rs: &[&BenchResult]| {
                rs.iter()
                    .filter_map(|r| r.figures.get(spec.figure).copied())
                    .collect::<Vec<_>>()
            };
            let va = values(&of_a);
            let vb = values(&of_b);
            let (a, b) = (median(&va), median(&vb));
            let template_source = of_a.first().or(of_b.first()).copied();
            rows.push(Row {
                label: fill_label(spec.label, template_source),
                shape,
                a,
                b,
                ratio: ratio(a, b),
                better: better(spec, a_name, b_name, a, b).map(str::to_string),
                reps_a: va.len(),
                reps_b: vb.len(),
            });
        }
    }
    rows
}

/// The table as Markdown, with a note on how the values were aggregated.
pub fn render(rows: &[Row], a_name: &str, b_name: &str) -> String {
    let cell = |v: Option<f64>| v.map(format_value).unwrap_or_else(|| "–".to_string());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| workload / figure | shape | {a_name} | {b_name} | ratio {a_name}/{b_name} | better |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---|");
    for row in rows {
        let shape = if row.shape == 1 {
            "1 member".to_string()
        } else {
            format!("{} members", row.shape)
        };
        let ratio = row
            .ratio
            .map(|r| format!("{r:.2}×"))
            .unwrap_or_else(|| "–".to_string());
        let better = row.better.clone().unwrap_or_else(|| {
            if row.a.is_some() && row.b.is_some() {
                "≈".to_string()
            } else {
                "–".to_string()
            }
        });
        let _ = writeln!(
            out,
            "| {} | {shape} | {} | {} | {ratio} | {better} |",
            row.label,
            cell(row.a),
            cell(row.b)
        );
    }
    let reps: BTreeSet<usize> = rows
        .iter()
        .flat_map(|r| [r.reps_a, r.reps_b])
        .filter(|&n| n > 0)
        .collect();
    let reps_text = reps
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(" or ");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Each value is the median over {reps_text} repetition(s) of that server and shape. Memory is \
         VmRSS summed over the members. \"better\" names the side the figure favours (≈: within 2 %)."
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RunLabel;

    fn result(
        server: &str,
        shape: u32,
        rep: u32,
        workload: &str,
        phase: &str,
        figures: &[(&str, f64)],
    ) -> BenchResult {
        let label = RunLabel {
            server: server.into(),
            shape,
            rep,
        };
        let mut r = BenchResult::new(&label, workload, phase, "test").param("rate_ops_s", 1000);
        for (k, v) in figures {
            r.figure(k, *v);
        }
        r
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[7.5]), Some(7.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn ratio_needs_both_sides_and_a_positive_denominator() {
        assert_eq!(ratio(Some(50.0), Some(200.0)), Some(0.25));
        assert_eq!(ratio(None, Some(1.0)), None);
        assert_eq!(ratio(Some(1.0), Some(0.0)), None);
        assert_eq!(ratio(Some(-5.0), Some(10.0)), None);
    }

    #[test]
    fn better_follows_the_direction_of_the_figure() {
        let throughput = SHOWN[0];
        let latency = SHOWN[1];
        assert!(throughput.higher_is_better && !latency.higher_is_better);
        assert_eq!(
            better(&throughput, "a", "b", Some(10.0), Some(5.0)),
            Some("a")
        );
        assert_eq!(better(&latency, "a", "b", Some(10.0), Some(5.0)), Some("b"));
        assert_eq!(better(&latency, "a", "b", Some(100.0), Some(101.0)), None);
        assert_eq!(better(&latency, "a", "b", None, Some(1.0)), None);
    }

    #[test]
    fn values_keep_three_significant_digits() {
        assert_eq!(format_value(12345.6), "12346");
        assert_eq!(format_value(42.42), "42.4");
        assert_eq!(format_value(1.234), "1.23");
        assert_eq!(format_value(0.4567), "0.457");
        assert_eq!(format_value(-250.0), "-250");
    }

    #[test]
    fn labels_take_params() {
        let r = result("corral", 1, 1, "get", FIXED, &[])
            .param("watches", 1_000_000)
            .param("mode", "quick");
        assert_eq!(
            fill_label("{watches} watches at {rate_ops_s}/s ({mode})", Some(&r)),
            "1000000 watches at 1000/s (quick)"
        );
        assert_eq!(fill_label("{missing}", None), "{missing}");
    }

    #[test]
    fn rows_take_the_median_per_server_and_shape() {
        let results = vec![
            result(
                "corral",
                1,
                1,
                "get",
                MAX,
                &[("throughput_ops_s", 30_000.0)],
            ),
            result(
                "corral",
                1,
                2,
                "get",
                MAX,
                &[("throughput_ops_s", 10_000.0)],
            ),
            result(
                "corral",
                1,
                3,
                "get",
                MAX,
                &[("throughput_ops_s", 20_000.0)],
            ),
            result(
                "zookeeper",
                1,
                1,
                "get",
                MAX,
                &[("throughput_ops_s", 10_000.0)],
            ),
            result(
                "zookeeper",
                1,
                2,
                "get",
                MAX,
                &[("throughput_ops_s", 5_000.0)],
            ),
            result(
                "zookeeper",
                3,
                1,
                "get",
                MAX,
                &[("throughput_ops_s", 4_000.0)],
            ),
        ];
        let rows = build_rows(&results, "corral", "zookeeper");
        assert_eq!(rows.len(), 2, "{rows:?}");
        let one = &rows[0];
        assert_eq!(
            (one.label.as_str(), one.shape),
            ("getData: max throughput (ops/s)", 1)
        );
        assert_eq!(one.a, Some(20_000.0));
        assert_eq!(one.b, Some(7_500.0));
        assert_eq!(one.ratio, Some(20_000.0 / 7_500.0));
        assert_eq!(one.better.as_deref(), Some("corral"));
        assert_eq!((one.reps_a, one.reps_b), (3, 2));
        let three = &rows[1];
        assert_eq!((three.shape, three.a, three.b), (3, None, Some(4_000.0)));
        assert_eq!(three.ratio, None);
    }

    #[test]
    fn rows_follow_the_spec_order_then_shape() {
        let results = vec![
            result("corral", 3, 1, "get", FIXED, &[("p99_ms", 2.0)]),
            result("corral", 1, 1, "get", FIXED, &[("p99_ms", 1.0)]),
            result("corral", 1, 1, "create", MAX, &[("throughput_ops_s", 5.0)]),
        ];
        let rows = build_rows(&results, "corral", "zookeeper");
        let order: Vec<(String, u32)> = rows.iter().map(|r| (r.label.clone(), r.shape)).collect();
        assert_eq!(order[0], ("create: max throughput (ops/s)".to_string(), 1));
        // Each get fixed-rate spec (p50, p99, p99.9) yields a row per shape; only p99 has a value.
        let p99: Vec<_> = rows
            .iter()
            .filter(|r| r.label.starts_with("getData: p99 at"))
            .collect();
        assert_eq!(
            p99.iter().map(|r| (r.shape, r.a)).collect::<Vec<_>>(),
            vec![(1, Some(1.0)), (3, Some(2.0))]
        );
    }

    #[test]
    fn the_rendered_table_has_a_header_a_row_per_figure_and_the_note() {
        let results = vec![
            result("corral", 1, 1, "set", FIXED, &[("p99_ms", 0.5)]),
            result("zookeeper", 1, 1, "set", FIXED, &[("p99_ms", 2.0)]),
        ];
        let rows: Vec<Row> = build_rows(&results, "corral", "zookeeper")
            .into_iter()
            .filter(|r| r.a.is_some())
            .collect();
        let text = render(&rows, "corral", "zookeeper");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "| workload / figure | shape | corral | zookeeper | ratio corral/zookeeper | better |"
        );
        assert_eq!(
            lines[2],
            "| setData: p99 at 1000/s (ms) | 1 member | 0.500 | 2.00 | 0.25× | corral |"
        );
        assert!(text.contains("median over 1 repetition(s)"), "{text}");
    }

    #[test]
    fn every_spec_names_a_known_workload() {
        use clap::ValueEnum;
        let names: Vec<&str> = crate::cli::Workload::value_variants()
            .iter()
            .map(|w| w.name())
            .collect();
        for s in SHOWN {
            assert!(names.contains(&s.workload), "{}", s.workload);
        }
    }

    #[test]
    fn figures_missing_from_a_result_leave_the_cell_empty() {
        let results = vec![result(
            "corral",
            1,
            1,
            "mix",
            MAX,
            &[("throughput_ops_s", 1.0)],
        )];
        let rows = build_rows(&results, "corral", "zookeeper");
        let rss = rows.iter().find(|r| r.label.contains("peak RSS")).unwrap();
        assert_eq!(rss.a, None);
        let text = render(std::slice::from_ref(rss), "corral", "zookeeper");
        assert!(text.contains("| – | – | – | – |"), "{text}");
    }

    #[test]
    fn unrelated_results_do_not_add_rows() {
        let results = vec![result("corral", 1, 1, "nothing-shown", "x", &[("y", 1.0)])];
        assert!(build_rows(&results, "corral", "zookeeper").is_empty());
    }
}
