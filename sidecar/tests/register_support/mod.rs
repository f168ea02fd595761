//! Helpers for the black-box tests of `corral-sidecar register`: the agent as a child process,
//! stand-in region servers (a TCP listener and a scripted HTTP server) that a test starts and
//! stops, and small HTTP and ZooKeeper look-ups.

#![allow(dead_code)] // Not every test uses every helper.

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use zookeeper_client as zk;

use crate::common::{free_port, http_get, log_tail};

/// The agent process under test.
pub struct Agent {
    label: String,
    child: Option<Child>,
    log_path: PathBuf,
    http_port: u16,
    pub spawned_at: Instant,
}

impl Agent {
    /// Spawn `corral-sidecar register` with `args`, plus an HTTP port of its own on loopback.
    pub fn spawn(label: &str, args: &[String]) -> Agent {
        let log_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("corral-itests");
        std::fs::create_dir_all(&log_dir).expect("create the test log dir");
        let http_port = free_port();
        let log_path = log_dir.join(format!("register-{label}-{http_port}.log"));
        let log = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&log_path)
            .expect("open the agent log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_corral-sidecar"));
        command
            .arg("register")
            .args(args)
            .args(["--http-port", &http_port.to_string()])
            .args(["--http-address", "127.0.0.1"]);
        // Settings come from the flags above only, never from the caller's environment.
        crate::common::isolate_from_caller_env(&mut command);
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("clone the log handle")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn the agent");
        Agent {
            label: label.to_string(),
            child: Some(child),
            log_path,
            http_port,
            spawned_at: Instant::now(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the agent runs").id()
    }

    /// Send a signal by name (`TERM`, `STOP`, `CONT`) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -s {name} failed");
    }

    /// SIGKILL, so no shutdown path runs, and reap the process.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Wait up to `limit` for the process to exit; returns its status.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            let child = self.child.as_mut().expect("the agent runs");
            if let Some(status) = child.try_wait().expect("poll the agent") {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the agent did not exit within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Whether the process still runs (reaping it if it has exited).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => child.try_wait().expect("poll the agent").is_none(),
            None => false,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// `GET /healthz`: status and body, or `None` while the server is not up.
    pub async fn healthz(&self) -> Option<(u16, String)> {
        http_get(self.http_port, "/healthz").await
    }

    /// `GET /metrics` body, or `None` while the server is not up.
    pub async fn metrics(&self) -> Option<String> {
        http_get(self.http_port, "/metrics")
            .await
            .map(|(_, body)| body)
    }

    /// The value of an un-labelled or labelled sample line, e.g. `corral_register_registered`.
    pub async fn metric(&self, sample: &str) -> Option<f64> {
        let text = self.metrics().await?;
        text.lines().find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == sample).then(|| value.parse().ok())?
        })
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            // A stopped process must be continued for SIGKILL to reap it promptly everywhere.
            let _ = Command::new("kill")
                .args(["-s", "CONT", &child.id().to_string()])
                .status();
        }
        self.kill9();
        if std::thread::panicking() {
            eprintln!(
                "--- agent {} log {} (last lines) ---\n{}",
                self.label,
                self.log_path.display(),
                log_tail(&self.log_path, 60)
            );
        }
    }
}

/// A stand-in region server's RPC port: accepts and drops connections while started.
pub struct TcpStandIn {
    port: u16,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TcpStandIn {
    /// A port that is closed until [`TcpStandIn::start`].
    pub fn stopped() -> TcpStandIn {
        TcpStandIn {
            port: free_port(),
            task: None,
        }
    }

    pub async fn started() -> TcpStandIn {
        let mut stand_in = TcpStandIn::stopped();
        stand_in.start().await;
        stand_in
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Listen on the port (again).
    pub async fn start(&mut self) {
        assert!(self.task.is_none(), "already started");
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind the stand-in port");
        self.task = Some(tokio::spawn(async move {
            loop {
                if let Ok((socket, _)) = listener.accept().await {
                    drop(socket);
                }
            }
        }));
    }

    /// Close the port; returns once the listener is gone, so connects are refused.
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for TcpStandIn {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// How the HTTP stand-in answers.
enum Script {
    /// Every request gets this status at once.
    Always(u16),
    /// Each request takes the next status; with none queued it waits for one.
    Queue(VecDeque<u16>),
}

/// A stand-in region server's status page whose answers the test scripts.
pub struct HttpStandIn {
    port: u16,
    script: Arc<Mutex<Script>>,
    changed: Arc<Notify>,
    /// Requests that arrived (answered or waiting).
    arrived: watch::Receiver<u64>,
    /// Statuses sent so far, in order.
    answered: watch::Receiver<Vec<u16>>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpStandIn {
    pub async fn start(initial: u16) -> HttpStandIn {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the HTTP stand-in");
        let port = listener.local_addr().unwrap().port();
        let script = Arc::new(Mutex::new(Script::Always(initial)));
        let changed = Arc::new(Notify::new());
        let (arrived_tx, arrived) = watch::channel(0u64);
        let (answered_tx, answered) = watch::channel(Vec::new());
        let task = tokio::spawn(serve_script(
            listener,
            script.clone(),
            changed.clone(),
            arrived_tx,
            answered_tx,
        ));
        HttpStandIn {
            port,
            script,
            changed,
            arrived,
            answered,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/status", self.port)
    }

    /// Answer every request with `status`.
    pub fn always(&self, status: u16) {
        *self.script.lock().unwrap() = Script::Always(status);
        self.changed.notify_waiters();
    }

    /// Answer the next requests with `statuses`, then hold further requests until more are
    /// queued with [`HttpStandIn::push`].
    pub fn script(&self, statuses: &[u16]) {
        *self.script.lock().unwrap() = Script::Queue(statuses.iter().copied().collect());
        self.changed.notify_waiters();
    }

    pub fn push(&self, status: u16) {
        if let Script::Queue(queue) = &mut *self.script.lock().unwrap() {
            queue.push_back(status);
        }
        self.changed.notify_waiters();
    }

    pub fn answered(&self) -> Vec<u16> {
        self.answered.borrow().clone()
    }

    pub fn arrived(&self) -> u64 {
        *self.arrived.borrow()
    }
}

impl Drop for HttpStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_script(
    listener: TcpListener,
    script: Arc<Mutex<Script>>,
    changed: Arc<Notify>,
    arrived: watch::Sender<u64>,
    answered: watch::Sender<Vec<u16>>,
) {
    // One request at a time, in arrival order: the agent checks sequentially.
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            continue;
        };
        let mut buf = [0u8; 2048];
        let mut request = Vec::new();
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        arrived.send_modify(|n| *n += 1);
        let status = loop {
            // Registered before the script is read, so a push in between is not missed.
            let notified = changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = match &mut *script.lock().unwrap() {
                Script::Always(status) => Some(*status),
                Script::Queue(queue) => queue.pop_front(),
            };
            match next {
                Some(status) => break status,
                None => notified.await,
            }
        };
        let reply =
            format!("HTTP/1.1 {status} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let _ = socket.write_all(reply.as_bytes()).await;
        answered.send_modify(|list| list.push(status));
    }
}

/// The `ephemeralOwner` of `path`, or `None` when it does not exist.
pub async fn owner_of(client: &zk::Client, path: &str) -> Option<i64> {
    crate::common::within(&format!("stat {path}"), client.check_stat(path))
        .await
        .expect("stat")
        .map(|stat| stat.ephemeral_owner)
}

/// The start of a test's connect string: the node's address.
pub fn zk_with_chroot(node_addr: SocketAddr, chroot: &str) -> String {
    format!("{node_addr}{chroot}")
}
