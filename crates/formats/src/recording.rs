//! A whole CTG recording in the normalised model, whatever file it came from.

use ctg_proto::model::{
    Channel, Modes, Quality, SAMPLE_PERIOD_MS, SAMPLE_RATE_HZ, Sample, SampleBlock, StreamEvent,
    TransducerMode,
};

/// Which file format a recording was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordingFormat {
    /// FHRMA `.fhr` (FHR1, FHR2, TOCO).
    Fhr,
    /// FHRMA `.fhrm` (FHR1, FHR2, MHR, TOCO).
    Fhrm,
    /// WFDB header + format-16 signal file (CTU-UHB).
    Wfdb,
    /// Mimamori's own `.mmr`.
    Mmr,
}

impl RecordingFormat {
    /// Short name for people and JSON.
    pub fn name(self) -> &'static str {
        match self {
            RecordingFormat::Fhr => "fhrma-fhr",
            RecordingFormat::Fhrm => "fhrma-fhrm",
            RecordingFormat::Wfdb => "wfdb",
            RecordingFormat::Mmr => "mimamori-mmr",
        }
    }
}

/// A recording: samples on the 4 Hz grid from sequence 0, plus what the file says about them.
#[derive(Clone, Debug, PartialEq)]
pub struct Recording {
    /// The file name it was read from (or a name given by whoever built it).
    pub source: String,
    /// The format it was read from.
    pub format: RecordingFormat,
    /// UTC time of the first sample, ms since the Unix epoch, where the file says.
    pub start_utc_ms: Option<i64>,
    /// Transducer modes, where the file says (otherwise [`TransducerMode::Unknown`]).
    pub modes: Modes,
    /// The samples, at [`SAMPLE_RATE_HZ`].
    pub samples: Vec<Sample>,
    /// Events in the recording (markers, notes, …), in order.
    pub events: Vec<StreamEvent>,
    /// Free-form metadata as `(key, value)` pairs in file order: WFDB header comments (pH, Apgar,
    /// `Pos. II.st.`, …), or what a `.mmr` carries.
    pub metadata: Vec<(String, String)>,
}

/// What one channel of a recording holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChannelSummary {
    /// The channel.
    pub channel: Channel,
    /// Samples with a signal.
    pub with_signal: usize,
    /// Percentage of samples without a signal (0 on a heart-rate channel, or quality `None`).
    pub signal_loss_percent: f64,
}

impl ChannelSummary {
    /// True when the channel carries any signal at all.
    pub fn present(&self) -> bool {
        self.with_signal > 0
    }
}

impl Recording {
    /// Duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / f64::from(SAMPLE_RATE_HZ)
    }

    /// The value of a metadata key, if present.
    pub fn metadata_value(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Signal presence and loss per channel.
    pub fn channel_summaries(&self) -> Vec<ChannelSummary> {
        Channel::ALL
            .into_iter()
            .map(|channel| {
                let with_signal = self
                    .samples
                    .iter()
                    .filter(|s| s.physical(channel).is_some())
                    .count();
                let n = self.samples.len();
                let signal_loss_percent = if n == 0 {
                    0.0
                } else {
                    100.0 * (n - with_signal) as f64 / n as f64
                };
                ChannelSummary {
                    channel,
                    with_signal,
                    signal_loss_percent,
                }
            })
            .collect()
    }

    /// The channel that carries the fetal heart rate: a channel in direct-ECG mode if there is
    /// one with signal, otherwise the fetal channel with the most signal (FHR1 on a tie).
    /// FHRMA scalp-ECG files carry it in FHR2, most others in FHR1.
    pub fn fetal_channel(&self) -> Channel {
        let fetal = [Channel::Fhr1, Channel::Fhr2, Channel::Fhr3];
        let summaries = self.channel_summaries();
        let signal = |c: Channel| summaries[c.index()].with_signal;
        if let Some(decg) = fetal
            .into_iter()
            .find(|&c| self.modes.get(c) == TransducerMode::Decg && signal(c) > 0)
        {
            return decg;
        }
        fetal
            .into_iter()
            .rev()
            .max_by_key(|&c| signal(c))
            .unwrap_or(Channel::Fhr1)
    }

    /// Splits the recording into blocks of `block_len` samples (the last may be shorter), as a
    /// bridge would send it, stamped from `start_utc_ms` (or `fallback_start_utc_ms`).
    pub fn blocks(
        &self,
        block_len: usize,
        fallback_start_utc_ms: i64,
    ) -> impl Iterator<Item = SampleBlock> + '_ {
        let block_len = block_len.max(1);
        let start = self.start_utc_ms.unwrap_or(fallback_start_utc_ms);
        self.samples
            .chunks(block_len)
            .enumerate()
            .map(move |(i, chunk)| {
                let first_seq = (i * block_len) as u64;
                SampleBlock {
                    first_seq,
                    utc_ms: start + first_seq as i64 * SAMPLE_PERIOD_MS,
                    modes: self.modes,
                    flags: Default::default(),
                    fspo2_percent: None,
                    samples: chunk.to_vec(),
                }
            })
    }
}

/// Builds a heart-rate sample value with the quality the model requires: `None` for 0.
pub(crate) fn heart_rate_quality(value: u16, reported: Quality) -> Quality {
    if value == 0 { Quality::None } else { reported }
}
