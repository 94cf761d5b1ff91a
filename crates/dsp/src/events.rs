//! Accelerations and decelerations: excursions of the FHR from its baseline.
//!
//! Definitions (clinical.md §1.4–1.5): an acceleration is an abrupt rise of ≥ 15 bpm above the
//! baseline lasting ≥ 15 s (NICHD 2008, JSOG, FIGO 2015; 10 bpm × 10 s before 32 weeks); a
//! deceleration a fall of ≥ 15 bpm lasting ≥ 15 s (NICHD 2008; FIGO 2015).
//!
//! Detection, per sample and in order: an excursion starts where the FHR leaves the baseline
//! by more than `start_bpm` and is extended back to where it last was within `edge_bpm` of the
//! baseline; it ends where it comes back within `edge_bpm`, or at a gap in the signal longer than
//! `max_gap`. It counts when its extreme reaches `min_amplitude` and it lasted `min_duration`.
//! Typing (early / late / variable / prolonged) needs contractions and is in
//! [`crate::classify`].

use std::collections::VecDeque;

/// The longest an excursion lasts before it is closed, samples (10 minutes at 4 Hz): an
/// acceleration or deceleration of 10 minutes or more is a change of baseline (NICHD 2008),
/// so one still under way then is closed there and what follows starts afresh. It bounds how
/// long a finding, and the 10-minute window it lies in, can wait for an excursion to end, so
/// the window is classified from samples still held. With the default baseline, which follows
/// a sustained level within about 5 minutes, it is never reached on the shared data (the
/// longest deceleration found there lasts 8.1 minutes).
pub(crate) const MAX_EXCURSION_SAMPLES: u64 = 2400;

/// Excursion thresholds for one direction.
#[derive(Clone, Debug, PartialEq)]
pub struct ExcursionConfig {
    /// Leaving the baseline by more than this starts a candidate, bpm.
    pub start_bpm: f32,
    /// Within this of the baseline counts as "at the baseline" for the edges, bpm.
    pub edge_bpm: f32,
    /// Least extreme distance from the baseline, bpm.
    pub min_amplitude: f32,
    /// Least duration, samples.
    pub min_duration: u64,
    /// Least time spent beyond `min_amplitude`, samples.
    pub min_time_beyond: u64,
    /// Longest signal gap inside an excursion, samples.
    pub max_gap: u64,
    /// An excursion that recovers by this much from its extreme and then departs again by as
    /// much is two excursions, split at the recovery, bpm (0: never split).
    pub split_bpm: f32,
}

impl ExcursionConfig {
    /// NICHD/FIGO at ≥ 32 weeks: 15 bpm for 15 s.
    pub fn standard() -> Self {
        Self {
            start_bpm: 5.0,
            edge_bpm: 0.0,
            min_amplitude: 15.0,
            min_duration: 60,
            min_time_beyond: 60,
            max_gap: 40,
            split_bpm: 0.0,
        }
    }
}

/// An excursion from the baseline, in sample indices.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Excursion {
    /// +1 for an acceleration, −1 for a deceleration.
    pub direction: i8,
    /// First sample.
    pub start: u64,
    /// One past the last sample.
    pub end: u64,
    /// Sample of the extreme (peak of an acceleration, nadir of a deceleration).
    pub extreme_at: u64,
    /// FHR at the extreme, bpm.
    pub extreme_bpm: f32,
    /// Distance of the extreme from the baseline, bpm (positive).
    pub amplitude: f32,
    /// Baseline at the extreme, bpm.
    pub baseline_bpm: f32,
    /// Samples spent at or beyond `min_amplitude`.
    pub time_beyond: u64,
}

#[derive(Clone, Copy, Debug)]
struct Candidate {
    start: u64,
    last_valid: u64,
    extreme_at: u64,
    extreme_bpm: f32,
    amplitude: f32,
    baseline_bpm: f32,
    time_beyond: u64,
    /// The closest approach to the baseline since the extreme: (index, distance).
    recovery: Option<(u64, f32)>,
}

impl Candidate {
    /// A candidate starting at `start` whose first departing sample is `index`.
    fn new(start: u64, index: u64, fhr: f32, distance: f32, baseline: f32, beyond: bool) -> Self {
        Self {
            start,
            last_valid: index,
            extreme_at: index,
            extreme_bpm: fhr,
            amplitude: distance,
            baseline_bpm: baseline,
            time_beyond: u64::from(beyond),
            recovery: None,
        }
    }
}

/// One direction's detector.
#[derive(Debug)]
pub(crate) struct ExcursionDetector {
    direction: i8,
    config: ExcursionConfig,
    /// The last sample at the baseline (within `edge_bpm`).
    anchor: Option<u64>,
    candidate: Option<Candidate>,
    out: VecDeque<Excursion>,
    /// The longest an excursion lasts before it is closed, samples.
    max_len: u64,
}

impl ExcursionDetector {
    pub(crate) fn new(direction: i8, config: ExcursionConfig) -> Self {
        Self::with_max_len(direction, config, MAX_EXCURSION_SAMPLES)
    }

    /// A detector whose excursions are closed at `max_len` samples (for a signal at another
    /// rate than 4 Hz).
    pub(crate) fn with_max_len(direction: i8, config: ExcursionConfig, max_len: u64) -> Self {
        Self {
            direction,
            config,
            anchor: None,
            candidate: None,
            out: VecDeque::new(),
            max_len,
        }
    }

    pub(crate) fn pop(&mut self) -> Option<Excursion> {
        self.out.pop_front()
    }

    /// New criteria from the next sample on (an excursion under way has its time beyond
    /// counted by the old amplitude so far and is judged by the new criteria when it closes).
    pub(crate) fn set_config(&mut self, config: ExcursionConfig) {
        self.config = config;
    }

    /// The excursion under way, if it already qualifies (a provisional finding).
    pub(crate) fn ongoing(&self, now: u64) -> Option<Excursion> {
        let c = self.candidate?;
        let e = self.excursion(&c, now);
        self.qualifies(&e).then_some(e)
    }

    /// The earliest start any excursion not yet closed can have, given that samples up to
    /// `now` (exclusive) have been pushed: the start of the one under way, or where one that
    /// begins with the next sample would be extended back to (the last sample at the baseline,
    /// if within `max_gap`).
    pub(crate) fn earliest_open_start(&self, now: u64) -> u64 {
        if let Some(c) = self.candidate {
            return c.start;
        }
        match self.anchor {
            Some(a) if now.saturating_sub(a) <= self.config.max_gap + 1 => a + 1,
            _ => now,
        }
    }

    /// Feeds one sample: the FHR (NaN for none) and the baseline. The definition
    /// [`Self::push_run`] is tested against (the analysis feeds runs).
    #[cfg(test)]
    pub(crate) fn push(&mut self, index: u64, fhr: f32, baseline: f32) {
        if self.candidate.is_none() {
            if fhr.is_nan() || baseline.is_nan() {
                return;
            }
            let distance = f32::from(self.direction) * (fhr - baseline);
            if distance <= self.config.edge_bpm {
                self.anchor = Some(index);
                return;
            }
            if distance <= self.config.start_bpm {
                return;
            }
        }
        self.push_under_way(index, fhr, baseline);
    }

    /// Feeds the samples `first..first + fhr.len()` (the FHR, NaN for none, and the baseline),
    /// exactly as one at a time: the samples near the baseline between excursions (most of a
    /// trace) in one loop, an excursion under way in [`Self::under_way_run`] (never split) or
    /// [`Self::push_under_way`].
    #[inline]
    pub(crate) fn push_run(&mut self, first: u64, fhr: &[f32], baseline: &[f32]) {
        let n = fhr.len().min(baseline.len());
        let (direction, edge, start) = (
            f32::from(self.direction),
            self.config.edge_bpm,
            self.config.start_bpm,
        );
        let mut k = 0;
        while k < n {
            if self.candidate.is_none() {
                let mut anchor = self.anchor;
                while k < n {
                    let (f, b) = (fhr[k], baseline[k]);
                    if !f.is_nan() && !b.is_nan() {
                        let distance = direction * (f - b);
                        if distance <= edge {
                            anchor = Some(first + k as u64);
                        } else if distance > start {
                            break;
                        }
                    }
                    k += 1;
                }
                self.anchor = anchor;
                if k == n {
                    return;
                }
            }
            if self.config.split_bpm == 0.0 {
                k = self.under_way_run(first, k, fhr, baseline);
            } else {
                self.push_under_way(first + k as u64, fhr[k], baseline[k]);
                k += 1;
            }
        }
    }

    /// [`Self::push_under_way`] over `fhr[k..]` while an excursion is under way and never
    /// split (`split_bpm` 0, where the closest approach after the extreme is never read),
    /// with the candidate in locals; returns where it stopped: after the sample that closed
    /// the excursion, at the end of the run, or at a sample that starts one.
    #[inline(never)]
    fn under_way_run(&mut self, first: u64, mut k: usize, fhr: &[f32], baseline: &[f32]) -> usize {
        let n = fhr.len().min(baseline.len());
        let Some(mut c) = self.candidate else {
            // One starts with this sample (or none does).
            self.push_under_way(first + k as u64, fhr[k], baseline[k]);
            return k + 1;
        };
        let direction = f32::from(self.direction);
        let (edge, min_amplitude, max_gap, max_len) = (
            self.config.edge_bpm,
            self.config.min_amplitude,
            self.config.max_gap,
            self.max_len,
        );
        while k < n {
            let index = first + k as u64;
            let (f, b) = (fhr[k], baseline[k]);
            k += 1;
            if f.is_nan() || b.is_nan() {
                if index - c.last_valid > max_gap {
                    self.candidate = Some(c);
                    self.close(c.last_valid + 1);
                    return k;
                }
                continue;
            }
            let distance = direction * (f - b);
            if distance <= edge {
                self.candidate = Some(c);
                self.close(index);
                self.anchor = Some(index);
                return k;
            }
            c.last_valid = index;
            if distance > c.amplitude {
                c.amplitude = distance;
                c.extreme_at = index;
                c.extreme_bpm = f;
                c.baseline_bpm = b;
            }
            if distance >= min_amplitude {
                c.time_beyond += 1;
            }
            if index + 1 - c.start >= max_len {
                self.candidate = Some(c);
                self.close_at_longest(index);
                return k;
            }
        }
        self.candidate = Some(c);
        k
    }

    /// [`Self::push`] with an excursion under way, or one starting with this sample.
    #[inline(never)]
    fn push_under_way(&mut self, index: u64, fhr: f32, baseline: f32) {
        if fhr.is_nan() || baseline.is_nan() {
            if let Some(c) = self.candidate
                && index - c.last_valid > self.config.max_gap
            {
                self.close(c.last_valid + 1);
            }
            return;
        }
        let distance = f32::from(self.direction) * (fhr - baseline);
        if distance <= self.config.edge_bpm {
            if self.candidate.is_some() {
                self.close(index);
            }
            self.anchor = Some(index);
            return;
        }
        match self.candidate.as_mut() {
            None => {
                if distance > self.config.start_bpm {
                    let start = match self.anchor {
                        Some(a) if index - a <= self.config.max_gap + 1 => a + 1,
                        _ => index,
                    };
                    let beyond = distance >= self.config.min_amplitude;
                    self.candidate = Some(Candidate::new(
                        start, index, fhr, distance, baseline, beyond,
                    ));
                }
            }
            Some(c) => {
                c.last_valid = index;
                let split = self.config.split_bpm;
                if let Some((at, closest)) = c.recovery
                    && split > 0.0
                    && c.amplitude - closest >= split
                    && distance - closest >= split
                {
                    // Recovered and departed again: close the first excursion at the recovery
                    // and start the next from there.
                    self.close(at + 1);
                    let beyond = distance >= self.config.min_amplitude;
                    self.candidate =
                        Some(Candidate::new(at, index, fhr, distance, baseline, beyond));
                    return;
                }
                if distance > c.amplitude {
                    c.recovery = None;
                    c.amplitude = distance;
                    c.extreme_at = index;
                    c.extreme_bpm = fhr;
                    c.baseline_bpm = baseline;
                } else if c.recovery.is_none_or(|(_, closest)| distance < closest) {
                    c.recovery = Some((index, distance));
                }
                if distance >= self.config.min_amplitude {
                    c.time_beyond += 1;
                }
                if index + 1 - c.start >= self.max_len {
                    self.close_at_longest(index);
                }
            }
        }
    }

    /// Closes the excursion under way at its longest (`max_len`, with sample
    /// `index` its last); what follows starts afresh with the next sample.
    #[cold]
    #[inline(never)]
    fn close_at_longest(&mut self, index: u64) {
        self.close(index + 1);
        self.anchor = Some(index);
    }

    /// Ends the stream.
    pub(crate) fn finish(&mut self) {
        if let Some(c) = self.candidate {
            self.close(c.last_valid + 1);
        }
    }

    fn excursion(&self, c: &Candidate, end: u64) -> Excursion {
        Excursion {
            direction: self.direction,
            start: c.start,
            end,
            extreme_at: c.extreme_at,
            extreme_bpm: c.extreme_bpm,
            amplitude: c.amplitude,
            baseline_bpm: c.baseline_bpm,
            time_beyond: c.time_beyond,
        }
    }

    fn qualifies(&self, e: &Excursion) -> bool {
        e.amplitude >= self.config.min_amplitude
            && e.end - e.start >= self.config.min_duration
            && e.time_beyond >= self.config.min_time_beyond
    }

    fn close(&mut self, end: u64) {
        if let Some(c) = self.candidate.take() {
            let e = self.excursion(&c, end);
            if self.qualifies(&e) {
                self.out.push_back(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs of any length give the excursions, and the state between runs, that one sample at
    /// a time gives: for the FHR's unsplit detectors and the contractions' splitting one, over
    /// traces with excursions, gaps and long dips.
    #[test]
    fn runs_detect_what_single_samples_detect() {
        let mut seed = 5u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as u32
        };
        let split = ExcursionConfig {
            split_bpm: 30.0,
            ..ExcursionConfig::standard()
        };
        for round in 0..200 {
            let n = 4000;
            let (mut fhr, mut baseline) = (Vec::with_capacity(n), Vec::with_capacity(n));
            let mut level = 0.0f32;
            for i in 0..n {
                if next() % 80 == 0 {
                    level = (next() % 90) as f32 - 45.0;
                }
                let noise = (next() % 17) as f32 - 8.0;
                fhr.push(if next() % 25 == 0 {
                    f32::NAN
                } else {
                    140.0 + level + noise
                });
                baseline.push(if i < 30 { f32::NAN } else { 140.0 });
            }
            for (direction, config) in [
                (1, ExcursionConfig::standard()),
                (-1, ExcursionConfig::standard()),
                (1, split.clone()),
            ] {
                let mut one = ExcursionDetector::new(direction, config.clone());
                let mut runs = ExcursionDetector::new(direction, config);
                let (mut by_one, mut by_runs) = (Vec::new(), Vec::new());
                let mut at = 0;
                while at < n {
                    let len = (1 + next() as usize % 300).min(n - at);
                    for i in at..at + len {
                        one.push(i as u64, fhr[i], baseline[i]);
                    }
                    runs.push_run(at as u64, &fhr[at..at + len], &baseline[at..at + len]);
                    at += len;
                    assert_eq!(
                        one.ongoing(at as u64),
                        runs.ongoing(at as u64),
                        "round {round}"
                    );
                    assert_eq!(
                        one.earliest_open_start(at as u64),
                        runs.earliest_open_start(at as u64)
                    );
                    by_one.extend(std::iter::from_fn(|| one.pop()));
                    by_runs.extend(std::iter::from_fn(|| runs.pop()));
                }
                one.finish();
                runs.finish();
                by_one.extend(std::iter::from_fn(|| one.pop()));
                by_runs.extend(std::iter::from_fn(|| runs.pop()));
                assert!(!by_one.is_empty());
                assert_eq!(by_one, by_runs, "round {round}, direction {direction}");
            }
        }
    }

    #[test]
    fn an_excursion_is_closed_at_10_minutes_and_what_follows_starts_afresh() {
        let mut detector = ExcursionDetector::new(-1, ExcursionConfig::standard());
        // A minute at the baseline, then 15 minutes 40 bpm below it, then back.
        let fhr = |i: u64| {
            if (240..240 + 3600).contains(&i) {
                100.0
            } else {
                140.0
            }
        };
        let mut closed = Vec::new();
        for i in 0..240 + 3600 + 240 {
            detector.push(i, fhr(i), 140.0);
            while let Some(e) = detector.pop() {
                closed.push(e);
            }
            if let Some(e) = detector.ongoing(i + 1) {
                assert!(e.end - e.start <= MAX_EXCURSION_SAMPLES, "{e:?} at {i}");
            }
        }
        let spans: Vec<_> = closed.iter().map(|e| (e.start, e.end)).collect();
        assert_eq!(spans, [(240, 240 + 2400), (240 + 2400, 240 + 3600)]);
        assert!(closed.iter().all(|e| e.amplitude == 40.0));
    }
}
