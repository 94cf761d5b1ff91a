//! `ctg-devices`: the fetal monitors' own protocols, sans-IO.
//!
//! Each protocol module turns the bytes a monitor sends into the normalised model of
//! `ctg-proto` ([`DeviceOutput`]), and encodes the other direction too, so the same code drives
//! the bridge (host side) and the simulators (monitor side). Nothing here does I/O or reads a
//! clock: time comes in as [`Millis`] from the caller.
//!
//! - [`series50`]: Philips Series 50 digital interface (also GE Corometrics 250cx).
//!
//! Every decoder treats its input as untrusted: it never panics, holds at most one frame,
//! resynchronises after garbage, and counts every bad frame and every departure from the spec.

pub mod capture;
pub mod crc;
pub mod hl7;
pub mod series50;

use ctg_proto::model::{BlockFlags, EventKind, Modes, Sample};

/// Monotonic time in milliseconds, from whatever origin the caller chose.
pub type Millis = u64;

/// What a device said, in the normalised model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceOutput {
    /// A run of grid samples (a Series 50 `C` block: one second) with its modes and flags.
    Ctg(NormalisedBlock),
    /// An event: marker, note, identification, fault, maternal vitals.
    Event(EventKind),
    /// A frame or block that could not be taken, in words (already counted in the stats).
    Problem(String),
}

/// Samples a device sent, in the normalised model, before the bridge numbers them on the grid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NormalisedBlock {
    /// Consecutive 4 Hz samples, oldest first.
    pub samples: Vec<Sample>,
    /// Transducer modes.
    pub modes: Modes,
    /// Status flags.
    pub flags: BlockFlags,
    /// Fetal SpO2 in percent, where available.
    pub fspo2_percent: Option<u8>,
}
