//! The session loop: hold one ZooKeeper session and keep the ephemeral znode in step with the
//! health verdict.
//!
//! The loop is a reconciler. Each turn compares what is wanted (the server is healthy and no
//! shutdown was asked for) with what this session holds at the path, takes at most a few steps
//! towards it, and then waits for anything that can change either side: the verdict, a watch on
//! the path, the session state, a retry timer or SIGTERM.
//!
//! Rules that keep it safe:
//! - Only a znode whose `ephemeralOwner` is this session is ever deleted or rewritten. A znode
//!   owned by another session (an earlier agent whose session has not timed out yet) is watched
//!   until it vanishes; then the agent registers.
//! - A failed step is retried with capped backoff; a lost connection is the client's to
//!   re-establish within the session. Only an ended session (expiry) leads to a new session, and
//!   nothing but SIGTERM ends the loop.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use zookeeper_client as zk;

use super::args::{AclPolicy, RegisterConfig};
use super::backoff::Backoff;
use super::http::{DeregisterReason, Metrics, Phase, ReasonLabels};

/// First delay after a failure; later ones double up to `--max-backoff-ms`.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Steps one reconciliation may take before it waits: enough for "create, find it taken,
/// inspect, find it gone, create again", small enough that a flapping path cannot spin.
const STEPS_PER_TURN: usize = 6;

/// Fires once when the watched znode changes or vanishes, or the session ends.
type WatchFuture = Pin<Box<dyn Future<Output = zk::WatchedEvent> + Send>>;

/// What this session knows about the znode at the registration path.
enum Holding {
    /// Not there (as far as this session last looked).
    Absent,
    /// Ours: created by this session. `watch` fires when it changes or vanishes.
    Ours { version: i32, watch: WatchFuture },
    /// Someone else's (`owner` 0 means a persistent znode). `watch` fires when it changes or
    /// vanishes.
    Theirs { owner: i64, watch: WatchFuture },
    /// Needs a look: a watch fired or a step was interrupted.
    Unknown,
}

impl Holding {
    fn watch(&mut self) -> Option<&mut WatchFuture> {
        match self {
            Holding::Ours { watch, .. } | Holding::Theirs { watch, .. } => Some(watch),
            Holding::Absent | Holding::Unknown => None,
        }
    }
}

/// Why a step did not complete.
enum StepError {
    /// The session is over; make a new one.
    SessionEnded(zk::Error),
    /// Try again after a backoff.
    Retry(zk::Error),
}

impl From<zk::Error> for StepError {
    fn from(error: zk::Error) -> StepError {
        match error {
            zk::Error::SessionExpired
            | zk::Error::SessionMoved
            | zk::Error::ClientClosed
            | zk::Error::AuthFailed => StepError::SessionEnded(error),
            other => StepError::Retry(other),
        }
    }
}

/// How a session's loop ended.
enum SessionEnd {
    Shutdown,
    Ended(String),
}

/// One ZooKeeper session and what it holds.
struct Session {
    client: zk::Client,
    states: zk::StateWatcher,
    parent_ready: bool,
    holding: Holding,
    retry_at: Option<Instant>,
    backoff: Backoff,
}

/// The registration agent's loop; see the module docs.
pub struct Agent {
    config: Arc<RegisterConfig>,
    metrics: Arc<Metrics>,
    phase: watch::Sender<Phase>,
    healthy: watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
    acls: Vec<zk::Acl>,
}

impl Agent {
    pub fn new(
        config: Arc<RegisterConfig>,
        metrics: Arc<Metrics>,
        phase: watch::Sender<Phase>,
        healthy: watch::Receiver<bool>,
        shutdown: watch::Receiver<bool>,
    ) -> Agent {
        let acls = match config.acl {
            AclPolicy::Open => zk::Acls::anyone_all().to_vec(),
            AclPolicy::Creator => vec![
                zk::Acl::new(zk::Permission::ALL, zk::AuthId::new("auth", "")),
                zk::Acl::new(zk::Permission::READ, zk::AuthId::anyone()),
            ],
        };
        Agent {
            config,
            metrics,
            phase,
            healthy,
            shutdown,
            acls,
        }
    }

    /// Run until SIGTERM has been handled: then the znode is deleted and the session closed.
    pub async fn run(mut self) {
        let mut backoff = Backoff::new(FIRST_BACKOFF, self.config.max_backoff);
        loop {
            self.set_phase(Phase::Connecting);
            let connected = tokio::select! {
                biased;
                _ = shutdown_requested(self.shutdown.clone()) => {
                    tracing::info!("shutting down before a session was established");
                    return;
                }
                result = self.connect() => result,
            };
            let client = match connected {
                Ok(client) => client,
                Err(error) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(
                        zk = %self.config.connect.raw,
                        error = %error,
                        retry_in_ms = delay.as_millis() as u64,
                        "cannot establish a ZooKeeper session; retrying"
                    );
                    if self.sleep_unless_shutdown(delay).await {
                        return;
                    }
                    continue;
                }
            };
            backoff.reset();
            self.metrics.sessions.inc();
            tracing::info!(
                session = %client.session_id(),
                timeout_ms = client.session_timeout().as_millis() as u64,
                "ZooKeeper session established"
            );
            match self.serve_session(client).await {
                SessionEnd::Shutdown => return,
                SessionEnd::Ended(why) => {
                    self.metrics.registered.set(0);
                    self.metrics.session_expirations.inc();
                    tracing::warn!(
                        reason = %why,
                        "ZooKeeper session ended; making a new session to register again"
                    );
                }
            }
        }
    }

    async fn connect(&self) -> Result<zk::Client, zk::Error> {
        let timeout = self.config.session_timeout;
        let mut connector = zk::Client::connector()
            .with_session_timeout(timeout)
            // Give up on a round of unreachable hosts at once: the agent's own backoff decides
            // when to try again, and logs each failure.
            .with_fail_eagerly();
        if let Some(credentials) = &self.config.digest_auth {
            connector = connector.with_auth("digest", credentials.as_bytes());
        }
        // The client bounds a connect by about the session timeout; this is a second bound.
        let bound = timeout * 2 + Duration::from_secs(1);
        match tokio::time::timeout(bound, connector.connect(&self.config.connect.raw)).await {
            Ok(result) => result,
            Err(_) => Err(zk::Error::Timeout),
        }
    }

    /// Returns true if a shutdown was asked for during the sleep.
    async fn sleep_unless_shutdown(&self, delay: Duration) -> bool {
        tokio::select! {
            biased;
            _ = shutdown_requested(self.shutdown.clone()) => true,
            _ = tokio::time::sleep(delay) => false,
        }
    }

    async fn serve_session(&mut self, client: zk::Client) -> SessionEnd {
        let mut session = Session {
            states: client.state_watcher(),
            client,
            parent_ready: false,
            holding: Holding::Absent,
            retry_at: None,
            backoff: Backoff::new(FIRST_BACKOFF, self.config.max_backoff),
        };
        loop {
            let state = session.states.peek_state();
            if state.is_terminated() {
                return SessionEnd::Ended(format!("session state {state}"));
            }
            if *self.shutdown.borrow() {
                self.shut_down(session).await;
                return SessionEnd::Shutdown;
            }
            let due = session.retry_at.is_none_or(|at| Instant::now() >= at);
            if due {
                session.retry_at = None;
                let want = *self.healthy.borrow();
                let step_bound = self.config.session_timeout;
                let outcome = tokio::select! {
                    biased;
                    _ = shutdown_requested(self.shutdown.clone()) => None,
                    outcome = tokio::time::timeout(step_bound, self.reconcile(&mut session, want)) => Some(outcome),
                };
                match outcome {
                    // Interrupted mid-step: whatever it did is looked at again by shut_down.
                    None => session.holding = Holding::Unknown,
                    Some(Ok(Ok(()))) => session.backoff.reset(),
                    Some(Ok(Err(StepError::SessionEnded(error)))) => {
                        return SessionEnd::Ended(error.to_string());
                    }
                    Some(Ok(Err(StepError::Retry(error)))) => {
                        self.schedule_retry(&mut session, &error.to_string());
                    }
                    Some(Err(_)) => {
                        session.holding = Holding::Unknown;
                        self.schedule_retry(&mut session, "no answer within the session timeout");
                    }
                }
            }
            self.publish(&session);

            let retry_at = session.retry_at;
            tokio::select! {
                _ = shutdown_requested(self.shutdown.clone()) => {}
                _ = changed(&mut self.healthy) => {}
                state = session.states.changed() => match state {
                    zk::SessionState::Disconnected => {
                        self.metrics.disconnects.inc();
                        tracing::warn!(
                            "lost the connection to the ensemble; the client reconnects within the \
                             session timeout"
                        );
                    }
                    zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly => {
                        tracing::info!(state = %state, "connected to the ensemble again");
                        // Whatever failed while disconnected can be retried now.
                        session.retry_at = None;
                    }
                    _ => {}
                },
                event = wait_for_watch(session.holding.watch()) => {
                    // A session event here is the end of the session, which the state watcher
                    // reports; a node event means the path changed and needs a look.
                    if event.event_type != zk::EventType::Session {
                        tracing::info!(
                            path = %self.config.path,
                            event = ?event.event_type,
                            "the registration path changed"
                        );
                    }
                    session.holding = Holding::Unknown;
                }
                _ = sleep_until(retry_at) => {}
            }
        }
    }

    fn schedule_retry(&self, session: &mut Session, error: &str) {
        let delay = session.backoff.next_delay();
        tracing::warn!(
            path = %self.config.path,
            error = %error,
            retry_in_ms = delay.as_millis() as u64,
            "registration step failed; retrying"
        );
        session.retry_at = Some(Instant::now() + delay);
    }

    /// Take steps until what the session holds matches `want`.
    async fn reconcile(&self, session: &mut Session, want: bool) -> Result<(), StepError> {
        for _ in 0..STEPS_PER_TURN {
            match (&session.holding, want) {
                (Holding::Unknown, _) => session.holding = self.inspect(&session.client).await?,
                (Holding::Ours { .. }, true)
                | (Holding::Absent, false)
                | (Holding::Theirs { .. }, true) => return Ok(()),
                (Holding::Theirs { .. }, false) => session.holding = Holding::Absent,
                (Holding::Ours { version, .. }, false) => {
                    let version = *version;
                    self.delete_ours(session, version, DeregisterReason::Unhealthy)
                        .await?;
                }
                (Holding::Absent, true) => self.create(session).await?,
            }
        }
        // Still not settled: the path keeps changing under us. Look again after a backoff.
        Err(StepError::Retry(zk::Error::UnexpectedError(
            "the registration path kept changing".into(),
        )))
    }

    /// Look at the path: whose znode is there, with a watch for its next change.
    async fn inspect(&self, client: &zk::Client) -> Result<Holding, StepError> {
        let path = &self.config.path;
        let (stat, watcher) = client.check_and_watch_stat(path).await?;
        let watch: WatchFuture = Box::pin(watcher.changed());
        let Some(stat) = stat else {
            return Ok(Holding::Absent);
        };
        if stat.ephemeral_owner != client.session_id().0 {
            return Ok(Holding::Theirs {
                owner: stat.ephemeral_owner,
                watch,
            });
        }
        // Ours. Our data is fixed for the agent's life, so different bytes were written by
        // someone else: put ours back, guarded by the version just read.
        let (data, stat) = client.get_data(path).await?;
        let version = if data == self.config.data {
            stat.version
        } else {
            tracing::warn!(path = %path, "the registration's data was changed by someone else; rewriting it");
            // The set fires the watch above; the next look re-arms it.
            client
                .set_data(path, &self.config.data, Some(stat.version))
                .await?
                .version
        };
        Ok(Holding::Ours { version, watch })
    }

    async fn create(&self, session: &mut Session) -> Result<(), StepError> {
        if !session.parent_ready {
            self.ensure_parent(&session.client).await?;
            session.parent_ready = true;
        }
        let options = zk::CreateMode::Ephemeral.with_acls(zk::Acls::new(&self.acls));
        let path = &self.config.path;
        match session
            .client
            .create(path, &self.config.data, &options)
            .await
        {
            Ok(_) => {
                self.metrics.registrations.inc();
                tracing::info!(
                    path = %path,
                    session = %session.client.session_id(),
                    "registered: created the ephemeral znode"
                );
                // Arms the watch that tells us if someone deletes or rewrites it.
                session.holding = Holding::Unknown;
                Ok(())
            }
            Err(zk::Error::NodeExists) => {
                let holding = self.inspect(&session.client).await?;
                match &holding {
                    Holding::Ours { .. } => {
                        tracing::info!(path = %path, "the znode already belongs to this session; keeping it");
                    }
                    Holding::Theirs { owner: 0, .. } => tracing::warn!(
                        path = %path,
                        "a persistent znode with this registration's name exists; it will not vanish \
                         on its own. Waiting for it to be deleted (delete it if it is stale)"
                    ),
                    Holding::Theirs { owner, .. } => tracing::info!(
                        path = %path,
                        owner = %format!("{owner:#x}"),
                        "the znode belongs to another session (an earlier registration whose session \
                         has not timed out); waiting for it to vanish"
                    ),
                    Holding::Absent | Holding::Unknown => {}
                }
                session.holding = holding;
                Ok(())
            }
            Err(zk::Error::NoNode) => {
                // The parent was deleted under us: make it again on the next step.
                session.parent_ready = false;
                Err(StepError::Retry(zk::Error::NoNode))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Create the chroot (if the connect string has one) and the parent, when missing. They are
    /// looked at first so that a parent whose ACL forbids us to create does not fail.
    async fn ensure_parent(&self, client: &zk::Client) -> Result<(), StepError> {
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&self.acls));
        if let Some(chroot) = &self.config.connect.chroot {
            let root = client
                .clone()
                .chroot("/")
                .unwrap_or_else(|_| unreachable!("/ is always a valid chroot"));
            if root.check_stat(chroot).await?.is_none() {
                root.mkdir(chroot, &options).await?;
                tracing::info!(chroot = %chroot, "created the chroot");
            }
        }
        let parent = &self.config.parent;
        if parent != "/" && client.check_stat(parent).await?.is_none() {
            client.mkdir(parent, &options).await?;
            tracing::info!(
                parent = %parent,
                absolute = %self.config.connect.absolute(parent),
                "created the parent"
            );
        }
        Ok(())
    }

    /// Delete our znode (version-guarded); afterwards this session holds nothing there.
    async fn delete_ours(
        &self,
        session: &mut Session,
        version: i32,
        reason: DeregisterReason,
    ) -> Result<(), StepError> {
        let path = &self.config.path;
        match session.client.delete(path, Some(version)).await {
            Ok(()) | Err(zk::Error::NoNode) => {
                session.holding = Holding::Absent;
                self.metrics
                    .deregistrations
                    .get_or_create(&ReasonLabels { reason })
                    .inc();
                tracing::info!(path = %path, reason = ?reason, "deregistered: deleted the znode");
                Ok(())
            }
            // Changed since we looked: look again before deleting anything.
            Err(zk::Error::BadVersion) => {
                session.holding = Holding::Unknown;
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// SIGTERM: delete the znode if this session holds it, then close the session, all within
    /// `--shutdown-timeout-ms`. Closing alone would also remove an ephemeral; deleting first
    /// makes the removal explicit even if the close cannot be confirmed.
    async fn shut_down(&self, mut session: Session) {
        self.set_phase(Phase::ShuttingDown);
        let deadline = Instant::now() + self.config.shutdown_timeout;
        tracing::info!(
            path = %self.config.path,
            timeout_ms = self.config.shutdown_timeout.as_millis() as u64,
            "shutting down: deregistering and closing the session"
        );
        let deregister = async {
            for _ in 0..STEPS_PER_TURN {
                match &session.holding {
                    Holding::Ours { version, .. } => {
                        let version = *version;
                        self.delete_ours(&mut session, version, DeregisterReason::Shutdown)
                            .await?;
                    }
                    Holding::Unknown => session.holding = self.inspect(&session.client).await?,
                    Holding::Absent | Holding::Theirs { .. } => return Ok(()),
                }
            }
            Ok::<(), StepError>(())
        };
        match tokio::time::timeout_at(deadline, deregister).await {
            Ok(Ok(())) => {}
            Ok(Err(StepError::SessionEnded(error) | StepError::Retry(error))) => {
                tracing::warn!(error = %error, "could not delete the znode; closing the session removes it")
            }
            Err(_) => tracing::warn!(
                "deleting the znode did not finish in time; closing the session removes it"
            ),
        }
        self.metrics.registered.set(0);

        // Dropping the last client handle sends closeSession; the state turns Closed when the
        // server has answered.
        let Session {
            client, mut states, ..
        } = session;
        let session_id = client.session_id();
        drop(client);
        let closed = async {
            loop {
                let state = states.state();
                if state.is_terminated() {
                    return state;
                }
                states.changed().await;
            }
        };
        match tokio::time::timeout_at(deadline, closed).await {
            Ok(state) => tracing::info!(session = %session_id, state = %state, "session closed"),
            Err(_) => tracing::warn!(
                session = %session_id,
                "the session close was not confirmed in time; the ensemble expires it after its timeout"
            ),
        }
    }

    fn publish(&self, session: &Session) {
        let phase = match &session.holding {
            Holding::Ours { .. } => Phase::Registered,
            Holding::Theirs { owner, .. } => Phase::WaitingForPreviousOwner { owner: *owner },
            Holding::Absent | Holding::Unknown if *self.healthy.borrow() => Phase::Registering,
            Holding::Absent | Holding::Unknown => Phase::WaitingForHealth,
        };
        self.set_phase(phase);
    }

    fn set_phase(&self, phase: Phase) {
        self.metrics
            .registered
            .set(i64::from(phase == Phase::Registered));
        self.metrics
            .waiting_for_previous_owner
            .set(i64::from(matches!(
                phase,
                Phase::WaitingForPreviousOwner { .. }
            )));
        let changed = self.phase.send_if_modified(|current| {
            if *current == phase {
                return false;
            }
            *current = phase.clone();
            true
        });
        if changed {
            tracing::info!(
                path = %self.config.path,
                state = %phase.describe(),
                "registration state changed"
            );
        }
    }
}

/// Resolves once a shutdown has been asked for (at once if it already was).
async fn shutdown_requested(mut shutdown: watch::Receiver<bool>) {
    if shutdown.wait_for(|&requested| requested).await.is_err() {
        // The signal handler is gone, so no shutdown can be asked for any more.
        std::future::pending::<()>().await;
    }
}

/// Resolves on the next change; never, once the sender is gone.
async fn changed<T>(receiver: &mut watch::Receiver<T>) {
    if receiver.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn wait_for_watch(watch: Option<&mut WatchFuture>) -> zk::WatchedEvent {
    match watch {
        Some(watch) => watch.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
