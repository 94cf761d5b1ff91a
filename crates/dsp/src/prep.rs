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
//! 5. **Maternal continuity**: a stretch that runs on without a break from one that coincided
//!    with the mother, where the MHR channel has no signal, is the mother's too (both ways; it
//!    holds up to 2 minutes back). See [`PrepConfig::continuity_hold`].
//!
//! Level-based false-signal detection (halving/doubling, maternal capture without an MHR
//! channel) is not done: built and measured, it cut real decelerations entered through signal
//! loss (BENCHMARKS.md, analysis accuracy).

use std::collections::VecDeque;

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
    /// Rule 5 holds at most this many samples back, waiting to see whether a stretch without an
    /// MHR signal runs into one that coincides with the mother (2 minutes).
    pub continuity_hold: usize,
    /// Rule 5: a gap longer than this breaks a stretch, samples.
    pub continuity_gap: usize,
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
        }
    }
}

/// One prepared sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prepared {
    /// Sample index on the stream's grid.
    pub index: u64,
    /// The fetal value as recorded (NaN where there is no signal).
    pub recorded: f32,
    /// The fetal value the analysis uses (NaN where missing or false).
    pub fetal: f32,
    /// Why `fetal` is NaN although the monitor recorded a value.
    pub false_kind: FalseKind,
    /// Maternal heart rate (NaN where none).
    pub mhr: f32,
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
#[derive(Debug)]
pub(crate) struct Prep {
    config: PrepConfig,
    /// The coincidence tallies (as in [`Prep::tally`]) of up to `self.config.coincidence_half`
    /// samples already decided: the window's past half.
    history: VecDeque<(u8, u8)>,
    /// Samples awaiting the coincidence decision (the front one is decided when its future
    /// half is here).
    pending: VecDeque<Prepared>,
    /// Samples held by the island rule until their island is judged.
    held: VecDeque<Prepared>,
    state: IslandState,
    /// The last value of the current long island (its end edge, once it ends). Kept here
    /// rather than read back from `out`, which the caller may have drained already.
    last_kept: Option<f32>,
    /// (samples with both signals, of them coinciding) over `history` and `pending`.
    window_tally: (u32, u32),
    /// Rule 5, fed each sample as the island rule releases it.
    continuity: Continuity,
}

impl Prep {
    pub(crate) fn new(config: PrepConfig) -> Self {
        Self {
            history: VecDeque::with_capacity(config.coincidence_half + 1),
            pending: VecDeque::with_capacity(config.coincidence_half + 2),
            held: VecDeque::new(),
            state: IslandState::Gap {
                last: None,
                gap: usize::MAX,
            },
            last_kept: None,
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

    pub(crate) fn pop(&mut self) -> Option<Prepared> {
        self.continuity.pop()
    }

    /// Feeds one raw sample (NaN for no signal).
    pub(crate) fn push(&mut self, index: u64, fetal_raw: f32, mhr: f32) {
        let in_range = fetal_raw >= self.config.min_bpm && fetal_raw <= self.config.max_bpm;
        let (fetal, false_kind) = if fetal_raw.is_nan() {
            (f32::NAN, FalseKind::None)
        } else if in_range {
            (fetal_raw, FalseKind::None)
        } else {
            (f32::NAN, FalseKind::Artefact)
        };
        self.pending.push_back(Prepared {
            index,
            recorded: fetal_raw,
            fetal,
            false_kind,
            mhr,
        });
        let back = *self.pending.back().expect("just pushed");
        let (both, close) = self.tally(&back);
        self.window_tally.0 += both;
        self.window_tally.1 += close;
        if self.pending.len() > self.config.coincidence_half {
            self.decide_front();
        }
    }

    /// Flushes everything at the end of the stream.
    pub(crate) fn finish(&mut self) {
        while !self.pending.is_empty() {
            self.decide_front();
        }
        if let IslandState::Short { before, .. } | IslandState::AwaitingEdge { before, .. } =
            self.state
        {
            self.judge(before, None);
        }
        for p in self.held.drain(..) {
            self.continuity.push(p);
        }
        self.continuity.finish();
    }

    /// The coincidence tally of one sample: (has both signals, and they coincide) as 0/1.
    fn tally(&self, s: &Prepared) -> (u32, u32) {
        if s.fetal.is_nan() || s.mhr.is_nan() {
            (0, 0)
        } else {
            (
                1,
                u32::from((s.fetal - s.mhr).abs() <= self.config.coincidence_bpm),
            )
        }
    }

    /// Decides the maternal flag of the front pending sample from its coincidence window.
    fn decide_front(&mut self) {
        let mut sample = self.pending[0];
        if !self.config.direct_ecg
            && !sample.fetal.is_nan()
            && !sample.mhr.is_nan()
            && (sample.fetal - sample.mhr).abs() <= self.config.coincidence_bpm
        {
            // The window is exactly what `history` and `pending` hold; its tallies are kept as
            // samples enter and leave.
            let (both, close) = self.window_tally;
            if close as f32 >= self.config.coincidence_share * both as f32 {
                sample.fetal = f32::NAN;
                sample.false_kind = FalseKind::Maternal;
            }
        }
        // The window's past half holds the samples as recorded, not as decided, so one
        // decision does not feed the next.
        let recorded = self.pending.pop_front().expect("pending is not empty");
        let (both, close) = self.tally(&recorded);
        self.history.push_back((both as u8, close as u8));
        if self.history.len() > self.config.coincidence_half {
            let (both, close) = self.history.pop_front().expect("history is not empty");
            self.window_tally.0 -= u32::from(both);
            self.window_tally.1 -= u32::from(close);
        }
        self.island(sample);
    }

    /// The island rule, one sample at a time.
    fn island(&mut self, sample: Prepared) {
        let valid = !sample.fetal.is_nan();
        let reach = self.config.edge_reach;
        self.state = match (self.state, valid) {
            (IslandState::Gap { last, gap }, false) => {
                self.continuity.push(sample);
                IslandState::Gap {
                    last,
                    gap: gap.saturating_add(1),
                }
            }
            (IslandState::Gap { last, gap }, true) => {
                self.held.push_back(sample);
                let before = last.filter(|_| gap <= reach);
                self.after_island_grew(before, 1)
            }
            (IslandState::Short { before, len }, true) => {
                self.held.push_back(sample);
                self.after_island_grew(before, len + 1)
            }
            (IslandState::Short { before, len }, false) => {
                self.held.push_back(sample);
                if len < self.config.min_island {
                    // Too short whatever its edges.
                    self.judge(before, None)
                } else {
                    IslandState::AwaitingEdge { before, gap: 1 }
                }
            }
            (IslandState::AwaitingEdge { before, gap }, false) => {
                self.held.push_back(sample);
                if gap + 1 > reach {
                    self.judge(before, None)
                } else {
                    IslandState::AwaitingEdge {
                        before,
                        gap: gap + 1,
                    }
                }
            }
            (IslandState::AwaitingEdge { before, .. }, true) => {
                let IslandState::Gap { last, gap } = self.judge(before, Some(sample.fetal)) else {
                    unreachable!("judging always ends in a gap")
                };
                self.held.push_back(sample);
                let before = last.filter(|_| gap <= reach);
                self.after_island_grew(before, 1)
            }
            (IslandState::Long, true) => {
                self.last_kept = Some(sample.fetal);
                self.continuity.push(sample);
                IslandState::Long
            }
            (IslandState::Long, false) => {
                self.continuity.push(sample);
                IslandState::Gap {
                    last: self.last_kept,
                    gap: 1,
                }
            }
        };
    }

    fn after_island_grew(&mut self, before: Option<f32>, len: usize) -> IslandState {
        if len >= self.config.jump_island {
            self.last_kept = self.held.back().map(|s| s.fetal);
            for p in self.held.drain(..) {
                self.continuity.push(p);
            }
            IslandState::Long
        } else {
            IslandState::Short { before, len }
        }
    }

    /// Judges the held short island (and the gap after it) given its edges, emits it, and
    /// returns the gap state that follows.
    fn judge(&mut self, before: Option<f32>, after: Option<f32>) -> IslandState {
        let valid: Vec<f32> = self
            .held
            .iter()
            .filter(|s| !s.fetal.is_nan())
            .map(|s| s.fetal)
            .collect();
        let len = valid.len();
        let jumps = |edge: Option<f32>, value: Option<&f32>| match (edge, value) {
            (Some(a), Some(b)) => (a - b).abs() > self.config.jump_bpm,
            _ => false,
        };
        let artefact = !self.config.direct_ecg
            && (len < self.config.min_island
                || (jumps(before, valid.first()) && jumps(after, valid.last())));
        let trailing_gap = self
            .held
            .iter()
            .rev()
            .take_while(|s| s.fetal.is_nan())
            .count();
        let held_len = self.held.len();
        for s in &mut self.held {
            if artefact && !s.fetal.is_nan() {
                s.fetal = f32::NAN;
                s.false_kind = FalseKind::Artefact;
            }
        }
        for p in self.held.drain(..) {
            self.continuity.push(p);
        }
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
                last: valid.last().copied(),
                gap: trailing_gap,
            }
        }
    }
}

/// Rule 5, **maternal continuity**: a Doppler trace that coincided with the mother's heart rate
/// stays the mother's while it runs on without a break and without an MHR signal to say
/// otherwise, both after the coincidence and before it. A break is a jump of more than
/// `jump_bpm`, a gap longer than `edge_reach`, or a sample where the MHR channel has a signal
/// that does not coincide (evidence of the fetus). The MHR channel often falls silent while the
/// Doppler keeps tracking the mother: on the FHRMA-FS Doppler files, 162,000 of the 198,000
/// false samples the coincidence rule missed had no MHR signal at that moment.
#[derive(Debug)]
struct Continuity {
    jump_bpm: f32,
    reach: usize,
    max_hold: usize,
    /// The current piece since its last break, waiting to see whether it runs into a maternal
    /// stretch: valid samples without MHR, and the gaps between them.
    held: VecDeque<Prepared>,
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
    out: VecDeque<Prepared>,
}

/// How long the MHR channel may be silent before rule 5 stops holding samples back, samples.
const MHR_MEMORY: u64 = 2400;

impl Continuity {
    fn new(config: &PrepConfig) -> Self {
        Self {
            jump_bpm: config.jump_bpm,
            reach: config.continuity_gap,
            max_hold: config.continuity_hold,
            held: VecDeque::with_capacity(config.continuity_hold + 1),
            last: None,
            gap: 0,
            following: false,
            direct_ecg: config.direct_ecg,
            mhr_seen_at: None,
            out: VecDeque::new(),
        }
    }

    fn pop(&mut self) -> Option<Prepared> {
        self.out.pop_front()
    }

    /// Ends the piece: what is held is released as it is.
    fn break_piece(&mut self) {
        self.out.extend(self.held.drain(..));
        self.following = false;
    }

    fn hold(&mut self, p: Prepared) {
        self.held.push_back(p);
        if self.held.len() > self.max_hold {
            let front = self.held.pop_front().expect("held is not empty");
            self.out.push_back(front);
        }
    }

    fn push(&mut self, mut p: Prepared) {
        if !p.mhr.is_nan() {
            self.mhr_seen_at = Some(p.index);
        }
        let value = if p.false_kind == FalseKind::Maternal {
            p.recorded
        } else {
            p.fetal
        };
        if value.is_nan() {
            self.gap += 1;
            if self.gap > self.reach {
                self.break_piece();
                self.last = None;
            }
            if self.held.is_empty() {
                self.out.push_back(p);
            } else {
                self.hold(p);
            }
            return;
        }
        if self
            .last
            .is_some_and(|last| (value - last).abs() > self.jump_bpm)
        {
            self.break_piece();
        }
        self.last = Some(value);
        self.gap = 0;
        if p.false_kind == FalseKind::Maternal {
            // The piece so far ran into the mother: it was hers.
            for h in &mut self.held {
                if !h.fetal.is_nan() {
                    h.fetal = f32::NAN;
                    h.false_kind = FalseKind::Maternal;
                }
            }
            self.out.extend(self.held.drain(..));
            self.out.push_back(p);
            self.following = true;
        } else if !p.mhr.is_nan() {
            // The mother's rate is known and differs: the fetus.
            self.break_piece();
            self.out.push_back(p);
        } else if self.following {
            p.fetal = f32::NAN;
            p.false_kind = FalseKind::Maternal;
            self.out.push_back(p);
        } else if !self.direct_ecg
            && self
                .mhr_seen_at
                .is_some_and(|at| p.index - at <= MHR_MEMORY)
        {
            self.hold(p);
        } else {
            self.out.extend(self.held.drain(..));
            self.out.push_back(p);
        }
    }

    fn finish(&mut self) {
        self.break_piece();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            prep.push(i, 140.0 + (i % 5) as f32 * 0.25, mhr);
            while prep.pop().is_some() {
                out += 1;
            }
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
}
