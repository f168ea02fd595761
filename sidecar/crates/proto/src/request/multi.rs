//! multi (opcode 14) and multiRead (opcode 22) request bodies (`MultiOperationRecord`).
//!
//! Each sub-operation is a `MultiHeader{type, done=false, err=-1}` followed by that opcode's
//! ordinary request record; the list ends with `MultiHeader{-1, true, -1}`. The sub-records
//! are CreateRequest (create, create2, createContainer), CreateTTLRequest (createTTL),
//! DeleteRequest, SetDataRequest and CheckVersionRequest for multi, and GetDataRequest /
//! GetChildrenRequest for multiRead.
//!
//! As in ZooKeeper's `MultiOperationRecord.deserialize`, any header with `done` set ends the
//! list whatever its type and err, and the err of a sub-operation header is ignored. Unlike
//! ZooKeeper we do not validate create flags here (ZooKeeper 3.8 turns bad flags into a
//! per-operation BADARGUMENTS result, 3.9 into a MARSHALLINGERROR for the whole multi; the
//! caller picks via [`CreateRequest::mode`](super::CreateRequest::mode)).

use super::{CreateKind, CreateRequest};
use crate::error::DecodeError;
use crate::jute::{JuteReader, JuteWriter};
use crate::types::OpCode;

/// jute `MultiHeader{int type, boolean done, int err}`, shared by multi requests and replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultiHeader {
    pub op_type: i32,
    pub done: bool,
    pub err: i32,
}

impl MultiHeader {
    /// The terminator both directions use.
    pub const END: MultiHeader = MultiHeader {
        op_type: -1,
        done: true,
        err: -1,
    };

    /// The header in front of each request sub-operation (`err` is always -1 there).
    pub fn for_request(op_type: i32) -> Self {
        MultiHeader {
            op_type,
            done: false,
            err: -1,
        }
    }

    pub fn read(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(MultiHeader {
            op_type: r.read_i32()?,
            done: r.read_bool()?,
            err: r.read_i32()?,
        })
    }

    pub fn write(&self, w: &mut JuteWriter) {
        w.write_i32(self.op_type);
        w.write_bool(self.done);
        w.write_i32(self.err);
    }
}

/// One write inside a multi.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiOp {
    Create {
        kind: CreateKind,
        req: CreateRequest,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        /// `None` for the null buffer (-1), as in a top-level setData.
        data: Option<Vec<u8>>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
}

impl MultiOp {
    pub fn opcode(&self) -> i32 {
        match self {
            MultiOp::Create { kind, .. } => kind.opcode(),
            MultiOp::Delete { .. } => OpCode::Delete.code(),
            MultiOp::SetData { .. } => OpCode::SetData.code(),
            MultiOp::Check { .. } => OpCode::Check.code(),
        }
    }

    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create { req, .. } => &req.path,
            MultiOp::Delete { path, .. }
            | MultiOp::SetData { path, .. }
            | MultiOp::Check { path, .. } => path,
        }
    }
}

/// One read inside a multiRead. The sub-records carry a watch flag, but ZooKeeper never sets
/// a watch from a multiRead (`Op.GetData`/`Op.GetChildren` have none), so it is dropped on
/// decode and written as false.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadOp {
    GetData { path: String },
    GetChildren { path: String },
}

impl ReadOp {
    pub fn opcode(&self) -> i32 {
        match self {
            ReadOp::GetData { .. } => OpCode::GetData.code(),
            ReadOp::GetChildren { .. } => OpCode::GetChildren.code(),
        }
    }

    pub fn path(&self) -> &str {
        match self {
            ReadOp::GetData { path } | ReadOp::GetChildren { path } => path,
        }
    }
}

/// Reads sub-operations until a `done` header, using `read_op` for each non-final header.
fn read_until_done<T>(
    r: &mut JuteReader<'_>,
    mut read_op: impl FnMut(&mut JuteReader<'_>, MultiHeader) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let mut ops = Vec::new();
    loop {
        let header = MultiHeader::read(r)?;
        if header.done {
            return Ok(ops);
        }
        // Every iteration consumes at least the 9-byte header, so the loop is bounded by the
        // frame size.
        ops.push(read_op(r, header)?);
    }
}

pub(super) fn read_multi(r: &mut JuteReader<'_>) -> Result<Vec<MultiOp>, DecodeError> {
    read_until_done(r, |r, header| {
        if let Some(kind) = CreateKind::from_opcode(header.op_type) {
            return Ok(MultiOp::Create {
                kind,
                req: CreateRequest::read(r, kind)?,
            });
        }
        match OpCode::from_code(header.op_type) {
            Some(OpCode::Delete) => Ok(MultiOp::Delete {
                path: r.read_ustring()?,
                version: r.read_i32()?,
            }),
            Some(OpCode::SetData) => Ok(MultiOp::SetData {
                path: r.read_ustring()?,
                data: r.read_buffer_opt()?,
                version: r.read_i32()?,
            }),
            Some(OpCode::Check) => Ok(MultiOp::Check {
                path: r.read_ustring()?,
                version: r.read_i32()?,
            }),
            _ => Err(DecodeError::BadMultiHeader {
                within: "multi",
                op_type: header.op_type,
            }),
        }
    })
}

pub(super) fn write_multi(w: &mut JuteWriter, ops: &[MultiOp]) {
    for op in ops {
        MultiHeader::for_request(op.opcode()).write(w);
        match op {
            MultiOp::Create { kind, req } => req.write(w, *kind),
            MultiOp::Delete { path, version } | MultiOp::Check { path, version } => {
                w.write_ustring(path);
                w.write_i32(*version);
            }
            MultiOp::SetData {
                path,
                data,
                version,
            } => {
                w.write_ustring(path);
                w.write_buffer_opt(data.as_deref());
                w.write_i32(*version);
            }
        }
    }
    MultiHeader::END.write(w);
}

pub(super) fn read_multi_read(r: &mut JuteReader<'_>) -> Result<Vec<ReadOp>, DecodeError> {
    read_until_done(r, |r, header| {
        let make: fn(String) -> ReadOp = match OpCode::from_code(header.op_type) {
            Some(OpCode::GetData) => |path| ReadOp::GetData { path },
            Some(OpCode::GetChildren) => |path| ReadOp::GetChildren { path },
            _ => {
                return Err(DecodeError::BadMultiHeader {
                    within: "multiRead",
                    op_type: header.op_type,
                });
            }
        };
        let path = r.read_ustring()?;
        let _watch = r.read_bool()?;
        Ok(make(path))
    })
}

pub(super) fn write_multi_read(w: &mut JuteWriter, ops: &[ReadOp]) {
    for op in ops {
        MultiHeader::for_request(op.opcode()).write(w);
        w.write_ustring(op.path());
        w.write_bool(false);
    }
    MultiHeader::END.write(w);
}
