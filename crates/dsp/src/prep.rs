//! Signal preparation: the fetal heart rate the analysis may trust, and why the rest is not.
//!
//! Per sample, in order, with a bounded delay:
//! 1. **Fetal value**: the configured fetal channel, or its fallback where the primary is 0
//!    (FHRMA recordings carry the same fetus on FHR1 and FHR2; twins never use a fallback).
//! 2. **Range**: values outside 50–220 bpm are artefact (FHRMA preprocessing, clinical.md §1.0).
//! 3. **Maternal coincidence** (Doppler only): where the MHR channel has a signal and the fetal
//!    value lies within `coincidence_bpm` of it for most of a 40-s window, the "fetal" value is
//!    the mother's heart (clinical.md §4.4: 72 % of last-hour tracings show MHR–FHR ambiguity;
//!    vendors' coincidence detection works the same way).
//! 4. **Islands**: a run of valid values shorter than 5 s is artefact; one shorter than 30 s that
//!    jumps by more than 25 bpm on both edges is artefact (FHRMA preprocessing, §1.0), unless
//!    the fetal channel is a scalp electrode (every value is a measured beat interval), and
//!    except samples that turn out to lie near the baseline
//!    ([`PrepConfig::island_on_baseline_bpm`]).
//! 5. **Halving**: a stretch that starts with a step from a normal rate (110–170 bpm) to about
//!    half of it (× 0.42–0.58, from one value to the next within 2 s) and ends, within a
//!    minute, with a step back up by about as much (× 1.72–2.38) is the monitor counting every
//!    other beat: artefact. No guideline or source in clinical.md defines halving; the
//!    thresholds are ours, checked against the FHRMA-FS expert labels. A deceleration falls and
//!    recovers over seconds, not from one value to the next by half. See
//!    [`PrepConfig::halving_max_len`].
//! 6. **Maternal continuity**: a stretch that runs on without a break from one that coincided
//!    with the mother, where the MHR channel has no signal, is the mother's too (both ways; it
//!    holds up to 2 minutes back). See [`PrepConfig::continuity_hold`].
//!
//! The MHR channel's own values outside the plausible maternal range (50–180 bpm) are false
//! signal on MHR (a halved or doubled rate, or the fetal heart on the maternal sensor), and no
//! MHR signal for rules 3 and 6.
//!
//! Not done, measured: doubling (the mirror of rule 5 from a low rate flags 572 samples the
//! FHRMA-FS experts call true against 3,639 false: a stretch at twice a low rate is as often
//! the fetal heart caught again after a halved or maternal one), and level-based detection
//! (maternal capture without an MHR channel), which cut real decelerations entered through
//! signal loss (BENCHMARKS.md, analysis accuracy).

use crate::ring::IndexRing;

/// Why a fetal sample is not trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FalseKind {
    /// Trusted (or no signal at all).
    #[default]
    None,
    /// The mother's heart rate recorded as fetal.
    Maternal,
    /// Out of range, isolated, or jumping: not a heart rate.
    Artefact,
}

/// Thresholds of the preparation stage.
#[derive(Clone, Debug, PartialEq)]
pub struct PrepConfig {
    /// Lowest plausible FHR, bpm.
    pub min_bpm: f32,
    /// Highest plausible FHR, bpm.
    pub max_bpm: f32,
    /// Lowest plausible maternal heart rate, bpm. Below it the MHR channel is not the mother's
    /// heart (a halved rate, or noise): reported as false signal on MHR, and no MHR signal for
    /// the maternal rules (3, 5). The FHRMA-FS experts call 94 % of the MHR values below 50
    /// false; 50 scored best on the development files (`mimamori eval`, MHR false-signal
    /// accuracy 0.975; 45 and 55: 0.969).
    pub mhr_min_bpm: f32,
    /// Highest plausible maternal heart rate, bpm: above it the MHR channel is a doubled rate
    /// or the fetal heart picked up by the maternal sensor (the FHRMA-FS experts call 99.6 % of
    /// the MHR values above 180 false, and many from 150 on; a labouring mother's rate reaches
    /// 150–170 when she pushes, which they call true). Same use as `mhr_min_bpm`. On the
    /// development files 170 scored 0.976 on MHR against 0.975, but 0.9409 on the fetal channel
    /// against 0.9415 (a maternal rate of 170–180 still tells the mother's heart on FHR); 160
    /// and 200 scored lower on both.
    pub mhr_max_bpm: f32,
    /// |FHR − MHR| at or below which a sample coincides with the mother, bpm.
    pub coincidence_bpm: f32,
    /// Share of coinciding samples (of those with both signals) in the coincidence window that marks
    /// a sample maternal.
    pub coincidence_share: f32,
    /// Islands shorter than this are artefact, samples.
    pub min_island: usize,
    /// Islands shorter than this are artefact when both edges jump, samples.
    pub jump_island: usize,
    /// Edge jump that marks an island suspect, bpm.
    pub jump_bpm: f32,
    /// How far (samples) across a gap an edge looks for its neighbour.
    pub edge_reach: usize,
    /// The fetal channel is a direct fetal ECG (scalp electrode), not Doppler ultrasound: the
    /// maternal-coincidence and island rules are off (on the FHRMA-FS scalp recordings the
    /// island rule flagged 11,800 samples the experts call true against 1,000 false). A scalp electrode records the fetal heart itself, so a
    /// fetal rate that meets the mother's is a real crossing (it records the mother only when
    /// the fetus has died, which no rate rule can tell). On the FHRMA-FS scalp recordings with
    /// an MHR channel the rule flagged 31,900 samples the experts call true against 3,500 they
    /// call false (`mimamori eval`: fetal false-signal accuracy 0.914 → 0.921).
    pub direct_ecg: bool,
    /// An island sample (rule 4) within this of the baseline is trusted after all, bpm (0:
    /// never): a short run that agrees with the fetal baseline around it is the fetal heart
    /// caught again for a moment, not a spurious value. Applied once the baseline is known
    /// (in [`crate::Analyzer`], so false-signal findings come out with the baseline's delay).
    /// On the FHRMA-FS files the experts call about 24,000 such samples true and 7,000 false
    /// within ±10 bpm; ±15 scored best on the development files (±10–25 within 0.001:
    /// fetal false-signal accuracy 0.937 → 0.941, `mimamori eval`).
    pub island_on_baseline_bpm: f32,
    /// Rule 6 holds at most this many samples back, waiting to see whether a stretch without an
    /// MHR signal runs into one that coincides with the mother (2 minutes).
    pub continuity_hold: usize,
    /// Rule 6: a gap longer than this breaks a stretch, samples.
    pub continuity_gap: usize,
    /// Rule 5: the rates a halving steps down from, bpm (a normal fetal rate; a bradycardic
    /// one halved falls below the plausible range anyway).
    pub halving_from_bpm: (f32, f32),
    /// Rule 5: the step down, as the ratio of a value to the one before it (about ½); the step
    /// back up is its inverse.
    pub halving_ratio: (f32, f32),
    /// Rule 5: the most samples between the two values of a step (2 s).
    pub halving_max_step: usize,
    /// Rule 5: the longest halved stretch, samples (1 minute); one that does not step back up
    /// by then, or breaks off for longer than `edge_reach`, is left as it is (0: the rule is
    /// off).
    ///
    /// Measured (2026-11-25): on the raw FHRMA-FS traces (Doppler with MHR) this pattern covers
    /// 50 stretches, 1,082 samples the experts call false and none they call true; on CTU-UHB
    /// 107 stretches (21 minutes in 552 hours), 4 of them inside a deceleration the expert
    /// marked. Nearly all begin or end at a gap, so the island rule (rule 4) flags them first:
    /// after it, rule 5 changes no FHRMA-FS file and one CTU-UHB record (1037: three
    /// acceleration amplitudes by 1–2 bpm), and no `mimamori eval` figure. It is there for a
    /// monitor that halves without dropping out. Run before the island rule instead, it took
    /// away the edges the island rule judges by, and 157 false samples went unflagged.
    pub halving_max_len: usize,
    /// Half the maternal-coincidence window (rule 3), samples. A Doppler trace that crosses
    /// the mother's rate for a few seconds is fetal; one that follows it for most of ±20 s is
    /// not. ±5 s flagged many crossings; ±20 s scored best on the development files of FHRMA-FS
    /// (±10–30 s within 0.001; accuracy 0.921 → 0.926).
    pub coincidence_half: usize,
}

impl Default for PrepConfig {
    fn default() -> Self {
        Self {
            min_bpm: 50.0,
            max_bpm: 220.0,
            mhr_min_bpm: 50.0,
            mhr_max_bpm: 180.0,
            coincidence_bpm: 5.0,
            coincidence_share: 0.5,
            min_island: 20,
            jump_island: 120,
            jump_bpm: 25.0,
            edge_reach: 40,
            direct_ecg: false,
            coincidence_half: 80,
            continuity_hold: 480,
            island_on_baseline_bpm: 15.0,
            continuity_gap: 120,
            halving_from_bpm: (110.0, 170.0),
            halving_ratio: (0.42, 0.58),
            halving_max_step: 8,
            halving_max_len: 240,
        }
    }
}

/// One prepared sample (12 bytes; its index is its place in the stream).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Prepared {
    /// The fetal value as recorded, in quarter bpm as the monitor reports it (0: no signal).
    pub recorded_quarters: u16,
    /// The analysis uses the recorded value ([`Prepared::fetal`]); false where there is none
    /// or it is false signal.
    pub trusted: bool,
    /// Why the recorded value is not trusted, where there is one.
    pub false_kind: FalseKind,
    /// Maternal heart rate (NaN where none, or outside the plausible maternal range).
    pub mhr: f32,
    /// The MHR channel recorded a value outside the plausible maternal range
    /// ([`PrepConfig::mhr_min_bpm`]–[`PrepConfig::mhr_max_bpm`]): false signal on MHR.
    pub mhr_false: bool,
}

impl Prepared {
    /// The fetal value as recorded, bpm (NaN where there is no signal).
    #[inline(always)]
    pub fn recorded(&self) -> f32 {
        quarters_to_bpm(self.recorded_quarters)
    }

    /// The fetal value the analysis uses, bpm (NaN where missing or false).
    #[inline(always)]
    pub fn fetal(&self) -> f32 {
        quarters_to_bpm(self.fetal_quarters())
    }

    /// [`Prepared::fetal`] in quarter bpm (0: none).
    #[inline(always)]
    pub fn fetal_quarters(&self) -> u16 {
        if self.trusted {
            self.recorded_quarters
        } else {
            0
        }
    }

    /// The value is false signal of `kind` after all.
    #[inline(always)]
    fn mark_false(&mut self, kind: FalseKind) {
        self.trusted = false;
        self.false_kind = kind;
    }
}

/// A heart rate in quarter bpm (0: none) in bpm (NaN: none); exact.
#[inline(always)]
pub(crate) fn quarters_to_bpm(quarters: u16) -> f32 {
    if quarters == 0 {
        f32::NAN
    } else {
        f32::from(quarters) * 0.25
    }
}

/// Where the island rule stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum IslandState {
    /// Between islands; `gap` samples since the last kept valid value `last`.
    Gap { last: Option<f32>, gap: usize },
    /// Inside a short island that started after `before` (the last kept value within reach).
    Short { before: Option<f32>, len: usize },
    /// Inside an island long enough to be kept whatever its edges.
    Long,
    /// A short island ended `gap` samples ago; waiting for the next valid value to see its end
    /// edge.
    AwaitingEdge { before: Option<f32>, gap: usize },
}

/// The preparation stage.
///
/// Every sample not yet released sits once in `line`, in index order; the rules work on it in
/// place, each behind the one before it, so a sample is never copied from stage to stage:
///
/// ```text
/// first ... continuity.held_from ... continuity.next ... halving.open ... halving.next ... island_from ... decided ... end
/// |released |  held by rule 6      | not yet fed to 6  | held by rule 5 | not yet fed to 5 | held by rule 4 | awaiting rule 3
/// ```
#[derive(Debug)]
pub(crate) struct Prep {
    config: PrepConfig,
    /// The samples not yet released: indices `first..end`.
    line: IndexRing<Prepared>,
    first: u64,
    end: u64,
    /// The coincidence tallies (as in [`Prep::tally`], `both | close << 1`) of the samples
    /// pushed, from the oldest one still in a decision's window (`decided − coincidence_half`).
    codes: IndexRing<u8>,
    /// The last sample pushed with a nonzero tally: none in any window still to come means
    /// no decision can mark a sample (the commonest case: no MHR channel).
    last_tallied: Option<u64>,
    /// Samples before this one are counted in `window_tally`.
    tally_end: u64,
    /// Samples before this one have had the coincidence decision (rule 3) and gone through the
    /// island rule; from it on they await the decision (the next one is decided when its
    /// future half is here).
    decided: u64,
    /// Samples from this one up to `decided` are held by the island rule until their island
    /// is judged; the ones before it are released to rule 5.
    island_from: u64,
    /// Rule 5, fed each sample the island rule releases.
    halving: Halving,
    state: IslandState,
    /// The last value of the current long island (its end edge, once it ends).
    last_kept: Option<f32>,
    /// (samples with both signals, of them coinciding) over `decided − coincidence_half ..
    /// tally_end`: at a decision, exactly its window.
    window_tally: (u32, u32),
    /// Rule 6, fed each sample rule 5 releases.
    continuity: Continuity,
}

impl Prep {
    pub(crate) fn new(config: PrepConfig) -> Self {
        Self {
            // Right after a release the line holds the coincidence lookahead, a held island
            // with its trailing gap and rule 6's hold (the analyzer releases at least every 64
            // samples): 848 samples by default, in 1,024 slots. Rule 5's open stretch (up to
            // 280 more) fits in the slack unless it meets a long hold of rule 6; then the ring
            // doubles, once, instead of every stream paying 12 KiB for it.
            line: IndexRing::new(
                config.coincidence_half
                    + config.jump_island
                    + config.edge_reach
                    + config.continuity_hold
                    + 128,
            ),
            first: 0,
            end: 0,
            // The past half, the sample decided, its future half and a block pushed at once.
            codes: IndexRing::new(2 * config.coincidence_half + 1 + 256),
            last_tallied: None,
            tally_end: 0,
            decided: 0,
            island_from: 0,
            state: IslandState::Gap {
                last: None,
                gap: usize::MAX,
            },
            last_kept: None,
            halving: Halving {
                next: 0,
                last: (0, f32::NAN),
                open: None,
            },
            window_tally: (0, 0),
            continuity: Continuity::new(&config),
            config,
        }
    }

    /// Switches rule 3 off (direct fetal ECG) or on (Doppler) from the next decision on.
    pub(crate) fn set_direct_ecg(&mut self, direct_ecg: bool) {
        self.config.direct_ecg = direct_ecg;
        self.continuity.direct_ecg = direct_ecg;
    }

    /// Hands every sample all the rules have released, in order, to `release`: the same
    /// samples whatever the calls are interleaved with [`Prep::push`].
    #[cfg(test)]
    pub(crate) fn release_ready(&mut self, mut release: impl FnMut(u64, Prepared)) {
        self.release_runs(|first, run| {
            for (k, p) in run.iter().enumerate() {
                release(first + k as u64, *p);
            }
        });
    }

    /// [`Prep::release_ready`] a run of consecutive samples at a time:
    /// `release(first, samples)` (at most two runs a call, where the line wraps round).
    pub(crate) fn release_runs(&mut self, mut release: impl FnMut(u64, &[Prepared])) {
        let ready = self.halving_consume(self.island_from);
        self.continuity.consume(&mut self.line, ready);
        let to = self.continuity.held_from;
        let (head, tail) = self.line.runs(self.first, to);
        if !head.is_empty() {
            release(self.first, head);
        }
        if !tail.is_empty() {
            release(self.first + head.len() as u64, tail);
        }
        self.first = to;
    }

    /// Sample `index` (held in `line`).
    fn at(&mut self, index: u64) -> &mut Prepared {
        &mut self.line[index]
    }

    /// Feeds one raw sample: the fetal value in quarter bpm as the monitor reports it (0: no
    /// signal) and the maternal heart rate (NaN: none).
    #[cfg(test)]
    pub(crate) fn push(&mut self, index: u64, fetal_quarters: u16, mhr: f32) {
        debug_assert_eq!(index, self.end);
        self.push_block(&[fetal_quarters], &[mhr]);
    }

    /// Feeds consecutive raw samples: their fetal values in quarter bpm as the monitor reports
    /// them (0: no signal) and the maternal heart rates (NaN: none). The rules decide each
    /// sample as soon as its coincidence window is here, as when fed one at a time.
    pub(crate) fn push_block(&mut self, fetal_quarters: &[u16], mhr: &[f32]) {
        for (&fetal_quarters, &mhr) in fetal_quarters.iter().zip(mhr) {
            let index = self.end;
            let fetal_raw = quarters_to_bpm(fetal_quarters);
            let in_range = fetal_raw >= self.config.min_bpm && fetal_raw <= self.config.max_bpm;
            let false_kind = if fetal_quarters == 0 || in_range {
                FalseKind::None
            } else {
                FalseKind::Artefact
            };
            // NaN compares false, so no signal is never false signal.
            let mhr_false = mhr < self.config.mhr_min_bpm || mhr > self.config.mhr_max_bpm;
            let sample = Prepared {
                recorded_quarters: fetal_quarters,
                trusted: in_range,
                false_kind,
                mhr: if mhr_false { f32::NAN } else { mhr },
                mhr_false,
            };
            let (both, close) = self.tally(&sample);
            if (self.end - self.first) as usize == self.line.capacity() {
                // Not with the analyzer, which releases at least every 64 samples.
                self.line.grow(self.first, self.end);
            }
            let oldest_code = self
                .decided
                .saturating_sub(self.config.coincidence_half as u64);
            if index - oldest_code == self.codes.capacity() as u64 {
                self.codes.grow(oldest_code, index);
            }
            self.line.set(index, sample);
            let code = (both | close << 1) as u8;
            self.codes.set(index, code);
            if code != 0 {
                self.last_tallied = Some(index);
            }
            self.end = index + 1;
        }
        let half = self.config.coincidence_half as u64;
        if self.end > half {
            self.decide_until(self.end - half);
        }
    }

    /// Flushes everything at the end of the stream.
    pub(crate) fn finish(&mut self) {
        let end = self.end;
        self.decide_until(end);
        if let IslandState::Short { before, .. } | IslandState::AwaitingEdge { before, .. } =
            self.state
        {
            self.judge(before, None, end);
        }
        self.island_from = end;
        self.halving_consume(end);
        // A stretch still open never stepped back up: left as it is.
        self.halving.open = None;
        self.continuity.consume(&mut self.line, end);
        self.continuity.finish();
    }

    /// The coincidence tally of one sample: (has both signals, and they coincide) as 0/1.
    fn tally(&self, s: &Prepared) -> (u32, u32) {
        if !s.trusted || s.mhr.is_nan() {
            (0, 0)
        } else {
            (
                1,
                u32::from((s.fetal() - s.mhr).abs() <= self.config.coincidence_bpm),
            )
        }
    }

    /// Decides the maternal flag (rule 3) of every sample before `target` from its coincidence
    /// window (the `coincidence_half` samples either side, as far as there are any), then
    /// passes them through the island rule (rule 4). Each decision reads the sample as recorded
    /// and marks only that sample, and the island rule reads only decided samples, so deciding
    /// a run before passing it on is the same as one sample at a time.
    fn decide_until(&mut self, target: u64) {
        let from = self.decided;
        if target <= from {
            return;
        }
        let half = self.config.coincidence_half as u64;
        let end = self.end;
        if self.last_tallied.is_none_or(|last| last + half < from) {
            // No sample with both signals in any of these windows: nothing to mark, and the
            // tallies (all zero) stay zero.
            debug_assert_eq!(self.window_tally, (0, 0));
            self.tally_end = self.tally_end.max((target - 1 + half + 1).min(end));
        } else {
            for index in from..target {
                let window_end = (index + half + 1).min(end);
                while self.tally_end < window_end {
                    let code = self.codes[self.tally_end];
                    self.window_tally.0 += u32::from(code & 1);
                    self.window_tally.1 += u32::from(code >> 1);
                    self.tally_end += 1;
                }
                // Code 3: both signals, and they coincide.
                if self.codes[index] == 3 && !self.config.direct_ecg {
                    let (window_both, window_close) = self.window_tally;
                    if window_close as f32 >= self.config.coincidence_share * window_both as f32 {
                        self.line[index].mark_false(FalseKind::Maternal);
                    }
                }
                if let Some(leaving) = index.checked_sub(half) {
                    let code = self.codes[leaving];
                    self.window_tally.0 -= u32::from(code & 1);
                    self.window_tally.1 -= u32::from(code >> 1);
                }
            }
        }
        self.decided = target;
        self.island_run(from, target);
    }

    /// The island rule over the decided samples `from..to`, with runs of valid samples in a
    /// long island and runs of gap passed over in one loop each.
    fn island_run(&mut self, from: u64, to: u64) {
        let mut index = from;
        while index < to {
            match self.state {
                IslandState::Long => {
                    let start = index;
                    while index < to && self.line[index].trusted {
                        index += 1;
                    }
                    if index > start {
                        self.last_kept = Some(self.line[index - 1].fetal());
                        self.island_from = index;
                    }
                }
                IslandState::Gap { last, gap } => {
                    let start = index;
                    while index < to && !self.line[index].trusted {
                        index += 1;
                    }
                    if index > start {
                        self.island_from = index;
                        self.state = IslandState::Gap {
                            last,
                            gap: gap.saturating_add((index - start) as usize),
                        };
                    }
                }
                IslandState::Short { before, mut len } => {
                    // A short island grows until it is long enough to be kept whatever its
                    // edges (that sample goes to the rule below).
                    let start = index;
                    while index < to
                        && self.line[index].trusted
                        && len + 1 < self.config.jump_island
                    {
                        len += 1;
                        index += 1;
                    }
                    if index > start {
                        self.state = IslandState::Short { before, len };
                    }
                }
                IslandState::AwaitingEdge { before, mut gap } => {
                    // The gap after a short island, until its end edge or too long a gap.
                    let start = index;
                    while index < to && !self.line[index].trusted && gap < self.config.edge_reach {
                        gap += 1;
                        index += 1;
                    }
                    if index > start {
                        self.state = IslandState::AwaitingEdge { before, gap };
                    }
                }
            }
            if index < to {
                self.island(index);
                index += 1;
            }
        }
    }

    /// Rule 5 over the samples the island rule has released, up to `end`; returns one past the
    /// last sample it releases (an open stretch waits).
    fn halving_consume(&mut self, end: u64) -> u64 {
        while self.halving.next < end {
            if self.halving.open.is_none() {
                // No stretch open: each valid value only becomes the one the next is compared
                // with, until one is at most about half of it.
                let ratio = self.config.halving_ratio.1;
                let (mut index, mut last) = (self.halving.next, self.halving.last);
                let mut opening = None;
                while index < end {
                    let p = &self.line[index];
                    index += 1;
                    if !p.trusted {
                        continue;
                    }
                    let fetal = p.fetal();
                    let (at, before) = last;
                    last = (index - 1, fetal);
                    // A NaN before (at the start of the stream) fails this and goes on to the
                    // range test.
                    if fetal <= before * ratio || before.is_nan() {
                        opening = Some((index - 1, fetal, at, before));
                        break;
                    }
                }
                (self.halving.next, self.halving.last) = (index, last);
                if let Some((index, fetal, at, before)) = opening {
                    self.halving_open(index, fetal, at, before);
                }
                continue;
            }
            let index = self.halving.next;
            self.halving.next += 1;
            self.halving_step(index);
        }
        self.halving.open.unwrap_or(self.halving.next)
    }

    /// Rule 5, one sample at a time: sample `index` joins an open halved stretch, or is
    /// released (with a stretch that turned out not to be one).
    #[inline]
    fn halving_step(&mut self, index: u64) {
        let fetal = self.line[index].fetal();
        if let Some(start) = self.halving.open {
            self.halving_under_way(start, index, fetal);
        } else {
            let (at, before) = self.halving.last;
            if fetal.is_nan() {
                return;
            }
            self.halving.last = (index, fetal);
            // Most samples are nowhere near half the one before (a NaN before, at the start of
            // the stream, goes on and fails the range test).
            if fetal > before * self.config.halving_ratio.1 {
                return;
            }
            self.halving_open(index, fetal, at, before);
        }
    }

    /// Opens a halved stretch at `index` if its value is a step down to about half of the
    /// valid value `before` at `at`.
    #[cold]
    #[inline(never)]
    fn halving_open(&mut self, index: u64, fetal: f32, at: u64, before: f32) {
        let config = &self.config;
        let (from, to) = config.halving_from_bpm;
        if config.halving_max_len > 0
            && index - at <= config.halving_max_step as u64
            && before >= from
            && before <= to
            && fetal >= before * config.halving_ratio.0
        {
            self.halving.open = Some(index);
        }
    }

    /// Sample `index` while the halved stretch from `start` is open: it steps back up (the
    /// stretch is artefact), breaks off or runs too long (the stretch is left as it is), or
    /// joins it.
    #[cold]
    #[inline(never)]
    fn halving_under_way(&mut self, start: u64, index: u64, fetal: f32) {
        let config = &self.config;
        let (at, before) = self.halving.last;
        let (low, high) = config.halving_ratio;
        let back = index - at <= config.halving_max_step as u64
            && fetal >= before / high
            && fetal <= before / low;
        let broken = index - at > config.edge_reach as u64
            || index + 1 - start > config.halving_max_len as u64;
        if back {
            mark_false(&mut self.line, start..index, FalseKind::Artefact);
        } else if !broken {
            if !fetal.is_nan() {
                self.halving.last = (index, fetal);
            }
            return;
        }
        self.halving.open = None;
        // The sample after the stretch starts afresh: it may open the next one.
        self.halving_step(index);
    }

    /// The island rule, one sample at a time: sample `index` joins the held island (which then
    /// spans `island_from..=index`) or is released.
    fn island(&mut self, index: u64) {
        let fetal = self.at(index).fetal();
        let valid = !fetal.is_nan();
        let reach = self.config.edge_reach;
        self.state = match (self.state, valid) {
            (IslandState::Gap { last, gap }, false) => {
                self.island_from = index + 1;
                IslandState::Gap {
                    last,
                    gap: gap.saturating_add(1),
                }
            }
            (IslandState::Gap { last, gap }, true) => {
                let before = last.filter(|_| gap <= reach);
                self.after_island_grew(before, 1, index)
            }
            (IslandState::Short { before, len }, true) => {
                self.after_island_grew(before, len + 1, index)
            }
            (IslandState::Short { before, len }, false) => {
                if len < self.config.min_island {
                    // Too short whatever its edges.
                    self.judge(before, None, index + 1)
                } else {
                    IslandState::AwaitingEdge { before, gap: 1 }
                }
            }
            (IslandState::AwaitingEdge { before, gap }, false) => {
                if gap + 1 > reach {
                    self.judge(before, None, index + 1)
                } else {
                    IslandState::AwaitingEdge {
                        before,
                        gap: gap + 1,
                    }
                }
            }
            (IslandState::AwaitingEdge { before, .. }, true) => {
                let IslandState::Gap { last, gap } = self.judge(before, Some(fetal), index) else {
                    unreachable!("judging always ends in a gap")
                };
                let before = last.filter(|_| gap <= reach);
                self.after_island_grew(before, 1, index)
            }
            (IslandState::Long, true) => {
                self.last_kept = Some(fetal);
                self.island_from = index + 1;
                IslandState::Long
            }
            (IslandState::Long, false) => {
                self.island_from = index + 1;
                IslandState::Gap {
                    last: self.last_kept,
                    gap: 1,
                }
            }
        };
    }

    /// The island now ends with sample `index`, its `len`-th valid value.
    fn after_island_grew(&mut self, before: Option<f32>, len: usize, index: u64) -> IslandState {
        if len >= self.config.jump_island {
            self.last_kept = Some(self.at(index).fetal());
            self.island_from = index + 1;
            IslandState::Long
        } else {
            IslandState::Short { before, len }
        }
    }

    /// Judges the held short island (and the gap after it: samples `island_from..end`) given
    /// its edges, releases it, and returns the gap state that follows.
    fn judge(&mut self, before: Option<f32>, after: Option<f32>, end: u64) -> IslandState {
        let (from, to) = (self.island_from, end);
        let line = &self.line;
        let held = (from..to).map(|i| line[i].fetal());
        let mut valid = held.clone().filter(|v| !v.is_nan());
        let first_valid = valid.next();
        let (len, last_valid) = valid.fold(
            (usize::from(first_valid.is_some()), first_valid),
            |(n, _), v| (n + 1, Some(v)),
        );
        let jumps = |edge: Option<f32>, value: Option<f32>| match (edge, value) {
            (Some(a), Some(b)) => (a - b).abs() > self.config.jump_bpm,
            _ => false,
        };
        let artefact = !self.config.direct_ecg
            && (len < self.config.min_island
                || (jumps(before, first_valid) && jumps(after, last_valid)));
        let trailing_gap = held.rev().take_while(|v| v.is_nan()).count();
        let held_len = (to - from) as usize;
        if artefact {
            mark_false(&mut self.line, from..to, FalseKind::Artefact);
        }
        self.island_from = end;
        if artefact {
            // The gap before the island continues through it.
            IslandState::Gap {
                last: before,
                gap: if before.is_some() {
                    held_len
                } else {
                    usize::MAX
                },
            }
        } else {
            IslandState::Gap {
                last: last_valid,
                gap: trailing_gap,
            }
        }
    }
}

/// Marks the samples of `range` that still carry a fetal value as false signal of `kind`.
fn mark_false(line: &mut IndexRing<Prepared>, range: std::ops::Range<u64>, kind: FalseKind) {
    for i in range {
        let s = &mut line[i];
        if s.trusted {
            s.mark_false(kind);
        }
    }
}

/// Where rule 5 stands.
#[derive(Debug, Clone, Copy)]
struct Halving {
    /// The next sample to consider (the ones before it have been, and are released unless
    /// `open` holds them).
    next: u64,
    /// The last valid value seen (index, bpm; NaN before any).
    last: (u64, f32),
    /// The first sample of a stretch that stepped down to about half, held until it steps back
    /// up or breaks off.
    open: Option<u64>,
}

/// Rule 6, **maternal continuity**: a Doppler trace that coincided with the mother's heart rate
/// stays the mother's while it runs on without a break and without an MHR signal to say
/// otherwise, both after the coincidence and before it. A break is a jump of more than
/// `jump_bpm`, a gap longer than `continuity_gap`, or a sample where the MHR channel has a signal
/// that does not coincide (evidence of the fetus). The MHR channel often falls silent while the
/// Doppler keeps tracking the mother: on the FHRMA-FS Doppler files, 162,000 of the 198,000
/// false samples the coincidence rule missed had no MHR signal at that moment.
///
/// It works on the preparation stage's `line` in place: samples before `held_from` are
/// released; `held_from..next` is the current piece since its last break, waiting to see
/// whether it runs into a maternal stretch (valid samples without MHR, and the gaps between
/// them).
#[derive(Debug)]
struct Continuity {
    jump_bpm: f32,
    reach: usize,
    max_hold: usize,
    /// The first sample held (everything before it is released).
    held_from: u64,
    /// The next sample to consider.
    next: u64,
    /// The piece's last value (recorded), for the jump test.
    last: Option<f32>,
    /// Samples without a value since `last`.
    gap: usize,
    /// The piece runs on from a maternal stretch.
    following: bool,
    /// A scalp electrode: no sample is maternal, so nothing is held back.
    direct_ecg: bool,
    /// The last sample with an MHR signal: without one in the last 10 minutes nothing is held
    /// (a stream without a maternal sensor gets no extra delay).
    mhr_seen_at: Option<u64>,
}

/// How long the MHR channel may be silent before rule 6 stops holding samples back, samples.
const MHR_MEMORY: u64 = 2400;

impl Continuity {
    fn new(config: &PrepConfig) -> Self {
        Self {
            jump_bpm: config.jump_bpm,
            reach: config.continuity_gap,
            max_hold: config.continuity_hold,
            held_from: 0,
            next: 0,
            last: None,
            gap: 0,
            following: false,
            direct_ecg: config.direct_ecg,
            mhr_seen_at: None,
        }
    }

    /// Considers every sample of `line` before `end`.
    fn consume(&mut self, line: &mut IndexRing<Prepared>, end: u64) {
        while self.next < end {
            if self.idle() {
                self.consume_idle(line, end);
                if self.next == end {
                    return;
                }
            }
            let index = self.next;
            self.next += 1;
            self.push(line, index);
        }
    }

    /// Nothing is held, nothing follows the mother and the MHR channel has been silent for
    /// [`MHR_MEMORY`] (or the fetal channel is a scalp electrode): no sample can be held back
    /// or marked until one carries an MHR value or a maternal flag, so [`Continuity::push`]
    /// would only track the piece's last value and gap and release each sample at once.
    fn idle(&self) -> bool {
        !self.following
            && self.held_from == self.next
            && (self.direct_ecg
                || self
                    .mhr_seen_at
                    .is_none_or(|at| self.next - at > MHR_MEMORY))
    }

    /// What [`Continuity::push`] does while [`Continuity::idle`] holds, for the samples up to
    /// `end` or to the first one with an MHR value or a maternal flag (left to `push`); a jump
    /// would break a piece that holds nothing, so it is not tested. The stream's commonest
    /// case: a Doppler or scalp trace without a maternal sensor.
    fn consume_idle(&mut self, line: &IndexRing<Prepared>, end: u64) {
        let (mut next, mut gap, mut last) = (self.next, self.gap, self.last);
        while next < end {
            let p = &line[next];
            if !p.mhr.is_nan() || p.false_kind == FalseKind::Maternal {
                break;
            }
            if !p.trusted {
                gap += 1;
                if gap > self.reach {
                    last = None;
                }
            } else {
                last = Some(p.fetal());
                gap = 0;
            }
            next += 1;
        }
        (self.next, self.gap, self.last) = (next, gap, last);
        self.held_from = next;
    }

    /// Ends the piece: what is held is released as it is.
    fn break_piece(&mut self, at: u64) {
        self.held_from = at;
        self.following = false;
    }

    /// Sample `index` joins the held piece; the oldest is released beyond `max_hold`.
    fn hold(&mut self, index: u64) {
        if (index + 1 - self.held_from) as usize > self.max_hold {
            self.held_from += 1;
        }
    }

    fn push(&mut self, line: &mut IndexRing<Prepared>, index: u64) {
        let p = line[index];
        if !p.mhr.is_nan() {
            self.mhr_seen_at = Some(index);
        }
        let value = if p.false_kind == FalseKind::Maternal {
            p.recorded()
        } else {
            p.fetal()
        };
        if value.is_nan() {
            self.gap += 1;
            if self.gap > self.reach {
                self.break_piece(index);
                self.last = None;
            }
            if self.held_from == index {
                self.held_from = index + 1;
            } else {
                self.hold(index);
            }
            return;
        }
        if self
            .last
            .is_some_and(|last| (value - last).abs() > self.jump_bpm)
        {
            self.break_piece(index);
        }
        self.last = Some(value);
        self.gap = 0;
        if p.false_kind == FalseKind::Maternal {
            // The piece so far ran into the mother: it was hers.
            mark_false(line, self.held_from..index, FalseKind::Maternal);
            self.held_from = index + 1;
            self.following = true;
        } else if !p.mhr.is_nan() {
            // The mother's rate is known and differs: the fetus.
            self.break_piece(index + 1);
        } else if self.following {
            line[index].mark_false(FalseKind::Maternal);
            self.held_from = index + 1;
        } else if !self.direct_ecg && self.mhr_seen_at.is_some_and(|at| index - at <= MHR_MEMORY) {
            self.hold(index);
        } else {
            self.held_from = index + 1;
        }
    }

    /// Ends the stream: what is held is released as it is.
    fn finish(&mut self) {
        self.break_piece(self.next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A heart rate in bpm (NaN: none) as the monitor's quarter-bpm value.
    fn q(bpm: f32) -> u16 {
        if bpm.is_nan() { 0 } else { (bpm * 4.0) as u16 }
    }

    /// Samples out of the stage after feeding `n` samples of a steady fetal 140 with the
    /// mother at 80 on the MHR channel for the first minute only.
    fn released_after(n: u64, direct_ecg: bool) -> usize {
        let mut prep = Prep::new(PrepConfig {
            direct_ecg,
            ..PrepConfig::default()
        });
        let mut out = 0;
        for i in 0..n {
            let mhr = if i < 240 { 80.0 } else { f32::NAN };
            prep.push(i, q(140.0 + (i % 5) as f32 * 0.25), mhr);
            prep.release_ready(|_, _| out += 1);
        }
        out
    }

    #[test]
    fn continuity_holds_back_only_where_a_sample_could_be_maternal() {
        // Doppler with a recent MHR signal: the stretch without one is held (up to 2 min) in
        // case it runs into the mother.
        let doppler = released_after(1200, false);
        assert!(doppler <= 1200 - 400, "{doppler}");
        // A scalp electrode: only the coincidence lookahead.
        let scalp = released_after(1200, true);
        assert!(scalp >= 1200 - 100, "{scalp}");
    }

    /// Released all at once after the line outgrew its first allocation, the samples are the
    /// same as released one by one.
    #[test]
    fn a_late_release_gives_the_same_samples() {
        let run = |release_every: u64| {
            let mut prep = Prep::new(PrepConfig::default());
            let mut out = Vec::new();
            for i in 0..4000u64 {
                // A Doppler trace that meets the mother's rate now and then, with islands.
                let fetal = match i % 700 {
                    0..100 => 80.0 + (i % 3) as f32 * 0.25,
                    300..310 => 250.0,
                    400..420 => f32::NAN,
                    _ => 140.0 + (i % 7) as f32 * 0.25,
                };
                let mhr = if i % 1400 < 800 { 80.0 } else { f32::NAN };
                prep.push(i, q(fetal), mhr);
                if (i + 1) % release_every == 0 {
                    prep.release_ready(|index, p| out.push((index, p)));
                }
            }
            prep.finish();
            prep.release_ready(|index, p| out.push((index, p)));
            out
        };
        let one_by_one = run(1);
        assert_eq!(one_by_one.len(), 4000);
        assert!(
            one_by_one
                .iter()
                .any(|(_, p)| p.false_kind == FalseKind::Maternal)
        );
        assert!(
            one_by_one
                .iter()
                .any(|(_, p)| p.false_kind == FalseKind::Artefact)
        );
        let late = run(3000);
        // Prepared holds NaN, so compare the bits.
        let bits = |v: &[(u64, Prepared)]| -> Vec<_> {
            v.iter()
                .map(|(i, p)| (*i, p.recorded_quarters, p.trusted, p.false_kind))
                .collect()
        };
        assert_eq!(bits(&one_by_one), bits(&late));
    }

    /// After a quarter of an hour without an MHR signal (rule 6 idle, every sample released at
    /// once), the mother's rate appears on the MHR channel and the Doppler trace meets it, and
    /// the MHR channel falls silent again while the trace runs on at her rate: that stretch is
    /// hers; the fetal stretch before is not, and the fetal trace caught again after a gap is
    /// not.
    #[test]
    fn continuity_takes_up_the_mother_after_a_long_silence_of_the_mhr_channel() {
        let mut prep = Prep::new(PrepConfig::default());
        let mut out = Vec::new();
        // 0..3600 fetal 140, no MHR; 3600..3840 the mother at 80 on both channels; 3840..4320
        // the Doppler still on her, MHR silent; 4320..4480 no signal; then the fetus again.
        for i in 0..5000u64 {
            let (fetal, mhr) = match i {
                0..3600 => (140.0 + (i % 5) as f32 * 0.25, f32::NAN),
                3600..3840 => (80.0 + (i % 3) as f32 * 0.25, 80.0),
                3840..4320 => (80.0 + (i % 3) as f32 * 0.25, f32::NAN),
                4320..4480 => (f32::NAN, f32::NAN),
                _ => (140.0 + (i % 5) as f32 * 0.25, f32::NAN),
            };
            prep.push(i, q(fetal), mhr);
            prep.release_ready(|index, p| out.push((index, p.false_kind)));
        }
        prep.finish();
        prep.release_ready(|index, p| out.push((index, p.false_kind)));
        assert_eq!(out.len(), 5000);
        assert!(out.iter().enumerate().all(|(k, (i, _))| k as u64 == *i));
        let maternal = |range: std::ops::Range<usize>| {
            out[range]
                .iter()
                .filter(|(_, kind)| *kind == FalseKind::Maternal)
                .count()
        };
        assert_eq!(maternal(0..3500), 0);
        // The coincidence window (±20 s) takes most of the first stretch, continuity the rest.
        assert!(maternal(3700..3840) == 140, "{}", maternal(3700..3840));
        assert_eq!(maternal(3840..4320), 480);
        assert_eq!(maternal(4480..5000), 0);
    }

    /// The samples flagged artefact when a trace at 140 bpm (no MHR channel) runs `shape`
    /// over samples 400..400 + 4·`seconds`.
    fn artefacts_in(seconds: u64, shape: impl Fn(u64) -> f32) -> Vec<u64> {
        let mut prep = Prep::new(PrepConfig::default());
        let mut flagged = Vec::new();
        let end = 400 + 4 * seconds;
        for i in 0..end + 800 {
            let fetal = if (400..end).contains(&i) {
                shape(i - 400)
            } else {
                140.0 + (i % 4) as f32 * 0.25
            };
            prep.push(i, q(fetal), f32::NAN);
            prep.release_ready(|index, p| {
                if p.false_kind == FalseKind::Artefact {
                    flagged.push(index);
                }
            });
        }
        prep.finish();
        prep.release_ready(|index, p| {
            if p.false_kind == FalseKind::Artefact {
                flagged.push(index);
            }
        });
        flagged
    }

    /// A stretch at half the rate, stepping down and back up from one value to the next, is
    /// the monitor counting every other beat; a deceleration to the same depth that falls and
    /// recovers over seconds is not, nor is a halved level that stays (it is left as it is).
    #[test]
    fn a_halved_stretch_is_artefact_and_a_deceleration_is_not() {
        let halved = artefacts_in(30, |_| 70.0);
        assert_eq!(halved, (400..520).collect::<Vec<_>>());
        // 140 → 70 over 15 s, 10 s at 70, back over 15 s.
        let deceleration = artefacts_in(40, |k| {
            let s = k as f32 / 4.0;
            if s < 15.0 {
                140.0 - 70.0 * s / 15.0
            } else if s < 25.0 {
                70.0
            } else {
                70.0 + 70.0 * (s - 25.0) / 15.0
            }
        });
        assert!(deceleration.is_empty(), "{deceleration:?}");
        let stays = artefacts_in(90, |_| 70.0);
        assert!(stays.is_empty(), "{stays:?}");
    }

    /// An MHR value outside 50–180 bpm is false signal on MHR and no maternal signal: a fetal
    /// trace at the doubled maternal rate is not taken for the mother, one at her plausible
    /// rate is.
    #[test]
    fn an_implausible_maternal_rate_is_false_on_mhr_and_not_the_mother() {
        let run = |mhr: f32| {
            let mut prep = Prep::new(PrepConfig::default());
            let mut out = Vec::new();
            for i in 0..800 {
                prep.push(i, q(mhr + (i % 3) as f32 * 0.25), mhr);
                prep.release_ready(|_, p| out.push(p));
            }
            prep.finish();
            prep.release_ready(|_, p| out.push(p));
            out
        };
        // (maternal rate, false on MHR, the fetal trace taken for the mother); at 45 bpm the
        // fetal value is out of range anyway.
        for (mhr, false_on_mhr, maternal) in [
            (190.0, true, false),
            (45.0, true, false),
            (150.0, false, true),
            (180.0, false, true),
        ] {
            let out = run(mhr);
            assert_eq!(out.len(), 800);
            let flagged = out.iter().filter(|p| p.mhr_false).count();
            assert_eq!(flagged, if false_on_mhr { 800 } else { 0 }, "{mhr}");
            assert_eq!(out.iter().all(|p| p.mhr.is_nan()), false_on_mhr, "{mhr}");
            let taken = out
                .iter()
                .filter(|p| p.false_kind == FalseKind::Maternal)
                .count();
            if maternal {
                assert!(taken > 700, "{mhr}: {taken}");
            } else {
                assert_eq!(taken, 0, "{mhr}");
            }
        }
    }
}
