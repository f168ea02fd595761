//! A client connection's outgoing queue, bounded in bytes so that a client that does not read
//! its replies cannot make the node hold them without limit.
//!
//! - Replies wait for room: the sequencer calls [`Outbox::room`] before queueing one, so at
//!   most `soft_bytes` (plus the one reply that crossed it) sit in the queue. While it waits it
//!   takes no more requests from the reader, whose bounded channel then fills, so the reader
//!   stops reading from the socket: backpressure all the way to the client's TCP window.
//! - Watch notifications cannot wait (they are queued while the shared state is locked), so
//!   they are always queued; if the queue then holds more than `hard_bytes`, the connection is
//!   closed with a log line naming the client.
//! - Closing is either after what is queued ([`Outbox::close_after_queued`], a final reply such
//!   as AUTHFAILED) or at once ([`Outbox::close_now`]: the session expired or moved, or the
//!   member lost its quorum; ZooKeeper drops its unsent output then too).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, mpsc, watch};

/// What the connection's writer task receives.
#[derive(Debug)]
pub enum Outgoing {
    /// A complete, framed message.
    Frame(Vec<u8>),
    /// Close the connection once everything queued before has been written.
    Close,
}

/// Byte bounds of one connection's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxLimits {
    /// Replies wait while more than this is queued.
    pub soft_bytes: usize,
    /// More than this queued closes the connection.
    pub hard_bytes: usize,
}

impl OutboxLimits {
    /// Replies wait beyond `soft_bytes`; only notifications can push the queue further, and
    /// four times that closes the connection.
    pub fn from_soft(soft_bytes: usize) -> Self {
        OutboxLimits {
            soft_bytes,
            hard_bytes: soft_bytes.saturating_mul(4),
        }
    }
}

/// The connection was closed; nothing more is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// What both sides share. The byte count changes with every frame, so it is a plain atomic
/// and only a waiting reply is woken (when the count falls back under the soft limit); the
/// closed flag changes once, so everyone may watch it.
#[derive(Debug)]
struct Shared {
    queued: AtomicUsize,
    room: Notify,
    closed: watch::Sender<bool>,
    limits: OutboxLimits,
}

impl Shared {
    fn close(&self) -> bool {
        self.closed
            .send_if_modified(|closed| !std::mem::replace(closed, true))
    }

    fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    async fn until_closed(&self) {
        let mut rx = self.closed.subscribe();
        let _ = rx.wait_for(|closed| *closed).await;
    }
}

/// The sending side; cheap to clone. Every clone feeds the same connection.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Outgoing>,
    shared: Arc<Shared>,
}

/// The writer task's side.
#[derive(Debug)]
pub struct OutboxReceiver {
    rx: mpsc::UnboundedReceiver<Outgoing>,
    shared: Arc<Shared>,
}

impl Outbox {
    pub fn new(limits: OutboxLimits) -> (Outbox, OutboxReceiver) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            room: Notify::new(),
            closed: watch::Sender::new(false),
            limits,
        });
        (
            Outbox {
                tx,
                shared: shared.clone(),
            },
            OutboxReceiver { rx, shared },
        )
    }

    /// Queue a frame. Past the hard limit the connection is closed instead (and logged).
    pub fn send_frame(&self, frame: Vec<u8>) -> Result<(), Closed> {
        if self.shared.is_closed() {
            return Err(Closed);
        }
        let queued = self.shared.queued.fetch_add(frame.len(), Ordering::AcqRel) + frame.len();
        let hard = self.shared.limits.hard_bytes;
        if queued > hard {
            if self.shared.close() {
                tracing::warn!(
                    queued_bytes = queued,
                    limit = hard,
                    "client is not reading what the server sends (its queue outgrew the limit); closing the connection"
                );
            }
            return Err(Closed);
        }
        self.tx.send(Outgoing::Frame(frame)).map_err(|_| Closed)
    }

    /// Close once everything queued so far has been written.
    pub fn close_after_queued(&self) {
        let _ = self.tx.send(Outgoing::Close);
    }

    /// Close now: what is still queued is dropped.
    pub fn close_now(&self) {
        self.shared.close();
    }

    pub fn is_closed(&self) -> bool {
        self.shared.is_closed() || self.tx.is_closed()
    }

    /// Wait until a reply may be queued (no more than the soft limit queued), or the
    /// connection closed.
    pub async fn room(&self) -> Result<(), Closed> {
        let soft = self.shared.limits.soft_bytes;
        loop {
            // Registered before the check, so a drain in between is not missed.
            let drained = self.shared.room.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if self.shared.is_closed() {
                return Err(Closed);
            }
            if self.shared.queued.load(Ordering::Acquire) <= soft {
                return Ok(());
            }
            tokio::select! {
                _ = drained => {}
                _ = self.shared.until_closed() => return Err(Closed),
            }
        }
    }

    /// Resolves once the connection is closed (by anyone, or because its writer stopped).
    pub async fn closed(&self) {
        self.shared.until_closed().await;
    }

    /// Whether both feed the same connection.
    pub fn same_channel(&self, other: &Outbox) -> bool {
        self.tx.same_channel(&other.tx)
    }

    pub fn queued_bytes(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }
}

impl OutboxReceiver {
    /// The next item, or `None` once the connection is closed (at once after
    /// [`Outbox::close_now`]) or every sender is gone.
    pub async fn recv(&mut self) -> Option<Outgoing> {
        if self.shared.is_closed() {
            return None;
        }
        tokio::select! {
            biased;
            _ = self.shared.until_closed() => None,
            item = self.rx.recv() => item,
        }
    }

    /// Resolves once [`Outbox::close_now`] is called: a writer blocked on a client that does
    /// not read gives up then.
    pub async fn closed_now(&self) {
        self.shared.until_closed().await;
    }

    /// `len` bytes of a frame left the queue (were written or dropped).
    pub fn written(&self, len: usize) {
        let before = self.shared.queued.fetch_sub(len, Ordering::AcqRel);
        let soft = self.shared.limits.soft_bytes;
        if before > soft && before - len <= soft {
            self.shared.room.notify_waiters();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// The writer is done: senders learn it, and waiting replies give up.
    pub fn mark_closed(&self) {
        self.shared.close();
    }
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        self.mark_closed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> OutboxLimits {
        OutboxLimits {
            soft_bytes: 10,
            hard_bytes: 40,
        }
    }

    #[tokio::test]
    async fn replies_wait_for_room_and_the_writer_makes_it() {
        let (outbox, mut rx) = Outbox::new(limits());
        outbox.send_frame(vec![0; 8]).unwrap();
        assert!(outbox.room().await.is_ok(), "8 of 10 bytes queued: room");
        outbox.send_frame(vec![0; 8]).unwrap();
        assert_eq!(outbox.queued_bytes(), 16);
        let waiting = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.room().await }
        });
        tokio::task::yield_now().await;
        assert!(
            !waiting.is_finished(),
            "16 > 10 bytes queued: the reply waits"
        );
        let Some(Outgoing::Frame(frame)) = rx.recv().await else {
            panic!("a frame")
        };
        rx.written(frame.len());
        assert_eq!(waiting.await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn past_the_hard_limit_the_connection_closes() {
        let (outbox, mut rx) = Outbox::new(limits());
        for _ in 0..4 {
            outbox.send_frame(vec![0; 10]).unwrap();
        }
        assert_eq!(outbox.send_frame(vec![0; 1]), Err(Closed));
        assert!(outbox.is_closed());
        assert_eq!(outbox.send_frame(vec![0; 1]), Err(Closed));
        // The writer stops at once, with frames still queued.
        assert!(rx.recv().await.is_none());
        assert_eq!(outbox.room().await, Err(Closed));
    }

    #[tokio::test]
    async fn close_after_queued_keeps_order_and_close_now_does_not() {
        let (outbox, mut rx) = Outbox::new(limits());
        outbox.send_frame(b"last reply".to_vec()).unwrap();
        outbox.close_after_queued();
        assert!(matches!(rx.recv().await, Some(Outgoing::Frame(f)) if f == b"last reply"));
        assert!(matches!(rx.recv().await, Some(Outgoing::Close)));

        let (outbox, mut rx) = Outbox::new(limits());
        outbox.send_frame(b"dropped".to_vec()).unwrap();
        let waiting = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.closed().await }
        });
        outbox.close_now();
        assert!(rx.recv().await.is_none());
        waiting.await.unwrap();
    }

    #[tokio::test]
    async fn a_gone_writer_closes_the_outbox() {
        let (outbox, rx) = Outbox::new(limits());
        drop(rx);
        assert!(outbox.is_closed());
        assert_eq!(outbox.send_frame(vec![1]), Err(Closed));
        assert_eq!(outbox.room().await, Err(Closed));
        outbox.closed().await;
    }
}
