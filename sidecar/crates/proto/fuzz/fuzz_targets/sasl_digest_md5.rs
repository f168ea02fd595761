//! A client's DIGEST-MD5 response, the one SASL token the server parses: the directive list
//! parser and the whole check (realm, nonce, counts, digest-uri, the MD5 response).
#![no_main]

use corral_proto::sasl::directives;
use corral_proto::sasl::{DigestMd5Server, DigestMd5Step};
use libfuzzer_sys::fuzz_target;

const NONCE: &str = "fBpCLMW8GTS09HlAtEuoSjPvS4//3oviYiqwBWc9";

fuzz_target!(|data: &[u8]| {
    let _ = directives::parse(data);
    let users = |name: &str| (name == "jaasuser").then(|| "jaas_password".to_string());
    let mut server = DigestMd5Server::new(NONCE);
    let Ok(DigestMd5Step::Challenge(_)) = server.step(b"", users) else {
        panic!("the first step is a challenge");
    };
    if let Ok(DigestMd5Step::Authenticated { username, token }) = server.step(data, users) {
        // Only a response computed with the right password gets here.
        assert_eq!(username, "jaasuser");
        assert!(token.starts_with(b"rspauth="));
    }
    assert!(server.is_finished());
});
