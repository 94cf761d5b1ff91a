//! Mimamori's own recording format, `.mmr`: everything the normalised model holds, compactly,
//! with a checksum.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "MMREC\r\n\x1a" (catches text-mode and truncation damage, like PNG's)
//!      8     2  format version, u16 LE (1)
//!     10     4  header length H, u32 LE
//!     14     H  header: postcard(MmrHeader) — source, start time, modes, sample count,
//!               metadata, events
//!   14+H     4  sample data length S, u32 LE
//!   18+H     S  samples in the compact columnar encoding (crate::compact)
//! 18+H+S     4  CRC-32 (IEEE) of every byte before it, u32 LE
//! ```
//!
//! Postcard's wire format is documented and stable, so the header stays readable as long as
//! [`MmrHeader`] only grows under a new format version.

use ctg_proto::model::{Modes, StreamEvent};
use serde::{Deserialize, Serialize};

use crate::recording::{Recording, RecordingFormat};
use crate::{MAX_RECORDING_SAMPLES, Problem, compact};

/// The file magic.
pub const MAGIC: [u8; 8] = *b"MMREC\r\n\x1a";
/// The format version this build writes and reads.
pub const VERSION: u16 = 1;
const MAX_HEADER_LEN: usize = 16 << 20;

/// The header of an `.mmr` file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MmrHeader {
    /// Where the recording came from.
    pub source: String,
    /// UTC time of the first sample, ms since the Unix epoch.
    pub start_utc_ms: Option<i64>,
    /// Transducer modes.
    pub modes: Modes,
    /// Number of samples.
    pub sample_count: u64,
    /// Metadata pairs.
    pub metadata: Vec<(String, String)>,
    /// Events.
    pub events: Vec<StreamEvent>,
}

/// Encodes a recording as `.mmr` bytes.
pub fn write(recording: &Recording) -> Vec<u8> {
    let header = MmrHeader {
        source: recording.source.clone(),
        start_utc_ms: recording.start_utc_ms,
        modes: recording.modes,
        sample_count: recording.samples.len() as u64,
        metadata: recording.metadata.clone(),
        events: recording.events.clone(),
    };
    let header_bytes = postcard::to_stdvec(&header).expect("postcard encodes plain data");
    let mut samples = Vec::new();
    compact::encode_samples(&recording.samples, &mut samples);
    let mut out = Vec::with_capacity(22 + header_bytes.len() + samples.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(header_bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&header_bytes);
    out.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    out.extend_from_slice(&samples);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn corrupt(what: impl Into<String>) -> Problem {
    Problem::Corrupt(what.into())
}

/// Decodes `.mmr` bytes.
pub fn parse(bytes: &[u8]) -> Result<Recording, Problem> {
    if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
        return Err(corrupt("not a Mimamori recording (bad magic)"));
    }
    let (body, crc) = bytes
        .split_last_chunk::<4>()
        .filter(|(body, _)| body.len() >= 14)
        .ok_or_else(|| corrupt("file ends inside the fixed header"))?;
    let version = u16::from_le_bytes([body[8], body[9]]);
    if version != VERSION {
        return Err(Problem::Unsupported(format!(
            ".mmr format version {version} (this build reads {VERSION})"
        )));
    }
    let stored = u32::from_le_bytes(*crc);
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(corrupt(format!(
            "checksum mismatch (stored {stored:08x}, computed {computed:08x}): the file is damaged or truncated"
        )));
    }
    let mut at = 10;
    let header_bytes = take_sized(body, &mut at, MAX_HEADER_LEN, "header")?;
    let header: MmrHeader = postcard::from_bytes(header_bytes)
        .map_err(|e| corrupt(format!("header does not decode: {e}")))?;
    let sample_bytes = take_sized(body, &mut at, usize::MAX, "sample data")?;
    if at != body.len() {
        return Err(corrupt(format!(
            "{} unexpected bytes before the checksum",
            body.len() - at
        )));
    }
    let count = usize::try_from(header.sample_count)
        .ok()
        .filter(|&n| n <= MAX_RECORDING_SAMPLES)
        .ok_or(Problem::TooLong {
            samples: usize::try_from(header.sample_count).unwrap_or(usize::MAX),
        })?;
    let samples = compact::decode_samples(sample_bytes, count)
        .map_err(|e| corrupt(format!("sample data: {e}")))?;
    Ok(Recording {
        source: header.source,
        format: RecordingFormat::Mmr,
        start_utc_ms: header.start_utc_ms,
        modes: header.modes,
        samples,
        events: header.events,
        metadata: header.metadata,
    })
}

fn take_sized<'a>(
    body: &'a [u8],
    at: &mut usize,
    max: usize,
    what: &str,
) -> Result<&'a [u8], Problem> {
    let len_bytes = body
        .get(*at..*at + 4)
        .ok_or_else(|| corrupt(format!("file ends before the {what} length")))?;
    let len = u32::from_le_bytes(len_bytes.try_into().expect("4 bytes")) as usize;
    if len > max {
        return Err(corrupt(format!("{what} length {len} exceeds {max}")));
    }
    *at += 4;
    let data = body
        .get(*at..*at + len)
        .ok_or_else(|| corrupt(format!("{what} is {len} bytes but the file ends sooner")))?;
    *at += len;
    Ok(data)
}
