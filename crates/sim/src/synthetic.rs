//! A synthetic CTG with planted events, so a test knows exactly what went in.
//!
//! A 30-minute programme, repeated: a baseline of 140 bpm with moderate variability (a few
//! incommensurate sines, ±8 bpm: about 8 bpm by the analysis's trimmed per-minute amplitude)
//! over a resting toco of 10, contractions every 3 minutes (90 s, peak 60), and on top of them,
//! at fixed times, the patterns the analysis must find: accelerations, an early, a late, a
//! variable and a prolonged deceleration, 30 s of signal loss, and a minute in which the fetal
//! channel records the mother (maternal heart rate confusion: FHR and MHR both at 84 bpm), and
//! 40 s in which the MHR channel reads half the mother's rate (false signal on MHR).
//! Each is planted so that it qualifies under the definitions the analysis follows (15 bpm
//! for 15 s; a late nadir well over 30 s after the acme, an early one at it):
//! `tests/analysis.rs` analyses the programme and finds each of them, typed as planted.
//! Deterministic: the same programme every time.

use ctg_proto::model::{BlockFlags, Channel, Modes, Quality, Sample, TransducerMode};

use crate::source::SecondSource;

/// Seconds in the programme before it repeats.
pub const PROGRAMME_S: u64 = 30 * 60;
/// Seconds between contraction onsets.
pub const CONTRACTION_EVERY_S: u64 = 180;
/// Contraction duration, seconds.
pub const CONTRACTION_S: u64 = 90;
/// Baseline FHR, bpm.
pub const BASELINE_BPM: f64 = 140.0;

/// What was planted, and when (seconds from the programme's start).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Planted {
    /// +`amplitude` bpm for `duration` s.
    Acceleration {
        /// Onset.
        start_s: u64,
        /// Duration.
        duration_s: u64,
        /// Peak rise.
        amplitude: f64,
    },
    /// A deceleration of a given type.
    Deceleration {
        /// `early`, `late`, `variable` or `prolonged`.
        kind: &'static str,
        /// Onset.
        start_s: u64,
        /// Duration.
        duration_s: u64,
        /// Depth at the nadir.
        depth: f64,
    },
    /// No fetal signal.
    SignalLoss {
        /// Start.
        start_s: u64,
        /// Duration.
        duration_s: u64,
    },
    /// The MHR channel reads half the mother's rate (a monitor counting every other beat): not
    /// a maternal heart rate at all.
    MaternalRateHalved {
        /// Start.
        start_s: u64,
        /// Duration.
        duration_s: u64,
    },
    /// The fetal channel records the maternal heart rate.
    MaternalConfusion {
        /// Start.
        start_s: u64,
        /// Duration.
        duration_s: u64,
        /// The maternal rate, bpm.
        bpm: f64,
    },
}

/// The programme's planted events, in time order.
pub fn programme() -> Vec<Planted> {
    // Contractions start at 0, 180, 360, …; their peak is 45 s after onset.
    vec![
        Planted::Acceleration {
            start_s: 100,
            duration_s: 40,
            amplitude: 25.0,
        },
        // The contraction from 360 s peaks at 405 s: the nadir with it.
        Planted::Deceleration {
            kind: "early",
            start_s: 370,
            duration_s: 70,
            depth: 25.0,
        },
        Planted::Acceleration {
            start_s: 470,
            duration_s: 45,
            amplitude: 22.0,
        },
        // The contraction from 540 s peaks at 585 s: the nadir 50 s after it, reached
        // gradually (45 s from the onset).
        Planted::Deceleration {
            kind: "late",
            start_s: 590,
            duration_s: 90,
            depth: 25.0,
        },
        Planted::Deceleration {
            kind: "variable",
            start_s: 750,
            duration_s: 40,
            depth: 45.0,
        },
        Planted::SignalLoss {
            start_s: 880,
            duration_s: 30,
        },
        Planted::Deceleration {
            kind: "prolonged",
            start_s: 1000,
            duration_s: 200,
            depth: 40.0,
        },
        Planted::MaternalConfusion {
            start_s: 1300,
            duration_s: 60,
            bpm: 84.0,
        },
        Planted::Acceleration {
            start_s: 1500,
            duration_s: 40,
            amplitude: 25.0,
        },
        Planted::MaternalRateHalved {
            start_s: 1650,
            duration_s: 40,
        },
    ]
}

/// Raised-cosine bump: 0 at the edges, 1 in the middle.
fn bump(t: f64, start: f64, duration: f64) -> f64 {
    if t < start || t > start + duration {
        return 0.0;
    }
    0.5 - 0.5 * (2.0 * std::f64::consts::PI * (t - start) / duration).cos()
}

/// A V: straight down to the nadir in a quarter of the duration, back up in the rest (abrupt).
fn vee(t: f64, start: f64, duration: f64) -> f64 {
    let fall = duration / 4.0;
    if t < start || t > start + duration {
        0.0
    } else if t < start + fall {
        (t - start) / fall
    } else {
        1.0 - (t - start - fall) / (duration - fall)
    }
}

/// The signal at time `t` seconds (any time; the programme repeats).
pub fn sample_at(t: f64) -> Sample {
    let p = t % PROGRAMME_S as f64;
    let variability = 4.0 * (2.0 * std::f64::consts::PI * p / 7.3).sin()
        + 2.5 * (2.0 * std::f64::consts::PI * p / 2.9).sin()
        + 1.5 * (2.0 * std::f64::consts::PI * p / 17.1).sin();
    let mut fhr = BASELINE_BPM + variability;
    let onset = (p / CONTRACTION_EVERY_S as f64).floor() * CONTRACTION_EVERY_S as f64;
    let toco = 10.0 + 50.0 * bump(p, onset, CONTRACTION_S as f64);
    let mut mhr = 84.0 + 0.5 * (2.0 * std::f64::consts::PI * p / 11.0).sin();
    let mut lost = false;
    for planted in programme() {
        match planted {
            Planted::Acceleration {
                start_s,
                duration_s,
                amplitude,
            } => {
                fhr += amplitude * bump(p, start_s as f64, duration_s as f64);
            }
            Planted::Deceleration {
                kind,
                start_s,
                duration_s,
                depth,
            } => {
                let shape = if kind == "variable" {
                    vee(p, start_s as f64, duration_s as f64)
                } else if kind == "prolonged" {
                    // Down over 30 s, flat, up over 30 s.
                    let (s, d) = (start_s as f64, duration_s as f64);
                    if p < s || p > s + d {
                        0.0
                    } else {
                        ((p - s) / 30.0).min(1.0).min((s + d - p) / 30.0)
                    }
                } else {
                    bump(p, start_s as f64, duration_s as f64)
                };
                fhr -= depth * shape;
            }
            Planted::SignalLoss {
                start_s,
                duration_s,
            } => {
                lost |= p >= start_s as f64 && p < (start_s + duration_s) as f64;
            }
            Planted::MaternalConfusion {
                start_s,
                duration_s,
                bpm,
            } => {
                if p >= start_s as f64 && p < (start_s + duration_s) as f64 {
                    fhr = bpm + 0.5 * (2.0 * std::f64::consts::PI * p / 11.0).sin();
                    mhr = fhr;
                }
            }
            Planted::MaternalRateHalved {
                start_s,
                duration_s,
            } => {
                if p >= start_s as f64 && p < (start_s + duration_s) as f64 {
                    mhr /= 2.0;
                }
            }
        }
    }
    let quarter = |bpm: f64| (bpm * 4.0).round().clamp(0.0, 1200.0) as u16;
    let mut values = [0u16; 5];
    let mut quality = [Quality::None; 5];
    if !lost {
        values[Channel::Fhr1.index()] = quarter(fhr);
        quality[Channel::Fhr1.index()] = Quality::Good;
    }
    values[Channel::Mhr.index()] = quarter(mhr);
    quality[Channel::Mhr.index()] = Quality::Good;
    values[Channel::Ua.index()] = (toco * 2.0).round() as u16;
    quality[Channel::Ua.index()] = Quality::Unknown;
    Sample {
        values,
        quality,
        fetal_movement: false,
    }
}

/// The synthetic programme as a source of seconds.
#[derive(Debug, Default)]
pub struct Synthetic {
    second: u64,
    /// No toco transducer applied: the uterine-activity channel records nothing.
    without_toco: bool,
    /// Twins: a second fetus on FHR2 ([`Synthetic::twins`]).
    twins: bool,
    /// Twins whose FHR2 transducer records twin A for [`SLIP_S`] of each programme
    /// ([`Synthetic::twins_slipping`]).
    slipping: bool,
}

/// When, in each programme, the slipping twins' FHR2 transducer records twin A (s from the
/// programme's start, half-open) ([`Synthetic::twins_slipping`]).
pub const SLIP_S: std::ops::Range<u64> = 600..1200;
/// How far above twin A's rate FHR2 reads it while slipped, bpm (one heart, two transducers).
pub const SLIP_OFFSET_BPM: u16 = 2;

/// How far twin B's programme runs ahead of twin A's, s ([`Synthetic::twins`]).
pub const TWIN_B_AHEAD_S: u64 = PROGRAMME_S / 2;
/// How much faster twin B's heart beats than twin A's, bpm ([`Synthetic::twins`]).
pub const TWIN_B_FASTER_BPM: u16 = 12;

impl Synthetic {
    /// From the programme's start.
    pub fn new() -> Self {
        Self::default()
    }

    /// From `second` into the programme (so several beds do not show the same trace).
    pub fn starting_at(second: u64) -> Self {
        Self {
            second,
            ..Self::default()
        }
    }

    /// From `second` into the programme, for twins, each with its own Doppler transducer: twin
    /// A on FHR1 as [`Synthetic::starting_at`], twin B on FHR2, its programme
    /// [`TWIN_B_AHEAD_S`] ahead and [`TWIN_B_FASTER_BPM`] faster (so its decelerations come at
    /// other times than twin A's, and the two traces stay apart; where its programme has the
    /// transducer record the mother, FHR2 records this mother's rate); one mother, one toco.
    pub fn twins(second: u64) -> Self {
        Self {
            twins: true,
            ..Self::starting_at(second)
        }
    }

    /// [`Synthetic::twins`], but for [`SLIP_S`] of each programme twin B's transducer has
    /// slipped onto twin A: FHR2 records twin A's heart, [`SLIP_OFFSET_BPM`] above FHR1 (the
    /// case the centre's cross-channel check is for: the other twin goes unwatched).
    pub fn twins_slipping(second: u64) -> Self {
        Self {
            slipping: true,
            ..Self::twins(second)
        }
    }

    /// From `second` into the programme, with no toco transducer applied (a bed where only the
    /// heart rates are recorded, as a home visit or a mother who cannot bear the belt may be):
    /// the uterine-activity channel carries no signal, so the analysis knows no contraction
    /// and says so on every window.
    pub fn without_toco(second: u64) -> Self {
        Self {
            without_toco: true,
            ..Self::starting_at(second)
        }
    }

    /// `seconds` of the programme as one recording's samples.
    pub fn samples(seconds: u64) -> Vec<Sample> {
        (0..seconds * 4)
            .map(|i| sample_at(i as f64 / 4.0))
            .collect()
    }
}

impl SecondSource for Synthetic {
    fn next_second(&mut self) -> Option<[Sample; 4]> {
        let t = self.second as f64;
        self.second += 1;
        Some(std::array::from_fn(|i| {
            let mut sample = sample_at(t + i as f64 / 4.0);
            if self.without_toco {
                sample.values[Channel::Ua.index()] = 0;
                sample.quality[Channel::Ua.index()] = Quality::None;
            }
            if self.twins {
                let b = sample_at((t + TWIN_B_AHEAD_S as f64) + i as f64 / 4.0);
                let (fhr, mhr) = (Channel::Fhr1.index(), Channel::Mhr.index());
                let slipped = self.slipping && SLIP_S.contains(&((t as u64) % PROGRAMME_S));
                let value = if slipped {
                    if sample.values[fhr] != 0 {
                        sample.values[fhr] + 4 * SLIP_OFFSET_BPM
                    } else {
                        0
                    }
                } else if b.values[fhr] == b.values[mhr] {
                    // Where twin B's programme has its transducer record the mother, it records
                    // this mother.
                    sample.values[mhr]
                } else if b.values[fhr] != 0 {
                    b.values[fhr] + 4 * TWIN_B_FASTER_BPM
                } else {
                    0
                };
                if value != 0 {
                    sample.values[Channel::Fhr2.index()] = value;
                    sample.quality[Channel::Fhr2.index()] = Quality::Good;
                }
            }
            sample
        }))
    }

    /// While the slipping twins' FHR2 records twin A, the monitor's own cross-channel
    /// verification reports coincidence, as a Philips monitor's does.
    fn flags(&self) -> BlockFlags {
        let last = self.second.saturating_sub(1) % PROGRAMME_S;
        if self.slipping && SLIP_S.contains(&last) {
            BlockFlags(BlockFlags::COINCIDENCE)
        } else {
            BlockFlags(0)
        }
    }

    fn modes(&self) -> Modes {
        let mut modes = [TransducerMode::NoTransducer; 5];
        modes[Channel::Fhr1.index()] = TransducerMode::Ultrasound;
        if self.twins {
            modes[Channel::Fhr2.index()] = TransducerMode::Ultrasound;
        }
        modes[Channel::Mhr.index()] = TransducerMode::Mecg;
        if !self.without_toco {
            modes[Channel::Ua.index()] = TransducerMode::ExternalToco;
        }
        Modes(modes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fhr(t: f64) -> Option<f64> {
        sample_at(t).physical(Channel::Fhr1)
    }

    #[test]
    fn what_is_planted_is_in_the_signal() {
        for planted in programme() {
            match planted {
                Planted::Acceleration {
                    start_s,
                    duration_s,
                    amplitude,
                } => {
                    let peak = fhr(start_s as f64 + duration_s as f64 / 2.0).unwrap();
                    assert!(peak > BASELINE_BPM + amplitude - 6.0, "{planted:?}: {peak}");
                }
                Planted::Deceleration {
                    start_s,
                    duration_s,
                    depth,
                    kind,
                } => {
                    let lowest = (0..duration_s * 4)
                        .filter_map(|i| fhr(start_s as f64 + i as f64 / 4.0))
                        .fold(f64::MAX, f64::min);
                    assert!(lowest < BASELINE_BPM - depth + 6.0, "{kind}: {lowest}");
                }
                Planted::SignalLoss {
                    start_s,
                    duration_s,
                } => {
                    assert!((0..duration_s).all(|s| fhr((start_s + s) as f64).is_none()));
                }
                Planted::MaternalConfusion { start_s, .. } => {
                    let s = sample_at(start_s as f64 + 10.0);
                    assert_eq!(
                        s.values[Channel::Fhr1.index()],
                        s.values[Channel::Mhr.index()]
                    );
                }
                Planted::MaternalRateHalved {
                    start_s,
                    duration_s,
                } => {
                    let mhr = |t: f64| sample_at(t).physical(Channel::Mhr).unwrap();
                    for s in 0..duration_s {
                        let t = (start_s + s) as f64;
                        assert!((mhr(t) - 42.0).abs() < 0.5, "{planted:?}: {}", mhr(t));
                    }
                    assert!(mhr((start_s + duration_s) as f64) > 80.0);
                }
            }
        }
        // Contractions peak at 60 units 45 s after each onset.
        let peak = sample_at(180.0 + 45.0).physical(Channel::Ua).unwrap();
        assert!((peak - 60.0).abs() < 0.6, "{peak}");
    }

    #[test]
    fn the_late_deceleration_nadir_follows_the_contraction_peak() {
        // Contraction at 540 s peaks at 585 s; the late deceleration's nadir is at 635 s.
        let nadir = (590 * 4..680 * 4)
            .min_by_key(|&i| sample_at(i as f64 / 4.0).values[0])
            .unwrap() as f64
            / 4.0;
        assert!(nadir - 585.0 >= 40.0, "nadir at {nadir} s");
    }

    #[test]
    fn twins_carry_two_fetal_hearts_with_a_transducer_each() {
        let mut twins = Synthetic::twins(0);
        let modes = twins.modes();
        assert_eq!(modes.get(Channel::Fhr1), TransducerMode::Ultrasound);
        assert_eq!(modes.get(Channel::Fhr2), TransducerMode::Ultrasound);
        assert_eq!(
            Synthetic::new().modes().get(Channel::Fhr2),
            TransducerMode::NoTransducer
        );
        let (mut apart, mut seconds) = (0, 0);
        for second in 0..PROGRAMME_S {
            let samples = twins.next_second().unwrap();
            let [a, b] = [Channel::Fhr1, Channel::Fhr2].map(|c| samples[0].physical(c));
            // Twin A is the programme itself.
            assert_eq!(samples[0], {
                let mut s = sample_at(second as f64);
                s.values[Channel::Fhr2.index()] = samples[0].values[Channel::Fhr2.index()];
                s.quality[Channel::Fhr2.index()] = samples[0].quality[Channel::Fhr2.index()];
                s
            });
            if let (Some(a), Some(b)) = (a, b) {
                seconds += 1;
                apart += usize::from((a - b).abs() > 5.0);
            }
        }
        assert!(
            apart * 10 > seconds * 8,
            "the two hearts are apart {apart} of {seconds} s"
        );
    }

    #[test]
    fn slipping_twins_record_twin_a_twice_while_slipped_and_are_twins_otherwise() {
        let mut slipping = Synthetic::twins_slipping(0);
        let mut twins = Synthetic::twins(0);
        assert_eq!(slipping.modes(), twins.modes());
        for second in 0..2 * PROGRAMME_S {
            let (s, t) = (
                slipping.next_second().unwrap(),
                twins.next_second().unwrap(),
            );
            let coincidence = slipping.flags().contains(BlockFlags::COINCIDENCE);
            assert_eq!(
                coincidence,
                SLIP_S.contains(&(second % PROGRAMME_S)),
                "{second}"
            );
            assert_eq!(twins.flags(), BlockFlags(0));
            if SLIP_S.contains(&(second % PROGRAMME_S)) {
                for sample in s {
                    let a = sample.values[Channel::Fhr1.index()];
                    let b = sample.values[Channel::Fhr2.index()];
                    assert_eq!(
                        b,
                        if a == 0 { 0 } else { a + 4 * SLIP_OFFSET_BPM },
                        "{second}"
                    );
                }
            } else {
                assert_eq!(s, t, "{second}");
            }
        }
    }
}
