//! Framing: every ZooKeeper message, both ways, is a 4-byte big-endian length and a payload.
//!
//! ZooKeeper reads the length and closes the connection ("Len error") when it is negative or
//! larger than `jute.maxbuffer` (`NIOServerCnxn.readLength`, `BinaryInputArchive.maxBuffer`);
//! a length equal to the limit is accepted. A zero length is not refused at this layer; the
//! record decoder then fails on the empty payload.

/// Bytes in the length prefix.
pub const LENGTH_PREFIX_LEN: usize = 4;

/// A length prefix ZooKeeper would refuse by closing the connection.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    #[error(
        "frame length {0} is negative; the peer is not speaking ZooKeeper's protocol or the \
         stream lost its framing, so the connection must be closed"
    )]
    Negative(i32),
    #[error(
        "frame length {len} exceeds jute.maxbuffer ({max} bytes), so the connection must be \
         closed as ZooKeeper does; raise jute.maxbuffer on both server and clients if frames \
         this large are intended"
    )]
    TooLarge { len: i32, max: usize },
}

/// Validate a 4-byte big-endian length prefix. ZooKeeper closes the connection when len < 0 or
/// len > max (jute.maxbuffer); return `FrameError::TooLarge{len,max}` / `Negative(len)`.
pub fn check_frame_len(len: i32, max: usize) -> Result<usize, FrameError> {
    let Ok(ulen) = usize::try_from(len) else {
        return Err(FrameError::Negative(len));
    };
    if ulen > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(ulen)
}

/// Prefix a payload with its 4-byte big-endian length.
///
/// # Panics
/// If the payload is longer than `i32::MAX` bytes, which no ZooKeeper peer could accept.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let len = i32::try_from(payload.len()).expect("a frame payload must fit in an i32 length");
    let mut out = Vec::with_capacity(LENGTH_PREFIX_LEN + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Split the first complete frame off the front of `buf`.
///
/// Returns `Ok(None)` while more bytes are needed, or `Ok(Some((payload, consumed)))` where
/// `consumed` counts the prefix too. The length is checked as soon as its 4 bytes are present,
/// so an oversized frame is refused before any of its payload is buffered.
pub fn split_frame(buf: &[u8], max: usize) -> Result<Option<(&[u8], usize)>, FrameError> {
    let Some((prefix, rest)) = buf.split_first_chunk::<LENGTH_PREFIX_LEN>() else {
        return Ok(None);
    };
    let len = check_frame_len(i32::from_be_bytes(*prefix), max)?;
    Ok(rest
        .get(..len)
        .map(|payload| (payload, LENGTH_PREFIX_LEN + len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_frame_len_accepts_up_to_the_limit_inclusive() {
        assert_eq!(check_frame_len(0, 10), Ok(0));
        assert_eq!(check_frame_len(10, 10), Ok(10));
        assert_eq!(
            check_frame_len(11, 10),
            Err(FrameError::TooLarge { len: 11, max: 10 })
        );
        assert_eq!(check_frame_len(-1, 10), Err(FrameError::Negative(-1)));
        assert_eq!(
            check_frame_len(i32::MIN, 10),
            Err(FrameError::Negative(i32::MIN))
        );
        assert_eq!(
            check_frame_len(i32::MAX, crate::DEFAULT_MAX_BUFFER),
            Err(FrameError::TooLarge {
                len: i32::MAX,
                max: crate::DEFAULT_MAX_BUFFER
            })
        );
    }

    #[test]
    fn frame_prefixes_big_endian_length() {
        assert_eq!(frame(&[]), vec![0, 0, 0, 0]);
        assert_eq!(frame(&[7, 8, 9]), vec![0, 0, 0, 3, 7, 8, 9]);
        let big = vec![1u8; 0x0102];
        assert_eq!(&frame(&big)[..4], &[0, 0, 1, 2]);
    }

    #[test]
    fn split_frame_waits_for_complete_frames() {
        let wire = [frame(b"abc"), frame(b"de")].concat();
        assert_eq!(split_frame(&wire[..3], 100), Ok(None));
        assert_eq!(split_frame(&wire[..6], 100), Ok(None));
        assert_eq!(split_frame(&wire, 100), Ok(Some((&b"abc"[..], 7))));
        assert_eq!(split_frame(&wire[7..], 100), Ok(Some((&b"de"[..], 6))));
    }

    #[test]
    fn split_frame_refuses_bad_lengths_before_the_payload_arrives() {
        assert_eq!(
            split_frame(&[0, 0, 1, 0], 255),
            Err(FrameError::TooLarge { len: 256, max: 255 })
        );
        assert_eq!(
            split_frame(&[0xff, 0xff, 0xff, 0xfe], 255),
            Err(FrameError::Negative(-2))
        );
    }

    #[test]
    fn frame_errors_explain_the_remedy() {
        let msg = FrameError::TooLarge { len: 5, max: 4 }.to_string();
        assert!(msg.contains("jute.maxbuffer"), "{msg}");
        assert!(FrameError::Negative(-3).to_string().contains("-3"));
    }
}
