//! Golden frames here were recorded from ZooKeeper 3.8.0 (Debian) on loopback.

use super::*;
use crate::frame::split_frame;
use crate::types::{ErrorCode, EventType, Id, KeeperState};

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// Strip and check the length prefix of a framed reply.
fn unframe(framed: &[u8]) -> &[u8] {
    let (payload, consumed) = split_frame(framed, usize::MAX).unwrap().unwrap();
    assert_eq!(consumed, framed.len(), "exactly one frame");
    payload
}

fn sample_stat() -> Stat {
    Stat {
        czxid: 0x1e,
        mzxid: 0x1f,
        ctime: 0x1a1_fde1_56c4,
        mtime: 0x1a1_fde1_56d5,
        version: 1,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 5,
        num_children: 0,
        pzxid: 0x1e,
    }
}

const SAMPLE_STAT_HEX: &str = "000000000000001e 000000000000001f 000001a1fde156c4 000001a1fde156d5
                               00000001 00000000 00000000 0000000000000000 00000005 00000000
                               000000000000001e";

fn round_trip(opcode: i32, response: Response) {
    let header = ReplyHeader {
        xid: 9,
        zxid: 0x21,
        err: 0,
    };
    let framed = encode_reply(&header, Some(&response));
    assert_eq!(
        decode_reply(unframe(&framed), opcode),
        Ok((header, Some(response.clone()))),
        "opcode {opcode}: {response:?}"
    );
}

#[test]
fn reply_header_and_stat_golden_bytes() {
    // The reply to setData("/cap", "world") as ZooKeeper 3.8.0 sent it.
    let payload = hex(&format!(
        "00000003 000000000000001f 00000000 {SAMPLE_STAT_HEX}"
    ));
    let header = ReplyHeader {
        xid: 3,
        zxid: 0x1f,
        err: 0,
    };
    let (decoded_header, body) = decode_reply(&payload, OpCode::SetData.code()).unwrap();
    assert_eq!(decoded_header, header);
    assert_eq!(body, Some(Response::Stat(sample_stat())));
    let framed = encode_reply(&header, Some(&Response::Stat(sample_stat())));
    assert_eq!(&framed[..4], &(16 + 68u32).to_be_bytes());
    assert_eq!(unframe(&framed), payload);
}

#[test]
fn error_replies_are_the_header_alone() {
    // exists("/nope") → NONODE, as ZooKeeper sends it: 16 bytes, no body.
    let header = ReplyHeader {
        xid: 8,
        zxid: 0x21,
        err: ErrorCode::NoNode.code(),
    };
    let framed = encode_reply(&header, None);
    assert_eq!(framed, hex("00000010 00000008 0000000000000021 ffffff9b"));
    assert_eq!(decode_reply(unframe(&framed), 3), Ok((header, None)));
}

#[test]
fn ping_reply_is_the_header_alone() {
    let header = ReplyHeader {
        xid: xid::PING,
        zxid: 10,
        err: 0,
    };
    let framed = encode_reply(&header, Some(&Response::Empty));
    assert_eq!(framed, encode_reply(&header, None));
    assert_eq!(
        decode_reply(unframe(&framed), OpCode::Ping.code()),
        Ok((header, Some(Response::Empty)))
    );
}

#[test]
fn failed_multi_reply_golden_bytes() {
    // multi[create /m1, delete /nonexist, setData /m1] against 3.8.0: header err 0, then one
    // error result per op (OK, NONODE, RUNTIMEINCONSISTENCY), each with err in the header
    // *and* in an ErrorResponse body.
    let payload = hex("00000001 0000000000000005 00000000
                       ffffffff 00 00000000 00000000
                       ffffffff 00 ffffff9b ffffff9b
                       ffffffff 00 fffffffe fffffffe
                       ffffffff 01 ffffffff");
    let results = vec![
        MultiResult::Error(0),
        MultiResult::Error(ErrorCode::NoNode.code()),
        MultiResult::Error(ErrorCode::RuntimeInconsistency.code()),
    ];
    let header = ReplyHeader {
        xid: 1,
        zxid: 5,
        err: 0,
    };
    assert_eq!(
        decode_reply(&payload, OpCode::Multi.code()),
        Ok((header, Some(Response::Multi(results.clone()))))
    );
    assert_eq!(
        unframe(&encode_reply(&header, Some(&Response::Multi(results)))),
        payload
    );
}

#[test]
fn successful_multi_reply_golden_bytes() {
    // create, create (sent as create2; 3.8 answers a create result), check, setData, delete.
    let stat = Stat {
        czxid: 6,
        mzxid: 6,
        ctime: 0x1a1_fde0_9e0a,
        mtime: 0x1a1_fde0_9e0a,
        version: 1,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 1,
        num_children: 0,
        pzxid: 6,
    };
    let payload = hex("00000002 0000000000000006 00000000
                       00000001 00 00000000 00000003 2f6d32
                       00000001 00 00000000 00000003 2f6d33
                       0000000d 00 00000000
                       00000005 00 00000000
                         0000000000000006 0000000000000006 000001a1fde09e0a 000001a1fde09e0a
                         00000001 00000000 00000000 0000000000000000 00000001 00000000
                         0000000000000006
                       00000002 00 00000000
                       ffffffff 01 ffffffff");
    let results = vec![
        MultiResult::Create { path: "/m2".into() },
        MultiResult::Create { path: "/m3".into() },
        MultiResult::Check,
        MultiResult::SetData { stat },
        MultiResult::Delete,
    ];
    let header = ReplyHeader {
        xid: 2,
        zxid: 6,
        err: 0,
    };
    assert_eq!(
        decode_reply(&payload, 14),
        Ok((header, Some(Response::Multi(results.clone()))))
    );
    assert_eq!(
        unframe(&encode_reply(&header, Some(&Response::Multi(results)))),
        payload
    );
}

#[test]
fn null_and_empty_get_data_replies_differ_on_the_wire() {
    // getData of a znode created with null data: ZooKeeper answers the null buffer (-1), which
    // clients read back as null; a znode with empty data answers length 0.
    let header = ReplyHeader {
        xid: 2,
        zxid: 0x1f,
        err: 0,
    };
    let stat = Stat {
        data_length: 0,
        ..sample_stat()
    };
    let stat_hex = "000000000000001e 000000000000001f 000001a1fde156c4 000001a1fde156d5
                    00000001 00000000 00000000 0000000000000000 00000000 00000000
                    000000000000001e";
    for (data, data_hex) in [(None, "ffffffff"), (Some(Vec::new()), "00000000")] {
        let payload = hex(&format!(
            "00000002 000000000000001f 00000000 {data_hex} {stat_hex}"
        ));
        let response = Response::GetData { data, stat };
        assert_eq!(
            unframe(&encode_reply(&header, Some(&response))),
            payload,
            "{response:?}"
        );
        assert_eq!(decode_reply(&payload, 4), Ok((header, Some(response))));
    }
}

#[test]
fn multi_read_reply_mixes_results_and_errors() {
    let stat = sample_stat();
    let results = vec![
        MultiResult::GetData {
            data: Some(b"x".to_vec()),
            stat,
        },
        MultiResult::Error(ErrorCode::NoNode.code()),
        MultiResult::GetChildren {
            children: vec!["zookeeper".into(), "m2".into()],
        },
    ];
    let framed = encode_reply(
        &ReplyHeader {
            xid: 4,
            zxid: 7,
            err: 0,
        },
        Some(&Response::MultiRead(results.clone())),
    );
    let payload = unframe(&framed);
    let expected_body = hex(&format!(
        "00000004 00 00000000 00000001 78 {SAMPLE_STAT_HEX}
         ffffffff 00 ffffff9b ffffff9b
         00000008 00 00000000 00000002 00000009 7a6f6f6b6565706572 00000002 6d32
         ffffffff 01 ffffffff"
    ));
    assert_eq!(&payload[16..], &expected_body[..]);
    assert_eq!(
        decode_reply(payload, 22).unwrap().1,
        Some(Response::MultiRead(results))
    );
}

#[test]
fn multi_create2_results_carry_the_stat() {
    round_trip(
        14,
        Response::Multi(vec![MultiResult::Create2 {
            path: "/mc".into(),
            stat: sample_stat(),
        }]),
    );
}

#[test]
fn multi_reply_with_an_unknown_result_type_is_refused() {
    let payload = hex("00000002 0000000000000006 00000000 00000063 00 00000000");
    assert_eq!(
        decode_reply(&payload, 14),
        Err(DecodeError::BadMultiHeader {
            within: "multi reply",
            op_type: 99
        })
    );
}

#[test]
fn add_watch_replies_four_zero_bytes() {
    let header = ReplyHeader {
        xid: 9,
        zxid: 0x21,
        err: 0,
    };
    let framed = encode_reply(&header, Some(&Response::ErrorBody(0)));
    assert_eq!(
        framed,
        hex("00000014 00000009 0000000000000021 00000000 00000000")
    );
    assert_eq!(
        decode_reply(unframe(&framed), 106),
        Ok((header, Some(Response::ErrorBody(0))))
    );
}

#[test]
fn sync_echoes_the_path() {
    let framed = encode_reply(
        &ReplyHeader {
            xid: 5,
            zxid: 7,
            err: 0,
        },
        Some(&Response::Sync { path: "/m2".into() }),
    );
    assert_eq!(
        framed,
        hex("00000017 00000005 0000000000000007 00000000 00000003 2f6d32")
    );
}

#[test]
fn who_am_i_golden_bytes() {
    let payload = hex("0000000e 0000000000000021 00000000
                       00000001 00000002 6970 00000009 3132372e302e302e31");
    let infos = vec![ClientInfo {
        auth_scheme: "ip".into(),
        user: "127.0.0.1".into(),
    }];
    assert_eq!(
        decode_reply(&payload, 107).unwrap().1,
        Some(Response::WhoAmI(infos.clone()))
    );
    round_trip(107, Response::WhoAmI(infos));
}

#[test]
fn every_response_round_trips_with_its_opcode() {
    let stat = sample_stat();
    round_trip(1, Response::Create { path: "/a".into() });
    for opcode in [15, 19, 21] {
        round_trip(
            opcode,
            Response::Create2 {
                path: "/a0000000001".into(),
                stat,
            },
        );
    }
    for opcode in [2, 11, 17, 18, 100, 101, 105, -11] {
        round_trip(opcode, Response::Empty);
    }
    for opcode in [3, 5, 7, 13] {
        round_trip(opcode, Response::Stat(stat));
    }
    for opcode in [4, 16] {
        round_trip(
            opcode,
            Response::GetData {
                data: Some(vec![1, 2, 3]),
                stat,
            },
        );
    }
    for data in [None, Some(Vec::new())] {
        round_trip(
            4,
            Response::GetData {
                data: data.clone(),
                stat,
            },
        );
        round_trip(
            22,
            Response::MultiRead(vec![MultiResult::GetData { data, stat }]),
        );
    }
    round_trip(
        6,
        Response::GetAcl {
            acl: vec![Acl {
                perms: 31,
                id: Id::new("digest", "user:x"),
            }],
            stat,
        },
    );
    round_trip(
        8,
        Response::GetChildren {
            children: vec!["a".into(), "b".into()],
        },
    );
    round_trip(
        12,
        Response::GetChildren2 {
            children: vec![],
            stat,
        },
    );
    round_trip(9, Response::Sync { path: "/s".into() });
    round_trip(22, Response::MultiRead(vec![]));
    round_trip(
        103,
        Response::GetEphemerals {
            paths: vec!["/e1".into()],
        },
    );
    round_trip(104, Response::AllChildrenNumber(5));
    round_trip(
        102,
        Response::Sasl {
            token: b"rspauth=abc".to_vec(),
        },
    );
    round_trip(102, Response::Sasl { token: vec![] });
    round_trip(102, Response::SaslNoToken);
    round_trip(106, Response::ErrorBody(0));
}

#[test]
fn failed_sasl_sends_an_error_header_and_a_null_token() {
    let header = ReplyHeader {
        xid: 3,
        zxid: 0,
        err: ErrorCode::AuthFailed.code(),
    };
    let framed = encode_reply(&header, Some(&Response::SaslNoToken));
    assert_eq!(
        framed,
        hex("00000014 00000003 0000000000000000 ffffff8d ffffffff")
    );
    assert_eq!(
        decode_reply(unframe(&framed), 102),
        Ok((header, Some(Response::SaslNoToken)))
    );
}

#[test]
fn empty_replies_must_be_empty() {
    let payload = hex("00000009 0000000000000021 00000000 00");
    assert_eq!(
        decode_reply(&payload, 2),
        Err(DecodeError::TrailingBytes(1))
    );
}

#[test]
fn replies_to_unknown_opcodes_cannot_be_decoded() {
    let payload = hex("00000009 0000000000000021 00000000 00000000");
    for opcode in [0, 20, 50, -10] {
        assert_eq!(
            decode_reply(&payload, opcode),
            Err(DecodeError::UnknownResponseOpcode(opcode))
        );
    }
    // An error reply with no body needs no opcode knowledge.
    let error = hex("00000009 ffffffffffffffff fffffffa");
    assert_eq!(decode_reply(&error, 50).unwrap().1, None);
}

#[test]
fn notification_golden_bytes() {
    let event = WatcherEvent {
        event_type: EventType::NodeDataChanged as i32,
        state: KeeperState::SyncConnected as i32,
        path: "/cap".into(),
    };
    // ZooKeeper 3.8.0 sent zxid -1 here; 3.9 sends the triggering zxid.
    let framed_38 = encode_notification(-1, &event);
    assert_eq!(
        framed_38,
        hex("00000020 ffffffff ffffffffffffffff 00000000 00000003 00000003 00000004 2f636170")
    );
    let framed = encode_notification(0x1f, &event);
    let (header, decoded) = decode_notification(unframe(&framed)).unwrap();
    assert_eq!(
        header,
        ReplyHeader {
            xid: -1,
            zxid: 0x1f,
            err: 0
        }
    );
    assert_eq!(decoded, event);
}

#[test]
fn decode_notification_refuses_other_xids() {
    let payload = hex("00000003 0000000000000021 00000000 00000003 00000003 00000000");
    assert_eq!(
        decode_notification(&payload),
        Err(DecodeError::NotANotification(3))
    );
}

#[test]
fn connect_response_37_and_36_bytes() {
    let with_flag = hex("00000000 00007530 01000007215f0008 00000010
                         ec417d23e488e8b1936b42546a9f01eb 00");
    assert_eq!(with_flag.len(), 37);
    let rsp = ConnectResponse::decode(&with_flag).unwrap();
    assert_eq!(rsp.timeout_ms, 30_000);
    assert_eq!(rsp.session_id, 0x0100_0007_215f_0008);
    assert_eq!(rsp.password.len(), 16);
    assert_eq!(rsp.read_only, Some(false));
    assert_eq!(rsp.encode(), with_flag);

    let without_flag = hex("00000000 00007530 01000007215f0001 00000010
                            665aa6238477cdcfde966f24a1e1714f");
    assert_eq!(without_flag.len(), 36);
    let rsp = ConnectResponse::decode(&without_flag).unwrap();
    assert_eq!(rsp.read_only, None);
    assert_eq!(rsp.encode(), without_flag);
}

#[test]
fn expired_session_connect_response() {
    let rsp = ConnectResponse {
        protocol_version: 0,
        timeout_ms: 0,
        session_id: 0,
        password: vec![0; 16],
        read_only: Some(false),
    };
    let bytes = rsp.encode();
    assert_eq!(
        bytes,
        [&[0u8; 16][..], &[0, 0, 0, 16], &[0; 16], &[0]].concat()
    );
    assert_eq!(ConnectResponse::decode(&bytes), Ok(rsp));
}

#[test]
fn connect_response_refuses_trailing_bytes() {
    let mut bytes = ConnectResponse {
        protocol_version: 0,
        timeout_ms: 1,
        session_id: 2,
        password: vec![3; 16],
        read_only: Some(true),
    }
    .encode();
    bytes.push(0);
    assert_eq!(
        ConnectResponse::decode(&bytes),
        Err(DecodeError::TrailingBytes(1))
    );
}
