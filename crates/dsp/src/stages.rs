//! The analysis stage by stage, for benchmarks only (`benches/analysis.rs`): each function runs
//! the stages up to the one it names over a whole recording and returns how many items came out,
//! so the cost of a stage is the difference between two consecutive functions. They are driven
//! as the analyzer drives them from the hub's 1-s blocks: preparation takes a block and releases
//! what it has decided as runs, and each later stage takes those runs and releases what is ready
//! once per block. Not an API.

use ctg_proto::model::{Channel, Quality, Sample};

use crate::AnalyzerConfig;
use crate::baseline::Baseline;
use crate::contractions::Contractions;
use crate::events::ExcursionDetector;
use crate::prep::{Prep, Prepared};

/// Each sample's fetal value (quarter bpm) and maternal heart rate (bpm, NaN: none).
fn inputs(samples: &[Sample], config: &AnalyzerConfig) -> impl Iterator<Item = (u16, f32)> {
    samples.iter().map(move |s| {
        (
            s.value(config.fetal),
            crate::prep::quarters_to_bpm(s.value(Channel::Mhr)),
        )
    })
}

/// Samples per block, as the hub delivers them (1 s at 4 Hz).
const BLOCK: usize = 4;

/// Runs preparation over the recording in 1-s blocks: `each(first, run)` for every run of
/// prepared samples it releases, then `after_block()` once per block.
fn prepared(
    samples: &[Sample],
    config: &AnalyzerConfig,
    mut each: impl FnMut(u64, &[Prepared]),
    mut after_block: impl FnMut(),
) {
    let mut prep = Prep::new(config.prep.clone());
    let (mut fetal, mut mhr) = (Vec::with_capacity(BLOCK), Vec::with_capacity(BLOCK));
    for block in samples.chunks(BLOCK) {
        fetal.clear();
        mhr.clear();
        for (f, m) in inputs(block, config) {
            fetal.push(f);
            mhr.push(m);
        }
        prep.push_block(&fetal, &mhr);
        prep.release_runs(&mut each);
        after_block();
    }
    prep.finish();
    prep.release_runs(&mut each);
    after_block();
}

/// Preprocessing (artefacts, gaps, false signal): prepared samples out.
pub fn prep(samples: &[Sample], config: &AnalyzerConfig) -> usize {
    let mut n = 0;
    prepared(samples, config, |_, run| n += run.len(), || {});
    n
}

/// Preparation, then the baseline, in 1-s blocks: `release(baseline)` once per block.
fn baselined(
    samples: &[Sample],
    config: &AnalyzerConfig,
    mut release: impl FnMut(&mut Baseline<()>),
) {
    let baseline = std::cell::RefCell::new(Baseline::<()>::new(&config.baseline));
    prepared(
        samples,
        config,
        |first, run| {
            let mut baseline = baseline.borrow_mut();
            for (k, p) in run.iter().enumerate() {
                baseline.push(first + k as u64, p.fetal_quarters(), ());
            }
        },
        || release(&mut baseline.borrow_mut()),
    );
}

/// … then the baseline: samples with their baseline out.
pub fn prep_baseline(samples: &[Sample], config: &AnalyzerConfig) -> usize {
    let mut n = 0;
    baselined(samples, config, |baseline| {
        baseline.release_ready(|_, held, _| n += held.len())
    });
    n
}

/// … then the acceleration and deceleration detectors: excursions out.
pub fn prep_baseline_events(samples: &[Sample], config: &AnalyzerConfig) -> usize {
    let mut accel = ExcursionDetector::new(1, config.acceleration.clone());
    let mut decel = ExcursionDetector::new(-1, config.deceleration.clone());
    let (mut n, mut fetal) = (0, Vec::with_capacity(128));
    baselined(samples, config, |baseline| {
        baseline.release_ready(|first, held, b| {
            fetal.clear();
            fetal.extend(held.iter().map(|h| h.fetal()));
            accel.push_run(first, &fetal, b);
            decel.push_run(first, &fetal, b);
            while accel.pop().is_some() || decel.pop().is_some() {
                n += 1;
            }
        })
    });
    accel.finish();
    decel.finish();
    while accel.pop().is_some() || decel.pop().is_some() {
        n += 1;
    }
    n
}

/// The contraction detector alone (it reads uterine activity only): contractions out.
pub fn contractions(samples: &[Sample], config: &AnalyzerConfig) -> usize {
    let mut stage = Contractions::new(&config.contractions);
    let mut n = 0;
    for (index, s) in samples.iter().enumerate() {
        stage.push(
            index as u64,
            s.value(Channel::Ua),
            s.quality[Channel::Ua.index()] != Quality::None,
        );
        while stage.pop().is_some() {
            n += 1;
        }
    }
    stage.finish(samples.len() as u64);
    while stage.pop().is_some() {
        n += 1;
    }
    n
}
