//! The one binary encoding used for everything this crate persists (log entries, vote, log ids).
//!
//! postcard is compact (varint integers, raw byte strings) and deterministic. It is not
//! self-describing, so types must not rely on `deserialize_any` (openraft's serde impls do not).

use std::io;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot encode value: {e}"),
        )
    })
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}
