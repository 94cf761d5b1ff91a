//! Philips Series 50 digital interface (also spoken by the GE Corometrics 250cx).
//!
//! Source: Philips *Series 50 Fetal Monitors – Digital Interface Protocol Specifications,
//! Programmer's Guide* M1350-9074S, March 2002; field notes on the Corometrics 250cx
//! (protocols.md §1). Three layers, each sans-IO:
//! - [`frame`]: DLE/STX framing, DLE doubling and the CRC-16 (bytes ⇄ blocks);
//! - [`block`]: the block catalogue, parsed and encoded byte-exactly;
//! - [`normalise`]: the `C` block's bit fields ⇄ the normalised model;
//!
//! and [`Series50Host`], the host side of a session: what to send the monitor and when (`G` auto
//! mode, re-sent when `C` blocks stop), and what the monitor said, as normalised output.

pub mod block;
pub mod frame;
pub mod monitor;
pub mod normalise;

pub use block::{Block, BlockError, CtgBlock, Pulse};
pub use frame::{FrameDecoder, FrameError, LinkStats, encode_frame, frame};
pub use monitor::{Series50Monitor, simulator_identification};
pub use normalise::Oddities;

use ctg_proto::model::{DeviceInfo, DeviceProtocol, EventKind};
use serde::Serialize;

use crate::{DeviceOutput, Millis};

/// Re-send `G` when no valid `C` block has come for this long (protocols.md §1.5).
pub const RESTART_AFTER_MS: Millis = 3_000;

/// Counters of a Series 50 session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Series50Stats {
    /// The link layer.
    pub link: LinkStats,
    /// Blocks whose content did not fit their type (wrong length, bad text).
    pub bad_blocks: u64,
    /// Blocks of a type this decoder does not know (ignored, as the guide requires).
    pub unknown_blocks: u64,
    /// `C` blocks taken.
    pub ctg_blocks: u64,
    /// Departures from the guide inside `C` blocks.
    pub oddities: Oddities,
    /// `G` requests sent.
    pub go_requests: u64,
}

/// The host side of a Series 50 session, sans-IO: feed it the bytes the monitor sends and the
/// time, send it the bytes it asks to send.
///
/// It asks for the monitor's identification and starts auto-send mode (`?I`, `G`); whenever no
/// valid `C` block has arrived for [`RESTART_AFTER_MS`] it sends `G` again (the protocol has no
/// keep-alive, and a monitor that restarted after an `F` block waits for the host).
#[derive(Debug)]
pub struct Series50Host {
    decoder: FrameDecoder,
    frames: Vec<Result<Vec<u8>, FrameError>>,
    stats: Series50Stats,
    last_ctg_ms: Option<Millis>,
    last_go_ms: Option<Millis>,
    identified: bool,
    transmit: Vec<u8>,
}

impl Default for Series50Host {
    fn default() -> Self {
        Self::new()
    }
}

impl Series50Host {
    /// A session that has not yet spoken to the monitor.
    pub fn new() -> Self {
        Self {
            decoder: FrameDecoder::new(),
            frames: Vec::new(),
            stats: Series50Stats::default(),
            last_ctg_ms: None,
            last_go_ms: None,
            identified: false,
            transmit: Vec::new(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> Series50Stats {
        let mut stats = self.stats;
        stats.link = self.decoder.stats();
        stats
    }

    /// Bytes to write to the monitor now (empty if none). Call after every [`Self::receive`] and
    /// on every timer tick.
    pub fn poll_transmit(&mut self, now: Millis) -> Vec<u8> {
        let silent = match self.last_ctg_ms {
            None => true,
            Some(last) => now.saturating_sub(last) > RESTART_AFTER_MS,
        };
        let go_due = match self.last_go_ms {
            None => true,
            Some(sent) => now.saturating_sub(sent) > RESTART_AFTER_MS,
        };
        if silent && go_due {
            if !self.identified {
                encode_frame(
                    &Block::Request { wanted: b'I' }.encode(),
                    &mut self.transmit,
                );
            }
            encode_frame(&Block::Go.encode(), &mut self.transmit);
            self.last_go_ms = Some(now);
            self.stats.go_requests += 1;
        }
        std::mem::take(&mut self.transmit)
    }

    /// Feeds bytes received from the monitor at `now`; normalised output goes to `out`.
    pub fn receive(&mut self, bytes: &[u8], now: Millis, out: &mut Vec<DeviceOutput>) {
        self.decoder.push(bytes, &mut self.frames);
        for frame in self.frames.drain(..) {
            let block = match frame {
                Ok(block) => block,
                Err(error) => {
                    out.push(DeviceOutput::Problem(error.to_string()));
                    continue;
                }
            };
            match Block::parse(&block) {
                Ok(block) => out.push(Self::take_block(
                    block,
                    &mut self.stats,
                    &mut self.identified,
                    &mut self.last_ctg_ms,
                    now,
                )),
                Err(error) => {
                    self.stats.bad_blocks += 1;
                    out.push(DeviceOutput::Problem(error.to_string()));
                }
            }
        }
    }

    fn take_block(
        block: Block,
        stats: &mut Series50Stats,
        identified: &mut bool,
        last_ctg_ms: &mut Option<Millis>,
        now: Millis,
    ) -> DeviceOutput {
        match block {
            Block::Ctg(ctg) => {
                stats.ctg_blocks += 1;
                *last_ctg_ms = Some(now);
                DeviceOutput::Ctg(ctg.normalise(&mut stats.oddities))
            }
            Block::Identification {
                model,
                protocol_revision,
                software_revision,
                serial,
            } => {
                *identified = true;
                DeviceOutput::Event(EventKind::DeviceConnected(DeviceInfo {
                    protocol: DeviceProtocol::Series50,
                    model,
                    serial,
                    software: format!("{software_revision} (protocol {protocol_revision})"),
                }))
            }
            Block::Marker => DeviceOutput::Event(EventKind::Marker),
            Block::Note { id, text } => DeviceOutput::Event(EventKind::Note { author: id, text }),
            Block::Failure { code } => {
                // The monitor restarts: handshake again at once.
                *last_ctg_ms = None;
                *identified = false;
                DeviceOutput::Event(EventKind::DeviceFault { code })
            }
            Block::BloodPressure {
                systolic,
                diastolic,
                mean,
                pulse,
            } => DeviceOutput::Event(EventKind::MaternalBloodPressure {
                systolic_mmhg: systolic,
                diastolic_mmhg: diastolic,
                mean_mmhg: mean,
                pulse_quarter_bpm: pulse.quarter_bpm(),
            }),
            Block::Temperature { raw } => DeviceOutput::Event(EventKind::MaternalTemperature {
                deci_celsius: 250 + u16::from(raw),
            }),
            Block::Spo2 {
                half_percent,
                pulse,
            } => DeviceOutput::Event(EventKind::MaternalSpo2 {
                spo2_half_percent: half_percent,
                pulse_quarter_bpm: pulse.quarter_bpm(),
            }),
            // Host-to-monitor blocks echoed back (a loop-back cable, or two hosts on one line).
            Block::Request { .. } | Block::Go | Block::Halt | Block::Version { .. } => {
                stats.unknown_blocks += 1;
                DeviceOutput::Problem(format!(
                    "the monitor sent a host request ({block:?}): is the port looped back?"
                ))
            }
            Block::Unknown { kind, len } => {
                stats.unknown_blocks += 1;
                DeviceOutput::Problem(format!(
                    "ignored unknown block type {kind:#04x} with {len} data bytes"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests;
