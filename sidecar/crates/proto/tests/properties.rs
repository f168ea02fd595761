//! Property tests: every record round-trips, and no input whatsoever makes a decoder panic.

use corral_proto::{
    Acl, ClientInfo, ConnectRequest, ConnectResponse, CreateKind, CreateRequest, DecodeError, Id,
    MultiOp, MultiResult, OpCode, ReadOp, ReplyHeader, Request, RequestHeader, Response,
    SetWatches, Stat, WatcherEvent, decode_notification, decode_reply, decode_request,
    encode_notification, encode_reply, encode_request, split_frame,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

// --- strategies -----------------------------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    // Mostly path-like, sometimes any Unicode.
    prop_oneof![
        3 => "(/[a-z0-9_.-]{1,6}){0,3}",
        1 => any::<String>(),
    ]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..48)
}

/// Znode data: null (the -1 buffer) as well as empty and non-empty, since both must survive.
fn znode_data() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(bytes())
}

fn strings() -> impl Strategy<Value = Vec<String>> {
    vec(text(), 0..4)
}

fn acl() -> impl Strategy<Value = Vec<Acl>> {
    vec(
        (any::<i32>(), text(), text()).prop_map(|(perms, scheme, id)| Acl {
            perms,
            id: Id { scheme, id },
        }),
        0..3,
    )
}

fn stat() -> impl Strategy<Value = Stat> {
    (
        (any::<i64>(), any::<i64>(), any::<i64>(), any::<i64>()),
        (any::<i32>(), any::<i32>(), any::<i32>()),
        (any::<i64>(), any::<i32>(), any::<i32>(), any::<i64>()),
    )
        .prop_map(
            |(
                (czxid, mzxid, ctime, mtime),
                (version, cversion, aversion),
                (ephemeral_owner, data_length, num_children, pzxid),
            )| Stat {
                czxid,
                mzxid,
                ctime,
                mtime,
                version,
                cversion,
                aversion,
                ephemeral_owner,
                data_length,
                num_children,
                pzxid,
            },
        )
}

fn create_kind() -> impl Strategy<Value = CreateKind> {
    prop_oneof![
        Just(CreateKind::Create),
        Just(CreateKind::Create2),
        Just(CreateKind::Container),
        Just(CreateKind::Ttl),
    ]
}

/// A create whose `ttl` is present exactly for createTTL, the only consistent shape.
fn create() -> impl Strategy<Value = (CreateKind, CreateRequest)> {
    (
        create_kind(),
        text(),
        znode_data(),
        acl(),
        any::<i32>(),
        any::<i64>(),
    )
        .prop_map(|(kind, path, data, acl, flags, ttl)| {
            let ttl = (kind == CreateKind::Ttl).then_some(ttl);
            (
                kind,
                CreateRequest {
                    path,
                    data,
                    acl,
                    flags,
                    ttl,
                },
            )
        })
}

fn multi_op() -> impl Strategy<Value = MultiOp> {
    prop_oneof![
        create().prop_map(|(kind, req)| MultiOp::Create { kind, req }),
        (text(), any::<i32>()).prop_map(|(path, version)| MultiOp::Delete { path, version }),
        (text(), znode_data(), any::<i32>()).prop_map(|(path, data, version)| MultiOp::SetData {
            path,
            data,
            version
        }),
        (text(), any::<i32>()).prop_map(|(path, version)| MultiOp::Check { path, version }),
    ]
}

fn read_op() -> impl Strategy<Value = ReadOp> {
    prop_oneof![
        text().prop_map(|path| ReadOp::GetData { path }),
        text().prop_map(|path| ReadOp::GetChildren { path }),
    ]
}

fn unknown_opcode() -> impl Strategy<Value = i32> {
    // Known opcodes that still decode as Unknown (server-internal), and never-assigned ones.
    prop_oneof![
        Just(0),
        Just(20),
        Just(-10),
        Just(-1),
        any::<i32>().prop_filter("not a client opcode", |op| {
            OpCode::from_code(*op).is_none()
        }),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    let path_watch = || (text(), any::<bool>());
    prop_oneof![
        create().prop_map(|(kind, req)| Request::Create { kind, req }),
        (text(), any::<i32>()).prop_map(|(path, version)| Request::Delete { path, version }),
        path_watch().prop_map(|(path, watch)| Request::Exists { path, watch }),
        path_watch().prop_map(|(path, watch)| Request::GetData { path, watch }),
        (text(), znode_data(), any::<i32>()).prop_map(|(path, data, version)| Request::SetData {
            path,
            data,
            version
        }),
        text().prop_map(|path| Request::GetAcl { path }),
        (text(), acl(), any::<i32>()).prop_map(|(path, acl, version)| Request::SetAcl {
            path,
            acl,
            version
        }),
        path_watch().prop_map(|(path, watch)| Request::GetChildren { path, watch }),
        path_watch().prop_map(|(path, watch)| Request::GetChildren2 { path, watch }),
        text().prop_map(|path| Request::Sync { path }),
        Just(Request::Ping),
        (text(), any::<i32>()).prop_map(|(path, version)| Request::Check { path, version }),
        vec(multi_op(), 0..5).prop_map(Request::Multi),
        vec(read_op(), 0..5).prop_map(Request::MultiRead),
        (
            option::of(text()),
            option::of(text()),
            option::of(text()),
            any::<i64>()
        )
            .prop_map(|(joining, leaving, new_members, cur_config_id)| {
                Request::Reconfig {
                    joining,
                    leaving,
                    new_members,
                    cur_config_id,
                }
            }),
        (text(), any::<i32>())
            .prop_map(|(path, watcher_type)| Request::CheckWatches { path, watcher_type }),
        (text(), any::<i32>())
            .prop_map(|(path, watcher_type)| Request::RemoveWatches { path, watcher_type }),
        (any::<i32>(), text(), bytes()).prop_map(|(auth_type, scheme, auth)| Request::Auth {
            auth_type,
            scheme,
            auth
        }),
        (
            any::<i64>(),
            strings(),
            strings(),
            strings(),
            strings(),
            strings()
        )
            .prop_map(
                |(relative_zxid, data, exist, child, persistent, persistent_recursive)| {
                    Request::SetWatches(SetWatches {
                        relative_zxid,
                        data,
                        exist,
                        child,
                        persistent,
                        persistent_recursive,
                    })
                }
            ),
        bytes().prop_map(|token| Request::Sasl { token }),
        text().prop_map(|prefix| Request::GetEphemerals { prefix }),
        text().prop_map(|path| Request::GetAllChildrenNumber { path }),
        (text(), any::<i32>()).prop_map(|(path, mode)| Request::AddWatch { path, mode }),
        Just(Request::WhoAmI),
        Just(Request::CloseSession),
        unknown_opcode().prop_map(Request::Unknown),
    ]
}

fn multi_result() -> impl Strategy<Value = MultiResult> {
    prop_oneof![
        text().prop_map(|path| MultiResult::Create { path }),
        (text(), stat()).prop_map(|(path, stat)| MultiResult::Create2 { path, stat }),
        stat().prop_map(|stat| MultiResult::SetData { stat }),
        Just(MultiResult::Delete),
        Just(MultiResult::Check),
        any::<i32>().prop_map(MultiResult::Error),
        (znode_data(), stat()).prop_map(|(data, stat)| MultiResult::GetData { data, stat }),
        strings().prop_map(|children| MultiResult::GetChildren { children }),
    ]
}

/// A response together with an opcode whose reply it can be.
fn response() -> impl Strategy<Value = (i32, Response)> {
    let ops = |codes: &'static [i32]| proptest::sample::select(codes);
    prop_oneof![
        ops(&[2, 11, 17, 18, 100, 101, 105, -11]).prop_map(|op| (op, Response::Empty)),
        text().prop_map(|path| (1, Response::Create { path })),
        (ops(&[15, 19, 21]), text(), stat())
            .prop_map(|(op, path, stat)| (op, Response::Create2 { path, stat })),
        (ops(&[3, 5, 7, 13]), stat()).prop_map(|(op, stat)| (op, Response::Stat(stat))),
        (ops(&[4, 16]), znode_data(), stat())
            .prop_map(|(op, data, stat)| (op, Response::GetData { data, stat })),
        (acl(), stat()).prop_map(|(acl, stat)| (6, Response::GetAcl { acl, stat })),
        strings().prop_map(|children| (8, Response::GetChildren { children })),
        (strings(), stat())
            .prop_map(|(children, stat)| (12, Response::GetChildren2 { children, stat })),
        text().prop_map(|path| (9, Response::Sync { path })),
        vec(multi_result(), 0..5).prop_map(|r| (14, Response::Multi(r))),
        vec(multi_result(), 0..5).prop_map(|r| (22, Response::MultiRead(r))),
        strings().prop_map(|paths| (103, Response::GetEphemerals { paths })),
        any::<i32>().prop_map(|n| (104, Response::AllChildrenNumber(n))),
        vec(
            (text(), text()).prop_map(|(auth_scheme, user)| ClientInfo { auth_scheme, user }),
            0..3
        )
        .prop_map(|infos| (107, Response::WhoAmI(infos))),
        bytes().prop_map(|token| (102, Response::Sasl { token })),
        Just((102, Response::SaslNoToken)),
        any::<i32>().prop_map(|err| (106, Response::ErrorBody(err))),
    ]
}

fn header_for(opcode: i32) -> impl Strategy<Value = RequestHeader> {
    any::<i32>().prop_map(move |xid| RequestHeader { xid, opcode })
}

// --- round trips ----------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn requests_round_trip((header, req) in request().prop_flat_map(|req| {
        (header_for(req.opcode()), Just(req))
    })) {
        let bytes = encode_request(&header, &req);
        prop_assert_eq!(decode_request(&bytes), Ok((header, req)));
    }

    #[test]
    fn every_strict_prefix_of_a_known_request_fails(req in request(), xid in any::<i32>()) {
        prop_assume!(!matches!(req, Request::Unknown(_)));
        let bytes = encode_request(&RequestHeader { xid, opcode: req.opcode() }, &req);
        for len in 0..bytes.len() {
            prop_assert!(decode_request(&bytes[..len]).is_err(), "prefix of {} bytes", len);
        }
    }

    #[test]
    fn trailing_bytes_after_a_known_request_are_reported(
        req in request(),
        extra in vec(any::<u8>(), 1..16),
    ) {
        prop_assume!(!matches!(req, Request::Unknown(_)));
        let mut bytes = encode_request(&RequestHeader { xid: 1, opcode: req.opcode() }, &req);
        bytes.extend_from_slice(&extra);
        prop_assert_eq!(decode_request(&bytes), Err(DecodeError::TrailingBytes(extra.len())));
    }

    #[test]
    fn responses_round_trip(
        (opcode, rsp) in response(),
        xid in any::<i32>(),
        zxid in any::<i64>(),
    ) {
        let header = ReplyHeader { xid, zxid, err: 0 };
        let framed = encode_reply(&header, Some(&rsp));
        let (payload, consumed) = split_frame(&framed, usize::MAX).unwrap().unwrap();
        prop_assert_eq!(consumed, framed.len());
        prop_assert_eq!(decode_reply(payload, opcode), Ok((header, Some(rsp))));
    }

    #[test]
    fn header_only_error_replies_round_trip(
        xid in any::<i32>(),
        zxid in any::<i64>(),
        err in any::<i32>().prop_filter("an error", |e| *e != 0),
        opcode in any::<i32>(),
    ) {
        let header = ReplyHeader { xid, zxid, err };
        let framed = encode_reply(&header, None);
        prop_assert_eq!(framed.len(), 20);
        prop_assert_eq!(decode_reply(&framed[4..], opcode), Ok((header, None)));
    }

    #[test]
    fn notifications_round_trip(
        zxid in any::<i64>(),
        event_type in any::<i32>(),
        state in any::<i32>(),
        path in text(),
    ) {
        let event = WatcherEvent { event_type, state, path };
        let framed = encode_notification(zxid, &event);
        let (header, decoded) = decode_notification(&framed[4..]).unwrap();
        prop_assert_eq!(header, ReplyHeader { xid: -1, zxid, err: 0 });
        prop_assert_eq!(decoded, event);
    }

    #[test]
    fn connect_records_round_trip(
        protocol_version in any::<i32>(),
        last_zxid_seen in any::<i64>(),
        timeout_ms in any::<i32>(),
        session_id in any::<i64>(),
        password in bytes(),
        read_only in option::of(any::<bool>()),
    ) {
        let req = ConnectRequest {
            protocol_version, last_zxid_seen, timeout_ms, session_id,
            password: password.clone(), read_only,
        };
        let bytes = req.encode();
        prop_assert_eq!(bytes.len(), 28 + password.len() + usize::from(read_only.is_some()));
        prop_assert_eq!(ConnectRequest::decode(&bytes), Ok(req));

        let rsp = ConnectResponse { protocol_version, timeout_ms, session_id, password, read_only };
        prop_assert_eq!(ConnectResponse::decode(&rsp.encode()), Ok(rsp));
    }
}

// --- no panics on hostile input -------------------------------------------------------------

/// Exercises every decoder on `bytes`; the only requirement is that none of them panics.
fn decode_everything(bytes: &[u8]) {
    let _ = ConnectRequest::decode(bytes);
    let _ = ConnectResponse::decode(bytes);
    let _ = decode_request(bytes);
    let _ = decode_notification(bytes);
    let _ = split_frame(bytes, corral_proto::DEFAULT_MAX_BUFFER);
    for opcode in [
        1, 2, 3, 4, 6, 8, 9, 12, 14, 15, 22, 102, 103, 104, 106, 107, 0, 50,
    ] {
        let _ = decode_reply(bytes, opcode);
    }
}

/// Whatever decodes must re-encode to bytes that decode to the same value: decoding loses
/// nothing a server acts on (nulls become empty, any non-zero bool becomes true, a multi's
/// terminator becomes canonical, all of which ZooKeeper treats the same way).
fn assert_reencode_stable(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok((header, request)) = decode_request(bytes) {
        let again = encode_request(&header, &request);
        prop_assert_eq!(decode_request(&again), Ok((header, request)));
    }
    if let Ok(connect) = ConnectRequest::decode(bytes) {
        prop_assert_eq!(ConnectRequest::decode(&connect.encode()), Ok(connect));
    }
    Ok(())
}

/// A body for `opcode` after a valid header, so that the fuzzing reaches the body decoders.
fn with_header(opcode: i32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&7i32.to_be_bytes());
    out.extend_from_slice(&opcode.to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn any_opcode() -> impl Strategy<Value = i32> {
    prop_oneof![
        proptest::sample::select(
            &[
                1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 100, 101,
                102, 103, 104, 105, 106, 107, -11,
            ][..]
        ),
        any::<i32>(),
    ]
}

/// Byte strings biased toward what breaks decoders: lengths of -1, -2, 0, huge, and the
/// boundaries of the remaining input.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let word = prop_oneof![
        Just(vec![0xff, 0xff, 0xff, 0xff]),
        Just(vec![0xff, 0xff, 0xff, 0xfe]),
        Just(vec![0, 0, 0, 0]),
        Just(vec![0x7f, 0xff, 0xff, 0xff]),
        Just(vec![0x80, 0, 0, 0]),
        (0u8..16).prop_map(|n| vec![0, 0, 0, n]),
        vec(any::<u8>(), 1..6),
    ];
    vec(word, 0..24).prop_map(|words| words.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn no_decoder_panics_on_arbitrary_bytes(bytes in vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes);
        assert_reencode_stable(&bytes)?;
    }

    #[test]
    fn no_decoder_panics_on_hostile_bodies(opcode in any_opcode(), body in hostile_bytes()) {
        let framed = with_header(opcode, &body);
        decode_everything(&framed);
        decode_everything(&body);
        assert_reencode_stable(&framed)?;
    }

    #[test]
    fn no_decoder_panics_on_mutated_valid_requests(
        req in request(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encode_request(&RequestHeader { xid: 3, opcode: req.opcode() }, &req);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        decode_everything(&bytes);
        assert_reencode_stable(&bytes)?;
        let len = cut.index(bytes.len() + 1);
        decode_everything(&bytes[..len]);
        assert_reencode_stable(&bytes[..len])?;
    }
}

#[test]
fn huge_counts_fail_fast_without_allocating() {
    // A multiRead-free path to a vector: setWatches with a count of i32::MAX and nothing after.
    let mut body = 0i64.to_be_bytes().to_vec();
    body.extend_from_slice(&i32::MAX.to_be_bytes());
    let framed = with_header(101, &body);
    assert_eq!(
        decode_request(&framed),
        Err(DecodeError::LengthTooLarge {
            what: "vector",
            len: i32::MAX,
            remaining: 0
        })
    );
}
