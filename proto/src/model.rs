//! The normalised CTG model: one format for every monitor.
//!
//! A **stream** is one monitor's output for one monitoring episode, named by a
//! [`StreamIdentity`]. Its samples live on a **4 Hz grid** indexed by a per-stream `u64` sequence
//! number; a [`SampleBlock`] is a run of consecutive samples stamped with the bridge's UTC time of
//! its first sample. [`StreamEvent`]s (marker, note, device connected, mode change, maternal
//! vitals, …) ride in the same stream with their own sequence numbers and a position on the grid.
//!
//! Units are chosen so that every source fits without loss:
//! - heart rates (FHR1, FHR2, FHR3, MHR) in **quarter bpm**, as the Philips Series 50 C block,
//!   FHRMA files and CTU-UHB records all carry them (0 = no signal, 1200 = 300 bpm at most);
//! - uterine activity (external toco in relative units, or IUP in mmHg) in **half units**, as the
//!   Series 50 toco byte, FHRMA files and CTU-UHB records carry them.

use serde::{Deserialize, Serialize};

/// Samples per second on the grid.
pub const SAMPLE_RATE_HZ: u32 = 4;
/// Milliseconds between two grid samples.
pub const SAMPLE_PERIOD_MS: i64 = 250;
/// Largest heart-rate value in quarter bpm (300 bpm), the Series 50 range.
pub const MAX_HEART_RATE_QUARTER_BPM: u16 = 1200;
/// Largest uterine-activity value in half units (500 units or mmHg); above any physiological
/// IUP and far above the toco range of 0–127.5.
pub const MAX_UTERINE_ACTIVITY_HALF_UNITS: u16 = 1000;

/// One signal channel of a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum Channel {
    /// First fetal heart rate (the only one for a singleton on most monitors).
    Fhr1 = 0,
    /// Second fetal heart rate (twins, or the scalp ECG channel on some recordings).
    Fhr2 = 1,
    /// Third fetal heart rate (triplets).
    Fhr3 = 2,
    /// Maternal heart rate (MECG, or pulse from SpO2 / toco transducer).
    Mhr = 3,
    /// Uterine activity: external toco (relative units) or IUP (mmHg), see [`Modes`].
    Ua = 4,
}

impl Channel {
    /// All channels in index order.
    pub const ALL: [Channel; 5] = [
        Channel::Fhr1,
        Channel::Fhr2,
        Channel::Fhr3,
        Channel::Mhr,
        Channel::Ua,
    ];
    /// The heart-rate channels.
    pub const HEART_RATES: [Channel; 4] =
        [Channel::Fhr1, Channel::Fhr2, Channel::Fhr3, Channel::Mhr];

    /// Position of this channel in [`Sample::values`] and [`Sample::quality`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Lower-case name used in JSON and on the command line (`fhr1`, …, `ua`).
    pub const fn name(self) -> &'static str {
        match self {
            Channel::Fhr1 => "fhr1",
            Channel::Fhr2 => "fhr2",
            Channel::Fhr3 => "fhr3",
            Channel::Mhr => "mhr",
            Channel::Ua => "ua",
        }
    }

    /// True for FHR1–FHR3 and MHR (quarter-bpm values), false for uterine activity.
    pub const fn is_heart_rate(self) -> bool {
        !matches!(self, Channel::Ua)
    }

    /// Converts a raw value of this channel into its physical unit: bpm for heart rates, units or
    /// mmHg for uterine activity.
    pub fn physical(self, raw: u16) -> f64 {
        if self.is_heart_rate() {
            f64::from(raw) / 4.0
        } else {
            f64::from(raw) / 2.0
        }
    }
}

/// Signal quality of one channel at one sample.
///
/// Monitors report three levels (the Series 50's red / yellow / green); `None` marks signal loss
/// (value 0) and `Unknown` a source that does not report quality at all (most recording files).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Quality {
    /// The source does not report quality.
    #[default]
    Unknown,
    /// No signal: the value is 0.
    None,
    /// Poor (Series 50 red).
    Poor,
    /// Fair (Series 50 yellow).
    Fair,
    /// Good (Series 50 green).
    Good,
}

/// One 250 ms tick of every channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sample {
    /// Raw values indexed by [`Channel::index`]: heart rates in quarter bpm, uterine activity in
    /// half units. 0 on a heart-rate channel means no signal.
    pub values: [u16; 5],
    /// Signal quality per channel, indexed like `values`.
    pub quality: [Quality; 5],
    /// The monitor detected fetal movement during this tick.
    pub fetal_movement: bool,
}

impl Sample {
    /// The raw value of one channel.
    pub fn value(&self, channel: Channel) -> u16 {
        self.values[channel.index()]
    }

    /// The value of a heart-rate channel in bpm, or `None` for signal loss; uterine activity in
    /// its unit (never `None`: 0 is a valid toco reading unless the quality says `None`).
    pub fn physical(&self, channel: Channel) -> Option<f64> {
        let raw = self.value(channel);
        let lost = if channel.is_heart_rate() {
            raw == 0
        } else {
            self.quality[channel.index()] == Quality::None
        };
        (!lost).then(|| channel.physical(raw))
    }
}

/// What kind of transducer feeds a channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TransducerMode {
    /// The source does not say.
    #[default]
    Unknown,
    /// No transducer connected.
    NoTransducer,
    /// Doppler ultrasound (FHR).
    Ultrasound,
    /// Direct (scalp-electrode) fetal ECG.
    Decg,
    /// Maternal ECG (MHR).
    Mecg,
    /// Maternal heart rate from an external device (pulse oximeter, toco "smart pulse").
    ExternalMhr,
    /// External tocodynamometer (relative units).
    ExternalToco,
    /// Intra-uterine pressure catheter (mmHg).
    Iup,
}

/// Transducer mode of every channel, indexed like [`Sample::values`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Modes(pub [TransducerMode; 5]);

impl Modes {
    /// The mode of one channel.
    pub fn get(&self, channel: Channel) -> TransducerMode {
        self.0[channel.index()]
    }
}

/// Per-block status flags, most of them straight from the Series 50 status and mode words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlockFlags(pub u16);

impl BlockFlags {
    /// Filler samples were inserted to keep the 4 Hz cadence: by the monitor, or by the bridge
    /// for a time the monitor sent nothing (then every sample of the block is no signal:
    /// [`SampleBlock::is_filler`]).
    pub const SAMPLES_INSERTED: u16 = 1 << 0;
    /// The monitor dropped samples to keep the 4 Hz cadence.
    pub const SAMPLES_DELETED: u16 = 1 << 1;
    /// Cross-channel verification found two channels recording the same heart (coincidence).
    pub const COINCIDENCE: u16 = 1 << 2;
    /// The fetal signals come over telemetry.
    pub const TELEMETRY: u16 = 1 << 3;
    /// The monitor draws HR1 offset by +20 bpm (twins); values on the wire are not offset.
    pub const TWIN_OFFSET: u16 = 1 << 4;
    /// DECG artefact suppression is on.
    pub const DECG_ARTEFACT_LOGIC: u16 = 1 << 5;
    /// Fetal movement profile is enabled.
    pub const FMP_ENABLED: u16 = 1 << 6;
    /// FHR1 transducer is inoperative.
    pub const INOP_FHR1: u16 = 1 << 7;
    /// FHR2 transducer is inoperative.
    pub const INOP_FHR2: u16 = 1 << 8;
    /// FHR3 transducer is inoperative.
    pub const INOP_FHR3: u16 = 1 << 9;
    /// MHR transducer is inoperative.
    pub const INOP_MHR: u16 = 1 << 10;
    /// Fetal SpO2 is available on this monitor.
    pub const FSPO2_AVAILABLE: u16 = 1 << 11;
    /// Every defined bit; others must be 0.
    pub const ALL: u16 = (1 << 12) - 1;

    /// True if every bit of `flag` is set.
    pub fn contains(self, flag: u16) -> bool {
        self.0 & flag == flag
    }
}

/// A run of consecutive grid samples.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleBlock {
    /// Sequence number of the first sample on the stream's grid.
    pub first_seq: u64,
    /// The bridge's UTC time of the first sample, milliseconds since the Unix epoch.
    pub utc_ms: i64,
    /// Transducer modes in force for this block.
    pub modes: Modes,
    /// Status flags for this block.
    pub flags: BlockFlags,
    /// Fetal SpO2 in percent, where the monitor reports it.
    pub fspo2_percent: Option<u8>,
    /// The samples, oldest first; at most [`crate::wire::MAX_BLOCK_SAMPLES`].
    pub samples: Vec<Sample>,
}

impl SampleBlock {
    /// Sequence number one past the last sample (`None` on overflow, which validation rejects).
    pub fn end_seq(&self) -> Option<u64> {
        self.first_seq.checked_add(self.samples.len() as u64)
    }

    /// Whether the block only stands in for a time its monitor sent nothing (the bridge's
    /// fill after a silence): flagged as inserted samples, every one of them no signal.
    pub fn is_filler(&self) -> bool {
        self.flags.contains(BlockFlags::SAMPLES_INSERTED)
            && self
                .samples
                .iter()
                .all(|s| s.values == [0; 5] && s.quality == [Quality::None; 5])
    }
}

/// Which protocol a device speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeviceProtocol {
    /// Philips Series 50 digital interface (also GE Corometrics 250cx).
    Series50,
    /// Philips Avalon FM20–FM50 (IntelliVue data export).
    Avalon,
    /// GE Corometrics "Model 115-compatible" ASCII protocol.
    Corometrics115,
    /// HL7 v2 ORU^R01 over MLLP.
    Hl7Mllp,
    /// A recording file replayed.
    Recording,
    /// The synthetic generator.
    Synthetic,
}

/// What the bridge knows about the device behind a stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// The protocol it speaks.
    pub protocol: DeviceProtocol,
    /// Model as the device reports it (e.g. `M1350A`), empty if unknown.
    pub model: String,
    /// Serial number, empty if unknown.
    pub serial: String,
    /// Software / protocol revision, empty if unknown.
    pub software: String,
}

impl DeviceInfo {
    /// A device speaking `protocol` that has not said what it is (yet).
    pub fn unidentified(protocol: DeviceProtocol) -> Self {
        Self {
            protocol,
            model: String::new(),
            serial: String::new(),
            software: String::new(),
        }
    }
}

/// The identity of a stream: one monitor's output for one monitoring episode.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamIdentity {
    /// Facility (hospital, clinic, midwife home) the bridge belongs to.
    pub facility: String,
    /// The bridge's name within the facility.
    pub bridge: String,
    /// The device port on the bridge (serial path, or MLLP listener and sending application).
    pub port: String,
    /// UTC start of the monitoring episode, milliseconds since the Unix epoch.
    pub episode_start_utc_ms: i64,
}

/// An event in a stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEvent {
    /// Per-stream event sequence number (its own counter, independent of the sample grid).
    pub seq: u64,
    /// Position on the sample grid the event belongs to.
    pub at_sample: u64,
    /// The bridge's UTC time of the event, milliseconds since the Unix epoch.
    pub utc_ms: i64,
    /// What happened.
    pub kind: EventKind,
}

/// What an event says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// The event-marker button was pressed (on the monitor or remotely).
    Marker,
    /// A free-text note: from the monitor's keyboard or from staff.
    Note {
        /// Who wrote it (empty when the monitor does not say).
        author: String,
        /// The note.
        text: String,
    },
    /// The bridge found a device on the port (or it identified itself).
    DeviceConnected(DeviceInfo),
    /// The device went away or fell silent.
    DeviceDisconnected {
        /// Why the bridge thinks so (cable pulled, no frames for N s, …).
        reason: String,
    },
    /// Transducer modes changed.
    ModeChange(Modes),
    /// The monitor reported a fatal error and restarts (Series 50 `F` block).
    DeviceFault {
        /// The device's error code.
        code: String,
    },
    /// Maternal non-invasive blood pressure (Series 50 `P` block).
    MaternalBloodPressure {
        /// Systolic, mmHg.
        systolic_mmhg: u16,
        /// Diastolic, mmHg.
        diastolic_mmhg: u16,
        /// Mean, mmHg.
        mean_mmhg: u16,
        /// Maternal pulse in quarter bpm (`Some(0)`: invalid reading; `None`: not measurable).
        pulse_quarter_bpm: Option<u16>,
    },
    /// Maternal SpO2 (Series 50 `S` block).
    MaternalSpo2 {
        /// SpO2 in half percent (0–200).
        spo2_half_percent: u8,
        /// Maternal pulse in quarter bpm (`Some(0)`: invalid reading; `None`: not measurable).
        pulse_quarter_bpm: Option<u16>,
    },
    /// Maternal temperature (Series 50 `T` block), tenths of a degree Celsius.
    MaternalTemperature {
        /// Temperature in 0.1 °C.
        deci_celsius: u16,
    },
    /// The patient the device or its gateway says it is monitoring (an HL7 message's PID
    /// segment): the facility's patient ID and the name as sent. Told when it first comes and
    /// whenever it changes.
    PatientIdentified {
        /// The facility's patient ID (PID-3's ID, e.g. the medical record number).
        patient_ref: String,
        /// The name as sent (PID-5, family then given names), empty if none.
        name: String,
    },
}
