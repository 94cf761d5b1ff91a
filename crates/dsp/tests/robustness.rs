//! Whatever a device sends, the analyzer neither panics nor reports nonsense: arbitrary sample
//! values, qualities and block sizes give findings that lie inside the stream and are ordered.

use ctg_dsp::{Analyzer, AnalyzerConfig, Finding, Profile};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_samples_never_panic_and_findings_lie_inside_the_stream(
        samples in ctg_proto::strategies::sample_runs(40, 400).prop_filter("not empty", |s| !s.is_empty()),
        block in 1usize..3000,
        profile in prop_oneof![Just(Profile::Jsog), Just(Profile::Figo), Just(Profile::Nichd)],
    ) {
        let mut analyzer = Analyzer::new(AnalyzerConfig::new(profile));
        let mut findings = Vec::new();
        for chunk in samples.chunks(block) {
            analyzer.push(chunk);
            let _ = analyzer.provisional();
            while let Some(f) = analyzer.poll() {
                findings.push(f);
            }
        }
        analyzer.finish();
        while let Some(f) = analyzer.poll() {
            findings.push(f);
        }
        let duration = samples.len() as f64 / 4.0;
        let inside = |a: f64, b: f64| 0.0 <= a && a <= b && b <= duration + 1e-9;
        for f in &findings {
            let ok = match f {
                Finding::Acceleration(a) => inside(a.start_s, a.end_s) && inside(a.start_s, a.peak_s),
                Finding::Deceleration(d) => inside(d.start_s, d.end_s) && inside(d.start_s, d.nadir_s) && d.depth_bpm >= 0.0,
                Finding::Contraction(c) => inside(c.start_s, c.end_s) && inside(c.start_s, c.peak_s),
                Finding::FalseSignal(s) => inside(s.start_s, s.end_s),
                Finding::Baseline(w) => inside(w.start_s, w.end_s),
                Finding::Variability(w) => inside(w.start_s, w.end_s),
                Finding::Classification(c) => inside(c.start_s, c.end_s)
                    && (1..=5).contains(&c.jsog_level)
                    && (1..=3).contains(&c.nichd_category),
            };
            prop_assert!(ok, "finding outside the stream of {duration} s: {f:?}");
        }
        let windows: Vec<f64> = findings.iter().filter_map(|f| match f {
            Finding::Classification(c) => Some(c.start_s),
            _ => None,
        }).collect();
        prop_assert!(windows.windows(2).all(|w| w[0] < w[1]), "windows in order: {windows:?}");
        let expected_windows = samples.len().div_ceil(2400);
        prop_assert_eq!(windows.len(), expected_windows);
    }
}
