//! Same answer online and offline (DESIGN.md invariant 5): a real recording fed block by block,
//! in random block sizes, yields exactly the findings of the whole recording fed at once.

use ctg_dsp::{Analyzer, AnalyzerConfig, Finding, Profile, Report, analyze};
use ctg_formats::read_recording;
use ctg_proto::model::Channel;
use proptest::prelude::*;

fn recordings() -> Vec<(String, Vec<ctg_proto::model::Sample>, Channel)> {
    let data = ctg_formats::shared_data_dir().unwrap_or_else(|e| panic!("{e}"));
    [
        "ctu-uhb/wfdb/1001.hea",
        "ctu-uhb/wfdb/1329.hea",
        "fhrma-fs/ScalpECG/Train/ScalpTrain0007.fhrm",
        "fhrma-fs/DopMHR/Train/DopMHRTrain0012.fhrm",
        "fhrma/traindata/train42.fhr",
    ]
    .iter()
    .map(|p| {
        let r = read_recording(&data.join(p)).unwrap();
        let fetal = r.fetal_channel();
        (p.to_string(), r.samples, fetal)
    })
    .collect()
}

fn config(fetal: Channel) -> AnalyzerConfig {
    let mut c = AnalyzerConfig::new(Profile::Jsog).with_fetal_channel(fetal);
    c.keep_baseline_curve = true;
    c
}

/// Streams `samples` in blocks whose sizes cycle through `sizes`, polling after every block,
/// and returns every finding in the order it became final.
fn streamed(samples: &[ctg_proto::model::Sample], fetal: Channel, sizes: &[usize]) -> Vec<Finding> {
    let mut analyzer = Analyzer::new(config(fetal));
    let mut polled = Vec::new();
    let mut at = 0;
    let mut k = 0;
    while at < samples.len() {
        let n = sizes[k % sizes.len()].min(samples.len() - at);
        analyzer.push(&samples[at..at + n]);
        while let Some(f) = analyzer.poll() {
            polled.push(f);
        }
        at += n;
        k += 1;
    }
    analyzer.finish();
    while let Some(f) = analyzer.poll() {
        polled.push(f);
    }
    polled
}

/// The offline report, rebuilt from the streamed findings plus the stream-wide figures.
fn report_from(findings: Vec<Finding>, offline: &Report) -> Report {
    let mut r = Report {
        samples: offline.samples,
        signal_loss_percent: offline.signal_loss_percent,
        stv_ms: offline.stv_ms,
        baseline_curve: offline.baseline_curve.clone(),
        ..Report::default()
    };
    for f in findings {
        r.add(f);
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn online_equals_offline(sizes in proptest::collection::vec(1usize..2000, 1..12)) {
        for (name, samples, fetal) in recordings() {
            let offline = analyze(&samples, config(fetal));
            let online = report_from(streamed(&samples, fetal, &sizes), &offline);
            prop_assert!(offline == online, "{name}: findings differ for block sizes {sizes:?}");
            // The stream-wide figures too: a streamed analyzer's own report equals the offline one.
            let mut analyzer = Analyzer::new(config(fetal));
            for block in samples.chunks(sizes[0]) {
                analyzer.push(block);
            }
            prop_assert!(analyzer.into_report() == offline, "{name}: report differs");
        }
    }
}

#[test]
fn findings_become_final_while_streaming() {
    let (_, samples, fetal) = recordings().remove(1);
    let mut analyzer = Analyzer::new(config(fetal));
    let mut first_window_at = None;
    for (i, block) in samples.chunks(4).enumerate() {
        analyzer.push(block);
        while let Some(f) = analyzer.poll() {
            if matches!(f, Finding::Classification(_)) && first_window_at.is_none() {
                first_window_at = Some((i + 1) * 4);
            }
        }
    }
    // The first 10-minute window is classified while the stream runs, within 25 minutes.
    let at = first_window_at.expect("a window classified before the end");
    assert!(
        at <= 25 * 240,
        "first classification after {} min",
        at / 240
    );
}

/// What `provisional()` reports after `n` samples depends only on those samples, not on how
/// they were cut into blocks: the live tracker is fed only references that are final.
#[test]
fn provisional_decelerations_do_not_depend_on_block_sizes() {
    let mut reported = 0;
    for (name, samples, fetal) in recordings().into_iter().take(2) {
        // One sample at a time: what is reported after every sample.
        let mut by_sample = Analyzer::new(config(fetal));
        let mut expected = Vec::new();
        for sample in samples.chunks(1) {
            by_sample.push(sample);
            expected.push(by_sample.provisional());
        }
        reported += expected.iter().filter(|p| !p.is_empty()).count();
        // Odd block sizes: compared at every block's end.
        let mut analyzer = Analyzer::new(config(fetal));
        let (mut at, mut k) = (0, 0);
        let sizes = [7, 64, 1, 250, 13, 4, 99];
        while at < samples.len() {
            let n = sizes[k % sizes.len()].min(samples.len() - at);
            analyzer.push(&samples[at..at + n]);
            at += n;
            k += 1;
            assert_eq!(
                analyzer.provisional(),
                expected[at - 1],
                "{name} after {at} samples"
            );
        }
        assert!(k > 100, "{name}: {k} blocks");
    }
    assert!(
        reported > 100,
        "samples with a deceleration under way: {reported}"
    );
}

/// The benchmark's stage-by-stage drivers (`ctg_dsp::stages`, fed 1-s blocks as the analyzer
/// is) pass every sample through: preparation releases them all, the baseline all but those
/// within its lag of the end (the drivers do not pad the end as `finish` does), and the
/// detectors find excursions where the analysis reports events in what they cover.
#[test]
fn the_stage_drivers_pass_every_sample_through() {
    for (name, samples, fetal) in recordings() {
        let c = config(fetal);
        assert_eq!(ctg_dsp::stages::prep(&samples, &c), samples.len(), "{name}");
        let released = ctg_dsp::stages::prep_baseline(&samples, &c);
        // The baseline's lag is 2,043 samples (8.5 min) and it releases a knot step (60) at a
        // time.
        assert!(
            released <= samples.len() && released + 2043 + 60 >= samples.len(),
            "{name}: {released} of {}",
            samples.len()
        );
        // Events the analysis reports that the drivers' released samples cover.
        let report = analyze(&samples, c.clone());
        let covered = |start_s: f64| ((start_s * 4.0) as usize) + 2043 + 60 < samples.len();
        let events = report
            .accelerations
            .iter()
            .filter(|a| covered(a.start_s))
            .count()
            + report
                .decelerations
                .iter()
                .filter(|d| covered(d.start_s))
                .count();
        let excursions = ctg_dsp::stages::prep_baseline_events(&samples, &c);
        assert!(
            events == 0 || excursions > 0,
            "{name}: {excursions} excursions, {events} events"
        );
    }
}
