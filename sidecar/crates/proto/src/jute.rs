//! Jute's binary primitives, as `BinaryInputArchive`/`BinaryOutputArchive` lay them out.
//!
//! * `int`/`long`: big-endian i32/i64; `boolean`: one byte (any non-zero byte reads as true,
//!   as Java's `DataInput.readBoolean` does; we always write 0 or 1).
//! * `buffer`: i32 length + bytes; length -1 is null.
//! * `ustring`: i32 length + UTF-8 bytes; length -1 is null.
//! * `vector<T>`: i32 count + elements; count -1 is null.
//!
//! Nulls decode as empty values where no server decision or reply depends on null versus
//! empty; the records where null carries meaning (znode data, which ZooKeeper stores and
//! returns as null; reconfig's server lists; SASL tokens) use the `_opt` readers.
//!
//! The reader treats every length and count as hostile: it checks them against the bytes that
//! remain in the frame *before* allocating, so a 4-byte prefix can never make it reserve
//! gigabytes, and it never panics.

use crate::error::DecodeError;
use crate::types::{Acl, Id, Stat};

/// The smallest encoding of one element, per element type. Used to reject vector counts that
/// cannot possibly fit in the bytes left, and to bound pre-allocation.
const MIN_STRING_LEN: usize = 4;
const MIN_ACL_LEN: usize = 4 + MIN_STRING_LEN * 2;

/// Reads jute primitives from a frame payload.
#[derive(Debug, Clone)]
pub struct JuteReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> JuteReader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        JuteReader { buf, pos: 0 }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// How many bytes have been consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unconsumed rest of the payload.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Succeeds only if every byte was consumed: a longer frame means the peer's idea of the
    /// record differs from ours, which is worth refusing rather than guessing.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes(extra)),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::UnexpectedEof {
                needed: n,
                remaining: self.remaining(),
            });
        }
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.take_array()?))
    }

    pub fn read_i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.take_array()?))
    }

    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.take_array::<1>()?[0] != 0)
    }

    /// Reads a length prefix: `None` for null (-1), an error for other negatives or for a
    /// length larger than what is left (each element being at least `min_elem` bytes long).
    fn read_len(
        &mut self,
        what: &'static str,
        min_elem: usize,
    ) -> Result<Option<usize>, DecodeError> {
        let len = self.read_i32()?;
        if len == -1 {
            return Ok(None);
        }
        let Ok(count) = usize::try_from(len) else {
            return Err(DecodeError::NegativeLength(len));
        };
        if count.saturating_mul(min_elem) > self.remaining() {
            return Err(DecodeError::LengthTooLarge {
                what,
                len,
                remaining: self.remaining(),
            });
        }
        Ok(Some(count))
    }

    /// A `buffer`, with null read as `None`.
    pub fn read_buffer_opt(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        match self.read_len("buffer", 1)? {
            None => Ok(None),
            Some(len) => Ok(Some(self.take(len)?.to_vec())),
        }
    }

    /// A `buffer`, with null read as empty.
    pub fn read_buffer(&mut self) -> Result<Vec<u8>, DecodeError> {
        Ok(self.read_buffer_opt()?.unwrap_or_default())
    }

    /// A `ustring`, with null read as `None`.
    pub fn read_ustring_opt(&mut self) -> Result<Option<String>, DecodeError> {
        match self.read_len("string", 1)? {
            None => Ok(None),
            Some(len) => {
                let bytes = self.take(len)?;
                let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)?;
                Ok(Some(text.to_owned()))
            }
        }
    }

    /// A `ustring`, with null read as empty.
    pub fn read_ustring(&mut self) -> Result<String, DecodeError> {
        Ok(self.read_ustring_opt()?.unwrap_or_default())
    }

    /// A `vector<T>` whose elements are each at least `min_elem_len` bytes on the wire; null
    /// reads as empty.
    pub fn read_vec<T>(
        &mut self,
        min_elem_len: usize,
        mut read_elem: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        // A zero minimum would let a huge count pass the size check; every jute element type
        // has at least one byte, so clamp rather than trust the caller.
        let Some(count) = self.read_len("vector", min_elem_len.max(1))? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(read_elem(self)?);
        }
        Ok(out)
    }

    pub fn read_string_vec(&mut self) -> Result<Vec<String>, DecodeError> {
        self.read_vec(MIN_STRING_LEN, Self::read_ustring)
    }

    /// `org.apache.zookeeper.data.Id`.
    pub fn read_id(&mut self) -> Result<Id, DecodeError> {
        Ok(Id {
            scheme: self.read_ustring()?,
            id: self.read_ustring()?,
        })
    }

    /// `org.apache.zookeeper.data.ACL`.
    pub fn read_acl(&mut self) -> Result<Acl, DecodeError> {
        Ok(Acl {
            perms: self.read_i32()?,
            id: self.read_id()?,
        })
    }

    pub fn read_acl_vec(&mut self) -> Result<Vec<Acl>, DecodeError> {
        self.read_vec(MIN_ACL_LEN, Self::read_acl)
    }

    /// `org.apache.zookeeper.data.Stat` (68 bytes).
    pub fn read_stat(&mut self) -> Result<Stat, DecodeError> {
        Ok(Stat {
            czxid: self.read_i64()?,
            mzxid: self.read_i64()?,
            ctime: self.read_i64()?,
            mtime: self.read_i64()?,
            version: self.read_i32()?,
            cversion: self.read_i32()?,
            aversion: self.read_i32()?,
            ephemeral_owner: self.read_i64()?,
            data_length: self.read_i32()?,
            num_children: self.read_i32()?,
            pzxid: self.read_i64()?,
        })
    }
}

/// The encoded size of a `Stat`.
pub const STAT_LEN: usize = 68;

/// Writes jute primitives into a growing buffer.
#[derive(Debug, Clone, Default)]
pub struct JuteWriter {
    buf: Vec<u8>,
}

impl JuteWriter {
    pub fn new() -> Self {
        JuteWriter::default()
    }

    pub fn with_capacity(capacity: usize) -> Self {
        JuteWriter {
            buf: Vec::with_capacity(capacity),
        }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }

    pub fn write_i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn write_i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn write_bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    pub fn write_raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// # Panics
    /// If `len` exceeds `i32::MAX`: jute cannot express it, and no frame (bounded by
    /// `jute.maxbuffer`) could carry it, so it can only be a bug in the caller.
    fn write_len(&mut self, len: usize) {
        let len = i32::try_from(len).expect("jute lengths must fit in an i32");
        self.write_i32(len);
    }

    pub fn write_buffer(&mut self, bytes: &[u8]) {
        self.write_len(bytes.len());
        self.buf.extend_from_slice(bytes);
    }

    /// A `buffer` that may be null (-1).
    pub fn write_buffer_opt(&mut self, bytes: Option<&[u8]>) {
        match bytes {
            Some(bytes) => self.write_buffer(bytes),
            None => self.write_i32(-1),
        }
    }

    pub fn write_ustring(&mut self, s: &str) {
        self.write_buffer(s.as_bytes());
    }

    /// A `ustring` that may be null (-1).
    pub fn write_ustring_opt(&mut self, s: Option<&str>) {
        self.write_buffer_opt(s.map(str::as_bytes));
    }

    pub fn write_vec<T>(&mut self, items: &[T], mut write_elem: impl FnMut(&mut Self, &T)) {
        self.write_len(items.len());
        for item in items {
            write_elem(self, item);
        }
    }

    pub fn write_string_vec(&mut self, items: &[String]) {
        self.write_vec(items, |w, s| w.write_ustring(s));
    }

    pub fn write_id(&mut self, id: &Id) {
        self.write_ustring(&id.scheme);
        self.write_ustring(&id.id);
    }

    pub fn write_acl(&mut self, acl: &Acl) {
        self.write_i32(acl.perms);
        self.write_id(&acl.id);
    }

    pub fn write_acl_vec(&mut self, acl: &[Acl]) {
        self.write_vec(acl, Self::write_acl);
    }

    pub fn write_stat(&mut self, stat: &Stat) {
        self.write_i64(stat.czxid);
        self.write_i64(stat.mzxid);
        self.write_i64(stat.ctime);
        self.write_i64(stat.mtime);
        self.write_i32(stat.version);
        self.write_i32(stat.cversion);
        self.write_i32(stat.aversion);
        self.write_i64(stat.ephemeral_owner);
        self.write_i32(stat.data_length);
        self.write_i32(stat.num_children);
        self.write_i64(stat.pzxid);
    }
}

#[cfg(test)]
mod tests;
