//! Network namespaces for one run (adapted from sidecar/tests/common/netns.rs).
//!
//! - one namespace per member, `cchaos-<pid>-<id>`, holding `10.214.<pid % 200>.<id>/24` on
//!   `eth0`;
//! - one for the harness's clients, `cchaos-<pid>-c`, holding `.100`;
//! - one, `cchaos-<pid>-br`, with the bridge joining the other ends of the veth pairs.
//!
//! Every veth pair is created directly between two of these namespaces: nothing appears in the
//! root namespace, and the addresses are reachable only from inside them.
//!
//! Partitions poison neighbour (ARP) entries inside the member namespaces: frames to a member
//! on the other side go to a MAC address no interface has, so connections stall silently, as
//! behind a failed switch. This kernel has no `tc` drop action or netem qdisc and the machine no
//! nftables or iptables, so this is the one way to drop traffic between two members while the
//! client namespace still reaches both.
//!
//! Peer names: every member's zoo.cfg names its peers `m1`, `m2`, … and each namespace gets its
//! own hosts file (`/etc/netns/<ns>/hosts`, which `ip netns exec` mounts over /etc/hosts). In
//! member i's namespace `mi` is its own address and every other `mj` is `127.0.1.j`, where the
//! harness's link proxy for i→j listens (see proxy.rs). The proxy connects on from i's own
//! address, so a poisoned neighbour entry in i's namespace still cuts the link.

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use std::{collections::BTreeSet, io::Read as _};

use anyhow::{Context as _, bail};

/// Bound for one `ip` invocation.
const IP_TIMEOUT: Duration = Duration::from_secs(10);
/// Every namespace of this harness starts with this.
pub const PREFIX: &str = "cchaos-";
/// Host part of the client namespace's address.
const CLIENT_HOST: u8 = 100;
/// A locally administered unicast MAC that no interface has (veth pairs get random ones).
const NOWHERE_MAC: &str = "02:00:00:00:c0:de";

/// The namespaces, veth pairs, bridge and hosts files of one run. Dropping it deletes them.
pub struct Topology {
    prefix: String,
    subnet: u8,
    members: usize,
    created: Vec<String>,
    /// Poisoned neighbour entries: (namespace holding the entry, member it cuts).
    cuts: Mutex<BTreeSet<(usize, usize)>>,
}

impl Topology {
    /// Create the namespaces for members `1..=members` and the client, wired through a bridge.
    pub fn create(members: usize) -> anyhow::Result<Topology> {
        let pid = std::process::id();
        let mut topology = Topology {
            prefix: format!("{PREFIX}{pid}"),
            subnet: (pid % 200) as u8,
            members,
            created: Vec::new(),
            cuts: Mutex::new(BTreeSet::new()),
        };
        let bridge = topology.bridge_ns();
        let mut names = vec![bridge.clone(), topology.client_ns()];
        names.extend((1..=members).map(|id| topology.member_ns(id)));
        for name in &names {
            if namespace_exists(name) {
                let _ = ip(&["netns", "del", name]);
            }
            let output = ip(&["netns", "add", name])
                .context("cannot run `ip`; install iproute2 (the chaos suite needs it)")?;
            if !output.status.success() {
                bail!(
                    "`ip netns add {name}` failed: {} (the chaos suite needs root, or \
                     CAP_SYS_ADMIN and CAP_NET_ADMIN)",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
            }
            topology.created.push(name.clone());
        }
        topology.run(&["-n", &bridge, "link", "add", "br0", "type", "bridge"])?;
        topology.run(&["-n", &bridge, "link", "set", "br0", "up"])?;
        let mut hosts: Vec<(String, String, Ipv4Addr)> = (1..=members)
            .map(|id| {
                (
                    topology.member_ns(id),
                    format!("m{id}"),
                    topology.member_ip(id),
                )
            })
            .collect();
        hosts.push((topology.client_ns(), "c".into(), topology.client_ip()));
        for (ns, port, addr) in hosts {
            topology.run(&[
                "-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", &port, "netns",
                &bridge,
            ])?;
            topology.run(&["-n", &bridge, "link", "set", &port, "master", "br0", "up"])?;
            topology.run(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth0",
            ])?;
            topology.run(&["-n", &ns, "link", "set", "eth0", "up"])?;
            topology.run(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        for id in 1..=members {
            topology.write_hosts(id)?;
        }
        Ok(topology)
    }

    pub fn members(&self) -> usize {
        self.members
    }

    pub fn member_ns(&self, id: usize) -> String {
        format!("{}-{id}", self.prefix)
    }

    pub fn client_ns(&self) -> String {
        format!("{}-c", self.prefix)
    }

    fn bridge_ns(&self) -> String {
        format!("{}-br", self.prefix)
    }

    pub fn member_ip(&self, id: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 214, self.subnet, id as u8)
    }

    pub fn client_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 214, self.subnet, CLIENT_HOST)
    }

    /// Where the link proxy from member `from` to member `to` listens, inside `from`'s
    /// namespace.
    pub fn proxy_ip(to: usize) -> Ipv4Addr {
        Ipv4Addr::new(127, 0, 1, to as u8)
    }

    /// The hosts file of member `id`'s namespace: itself by its address, every peer by its
    /// proxy.
    fn write_hosts(&self, id: usize) -> anyhow::Result<()> {
        let dir = Path::new("/etc/netns").join(self.member_ns(id));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("create {} for the member's hosts file", dir.display()))?;
        let mut text = String::from("127.0.0.1 localhost\n");
        for peer in 1..=self.members {
            let addr = if peer == id {
                self.member_ip(id)
            } else {
                Topology::proxy_ip(peer)
            };
            text.push_str(&format!("{addr} m{peer}\n"));
        }
        std::fs::write(dir.join("hosts"), text)
            .with_context(|| format!("write {}/hosts", dir.display()))
    }

    /// Cut every member of `side_a` off from every member of `side_b`, both ways.
    pub fn cut(&self, side_a: &[usize], side_b: &[usize]) -> anyhow::Result<()> {
        let mut cuts = self.cuts.lock().unwrap_or_else(|e| e.into_inner());
        for &a in side_a {
            for &b in side_b {
                if a == b {
                    continue;
                }
                for (holder, dropped) in [(a, b), (b, a)] {
                    if cuts.insert((holder, dropped)) {
                        self.run(&[
                            "-n",
                            &self.member_ns(holder),
                            "neigh",
                            "replace",
                            &self.member_ip(dropped).to_string(),
                            "lladdr",
                            NOWHERE_MAC,
                            "dev",
                            "eth0",
                            "nud",
                            "permanent",
                        ])?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Remove every cut.
    pub fn heal(&self) -> anyhow::Result<()> {
        let mut cuts = self.cuts.lock().unwrap_or_else(|e| e.into_inner());
        for (holder, dropped) in std::mem::take(&mut *cuts) {
            self.run(&[
                "-n",
                &self.member_ns(holder),
                "neigh",
                "del",
                &self.member_ip(dropped).to_string(),
                "dev",
                "eth0",
            ])?;
        }
        Ok(())
    }

    /// `ip netns exec NS program`.
    pub fn command_in(&self, ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(ip_program());
        cmd.args(["netns", "exec", ns]).arg(program);
        cmd
    }

    fn run(&self, args: &[&str]) -> anyhow::Result<()> {
        let output = ip(args).with_context(|| format!("run ip {}", args.join(" ")))?;
        if !output.status.success() {
            bail!(
                "ip {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for name in self.created.iter().rev() {
            delete_namespace(name);
        }
    }
}

fn delete_namespace(name: &str) {
    match ip(&["netns", "del", name]) {
        Ok(output) if output.status.success() => {}
        Ok(output) => eprintln!(
            "cleanup: ip netns del {name}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(e) => eprintln!("cleanup: ip netns del {name}: {e}"),
    }
    let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(name));
}

/// Remove what an earlier harness process (one no longer running) left behind: its member
/// processes, namespaces, hosts files and tmpfs mounts. Returns what it removed.
pub fn sweep_stale() -> Vec<String> {
    let mut removed = Vec::new();
    let stale = |name: &str| -> bool {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            return false;
        };
        let pid: Option<u32> = rest.split('-').next().and_then(|p| p.parse().ok());
        match pid {
            Some(pid) => pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists(),
            None => false,
        }
    };
    if let Ok(output) = ip(&["netns", "list"]) {
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            if !stale(name) {
                continue;
            }
            if let Ok(pids) = ip(&["netns", "pids", name]) {
                for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
                    if let Ok(pid) = pid.parse::<i32>() {
                        super::member::kill_pid(pid);
                    }
                }
            }
            delete_namespace(name);
            removed.push(format!("namespace {name}"));
        }
    }
    if let Ok(entries) = std::fs::read_dir("/etc/netns") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if stale(&name) {
                let _ = std::fs::remove_dir_all(entry.path());
                removed.push(format!("/etc/netns/{name}"));
            }
        }
    }
    if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
        for line in mounts.lines() {
            let Some(point) = line.split_whitespace().nth(1) else {
                continue;
            };
            let dir_name = point
                .split('/')
                .find(|part| part.starts_with(PREFIX))
                .unwrap_or("");
            if stale(dir_name) {
                let _ = bounded(Command::new("umount").args(["-l", point]), IP_TIMEOUT);
                removed.push(format!("mount {point}"));
            }
        }
    }
    removed
}

/// Join network namespace `name` with the calling thread only: the sockets it (and the threads
/// it starts afterwards) creates belong to that namespace.
pub fn enter_namespace(name: &str) -> std::io::Result<()> {
    let path = ["/run/netns", "/var/run/netns"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.exists())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no namespace {name} under /run/netns"),
            )
        })?;
    let file = File::open(path)?;
    rustix::thread::move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&file),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .map_err(std::io::Error::from)
}

fn namespace_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

fn ip_program() -> PathBuf {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("ip"))
}

/// `ip ARGS`, killed if it takes longer than [`IP_TIMEOUT`].
pub fn ip(args: &[&str]) -> std::io::Result<Output> {
    bounded(Command::new(ip_program()).args(args), IP_TIMEOUT)
}

/// Run a short command to completion within `limit`; a hung one is killed.
pub fn bounded(command: &mut Command, limit: Duration) -> std::io::Result<Output> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{command:?} did not finish within {limit:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // Small outputs only: they fit the pipe buffers, so reading after exit is safe.
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    if let Some(mut pipe) = child.stdout.take() {
        pipe.read_to_end(&mut stdout)?;
    }
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_end(&mut stderr)?;
    }
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}
