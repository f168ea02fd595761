//! Every request record the server decodes after the handshake. The first byte picks the
//! opcode (every opcode ZooKeeper defines, and an unknown one), the rest is the body, so the
//! fuzzer reaches each record's decoder without having to guess opcodes; the whole input is
//! also decoded as a frame payload (header and body). Whatever decodes must re-encode to
//! something that decodes to the same value.
#![no_main]

use corral_proto::{RequestHeader, decode_request, decode_request_body, encode_request};
use libfuzzer_sys::fuzz_target;

/// Every request opcode of zookeeper.jute's OpCode list, plus values no opcode has.
const OPCODES: [i32; 35] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 100, 101, 102,
    103, 104, 105, 106, 107, -10, -11, -1, 10, 999,
];

fn round_trip(header: RequestHeader, body: &[u8]) {
    if let Ok(request) = decode_request_body(header.opcode, body) {
        let again = encode_request(&header, &request);
        assert_eq!(decode_request(&again), Ok((header, request)));
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some((&selector, body)) = data.split_first() {
        let opcode = OPCODES[usize::from(selector) % OPCODES.len()];
        round_trip(RequestHeader { xid: 1, opcode }, body);
    }
    if let Ok((header, request)) = decode_request(data) {
        let again = encode_request(&header, &request);
        assert_eq!(decode_request(&again), Ok((header, request)));
    }
});
