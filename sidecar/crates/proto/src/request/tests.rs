use super::*;
use crate::types::{Acl, Id, perms};

/// Hex with any whitespace, so golden frames can be laid out field by field.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn round_trip(req: Request) {
    let header = RequestHeader {
        xid: 42,
        opcode: req.opcode(),
    };
    let bytes = encode_request(&header, &req);
    assert_eq!(decode_request(&bytes), Ok((header, req.clone())), "{req:?}");
}

fn open_acl() -> Vec<Acl> {
    Acl::open_unsafe()
}

fn create_req(path: &str, flags: i32, ttl: Option<i64>) -> CreateRequest {
    CreateRequest {
        path: path.into(),
        data: Some(b"data".to_vec()),
        acl: open_acl(),
        flags,
        ttl,
    }
}

// --- handshake ----------------------------------------------------------------------------

/// What the Java client 3.8.0 sent as its first frame (recorded against ZooKeeper 3.8.0).
const JAVA_CONNECT_45: &str = "00000000 0000000000000000 00007530 0000000000000000
                               00000010 00000000000000000000000000000000 00";

#[test]
fn connect_request_45_bytes_has_read_only() {
    let bytes = hex(JAVA_CONNECT_45);
    assert_eq!(bytes.len(), ConnectRequest::LEN_WITH_READ_ONLY);
    let req = ConnectRequest::decode(&bytes).unwrap();
    assert_eq!(
        req,
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 30_000,
            session_id: 0,
            password: vec![0; 16],
            read_only: Some(false),
        }
    );
    assert_eq!(req.encode(), bytes);
}

#[test]
fn connect_request_44_bytes_is_an_old_client() {
    let resume = hex("00000000 00000000000000ff 00001388 0123456789abcdef
                      00000010 0102030405060708090a0b0c0d0e0f10");
    assert_eq!(resume.len(), ConnectRequest::LEN_WITHOUT_READ_ONLY);
    let req = ConnectRequest::decode(&resume).unwrap();
    assert_eq!(req.read_only, None);
    assert!(!req.accepts_read_only());
    assert_eq!(req.last_zxid_seen, 0xff);
    assert_eq!(req.timeout_ms, 5000);
    assert_eq!(req.session_id, 0x0123_4567_89ab_cdef);
    assert_eq!(req.password, (1..=16).collect::<Vec<u8>>());
    assert_eq!(req.encode(), resume);

    let mut read_only = resume.clone();
    read_only.push(1);
    let req = ConnectRequest::decode(&read_only).unwrap();
    assert_eq!(req.read_only, Some(true));
    assert!(req.accepts_read_only());
}

#[test]
fn connect_request_refuses_truncation_and_trailing_bytes() {
    let bytes = hex(JAVA_CONNECT_45);
    for len in 0..ConnectRequest::LEN_WITHOUT_READ_ONLY {
        assert!(ConnectRequest::decode(&bytes[..len]).is_err(), "len {len}");
    }
    let mut long = bytes.clone();
    long.extend_from_slice(&[7, 7]);
    assert_eq!(
        ConnectRequest::decode(&long),
        Err(DecodeError::TrailingBytes(2))
    );
}

#[test]
fn connect_request_with_null_password_reads_empty() {
    let bytes = hex("00000000 0000000000000000 00007530 0000000000000000 ffffffff 00");
    assert_eq!(
        ConnectRequest::decode(&bytes).unwrap().password,
        Vec::<u8>::new()
    );
}

// --- headers and simple bodies ------------------------------------------------------------

#[test]
fn get_data_golden_bytes() {
    // getData("/cap", watch=true), xid 2, as the Java client sent it.
    let bytes = hex("00000002 00000004 00000004 2f636170 01");
    let (header, req) = decode_request(&bytes).unwrap();
    assert_eq!(header, RequestHeader { xid: 2, opcode: 4 });
    assert_eq!(
        req,
        Request::GetData {
            path: "/cap".into(),
            watch: true
        }
    );
    assert_eq!(encode_request(&header, &req), bytes);
}

#[test]
fn create2_golden_bytes() {
    // create("/cap", "hello", OPEN_ACL_UNSAFE, PERSISTENT, stat) from the Java client: opcode 15.
    let bytes = hex("00000001 0000000f
         00000004 2f636170  00000005 68656c6c6f
         00000001 0000001f 00000005 776f726c64 00000006 616e796f6e65
         00000000");
    let (header, req) = decode_request(&bytes).unwrap();
    assert_eq!(header.opcode, OpCode::Create2.code());
    let Request::Create { kind, req: create } = &req else {
        panic!("not a create: {req:?}");
    };
    assert_eq!(*kind, CreateKind::Create2);
    assert_eq!(create.path, "/cap");
    assert_eq!(create.data.as_deref(), Some(&b"hello"[..]));
    assert_eq!(create.acl, open_acl());
    assert_eq!(create.mode(), Ok(CreateMode::Persistent));
    assert_eq!(create.ttl, None);
    assert_eq!(encode_request(&header, &req), bytes);
}

#[test]
fn create_ttl_carries_a_trailing_long() {
    let req = Request::Create {
        kind: CreateKind::Ttl,
        req: create_req("/t", CreateMode::PersistentWithTtl.flags(), Some(0x0102)),
    };
    let bytes = encode_request(&RequestHeader { xid: 1, opcode: 21 }, &req);
    assert_eq!(
        &bytes[bytes.len() - 12..],
        &hex("00000005 0000000000000102")[..]
    );
    round_trip(req);

    // A createTTL without a ttl writes CreateTTLRequest's default, 0.
    let missing = Request::Create {
        kind: CreateKind::Ttl,
        req: create_req("/t", 5, None),
    };
    let bytes = encode_request(&RequestHeader { xid: 1, opcode: 21 }, &missing);
    let (_, decoded) = decode_request(&bytes).unwrap();
    assert!(matches!(decoded, Request::Create { req, .. } if req.ttl == Some(0)));
}

#[test]
fn create_with_null_data_stays_null() {
    // The Java client sends null data as length -1 (create("/cont", null, ...)); ZooKeeper
    // keeps it null, so decoding must not turn it into empty data.
    let bytes = hex("0000000f 00000013 00000005 2f636f6e74 ffffffff
         00000001 0000001f 00000005 776f726c64 00000006 616e796f6e65 00000004");
    let (_, req) = decode_request(&bytes).unwrap();
    let Request::Create { kind, req } = req else {
        panic!()
    };
    assert_eq!(kind, CreateKind::Container);
    assert_eq!(req.data, None);
    assert_eq!(req.mode(), Ok(CreateMode::Container));
    assert_eq!(
        encode_request(
            &RequestHeader {
                xid: 15,
                opcode: 19
            },
            &Request::Create { kind, req }
        ),
        bytes
    );
}

#[test]
fn null_and_empty_data_encode_differently() {
    // setData("/a", null, -1) versus setData("/a", new byte[0], -1), xid 3.
    let null = Request::SetData {
        path: "/a".into(),
        data: None,
        version: -1,
    };
    let empty = Request::SetData {
        path: "/a".into(),
        data: Some(Vec::new()),
        version: -1,
    };
    let header = RequestHeader { xid: 3, opcode: 5 };
    let null_bytes = hex("00000003 00000005 00000002 2f61 ffffffff ffffffff");
    let empty_bytes = hex("00000003 00000005 00000002 2f61 00000000 ffffffff");
    assert_eq!(encode_request(&header, &null), null_bytes);
    assert_eq!(encode_request(&header, &empty), empty_bytes);
    assert_eq!(decode_request(&null_bytes), Ok((header, null.clone())));
    assert_eq!(decode_request(&empty_bytes), Ok((header, empty.clone())));

    // The same inside a multi, and for create.
    for data in [None, Some(Vec::new())] {
        round_trip(Request::Multi(vec![
            MultiOp::Create {
                kind: CreateKind::Create,
                req: CreateRequest {
                    data: data.clone(),
                    ..create_req("/n", 0, None)
                },
            },
            MultiOp::SetData {
                path: "/n".into(),
                data: data.clone(),
                version: -1,
            },
        ]));
    }
}

#[test]
fn unknown_create_flags_decode_and_are_reported_by_mode() {
    let req = create_req("/x", 9, None);
    assert_eq!(req.mode(), Err(DecodeError::UnknownCreateMode(9)));
    round_trip(Request::Create {
        kind: CreateKind::Create,
        req,
    });
}

#[test]
fn every_simple_request_round_trips() {
    let stat_reads = [
        Request::Exists {
            path: "/a".into(),
            watch: true,
        },
        Request::GetData {
            path: "/a".into(),
            watch: false,
        },
        Request::GetChildren {
            path: "/".into(),
            watch: true,
        },
        Request::GetChildren2 {
            path: "/b".into(),
            watch: false,
        },
    ];
    for req in stat_reads {
        round_trip(req);
    }
    for kind in [
        CreateKind::Create,
        CreateKind::Create2,
        CreateKind::Container,
    ] {
        round_trip(Request::Create {
            kind,
            req: create_req("/c", 3, None),
        });
    }
    round_trip(Request::Delete {
        path: "/d".into(),
        version: -1,
    });
    round_trip(Request::SetData {
        path: "/d".into(),
        data: Some(vec![0, 1, 2]),
        version: 7,
    });
    round_trip(Request::GetAcl { path: "/e".into() });
    round_trip(Request::SetAcl {
        path: "/e".into(),
        acl: vec![Acl {
            perms: perms::READ | perms::ADMIN,
            id: Id::new("digest", "user:abc="),
        }],
        version: 3,
    });
    round_trip(Request::Sync { path: "/f".into() });
    round_trip(Request::Ping);
    round_trip(Request::Check {
        path: "/g".into(),
        version: 0,
    });
    round_trip(Request::Reconfig {
        joining: Some("server.4=127.0.0.1:2888:3888;2181".into()),
        leaving: None,
        new_members: Some(String::new()),
        cur_config_id: -1,
    });
    round_trip(Request::CheckWatches {
        path: "/h".into(),
        watcher_type: 2,
    });
    round_trip(Request::RemoveWatches {
        path: "/h".into(),
        watcher_type: 3,
    });
    round_trip(Request::Auth {
        auth_type: 0,
        scheme: "digest".into(),
        auth: b"user:pass".to_vec(),
    });
    round_trip(Request::Sasl {
        token: vec![0x60, 0x82],
    });
    round_trip(Request::GetEphemerals {
        prefix: "/app".into(),
    });
    round_trip(Request::GetAllChildrenNumber { path: "/".into() });
    round_trip(Request::AddWatch {
        path: "/w".into(),
        mode: 1,
    });
    round_trip(Request::WhoAmI);
    round_trip(Request::CloseSession);
}

#[test]
fn header_only_requests_are_eight_bytes() {
    let close = hex("00000010 fffffff5");
    assert_eq!(
        decode_request(&close),
        Ok((
            RequestHeader {
                xid: 16,
                opcode: -11
            },
            Request::CloseSession
        ))
    );
    let ping = encode_request(
        &RequestHeader {
            xid: -2,
            opcode: 11,
        },
        &Request::Ping,
    );
    assert_eq!(ping, hex("fffffffe 0000000b"));
    assert_eq!(
        decode_request(&hex("0000000e 0000006b")),
        Ok((
            RequestHeader {
                xid: 14,
                opcode: 107
            },
            Request::WhoAmI
        ))
    );
}

#[test]
fn reconfig_nulls_are_kept_apart_from_empty_strings() {
    let bytes = hex("00000001 00000010 ffffffff 00000000 ffffffff ffffffffffffffff");
    assert_eq!(
        decode_request(&bytes).unwrap().1,
        Request::Reconfig {
            joining: None,
            leaving: Some(String::new()),
            new_members: None,
            cur_config_id: -1
        }
    );
}

// --- setWatches -----------------------------------------------------------------------------

fn watches(persistent: bool) -> SetWatches {
    SetWatches {
        relative_zxid: 0x30,
        data: vec!["/a".into()],
        exist: vec!["/b".into(), "/c".into()],
        child: vec![],
        persistent: if persistent {
            vec!["/p".into()]
        } else {
            vec![]
        },
        persistent_recursive: if persistent {
            vec!["/r".into()]
        } else {
            vec![]
        },
    }
}

#[test]
fn set_watches_uses_three_lists_and_set_watches2_five() {
    let sw = watches(false);
    let req = Request::SetWatches(sw.clone());
    assert_eq!(req.opcode(), 101);
    let bytes = encode_request(
        &RequestHeader {
            xid: -8,
            opcode: 101,
        },
        &req,
    );
    assert_eq!(
        bytes,
        hex("fffffff8 00000065 0000000000000030
             00000001 00000002 2f61
             00000002 00000002 2f62 00000002 2f63
             00000000")
    );
    round_trip(req);

    let sw2 = watches(true);
    let req2 = Request::SetWatches(sw2.clone());
    assert_eq!(req2.opcode(), 105);
    round_trip(req2);

    // An explicit opcode 105 with empty persistent lists still gets the five-list layout.
    let header = RequestHeader {
        xid: -8,
        opcode: 105,
    };
    let bytes = encode_request(&header, &Request::SetWatches(sw.clone()));
    assert_eq!(&bytes[bytes.len() - 8..], &[0; 8]);
    assert_eq!(
        decode_request(&bytes),
        Ok((header, Request::SetWatches(sw)))
    );
}

#[test]
fn set_watches_with_null_lists_reads_empty_lists() {
    let bytes = hex("fffffff8 00000065 0000000000000000 ffffffff ffffffff ffffffff");
    assert_eq!(
        decode_request(&bytes).unwrap().1,
        Request::SetWatches(SetWatches::default())
    );
}

// --- multi ----------------------------------------------------------------------------------

/// A multi as the Java client lays it out: MultiHeader{type, false, -1} + record per op,
/// closed by MultiHeader{-1, true, -1}.
const MULTI_GOLDEN: &str = "
    00000004 0000000e
    00000001 00 ffffffff  00000006 2f6361702f61 00000002 0102
        00000001 0000001f 00000005 776f726c64 00000006 616e796f6e65 00000001
    0000000d 00 ffffffff  00000004 2f636170 00000001
    00000005 00 ffffffff  00000004 2f636170 00000001 78 ffffffff
    00000002 00 ffffffff  00000006 2f6361702f61 ffffffff
    ffffffff 01 ffffffff";

fn golden_multi_ops() -> Vec<MultiOp> {
    vec![
        MultiOp::Create {
            kind: CreateKind::Create,
            req: CreateRequest {
                path: "/cap/a".into(),
                data: Some(vec![1, 2]),
                acl: open_acl(),
                flags: 1,
                ttl: None,
            },
        },
        MultiOp::Check {
            path: "/cap".into(),
            version: 1,
        },
        MultiOp::SetData {
            path: "/cap".into(),
            data: Some(b"x".to_vec()),
            version: -1,
        },
        MultiOp::Delete {
            path: "/cap/a".into(),
            version: -1,
        },
    ]
}

#[test]
fn multi_request_golden_bytes() {
    let bytes = hex(MULTI_GOLDEN);
    let (header, req) = decode_request(&bytes).unwrap();
    assert_eq!(header, RequestHeader { xid: 4, opcode: 14 });
    assert_eq!(req, Request::Multi(golden_multi_ops()));
    assert_eq!(encode_request(&header, &req), bytes);
}

#[test]
fn multi_with_every_create_kind_round_trips() {
    round_trip(Request::Multi(vec![
        MultiOp::Create {
            kind: CreateKind::Create2,
            req: create_req("/a", 2, None),
        },
        MultiOp::Create {
            kind: CreateKind::Container,
            req: create_req("/b", 4, None),
        },
        MultiOp::Create {
            kind: CreateKind::Ttl,
            req: create_req("/c", 5, Some(60_000)),
        },
    ]));
    round_trip(Request::Multi(vec![]));
}

#[test]
fn empty_multi_is_just_the_terminator() {
    let bytes = hex("00000005 0000000e ffffffff 01 ffffffff");
    assert_eq!(decode_request(&bytes).unwrap().1, Request::Multi(vec![]));
}

#[test]
fn any_done_header_ends_the_list_as_in_zookeeper() {
    // ZooKeeper 3.8.0 accepted a terminator {5, true, 7} (MultiOperationRecord checks `done`).
    let bytes = hex(
        "00000005 0000000e 00000002 00 ffffffff 00000002 2f61 00000000
                     00000005 01 00000007",
    );
    assert_eq!(
        decode_request(&bytes).unwrap().1,
        Request::Multi(vec![MultiOp::Delete {
            path: "/a".into(),
            version: 0
        }])
    );
}

#[test]
fn multi_refuses_reads_and_unknown_ops() {
    let read_in_multi = hex("00000005 0000000e 00000004 00 ffffffff 00000001 2f 00
                             ffffffff 01 ffffffff");
    assert_eq!(
        decode_request(&read_in_multi),
        Err(DecodeError::BadMultiHeader {
            within: "multi",
            op_type: 4
        })
    );
    let write_in_multi_read = hex("00000005 00000016 00000002 00 ffffffff 00000001 2f 00000000
                                   ffffffff 01 ffffffff");
    assert_eq!(
        decode_request(&write_in_multi_read),
        Err(DecodeError::BadMultiHeader {
            within: "multiRead",
            op_type: 2
        })
    );
}

#[test]
fn multi_without_terminator_or_with_trailing_bytes_is_refused() {
    let bytes = hex(MULTI_GOLDEN);
    let unterminated = &bytes[..bytes.len() - 9];
    assert!(matches!(
        decode_request(unterminated),
        Err(DecodeError::UnexpectedEof { .. })
    ));
    let mut long = bytes.clone();
    long.extend_from_slice(b"zzzz");
    assert_eq!(decode_request(&long), Err(DecodeError::TrailingBytes(4)));
}

#[test]
fn multi_read_golden_bytes() {
    let bytes = hex("00000004 00000016
                     00000004 00 ffffffff 00000003 2f6d32 00
                     00000008 00 ffffffff 00000009 2f6e6f6e6578697374 01
                     ffffffff 01 ffffffff");
    let (header, req) = decode_request(&bytes).unwrap();
    assert_eq!(
        req,
        Request::MultiRead(vec![
            ReadOp::GetData { path: "/m2".into() },
            ReadOp::GetChildren {
                path: "/nonexist".into()
            },
        ])
    );
    // The watch flag is not kept: it re-encodes as false.
    let mut expected = bytes.clone();
    expected[bytes.len() - 10] = 0;
    assert_eq!(encode_request(&header, &req), expected);
}

// --- errors and unknown opcodes -------------------------------------------------------------

#[test]
fn unknown_opcodes_ignore_their_body() {
    for opcode in [50, 0, 10, 20, -10, -1, i32::MAX, i32::MIN] {
        let mut bytes =
            encode_request(&RequestHeader { xid: 8, opcode }, &Request::Unknown(opcode));
        bytes.extend_from_slice(b"whatever");
        assert_eq!(
            decode_request(&bytes),
            Ok((RequestHeader { xid: 8, opcode }, Request::Unknown(opcode))),
            "opcode {opcode}"
        );
    }
}

#[test]
fn a_short_header_is_an_error() {
    assert_eq!(
        decode_request(&[0, 0, 0, 1]),
        Err(DecodeError::UnexpectedEof {
            needed: 4,
            remaining: 0
        })
    );
    assert!(decode_request_header(&[]).is_err());
}

#[test]
fn two_step_decoding_keeps_the_xid_when_the_body_is_bad() {
    // getData with its watch byte missing: ZooKeeper answers MARSHALLINGERROR for xid 13.
    let bytes = hex("0000000d 00000004 00000003 2f6d32");
    let (header, body) = decode_request_header(&bytes).unwrap();
    assert_eq!(header, RequestHeader { xid: 13, opcode: 4 });
    assert_eq!(
        decode_request_body(header.opcode, body),
        Err(DecodeError::UnexpectedEof {
            needed: 1,
            remaining: 0
        })
    );
}

#[test]
fn trailing_bytes_after_a_body_are_reported() {
    let mut bytes = hex("00000002 00000004 00000004 2f636170 01");
    bytes.extend_from_slice(b"garbage");
    assert_eq!(decode_request(&bytes), Err(DecodeError::TrailingBytes(7)));
    let mut ping = hex("fffffffe 0000000b");
    ping.push(0);
    assert_eq!(decode_request(&ping), Err(DecodeError::TrailingBytes(1)));
}

#[test]
fn watcher_type_and_add_watch_mode_helpers() {
    assert_eq!(watcher_type(1), Ok(WatcherType::Children));
    assert_eq!(watcher_type(5), Ok(WatcherType::PersistentRecursive));
    assert_eq!(watcher_type(0), Err(DecodeError::UnknownWatcherType(0)));
    assert_eq!(add_watch_mode(0), Ok(AddWatchMode::Persistent));
    assert_eq!(add_watch_mode(2), Err(DecodeError::UnknownAddWatchMode(2)));
}

#[test]
fn create_kinds_map_to_opcodes_and_reply_shapes() {
    for (kind, opcode, stat) in [
        (CreateKind::Create, 1, false),
        (CreateKind::Create2, 15, true),
        (CreateKind::Container, 19, true),
        (CreateKind::Ttl, 21, true),
    ] {
        assert_eq!(kind.opcode(), opcode);
        assert_eq!(CreateKind::from_opcode(opcode), Some(kind));
        assert_eq!(kind.replies_with_stat(), stat);
    }
    assert_eq!(CreateKind::from_opcode(2), None);
    assert_eq!(CreateKind::from_opcode(999), None);
}
