//! IntelliVue / Avalon serial framing: `C0 | 11 01 LL LL | APDU | FCS | C1` with `7D` escaping.
//!
//! Source: three independent implementations agree (protocols.md §2.1): 115200 8N1; BOF `C0`,
//! EOF `C1`; inside a frame any `C0`, `C1` or `7D` is sent as `7D` + (byte ^ 0x20); the header
//! is protocol `0x11`, message type `0x01` and the APDU length (u16 big-endian); the FCS is the
//! PPP CRC-16/X-25 over header + APDU before escaping, sent least significant byte first.
//! `7D C1` aborts a frame. Some writers leave the FCS unescaped; the receiver unescapes anywhere.

use serde::Serialize;

use crate::crc::AVALON_FCS;

/// Beginning of frame.
pub const BOF: u8 = 0xC0;
/// End of frame.
pub const EOF: u8 = 0xC1;
/// Escape.
pub const ESC: u8 = 0x7D;
/// Protocol identifier in the header.
pub const PROTOCOL_ID: u8 = 0x11;
/// Message type in the header (data export message).
pub const MESSAGE_TYPE: u8 = 0x01;
/// Largest APDU taken (the LAN limit of the data export protocol is below this).
pub const MAX_APDU_LEN: usize = 8192;

/// A frame that could not be taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The FCS did not match.
    #[error(
        "FCS mismatch on a {len}-byte frame: received {received:#06x}, computed {computed:#06x}"
    )]
    Fcs {
        /// Unescaped frame length (header, APDU, FCS).
        len: usize,
        /// The FCS on the wire.
        received: u16,
        /// The FCS computed.
        computed: u16,
    },
    /// Too short for header and FCS.
    #[error("frame of {len} bytes is too short for a header and an FCS")]
    Short {
        /// Its length.
        len: usize,
    },
    /// The header is not `11 01`.
    #[error("header {protocol:#04x} {kind:#04x}: not a data export frame")]
    Header {
        /// Protocol byte.
        protocol: u8,
        /// Message type byte.
        kind: u8,
    },
    /// The header's length disagrees with the frame.
    #[error("header says {declared} APDU bytes, the frame holds {actual}")]
    Length {
        /// Declared.
        declared: usize,
        /// Present.
        actual: usize,
    },
    /// The frame grew past the limit.
    #[error("frame longer than {MAX_APDU_LEN} bytes; dropped")]
    Overflow,
    /// `7D C1`, or a new BOF inside a frame.
    #[error("frame aborted after {len} bytes")]
    Aborted {
        /// Bytes received.
        len: usize,
    },
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LinkStats {
    /// Good frames.
    pub frames: u64,
    /// FCS errors.
    pub fcs_errors: u64,
    /// Frames with a bad header, length or size.
    pub bad_frames: u64,
    /// Aborted frames.
    pub aborted: u64,
    /// Bytes outside frames.
    pub ignored_bytes: u64,
    /// Returns to hunting for BOF after an error.
    pub resyncs: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Hunting,
    Frame,
    Escaped,
    Skipping,
}

/// The receive state machine: bytes in, APDUs out.
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    state: State,
    frame: Vec<u8>,
    stats: LinkStats,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder hunting for BOF.
    pub fn new() -> Self {
        Self {
            state: State::Hunting,
            frame: Vec::new(),
            stats: LinkStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Feeds bytes; APDUs (header and FCS removed, FCS checked) or errors go to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Result<Vec<u8>, FrameError>>) {
        for &byte in bytes {
            match (self.state, byte) {
                (State::Frame | State::Escaped, BOF) => {
                    self.stats.aborted += 1;
                    self.stats.resyncs += 1;
                    out.push(Err(FrameError::Aborted {
                        len: self.frame.len(),
                    }));
                    self.frame.clear();
                    self.state = State::Frame;
                }
                (_, BOF) => {
                    self.frame.clear();
                    self.state = State::Frame;
                }
                (State::Hunting, _) => self.stats.ignored_bytes += 1,
                (State::Skipping, EOF) => self.state = State::Hunting,
                (State::Skipping, _) => {}
                (State::Frame, EOF) => {
                    self.state = State::Hunting;
                    out.push(self.finish());
                }
                (State::Frame, ESC) => self.state = State::Escaped,
                (State::Escaped, EOF) => {
                    self.stats.aborted += 1;
                    self.stats.resyncs += 1;
                    out.push(Err(FrameError::Aborted {
                        len: self.frame.len(),
                    }));
                    self.frame.clear();
                    self.state = State::Hunting;
                }
                (State::Frame | State::Escaped, _) => {
                    let value = if self.state == State::Escaped {
                        byte ^ 0x20
                    } else {
                        byte
                    };
                    self.state = State::Frame;
                    if self.frame.len() >= MAX_APDU_LEN + 6 {
                        self.stats.bad_frames += 1;
                        self.stats.resyncs += 1;
                        self.frame = Vec::new();
                        self.state = State::Skipping;
                        out.push(Err(FrameError::Overflow));
                    } else {
                        self.frame.push(value);
                    }
                }
            }
        }
    }

    fn finish(&mut self) -> Result<Vec<u8>, FrameError> {
        let frame = std::mem::take(&mut self.frame);
        let result = check(&frame);
        match &result {
            Ok(_) => self.stats.frames += 1,
            Err(FrameError::Fcs { .. }) => {
                self.stats.fcs_errors += 1;
                self.stats.resyncs += 1;
            }
            Err(_) => {
                self.stats.bad_frames += 1;
                self.stats.resyncs += 1;
            }
        }
        result
    }
}

fn check(frame: &[u8]) -> Result<Vec<u8>, FrameError> {
    if frame.len() < 6 {
        return Err(FrameError::Short { len: frame.len() });
    }
    let (body, fcs) = frame.split_at(frame.len() - 2);
    let received = u16::from_le_bytes([fcs[0], fcs[1]]);
    let computed = AVALON_FCS.checksum(body);
    if received != computed {
        return Err(FrameError::Fcs {
            len: frame.len(),
            received,
            computed,
        });
    }
    if body[0] != PROTOCOL_ID || body[1] != MESSAGE_TYPE {
        return Err(FrameError::Header {
            protocol: body[0],
            kind: body[1],
        });
    }
    let declared = usize::from(u16::from_be_bytes([body[2], body[3]]));
    if declared != body.len() - 4 {
        return Err(FrameError::Length {
            declared,
            actual: body.len() - 4,
        });
    }
    Ok(body[4..].to_vec())
}

/// Appends one frame carrying `apdu` (escaping header, APDU and FCS).
pub fn encode_frame(apdu: &[u8], out: &mut Vec<u8>) {
    let len = apdu.len().min(usize::from(u16::MAX)) as u16;
    let mut body = Vec::with_capacity(apdu.len() + 6);
    body.extend([PROTOCOL_ID, MESSAGE_TYPE]);
    body.extend(len.to_be_bytes());
    body.extend(&apdu[..usize::from(len)]);
    let fcs = AVALON_FCS.checksum(&body);
    body.extend(fcs.to_le_bytes());
    out.push(BOF);
    for byte in body {
        if matches!(byte, BOF | EOF | ESC) {
            out.extend([ESC, byte ^ 0x20]);
        } else {
            out.push(byte);
        }
    }
    out.push(EOF);
}

/// One frame carrying `apdu`.
pub fn frame(apdu: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(apdu, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the implementation notes (protocols.md §2.1): a dummy APDU `C0 01 7D 02`.
    #[test]
    fn the_notes_example_frame() {
        let wire = [
            0xC0, 0x11, 0x01, 0x00, 0x04, 0x7D, 0xE0, 0x01, 0x7D, 0x5D, 0x02, 0xDA, 0xE9, 0xC1,
        ];
        assert_eq!(frame(&[0xC0, 0x01, 0x7D, 0x02]), wire);
        let mut decoder = FrameDecoder::new();
        let mut out = Vec::new();
        decoder.push(&wire, &mut out);
        assert_eq!(out, vec![Ok(vec![0xC0, 0x01, 0x7D, 0x02])]);
    }

    #[test]
    fn errors_are_counted_and_the_next_frame_arrives() {
        let mut wire = b"noise".to_vec();
        let mut bad = frame(b"abcd");
        bad[6] ^= 1;
        wire.extend(bad);
        wire.extend([BOF, 0x11, 0x01, ESC, EOF]); // aborted
        wire.extend([BOF, 0x11, 0x01]); // broken off by the next BOF
        wire.extend(frame(b"good"));
        let mut decoder = FrameDecoder::new();
        let mut out = Vec::new();
        for piece in wire.chunks(2) {
            decoder.push(piece, &mut out);
        }
        assert!(matches!(out[0], Err(FrameError::Fcs { .. })));
        assert!(matches!(out[1], Err(FrameError::Aborted { .. })));
        assert!(matches!(out[2], Err(FrameError::Aborted { .. })));
        assert_eq!(out[3], Ok(b"good".to_vec()));
        let stats = decoder.stats();
        assert_eq!((stats.frames, stats.fcs_errors, stats.aborted), (1, 1, 2));
        assert_eq!(stats.ignored_bytes, 5);
    }
}
