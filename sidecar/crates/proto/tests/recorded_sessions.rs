//! Replays whole client sessions recorded between real ZooKeeper clients and a real ZooKeeper
//! 3.8.0 server (Debian packages, loopback, through a frame-logging proxy): every frame must
//! decode, and re-encoding the decoded value must give back the same bytes.
//!
//! Data files: one frame payload per line, `C <hex>` client→server or `S <hex>` server→client.
//! * `java-client-3.8.0.frames`: the Java client doing create2, getData+watch, setData (which
//!   fires the watch), a successful and a failed multi, getChildren(2), exists+watch,
//!   addWatch, getACL, sync, getAllChildrenNumber, getEphemerals, whoAmI, createContainer and
//!   close.
//! * `c-client-3.8.0.frames`: the C client `cli_mt` doing create, get, ls, exists, set, sync,
//!   delete and close.

use std::collections::HashMap;

use corral_proto::{
    ConnectRequest, ConnectResponse, ErrorCode, MultiOp, MultiResult, OpCode, Request, Response,
    decode_notification, decode_reply, decode_reply_header, decode_request, encode_notification,
    encode_reply, encode_request, frame, xid,
};

struct Frame {
    from_client: bool,
    payload: Vec<u8>,
}

fn load(name: &str) -> Vec<Frame> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (dir, hex) = line.split_once(' ').expect("`C|S <hex>`");
            let payload = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            Frame {
                from_client: dir == "C",
                payload,
            }
        })
        .collect()
}

/// What a replay saw, for assertions about the session's content.
#[derive(Default)]
struct Replay {
    requests: Vec<Request>,
    replies: Vec<(i32, Option<Response>)>,
    notifications: usize,
}

/// Decodes and re-encodes every frame, which must come out byte for byte as recorded (null
/// znode data included: it decodes as `None` and re-encodes as the null buffer).
fn replay(frames: &[Frame]) -> Replay {
    let mut frames = frames.iter();
    let connect = frames.next().expect("a handshake");
    assert!(connect.from_client);
    let request = ConnectRequest::decode(&connect.payload).expect("ConnectRequest");
    assert_eq!(request.encode(), connect.payload);

    let accepted = frames.next().expect("a handshake reply");
    assert!(!accepted.from_client);
    let response = ConnectResponse::decode(&accepted.payload).expect("ConnectResponse");
    assert_eq!(response.encode(), accepted.payload);
    assert_eq!(
        response.read_only.is_some(),
        request.read_only.is_some(),
        "the server mirrors the client's readOnly byte"
    );
    assert_eq!(response.password.len(), 16);

    let mut opcode_by_xid: HashMap<i32, i32> = HashMap::from([(xid::PING, OpCode::Ping.code())]);
    let mut seen = Replay::default();
    for f in frames {
        if f.from_client {
            let (header, req) = decode_request(&f.payload)
                .unwrap_or_else(|e| panic!("request {}: {e}", hex(&f.payload)));
            assert!(!matches!(req, Request::Unknown(_)), "{req:?}");
            opcode_by_xid.insert(header.xid, header.opcode);
            assert_eq!(
                encode_request(&header, &req),
                f.payload,
                "re-encoding {req:?}"
            );
            seen.requests.push(req);
            continue;
        }
        let (header, _) = decode_reply_header(&f.payload).expect("ReplyHeader");
        if header.xid == xid::NOTIFICATION {
            let (header, event) = decode_notification(&f.payload).expect("notification");
            assert_eq!(encode_notification(header.zxid, &event), frame(&f.payload));
            seen.notifications += 1;
            continue;
        }
        let opcode = *opcode_by_xid
            .get(&header.xid)
            .unwrap_or_else(|| panic!("a reply to unknown xid {}", header.xid));
        let (header, body) = decode_reply(&f.payload, opcode)
            .unwrap_or_else(|e| panic!("reply to opcode {opcode}: {e}: {}", hex(&f.payload)));
        assert_eq!(encode_reply(&header, body.as_ref()), frame(&f.payload));
        seen.replies.push((opcode, body));
    }
    seen
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn java_client_session_round_trips_byte_for_byte() {
    let frames = load("java-client-3.8.0.frames");
    let seen = replay(&frames);
    assert_eq!(seen.requests.len(), 16);
    assert_eq!(seen.replies.len(), 16);
    assert_eq!(seen.notifications, 1);

    let opcodes: Vec<i32> = seen.requests.iter().map(Request::opcode).collect();
    assert_eq!(
        opcodes,
        [
            15, 4, 5, 14, 14, 8, 12, 3, 106, 6, 9, 104, 103, 107, 19, -11
        ]
    );

    // The failing multi creates "/cap/b" with null data, and createContainer sends null data;
    // both must decode as null rather than empty.
    let null_data_creates: Vec<&str> = seen
        .requests
        .iter()
        .flat_map(|req| match req {
            Request::Create { req, .. } => vec![req],
            Request::Multi(ops) => ops
                .iter()
                .filter_map(|op| match op {
                    MultiOp::Create { req, .. } => Some(req),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        })
        .filter(|req| req.data.is_none())
        .map(|req| req.path.as_str())
        .collect();
    assert_eq!(null_data_creates, ["/cap/b", "/cont"]);

    // The failed multi: header err 0, per-op error results.
    let failed_multi = seen
        .replies
        .iter()
        .filter_map(|(op, body)| match (op, body) {
            (14, Some(Response::Multi(results))) => Some(results),
            _ => None,
        })
        .nth(1)
        .expect("two multi replies");
    assert_eq!(
        failed_multi,
        &vec![
            MultiResult::Error(ErrorCode::Ok.code()),
            MultiResult::Error(ErrorCode::NoNode.code())
        ]
    );
    assert!(
        seen.replies.contains(&(106, Some(Response::ErrorBody(0)))),
        "addWatch replies ErrorResponse{{0}}"
    );
    assert!(
        seen.replies
            .iter()
            .any(|(op, body)| *op == 19 && matches!(body, Some(Response::Create2 { .. }))),
        "createContainer replies Create2Response"
    );
}

#[test]
fn c_client_session_round_trips_byte_for_byte() {
    let frames = load("c-client-3.8.0.frames");
    let seen = replay(&frames);
    assert_eq!(seen.requests.len(), 8);
    assert_eq!(seen.replies.len(), 8);
    assert!(matches!(
        &seen.requests[0],
        Request::Create { req, .. } if req.path == "/ccli hi" && req.data.as_deref() == Some(&b"new"[..])
    ));
    assert_eq!(seen.requests.last(), Some(&Request::CloseSession));
    assert!(seen.replies.contains(&(
        OpCode::Sync.code(),
        Some(Response::Sync {
            path: "/ccli".into()
        })
    )));
}
