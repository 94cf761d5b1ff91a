//! Throughput of the full streaming analysis (every stage, JSOG profile) over real recordings,
//! and of the stages cumulatively (prep, + baseline, + event detectors; contractions alone).
//!
//! Run: `cargo bench --bench analysis` (needs ../shared/data). Reported as samples per second
//! on one core; the target in DESIGN.md is ≥ 50 million.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ctg_dsp::{Analyzer, Profile, analyze};
use ctg_formats::read_recording;

fn recordings() -> Vec<(ctg_dsp::AnalyzerConfig, Vec<ctg_proto::model::Sample>)> {
    let data = ctg_formats::shared_data_dir().unwrap_or_else(|e| panic!("{e}"));
    ["1001", "1002", "1003", "1329", "2013"]
        .iter()
        .map(|r| {
            let rec = read_recording(&data.join(format!("ctu-uhb/wfdb/{r}.hea"))).unwrap();
            (ctg_eval::config_for(&rec, Profile::Jsog), rec.samples)
        })
        .collect()
}

fn full_analysis(c: &mut Criterion) {
    let recs = recordings();
    let total: usize = recs.iter().map(|(_, s)| s.len()).sum();
    let mut group = c.benchmark_group("analysis");
    group.throughput(Throughput::Elements(total as u64));
    group.sample_size(20);
    group.bench_function("offline, 5 CTU-UHB records", |b| {
        b.iter(|| {
            for (config, samples) in &recs {
                black_box(analyze(black_box(samples), config.clone()));
            }
        })
    });
    group.bench_function("streaming, 1-s blocks, 5 CTU-UHB records", |b| {
        b.iter(|| {
            for (config, samples) in &recs {
                let mut analyzer = Analyzer::new(config.clone());
                for block in samples.chunks(4) {
                    analyzer.push(block);
                    while let Some(f) = analyzer.poll() {
                        black_box(f);
                    }
                }
                black_box(analyzer.into_report());
            }
        })
    });
    group.finish();
}

/// Each stage's cost is the difference between two consecutive cumulative runs.
fn stages(c: &mut Criterion) {
    let recs = recordings();
    let total: usize = recs.iter().map(|(_, s)| s.len()).sum();
    let mut group = c.benchmark_group("stages");
    group.throughput(Throughput::Elements(total as u64));
    group.sample_size(20);
    type Stage = fn(&[ctg_proto::model::Sample], &ctg_dsp::AnalyzerConfig) -> usize;
    let stages: [(&str, Stage); 4] = [
        ("1 prep", ctg_dsp::stages::prep),
        ("2 prep+baseline", ctg_dsp::stages::prep_baseline),
        (
            "3 prep+baseline+events",
            ctg_dsp::stages::prep_baseline_events,
        ),
        ("contractions alone", ctg_dsp::stages::contractions),
    ];
    for (name, stage) in stages {
        group.bench_function(name, |b| {
            b.iter(|| {
                for (config, samples) in &recs {
                    black_box(stage(black_box(samples), config));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, full_analysis, stages);
criterion_main!(benches);
