//! A sliding histogram with unit-wide bins, for robust window statistics (mode, trimmed mean,
//! quantiles) at O(1) cost per sample added or removed.

#[derive(Clone, Debug)]
pub(crate) struct Histogram {
    low: f32,
    counts: Vec<u32>,
    /// Per-bin sums, kept only for [`Histogram::mean_near`] (empty otherwise).
    sums: Vec<f64>,
    total: u32,
    total_sum: f64,
    /// Scratch for the mode search.
    scratch: Vec<u64>,
}

impl Histogram {
    /// Bins `[low + k, low + k + 1)` for `k in 0..bins`; values outside are ignored.
    pub(crate) fn new(low: f32, bins: usize) -> Self {
        Self {
            low,
            counts: vec![0; bins],
            sums: Vec::new(),
            total: 0,
            total_sum: 0.0,
            scratch: Vec::new(),
        }
    }

    /// A histogram of heart rates, 30–240 bpm.
    pub(crate) fn heart_rate() -> Self {
        Self::new(30.0, 211)
    }

    /// Also keeps per-bin sums and a scratch buffer, for [`Histogram::smoothed_mode`] and
    /// [`Histogram::mean_near`] (the other histograms need neither).
    pub(crate) fn for_mode(mut self) -> Self {
        self.sums = vec![0.0; self.counts.len()];
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

    pub(crate) fn add(&mut self, value: f32) {
        if let Some(b) = self.bin(value) {
            self.counts[b] += 1;
            if let Some(sum) = self.sums.get_mut(b) {
                *sum += f64::from(value);
            }
            self.total += 1;
            self.total_sum += f64::from(value);
        }
    }

    pub(crate) fn remove(&mut self, value: f32) {
        if let Some(b) = self.bin(value) {
            self.counts[b] -= 1;
            if let Some(sum) = self.sums.get_mut(b) {
                *sum -= f64::from(value);
            }
            self.total -= 1;
            self.total_sum -= f64::from(value);
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
        // Box sums: box[j] = counts[j] + … + counts[j + radius] (clipped at the top).
        let mut running = 0u64;
        for j in (0..bins).rev() {
            running += u64::from(self.counts[j]);
            if j + width < bins {
                running -= u64::from(self.counts[j + width]);
            }
            self.scratch[j] = running;
        }
        // Triangle at centre c: box[c − radius] + … + box[c] (clipped at the bottom).
        let mut best = (0u64, 0usize);
        let mut running = 0u64;
        for c in 0..bins {
            running += self.scratch[c];
            if c >= width {
                running -= self.scratch[c - width];
            }
            if running > best.0 {
                best = (running, c);
            }
        }
        Some(self.low + best.1 as f32 + 0.5)
    }

    /// Mean of the values within ±`half_width` bpm of `centre` (whole bins), with its count.
    /// Needs [`Histogram::for_mode`].
    pub(crate) fn mean_near(&self, centre: f32, half_width: f32) -> Option<(f32, u32)> {
        debug_assert_eq!(
            self.sums.len(),
            self.counts.len(),
            "built without `for_mode`"
        );
        let bins = self.counts.len();
        let top = self.low + bins as f32 - 0.5;
        let lo = self.bin((centre - half_width).max(self.low)).unwrap_or(0);
        let hi = self.bin((centre + half_width).min(top)).unwrap_or(bins - 1);
        let (mut n, mut sum) = (0u32, 0.0f64);
        for b in lo..=hi {
            n += self.counts[b];
            sum += self.sums[b];
        }
        (n > 0).then(|| ((sum / f64::from(n)) as f32, n))
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

    /// Mean of every value held.
    pub(crate) fn mean(&self) -> Option<f32> {
        (self.total > 0).then(|| (self.total_sum / f64::from(self.total)) as f32)
    }
}
