//! The bridge⇄hub wire protocol: message types, limits and validation.
//!
//! A session runs over one QUIC bidirectional stream (mutual TLS below it):
//!
//! ```text
//! bridge                                   hub
//!   Hello{min..max version, bridge id} ──▶
//!                                      ◀── Welcome{version, heartbeat} | Refused{reason}
//!   OpenStream{handle, identity, device} ──▶
//!                                      ◀── StreamOpened{handle, next_sample_seq, next_event_seq}
//!   Samples / Event / Heartbeat ──▶
//!                                      ◀── Ack{handle, next_sample_seq, next_event_seq}
//!                                      ◀── ResendRequest{handle, from, until}
//!   CloseStream{handle, next_sample_seq} ──▶
//! ```
//!
//! Acknowledgements are cumulative and mean **durable**: `next_sample_seq = n` says the hub holds
//! every sample with a sequence number below `n` in its store. The bridge keeps every sample in
//! its spool until then, and after any outage resends from `StreamOpened::next_sample_seq`.
//!
//! Messages are encoded with postcard (a documented, stable format) inside the frames of
//! [`crate::frame`]. Every decoded message is [validated](Message::validate) before use, so
//! nothing downstream sees an over-long string, an oversized block or an out-of-range value.

use serde::{Deserialize, Serialize};

use crate::model::{
    BlockFlags, Channel, DeviceInfo, EventKind, MAX_HEART_RATE_QUARTER_BPM,
    MAX_UTERINE_ACTIVITY_HALF_UNITS, Quality, SampleBlock, StreamEvent, StreamIdentity,
};

/// The protocol version this build speaks best.
pub const PROTOCOL_VERSION: u16 = 1;
/// The oldest protocol version this build still speaks.
pub const MIN_PROTOCOL_VERSION: u16 = 1;
/// Most samples in one block (10 minutes at 4 Hz; backlog resends use large blocks).
pub const MAX_BLOCK_SAMPLES: usize = 2400;
/// Longest identifier (facility, bridge, port, model, serial, …), in bytes.
pub const MAX_ID_LEN: usize = 128;
/// Longest free text (notes, reasons), in bytes.
pub const MAX_TEXT_LEN: usize = 2048;

/// A connection-local handle for a stream, chosen by the bridge in [`OpenStream`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamHandle(pub u32);

/// Every message of the protocol, in both directions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Bridge → hub, first message: the versions it speaks and who it is.
    Hello(Hello),
    /// Hub → bridge: the version chosen.
    Welcome(Welcome),
    /// Hub → bridge: the session is refused (no common version, unknown bridge, …).
    Refused {
        /// Why, for the bridge's log.
        reason: String,
    },
    /// Bridge → hub: a stream starts (or resumes after a reconnect) on this connection.
    OpenStream(OpenStream),
    /// Hub → bridge: the stream is open; resend from these sequence numbers.
    StreamOpened(StreamOpened),
    /// Bridge → hub: a block of samples.
    Samples {
        /// The stream.
        stream: StreamHandle,
        /// The samples.
        block: SampleBlock,
    },
    /// Bridge → hub: an event.
    Event {
        /// The stream.
        stream: StreamHandle,
        /// The event.
        event: StreamEvent,
    },
    /// Either way: the sender is alive (the UTC time it sent this, ms since the epoch).
    Heartbeat {
        /// Sender's UTC clock, ms since the epoch.
        utc_ms: i64,
    },
    /// Hub → bridge: cumulative durable acknowledgement.
    Ack(Ack),
    /// Hub → bridge: a gap; please send these samples again.
    ResendRequest {
        /// The stream.
        stream: StreamHandle,
        /// First missing sequence number.
        from_seq: u64,
        /// One past the last missing sequence number.
        until_seq: u64,
    },
    /// Bridge → hub: the stream ends (the monitoring episode is over).
    CloseStream {
        /// The stream.
        stream: StreamHandle,
        /// One past the last sample the stream ever had.
        next_sample_seq: u64,
        /// Why it ends.
        reason: String,
    },
    /// Bridge → hub, with its heartbeats: how full its spool is (unacknowledged data), so the
    /// centre sees a site that is filling up before anything is dropped. Added after version 1's
    /// first eleven messages; a hub that does not know it logs a bad frame and goes on.
    BridgeStatus {
        /// Bytes held in the spool.
        spool_bytes: u64,
        /// The spool's cap (at the cap the oldest data is dropped).
        spool_max_bytes: u64,
    },
}

/// The opening message of a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Oldest protocol version the bridge speaks.
    pub min_version: u16,
    /// Newest protocol version the bridge speaks.
    pub max_version: u16,
    /// The bridge's name (its certificate says which facility it belongs to).
    pub bridge_id: String,
    /// The bridge's software version, for the hub's inventory.
    pub software: String,
}

/// The hub's answer to [`Hello`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The version both sides now speak.
    pub version: u16,
    /// The hub's name.
    pub hub_id: String,
    /// How often the bridge should send a heartbeat when it has nothing else to say.
    pub heartbeat_interval_ms: u32,
}

/// A stream starts or resumes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenStream {
    /// The handle the bridge uses for this stream on this connection.
    pub stream: StreamHandle,
    /// Which stream it is.
    pub identity: StreamIdentity,
    /// The device behind it.
    pub device: DeviceInfo,
}

/// The hub's answer to [`OpenStream`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamOpened {
    /// The handle from [`OpenStream`].
    pub stream: StreamHandle,
    /// The hub holds every sample below this durably.
    pub next_sample_seq: u64,
    /// The hub holds every event below this durably.
    pub next_event_seq: u64,
}

/// Cumulative durable acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The stream.
    pub stream: StreamHandle,
    /// The hub holds every sample below this durably.
    pub next_sample_seq: u64,
    /// The hub holds every event below this durably.
    pub next_event_seq: u64,
}

impl Message {
    /// Every message kind's name, in declaration order.
    pub const KINDS: [&'static str; 12] = [
        "hello",
        "welcome",
        "refused",
        "open_stream",
        "stream_opened",
        "samples",
        "event",
        "heartbeat",
        "ack",
        "resend_request",
        "close_stream",
        "bridge_status",
    ];

    /// This message's kind (one of [`Message::KINDS`]).
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello(_) => "hello",
            Message::Welcome(_) => "welcome",
            Message::Refused { .. } => "refused",
            Message::OpenStream(_) => "open_stream",
            Message::StreamOpened(_) => "stream_opened",
            Message::Samples { .. } => "samples",
            Message::Event { .. } => "event",
            Message::Heartbeat { .. } => "heartbeat",
            Message::Ack(_) => "ack",
            Message::ResendRequest { .. } => "resend_request",
            Message::CloseStream { .. } => "close_stream",
            Message::BridgeStatus { .. } => "bridge_status",
        }
    }

    /// Checks every limit and range the protocol promises; a decoder runs this on every message.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            Message::Hello(h) => {
                if h.min_version > h.max_version {
                    return Err(ValidationError::VersionRange {
                        min: h.min_version,
                        max: h.max_version,
                    });
                }
                check_id("hello.bridge_id", &h.bridge_id)?;
                check_id("hello.software", &h.software)
            }
            Message::Welcome(w) => check_id("welcome.hub_id", &w.hub_id),
            Message::Refused { reason } => check_text("refused.reason", reason),
            Message::OpenStream(o) => {
                check_id("identity.facility", &o.identity.facility)?;
                check_id("identity.bridge", &o.identity.bridge)?;
                check_id("identity.port", &o.identity.port)?;
                check_device(&o.device)
            }
            Message::StreamOpened(_)
            | Message::Heartbeat { .. }
            | Message::Ack(_)
            | Message::BridgeStatus { .. } => Ok(()),
            Message::Samples { block, .. } => validate_block(block),
            Message::Event { event, .. } => validate_event(event),
            Message::ResendRequest {
                from_seq,
                until_seq,
                ..
            } => {
                if from_seq >= until_seq {
                    Err(ValidationError::EmptyRange {
                        from: *from_seq,
                        until: *until_seq,
                    })
                } else {
                    Ok(())
                }
            }
            Message::CloseStream { reason, .. } => check_text("close_stream.reason", reason),
        }
    }
}

/// A message that decoded but breaks one of the protocol's promises.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// A string is longer than allowed.
    #[error("{field} is {len} bytes long; the limit is {max}")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A string that must say something is empty.
    #[error("{field} is empty")]
    EmptyField {
        /// Which field.
        field: &'static str,
    },
    /// A block holds no samples or too many.
    #[error("a sample block holds {count} samples; it must hold 1 to {max}")]
    BlockSize {
        /// Samples in the block.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The block's sequence numbers run past `u64::MAX`.
    #[error(
        "a sample block starting at sequence {first_seq} runs past the largest sequence number"
    )]
    SequenceOverflow {
        /// The block's first sequence number.
        first_seq: u64,
    },
    /// A channel value is out of its range.
    #[error("sample {index} of the block: {channel} value {value} is above the maximum {max}")]
    ValueOutOfRange {
        /// Index of the sample within the block.
        index: usize,
        /// The channel's name.
        channel: &'static str,
        /// The raw value.
        value: u16,
        /// The largest allowed raw value.
        max: u16,
    },
    /// A heart-rate value of 0 (no signal) carries a quality other than none/unknown, or a
    /// non-zero value claims quality none.
    #[error("sample {index} of the block: {channel} value {value} contradicts quality {quality:?}")]
    QualityMismatch {
        /// Index of the sample within the block.
        index: usize,
        /// The channel's name.
        channel: &'static str,
        /// The raw value.
        value: u16,
        /// The quality it carries.
        quality: Quality,
    },
    /// Undefined bits are set in the block flags.
    #[error("block flags 0x{flags:04x} set undefined bits")]
    UnknownFlags {
        /// The flags.
        flags: u16,
    },
    /// Fetal SpO2 above 100 %.
    #[error("fetal SpO2 {value} % is above 100 %")]
    Spo2OutOfRange {
        /// The value.
        value: u8,
    },
    /// `min_version > max_version` in a hello.
    #[error("hello offers versions {min}..={max}, an empty range")]
    VersionRange {
        /// Offered minimum.
        min: u16,
        /// Offered maximum.
        max: u16,
    },
    /// A resend request for nothing.
    #[error("resend request for the empty range {from}..{until}")]
    EmptyRange {
        /// First sequence number.
        from: u64,
        /// One past the last.
        until: u64,
    },
    /// A maternal vital sign is out of its range.
    #[error("{field} value {value} is out of range")]
    VitalOutOfRange {
        /// Which field.
        field: &'static str,
        /// The value.
        value: u16,
    },
}

fn check_len(field: &'static str, s: &str, max: usize) -> Result<(), ValidationError> {
    if s.len() > max {
        Err(ValidationError::TooLong {
            field,
            len: s.len(),
            max,
        })
    } else {
        Ok(())
    }
}

fn check_id(field: &'static str, s: &str) -> Result<(), ValidationError> {
    check_len(field, s, MAX_ID_LEN)
}

fn check_text(field: &'static str, s: &str) -> Result<(), ValidationError> {
    check_len(field, s, MAX_TEXT_LEN)
}

fn check_device(d: &DeviceInfo) -> Result<(), ValidationError> {
    check_id("device.model", &d.model)?;
    check_id("device.serial", &d.serial)?;
    check_id("device.software", &d.software)
}

fn check_pulse(field: &'static str, pulse: Option<u16>) -> Result<(), ValidationError> {
    match pulse {
        Some(value) if value > MAX_HEART_RATE_QUARTER_BPM => {
            Err(ValidationError::VitalOutOfRange { field, value })
        }
        _ => Ok(()),
    }
}

/// Checks a sample block against the protocol's limits (also used by recording readers).
pub fn validate_block(block: &SampleBlock) -> Result<(), ValidationError> {
    let count = block.samples.len();
    if count == 0 || count > MAX_BLOCK_SAMPLES {
        return Err(ValidationError::BlockSize {
            count,
            max: MAX_BLOCK_SAMPLES,
        });
    }
    if block.end_seq().is_none() {
        return Err(ValidationError::SequenceOverflow {
            first_seq: block.first_seq,
        });
    }
    if block.flags.0 & !BlockFlags::ALL != 0 {
        return Err(ValidationError::UnknownFlags {
            flags: block.flags.0,
        });
    }
    if let Some(value) = block.fspo2_percent
        && value > 100
    {
        return Err(ValidationError::Spo2OutOfRange { value });
    }
    for (index, sample) in block.samples.iter().enumerate() {
        for channel in Channel::ALL {
            let value = sample.value(channel);
            let quality = sample.quality[channel.index()];
            let max = if channel.is_heart_rate() {
                MAX_HEART_RATE_QUARTER_BPM
            } else {
                MAX_UTERINE_ACTIVITY_HALF_UNITS
            };
            if value > max {
                return Err(ValidationError::ValueOutOfRange {
                    index,
                    channel: channel.name(),
                    value,
                    max,
                });
            }
            let contradicts = channel.is_heart_rate()
                && ((value == 0 && !matches!(quality, Quality::None | Quality::Unknown))
                    || (value != 0 && quality == Quality::None));
            if contradicts {
                return Err(ValidationError::QualityMismatch {
                    index,
                    channel: channel.name(),
                    value,
                    quality,
                });
            }
        }
    }
    Ok(())
}

/// Checks an event against the protocol's limits.
pub fn validate_event(event: &StreamEvent) -> Result<(), ValidationError> {
    match &event.kind {
        EventKind::Marker | EventKind::ModeChange(_) => Ok(()),
        EventKind::Note { author, text } => {
            check_id("note.author", author)?;
            check_text("note.text", text)
        }
        EventKind::DeviceConnected(device) => check_device(device),
        EventKind::DeviceDisconnected { reason } => check_text("disconnected.reason", reason),
        EventKind::DeviceFault { code } => check_id("fault.code", code),
        EventKind::MaternalBloodPressure {
            pulse_quarter_bpm, ..
        } => check_pulse("blood_pressure.pulse", *pulse_quarter_bpm),
        EventKind::MaternalSpo2 {
            spo2_half_percent,
            pulse_quarter_bpm,
        } => {
            if *spo2_half_percent > 200 {
                return Err(ValidationError::VitalOutOfRange {
                    field: "spo2.spo2_half_percent",
                    value: u16::from(*spo2_half_percent),
                });
            }
            check_pulse("spo2.pulse", *pulse_quarter_bpm)
        }
        EventKind::MaternalTemperature { .. } => Ok(()),
        EventKind::PatientIdentified { patient_ref, name } => {
            if patient_ref.trim().is_empty() {
                return Err(ValidationError::EmptyField {
                    field: "patient.patient_ref",
                });
            }
            check_id("patient.patient_ref", patient_ref)?;
            check_id("patient.name", name)
        }
    }
}
