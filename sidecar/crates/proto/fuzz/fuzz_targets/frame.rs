//! The frame splitter on a byte stream: a connection's reader takes 4-byte length prefixes and
//! payloads from whatever arrives, and must never panic, read past the input, or accept a
//! frame over the limit.
#![no_main]

use corral_proto::{FrameError, check_frame_len, split_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A small limit, so that both sides of it are reached.
    let max = data.first().map_or(64, |&b| usize::from(b) * 4);
    let mut rest = data.get(1..).unwrap_or_default();
    loop {
        match split_frame(rest, max) {
            Ok(Some((payload, consumed))) => {
                assert!(payload.len() <= max, "a frame over the limit was accepted");
                assert_eq!(consumed, payload.len() + 4);
                assert!(consumed <= rest.len());
                rest = &rest[consumed..];
            }
            Ok(None) => break,
            Err(FrameError::TooLarge { .. } | FrameError::Negative(_)) => break,
        }
    }
    if data.len() >= 4 {
        let len = i32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        if let Ok(n) = check_frame_len(len, max) {
            assert!(n <= max);
        }
    }
});
