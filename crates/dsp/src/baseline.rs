//! The continuous FHR baseline that event detection measures against.
//!
//! NICHD 2008 and JSOG define the baseline as the approximate mean FHR over a 10-minute window,
//! excluding accelerations, decelerations and marked variability (clinical.md §1.1). The
//! definition is circular (events are found against the baseline), so it is estimated robustly
//! in two passes, with knots every 15 s and linear interpolation in between:
//!
//! 1. **Dominant level** over ±5 min (a 10-minute window, as the guidelines): the densest 1-bpm
//!    region of the window's FHR histogram (a smoothed mode), refined to the mean of the values
//!    within ±`mode_band` bpm of it. Decelerations and accelerations spread their samples over
//!    many bins; the baseline concentrates them. The wide window keeps a prolonged deceleration
//!    (2–10 min) from becoming "the baseline".
//! 2. **Trimmed mean** over ±3 min: the mean of the samples within ±`trim_band` bpm (8) of the
//!    pass-1 level, so excursions do not pull the level while it follows real, slower changes.
//!
//! Both passes count one value a second in their histograms (the first valid value of each
//! [`BIN`] samples, aligned to the stream's sample indices) rather than every 4-Hz sample: a
//! 4-Hz FHR trace is interpolated from beats about 0.4 s apart, so its neighbouring samples
//! carry little that is new, and a 10-minute level comes out alike from 600 values as from
//! 2,400 at a quarter of the cost (against WMFB, median MADI 5.12 % → 4.96 %; `mimamori
//! eval`). The levels are still interpolated at every sample.
//!
//! A window with less than `min_signal` samples of signal carries the previous level forward
//! (JSOG: 判定困難なら直前の10分から判断する). The per-window clinical baseline rounded to
//! 5 bpm is computed separately over each 10-minute window ([`crate::classify`]).
//!
//! The pass-2 window and band were chosen on the development records of the FHRMA training set
//! against WMFB, the best published method (`mimamori eval`, BENCHMARKS.md): a ±5-min pass 2
//! lags real baseline changes (MADI 6.5 % against 5.1 %). Output is final [`final_lag`]
//! samples after its input at the latest (`mode_half_window + half_window + 2·step` and a
//! second's bin: about 8.5 minutes).

use crate::histogram::Histogram;
use crate::knots::{BIN, FirstCodeOfBin, KnotPass, Segments, bins};
use crate::prep::quarters_to_bpm;
use crate::ring::IndexRing;

/// Baseline parameters (durations in samples at 4 Hz; the histograms count one value a second,
/// so the windows, the knot spacing and `min_signal` are rounded to whole seconds).
#[derive(Clone, Debug, PartialEq)]
pub struct BaselineConfig {
    /// Half the window of pass 1 (the dominant level), samples.
    pub mode_half_window: u64,
    /// Half the window of pass 2 (the trimmed mean), samples.
    pub half_window: u64,
    /// Knot spacing, samples.
    pub step: u64,
    /// Least signal in a window for a new knot, samples.
    pub min_signal: u32,
    /// Pass 1: values within this of the mode are averaged, bpm.
    pub mode_band: f32,
    /// Pass 2: values within this of the pass-1 level are averaged, bpm.
    pub trim_band: f32,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        Self {
            mode_half_window: 1200,
            half_window: 720,
            step: 60,
            min_signal: 480,
            mode_band: 6.0,
            trim_band: 8.0,
        }
    }
}

/// How many samples after a sample its baseline is final at the latest: a pass-1 knot needs
/// `mode_half_window` samples after it, a pass-2 knot `half_window` pass-1 levels after it,
/// samples come out a knot `step` at a time, and a bin is counted with its last sample
/// (2,043 samples, 8.5 minutes, by default).
pub(crate) fn final_lag(config: &BaselineConfig) -> u64 {
    BIN * (bins(config.mode_half_window) + bins(config.half_window) + 2 * bins(config.step)) + BIN
        - 1
}

/// The baseline stage: `(sample, fetal bpm)` in, `(sample, fetal bpm, baseline bpm)` out.
/// The first pass's estimator: the mean of the values near the histogram's smoothed mode.
fn dominant_level(
    min_signal: u32,
    mode_band: f32,
) -> impl FnMut(&mut Histogram) -> Option<f32> + Send + Sync {
    move |h: &mut Histogram| {
        if h.total() < min_signal {
            return None;
        }
        let mode = h.smoothed_mode(3)?;
        h.mean_near(mode, mode_band).map(|(mean, _)| mean)
    }
}

/// A sample held by the baseline stage until its level is known: its fetal value in quarter bpm
/// (0: none; the values are the monitor's quarter-bpm readings, so this is exact) and what the
/// caller carries along.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Held<T> {
    /// The fetal value in quarter bpm (0: none or not trusted).
    pub(crate) fetal_quarters: u16,
    /// What the caller carries along.
    pub(crate) carried: T,
}

impl<T> Held<T> {
    /// The fetal value, bpm (NaN: none or not trusted).
    #[inline(always)]
    pub(crate) fn fetal(&self) -> f32 {
        quarters_to_bpm(self.fetal_quarters)
    }
}

/// The most samples handed on at once (a knot step is 60 by default).
const SCRATCH: usize = 128;

#[derive(Debug)]
pub(crate) struct Baseline<T> {
    trim_band: f32,
    pass1: KnotPass,
    /// Pass 1's knots: samples before `level1.next()` have their pass-1 level in `level1_at`.
    level1: Segments,
    pass2: KnotPass,
    /// Pass 2's knots: samples before `level2.next()` have been released.
    level2: Segments,
    /// The samples pushed and not yet released (`level2.next()..pushed`), by index.
    held: IndexRing<Held<T>>,
    /// Their pass-1 levels, once known (`level2.next()..level1.next()`).
    level1_at: IndexRing<f32>,
    /// One past the last sample pushed.
    pushed: u64,
    /// Scratch for the levels of one segment's samples as they are released (a segment is a
    /// knot step long, so this never grows past its first size).
    scratch_level: Vec<f32>,
    /// The values the passes count, one a second: of the fetal values, and of those pass 2
    /// keeps.
    bin1: FirstCodeOfBin,
    bin2: FirstCodeOfBin,
    /// Knot spacing, bins.
    step: u64,
    /// Whether pass 1 has made its first knot (`mode_half_window` samples in).
    knots_started: bool,
    /// Before that: the dominant level of every sample so far, estimated every `step`
    /// samples once the window holds `min_signal` samples of signal.
    early_level: Option<f32>,
}

impl<T: Copy + Default> Baseline<T> {
    pub(crate) fn new(config: &BaselineConfig) -> Self {
        let min_signal = bins(u64::from(config.min_signal)) as u32;
        let step = bins(config.step);
        let trimmed_level = move |h: &mut Histogram| {
            if h.total() < min_signal / 2 {
                return None;
            }
            h.mean()
        };
        Self {
            trim_band: config.trim_band,
            pass1: KnotPass::new(
                bins(config.mode_half_window),
                step,
                Histogram::heart_rate().for_mode(),
                Box::new(dominant_level(min_signal, config.mode_band)),
            ),
            level1: Segments::default(),
            pass2: KnotPass::new(
                bins(config.half_window),
                step,
                Histogram::heart_rate(),
                Box::new(trimmed_level),
            ),
            level2: Segments::default(),
            // What waits between two releases of the analyzer (at most 64 samples apart): up
            // to `final_lag` samples, and the pass-1 levels of up to a pass-2 window and a
            // step; more (a caller that releases seldom) grows the rings.
            held: IndexRing::new(final_lag(config) as usize + 128),
            level1_at: IndexRing::new((config.half_window + config.step) as usize + 128),
            pushed: 0,
            scratch_level: Vec::with_capacity(SCRATCH),
            bin1: FirstCodeOfBin::default(),
            bin2: FirstCodeOfBin::default(),
            step,
            knots_started: false,
            early_level: None,
        }
    }

    /// Feeds the fetal value (quarter bpm, 0: none or not trusted) of sample `index`, with `carried`
    /// passed through unchanged; samples come one index after another from 0.
    /// The first pass's newest knot value: computed when the sample just pushed arrived, over
    /// the window ending with it, so it is the dominant level of the `2·mode_half_window + 1`
    /// samples up to the newest (carried over knots with too little signal). Before the first
    /// knot (the first 5 minutes), the same estimate over every sample so far, made every
    /// `step` samples once they hold `min_signal` of signal (2 minutes, as a window's
    /// baseline needs); NaN before that.
    pub(crate) fn recent_level(&self) -> f32 {
        if self.knots_started {
            self.pass1.last()
        } else {
            self.early_level
        }
        .unwrap_or(f32::NAN)
    }

    #[inline]
    pub(crate) fn push(&mut self, index: u64, fetal_quarters: u16, carried: T) {
        debug_assert_eq!(index, self.pushed);
        if index - self.level2.next() == self.held.capacity() as u64 {
            self.held.grow(self.level2.next(), index);
        }
        self.held.set(
            index,
            Held {
                fetal_quarters,
                carried,
            },
        );
        self.pushed = index + 1;
        // Pass 1 counts whole bins (a heart rate's histogram code is its value in quarter
        // bpm); samples wait for the knot after them: only a new knot releases any.
        let Some(first) = self.bin1.add(index, fetal_quarters) else {
            return;
        };
        let bin = index / BIN;
        let Some((position, value)) = self.pass1.push_code(bin, first) else {
            if !self.knots_started {
                self.estimate_early(bin);
            }
            return;
        };
        self.knots_started = true;
        self.level1.push_knot(position * BIN, value);
        self.release_level1();
    }

    /// Gives every sample whose pass-1 level is now known that level, and feeds pass 2 the
    /// values it keeps (those within `trim_band` of it).
    fn release_level1(&mut self) {
        let Self {
            trim_band,
            level1,
            pass2,
            level2,
            held,
            level1_at,
            bin2,
            pushed,
            scratch_level,
            ..
        } = self;
        let trim_band = *trim_band;
        level1.release(*pushed, |from, to, span| {
            let oldest = level2.next();
            if to - oldest > level1_at.capacity() as u64 {
                level1_at.grow_to(oldest, from, to - oldest);
            }
            let mut first = from;
            while first < to {
                let n = ((to - first) as usize).min(SCRATCH);
                scratch_level.resize(n, 0.0);
                span.fill(first, scratch_level);
                for (k, &b1) in scratch_level.iter().enumerate() {
                    let i = first + k as u64;
                    level1_at.set(i, b1);
                    let h = held[i];
                    let fetal = h.fetal();
                    let kept = if b1.is_nan() || (fetal - b1).abs() <= trim_band {
                        h.fetal_quarters
                    } else {
                        0
                    };
                    if let Some(first) = bin2.add(i, kept)
                        && let Some((position, value)) = pass2.push_code(i / BIN, first)
                    {
                        level2.push_knot(position * BIN, value);
                    }
                }
                first += n as u64;
            }
        });
    }

    /// Before pass 1's first knot its window holds every bin so far: their dominant level
    /// every `step` bins (the first 5 minutes of a stream only, so kept off the hot path).
    #[cold]
    #[inline(never)]
    fn estimate_early(&mut self, bin: u64) {
        if bin.is_multiple_of(self.step) {
            self.early_level = self.pass1.estimate_now();
        }
    }

    /// Releases every sample whose baseline is final, in order, a run of consecutive samples
    /// at a time: `release(first, held, baseline)` for samples `first..`, each sample as held
    /// ([`Held::fetal`], [`Held::fetal_quarters`], [`Held::carried`]) and its baseline, bpm.
    #[inline]
    pub(crate) fn release_ready(&mut self, mut release: impl FnMut(u64, &[Held<T>], &[f32])) {
        let Self {
            level1,
            level2,
            held,
            level1_at,
            scratch_level,
            ..
        } = self;
        level2.release(level1.next(), |from, to, span| {
            let mut first = from;
            while first < to {
                let (run, _) = held.runs(first, to);
                let run = &run[..run.len().min(SCRATCH)];
                let n = run.len();
                scratch_level.resize(n, 0.0);
                span.fill(first, scratch_level);
                let (a, b) = level1_at.runs(first, first + n as u64);
                for (level, &b1) in scratch_level.iter_mut().zip(a.iter().chain(b)) {
                    if level.is_nan() {
                        *level = b1;
                    }
                }
                release(first, run, scratch_level);
                first += n as u64;
            }
        });
    }
}
