//! Chunking of snapshots larger than one frame: how the sender cuts them, and how the receiver
//! puts them back together. Pure; the client and server only move the pieces.

/// Room left in a frame for everything but the snapshot bytes (request id, variant tags,
/// vote, snapshot meta with the membership). Membership of a handful of members with their
/// addresses is a few hundred bytes; 64 KiB leaves a wide margin.
pub const FRAME_OVERHEAD_ALLOWANCE: usize = 64 * 1024;

/// openraft's default `snapshot_max_chunk_size`, used when the caller gives none.
pub const DEFAULT_CHUNK_LEN: usize = 3 * 1024 * 1024;

/// The chunk length to use: openraft's configured chunk size (if any), never so large that a
/// chunk would not fit a frame, and never zero.
pub fn chunk_len(configured: Option<usize>, max_frame_len: usize) -> usize {
    let fits = max_frame_len
        .saturating_sub(FRAME_OVERHEAD_ALLOWANCE)
        .max(1);
    configured.unwrap_or(DEFAULT_CHUNK_LEN).clamp(1, fits)
}

/// Cut `data` into `(offset, piece)` parts of at most `chunk_len` bytes. An empty snapshot is
/// one empty part, so that the final [`FullSnapshot`](super::wire::PeerRequest::FullSnapshot)
/// always has a part to carry.
pub fn split(data: &[u8], chunk_len: usize) -> Vec<(u64, &[u8])> {
    if data.is_empty() {
        return vec![(0, data)];
    }
    data.chunks(chunk_len.max(1))
        .enumerate()
        .map(|(i, piece)| ((i * chunk_len.max(1)) as u64, piece))
        .collect()
}

/// One connection's snapshot being received. A connection carries at most one transfer at a
/// time in practice (openraft sends one snapshot per target at once); a chunk of a different
/// transfer replaces the buffered one, as that transfer was abandoned.
#[derive(Debug, Default)]
pub struct Assembly {
    current: Option<(u64, Vec<u8>)>,
}

impl Assembly {
    /// Buffer a leading part of `transfer`.
    pub fn add_chunk(&mut self, transfer: u64, offset: u64, data: Vec<u8>) -> Result<(), String> {
        match &mut self.current {
            Some((id, buf)) if *id == transfer => {
                if offset != buf.len() as u64 {
                    let have = buf.len();
                    self.current = None;
                    return Err(format!(
                        "snapshot transfer {transfer}: chunk at offset {offset} but {have} bytes were received; the sender must restart the transfer"
                    ));
                }
                buf.extend_from_slice(&data);
                Ok(())
            }
            _ => {
                if offset != 0 {
                    self.current = None;
                    return Err(format!(
                        "snapshot transfer {transfer}: first chunk seen at offset {offset} (the connection was probably re-established mid-transfer); the sender must restart the transfer"
                    ));
                }
                self.current = Some((transfer, data));
                Ok(())
            }
        }
    }

    /// Take the final part of `transfer` and return the whole snapshot.
    pub fn finish(&mut self, transfer: u64, offset: u64, data: Vec<u8>) -> Result<Vec<u8>, String> {
        if offset == 0 {
            // Sent in one frame; anything buffered belonged to an abandoned transfer.
            self.current = None;
            return Ok(data);
        }
        match self.current.take() {
            Some((id, mut buf)) if id == transfer && buf.len() as u64 == offset => {
                buf.extend_from_slice(&data);
                Ok(buf)
            }
            Some((id, buf)) if id == transfer => Err(format!(
                "snapshot transfer {transfer}: last part at offset {offset} but {} bytes were received; the sender must restart the transfer",
                buf.len()
            )),
            _ => Err(format!(
                "snapshot transfer {transfer}: last part at offset {offset} without its earlier chunks; the sender must restart the transfer"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reassemble(data: &[u8], chunk: usize) -> Vec<u8> {
        let parts = split(data, chunk);
        let (last, leading) = parts.split_last().unwrap();
        let mut asm = Assembly::default();
        for (offset, piece) in leading {
            asm.add_chunk(9, *offset, piece.to_vec()).unwrap();
        }
        asm.finish(9, last.0, last.1.to_vec()).unwrap()
    }

    #[test]
    fn split_and_reassemble_restore_the_bytes() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for chunk in [1, 7, 1000, 3333, 9_999, 10_000, 10_001, 1 << 20] {
            assert_eq!(reassemble(&data, chunk), data, "chunk length {chunk}");
        }
        assert_eq!(split(&data, 1000).len(), 10);
        assert_eq!(split(&data, 3333).len(), 4);
    }

    #[test]
    fn empty_snapshot_is_one_empty_part() {
        assert_eq!(split(&[], 10), vec![(0, &[][..])]);
        assert_eq!(reassemble(&[], 10), Vec::<u8>::new());
    }

    #[test]
    fn chunk_len_fits_a_frame() {
        assert_eq!(chunk_len(None, 64 << 20), DEFAULT_CHUNK_LEN);
        assert_eq!(
            chunk_len(Some(100 << 20), 64 << 20),
            (64 << 20) - FRAME_OVERHEAD_ALLOWANCE
        );
        assert_eq!(chunk_len(Some(0), 64 << 20), 1);
        assert_eq!(chunk_len(Some(10), 1000), 1);
    }

    #[test]
    fn a_gap_or_a_missing_start_aborts_the_transfer() {
        let mut asm = Assembly::default();
        asm.add_chunk(1, 0, vec![1; 10]).unwrap();
        assert!(asm.add_chunk(1, 11, vec![1; 10]).is_err());
        // The failed transfer is dropped: its end cannot complete.
        assert!(asm.finish(1, 10, vec![2]).is_err());

        let mut asm = Assembly::default();
        assert!(asm.add_chunk(2, 5, vec![0; 5]).is_err());
        assert!(asm.finish(3, 5, vec![0; 5]).is_err());
    }

    #[test]
    fn a_new_transfer_replaces_an_abandoned_one() {
        let mut asm = Assembly::default();
        asm.add_chunk(1, 0, vec![1; 10]).unwrap();
        asm.add_chunk(2, 0, vec![2; 4]).unwrap();
        assert_eq!(asm.finish(2, 4, vec![3]).unwrap(), vec![2, 2, 2, 2, 3]);
        // A one-frame snapshot needs nothing buffered.
        asm.add_chunk(4, 0, vec![4; 3]).unwrap();
        assert_eq!(asm.finish(5, 0, vec![5]).unwrap(), vec![5]);
        assert!(asm.finish(4, 3, vec![4]).is_err());
    }
}
