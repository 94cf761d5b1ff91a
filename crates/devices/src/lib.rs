//! `ctg-devices`: the fetal monitors' own protocols, sans-IO.
//!
//! Each protocol module turns the bytes a monitor sends into the normalised model of
//! `ctg-proto` ([`DeviceOutput`]), and encodes the other direction too, so the same code drives
//! the bridge (host side) and the simulators (monitor side). Nothing here does I/O or reads a
//! clock: time comes in as [`Millis`] from the caller.
//!
//! - [`series50`]: Philips Series 50 digital interface (also GE Corometrics 250cx);
//! - [`avalon`]: Philips Avalon FM20–FM50 (IntelliVue data export);
//! - [`corometrics115`]: GE Corometrics 120 / 170 series, "Model 115-compatible" ASCII records;
//! - [`hl7`]: HL7 v2 ORU^R01 over MLLP.
//!
//! Every decoder treats its input as untrusted: it never panics, holds at most one frame,
//! resynchronises after garbage, and counts every bad frame and every departure from the spec.

pub mod avalon;
pub mod capture;
pub mod corometrics115;
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

/// Frame counts every protocol reports alike (for summaries and `--check`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LinkSummary {
    /// Good frames.
    pub frames: u64,
    /// Frames that failed their checksum.
    pub crc_errors: u64,
    /// Returns to hunting for a frame start after an error.
    pub resyncs: u64,
}

/// The host side of a serial monitor session, whatever the protocol: bytes and time in,
/// normalised output and bytes to send out.
pub trait HostSession: Send {
    /// Feeds bytes received from the monitor at `now`.
    fn receive(&mut self, bytes: &[u8], now: Millis, out: &mut Vec<DeviceOutput>);
    /// Bytes to write to the monitor now (empty if none).
    fn poll_transmit(&mut self, now: Millis) -> Vec<u8>;
    /// A timer tick at `now` (called at least every 250 ms, bytes or not): a session that
    /// holds samples until the next record hands them on once the line has gone quiet.
    fn tick(&mut self, _now: Millis, _out: &mut Vec<DeviceOutput>) {}
    /// Frame counts.
    fn link(&self) -> LinkSummary;
    /// Every counter, as JSON.
    fn stats_json(&self) -> serde_json::Value;
}

impl HostSession for series50::Series50Host {
    fn receive(&mut self, bytes: &[u8], now: Millis, out: &mut Vec<DeviceOutput>) {
        series50::Series50Host::receive(self, bytes, now, out);
    }
    fn poll_transmit(&mut self, now: Millis) -> Vec<u8> {
        series50::Series50Host::poll_transmit(self, now)
    }
    fn link(&self) -> LinkSummary {
        let link = self.stats().link;
        LinkSummary {
            frames: link.frames,
            crc_errors: link.crc_errors,
            resyncs: link.resyncs,
        }
    }
    fn stats_json(&self) -> serde_json::Value {
        serde_json::to_value(self.stats()).unwrap_or_default()
    }
}

impl HostSession for avalon::AvalonHost {
    fn receive(&mut self, bytes: &[u8], now: Millis, out: &mut Vec<DeviceOutput>) {
        avalon::AvalonHost::receive(self, bytes, now, out);
    }
    fn poll_transmit(&mut self, now: Millis) -> Vec<u8> {
        avalon::AvalonHost::poll_transmit(self, now)
    }
    fn link(&self) -> LinkSummary {
        let link = self.stats().link;
        LinkSummary {
            frames: link.frames,
            crc_errors: link.fcs_errors,
            resyncs: link.resyncs,
        }
    }
    fn stats_json(&self) -> serde_json::Value {
        serde_json::to_value(self.stats()).unwrap_or_default()
    }
}

impl HostSession for corometrics115::Corometrics115Host {
    fn receive(&mut self, bytes: &[u8], now: Millis, out: &mut Vec<DeviceOutput>) {
        corometrics115::Corometrics115Host::receive(self, bytes, now, out);
    }
    fn poll_transmit(&mut self, now: Millis) -> Vec<u8> {
        corometrics115::Corometrics115Host::poll_transmit(self, now)
    }
    fn tick(&mut self, now: Millis, out: &mut Vec<DeviceOutput>) {
        corometrics115::Corometrics115Host::tick(self, now, out);
    }
    fn link(&self) -> LinkSummary {
        corometrics115::Corometrics115Host::link(self)
    }
    fn stats_json(&self) -> serde_json::Value {
        serde_json::to_value(self.stats()).unwrap_or_default()
    }
}

/// The event for a message's patient (its PID segment) where it is not the one told before
/// (`told`, updated): the first one, and each change.
pub fn patient_change(
    told: &mut Option<(String, String)>,
    patient: Option<(String, String)>,
) -> Option<EventKind> {
    let patient = patient?;
    if told.as_ref() == Some(&patient) {
        return None;
    }
    *told = Some(patient.clone());
    let (patient_ref, name) = patient;
    Some(EventKind::PatientIdentified { patient_ref, name })
}

/// An HL7 v2 MLLP stream as a host session (for `decode`: the bridge's listener answers each
/// message itself): accepted messages become blocks, others problems.
#[derive(Debug)]
pub struct Hl7Session {
    decoder: hl7::MllpDecoder,
    receiver: hl7::OruReceiver,
    frames: Vec<Result<Vec<u8>, hl7::MllpError>>,
    /// The patient last told ([`EventKind::PatientIdentified`] when it changes).
    patient: Option<(String, String)>,
}

impl Default for Hl7Session {
    fn default() -> Self {
        Self {
            decoder: hl7::MllpDecoder::new(),
            receiver: hl7::OruReceiver::new("MIMAMORI"),
            frames: Vec::new(),
            patient: None,
        }
    }
}

impl HostSession for Hl7Session {
    fn receive(&mut self, bytes: &[u8], now: Millis, out: &mut Vec<DeviceOutput>) {
        self.decoder.push(bytes, &mut self.frames);
        for frame in self.frames.drain(..) {
            match frame {
                Ok(message) => {
                    let handled = self.receiver.handle(&message, now as i64);
                    match handled.block {
                        Some(block) => {
                            out.push(DeviceOutput::Ctg(block));
                            if let Some(event) = patient_change(&mut self.patient, handled.patient)
                            {
                                out.push(DeviceOutput::Event(event));
                            }
                        }
                        None => out.push(DeviceOutput::Problem(format!(
                            "{:?}: {}",
                            handled.code,
                            handled.reason.unwrap_or_default()
                        ))),
                    }
                }
                Err(error) => out.push(DeviceOutput::Problem(error.to_string())),
            }
        }
    }
    fn poll_transmit(&mut self, _now: Millis) -> Vec<u8> {
        Vec::new()
    }
    fn link(&self) -> LinkSummary {
        let stats = self.decoder.stats();
        LinkSummary {
            frames: stats.frames,
            crc_errors: 0,
            resyncs: stats.oversized + stats.restarted,
        }
    }
    fn stats_json(&self) -> serde_json::Value {
        serde_json::json!({"mllp": self.decoder.stats(), "hl7": self.receiver.stats()})
    }
}
