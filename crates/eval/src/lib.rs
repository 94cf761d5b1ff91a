//! `ctg-eval`: measures the analysis against the expert annotations in `../shared/data`.
//!
//! - **Events** (accelerations, decelerations, contractions) vs the Romagnoli 2020 marks on
//!   CTU-UHB: one-to-one matching of same-kind events overlapping ≥ 5 s, largest overlap first;
//!   precision, recall, F1; deceleration type accuracy and confusion over matched pairs. Only
//!   the annotated span; flagged events (and what matches them) count neither way; the 17
//!   records without any mark are left out. The FIGO profile is used, as the annotator
//!   followed FIGO.
//! - **False signal** vs the FHRMA-FS expert labels: sample-level accuracy and false-class F1
//!   over samples labelled either true or false (not both) that carry a signal.
//! - **Classification** vs the nine obstetricians: worst FIGO class in each rated window vs the
//!   plurality (each expert's repeated ratings count once, as their most frequent; ties to the
//!   higher class); accuracy and quadratic-weighted kappa pooled over the three steps, beside
//!   each expert's kappa against the plurality of the others.
//! - **Outcome**: AUC of the worst JSOG level in the last 60 min for umbilical artery pH < 7.05.
//! - **Baseline** vs WMFB on the 66 FHRMA training recordings: median MADI and RMSD.
//! - **Events vs WMFB's** on the same recordings, for orientation (an automatic method, not
//!   expert marks: no bar): our accelerations and decelerations matched as the Romagnoli
//!   events are; the same analysis with "15 bpm for 15 s" read as WMFB and the FHRMA
//!   toolbox read it (reaching 15 bpm and lasting 15 s between baseline crossings, where ours
//!   asks for 15 s at 15 bpm or more); and the toolbox's other methods whose events the data
//!   holds (Ayres-de-Campos, Maeda, Wróbel), which read it the same way.
//!
//! Each bar's figure (and the AUC) carries its 95 % interval over recordings beside it
//! (`<figure>_ci95`, [`bootstrap`]): how far it could move on other recordings like these.
//!
//! Every figure is reported for all records, for the development part, and for the holdout
//! part that tuning never looked at: the shared recordings whose number is divisible by 5, and
//! every recording that is not in the shared data. The data folder may hold more than the
//! shared one, in the same layout (more CTU-UHB records; FHRMA-FS `…Test` files in
//! `{DopMHR,ScalpECG}/Test/`; FHRMA files in `testdata/` with their reference baselines in
//! `WMFB.json`; a file elsewhere under `fhrma-fs/` or `fhrma/` is found by its name):
//! recordings are found from the annotations and the files there, an annotated
//! recording that is missing or unreadable is listed in the JSON's `left_out` (the others are
//! still scored), and an annotation file that is missing leaves its figures null.

pub mod alarms;
pub mod bootstrap;
pub mod datasets;
pub mod overrides;
pub mod score;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use ctg_dsp::{AnalyzerConfig, DecelerationType, FalseKind, FigoClass, Profile, Report, analyze};
use ctg_formats::{Recording, read_recording};
use ctg_proto::model::Channel;
use serde_json::{Value, json};

use datasets::EventKind;
use score::{Counts, Interval};

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file could not be read.
    #[error("{path}: {source}", path = .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A recording could not be read.
    #[error(transparent)]
    Format(#[from] ctg_formats::FormatError),
    /// An annotation file is not as documented.
    #[error("unexpected data: {0}")]
    Data(String),
}

/// The analysis configuration for a recording: its fetal channel, the other fetal channel of
/// the same fetus as fallback (recordings are singletons), and its gestational age if stated.
pub fn config_for(recording: &Recording, profile: Profile) -> AnalyzerConfig {
    let mut config = AnalyzerConfig::new(profile).with_fetal_channel(recording.fetal_channel());
    config.prep.direct_ecg =
        recording.modes.get(config.fetal) == ctg_proto::model::TransducerMode::Decg;
    let weeks = recording
        .metadata_value("Gest. weeks")
        .and_then(|w| w.trim().parse::<u32>().ok());
    if let Some(weeks) = weeks {
        config = config.with_gestational_weeks(weeks);
    }
    config
}

/// [`config_for`] with the run's overrides applied.
fn configured(
    recording: &Recording,
    profile: Profile,
    overrides: &[overrides::Override],
) -> AnalyzerConfig {
    let mut config = config_for(recording, profile);
    for o in overrides {
        overrides::apply(&mut config, o).expect("overrides were checked when parsed");
    }
    config
}

/// Two events match when they overlap by at least this, s (the rule; FHRMA's
/// evaluation asks for more than 5 s).
const MIN_OVERLAP_S: f64 = 5.0;

/// The recordings parameters were chosen on (`development.txt`): the shared data's records and
/// files whose number is not divisible by 5.
const DEVELOPMENT: &str = include_str!("../development.txt");

/// True for the records and files no parameter was chosen on: the shared data's recordings
/// whose number is divisible by 5 (`1005`, `train10.fhr`, `DopMHRTrain0015.fhrm`, …), and every
/// recording that is not in the shared data (another CTU-UHB record, an FHRMA test file), so
/// a data folder with more recordings than the shared one scores them as holdout.
pub fn is_holdout(name: &str) -> bool {
    !DEVELOPMENT
        .lines()
        .any(|line| !line.starts_with('#') && line.trim() == name)
}

/// Runs `f` over `items` on `threads` threads, printing progress to stderr.
pub fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    label: &str,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let total = items.len();
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let r = f(&items[i]);
                    results.lock().expect("no worker panicked")[i] = Some(r);
                    let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if d == total || d.is_multiple_of((total / 10).max(1)) {
                        eprintln!("  {label}: {d}/{total}");
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .expect("no worker panicked")
        .into_iter()
        .map(|r| r.expect("every item was processed"))
        .collect()
}

/// What one CTU-UHB record contributes.
struct RecordResult {
    name: String,
    holdout: bool,
    counts: Option<[Counts; 3]>,
    /// (expert subtype index, our type index) per matched deceleration.
    type_pairs: Vec<(usize, usize)>,
    figo: Vec<(f64, f64, FigoClass)>,
    jsog: Vec<(f64, f64, u8)>,
    duration_s: f64,
    stage2_s: Option<f64>,
    ph: Option<f64>,
}

const TYPES: [&str; 4] = ["early", "late", "variable", "prolonged"];

fn type_index(kind: DecelerationType) -> usize {
    match kind {
        DecelerationType::Early => 0,
        DecelerationType::Late => 1,
        DecelerationType::Variable => 2,
        DecelerationType::Prolonged => 3,
    }
}

fn ours_of(report: &Report, kind: EventKind, span_end: f64) -> Vec<Interval> {
    let keep = |i: Interval| (i.start < span_end).then_some(i);
    match kind {
        EventKind::Acceleration => report
            .accelerations
            .iter()
            .filter_map(|a| {
                keep(Interval {
                    start: a.start_s,
                    end: a.end_s,
                })
            })
            .collect(),
        EventKind::Deceleration => report
            .decelerations
            .iter()
            .filter_map(|d| {
                keep(Interval {
                    start: d.start_s,
                    end: d.end_s,
                })
            })
            .collect(),
        EventKind::Contraction => report
            .contractions
            .iter()
            .filter_map(|c| {
                keep(Interval {
                    start: c.start_s,
                    end: c.end_s,
                })
            })
            .collect(),
    }
}

/// The kinds of event scored, in the order of the per-kind arrays.
const SCORED_KINDS: [EventKind; 3] = [
    EventKind::Acceleration,
    EventKind::Deceleration,
    EventKind::Contraction,
];

/// One CTU-UHB record as `eval` scores it, for a chart of where the analysis and the
/// expert agree (`mimamori eval --chart`): the recording, its analysis in the eval's
/// configuration (FIGO profile, the run's overrides), and the expert's marks.
pub struct RecordView {
    /// The recording.
    pub recording: Recording,
    /// The configuration analysed with.
    pub config: AnalyzerConfig,
    /// The analysis.
    pub report: Report,
    /// The expert's marks (`None`: the record has none, so it is not scored).
    pub events: Option<datasets::RecordEvents>,
    /// Per expert event (in `events`' order): whether one of ours matched it.
    pub expert_matched: Vec<bool>,
    /// Per event of ours, by kind (accelerations, decelerations, contractions, in the
    /// report's order): matched to an expert's (`Some(true)`), scored and unmatched
    /// (`Some(false)`), or after the annotated span (`None`).
    pub ours_matched: [Vec<Option<bool>>; 3],
}

/// Analyses CTU-UHB record `name` as [`run`] does (keeping the baseline curve besides, which
/// changes no finding) and matches its events to the expert's.
pub fn record_view(
    data: &Path,
    name: &str,
    overrides: &[overrides::Override],
) -> Result<RecordView, EvalError> {
    let recording = read_recording(&data.join(format!("ctu-uhb/wfdb/{name}.hea")))?;
    let mut config = configured(&recording, Profile::Figo, overrides);
    config.keep_baseline_curve = true;
    let report = analyze(&recording.samples, config.clone());
    let events = datasets::romagnoli(data)?.remove(name);
    let span_end = events
        .as_ref()
        .map_or(0.0, |ev| ev.annotated_samples as f64 / 4.0);
    let starts = |kind: EventKind| -> Vec<f64> {
        match kind {
            EventKind::Acceleration => report.accelerations.iter().map(|a| a.start_s).collect(),
            EventKind::Deceleration => report.decelerations.iter().map(|d| d.start_s).collect(),
            EventKind::Contraction => report.contractions.iter().map(|c| c.start_s).collect(),
        }
    };
    let mut expert_matched = vec![false; events.as_ref().map_or(0, |ev| ev.events.len())];
    let mut ours_matched: [Vec<Option<bool>>; 3] = Default::default();
    for (k, kind) in SCORED_KINDS.into_iter().enumerate() {
        let all_starts = starts(kind);
        // `ours_of` keeps the events that start inside the annotated span, in order.
        let scored: Vec<usize> = (0..all_starts.len())
            .filter(|&j| events.is_some() && all_starts[j] < span_end)
            .collect();
        ours_matched[k] = all_starts
            .iter()
            .map(|&start| (events.is_some() && start < span_end).then_some(false))
            .collect();
        let Some(ev) = &events else { continue };
        let experts: Vec<usize> = (0..ev.events.len())
            .filter(|&i| ev.events[i].kind == kind)
            .collect();
        let expert_iv: Vec<Interval> = experts.iter().map(|&i| ev.events[i].interval).collect();
        let ours = ours_of(&report, kind, span_end);
        for (i, j) in score::match_events(&expert_iv, &ours, MIN_OVERLAP_S) {
            expert_matched[experts[i]] = true;
            ours_matched[k][scored[j]] = Some(true);
        }
    }
    Ok(RecordView {
        recording,
        config,
        report,
        events,
        expert_matched,
        ours_matched,
    })
}

fn evaluate_record(
    data: &Path,
    name: &str,
    events: Option<&datasets::RecordEvents>,
    set: &[overrides::Override],
) -> Result<RecordResult, EvalError> {
    let mut recording = read_recording(&data.join(format!("ctu-uhb/wfdb/{name}.hea")))?;
    overrides::apply_input(&mut recording.samples, set);
    let figo_report = analyze(
        &recording.samples,
        configured(&recording, Profile::Figo, set),
    );
    let jsog_report = analyze(
        &recording.samples,
        configured(&recording, Profile::Jsog, set),
    );
    let mut counts = None;
    let mut type_pairs = Vec::new();
    if let Some(ev) = events {
        let span_end = ev.annotated_samples as f64 / 4.0;
        let mut per_kind = [Counts::default(); 3];
        for (k, kind) in SCORED_KINDS.into_iter().enumerate() {
            let experts: Vec<&datasets::ExpertEvent> =
                ev.events.iter().filter(|e| e.kind == kind).collect();
            let expert_iv: Vec<Interval> = experts.iter().map(|e| e.interval).collect();
            let ours = ours_of(&figo_report, kind, span_end);
            let pairs = score::match_events(&expert_iv, &ours, MIN_OVERLAP_S);
            let flagged_matches = pairs.iter().filter(|(i, _)| experts[*i].flagged).count() as u64;
            let flagged = experts.iter().filter(|e| e.flagged).count() as u64;
            per_kind[k] = Counts {
                matched: pairs.len() as u64 - flagged_matches,
                expert: experts.len() as u64 - flagged,
                ours: ours.len() as u64 - flagged_matches,
            };
            if kind == EventKind::Deceleration {
                let ours_decels: Vec<_> = figo_report
                    .decelerations
                    .iter()
                    .filter(|d| d.start_s < span_end)
                    .collect();
                for (i, j) in pairs {
                    if experts[i].flagged {
                        continue;
                    }
                    let expert = experts[i]
                        .subtype
                        .as_deref()
                        .and_then(|s| TYPES.iter().position(|t| *t == s));
                    if let Some(e) = expert {
                        type_pairs.push((e, type_index(ours_decels[j].kind)));
                    }
                }
            }
        }
        counts = Some(per_kind);
    }
    let stage2 = recording
        .metadata_value("Pos. II.st.")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|&v| v > 0.0)
        .map(|v| v / 4.0);
    let ph = recording
        .metadata_value("pH")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite());
    Ok(RecordResult {
        name: name.to_string(),
        holdout: is_holdout(name),
        counts,
        type_pairs,
        figo: figo_report
            .classification
            .iter()
            .map(|c| (c.start_s, c.end_s, c.figo))
            .collect(),
        jsog: jsog_report
            .classification
            .iter()
            .map(|c| (c.start_s, c.end_s, c.jsog_level))
            .collect(),
        duration_s: recording.duration_s(),
        stage2_s: stage2,
        ph,
    })
}

/// Which records a figure covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Subset {
    All,
    Development,
    Holdout,
}

impl Subset {
    const ALL: [Subset; 3] = [Subset::All, Subset::Development, Subset::Holdout];
    fn name(self) -> &'static str {
        match self {
            Subset::All => "all",
            Subset::Development => "development",
            Subset::Holdout => "holdout",
        }
    }
    fn includes(self, holdout: bool) -> bool {
        match self {
            Subset::All => true,
            Subset::Development => !holdout,
            Subset::Holdout => holdout,
        }
    }
}

/// Event counts (accelerations, decelerations, contractions) and the deceleration type
/// confusion (rows the expert's, columns ours) pooled over annotated records, and how many.
fn pooled_events<'a>(
    records: impl IntoIterator<Item = &'a RecordResult>,
) -> ([Counts; 3], [[u64; 4]; 4], usize) {
    let mut totals = [Counts::default(); 3];
    let mut confusion = [[0u64; 4]; 4];
    let mut annotated = 0;
    for r in records {
        if let Some(c) = r.counts {
            annotated += 1;
            for k in 0..3 {
                totals[k].add(c[k]);
            }
            for &(e, o) in &r.type_pairs {
                confusion[e][o] += 1;
            }
        }
    }
    (totals, confusion, annotated)
}

/// Matched decelerations typed as the expert typed them (NaN with none matched).
fn type_accuracy(confusion: &[[u64; 4]; 4]) -> f64 {
    let matched: u64 = confusion.iter().flatten().sum();
    let correct: u64 = (0..4).map(|i| confusion[i][i]).sum();
    if matched == 0 {
        f64::NAN
    } else {
        correct as f64 / matched as f64
    }
}

fn events_json(results: &[RecordResult], subset: Subset) -> Value {
    let (totals, confusion, records) =
        pooled_events(results.iter().filter(|r| subset.includes(r.holdout)));
    // With no annotated record in the subset there is nothing to measure: null, not 0.
    let measured = |v: f64| if records == 0 { f64::NAN } else { v };
    let kind = |c: &Counts| {
        json!({"precision": measured(c.precision()), "recall": measured(c.recall()),
               "f1": measured(c.f1()), "matched": c.matched, "expert": c.expert, "ours": c.ours})
    };
    json!({
        "records": records,
        "accelerations": kind(&totals[0]),
        "decelerations": kind(&totals[1]),
        "contractions": kind(&totals[2]),
        "deceleration_type_accuracy": type_accuracy(&confusion),
        "deceleration_type_confusion": {
            "rows_expert_cols_ours": TYPES,
            "matrix": confusion,
        },
    })
}

/// Each annotated CTU-UHB record's event counts and typing, so a reader can see where the
/// analysis and the expert part (`mimamori eval` writes it as `records.csv` too).
fn per_record_json(results: &[RecordResult]) -> Value {
    results
        .iter()
        .filter_map(|r| {
            let c = r.counts?;
            let kind =
                |c: &Counts| json!({"matched": c.matched, "expert": c.expert, "ours": c.ours});
            let typed_alike = r.type_pairs.iter().filter(|(e, o)| e == o).count();
            Some(json!({
                "record": r.name,
                "part": if r.holdout { "holdout" } else { "development" },
                "accelerations": kind(&c[0]),
                "decelerations": kind(&c[1]),
                "contractions": kind(&c[2]),
                "decelerations_typed": r.type_pairs.len(),
                "decelerations_typed_alike": typed_alike,
            }))
        })
        .collect()
}

/// An expert's single rating of a step: their most frequent, ties to the higher class.
fn single(ratings: &[u8]) -> Option<u8> {
    (1..=3u8)
        .rev()
        .max_by_key(|c| ratings.iter().filter(|r| *r == c).count())
        .filter(|c| ratings.contains(c))
}

/// The plurality of experts' ratings, ties to the higher class.
fn plurality(ratings: &[u8]) -> Option<u8> {
    single(ratings)
}

/// The rated windows of a record, s: step 1 = 30 min from 60 min before the end of the first
/// stage, step 2 = the next 30 min, step 3 = the second stage.
fn step_windows(r: &RecordResult) -> [Option<(f64, f64)>; 3] {
    let end_first = r.stage2_s.unwrap_or(r.duration_s).min(r.duration_s);
    let step3 = r
        .stage2_s
        .filter(|&s| s < r.duration_s)
        .map(|s| (s, r.duration_s));
    [
        Some(((end_first - 3600.0).max(0.0), (end_first - 1800.0).max(0.0))).filter(|(a, b)| b > a),
        Some(((end_first - 1800.0).max(0.0), end_first)).filter(|(a, b)| b > a),
        step3,
    ]
}

/// The worst of our FIGO classes over windows that overlap the rated window by at least half
/// of the shorter of the two.
fn our_class(figo: &[(f64, f64, FigoClass)], window: (f64, f64)) -> Option<u8> {
    figo.iter()
        .filter(|(s, e, _)| {
            let overlap = e.min(window.1) - s.max(window.0);
            overlap > 0.0 && overlap >= 0.5 * (e - s).min(window.1 - window.0)
        })
        .map(|(_, _, c)| match c {
            FigoClass::Normal => 1,
            FigoClass::Suspicious => 2,
            FigoClass::Pathological => 3,
        })
        .max()
}

/// Two ratings of one window, each a class index (0 normal, 1 suspicious, 2 pathological).
type RatingPair = (usize, usize);

/// A rated record's windows: (the experts' plurality, our worst class) for each window we
/// classified, and each expert's (own rating, the plurality of the others), by expert.
struct RatedWindows {
    ours: Vec<RatingPair>,
    by_expert: Vec<(u32, RatingPair)>,
}

/// [`RatedWindows`] of a record from the experts' ratings of it.
fn rated_windows(r: &RecordResult, experts: &BTreeMap<u32, [Vec<u8>; 3]>) -> RatedWindows {
    let (mut ours, mut by_expert) = (Vec::new(), Vec::new());
    for (step, window) in step_windows(r).into_iter().enumerate() {
        let singles: BTreeMap<u32, u8> = experts
            .iter()
            .filter_map(|(e, steps)| single(&steps[step]).map(|s| (*e, s)))
            .collect();
        let all: Vec<u8> = singles.values().copied().collect();
        let Some(majority) = plurality(&all) else {
            continue;
        };
        for (&e, &s) in &singles {
            let others: Vec<u8> = singles
                .iter()
                .filter(|(o, _)| **o != e)
                .map(|(_, v)| *v)
                .collect();
            if let Some(p) = plurality(&others) {
                by_expert.push((e, (s as usize - 1, p as usize - 1)));
            }
        }
        if let Some(class) = window.and_then(|w| our_class(&r.figo, w)) {
            ours.push((majority as usize - 1, class as usize - 1));
        }
    }
    RatedWindows { ours, by_expert }
}

fn classification_json(c: &Collected, subset: Subset) -> Value {
    let mut pairs = Vec::new();
    let mut per_expert: BTreeMap<u32, Vec<(usize, usize)>> = BTreeMap::new();
    for i in rated_records(c, subset) {
        let rated = c.rated[i].as_ref().expect("a rated record has its windows");
        pairs.extend_from_slice(&rated.ours);
        for &(e, pair) in &rated.by_expert {
            per_expert.entry(e).or_default().push(pair);
        }
    }
    let agree = pairs.iter().filter(|(a, b)| a == b).count();
    let mut expert_kappas: Vec<f64> = per_expert
        .values()
        .map(|p| score::quadratic_kappa(p, 3))
        .collect();
    let mean = if expert_kappas.is_empty() {
        f64::NAN
    } else {
        expert_kappas.iter().sum::<f64>() / expert_kappas.len() as f64
    };
    let mut confusion = [[0u64; 3]; 3];
    for &(a, b) in &pairs {
        confusion[a][b] += 1;
    }
    json!({
        "windows": pairs.len(),
        "accuracy": if pairs.is_empty() { f64::NAN } else { agree as f64 / pairs.len() as f64 },
        "kappa_quadratic": score::quadratic_kappa(&pairs, 3),
        "confusion_rows_experts_cols_ours": confusion,
        "experts_vs_others_kappa_mean": mean,
        "experts_vs_others_kappa_median": score::median(&mut expert_kappas),
    })
}

/// A record's worst JSOG level in its last 60 minutes, and whether its umbilical artery pH was
/// below 7.05 (none without a pH or a level).
fn worst_level_and_acidaemia(r: &RecordResult) -> Option<(f64, bool)> {
    let worst = r
        .jsog
        .iter()
        .filter(|(s, e, _)| (s + e) / 2.0 >= r.duration_s - 3600.0)
        .map(|(_, _, l)| *l)
        .max()?;
    Some((f64::from(worst), r.ph? < 7.05))
}

/// The AUC of the worst level for acidaemia over records' (level, acidaemic) pairs.
fn outcome_auc<'a>(points: impl IntoIterator<Item = &'a (f64, bool)>) -> f64 {
    let (scores, labels): (Vec<f64>, Vec<bool>) = points.into_iter().copied().unzip();
    score::auc(&scores, &labels)
}

fn outcome_json(c: &Collected, subset: Subset) -> Value {
    let points: Vec<(f64, bool)> = records_with_ph(c, subset)
        .into_iter()
        .filter_map(|i| c.outcome[i])
        .collect();
    json!({
        "records": points.len(),
        "acidaemic": points.iter().filter(|(_, acidaemic)| *acidaemic).count(),
        "auc_worst_jsog_last_60_min_for_ph_below_7_05": outcome_auc(&points),
    })
}

/// False-signal counts: (true positives, false positives, false negatives, true negatives).
/// Sample counts: flagged and false, flagged and true, not flagged and false, not flagged and
/// true.
pub type Confusion2 = [u64; 4];

/// One FHRMA-FS file as `eval` scores its false signal, for a chart of where the analysis and
/// the experts agree (`mimamori eval --chart`): the recording, its analysis in the eval's
/// configuration (FIGO profile, the fetal channel of its folder, direct ECG for the scalp
/// files; the baseline curve kept besides, which changes no finding), and the labels.
pub struct FalseSignalView {
    /// The recording.
    pub recording: Recording,
    /// The configuration analysed with.
    pub config: AnalyzerConfig,
    /// The analysis.
    pub report: Report,
    /// The experts' labels.
    pub labels: datasets::FalseSignalLabels,
    /// (fetal channel, MHR) sample counts as the eval scores them: flagged and false, flagged
    /// and true, not flagged and false, not flagged and true.
    pub confusion: (Confusion2, Confusion2),
}

/// Analyses the FHRMA-FS file `name` (with or without `.fhrm`) as [`run`] does and scores it.
pub fn false_signal_view(
    data: &Path,
    name: &str,
    overrides: &[overrides::Override],
) -> Result<FalseSignalView, EvalError> {
    let filename = if name.ends_with(".fhrm") {
        name.to_string()
    } else {
        format!("{name}.fhrm")
    };
    let labels = datasets::false_signal_labels(data)?
        .0
        .into_iter()
        .find(|l| l.filename == filename)
        .ok_or_else(|| EvalError::Data(format!("no expert labels for {filename}")))?;
    let (recording, mut config) =
        false_signal_setup(data, &Elsewhere::under(data), &labels, overrides)?;
    config.keep_baseline_curve = true;
    let report = analyze(&recording.samples, config.clone());
    let confusion = false_signal_score(&recording, &report, &labels, config.fetal);
    Ok(FalseSignalView {
        recording,
        config,
        report,
        labels,
        confusion,
    })
}

/// The recording of an FHRMA-FS file and the eval's configuration for it.
fn false_signal_setup(
    data: &Path,
    elsewhere: &Elsewhere,
    labels: &datasets::FalseSignalLabels,
    set: &[overrides::Override],
) -> Result<(Recording, AnalyzerConfig), EvalError> {
    let folder = data.join("fhrma-fs").join(labels.folder);
    let path = elsewhere.locate([
        folder.join(&labels.part).join(&labels.filename),
        folder.join(&labels.filename),
    ]);
    let mut recording = read_recording(&path)?;
    overrides::apply_input(&mut recording.samples, set);
    let channel = if labels.folder == "ScalpECG" {
        Channel::Fhr2
    } else {
        Channel::Fhr1
    };
    let mut config = configured(&recording, Profile::Figo, set);
    config.fetal = channel;
    // The ScalpECG recordings are direct fetal ECG (data README §3); their `.fhrm` flags do
    // not say so, as a monitor's mode report would.
    config.prep.direct_ecg |= labels.folder == "ScalpECG";
    Ok((recording, config))
}

fn false_signal_file(
    data: &Path,
    elsewhere: &Elsewhere,
    labels: &datasets::FalseSignalLabels,
    set: &[overrides::Override],
) -> Result<FsResult, EvalError> {
    let (recording, config) = false_signal_setup(data, elsewhere, labels, set)?;
    let channel = config.fetal;
    let report = analyze(&recording.samples, config);
    let (fetal, mhr) = false_signal_score(&recording, &report, labels, channel);
    Ok(FsResult {
        name: labels.filename.clone(),
        holdout: is_holdout(&labels.filename),
        fetal,
        mhr,
    })
}

/// One FHRMA-FS file's false-signal counts.
struct FsResult {
    name: String,
    holdout: bool,
    /// On the fetal channel.
    fetal: Confusion2,
    /// On the MHR channel.
    mhr: Confusion2,
}

/// Scores a file's false-signal findings against its labels, sample by sample over the
/// samples labelled true or false that carry a signal: (fetal channel, MHR).
fn false_signal_score(
    recording: &Recording,
    report: &Report,
    labels: &datasets::FalseSignalLabels,
    channel: Channel,
) -> (Confusion2, Confusion2) {
    let n = recording.samples.len();
    let mut predicted_fhr = vec![false; n];
    let mut predicted_mhr = vec![false; n];
    for f in &report.false_signal {
        if f.kind == FalseKind::None {
            continue;
        }
        let target = if f.channel == Channel::Mhr {
            &mut predicted_mhr
        } else if f.channel == channel {
            &mut predicted_fhr
        } else {
            continue;
        };
        let from = (f.start_s * 4.0) as usize;
        let to = ((f.end_s * 4.0) as usize).min(n);
        for p in &mut target[from.min(to)..to] {
            *p = true;
        }
    }
    let score = |true_ranges: &[(u64, u64)],
                 false_ranges: &[(u64, u64)],
                 predicted: &[bool],
                 channel: Channel|
     -> Confusion2 {
        let mut label = vec![0u8; n];
        for &(s, e) in true_ranges {
            for l in &mut label[(s as usize).min(n)..(e as usize + 1).min(n)] {
                *l |= 1;
            }
        }
        for &(s, e) in false_ranges {
            for l in &mut label[(s as usize).min(n)..(e as usize + 1).min(n)] {
                *l |= 2;
            }
        }
        let mut c = [0u64; 4];
        for i in 0..n {
            if recording.samples[i].value(channel) == 0 || !(label[i] == 1 || label[i] == 2) {
                continue;
            }
            let is_false = label[i] == 2;
            let idx = match (predicted[i], is_false) {
                (true, true) => 0,
                (true, false) => 1,
                (false, true) => 2,
                (false, false) => 3,
            };
            c[idx] += 1;
        }
        c
    };
    (
        score(&labels.true_fhr, &labels.false_fhr, &predicted_fhr, channel),
        score(
            &labels.true_mhr,
            &labels.false_mhr,
            &predicted_mhr,
            Channel::Mhr,
        ),
    )
}

/// Sample accuracy of false-signal counts (NaN for none).
fn false_signal_accuracy([tp, fp, fnn, tn]: Confusion2) -> f64 {
    let total = tp + fp + fnn + tn;
    if total == 0 {
        f64::NAN
    } else {
        (tp + tn) as f64 / total as f64
    }
}

/// Precision, recall and F1 of the false class (0 where undefined).
fn false_class_scores([tp, fp, fnn, _]: Confusion2) -> (f64, f64, f64) {
    let p = if tp + fp == 0 {
        0.0
    } else {
        tp as f64 / (tp + fp) as f64
    };
    let r = if tp + fnn == 0 {
        0.0
    } else {
        tp as f64 / (tp + fnn) as f64
    };
    (
        p,
        r,
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        },
    )
}

/// Sums files' false-signal counts.
fn summed<'a>(counts: impl IntoIterator<Item = &'a Confusion2>) -> Confusion2 {
    counts.into_iter().fold([0u64; 4], |mut acc, c| {
        for (a, b) in acc.iter_mut().zip(c) {
            *a += b;
        }
        acc
    })
}

fn confusion_json(c: Confusion2) -> Value {
    let [tp, fp, fnn, tn] = c;
    let total = tp + fp + fnn + tn;
    if total == 0 {
        // Nothing labelled to measure on: null figures, not 0.
        return json!({"samples": 0, "accuracy": f64::NAN, "false_class_precision": f64::NAN,
                      "false_class_recall": f64::NAN, "false_class_f1": f64::NAN,
                      "accuracy_if_nothing_flagged": f64::NAN});
    }
    let (p, r, f1) = false_class_scores(c);
    json!({
        "samples": total,
        "accuracy": false_signal_accuracy(c),
        "false_class_precision": p,
        "false_class_recall": r,
        "false_class_f1": f1,
        "accuracy_if_nothing_flagged": (fp + tn) as f64 / total as f64,
    })
}

/// One FHRMA file against WMFB.
struct FhrmaResult {
    name: String,
    holdout: bool,
    /// MADI and RMSD of our baseline against WMFB's.
    baseline: Option<(f64, f64)>,
    /// Accelerations and decelerations against WMFB's, one per source in the order of
    /// [`EVENT_SOURCES`] (`None` where a toolbox method has no entry for the file).
    events: Vec<Option<[Counts; 2]>>,
}

/// How many sources of events are compared with WMFB's, in this order in
/// [`FhrmaResult::events`]: ours, ours with the toolbox's reading, then
/// [`datasets::TOOLBOX_METHODS`].
const EVENT_SOURCES: usize = 2 + datasets::TOOLBOX_METHODS.len();

/// (accelerations, decelerations) of `ours` matched one-to-one against `reference`'s, as the
/// Romagnoli events are (overlap ≥ 5 s, largest first).
fn event_counts(reference: &datasets::MethodEvents, ours: &datasets::MethodEvents) -> [Counts; 2] {
    let count = |r: &[Interval], o: &[Interval]| Counts {
        matched: score::match_events(r, o, MIN_OVERLAP_S).len() as u64,
        expert: r.len() as u64,
        ours: o.len() as u64,
    };
    [
        count(&reference.accelerations, &ours.accelerations),
        count(&reference.decelerations, &ours.decelerations),
    ]
}

/// A report's accelerations and decelerations as intervals.
fn report_events(report: &Report) -> datasets::MethodEvents {
    datasets::MethodEvents {
        accelerations: report
            .accelerations
            .iter()
            .map(|a| Interval {
                start: a.start_s,
                end: a.end_s,
            })
            .collect(),
        decelerations: report
            .decelerations
            .iter()
            .map(|d| Interval {
                start: d.start_s,
                end: d.end_s,
            })
            .collect(),
    }
}

fn baseline_file(
    data: &Path,
    elsewhere: &Elsewhere,
    name: &str,
    wmfb: &datasets::Wmfb,
    toolbox: &[BTreeMap<String, datasets::MethodEvents>],
    set: &[overrides::Override],
) -> Result<FhrmaResult, EvalError> {
    let fhrma = data.join("fhrma");
    let mut recording = read_recording(&elsewhere.locate([
        fhrma.join("traindata").join(name),
        fhrma.join("testdata").join(name),
    ]))?;
    overrides::apply_input(&mut recording.samples, set);
    let mut config = configured(&recording, Profile::Figo, set);
    config.keep_baseline_curve = true;
    let report = analyze(&recording.samples, config);
    let fhr: Vec<f32> = recording
        .samples
        .iter()
        .map(|s| {
            let v = s.value(Channel::Fhr1).max(s.value(Channel::Fhr2));
            if v == 0 { f32::NAN } else { f32::from(v) / 4.0 }
        })
        .collect();
    // The toolbox's event rule reads "15 bpm for 15 s" as an excursion that reaches 15 bpm and
    // lasts 15 s between its baseline crossings; ours as 15 s spent 15 bpm or more from the
    // baseline (NICHD 2008, FIGO 2015). The same analysis with the toolbox's reading shows how
    // much of the difference is that reading.
    let mut loose = configured(&recording, Profile::Figo, set);
    loose.acceleration.min_time_beyond = 0;
    loose.deceleration.min_time_beyond = 0;
    let loose_report = analyze(&recording.samples, loose);
    let mut events = vec![
        Some(event_counts(&wmfb.events, &report_events(&report))),
        Some(event_counts(&wmfb.events, &report_events(&loose_report))),
    ];
    events.extend(
        toolbox
            .iter()
            .map(|method| method.get(name).map(|e| event_counts(&wmfb.events, e))),
    );
    Ok(FhrmaResult {
        name: name.to_string(),
        holdout: is_holdout(name),
        baseline: score::madi_rmsd(&wmfb.baseline, &report.baseline_curve, &fhr),
        events,
    })
}

/// Per subset: the event counts of every [`EVENT_SOURCES`] against WMFB's, summed over the
/// files.
fn events_vs_wmfb_json(results: &[FhrmaResult], subset: Subset) -> Value {
    let mut files = 0;
    let mut sums = [[Counts::default(); 2]; EVENT_SOURCES];
    let mut present = [0usize; EVENT_SOURCES];
    for r in results.iter().filter(|r| subset.includes(r.holdout)) {
        files += 1;
        for (k, counts) in r.events.iter().enumerate() {
            if let Some(c) = counts {
                present[k] += 1;
                sums[k][0].add(c[0]);
                sums[k][1].add(c[1]);
            }
        }
    }
    let kind = |c: &Counts, n: usize| {
        // No file, or a reference without events of the kind (a WMFB file from elsewhere that
        // holds only baselines): nothing to measure, so null rather than 0.
        let measured = |v: f64| if n == 0 || c.expert == 0 { f64::NAN } else { v };
        json!({"precision": measured(c.precision()), "recall": measured(c.recall()),
               "f1": measured(c.f1()), "matched": c.matched, "reference": c.expert, "ours": c.ours})
    };
    let source = |k: usize, method: &str| {
        json!({"method": method, "files": present[k],
               "accelerations": kind(&sums[k][0], present[k]),
               "decelerations": kind(&sums[k][1], present[k])})
    };
    let mut out = json!({
        "reference": "WMFB's events (the FHRMA toolbox, automatic; not expert marks)",
        "files": files,
        "ours": source(0, "ours (15 s at ≥ 15 bpm from the baseline: NICHD, FIGO)"),
        "ours_toolbox_rule": source(1, "ours, the toolbox's reading (reaches 15 bpm, 15 s between crossings)"),
    });
    for (k, (stem, method)) in datasets::TOOLBOX_METHODS.iter().enumerate() {
        out[*stem] = source(2 + k, method);
    }
    out
}

/// The FHRMA and FHRMA-FS recordings of the data folder by file name, listed once per run, for
/// files that are not where the shared layout puts them (another layout of the same data).
struct Elsewhere(std::collections::HashMap<std::ffi::OsString, PathBuf>);

impl Elsewhere {
    fn under(data: &Path) -> Self {
        let found = ["fhrma-fs", "fhrma"]
            .iter()
            .filter_map(|dir| ctg_formats::find_recordings(&data.join(dir)).ok())
            .flatten()
            .filter_map(|p| Some((p.file_name()?.to_os_string(), p)))
            .collect();
        Self(found)
    }

    /// Where a recording named in the annotations is: the first of `paths` that is a file,
    /// else a recording of that name found elsewhere, else the first path (so reading it says
    /// what is missing).
    fn locate<const N: usize>(&self, paths: [PathBuf; N]) -> PathBuf {
        if let Some(found) = paths.iter().find(|p| p.is_file()) {
            return found.clone();
        }
        paths[0]
            .file_name()
            .and_then(|name| self.0.get(name))
            .unwrap_or(&paths[0])
            .clone()
    }
}

/// Reads the annotation file at `path` with `read` if it is there; if not, notes among what
/// was left out that `figures` are not measured, and goes on with nothing.
fn if_present<T: Default>(
    path: &Path,
    figures: &str,
    left_out: &mut Vec<String>,
    read: impl FnOnce() -> Result<T, EvalError>,
) -> Result<T, EvalError> {
    if path.is_file() {
        read()
    } else {
        left_out.push(format!(
            "{}: not there, so {figures} are not measured",
            path.display()
        ));
        Ok(T::default())
    }
}

/// The results that were computed; each failure is noted among what was left out (one bad
/// recording does not stop the evaluation of the others).
fn computed<R>(results: Vec<(String, Result<R, EvalError>)>, left_out: &mut Vec<String>) -> Vec<R> {
    results
        .into_iter()
        .filter_map(|(what, r)| {
            r.map_err(|e| {
                eprintln!("  left out {what}: {e}");
                left_out.push(format!("{what}: {e}"));
            })
            .ok()
        })
        .collect()
}

/// Options of a run.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// The shared data folder.
    pub data: PathBuf,
    /// Worker threads.
    pub threads: usize,
    /// Parameter overrides for this run.
    pub overrides: Vec<overrides::Override>,
}

/// Runs every evaluation and returns the `mimamori.eval.v1` JSON object.
pub fn run(options: &EvalOptions) -> Result<Value, EvalError> {
    Ok(report(&collect(options)?))
}

/// Every recording analysed and scored against its reference: what the figures are computed
/// from ([`report`]), and what two configurations are compared on ([`compare`]).
pub struct Collected {
    overrides: Vec<String>,
    left_out: Vec<String>,
    /// CTU-UHB records, with what the figures over them need precomputed.
    results: Vec<RecordResult>,
    /// Per record (as `results`): its rated windows, if the obstetricians rated it.
    rated: Vec<Option<RatedWindows>>,
    /// Per record (as `results`): its worst JSOG level in the last hour and acidaemia.
    outcome: Vec<Option<(f64, bool)>>,
    fs: Vec<FsResult>,
    baselines: Vec<FhrmaResult>,
}

/// Analyses and scores every recording the data folder holds (all cores).
pub fn collect(options: &EvalOptions) -> Result<Collected, EvalError> {
    let data = &options.data;
    let threads = options.threads;
    let set = &options.overrides;

    let mut left_out = Vec::new();
    let events = if_present(
        &data.join("ctu-uhb/romagnoli2020_events.json"),
        "the event figures",
        &mut left_out,
        || datasets::romagnoli(data),
    )?;
    let ratings = if_present(
        &data.join("ctu-uhb/expert_evaluations_9obstetricians.csv"),
        "the FIGO classes against the obstetricians",
        &mut left_out,
        || datasets::expert_ratings(data),
    )?;
    let (names, absent) = datasets::ctu_uhb_records(data, &events, &ratings);
    left_out.extend(absent);
    eprintln!(
        "CTU-UHB: analysing {} records (FIGO and JSOG profiles)",
        names.len()
    );
    let results: Vec<RecordResult> = computed(
        par_map(&names, threads, "records", |name| {
            (
                format!("CTU-UHB record {name}"),
                evaluate_record(data, name, events.get(name), set),
            )
        }),
        &mut left_out,
    );

    let elsewhere = Elsewhere::under(data);
    let (labels, unread) = if_present(
        &data.join("fhrma-fs/expert_annotations.json"),
        "the false-signal figures",
        &mut left_out,
        || datasets::false_signal_labels(data),
    )?;
    left_out.extend(unread);
    eprintln!(
        "FHRMA-FS: analysing {} recordings for false signal",
        labels.len()
    );
    let fs: Vec<FsResult> = computed(
        par_map(&labels, threads, "false-signal files", |l| {
            (
                format!("FHRMA-FS file {}", l.filename),
                false_signal_file(data, &elsewhere, l, set),
            )
        }),
        &mut left_out,
    );

    let wmfb = if_present(
        &data.join("fhrma/method_analyses/WMFB.json"),
        "the baseline and event figures against WMFB",
        &mut left_out,
        || datasets::wmfb(data),
    )?;
    let toolbox = datasets::TOOLBOX_METHODS
        .iter()
        .map(|(stem, method)| {
            if_present(
                &data.join(format!("fhrma/method_analyses/{stem}.json")),
                &format!("{method}'s events against WMFB's"),
                &mut left_out,
                || datasets::toolbox_method(data, stem),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let wmfb_list: Vec<(String, datasets::Wmfb)> = wmfb.into_iter().collect();
    eprintln!(
        "FHRMA: baselines and events of {} recordings vs WMFB",
        wmfb_list.len()
    );
    let baselines: Vec<FhrmaResult> = computed(
        par_map(
            &wmfb_list,
            threads,
            "baseline files",
            |(name, reference)| {
                (
                    format!("FHRMA file {name}"),
                    baseline_file(data, &elsewhere, name, reference, &toolbox, set),
                )
            },
        ),
        &mut left_out,
    );
    if !left_out.is_empty() {
        eprintln!(
            "left out of this evaluation ({}; listed in the JSON's `left_out`):",
            left_out.len()
        );
        for what in left_out.iter().take(10) {
            eprintln!("  {what}");
        }
        if left_out.len() > 10 {
            eprintln!("  … and {} more", left_out.len() - 10);
        }
    }

    let rated = results
        .iter()
        .map(|r| {
            ratings
                .get(&r.name)
                .map(|experts| rated_windows(r, experts))
        })
        .collect();
    let outcome = results.iter().map(worst_level_and_acidaemia).collect();
    Ok(Collected {
        overrides: set
            .iter()
            .map(|o| format!("{}={}", o.key, o.value))
            .collect(),
        left_out,
        results,
        rated,
        outcome,
        fs,
        baselines,
    })
}

/// The `mimamori.eval.v1` JSON object of collected results: every figure for all recordings,
/// development and holdout, the bars' figures with their 95 % intervals.
pub fn report(c: &Collected) -> Value {
    let Collected {
        results,
        fs,
        baselines,
        left_out,
        ..
    } = c;
    let mut out = json!({
        "schema": "mimamori.eval.v1",
        "holdout_rule": "development: the shared recordings whose number is not divisible by 5 (crates/eval/development.txt); holdout: every other recording",
        "overrides": c.overrides,
        "recordings": {
            "ctu_uhb": results.len(),
            "fhrma_fs": fs.len(),
            "fhrma_wmfb": baselines.len(),
        },
        "left_out": left_out,
        "per_record": per_record_json(results),
    });
    out["bootstrap"] = json!({
        "what": "95 % interval of each figure: percentile bootstrap over recordings (as many drawn with replacement as the part holds), beside the figure as `<figure>_ci95`",
        "resamples": bootstrap::RESAMPLES,
    });
    for subset in Subset::ALL {
        let fs_part: Vec<&FsResult> = fs.iter().filter(|f| subset.includes(f.holdout)).collect();
        let mut madi: Vec<f64> = Vec::new();
        let mut rmsd: Vec<f64> = Vec::new();
        for r in baselines {
            if let (true, Some((a, b))) = (subset.includes(r.holdout), r.baseline) {
                madi.push(a * 100.0);
                rmsd.push(b);
            }
        }
        out[subset.name()] = json!({
            "events": events_json(results, subset),
            "false_signal_fetal": confusion_json(summed(fs_part.iter().map(|f| &f.fetal))),
            "false_signal_mhr": confusion_json(summed(fs_part.iter().map(|f| &f.mhr))),
            "classification_figo_vs_experts": classification_json(c, subset),
            "outcome": outcome_json(c, subset),
            "baseline_vs_wmfb": {
                "files": madi.len(),
                "madi_percent_median": score::median(&mut madi),
                "rmsd_bpm_median": score::median(&mut rmsd),
            },
            "events_vs_wmfb": events_vs_wmfb_json(baselines, subset),
        });
        for figure in &FIGURES {
            let units = (figure.units)(c, subset);
            let interval = bootstrap::interval95(&units, |draw| {
                (figure.compute)(c, &mut draw.iter().map(|&&u| u))
            });
            let (parent, key) = figure
                .path
                .rsplit_once('/')
                .expect("a figure's path names its object and key");
            out[subset.name()]
                .pointer_mut(parent)
                .expect("every figure's object is in the report")[format!("{key}_ci95")] =
                json!(interval);
        }
    }
    out
}

/// Which recordings a figure is drawn over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dataset {
    /// CTU-UHB records (`Collected::results`).
    CtuUhb,
    /// FHRMA-FS files (`Collected::fs`).
    FalseSignal,
    /// FHRMA files (`Collected::baselines`).
    Fhrma,
}

impl Dataset {
    /// The name of its `index`-th recording.
    fn name(self, c: &Collected, index: usize) -> &str {
        match self {
            Dataset::CtuUhb => &c.results[index].name,
            Dataset::FalseSignal => &c.fs[index].name,
            Dataset::Fhrma => &c.baselines[index].name,
        }
    }
}

/// A bar's figure as a function of the recordings it is computed over, so it can be computed
/// again on a bootstrap draw of them (its interval), and on the same draw for two
/// configurations (their difference).
struct Figure {
    /// Where it sits in a part of the report (`/events/decelerations/f1`); its interval goes
    /// beside it (`f1_ci95`).
    path: &'static str,
    dataset: Dataset,
    /// The recordings of a part it is computed over (indices into the dataset's list).
    units: fn(&Collected, Subset) -> Vec<usize>,
    /// The figure over some of them (with repeats: a draw).
    compute: fn(&Collected, &mut dyn Iterator<Item = usize>) -> f64,
}

/// The CTU-UHB records of a part whose index `keep` accepts.
fn records_where(c: &Collected, subset: Subset, keep: impl Fn(usize) -> bool) -> Vec<usize> {
    (0..c.results.len())
        .filter(|&i| subset.includes(c.results[i].holdout) && keep(i))
        .collect()
}

/// The records the expert annotated (the event figures).
fn annotated_records(c: &Collected, subset: Subset) -> Vec<usize> {
    records_where(c, subset, |i| c.results[i].counts.is_some())
}

/// The records the obstetricians rated (κ).
fn rated_records(c: &Collected, subset: Subset) -> Vec<usize> {
    records_where(c, subset, |i| c.rated[i].is_some())
}

/// The records with an umbilical artery pH (the outcome AUC).
fn records_with_ph(c: &Collected, subset: Subset) -> Vec<usize> {
    records_where(c, subset, |i| c.results[i].ph.is_some())
}

/// The FHRMA-FS files of a part (the false-signal figures).
fn fs_files(c: &Collected, subset: Subset) -> Vec<usize> {
    (0..c.fs.len())
        .filter(|&i| subset.includes(c.fs[i].holdout))
        .collect()
}

/// The FHRMA files of a part (MADI against WMFB).
fn fhrma_files(c: &Collected, subset: Subset) -> Vec<usize> {
    (0..c.baselines.len())
        .filter(|&i| subset.includes(c.baselines[i].holdout))
        .collect()
}

/// The F1 of event kind `K` (0 accelerations, 1 decelerations, 2 contractions).
fn event_f1<const K: usize>(c: &Collected, units: &mut dyn Iterator<Item = usize>) -> f64 {
    pooled_events(units.map(|i| &c.results[i])).0[K].f1()
}

/// The bars' figures (and the outcome AUC), in the order of the table.
const FIGURES: [Figure; 10] = [
    Figure {
        path: "/events/decelerations/f1",
        dataset: Dataset::CtuUhb,
        units: annotated_records,
        compute: event_f1::<1>,
    },
    Figure {
        path: "/events/accelerations/f1",
        dataset: Dataset::CtuUhb,
        units: annotated_records,
        compute: event_f1::<0>,
    },
    Figure {
        path: "/events/contractions/f1",
        dataset: Dataset::CtuUhb,
        units: annotated_records,
        compute: event_f1::<2>,
    },
    Figure {
        path: "/events/deceleration_type_accuracy",
        dataset: Dataset::CtuUhb,
        units: annotated_records,
        compute: |c, units| type_accuracy(&pooled_events(units.map(|i| &c.results[i])).1),
    },
    Figure {
        path: "/false_signal_fetal/accuracy",
        dataset: Dataset::FalseSignal,
        units: fs_files,
        compute: |c, units| false_signal_accuracy(summed(units.map(|i| &c.fs[i].fetal))),
    },
    Figure {
        path: "/false_signal_fetal/false_class_f1",
        dataset: Dataset::FalseSignal,
        units: fs_files,
        compute: |c, units| false_class_scores(summed(units.map(|i| &c.fs[i].fetal))).2,
    },
    Figure {
        path: "/false_signal_mhr/accuracy",
        dataset: Dataset::FalseSignal,
        units: fs_files,
        compute: |c, units| false_signal_accuracy(summed(units.map(|i| &c.fs[i].mhr))),
    },
    Figure {
        path: "/classification_figo_vs_experts/kappa_quadratic",
        dataset: Dataset::CtuUhb,
        units: rated_records,
        compute: |c, units| {
            let pairs: Vec<RatingPair> = units
                .filter_map(|i| c.rated[i].as_ref())
                .flat_map(|rated| rated.ours.iter().copied())
                .collect();
            score::quadratic_kappa(&pairs, 3)
        },
    },
    Figure {
        path: "/baseline_vs_wmfb/madi_percent_median",
        dataset: Dataset::Fhrma,
        units: fhrma_files,
        compute: |c, units| {
            let mut madi: Vec<f64> = units
                .filter_map(|i| c.baselines[i].baseline.map(|(m, _)| m * 100.0))
                .collect();
            score::median(&mut madi)
        },
    },
    Figure {
        path: "/outcome/auc_worst_jsog_last_60_min_for_ph_below_7_05",
        dataset: Dataset::CtuUhb,
        units: records_with_ph,
        compute: |c, units| {
            let points: Vec<(f64, bool)> = units.filter_map(|i| c.outcome[i]).collect();
            outcome_auc(&points)
        },
    },
];

/// Two configurations on the same recordings (`changed` and `reference`, collected from the
/// same data folder): each bar's figure under both, their difference, and the difference's
/// 95 % interval from the same bootstrap draws of recordings for both (a paired comparison:
/// a recording that is hard for one is hard for the other, so the difference varies far less
/// than either figure). Recordings only one of the two could score are left out of it.
pub fn compare(changed: &Collected, reference: &Collected) -> Value {
    let mut out = json!({
        "changed": changed.overrides,
        "reference": reference.overrides,
        "resamples": bootstrap::RESAMPLES,
    });
    for subset in Subset::ALL {
        let mut figures = Vec::new();
        for figure in &FIGURES {
            let by_name: BTreeMap<&str, usize> = (figure.units)(reference, subset)
                .into_iter()
                .map(|i| (figure.dataset.name(reference, i), i))
                .collect();
            let pairs: Vec<(usize, usize)> = (figure.units)(changed, subset)
                .into_iter()
                .filter_map(|i| Some((i, *by_name.get(figure.dataset.name(changed, i))?)))
                .collect();
            let on =
                |c: &Collected, pick: fn(&(usize, usize)) -> usize, draw: &[&(usize, usize)]| {
                    (figure.compute)(c, &mut draw.iter().map(|p| pick(p)))
                };
            let all: Vec<&(usize, usize)> = pairs.iter().collect();
            let (a, b) = (on(changed, |p| p.0, &all), on(reference, |p| p.1, &all));
            let interval = bootstrap::interval95(&pairs, |draw| {
                on(changed, |p| p.0, draw) - on(reference, |p| p.1, draw)
            });
            figures.push(json!({
                "figure": figure.path,
                "recordings": pairs.len(),
                "changed": a,
                "reference": b,
                "difference": a - b,
                "difference_ci95": interval,
            }));
        }
        out[subset.name()] = json!(figures);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a reference without events of a kind there is nothing to measure: that kind's
    /// figures are null, not 0, while the other kind is scored.
    #[test]
    fn events_against_a_reference_without_any_are_not_measured() {
        let iv = |start: f64, end: f64| Interval { start, end };
        let reference = datasets::MethodEvents {
            accelerations: vec![],
            decelerations: vec![iv(100.0, 160.0)],
        };
        let ours = datasets::MethodEvents {
            accelerations: vec![iv(10.0, 40.0)],
            decelerations: vec![iv(110.0, 150.0), iv(300.0, 330.0)],
        };
        let counts = event_counts(&reference, &ours);
        let result = FhrmaResult {
            name: "train01.fhr".into(),
            holdout: false,
            baseline: None,
            events: vec![Some(counts); EVENT_SOURCES],
        };
        let json = events_vs_wmfb_json(&[result], Subset::All);
        assert_eq!(json["files"], 1);
        assert!(json["ours"]["accelerations"]["f1"].is_null(), "{json}");
        assert_eq!(json["ours"]["accelerations"]["ours"], 1);
        let decel = &json["ours"]["decelerations"];
        assert_eq!(decel["matched"], 1);
        assert!(
            (decel["f1"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9,
            "{decel}"
        );
    }

    /// The split: the shared recordings numbered by a multiple of 5, and anything the shared
    /// data does not hold, are holdout; the list's comment lines name no recording.
    #[test]
    fn holdout_is_every_recording_parameters_were_not_chosen_on() {
        for development in ["1001", "2013", "train01.fhr", "DopMHRTrain0001.fhrm"] {
            assert!(!is_holdout(development), "{development}");
        }
        for holdout in [
            "1005",
            "2010",
            "train10.fhr",
            "ScalpTrain0015.fhrm",
            "1004",
            "9003",
            "test01.fhr",
            "DopMHRTest0001.fhrm",
            "",
        ] {
            assert!(is_holdout(holdout), "{holdout}");
        }
        let listed = DEVELOPMENT.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(listed, 1009, "the split is fixed");
        assert!(
            DEVELOPMENT
                .lines()
                .filter(|l| !l.starts_with('#'))
                .all(|name| !name
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect::<String>()
                    .parse::<u64>()
                    .unwrap()
                    .is_multiple_of(5))
        );
    }
}
