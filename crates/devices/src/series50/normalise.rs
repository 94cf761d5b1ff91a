//! From a raw `C` block to the normalised model, and back (for the simulator).
//!
//! Bit layouts: Programmer's Guide M1350-9074S, tables 3-5 to 3-11 (protocols.md §1.4). Where a
//! device bends the layout the values are trusted over contradictory flags and every oddity is
//! counted in [`Oddities`]:
//! - a heart rate above 300 bpm is not a heart rate: the sample becomes signal loss;
//! - a non-zero rate with the reserved quality code `11` keeps its value, quality unknown;
//! - a mode word saying "no transducer" on a channel that carries values: the values stand and
//!   the mode becomes unknown;
//! - the "monitor on" status bit left unset, the always-zero status bits set, movement bits on
//!   HR2/MHR, reserved mode codes, an out-of-range FSpO2: counted, otherwise ignored.

use ctg_proto::model::{BlockFlags, Channel, Modes, Quality, Sample, TransducerMode};
use serde::Serialize;

use super::block::CtgBlock;
use crate::NormalisedBlock;

/// Departures from the guide seen in `C` blocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Oddities {
    /// Heart-rate words above 1200 (300 bpm), taken as signal loss.
    pub heart_rate_out_of_range: u64,
    /// Non-zero heart rates with the reserved quality code `11`.
    pub reserved_quality: u64,
    /// Movement bits set on HR2 or MHR, or the reserved movement codes on HR1.
    pub movement_bits: u64,
    /// Channels whose mode says "no transducer" while they carry values.
    pub mode_contradicts_values: u64,
    /// Reserved or undefined mode codes.
    pub reserved_mode: u64,
    /// `C` blocks without the "monitor on" status bit.
    pub monitor_on_unset: u64,
    /// `C` blocks with the always-zero status bits (high 4, low 7, 6, 4, 3, 2) set.
    pub reserved_status_bits: u64,
    /// FSpO2 bytes with the reserved bit 7 set or a value above 100 %.
    pub fspo2_out_of_range: u64,
    /// Toco bytes above 200 (100 units), the stated range (kept: the table allows 255).
    pub toco_above_range: u64,
}

impl Oddities {
    /// The sum of every counter.
    pub fn total(&self) -> u64 {
        self.heart_rate_out_of_range
            + self.reserved_quality
            + self.movement_bits
            + self.mode_contradicts_values
            + self.reserved_mode
            + self.monitor_on_unset
            + self.reserved_status_bits
            + self.fspo2_out_of_range
            + self.toco_above_range
    }
}

const STATUS_MONITOR_ON: u16 = 0x8000;
const STATUS_INSERTED: u16 = 0x4000;
const STATUS_DELETED: u16 = 0x2000;
const STATUS_FSPO2: u16 = 0x0800;
const STATUS_TELEMETRY: u16 = 0x0200;
const STATUS_COINCIDENCE: u16 = 0x0100;
const STATUS_DECG_LOGIC: u16 = 0x0020;
const STATUS_TWIN_OFFSET: u16 = 0x0002;
const STATUS_FMP: u16 = 0x0001;
/// High bit 4 and low bits 7, 6, 4, 3, 2: always 0 (bit 4 keeps each byte away from DLE).
const STATUS_RESERVED: u16 = 0x1000 | 0x0080 | 0x0040 | 0x0010 | 0x0008 | 0x0004;

const FLAG_MAP: [(u16, u16); 8] = [
    (STATUS_INSERTED, BlockFlags::SAMPLES_INSERTED),
    (STATUS_DELETED, BlockFlags::SAMPLES_DELETED),
    (STATUS_FSPO2, BlockFlags::FSPO2_AVAILABLE),
    (STATUS_TELEMETRY, BlockFlags::TELEMETRY),
    (STATUS_COINCIDENCE, BlockFlags::COINCIDENCE),
    (STATUS_DECG_LOGIC, BlockFlags::DECG_ARTEFACT_LOGIC),
    (STATUS_TWIN_OFFSET, BlockFlags::TWIN_OFFSET),
    (STATUS_FMP, BlockFlags::FMP_ENABLED),
];

const INOP_HR1: u16 = 0x1000;
const INOP_HR2: u16 = 0x0100;
const INOP_MHR: u16 = 0x0010;

fn fetal_mode(code: u16, odd: &mut Oddities) -> TransducerMode {
    match code {
        0b000 => TransducerMode::NoTransducer,
        0b001 => TransducerMode::Ultrasound,
        0b010 => TransducerMode::Decg,
        0b111 => TransducerMode::Unknown,
        _ => {
            odd.reserved_mode += 1;
            TransducerMode::Unknown
        }
    }
}

fn maternal_mode(code: u16, odd: &mut Oddities) -> TransducerMode {
    match code {
        0b000 => TransducerMode::NoTransducer,
        0b011 => TransducerMode::Mecg,
        0b100 => TransducerMode::ExternalMhr,
        0b111 => TransducerMode::Unknown,
        _ => {
            odd.reserved_mode += 1;
            TransducerMode::Unknown
        }
    }
}

fn toco_mode(byte: u8, odd: &mut Oddities) -> TransducerMode {
    if byte & 0xF1 != 0 {
        odd.reserved_mode += 1;
    }
    match (byte >> 1) & 0b111 {
        0b000 => TransducerMode::NoTransducer,
        0b100 => TransducerMode::ExternalToco,
        0b101 => TransducerMode::Iup,
        0b111 => TransducerMode::Unknown,
        _ => {
            odd.reserved_mode += 1;
            TransducerMode::Unknown
        }
    }
}

/// A heart-rate word: (value in quarter bpm, quality, movement code).
fn heart_rate(word: u16, odd: &mut Oddities) -> (u16, Quality, u16) {
    let rate = word & 0x07FF;
    let movement = (word >> 11) & 0b11;
    if rate == 0 {
        return (0, Quality::None, movement);
    }
    if rate > ctg_proto::model::MAX_HEART_RATE_QUARTER_BPM {
        odd.heart_rate_out_of_range += 1;
        return (0, Quality::None, movement);
    }
    let quality = match (word >> 13) & 0b11 {
        0b00 => Quality::Poor,
        0b01 => Quality::Fair,
        0b10 => Quality::Good,
        _ => {
            odd.reserved_quality += 1;
            Quality::Unknown
        }
    };
    (rate, quality, movement)
}

impl CtgBlock {
    /// The block in the normalised model; oddities are added to `odd`.
    pub fn normalise(&self, odd: &mut Oddities) -> NormalisedBlock {
        if self.status & STATUS_MONITOR_ON == 0 {
            odd.monitor_on_unset += 1;
        }
        if self.status & STATUS_RESERVED != 0 {
            odd.reserved_status_bits += 1;
        }
        let mut flags = 0;
        for (status_bit, flag) in FLAG_MAP {
            if self.status & status_bit != 0 {
                flags |= flag;
            }
        }
        for (inop_bit, flag) in [
            (INOP_HR1, BlockFlags::INOP_FHR1),
            (INOP_HR2, BlockFlags::INOP_FHR2),
            (INOP_MHR, BlockFlags::INOP_MHR),
        ] {
            if self.hr_mode & inop_bit != 0 {
                flags |= flag;
            }
        }
        if self.hr_mode & 0x000F != 0 {
            odd.reserved_mode += 1;
        }

        let mut modes = [TransducerMode::Unknown; 5];
        modes[Channel::Fhr1.index()] = fetal_mode(self.hr_mode >> 13, odd);
        modes[Channel::Fhr2.index()] = fetal_mode((self.hr_mode >> 9) & 0b111, odd);
        modes[Channel::Fhr3.index()] = TransducerMode::NoTransducer;
        modes[Channel::Mhr.index()] = maternal_mode((self.hr_mode >> 5) & 0b111, odd);
        modes[Channel::Ua.index()] = toco_mode(self.toco_mode, odd);

        let mut samples = [Sample::default(); 4];
        for (tick, sample) in samples.iter_mut().enumerate() {
            let (fhr1, q1, movement) = heart_rate(self.hr1[tick], odd);
            let (fhr2, q2, movement2) = heart_rate(self.hr2[tick], odd);
            let (mhr, qm, movement_m) = heart_rate(self.mhr[tick], odd);
            if movement > 0b01 || movement2 != 0 || movement_m != 0 {
                odd.movement_bits += 1;
            }
            if self.toco[tick] > 200 {
                odd.toco_above_range += 1;
            }
            sample.values = [fhr1, fhr2, 0, mhr, u16::from(self.toco[tick])];
            sample.quality = [q1, q2, Quality::None, qm, Quality::Unknown];
            sample.fetal_movement = movement == 0b01;
        }

        // Values over contradictory mode words.
        for channel in Channel::ALL {
            let i = channel.index();
            if modes[i] != TransducerMode::NoTransducer {
                continue;
            }
            let carries = samples.iter().any(|s| s.values[i] != 0);
            if carries {
                odd.mode_contradicts_values += 1;
                modes[i] = TransducerMode::Unknown;
            } else if channel == Channel::Ua {
                for sample in &mut samples {
                    sample.quality[i] = Quality::None;
                }
            }
        }

        let fspo2_percent = if self.status & STATUS_FSPO2 == 0 || self.fspo2 == 0 {
            None
        } else if self.fspo2 & 0x80 != 0 || self.fspo2 > 100 {
            odd.fspo2_out_of_range += 1;
            None
        } else {
            Some(self.fspo2)
        };

        NormalisedBlock {
            samples: samples.to_vec(),
            modes: Modes(modes),
            flags: BlockFlags(flags),
            fspo2_percent,
        }
    }

    /// The `C` block a monitor would send for four normalised samples (the simulator's side).
    ///
    /// FHR3 has no place in the Series 50 block and is dropped; quality `Unknown` on a live
    /// heart rate is sent as yellow.
    pub fn from_samples(
        samples: &[Sample; 4],
        modes: &Modes,
        flags: BlockFlags,
        fspo2_percent: Option<u8>,
    ) -> CtgBlock {
        let hr_word = |sample: &Sample, channel: Channel| -> u16 {
            let value = sample
                .value(channel)
                .min(ctg_proto::model::MAX_HEART_RATE_QUARTER_BPM);
            if value == 0 {
                return 0;
            }
            let quality: u16 = match sample.quality[channel.index()] {
                Quality::Poor | Quality::None => 0b00,
                Quality::Fair | Quality::Unknown => 0b01,
                Quality::Good => 0b10,
            };
            let movement = u16::from(channel == Channel::Fhr1 && sample.fetal_movement);
            (quality << 13) | (movement << 11) | value
        };
        let fetal_code = |mode: TransducerMode| -> u16 {
            match mode {
                TransducerMode::NoTransducer => 0b000,
                TransducerMode::Ultrasound => 0b001,
                TransducerMode::Decg => 0b010,
                _ => 0b111,
            }
        };
        let maternal_code = match modes.get(Channel::Mhr) {
            TransducerMode::NoTransducer => 0b000,
            TransducerMode::Mecg => 0b011,
            TransducerMode::ExternalMhr => 0b100,
            _ => 0b111,
        };
        let toco_code: u8 = match modes.get(Channel::Ua) {
            TransducerMode::NoTransducer => 0b000,
            TransducerMode::ExternalToco => 0b100,
            TransducerMode::Iup => 0b101,
            _ => 0b111,
        };
        let mut status = STATUS_MONITOR_ON;
        for (status_bit, flag) in FLAG_MAP {
            if flags.contains(flag) {
                status |= status_bit;
            }
        }
        let mut hr_mode = (fetal_code(modes.get(Channel::Fhr1)) << 13)
            | (fetal_code(modes.get(Channel::Fhr2)) << 9)
            | (maternal_code << 5);
        for (inop_bit, flag) in [
            (INOP_HR1, BlockFlags::INOP_FHR1),
            (INOP_HR2, BlockFlags::INOP_FHR2),
            (INOP_MHR, BlockFlags::INOP_MHR),
        ] {
            if flags.contains(flag) {
                hr_mode |= inop_bit;
            }
        }
        CtgBlock {
            status,
            hr1: samples.each_ref().map(|s| hr_word(s, Channel::Fhr1)),
            hr2: samples.each_ref().map(|s| hr_word(s, Channel::Fhr2)),
            mhr: samples.each_ref().map(|s| hr_word(s, Channel::Mhr)),
            toco: samples
                .each_ref()
                .map(|s| s.value(Channel::Ua).min(255) as u8),
            hr_mode,
            toco_mode: toco_code << 1,
            fspo2: fspo2_percent.filter(|&p| p <= 100).unwrap_or(0),
        }
    }
}
