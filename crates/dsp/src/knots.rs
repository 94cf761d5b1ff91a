//! Slowly varying levels (the FHR baseline, the uterine resting tone) estimated at knots every
//! `step` samples from a centred sliding window, and interpolated linearly between knots.
//!
//! [`KnotPass`] keeps a histogram of the values in `[newest − 2·half, newest]`; when the newest
//! sample is `c + half` for a knot position `c`, the histogram holds exactly the window
//! `[c − half, c + half]` and the knot is computed. [`Interpolator`] then releases the samples
//! between two knots with their interpolated level. Everything is one sample at a time, so the
//! result does not depend on how the input was chunked.

use std::collections::VecDeque;

use crate::histogram::Histogram;

/// What a knot's value is computed from.
pub(crate) type Estimator = Box<dyn FnMut(&mut Histogram) -> Option<f32> + Send + Sync>;

pub(crate) struct KnotPass {
    half: u64,
    step: u64,
    hist: Histogram,
    recent: VecDeque<f32>,
    estimator: Estimator,
    /// Last known knot value (carried over knots whose window holds too little signal).
    last: Option<f32>,
}

impl std::fmt::Debug for KnotPass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnotPass")
            .field("half", &self.half)
            .field("step", &self.step)
            .field("held", &self.recent.len())
            .finish_non_exhaustive()
    }
}

impl KnotPass {
    pub(crate) fn new(half: u64, step: u64, hist: Histogram, estimator: Estimator) -> Self {
        Self {
            half,
            step,
            hist,
            // Exactly the window: a VecDeque grown by doubling would hold up to twice that.
            recent: VecDeque::with_capacity(2 * half as usize + 2),
            estimator,
            last: None,
        }
    }

    /// Adds the value of sample `index` (NaN: nothing to add) and returns the knot that became
    /// computable, as `(position, value)`; the value is NaN until some window had enough signal.
    pub(crate) fn push(&mut self, index: u64, value: f32) -> Option<(u64, f32)> {
        self.hist.add(value);
        self.recent.push_back(value);
        if self.recent.len() as u64 > 2 * self.half + 1 {
            let old = self.recent.pop_front().expect("recent is not empty");
            self.hist.remove(old);
        }
        let centre = index.checked_sub(self.half)?;
        if !centre.is_multiple_of(self.step) {
            return None;
        }
        if let Some(v) = (self.estimator)(&mut self.hist) {
            self.last = Some(v);
        }
        Some((centre, self.last.unwrap_or(f32::NAN)))
    }
}

/// Holds items until the knots on both sides of them are known, then releases them with the
/// interpolated level.
#[derive(Debug)]
pub(crate) struct Interpolator<T> {
    waiting: VecDeque<(u64, T)>,
    previous: Option<(u64, f32)>,
    out: VecDeque<(T, f32)>,
}

impl<T> Interpolator<T> {
    /// An interpolator for knots `step` apart computed `half` samples late: at most about
    /// `half + step` items wait, so that is allocated once.
    pub(crate) fn new(half: u64, step: u64) -> Self {
        Self {
            waiting: VecDeque::with_capacity((half + step) as usize + 1),
            previous: None,
            out: VecDeque::new(),
        }
    }

    pub(crate) fn push_item(&mut self, index: u64, item: T) {
        self.waiting.push_back((index, item));
    }

    pub(crate) fn push_knot(&mut self, position: u64, value: f32) {
        while self.waiting.front().is_some_and(|(i, _)| *i <= position) {
            let (i, item) = self.waiting.pop_front().expect("front exists");
            let level = match self.previous {
                Some((p, pv)) if !pv.is_nan() && !value.is_nan() && position > p => {
                    let t = (i.saturating_sub(p)) as f32 / (position - p) as f32;
                    pv + (value - pv) * t
                }
                Some((_, pv)) if value.is_nan() => pv,
                _ => value,
            };
            self.out.push_back((item, level));
        }
        self.previous = Some((position, value));
    }

    pub(crate) fn pop(&mut self) -> Option<(T, f32)> {
        self.out.pop_front()
    }
}
