//! SASL mechanisms ZooKeeper's server offers on its `sasl` request (opcode 102, the tokens of
//! `GetSASLRequest` / `SetSASLResponse`). Only DIGEST-MD5 is implemented; GSSAPI (Kerberos)
//! is out of scope.

pub mod digest_md5;
pub mod directives;

pub use digest_md5::{DigestMd5Error, DigestMd5Server, Step as DigestMd5Step};
