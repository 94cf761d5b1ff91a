//! `ctg-dsp`: streaming CTG analysis.
//!
//! An [`Analyzer`] per stream takes samples in blocks of any size and makes [`Finding`]s final
//! as soon as their inputs are final; an ongoing deceleration is reported as [`Provisional`].
//! Offline analysis ([`analyze`]) is the same analyzer fed the whole recording at once (without
//! the live tracker behind the provisional findings), so a recording analysed live, block by
//! block, gives exactly the findings it gives from a file (DESIGN.md invariant 5;
//! property-tested on real recordings).
//!
//! Sans-IO and deterministic: no clock, no threads, no I/O. Every stage consumes its input in
//! index order and decides each sample as it would one at a time (a stage may take a run of
//! them at once), so nothing depends on how the input was chunked, and every buffer is bounded
//! (about 40 minutes of history per stream).
//!
//! ```text
//! samples ─▶ prep (fetal channel, range, MHR coincidence, islands) ─▶ baseline (2 passes)
//!        │                                   └─▶ false-signal stretches
//!        │    baseline-aligned FHR ─▶ acceleration / deceleration detectors ─┐
//!        └─▶ toco: smoothing, resting tone, contraction detector ────────────┼─▶ typing,
//!                                                                            │   severity,
//!            10-minute windows: baseline, variability, STV, sinusoidal ─────┴─▶ recurrence,
//!                                                                                classification
//! ```
//!
//! Definitions follow NICHD 2008, FIGO 2015 and JSOG (cited per module); where they differ the
//! [`Profile`] chooses. The JSOG level table is data ([`table`]), never code.

mod baseline;
mod classify;
mod contractions;
pub mod cross_channel;
mod events;
pub mod findings;
mod histogram;
pub mod json;
mod knots;
mod prep;
mod ring;
mod series;
#[doc(hidden)]
pub mod stages;
pub mod table;

use std::collections::VecDeque;
use std::sync::Arc;

use ctg_proto::model::{Channel, Quality, Sample};
use rustfft::Fft;

pub use baseline::BaselineConfig;
pub use classify::{Profile, TypingConfig, WindowConfig};
pub use contractions::ContractionConfig;
pub use events::ExcursionConfig;
pub use findings::*;
pub use prep::PrepConfig;
pub use table::JsogTable;

use classify::{FigoHistory, HZ, WindowInput, WindowMeasures};
use contractions::{ContractionEvent, Contractions};
use events::{Excursion, ExcursionDetector};
use prep::Prep;
use series::Series;

/// Samples in a classification window (10 minutes).
pub const WINDOW_SAMPLES: u64 = 2400;
/// History kept per stream (40 minutes): windows, recurrence, typing.
const HISTORY_SAMPLES: u64 = 9600;
/// The stages after preparation catch up at least this often, samples.
const ADVANCE_EVERY: u64 = 64;
/// Contractions must be final this far past a deceleration's end before it is typed.
const TYPING_MARGIN: u64 = 180 * 4;

/// Everything an analyzer needs to know.
#[derive(Clone, Debug)]
pub struct AnalyzerConfig {
    /// The channel carrying the fetal heart rate.
    pub fetal: Channel,
    /// A channel of the same fetus used where `fetal` has no signal (never for twins).
    pub fetal_fallback: Option<Channel>,
    /// Whose definitions.
    pub profile: Profile,
    /// Gestational age, where known (accelerations are 10 bpm × 10 s before 32 weeks).
    pub gestational_weeks: Option<u32>,
    /// Signal preparation.
    pub prep: PrepConfig,
    /// Baseline.
    pub baseline: BaselineConfig,
    /// Accelerations.
    pub acceleration: ExcursionConfig,
    /// Decelerations.
    pub deceleration: ExcursionConfig,
    /// Contractions.
    pub contractions: ContractionConfig,
    /// Event typing (decelerations' types and recurrence; prolonged accelerations).
    pub typing: TypingConfig,
    /// Window measurements.
    pub window: WindowConfig,
    /// The JSOG level table.
    pub table: Arc<JsogTable>,
    /// Keep the baseline at every sample for [`Report::baseline_curve`] (grows with the
    /// stream: for offline use).
    pub keep_baseline_curve: bool,
}

impl AnalyzerConfig {
    /// Defaults for a profile, analysing FHR1, with the shipped JSOG table.
    pub fn new(profile: Profile) -> Self {
        Self {
            fetal: Channel::Fhr1,
            fetal_fallback: None,
            profile,
            gestational_weeks: None,
            prep: PrepConfig::default(),
            baseline: BaselineConfig::default(),
            acceleration: ExcursionConfig::standard(),
            deceleration: ExcursionConfig::standard(),
            contractions: ContractionConfig::default(),
            typing: TypingConfig::for_profile(profile),
            window: WindowConfig::default(),
            table: Arc::new(JsogTable::default_table()),
            keep_baseline_curve: false,
        }
    }

    /// Reads the fetal heart rate from `fetal`, its gaps filled from the other of FHR1 and FHR2
    /// (the same fetus's other socket; none for FHR3).
    pub fn with_fetal_channel(mut self, fetal: Channel) -> Self {
        self.fetal = fetal;
        self.fetal_fallback = match fetal {
            Channel::Fhr1 => Some(Channel::Fhr2),
            Channel::Fhr2 => Some(Channel::Fhr1),
            _ => None,
        };
        self
    }

    /// Before 32 weeks accelerations are ≥ 10 bpm for ≥ 10 s (NICHD 2008, JSOG).
    pub fn with_gestational_weeks(mut self, weeks: u32) -> Self {
        self.set_gestational_weeks(Some(weeks));
        self
    }

    /// Sets the gestational age (`None`: unknown) and the acceleration criteria that go with
    /// it: ≥ 10 bpm for ≥ 10 s before 32 weeks (NICHD 2008, JSOG), otherwise the standard
    /// 15 bpm for 15 s.
    pub fn set_gestational_weeks(&mut self, weeks: Option<u32>) {
        self.gestational_weeks = weeks;
        let (amplitude, samples) = if weeks.is_some_and(|w| w < 32) {
            (10.0, 40)
        } else {
            let standard = ExcursionConfig::standard();
            (standard.min_amplitude, standard.min_duration)
        };
        self.acceleration.min_amplitude = amplitude;
        self.acceleration.min_duration = samples;
        self.acceleration.min_time_beyond = samples;
    }
}

#[derive(Clone, Copy, Debug)]
struct TypedDecel {
    excursion: Excursion,
    kind: DecelerationType,
    severity: Severity,
    recurrent: bool,
    contraction_peak: Option<u64>,
}

/// A streaming analyzer for one stream.
pub struct Analyzer {
    config: AnalyzerConfig,
    table_version: Arc<str>,
    next_index: u64,
    lost: u64,
    prep: Prep,
    /// Carries each sample's recorded value and false-signal verdict past the baseline, where
    /// an island sample near it may be trusted after all, and whether its MHR value is false
    /// (reported in step with the fetal verdicts).
    baseline: baseline::Baseline<Carried>,
    accel: ExcursionDetector,
    decel: ExcursionDetector,
    /// The live deceleration tracker behind [`Analyzer::provisional`]: the prepared fetal
    /// value as soon as it leaves the preparation stage, against the lower of the newest
    /// baseline certain to be final by then (`live_lag` samples back) and the dominant level
    /// of the 10 minutes up to it.
    live: ExcursionDetector,
    /// Prepared samples waiting for the baseline stage to catch up with their reference, from
    /// sample `live_first` on: their fetal values, and the dominant level of the 10 minutes up
    /// to each.
    live_first: u64,
    live_fetal: Vec<f32>,
    live_recent: Vec<f32>,
    /// Scratch: the live tracker's reference levels.
    live_levels: Vec<f32>,
    /// Whether the live tracker runs ([`Analyzer::without_provisional`]: not).
    provisional: bool,
    /// How far back the live tracker's reference baseline lies, samples ([`baseline::final_lag`]).
    live_lag: u64,
    /// One past the last sample fed to `live`.
    live_end: u64,
    contractions: Contractions,
    aligned: Series<AlignedSample>,
    /// Scratch: the trusted fetal values of the samples the baseline stage hands on at once,
    /// and their history entries.
    trusted: Vec<f32>,
    aligned_run: Vec<AlignedSample>,
    /// Scratch: a block's fetal values (quarter bpm) and maternal heart rates, as pushed.
    block_fetal: Vec<u16>,
    block_mhr: Vec<f32>,
    contraction_list: VecDeque<ContractionEvent>,
    pending_decels: VecDeque<Excursion>,
    typed_decels: VecDeque<TypedDecel>,
    accels: VecDeque<Excursion>,
    pending_accels: VecDeque<Excursion>,
    false_runs: FalseRuns,
    /// False signal on the MHR channel (outside the plausible maternal range).
    mhr_false_runs: FalseRuns,
    next_window: u64,
    window_contractions: VecDeque<usize>,
    figo: FigoHistory,
    stv: (f64, u32),
    fft: Arc<dyn Fft<f64>>,
    curve: Vec<f32>,
    findings: VecDeque<Finding>,
    finished: bool,
    /// [`Analyzer::progress`] when the later stages last ran.
    progress_seen: [u64; 5],
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("next_index", &self.next_index)
            .field("aligned_end", &self.aligned.end())
            .finish_non_exhaustive()
    }
}

/// One sample of the aligned history: the trusted fetal value in quarter bpm (0: none; the
/// values are the monitor's quarter-bpm readings, so this is exact) and the baseline, in 6
/// bytes (the history holds 40 minutes per stream).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, packed)]
struct AlignedSample {
    fetal_quarter_bpm: u16,
    baseline: f32,
}

impl AlignedSample {
    fn new(fetal_quarter_bpm: u16, baseline: f32) -> Self {
        Self {
            fetal_quarter_bpm,
            baseline,
        }
    }

    /// (fetal bpm or NaN, baseline bpm or NaN).
    fn values(self) -> (f32, f32) {
        let q = self.fetal_quarter_bpm;
        let fetal = if q == 0 { f32::NAN } else { f32::from(q) / 4.0 };
        (fetal, self.baseline)
    }
}

/// What a sample carries past the baseline stage besides its fetal value: the value as
/// recorded, in quarter bpm (0: none; exact, as [`AlignedSample`]), where an island sample near
/// the baseline may be trusted after all; its false-signal verdict; and whether its MHR value is
/// false (reported in step with the fetal verdicts).
#[derive(Clone, Copy, Debug, Default)]
struct Carried {
    recorded_quarters: u16,
    kind: FalseKind,
    mhr_false: bool,
}

impl Carried {
    /// What a prepared sample carries past the baseline stage.
    fn of(p: &prep::Prepared) -> Self {
        Self {
            recorded_quarters: p.recorded_quarters,
            kind: p.false_kind,
            mhr_false: p.mhr_false,
        }
    }

    /// The recorded value, bpm (NaN: none).
    fn recorded(self) -> f32 {
        prep::quarters_to_bpm(self.recorded_quarters)
    }
}

/// Joins consecutive samples flagged alike into one false-signal finding.
#[derive(Debug)]
struct FalseRuns {
    channel: Channel,
    /// The run under way: (first sample, one past the last, kind).
    run: Option<(u64, u64, FalseKind)>,
}

impl FalseRuns {
    fn new(channel: Channel) -> Self {
        Self { channel, run: None }
    }

    /// Sample `index` (one after the last) is flagged `kind`; a run that ends becomes a finding.
    fn track(&mut self, index: u64, kind: FalseKind, findings: &mut VecDeque<Finding>) {
        match (self.run, kind) {
            (Some((start, _, run_kind)), k) if k == run_kind => {
                self.run = Some((start, index + 1, run_kind));
            }
            (_, k) => {
                self.close(findings);
                if k != FalseKind::None {
                    self.run = Some((index, index + 1, k));
                }
            }
        }
    }

    /// Ends the run under way, if any, as a finding.
    fn close(&mut self, findings: &mut VecDeque<Finding>) {
        if let Some((start, end, kind)) = self.run.take() {
            findings.push_back(Finding::FalseSignal(FalseSignal {
                channel: self.channel,
                start_s: seconds(start),
                end_s: seconds(end),
                kind,
            }));
        }
    }
}

fn seconds(index: u64) -> f64 {
    index as f64 / HZ
}

impl Analyzer {
    /// A new analyzer at sample 0.
    pub fn new(config: AnalyzerConfig) -> Self {
        Self::build(config, true)
    }

    /// A new analyzer at sample 0 that tracks no provisional findings
    /// ([`Analyzer::provisional`] is always empty), for a recording analysed after the fact,
    /// where nobody asks what is under way: the same final findings for less work.
    pub fn without_provisional(config: AnalyzerConfig) -> Self {
        Self::build(config, false)
    }

    fn build(config: AnalyzerConfig, provisional: bool) -> Self {
        Self {
            provisional,
            table_version: Arc::from(config.table.version.as_str()),
            next_index: 0,
            lost: 0,
            prep: Prep::new(config.prep.clone()),
            baseline: baseline::Baseline::new(&config.baseline),
            accel: ExcursionDetector::new(1, config.acceleration.clone()),
            decel: ExcursionDetector::new(-1, config.deceleration.clone()),
            live: ExcursionDetector::new(-1, config.deceleration.clone()),
            live_first: 0,
            live_fetal: Vec::with_capacity(2 * ADVANCE_EVERY as usize),
            live_recent: Vec::with_capacity(2 * ADVANCE_EVERY as usize),
            live_levels: Vec::with_capacity(2 * ADVANCE_EVERY as usize),
            live_lag: baseline::final_lag(&config.baseline),
            live_end: 0,
            contractions: Contractions::new(&config.contractions),
            // The history and a run the baseline stage hands on at once.
            aligned: Series::with_capacity(HISTORY_SAMPLES as usize + 128),
            trusted: Vec::with_capacity(128),
            aligned_run: Vec::with_capacity(128),
            block_fetal: Vec::with_capacity(ADVANCE_EVERY as usize),
            block_mhr: Vec::with_capacity(ADVANCE_EVERY as usize),
            contraction_list: VecDeque::new(),
            pending_decels: VecDeque::new(),
            typed_decels: VecDeque::new(),
            accels: VecDeque::new(),
            pending_accels: VecDeque::new(),
            false_runs: FalseRuns::new(config.fetal),
            mhr_false_runs: FalseRuns::new(Channel::Mhr),
            next_window: 0,
            window_contractions: VecDeque::new(),
            figo: FigoHistory::default(),
            stv: (0.0, 0),
            fft: classify::plan_fft((WINDOW_SAMPLES / 4) as usize),
            curve: Vec::new(),
            findings: VecDeque::new(),
            finished: false,
            progress_seen: [u64::MAX; 5],
            config,
        }
    }

    /// Samples fed so far.
    pub fn samples(&self) -> u64 {
        self.next_index
    }

    /// Feeds samples (any number, in stream order).
    pub fn push(&mut self, samples: &[Sample]) {
        if self.finished {
            return;
        }
        let mut rest = samples;
        while !rest.is_empty() {
            // The later stages catch up every `ADVANCE_EVERY` samples and at the end of each
            // block: what they decide does not depend on when they run (each gate waits for
            // its whole input), only that they run before the history they read is trimmed.
            let to_boundary = ADVANCE_EVERY - self.next_index % ADVANCE_EVERY;
            let (chunk, tail) = rest.split_at(rest.len().min(to_boundary as usize));
            rest = tail;
            let first = self.next_index;
            self.next_index += chunk.len() as u64;
            self.block_fetal.resize(chunk.len(), 0);
            self.block_mhr.resize(chunk.len(), f32::NAN);
            let (fetal_channel, fallback) = (self.config.fetal, self.config.fetal_fallback);
            let mut lost = 0;
            for (k, ((s, fetal_out), mhr_out)) in chunk
                .iter()
                .zip(self.block_fetal.iter_mut())
                .zip(self.block_mhr.iter_mut())
                .enumerate()
            {
                let mut fetal = s.value(fetal_channel);
                if fetal == 0
                    && let Some(fallback) = fallback
                {
                    fetal = s.value(fallback);
                }
                lost += u64::from(fetal == 0);
                self.contractions.push(
                    first + k as u64,
                    s.value(Channel::Ua),
                    s.quality[Channel::Ua.index()] != Quality::None,
                );
                *fetal_out = fetal;
                *mhr_out = prep::quarters_to_bpm(s.value(Channel::Mhr));
            }
            self.lost += lost;
            self.prep.push_block(&self.block_fetal, &self.block_mhr);
            if self.next_index.is_multiple_of(ADVANCE_EVERY) {
                self.advance(false);
            }
        }
        self.advance(false);
    }

    /// Tells the analysis whether the fetal channel is now a direct fetal ECG (scalp electrode)
    /// rather than Doppler, from the next sample on (the monitor reports its transducer mode).
    pub fn set_direct_ecg(&mut self, direct_ecg: bool) {
        if self.config.prep.direct_ecg != direct_ecg {
            self.config.prep.direct_ecg = direct_ecg;
            self.prep.set_direct_ecg(direct_ecg);
        }
    }

    /// Sets the channel the fetal heart rate is read from and the one that fills its gaps
    /// (`None`: none), from the next sample on; false signal is reported on `fetal` from then
    /// on. The hub reads a stream's one fetus from the channel its transducer is on, and stops
    /// the filling once a second fetal heart is recorded at the same time (twins), so two
    /// fetuses are never mixed in one trace.
    pub fn set_fetal_channels(&mut self, fetal: Channel, fallback: Option<Channel>) {
        self.config.fetal = fetal;
        self.config.fetal_fallback = fallback;
        self.false_runs.channel = fetal;
    }

    /// Sets the gestational age (`None`: unknown) for the accelerations not yet found: before
    /// 32 weeks they are ≥ 10 bpm for ≥ 10 s (NICHD 2008, JSOG;
    /// [`AnalyzerConfig::set_gestational_weeks`]). The hub learns it when a patient is put on
    /// the stream, often after it started; samples still before the baseline stage's
    /// look-ahead (8.5 minutes) are judged by it too.
    pub fn set_gestational_weeks(&mut self, weeks: Option<u32>) {
        if self.config.gestational_weeks != weeks {
            self.config.set_gestational_weeks(weeks);
            self.accel.set_config(self.config.acceleration.clone());
        }
    }

    /// The gestational age it applies (`None`: unknown).
    pub fn gestational_weeks(&self) -> Option<u32> {
        self.config.gestational_weeks
    }

    /// The channel this analyzer reads the fetal heart rate from.
    pub fn fetal_channel(&self) -> Channel {
        self.config.fetal
    }

    /// Takes the next final finding.
    pub fn poll(&mut self) -> Option<Finding> {
        self.findings.pop_front()
    }

    /// Events under way, not yet final: a deceleration that qualifies (the profile's depth
    /// for its least duration, 15 bpm for 15 s) in the trace as it arrives.
    ///
    /// Final findings wait for the baseline around them, whose windows look 8.5 minutes
    /// ahead. This does not: it measures the prepared fetal value (maternal and artefact
    /// samples already left out, about 20 s after arrival) against a reference level known by
    /// then: the lower of the newest baseline certain to be final (that of the sample 8.5
    /// minutes back) and the dominant level of the last 10 minutes (the baseline's first-pass
    /// estimator over the past only), so a baseline that has fallen since does not make a
    /// whole stretch of trace a deceleration. A deceleration shows here about half a minute
    /// after it starts, and how long it has lasted is known while it lasts (a prolonged one is
    /// prolonged here after its 2 or 3 minutes). It is provisional: its depth is against that
    /// reference, it may never become a final deceleration, and the final one may start or
    /// end elsewhere (on CTU-UHB, 1,997 of our 2,575 final decelerations were provisional
    /// first, a median 0.76 min after their start; `mimamori alarms`). In a stream's first
    /// 5 minutes (before the baseline's first knot) the recent level is the same estimate
    /// over every sample so far; nothing is provisional before 2 minutes of signal.
    pub fn provisional(&self) -> Vec<Provisional> {
        if self.finished {
            return Vec::new();
        }
        let now = self.live_end;
        self.live
            .ongoing(now)
            .map(|e| Provisional::Deceleration {
                start_s: seconds(e.start),
                depth_bpm: f64::from(e.amplitude),
                duration_s: seconds(now - e.start),
            })
            .into_iter()
            .collect()
    }

    /// Ends the stream: everything still held becomes final (call [`Analyzer::poll`] after).
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let end = self.next_index;
        self.prep.finish();
        self.contractions.finish(end);
        // Pad the baseline's windows with "no signal" so every real sample comes out.
        let pad = baseline::final_lag(&self.config.baseline) + 2;
        self.drain_prep();
        for index in end..end + pad {
            self.baseline.push(index, 0, Carried::default());
            // Released as often as while streaming, so the baseline's rings keep their size.
            if index % ADVANCE_EVERY == ADVANCE_EVERY - 1 {
                self.drain_baseline(end);
            }
        }
        self.drain_baseline(end);
        self.accel.finish();
        self.decel.finish();
        self.drain_events();
        self.false_runs.close(&mut self.findings);
        self.mhr_false_runs.close(&mut self.findings);
        self.advance(true);
    }

    /// The report of everything polled so far plus what remains (consumes the analyzer).
    pub fn into_report(mut self) -> Report {
        self.finish();
        let mut report = Report {
            samples: self.next_index,
            signal_loss_percent: if self.next_index == 0 {
                0.0
            } else {
                100.0 * self.lost as f64 / self.next_index as f64
            },
            stv_ms: (self.stv.1 > 0).then(|| self.stv.0 / f64::from(self.stv.1)),
            ..Report::default()
        };
        while let Some(f) = self.poll() {
            report.add(f);
        }
        report.baseline_curve = std::mem::take(&mut self.curve);
        report
    }

    fn drain_prep(&mut self) {
        let provisional = self.provisional;
        let (baseline, live_fetal, live_recent) = (
            &mut self.baseline,
            &mut self.live_fetal,
            &mut self.live_recent,
        );
        self.prep.release_runs(|first, run| {
            for (k, p) in run.iter().enumerate() {
                baseline.push(first + k as u64, p.fetal_quarters(), Carried::of(p));
                if provisional {
                    live_fetal.push(p.fetal());
                    live_recent.push(baseline.recent_level());
                }
            }
        });
    }

    /// Feeds the live tracker the prepared samples, now that the baseline stage has released
    /// (after [`Analyzer::drain_baseline`]) every reference they need.
    fn drain_live(&mut self) {
        let n = self.live_fetal.len();
        if n == 0 {
            return;
        }
        let first = self.live_first;
        // The reference of sample `i` is the final baseline of sample `i − live_lag` (NaN for
        // the first `live_lag` samples, or one the history does not hold).
        let levels = &mut self.live_levels;
        levels.clear();
        let (from, to) = (
            first.saturating_sub(self.live_lag),
            (first + n as u64).saturating_sub(self.live_lag),
        );
        debug_assert!(to <= self.aligned.end(), "reference {to} not final yet");
        let held_to = to.min(self.aligned.end());
        let held_from = from.max(self.aligned.start()).min(held_to);
        levels.resize(
            (n as u64 - (to - from) + (held_from - from)) as usize,
            f32::NAN,
        );
        let (a, b) = self.aligned.runs(held_from, held_to);
        levels.extend(a.iter().chain(b).map(|a| a.values().1));
        levels.resize(n, f32::NAN);
        // The lower of the two (either where the other is not known yet): a baseline that has
        // fallen since the final one would otherwise make its whole trace a deceleration.
        for (level, &recent) in levels.iter_mut().zip(&self.live_recent) {
            *level = level.min(recent);
        }
        self.live.push_run(first, &self.live_fetal, levels);
        self.live_end = first + n as u64;
        self.live_first = self.live_end;
        self.live_fetal.clear();
        self.live_recent.clear();
        // Only the excursion under way matters; what closed is the final path's business.
        while self.live.pop().is_some() {}
    }

    fn drain_baseline(&mut self, end: u64) {
        let Self {
            baseline,
            config,
            false_runs,
            mhr_false_runs,
            aligned,
            curve,
            accel,
            decel,
            findings,
            trusted,
            aligned_run,
            ..
        } = self;
        let prep = &config.prep;
        baseline.release_ready(|first, held, level| {
            if first >= end {
                return;
            }
            let n = ((end - first) as usize).min(held.len());
            let (held, level) = (&held[..n], &level[..n]);
            // The history holds its last `HISTORY_SAMPLES` once these are in.
            aligned.keep_last(HISTORY_SAMPLES as usize - n);
            trusted.resize(n, 0.0);
            aligned_run.resize(n, AlignedSample::default());
            for (k, (((h, &b), trusted), aligned)) in held
                .iter()
                .zip(level)
                .zip(trusted.iter_mut())
                .zip(aligned_run.iter_mut())
                .enumerate()
            {
                let index = first + k as u64;
                let carried = h.carried;
                let (mut fetal, mut quarters, mut kind) =
                    (h.fetal(), h.fetal_quarters, carried.kind);
                if kind == FalseKind::Artefact {
                    let recorded = carried.recorded();
                    if recorded >= prep.min_bpm
                        && recorded <= prep.max_bpm
                        && (recorded - b).abs() <= prep.island_on_baseline_bpm
                    {
                        fetal = recorded;
                        quarters = carried.recorded_quarters;
                        kind = FalseKind::None;
                    }
                }
                false_runs.track(index, kind, findings);
                let mhr_kind = if carried.mhr_false {
                    FalseKind::Artefact
                } else {
                    FalseKind::None
                };
                mhr_false_runs.track(index, mhr_kind, findings);
                *aligned = AlignedSample::new(quarters, b);
                *trusted = fetal;
            }
            aligned.extend_from_slice(aligned_run);
            if config.keep_baseline_curve {
                curve.extend_from_slice(level);
            }
            accel.push_run(first, trusted, level);
            decel.push_run(first, trusted, level);
        });
    }

    fn drain_events(&mut self) {
        while let Some(a) = self.accel.pop() {
            self.pending_accels.push_back(a);
        }
        while let Some(d) = self.decel.pop() {
            self.pending_decels.push_back(d);
        }
        while let Some(c) = self.contractions.pop() {
            self.findings.push_back(Finding::Contraction(Contraction {
                start_s: seconds(c.start),
                peak_s: seconds(c.peak_at),
                end_s: seconds(c.end),
                amplitude: f64::from(c.amplitude),
            }));
            self.contraction_list.push_back(c);
        }
    }

    fn advance(&mut self, at_end: bool) {
        if !at_end {
            self.drain_prep();
            self.drain_baseline(u64::MAX);
            self.drain_live();
            self.drain_events();
            // The later stages read nothing else: with none of it changed since they last
            // ran (most 1-s blocks while streaming), they would decide nothing new.
            let (now, seen) = (self.progress(), self.progress_seen);
            if (0..5).all(|k| now[k] == seen[k]) {
                return;
            }
        }
        self.release_accelerations(at_end);
        self.type_decelerations(at_end);
        self.classify_windows(at_end);
        self.trim();
        self.progress_seen = self.progress();
    }

    /// What the stages after the baseline wait on: the aligned history's end, the contractions'
    /// frontier and the events awaiting them.
    fn progress(&self) -> [u64; 5] {
        [
            self.aligned.end(),
            self.contractions.frontier(),
            self.pending_accels.len() as u64,
            self.pending_decels.len() as u64,
            self.contraction_list.len() as u64,
        ]
    }

    /// Share of the trace around an event (`event_quality_margin` each side) with a trusted signal.
    fn signal_share_around(&self, e: &Excursion) -> f64 {
        let margin = self.config.window.event_quality_margin;
        let from = e.start.saturating_sub(margin).max(self.aligned.start());
        let to = (e.end + margin).min(self.aligned.end());
        if from >= to {
            return 0.0;
        }
        self.trusted_in(from, to) as f64 / (to - from) as f64
    }

    /// Samples of `from..to` (all held in the history) with a trusted fetal value.
    fn trusted_in(&self, from: u64, to: u64) -> usize {
        let (a, b) = self.aligned.runs(from, to);
        a.iter().chain(b).filter(|s| !s.values().0.is_nan()).count()
    }

    /// A deceleration deep enough to be reported whatever the signal around it, with its own
    /// span well recorded ([`WindowConfig::deep_deceleration_bpm`]).
    fn deep_and_well_recorded(&self, d: &Excursion) -> bool {
        let deep = self.config.window.deep_deceleration_bpm;
        if deep <= 0.0 || d.amplitude < deep {
            return false;
        }
        let (from, to) = (
            d.start.max(self.aligned.start()),
            d.end.min(self.aligned.end()),
        );
        if from >= to {
            return false;
        }
        self.trusted_in(from, to) as f64 / (d.end - d.start) as f64
            >= self.config.window.min_event_signal_share
    }

    /// How far the baseline curve falls from an event's first sample to its last, bpm (0 where
    /// either is unknown).
    fn baseline_fall_across(&self, e: &Excursion) -> f32 {
        let at = |i: u64| self.aligned.get(i).map_or(f32::NAN, |a| a.values().1);
        let fall = at(e.start) - at(e.end.saturating_sub(1).max(e.start));
        if fall.is_nan() { 0.0 } else { fall }
    }

    fn release_accelerations(&mut self, at_end: bool) {
        while let Some(&a) = self.pending_accels.front() {
            if !at_end && self.aligned.end() < a.end + self.config.window.event_quality_margin {
                break;
            }
            self.pending_accels.pop_front();
            if self.signal_share_around(&a) < self.config.window.min_event_signal_share {
                continue;
            }
            // The old level before a fall is not an acceleration, but neither is it baseline:
            // its samples stay out of the window's baseline and variability as before.
            if self.baseline_fall_across(&a) < self.config.window.acceleration_max_baseline_fall_bpm
            {
                let duration_s = (a.end - a.start) as f64 / HZ;
                self.findings.push_back(Finding::Acceleration(Acceleration {
                    start_s: seconds(a.start),
                    end_s: seconds(a.end),
                    peak_s: seconds(a.extreme_at),
                    amplitude_bpm: f64::from(a.amplitude),
                    prolonged: self
                        .config
                        .typing
                        .prolonged_acceleration_s
                        .is_some_and(|limit| duration_s >= limit),
                }));
            }
            self.accels.push_back(a);
        }
    }

    fn type_decelerations(&mut self, at_end: bool) {
        let frontier = self.contractions.frontier();
        while let Some(&d) = self.pending_decels.front() {
            // Both gates hold it until their inputs are whole: the contractions around it,
            // and the trace `event_quality_margin` past it for the signal gate (which would
            // otherwise read only as much as had arrived, and so depend on the stages' lags).
            if !at_end
                && (frontier < d.end + TYPING_MARGIN
                    || self.aligned.end() < d.end + self.config.window.event_quality_margin)
            {
                break;
            }
            self.pending_decels.pop_front();
            let contraction =
                classify::associated(&d, self.contraction_list.iter(), &self.config.typing);
            let (kind, rule) = classify::type_deceleration(&d, contraction, &self.config.typing);
            if kind != DecelerationType::Prolonged
                && self.signal_share_around(&d) < self.config.window.min_event_signal_share
                && !self.deep_and_well_recorded(&d)
            {
                continue;
            }
            let (from, to) = (
                d.start.max(self.aligned.start()),
                d.end.min(self.aligned.end()),
            );
            let fhr: Vec<f32> = self
                .aligned
                .range(from, to.max(from))
                .map(|a| a.values().0)
                .collect();
            let severity = classify::severity(kind, &d, &fhr, &self.config.table);
            let contraction_peak = contraction.map(|c| c.peak_at);
            let recurrent =
                kind != DecelerationType::Prolonged && self.is_recurrent(d.end, contraction_peak);
            let typed = TypedDecel {
                excursion: d,
                kind,
                severity,
                recurrent,
                contraction_peak,
            };
            self.findings.push_back(Finding::Deceleration(Deceleration {
                start_s: seconds(d.start),
                end_s: seconds(d.end),
                nadir_s: seconds(d.extreme_at),
                depth_bpm: f64::from(d.amplitude),
                nadir_bpm: f64::from(d.extreme_bpm),
                onset_to_nadir_s: seconds(d.extreme_at - d.start),
                lag_to_contraction_s: contraction_peak
                    .map(|p| (d.extreme_at as f64 - p as f64) / HZ),
                kind,
                rule,
                severity,
                recurrent,
            }));
            self.typed_decels.push_back(typed);
        }
    }

    /// Recurrent: decelerations go with at least half (NICHD 2008, JSOG 反復: ≥ 50 %) or more
    /// than half (FIGO 2015 "repetitive": > 50 %; [`TypingConfig::recurrent_at_half`]) of the
    /// (at least two) contractions whose acme lies in the 20 minutes up to this deceleration's
    /// end.
    fn is_recurrent(&self, end: u64, own_contraction: Option<u64>) -> bool {
        let from = end.saturating_sub(2 * WINDOW_SAMPLES);
        let peaks: Vec<u64> = self
            .contraction_list
            .iter()
            .map(|c| c.peak_at)
            .filter(|&p| p >= from && p < end)
            .collect();
        let with_decel = peaks
            .iter()
            .filter(|&&p| {
                own_contraction == Some(p)
                    || self
                        .typed_decels
                        .iter()
                        .any(|t| t.contraction_peak == Some(p))
            })
            .count();
        let with_contractions = peaks.len() >= 2
            && if self.config.typing.recurrent_at_half {
                2 * with_decel >= peaks.len()
            } else {
                2 * with_decel > peaks.len()
            };
        // The contractions found count only where the toco was recording: where it was not
        // for most of the 20 minutes, the decelerations' frequency tells as well.
        with_contractions || self.recurrent_without_toco(from, end)
    }

    /// Recurrence where the toco cannot tell: with no readable signal for most of the 20
    /// minutes up to a deceleration's end, the deceleration is recurrent when it is at least
    /// the [`TypingConfig::recurrent_without_toco`]-th of those 20 minutes. Where the toco was
    /// readable, no contractions means none to go with: not recurrent.
    fn recurrent_without_toco(&self, from: u64, end: u64) -> bool {
        let least = self.config.typing.recurrent_without_toco;
        if least == 0 {
            return false;
        }
        if !self.contractions.minutes().mostly_unreadable(from, end) {
            return false;
        }
        let earlier = self
            .typed_decels
            .iter()
            .filter(|t| t.excursion.end > from && t.excursion.end <= end)
            .count();
        earlier + 1 >= least
    }

    fn classify_windows(&mut self, at_end: bool) {
        loop {
            let start = self.next_window * WINDOW_SAMPLES;
            let total = self.next_index;
            if start >= total && (at_end || start >= self.aligned.end()) {
                return;
            }
            let end = (start + WINDOW_SAMPLES).min(if at_end { total } else { u64::MAX });
            if !at_end {
                let events_open = self.pending_decels.front().is_some_and(|d| d.start < end)
                    || self.pending_accels.front().is_some_and(|a| a.start < end)
                    || self.decel.earliest_open_start(self.aligned.end()) < end
                    || self.accel.earliest_open_start(self.aligned.end()) < end;
                if self.aligned.end() < end || self.contractions.frontier() < end || events_open {
                    return;
                }
            }
            if start >= self.aligned.end() || end <= start {
                return;
            }
            self.classify_window(start, end.min(self.aligned.end()));
            self.next_window += 1;
        }
    }

    fn classify_window(&mut self, start: u64, end: u64) {
        // What bounds the wait: excursions close within 10 minutes
        // (`events::MAX_EXCURSION_SAMPLES`), so a window is classified long before its first
        // sample leaves the 40-minute history.
        debug_assert!(
            start + HISTORY_SAMPLES >= self.aligned.end(),
            "window from {start} classified after its samples left the history (now {})",
            self.aligned.end()
        );
        let len = (end - start) as usize;
        let mut fhr = Vec::with_capacity(len);
        let mut base = Vec::with_capacity(len);
        let held_from = start.max(self.aligned.start()).min(end);
        fhr.resize((held_from - start) as usize, f32::NAN);
        base.resize((held_from - start) as usize, f32::NAN);
        for a in self.aligned.range(held_from, end) {
            let (f, b) = a.values();
            fhr.push(f);
            base.push(b);
        }
        let mut excluded = vec![false; len];
        let mut in_decel = vec![false; len];
        let mark = |mask: &mut [bool], e: &Excursion| {
            let from = e.start.max(start);
            let to = e.end.min(end);
            for i in from..to {
                mask[(i - start) as usize] = true;
            }
        };
        let mut has_acceleration = false;
        for a in &self.accels {
            if a.end > start && a.start < end {
                mark(&mut excluded, a);
                has_acceleration = true;
            }
        }
        let mut decels = Vec::new();
        let mut deceleration_area = 0.0;
        for t in &self.typed_decels {
            let e = &t.excursion;
            if e.end > start && e.start < end {
                mark(&mut excluded, e);
                mark(&mut in_decel, e);
            }
            if e.start >= start && e.start < end {
                decels.push((t.kind, t.severity, t.recurrent, seconds(e.end - e.start)));
                deceleration_area += 0.5 * f64::from(e.amplitude) * seconds(e.end - e.start);
            }
        }
        let measures: WindowMeasures = classify::measure(
            &fhr,
            &base,
            &excluded,
            &in_decel,
            has_acceleration,
            &self.config.window,
            self.fft.as_ref(),
        );
        self.stv.0 += measures.stv_sum;
        self.stv.1 += measures.stv_minutes;
        let contractions = self
            .contraction_list
            .iter()
            .filter(|c| c.peak_at >= start && c.peak_at < end)
            .count();
        self.window_contractions.push_back(contractions);
        if self.window_contractions.len() > 3 {
            self.window_contractions.pop_front();
        }
        let tachysystole = self.window_contractions.len() == 3
            && self.window_contractions.iter().sum::<usize>() > 15;
        let (start_s, end_s) = (seconds(start), seconds(end));
        self.findings.push_back(Finding::Baseline(BaselineWindow {
            start_s,
            end_s,
            bpm: measures.baseline_bpm,
        }));
        self.findings
            .push_back(Finding::Variability(VariabilityWindow {
                start_s,
                end_s,
                amplitude_bpm: measures.amplitude_bpm,
                band: measures.band,
            }));
        let input = WindowInput {
            start_s,
            end_s,
            measures: &measures,
            decelerations: &decels,
            contractions,
            tachysystole,
            deceleration_area,
            pathological_burden: self.config.window.figo_pathological_burden,
            min_signal_share: self.config.window.min_event_signal_share,
            toco_readable_percent: self.contractions.minutes().readable_percent(start, end),
        };
        let classification = classify::classify(
            &input,
            &mut self.figo,
            &self.config.table,
            &self.table_version,
        );
        self.findings
            .push_back(Finding::Classification(classification));
    }

    fn trim(&mut self) {
        let horizon = self.aligned.end().saturating_sub(HISTORY_SAMPLES);
        while self.accels.front().is_some_and(|a| a.end < horizon) {
            self.accels.pop_front();
        }
        while self
            .typed_decels
            .front()
            .is_some_and(|d| d.excursion.end < horizon)
        {
            self.typed_decels.pop_front();
        }
        while self
            .contraction_list
            .front()
            .is_some_and(|c| c.end < horizon)
        {
            self.contraction_list.pop_front();
        }
    }
}

/// Analyses a whole recording offline: the same [`Analyzer`], fed everything at once (without
/// the live tracker of provisional findings, which a report does not carry).
pub fn analyze(samples: &[Sample], config: AnalyzerConfig) -> Report {
    let mut analyzer = Analyzer::without_provisional(config);
    analyzer.push(samples);
    analyzer.into_report()
}
