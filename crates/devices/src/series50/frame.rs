//! Series 50 data-link layer: `DLE STX` … `DLE ETX` framing with DLE doubling and a CRC-16.
//!
//! Source: Philips *Series 50 Fetal Monitors – Digital Interface Protocol Specifications,
//! Programmer's Guide* M1350-9074S (protocols.md §1.2). On the wire a frame is
//!
//! ```text
//! 10 02 | block with every 0x10 doubled | 10 03 | CRC_hi CRC_lo
//! ```
//!
//! The CRC (CRC-16/XMODEM) covers every transmitted byte from the opening DLE to the closing
//! ETX, doubled DLEs included; the two CRC bytes are not stuffed. The receiver
//! ([`FrameDecoder`]) is the guide's byte-by-byte state machine: bytes between frames are legal
//! and skipped; `DLE STX` inside a frame aborts it and starts a new one (the monitor does this to
//! send an urgent `F` block); a DLE followed by anything but DLE, ETX or STX is a sequence error;
//! a block longer than 512 bytes is dropped. There is no retransmission: a bad frame is counted
//! and lost, and the stream goes on with the next one.

use serde::Serialize;

use crate::crc::SERIES50;

/// Data link escape: starts and ends frames, doubled inside them.
pub const DLE: u8 = 0x10;
/// Start of text (after DLE: a frame begins).
pub const STX: u8 = 0x02;
/// End of text (after DLE: the block is complete, two CRC bytes follow).
pub const ETX: u8 = 0x03;
/// Longest block: the type character and up to 511 data bytes (the guide).
pub const MAX_BLOCK_LEN: usize = 512;

/// A frame that could not be taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The CRC did not match: a transmission error.
    #[error(
        "CRC mismatch on a {len}-byte block: received {received:#06x}, computed {computed:#06x}"
    )]
    Crc {
        /// Length of the unstuffed block.
        len: usize,
        /// The CRC on the wire.
        received: u16,
        /// The CRC of the bytes received.
        computed: u16,
    },
    /// A DLE followed by a byte other than DLE, STX or ETX.
    #[error("DLE followed by {byte:#04x} inside a block (sequence error); block dropped")]
    Sequence {
        /// The byte after the DLE.
        byte: u8,
    },
    /// The block grew past [`MAX_BLOCK_LEN`].
    #[error("block longer than {MAX_BLOCK_LEN} bytes; dropped")]
    Overflow,
    /// `DLE STX` arrived inside a block: the sender broke it off to start another.
    #[error("block broken off after {len} bytes by a new DLE STX")]
    Aborted {
        /// Bytes of the abandoned block.
        len: usize,
    },
    /// `DLE STX DLE ETX`: a frame without even a type character.
    #[error("empty block")]
    Empty,
}

/// What a [`FrameDecoder`] has seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LinkStats {
    /// Frames with a good CRC.
    pub frames: u64,
    /// Frames dropped for a bad CRC.
    pub crc_errors: u64,
    /// Frames dropped for a DLE sequence error.
    pub sequence_errors: u64,
    /// Frames dropped for exceeding the block limit.
    pub overflows: u64,
    /// Frames broken off by a new `DLE STX`.
    pub aborted: u64,
    /// Empty frames.
    pub empty: u64,
    /// Bytes outside any frame (legal, but a stream of them means a wrong protocol or speed).
    pub ignored_bytes: u64,
    /// Times the decoder fell back to hunting for `DLE STX` after an error.
    pub resyncs: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Hunting,
    HuntingAfterDle,
    Block,
    BlockAfterDle,
    CrcHigh,
    CrcLow(u8),
}

/// The receive state machine: bytes in, blocks (unstuffed, CRC checked) out.
///
/// Never panics; holds at most one block ([`MAX_BLOCK_LEN`] bytes).
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    state: State,
    block: Vec<u8>,
    stats: LinkStats,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder hunting for the first `DLE STX`.
    pub fn new() -> Self {
        Self {
            state: State::Hunting,
            block: Vec::with_capacity(64),
            stats: LinkStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Feeds bytes; every complete frame (a block, or the reason it was dropped) goes to `out`
    /// in order.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Result<Vec<u8>, FrameError>>) {
        for &byte in bytes {
            if let Some(result) = self.push_byte(byte) {
                out.push(result);
            }
        }
    }

    /// Feeds one byte.
    pub fn push_byte(&mut self, byte: u8) -> Option<Result<Vec<u8>, FrameError>> {
        match self.state {
            State::Hunting => {
                if byte == DLE {
                    self.state = State::HuntingAfterDle;
                } else {
                    self.stats.ignored_bytes += 1;
                }
                None
            }
            State::HuntingAfterDle => {
                match byte {
                    STX => self.start_block(),
                    DLE => self.stats.ignored_bytes += 1,
                    _ => {
                        self.stats.ignored_bytes += 2;
                        self.state = State::Hunting;
                    }
                }
                None
            }
            State::Block => {
                if byte == DLE {
                    self.state = State::BlockAfterDle;
                    None
                } else {
                    self.take_data(byte)
                }
            }
            State::BlockAfterDle => match byte {
                DLE => {
                    self.state = State::Block;
                    self.take_data(DLE)
                }
                ETX => {
                    self.state = State::CrcHigh;
                    None
                }
                STX => {
                    let len = self.block.len();
                    self.stats.aborted += 1;
                    self.start_block();
                    Some(Err(FrameError::Aborted { len }))
                }
                other => {
                    self.stats.sequence_errors += 1;
                    Some(Err(self.fail(FrameError::Sequence { byte: other })))
                }
            },
            State::CrcHigh => {
                self.state = State::CrcLow(byte);
                None
            }
            State::CrcLow(high) => {
                self.state = State::Hunting;
                let received = u16::from_be_bytes([high, byte]);
                let computed = frame_crc(&self.block);
                if received != computed {
                    self.stats.crc_errors += 1;
                    self.stats.resyncs += 1;
                    return Some(Err(FrameError::Crc {
                        len: self.block.len(),
                        received,
                        computed,
                    }));
                }
                if self.block.is_empty() {
                    self.stats.empty += 1;
                    return Some(Err(FrameError::Empty));
                }
                self.stats.frames += 1;
                Some(Ok(std::mem::take(&mut self.block)))
            }
        }
    }

    fn start_block(&mut self) {
        self.block.clear();
        self.state = State::Block;
    }

    fn take_data(&mut self, byte: u8) -> Option<Result<Vec<u8>, FrameError>> {
        if self.block.len() >= MAX_BLOCK_LEN {
            self.stats.overflows += 1;
            return Some(Err(self.fail(FrameError::Overflow)));
        }
        self.block.push(byte);
        None
    }

    fn fail(&mut self, error: FrameError) -> FrameError {
        self.block.clear();
        self.state = State::Hunting;
        self.stats.resyncs += 1;
        error
    }
}

/// The CRC of a block as it goes on the wire: opening `DLE STX`, the stuffed block, `DLE ETX`.
pub fn frame_crc(block: &[u8]) -> u16 {
    let mut digest = SERIES50.digest();
    digest.update(&[DLE, STX]);
    for &byte in block {
        if byte == DLE {
            digest.update(&[DLE, DLE]);
        } else {
            digest.update(&[byte]);
        }
    }
    digest.update(&[DLE, ETX]);
    digest.finalize()
}

/// Appends one frame carrying `block` to `out`.
pub fn encode_frame(block: &[u8], out: &mut Vec<u8>) {
    out.reserve(block.len() + 8);
    out.extend_from_slice(&[DLE, STX]);
    for &byte in block {
        out.push(byte);
        if byte == DLE {
            out.push(DLE);
        }
    }
    out.extend_from_slice(&[DLE, ETX]);
    out.extend_from_slice(&frame_crc(block).to_be_bytes());
}

/// One frame carrying `block`.
pub fn frame(block: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(block, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> (Vec<Result<Vec<u8>, FrameError>>, LinkStats) {
        let mut decoder = FrameDecoder::new();
        let mut out = Vec::new();
        decoder.push(bytes, &mut out);
        (out, decoder.stats())
    }

    #[test]
    fn the_residue_over_a_whole_frame_is_zero() {
        let bytes = frame(b"G");
        assert_eq!(SERIES50.checksum(&bytes), 0);
    }

    #[test]
    fn a_dle_in_the_data_is_doubled_and_comes_back_single() {
        let block = [b'C', 0x00, DLE, DLE, 0x05];
        let bytes = frame(&block);
        assert_eq!(&bytes[..9], &[DLE, STX, b'C', 0, DLE, DLE, DLE, DLE, 5]);
        let (out, stats) = decode_all(&bytes);
        assert_eq!(out, vec![Ok(block.to_vec())]);
        assert_eq!(stats.frames, 1);
    }

    #[test]
    fn bytes_between_frames_are_skipped_and_counted() {
        let mut bytes = vec![0x00, 0xFF, ETX, DLE, 0x41];
        bytes.extend(frame(b"H"));
        bytes.extend([0x00, 0x00]);
        bytes.extend(frame(b"G"));
        let (out, stats) = decode_all(&bytes);
        assert_eq!(out, vec![Ok(b"H".to_vec()), Ok(b"G".to_vec())]);
        assert_eq!(stats.ignored_bytes, 7);
    }

    #[test]
    fn a_corrupted_byte_fails_the_crc_and_the_next_frame_still_arrives() {
        let mut bytes = frame(b"?C");
        bytes[3] ^= 0x01;
        bytes.extend(frame(b"G"));
        let (out, stats) = decode_all(&bytes);
        assert!(matches!(out[0], Err(FrameError::Crc { len: 2, .. })));
        assert_eq!(out[1], Ok(b"G".to_vec()));
        assert_eq!((stats.crc_errors, stats.frames), (1, 1));
    }

    #[test]
    fn dle_stx_inside_a_block_breaks_it_off() {
        // The monitor breaks off a C block to send an F block (protocols.md §1.2).
        let mut bytes = vec![DLE, STX, b'C', 0x80, 0x00, 0x42];
        bytes.extend(frame(b"F503"));
        let (out, stats) = decode_all(&bytes);
        assert_eq!(
            out,
            vec![Err(FrameError::Aborted { len: 4 }), Ok(b"F503".to_vec())]
        );
        assert_eq!(stats.aborted, 1);
    }

    #[test]
    fn a_bad_dle_sequence_drops_the_block_and_resynchronises() {
        let mut bytes = vec![DLE, STX, b'C', DLE, 0x41, 0x42, 0x43];
        bytes.extend(frame(b"H"));
        let (out, stats) = decode_all(&bytes);
        assert_eq!(
            out,
            vec![Err(FrameError::Sequence { byte: 0x41 }), Ok(b"H".to_vec())]
        );
        assert_eq!((stats.sequence_errors, stats.resyncs), (1, 1));
    }

    #[test]
    fn an_endless_block_is_dropped_at_the_limit() {
        let mut bytes = vec![DLE, STX];
        bytes.extend(std::iter::repeat_n(0x41, 2000));
        bytes.extend(frame(b"G"));
        let (out, stats) = decode_all(&bytes);
        assert_eq!(out, vec![Err(FrameError::Overflow), Ok(b"G".to_vec())]);
        assert_eq!(stats.overflows, 1);
    }

    #[test]
    fn an_empty_frame_is_an_error() {
        let (out, _) = decode_all(&frame(b""));
        assert_eq!(out, vec![Err(FrameError::Empty)]);
    }
}
