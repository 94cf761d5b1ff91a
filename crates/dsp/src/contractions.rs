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
        }
    }

    /// Feeds one uterine-activity sample: the reading in half units as the monitor reports it
    /// (toco; `valid` false: none); samples come one index after another from 0.
    #[inline]
    pub(crate) fn push(&mut self, index: u64, halves: u16, valid: bool) {
        if let Some(mean) = self.bin.add_halves(index, halves, valid) {
            self.push_mean(index / TOCO_BIN, mean);
        }
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
