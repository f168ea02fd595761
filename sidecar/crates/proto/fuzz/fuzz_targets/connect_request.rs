//! The first frame of every connection: a ConnectRequest (with or without the readOnly byte).
//! Whatever decodes must encode back to the same record.
#![no_main]

use corral_proto::ConnectRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = ConnectRequest::decode(data) {
        let again = request.encode();
        assert_eq!(ConnectRequest::decode(&again), Ok(request));
    }
});
