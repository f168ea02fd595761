//! The multi (opcode 14) and multiRead (opcode 22) bodies: a list of sub-operation headers and
//! records ended by a done header. The first byte's low bit picks which.
#![no_main]

use corral_proto::{RequestHeader, decode_request, decode_request_body, encode_request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let opcode = if selector & 1 == 0 { 14 } else { 22 };
    if let Ok(request) = decode_request_body(opcode, body) {
        let header = RequestHeader { xid: 7, opcode };
        let again = encode_request(&header, &request);
        assert_eq!(decode_request(&again), Ok((header, request)));
    }
});
