//! The agent's small HTTP server: `/healthz` (ready once registered), `/livez` (the process
//! runs) and `/metrics` (Prometheus, OpenMetrics text).
//!
//! `/healthz` follows the registration, not the region server's health, so that a pod's
//! readiness can be tied to "this server is registered" when the user wants that; `/livez`
//! always answers 200, so a liveness probe on it never restarts a healthy agent that is merely
//! waiting.

use std::io;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Where the agent stands; `/healthz` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// No ZooKeeper session yet (or a new one is being made).
    Connecting,
    /// Session up; the region server has not passed its health check (or failed it).
    WaitingForHealth,
    /// The region server is healthy; the znode is being created (or retried after an error).
    Registering,
    /// The znode exists and belongs to another session; waiting for it to vanish.
    WaitingForPreviousOwner { owner: i64 },
    /// The znode exists and belongs to this agent's session.
    Registered,
    /// SIGTERM received; deregistering.
    ShuttingDown,
}

impl Phase {
    pub fn describe(&self) -> String {
        match self {
            Phase::Connecting => "connecting to ZooKeeper".into(),
            Phase::WaitingForHealth => {
                "waiting for the region server to pass its health check".into()
            }
            Phase::Registering => "healthy; creating the znode".into(),
            Phase::WaitingForPreviousOwner { owner: 0 } => {
                "waiting for a persistent znode with this name to be deleted".into()
            }
            Phase::WaitingForPreviousOwner { owner } => format!(
                "waiting for the znode held by session {owner:#x} (an earlier registration) to vanish"
            ),
            Phase::Registered => "registered".into(),
            Phase::ShuttingDown => "shutting down".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum CheckResult {
    Pass,
    Fail,
}

impl EncodeLabelValue for CheckResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        let value = match self {
            CheckResult::Pass => "pass",
            CheckResult::Fail => "fail",
        };
        EncodeLabelValue::encode(&value, encoder)
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckLabels {
    pub result: CheckResult,
}

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum DeregisterReason {
    /// The health check failed `failure_threshold` times in a row.
    Unhealthy,
    /// SIGTERM.
    Shutdown,
    /// Someone else deleted the znode.
    DeletedExternally,
}

impl EncodeLabelValue for DeregisterReason {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        let value = match self {
            DeregisterReason::Unhealthy => "unhealthy",
            DeregisterReason::Shutdown => "shutdown",
            DeregisterReason::DeletedExternally => "deleted_externally",
        };
        EncodeLabelValue::encode(&value, encoder)
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: DeregisterReason,
}

/// The agent's metrics, all under the `corral_register_` prefix.
#[derive(Debug, Default)]
pub struct Metrics {
    pub registered: Gauge,
    pub healthy: Gauge,
    pub waiting_for_previous_owner: Gauge,
    pub health_checks: Family<CheckLabels, Counter>,
    pub registrations: Counter,
    pub deregistrations: Family<ReasonLabels, Counter>,
    pub sessions: Counter,
    pub session_expirations: Counter,
    pub disconnects: Counter,
}

impl Metrics {
    pub fn registry(self: &Arc<Self>) -> Registry {
        let mut registry = Registry::with_prefix("corral_register");
        registry.register(
            "registered",
            "1 while this agent's znode exists in its session",
            self.registered.clone(),
        );
        registry.register(
            "healthy",
            "1 while the region server passes its health check",
            self.healthy.clone(),
        );
        registry.register(
            "waiting_for_previous_owner",
            "1 while the znode is held by another session and the agent waits for it to vanish",
            self.waiting_for_previous_owner.clone(),
        );
        registry.register(
            "health_checks",
            "Health checks run, by result",
            self.health_checks.clone(),
        );
        registry.register(
            "registrations",
            "Times the znode was created",
            self.registrations.clone(),
        );
        registry.register(
            "deregistrations",
            "Times the registration ended while the session lived, by reason",
            self.deregistrations.clone(),
        );
        registry.register(
            "sessions",
            "ZooKeeper sessions established",
            self.sessions.clone(),
        );
        registry.register(
            "session_expirations",
            "ZooKeeper sessions that expired or ended under the agent",
            self.session_expirations.clone(),
        );
        registry.register(
            "disconnects",
            "Connections to the ensemble lost while the session lived",
            self.disconnects.clone(),
        );
        registry
    }
}

#[derive(Clone)]
struct HttpState {
    phase: watch::Receiver<Phase>,
    registry: Arc<Registry>,
}

/// The routes, ready to serve.
pub fn router(phase: watch::Receiver<Phase>, metrics: &Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/livez", get(|| async { "alive\n" }))
        .route("/metrics", get(metrics_text))
        .with_state(HttpState {
            phase,
            registry: Arc::new(metrics.registry()),
        })
}

/// Serve until the process ends.
pub async fn serve(listener: TcpListener, router: Router) -> io::Result<()> {
    axum::serve(listener, router).await
}

async fn healthz(State(state): State<HttpState>) -> Response {
    let phase = state.phase.borrow().clone();
    let status = if phase == Phase::Registered {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, format!("{}\n", phase.describe())).into_response()
}

async fn metrics_text(State(state): State<HttpState>) -> Response {
    let mut body = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        tracing::error!(error = %e, "encoding metrics failed");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get_text(router: Router, path: &str) -> (StatusCode, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, router));
        let url = super::super::health::HttpUrl::parse(&format!("http://{addr}{path}")).unwrap();
        let response = raw_get(&url).await;
        server.abort();
        response
    }

    async fn raw_get(url: &super::super::health::HttpUrl) -> (StatusCode, String) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stream =
            tokio::net::TcpStream::connect((url.target.host.as_str(), url.target.port))
                .await
                .unwrap();
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            url.path
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await.unwrap();
        let code = super::super::health::parse_status_line(&reply).unwrap();
        let text = String::from_utf8_lossy(&reply).into_owned();
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (StatusCode::from_u16(code).unwrap(), body)
    }

    #[tokio::test]
    async fn healthz_follows_the_phase() {
        let metrics = Arc::new(Metrics::default());
        let (phase, receiver) = watch::channel(Phase::WaitingForHealth);
        let (status, body) = get_text(router(receiver.clone(), &metrics), "/healthz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("health check"), "{body}");
        phase.send_replace(Phase::Registered);
        let (status, _) = get_text(router(receiver.clone(), &metrics), "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = get_text(router(receiver, &metrics), "/livez").await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn metrics_are_exposed_with_the_prefix() {
        let metrics = Arc::new(Metrics::default());
        metrics.registered.set(1);
        metrics
            .health_checks
            .get_or_create(&CheckLabels {
                result: CheckResult::Fail,
            })
            .inc();
        metrics
            .deregistrations
            .get_or_create(&ReasonLabels {
                reason: DeregisterReason::Unhealthy,
            })
            .inc();
        let (_phase, receiver) = watch::channel(Phase::Connecting);
        let (status, body) = get_text(router(receiver, &metrics), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("corral_register_registered 1"), "{body}");
        assert!(
            body.contains("corral_register_health_checks_total{result=\"fail\"} 1"),
            "{body}"
        );
        assert!(
            body.contains("corral_register_deregistrations_total{reason=\"unhealthy\"} 1"),
            "{body}"
        );
        assert!(body.ends_with("# EOF\n"), "{body}");
    }
}
