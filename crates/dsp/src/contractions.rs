//! Uterine contractions from external toco or IUP.
//!
//! No guideline defines contraction detection on toco (clinical.md §1.7); this is the method
//! the notes suggest, with parameters chosen on the development records against the Romagnoli
//! 2020 expert marks (`mimamori eval`): smooth the signal over ±10 s, estimate the resting tone
//! as the running 40th percentile over ±3 minutes (contractions occupy well under half of the
//! time), and find rises of ≥ 14 units above it lasting ≥ 25 s with the same excursion detector
//! the FHR uses. Frequency per 10 minutes and
//! tachysystole (> 5 per 10 min averaged over 30 min, NICHD) are computed in
//! [`crate::classify`].

use std::collections::VecDeque;

use crate::events::{ExcursionConfig, ExcursionDetector};
use crate::histogram::Histogram;
use crate::knots::{Interpolator, KnotPass};

/// Contraction detection parameters.
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
                split_bpm: 0.0,
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
    smooth_half: usize,
    tone_half: u64,
    /// The last `smooth_half` samples already smoothed (the window's past half).
    past: VecDeque<f32>,
    /// Samples waiting for their future half.
    pending: VecDeque<(u64, f32)>,
    tone: KnotPass,
    level: Interpolator<(u64, f32)>,
    detector: ExcursionDetector,
    /// Index up to which everything has been processed.
    frontier: u64,
}

impl Contractions {
    pub(crate) fn new(config: &ContractionConfig) -> Self {
        let q = config.tone_quantile;
        Self {
            smooth_half: config.smooth_half,
            tone_half: config.tone_half,
            past: VecDeque::new(),
            pending: VecDeque::new(),
            tone: KnotPass::new(
                config.tone_half,
                60,
                Histogram::new(0.0, 256),
                Box::new(
                    move |h: &Histogram| {
                        if h.total() < 240 { None } else { h.quantile(q) }
                    },
                ),
            ),
            level: Interpolator::new(),
            detector: ExcursionDetector::new(1, config.rise.clone()),
            frontier: 0,
        }
    }

    /// Feeds one uterine-activity sample (NaN for none).
    pub(crate) fn push(&mut self, index: u64, ua: f32) {
        self.pending.push_back((index, ua));
        if self.pending.len() > self.smooth_half {
            self.smooth_front();
        }
    }

    /// Smooths the front pending sample over its ±`smooth_half` window and passes it on.
    fn smooth_front(&mut self) {
        let Some((index, value)) = self.pending.pop_front() else {
            return;
        };
        let smoothed = if value.is_nan() {
            f32::NAN
        } else {
            let (mut n, mut sum) = (1u32, value);
            let future = self.pending.iter().take(self.smooth_half).map(|&(_, v)| v);
            for v in self.past.iter().copied().chain(future) {
                if !v.is_nan() {
                    n += 1;
                    sum += v;
                }
            }
            sum / n as f32
        };
        self.past.push_back(value);
        if self.past.len() > self.smooth_half {
            self.past.pop_front();
        }
        self.level.push_item(index, (index, smoothed));
        if let Some((position, tone)) = self.tone.push(index, smoothed) {
            self.level.push_knot(position, tone);
        }
        while let Some(((i, s), tone)) = self.level.pop() {
            self.detector.push(i, s, tone);
            self.frontier = i + 1;
        }
    }

    /// Everything before this index is final.
    pub(crate) fn frontier(&self) -> u64 {
        self.frontier
    }

    pub(crate) fn pop(&mut self) -> Option<ContractionEvent> {
        self.detector.pop().map(|e| ContractionEvent {
            start: e.start,
            peak_at: e.extreme_at,
            end: e.end,
            amplitude: e.amplitude,
        })
    }

    /// Ends the stream: pads the windows with "no signal" so every held sample is decided.
    pub(crate) fn finish(&mut self, end: u64) {
        let pad = self.smooth_half as u64 + 2 * (self.tone_half + 60) + 2;
        for i in end..end + pad {
            self.push(i, f32::NAN);
        }
        self.detector.finish();
        self.frontier = u64::MAX;
    }
}
