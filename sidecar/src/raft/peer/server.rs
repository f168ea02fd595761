//! The listening side: accept peer connections and hand their requests to a [`PeerHandler`].
//!
//! Per connection, requests are read and *begun* strictly in arrival order (the handler's
//! order-sensitive step, such as proposing a forwarded write, runs before the next request is
//! read); the rest of each request runs concurrently and its reply is written as soon as it is
//! ready, matched to the request by id. Snapshot chunks are reassembled here, so the handler
//! only ever sees whole snapshots.
//!
//! Bad input (a wrong preamble, a frame over the limit, an undecodable frame) closes that
//! connection only, and is logged with the peer's address.

use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::snapshot::Assembly;
use super::tls::{self, PeerReader, PeerWriter};
use super::wire::{self, MAX_FRAME_LEN, PREAMBLE, PeerRequest, PeerResponse};

/// The part of a request that finishes after it was begun; it yields the reply.
pub type Reply = BoxFuture<'static, PeerResponse>;

/// Handles the requests of peer connections.
pub trait PeerHandler: Send + Sync + 'static {
    /// Called sequentially per connection, in arrival order; the next request of the same
    /// connection is not read until the returned future resolves. Do the order-sensitive part
    /// there (e.g. enqueue a proposal) and return a [`Reply`] that finishes the request: the
    /// replies of one connection run concurrently and go back as they complete.
    fn begin(&self, req: PeerRequest) -> BoxFuture<'_, Reply>;
}

#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The largest frame accepted or sent; must match the peers' [`super::ClientOptions`].
    pub max_frame_len: usize,
    /// How long a new connection may take to finish its TLS handshake and send the preamble.
    pub preamble_timeout: Duration,
    /// A write gathers ready replies until it holds at least this many bytes.
    pub max_batch_bytes: usize,
    /// Mutual TLS (sslQuorum): peers without a trusted certificate are refused.
    pub tls: Option<crate::tls::QuorumTls>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_frame_len: MAX_FRAME_LEN,
            preamble_timeout: Duration::from_secs(5),
            max_batch_bytes: 256 * 1024,
            tls: None,
        }
    }
}

/// Accept peer connections on `listener` until this future is dropped; dropping it (e.g.
/// aborting its task) also closes every connection it accepted.
pub async fn serve(listener: TcpListener, handler: Arc<dyn PeerHandler>, opts: ServerOptions) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        match listener.accept().await {
            Ok((stream, peer)) => {
                connections.spawn(serve_connection(
                    stream,
                    peer,
                    handler.clone(),
                    opts.clone(),
                ));
            }
            Err(e) => {
                // Typically out of file descriptors; pausing lets connections close.
                tracing::warn!(error = %e, "cannot accept a peer connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    handler: Arc<dyn PeerHandler>,
    opts: ServerOptions,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY on a peer connection");
    }
    let opening = async {
        let (mut reader, writer) = tls::accept(stream, peer, opts.tls.as_ref()).await?;
        match read_preamble(&mut reader).await {
            Ok(true) => Some((reader, writer)),
            Ok(false) => {
                tracing::warn!(%peer, "{}; closing", wire::WireError::BadPreamble);
                None
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "peer connection ended before its preamble");
                None
            }
        }
    };
    let (reader, writer) = match tokio::time::timeout(opts.preamble_timeout, opening).await {
        Ok(Some(halves)) => halves,
        Ok(None) => return,
        Err(_) => {
            tracing::warn!(%peer, timeout = ?opts.preamble_timeout, "no peer preamble in time; closing");
            return;
        }
    };
    tracing::debug!(%peer, "peer connected");
    let (replies, outgoing) = mpsc::unbounded_channel();
    let reason = tokio::select! {
        reason = read_requests(reader, peer, &*handler, &opts, replies) => reason,
        reason = write_replies(writer, &opts, outgoing) => reason,
    };
    tracing::debug!(%peer, %reason, "peer connection closed");
}

async fn read_preamble(reader: &mut PeerReader) -> io::Result<bool> {
    let mut got = [0u8; PREAMBLE.len()];
    reader.read_exact(&mut got).await?;
    Ok(got == PREAMBLE)
}

async fn read_requests(
    mut reader: PeerReader,
    peer: SocketAddr,
    handler: &dyn PeerHandler,
    opts: &ServerOptions,
    replies: mpsc::UnboundedSender<(u64, PeerResponse)>,
) -> String {
    let mut assembly = Assembly::default();
    // Dropped with the connection, which cancels replies nobody can receive any more.
    let mut running = JoinSet::new();
    loop {
        while running.try_join_next().is_some() {}
        let body = match wire::read_frame(&mut reader, opts.max_frame_len).await {
            Ok(Some(body)) => body,
            Ok(None) => return "the peer closed the connection".into(),
            Err(e) => {
                tracing::warn!(%peer, error = %e, "bad frame on a peer connection; closing it");
                return e.to_string();
            }
        };
        let (id, req) = match wire::decode::<PeerRequest>(&body) {
            Ok(decoded) => decoded,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "undecodable request on a peer connection; closing it");
                return e.to_string();
            }
        };
        drop(body);
        let req = match req {
            PeerRequest::SnapshotChunk {
                transfer,
                offset,
                data,
            } => {
                let reply = match assembly.add_chunk(transfer, offset, data) {
                    Ok(()) => PeerResponse::SnapshotChunk,
                    Err(e) => PeerResponse::Error(e),
                };
                let _ = replies.send((id, reply));
                continue;
            }
            PeerRequest::FullSnapshot {
                transfer,
                vote,
                meta,
                offset,
                data,
            } => match assembly.finish(transfer, offset, data) {
                Ok(data) => PeerRequest::FullSnapshot {
                    transfer,
                    vote,
                    meta,
                    offset: 0,
                    data,
                },
                Err(e) => {
                    let _ = replies.send((id, PeerResponse::Error(e)));
                    continue;
                }
            },
            other => other,
        };
        let kind = req.kind();
        // A panic in the handler is a bug; it must cost that request, not the connection.
        let reply = match AssertUnwindSafe(handler.begin(req)).catch_unwind().await {
            Ok(reply) => reply,
            Err(_) => {
                tracing::error!(%peer, kind, "peer request handler panicked");
                let _ = replies.send((id, panicked(kind)));
                continue;
            }
        };
        let replies = replies.clone();
        running.spawn(async move {
            let resp = match AssertUnwindSafe(reply).catch_unwind().await {
                Ok(resp) => resp,
                Err(_) => {
                    tracing::error!(%peer, kind, "peer request handler panicked");
                    panicked(kind)
                }
            };
            let _ = replies.send((id, resp));
        });
    }
}

fn panicked(kind: &str) -> PeerResponse {
    PeerResponse::Error(format!(
        "the {kind} handler failed on this member (a bug; see its log)"
    ))
}

async fn write_replies(
    mut writer: PeerWriter,
    opts: &ServerOptions,
    mut outgoing: mpsc::UnboundedReceiver<(u64, PeerResponse)>,
) -> String {
    let mut batch = Vec::new();
    loop {
        let Some(first) = outgoing.recv().await else {
            return "the connection's reader ended".into();
        };
        let mut next = Some(first);
        while let Some((id, resp)) = next.take() {
            batch.extend_from_slice(encode_reply(id, &resp, opts.max_frame_len).as_bytes());
            if batch.len() < opts.max_batch_bytes {
                next = outgoing.try_recv().ok();
            }
        }
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

/// Encode a reply; one that cannot be encoded (in practice: too large) is replaced by an error
/// reply, so the caller learns why instead of waiting for a timeout.
fn encode_reply(id: u64, resp: &PeerResponse, max_frame_len: usize) -> wire::EncodedFrame {
    wire::encode_with_id(id, resp, max_frame_len).unwrap_or_else(|e| {
        tracing::error!(id, error = %e, "cannot encode a peer reply");
        let fallback = PeerResponse::Error(format!("the reply could not be sent: {e}"));
        // A short string always encodes, and the peer accepts it: no peer limit is that small.
        wire::encode_with_id(id, &fallback, usize::MAX).expect("a short error reply always encodes")
    })
}
