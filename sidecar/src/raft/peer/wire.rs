//! The peer protocol: messages and framing.
//!
//! A connection starts with [`PREAMBLE`] from the connecting side, so that a stray client (a
//! ZooKeeper client or a ZooKeeper quorum peer pointed at the wrong port) is refused at once and
//! a future incompatible protocol can be told apart. After it, both directions carry frames:
//!
//! ```text
//! u32 big-endian length | u64 big-endian request id | postcard(message)
//! ```
//!
//! The length counts the id and the message. Requests and responses are matched by id, so many
//! requests can be in flight on one connection and replies may come back in any order.
//!
//! Every openraft message crosses as postcard. openraft's serde layout is positional-safe in
//! 0.10 (its `SnapshotMeta` keeps a reserved third field precisely so that positional formats
//! stay unambiguous); the round-trip tests below check each message kind with realistic values.
//! Remote failures cross as strings: openraft's `RPCError<C>` has no room for a typed remote
//! error anyway (its `RemoteError` variant is `Infallible` for the unary RPCs), and the transport
//! maps a remote failure to `Unreachable` (see `network.rs`).

use corral_tree::{Applied, Command};
use openraft::alias::{SnapshotMetaOf, VoteOf};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::raft::TypeConfig;
use crate::raft::reconfig_plan::{ReconfigCall, ReconfigFailure};

/// Sent once by the connecting side: "CORRAL", a zero byte, and the protocol version.
pub const PREAMBLE: [u8; 8] = *b"CORRAL\x00\x01";

/// The largest frame either side sends or accepts (length field value). A snapshot larger than
/// this crosses in chunks ([`PeerRequest::SnapshotChunk`]); an AppendEntries larger than this is
/// cut short and reported to openraft as a partial success.
pub const MAX_FRAME_LEN: usize = 64 * 1024 * 1024;

/// Bytes before the message: the length field and the request id.
pub const FRAME_HEADER_LEN: usize = 4 + 8;

pub type Vote = VoteOf<TypeConfig>;
pub type SnapshotMeta = SnapshotMetaOf<TypeConfig>;

/// What one member asks another.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum PeerRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<TypeConfig>),
    PreVote(VoteRequest<TypeConfig>),
    /// A leading part of a snapshot too large for one frame. The receiver buffers the parts of
    /// `transfer` (per connection) until the matching [`PeerRequest::FullSnapshot`] arrives.
    /// Answered with [`PeerResponse::SnapshotChunk`].
    SnapshotChunk {
        transfer: u64,
        offset: u64,
        data: Vec<u8>,
    },
    /// A whole snapshot, or the last part of a chunked one: `data` starts at `offset`, which is
    /// 0 for a snapshot sent in one frame.
    FullSnapshot {
        transfer: u64,
        vote: Vote,
        meta: SnapshotMeta,
        offset: u64,
        data: Vec<u8>,
    },
    TransferLeader(TransferLeaderRequest<TypeConfig>),
    /// A follower's client write, proposed by the leader in arrival order.
    ForwardWrite(Command),
    /// Ask the leader for a read index (ZooKeeper's `sync` on a follower).
    ReadIndex,
    /// Sessions seen alive on a follower since its last touch.
    Touch(Vec<i64>),
    /// A client's ZooKeeper `reconfig`, which only the leader can carry out. Answered with
    /// [`PeerResponse::Reconfig`].
    Reconfig(ReconfigCall),
}

impl PeerRequest {
    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            PeerRequest::AppendEntries(_) => "append_entries",
            PeerRequest::Vote(_) => "vote",
            PeerRequest::PreVote(_) => "pre_vote",
            PeerRequest::SnapshotChunk { .. } => "snapshot_chunk",
            PeerRequest::FullSnapshot { .. } => "full_snapshot",
            PeerRequest::TransferLeader(_) => "transfer_leader",
            PeerRequest::ForwardWrite(_) => "forward_write",
            PeerRequest::ReadIndex => "read_index",
            PeerRequest::Touch(_) => "touch",
            PeerRequest::Reconfig(_) => "reconfig",
        }
    }
}

/// The answer to one [`PeerRequest`]. `Err(String)` is the remote side's failure, in words.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum PeerResponse {
    AppendEntries(Result<AppendEntriesResponse<TypeConfig>, String>),
    /// The answer to both `Vote` and `PreVote`.
    Vote(Result<VoteResponse<TypeConfig>, String>),
    /// A snapshot chunk was buffered.
    SnapshotChunk,
    Snapshot(Result<SnapshotResponse<TypeConfig>, String>),
    TransferLeader(Result<TransferLeaderResponse<TypeConfig>, String>),
    Forwarded(Result<Applied, String>),
    ReadIndex(Result<u64, String>),
    Touched,
    /// The index of the membership entry in effect after a reconfig (its config version).
    Reconfig(Result<u64, ReconfigFailure>),
    /// The request could not be handled at all (unsupported, malformed snapshot transfer, a
    /// panic in the handler).
    Error(String),
}

impl PeerResponse {
    /// A short name for logs and error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            PeerResponse::AppendEntries(_) => "append_entries",
            PeerResponse::Vote(_) => "vote",
            PeerResponse::SnapshotChunk => "snapshot_chunk",
            PeerResponse::Snapshot(_) => "snapshot",
            PeerResponse::TransferLeader(_) => "transfer_leader",
            PeerResponse::Forwarded(_) => "forwarded",
            PeerResponse::ReadIndex(_) => "read_index",
            PeerResponse::Touched => "touched",
            PeerResponse::Reconfig(_) => "reconfig",
            PeerResponse::Error(_) => "error",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error(
        "a peer frame of {len} bytes exceeds the limit of {max} bytes; large snapshots are chunked, so this is a bug or a foreign client"
    )]
    FrameTooLarge { len: usize, max: usize },
    #[error("a peer frame of {len} bytes is too short to hold a request id")]
    FrameTooShort { len: usize },
    #[error("cannot encode a peer message: {0}")]
    Encode(postcard::Error),
    #[error(
        "cannot decode a peer message ({0}); both members must run the same Corral protocol version"
    )]
    Decode(postcard::Error),
    #[error("a peer message has {0} unexpected trailing bytes")]
    TrailingBytes(usize),
    #[error(
        "the connection did not start with Corral's peer preamble; is a non-Corral client connected to the peer port?"
    )]
    BadPreamble,
    #[error("peer connection I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A message encoded into a complete frame whose request id is still blank; the sender stamps
/// the id just before queueing it (see [`EncodedFrame::set_id`]).
#[derive(Debug)]
pub struct EncodedFrame(Vec<u8>);

impl EncodedFrame {
    pub fn set_id(&mut self, id: u64) {
        self.0[4..FRAME_HEADER_LEN].copy_from_slice(&id.to_be_bytes());
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// Encode `msg` into a frame (id 0) no larger than `max_frame_len` (as the length field counts).
pub fn encode<T: Serialize>(msg: &T, max_frame_len: usize) -> Result<EncodedFrame, WireError> {
    let buf = vec![0u8; FRAME_HEADER_LEN];
    let buf = postcard::to_extend(msg, buf).map_err(WireError::Encode)?;
    let len = buf.len() - 4;
    if len > max_frame_len {
        return Err(WireError::FrameTooLarge {
            len,
            max: max_frame_len,
        });
    }
    let mut buf = buf;
    // Cannot truncate: max_frame_len is far below u32::MAX in every configuration, and the
    // check above ran first.
    let len32 = u32::try_from(len).map_err(|_| WireError::FrameTooLarge {
        len,
        max: max_frame_len,
    })?;
    buf[..4].copy_from_slice(&len32.to_be_bytes());
    Ok(EncodedFrame(buf))
}

/// Encode `msg` as the frame answering (or asking) request `id`.
pub fn encode_with_id<T: Serialize>(
    id: u64,
    msg: &T,
    max_frame_len: usize,
) -> Result<EncodedFrame, WireError> {
    let mut frame = encode(msg, max_frame_len)?;
    frame.set_id(id);
    Ok(frame)
}

/// Borrowing twin of [`PeerRequest::AppendEntries`], so that an AppendEntries can be encoded
/// (and re-encoded shorter, see `network.rs`) without cloning its entries. postcard writes a
/// variant by its index, so this must stay variant 0, as in [`PeerRequest`]; a test checks that
/// both encode to the same bytes.
#[derive(Serialize)]
enum AppendEntriesRef<'a> {
    AppendEntries(&'a AppendEntriesRequest<TypeConfig>),
}

/// Encode `rpc` exactly as `encode(&PeerRequest::AppendEntries(rpc))` would.
pub fn encode_append_entries(
    rpc: &AppendEntriesRequest<TypeConfig>,
    max_frame_len: usize,
) -> Result<EncodedFrame, WireError> {
    encode(&AppendEntriesRef::AppendEntries(rpc), max_frame_len)
}

/// Check a frame's length field before reading its body.
pub fn check_frame_len(len: u32, max_frame_len: usize) -> Result<usize, WireError> {
    let len = len as usize;
    if len > max_frame_len {
        Err(WireError::FrameTooLarge {
            len,
            max: max_frame_len,
        })
    } else if len < 8 {
        Err(WireError::FrameTooShort { len })
    } else {
        Ok(len)
    }
}

/// Decode a frame body (everything after the length field) into its id and message. Never
/// panics, whatever the bytes.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<(u64, T), WireError> {
    let Some((id, msg)) = body.split_first_chunk::<8>() else {
        return Err(WireError::FrameTooShort { len: body.len() });
    };
    let (value, rest) = postcard::take_from_bytes(msg).map_err(WireError::Decode)?;
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes(rest.len()));
    }
    Ok((u64::from_be_bytes(*id), value))
}

/// Read one frame body. `Ok(None)` is a clean end of stream between frames. A length over
/// `max_frame_len` is refused before anything is allocated.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_frame_len: usize,
) -> Result<Option<Vec<u8>>, WireError> {
    let mut head = [0u8; 4];
    match reader.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = check_frame_len(u32::from_be_bytes(head), max_frame_len)?;
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await?;
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use corral_proto::{Acl, CreateMode, ErrorCode, EventType, Id, Stat};
    use corral_tree::{CommandKind, Outcome, WatchTrigger, WriteOp};
    use openraft::alias::{EntryOf, LogIdOf, StoredMembershipOf};
    use openraft::entry::RaftEntry;
    use openraft::impls::leader_id_adv::LeaderId;
    use openraft::raft::TransferLeaderError;
    use openraft::{EntryPayload, Membership};

    use crate::raft::MemberNode;
    use proptest::prelude::*;

    use super::*;

    type Entry = EntryOf<TypeConfig>;
    type LogId = LogIdOf<TypeConfig>;

    fn log_id(term: u64, node_id: u64, index: u64) -> LogId {
        LogId::new(LeaderId { term, node_id }, index)
    }

    fn nodes() -> BTreeMap<u64, MemberNode> {
        (1..=4)
            .map(|id| {
                (
                    id,
                    MemberNode {
                        addr: format!("10.0.0.{id}:2888"),
                        election_port: 3888,
                        client_addr: Some(format!("10.0.0.{id}:2181")),
                        observer: id == 4,
                    },
                )
            })
            .collect()
    }

    fn membership() -> Membership<u64, MemberNode> {
        // Member 4 is a learner.
        Membership::new(vec![BTreeSet::from([1, 2, 3])], nodes()).expect("valid membership")
    }

    fn write_command() -> Command {
        Command {
            time_ms: 1_700_000_000_123,
            kind: CommandKind::Write {
                session_id: 0x1234_5678_9abc,
                owner: 42,
                auth: vec![Id::new("ip", "10.0.0.9"), Id::new("digest", "u:abc=")],
                op: WriteOp::Multi(vec![
                    WriteOp::Create {
                        path: "/hbase/rs/host,16020,1".into(),
                        data: Some(b"PBUF\x0a\x02".to_vec()),
                        acl: Acl::open_unsafe(),
                        mode: CreateMode::EphemeralSequential,
                        ttl_ms: -1,
                    },
                    WriteOp::SetData {
                        path: "/hbase/master".into(),
                        data: None,
                        version: -1,
                    },
                    WriteOp::Check {
                        path: "/hbase".into(),
                        version: 3,
                    },
                ]),
            },
        }
    }

    fn entries() -> Vec<Entry> {
        vec![
            Entry::new(log_id(3, 1, 10), EntryPayload::Blank),
            Entry::new(log_id(3, 1, 11), EntryPayload::Normal(write_command())),
            Entry::new(log_id(3, 1, 12), EntryPayload::Membership(membership())),
            Entry::new(
                log_id(3, 1, 13),
                EntryPayload::Normal(Command {
                    time_ms: 1,
                    kind: CommandKind::CreateSession {
                        timeout_ms: 30_000,
                        password: [7; 16],
                        owner: 9,
                    },
                }),
            ),
        ]
    }

    fn vote() -> Vote {
        Vote::new_committed(4, 2)
    }

    fn stat() -> Stat {
        Stat {
            czxid: 11,
            mzxid: 12,
            ctime: 1_700_000_000_000,
            mtime: 1_700_000_000_001,
            version: 1,
            cversion: 2,
            aversion: 0,
            ephemeral_owner: 0x55,
            data_length: 6,
            num_children: 0,
            pzxid: 11,
        }
    }

    fn requests() -> Vec<PeerRequest> {
        vec![
            PeerRequest::AppendEntries(AppendEntriesRequest {
                vote: vote(),
                prev_log_id: Some(log_id(2, 3, 9)),
                entries: entries(),
                leader_commit: Some(log_id(3, 1, 10)),
            }),
            PeerRequest::AppendEntries(AppendEntriesRequest {
                vote: vote(),
                prev_log_id: None,
                entries: vec![],
                leader_commit: None,
            }),
            PeerRequest::Vote(VoteRequest {
                vote: Vote::new(5, 3),
                last_log_id: Some(log_id(4, 2, 20)),
                leadership_transfer: true,
            }),
            PeerRequest::PreVote(VoteRequest::new(Vote::new(6, 1), None)),
            PeerRequest::SnapshotChunk {
                transfer: 7,
                offset: 1 << 33,
                data: vec![0xAB; 1000],
            },
            PeerRequest::FullSnapshot {
                transfer: 7,
                vote: vote(),
                meta: SnapshotMeta {
                    last_log_id: Some(log_id(3, 1, 500)),
                    last_membership: StoredMembershipOf::<TypeConfig>::new(
                        Some(log_id(2, 1, 3)),
                        membership(),
                    ),
                },
                offset: 4096,
                data: (0..=255).collect(),
            },
            PeerRequest::FullSnapshot {
                transfer: 0,
                vote: Vote::new(0, 0),
                meta: SnapshotMeta::default(),
                offset: 0,
                data: vec![],
            },
            PeerRequest::TransferLeader(TransferLeaderRequest::new(
                vote(),
                3,
                Some(log_id(4, 2, 77)),
            )),
            PeerRequest::ForwardWrite(write_command()),
            PeerRequest::ReadIndex,
            PeerRequest::Touch(vec![1, -1, i64::MAX, i64::MIN]),
        ]
    }

    fn responses() -> Vec<PeerResponse> {
        vec![
            PeerResponse::AppendEntries(Ok(AppendEntriesResponse::Success)),
            PeerResponse::AppendEntries(Ok(AppendEntriesResponse::PartialSuccess(Some(log_id(
                3, 1, 11,
            ))))),
            PeerResponse::AppendEntries(Ok(AppendEntriesResponse::Conflict)),
            PeerResponse::AppendEntries(Ok(AppendEntriesResponse::HigherVote(vote()))),
            PeerResponse::AppendEntries(Err("raft stopped".into())),
            PeerResponse::Vote(Ok(VoteResponse::new(vote(), Some(log_id(4, 2, 20)), true))),
            PeerResponse::Vote(Ok(VoteResponse::new(Vote::new(9, 9), None, false))),
            PeerResponse::SnapshotChunk,
            PeerResponse::Snapshot(Ok(SnapshotResponse::new(vote()))),
            PeerResponse::TransferLeader(Ok(Ok(()))),
            PeerResponse::TransferLeader(Ok(Err(TransferLeaderError::VoteChanged {
                expected: vote(),
                actual: Vote::new(5, 3),
            }))),
            PeerResponse::TransferLeader(Ok(Err(TransferLeaderError::LogNotFlushed {
                expected: Some(log_id(4, 2, 77)),
                actual: None,
            }))),
            PeerResponse::Forwarded(Ok(Applied {
                zxid: 11,
                result: Ok(Outcome::Multi(vec![
                    Ok(Outcome::Created {
                        path: "/a0000000001".into(),
                        stat: stat(),
                    }),
                    Err(ErrorCode::BadVersion),
                ])),
                triggers: vec![WatchTrigger {
                    path: "/a".into(),
                    event: EventType::NodeChildrenChanged,
                    acl: Acl::read_unsafe().into(),
                }],
            })),
            PeerResponse::Forwarded(Err("not the leader".into())),
            PeerResponse::ReadIndex(Ok(u64::MAX)),
            PeerResponse::Touched,
            PeerResponse::Error("not supported".into()),
        ]
    }

    /// Encode, strip the length field as a reader does, decode, and compare the Debug forms
    /// (several openraft messages do not implement PartialEq).
    fn round_trip<T: Serialize + DeserializeOwned + std::fmt::Debug>(id: u64, msg: &T) {
        let frame = encode_with_id(id, msg, MAX_FRAME_LEN).expect("encode");
        let bytes = frame.as_bytes();
        let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        assert_eq!(len, bytes.len() - 4);
        let (got_id, back): (u64, T) = decode(&bytes[4..]).expect("decode");
        assert_eq!(got_id, id);
        assert_eq!(format!("{back:?}"), format!("{msg:?}"));
    }

    #[test]
    fn every_request_kind_round_trips() {
        let all = requests();
        let kinds: BTreeSet<_> = all.iter().map(PeerRequest::kind).collect();
        assert_eq!(kinds.len(), 9, "a request kind is missing from the test");
        for (i, req) in all.iter().enumerate() {
            round_trip(i as u64 * 0x0101_0101_0101, req);
        }
    }

    #[test]
    fn every_response_kind_round_trips() {
        let all = responses();
        let kinds: BTreeSet<_> = all.iter().map(PeerResponse::kind).collect();
        assert_eq!(kinds.len(), 9, "a response kind is missing from the test");
        for (i, resp) in all.iter().enumerate() {
            round_trip(u64::MAX - i as u64, resp);
        }
    }

    #[test]
    fn entries_keep_their_payloads_and_log_ids() {
        let req = PeerRequest::AppendEntries(AppendEntriesRequest {
            vote: vote(),
            prev_log_id: None,
            entries: entries(),
            leader_commit: None,
        });
        let frame = encode(&req, MAX_FRAME_LEN).unwrap();
        let (_, back): (u64, PeerRequest) = decode(&frame.as_bytes()[4..]).unwrap();
        let PeerRequest::AppendEntries(back) = back else {
            panic!("decoded a different request kind: {back:?}");
        };
        let want = entries();
        assert_eq!(back.entries.len(), want.len());
        for (b, w) in back.entries.iter().zip(&want) {
            assert_eq!(b.log_id(), w.log_id());
            match (&b.payload, &w.payload) {
                (EntryPayload::Normal(b), EntryPayload::Normal(w)) => assert_eq!(b, w),
                (EntryPayload::Membership(b), EntryPayload::Membership(w)) => assert_eq!(b, w),
                (EntryPayload::Blank, EntryPayload::Blank) => {}
                other => panic!("payload kind changed: {other:?}"),
            }
        }
    }

    #[test]
    fn borrowed_append_entries_encode_like_the_request() {
        let rpc = AppendEntriesRequest {
            vote: vote(),
            prev_log_id: Some(log_id(2, 3, 9)),
            entries: entries(),
            leader_commit: Some(log_id(3, 1, 10)),
        };
        let borrowed = encode_append_entries(&rpc, MAX_FRAME_LEN).unwrap();
        let owned = encode(&PeerRequest::AppendEntries(rpc), MAX_FRAME_LEN).unwrap();
        assert_eq!(borrowed.as_bytes(), owned.as_bytes());
    }

    #[test]
    fn oversized_messages_are_refused_when_encoding() {
        let req = PeerRequest::SnapshotChunk {
            transfer: 1,
            offset: 0,
            data: vec![0; 2000],
        };
        assert!(matches!(
            encode(&req, 1000),
            Err(WireError::FrameTooLarge { max: 1000, .. })
        ));
        assert!(encode(&req, 3000).is_ok());
    }

    #[test]
    fn frame_length_limits() {
        assert!(matches!(
            check_frame_len(MAX_FRAME_LEN as u32 + 1, MAX_FRAME_LEN),
            Err(WireError::FrameTooLarge { .. })
        ));
        assert!(matches!(
            check_frame_len(7, MAX_FRAME_LEN),
            Err(WireError::FrameTooShort { len: 7 })
        ));
        assert_eq!(check_frame_len(8, MAX_FRAME_LEN).unwrap(), 8);
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let frame = encode(&PeerRequest::ReadIndex, MAX_FRAME_LEN).unwrap();
        let mut body = frame.as_bytes()[4..].to_vec();
        body.push(0);
        assert!(matches!(
            decode::<PeerRequest>(&body),
            Err(WireError::TrailingBytes(1))
        ));
    }

    #[tokio::test]
    async fn read_frame_splits_a_stream_and_stops_cleanly() {
        let mut stream = Vec::new();
        for id in 0..3u64 {
            stream.extend_from_slice(
                encode_with_id(id, &PeerRequest::Touch(vec![id as i64]), MAX_FRAME_LEN)
                    .unwrap()
                    .as_bytes(),
            );
        }
        let mut reader = stream.as_slice();
        for id in 0..3u64 {
            let body = read_frame(&mut reader, MAX_FRAME_LEN)
                .await
                .unwrap()
                .unwrap();
            let (got, req): (u64, PeerRequest) = decode(&body).unwrap();
            assert_eq!(got, id);
            assert!(matches!(req, PeerRequest::Touch(v) if v == vec![id as i64]));
        }
        assert!(
            read_frame(&mut reader, MAX_FRAME_LEN)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn read_frame_refuses_an_oversized_length_without_reading_on() {
        let mut stream = (MAX_FRAME_LEN as u32 + 1).to_be_bytes().to_vec();
        stream.extend_from_slice(&[0; 16]);
        let mut reader = stream.as_slice();
        assert!(matches!(
            read_frame(&mut reader, MAX_FRAME_LEN).await,
            Err(WireError::FrameTooLarge { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Arbitrary bytes never panic the decoders, and whatever decodes re-encodes.
        #[test]
        fn decoding_arbitrary_bytes_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok((id, req)) = decode::<PeerRequest>(&body) {
                prop_assert!(encode_with_id(id, &req, MAX_FRAME_LEN).is_ok());
            }
            let _ = decode::<PeerResponse>(&body);
        }

        /// Mutating a valid frame never panics the decoder either (reaches deeper than random
        /// bytes, which mostly fail on the variant tag).
        #[test]
        fn decoding_mutated_frames_never_panics(
            which in 0usize..11,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        ) {
            let all = requests();
            let frame = encode(&all[which % all.len()], MAX_FRAME_LEN).unwrap();
            let mut body = frame.as_bytes()[4..].to_vec();
            for (at, byte) in flips {
                let at = at % body.len();
                body[at] = byte;
            }
            let _ = decode::<PeerRequest>(&body);
        }
    }
}
