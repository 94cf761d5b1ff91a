//! FHRMA `.fhr` and `.fhrm` recordings (the FHRMA toolbox's own binary formats).
//!
//! Both are little-endian at 4 Hz with a 4-byte timestamp header and fixed-size records:
//!
//! | format | record | size |
//! |---|---|---|
//! | `.fhr`  | `u16 FHR1×4, u16 FHR2×4, u8 TOCO×2, u8 flags` | 6 bytes |
//! | `.fhrm` | `u16 FHR1×4, u16 FHR2×4, u16 MHR×4, u8 TOCO×2, u8 flags` | 8 bytes |
//!
//! Heart rates are in quarter bpm and TOCO in half units, exactly the normalised model's units,
//! so reading is lossless. 0 means no signal in every channel. Flag bits: 0 Q1, 1 isECG1, 2 Q2,
//! 3 isECG2, 4 Qm, 5 isTOCOMHR, 6 isIUP. The format is described from the data's documentation;
//! no code of the (GPL) toolbox is used.

use ctg_proto::model::{Channel, Modes, Quality, Sample, TransducerMode};

use crate::recording::{Recording, RecordingFormat, heart_rate_quality};
use crate::{MAX_RECORDING_SAMPLES, Problem};

const HEADER_LEN: usize = 4;

const FLAG_Q1: u8 = 1 << 0;
const FLAG_ECG1: u8 = 1 << 1;
const FLAG_Q2: u8 = 1 << 2;
const FLAG_ECG2: u8 = 1 << 3;
const FLAG_QM: u8 = 1 << 4;
const FLAG_IUP: u8 = 1 << 6;

/// Parses a `.fhr` (`with_mhr == false`) or `.fhrm` file's bytes.
pub fn parse(bytes: &[u8], with_mhr: bool, source: &str) -> Result<Recording, Problem> {
    let record_len = if with_mhr { 8 } else { 6 };
    let len = bytes.len() as u64;
    if bytes.len() < HEADER_LEN || !(bytes.len() - HEADER_LEN).is_multiple_of(record_len) {
        return Err(Problem::BadSize {
            len,
            expected: format!(
                "a {HEADER_LEN}-byte timestamp followed by whole {record_len}-byte records"
            ),
        });
    }
    let count = (bytes.len() - HEADER_LEN) / record_len;
    if count > MAX_RECORDING_SAMPLES {
        return Err(Problem::TooLong { samples: count });
    }
    let timestamp = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let u16_at = |r: &[u8], i: usize| u16::from_le_bytes([r[i], r[i + 1]]);
    let mut samples = Vec::with_capacity(count);
    let mut any_ecg = [false; 2];
    let mut any_iup = false;
    for (index, record) in bytes[HEADER_LEN..].chunks_exact(record_len).enumerate() {
        let fhr1 = u16_at(record, 0);
        let fhr2 = u16_at(record, 2);
        let mhr = if with_mhr { u16_at(record, 4) } else { 0 };
        let toco = u16::from(record[record_len - 2]);
        let flags = record[record_len - 1];
        for (channel, value) in [
            (Channel::Fhr1, fhr1),
            (Channel::Fhr2, fhr2),
            (Channel::Mhr, mhr),
        ] {
            if value > ctg_proto::model::MAX_HEART_RATE_QUARTER_BPM {
                return Err(Problem::ValueOutOfRange {
                    sample: index,
                    channel: channel.name(),
                    value: i64::from(value),
                });
            }
        }
        let reported = |bit: u8| {
            if flags & bit != 0 {
                Quality::Good
            } else {
                Quality::Unknown
            }
        };
        any_ecg[0] |= flags & FLAG_ECG1 != 0;
        any_ecg[1] |= flags & FLAG_ECG2 != 0;
        any_iup |= flags & FLAG_IUP != 0;
        samples.push(Sample {
            values: [fhr1, fhr2, 0, mhr, toco],
            quality: [
                heart_rate_quality(fhr1, reported(FLAG_Q1)),
                heart_rate_quality(fhr2, reported(FLAG_Q2)),
                Quality::None,
                heart_rate_quality(mhr, reported(FLAG_QM)),
                // 0 is "no signal" in every FHRMA channel, toco included.
                if toco == 0 {
                    Quality::None
                } else {
                    Quality::Unknown
                },
            ],
            fetal_movement: false,
        });
    }
    let fetal_mode = |ecg: bool| {
        if ecg {
            TransducerMode::Decg
        } else {
            TransducerMode::Unknown
        }
    };
    let modes = Modes([
        fetal_mode(any_ecg[0]),
        fetal_mode(any_ecg[1]),
        TransducerMode::NoTransducer,
        TransducerMode::Unknown,
        if any_iup {
            TransducerMode::Iup
        } else {
            TransducerMode::Unknown
        },
    ]);
    let mut metadata = Vec::new();
    if timestamp != 0 {
        metadata.push(("timestamp".to_string(), timestamp.to_string()));
    }
    Ok(Recording {
        source: source.to_string(),
        format: if with_mhr {
            RecordingFormat::Fhrm
        } else {
            RecordingFormat::Fhr
        },
        start_utc_ms: None,
        modes,
        samples,
        events: Vec::new(),
        metadata,
    })
}

/// Writes a recording as `.fhr` or `.fhrm` bytes (FHR3 and fetal movement are not representable
/// and are dropped; uterine activity above 127.5 is clamped).
pub fn write(recording: &Recording, with_mhr: bool) -> Vec<u8> {
    let record_len = if with_mhr { 8 } else { 6 };
    let mut out = Vec::with_capacity(HEADER_LEN + record_len * recording.samples.len());
    out.extend_from_slice(&0u32.to_le_bytes());
    for s in &recording.samples {
        out.extend_from_slice(&s.value(Channel::Fhr1).to_le_bytes());
        out.extend_from_slice(&s.value(Channel::Fhr2).to_le_bytes());
        if with_mhr {
            out.extend_from_slice(&s.value(Channel::Mhr).to_le_bytes());
        }
        out.push(u8::try_from(s.value(Channel::Ua)).unwrap_or(u8::MAX));
        let mut flags = 0;
        for (channel, bit) in [
            (Channel::Fhr1, FLAG_Q1),
            (Channel::Fhr2, FLAG_Q2),
            (Channel::Mhr, FLAG_QM),
        ] {
            if s.quality[channel.index()] == Quality::Good {
                flags |= bit;
            }
        }
        for (channel, bit) in [(Channel::Fhr1, FLAG_ECG1), (Channel::Fhr2, FLAG_ECG2)] {
            if recording.modes.get(channel) == TransducerMode::Decg {
                flags |= bit;
            }
        }
        if recording.modes.get(Channel::Ua) == TransducerMode::Iup {
            flags |= FLAG_IUP;
        }
        out.push(flags);
    }
    out
}
