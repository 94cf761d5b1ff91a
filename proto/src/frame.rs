//! Length-prefixed frames around postcard-encoded [`Message`]s, and a streaming decoder.
//!
//! A frame on the wire:
//!
//! ```text
//! +----------------------+-----------------+--------------------------------+
//! | body length: u32, BE | version: u8 = 1 | postcard(Message)              |
//! +----------------------+-----------------+--------------------------------+
//!                        |<------------- body, at most MAX_FRAME_BODY_LEN ->|
//! ```
//!
//! The version byte names the body encoding ([`FRAME_FORMAT_VERSION`]); the protocol version
//! spoken above it is negotiated by [`Message::Hello`]. A body longer than
//! [`MAX_FRAME_BODY_LEN`] is never buffered: the decoder reports it and skips its bytes.
//!
//! [`FrameDecoder`] is sans-IO: hand it whatever bytes arrived, take messages out. It never
//! panics, holds at most one frame's bytes, and after a bad frame carries on with the next one.

use std::cell::Cell;

use serde::Deserialize;

use crate::wire::{Message, ValidationError};

/// The body encoding this build writes and reads: postcard of [`Message`], protocol family 1.
pub const FRAME_FORMAT_VERSION: u8 = 1;
/// Largest frame body (version byte + message), in bytes.
pub const MAX_FRAME_BODY_LEN: usize = 1 << 20;
/// Bytes of the length prefix.
pub const FRAME_HEADER_LEN: usize = 4;

/// Why a message could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The message breaks a protocol limit; the peer would reject it.
    #[error("refusing to encode an invalid {kind} message: {source}")]
    Invalid {
        /// The message kind.
        kind: &'static str,
        /// What is wrong.
        source: ValidationError,
    },
    /// The encoded body exceeds [`MAX_FRAME_BODY_LEN`].
    #[error("an encoded {kind} message is {len} bytes; the frame limit is {MAX_FRAME_BODY_LEN}")]
    TooLarge {
        /// The message kind.
        kind: &'static str,
        /// The body length.
        len: usize,
    },
    /// postcard failed (does not happen for the types of this crate).
    #[error("postcard could not encode a {kind} message: {source}")]
    Postcard {
        /// The message kind.
        kind: &'static str,
        /// postcard's error.
        source: postcard::Error,
    },
}

/// Appends one frame holding `message` to `out`.
///
/// The message is validated first, so a sender never puts on the wire what a receiver rejects.
pub fn encode_frame_into(message: &Message, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let kind = message.kind();
    message
        .validate()
        .map_err(|source| EncodeError::Invalid { kind, source })?;
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    out.push(FRAME_FORMAT_VERSION);
    if let Err(source) = postcard::to_io(message, &mut *out) {
        out.truncate(start);
        return Err(EncodeError::Postcard { kind, source });
    }
    let body_len = out.len() - start - FRAME_HEADER_LEN;
    if body_len > MAX_FRAME_BODY_LEN {
        out.truncate(start);
        return Err(EncodeError::TooLarge {
            kind,
            len: body_len,
        });
    }
    let prefix = u32::try_from(body_len).expect("body length is below MAX_FRAME_BODY_LEN");
    out[start..start + FRAME_HEADER_LEN].copy_from_slice(&prefix.to_be_bytes());
    Ok(())
}

/// Encodes `message` as one frame.
pub fn encode_frame(message: &Message) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode_frame_into(message, &mut out)?;
    Ok(out)
}

/// Why a frame body is not a valid message. Positions are byte offsets within the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The body is empty (not even a version byte).
    #[error("empty frame body")]
    Empty,
    /// The version byte names an encoding this build does not read.
    #[error(
        "frame format version {got} is not supported (this build reads {FRAME_FORMAT_VERSION})"
    )]
    UnsupportedVersion {
        /// The version byte.
        got: u8,
    },
    /// postcard could not decode the message.
    #[error("malformed message at byte {at} of the frame body: {reason}")]
    Malformed {
        /// Byte offset within the body where decoding stopped.
        at: usize,
        /// postcard's description.
        reason: postcard::Error,
    },
    /// Bytes left over after a complete message.
    #[error(
        "{extra} trailing bytes after a complete message ending at byte {at} of the frame body"
    )]
    Trailing {
        /// Where the message ended.
        at: usize,
        /// How many bytes followed.
        extra: usize,
    },
    /// The message decoded but breaks a protocol limit.
    #[error("invalid {kind} message: {source}")]
    Invalid {
        /// The message kind.
        kind: &'static str,
        /// What is wrong.
        source: ValidationError,
    },
}

/// Decodes and validates one frame body (version byte + postcard message).
pub fn decode_message(body: &[u8]) -> Result<Message, MessageError> {
    let (&version, encoded) = body.split_first().ok_or(MessageError::Empty)?;
    if version != FRAME_FORMAT_VERSION {
        return Err(MessageError::UnsupportedVersion { got: version });
    }
    let position = Cell::new(0);
    let decoded = decode_tracking(encoded, &position);
    // Offsets reported to people count from the start of the body, version byte included.
    let at = position.get() + 1;
    let (message, rest) = decoded.map_err(|reason| MessageError::Malformed { at, reason })?;
    if !rest.is_empty() {
        return Err(MessageError::Trailing {
            at,
            extra: rest.len(),
        });
    }
    message.validate().map_err(|source| MessageError::Invalid {
        kind: message.kind(),
        source,
    })?;
    Ok(message)
}

fn decode_tracking<'a>(
    bytes: &'a [u8],
    position: &'a Cell<usize>,
) -> postcard::Result<(Message, &'a [u8])> {
    let mut deserializer = postcard::Deserializer::from_flavor(TrackingSlice { bytes, position });
    let message = Message::deserialize(&mut deserializer)?;
    let rest = deserializer.finalize()?;
    Ok((message, rest))
}

/// A postcard input flavor over a slice that records how far decoding got, so an error can say
/// where the body went wrong.
struct TrackingSlice<'a> {
    bytes: &'a [u8],
    position: &'a Cell<usize>,
}

impl<'a> postcard::de_flavors::Flavor<'a> for TrackingSlice<'a> {
    type Remainder = &'a [u8];
    type Source = &'a [u8];

    fn pop(&mut self) -> postcard::Result<u8> {
        let at = self.position.get();
        let byte = *self
            .bytes
            .get(at)
            .ok_or(postcard::Error::DeserializeUnexpectedEnd)?;
        self.position.set(at + 1);
        Ok(byte)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.bytes.len() - self.position.get())
    }

    fn try_take_n(&mut self, count: usize) -> postcard::Result<&'a [u8]> {
        let at = self.position.get();
        let end = at
            .checked_add(count)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(postcard::Error::DeserializeUnexpectedEnd)?;
        self.position.set(end);
        Ok(&self.bytes[at..end])
    }

    fn finalize(self) -> postcard::Result<&'a [u8]> {
        Ok(&self.bytes[self.position.get()..])
    }
}

/// A frame that could not be turned into a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("frame at byte {offset} of the stream: {kind}")]
pub struct FrameError {
    /// Byte offset of the frame's length prefix within the whole byte stream.
    pub offset: u64,
    /// What was wrong.
    pub kind: FrameErrorKind,
}

/// What was wrong with a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameErrorKind {
    /// The length prefix exceeds [`MAX_FRAME_BODY_LEN`]; the decoder skips that many bytes.
    #[error("declared body length {len} exceeds the {MAX_FRAME_BODY_LEN}-byte limit; skipping it")]
    TooLarge {
        /// The declared length.
        len: u32,
    },
    /// The body is not a valid message.
    #[error(transparent)]
    Message(#[from] MessageError),
}

/// Counters a decoder keeps, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecoderStats {
    /// Frames that decoded into valid messages.
    pub messages: u64,
    /// Frames that did not.
    pub bad_frames: u64,
    /// Bytes skipped inside oversized frames.
    pub bytes_skipped: u64,
}

/// Sans-IO streaming frame decoder.
///
/// ```
/// use ctg_proto::{FrameDecoder, Message, encode_frame};
/// let bytes = encode_frame(&Message::Heartbeat { utc_ms: 1 }).unwrap();
/// let mut decoder = FrameDecoder::new();
/// let mut input = &bytes[..];
/// let message = decoder.next_message(&mut input).unwrap().unwrap();
/// assert_eq!(message, Message::Heartbeat { utc_ms: 1 });
/// assert!(decoder.next_message(&mut input).is_none());
/// ```
#[derive(Debug, Default)]
pub struct FrameDecoder {
    header: [u8; FRAME_HEADER_LEN],
    header_filled: usize,
    /// Body length of the frame being read, once its header is complete.
    body_len: Option<usize>,
    body: Vec<u8>,
    /// Bytes still to discard from an oversized frame.
    skip: u64,
    /// Stream offset of the current frame's first header byte.
    frame_offset: u64,
    /// Stream offset of the next byte to consume.
    consumed: u64,
    stats: DecoderStats,
}

impl FrameDecoder {
    /// A decoder at the start of a byte stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// The decoder's counters.
    pub fn stats(&self) -> DecoderStats {
        self.stats
    }

    /// Bytes held for an incomplete frame (never more than one frame).
    pub fn buffered(&self) -> usize {
        self.header_filled + self.body.len()
    }

    /// True when the decoder sits between frames (a clean place for the stream to end).
    pub fn is_idle(&self) -> bool {
        self.header_filled == 0 && self.skip == 0
    }

    /// Consumes bytes from the front of `input` until one frame is complete, and returns it.
    ///
    /// Returns `None` when `input` ran out before a frame completed (call again with more
    /// bytes). After an error the decoder is ready for the next frame.
    pub fn next_message(&mut self, input: &mut &[u8]) -> Option<Result<Message, FrameError>> {
        loop {
            if self.skip > 0 {
                let n = usize::try_from(self.skip)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                self.advance(input, n);
                self.skip -= n as u64;
                self.stats.bytes_skipped += n as u64;
                if self.skip > 0 {
                    return None;
                }
                continue;
            }
            let Some(body_len) = self.body_len else {
                if self.header_filled == 0 {
                    self.frame_offset = self.consumed;
                }
                let n = (FRAME_HEADER_LEN - self.header_filled).min(input.len());
                self.header[self.header_filled..self.header_filled + n]
                    .copy_from_slice(&input[..n]);
                self.header_filled += n;
                self.advance(input, n);
                if self.header_filled < FRAME_HEADER_LEN {
                    return None;
                }
                let len = u32::from_be_bytes(self.header);
                self.header_filled = 0;
                if len as usize > MAX_FRAME_BODY_LEN {
                    self.skip = u64::from(len);
                    return Some(Err(self.fail(FrameErrorKind::TooLarge { len })));
                }
                self.body_len = Some(len as usize);
                continue;
            };
            let n = (body_len - self.body.len()).min(input.len());
            self.body.extend_from_slice(&input[..n]);
            self.advance(input, n);
            if self.body.len() < body_len {
                return None;
            }
            self.body_len = None;
            let result = decode_message(&self.body);
            self.body.clear();
            if self.body.capacity() > 64 * 1024 {
                // Do not keep a large buffer alive after a rare large frame.
                self.body.shrink_to(64 * 1024);
            }
            return Some(match result {
                Ok(message) => {
                    self.stats.messages += 1;
                    Ok(message)
                }
                Err(error) => Err(self.fail(FrameErrorKind::Message(error))),
            });
        }
    }

    fn advance(&mut self, input: &mut &[u8], n: usize) {
        *input = &input[n..];
        self.consumed += n as u64;
    }

    fn fail(&mut self, kind: FrameErrorKind) -> FrameError {
        self.stats.bad_frames += 1;
        FrameError {
            offset: self.frame_offset,
            kind,
        }
    }
}
