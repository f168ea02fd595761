//! One `corral-sidecar node` process in its namespace: its zoo.cfg, its data disk (a small
//! tmpfs of its own, so that one member's disk can be filled), its log, and the signals the
//! nemeses send it.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context as _, bail};
use rustix::process::{Pid, Signal, kill_process};

use corral_testbed::SmallDisk;

use super::netns::Topology;

pub const CLIENT_PORT: u16 = 2181;
pub const PEER_PORT: u16 = 2888;
pub const ELECTION_PORT: u16 = 3888;
pub const ADMIN_PORT: u16 = 8080;
/// Size of each member's data disk.
const DISK_SIZE: &str = "160m";
/// The node refuses client writes below this much free disk space.
pub const MIN_FREE_DISK_MB: u64 = 24;
/// Short ticks: sessions may be as short as 1 s and members notice a lost peer within a few s.
const TICK_TIME_MS: u32 = 500;

/// Everything that does not change when a member restarts.
pub struct Member {
    pub id: usize,
    pub ip: Ipv4Addr,
    pub ns: String,
    dir: PathBuf,
    pub log_path: PathBuf,
    child: Mutex<Option<Child>>,
    paused: Mutex<bool>,
    /// The member's data disk, its own tmpfs so that it can be filled; unmounted on drop.
    disk: SmallDisk,
}

impl Member {
    /// Prepare member `id`'s directory under `run_dir` and mount its data disk.
    pub fn prepare(topology: &Topology, id: usize, run_dir: &Path) -> anyhow::Result<Member> {
        let dir = run_dir.join(format!("member-{id}"));
        let disk = SmallDisk::mount_at(&dir.join("disk"), DISK_SIZE)
            .with_context(|| format!("member {id}'s data disk"))?;
        let member = Member {
            id,
            ip: topology.member_ip(id),
            ns: topology.member_ns(id),
            log_path: dir.join("member.log"),
            dir,
            child: Mutex::new(None),
            paused: Mutex::new(false),
            disk,
        };
        member.reset_data()?;
        Ok(member)
    }

    pub fn client_addr(&self) -> SocketAddr {
        SocketAddr::from((self.ip, CLIENT_PORT))
    }

    pub fn admin_addr(&self) -> SocketAddr {
        SocketAddr::from((self.ip, ADMIN_PORT))
    }

    fn data_dir(&self) -> PathBuf {
        self.disk.path().join("data")
    }

    fn zoo_cfg_path(&self) -> PathBuf {
        self.dir.join("zoo.cfg")
    }

    /// An empty data dir holding only `myid`.
    pub fn reset_data(&self) -> anyhow::Result<()> {
        let data = self.data_dir();
        if data.exists() {
            std::fs::remove_dir_all(&data).with_context(|| format!("wipe {}", data.display()))?;
        }
        std::fs::create_dir_all(&data).with_context(|| format!("create {}", data.display()))?;
        std::fs::write(data.join("myid"), format!("{}\n", self.id)).context("write myid")?;
        Ok(())
    }

    /// Write the zoo.cfg: `voters` as participants; this member as an observer if it is not
    /// one of them (a member started that way waits to be added).
    pub fn write_config(&self, topology: &Topology, voters: &[usize]) -> anyhow::Result<()> {
        let mut cfg = String::new();
        let mut line = |key: &str, value: &dyn std::fmt::Display| {
            let _ = writeln!(cfg, "{key}={value}");
        };
        line("tickTime", &TICK_TIME_MS);
        line("initLimit", &20);
        line("syncLimit", &5);
        line("minSessionTimeout", &1000);
        line("maxSessionTimeout", &30000);
        line("dataDir", &self.data_dir().display());
        line("clientPort", &CLIENT_PORT);
        line("clientPortAddress", &self.ip);
        line("4lw.commands.whitelist", &"*");
        line("admin.serverAddress", &self.ip);
        line("admin.serverPort", &ADMIN_PORT);
        // Snapshots now and then, so that restarted members also catch up from them.
        line("snapCount", &2000);
        for &id in voters {
            line(
                &format!("server.{id}"),
                &format_args!(
                    "m{id}:{PEER_PORT}:{ELECTION_PORT}:participant;{}:{CLIENT_PORT}",
                    topology.member_ip(id)
                ),
            );
        }
        if !voters.contains(&self.id) {
            line(
                &format!("server.{}", self.id),
                &format_args!(
                    "m{}:{PEER_PORT}:{ELECTION_PORT}:observer;{}:{CLIENT_PORT}",
                    self.id, self.ip
                ),
            );
        }
        std::fs::write(self.zoo_cfg_path(), cfg).context("write zoo.cfg")
    }

    /// Start the node (it must not be running).
    pub fn spawn(&self, topology: &Topology, binary: &Path) -> anyhow::Result<()> {
        let mut child = self.lock();
        if child.is_some() {
            bail!("member {} is already running", self.id);
        }
        self.mark(&format!("start member {} ({})", self.id, self.ip));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .context("open the member log")?;
        let stderr = log.try_clone()?;
        let mut cmd = topology.command_in(&self.ns, binary);
        cmd.arg("node")
            .arg("--zoo-cfg")
            .arg(self.zoo_cfg_path())
            .args(["--metrics-port", "0"])
            .args(["--min-free-disk-mb", &MIN_FREE_DISK_MB.to_string()])
            .args(["--log-segment-kb", "1024"]);
        // Settings come from the zoo.cfg and flags above only.
        for (key, _) in std::env::vars() {
            if key.starts_with("CORRAL_") {
                cmd.env_remove(key);
            }
        }
        cmd.env(
            "RUST_LOG",
            // The timers at debug: undelivered session touches explain early expiries.
            std::env::var("CORRAL_CHAOS_NODE_LOG")
                .unwrap_or_else(|_| "info,corral_sidecar::server::timers=debug".into()),
        );
        let spawned = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr))
            .spawn()
            .with_context(|| format!("spawn member {} ({})", self.id, binary.display()))?;
        *child = Some(spawned);
        *self.lock_paused() = false;
        Ok(())
    }

    pub fn is_running(&self) -> bool {
        let mut child = self.lock();
        match child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => true,
            Some(_) => {
                *child = None;
                false
            }
            None => false,
        }
    }

    /// Whether the process exited by itself (it was not killed by the harness).
    pub fn exited_on_its_own(&self) -> Option<String> {
        let mut child = self.lock();
        let status = child.as_mut()?.try_wait().ok().flatten()?;
        *child = None;
        Some(status.to_string())
    }

    /// SIGKILL (`ip netns exec` replaced itself with the node, so this is the node).
    pub fn kill9(&self) {
        self.resume();
        if let Some(mut child) = self.lock().take() {
            self.mark(&format!("kill -9 member {}", self.id));
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn pid(&self) -> Option<Pid> {
        self.lock().as_ref().map(Pid::from_child)
    }

    pub fn pause(&self) {
        if let Some(pid) = self.pid() {
            self.mark(&format!("SIGSTOP member {}", self.id));
            let _ = kill_process(pid, Signal::STOP);
            *self.lock_paused() = true;
        }
    }

    pub fn resume(&self) {
        let was_paused = std::mem::replace(&mut *self.lock_paused(), false);
        if was_paused && let Some(pid) = self.pid() {
            let _ = kill_process(pid, Signal::CONT);
            self.mark(&format!("SIGCONT member {}", self.id));
        }
    }

    pub fn is_paused(&self) -> bool {
        *self.lock_paused()
    }

    /// Take the disk's free space down to `leave_bytes` with one file.
    pub fn fill_disk(&self, leave_bytes: u64) -> anyhow::Result<()> {
        self.mark(&format!(
            "fill member {}'s disk, leaving {} KiB free",
            self.id,
            leave_bytes / 1024
        ));
        self.disk.fill(leave_bytes)?;
        Ok(())
    }

    pub fn free_disk(&self) {
        if self.disk.free() {
            self.mark(&format!("free member {}'s disk", self.id));
        }
    }

    /// A marker line in the member's log, so that the harness's steps line up with the node's.
    pub fn mark(&self, text: &str) {
        if let Ok(mut file) = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
        {
            let _ = writeln!(file, "===== chaos: {text} =====");
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_paused(&self) -> MutexGuard<'_, bool> {
        self.paused.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        // The disk is unmounted after this, when the fields drop.
        self.kill9();
    }
}

/// SIGKILL a process by pid (for processes left behind by an earlier harness).
pub fn kill_pid(pid: i32) {
    if let Some(pid) = Pid::from_raw(pid) {
        let _ = kill_process(pid, Signal::CONT);
        let _ = kill_process(pid, Signal::KILL);
    }
}
