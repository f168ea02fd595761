//! Server → client records: the handshake reply, ReplyHeader + reply bodies, and watch
//! notifications.
//!
//! What ZooKeeper sends per opcode (`FinalRequestProcessor`, `ZooKeeperServer.processPacket`;
//! the bodies marked "verified" were checked byte for byte against 3.8.0):
//!
//! | opcode | body on success |
//! |---|---|
//! | create (1) | `CreateResponse{path}` |
//! | create2 / createContainer / createTTL (15/19/21) | `Create2Response{path, stat}` (verified for 15 and 19) |
//! | delete, setWatches/setWatches2, checkWatches, removeWatches, auth, closeSession, ping | none (verified) |
//! | exists, setData, setACL | `Stat` |
//! | getData, reconfig | `GetDataResponse{data, stat}` (reconfig: data = the new config) |
//! | getACL | `GetACLResponse{acl, stat}` |
//! | getChildren / getChildren2 | `GetChildrenResponse` / `GetChildren2Response` |
//! | sync | `SyncResponse{path}` (verified) |
//! | multi / multiRead | `MultiResponse` (verified), see [`MultiResult`] |
//! | sasl | `SetSASLResponse{token}` |
//! | getEphemerals | `GetEphemeralsResponse{ephemerals}` (verified) |
//! | getAllChildrenNumber | `GetAllChildrenNumberResponse{int}` (verified) |
//! | addWatch | `ErrorResponse{0}` (verified: four zero bytes) |
//! | whoAmI | `WhoAmIResponse{vector<ClientInfo>}` (verified) |
//!
//! When `err != 0` the reply is the header alone, with one exception: a failed SASL step sends
//! `SetSASLResponse{null}` after the error header. A failed multi is not an error reply (its
//! header says 0; see [`MultiResult`]). Reply zxids: the server's last processed zxid, except
//! auth and sasl replies (always 0), ping (the last zxid, xid -2) and the unknown-opcode reply
//! (-1).

mod connect;
mod multi;

pub use connect::ConnectResponse;
pub use multi::MultiResult;

use crate::error::DecodeError;
use crate::frame::LENGTH_PREFIX_LEN;
use crate::jute::{JuteReader, JuteWriter, STAT_LEN};
use crate::types::{Acl, OpCode, Stat, xid};

/// jute `ReplyHeader{int xid, long zxid, int err}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReplyHeader {
    pub xid: i32,
    pub zxid: i64,
    pub err: i32,
}

impl ReplyHeader {
    /// Encoded size.
    pub const LEN: usize = 16;

    pub fn read(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(ReplyHeader {
            xid: r.read_i32()?,
            zxid: r.read_i64()?,
            err: r.read_i32()?,
        })
    }

    pub fn write(&self, w: &mut JuteWriter) {
        w.write_i32(self.xid);
        w.write_i64(self.zxid);
        w.write_i32(self.err);
    }
}

/// jute `ClientInfo{authScheme, user}`, one per identity of the session (whoAmI). ZooKeeper
/// lists e.g. `ip`/`127.0.0.1` for an unauthenticated loopback client.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientInfo {
    pub auth_scheme: String,
    pub user: String,
}

/// A reply body. Which variant answers which opcode is in the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// No body: delete, setWatches/setWatches2, checkWatches, removeWatches, auth,
    /// closeSession, ping. (sync is *not* empty: it echoes the path.)
    Empty,
    Create {
        path: String,
    },
    Create2 {
        path: String,
        stat: Stat,
    },
    /// exists, setData, setACL.
    Stat(Stat),
    /// getData, and reconfig (data = the new configuration). `data` is `None` for a znode
    /// whose data is null; it goes out as the null buffer (-1), which clients read as null.
    GetData {
        data: Option<Vec<u8>>,
        stat: Stat,
    },
    GetAcl {
        acl: Vec<Acl>,
        stat: Stat,
    },
    GetChildren {
        children: Vec<String>,
    },
    GetChildren2 {
        children: Vec<String>,
        stat: Stat,
    },
    Sync {
        path: String,
    },
    Multi(Vec<MultiResult>),
    MultiRead(Vec<MultiResult>),
    GetEphemerals {
        paths: Vec<String>,
    },
    AllChildrenNumber(i32),
    WhoAmI(Vec<ClientInfo>),
    /// `SetSASLResponse{token}` with a token.
    Sasl {
        token: Vec<u8>,
    },
    /// `SetSASLResponse{null}`: what ZooKeeper sends when its SASL server has no challenge to
    /// return, and after a failed SASL step. Null and empty differ to the Java client, which
    /// fails on a null token while it still expects one.
    SaslNoToken,
    /// A bare ErrorResponse{int err} body: addWatch replies this with 0 (verified).
    ErrorBody(i32),
}

impl Response {
    /// Write the body (without any header).
    pub fn write(&self, w: &mut JuteWriter) {
        match self {
            Response::Empty => {}
            Response::Create { path } | Response::Sync { path } => w.write_ustring(path),
            Response::Create2 { path, stat } => {
                w.write_ustring(path);
                w.write_stat(stat);
            }
            Response::Stat(stat) => w.write_stat(stat),
            Response::GetData { data, stat } => {
                w.write_buffer_opt(data.as_deref());
                w.write_stat(stat);
            }
            Response::GetAcl { acl, stat } => {
                w.write_acl_vec(acl);
                w.write_stat(stat);
            }
            Response::GetChildren { children } => w.write_string_vec(children),
            Response::GetChildren2 { children, stat } => {
                w.write_string_vec(children);
                w.write_stat(stat);
            }
            Response::Multi(results) | Response::MultiRead(results) => {
                multi::write_results(w, results)
            }
            Response::GetEphemerals { paths } => w.write_string_vec(paths),
            Response::AllChildrenNumber(n) | Response::ErrorBody(n) => w.write_i32(*n),
            Response::WhoAmI(infos) => w.write_vec(infos, |w, info| {
                w.write_ustring(&info.auth_scheme);
                w.write_ustring(&info.user);
            }),
            Response::Sasl { token } => w.write_buffer(token),
            Response::SaslNoToken => w.write_buffer_opt(None),
        }
    }

    /// Decode the body of a successful reply to a request with this opcode. Strict: the body
    /// must be exactly the record.
    pub fn decode(opcode: i32, body: &[u8]) -> Result<Response, DecodeError> {
        let op = OpCode::from_code(opcode).ok_or(DecodeError::UnknownResponseOpcode(opcode))?;
        let mut r = JuteReader::new(body);
        let response = read_body(op, &mut r)?;
        r.finish()?;
        Ok(response)
    }
}

fn read_body(op: OpCode, r: &mut JuteReader<'_>) -> Result<Response, DecodeError> {
    Ok(match op {
        OpCode::Create => Response::Create {
            path: r.read_ustring()?,
        },
        OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => Response::Create2 {
            path: r.read_ustring()?,
            stat: r.read_stat()?,
        },
        OpCode::Delete
        | OpCode::Ping
        | OpCode::CheckWatches
        | OpCode::RemoveWatches
        | OpCode::Auth
        | OpCode::SetWatches
        | OpCode::SetWatches2
        | OpCode::CloseSession => Response::Empty,
        // A standalone check, where a server still accepts one, answers SetDataResponse.
        OpCode::Exists | OpCode::SetData | OpCode::SetAcl | OpCode::Check => {
            Response::Stat(r.read_stat()?)
        }
        OpCode::GetData | OpCode::Reconfig => Response::GetData {
            data: r.read_buffer_opt()?,
            stat: r.read_stat()?,
        },
        OpCode::GetAcl => Response::GetAcl {
            acl: r.read_acl_vec()?,
            stat: r.read_stat()?,
        },
        OpCode::GetChildren => Response::GetChildren {
            children: r.read_string_vec()?,
        },
        OpCode::GetChildren2 => Response::GetChildren2 {
            children: r.read_string_vec()?,
            stat: r.read_stat()?,
        },
        OpCode::Sync => Response::Sync {
            path: r.read_ustring()?,
        },
        OpCode::Multi => Response::Multi(multi::read_results(r, "multi reply")?),
        OpCode::MultiRead => Response::MultiRead(multi::read_results(r, "multiRead reply")?),
        OpCode::GetEphemerals => Response::GetEphemerals {
            paths: r.read_string_vec()?,
        },
        OpCode::GetAllChildrenNumber => Response::AllChildrenNumber(r.read_i32()?),
        OpCode::WhoAmI => Response::WhoAmI(r.read_vec(8, |r| {
            Ok(ClientInfo {
                auth_scheme: r.read_ustring()?,
                user: r.read_ustring()?,
            })
        })?),
        OpCode::Sasl => match r.read_buffer_opt()? {
            Some(token) => Response::Sasl { token },
            None => Response::SaslNoToken,
        },
        OpCode::AddWatch => Response::ErrorBody(r.read_i32()?),
        OpCode::Notification | OpCode::DeleteContainer | OpCode::CreateSession | OpCode::Error => {
            return Err(DecodeError::UnknownResponseOpcode(op.code()));
        }
    })
}

/// A complete framed reply: length prefix + ReplyHeader + body. With err != 0 ZooKeeper sends
/// the header only (pass `None`); the one error reply with a body is a failed SASL step
/// ([`Response::SaslNoToken`]).
///
/// A *failed multi* is not an error reply: ZooKeeper sends `err: 0` and the per-op results
/// (verified against 3.8.0; `FinalRequestProcessor` never copies the sub-error into the
/// header). This matters: the Java client throws on a non-zero header err *before* reading the
/// results (`ZooKeeper.multiInternal`), so its `KeeperException.getResults()` would be null.
pub fn encode_reply(header: &ReplyHeader, body: Option<&Response>) -> Vec<u8> {
    let mut w = JuteWriter::with_capacity(LENGTH_PREFIX_LEN + ReplyHeader::LEN + STAT_LEN);
    // Reserve the length prefix and patch it once the size is known, saving a copy.
    w.write_i32(0);
    header.write(&mut w);
    if let Some(body) = body {
        body.write(&mut w);
    }
    patch_length_prefix(w.into_inner())
}

fn patch_length_prefix(mut framed: Vec<u8>) -> Vec<u8> {
    let len = i32::try_from(framed.len() - LENGTH_PREFIX_LEN)
        .expect("a frame payload must fit in an i32 length");
    framed[..LENGTH_PREFIX_LEN].copy_from_slice(&len.to_be_bytes());
    framed
}

/// Split a reply payload into its header and body bytes.
pub fn decode_reply_header(payload: &[u8]) -> Result<(ReplyHeader, &[u8]), DecodeError> {
    let mut r = JuteReader::new(payload);
    let header = ReplyHeader::read(&mut r)?;
    Ok((header, r.rest()))
}

/// Decode a reply payload to a request with `opcode`. The body is `None` when the reply is an
/// error with no body (the usual case for `err != 0`).
pub fn decode_reply(
    payload: &[u8],
    opcode: i32,
) -> Result<(ReplyHeader, Option<Response>), DecodeError> {
    let (header, body) = decode_reply_header(payload)?;
    if header.err != 0 && body.is_empty() {
        return Ok((header, None));
    }
    Ok((header, Some(Response::decode(opcode, body)?)))
}

/// jute `WatcherEvent{int type, int state, ustring path}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WatcherEvent {
    pub event_type: i32,
    pub state: i32,
    pub path: String,
}

impl WatcherEvent {
    pub fn read(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(WatcherEvent {
            event_type: r.read_i32()?,
            state: r.read_i32()?,
            path: r.read_ustring()?,
        })
    }

    pub fn write(&self, w: &mut JuteWriter) {
        w.write_i32(self.event_type);
        w.write_i32(self.state);
        w.write_ustring(&self.path);
    }
}

/// A framed notification: ReplyHeader{xid: -1, zxid, err: 0} + WatcherEvent (3.9 sends the
/// triggering zxid; 3.8 sent -1, as the captured 3.8.0 session in the tests shows).
pub fn encode_notification(zxid: i64, event: &WatcherEvent) -> Vec<u8> {
    let mut w =
        JuteWriter::with_capacity(LENGTH_PREFIX_LEN + ReplyHeader::LEN + 12 + event.path.len());
    w.write_i32(0);
    ReplyHeader {
        xid: xid::NOTIFICATION,
        zxid,
        err: 0,
    }
    .write(&mut w);
    event.write(&mut w);
    patch_length_prefix(w.into_inner())
}

/// Decode a notification payload (unframed). Fails with [`DecodeError::NotANotification`] if
/// the xid is not -1.
pub fn decode_notification(payload: &[u8]) -> Result<(ReplyHeader, WatcherEvent), DecodeError> {
    let mut r = JuteReader::new(payload);
    let header = ReplyHeader::read(&mut r)?;
    if header.xid != xid::NOTIFICATION {
        return Err(DecodeError::NotANotification(header.xid));
    }
    let event = WatcherEvent::read(&mut r)?;
    r.finish()?;
    Ok((header, event))
}

#[cfg(test)]
mod tests;
