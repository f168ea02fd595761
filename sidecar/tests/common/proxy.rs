//! A loopback TCP proxy between a client and the node, so a test can cut a client's connection
//! (the client then reconnects and resumes its session) or silence it (the node then sees no
//! pings and expires the session) without touching either process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    addr: SocketAddr,
    /// While set, bytes in both directions are read and dropped, and new connections are
    /// accepted but never connected upstream.
    blackhole: Arc<AtomicBool>,
    /// Bumped to close every open connection; dropping the sender ends every task.
    epoch: watch::Sender<u64>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let blackhole = Arc::new(AtomicBool::new(false));
        let (epoch, _) = watch::channel(0u64);
        let accept_task = tokio::spawn(accept_loop(
            listener,
            upstream,
            blackhole.clone(),
            epoch.clone(),
        ));
        Proxy {
            addr,
            blackhole,
            epoch,
            accept_task,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn connect_string(&self) -> String {
        self.addr.to_string()
    }

    /// Close every connection going through the proxy now (both sides see the close).
    pub fn sever(&self) {
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Stop delivering bytes: both peers see a silent but open connection.
    pub fn blackhole(&self) {
        self.blackhole.store(true, Ordering::SeqCst);
    }

    /// Deliver bytes again; black-holed connections are closed so the client reconnects at
    /// once instead of waiting for its own read timeout.
    pub fn restore(&self) {
        self.blackhole.store(false, Ordering::SeqCst);
        self.sever();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept_task.abort();
        self.sever();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    blackhole: Arc<AtomicBool>,
    epoch: watch::Sender<u64>,
) {
    while let Ok((client, _)) = listener.accept().await {
        let _ = client.set_nodelay(true);
        let epoch_rx = epoch.subscribe();
        let blackhole = blackhole.clone();
        tokio::spawn(async move {
            if blackhole.load(Ordering::SeqCst) {
                swallow(client, epoch_rx).await;
            } else if let Ok(server) = TcpStream::connect(upstream).await {
                let _ = server.set_nodelay(true);
                relay(client, server, blackhole, epoch_rx).await;
            }
        });
    }
}

/// Read and drop what the client sends until the connection is severed.
async fn swallow(mut client: TcpStream, mut epoch: watch::Receiver<u64>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            r = client.read(&mut buf) => if matches!(r, Ok(0) | Err(_)) { return },
            _ = epoch.changed() => return,
        }
    }
}

async fn relay(
    mut client: TcpStream,
    mut server: TcpStream,
    blackhole: Arc<AtomicBool>,
    mut epoch: watch::Receiver<u64>,
) {
    let mut from_client = vec![0u8; 64 * 1024];
    let mut from_server = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            r = client.read(&mut from_client) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if !blackhole.load(Ordering::SeqCst) && server.write_all(&from_client[..n]).await.is_err() {
                        return;
                    }
                }
            },
            r = server.read(&mut from_server) => match r {
                Ok(0) | Err(_) => {
                    // While black-holed the client must not learn that the server hung up.
                    if blackhole.load(Ordering::SeqCst) {
                        swallow(client, epoch).await;
                    }
                    return;
                }
                Ok(n) => {
                    if !blackhole.load(Ordering::SeqCst) && client.write_all(&from_server[..n]).await.is_err() {
                        return;
                    }
                }
            },
            _ = epoch.changed() => return,
        }
    }
}
