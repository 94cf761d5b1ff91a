//! MLLP framing (HL7 v2 Minimal Lower Layer Protocol): `VT` message `FS CR`.
//!
//! Source: HL7 v2 MLLP; the defaults VT = 0x0B, FS = 0x1C, CR = 0x0D (protocols.md §5.1). The
//! deframer is sans-IO and bounded: bytes outside a frame are skipped and counted, a new `VT`
//! inside a frame restarts it (the sender gave up on the old one), and a frame longer than
//! [`MAX_MESSAGE_LEN`] is dropped without being buffered past the limit.

use serde::Serialize;

/// Start block.
pub const VT: u8 = 0x0B;
/// End block.
pub const FS: u8 = 0x1C;
/// Carriage return (after FS; also the HL7 segment terminator).
pub const CR: u8 = 0x0D;
/// Largest message taken (1 MiB: a minute of 4 Hz waveforms is a few kB).
pub const MAX_MESSAGE_LEN: usize = 1 << 20;

/// A frame that could not be taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MllpError {
    /// The message grew past the limit.
    #[error("MLLP message longer than {MAX_MESSAGE_LEN} bytes; dropped")]
    Oversized,
    /// A new start block arrived inside a message.
    #[error("MLLP message broken off after {len} bytes by a new start block")]
    Restarted {
        /// Bytes of the abandoned message.
        len: usize,
    },
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MllpStats {
    /// Complete messages.
    pub frames: u64,
    /// Messages dropped for size.
    pub oversized: u64,
    /// Messages broken off by a new start block.
    pub restarted: u64,
    /// Bytes outside any frame.
    pub ignored_bytes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Hunting,
    Message,
    AfterFs,
    Skipping,
}

/// The MLLP deframer.
#[derive(Clone, Debug)]
pub struct MllpDecoder {
    state: State,
    message: Vec<u8>,
    stats: MllpStats,
}

impl Default for MllpDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl MllpDecoder {
    /// A deframer waiting for a start block.
    pub fn new() -> Self {
        Self {
            state: State::Hunting,
            message: Vec::new(),
            stats: MllpStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> MllpStats {
        self.stats
    }

    /// Feeds bytes; complete messages (without framing) or errors go to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Result<Vec<u8>, MllpError>>) {
        for &byte in bytes {
            match (self.state, byte) {
                (_, VT) => {
                    if self.state == State::Message || self.state == State::AfterFs {
                        self.stats.restarted += 1;
                        out.push(Err(MllpError::Restarted {
                            len: self.message.len(),
                        }));
                    }
                    self.message.clear();
                    self.state = State::Message;
                }
                (State::Hunting, _) => self.stats.ignored_bytes += 1,
                (State::Skipping, FS) => self.state = State::Hunting,
                (State::Skipping, _) => {}
                (State::Message, FS) => self.state = State::AfterFs,
                (State::Message, _) => {
                    if self.message.len() >= MAX_MESSAGE_LEN {
                        self.stats.oversized += 1;
                        self.message = Vec::new();
                        self.state = State::Skipping;
                        out.push(Err(MllpError::Oversized));
                    } else {
                        self.message.push(byte);
                    }
                }
                (State::AfterFs, _) => {
                    // FS CR ends the frame; a peer that omits the CR still ends it with FS.
                    self.stats.frames += 1;
                    out.push(Ok(std::mem::take(&mut self.message)));
                    self.state = State::Hunting;
                    if byte != CR {
                        self.stats.ignored_bytes += 1;
                    }
                }
            }
        }
    }
}

/// Wraps a message in MLLP framing.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 3);
    out.push(VT);
    out.extend_from_slice(message);
    out.extend_from_slice(&[FS, CR]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_found_among_noise_and_restarts() {
        let mut bytes = b"noise".to_vec();
        bytes.extend(frame(b"MSH|one"));
        bytes.extend([VT, b'x', b'y']);
        bytes.extend(frame(b"MSH|two"));
        let mut decoder = MllpDecoder::new();
        let mut out = Vec::new();
        for piece in bytes.chunks(3) {
            decoder.push(piece, &mut out);
        }
        assert_eq!(
            out,
            vec![
                Ok(b"MSH|one".to_vec()),
                Err(MllpError::Restarted { len: 2 }),
                Ok(b"MSH|two".to_vec())
            ]
        );
        assert_eq!(decoder.stats().ignored_bytes, 5);
    }

    #[test]
    fn an_oversized_message_is_dropped_and_the_next_one_arrives() {
        let mut bytes = vec![VT];
        bytes.extend(std::iter::repeat_n(b'a', MAX_MESSAGE_LEN + 10));
        bytes.extend([FS, CR]);
        bytes.extend(frame(b"MSH|ok"));
        let mut decoder = MllpDecoder::new();
        let mut out = Vec::new();
        decoder.push(&bytes, &mut out);
        assert_eq!(out, vec![Err(MllpError::Oversized), Ok(b"MSH|ok".to_vec())]);
    }
}
