//! [`PeerClient`]: one persistent, pipelined connection to one peer address.
//!
//! - Many calls can be in flight on the connection; replies are matched by request id.
//! - Frames leave in the order [`PeerClient::call`] was invoked: `call` queues its frame before
//!   it returns its future. A follower relies on this to forward one session's writes to the
//!   leader in order.
//! - A writer batches every frame queued at the moment into one socket write.
//! - The connection is made lazily, on the first call. After a failed connect, calls fail at
//!   once (with [`CallError::NotSent`]) until a capped, doubling backoff has passed.
//! - When the connection is lost, every call in flight fails: [`CallError::ConnectionLost`] if
//!   its frame had been written (the peer may have acted on it), [`CallError::NotSent`] if not.
//!   A frame whose call has already failed or timed out is never written later.
//! - A call that times out after its frame was written, with nothing at all received on the
//!   connection since, marks the connection as stalled and it is re-established. Without that,
//!   a connection through a healed network partition could sit in TCP's retransmission backoff
//!   for minutes.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::tls::{self, PeerReader, PeerWriter};
use super::wire::{
    self, EncodedFrame, MAX_FRAME_LEN, PREAMBLE, PeerRequest, PeerResponse, WireError,
};

#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// How long one connection attempt may take.
    pub connect_timeout: Duration,
    /// The wait after the first failed connect; it doubles with each further failure.
    pub min_backoff: Duration,
    /// The longest wait between connection attempts.
    pub max_backoff: Duration,
    /// The largest frame sent or accepted; must match the peers' [`super::ServerOptions`].
    pub max_frame_len: usize,
    /// A write gathers queued frames until it holds at least this many bytes.
    pub max_batch_bytes: usize,
    /// Mutual TLS (sslQuorum); plain TCP when `None`.
    pub tls: Option<crate::tls::QuorumTls>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(1),
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            max_frame_len: MAX_FRAME_LEN,
            max_batch_bytes: 256 * 1024,
            tls: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The request never left this member; retrying it is safe.
    #[error("request to peer {addr} was not sent: {reason}")]
    NotSent { addr: String, reason: String },
    /// The request was written but the connection ended before its reply; the peer may or may
    /// not have acted on it.
    #[error(
        "connection to peer {addr} was lost after the request was sent, so its outcome is unknown: {reason}"
    )]
    ConnectionLost { addr: String, reason: String },
    #[error("peer {addr} did not answer within {timeout:?} (the request {})",
        if *sent { "was sent, so its outcome is unknown" } else { "was not sent" })]
    Timeout {
        addr: String,
        timeout: Duration,
        sent: bool,
    },
    #[error("cannot send a request to peer {addr}: {source}")]
    Encode { addr: String, source: WireError },
}

impl CallError {
    /// True when the peer may have received (and acted on) the request.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            CallError::ConnectionLost { .. } | CallError::Timeout { sent: true, .. }
        )
    }

    /// True when the request was refused before sending because it did not fit a frame.
    pub fn is_too_large(&self) -> bool {
        matches!(
            self,
            CallError::Encode {
                source: WireError::FrameTooLarge { .. },
                ..
            }
        )
    }
}

type ReplySender = oneshot::Sender<Result<PeerResponse, CallError>>;

struct Pending {
    reply: ReplySender,
    /// Set when the frame is handed to the socket: the connection generation and how many
    /// frames had been received in total at that moment.
    sent: Option<(u64, u64)>,
}

/// What the connection task receives, in call order.
enum Queued {
    Frame {
        id: u64,
        frame: EncodedFrame,
    },
    /// A call sent on connection `generation` timed out; if no frame has arrived since it was
    /// sent (`received` is unchanged), the connection is stalled.
    Stalled {
        generation: u64,
        received: u64,
    },
}

/// State shared by the handles and the connection task.
struct Shared {
    addr: String,
    opts: ClientOptions,
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, Pending>>,
    /// Frames received on any connection of this client, ever.
    received: AtomicU64,
    /// Bumped for each new connection.
    generation: AtomicU64,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, HashMap<u64, Pending>> {
        // The map stays consistent even if a holder panicked: every operation is one insert or
        // remove.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fail every waiting call; `reason` says why.
    fn fail_all(&self, reason: &str) {
        let drained: Vec<Pending> = self.pending().drain().map(|(_, p)| p).collect();
        for p in drained {
            let err = if p.sent.is_some() {
                CallError::ConnectionLost {
                    addr: self.addr.clone(),
                    reason: reason.to_string(),
                }
            } else {
                CallError::NotSent {
                    addr: self.addr.clone(),
                    reason: reason.to_string(),
                }
            };
            let _ = p.reply.send(Err(err));
        }
    }
}

struct Handle {
    shared: Arc<Shared>,
    queue: mpsc::UnboundedSender<Queued>,
}

/// A cheap-to-clone handle on the connection to one peer address. The connection task ends
/// when the last clone is dropped.
#[derive(Clone)]
pub struct PeerClient {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for PeerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerClient")
            .field("addr", &self.handle.shared.addr)
            .finish()
    }
}

impl PeerClient {
    /// A client for `addr` ("host:port"). Must be called within a Tokio runtime; nothing
    /// connects until the first call.
    pub fn new(addr: impl Into<String>, opts: ClientOptions) -> Self {
        let shared = Arc::new(Shared {
            addr: addr.into(),
            opts,
            next_id: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            received: AtomicU64::new(0),
            generation: AtomicU64::new(0),
        });
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(drive(shared.clone(), rx));
        PeerClient {
            handle: Arc::new(Handle { shared, queue }),
        }
    }

    pub fn addr(&self) -> &str {
        &self.handle.shared.addr
    }

    pub fn max_frame_len(&self) -> usize {
        self.handle.shared.opts.max_frame_len
    }

    /// Send `req` and wait up to `timeout` for its reply. The request is queued before this
    /// returns, so requests leave in the order of `call`s (not of awaits).
    pub fn call(
        &self,
        req: &PeerRequest,
        timeout: Duration,
    ) -> impl Future<Output = Result<PeerResponse, CallError>> + Send + use<> {
        let queued = wire::encode(req, self.max_frame_len())
            .map_err(|source| CallError::Encode {
                addr: self.addr().to_string(),
                source,
            })
            .map(|frame| self.enqueue(frame));
        async move { queued?.wait(timeout).await }
    }

    /// As [`call`](Self::call), for a request already encoded with [`wire::encode`].
    pub fn call_encoded(
        &self,
        frame: EncodedFrame,
        timeout: Duration,
    ) -> impl Future<Output = Result<PeerResponse, CallError>> + Send + use<> {
        let queued = self.enqueue(frame);
        queued.wait(timeout)
    }

    fn enqueue(&self, mut frame: EncodedFrame) -> InFlight {
        let shared = &self.handle.shared;
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        frame.set_id(id);
        let (reply, rx) = oneshot::channel();
        shared.pending().insert(id, Pending { reply, sent: None });
        // The receiver lives as long as any handle, and this handle is alive.
        let _ = self.handle.queue.send(Queued::Frame { id, frame });
        InFlight {
            shared: shared.clone(),
            queue: self.handle.queue.clone(),
            id,
            rx: Some(rx),
        }
    }
}

/// One queued call. Dropping it (its caller gave up) forgets the call, so its frame is not
/// written if it has not been yet.
struct InFlight {
    shared: Arc<Shared>,
    queue: mpsc::UnboundedSender<Queued>,
    id: u64,
    rx: Option<oneshot::Receiver<Result<PeerResponse, CallError>>>,
}

impl InFlight {
    async fn wait(mut self, timeout: Duration) -> Result<PeerResponse, CallError> {
        let Some(rx) = self.rx.take() else {
            return Err(self.not_sent("the call was already awaited"));
        };
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(self.not_sent("the peer client shut down")),
            Err(_) => {
                let sent = self.shared.pending().remove(&self.id).and_then(|p| p.sent);
                if let Some((generation, received)) = sent {
                    let _ = self.queue.send(Queued::Stalled {
                        generation,
                        received,
                    });
                }
                Err(CallError::Timeout {
                    addr: self.shared.addr.clone(),
                    timeout,
                    sent: sent.is_some(),
                })
            }
        }
    }

    fn not_sent(&self, reason: &str) -> CallError {
        CallError::NotSent {
            addr: self.shared.addr.clone(),
            reason: reason.to_string(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.shared.pending().remove(&self.id);
    }
}

/// Capped exponential backoff between failed connection attempts.
#[derive(Debug)]
struct Backoff {
    next_wait: Duration,
    min: Duration,
    max: Duration,
    /// Until when calls fail fast, and why.
    blocked: Option<(Instant, String)>,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            next_wait: min,
            min,
            max,
            blocked: None,
        }
    }

    fn failed(&mut self, now: Instant, reason: String) -> Duration {
        let wait = self.next_wait;
        self.blocked = Some((now + wait, reason));
        self.next_wait = (self.next_wait * 2).min(self.max);
        wait
    }

    fn succeeded(&mut self) {
        self.next_wait = self.min;
        self.blocked = None;
    }

    /// Why calls must fail now, if they must.
    fn blocked_at(&self, now: Instant) -> Option<String> {
        match &self.blocked {
            Some((until, reason)) if now < *until => Some(format!(
                "{reason}; next connection attempt in {:?}",
                *until - now
            )),
            _ => None,
        }
    }
}

/// The connection task: connects when there is something to send, runs the connection until
/// it fails, fails what was in flight, and starts over. Ends when every handle is dropped.
async fn drive(shared: Arc<Shared>, mut queue: mpsc::UnboundedReceiver<Queued>) {
    let mut backoff = Backoff::new(shared.opts.min_backoff, shared.opts.max_backoff);
    loop {
        let first = match queue.recv().await {
            None => return,
            Some(Queued::Stalled { .. }) => continue,
            Some(Queued::Frame { id, frame }) => (id, frame),
        };
        if let Some(reason) = backoff.blocked_at(Instant::now()) {
            shared.fail_all(&reason);
            continue;
        }
        match connect(&shared).await {
            Err(reason) => {
                let wait = backoff.failed(Instant::now(), reason.clone());
                tracing::debug!(peer = %shared.addr, error = %reason, ?wait, "cannot connect to peer");
                shared.fail_all(&reason);
            }
            Ok(stream) => {
                backoff.succeeded();
                let generation = shared.generation.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::debug!(peer = %shared.addr, generation, "connected to peer");
                let reason = run_connection(&shared, stream, generation, first, &mut queue).await;
                tracing::debug!(peer = %shared.addr, generation, %reason, "peer connection ended");
                shared.fail_all(&reason);
            }
        }
    }
}

async fn connect(shared: &Shared) -> Result<(PeerReader, PeerWriter), String> {
    let attempt = async {
        let stream = TcpStream::connect(&shared.addr).await?;
        stream.set_nodelay(true)?;
        let (reader, mut writer) =
            tls::connect(stream, &shared.addr, shared.opts.tls.as_ref()).await?;
        writer.write_all(&PREAMBLE).await?;
        writer.flush().await?;
        Ok::<_, std::io::Error>((reader, writer))
    };
    match tokio::time::timeout(shared.opts.connect_timeout, attempt).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(format!("cannot connect to {}: {e}", shared.addr)),
        Err(_) => Err(format!(
            "cannot connect to {} within {:?}",
            shared.addr, shared.opts.connect_timeout
        )),
    }
}

/// Run one connection until it fails; returns why it ended.
async fn run_connection(
    shared: &Shared,
    (reader, writer): (PeerReader, PeerWriter),
    generation: u64,
    first: (u64, EncodedFrame),
    queue: &mut mpsc::UnboundedReceiver<Queued>,
) -> String {
    tokio::select! {
        reason = write_frames(shared, writer, generation, first, queue) => reason,
        reason = read_replies(shared, reader) => reason,
    }
}

async fn write_frames(
    shared: &Shared,
    mut writer: PeerWriter,
    generation: u64,
    first: (u64, EncodedFrame),
    queue: &mut mpsc::UnboundedReceiver<Queued>,
) -> String {
    let mut batch = Vec::new();
    let mut next = Some(Queued::Frame {
        id: first.0,
        frame: first.1,
    });
    loop {
        let item = match next.take() {
            Some(item) => item,
            None => match queue.recv().await {
                Some(item) => item,
                None => return "the peer client was dropped".into(),
            },
        };
        let mut item = Some(item);
        while let Some(current) = item.take() {
            match current {
                Queued::Frame { id, frame } => {
                    if mark_sent(shared, id, generation) {
                        batch.extend_from_slice(frame.as_bytes());
                    }
                }
                Queued::Stalled {
                    generation: g,
                    received,
                } => {
                    if g == generation && shared.received.load(Ordering::Relaxed) == received {
                        return "a request timed out with nothing received since it was sent; the connection looks stalled"
                            .into();
                    }
                }
            }
            if batch.len() < shared.opts.max_batch_bytes {
                item = queue.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            // TLS may hold encrypted bytes back until flushed.
            if let Err(e) = async {
                writer.write_all(&batch).await?;
                writer.flush().await
            }
            .await
            {
                return format!("write failed: {e}");
            }
            batch.clear();
        }
    }
}

/// Record that call `id`'s frame is being written; false if the call is gone (it failed or
/// was dropped), in which case the frame must not be sent.
fn mark_sent(shared: &Shared, id: u64, generation: u64) -> bool {
    let received = shared.received.load(Ordering::Relaxed);
    match shared.pending().get_mut(&id) {
        Some(p) => {
            p.sent = Some((generation, received));
            true
        }
        None => false,
    }
}

async fn read_replies(shared: &Shared, mut reader: PeerReader) -> String {
    loop {
        let body = match wire::read_frame(&mut reader, shared.opts.max_frame_len).await {
            Ok(Some(body)) => body,
            Ok(None) => return "the peer closed the connection".into(),
            Err(e) => return format!("cannot read from the peer: {e}"),
        };
        let (id, resp) = match wire::decode::<PeerResponse>(&body) {
            Ok(decoded) => decoded,
            Err(e) => {
                tracing::warn!(peer = %shared.addr, error = %e, "undecodable reply from peer; closing the connection");
                return format!("undecodable reply: {e}");
            }
        };
        shared.received.fetch_add(1, Ordering::Relaxed);
        let pending = shared.pending().remove(&id);
        if let Some(p) = pending {
            let _ = p.reply.send(Ok(resp));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let now = Instant::now();
        let mut b = Backoff::new(Duration::from_millis(50), Duration::from_millis(300));
        assert!(b.blocked_at(now).is_none());
        let waits: Vec<_> = (0..5)
            .map(|_| b.failed(now, "refused".into()).as_millis())
            .collect();
        assert_eq!(waits, vec![50, 100, 200, 300, 300]);
        let why = b.blocked_at(now).expect("blocked right after a failure");
        assert!(
            why.starts_with("refused; next connection attempt in"),
            "{why}"
        );
        assert!(b.blocked_at(now + Duration::from_millis(300)).is_none());
        b.succeeded();
        assert!(b.blocked_at(now).is_none());
        assert_eq!(b.failed(now, "x".into()), Duration::from_millis(50));
    }

    #[test]
    fn only_written_requests_have_an_unknown_outcome() {
        let lost = CallError::ConnectionLost {
            addr: "a".into(),
            reason: "r".into(),
        };
        let not_sent = CallError::NotSent {
            addr: "a".into(),
            reason: "r".into(),
        };
        let timeout = |sent| CallError::Timeout {
            addr: "a".into(),
            timeout: Duration::from_secs(1),
            sent,
        };
        assert!(lost.outcome_unknown());
        assert!(timeout(true).outcome_unknown());
        assert!(!timeout(false).outcome_unknown());
        assert!(!not_sent.outcome_unknown());
    }
}
