//! Network namespaces for the partition tests and the chaos suite.
//!
//! A [`Topology`] is private to one process and never touches the root namespace:
//!
//! - one namespace per member, `<prefix>-<id>`, with loopback up and one interface `eth0`
//!   holding `10.<octet>.<pid % 200>.<id>/24`;
//! - one for the clients, `<prefix>-c`, holding `.100`;
//! - one, `<prefix>-br`, with the bridge that joins the other ends of the veth pairs. Every
//!   veth pair is created directly between two of these namespaces, so the addresses are
//!   reachable only from inside them.
//!
//! A partition points each member's neighbour (ARP) entry for every member on the other side at
//! a MAC address no interface has: frames between the sides go nowhere, connections stall
//! without a reset, as behind a failed switch, while the client namespace still reaches every
//! member, so a test can see what a cut-off member answers. (Taking a veth down would cut the
//! clients off as well; this kernel has no `tc` drop action or netem qdisc, and the machine no
//! nftables or iptables.) Healing deletes those entries and ARP resolves the real ones.
//!
//! Every `ip` invocation is bounded in time. Dropping a topology deletes its namespaces (and
//! with them the veth pairs and the bridge) and their `/etc/netns/<ns>` folders.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Bound for one `ip` invocation.
pub const IP_TIMEOUT: Duration = Duration::from_secs(10);
/// Host part of the client namespace's address.
const CLIENT_HOST: u8 = 100;
/// A locally administered unicast MAC that no interface of the topology has (veth pairs get
/// random ones): frames sent to it are flooded by the bridge and dropped by every receiver.
const NOWHERE_MAC: &str = "02:00:00:00:c0:de";

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// The machine refuses network namespaces (not root, no CAP_SYS_ADMIN and CAP_NET_ADMIN,
    /// no iproute2): the one condition under which a caller may skip instead of failing.
    #[error("{0}")]
    Refused(String),
    #[error("ip {args} failed: {stderr}")]
    Ip { args: String, stderr: String },
    #[error("cannot run ip {args}: {source}")]
    Io {
        args: String,
        source: std::io::Error,
    },
}

/// The namespaces, veth pairs, bridge and addresses of one process.
pub struct Topology {
    prefix: String,
    octet: u8,
    subnet: u8,
    members: usize,
    /// Namespaces created so far, in creation order.
    created: Vec<String>,
    /// Poisoned neighbour entries: (member whose namespace holds the entry, member it cuts).
    cuts: Mutex<BTreeSet<(usize, usize)>>,
}

impl Topology {
    /// Create namespaces named `<prefix>-…` for members `1..=members` and the clients, wired
    /// through a bridge, on `10.<octet>.<pid % 200>.0/24`. A namespace of the same name is
    /// deleted first: it can only be left over from an earlier process with the same prefix.
    pub fn create(prefix: &str, octet: u8, members: usize) -> Result<Topology, NetnsError> {
        assert!((1..CLIENT_HOST as usize).contains(&members));
        let mut topology = Topology {
            prefix: prefix.to_string(),
            octet,
            subnet: (std::process::id() % 200) as u8,
            members,
            created: Vec::new(),
            cuts: Mutex::new(BTreeSet::new()),
        };
        let bridge_ns = topology.bridge_ns();
        let mut names = vec![bridge_ns.clone(), topology.client_ns()];
        names.extend((1..=members).map(|id| topology.member_ns(id)));
        for (position, name) in names.iter().enumerate() {
            if namespace_path(name).is_some() {
                let _ = ip(&["netns", "del", name]);
            }
            let output = ip(&["netns", "add", name]).map_err(|e| {
                NetnsError::Refused(format!("cannot run `ip` ({e}); install iproute2"))
            })?;
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
                if position == 0 && is_permission_error(&stderr) {
                    return Err(NetnsError::Refused(format!(
                        "`ip netns add {name}` was refused: {stderr} (network namespaces need \
                         root, or CAP_SYS_ADMIN and CAP_NET_ADMIN)"
                    )));
                }
                return Err(NetnsError::Ip {
                    args: format!("netns add {name}"),
                    stderr,
                });
            }
            topology.created.push(name.clone());
        }
        run(&["-n", &bridge_ns, "link", "add", "br0", "type", "bridge"])?;
        run(&["-n", &bridge_ns, "link", "set", "br0", "up"])?;
        run(&["-n", &bridge_ns, "link", "set", "lo", "up"])?;
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
        for (ns, bridge_port, addr) in hosts {
            // `eth0` in the host's namespace, its peer straight into the bridge's.
            run(&[
                "-n",
                &ns,
                "link",
                "add",
                "eth0",
                "type",
                "veth",
                "peer",
                "name",
                &bridge_port,
                "netns",
                &bridge_ns,
            ])?;
            run(&[
                "-n",
                &bridge_ns,
                "link",
                "set",
                &bridge_port,
                "master",
                "br0",
                "up",
            ])?;
            run(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth0",
            ])?;
            run(&["-n", &ns, "link", "set", "eth0", "up"])?;
            run(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(topology)
    }

    pub fn members(&self) -> usize {
        self.members
    }

    /// Namespace of member `id` (1-based, as in `server.N`).
    pub fn member_ns(&self, id: usize) -> String {
        format!("{}-{id}", self.prefix)
    }

    pub fn client_ns(&self) -> String {
        format!("{}-c", self.prefix)
    }

    fn bridge_ns(&self) -> String {
        format!("{}-br", self.prefix)
    }

    /// Address of member `id`, which exists only inside the topology's namespaces.
    pub fn member_ip(&self, id: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, self.octet, self.subnet, id as u8)
    }

    pub fn client_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.octet, self.subnet, CLIENT_HOST)
    }

    /// Cut every member of `side_a` off from every member of `side_b`, both ways. Clients still
    /// reach every member. A member on both sides is left connected to itself.
    pub fn cut(&self, side_a: &[usize], side_b: &[usize]) -> Result<(), NetnsError> {
        let mut cuts = self.lock_cuts();
        for &a in side_a {
            for &b in side_b.iter().filter(|&&b| b != a) {
                for (holder, dropped) in [(a, b), (b, a)] {
                    if cuts.insert((holder, dropped)) {
                        run(&[
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

    /// Cut member `id` off from every other member.
    pub fn isolate(&self, id: usize) -> Result<(), NetnsError> {
        let others: Vec<usize> = (1..=self.members).filter(|&m| m != id).collect();
        self.cut(&[id], &others)
    }

    /// Remove every cut.
    pub fn heal(&self) -> Result<(), NetnsError> {
        let mut cuts = self.lock_cuts();
        for (holder, dropped) in std::mem::take(&mut *cuts) {
            run(&[
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

    /// `ip netns exec NS program`: runs `program` inside namespace `ns`. `ip netns exec` execs
    /// in place, so the child's pid is the program's.
    pub fn command_in(&self, ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(ip_program());
        cmd.args(["netns", "exec", ns]).arg(program);
        cmd
    }

    fn lock_cuts(&self) -> MutexGuard<'_, BTreeSet<(usize, usize)>> {
        self.cuts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for name in self.created.iter().rev() {
            delete_namespace(name);
        }
    }
}

/// `ip netns del NAME` (a veth pair goes with either end), and its `/etc/netns/NAME` folder.
/// Failures are reported on stderr: this runs during cleanup.
pub fn delete_namespace(name: &str) {
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

/// Join network namespace `name` with the calling thread only: sockets this thread (and the
/// threads it starts afterwards) creates belong to that namespace.
pub fn enter_namespace(name: &str) -> std::io::Result<()> {
    let path = namespace_path(name).ok_or_else(|| {
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

/// The bind-mounted namespace file `ip netns add` made for `name`, if it exists.
pub fn namespace_path(name: &str) -> Option<PathBuf> {
    ["/run/netns", "/var/run/netns"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.exists())
}

fn is_permission_error(stderr: &str) -> bool {
    stderr.contains("Operation not permitted") || stderr.contains("Permission denied")
}

/// The `ip` binary: sbin is not on every user's PATH.
fn ip_program() -> PathBuf {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from("ip"))
}

/// `ip ARGS`, killed if it takes longer than [`IP_TIMEOUT`].
pub fn ip(args: &[&str]) -> std::io::Result<Output> {
    bounded(Command::new(ip_program()).args(args), IP_TIMEOUT)
}

/// `ip ARGS`, which must succeed.
fn run(args: &[&str]) -> Result<(), NetnsError> {
    let output = ip(args).map_err(|source| NetnsError::Io {
        args: args.join(" "),
        source,
    })?;
    if !output.status.success() {
        return Err(NetnsError::Ip {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_errors_are_recognised() {
        assert!(is_permission_error(
            "mount --make-shared /run/netns failed: Operation not permitted"
        ));
        assert!(!is_permission_error("File exists"));
    }

    #[test]
    fn a_hung_command_is_killed_within_its_bound() {
        let err = bounded(Command::new("sleep").arg("30"), Duration::from_millis(200)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }

    #[test]
    fn a_command_s_output_is_returned() {
        let out = bounded(Command::new("echo").arg("hi"), Duration::from_secs(10)).unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"hi\n");
    }
}
