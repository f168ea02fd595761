//! Client → server records: the handshake, the RequestHeader and every request body.
//!
//! After the handshake each frame is `RequestHeader{int xid, int type}` + the body record that
//! `type` names (`zookeeper.jute`). Decoding is strict: a body must be exactly its record, so
//! a short body is [`DecodeError::UnexpectedEof`] and a long one [`DecodeError::TrailingBytes`].
//!
//! ZooKeeper itself is more forgiving, which matters when mirroring its answers (checked
//! against 3.8.0): it ignores bytes after a body, and a body it cannot parse gets a
//! MARSHALLINGERROR reply while the connection stays open; an unreadable RequestHeader, auth
//! packet or SASL packet closes the connection instead (those are read in
//! `ZooKeeperServer.processPacket`, where an IOException drops the connection). A server that
//! wants the same behaviour decodes in two steps with [`decode_request_header`] and
//! [`decode_request_body`], so that it still knows the xid when the body is bad.

mod connect;
mod multi;

pub use connect::ConnectRequest;
pub use multi::{MultiHeader, MultiOp, ReadOp};

use crate::error::DecodeError;
use crate::jute::{JuteReader, JuteWriter};
use crate::types::{Acl, AddWatchMode, CreateMode, OpCode, WatcherType};

/// jute `RequestHeader{int xid, int type}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestHeader {
    pub xid: i32,
    pub opcode: i32,
}

impl RequestHeader {
    /// Encoded size.
    pub const LEN: usize = 8;

    pub fn read(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(RequestHeader {
            xid: r.read_i32()?,
            opcode: r.read_i32()?,
        })
    }

    pub fn write(&self, w: &mut JuteWriter) {
        w.write_i32(self.xid);
        w.write_i32(self.opcode);
    }
}

/// Which wire flavour a create came in as; it decides the reply shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CreateKind {
    /// Opcode 1: replies `CreateResponse{path}`.
    Create,
    /// Opcode 15: replies `Create2Response{path, stat}`.
    Create2,
    /// Opcode 19: replies `Create2Response{path, stat}`.
    Container,
    /// Opcode 21: the body is `CreateTTLRequest` (with a trailing `long ttl`); replies
    /// `Create2Response{path, stat}`.
    Ttl,
}

impl CreateKind {
    pub fn opcode(self) -> i32 {
        match self {
            CreateKind::Create => OpCode::Create.code(),
            CreateKind::Create2 => OpCode::Create2.code(),
            CreateKind::Container => OpCode::CreateContainer.code(),
            CreateKind::Ttl => OpCode::CreateTtl.code(),
        }
    }

    pub fn from_opcode(opcode: i32) -> Option<Self> {
        match OpCode::from_code(opcode)? {
            OpCode::Create => Some(CreateKind::Create),
            OpCode::Create2 => Some(CreateKind::Create2),
            OpCode::CreateContainer => Some(CreateKind::Container),
            OpCode::CreateTtl => Some(CreateKind::Ttl),
            _ => None,
        }
    }

    /// Whether a successful top-level reply carries the new node's Stat (`Create2Response`)
    /// rather than only its path (`CreateResponse`). ZooKeeper answers create2, createContainer
    /// and createTTL alike (`FinalRequestProcessor`).
    pub fn replies_with_stat(self) -> bool {
        !matches!(self, CreateKind::Create)
    }
}

/// jute `CreateRequest{ustring path, buffer data, vector<ACL> acl, int flags}`, or
/// `CreateTTLRequest{..., long ttl}` when it came in as [`CreateKind::Ttl`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateRequest {
    pub path: String,
    /// `None` is the null buffer (length -1) that clients send for `create(path, null, ...)`;
    /// ZooKeeper stores it as null and hands it back as null from getData, so it must not be
    /// folded into empty data (length 0).
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    /// The raw CreateMode flag; use [`CreateRequest::mode`] to interpret it.
    pub flags: i32,
    /// `Some` exactly when the request was a createTTL. Encoding a createTTL with `None`
    /// writes 0, CreateTTLRequest's default.
    pub ttl: Option<i64>,
}

impl CreateRequest {
    /// The CreateMode that `flags` names. ZooKeeper answers BADARGUMENTS to a top-level
    /// create with unknown flags, after the body was read; hence this is not a decode step.
    pub fn mode(&self) -> Result<CreateMode, DecodeError> {
        CreateMode::from_flags(self.flags).ok_or(DecodeError::UnknownCreateMode(self.flags))
    }

    fn read(r: &mut JuteReader<'_>, kind: CreateKind) -> Result<Self, DecodeError> {
        Ok(CreateRequest {
            path: r.read_ustring()?,
            data: r.read_buffer_opt()?,
            acl: r.read_acl_vec()?,
            flags: r.read_i32()?,
            ttl: match kind {
                CreateKind::Ttl => Some(r.read_i64()?),
                _ => None,
            },
        })
    }

    fn write(&self, w: &mut JuteWriter, kind: CreateKind) {
        w.write_ustring(&self.path);
        w.write_buffer_opt(self.data.as_deref());
        w.write_acl_vec(&self.acl);
        w.write_i32(self.flags);
        if kind == CreateKind::Ttl {
            w.write_i64(self.ttl.unwrap_or(0));
        }
    }
}

/// The watches a reconnecting client re-registers: jute `SetWatches` (opcode 101, the first
/// three lists) or `SetWatches2` (opcode 105, all five). The Java client sends 105 only when it
/// holds persistent watches; with 101 the persistent lists decode as empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetWatches {
    pub relative_zxid: i64,
    pub data: Vec<String>,
    pub exist: Vec<String>,
    pub child: Vec<String>,
    pub persistent: Vec<String>,
    pub persistent_recursive: Vec<String>,
}

impl SetWatches {
    /// Whether only the SetWatches2 layout (opcode 105) can carry these lists.
    pub fn needs_set_watches2(&self) -> bool {
        !self.persistent.is_empty() || !self.persistent_recursive.is_empty()
    }

    fn read(r: &mut JuteReader<'_>, with_persistent: bool) -> Result<Self, DecodeError> {
        let relative_zxid = r.read_i64()?;
        let data = r.read_string_vec()?;
        let exist = r.read_string_vec()?;
        let child = r.read_string_vec()?;
        let (persistent, persistent_recursive) = if with_persistent {
            (r.read_string_vec()?, r.read_string_vec()?)
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(SetWatches {
            relative_zxid,
            data,
            exist,
            child,
            persistent,
            persistent_recursive,
        })
    }

    fn write(&self, w: &mut JuteWriter, with_persistent: bool) {
        w.write_i64(self.relative_zxid);
        w.write_string_vec(&self.data);
        w.write_string_vec(&self.exist);
        w.write_string_vec(&self.child);
        if with_persistent {
            w.write_string_vec(&self.persistent);
            w.write_string_vec(&self.persistent_recursive);
        }
    }
}

/// A decoded request body. Field types follow the jute records; flags, watcher types and
/// modes stay raw `i32`s because ZooKeeper rejects bad values with an error *reply*, not by
/// dropping the connection (see [`CreateRequest::mode`], [`watcher_type`], [`add_watch_mode`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Opcodes 1, 15, 19, 21.
    Create {
        kind: CreateKind,
        req: CreateRequest,
    },
    /// `DeleteRequest{path, version}`.
    Delete { path: String, version: i32 },
    /// `ExistsRequest{path, watch}`.
    Exists { path: String, watch: bool },
    /// `GetDataRequest{path, watch}`.
    GetData { path: String, watch: bool },
    /// `SetDataRequest{path, data, version}`; `data` is `None` for the null buffer (-1).
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    /// `GetACLRequest{path}`.
    GetAcl { path: String },
    /// `SetACLRequest{path, acl, version}`.
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    /// `GetChildrenRequest{path, watch}`.
    GetChildren { path: String, watch: bool },
    /// `GetChildren2Request{path, watch}`.
    GetChildren2 { path: String, watch: bool },
    /// `SyncRequest{path}`.
    Sync { path: String },
    /// Header only (xid -2).
    Ping,
    /// `CheckVersionRequest{path, version}` on its own. Clients only send check inside multi;
    /// ZooKeeper 3.8.0 processes a standalone one (BADVERSION on mismatch, and no reply at all
    /// on a match: it fails internally), while 3.8.6 and 3.9.4 refuse it as an unknown opcode
    /// (ZOOKEEPER-2623).
    Check { path: String, version: i32 },
    /// Opcode 14.
    Multi(Vec<MultiOp>),
    /// Opcode 22.
    MultiRead(Vec<ReadOp>),
    /// `ReconfigRequest{joiningServers, leavingServers, newMembers, curConfigId}`; the server
    /// lists are nullable ustrings, `None` when null.
    Reconfig {
        joining: Option<String>,
        leaving: Option<String>,
        new_members: Option<String>,
        cur_config_id: i64,
    },
    /// `CheckWatchesRequest{path, type}`.
    CheckWatches { path: String, watcher_type: i32 },
    /// `RemoveWatchesRequest{path, type}`.
    RemoveWatches { path: String, watcher_type: i32 },
    /// `AuthPacket{type, scheme, auth}` (xid -4).
    Auth {
        auth_type: i32,
        scheme: String,
        auth: Vec<u8>,
    },
    /// Opcode 101 (persistent lists empty) and 105.
    SetWatches(SetWatches),
    /// `GetSASLRequest{token}`.
    Sasl { token: Vec<u8> },
    /// `GetEphemeralsRequest{prefixPath}`; null reads as "" (ZooKeeper treats null, blank and
    /// "/" alike: all of the session's ephemerals).
    GetEphemerals { prefix: String },
    /// `GetAllChildrenNumberRequest{path}`.
    GetAllChildrenNumber { path: String },
    /// `AddWatchRequest{path, mode}`.
    AddWatch { path: String, mode: i32 },
    /// Header only.
    WhoAmI,
    /// Header only.
    CloseSession,
    /// An opcode this server does not know; its body is not inspected. ZooKeeper answers an
    /// opcode it does not know with `ReplyHeader{xid, zxid: -1, err: UNIMPLEMENTED}` and then
    /// *closes the connection* (`UnimplementedRequestProcessor`; verified with 3.8.0 for
    /// opcodes 50 and 0). Server-internal opcodes a client has no business sending also land
    /// here: notification (0), error (-1), and createSession (-10) and deleteContainer (20),
    /// which ZooKeeper does let into its pipeline (3.8.0 answered createSession with
    /// MARSHALLINGERROR).
    Unknown(i32),
}

impl Request {
    /// The opcode this request is sent with. For [`Request::SetWatches`] it is 105 when
    /// persistent watches are present and 101 otherwise, as the Java client chooses.
    pub fn opcode(&self) -> i32 {
        let op = match self {
            Request::Create { kind, .. } => return kind.opcode(),
            Request::Delete { .. } => OpCode::Delete,
            Request::Exists { .. } => OpCode::Exists,
            Request::GetData { .. } => OpCode::GetData,
            Request::SetData { .. } => OpCode::SetData,
            Request::GetAcl { .. } => OpCode::GetAcl,
            Request::SetAcl { .. } => OpCode::SetAcl,
            Request::GetChildren { .. } => OpCode::GetChildren,
            Request::GetChildren2 { .. } => OpCode::GetChildren2,
            Request::Sync { .. } => OpCode::Sync,
            Request::Ping => OpCode::Ping,
            Request::Check { .. } => OpCode::Check,
            Request::Multi(_) => OpCode::Multi,
            Request::MultiRead(_) => OpCode::MultiRead,
            Request::Reconfig { .. } => OpCode::Reconfig,
            Request::CheckWatches { .. } => OpCode::CheckWatches,
            Request::RemoveWatches { .. } => OpCode::RemoveWatches,
            Request::Auth { .. } => OpCode::Auth,
            Request::SetWatches(sw) if sw.needs_set_watches2() => OpCode::SetWatches2,
            Request::SetWatches(_) => OpCode::SetWatches,
            Request::Sasl { .. } => OpCode::Sasl,
            Request::GetEphemerals { .. } => OpCode::GetEphemerals,
            Request::GetAllChildrenNumber { .. } => OpCode::GetAllChildrenNumber,
            Request::AddWatch { .. } => OpCode::AddWatch,
            Request::WhoAmI => OpCode::WhoAmI,
            Request::CloseSession => OpCode::CloseSession,
            Request::Unknown(op) => return *op,
        };
        op.code()
    }
}

/// Interpret a checkWatches/removeWatches `type`. ZooKeeper replies MARSHALLINGERROR to an
/// unknown one (its `WatcherType.fromInt` throws while the request is processed).
pub fn watcher_type(code: i32) -> Result<WatcherType, DecodeError> {
    WatcherType::from_code(code).ok_or(DecodeError::UnknownWatcherType(code))
}

/// Interpret an addWatch `mode`. ZooKeeper replies MARSHALLINGERROR to an unknown one.
pub fn add_watch_mode(code: i32) -> Result<AddWatchMode, DecodeError> {
    AddWatchMode::from_code(code).ok_or(DecodeError::UnknownAddWatchMode(code))
}

/// Split a post-handshake payload into its RequestHeader and the body bytes. Failing here is
/// the one decode failure after which ZooKeeper closes the connection (no xid to answer).
pub fn decode_request_header(payload: &[u8]) -> Result<(RequestHeader, &[u8]), DecodeError> {
    let mut r = JuteReader::new(payload);
    let header = RequestHeader::read(&mut r)?;
    Ok((header, r.rest()))
}

/// Decode the body that follows a RequestHeader with this opcode. Strict: the body must be
/// exactly the record. An unknown opcode yields [`Request::Unknown`] whatever the body holds.
pub fn decode_request_body(opcode: i32, body: &[u8]) -> Result<Request, DecodeError> {
    let op = match OpCode::from_code(opcode) {
        None
        | Some(
            OpCode::Notification | OpCode::DeleteContainer | OpCode::CreateSession | OpCode::Error,
        ) => return Ok(Request::Unknown(opcode)),
        Some(op) => op,
    };
    let mut r = JuteReader::new(body);
    let request = read_body(op, &mut r)?;
    r.finish()?;
    Ok(request)
}

fn read_create(r: &mut JuteReader<'_>, kind: CreateKind) -> Result<Request, DecodeError> {
    Ok(Request::Create {
        kind,
        req: CreateRequest::read(r, kind)?,
    })
}

fn read_body(op: OpCode, r: &mut JuteReader<'_>) -> Result<Request, DecodeError> {
    Ok(match op {
        OpCode::Create => read_create(r, CreateKind::Create)?,
        OpCode::Create2 => read_create(r, CreateKind::Create2)?,
        OpCode::CreateContainer => read_create(r, CreateKind::Container)?,
        OpCode::CreateTtl => read_create(r, CreateKind::Ttl)?,
        OpCode::Delete => Request::Delete {
            path: r.read_ustring()?,
            version: r.read_i32()?,
        },
        OpCode::Exists => Request::Exists {
            path: r.read_ustring()?,
            watch: r.read_bool()?,
        },
        OpCode::GetData => Request::GetData {
            path: r.read_ustring()?,
            watch: r.read_bool()?,
        },
        OpCode::SetData => Request::SetData {
            path: r.read_ustring()?,
            data: r.read_buffer_opt()?,
            version: r.read_i32()?,
        },
        OpCode::GetAcl => Request::GetAcl {
            path: r.read_ustring()?,
        },
        OpCode::SetAcl => Request::SetAcl {
            path: r.read_ustring()?,
            acl: r.read_acl_vec()?,
            version: r.read_i32()?,
        },
        OpCode::GetChildren => Request::GetChildren {
            path: r.read_ustring()?,
            watch: r.read_bool()?,
        },
        OpCode::GetChildren2 => Request::GetChildren2 {
            path: r.read_ustring()?,
            watch: r.read_bool()?,
        },
        OpCode::Sync => Request::Sync {
            path: r.read_ustring()?,
        },
        OpCode::Ping => Request::Ping,
        OpCode::Check => Request::Check {
            path: r.read_ustring()?,
            version: r.read_i32()?,
        },
        OpCode::Multi => Request::Multi(multi::read_multi(r)?),
        OpCode::MultiRead => Request::MultiRead(multi::read_multi_read(r)?),
        OpCode::Reconfig => Request::Reconfig {
            joining: r.read_ustring_opt()?,
            leaving: r.read_ustring_opt()?,
            new_members: r.read_ustring_opt()?,
            cur_config_id: r.read_i64()?,
        },
        OpCode::CheckWatches => Request::CheckWatches {
            path: r.read_ustring()?,
            watcher_type: r.read_i32()?,
        },
        OpCode::RemoveWatches => Request::RemoveWatches {
            path: r.read_ustring()?,
            watcher_type: r.read_i32()?,
        },
        OpCode::Auth => Request::Auth {
            auth_type: r.read_i32()?,
            scheme: r.read_ustring()?,
            auth: r.read_buffer()?,
        },
        OpCode::SetWatches => Request::SetWatches(SetWatches::read(r, false)?),
        OpCode::SetWatches2 => Request::SetWatches(SetWatches::read(r, true)?),
        OpCode::Sasl => Request::Sasl {
            token: r.read_buffer()?,
        },
        OpCode::GetEphemerals => Request::GetEphemerals {
            prefix: r.read_ustring()?,
        },
        OpCode::GetAllChildrenNumber => Request::GetAllChildrenNumber {
            path: r.read_ustring()?,
        },
        OpCode::AddWatch => Request::AddWatch {
            path: r.read_ustring()?,
            mode: r.read_i32()?,
        },
        OpCode::WhoAmI => Request::WhoAmI,
        OpCode::CloseSession => Request::CloseSession,
        OpCode::Notification | OpCode::DeleteContainer | OpCode::CreateSession | OpCode::Error => {
            Request::Unknown(op.code())
        }
    })
}

/// Decode one post-handshake frame payload into its header and request.
pub fn decode_request(payload: &[u8]) -> Result<(RequestHeader, Request), DecodeError> {
    let (header, body) = decode_request_header(payload)?;
    let request = decode_request_body(header.opcode, body)?;
    Ok((header, request))
}

/// And the inverse (tests, fuzzing and differential tools use it): the unframed payload.
///
/// The header is written as given; the body layout follows the request, except that a
/// [`Request::SetWatches`] is written as SetWatches2 exactly when `header.opcode` is 105 (or,
/// for any opcode other than 101/105, when it holds persistent watches). Pass
/// `RequestHeader { xid, opcode: req.opcode() }` for a frame that decodes back to `req`.
pub fn encode_request(header: &RequestHeader, req: &Request) -> Vec<u8> {
    let mut w = JuteWriter::with_capacity(64);
    header.write(&mut w);
    encode_request_body(&mut w, header.opcode, req);
    w.into_inner()
}

fn encode_request_body(w: &mut JuteWriter, opcode: i32, req: &Request) {
    match req {
        Request::Create { kind, req } => req.write(w, *kind),
        Request::Delete { path, version } | Request::Check { path, version } => {
            w.write_ustring(path);
            w.write_i32(*version);
        }
        Request::Exists { path, watch }
        | Request::GetData { path, watch }
        | Request::GetChildren { path, watch }
        | Request::GetChildren2 { path, watch } => {
            w.write_ustring(path);
            w.write_bool(*watch);
        }
        Request::SetData {
            path,
            data,
            version,
        } => {
            w.write_ustring(path);
            w.write_buffer_opt(data.as_deref());
            w.write_i32(*version);
        }
        Request::GetAcl { path }
        | Request::Sync { path }
        | Request::GetAllChildrenNumber { path }
        | Request::GetEphemerals { prefix: path } => w.write_ustring(path),
        Request::SetAcl { path, acl, version } => {
            w.write_ustring(path);
            w.write_acl_vec(acl);
            w.write_i32(*version);
        }
        Request::Multi(ops) => multi::write_multi(w, ops),
        Request::MultiRead(ops) => multi::write_multi_read(w, ops),
        Request::Reconfig {
            joining,
            leaving,
            new_members,
            cur_config_id,
        } => {
            w.write_ustring_opt(joining.as_deref());
            w.write_ustring_opt(leaving.as_deref());
            w.write_ustring_opt(new_members.as_deref());
            w.write_i64(*cur_config_id);
        }
        Request::CheckWatches { path, watcher_type }
        | Request::RemoveWatches { path, watcher_type } => {
            w.write_ustring(path);
            w.write_i32(*watcher_type);
        }
        Request::Auth {
            auth_type,
            scheme,
            auth,
        } => {
            w.write_i32(*auth_type);
            w.write_ustring(scheme);
            w.write_buffer(auth);
        }
        Request::SetWatches(sw) => {
            let with_persistent = if opcode == OpCode::SetWatches2.code() {
                true
            } else if opcode == OpCode::SetWatches.code() {
                false
            } else {
                sw.needs_set_watches2()
            };
            sw.write(w, with_persistent);
        }
        Request::Sasl { token } => w.write_buffer(token),
        Request::AddWatch { path, mode } => {
            w.write_ustring(path);
            w.write_i32(*mode);
        }
        Request::Ping | Request::WhoAmI | Request::CloseSession | Request::Unknown(_) => {}
    }
}

#[cfg(test)]
mod tests;
