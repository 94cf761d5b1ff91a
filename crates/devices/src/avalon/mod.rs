//! Philips Avalon FM20–FM50 over the IntelliVue Data Export protocol (serial, 115200 8N1).
//!
//! Sources: protocols.md §2 (framing and FCS checked against three open-source implementations;
//! session flow and numeric encoding from the same; fetal physio IDs from a nomenclature table).
//! Layers, each sans-IO: [`frame`] (C0/C1 framing, 7D escaping, FCS-16), [`apdu`] (the
//! operations the bridge needs), [`Avalon Host`](AvalonHost) (associate, answer the MDS create
//! event, poll numerics once a second) and [`AvalonMonitor`] (the simulator's side).
//!
//! **What is a guess** (protocols.md §8), each behind one named function:
//! - [`apdu::association_request`]: the association request's content;
//! - [`fetal_channel`]: how FHR1/FHR2/FHR3 are told apart (label string, else handle order);
//! - [`coincidence_reported`]: how the monitor's cross-channel verification reads
//!   (`NOM_STAT_COINCIDENCE` as a numeric, any value but 0 meaning "coincidence");
//! - the 4 Hz trace: only 1-s numerics are polled, each held for the second's four grid samples
//!   (sample-array export is unverified), so Avalon streams carry 1-s resolution.

pub mod apdu;
pub mod frame;
mod host;
mod monitor;

pub use apdu::{Apdu, ApduError, Observation};
pub use frame::{FrameDecoder, FrameError, LinkStats};
pub use host::{AvalonHost, AvalonStats, coincidence_reported, fetal_channel};
pub use monitor::AvalonMonitor;

/// `NOM_USOUND_CARD_BEAT_RATE_FETAL`: FHR by ultrasound.
pub const PHYSIO_FHR_US: u16 = 0xF0CB;
/// `NOM_ECG_CARD_BEAT_RATE_FETAL`: FHR by direct ECG.
pub const PHYSIO_FHR_DECG: u16 = 0xF0CF;
/// `NOM_TOCO`.
pub const PHYSIO_TOCO: u16 = 0xF0D4;
/// `NOM_STAT_COINCIDENCE`: the monitor's cross-channel verification (two heart-rate channels
/// recording the same heart), the Avalon's counterpart of the Series 50 status bit.
pub const PHYSIO_COINCIDENCE: u16 = 0xF0D5;
/// `NOM_PRESS_INTRA_UTERAL`: IUP.
pub const PHYSIO_IUP: u16 = 0xF0D8;
/// `NOM_ECG_CARD_BEAT_RATE`: maternal ECG heart rate.
pub const PHYSIO_MECG_HR: u16 = 0x4182;
/// `NOM_PULS_RATE`: maternal pulse.
pub const PHYSIO_PULSE: u16 = 0x480A;
/// `NOM_PLETH_PULS_RATE`: maternal pulse from SpO2.
pub const PHYSIO_PLETH_PULSE: u16 = 0x4822;
/// Measurement state: invalid.
pub const STATE_INVALID: u16 = 0x8000;
/// Measurement state: questionable.
pub const STATE_QUESTIONABLE: u16 = 0x4000;
/// Measurement state: unavailable.
pub const STATE_UNAVAILABLE: u16 = 0x2000;
/// Unit code: beats per minute.
pub const UNIT_BPM: u16 = 0x0AA0;
/// Unit code: dimensionless (toco).
pub const UNIT_DIMENSIONLESS: u16 = 0x0200;
/// Unit code: mmHg.
pub const UNIT_MMHG: u16 = 0x0F20;
