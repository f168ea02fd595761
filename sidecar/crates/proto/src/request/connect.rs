//! The handshake request: the first frame of every connection, sent without a RequestHeader.

use crate::error::DecodeError;
use crate::jute::{JuteReader, JuteWriter};

/// jute `ConnectRequest{int protocolVersion, long lastZxidSeen, int timeOut, long sessionId,
/// buffer passwd, boolean readOnly}`.
///
/// `readOnly` joined the record in 3.9's jute file, but clients have sent it since 3.4 and
/// ZooKeeper tolerates its absence for old clients (`compat/ProtocolManager`, and a try/catch
/// in 3.8's `processConnectRequest`). With the usual 16-byte password the frame is 44 bytes
/// without the flag and 45 with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout_ms: i32,
    /// 0 asks for a new session; anything else asks to resume that session.
    pub session_id: i64,
    /// Null on the wire reads as empty.
    pub password: Vec<u8>,
    /// `None` = an old client that did not send the byte; the ConnectResponse must then omit
    /// it too, since such clients do not expect it.
    pub read_only: Option<bool>,
}

impl ConnectRequest {
    /// Frame length of a handshake with a 16-byte password and no readOnly byte.
    pub const LEN_WITHOUT_READ_ONLY: usize = 44;
    /// Frame length of a handshake with a 16-byte password and the readOnly byte.
    pub const LEN_WITH_READ_ONLY: usize = 45;

    /// Decode a handshake payload (the frame without its length prefix).
    ///
    /// Bytes after the readOnly flag are refused as [`DecodeError::TrailingBytes`]. ZooKeeper
    /// itself ignores them (a 47-byte handshake is accepted by 3.8.0), but no known client
    /// sends them and they more likely signal a peer that frames differently.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut r = JuteReader::new(payload);
        let protocol_version = r.read_i32()?;
        let last_zxid_seen = r.read_i64()?;
        let timeout_ms = r.read_i32()?;
        let session_id = r.read_i64()?;
        let password = r.read_buffer()?;
        let read_only = if r.is_empty() {
            None
        } else {
            Some(r.read_bool()?)
        };
        r.finish()?;
        Ok(ConnectRequest {
            protocol_version,
            last_zxid_seen,
            timeout_ms,
            session_id,
            password,
            read_only,
        })
    }

    /// The unframed payload; the readOnly byte is written only when `read_only` is `Some`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = JuteWriter::with_capacity(Self::LEN_WITH_READ_ONLY);
        w.write_i32(self.protocol_version);
        w.write_i64(self.last_zxid_seen);
        w.write_i32(self.timeout_ms);
        w.write_i64(self.session_id);
        w.write_buffer(&self.password);
        if let Some(read_only) = self.read_only {
            w.write_bool(read_only);
        }
        w.into_inner()
    }

    /// Whether the client can live with a read-only server (absent flag = no).
    pub fn accepts_read_only(&self) -> bool {
        self.read_only.unwrap_or(false)
    }
}
