//! Slowly varying levels (the FHR baseline, the uterine resting tone) estimated at knots every
//! `step` samples from a centred sliding window, and interpolated linearly between knots.
//!
//! [`KnotPass`] keeps a histogram of the values in `[newest − 2·half, newest]`; when the newest
//! sample is `c + half` for a knot position `c`, the histogram holds exactly the window
//! `[c − half, c + half]` and the knot is computed. [`Interpolator`] then releases the samples
//! between two knots with their interpolated level. Each sample's level depends only on the
//! samples, never on when they were released, so the result does not depend on how the input
//! was chunked.

use std::collections::VecDeque;

use crate::histogram::Histogram;

/// Samples per bin where a level is estimated from 1-second means (1 s at 4 Hz).
pub(crate) const BIN: u64 = 4;

/// A duration in samples as bins, rounded to the nearest (at least 1 where it was not 0).
pub(crate) fn bins(samples: u64) -> u64 {
    if samples == 0 {
        0
    } else {
        ((samples + BIN / 2) / BIN).max(1)
    }
}

/// One value for each bin of [`BIN`] consecutive samples, aligned to the stream's sample
/// indices: its first valid heart rate, as recorded, as its histogram code (quarter bpm, 0:
/// none; a heart rate stays in whole quarter bpm, which the heart-rate histogram counts
/// exactly).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FirstCodeOfBin {
    first: u16,
}

impl FirstCodeOfBin {
    /// Adds the code of sample `index` (0: none); with the bin's last sample, returns the
    /// bin's first nonzero code (0 without one) and starts the next.
    #[inline(always)]
    pub(crate) fn add(&mut self, index: u64, code: u16) -> Option<u16> {
        if self.first == 0 {
            self.first = code;
        }
        if index % BIN != BIN - 1 {
            return None;
        }
        Some(std::mem::take(&mut self.first))
    }
}

/// The mean of the valid values of one bin of [`BIN`] consecutive samples, aligned to the
/// stream's sample indices (bin `i / BIN` holds sample `i`), so it does not depend on how the
/// input was chunked. Values come as the monitor's raw readings in half units (toco), summed as
/// integers: the same sum as of the values in `f32`, where a few halves add up exactly.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Bin {
    halves: u32,
    valid: u32,
}

impl Bin {
    /// Adds the reading of sample `index` in half units (`valid` false: none); with the bin's
    /// last sample, returns its mean (NaN without a valid value) and starts the next.
    #[inline(always)]
    pub(crate) fn add_halves(&mut self, index: u64, halves: u16, valid: bool) -> Option<f32> {
        if valid {
            self.halves += u32::from(halves);
            self.valid += 1;
        }
        if index % BIN != BIN - 1 {
            return None;
        }
        Some(self.close())
    }

    /// The mean so far (NaN without a valid value), and a fresh bin.
    pub(crate) fn close(&mut self) -> f32 {
        let mean = if self.valid == 0 {
            f32::NAN
        } else {
            (self.halves as f32 * 0.5) / self.valid as f32
        };
        *self = Self::default();
        mean
    }
}

/// What a knot's value is computed from.
pub(crate) type Estimator = Box<dyn FnMut(&mut Histogram) -> Option<f32> + Send + Sync>;

pub(crate) struct KnotPass {
    half: u64,
    step: u64,
    hist: Histogram,
    /// The window's values as histogram codes ([`Histogram::code`]: 2 bytes, and nothing to
    /// compute again when a value leaves), a ring of exactly `2·half + 1` slots starting as 0
    /// (nothing); `slot` is where the next code goes and the oldest code is.
    recent: Box<[u16]>,
    slot: usize,
    estimator: Estimator,
    /// Last known knot value (carried over knots whose window holds too little signal).
    last: Option<f32>,
    /// Samples until the next knot is due (a countdown instead of a division per sample).
    until_knot: u64,
}

impl std::fmt::Debug for KnotPass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnotPass")
            .field("half", &self.half)
            .field("step", &self.step)
            .field("slots", &self.recent.len())
            .finish_non_exhaustive()
    }
}

impl KnotPass {
    pub(crate) fn new(half: u64, step: u64, hist: Histogram, estimator: Estimator) -> Self {
        Self {
            half,
            step,
            hist,
            recent: vec![0; 2 * half as usize + 1].into_boxed_slice(),
            slot: 0,
            estimator,
            last: None,
            until_knot: half,
        }
    }

    /// The newest knot's value (the last known one where its window had too little signal).
    pub(crate) fn last(&self) -> Option<f32> {
        self.last
    }

    /// The estimator over what the window holds now (all samples so far, before the first
    /// knot), without making a knot.
    pub(crate) fn estimate_now(&mut self) -> Option<f32> {
        (self.estimator)(&mut self.hist)
    }

    /// Adds the value of sample `index` (samples come one index after another from 0; NaN:
    /// nothing to add) and returns the knot that became
    /// computable, as `(position, value)`; the value is NaN until some window had enough signal.
    #[inline]
    pub(crate) fn push(&mut self, index: u64, value: f32) -> Option<(u64, f32)> {
        self.push_code(index, self.hist.code(value))
    }

    /// [`KnotPass::push`] with the value as its histogram code ([`Histogram::code`]).
    #[inline]
    pub(crate) fn push_code(&mut self, index: u64, code: u16) -> Option<(u64, f32)> {
        self.hist.add(code);
        // Until the ring has gone round once the code leaving is the initial 0 (nothing),
        // which the histogram ignores.
        let old = std::mem::replace(&mut self.recent[self.slot], code);
        self.hist.remove(old);
        self.slot += 1;
        if self.slot == self.recent.len() {
            self.slot = 0;
        }
        // Knots sit at multiples of `step`; the one at `c` is due with sample `c + half`.
        if self.until_knot > 0 {
            self.until_knot -= 1;
            return None;
        }
        self.until_knot = self.step - 1;
        let centre = index - self.half;
        debug_assert!(centre.is_multiple_of(self.step));
        if let Some(v) = (self.estimator)(&mut self.hist) {
            self.last = Some(v);
        }
        Some((centre, self.last.unwrap_or(f32::NAN)))
    }
}

/// A knot: (sample position, level).
type Knot = (u64, f32);

/// How the level runs over one segment between two knots ([`Segments::release`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Span<'a> {
    /// Linear from the knot `(at, from)`, rising by `rise` over the segment: the level at
    /// sample `i` is `from + rise · fractions[i − at]`, where `fractions[k]` is `k / len`.
    Linear {
        at: u64,
        from: f32,
        rise: f32,
        fractions: &'a [f32],
    },
    /// One level for the whole segment (NaN where none is known).
    Flat(f32),
}

impl Span<'_> {
    /// The levels of samples `first..first + out.len()` of the segment, into `out`.
    #[inline(always)]
    pub(crate) fn fill(self, first: u64, out: &mut [f32]) {
        match self {
            Span::Linear {
                at,
                from,
                rise,
                fractions,
            } => {
                let k = first.saturating_sub(at) as usize;
                let n = out.len();
                for (o, &t) in out.iter_mut().zip(&fractions[k..k + n]) {
                    *o = from + rise * t;
                }
            }
            Span::Flat(level) => out.fill(level),
        }
    }
}

/// The knots of a level not yet passed by the samples released, and the next sample to
/// release: the samples themselves are held by the caller (in rings addressed by their index),
/// so a waiting sample costs nothing here. Each sample's level depends only on the knots, never
/// on when it is released.
#[derive(Debug, Default)]
pub(crate) struct Segments {
    /// The next sample to release.
    next: u64,
    /// The last knot pushed.
    previous: Option<Knot>,
    /// Knots not yet passed by the samples released, each with the knot before it.
    segments: VecDeque<(Option<Knot>, Knot)>,
    /// `k / len` for `k` in `0..=len`, for the segments' length `len` (knots come a step
    /// apart, so one table serves them all): a table look-up where each sample took a
    /// conversion and a division, with the same result.
    fractions: Vec<f32>,
}

impl Segments {
    /// The next sample to release (every one before it has been).
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// Adds a knot: the samples up to `position` can now be released.
    #[inline]
    pub(crate) fn push_knot(&mut self, position: u64, value: f32) {
        self.segments.push_back((self.previous, (position, value)));
        self.previous = Some((position, value));
    }

    /// Releases, in order, every sample before `available` whose level is known, a segment
    /// between two knots at a time: `release(from, to, span)` for samples `from..to`. The level
    /// is linear between the knots on either side; the earlier knot's value where the later one
    /// is unknown (NaN); the later knot's where there is no earlier one. Only a new knot makes
    /// samples ready.
    #[inline]
    pub(crate) fn release(&mut self, available: u64, mut release: impl FnMut(u64, u64, Span<'_>)) {
        while self.next < available {
            let first = self.next;
            while self.segments.front().is_some_and(|(_, (p, _))| *p < first) {
                self.segments.pop_front();
            }
            let Some(&(previous, (position, value))) = self.segments.front() else {
                return;
            };
            // Samples `first..=position` lie in this segment.
            let end = (position + 1).min(available);
            let span = match previous {
                Some((p, pv)) if !pv.is_nan() && !value.is_nan() && position > p => {
                    let len = position - p;
                    if self.fractions.len() as u64 != len + 1 {
                        self.fractions = fractions(len);
                    }
                    Span::Linear {
                        at: p,
                        from: pv,
                        rise: value - pv,
                        fractions: &self.fractions,
                    }
                }
                Some((_, pv)) if value.is_nan() => Span::Flat(pv),
                _ => Span::Flat(value),
            };
            release(first, end, span);
            self.next = end;
        }
    }
}

/// `k / len` for `k` in `0..=len`, as the interpolation computed it for each sample: the
/// distance converted through i64 (one instruction, where u64 takes several; the distance is
/// far below 2⁶³, so the value is the same), then divided.
#[cold]
fn fractions(len: u64) -> Vec<f32> {
    let len_f = len as f32;
    (0..=len).map(|k| (k as i64) as f32 / len_f).collect()
}
