//! `ctg-proto`: the one normalised CTG model every part of Mimamori speaks, and the wire protocol
//! between an edge bridge and the hub.
//!
//! This crate is **sans-IO**: it holds values, validates them and turns them into bytes and back.
//! It opens no sockets, reads no clock and spawns nothing, so everything in it is deterministic and
//! tested with plain unit and property tests.
//!
//! - [`model`]: streams, the 4 Hz sample grid, channels, quality, transducer modes, blocks, events.
//!   Nothing downstream of the bridge knows which monitor brand produced a sample.
//! - [`wire`]: the bridge⇄hub messages (hello, open stream, samples, event, heartbeat, ack, resend
//!   request, close), their limits and validation.
//! - [`frame`]: length-prefixed framing with a hard size limit, and a streaming decoder that never
//!   panics, never buffers more than one frame, and says what was wrong and where.
//! - [`fixtures`]: one example of every message, shared by the golden-vector tests, the fuzz corpus
//!   and the documentation.

pub mod fixtures;
pub mod frame;
pub mod model;
#[cfg(feature = "proptest")]
pub mod strategies;
pub mod wire;

pub use frame::{FrameDecoder, FrameError, MAX_FRAME_BODY_LEN, decode_message, encode_frame};
pub use model::{
    BlockFlags, Channel, DeviceInfo, DeviceProtocol, EventKind, Modes, Quality, Sample,
    SampleBlock, StreamEvent, StreamIdentity, TransducerMode,
};
pub use wire::{Message, ValidationError};
