//! The handshake reply: the first frame the server sends, without a ReplyHeader.

use crate::error::DecodeError;
use crate::jute::{JuteReader, JuteWriter};

/// jute `ConnectResponse{int protocolVersion, int timeOut, long sessionId, buffer passwd,
/// boolean readOnly}`: 36 bytes without the flag and 37 with it (16-byte password).
///
/// For an unknown or expired session ZooKeeper sends `timeout_ms: 0, session_id: 0` and 16 zero
/// bytes of password, then closes (`ZooKeeperServer.finishSessionInit`); the Java client turns
/// the zero timeout into `Expired`. Some clients (the Rust `zookeeper-client`) refuse an empty
/// password, so always send 16 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub password: Vec<u8>,
    /// Some only if the client sent the byte: ZooKeeper mirrors the client
    /// (`compat/ProtocolManager` in 3.9, `isOldClient` in 3.8; verified with 3.8.0, which
    /// answers a 44-byte handshake with 36 bytes and a 45-byte one with 37).
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    /// The unframed payload; the readOnly byte is written only when `read_only` is `Some`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = JuteWriter::with_capacity(37);
        w.write_i32(self.protocol_version);
        w.write_i32(self.timeout_ms);
        w.write_i64(self.session_id);
        w.write_buffer(&self.password);
        if let Some(read_only) = self.read_only {
            w.write_bool(read_only);
        }
        w.into_inner()
    }

    /// Decode an unframed handshake reply (for tests and client-side tools).
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut r = JuteReader::new(payload);
        let protocol_version = r.read_i32()?;
        let timeout_ms = r.read_i32()?;
        let session_id = r.read_i64()?;
        let password = r.read_buffer()?;
        let read_only = if r.is_empty() {
            None
        } else {
            Some(r.read_bool()?)
        };
        r.finish()?;
        Ok(ConnectResponse {
            protocol_version,
            timeout_ms,
            session_id,
            password,
            read_only,
        })
    }
}
