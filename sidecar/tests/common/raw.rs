//! Hand-written ZooKeeper wire frames, for tests that must send what no client library sends
//! (bad input, exact handshakes) or observe the exact order of frames on one connection.
//!
//! Layouts follow zookeeper.jute: every frame is a 4-byte big-endian length and a payload; the
//! first client frame is a bare ConnectRequest, later ones a RequestHeader and a body; the server
//! answers with a ReplyHeader (xid −1 for watch notifications, −2 for pings) and a body.

use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use zookeeper_client as zk;

use super::within;

/// Opcodes (ZooDefs.OpCode).
pub mod op {
    pub const NOTIFICATION: i32 = 0;
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const GET_CHILDREN: i32 = 8;
    pub const GET_CHILDREN2: i32 = 12;
    pub const PING: i32 = 11;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CHECK_WATCHES: i32 = 17;
    pub const REMOVE_WATCHES: i32 = 18;
    pub const SET_WATCHES: i32 = 101;
    pub const SET_WATCHES2: i32 = 105;
    pub const ADD_WATCH: i32 = 106;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;
}

/// Error codes (KeeperException.Code).
pub mod err {
    pub const OK: i32 = 0;
    pub const RUNTIME_INCONSISTENCY: i32 = -2;
    pub const MARSHALLING_ERROR: i32 = -5;
    pub const NO_NODE: i32 = -101;
    pub const BAD_VERSION: i32 = -103;
    pub const NODE_EXISTS: i32 = -110;
    pub const NO_WATCHER: i32 = -121;
}

/// Watch event types (Watcher.Event.EventType).
pub mod event {
    pub const NODE_CREATED: i32 = 1;
    pub const NODE_DELETED: i32 = 2;
    pub const NODE_DATA_CHANGED: i32 = 3;
    pub const NODE_CHILDREN_CHANGED: i32 = 4;
}

/// WatcherType for checkWatches/removeWatches.
pub mod watcher_type {
    pub const CHILDREN: i32 = 1;
    pub const DATA: i32 = 2;
    pub const ANY: i32 = 3;
}

pub const NOTIFICATION_XID: i32 = -1;
pub const PING_XID: i32 = -2;
pub const SET_WATCHES_XID: i32 = -8;
/// KeeperState.SyncConnected, the state carried by every node event.
pub const SYNC_CONNECTED: i32 = 3;

/// Builder for jute-encoded bytes.
#[derive(Default, Debug, Clone)]
pub struct Jute(Vec<u8>);

impl Jute {
    pub fn new() -> Jute {
        Jute(Vec::new())
    }
    pub fn int(mut self, v: i32) -> Jute {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn long(mut self, v: i64) -> Jute {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn boolean(mut self, v: bool) -> Jute {
        self.0.push(u8::from(v));
        self
    }
    /// `buffer`: an i32 length then the bytes.
    pub fn buffer(self, bytes: &[u8]) -> Jute {
        let len = i32::try_from(bytes.len()).expect("buffer fits an i32 length");
        self.int(len).raw(bytes)
    }
    /// `ustring`: same layout as a buffer, UTF-8.
    pub fn string(self, s: &str) -> Jute {
        self.buffer(s.as_bytes())
    }
    /// Bytes appended as they are (no length).
    pub fn raw(mut self, bytes: &[u8]) -> Jute {
        self.0.extend_from_slice(bytes);
        self
    }
    /// `vector<ACL>` holding only world:anyone with all permissions.
    pub fn open_acl(self) -> Jute {
        self.int(1).int(31).string("world").string("anyone")
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

/// Reader for jute-encoded bytes; panics (fails the test) on a short buffer.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        assert!(
            self.buf.len() >= n,
            "reply too short: need {n} more bytes, have {}",
            self.buf.len()
        );
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        head
    }
    pub fn int(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    pub fn long(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().unwrap())
    }
    pub fn boolean(&mut self) -> bool {
        self.take(1)[0] != 0
    }
    /// A `buffer`; a negative length is jute's null.
    pub fn buffer(&mut self) -> Option<Vec<u8>> {
        let len = self.int();
        if len < 0 {
            return None;
        }
        Some(self.take(len as usize).to_vec())
    }
    pub fn string(&mut self) -> String {
        String::from_utf8(self.buffer().unwrap_or_default()).expect("UTF-8 string")
    }
    pub fn stat(&mut self) -> zk::Stat {
        zk::Stat {
            czxid: self.long(),
            mzxid: self.long(),
            ctime: self.long(),
            mtime: self.long(),
            version: self.int(),
            cversion: self.int(),
            aversion: self.int(),
            ephemeral_owner: self.long(),
            data_length: self.int(),
            num_children: self.int(),
            pzxid: self.long(),
        }
    }
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
}

/// The first frame a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub password: Vec<u8>,
    /// `None` leaves the byte out, as clients older than 3.4 do.
    pub read_only: Option<bool>,
}

impl ConnectRequest {
    /// A request for a new session, as a 3.5+ Java client sends it (45 bytes).
    pub fn new_session(timeout_ms: i32) -> ConnectRequest {
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms,
            session_id: 0,
            password: vec![0; 16],
            read_only: Some(false),
        }
    }

    /// A request to resume `session_id` with `password`.
    pub fn resume(session_id: i64, password: &[u8], timeout_ms: i32) -> ConnectRequest {
        ConnectRequest {
            session_id,
            password: password.to_vec(),
            ..ConnectRequest::new_session(timeout_ms)
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut jute = Jute::new()
            .int(self.protocol_version)
            .long(self.last_zxid_seen)
            .int(self.timeout_ms)
            .long(self.session_id)
            .buffer(&self.password);
        if let Some(read_only) = self.read_only {
            jute = jute.boolean(read_only);
        }
        jute.into_vec()
    }
}

/// The server's answer to a ConnectRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub password: Vec<u8>,
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    pub fn decode(payload: &[u8]) -> ConnectResponse {
        let mut r = Reader::new(payload);
        let protocol_version = r.int();
        let timeout_ms = r.int();
        let session_id = r.long();
        let password = r.buffer().unwrap_or_default();
        let read_only = (r.remaining() > 0).then(|| r.boolean());
        assert_eq!(r.remaining(), 0, "trailing bytes after a ConnectResponse");
        ConnectResponse {
            protocol_version,
            timeout_ms,
            session_id,
            password,
            read_only,
        }
    }

    /// The answer ZooKeeper gives to a reconnect with an unknown, expired or wrongly
    /// authenticated session (ZooKeeperServer.finishSessionInit with valid=false).
    pub fn is_expired_reply(&self) -> bool {
        self.protocol_version == 0
            && self.timeout_ms == 0
            && self.session_id == 0
            && self.password.len() == 16
    }
}

/// A ReplyHeader and the rest of the frame.
#[derive(Debug, Clone)]
pub struct Reply {
    pub xid: i32,
    pub zxid: i64,
    pub err: i32,
    pub body: Vec<u8>,
}

/// A watch notification (xid −1) decoded as a WatcherEvent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub event_type: i32,
    pub state: i32,
    pub path: String,
}

/// One server-to-client frame after the handshake.
#[derive(Debug, Clone)]
pub enum Message {
    Reply(Reply),
    Notification(Notification),
}

/// How a connection ended when the test expected it to end.
#[derive(Debug)]
pub struct Closed {
    /// Everything the server sent before closing.
    pub received: Vec<u8>,
}

/// A raw TCP connection to the node.
pub struct RawConn {
    stream: TcpStream,
    next_xid: i32,
}

impl RawConn {
    pub async fn connect(addr: SocketAddr) -> RawConn {
        let stream = within("raw connect", TcpStream::connect(addr))
            .await
            .unwrap_or_else(|e| panic!("raw connect to {addr}: {e}"));
        stream.set_nodelay(true).unwrap();
        RawConn {
            stream,
            next_xid: 1,
        }
    }

    /// Connect from a chosen loopback source address (e.g. 127.0.0.2), so that per-IP limits
    /// can be exercised without counting the test's other connections.
    pub async fn connect_from(local: IpAddr, addr: SocketAddr) -> RawConn {
        RawConn::try_connect_from(local, addr)
            .await
            .unwrap_or_else(|e| panic!("raw connect {local} -> {addr}: {e}"))
    }

    /// [`RawConn::connect_from`] that reports a refused or reset connect instead of failing.
    pub async fn try_connect_from(local: IpAddr, addr: SocketAddr) -> std::io::Result<RawConn> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(local, 0))?;
        let stream = within("raw connect", socket.connect(addr)).await?;
        stream.set_nodelay(true)?;
        Ok(RawConn {
            stream,
            next_xid: 1,
        })
    }

    /// Open a new session and return the connection and the server's answer.
    pub async fn open_session(addr: SocketAddr, timeout_ms: i32) -> (RawConn, ConnectResponse) {
        let mut conn = RawConn::connect(addr).await;
        let response = conn
            .handshake(&ConnectRequest::new_session(timeout_ms))
            .await
            .expect("the node closed the connection instead of answering the handshake");
        assert!(response.session_id != 0, "no session granted: {response:?}");
        (conn, response)
    }

    /// Bytes as they are; errors are returned because some tests write to a closing socket.
    pub async fn write_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        within("raw write", async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        })
        .await
    }

    /// A length-prefixed frame.
    pub async fn write_frame(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(payload);
        self.write_bytes(&bytes).await
    }

    /// Read one frame; `None` when the server closed (or reset) the connection first.
    pub async fn read_frame(&mut self) -> Option<Vec<u8>> {
        within("raw read frame", async {
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).await.ok()?;
            let len = u32::from_be_bytes(len) as usize;
            let mut payload = vec![0u8; len];
            self.stream.read_exact(&mut payload).await.ok()?;
            Some(payload)
        })
        .await
    }

    /// Send a ConnectRequest; `None` if the server closed the connection without answering.
    pub async fn handshake(&mut self, request: &ConnectRequest) -> Option<ConnectResponse> {
        self.write_frame(&request.encode()).await.ok()?;
        let payload = self.read_frame().await?;
        Some(ConnectResponse::decode(&payload))
    }

    /// Send a request with the next xid; returns that xid.
    pub async fn send_request(&mut self, opcode: i32, body: &[u8]) -> i32 {
        let xid = self.next_xid;
        self.next_xid += 1;
        self.send_with_xid(xid, opcode, body).await;
        xid
    }

    pub async fn send_with_xid(&mut self, xid: i32, opcode: i32, body: &[u8]) {
        let payload = Jute::new().int(xid).int(opcode).raw(body).into_vec();
        self.write_frame(&payload)
            .await
            .unwrap_or_else(|e| panic!("send opcode {opcode}: {e}"));
    }

    /// The next frame after the handshake; fails the test if the connection closes.
    pub async fn next_message(&mut self) -> Message {
        let payload = self
            .read_frame()
            .await
            .expect("the node closed the connection while a reply was expected");
        let mut r = Reader::new(&payload);
        let xid = r.int();
        let zxid = r.long();
        let err = r.int();
        if xid == NOTIFICATION_XID {
            let event_type = r.int();
            let state = r.int();
            let path = r.string();
            return Message::Notification(Notification {
                event_type,
                state,
                path,
            });
        }
        let body = payload[16..].to_vec();
        Message::Reply(Reply {
            xid,
            zxid,
            err,
            body,
        })
    }

    /// Send a request and collect frames until its reply; notifications that arrived first
    /// are returned with it, in order.
    pub async fn call(&mut self, opcode: i32, body: &[u8]) -> (Reply, Vec<Notification>) {
        let xid = self.send_request(opcode, body).await;
        self.reply_to(xid).await
    }

    /// Collect frames until the reply with `xid`.
    pub async fn reply_to(&mut self, xid: i32) -> (Reply, Vec<Notification>) {
        let mut notifications = Vec::new();
        loop {
            match self.next_message().await {
                Message::Notification(n) => notifications.push(n),
                Message::Reply(reply) if reply.xid == xid => return (reply, notifications),
                Message::Reply(other) => {
                    panic!(
                        "reply for xid {} while waiting for xid {xid}: {other:?}",
                        other.xid
                    )
                }
            }
        }
    }

    /// A ping (xid −2); returns notifications that were delivered before its reply.
    pub async fn ping(&mut self) -> Vec<Notification> {
        self.send_with_xid(PING_XID, op::PING, &[]).await;
        let (reply, notifications) = self.reply_to(PING_XID).await;
        assert_eq!(reply.err, err::OK, "ping answered with an error: {reply:?}");
        notifications
    }

    /// Wait until the server closes the connection; returns what it sent before.
    pub async fn expect_closed(&mut self, what: &str) -> Closed {
        let mut received = Vec::new();
        let result = tokio::time::timeout(super::STEP, async {
            let mut buf = [0u8; 4096];
            loop {
                match self.stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        if result.is_err() {
            panic!(
                "{what}: the connection was still open after {:?} (received {} bytes)",
                super::STEP,
                received.len()
            );
        }
        Closed { received }
    }
}

/// Body of getData/exists: path and watch flag.
pub fn path_watch(path: &str, watch: bool) -> Vec<u8> {
    Jute::new().string(path).boolean(watch).into_vec()
}

/// Body of setData.
pub fn set_data(path: &str, data: &[u8], version: i32) -> Vec<u8> {
    Jute::new()
        .string(path)
        .buffer(data)
        .int(version)
        .into_vec()
}

/// Body of create (open ACL).
pub fn create(path: &str, data: &[u8], flags: i32) -> Vec<u8> {
    Jute::new()
        .string(path)
        .buffer(data)
        .open_acl()
        .int(flags)
        .into_vec()
}

/// Body of checkWatches/removeWatches.
pub fn watches(path: &str, watcher_type: i32) -> Vec<u8> {
    Jute::new().string(path).int(watcher_type).into_vec()
}
