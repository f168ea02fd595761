//! What can go wrong when bytes from the network do not form the record they claim to be.
//!
//! Every message names the part of the input that was wrong. The usual remedy is the same for
//! all of them: the peer sent a malformed or truncated frame (or is not a ZooKeeper client), so
//! the server answers or drops that one connection and keeps serving everyone else.

/// A frame payload that could not be decoded into a jute record.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// A fixed-size field (int, long, bool) runs past the end of the frame.
    #[error(
        "record truncated: the next field needs {needed} byte(s) but only {remaining} remain in \
         the frame; the peer sent a shorter record than its opcode requires"
    )]
    UnexpectedEof { needed: usize, remaining: usize },

    /// A length or count prefix below -1 (-1 itself means null and is accepted).
    #[error(
        "length prefix {0} is negative; jute only allows -1 (null) there, so the frame is \
         corrupt or out of step with the stream"
    )]
    NegativeLength(i32),

    /// A buffer, string or vector claims more bytes than the frame has left.
    #[error(
        "{what} claims length {len} but only {remaining} byte(s) remain in the frame; the frame \
         is corrupt or truncated"
    )]
    LengthTooLarge {
        what: &'static str,
        len: i32,
        remaining: usize,
    },

    /// A ustring field holds bytes that are not UTF-8.
    #[error("a string field is not valid UTF-8; ZooKeeper paths, schemes and ids must be UTF-8")]
    InvalidUtf8,

    /// The record ended but the frame still has bytes.
    #[error(
        "{0} unexpected byte(s) after the end of the record; the frame is longer than its \
         opcode's record, so the peer and this server disagree on the layout"
    )]
    TrailingBytes(usize),

    /// A create `flags` value that is not one of ZooKeeper's CreateMode flags (0..=6).
    #[error(
        "create flags {0} name no CreateMode; valid flags are 0 to 6 (ZooKeeper answers BADARGUMENTS)"
    )]
    UnknownCreateMode(i32),

    /// A checkWatches/removeWatches `type` that is not a WatcherType (1..=5).
    #[error(
        "watcher type {0} is unknown; valid types are 1 (children) to 5 (persistent recursive)"
    )]
    UnknownWatcherType(i32),

    /// An addWatch `mode` that is not an AddWatchMode (0 or 1).
    #[error(
        "addWatch mode {0} is unknown; valid modes are 0 (persistent) and 1 (persistent recursive)"
    )]
    UnknownAddWatchMode(i32),

    /// A multi sub-header names an operation that this kind of multi cannot carry.
    #[error(
        "a {within} carries a sub-operation with opcode {op_type}, which it cannot contain \
         (multi takes create/create2/createContainer/createTTL/delete/setData/check, multiRead \
         takes getData/getChildren)"
    )]
    BadMultiHeader { within: &'static str, op_type: i32 },

    /// A reply or notification could not be interpreted because its opcode has no known body.
    #[error(
        "opcode {0} has no known reply body; pass the opcode of the request this reply answers"
    )]
    UnknownResponseOpcode(i32),

    /// `decode_notification` was given a frame whose xid is not -1.
    #[error("xid {0} is not a watch notification (notifications carry xid -1)")]
    NotANotification(i32),
}
