//! GE Corometrics "Model 115-compatible" protocol (120 and 170 series monitors).
//!
//! Source: the 120-series user manual and the 170-series service manual, chapter "Model
//! 115-Compatible Communications Protocols" (protocols.md §3). Every record the monitor sends
//! is ASCII:
//!
//! ```text
//! '9' (0x39) | response type (0x60..=0x67) | monitor ID '0' (0x30) | data (ASCII) | ETX (0x03)
//! ```
//!
//! | type | data | rate |
//! |---|---|---|
//! | `` ` `` heart rate 1 | 2–3 digits, bpm; `00` pen-lift (no valid rate) | 4 Hz |
//! | `a` uterine activity | 2–3 digits; `128` pen-lift | 8 Hz |
//! | `b` modes | 2 characters (HR mode, UA mode) | at start, on change, each minute |
//! | `c` annotation (120 series) | ASCII text | as entered |
//! | `d` event mark | none | on the Mark key |
//! | `e` heart rate 2 | as heart rate 1 | 4 Hz |
//! | `f` fetal movement | `0` none, `1` movement, `2` not fitted, `4` disabled | 4 Hz |
//! | `g` paper out | `0` paper OK, `1` paper out | 1 Hz while it lasts |
//!
//! There is no checksum and no time stamp. Records carry no sequence number either, so the 4 Hz
//! grid is rebuilt from their order: each heart-rate-1 record opens a grid sample, and the
//! records after it until the next one (heart rate 2, movement, two uterine-activity values)
//! belong to it. A monitor that sends no heart rate 1 is clocked by what it does send (a
//! second heart-rate-2 or movement record, or a third uterine-activity value, before a heart
//! rate 1 closes the sample). Four samples make a block, as a Series 50 `C` block does; after
//! [`FLUSH_AFTER_MS`] without a record, what is held goes out as a shorter block.
//!
//! What the documents leave open, isolated here and said so (protocols.md §3.4, §8 item 3):
//! - the mode characters' tables were not retrieved: modes are reported as unknown, and the two
//!   characters are kept in the counters ([`Corometrics115Stats::last_modes`]) so a field
//!   capture can settle them; uterine activity may therefore be toco or IUP;
//! - whether 2-digit values are zero-padded: both forms are read;
//! - the host's request ([`request`]) is only answered in Transmit/Receive mode and ignored in
//!   Update mode; the host sends it at the start and again after [`REQUEST_AGAIN_MS`] without a
//!   record, which is harmless in either mode;
//! - the monitor ID is `'0'`; another digit is taken and counted.
//!
//! Sans-IO: bytes and time in, normalised output and bytes to send out. The decoder never
//! panics, holds at most [`MAX_DATA`] bytes of one record, resynchronises on the next record
//! start after garbage or a record broken off, and counts every bad record.

use std::collections::VecDeque;

use ctg_proto::model::{
    BlockFlags, Channel, DeviceInfo, DeviceProtocol, EventKind, Modes, Quality, Sample,
};
use serde::Serialize;

use crate::{DeviceOutput, LinkSummary, Millis, NormalisedBlock};

/// Record start.
pub const START: u8 = b'9';
/// Record end.
pub const ETX: u8 = 0x03;
/// The monitor ID the manuals give.
pub const MONITOR_ID: u8 = b'0';
/// The longest data field taken (an annotation is the longest record; 2115/2116 messages are
/// short lines).
pub const MAX_DATA: usize = 128;
/// Samples per block handed on (one second, as a Series 50 `C` block).
pub const BLOCK_SAMPLES: usize = 4;
/// What is held goes out as a shorter block when no record has come for this long.
pub const FLUSH_AFTER_MS: Millis = 1_000;
/// The request is sent again when no record has come for this long.
pub const REQUEST_AGAIN_MS: Millis = 3_000;
/// The uterine-activity value that means pen-lift (no valid value).
pub const UA_PEN_LIFT: u16 = 128;

/// The response types (protocols.md §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordType {
    /// `` ` ``: heart rate 1, 4 Hz.
    HeartRate1,
    /// `a`: uterine activity, 8 Hz.
    UterineActivity,
    /// `b`: the HR and UA mode characters.
    Modes,
    /// `c`: an annotation or message (120 series).
    Annotation,
    /// `d`: the Mark key was pressed.
    EventMark,
    /// `e`: heart rate 2, 4 Hz.
    HeartRate2,
    /// `f`: fetal movement, 4 Hz.
    FetalMovement,
    /// `g`: paper out.
    PaperOut,
}

impl RecordType {
    /// The type of a response-type byte.
    pub fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            0x60 => Self::HeartRate1,
            0x61 => Self::UterineActivity,
            0x62 => Self::Modes,
            0x63 => Self::Annotation,
            0x64 => Self::EventMark,
            0x65 => Self::HeartRate2,
            0x66 => Self::FetalMovement,
            0x67 => Self::PaperOut,
            _ => return None,
        })
    }

    /// Its response-type byte.
    pub fn byte(self) -> u8 {
        match self {
            Self::HeartRate1 => 0x60,
            Self::UterineActivity => 0x61,
            Self::Modes => 0x62,
            Self::Annotation => 0x63,
            Self::EventMark => 0x64,
            Self::HeartRate2 => 0x65,
            Self::FetalMovement => 0x66,
            Self::PaperOut => 0x67,
        }
    }

    /// Whether its data field holds digits only.
    fn numeric(self) -> bool {
        matches!(
            self,
            Self::HeartRate1
                | Self::UterineActivity
                | Self::HeartRate2
                | Self::FetalMovement
                | Self::PaperOut
        )
    }
}

/// One record: its type and data field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The response type.
    pub kind: RecordType,
    /// The data field (ASCII).
    pub data: Vec<u8>,
}

impl Record {
    /// The record's bytes on the line.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.data.len() + 4);
        bytes.extend([START, self.kind.byte(), MONITOR_ID]);
        bytes.extend(&self.data);
        bytes.push(ETX);
        bytes
    }

    /// A numeric record (heart rate, uterine activity, movement), zero-padded to 2 digits.
    pub fn numeric(kind: RecordType, value: u16) -> Self {
        Self {
            kind,
            data: format!("{value:02}").into_bytes(),
        }
    }
}

/// The host's request (Transmit/Receive mode): every type the bridge uses, with or without
/// annotations (`c`), which only the 120 series sends. A monitor answers a request it finds
/// wrong with nothing at all (protocols.md §3.4), so the host alternates the two forms until
/// records come: a 170 series that refuses `c` still gets the one without.
pub fn request(with_annotations: bool) -> Vec<u8> {
    let mut bytes = vec![START];
    bytes.extend(
        [
            RecordType::HeartRate1,
            RecordType::UterineActivity,
            RecordType::Modes,
            RecordType::Annotation,
            RecordType::EventMark,
            RecordType::HeartRate2,
            RecordType::FetalMovement,
            RecordType::PaperOut,
        ]
        .into_iter()
        .filter(|&kind| with_annotations || kind != RecordType::Annotation)
        .map(RecordType::byte),
    );
    bytes.push(ETX);
    bytes
}

/// Link-layer counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LinkStats {
    /// Records read whole.
    pub records: u64,
    /// Records that did not fit their type (bad characters, too long, broken off).
    pub bad_records: u64,
    /// Runs of bytes skipped while hunting for a record start.
    pub resyncs: u64,
    /// Bytes skipped.
    pub skipped_bytes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Hunting for `'9'`.
    Hunt,
    /// After `'9'`: the type byte.
    Type,
    /// After the type: the monitor ID.
    Id(RecordType),
    /// In the data field.
    Data(RecordType),
}

/// Bytes ⇄ records.
#[derive(Debug)]
pub struct RecordDecoder {
    state: State,
    data: Vec<u8>,
    stats: LinkStats,
    /// Whether bytes are being skipped (one resync per run).
    skipping: bool,
    /// Records whose monitor ID was not `'0'`.
    other_ids: u64,
}

impl Default for RecordDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordDecoder {
    /// A decoder hunting for a record start.
    pub fn new() -> Self {
        Self {
            state: State::Hunt,
            data: Vec::with_capacity(MAX_DATA),
            stats: LinkStats::default(),
            skipping: false,
            other_ids: 0,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Records whose monitor ID was another digit than `'0'`.
    pub fn other_ids(&self) -> u64 {
        self.other_ids
    }

    fn skip(&mut self) {
        self.stats.skipped_bytes += 1;
        if !self.skipping {
            self.skipping = true;
            self.stats.resyncs += 1;
        }
    }

    /// Takes bytes; each record read whole, or the reason one was dropped, goes to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Result<Record, String>>) {
        for &byte in bytes {
            self.byte(byte, out);
        }
    }

    fn byte(&mut self, byte: u8, out: &mut Vec<Result<Record, String>>) {
        match self.state {
            State::Hunt => {
                if byte == START {
                    self.state = State::Type;
                } else {
                    self.skip();
                }
            }
            State::Type => match RecordType::from_byte(byte) {
                Some(kind) => self.state = State::Id(kind),
                None if byte == START => self.skip(), // "99…": the second may start it
                None => {
                    self.skip();
                    self.skip();
                    self.state = State::Hunt;
                }
            },
            State::Id(kind) => {
                if byte.is_ascii_digit() {
                    if byte != MONITOR_ID {
                        self.other_ids += 1;
                    }
                    self.skipping = false;
                    self.data.clear();
                    self.state = State::Data(kind);
                } else {
                    self.skip();
                    self.state = if byte == START {
                        State::Type
                    } else {
                        State::Hunt
                    };
                }
            }
            State::Data(kind) => {
                if byte == ETX {
                    self.stats.records += 1;
                    out.push(Ok(Record {
                        kind,
                        data: std::mem::take(&mut self.data),
                    }));
                    self.data.reserve(MAX_DATA);
                    self.state = State::Hunt;
                    return;
                }
                let fits = if kind.numeric() {
                    byte.is_ascii_digit()
                } else {
                    (0x20..=0x7E).contains(&byte)
                };
                if fits && self.data.len() < MAX_DATA {
                    self.data.push(byte);
                    return;
                }
                // Broken off, or not this type's data: the record is dropped. A record start
                // inside it (`'9'` then a type byte) is read from there on.
                self.stats.bad_records += 1;
                out.push(Err(format!(
                    "{kind:?} record dropped at byte 0x{byte:02X} after {} data bytes",
                    self.data.len()
                )));
                let restart =
                    RecordType::from_byte(byte).filter(|_| self.data.last() == Some(&START));
                self.data.clear();
                self.state = match restart {
                    Some(kind) => State::Id(kind),
                    None if byte == START => State::Type,
                    None => State::Hunt,
                };
            }
        }
    }
}

/// Departures from the manuals, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Oddities {
    /// Heart rates above 300 bpm (taken as no signal).
    pub heart_rate_out_of_range: u64,
    /// Uterine-activity values above the pen-lift value (taken as no signal).
    pub ua_out_of_range: u64,
    /// Numeric records with no digits or more than 3.
    pub bad_numbers: u64,
    /// Movement values other than 0, 1, 2 and 4.
    pub unknown_movement: u64,
    /// Records of one type beyond what a grid sample holds (the older ones are dropped).
    pub crowded: u64,
    /// Monitor IDs other than `'0'`.
    pub other_monitor_ids: u64,
}

/// Counters of a session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Corometrics115Stats {
    /// The link layer.
    pub link: LinkStats,
    /// Departures from the manuals.
    pub oddities: Oddities,
    /// Grid samples built.
    pub samples: u64,
    /// Blocks handed on.
    pub blocks: u64,
    /// Mode records, and the last one's two characters (their meaning is not documented
    /// here; kept for a field capture to settle).
    pub mode_records: u64,
    /// The last mode record's characters.
    pub last_modes: String,
    /// Paper-out reports with paper out.
    pub paper_out: u64,
    /// Requests sent.
    pub requests: u64,
}

/// What arrived since the heart-rate-1 record that opened the current grid sample.
#[derive(Debug, Default)]
struct Pending {
    /// The open sample's heart rate 1 (quarter bpm, 0: none), if a record opened it.
    hr1: Option<u16>,
    hr2: VecDeque<u16>,
    movement: VecDeque<bool>,
    /// Uterine activity, half units (`None`: pen-lift).
    ua: VecDeque<Option<u16>>,
}

/// The host side of a Model 115 session, sans-IO (module docs).
#[derive(Debug)]
pub struct Corometrics115Host {
    decoder: RecordDecoder,
    records: Vec<Result<Record, String>>,
    pending: Pending,
    samples: Vec<Sample>,
    stats: Corometrics115Stats,
    last_record_ms: Option<Millis>,
    last_request_ms: Option<Millis>,
    announced: bool,
}

impl Default for Corometrics115Host {
    fn default() -> Self {
        Self::new()
    }
}

/// A heart-rate record's value in quarter bpm (0: pen-lift or out of range).
fn heart_rate(value: u16, oddities: &mut Oddities) -> u16 {
    if value > 300 {
        oddities.heart_rate_out_of_range += 1;
        0
    } else {
        value * 4
    }
}

impl Corometrics115Host {
    /// A session that has not yet heard from the monitor.
    pub fn new() -> Self {
        Self {
            decoder: RecordDecoder::new(),
            records: Vec::new(),
            pending: Pending::default(),
            samples: Vec::with_capacity(BLOCK_SAMPLES),
            stats: Corometrics115Stats::default(),
            last_record_ms: None,
            last_request_ms: None,
            announced: false,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> Corometrics115Stats {
        let mut stats = self.stats.clone();
        stats.link = self.decoder.stats();
        stats.oddities.other_monitor_ids = self.decoder.other_ids();
        stats
    }

    /// Hands on what is held once the line has been quiet for [`FLUSH_AFTER_MS`] (call it on
    /// every timer tick).
    pub fn tick(&mut self, now: Millis, out: &mut Vec<DeviceOutput>) {
        if self
            .last_record_ms
            .is_some_and(|last| now.saturating_sub(last) >= FLUSH_AFTER_MS)
        {
            self.flush(out);
        }
    }

    /// Bytes to write to the monitor now: the request, at the start and whenever no record
    /// has come for [`REQUEST_AGAIN_MS`], with and without annotations in turn ([`request`]).
    pub fn poll_transmit(&mut self, now: Millis) -> Vec<u8> {
        let silent = self
            .last_record_ms
            .is_none_or(|last| now.saturating_sub(last) > REQUEST_AGAIN_MS);
        let due = self
            .last_request_ms
            .is_none_or(|sent| now.saturating_sub(sent) > REQUEST_AGAIN_MS);
        if silent && due {
            self.last_request_ms = Some(now);
            self.stats.requests += 1;
            return request(self.stats.requests % 2 == 1);
        }
        Vec::new()
    }

    /// Feeds bytes received from the monitor at `now`; normalised output goes to `out`.
    pub fn receive(&mut self, bytes: &[u8], now: Millis, out: &mut Vec<DeviceOutput>) {
        self.decoder.push(bytes, &mut self.records);
        let records = std::mem::take(&mut self.records);
        for record in &records {
            match record {
                Ok(record) => {
                    self.last_record_ms = Some(now);
                    if !self.announced {
                        self.announced = true;
                        out.push(DeviceOutput::Event(EventKind::DeviceConnected(
                            DeviceInfo {
                                protocol: DeviceProtocol::Corometrics115,
                                model: "Corometrics 115-compatible".into(),
                                serial: String::new(),
                                software: String::new(),
                            },
                        )));
                    }
                    self.take(record, out);
                }
                Err(problem) => out.push(DeviceOutput::Problem(problem.clone())),
            }
        }
        self.records = records;
        self.records.clear();
    }

    /// A record's number (2–3 digits), or `None` (counted).
    fn number(&mut self, record: &Record) -> Option<u16> {
        let digits = &record.data;
        if digits.is_empty() || digits.len() > 3 {
            self.stats.oddities.bad_numbers += 1;
            return None;
        }
        Some(
            digits
                .iter()
                .fold(0u16, |n, d| n * 10 + u16::from(d.wrapping_sub(b'0'))),
        )
    }

    fn take(&mut self, record: &Record, out: &mut Vec<DeviceOutput>) {
        self.take_record(record, out);
        // A tick never carries this many: the sample is closed (bounded memory whatever the
        // line says).
        let p = &self.pending;
        if p.hr2.len() > 4 || p.movement.len() > 4 || p.ua.len() > 8 {
            self.close_sample(out);
        }
    }

    fn take_record(&mut self, record: &Record, out: &mut Vec<DeviceOutput>) {
        match record.kind {
            // A record whose number cannot be read still holds its place on the grid, as no
            // signal (counted).
            RecordType::HeartRate1 => {
                let value = self.number(record).unwrap_or(0);
                // The open sample is complete: this record opens the next.
                if self.pending.hr1.is_some() {
                    self.close_sample(out);
                }
                self.pending.hr1 = Some(heart_rate(value, &mut self.stats.oddities));
            }
            RecordType::HeartRate2 => {
                let value = self.number(record).unwrap_or(0);
                let value = heart_rate(value, &mut self.stats.oddities);
                self.pending.hr2.push_back(value);
                if self.pending.hr2.len() > 1 && self.pending.hr1.is_none() {
                    self.close_sample(out); // no heart rate 1: clocked by heart rate 2
                }
            }
            RecordType::FetalMovement => {
                let value = self.number(record).unwrap_or(0);
                if !matches!(value, 0 | 1 | 2 | 4) {
                    self.stats.oddities.unknown_movement += 1;
                }
                self.pending.movement.push_back(value == 1);
                if self.pending.movement.len() > 1 && self.pending.hr1.is_none() {
                    self.close_sample(out);
                }
            }
            RecordType::UterineActivity => {
                let value = self.number(record).unwrap_or(UA_PEN_LIFT);
                let ua = match value {
                    UA_PEN_LIFT => None,
                    v if v > UA_PEN_LIFT => {
                        self.stats.oddities.ua_out_of_range += 1;
                        None
                    }
                    v => Some(v * 2),
                };
                self.pending.ua.push_back(ua);
                if self.pending.ua.len() > 2 && self.pending.hr1.is_none() {
                    self.close_sample(out);
                }
            }
            RecordType::Modes => {
                self.stats.mode_records += 1;
                self.stats.last_modes = String::from_utf8_lossy(&record.data).into_owned();
            }
            RecordType::Annotation => {
                let text: String = String::from_utf8_lossy(&record.data)
                    .chars()
                    .filter(|c| !c.is_control())
                    .collect();
                let text = text.trim();
                if !text.is_empty() {
                    out.push(DeviceOutput::Event(EventKind::Note {
                        author: String::new(),
                        text: text.to_owned(),
                    }));
                }
            }
            RecordType::EventMark => out.push(DeviceOutput::Event(EventKind::Marker)),
            RecordType::PaperOut => {
                if self.number(record) == Some(1) {
                    self.stats.paper_out += 1;
                }
            }
        }
    }

    /// Builds the open grid sample from what is pending (one of each 4 Hz type, up to two
    /// uterine-activity values, averaged), leaving anything beyond for the next sample or, if
    /// a heart rate 1 opened this one, dropping it (counted).
    fn close_sample(&mut self, out: &mut Vec<DeviceOutput>) {
        let p = &mut self.pending;
        let mut sample = Sample::default();
        let opened = p.hr1.is_some();
        let hr1 = p.hr1.take().unwrap_or(0);
        let hr2 = p.hr2.pop_front().unwrap_or(0);
        for (channel, value) in [(Channel::Fhr1, hr1), (Channel::Fhr2, hr2)] {
            sample.values[channel.index()] = value;
            sample.quality[channel.index()] = if value == 0 {
                Quality::None
            } else {
                Quality::Unknown
            };
        }
        // The other heart-rate channels are not in this protocol.
        for channel in [Channel::Fhr3, Channel::Mhr] {
            sample.quality[channel.index()] = Quality::None;
        }
        sample.fetal_movement = p.movement.pop_front().unwrap_or(false);
        let (mut sum, mut n) = (0u32, 0u32);
        for value in p.ua.drain(..p.ua.len().min(2)).flatten() {
            sum += u32::from(value);
            n += 1;
        }
        let ua = Channel::Ua.index();
        // Half units, the mean rounded to the nearest (ties up); none: pen-lift.
        match (sum + n / 2).checked_div(n) {
            Some(mean) => {
                sample.values[ua] = mean as u16;
                sample.quality[ua] = Quality::Unknown;
            }
            None => sample.quality[ua] = Quality::None,
        }
        // What is left: after a sample a heart rate 1 opened, more than its tick carries
        // (dropped); after one clocked by the other records, the next sample's start (kept,
        // but never more than one sample's worth).
        let keep = if opened { (0, 0, 0) } else { (1, 1, 2) };
        let crowded = p.hr2.len().saturating_sub(keep.0)
            + p.movement.len().saturating_sub(keep.1)
            + p.ua.len().saturating_sub(keep.2);
        if crowded > 0 {
            self.stats.oddities.crowded += crowded as u64;
            p.hr2.truncate(keep.0);
            p.movement.truncate(keep.1);
            p.ua.truncate(keep.2);
        }
        self.stats.samples += 1;
        self.samples.push(sample);
        if self.samples.len() == BLOCK_SAMPLES {
            self.hand_on(out);
        }
    }

    /// Closes what is open and hands on what is held (the line went quiet).
    fn flush(&mut self, out: &mut Vec<DeviceOutput>) {
        let p = &self.pending;
        if p.hr1.is_some() || !p.hr2.is_empty() || !p.movement.is_empty() || !p.ua.is_empty() {
            self.close_sample(out);
        }
        if !self.samples.is_empty() {
            self.hand_on(out);
        }
    }

    fn hand_on(&mut self, out: &mut Vec<DeviceOutput>) {
        self.stats.blocks += 1;
        let mut modes = Modes::default();
        for channel in [Channel::Fhr3, Channel::Mhr] {
            modes.0[channel.index()] = ctg_proto::model::TransducerMode::NoTransducer;
        }
        out.push(DeviceOutput::Ctg(NormalisedBlock {
            samples: std::mem::replace(&mut self.samples, Vec::with_capacity(BLOCK_SAMPLES)),
            modes,
            flags: BlockFlags(0),
            fspo2_percent: None,
        }));
    }

    /// Frame counts, as every protocol reports them.
    pub fn link(&self) -> LinkSummary {
        let link = self.decoder.stats();
        LinkSummary {
            frames: link.records,
            crc_errors: link.bad_records,
            resyncs: link.resyncs,
        }
    }
}

/// The monitor side, for the simulators: the records of one second of samples, in the order
/// the host reads them (per tick: heart rate 1, heart rate 2 where the channel carries one,
/// fetal movement, two uterine-activity values), with a mode record at the start and each
/// minute. Update mode: it sends whatever the host asks.
#[derive(Debug, Default)]
pub struct Corometrics115Monitor {
    seconds: u64,
    queued: Vec<u8>,
}

impl Corometrics115Monitor {
    /// A monitor that has just powered on.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues an event-mark record.
    pub fn mark(&mut self) {
        self.queued.extend(
            Record {
                kind: RecordType::EventMark,
                data: Vec::new(),
            }
            .encode(),
        );
    }

    /// Queues an annotation.
    pub fn annotate(&mut self, text: &str) {
        self.queued.extend(
            Record {
                kind: RecordType::Annotation,
                data: text.bytes().filter(|&b| b.is_ascii() && b != ETX).collect(),
            }
            .encode(),
        );
    }

    /// The bytes of one second: queued records, then the samples' records. `with_hr2`: whether
    /// the second heart-rate channel is sent.
    pub fn second(&mut self, samples: &[Sample], with_hr2: bool) -> Vec<u8> {
        let mut bytes = std::mem::take(&mut self.queued);
        if self.seconds.is_multiple_of(60) {
            bytes.extend(
                Record {
                    kind: RecordType::Modes,
                    data: b"00".to_vec(),
                }
                .encode(),
            );
        }
        self.seconds += 1;
        for s in samples {
            // Heart rates in whole bpm (the protocol's resolution); 0 is pen-lift.
            let bpm = |c: Channel| (s.value(c) + 2) / 4;
            bytes.extend(Record::numeric(RecordType::HeartRate1, bpm(Channel::Fhr1)).encode());
            if with_hr2 {
                bytes.extend(Record::numeric(RecordType::HeartRate2, bpm(Channel::Fhr2)).encode());
            }
            bytes.extend(
                Record::numeric(RecordType::FetalMovement, u16::from(s.fetal_movement)).encode(),
            );
            let ua = if s.quality[Channel::Ua.index()] == Quality::None {
                UA_PEN_LIFT
            } else {
                // Whole units (the protocol's resolution), sent twice: 8 Hz.
                (s.value(Channel::Ua) / 2).min(UA_PEN_LIFT - 1)
            };
            for _ in 0..2 {
                bytes.extend(Record::numeric(RecordType::UterineActivity, ua).encode());
            }
        }
        bytes
    }
}

#[cfg(test)]
mod tests;
