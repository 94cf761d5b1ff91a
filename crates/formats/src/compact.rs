//! A compact, columnar encoding of a run of [`Sample`]s.
//!
//! CTG signals change slowly and channels are often empty for long stretches (no second twin,
//! no MHR transducer), so each channel is stored as its own column:
//!
//! - **values**: the difference to the previous sample, zig-zag varint coded, where a 0 token is
//!   always followed by a varint run length (a run of unchanged values, typical of toco and of
//!   empty channels, costs two bytes whatever its length);
//! - **quality**: run-length pairs `(quality, run)`;
//! - **fetal movement**: alternating run lengths, starting with "no movement".
//!
//! About 1 byte per sample for a live FHR, a fraction of that for toco, and a handful of bytes for
//! each empty channel, so an hour of a typical stream costs 15–25 KiB (see the tests and
//! `BENCHMARKS.md`). Decoding is defensive: every length and value is checked, the caller states
//! how many samples it expects, and garbage gives a [`CompactError`], never a panic.

use ctg_proto::model::{Channel, Quality, Sample};

/// Why a compact column could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompactError {
    /// The bytes ended before every expected sample was decoded.
    #[error("compact data ends at byte {at} in the {column} column, before sample {sample}")]
    Truncated {
        /// Which column.
        column: &'static str,
        /// Byte offset.
        at: usize,
        /// How many samples of that column were decoded.
        sample: usize,
    },
    /// A varint is longer than ten bytes or overflows.
    #[error("bad varint at byte {at}")]
    BadVarint {
        /// Byte offset.
        at: usize,
    },
    /// A run or a delta leads outside the expected sample count or the value range.
    #[error("{column} column at byte {at}: {what}")]
    OutOfRange {
        /// Which column.
        column: &'static str,
        /// Byte offset.
        at: usize,
        /// What went out of range.
        what: &'static str,
    },
    /// Bytes remain after every column.
    #[error("{extra} trailing bytes after the last column")]
    Trailing {
        /// How many.
        extra: usize,
    },
}

const QUALITIES: [Quality; 5] = [
    Quality::Unknown,
    Quality::None,
    Quality::Poor,
    Quality::Fair,
    Quality::Good,
];

fn quality_code(q: Quality) -> u8 {
    match q {
        Quality::Unknown => 0,
        Quality::None => 1,
        Quality::Poor => 2,
        Quality::Fair => 3,
        Quality::Good => 4,
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Appends the compact encoding of `samples` to `out`. The count is not stored: the container
/// (a recording header, a store row) keeps it.
pub fn encode_samples(samples: &[Sample], out: &mut Vec<u8>) {
    for channel in Channel::ALL {
        encode_values(samples.iter().map(|s| s.value(channel)), out);
    }
    for channel in Channel::ALL {
        encode_runs(
            samples
                .iter()
                .map(|s| quality_code(s.quality[channel.index()])),
            out,
            true,
        );
    }
    encode_runs(
        samples.iter().map(|s| u8::from(s.fetal_movement)),
        out,
        false,
    );
}

fn encode_values(values: impl Iterator<Item = u16>, out: &mut Vec<u8>) {
    let mut previous = 0u16;
    let mut run = 0u64;
    for v in values {
        let delta = i32::from(v) - i32::from(previous);
        previous = v;
        if delta == 0 {
            run += 1;
            continue;
        }
        if run > 0 {
            out.push(0);
            put_varint(out, run - 1);
            run = 0;
        }
        put_varint(out, zigzag(delta));
    }
    if run > 0 {
        out.push(0);
        put_varint(out, run - 1);
    }
}

/// Run-length pairs. With `tagged`, each run is `(symbol, length)`; without, runs alternate
/// between 0 and 1 starting with 0 and only lengths are written (a leading zero-length run is
/// allowed).
fn encode_runs(symbols: impl Iterator<Item = u8>, out: &mut Vec<u8>, tagged: bool) {
    let mut current: Option<(u8, u64)> = None;
    let mut expected_untagged = 0u8;
    let mut flush = |symbol: u8, run: u64, out: &mut Vec<u8>| {
        if tagged {
            out.push(symbol);
        } else {
            if symbol != expected_untagged {
                put_varint(out, 0);
            }
            expected_untagged = 1 - symbol;
        }
        put_varint(out, run);
    };
    for s in symbols {
        current = match current {
            Some((sym, run)) if sym == s => Some((sym, run + 1)),
            Some((sym, run)) => {
                flush(sym, run, out);
                Some((s, 1))
            }
            None => Some((s, 1)),
        };
    }
    if let Some((sym, run)) = current {
        flush(sym, run, out);
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self, column: &'static str, sample: usize) -> Result<u8, CompactError> {
        let b = *self.bytes.get(self.at).ok_or(CompactError::Truncated {
            column,
            at: self.at,
            sample,
        })?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self, column: &'static str, sample: usize) -> Result<u64, CompactError> {
        let start = self.at;
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte(column, sample)?;
            let part = u64::from(b & 0x7f);
            if shift == 63 && part > 1 {
                return Err(CompactError::BadVarint { at: start });
            }
            v |= part << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CompactError::BadVarint { at: start })
    }
}

/// Decodes exactly `count` samples from `bytes`, which must hold nothing else.
///
/// Runs let a few bytes stand for many samples, so `count` is what bounds the allocation: the
/// caller takes it from a container it has already checked against its own limit.
pub fn decode_samples(bytes: &[u8], count: usize) -> Result<Vec<Sample>, CompactError> {
    let mut r = Reader { bytes, at: 0 };
    let mut samples = vec![Sample::default(); count];
    for channel in Channel::ALL {
        decode_values(&mut r, channel, &mut samples)?;
    }
    for channel in Channel::ALL {
        let mut i = 0;
        while i < count {
            let code = r.byte("quality", i)?;
            let q = *QUALITIES
                .get(usize::from(code))
                .ok_or(CompactError::OutOfRange {
                    column: "quality",
                    at: r.at - 1,
                    what: "unknown quality code",
                })?;
            let run = run_len(&mut r, "quality", i, count)?;
            for s in &mut samples[i..i + run] {
                s.quality[channel.index()] = q;
            }
            i += run;
        }
    }
    let mut i = 0;
    let mut movement = false;
    while i < count {
        let at = r.at;
        let run = usize::try_from(r.varint("movement", i)?).unwrap_or(usize::MAX);
        if run > count - i || (run == 0 && (i > 0 || movement)) {
            return Err(CompactError::OutOfRange {
                column: "movement",
                at,
                what: "run length",
            });
        }
        for s in &mut samples[i..i + run] {
            s.fetal_movement = movement;
        }
        i += run;
        movement = !movement;
    }
    if r.at != bytes.len() {
        return Err(CompactError::Trailing {
            extra: bytes.len() - r.at,
        });
    }
    Ok(samples)
}

fn run_len(
    r: &mut Reader<'_>,
    column: &'static str,
    i: usize,
    count: usize,
) -> Result<usize, CompactError> {
    let at = r.at;
    let run = usize::try_from(r.varint(column, i)?).unwrap_or(usize::MAX);
    if run == 0 || run > count - i {
        return Err(CompactError::OutOfRange {
            column,
            at,
            what: "run length",
        });
    }
    Ok(run)
}

fn decode_values(
    r: &mut Reader<'_>,
    channel: Channel,
    samples: &mut [Sample],
) -> Result<(), CompactError> {
    let column = channel.name();
    let mut previous: i64 = 0;
    let mut i = 0;
    while i < samples.len() {
        let at = r.at;
        let token = r.varint(column, i)?;
        if token == 0 {
            let extra = r.varint(column, i)?;
            let run = usize::try_from(extra)
                .ok()
                .and_then(|e| e.checked_add(1))
                .filter(|&n| n <= samples.len() - i)
                .ok_or(CompactError::OutOfRange {
                    column,
                    at,
                    what: "run past the sample count",
                })?;
            for s in &mut samples[i..i + run] {
                s.values[channel.index()] = previous as u16;
            }
            i += run;
        } else {
            let value = previous.checked_add(unzigzag(token)).unwrap_or(-1);
            if !(0..=i64::from(u16::MAX)).contains(&value) {
                return Err(CompactError::OutOfRange {
                    column,
                    at,
                    what: "value outside 0..=65535",
                });
            }
            previous = value;
            samples[i].values[channel.index()] = value as u16;
            i += 1;
        }
    }
    Ok(())
}
