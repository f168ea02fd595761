//! One client connection: the handshake, then a reader that decodes requests in order and a
//! writer that sends frames in order. Between them the sequencer keeps per-session FIFO.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral_proto::Id;
use corral_proto::{
    ConnectRequest, ConnectResponse, ErrorCode, ReplyHeader, Request, check_frame_len,
    decode_request, encode_reply, frame,
};
use corral_tree::{Command, CommandKind, Outcome};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::Server;
use super::requests::{self, Pending};
use super::sequencer;
use super::stats::ConnectionInfo;
use crate::admin::four_letter;
use crate::raft::{Attached, Outbox, OutboxLimits, OutboxReceiver, Outgoing};

/// The reading half of a client connection: plain TCP or TLS.
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
/// The writing half of a client connection.
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// A connection on the plaintext client port.
pub async fn run(server: Arc<Server>, stream: TcpStream, peer: SocketAddr) {
    let Some(_slot) = acquire_slot(&server, peer) else {
        return;
    };
    let deadline = handshake_deadline(&server);
    let _ = stream.set_nodelay(true);
    let (reader, writer) = stream.into_split();
    serve(
        server,
        Box::new(reader),
        Box::new(writer),
        peer,
        Vec::new(),
        deadline,
    )
    .await;
}

/// When a connection accepted now must have completed its handshake (TLS included): a client
/// cannot hold a connection slot longer without a session (ZooKeeper's
/// `zookeeper.nio.sessionlessCnxnTimeout`).
pub(super) fn handshake_deadline(server: &Server) -> tokio::time::Instant {
    tokio::time::Instant::now() + server.settings.limits.handshake_timeout
}

/// A `maxClientCnxns` slot for `peer`, held for the connection's life; `None` (logged) when the
/// address already holds its share.
pub(super) fn acquire_slot(
    server: &Server,
    peer: SocketAddr,
) -> Option<super::limits::ConnectionSlot> {
    let slot = server.limits.acquire(peer.ip());
    if slot.is_none() {
        tracing::warn!(%peer, limit = server.settings.max_client_cnxns,
            "too many connections from this address (maxClientCnxns); closing the new one");
    }
    slot
}

/// Serve a connection whose transport is set up. `identities` are what the transport proved
/// about the client (the `x509` id of a TLS client certificate), besides its `ip` id. The
/// handshake must be over by `deadline`.
pub(super) async fn serve(
    server: Arc<Server>,
    mut reader: Reader,
    writer: Writer,
    peer: SocketAddr,
    identities: Vec<Id>,
    deadline: tokio::time::Instant,
) {
    let established = match tokio::time::timeout_at(
        deadline,
        handshake(&server, &mut reader, writer, peer, &identities),
    )
    .await
    {
        Ok(Some(established)) => established,
        Ok(None) => return,
        Err(_) => {
            tracing::info!(%peer, timeout = ?server.settings.limits.handshake_timeout,
                "no complete handshake in time; closing the connection");
            return;
        }
    };
    serve_requests(server, reader, established, peer, identities).await;
}

/// A connection whose session is set up.
struct Established {
    session_id: i64,
    owner: u64,
    conn_id: u64,
    outbox: Outbox,
    /// Served without a quorum: reads only (writes get NOTREADONLY).
    read_only: bool,
}

/// Read the first frame: either a four-letter word or a ConnectRequest. Returns None when the
/// connection is done (after a 4lw, a refusal, or bad input).
async fn handshake(
    server: &Arc<Server>,
    reader: &mut Reader,
    mut writer: Writer,
    peer: SocketAddr,
    identities: &[Id],
) -> Option<Established> {
    let mut head = [0u8; 4];
    reader.read_exact(&mut head).await.ok()?;
    if let Some(word) = four_letter::recognise(&head) {
        let text = four_letter::respond(server, word);
        let _ = writer.write_all(text.as_bytes()).await;
        let _ = writer.shutdown().await;
        return None;
    }
    let payload = read_payload(server, reader, head, peer).await?;
    let request = match ConnectRequest::decode(&payload) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "malformed ConnectRequest; closing the connection");
            return None;
        }
    };
    // Without a quorum only read-only clients are served, and only in read-only mode (ZooKeeper's
    // readonlymode.enabled); everyone else is closed so the client tries another server.
    let read_only = !server.serving.load(std::sync::atomic::Ordering::Relaxed);
    if read_only && !(server.settings.read_only_mode && request.read_only == Some(true)) {
        tracing::info!(%peer, "no quorum: closing a new connection so the client tries another server");
        return None;
    }
    let applied = server.consensus.core().applied_zxid();
    if request.last_zxid_seen > applied {
        // ZooKeeper's rule: this member is behind what the client has seen; the client must try
        // another server. No reply, just close.
        tracing::info!(%peer, client_zxid = request.last_zxid_seen, applied,
            "refusing a client that has seen a newer zxid than this member");
        return None;
    }
    let timeout_ms = server.settings.negotiate_timeout(request.timeout_ms);
    let owner = server.new_owner();
    let conn_id = owner;
    let established = if read_only {
        Ok(read_only_session(server, &request))
    } else {
        establish_session(server, &request, timeout_ms, owner).await
    };
    let (session_id, password) = match established {
        Ok(pair) => pair,
        Err(SessionRefused::Expired) => {
            tracing::info!(%peer, session = format_args!("0x{:x}", request.session_id),
                "reconnect for an unknown or expired session");
            let reply = ConnectResponse {
                protocol_version: 0,
                timeout_ms: 0,
                session_id: 0,
                password: vec![0; 16],
                read_only: request.read_only.map(|_| false),
            };
            let _ = writer.write_all(&frame(&reply.encode())).await;
            let _ = writer.shutdown().await;
            return None;
        }
        Err(SessionRefused::Unavailable(reason)) => {
            tracing::warn!(%peer, %reason, "cannot establish a session now; closing");
            return None;
        }
    };

    let (outbox, outbox_rx) = Outbox::new(OutboxLimits::from_soft(
        server.settings.limits.max_queued_bytes,
    ));
    {
        let mut core = server.consensus.core().lock();
        // Watches belong to a connection, as in ZooKeeper: a new connection starts with none
        // and the client replays its own with setWatches.
        core.watches.remove_session(session_id);
        let attached = Attached {
            outbox: outbox.clone(),
            auth: requests::connection_identities(peer, identities),
            read_only,
        };
        if let Some(previous) = core.attached.insert(session_id, attached) {
            // The session moved to this connection: the old one must not keep it.
            previous.outbox.close_now();
        }
    }
    if !read_only {
        server.tracker().arm(session_id, timeout_ms, Instant::now());
        server.touch(session_id);
    }
    let reply = ConnectResponse {
        protocol_version: 0,
        timeout_ms,
        session_id,
        password: password.to_vec(),
        read_only: request.read_only.map(|_| read_only),
    };
    let _ = outbox.send_frame(frame(&reply.encode()));
    server.stats.connection_opened(
        conn_id,
        ConnectionInfo {
            peer,
            session_id,
            timeout_ms,
            since: Instant::now(),
            received: 1,
            sent: 1,
        },
    );
    tokio::spawn(write_frames(
        writer,
        outbox_rx,
        server.clone(),
        conn_id,
        peer,
        Duration::from_millis(timeout_ms.max(1) as u64),
    ));
    tracing::debug!(%peer, session = format_args!("0x{session_id:x}"), timeout_ms, "session established");
    Some(Established {
        session_id,
        owner,
        conn_id,
        outbox,
        read_only,
    })
}

/// A session on a member without quorum, for a client that accepts read-only service. Nothing
/// can be committed, so it lives on this member only: a known session keeps its id (the client
/// resumes it read-write once a quorum is back); any other client gets a local id carrying this
/// member's id in its top byte, as ZooKeeper's local sessions do.
fn read_only_session(server: &Server, request: &ConnectRequest) -> (i64, [u8; 16]) {
    if let Ok(password) = <[u8; 16]>::try_from(request.password.as_slice()) {
        let core = server.consensus.core().lock();
        if core
            .sm
            .session(request.session_id)
            .is_some_and(|s| s.password == password)
        {
            return (request.session_id, password);
        }
    }
    let local = rand::random::<i64>() & 0x00ff_ffff_ffff_ffff;
    let id = local | (((server.consensus.node_id() & 0x7f) as i64) << 56) | 1;
    (id, rand::random())
}

enum SessionRefused {
    Expired,
    Unavailable(String),
}

async fn establish_session(
    server: &Arc<Server>,
    request: &ConnectRequest,
    timeout_ms: i32,
    owner: u64,
) -> Result<(i64, [u8; 16]), SessionRefused> {
    let time_ms = now_ms();
    if request.session_id == 0 {
        let password: [u8; 16] = rand::random();
        let applied = server
            .consensus
            .propose(Command {
                time_ms,
                kind: CommandKind::CreateSession {
                    timeout_ms,
                    password,
                    owner,
                },
            })
            .await
            .map_err(|e| SessionRefused::Unavailable(e.to_string()))?;
        match applied.result {
            Ok(Outcome::SessionCreated { session_id, .. }) => Ok((session_id, password)),
            other => Err(SessionRefused::Unavailable(format!(
                "unexpected outcome creating a session: {other:?}"
            ))),
        }
    } else {
        let Ok(password) = <[u8; 16]>::try_from(request.password.as_slice()) else {
            return Err(SessionRefused::Expired);
        };
        let applied = server
            .consensus
            .propose(Command {
                time_ms,
                kind: CommandKind::ResumeSession {
                    session_id: request.session_id,
                    password,
                    owner,
                },
            })
            .await
            .map_err(|e| SessionRefused::Unavailable(e.to_string()))?;
        match applied.result {
            Ok(Outcome::SessionResumed { .. }) => Ok((request.session_id, password)),
            _ => Err(SessionRefused::Expired),
        }
    }
}

/// Read one frame's payload after its 4-byte length. Logs and returns None on bad input.
async fn read_payload(
    server: &Server,
    reader: &mut Reader,
    head: [u8; 4],
    peer: SocketAddr,
) -> Option<Vec<u8>> {
    let len = i32::from_be_bytes(head);
    let len = match check_frame_len(len, server.settings.jute_max_buffer) {
        Ok(len) => len,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "frame rejected (jute.maxbuffer); closing the connection");
            return None;
        }
    };
    let mut payload = vec![0u8; len];
    match reader.read_exact(&mut payload).await {
        Ok(_) => Some(payload),
        Err(e) => {
            tracing::debug!(%peer, error = %e, "connection closed mid-frame");
            None
        }
    }
}

async fn serve_requests(
    server: Arc<Server>,
    mut reader: Reader,
    conn: Established,
    peer: SocketAddr,
    identities: Vec<Id>,
) {
    // Requests read but not answered yet; when the sequencer falls behind (a slow client, or
    // one that does not read its replies) this fills and the reader stops reading.
    let (pending_tx, pending_rx) =
        mpsc::channel::<Pending>(server.settings.limits.max_pending_requests.max(1));
    let sequencer = tokio::spawn(sequencer::run(
        server.clone(),
        conn.session_id,
        pending_rx,
        conn.outbox.clone(),
    ));
    let mut ctx = requests::Context::new(
        &server,
        conn.session_id,
        conn.owner,
        peer,
        conn.outbox.clone(),
        identities,
    );
    ctx.read_only = conn.read_only;
    let mut closed_by_client = false;
    loop {
        let payload = tokio::select! {
            payload = read_frame(&server, &mut reader, peer) => match payload {
                Some(payload) => payload,
                None => break,
            },
            // Closed from elsewhere (session expired or moved, quorum lost, the client stopped
            // reading), or the writer stopped: a reader waiting on the socket must not keep
            // the connection.
            _ = conn.outbox.closed() => break,
        };
        let (header, request) = match decode_request(&payload) {
            Ok(decoded) => decoded,
            Err(e) => {
                tracing::warn!(%peer, session = format_args!("0x{:x}", conn.session_id),
                    error = %e, "malformed request; closing the connection");
                break;
            }
        };
        server
            .stats
            .packets_received
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        server
            .stats
            .connection_update(conn.conn_id, |info| info.received += 1);
        server.touch(conn.session_id);
        let is_close = matches!(request, Request::CloseSession);
        if is_close {
            // Detach first: nothing more is delivered to this connection except the reply.
            detach(&server, conn.session_id, &conn.outbox);
        }
        let pending = ctx.classify(header, request).await;
        let stop = is_close || matches!(pending, Pending::Close(_));
        let sent = tokio::select! {
            sent = pending_tx.send(pending) => sent.is_ok(),
            _ = conn.outbox.closed() => false,
        };
        if !sent || stop {
            closed_by_client = is_close;
            break;
        }
    }
    drop(pending_tx);
    let _ = sequencer.await;
    if !closed_by_client {
        detach(&server, conn.session_id, &conn.outbox);
    }
    conn.outbox.close_after_queued();
    server.stats.connection_closed(conn.conn_id);
    tracing::debug!(%peer, session = format_args!("0x{:x}", conn.session_id), "connection closed");
}

/// Read one whole frame (length and payload); `None` at the end of the stream or on a frame
/// over the limit (logged).
async fn read_frame(server: &Server, reader: &mut Reader, peer: SocketAddr) -> Option<Vec<u8>> {
    let mut head = [0u8; 4];
    reader.read_exact(&mut head).await.ok()?;
    read_payload(server, reader, head, peer).await
}

/// Forget this connection's outbox and watches, unless a newer connection already took the
/// session over (then they belong to it).
fn detach(server: &Server, session_id: i64, outbox: &Outbox) {
    let mut core = server.consensus.core().lock();
    if core
        .attached
        .get(&session_id)
        .is_some_and(|current| current.outbox.same_channel(outbox))
    {
        core.attached.remove(&session_id);
        core.watches.remove_session(session_id);
    }
}

/// Write what the connection's outbox holds, in order. A client that takes none of the bytes
/// for `stall_limit` (its session timeout: it would have expired by then had it not been
/// sending) is given up on, so that it cannot pin the queue, the task and the socket.
async fn write_frames(
    mut writer: Writer,
    mut outbox: OutboxReceiver,
    server: Arc<Server>,
    conn_id: u64,
    peer: SocketAddr,
    stall_limit: Duration,
) {
    while let Some(item) = outbox.recv().await {
        let bytes = match item {
            Outgoing::Frame(bytes) => bytes,
            Outgoing::Close => break,
        };
        let written = tokio::select! {
            biased;
            _ = outbox.closed_now() => Err(None),
            result = write_with_progress(&mut writer, &bytes, stall_limit) => result.map_err(Some),
        };
        outbox.written(bytes.len());
        match written {
            Ok(()) => {}
            Err(Some(WriteFailure::Stalled)) => {
                tracing::warn!(%peer, stall_limit = ?stall_limit, queued_bytes = bytes.len(),
                    "client took none of its replies within its session timeout; closing the connection");
                break;
            }
            Err(_) => break,
        }
        // TLS may hold encrypted bytes back until flushed; flush once nothing else is queued.
        if outbox.is_empty()
            && !matches!(
                tokio::time::timeout(stall_limit, writer.flush()).await,
                Ok(Ok(()))
            )
        {
            break;
        }
        server
            .stats
            .packets_sent
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        server
            .stats
            .connection_update(conn_id, |info| info.sent += 1);
    }
    outbox.mark_closed();
    // Bounded: a TLS close_notify to a client that reads nothing must not hang here.
    let _ = tokio::time::timeout(Duration::from_secs(1), writer.shutdown()).await;
}

enum WriteFailure {
    Io,
    Stalled,
}

/// Write all of `bytes`, failing when no byte is taken for `stall_limit`.
async fn write_with_progress(
    writer: &mut Writer,
    mut bytes: &[u8],
    stall_limit: Duration,
) -> Result<(), WriteFailure> {
    while !bytes.is_empty() {
        match tokio::time::timeout(stall_limit, writer.write(bytes)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Err(WriteFailure::Io),
            Ok(Ok(n)) => bytes = &bytes[n..],
            Err(_) => return Err(WriteFailure::Stalled),
        }
    }
    Ok(())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A header-only reply.
pub fn header_only(xid: i32, zxid: i64, err: ErrorCode) -> Vec<u8> {
    encode_reply(
        &ReplyHeader {
            xid,
            zxid,
            err: err.code(),
        },
        None,
    )
}
