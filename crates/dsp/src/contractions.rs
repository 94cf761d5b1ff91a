//! Uterine contractions from external toco or IUP.
//!
//! No guideline defines contraction detection on toco (clinical.md §1.7); this is the method
//! the notes suggest, with parameters chosen on the development records against the Romagnoli
//! 2020 expert marks (`mimamori eval`): smooth the signal over ±10 s, estimate the resting tone
//! as the running 40th percentile over ±3 minutes (contractions occupy well under half of the
//! time), and find rises of ≥ 14 units above it lasting ≥ 25 s with the same excursion detector
//! the FHR uses. Two acmes with the tone falling back by ≥ 30 units between them (and rising
//! again as much) are two contractions (coupled contractions), not one long one; 25–40 units
//! score alike on the development records. Frequency per 10 minutes and
//! tachysystole (> 5 per 10 min averaged over 30 min, NICHD) are computed in
//! [`crate::classify`].
//!
//! The path runs on 1-second means of the signal ([`crate::knots::BIN`] samples each, aligned
//! to the stream's sample indices, so the result does not depend on how the input is
//! chunked): a contraction rises and falls over tens of seconds, and after the ±10-s smoothing
//! 4 Hz adds nothing (contraction F1 0.823 at 4 Hz, 0.824 at 1 Hz; `mimamori eval`), at a
//! quarter of the cost. The parameters stay in samples (4 Hz) and are divided by the bin.

use std::collections::VecDeque;

use crate::events::{ExcursionConfig, ExcursionDetector, MAX_EXCURSION_SAMPLES};
use crate::histogram::Histogram;
use crate::knots::{BIN as TOCO_BIN, Bin, KnotPass, Segments, bins};
use crate::ring::IndexRing;

/// Contraction detection parameters (durations in samples at 4 Hz; the path runs on 1-s bins,
/// so each is rounded to whole seconds).
#[derive(Clone, Debug, PartialEq)]
pub struct ContractionConfig {
    /// Half-width of the smoothing window, samples.
    pub smooth_half: usize,
    /// Half-width of the resting-tone window, samples.
    pub tone_half: u64,
    /// Quantile of the smoothed signal taken as the resting tone.
    pub tone_quantile: f32,
    /// The rise above the tone.
    pub rise: ExcursionConfig,
}

impl Default for ContractionConfig {
    fn default() -> Self {
        Self {
            smooth_half: 40,
            tone_half: 720,
            tone_quantile: 0.4,
            rise: ExcursionConfig {
                start_bpm: 8.0,
                edge_bpm: 6.0,
                min_amplitude: 14.0,
                min_duration: 100,
                min_time_beyond: 0,
                max_gap: 40,
                split_bpm: 30.0,
            },
        }
    }
}

/// A contraction, in sample indices.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ContractionEvent {
    /// First sample.
    pub start: u64,
    /// Sample of the acme.
    pub peak_at: u64,
    /// One past the last sample.
    pub end: u64,
    /// Height of the acme above the resting tone (units or mmHg).
    pub amplitude: f32,
}

#[derive(Debug)]
pub(crate) struct Contractions {
    /// In bins, as every index below.
    smooth_half: usize,
    tone_half: u64,
    /// Knot spacing of the tone, bins.
    tone_step: u64,
    /// The bin being filled.
    bin: Bin,
    /// The stream's end, in samples, once finished (events are clamped to it).
    stream_end: Option<u64>,
    /// The smoothing window: up to `smooth_half` past values, the centre, future values.
    window: VecDeque<f32>,
    /// Sample index of `window`'s front value.
    window_first: u64,
    /// Position of the next centre within `window` (= past values held).
    centre: usize,
    /// Sum and count of the valid values in `window`.
    sum: f64,
    valid: u32,
    tone: KnotPass,
    /// The tone's knots: smoothed values before `level.next()` have gone to the detector.
    level: Segments,
    /// Smoothed values waiting for the tone (`level.next()..`), by bin.
    smoothed: IndexRing<f32>,
    /// Scratch: the tone under a run of released values.
    tones: Vec<f32>,

    detector: ExcursionDetector,
    /// Index up to which everything has been processed.
    frontier: u64,
    /// Which minutes could have shown a contraction.
    minutes: TocoMinutes,
}

impl Contractions {
    pub(crate) fn new(config: &ContractionConfig) -> Self {
        let q = config.tone_quantile;
        let smooth_half = bins(config.smooth_half as u64) as usize;
        let tone_half = bins(config.tone_half);
        let tone_step = bins(60);
        // The tone needs a minute of signal in its window.
        let min_tone_signal = bins(240) as u32;
        let rise = ExcursionConfig {
            min_duration: bins(config.rise.min_duration),
            min_time_beyond: bins(config.rise.min_time_beyond),
            max_gap: bins(config.rise.max_gap),
            ..config.rise.clone()
        };
        Self {
            smooth_half,
            tone_half,
            tone_step,
            bin: Bin::default(),
            stream_end: None,
            window: VecDeque::with_capacity(2 * smooth_half + 2),
            window_first: 0,
            centre: 0,
            sum: 0.0,
            valid: 0,
            tone: KnotPass::new(
                tone_half,
                tone_step,
                Histogram::new(0.0, 256),
                Box::new(move |h: &mut Histogram| {
                    if h.total() < min_tone_signal {
                        None
                    } else {
                        h.quantile(q)
                    }
                }),
            ),
            level: Segments::default(),
            smoothed: IndexRing::new((tone_half + tone_step) as usize + 64),
            tones: Vec::with_capacity(2 * tone_step as usize + 2),
            detector: ExcursionDetector::with_max_len(1, rise, MAX_EXCURSION_SAMPLES / TOCO_BIN),
            frontier: 0,
            minutes: TocoMinutes::default(),
        }
    }

    /// Feeds one uterine-activity sample: the reading in half units as the monitor reports it
    /// (toco; `valid` false: none); samples come one index after another from 0.
    #[inline]
    pub(crate) fn push(&mut self, index: u64, halves: u16, valid: bool) {
        if let Some(mean) = self.bin.add_halves(index, halves, valid) {
            self.minutes.push_mean(index / TOCO_BIN, mean);
            self.push_mean(index / TOCO_BIN, mean);
        }
    }

    /// Which minutes of the signal so far could have shown a contraction.
    pub(crate) fn minutes(&self) -> &TocoMinutes {
        &self.minutes
    }

    /// Feeds the mean of bin `index` (NaN for none).
    fn push_mean(&mut self, index: u64, ua: f32) {
        if self.window.is_empty() {
            self.window_first = index;
        }
        self.window.push_back(ua);
        if !ua.is_nan() {
            self.sum += f64::from(ua);
            self.valid += 1;
        }
        if self.window.len() - self.centre > self.smooth_half {
            self.smooth_centre();
        }
    }

    /// Smooths the centre sample over what the window holds (±`smooth_half`, fewer at the
    /// ends of the stream) with running sums, and passes it on.
    fn smooth_centre(&mut self) {
        let index = self.window_first + self.centre as u64;
        let value = self.window[self.centre];
        let smoothed = if value.is_nan() {
            f32::NAN
        } else {
            (self.sum / f64::from(self.valid)) as f32
        };
        if self.centre == self.smooth_half {
            let old = self
                .window
                .pop_front()
                .expect("the window holds the centre");
            self.window_first += 1;
            if !old.is_nan() {
                self.sum -= f64::from(old);
                self.valid -= 1;
            }
        } else {
            self.centre += 1;
        }
        if index - self.level.next() == self.smoothed.capacity() as u64 {
            self.smoothed.grow(self.level.next(), index);
        }
        self.smoothed.set(index, smoothed);
        // Values wait for the knot after them: only a new knot releases any.
        let Some((position, tone)) = self.tone.push(index, smoothed) else {
            return;
        };
        self.level.push_knot(position, tone);
        let (detector, frontier, smoothed, tones) = (
            &mut self.detector,
            &mut self.frontier,
            &self.smoothed,
            &mut self.tones,
        );
        self.level.release(index + 1, |from, to, span| {
            let (a, b) = smoothed.runs(from, to);
            tones.resize(a.len(), 0.0);
            span.fill(from, tones);
            detector.push_run(from, a, tones);
            if !b.is_empty() {
                let after = from + a.len() as u64;
                tones.resize(b.len(), 0.0);
                span.fill(after, tones);
                detector.push_run(after, b, tones);
            }
            *frontier = to;
        });
    }

    /// Everything before this sample index is final.
    pub(crate) fn frontier(&self) -> u64 {
        self.frontier.saturating_mul(TOCO_BIN)
    }

    /// The next contraction, in sample indices (the acme at the middle of its bin).
    pub(crate) fn pop(&mut self) -> Option<ContractionEvent> {
        let end = self.stream_end.unwrap_or(u64::MAX);
        self.detector.pop().map(|e| ContractionEvent {
            start: (e.start * TOCO_BIN).min(end),
            peak_at: (e.extreme_at * TOCO_BIN + TOCO_BIN / 2).min(end.saturating_sub(1)),
            end: (e.end * TOCO_BIN).min(end),
            amplitude: e.amplitude,
        })
    }

    /// Ends the stream after `end` samples: closes the last, partial bin and pads the windows
    /// with "no signal" so every held bin is decided.
    pub(crate) fn finish(&mut self, end: u64) {
        self.stream_end = Some(end);
        if !end.is_multiple_of(TOCO_BIN) {
            let mean = self.bin.close();
            self.push_mean(end / TOCO_BIN, mean);
        }
        let end = end.div_ceil(TOCO_BIN);
        while self.centre < self.window.len() {
            self.smooth_centre();
        }
        let pad = 2 * (self.tone_half + self.tone_step) + 2;
        for i in end..end + pad {
            self.push_mean(i, f32::NAN);
        }
        self.detector.finish();
        self.frontier = u64::MAX;
    }
}

/// 1-s means in a minute.
const MINUTE_BINS: u64 = 60;

/// A minute whose 1-s means span no more than this (1 unit) is flat: a toco transducer that
/// has come off or a channel held at a constant value. On the CTU-UHB records, minutes with a
/// signal near working toco (3 or more contraction acmes within 10 minutes) span at most 1 unit
/// in 2 % of cases (363 of 17,046; a scratch count over the shared records' reports, not in the
/// repository), so a flat minute is almost always one that cannot show a contraction.
const FLAT_SPAN: f32 = 1.0;

/// Which minutes of the uterine-activity channel could have shown a contraction: at least half
/// of the minute's seconds have a signal, and their means are not flat ([`FLAT_SPAN`]). Fed
/// the 1-s means the contraction path runs on; kept as one bit per minute for the last 64
/// complete minutes (the typing that asks waits at most about 20 minutes behind the stream and
/// looks 20 minutes back from there).
///
/// Where the toco shows nothing for most of 20 minutes, "no contractions" means "no
/// information", and recurrence against contractions cannot be judged
/// ([`crate::TypingConfig::recurrent_without_toco`]).
#[derive(Debug)]
pub(crate) struct TocoMinutes {
    /// The minute being filled, the bin that starts the next, and the minute's seconds with a
    /// signal, lowest and highest mean.
    minute: u64,
    next_minute_at: u64,
    valid: u32,
    low: f32,
    high: f32,
    /// Bit `m % 64` is set when complete minute `m` was readable, for the 64 minutes before
    /// `minute`.
    readable: u64,
}

impl Default for TocoMinutes {
    fn default() -> Self {
        Self {
            minute: 0,
            next_minute_at: MINUTE_BINS,
            valid: 0,
            low: f32::INFINITY,
            high: f32::NEG_INFINITY,
            readable: 0,
        }
    }
}

impl TocoMinutes {
    /// Feeds the mean of 1-s bin `bin` (NaN: no signal); bins come one after another from 0.
    #[inline]
    pub(crate) fn push_mean(&mut self, bin: u64, mean: f32) {
        if bin >= self.next_minute_at {
            self.close(bin / MINUTE_BINS);
        }
        if !mean.is_nan() {
            self.valid += 1;
            if mean < self.low {
                self.low = mean;
            }
            if mean > self.high {
                self.high = mean;
            }
        }
    }

    /// Closes the minute being filled (and any skipped, as unreadable) and starts `minute`.
    #[cold]
    #[inline(never)]
    fn close(&mut self, minute: u64) {
        let readable = 2 * u64::from(self.valid) >= MINUTE_BINS && self.high - self.low > FLAT_SPAN;
        let bit = 1u64 << (self.minute % 64);
        if readable {
            self.readable |= bit;
        } else {
            self.readable &= !bit;
        }
        for skipped in (self.minute + 1..minute).take(64) {
            self.readable &= !(1u64 << (skipped % 64));
        }
        *self = Self {
            minute,
            next_minute_at: (minute + 1) * MINUTE_BINS,
            readable: self.readable,
            ..Self::default()
        };
    }

    /// Share of the complete minutes within the samples `from..to` that were readable, %
    /// (0 where there is no complete minute).
    pub(crate) fn readable_percent(&self, from: u64, to: u64) -> f64 {
        let (readable, minutes) = self.readable_in(from, to);
        100.0 * f64::from(readable) / f64::from(minutes.max(1))
    }

    /// Whether the toco could show a contraction in fewer than half of the complete minutes
    /// within the samples `from..to` (false where there is none to judge by): its count of
    /// contractions there says nothing. [`crate::Evidence::toco_not_recording`] is the same
    /// test on a window.
    pub(crate) fn mostly_unreadable(&self, from: u64, to: u64) -> bool {
        let (readable, minutes) = self.readable_in(from, to);
        minutes > 0 && 2 * readable < minutes
    }

    /// (readable, all) among the complete minutes that lie wholly within the samples
    /// `from..to`, as far back as the last 64 complete minutes reach.
    pub(crate) fn readable_in(&self, from: u64, to: u64) -> (u32, u32) {
        let minute_samples = MINUTE_BINS * TOCO_BIN;
        let first = from
            .div_ceil(minute_samples)
            .max(self.minute.saturating_sub(64));
        let end = (to / minute_samples).min(self.minute);
        let (mut readable, mut all) = (0, 0);
        for m in first..end {
            all += 1;
            readable += u32::from(self.readable & (1u64 << (m % 64)) != 0);
        }
        (readable, all)
    }
}

#[cfg(test)]
mod toco_minutes_tests {
    use super::*;

    /// Samples (half units, with a signal or not) through the 1-s bins, as the contraction
    /// path feeds them.
    fn fed(values: impl IntoIterator<Item = (u16, bool)>) -> TocoMinutes {
        let (mut t, mut bin) = (TocoMinutes::default(), Bin::default());
        for (i, (v, valid)) in values.into_iter().enumerate() {
            if let Some(mean) = bin.add_halves(i as u64, v, valid) {
                t.push_mean(i as u64 / TOCO_BIN, mean);
            }
        }
        t
    }

    const MINUTE_SAMPLES: u64 = MINUTE_BINS * TOCO_BIN;

    #[test]
    fn lost_and_flat_minutes_are_unreadable_and_moving_ones_readable() {
        let minute = MINUTE_SAMPLES as usize;
        // Minute 0: a breathing toco (±2 units over 5 s); 1: lost; 2: flat at 2.5 units; 3: a
        // third of the minute recorded; 4: moving again; 5: being filled.
        let moving = |i: usize| (20 + 4 * ((i / 10) % 2) as u16 + (i % 3) as u16, true);
        let samples: Vec<(u16, bool)> = (0..minute)
            .map(moving)
            .chain((0..minute).map(|_| (0, false)))
            .chain((0..minute).map(|_| (5, true)))
            .chain((0..minute).map(|i| {
                if i < minute / 3 {
                    moving(i)
                } else {
                    (0, false)
                }
            }))
            .chain((0..minute).map(moving))
            .chain((0..10).map(moving))
            .collect();
        let t = fed(samples);
        let m = MINUTE_SAMPLES;
        assert_eq!(t.readable_in(0, m), (1, 1));
        assert_eq!(t.readable_in(m, 4 * m), (0, 3));
        assert_eq!(t.readable_in(0, 5 * m), (2, 5));
        // Partial minutes at either end and the minute being filled do not count.
        assert_eq!(t.readable_in(1, 6 * m), (1, 4));
        assert_eq!(t.readable_in(0, 5 * m + 5), (2, 5));
    }

    #[test]
    fn only_the_last_64_minutes_are_known() {
        let t = fed((0..100 * MINUTE_SAMPLES).map(|i| (((i / 8) % 7) as u16 * 3, true)));
        assert_eq!(t.readable_in(0, 100 * MINUTE_SAMPLES), (64, 64));
        assert_eq!(
            t.readable_in(90 * MINUTE_SAMPLES, 95 * MINUTE_SAMPLES),
            (5, 5)
        );
    }
}
