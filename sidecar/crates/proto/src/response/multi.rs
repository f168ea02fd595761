//! multi and multiRead reply bodies (`MultiResponse`).
//!
//! Each result is `MultiHeader{type, done=false, err}` + its body; the list ends with
//! `MultiHeader{-1, true, -1}`. `type` is the result's kind, not the request's opcode: a create
//! result is typed create (1, `CreateResponse{path}`) or create2 (15, `Create2Response{path,
//! stat}`), whichever the server built; delete (2) and check (13) carry no body; setData (5)
//! carries `SetDataResponse{stat}`; getData (4) `GetDataResponse{data, stat}`; getChildren (8)
//! `GetChildrenResponse{children}`; an error (-1) has `err` set to its code in the header *and*
//! an `ErrorResponse{err}` body.
//!
//! Which create result ZooKeeper builds (checked with 3.8.0): createContainer and createTTL
//! sub-ops yield create2 results; a create2 sub-op yields a plain create result in 3.8 (its
//! `MultiOperationRecord` forgets the opcode), and a create2 result in 3.9, which keeps it.
//!
//! A failed multi is still a *successful* reply: ZooKeeper sends `ReplyHeader.err = 0` with one
//! error result per sub-op (OK for those before the failure, the failure's code, then
//! RUNTIMEINCONSISTENCY for the rest), verified against 3.8.0. The Java client raises the first
//! non-zero result itself.

use crate::error::DecodeError;
use crate::jute::{JuteReader, JuteWriter};
use crate::request::MultiHeader;
use crate::types::{OpCode, Stat};

/// One sub-result of a multi or multiRead reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiResult {
    Create { path: String },
    Create2 { path: String, stat: Stat },
    SetData { stat: Stat },
    Delete,
    Check,
    Error(i32),
    GetData { data: Option<Vec<u8>>, stat: Stat },
    GetChildren { children: Vec<String> },
}

impl MultiResult {
    /// The `type` field of this result's MultiHeader.
    pub fn op_type(&self) -> i32 {
        let op = match self {
            MultiResult::Create { .. } => OpCode::Create,
            MultiResult::Create2 { .. } => OpCode::Create2,
            MultiResult::SetData { .. } => OpCode::SetData,
            MultiResult::Delete => OpCode::Delete,
            MultiResult::Check => OpCode::Check,
            MultiResult::Error(_) => OpCode::Error,
            MultiResult::GetData { .. } => OpCode::GetData,
            MultiResult::GetChildren { .. } => OpCode::GetChildren,
        };
        op.code()
    }

    fn header(&self) -> MultiHeader {
        MultiHeader {
            op_type: self.op_type(),
            done: false,
            err: match self {
                MultiResult::Error(err) => *err,
                _ => 0,
            },
        }
    }
}

pub(super) fn write_results(w: &mut JuteWriter, results: &[MultiResult]) {
    for result in results {
        result.header().write(w);
        match result {
            MultiResult::Create { path } => w.write_ustring(path),
            MultiResult::Create2 { path, stat } => {
                w.write_ustring(path);
                w.write_stat(stat);
            }
            MultiResult::SetData { stat } => w.write_stat(stat),
            MultiResult::Delete | MultiResult::Check => {}
            MultiResult::Error(err) => w.write_i32(*err),
            MultiResult::GetData { data, stat } => {
                w.write_buffer_opt(data.as_deref());
                w.write_stat(stat);
            }
            MultiResult::GetChildren { children } => w.write_string_vec(children),
        }
    }
    MultiHeader::END.write(w);
}

/// Reads results until the `done` header. The error code is taken from the ErrorResponse body,
/// as ZooKeeper's `MultiResponse.deserialize` does, not from the header.
pub(super) fn read_results(
    r: &mut JuteReader<'_>,
    within: &'static str,
) -> Result<Vec<MultiResult>, DecodeError> {
    let mut results = Vec::new();
    loop {
        let header = MultiHeader::read(r)?;
        if header.done {
            return Ok(results);
        }
        let result = match OpCode::from_code(header.op_type) {
            Some(OpCode::Create) => MultiResult::Create {
                path: r.read_ustring()?,
            },
            Some(OpCode::Create2) => MultiResult::Create2 {
                path: r.read_ustring()?,
                stat: r.read_stat()?,
            },
            Some(OpCode::SetData) => MultiResult::SetData {
                stat: r.read_stat()?,
            },
            Some(OpCode::Delete) => MultiResult::Delete,
            Some(OpCode::Check) => MultiResult::Check,
            Some(OpCode::Error) => MultiResult::Error(r.read_i32()?),
            Some(OpCode::GetData) => MultiResult::GetData {
                data: r.read_buffer_opt()?,
                stat: r.read_stat()?,
            },
            Some(OpCode::GetChildren) => MultiResult::GetChildren {
                children: r.read_string_vec()?,
            },
            _ => {
                return Err(DecodeError::BadMultiHeader {
                    within,
                    op_type: header.op_type,
                });
            }
        };
        results.push(result);
    }
}
