//! WFDB records: a text header (`.hea`) and a signal file (`.dat`; format 16 in CTU-UHB).
//!
//! Header syntax (PhysioNet's WFDB specification, `header(5)`):
//!
//! ```text
//! record-name[/segments] n-signals [fs[/counter-fs[(base-counter)]] [n-samples [base-time [base-date]]]]
//! file format[xspf][:skew][+offset] [gain[(baseline)][/units] [adc-res [adc-zero [init-value [checksum [block-size [description]]]]]]]
//! # comment lines
//! ```
//!
//! All signals in one file, interleaved frame by frame, in one of the storage formats of
//! WFDB's `signal(5)`: 16 (16-bit two's complement, little-endian), 61 (the same, big-endian),
//! 160 (16-bit offset binary), 80 (8-bit offset binary), 212 (two 12-bit samples in three
//! bytes), 24 and 32 (24- and 32-bit two's complement, little-endian); each format's
//! "invalid sample" value is signal loss. Anything else (other formats, samples per frame,
//! skew, byte offsets, several files) is refused with a clear error. Every signal's sample count, first value and
//! checksum (16-bit wrapping sum) is verified against the header. Signals map to channels by
//! description: `FHR`/`FHR1` → FHR1, `FHR2`, `FHR3`, `MHR`, `UC`/`TOCO` → uterine activity.
//! Physical values are converted into the model's units (quarter bpm, half units); a value the
//! units cannot hold exactly is an error, so a reading is either lossless or refused.
//!
//! The only Rust WFDB crate found (`wfdb` 0.1.6) declares itself unstable, with breaking changes
//! in patch releases; format 16 is small enough to own. The integration tests cross-check this
//! reader against PhysioNet's reference `wfdb` Python package.

use ctg_proto::model::{
    Channel, MAX_HEART_RATE_QUARTER_BPM, MAX_UTERINE_ACTIVITY_HALF_UNITS, Modes, Quality, Sample,
    TransducerMode,
};

use crate::recording::{Recording, RecordingFormat, heart_rate_quality};
use crate::{MAX_RECORDING_SAMPLES, Problem};

/// The sample value WFDB format 16 uses for "invalid sample".
pub const INVALID_SAMPLE: i16 = -32768;

/// The signal-file formats read (WFDB `signal(5)`).
pub const FORMATS_READ: [u32; 7] = [16, 61, 160, 80, 212, 24, 32];

/// The value a format stores for "invalid sample" (no signal): its most negative value.
fn invalid_sample(format: u32) -> i32 {
    match format {
        80 => -128,
        212 => -2048,
        24 => -(1 << 23),
        32 => i32::MIN,
        _ => i32::from(INVALID_SAMPLE),
    }
}

/// How many samples (all signals together) `len` bytes of a format hold, if they hold whole
/// samples: 212 packs two in three bytes (an odd last one in two).
fn samples_in(format: u32, len: usize) -> Option<usize> {
    match format {
        80 => Some(len),
        16 | 61 | 160 => len.is_multiple_of(2).then_some(len / 2),
        24 => len.is_multiple_of(3).then_some(len / 3),
        32 => len.is_multiple_of(4).then_some(len / 4),
        212 => match len % 3 {
            0 => Some(len / 3 * 2),
            2 => Some(len / 3 * 2 + 1),
            _ => None,
        },
        _ => None,
    }
}

/// The first `n` samples (counting across signals, frame by frame) of a signal file in
/// `format`; `dat` holds at least `n` ([`samples_in`]). One pass per format.
fn decode(format: u32, dat: &[u8], n: usize) -> Vec<i32> {
    match format {
        80 => dat[..n].iter().map(|&b| i32::from(b) - 128).collect(),
        61 => dat[..2 * n]
            .chunks_exact(2)
            .map(|b| i32::from(i16::from_be_bytes([b[0], b[1]])))
            .collect(),
        160 => dat[..2 * n]
            .chunks_exact(2)
            .map(|b| i32::from(u16::from_le_bytes([b[0], b[1]])) - 32768)
            .collect(),
        // The three bytes in the top of an i32, shifted back down with their sign.
        24 => dat[..3 * n]
            .chunks_exact(3)
            .map(|b| i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8)
            .collect(),
        32 => dat[..4 * n]
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        212 => {
            // Sign-extended from 12 bits.
            let twelve = |v: u16| i32::from(((v << 4) as i16) >> 4);
            let mut values = Vec::with_capacity(n);
            for group in dat.chunks(3) {
                let low = u16::from(group[0]);
                let middle = u16::from(group.get(1).copied().unwrap_or(0));
                values.push(twelve(low | ((middle & 0x0f) << 8)));
                if let Some(&high) = group.get(2) {
                    values.push(twelve(u16::from(high) | ((middle & 0xf0) << 4)));
                }
            }
            values.truncate(n);
            values
        }
        _ => dat[..2 * n]
            .chunks_exact(2)
            .map(|b| i32::from(i16::from_le_bytes([b[0], b[1]])))
            .collect(),
    }
}

/// A parsed header.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// Record name.
    pub record: String,
    /// Sampling frequency in Hz.
    pub sampling_hz: f64,
    /// Samples per signal, if stated.
    pub samples: Option<u64>,
    /// The signal lines.
    pub signals: Vec<SignalSpec>,
    /// Comment lines (`#` stripped, trimmed), in order.
    pub comments: Vec<String>,
}

/// One signal line of a header.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalSpec {
    /// The signal file name.
    pub file: String,
    /// Storage format ([`FORMATS_READ`]).
    pub format: u32,
    /// ADC units per physical unit.
    pub gain: f64,
    /// ADC value of physical zero.
    pub baseline: i64,
    /// Physical units (`bpm`, `nd`, …).
    pub units: String,
    /// First sample value, if stated.
    pub initial_value: Option<i64>,
    /// 16-bit checksum of all samples, if stated.
    pub checksum: Option<i64>,
    /// Description (the signal's name: `FHR`, `UC`).
    pub description: String,
}

fn bad(line: usize, reason: impl Into<String>) -> Problem {
    Problem::BadHeader {
        line,
        reason: reason.into(),
    }
}

/// Parses header text.
pub fn parse_header(text: &str) -> Result<Header, Problem> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty());
    let mut comments = Vec::new();
    let (record_line_no, record_line) = loop {
        match lines.next() {
            Some((_, l)) if l.starts_with('#') => comments.push(l[1..].trim().to_string()),
            Some(found) => break found,
            None => return Err(bad(1, "no record line")),
        }
    };
    let fields: Vec<&str> = record_line.split_whitespace().collect();
    let record = fields[0].split('/').next().unwrap_or_default().to_string();
    if fields[0].contains('/') {
        return Err(Problem::Unsupported(
            "multi-segment records are not supported".into(),
        ));
    }
    let n_signals: usize = fields
        .get(1)
        .ok_or_else(|| bad(record_line_no, "record line has no signal count"))?
        .parse()
        .map_err(|_| {
            bad(
                record_line_no,
                format!("signal count `{}` is not a number", fields[1]),
            )
        })?;
    if n_signals == 0 || n_signals > 16 {
        return Err(bad(
            record_line_no,
            format!("{n_signals} signals; expected 1 to 16"),
        ));
    }
    let sampling_hz = match fields.get(2) {
        None => 250.0, // the WFDB default
        Some(f) => {
            let hz = f.split(['/', '(']).next().unwrap_or_default();
            hz.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| {
                    bad(
                        record_line_no,
                        format!("sampling frequency `{f}` is not a positive number"),
                    )
                })?
        }
    };
    let samples = fields
        .get(3)
        .map(|f| {
            f.parse::<u64>().map_err(|_| {
                bad(
                    record_line_no,
                    format!("sample count `{f}` is not a whole number"),
                )
            })
        })
        .transpose()?;

    let mut signals = Vec::with_capacity(n_signals);
    for (line_no, line) in lines.by_ref() {
        if let Some(comment) = line.strip_prefix('#') {
            comments.push(comment.trim().to_string());
            continue;
        }
        if signals.len() == n_signals {
            return Err(bad(
                line_no,
                format!("more signal lines than the {n_signals} the record line declares"),
            ));
        }
        signals.push(parse_signal_line(line_no, line)?);
    }
    if signals.len() != n_signals {
        return Err(bad(
            record_line_no,
            format!(
                "the record line declares {n_signals} signals but {} signal lines follow",
                signals.len()
            ),
        ));
    }
    Ok(Header {
        record,
        sampling_hz,
        samples,
        signals,
        comments,
    })
}

fn parse_signal_line(line_no: usize, line: &str) -> Result<SignalSpec, Problem> {
    let mut fields = line.split_whitespace();
    let file = fields.next().unwrap_or_default().to_string();
    let format_field = fields
        .next()
        .ok_or_else(|| bad(line_no, "signal line has no format"))?;
    let format_digits: String = format_field
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let format: u32 = format_digits
        .parse()
        .map_err(|_| bad(line_no, format!("format `{format_field}` is not a number")))?;
    if format_digits.len() != format_field.len() {
        return Err(Problem::Unsupported(format!(
            "signal format modifiers (`{format_field}`: samples per frame, skew or offset)"
        )));
    }
    let mut gain = 200.0;
    let mut baseline = None;
    let mut units = String::from("mV");
    if let Some(g) = fields.next() {
        let (g, u) = g.split_once('/').unwrap_or((g, ""));
        if !u.is_empty() {
            units = u.to_string();
        }
        let (g, b) = match g.split_once('(') {
            Some((g, b)) => (g, Some(b.trim_end_matches(')'))),
            None => (g, None),
        };
        gain = g
            .parse::<f64>()
            .map_err(|_| bad(line_no, format!("gain `{g}` is not a number")))?;
        if gain == 0.0 {
            gain = 200.0;
        }
        if !gain.is_finite() || gain < 0.0 {
            return Err(bad(line_no, format!("gain `{g}` is not usable")));
        }
        baseline = b
            .map(|b| {
                b.parse::<i64>()
                    .map_err(|_| bad(line_no, format!("baseline `{b}` is not a whole number")))
            })
            .transpose()?;
    }
    let mut int_field = |name: &str| -> Result<Option<i64>, Problem> {
        fields
            .next()
            .map(|f| {
                f.parse::<i64>()
                    .map_err(|_| bad(line_no, format!("{name} `{f}` is not a whole number")))
            })
            .transpose()
    };
    let _adc_resolution = int_field("ADC resolution")?;
    let adc_zero = int_field("ADC zero")?;
    let initial_value = int_field("initial value")?;
    let checksum = int_field("checksum")?;
    let _block_size = int_field("block size")?;
    let description = fields.collect::<Vec<_>>().join(" ");
    Ok(SignalSpec {
        file,
        format,
        gain,
        baseline: baseline.or(adc_zero).unwrap_or(0),
        units,
        initial_value,
        checksum,
        description,
    })
}

fn channel_for(description: &str) -> Option<Channel> {
    match description.to_ascii_uppercase().as_str() {
        "FHR" | "FHR1" => Some(Channel::Fhr1),
        "FHR2" => Some(Channel::Fhr2),
        "FHR3" => Some(Channel::Fhr3),
        "MHR" => Some(Channel::Mhr),
        "UC" | "TOCO" | "UA" => Some(Channel::Ua),
        _ => None,
    }
}

/// How a record's sampling rate is brought to the model's 4 Hz: each sample held `up` times,
/// then one kept in `down`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rate {
    up: usize,
    down: usize,
}

impl Rate {
    /// 4 Hz as it is; 1 and 2 Hz held (a monitor's trace at that rate is a step per sample);
    /// 8 and 16 Hz decimated. Other rates are not read.
    fn of(hz: f64) -> Option<Rate> {
        [
            (1.0, 4, 1),
            (2.0, 2, 1),
            (4.0, 1, 1),
            (8.0, 1, 2),
            (16.0, 1, 4),
        ]
        .into_iter()
        .find(|(rate, _, _)| (hz - rate).abs() < 1e-9)
        .map(|(_, up, down)| Rate { up, down })
    }

    fn to_4_hz(self, samples: Vec<Sample>) -> Vec<Sample> {
        match (self.up, self.down) {
            (1, 1) => samples,
            (up, 1) => samples
                .into_iter()
                .flat_map(|s| std::iter::repeat_n(s, up))
                .collect(),
            (_, down) => samples.into_iter().step_by(down).collect(),
        }
    }
}

/// Reads the samples of a parsed header from the signal file's bytes, verifying every count,
/// first value and checksum the header states.
pub fn parse(header: &Header, dat: &[u8], source: &str) -> Result<Recording, Problem> {
    let rate = Rate::of(header.sampling_hz).ok_or_else(|| {
        Problem::Unsupported(format!(
            "sampling frequency {} Hz (CTG records at 4 Hz, or 1, 2, 8 or 16 Hz, which are \
             brought to 4 Hz, are read)",
            header.sampling_hz
        ))
    })?;
    let file = &header.signals[0].file;
    let format = header.signals[0].format;
    let mut channels = Vec::with_capacity(header.signals.len());
    for s in &header.signals {
        if !FORMATS_READ.contains(&s.format) {
            return Err(Problem::Unsupported(format!(
                "signal `{}` is stored in WFDB format {} (formats {} are read)",
                s.description,
                s.format,
                FORMATS_READ.map(|f| f.to_string()).join(", ")
            )));
        }
        if &s.file != file {
            return Err(Problem::Unsupported(
                "signals spread over several files".into(),
            ));
        }
        if s.format != format {
            return Err(Problem::Unsupported(format!(
                "signals in one file stored in two formats ({format} and {})",
                s.format
            )));
        }
        // A signal that is not a CTG channel (an ECG, a respiration trace) is read past and
        // named in the recording's metadata, not a reason to refuse the record.
        let channel = channel_for(&s.description);
        if let Some(channel) = channel
            && channels.contains(&Some(channel))
        {
            return Err(Problem::Unsupported(format!(
                "two signals map to channel {}",
                channel.name()
            )));
        }
        channels.push(channel);
    }
    let ignored: Vec<&str> = header
        .signals
        .iter()
        .zip(&channels)
        .filter(|(_, c)| c.is_none())
        .map(|(s, _)| s.description.as_str())
        .collect();
    if ignored.len() == channels.len() {
        return Err(Problem::Unsupported(format!(
            "no CTG signal among `{}` (FHR, FHR1-3, MHR, UC, TOCO are read)",
            ignored.join("`, `")
        )));
    }
    let n_signals = header.signals.len();
    let len = dat.len() as u64;
    let Some(count) = samples_in(format, dat.len())
        .filter(|n| n.is_multiple_of(n_signals))
        .map(|n| n / n_signals)
    else {
        return Err(Problem::BadSize {
            len,
            expected: format!("whole frames of {n_signals} signals in WFDB format {format}"),
        });
    };
    if let Some(stated) = header.samples
        && stated != count as u64
    {
        return Err(Problem::BadSize {
            len,
            expected: format!("{stated} samples per signal as the header states"),
        });
    }
    if count.saturating_mul(rate.up) / rate.down > MAX_RECORDING_SAMPLES {
        return Err(Problem::TooLong { samples: count });
    }
    let values = decode(format, dat, count * n_signals);
    let raw = |frame: usize, signal: usize| values[frame * n_signals + signal];
    let invalid = invalid_sample(format);
    for (signal, spec) in header.signals.iter().enumerate() {
        if let Some(first) = spec.initial_value
            && count > 0
            && i64::from(raw(0, signal)) != first
        {
            return Err(Problem::Mismatch {
                signal: spec.description.clone(),
                what: "first value",
                header: first,
                data: i64::from(raw(0, signal)),
            });
        }
        if let Some(stated) = spec.checksum {
            let sum = (0..count).fold(0i16, |acc, f| acc.wrapping_add(raw(f, signal) as i16));
            // A 16-bit sum: writers give it signed (-23536) or unsigned (42000, the `wfdb`
            // Python package); both are the same sum modulo 2^16.
            if i64::from(sum).rem_euclid(1 << 16) != stated.rem_euclid(1 << 16) {
                return Err(Problem::Mismatch {
                    signal: spec.description.clone(),
                    what: "checksum",
                    header: stated,
                    data: i64::from(sum),
                });
            }
        }
    }

    let mut samples = vec![Sample::default(); count];
    let mut rounded_values = 0usize;
    for (signal, (spec, &channel)) in header.signals.iter().zip(&channels).enumerate() {
        let Some(channel) = channel else { continue };
        // Units per raw step: quarter bpm for heart rates, half units for uterine activity.
        let per_unit = if channel.is_heart_rate() { 4.0 } else { 2.0 };
        let max = if channel.is_heart_rate() {
            MAX_HEART_RATE_QUARTER_BPM
        } else {
            MAX_UTERINE_ACTIVITY_HALF_UNITS
        };
        for (index, sample) in samples.iter_mut().enumerate() {
            let raw = raw(index, signal);
            let (value, quality) = if raw == invalid {
                (0, Quality::None)
            } else {
                let scaled = (f64::from(raw) - spec.baseline as f64) / spec.gain * per_unit;
                let rounded = scaled.round();
                // Finer than the model's quarter bpm (half unit): the nearest step, counted.
                if (scaled - rounded).abs() > 1e-6 {
                    rounded_values += 1;
                }
                if rounded < 0.0 || rounded > f64::from(max) {
                    return Err(Problem::ValueOutOfRange {
                        sample: index,
                        channel: channel.name(),
                        value: i64::from(raw),
                    });
                }
                let value = rounded as u16;
                let quality = if channel.is_heart_rate() {
                    heart_rate_quality(value, Quality::Unknown)
                } else {
                    Quality::Unknown
                };
                (value, quality)
            };
            sample.values[channel.index()] = value;
            sample.quality[channel.index()] = quality;
        }
    }
    let mut modes = [TransducerMode::NoTransducer; 5];
    for c in channels.iter().flatten() {
        modes[c.index()] = TransducerMode::Unknown;
    }
    for s in &mut samples {
        for c in Channel::ALL {
            if !channels.contains(&Some(c)) {
                s.quality[c.index()] = Quality::None;
            }
        }
    }
    let samples = rate.to_4_hz(samples);
    let mut metadata: Vec<(String, String)> = header
        .comments
        .iter()
        .filter_map(|c| split_comment(c))
        .collect();
    if !ignored.is_empty() {
        metadata.push(("Ignored signals".into(), ignored.join(", ")));
    }
    if rate.up != 1 || rate.down != 1 {
        metadata.push((
            "Resampled".into(),
            format!(
                "from {} Hz to 4 Hz ({})",
                header.sampling_hz,
                if rate.up > 1 {
                    "each sample held"
                } else {
                    "the first sample of each quarter second"
                }
            ),
        ));
    }
    if rounded_values > 0 {
        metadata.push((
            "Values rounded".into(),
            format!("{rounded_values} to the nearest 1/4 bpm or 1/2 unit"),
        ));
    }
    Ok(Recording {
        source: source.to_string(),
        format: RecordingFormat::Wfdb,
        start_utc_ms: None,
        modes: Modes(modes),
        samples,
        events: Vec::new(),
        metadata,
    })
}

/// Splits a CTU-UHB style comment (`pH           7.14`) into key and value. Section titles
/// (`-- Outcome measures`) are dropped.
fn split_comment(comment: &str) -> Option<(String, String)> {
    if comment.starts_with('-') || comment.is_empty() {
        return None;
    }
    // Keys may contain single spaces (`Gest. weeks`, `Pos. II.st.`); key and value are
    // separated by a run of two or more spaces, or by the last space.
    let (key, value) = match comment.find("  ") {
        Some(i) => (&comment[..i], comment[i..].trim()),
        None => comment.rsplit_once(' ')?,
    };
    Some((key.trim().to_string(), value.trim().to_string()))
}
