//! Slow links without netem: a userspace TCP relay on every peer link.
//!
//! This kernel has no netem qdisc (nor a `tc` drop action), so delay and loss cannot be put on
//! the veth devices. Instead every member reaches each peer through a relay that the harness
//! runs inside that member's namespace (see netns.rs for the names that make members dial it):
//! member i's connection to `mj:2888` lands on `127.0.1.j:2888` in i's namespace, and the relay
//! connects on to j's real address from i's own address.
//!
//! A link's [`Shape`] adds a delay with jitter to every chunk in each direction, keeping order
//! (a chunk is never released before the one read before it), and severs connections at
//! random, closing both ends. A TCP stream cannot lose single packets, so severed connections
//! stand in for loss: the node sees the same thing a lossy link eventually gives it, a
//! connection that stalls and breaks. With the default shape the relay forwards at once.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::netns::{Topology, enter_namespace};

/// How a link misbehaves.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Shape {
    pub delay: Duration,
    pub jitter: Duration,
    /// Chance per second that a connection on the link is severed.
    pub sever_per_sec: f64,
}

/// The shapes of every link (from, to), shared with the relays.
#[derive(Default)]
pub struct Links {
    shapes: Mutex<HashMap<(usize, usize), Shape>>,
    /// Connections relayed so far: each seeds its own random stream from it.
    connections: AtomicU64,
}

impl Links {
    pub fn shape(&self, from: usize, to: usize) -> Shape {
        self.lock().get(&(from, to)).copied().unwrap_or_default()
    }

    pub fn set(&self, from: usize, to: usize, shape: Shape) {
        self.lock().insert((from, to), shape);
    }

    /// Every link forwards at once again.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(usize, usize), Shape>> {
        self.shapes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The relays of one member's namespace, on their own thread and runtime. Dropping it stops
/// them and closes their connections.
pub struct MemberRelays {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MemberRelays {
    /// Relay from member `from` to every other member of `topology`, listening on the
    /// addresses its hosts file names them by.
    pub fn start(
        topology: &Topology,
        from: usize,
        port: u16,
        links: Arc<Links>,
        seed: u64,
    ) -> anyhow::Result<MemberRelays> {
        let ns = topology.member_ns(from);
        let own_ip = topology.member_ip(from);
        let targets: Vec<(usize, SocketAddr)> = (1..=topology.members())
            .filter(|&to| to != from)
            .map(|to| (to, SocketAddr::from((topology.member_ip(to), port))))
            .collect();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("relay-m{from}"))
            .spawn(move || {
                let setup = (|| -> anyhow::Result<tokio::runtime::Runtime> {
                    enter_namespace(&ns)?;
                    Ok(tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?)
                })();
                let runtime = match setup {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    // Bumped when the relays stop, closing every relayed connection.
                    let (epoch, _) = watch::channel(0u64);
                    let mut tasks = Vec::new();
                    for (to, upstream) in targets {
                        let listen = SocketAddr::from((super::netns::proxy_ip(to), port));
                        let listener = match TcpListener::bind(listen).await {
                            Ok(l) => l,
                            Err(e) => {
                                let _ = ready_tx.send(Err(anyhow::anyhow!(
                                    "bind the link relay {listen} in member {from}'s namespace: {e}"
                                )));
                                return;
                            }
                        };
                        let link = Link {
                            from,
                            to,
                            own_ip,
                            upstream,
                            links: links.clone(),
                            epoch: epoch.clone(),
                            seed,
                        };
                        tasks.push(tokio::spawn(link.accept(listener)));
                    }
                    let _ = ready_tx.send(Ok(()));
                    let _ = stopped.await;
                    epoch.send_modify(|e| *e += 1);
                    for task in tasks {
                        task.abort();
                    }
                });
            })?;
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| anyhow::anyhow!("the link relays of member {from} did not start"))??;
        Ok(MemberRelays {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for MemberRelays {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One directed link's listener.
#[derive(Clone)]
struct Link {
    from: usize,
    to: usize,
    own_ip: Ipv4Addr,
    upstream: SocketAddr,
    links: Arc<Links>,
    epoch: watch::Sender<u64>,
    seed: u64,
}

impl Link {
    async fn accept(self, listener: TcpListener) {
        while let Ok((inbound, _)) = listener.accept().await {
            let link = self.clone();
            tokio::spawn(async move {
                // From the member's own address, so that a poisoned neighbour entry in its
                // namespace cuts this leg as it would a direct connection.
                let Ok(socket) = TcpSocket::new_v4() else {
                    return;
                };
                if socket.bind(SocketAddr::from((link.own_ip, 0))).is_err() {
                    return;
                }
                let connect =
                    tokio::time::timeout(Duration::from_secs(5), socket.connect(link.upstream));
                if let Ok(Ok(outbound)) = connect.await {
                    link.relay(inbound, outbound).await;
                }
            });
        }
    }

    async fn relay(&self, inbound: TcpStream, outbound: TcpStream) {
        let _ = inbound.set_nodelay(true);
        let _ = outbound.set_nodelay(true);
        let n = self.links.connections.fetch_add(1, Ordering::Relaxed);
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ n.rotate_left(17));
        let (in_read, in_write) = inbound.into_split();
        let (out_read, out_write) = outbound.into_split();
        let links = self.links.clone();
        let (from, to) = (self.from, self.to);
        let forward = pump(in_read, out_write, links.clone(), from, to, rng.random());
        let backward = pump(out_read, in_write, links.clone(), to, from, rng.random());
        let mut epoch = self.epoch.subscribe();
        let sever = async {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let p = links.shape(from, to).sever_per_sec / 4.0;
                if p > 0.0 && rng.random_bool(p.min(1.0)) {
                    return;
                }
            }
        };
        tokio::select! {
            _ = forward => {}
            _ = backward => {}
            _ = sever => {}
            _ = epoch.changed() => {}
        }
    }
}

/// Copy one direction, holding each chunk back by the link's current delay.
async fn pump(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    mut writer: tokio::net::tcp::OwnedWriteHalf,
    links: Arc<Links>,
    from: usize,
    to: usize,
    seed: u64,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let read = async move {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut last = Instant::now();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let shape = links.shape(from, to);
            let jitter = if shape.jitter.is_zero() {
                Duration::ZERO
            } else {
                shape.jitter.mul_f64(rng.random::<f64>())
            };
            let release = (Instant::now() + shape.delay + jitter).max(last);
            last = release;
            if tx.send((release, buf[..n].to_vec())).is_err() {
                return;
            }
        }
    };
    let write = async move {
        while let Some((release, chunk)) = rx.recv().await {
            tokio::time::sleep_until(release).await;
            if writer.write_all(&chunk).await.is_err() {
                return;
            }
        }
    };
    tokio::join!(read, write);
}
