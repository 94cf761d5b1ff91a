//! A sliding histogram with unit-wide bins, for robust window statistics (mode, trimmed mean,
//! quantiles) at O(1) cost per sample added or removed.
//!
//! Values go in and out as 16-bit **codes** ([`Histogram::code`]), which the sliding windows
//! store instead of the values: a heart rate's code is its value in quarter bpm (monitors
//! report heart rates in quarter bpm, so this is exact and the bin follows by a shift), any
//! other value's is its bin number + 1. Code 0 is "nothing" (no signal, or outside the bins).
//! Sums are kept in whole quarter bpm, so they are exact, as the `f64` sums before were.

#[derive(Clone, Debug)]
pub(crate) struct Histogram {
    low: f32,
    /// `Some(low in quarter bpm)`: codes are values in quarter bpm; `None`: bin number + 1.
    quarter_low: Option<u16>,
    counts: Vec<u32>,
    /// Per-bin sums in quarter bpm, kept only for [`Histogram::mean_near`] (empty otherwise).
    sums: Vec<i64>,
    total: u32,
    /// Sum of the values held, in quarter bpm (heart-rate codes only).
    total_sum: i64,
    /// Scratch for the mode search.
    scratch: Vec<u64>,
    /// While values are held: no bin below `occupied.0` or above `occupied.1` holds any (kept
    /// as values come in; a search narrows them to the bins actually occupied).
    occupied: (usize, usize),
}

impl Histogram {
    /// Bins `[low + k, low + k + 1)` for `k in 0..bins`; values outside are ignored.
    pub(crate) fn new(low: f32, bins: usize) -> Self {
        Self {
            low,
            quarter_low: None,
            counts: vec![0; bins],
            sums: Vec::new(),
            total: 0,
            total_sum: 0,
            scratch: Vec::new(),
            occupied: (usize::MAX, 0),
        }
    }

    /// A histogram of heart rates, 30–240 bpm, coded in quarter bpm.
    pub(crate) fn heart_rate() -> Self {
        Self {
            quarter_low: Some(30 * 4),
            ..Self::new(30.0, 211)
        }
    }

    /// Also keeps per-bin sums and a scratch buffer, for [`Histogram::smoothed_mode`] and
    /// [`Histogram::mean_near`] (the other histograms need neither).
    pub(crate) fn for_mode(mut self) -> Self {
        self.sums = vec![0; self.counts.len()];
        self.scratch = vec![0; self.counts.len()];
        self
    }

    fn bin(&self, value: f32) -> Option<usize> {
        let offset = value - self.low;
        // Truncation equals floor for offset ≥ 0 (and avoids a libm call per sample).
        if offset.is_nan() || offset < 0.0 {
            return None;
        }
        let b = offset as usize;
        (b < self.counts.len()).then_some(b)
    }

    /// The code [`Histogram::add`] and [`Histogram::remove`] take for `value` (NaN: none).
    #[inline]
    pub(crate) fn code(&self, value: f32) -> u16 {
        match self.quarter_low {
            Some(_) => {
                if value.is_nan() {
                    return 0;
                }
                let quarters = (value * 4.0) as u16;
                debug_assert!(
                    value > 16_383.0 || f32::from(quarters) / 4.0 == value,
                    "{value} is not in quarter bpm"
                );
                quarters
            }
            None => self.bin(value).map_or(0, |b| b as u16 + 1),
        }
    }

    #[inline]
    fn bin_of(&self, code: u16) -> Option<usize> {
        match self.quarter_low {
            Some(low) => {
                let b = usize::from(code.checked_sub(low)? >> 2);
                (code != 0 && b < self.counts.len()).then_some(b)
            }
            None => code.checked_sub(1).map(usize::from),
        }
    }

    #[inline]
    pub(crate) fn add(&mut self, code: u16) {
        if let Some(b) = self.bin_of(code) {
            if self.total == 0 {
                self.occupied = (b, b);
            } else {
                self.occupied = (self.occupied.0.min(b), self.occupied.1.max(b));
            }
            self.counts[b] += 1;
            if let Some(sum) = self.sums.get_mut(b) {
                *sum += i64::from(code);
            }
            self.total += 1;
            self.total_sum += i64::from(code);
        }
    }

    #[inline]
    pub(crate) fn remove(&mut self, code: u16) {
        if let Some(b) = self.bin_of(code) {
            self.counts[b] -= 1;
            if let Some(sum) = self.sums.get_mut(b) {
                *sum -= i64::from(code);
            }
            self.total -= 1;
            self.total_sum -= i64::from(code);
        }
    }

    pub(crate) fn total(&self) -> u32 {
        self.total
    }

    /// The centre of the densest region: the bin maximising a triangular kernel sum of
    /// half-width `radius` bins (weights `radius + 1 − |d|`), computed as two sliding box sums
    /// of width `radius + 1` (a triangle is the convolution of two boxes).
    pub(crate) fn smoothed_mode(&mut self, radius: usize) -> Option<f32> {
        debug_assert_eq!(
            self.scratch.len(),
            self.counts.len(),
            "built without `for_mode`"
        );
        if self.total == 0 {
            return None;
        }
        let bins = self.counts.len();
        let width = radius + 1;
        // Only centres within `radius` of an occupied bin can have a positive sum, and the
        // first maximum is one of them: the scan covers `from..=to` (about a third of the bins
        // for a heart rate), and bins outside it count as empty.
        let (mut lo, mut hi) = self.occupied;
        while self.counts[lo] == 0 {
            lo += 1;
        }
        while self.counts[hi] == 0 {
            hi -= 1;
        }
        self.occupied = (lo, hi);
        let from = lo.saturating_sub(radius);
        let to = (hi + radius).min(bins - 1);
        let counts = &self.counts[from..=to];
        let boxes = &mut self.scratch[from..=to];
        // Box sums: box[j] = counts[j] + … + counts[j + radius] (clipped at the top).
        let mut running = 0u64;
        for j in (0..counts.len()).rev() {
            running += u64::from(counts[j]);
            if let Some(&leaving) = counts.get(j + width) {
                running -= u64::from(leaving);
            }
            boxes[j] = running;
        }
        // Triangle at centre c: box[c − radius] + … + box[c] (clipped at the bottom).
        let mut best = (0u64, 0usize);
        let mut running = 0u64;
        for c in 0..boxes.len() {
            running += boxes[c];
            if let Some(leaving) = c.checked_sub(width) {
                running -= boxes[leaving];
            }
            if running > best.0 {
                best = (running, c);
            }
        }
        Some(self.low + (from + best.1) as f32 + 0.5)
    }

    /// Mean of the values within ±`half_width` bpm of `centre` (whole bins), with its count.
    /// Needs [`Histogram::for_mode`].
    pub(crate) fn mean_near(&self, centre: f32, half_width: f32) -> Option<(f32, u32)> {
        debug_assert_eq!(
            self.sums.len(),
            self.counts.len(),
            "built without `for_mode`"
        );
        debug_assert!(self.quarter_low.is_some(), "sums need quarter-bpm codes");
        let bins = self.counts.len();
        let top = self.low + bins as f32 - 0.5;
        let lo = self.bin((centre - half_width).max(self.low)).unwrap_or(0);
        let hi = self.bin((centre + half_width).min(top)).unwrap_or(bins - 1);
        let (mut n, mut quarters) = (0u32, 0i64);
        for b in lo..=hi {
            n += self.counts[b];
            quarters += self.sums[b];
        }
        // Exact: the sum of the values is a whole number of quarters.
        (n > 0).then(|| ((quarters as f64 / 4.0 / f64::from(n)) as f32, n))
    }

    /// The value below which `fraction` of the values lie (bin resolution).
    pub(crate) fn quantile(&self, fraction: f32) -> Option<f32> {
        if self.total == 0 {
            return None;
        }
        let target = (fraction * self.total as f32).ceil().max(1.0) as u32;
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return Some(self.low + b as f32 + 0.5);
            }
        }
        None
    }

    /// Mean of every value held (heart-rate histograms only).
    pub(crate) fn mean(&self) -> Option<f32> {
        debug_assert!(self.quarter_low.is_some(), "sums need quarter-bpm codes");
        (self.total > 0).then(|| (self.total_sum as f64 / 4.0 / f64::from(self.total)) as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bin a code selects is the bin of the value it stands for, for every quarter-bpm heart
    /// rate a monitor can report and for toco-like values, and code 0 is nothing.
    #[test]
    fn codes_select_the_bins_of_their_values() {
        let hr = Histogram::heart_rate();
        for quarters in 0..=u16::MAX {
            let value = f32::from(quarters) / 4.0;
            let code = hr.code(if quarters == 0 { f32::NAN } else { value });
            let expected = if quarters == 0 { None } else { hr.bin(value) };
            assert_eq!(hr.bin_of(code), expected, "{value} bpm");
        }
        let toco = Histogram::new(0.0, 256);
        for value in [-1.0, 0.0, 0.49, 17.3, 99.999, 255.9, 256.0, 1e6, f32::NAN] {
            assert_eq!(toco.bin_of(toco.code(value)), toco.bin(value), "{value}");
        }
    }

    /// The smoothed mode is the first bin with the largest kernel sum, computed directly here
    /// from its definition, over histograms with values spread anywhere (the edges included).
    #[test]
    fn the_smoothed_mode_is_the_first_maximum_of_the_kernel_sum() {
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize
        };
        for round in 0..500 {
            let mut h = Histogram::heart_rate().for_mode();
            let bins = h.counts.len();
            let (centre, spread) = (next() % bins, 1 + next() % 40);
            for _ in 0..1 + next() % 300 {
                let b = (centre + next() % (2 * spread))
                    .saturating_sub(spread)
                    .min(bins - 1);
                h.add(h.code(30.0 + b as f32 + 0.25));
            }
            let radius = 1 + round % 4;
            // As defined: box sums clipped at the top, triangles of them clipped at the bottom.
            let boxed = |j: usize| -> u64 {
                (j..=(j + radius).min(bins - 1))
                    .map(|m| u64::from(h.counts[m]))
                    .sum()
            };
            let kernel = |c: usize| -> u64 { (c.saturating_sub(radius)..=c).map(boxed).sum() };
            let sums: Vec<u64> = (0..bins).map(kernel).collect();
            let best = *sums.iter().max().unwrap();
            let first = sums.iter().position(|&v| v == best).unwrap();
            assert_eq!(
                h.smoothed_mode(radius),
                Some(30.0 + first as f32 + 0.5),
                "round {round}"
            );
        }
        assert_eq!(Histogram::heart_rate().for_mode().smoothed_mode(3), None);
    }

    /// Sums kept in quarter bpm give the mean of the values held, after values leave too.
    #[test]
    fn means_follow_values_in_and_out() {
        let mut h = Histogram::heart_rate().for_mode();
        let values = [140.25, 141.0, 139.75, 150.5, 20.0, 141.25];
        for v in values {
            h.add(h.code(v));
        }
        // 20 bpm lies below the bins and is ignored.
        let inside: [f32; 5] = [140.25, 141.0, 139.75, 150.5, 141.25];
        let mean = inside.iter().map(|&v| f64::from(v)).sum::<f64>() / 5.0;
        assert_eq!(h.total(), 5);
        assert_eq!(h.mean(), Some(mean as f32));
        h.remove(h.code(150.5));
        let (near, n) = h.mean_near(140.5, 2.0).expect("values near 140.5");
        assert_eq!(n, 4);
        assert_eq!(near, ((140.25 + 141.0 + 139.75 + 141.25) / 4.0) as f32);
        assert_eq!(h.mean(), Some(near));
    }
}
