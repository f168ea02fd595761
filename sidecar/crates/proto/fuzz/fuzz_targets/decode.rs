//! Feeds arbitrary bytes to every decoder a peer can reach. The server decodes the first frame
//! of a connection as a ConnectRequest and every later one with `decode_request`; neither may
//! panic, whatever the bytes. Replies and notifications are decoded too, for the tools and
//! tests that read them.
#![no_main]

use corral_proto::{
    ConnectRequest, ConnectResponse, DEFAULT_MAX_BUFFER, decode_notification, decode_reply,
    decode_request, encode_request, split_frame,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ConnectRequest::decode(data);
    if let Ok((header, request)) = decode_request(data) {
        // Whatever decodes must re-encode to something that decodes to the same value.
        let again = encode_request(&header, &request);
        assert_eq!(decode_request(&again), Ok((header, request)));
    }
    let _ = split_frame(data, DEFAULT_MAX_BUFFER);
    let _ = ConnectResponse::decode(data);
    let _ = decode_notification(data);
    if let Some((&selector, rest)) = data.split_first() {
        // One byte picks the opcode a reply is decoded for.
        let opcodes = [1, 2, 3, 4, 6, 8, 9, 12, 14, 15, 22, 102, 103, 104, 106, 107];
        let _ = decode_reply(rest, opcodes[usize::from(selector) % opcodes.len()]);
    }
});
