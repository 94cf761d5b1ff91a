//! Raw captures of a device port: every chunk of bytes, its direction and when it came.
//!
//! `mimamori bridge --capture DIR` writes one capture per device port; `mimamori decode` reads
//! it back and runs the same decoder the bridge runs, so a hospital can send a capture and anyone
//! can see exactly what the monitor said. A file without the magic is taken as one raw chunk
//! from the device (a dump from any serial sniffer works).
//!
//! Layout: the 8-byte magic `MMCAPT01`, then records of
//! `u64 LE microseconds since the capture began | u8 direction (0 device→bridge, 1 bridge→device)
//! | u32 LE length | bytes`. A record is at most [`MAX_CHUNK`] bytes. A truncated last record
//! (the bridge was killed mid-write) is reported and the records before it stand.

/// The first 8 bytes of a capture file.
pub const MAGIC: &[u8; 8] = b"MMCAPT01";
/// Longest chunk in one record.
pub const MAX_CHUNK: usize = 1 << 16;

/// Which way the bytes went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the device to the bridge.
    FromDevice,
    /// From the bridge to the device (requests).
    ToDevice,
}

/// One chunk of a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// Microseconds since the capture began.
    pub micros: u64,
    /// Which way the bytes went.
    pub direction: Direction,
    /// The bytes.
    pub bytes: &'a [u8],
}

/// A capture that could not be read to its end.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// The file ends inside a record.
    #[error("capture truncated at byte {offset}: the last record is incomplete")]
    Truncated {
        /// Where the incomplete record starts.
        offset: usize,
    },
    /// A record header is not one this format writes.
    #[error("bad record at byte {offset}: {reason}")]
    BadRecord {
        /// Where the record starts.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Appends one record to `out`; chunks longer than [`MAX_CHUNK`] are split.
pub fn write_record(out: &mut Vec<u8>, micros: u64, direction: Direction, bytes: &[u8]) {
    for piece in bytes.chunks(MAX_CHUNK) {
        out.extend(micros.to_le_bytes());
        out.push(match direction {
            Direction::FromDevice => 0,
            Direction::ToDevice => 1,
        });
        out.extend((piece.len() as u32).to_le_bytes());
        out.extend(piece);
    }
}

/// Reads a capture: its chunks in order, and the error that ended it early, if any.
pub fn read(file: &[u8]) -> (Vec<Chunk<'_>>, Option<CaptureError>) {
    let Some(mut rest) = file.strip_prefix(MAGIC.as_slice()) else {
        let raw = Chunk {
            micros: 0,
            direction: Direction::FromDevice,
            bytes: file,
        };
        return (vec![raw], None);
    };
    let mut chunks = Vec::new();
    let mut offset = MAGIC.len();
    while !rest.is_empty() {
        if rest.len() < 13 {
            return (chunks, Some(CaptureError::Truncated { offset }));
        }
        let micros = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
        let direction = match rest[8] {
            0 => Direction::FromDevice,
            1 => Direction::ToDevice,
            _ => {
                let reason = "direction is neither 0 nor 1";
                return (chunks, Some(CaptureError::BadRecord { offset, reason }));
            }
        };
        let len = u32::from_le_bytes(rest[9..13].try_into().expect("4 bytes")) as usize;
        if len > MAX_CHUNK {
            let reason = "chunk longer than 65536 bytes";
            return (chunks, Some(CaptureError::BadRecord { offset, reason }));
        }
        if rest.len() < 13 + len {
            return (chunks, Some(CaptureError::Truncated { offset }));
        }
        chunks.push(Chunk {
            micros,
            direction,
            bytes: &rest[13..13 + len],
        });
        rest = &rest[13 + len..];
        offset += 13 + len;
    }
    (chunks, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_in_order_and_a_torn_tail_is_reported() {
        let mut file = MAGIC.to_vec();
        write_record(&mut file, 5, Direction::ToDevice, b"G");
        write_record(&mut file, 1_000_000, Direction::FromDevice, b"abc");
        let whole = file.len();
        write_record(&mut file, 2_000_000, Direction::FromDevice, b"torn");
        file.truncate(file.len() - 2);
        let (chunks, error) = read(&file);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].direction, Direction::ToDevice);
        assert_eq!(chunks[1].bytes, b"abc");
        assert_eq!(chunks[1].micros, 1_000_000);
        assert_eq!(error, Some(CaptureError::Truncated { offset: whole }));
    }

    #[test]
    fn a_file_without_the_magic_is_one_raw_chunk() {
        let (chunks, error) = read(b"\x10\x02G\x10\x03\x42\x1f");
        assert_eq!((chunks.len(), error), (1, None));
        assert_eq!(chunks[0].direction, Direction::FromDevice);
    }
}
