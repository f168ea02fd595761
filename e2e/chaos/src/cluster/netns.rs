//! The run's network namespaces (the shared `corral-testbed` topology: a namespace per member,
//! one for the harness's clients, a bridge; partitions by poisoned neighbour entries), plus
//! what only the chaos suite needs: peer names that lead through the link proxies, and sweeping
//! up after a harness that was killed.
//!
//! Peer names: every member's zoo.cfg names its peers `m1`, `m2`, … and each namespace gets its
//! own hosts file (`/etc/netns/<ns>/hosts`, which `ip netns exec` mounts over /etc/hosts). In
//! member i's namespace `mi` is its own address and every other `mj` is `127.0.1.j`, where the
//! harness's link proxy for i→j listens (see proxy.rs). The proxy connects on from i's own
//! address, so a poisoned neighbour entry in i's namespace still cuts the link.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use anyhow::Context as _;
use corral_testbed::netns::{IP_TIMEOUT, delete_namespace, ip};
pub use corral_testbed::netns::{Topology, bounded, enter_namespace};

/// Every namespace of this harness starts with this.
pub const PREFIX: &str = "cchaos-";
/// Second octet of the run's addresses (`10.214.<pid % 200>.<id>`).
const OCTET: u8 = 214;

/// The namespaces, bridge and hosts files of one run. Dropping the topology deletes them.
pub fn create(members: usize) -> anyhow::Result<Topology> {
    let topology = Topology::create(&format!("{PREFIX}{}", std::process::id()), OCTET, members)
        .context("cannot create the run's network namespaces")?;
    for id in 1..=members {
        write_hosts(&topology, id)?;
    }
    Ok(topology)
}

/// Where the link proxy from any member to member `to` listens, inside the sender's namespace.
pub fn proxy_ip(to: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 1, to as u8)
}

/// The hosts file of member `id`'s namespace: itself by its address, every peer by its proxy.
fn write_hosts(topology: &Topology, id: usize) -> anyhow::Result<()> {
    let dir = Path::new("/etc/netns").join(topology.member_ns(id));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("create {} for the member's hosts file", dir.display()))?;
    let mut text = String::from("127.0.0.1 localhost\n");
    for peer in 1..=topology.members() {
        let addr = if peer == id {
            topology.member_ip(id)
        } else {
            proxy_ip(peer)
        };
        text.push_str(&format!("{addr} m{peer}\n"));
    }
    std::fs::write(dir.join("hosts"), text)
        .with_context(|| format!("write {}/hosts", dir.display()))
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
