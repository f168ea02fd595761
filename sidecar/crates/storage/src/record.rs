//! Record framing shared by log segments: pure functions over byte slices.
//!
//! A record is
//!
//! ```text
//! +-------------+-----------------+----------------+-------------------+
//! | len: u32 LE | payload_crc: u32| header_crc: u32| payload (len B)   |
//! +-------------+-----------------+----------------+-------------------+
//! ```
//!
//! `header_crc` covers the first eight bytes. Checking the header separately from the payload
//! lets recovery tell a torn tail from corruption cheaply: a random byte position almost never
//! carries a valid header, so searching the remainder of a file for "is there any valid record
//! after the damage?" costs one 8-byte checksum per position instead of one per payload.
//! A record never has an empty payload, which makes zero-filled regions invalid on their own.

/// Bytes before the payload.
pub(crate) const RECORD_HEADER_LEN: usize = 12;

/// Frames `payload` as one record, appending it to `out`.
///
/// Callers guarantee a non-empty payload smaller than 4 GiB (log entries are far smaller; the
/// store rejects larger ones before calling this).
pub(crate) fn encode_record(payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(!payload.is_empty());
    let len = u32::try_from(payload.len()).expect("record payload checked to be < 4 GiB");
    let len_bytes = len.to_le_bytes();
    let payload_crc = crc32fast::hash(payload).to_le_bytes();
    let header_crc = header_checksum(len_bytes, payload_crc);
    out.extend_from_slice(&len_bytes);
    out.extend_from_slice(&payload_crc);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(payload);
}

fn header_checksum(len: [u8; 4], payload_crc: [u8; 4]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len);
    h.update(&payload_crc);
    h.finalize()
}

/// Where one intact record lies inside a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordSpan {
    /// Offset of the record header.
    pub offset: usize,
    /// Length of the payload, which starts at `offset + RECORD_HEADER_LEN`.
    pub payload_len: usize,
}

impl RecordSpan {
    pub(crate) fn payload_range(&self) -> std::ops::Range<usize> {
        let start = self.offset + RECORD_HEADER_LEN;
        start..start + self.payload_len
    }

    /// Total bytes of the framed record.
    pub(crate) fn total_len(&self) -> usize {
        RECORD_HEADER_LEN + self.payload_len
    }
}

/// Why the record at some offset is not intact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Damage {
    /// Fewer than a header's worth of bytes remain.
    TruncatedHeader { available: usize },
    /// The header checksum does not match, so its length field cannot be trusted.
    BadHeaderChecksum,
    /// The header declares a zero-length payload, which is never written.
    EmptyPayload,
    /// The header is intact but the payload runs past the end of the data.
    TruncatedPayload { declared: usize, available: usize },
    /// The header is intact, the payload is complete, but its checksum does not match.
    BadPayloadChecksum,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::TruncatedHeader { available } => {
                write!(
                    f,
                    "record header cut short ({available} of {RECORD_HEADER_LEN} bytes present)"
                )
            }
            Damage::BadHeaderChecksum => write!(f, "record header checksum mismatch"),
            Damage::EmptyPayload => write!(f, "record header declares an empty payload"),
            Damage::TruncatedPayload {
                declared,
                available,
            } => write!(
                f,
                "record payload cut short ({available} of {declared} bytes present)"
            ),
            Damage::BadPayloadChecksum => write!(f, "record payload checksum mismatch"),
        }
    }
}

/// Reads the record starting at `offset`; `Ok` when it is intact.
pub(crate) fn read_record(buf: &[u8], offset: usize) -> Result<RecordSpan, Damage> {
    let rest = &buf[offset.min(buf.len())..];
    if rest.len() < RECORD_HEADER_LEN {
        return Err(Damage::TruncatedHeader {
            available: rest.len(),
        });
    }
    let len_bytes: [u8; 4] = rest[0..4].try_into().expect("4 bytes");
    let payload_crc: [u8; 4] = rest[4..8].try_into().expect("4 bytes");
    let header_crc = u32::from_le_bytes(rest[8..12].try_into().expect("4 bytes"));
    if header_checksum(len_bytes, payload_crc) != header_crc {
        return Err(Damage::BadHeaderChecksum);
    }
    let payload_len = u32::from_le_bytes(len_bytes) as usize;
    if payload_len == 0 {
        return Err(Damage::EmptyPayload);
    }
    let available = rest.len() - RECORD_HEADER_LEN;
    if payload_len > available {
        return Err(Damage::TruncatedPayload {
            declared: payload_len,
            available,
        });
    }
    let payload = &rest[RECORD_HEADER_LEN..RECORD_HEADER_LEN + payload_len];
    if crc32fast::hash(payload) != u32::from_le_bytes(payload_crc) {
        return Err(Damage::BadPayloadChecksum);
    }
    Ok(RecordSpan {
        offset,
        payload_len,
    })
}

/// The first damaged record found by [`scan_records`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DamageReport {
    /// Offset of the damaged record's header.
    pub offset: usize,
    pub damage: Damage,
    /// Offset of an intact record found after the damage, if any. Its presence means the damage
    /// is not a torn tail: bytes that were written later survived, so the damaged bytes were
    /// once intact and have since rotted or been overwritten.
    pub intact_record_after: Option<usize>,
}

/// Result of walking a buffer record by record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Intact records from the start offset up to the first damage (or the end).
    pub records: Vec<RecordSpan>,
    /// Offset just past the last intact record.
    pub valid_end: usize,
    /// The first damage, if the intact records do not reach the end of the buffer.
    pub damage: Option<DamageReport>,
}

/// Walks the records of `buf` from `start`, stopping at the first damaged one.
pub(crate) fn scan_records(buf: &[u8], start: usize) -> Scan {
    let mut records = Vec::new();
    let mut offset = start;
    while offset < buf.len() {
        match read_record(buf, offset) {
            Ok(span) => {
                offset += span.total_len();
                records.push(span);
            }
            Err(damage) => {
                let intact_record_after = find_intact_record_after(buf, offset, damage);
                return Scan {
                    records,
                    valid_end: offset,
                    damage: Some(DamageReport {
                        offset,
                        damage,
                        intact_record_after,
                    }),
                };
            }
        }
    }
    Scan {
        records,
        valid_end: offset,
        damage: None,
    }
}

/// Looks for any intact record after damage at `offset`.
///
/// When the header is intact its length can be trusted, so the search starts after the damaged
/// record's declared extent: bytes inside a payload are user data and may legitimately look
/// like records. When the header itself is damaged, every later byte position is a candidate.
fn find_intact_record_after(buf: &[u8], offset: usize, damage: Damage) -> Option<usize> {
    let from = match damage {
        // Nothing after a cut-short header or payload: they reach the end of the data.
        Damage::TruncatedHeader { .. } | Damage::TruncatedPayload { .. } => return None,
        Damage::BadPayloadChecksum => {
            let len = u32::from_le_bytes(buf[offset..offset + 4].try_into().expect("4 bytes"));
            offset + RECORD_HEADER_LEN + len as usize
        }
        Damage::BadHeaderChecksum | Damage::EmptyPayload => offset + 1,
    };
    (from..buf.len().saturating_sub(RECORD_HEADER_LEN - 1))
        .find(|&candidate| read_record(buf, candidate).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            encode_record(p, &mut out);
        }
        out
    }

    #[test]
    fn round_trips_records() {
        let buf = framed(&[b"alpha", b"b", b"gamma-gamma"]);
        let scan = scan_records(&buf, 0);
        assert_eq!(scan.damage, None);
        assert_eq!(scan.valid_end, buf.len());
        let payloads: Vec<&[u8]> = scan
            .records
            .iter()
            .map(|r| &buf[r.payload_range()])
            .collect();
        assert_eq!(payloads, vec![&b"alpha"[..], b"b", b"gamma-gamma"]);
    }

    #[test]
    fn scan_honours_start_offset() {
        let mut buf = b"HEADER".to_vec();
        encode_record(b"x", &mut buf);
        let scan = scan_records(&buf, 6);
        assert_eq!(
            scan.records,
            vec![RecordSpan {
                offset: 6,
                payload_len: 1
            }]
        );
        assert_eq!(scan.damage, None);
    }

    #[test]
    fn every_cut_of_the_last_record_is_a_torn_tail() {
        let buf = framed(&[b"first", b"second record"]);
        let second = RECORD_HEADER_LEN + 5;
        for cut in second + 1..buf.len() {
            let scan = scan_records(&buf[..cut], 0);
            assert_eq!(scan.records.len(), 1, "cut at {cut}");
            assert_eq!(scan.valid_end, second);
            let report = scan.damage.expect("damage");
            assert_eq!(report.offset, second);
            assert_eq!(report.intact_record_after, None, "cut at {cut}: {report:?}");
        }
    }

    #[test]
    fn garbage_after_records_is_damage_without_intact_successor() {
        let mut buf = framed(&[b"first"]);
        let end = buf.len();
        buf.extend_from_slice(&[0xAB; 100]);
        let scan = scan_records(&buf, 0);
        assert_eq!(scan.valid_end, end);
        let report = scan.damage.expect("damage");
        assert_eq!(report.damage, Damage::BadHeaderChecksum);
        assert_eq!(report.intact_record_after, None);
    }

    #[test]
    fn zero_fill_is_damage() {
        let mut buf = framed(&[b"first"]);
        buf.extend_from_slice(&[0; 64]);
        let report = scan_records(&buf, 0).damage.expect("damage");
        assert_eq!(report.damage, Damage::BadHeaderChecksum);
        assert_eq!(report.intact_record_after, None);
    }

    #[test]
    fn flipped_payload_byte_in_middle_record_finds_the_next_record() {
        let mut buf = framed(&[b"first", b"second", b"third"]);
        let second = RECORD_HEADER_LEN + 5;
        buf[second + RECORD_HEADER_LEN + 2] ^= 0x01;
        let scan = scan_records(&buf, 0);
        assert_eq!(scan.records.len(), 1);
        let report = scan.damage.expect("damage");
        assert_eq!(report.offset, second);
        assert_eq!(report.damage, Damage::BadPayloadChecksum);
        assert_eq!(
            report.intact_record_after,
            Some(second + RECORD_HEADER_LEN + 6)
        );
    }

    #[test]
    fn flipped_length_byte_in_middle_record_finds_the_next_record() {
        let mut buf = framed(&[b"first", b"second", b"third"]);
        let second = RECORD_HEADER_LEN + 5;
        buf[second] ^= 0x40;
        let report = scan_records(&buf, 0).damage.expect("damage");
        assert_eq!(report.offset, second);
        assert_eq!(report.damage, Damage::BadHeaderChecksum);
        assert_eq!(
            report.intact_record_after,
            Some(second + RECORD_HEADER_LEN + 6)
        );
    }

    #[test]
    fn flipped_byte_in_last_record_has_no_successor() {
        let mut buf = framed(&[b"first", b"second"]);
        let last = buf.len() - 1;
        buf[last] ^= 0xFF;
        let report = scan_records(&buf, 0).damage.expect("damage");
        assert_eq!(report.damage, Damage::BadPayloadChecksum);
        assert_eq!(report.intact_record_after, None);
    }

    #[test]
    fn a_record_embedded_in_an_intact_payload_is_not_a_successor() {
        // A payload may contain bytes that frame a valid record (user data is arbitrary); when
        // the damaged record's header is intact, its payload is skipped, not searched.
        let inner = framed(&[b"looks like a record"]);
        let mut buf = framed(&[b"first"]);
        let second = buf.len();
        encode_record(&inner, &mut buf);
        buf[second + RECORD_HEADER_LEN] ^= 0x01;
        let report = scan_records(&buf, 0).damage.expect("damage");
        assert_eq!(report.damage, Damage::BadPayloadChecksum);
        assert_eq!(report.intact_record_after, None);
    }

    #[test]
    fn empty_payload_header_is_rejected() {
        let len = 0u32.to_le_bytes();
        let pcrc = crc32fast::hash(b"").to_le_bytes();
        let mut buf = Vec::new();
        buf.extend_from_slice(&len);
        buf.extend_from_slice(&pcrc);
        buf.extend_from_slice(&header_checksum(len, pcrc).to_le_bytes());
        assert_eq!(read_record(&buf, 0), Err(Damage::EmptyPayload));
    }
}
