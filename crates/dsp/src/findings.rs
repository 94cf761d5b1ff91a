//! What the analysis reports. Times are seconds from the first sample of the stream.

use std::sync::Arc;

use ctg_proto::model::Channel;

pub use crate::prep::FalseKind;
pub use crate::table::{BaselineBand, DecelerationRow, VariabilityBand};

/// An acceleration (NICHD 2008 / JSOG / FIGO 2015: ≥ 15 bpm for ≥ 15 s at ≥ 32 weeks).
#[derive(Clone, Debug, PartialEq)]
pub struct Acceleration {
    /// Departure from the baseline.
    pub start_s: f64,
    /// Return to the baseline.
    pub end_s: f64,
    /// The acme.
    pub peak_s: f64,
    /// Acme above the baseline, bpm.
    pub amplitude_bpm: f64,
    /// Lasting 2 minutes or more: a prolonged acceleration (NICHD 2008; JSOG 持続一過性頻脈),
    /// in the profiles that have the class ([`crate::TypingConfig::prolonged_acceleration_s`]).
    pub prolonged: bool,
}

/// Deceleration types (NICHD 2008, FIGO 2015, JSOG).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DecelerationType {
    /// Gradual, nadir with the contraction's acme.
    Early,
    /// Gradual, nadir after the contraction's acme.
    Late,
    /// Abrupt, or unrelated to contractions.
    Variable,
    /// Long: ≥ 2 min (NICHD, JSOG) or > 3 min (FIGO).
    Prolonged,
}

impl DecelerationType {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            DecelerationType::Early => "early",
            DecelerationType::Late => "late",
            DecelerationType::Variable => "variable",
            DecelerationType::Prolonged => "prolonged",
        }
    }
}

/// Which typing rule gave a deceleration its type, with the limit it compared against: the
/// "why" a reader at the wall asks for (clinical.md §4.7: show which rule fired and the
/// measured numbers). The rules are [`crate::TypingConfig`]'s, in the order they are tried
/// (clinical.md §1.5; NICHD 2008, FIGO 2015, JSOG).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TypingRule {
    /// Prolonged: it lasted at least `limit_s`.
    Duration {
        /// The profile's prolonged limit, s (120 NICHD/JSOG, 180 FIGO).
        limit_s: f64,
    },
    /// Variable: onset to nadir under `limit_s` (abrupt; the 30-s rule's lower grey edge).
    AbruptOnset {
        /// The abrupt limit, s.
        limit_s: f64,
    },
    /// Variable: no contraction's acme lies from `before_s` before its start to its end.
    NoContraction {
        /// How long before the start an acme still counts, s.
        before_s: f64,
    },
    /// Early: the nadir is within `limit_s` of the contraction's acme.
    NadirWithAcme {
        /// The largest lag still early, s.
        limit_s: f64,
    },
    /// Late: the nadir is more than `limit_s` after the acme (and the onset gradual, where the
    /// profile judges shape).
    NadirAfterAcme {
        /// The largest lag still early, s.
        limit_s: f64,
    },
    /// Variable: the nadir is more than `limit_s` before the acme.
    NadirBeforeAcme {
        /// The largest lead still early, s.
        limit_s: f64,
    },
    /// Variable: the nadir is late against the acme, but onset to nadir is under `gradual_s`
    /// (in the grey zone of the 30-s rule, not gradual enough for late).
    NotGradual {
        /// Onset to nadir from which a deceleration is gradual, s.
        gradual_s: f64,
    },
}

impl TypingRule {
    /// Snake-case name, as in the hub's findings.
    pub fn name(self) -> &'static str {
        match self {
            TypingRule::Duration { .. } => "duration",
            TypingRule::AbruptOnset { .. } => "abrupt_onset",
            TypingRule::NoContraction { .. } => "no_contraction",
            TypingRule::NadirWithAcme { .. } => "nadir_with_acme",
            TypingRule::NadirAfterAcme { .. } => "nadir_after_acme",
            TypingRule::NadirBeforeAcme { .. } => "nadir_before_acme",
            TypingRule::NotGradual { .. } => "not_gradual",
        }
    }

    /// The limit the rule compared against, s.
    pub fn limit_s(self) -> f64 {
        match self {
            TypingRule::Duration { limit_s }
            | TypingRule::AbruptOnset { limit_s }
            | TypingRule::NadirWithAcme { limit_s }
            | TypingRule::NadirAfterAcme { limit_s }
            | TypingRule::NadirBeforeAcme { limit_s } => limit_s,
            TypingRule::NoContraction { before_s } => before_s,
            TypingRule::NotGradual { gradual_s } => gradual_s,
        }
    }
}

/// JSOG severity (軽度 / 高度), thresholds from the level table's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// 軽度.
    Mild,
    /// 高度.
    Severe,
}

/// A typed deceleration, with the measurements the type rests on.
#[derive(Clone, Debug, PartialEq)]
pub struct Deceleration {
    /// Departure from the baseline.
    pub start_s: f64,
    /// Return to the baseline.
    pub end_s: f64,
    /// The nadir.
    pub nadir_s: f64,
    /// Baseline minus nadir, bpm.
    pub depth_bpm: f64,
    /// FHR at the nadir, bpm.
    pub nadir_bpm: f64,
    /// Onset to nadir, s (the 30-s rule's measurement).
    pub onset_to_nadir_s: f64,
    /// Nadir minus the associated contraction's acme, s (`None`: no contraction associated).
    pub lag_to_contraction_s: Option<f64>,
    /// The type.
    pub kind: DecelerationType,
    /// The rule that gave it its type.
    pub rule: TypingRule,
    /// JSOG severity.
    pub severity: Severity,
    /// With ≥ 50 % of the contractions in the 20 minutes up to its end.
    pub recurrent: bool,
}

impl Deceleration {
    /// Why it has its type, in words, with the measured value and the rule's limit (for
    /// people: the CLI's summary), e.g. "nadir 42 s after the contraction acme (> 30 s)".
    pub fn reason(&self) -> String {
        let lag = self.lag_to_contraction_s.unwrap_or(f64::NAN);
        let onset = self.onset_to_nadir_s;
        // Whole seconds, or tenths where whole ones would read as the limit itself.
        let near = |v: f64, limit: f64| {
            let whole = format!("{v:.0}");
            if v != limit && whole.parse::<f64>() == Ok(limit) {
                format!("{v:.1}")
            } else {
                whole
            }
        };
        match self.rule {
            TypingRule::Duration { limit_s } => {
                format!(
                    "lasted {:.0} s (≥ {limit_s:.0} s)",
                    self.end_s - self.start_s
                )
            }
            TypingRule::AbruptOnset { limit_s } => format!(
                "onset to nadir {} s (< {limit_s:.0} s: abrupt)",
                near(onset, limit_s)
            ),
            TypingRule::NoContraction { before_s } => {
                format!("no contraction acme from {before_s:.0} s before its start to its end")
            }
            TypingRule::NadirWithAcme { limit_s } => {
                format!("nadir {lag:+.0} s from the contraction acme (within ±{limit_s:.0} s)")
            }
            TypingRule::NadirAfterAcme { limit_s } => format!(
                "nadir {} s after the contraction acme (> {limit_s:.0} s)",
                near(lag, limit_s)
            ),
            TypingRule::NadirBeforeAcme { limit_s } => format!(
                "nadir {} s before the contraction acme (> {limit_s:.0} s)",
                near(-lag, limit_s)
            ),
            TypingRule::NotGradual { gradual_s } => format!(
                "nadir {lag:.0} s after the acme, but onset to nadir {} s (< {gradual_s:.0} s: not gradual)",
                near(onset, gradual_s)
            ),
        }
    }
}

/// A uterine contraction.
#[derive(Clone, Debug, PartialEq)]
pub struct Contraction {
    /// Rise from the resting tone.
    pub start_s: f64,
    /// The acme.
    pub peak_s: f64,
    /// Return to the resting tone.
    pub end_s: f64,
    /// Acme above the resting tone (units or mmHg).
    pub amplitude: f64,
}

/// A stretch of signal judged false.
#[derive(Clone, Debug, PartialEq)]
pub struct FalseSignal {
    /// The channel.
    pub channel: Channel,
    /// First sample's time.
    pub start_s: f64,
    /// One past the last sample's time.
    pub end_s: f64,
    /// Why.
    pub kind: FalseKind,
}

/// The clinical baseline of a 10-minute window.
#[derive(Clone, Debug, PartialEq)]
pub struct BaselineWindow {
    /// Window start.
    pub start_s: f64,
    /// Window end.
    pub end_s: f64,
    /// Rounded to 5 bpm; `None` when indeterminate (< 2 min of identifiable baseline).
    pub bpm: Option<f64>,
}

/// Variability of a 10-minute window.
#[derive(Clone, Debug, PartialEq)]
pub struct VariabilityWindow {
    /// Window start.
    pub start_s: f64,
    /// Window end.
    pub end_s: f64,
    /// Median peak-to-trough amplitude of the minutes, bpm (`None`: too little signal).
    pub amplitude_bpm: Option<f64>,
    /// The band (`None`: too little signal).
    pub band: Option<VariabilityBand>,
}

/// FIGO 2015 classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FigoClass {
    /// Normal.
    Normal,
    /// Suspicious.
    Suspicious,
    /// Pathological.
    Pathological,
}

impl FigoClass {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            FigoClass::Normal => "normal",
            FigoClass::Suspicious => "suspicious",
            FigoClass::Pathological => "pathological",
        }
    }
}

/// Where a window's baseline or variability band came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BandSource {
    /// Measured in the window.
    Measured,
    /// Not measurable in the window (too little identifiable baseline or signal): the band of
    /// the last window where it was (JSOG: 判定困難なら直前の10分から判断する).
    Carried,
    /// Not measured in this window nor in any before it (a stream's first windows on a poor
    /// signal): the normal band is assumed.
    Assumed,
}

impl BandSource {
    /// `measured`, `carried` or `assumed`.
    pub fn name(self) -> &'static str {
        match self {
            BandSource::Measured => "measured",
            BandSource::Carried => "carried",
            BandSource::Assumed => "assumed",
        }
    }
}

/// What a window's classification rests on.
#[derive(Clone, Debug, PartialEq)]
pub struct Evidence {
    /// Baseline band used (the previous window's when this one is indeterminate).
    pub baseline: BaselineBand,
    /// Where `baseline` came from.
    pub baseline_source: BandSource,
    /// Variability band used (the previous window's when this one's cannot be measured).
    pub variability: VariabilityBand,
    /// Where `variability` came from.
    pub variability_source: BandSource,
    /// The worst graded deceleration row.
    pub deceleration: DecelerationRow,
    /// A sinusoidal pattern was found.
    pub sinusoidal: bool,
    /// Contractions in the window.
    pub contractions: usize,
    /// More than 5 contractions per 10 min averaged over 30 min (NICHD).
    pub tachysystole: bool,
    /// Share of the window with a trusted fetal signal, %.
    pub signal_percent: f64,
    /// Less trusted signal than the analysis's own event gate
    /// ([`crate::WindowConfig::min_event_signal_share`], 80 %): the level is indicative only
    /// (clinical.md §4.5: grey out analysis on a poor signal).
    pub low_signal: bool,
    /// Share of the window's whole minutes in which the toco could have shown a contraction
    /// (at least half recorded, and not flat), %: where it is low, "no contractions" means
    /// the toco is lost or off the abdomen, not that the uterus was at rest.
    pub toco_readable_percent: f64,
}

impl Evidence {
    /// The baseline or the variability band was not measured in this window (carried from an
    /// earlier one, or assumed): the level rests on more than the window shows.
    pub fn rests_on_earlier_windows(&self) -> bool {
        self.unmeasured().next().is_some()
    }

    /// The bands not measured in this window: `("baseline" | "variability", where it came
    /// from)`.
    pub fn unmeasured(&self) -> impl Iterator<Item = (&'static str, BandSource)> {
        [
            ("baseline", self.baseline_source),
            ("variability", self.variability_source),
        ]
        .into_iter()
        .filter(|&(_, source)| source != BandSource::Measured)
    }

    /// The toco could show a contraction in fewer than half of the window's minutes: its count
    /// of contractions there says nothing (the analysis then judges recurrence by the
    /// decelerations' frequency, [`crate::TypingConfig::recurrent_without_toco`]).
    pub fn toco_not_recording(&self) -> bool {
        self.toco_readable_percent < 50.0
    }
}

/// Classification of one 10-minute window.
#[derive(Clone, Debug, PartialEq)]
pub struct Classification {
    /// Window start.
    pub start_s: f64,
    /// Window end.
    pub end_s: f64,
    /// JSOG level 1–5.
    pub jsog_level: u8,
    /// NICHD category 1–3.
    pub nichd_category: u8,
    /// FIGO class.
    pub figo: FigoClass,
    /// Version of the JSOG table that produced `jsog_level`.
    pub table_version: Arc<str>,
    /// What it rests on.
    pub evidence: Evidence,
}

/// One final finding, in the order the analyzer makes them final.
#[derive(Clone, Debug, PartialEq)]
pub enum Finding {
    /// An acceleration.
    Acceleration(Acceleration),
    /// A deceleration.
    Deceleration(Deceleration),
    /// A contraction.
    Contraction(Contraction),
    /// A false-signal stretch.
    FalseSignal(FalseSignal),
    /// A window's baseline.
    Baseline(BaselineWindow),
    /// A window's variability.
    Variability(VariabilityWindow),
    /// A window's classification.
    Classification(Classification),
}

/// An event still under way (not final): shown early, may change or vanish.
#[derive(Clone, Debug, PartialEq)]
pub enum Provisional {
    /// A deceleration under way.
    Deceleration {
        /// Departure from the baseline.
        start_s: f64,
        /// Deepest so far, bpm below baseline.
        depth_bpm: f64,
        /// How long so far, s.
        duration_s: f64,
    },
}

/// Everything an analysis found, collected.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Samples analysed.
    pub samples: u64,
    /// Share of samples without a fetal signal (as recorded), %.
    pub signal_loss_percent: f64,
    /// Per-window baselines.
    pub baseline_windows: Vec<BaselineWindow>,
    /// Per-window variability.
    pub variability: Vec<VariabilityWindow>,
    /// Dawes–Redman short-term variation over the whole stream, ms.
    pub stv_ms: Option<f64>,
    /// Accelerations.
    pub accelerations: Vec<Acceleration>,
    /// Decelerations.
    pub decelerations: Vec<Deceleration>,
    /// Contractions.
    pub contractions: Vec<Contraction>,
    /// False-signal stretches.
    pub false_signal: Vec<FalseSignal>,
    /// Per-window classification.
    pub classification: Vec<Classification>,
    /// The continuous baseline at every sample (bpm, NaN where unknown), when asked for.
    pub baseline_curve: Vec<f32>,
}

impl Report {
    /// Adds a finding to its list.
    pub fn add(&mut self, finding: Finding) {
        match finding {
            Finding::Acceleration(a) => self.accelerations.push(a),
            Finding::Deceleration(d) => self.decelerations.push(d),
            Finding::Contraction(c) => self.contractions.push(c),
            Finding::FalseSignal(f) => self.false_signal.push(f),
            Finding::Baseline(b) => self.baseline_windows.push(b),
            Finding::Variability(v) => self.variability.push(v),
            Finding::Classification(c) => self.classification.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decelerations_reason_names_its_rule_and_reads_true_against_the_limit() {
        let late = Deceleration {
            start_s: 100.0,
            end_s: 196.0,
            nadir_s: 160.0,
            depth_bpm: 28.0,
            nadir_bpm: 112.0,
            onset_to_nadir_s: 60.0,
            lag_to_contraction_s: Some(30.5),
            kind: DecelerationType::Late,
            rule: TypingRule::NadirAfterAcme { limit_s: 30.0 },
            severity: Severity::Severe,
            recurrent: false,
        };
        // 30.5 s would print as "30" in whole seconds: "30 s (> 30 s)" reads false.
        assert_eq!(
            late.reason(),
            "nadir 30.5 s after the contraction acme (> 30 s)"
        );
        let later = Deceleration {
            lag_to_contraction_s: Some(48.25),
            ..late.clone()
        };
        assert_eq!(
            later.reason(),
            "nadir 48 s after the contraction acme (> 30 s)"
        );
        let abrupt = Deceleration {
            onset_to_nadir_s: 12.0,
            kind: DecelerationType::Variable,
            rule: TypingRule::AbruptOnset { limit_s: 25.0 },
            ..late.clone()
        };
        assert_eq!(abrupt.reason(), "onset to nadir 12 s (< 25 s: abrupt)");
        let prolonged = Deceleration {
            end_s: 250.0,
            kind: DecelerationType::Prolonged,
            rule: TypingRule::Duration { limit_s: 120.0 },
            ..late.clone()
        };
        assert_eq!(prolonged.reason(), "lasted 150 s (≥ 120 s)");
    }
}
