//! Health of the local region server: what a check is, how one is run, and when a run of
//! results changes the verdict.
//!
//! The verdict is a threshold state machine ([`HealthGate`]), as a Kubernetes probe is: the
//! server becomes healthy after `success_threshold` passes in a row and unhealthy after
//! `failure_threshold` failures in a row. It starts unhealthy, so nothing is registered before a
//! check has passed.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// `host:port`, with an IPv6 host in brackets (`[::1]:16020`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    pub fn parse(text: &str) -> Result<HostPort, TargetError> {
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| TargetError::MissingPort(text.to_string()))?;
        let host = match host.strip_prefix('[') {
            Some(rest) => rest
                .strip_suffix(']')
                .ok_or_else(|| TargetError::BadHost(text.to_string()))?,
            None if host.contains(':') => return Err(TargetError::BadHost(text.to_string())),
            None => host,
        };
        if host.is_empty() {
            return Err(TargetError::BadHost(text.to_string()));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| TargetError::BadPort(text.to_string()))?;
        Ok(HostPort {
            host: host.to_string(),
            port,
        })
    }

    /// How the host goes into a URL's authority or a `Host` header.
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.authority())
    }
}

/// A plain-HTTP URL for the HTTP check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub target: HostPort,
    /// Path and query, at least `/`.
    pub path: String,
}

impl HttpUrl {
    pub fn parse(text: &str) -> Result<HttpUrl, TargetError> {
        if text.starts_with("https://") {
            return Err(TargetError::Https(text.to_string()));
        }
        let rest = text
            .strip_prefix("http://")
            .ok_or_else(|| TargetError::NotHttp(text.to_string()))?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('?') => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            return Err(TargetError::BadHost(text.to_string()));
        }
        let has_port = match authority.rfind(':') {
            Some(i) => !authority[i..].contains(']'),
            None => false,
        };
        let target = if has_port {
            HostPort::parse(authority)?
        } else {
            HostPort::parse(&format!("{authority}:80"))?
        };
        Ok(HttpUrl { target, path })
    }
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.target, self.path)
    }
}

/// A health check target given on the command line that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("{0:?} has no port; write it as HOST:PORT")]
    MissingPort(String),
    #[error("{0:?} has no usable host; write it as HOST:PORT (IPv6 in brackets: [::1]:16020)")]
    BadHost(String),
    #[error("{0:?} has no valid port; the port must be a number from 1 to 65535")]
    BadPort(String),
    #[error(
        "{0:?}: https is not supported by the HTTP check; point it at a plain-HTTP port or use a TCP check"
    )]
    Https(String),
    #[error("{0:?} is not an http:// URL")]
    NotHttp(String),
}

/// What is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthTarget {
    /// Passes when a TCP connection opens.
    Tcp(HostPort),
    /// Passes when a GET answers with a 2xx status.
    Http(HttpUrl),
}

impl std::fmt::Display for HealthTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HealthTarget::Tcp(target) => write!(f, "tcp://{target}"),
            HealthTarget::Http(url) => write!(f, "{url}"),
        }
    }
}

/// How often and how patiently the target is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    pub target: HealthTarget,
    pub interval: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

/// A change of verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    BecameHealthy,
    BecameUnhealthy,
}

/// The threshold state machine, fed one check result at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthGate {
    success_threshold: u32,
    failure_threshold: u32,
    healthy: bool,
    /// Consecutive results that disagree with the current verdict.
    streak: u32,
}

impl HealthGate {
    /// Thresholds below 1 are treated as 1: a single result is the least that can decide.
    pub fn new(success_threshold: u32, failure_threshold: u32) -> HealthGate {
        HealthGate {
            success_threshold: success_threshold.max(1),
            failure_threshold: failure_threshold.max(1),
            healthy: false,
            streak: 0,
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy
    }

    /// Record one result; returns the transition it causes, if any.
    pub fn observe(&mut self, passed: bool) -> Option<Transition> {
        if passed == self.healthy {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if passed {
            self.success_threshold
        } else {
            self.failure_threshold
        };
        if self.streak < needed {
            return None;
        }
        self.healthy = passed;
        self.streak = 0;
        Some(if passed {
            Transition::BecameHealthy
        } else {
            Transition::BecameUnhealthy
        })
    }
}

/// The status code of an HTTP/1.x status line (`HTTP/1.1 200 OK`), if `head` starts with one.
pub fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line_end = head.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&head[..line_end]).ok()?;
    let mut parts = line.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

/// Run one check, bounded by `timeout`. `Err` says why it failed, for the log.
pub async fn probe(target: &HealthTarget, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, probe_unbounded(target)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

async fn probe_unbounded(target: &HealthTarget) -> Result<(), String> {
    match target {
        HealthTarget::Tcp(addr) => {
            TcpStream::connect((addr.host.as_str(), addr.port))
                .await
                .map_err(|e| format!("connect: {e}"))?;
            Ok(())
        }
        HealthTarget::Http(url) => {
            let status = http_get_status(url).await?;
            if (200..300).contains(&status) {
                Ok(())
            } else {
                Err(format!("HTTP status {status}"))
            }
        }
    }
}

/// GET `url` and return the status code. Only the status line is read.
async fn http_get_status(url: &HttpUrl) -> Result<u16, String> {
    let mut stream = TcpStream::connect((url.target.host.as_str(), url.target.port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: corral-sidecar-register\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.path,
        url.target.authority()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut head = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    // A status line longer than this is not an HTTP server we can talk to.
    while head.len() < 4096 {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
        if head.windows(2).any(|w| w == b"\r\n") {
            break;
        }
    }
    parse_status_line(&head).ok_or_else(|| "the answer is not an HTTP/1.x response".to_string())
}

/// What the checker loop reports after each check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckReport {
    pub passed: bool,
    pub transition: Option<Transition>,
}

/// Check `config.target` every `config.interval` forever, publishing the verdict on `verdict`
/// and every result to `on_result`. Ends when every receiver of `verdict` is gone.
pub async fn run_checks(
    config: HealthConfig,
    verdict: watch::Sender<bool>,
    mut on_result: impl FnMut(CheckReport) + Send,
) {
    let mut gate = HealthGate::new(config.success_threshold, config.failure_threshold);
    let mut ticks = tokio::time::interval(config.interval);
    // After a pause (a stopped process, a slow machine) one check is enough to catch up.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if verdict.is_closed() {
            return;
        }
        let result = probe(&config.target, config.timeout).await;
        let transition = gate.observe(result.is_ok());
        match (&result, transition) {
            (Ok(()), Some(_)) => {
                tracing::info!(target = %config.target, "health check passing: server is healthy");
            }
            (Err(reason), Some(_)) => {
                tracing::warn!(
                    target = %config.target,
                    reason = %reason,
                    failures = config.failure_threshold,
                    "health check failing: server is unhealthy"
                );
            }
            (Err(reason), None) => {
                tracing::debug!(target = %config.target, reason = %reason, "health check failed");
            }
            (Ok(()), None) => {}
        }
        on_result(CheckReport {
            passed: result.is_ok(),
            transition,
        });
        verdict.send_if_modified(|healthy| {
            let changed = *healthy != gate.is_healthy();
            *healthy = gate.is_healthy();
            changed
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_starts_unhealthy_and_needs_the_success_threshold() {
        let mut gate = HealthGate::new(2, 3);
        assert!(!gate.is_healthy());
        assert_eq!(gate.observe(true), None);
        assert_eq!(gate.observe(true), Some(Transition::BecameHealthy));
        assert!(gate.is_healthy());
    }

    #[test]
    fn a_failure_resets_the_success_streak() {
        let mut gate = HealthGate::new(2, 3);
        assert_eq!(gate.observe(true), None);
        assert_eq!(gate.observe(false), None);
        assert_eq!(gate.observe(true), None);
        assert_eq!(gate.observe(true), Some(Transition::BecameHealthy));
    }

    #[test]
    fn gate_turns_unhealthy_only_after_n_failures_in_a_row() {
        let mut gate = HealthGate::new(1, 3);
        assert_eq!(gate.observe(true), Some(Transition::BecameHealthy));
        assert_eq!(gate.observe(false), None);
        assert_eq!(gate.observe(false), None);
        assert_eq!(gate.observe(true), None, "a pass resets the failure streak");
        assert_eq!(gate.observe(false), None);
        assert_eq!(gate.observe(false), None);
        assert!(gate.is_healthy());
        assert_eq!(gate.observe(false), Some(Transition::BecameUnhealthy));
        assert!(!gate.is_healthy());
        assert_eq!(gate.observe(false), None, "no repeated transition");
    }

    #[test]
    fn gate_recovers_after_failing() {
        let mut gate = HealthGate::new(1, 1);
        assert_eq!(gate.observe(true), Some(Transition::BecameHealthy));
        assert_eq!(gate.observe(false), Some(Transition::BecameUnhealthy));
        assert_eq!(gate.observe(true), Some(Transition::BecameHealthy));
    }

    #[test]
    fn zero_thresholds_act_as_one() {
        let mut gate = HealthGate::new(0, 0);
        assert_eq!(gate.observe(true), Some(Transition::BecameHealthy));
        assert_eq!(gate.observe(false), Some(Transition::BecameUnhealthy));
    }

    #[test]
    fn host_port_parsing() {
        assert_eq!(
            HostPort::parse("127.0.0.1:16020"),
            Ok(HostPort {
                host: "127.0.0.1".into(),
                port: 16020
            })
        );
        assert_eq!(
            HostPort::parse("[::1]:80"),
            Ok(HostPort {
                host: "::1".into(),
                port: 80
            })
        );
        assert!(matches!(
            HostPort::parse("localhost"),
            Err(TargetError::MissingPort(_))
        ));
        assert!(matches!(
            HostPort::parse("::1:80"),
            Err(TargetError::BadHost(_))
        ));
        assert!(matches!(
            HostPort::parse(":80"),
            Err(TargetError::BadHost(_))
        ));
        assert!(matches!(
            HostPort::parse("h:0"),
            Err(TargetError::BadPort(_))
        ));
        assert!(matches!(
            HostPort::parse("h:99999"),
            Err(TargetError::BadPort(_))
        ));
        assert_eq!(HostPort::parse("[::1]:80").unwrap().to_string(), "[::1]:80");
    }

    #[test]
    fn url_parsing() {
        let url = HttpUrl::parse("http://localhost:16030/jmx?qry=x").unwrap();
        assert_eq!(url.target.host, "localhost");
        assert_eq!(url.target.port, 16030);
        assert_eq!(url.path, "/jmx?qry=x");
        let bare = HttpUrl::parse("http://example").unwrap();
        assert_eq!(bare.target.port, 80);
        assert_eq!(bare.path, "/");
        let query = HttpUrl::parse("http://h:1?x=1").unwrap();
        assert_eq!(query.path, "/?x=1");
        let v6 = HttpUrl::parse("http://[::1]/ready").unwrap();
        assert_eq!(v6.target.host, "::1");
        assert_eq!(v6.target.port, 80);
        assert_eq!(v6.to_string(), "http://[::1]:80/ready");
        assert!(matches!(
            HttpUrl::parse("https://h/"),
            Err(TargetError::Https(_))
        ));
        assert!(matches!(
            HttpUrl::parse("h:1/"),
            Err(TargetError::NotHttp(_))
        ));
        assert!(matches!(
            HttpUrl::parse("http://u:p@h/"),
            Err(TargetError::BadHost(_))
        ));
    }

    #[test]
    fn status_line_parsing() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            parse_status_line(b"HTTP/1.0 503 Busy\r\nX: y\r\n"),
            Some(503)
        );
        assert_eq!(parse_status_line(b"HTTP/1.1 204\r\n"), Some(204));
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK"), None, "incomplete");
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 2000 OK\r\n"), None);
    }

    #[tokio::test]
    async fn tcp_probe_passes_on_an_open_port_and_fails_on_a_closed_one() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = HealthTarget::Tcp(HostPort {
            host: "127.0.0.1".into(),
            port,
        });
        assert_eq!(probe(&target, Duration::from_secs(5)).await, Ok(()));
        drop(listener);
        assert!(probe(&target, Duration::from_secs(5)).await.is_err());
    }

    #[tokio::test]
    async fn http_probe_requires_a_2xx_status() {
        async fn serve_once(status: &'static str) -> HealthTarget {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let n = socket.read(&mut buf).await.unwrap();
                assert!(buf[..n].starts_with(b"GET /ready HTTP/1.1\r\n"));
                let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                socket.write_all(reply.as_bytes()).await.unwrap();
            });
            HealthTarget::Http(HttpUrl::parse(&format!("http://127.0.0.1:{port}/ready")).unwrap())
        }
        let ok = serve_once("200 OK").await;
        assert_eq!(probe(&ok, Duration::from_secs(5)).await, Ok(()));
        let busy = serve_once("503 Service Unavailable").await;
        assert_eq!(
            probe(&busy, Duration::from_secs(5)).await,
            Err("HTTP status 503".to_string())
        );
    }
}
