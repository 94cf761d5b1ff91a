//! The analysis stage by stage, for benchmarks only (`benches/analysis.rs`): each function runs
//! the stages up to the one it names over a whole recording and returns how many items came out,
//! so the cost of a stage is the difference between two consecutive functions. Not an API.

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

fn prepared(samples: &[Sample], config: &AnalyzerConfig, mut each: impl FnMut(u64, Prepared)) {
    let mut prep = Prep::new(config.prep.clone());
    let mut release = |first: u64, run: &[Prepared]| {
        for (k, p) in run.iter().enumerate() {
            each(first + k as u64, *p);
        }
    };
    for (fetal, mhr) in inputs(samples, config) {
        prep.push_block(&[fetal], &[mhr]);
        prep.release_runs(&mut release);
    }
    prep.finish();
    prep.release_runs(&mut release);
}

/// Preprocessing (artefacts, gaps, false signal): prepared samples out.
pub fn prep(samples: &[Sample], config: &AnalyzerConfig) -> usize {
    let mut n = 0;
    prepared(samples, config, |_, _| n += 1);
    n
}

/// … then the baseline: samples with their baseline out.
pub fn prep_baseline(samples: &[Sample], config: &AnalyzerConfig) -> usize {
    let mut baseline = Baseline::<()>::new(&config.baseline);
    let mut n = 0;
    prepared(samples, config, |index, p| {
        baseline.push(index, p.fetal_quarters(), ());
        baseline.release_ready(|_, held, _| n += held.len());
    });
    n
}

/// … then the acceleration and deceleration detectors: excursions out.
pub fn prep_baseline_events(samples: &[Sample], config: &AnalyzerConfig) -> usize {
    let mut baseline = Baseline::<()>::new(&config.baseline);
    let mut accel = ExcursionDetector::new(1, config.acceleration.clone());
    let mut decel = ExcursionDetector::new(-1, config.deceleration.clone());
    let (mut n, mut fetal) = (0, Vec::with_capacity(128));
    prepared(samples, config, |index, p| {
        baseline.push(index, p.fetal_quarters(), ());
        baseline.release_ready(|first, held, b| {
            fetal.clear();
            fetal.extend(held.iter().map(|h| h.fetal()));
            accel.push_run(first, &fetal, b);
            decel.push_run(first, &fetal, b);
            while accel.pop().is_some() || decel.pop().is_some() {
                n += 1;
            }
        });
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
