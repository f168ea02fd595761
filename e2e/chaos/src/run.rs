//! One run: start the ensemble, run the workload under the nemesis, heal, read back, compare
//! the members' trees, check the history, tear everything down, and keep the evidence of a
//! failed run.

use std::fmt::Write as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use crate::checker::{self, Findings};
use crate::cluster::Cluster;
use crate::cluster::netns::{enter_namespace, sweep_stale};
use crate::history::{Counts, Recorder};
use crate::matrix::Planned;
use crate::nemesis::{self, Journal};
use crate::schedule;
use crate::workload::{self, Ctx, ROOT};

/// Bound for the ensemble to serve after start-up and after healing.
const HEALTHY_LIMIT: Duration = Duration::from_secs(90);
/// Bound for every member to show the same tree.
const CONVERGE_LIMIT: Duration = Duration::from_secs(45);

/// What a run needs besides its plan.
#[derive(Clone, Debug)]
pub struct Settings {
    pub binary: PathBuf,
    pub failures_dir: PathBuf,
    pub lock_slack: Duration,
}

/// The outcome of one run.
#[derive(Debug, Serialize)]
pub struct RunResult {
    pub plan: Planned,
    pub counts: Counts,
    pub findings: Findings,
    /// Znodes every member agreed on, or why they did not.
    pub converged: Result<usize, String>,
    /// The run could not be carried out to the end (the ensemble did not recover, a member
    /// crashed, the harness failed).
    pub error: Option<String>,
    pub elapsed: Duration,
    pub failure_dir: Option<PathBuf>,
}

impl RunResult {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.findings.anomalies.is_empty() && self.converged.is_ok()
    }

    /// Anomalies and divergence: what the checker holds against the node. (A run that ended
    /// in an error never compared the members.)
    pub fn anomaly_count(&self) -> usize {
        let diverged = self.error.is_none() && self.converged.is_err();
        self.findings.anomalies.len() + usize::from(diverged)
    }
}

/// The command that replays `plan`.
pub fn replay_command(plan: &Planned) -> String {
    format!(
        "e2e/chaos/run.sh --seed {} --workload {} --nemesis {} --duration-secs {} --members {}",
        plan.seed,
        plan.workload,
        plan.nemesis,
        plan.duration.as_secs(),
        plan.members
    )
}

/// Carry out `plan`.
pub fn run(plan: &Planned, settings: &Settings) -> RunResult {
    let started = Instant::now();
    for removed in sweep_stale() {
        eprintln!("removed a leftover of an earlier run: {removed}");
    }
    let recorder = Arc::new(Recorder::new(Instant::now()));
    let journal = Journal::new(recorder.start());
    let mut result = RunResult {
        plan: plan.clone(),
        counts: Counts::default(),
        findings: Findings::default(),
        converged: Err("not compared".into()),
        error: None,
        elapsed: Duration::ZERO,
        failure_dir: None,
    };
    let cluster = match Cluster::start(
        &settings.binary,
        plan.members,
        plan.nemesis.spares(),
        plan.seed,
    ) {
        Ok(cluster) => cluster,
        Err(e) => {
            result.error = Some(format!("could not start the ensemble: {e:#}"));
            result.elapsed = started.elapsed();
            return result;
        }
    };
    let client_ns = cluster.topology().client_ns();
    let body = drive(plan, &cluster, recorder.clone(), &journal);
    let (converged, error) = match in_namespace(&client_ns, body) {
        Ok(outcome) => outcome,
        Err(e) => (Err("not compared".into()), Some(format!("{e:#}"))),
    };
    result.converged = converged;
    result.error = error;
    if result.error.is_none()
        && let Some((id, status)) = cluster.crashed()
    {
        result.error = Some(format!("member {id} exited by itself ({status})"));
    }
    let ops = recorder.snapshot();
    result.counts = Counts::of(&ops);
    result.findings = checker::check(plan.workload, &ops, settings.lock_slack.as_nanos() as u64);
    result.elapsed = started.elapsed();
    if !result.passed() {
        match save_failure(&result, &ops, &journal, &cluster, &settings.failures_dir) {
            Ok(dir) => result.failure_dir = Some(dir),
            Err(e) => eprintln!("could not save the failed run: {e:#}"),
        }
    }
    drop(cluster);
    result.elapsed = started.elapsed();
    result
}

/// The client side of a run, inside the client namespace: (convergence, error).
async fn drive(
    plan: &Planned,
    cluster: &Cluster,
    recorder: Arc<Recorder>,
    journal: &Journal,
) -> (Result<usize, String>, Option<String>) {
    if let Err(e) = cluster.wait_healthy(HEALTHY_LIMIT).await {
        return (Err("not compared".into()), Some(format!("start-up: {e:#}")));
    }
    journal.note(
        cluster,
        format!("ensemble up; workload {} starts", plan.workload),
    );
    let connect: Vec<String> = cluster
        .members()
        .iter()
        .map(|m| m.client_addr().to_string())
        .collect();
    let run_start = Instant::now();
    let ctx = Arc::new(Ctx::new(
        recorder,
        connect,
        plan.seed,
        run_start + plan.duration,
    ));
    let pool = workload::pool(plan.workload);
    let cycles = schedule::cycles(&plan.nemesis, plan.duration, plan.seed);
    let clients = workload::run(plan.workload, ctx.clone(), pool.clone());
    let faults = nemesis::run(cluster, &cycles, run_start, journal);
    let (clients, faults) = tokio::join!(clients, faults);
    let mut error = None;
    if let Err(e) = faults {
        error = Some(format!("nemesis: {e:#}"));
    }
    if let Err(e) = clients {
        error.get_or_insert(format!("workload: {e:#}"));
    }
    if let Err(e) = cluster.heal_all() {
        error.get_or_insert(format!("healing: {e:#}"));
    }
    journal.note(cluster, "workload over; everything healed".into());
    if let Err(e) = cluster.wait_healthy(HEALTHY_LIMIT).await {
        let error = error.unwrap_or(format!("the ensemble did not recover after healing: {e:#}"));
        return (Err("not compared".into()), Some(error));
    }
    if let Err(e) = workload::finish(plan.workload, ctx, pool).await {
        error.get_or_insert(format!("final reads after healing: {e:#}"));
    }
    journal.note(cluster, "final reads done; comparing members".into());
    let converged = cluster
        .converged(ROOT, CONVERGE_LIMIT)
        .await
        .map_err(|e| format!("{e:#}"));
    (converged, error)
}

/// Run `body` on a runtime whose threads live in network namespace `ns`.
fn in_namespace<T: Send>(ns: &str, body: impl Future<Output = T> + Send) -> anyhow::Result<T> {
    std::thread::scope(|scope| {
        let runner = std::thread::Builder::new()
            .name("chaos-client".into())
            .spawn_scoped(scope, move || -> anyhow::Result<T> {
                enter_namespace(ns).with_context(|| format!("join namespace {ns}"))?;
                // Built after setns: its worker and blocking threads inherit the namespace.
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()?;
                Ok(runtime.block_on(body))
            })
            .context("start the client thread")?;
        // A panic in the harness fails this run only: the caller still tears it down.
        runner.join().unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(anyhow::anyhow!("the harness panicked: {message}"))
        })
    })
}

/// Write the history, the seed, the findings, the nemesis journal and each member's log to
/// `<failures_dir>/<timestamp>-<workload>-<nemesis>-<seed>/`.
fn save_failure(
    result: &RunResult,
    ops: &[crate::history::Op],
    journal: &Journal,
    cluster: &Cluster,
    failures_dir: &Path,
) -> anyhow::Result<PathBuf> {
    let plan = &result.plan;
    let dir = failures_dir.join(format!(
        "{}-{}-{}-{}",
        timestamp(),
        plan.workload,
        plan.nemesis.to_string().replace('+', "_"),
        plan.seed
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    std::fs::write(dir.join("history.json"), serde_json::to_vec_pretty(ops)?)?;
    let mut summary = String::new();
    let _ = writeln!(summary, "workload: {}", plan.workload);
    let _ = writeln!(summary, "nemesis:  {}", plan.nemesis);
    let _ = writeln!(summary, "seed:     {}", plan.seed);
    let _ = writeln!(summary, "members:  {}", plan.members);
    let _ = writeln!(summary, "replay:   {}", replay_command(plan));
    let _ = writeln!(summary, "ops:      {:?}", result.counts);
    let _ = writeln!(
        summary,
        "time 0 of history.json and nemesis.log: {} UTC",
        journal.origin_wall_clock()
    );
    if let Some(error) = &result.error {
        let _ = writeln!(summary, "error:    {error}");
    }
    if let Err(why) = &result.converged {
        let _ = writeln!(summary, "members diverged: {why}");
    }
    let _ = writeln!(summary, "anomalies ({}):", result.findings.anomalies.len());
    for anomaly in &result.findings.anomalies {
        let _ = writeln!(summary, "  {anomaly}");
    }
    std::fs::write(dir.join("result.txt"), summary)?;
    std::fs::write(dir.join("seed"), format!("{}\n", plan.seed))?;
    std::fs::write(dir.join("nemesis.log"), journal.lines().join("\n") + "\n")?;
    cluster.save_logs(&dir);
    Ok(dir)
}

/// UTC `YYYYmmdd-HHMMSS` (days-to-civil conversion, so no date crate is needed).
pub fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format_utc(secs)
}

fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_times() {
        assert_eq!(format_utc(0), "19700101-000000");
        assert_eq!(format_utc(951_782_400), "20000229-000000");
        assert_eq!(format_utc(1_700_000_000), "20231114-221320");
    }

    #[test]
    fn the_replay_command_names_everything_a_run_depends_on() {
        let plan = Planned {
            workload: crate::matrix::Workload::Queue,
            nemesis: "kill+slow".parse().unwrap(),
            seed: 42,
            duration: Duration::from_secs(30),
            members: 5,
        };
        assert_eq!(
            replay_command(&plan),
            "e2e/chaos/run.sh --seed 42 --workload queue --nemesis kill+slow --duration-secs 30 --members 5"
        );
    }
}
