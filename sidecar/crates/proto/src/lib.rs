//! ZooKeeper's wire vocabulary and the jute codec, written by hand because no crate provides the
//! server side of it. Nothing here does I/O: bytes in, records out, and back.
//!
//! The record layouts follow `zookeeper.jute` of ZooKeeper 3.9; the numeric codes follow
//! `ZooDefs.java` and `KeeperException.java`. Where ZooKeeper's behaviour is not visible in the
//! jute file (which reply body each opcode gets, multi framing, the optional readOnly byte),
//! the module documentation says where it comes from, and the tests replay sessions of the
//! Java and C clients recorded against a real ZooKeeper 3.8.0.
//!
//! * [`jute`]: primitives ([`JuteReader`] / [`JuteWriter`]).
//! * [`frame`](mod@frame): the 4-byte length prefix and `jute.maxbuffer`.
//! * [`request`]: handshake and requests ([`ConnectRequest`], [`decode_request`]).
//! * [`response`]: handshake reply, replies and notifications ([`ConnectResponse`],
//!   [`encode_reply`], [`encode_notification`]).
//! * [`sasl`]: the server side of SASL DIGEST-MD5, the mechanism inside the `sasl` request's
//!   tokens.
//!
//! Decoding never panics and never allocates more than the input could hold, whatever the
//! bytes (property-tested here, and fuzzed by the target in `fuzz/`).

pub mod error;
pub mod frame;
pub mod jute;
pub mod request;
pub mod response;
pub mod sasl;
pub mod types;

pub use error::DecodeError;
pub use frame::{FrameError, check_frame_len, frame, split_frame};
pub use jute::{JuteReader, JuteWriter};
pub use request::{
    ConnectRequest, CreateKind, CreateRequest, MultiHeader, MultiOp, ReadOp, Request,
    RequestHeader, SetWatches, add_watch_mode, decode_request, decode_request_body,
    decode_request_header, encode_request, watcher_type,
};
pub use response::{
    ClientInfo, ConnectResponse, MultiResult, ReplyHeader, Response, WatcherEvent,
    decode_notification, decode_reply, decode_reply_header, encode_notification, encode_reply,
};
pub use types::*;
