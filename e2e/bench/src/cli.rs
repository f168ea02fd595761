//! Command line: subcommands, workloads, and the sizes of each workload (a profile's defaults,
//! any of which a flag overrides).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "corral-bench",
    about = "Run ZooKeeper workloads against a server or ensemble and print one JSON line per result; \
             `table` turns those lines into the comparison table"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run workloads against one server or ensemble; one JSON line per result on stdout.
    Run(Box<RunArgs>),
    /// Read result lines and print the comparison table (median over repetitions).
    Table(TableArgs),
    /// Internal (the expiry workload): open sessions, create ephemerals, print READY, then wait
    /// to be killed so that the sessions expire instead of closing.
    #[command(hide = true)]
    HoldEphemerals(HoldArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Workload {
    /// create of 100-byte persistent znodes.
    Create,
    /// setData of 100 bytes on existing znodes.
    Set,
    /// getData of 100-byte znodes.
    Get,
    /// 90 % getData, 10 % setData.
    Mix,
    /// create then delete of an ephemeral znode (one op = the pair).
    Churn,
    /// One setData, N watchers across sessions: time until every watcher has its event.
    WatchFire,
    /// Server RSS once N znodes of 100 bytes are resident.
    Resident,
    /// Request latency while sessions hold many data watches.
    ManyWatches,
    /// Sessions with ephemerals die; time until every ephemeral is gone and every watcher told.
    Expiry,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Create => "create",
            Workload::Set => "set",
            Workload::Get => "get",
            Workload::Mix => "mix",
            Workload::Churn => "churn",
            Workload::WatchFire => "watch-fire",
            Workload::Resident => "resident",
            Workload::ManyWatches => "many-watches",
            Workload::Expiry => "expiry",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// Small counts and short phases: a smoke run of every workload (the runner's --quick).
    Quick,
    /// The sizes the figures are quoted at (1M znodes, 1M watches, 1000 × 200 ephemerals).
    Full,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Label of the server in the results (corral, zookeeper).
    #[arg(long)]
    pub server: String,
    /// Members as host:port, comma separated; sessions are spread over them round-robin.
    #[arg(long, value_delimiter = ',', required = true)]
    pub members: Vec<String>,
    /// Server process ids whose RSS is sampled (every member's), comma separated.
    #[arg(long, value_delimiter = ',')]
    pub pids: Vec<u32>,
    /// Shape label for the results; defaults to the number of members.
    #[arg(long)]
    pub shape: Option<u32>,
    /// Repetition number for the results.
    #[arg(long, default_value_t = 1)]
    pub rep: u32,
    /// Workloads to run, in order, comma separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub workloads: Vec<Workload>,
    #[arg(long, value_enum, default_value_t = Profile::Quick)]
    pub profile: Profile,
    #[command(flatten)]
    pub overrides: Overrides,
}

/// Every size a profile sets; a flag given here wins over the profile.
#[derive(Debug, Default, Args)]
pub struct Overrides {
    /// Sessions issuing the op workloads.
    #[arg(long)]
    pub sessions: Option<usize>,
    /// Requests in flight per session in max-throughput phases.
    #[arg(long)]
    pub inflight: Option<usize>,
    /// Measured seconds of each phase.
    #[arg(long)]
    pub phase_secs: Option<f64>,
    /// Unmeasured seconds before each max-throughput phase.
    #[arg(long)]
    pub warmup_secs: Option<f64>,
    /// Existing znodes read and written by set/get/mix.
    #[arg(long)]
    pub keys: Option<usize>,
    /// Size of every value written, bytes.
    #[arg(long)]
    pub value_bytes: Option<usize>,
    /// Target rate of the fixed-rate phases of create, set and churn, ops/s.
    #[arg(long)]
    pub write_rate: Option<f64>,
    /// Target rate of the fixed-rate phases of get and mix, ops/s.
    #[arg(long)]
    pub read_rate: Option<f64>,
    /// Watchers (one per session) in watch-fire.
    #[arg(long)]
    pub fire_watchers: Option<usize>,
    /// Writes (repetitions) in watch-fire.
    #[arg(long)]
    pub fire_reps: Option<usize>,
    /// Znodes created by resident.
    #[arg(long)]
    pub resident_znodes: Option<usize>,
    /// Seconds resident waits after creating before the final RSS sample.
    #[arg(long)]
    pub resident_settle_secs: Option<f64>,
    /// Sessions holding watches in many-watches.
    #[arg(long)]
    pub watch_sessions: Option<usize>,
    /// Znodes each of those sessions watches (watches = sessions × nodes).
    #[arg(long)]
    pub watch_nodes: Option<usize>,
    /// Rate of the probe requests in many-watches, ops/s.
    #[arg(long)]
    pub probe_rate: Option<f64>,
    /// Sessions that die in expiry.
    #[arg(long)]
    pub expiry_sessions: Option<usize>,
    /// Ephemerals per dying session in expiry.
    #[arg(long)]
    pub expiry_per_session: Option<usize>,
    /// Session timeout asked for by the dying sessions, ms.
    #[arg(long)]
    pub expiry_timeout_ms: Option<u64>,
}

#[derive(Debug, Args)]
pub struct TableArgs {
    /// File of result lines (the output of `run`); other lines are ignored.
    #[arg(long)]
    pub input: PathBuf,
    /// Server whose value is the numerator of the ratio.
    #[arg(long, default_value = "corral")]
    pub a: String,
    /// Server whose value is the denominator of the ratio.
    #[arg(long, default_value = "zookeeper")]
    pub b: String,
}

#[derive(Debug, Args)]
pub struct HoldArgs {
    #[arg(long, value_delimiter = ',', required = true)]
    pub members: Vec<String>,
    #[arg(long)]
    pub sessions: usize,
    #[arg(long)]
    pub per_session: usize,
    #[arg(long)]
    pub timeout_ms: u64,
    /// Parent of the per-session directories `<base>/s<i>`, which must exist.
    #[arg(long)]
    pub base: String,
    #[arg(long, default_value_t = 100)]
    pub value_bytes: usize,
}

/// The resolved sizes of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub sessions: usize,
    pub inflight: usize,
    pub phase: Duration,
    pub warmup: Duration,
    pub keys: usize,
    pub value_bytes: usize,
    pub write_rate: f64,
    pub read_rate: f64,
    pub fire_watchers: usize,
    pub fire_reps: usize,
    pub resident_znodes: usize,
    pub resident_settle: Duration,
    pub watch_sessions: usize,
    pub watch_nodes: usize,
    pub probe_rate: f64,
    pub expiry_sessions: usize,
    pub expiry_per_session: usize,
    pub expiry_timeout_ms: u64,
    /// Timeout of the load sessions: long, so a busy machine never expires them mid-run.
    pub session_timeout: Duration,
}

impl Params {
    pub fn for_profile(profile: Profile) -> Self {
        let quick = Params {
            sessions: 32,
            inflight: 4,
            phase: Duration::from_millis(1500),
            warmup: Duration::from_millis(300),
            keys: 1000,
            value_bytes: 100,
            write_rate: 1000.0,
            read_rate: 2000.0,
            fire_watchers: 100,
            fire_reps: 20,
            resident_znodes: 100_000,
            resident_settle: Duration::from_secs(2),
            watch_sessions: 100,
            watch_nodes: 1000,
            probe_rate: 500.0,
            expiry_sessions: 100,
            expiry_per_session: 200,
            expiry_timeout_ms: 4000,
            session_timeout: Duration::from_secs(30),
        };
        match profile {
            Profile::Quick => quick,
            Profile::Full => Params {
                phase: Duration::from_secs(15),
                warmup: Duration::from_secs(3),
                fire_watchers: 1000,
                fire_reps: 100,
                resident_znodes: 1_000_000,
                resident_settle: Duration::from_secs(5),
                watch_sessions: 1000,
                expiry_sessions: 1000,
                ..quick
            },
        }
    }

    pub fn with_overrides(mut self, o: &Overrides) -> Result<Self, String> {
        let secs = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(format!(
                    "--{name} must be a non-negative number of seconds, not {v}"
                ))
            }
        };
        if let Some(v) = o.sessions {
            self.sessions = v;
        }
        if let Some(v) = o.inflight {
            self.inflight = v;
        }
        if let Some(v) = o.phase_secs {
            self.phase = secs("phase-secs", v)?;
        }
        if let Some(v) = o.warmup_secs {
            self.warmup = secs("warmup-secs", v)?;
        }
        if let Some(v) = o.keys {
            self.keys = v;
        }
        if let Some(v) = o.value_bytes {
            self.value_bytes = v;
        }
        if let Some(v) = o.write_rate {
            self.write_rate = v;
        }
        if let Some(v) = o.read_rate {
            self.read_rate = v;
        }
        if let Some(v) = o.fire_watchers {
            self.fire_watchers = v;
        }
        if let Some(v) = o.fire_reps {
            self.fire_reps = v;
        }
        if let Some(v) = o.resident_znodes {
            self.resident_znodes = v;
        }
        if let Some(v) = o.resident_settle_secs {
            self.resident_settle = secs("resident-settle-secs", v)?;
        }
        if let Some(v) = o.watch_sessions {
            self.watch_sessions = v;
        }
        if let Some(v) = o.watch_nodes {
            self.watch_nodes = v;
        }
        if let Some(v) = o.probe_rate {
            self.probe_rate = v;
        }
        if let Some(v) = o.expiry_sessions {
            self.expiry_sessions = v;
        }
        if let Some(v) = o.expiry_per_session {
            self.expiry_per_session = v;
        }
        if let Some(v) = o.expiry_timeout_ms {
            self.expiry_timeout_ms = v;
        }
        self.validate()?;
        Ok(self)
    }

    fn validate(&self) -> Result<(), String> {
        let counts = [
            ("sessions", self.sessions),
            ("inflight", self.inflight),
            ("keys", self.keys),
            ("fire-watchers", self.fire_watchers),
            ("fire-reps", self.fire_reps),
            ("resident-znodes", self.resident_znodes),
            ("watch-sessions", self.watch_sessions),
            ("watch-nodes", self.watch_nodes),
            ("expiry-sessions", self.expiry_sessions),
            ("expiry-per-session", self.expiry_per_session),
        ];
        for (name, value) in counts {
            if value == 0 {
                return Err(format!("--{name} must be at least 1"));
            }
        }
        for (name, rate) in [
            ("write-rate", self.write_rate),
            ("read-rate", self.read_rate),
            ("probe-rate", self.probe_rate),
        ] {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(format!(
                    "--{name} must be a positive number of ops/s, not {rate}"
                ));
            }
        }
        if self.phase.is_zero() {
            return Err("--phase-secs must be more than 0".to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("corral-bench").chain(args.iter().copied()))
    }

    #[test]
    fn run_takes_members_pids_and_workloads_as_lists() {
        let cli = parse(&[
            "run",
            "--server",
            "zookeeper",
            "--members",
            "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3",
            "--pids",
            "10,11,12",
            "--workloads",
            "create,watch-fire,many-watches",
            "--rep",
            "2",
            "--profile",
            "full",
        ])
        .unwrap();
        let Command::Run(run) = cli.command else {
            panic!("expected run")
        };
        assert_eq!(run.members.len(), 3);
        assert_eq!(run.pids, vec![10, 11, 12]);
        assert_eq!(
            run.workloads,
            vec![Workload::Create, Workload::WatchFire, Workload::ManyWatches]
        );
        assert_eq!(run.rep, 2);
        assert_eq!(run.profile, Profile::Full);
        assert_eq!(run.shape, None);
    }

    #[test]
    fn unknown_workloads_and_missing_members_are_refused() {
        assert!(
            parse(&[
                "run",
                "--server",
                "x",
                "--members",
                "h:1",
                "--workloads",
                "nope"
            ])
            .is_err()
        );
        assert!(parse(&["run", "--server", "x", "--workloads", "get"]).is_err());
    }

    #[test]
    fn workload_names_match_the_command_line_values() {
        for w in Workload::value_variants() {
            let value = w.to_possible_value().unwrap();
            assert_eq!(value.get_name(), w.name());
        }
    }

    #[test]
    fn full_is_the_quoted_sizes_and_quick_is_smaller() {
        let full = Params::for_profile(Profile::Full);
        assert_eq!(full.resident_znodes, 1_000_000);
        assert_eq!(full.watch_sessions * full.watch_nodes, 1_000_000);
        assert_eq!(full.expiry_sessions * full.expiry_per_session, 200_000);
        let quick = Params::for_profile(Profile::Quick);
        assert!(quick.resident_znodes < full.resident_znodes);
        assert!(quick.phase < full.phase);
    }

    #[test]
    fn flags_override_the_profile() {
        let cli = parse(&[
            "run",
            "--server",
            "corral",
            "--members",
            "h:1",
            "--workloads",
            "resident",
            "--resident-znodes",
            "5000",
            "--phase-secs",
            "0.5",
        ])
        .unwrap();
        let Command::Run(run) = cli.command else {
            panic!("expected run")
        };
        let p = Params::for_profile(run.profile)
            .with_overrides(&run.overrides)
            .unwrap();
        assert_eq!(p.resident_znodes, 5000);
        assert_eq!(p.phase, Duration::from_millis(500));
        assert_eq!(p.keys, 1000);
    }

    #[test]
    fn nonsense_sizes_are_refused_with_the_flag_name() {
        let base = Params::for_profile(Profile::Quick);
        let err = base
            .clone()
            .with_overrides(&Overrides {
                sessions: Some(0),
                ..Overrides::default()
            })
            .unwrap_err();
        assert!(err.contains("--sessions"), "{err}");
        let err = base
            .with_overrides(&Overrides {
                read_rate: Some(-1.0),
                ..Overrides::default()
            })
            .unwrap_err();
        assert!(err.contains("--read-rate"), "{err}");
    }
}
