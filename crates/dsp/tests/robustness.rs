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

/// Two fetal channels built to coincide in stretches: FHR1 a random walk, FHR2 another fetus
/// or (in `same` stretches) FHR1 a few bpm off, each with random drop-outs.
fn twin_channels() -> impl Strategy<Value = Vec<ctg_proto::model::Sample>> {
    use ctg_proto::model::{Channel, Sample};
    (
        proptest::collection::vec((any::<bool>(), 200usize..3000, 0u16..24, 0u8..4), 1..8),
        any::<u32>(),
    )
        .prop_map(|(stretches, seed)| {
            let mut state = seed | 1;
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state
            };
            let (mut a, mut b) = (560i32, 600i32);
            let mut samples = Vec::new();
            for (same, len, offset, dropout) in stretches {
                for _ in 0..len {
                    a = (a + (next() % 9) as i32 - 4).clamp(400, 720);
                    b = (b + (next() % 9) as i32 - 4).clamp(400, 720);
                    let mut s = Sample::default();
                    let lost = |r: u32| dropout > 0 && r.is_multiple_of(8 * u32::from(dropout));
                    s.values[Channel::Fhr1.index()] = if lost(next()) { 0 } else { a as u16 };
                    let fhr2 = if same { a as u16 + offset } else { b as u16 };
                    s.values[Channel::Fhr2.index()] = if lost(next()) { 0 } else { fhr2 };
                    samples.push(s);
                }
            }
            samples
        })
}

fn cross_channel_events(
    samples: &[ctg_proto::model::Sample],
    block: usize,
) -> Vec<ctg_dsp::cross_channel::CrossChannelEvent> {
    use ctg_dsp::cross_channel::{CrossChannel, CrossChannelConfig};
    use ctg_proto::model::Channel;
    let mut check = CrossChannel::new(
        CrossChannelConfig::default(),
        [Channel::Fhr1, Channel::Fhr2],
        1000,
    );
    let mut events = Vec::new();
    for chunk in samples.chunks(block) {
        check.push(chunk);
        events.extend(std::iter::from_fn(|| check.poll()));
    }
    check.finish();
    events.extend(std::iter::from_fn(|| check.poll()));
    events
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The twins' cross-channel check, on channels that coincide in random stretches with
    /// random drop-outs: never panics, tells each episode as begun and then ended at the same
    /// start, inside the stream, one after another, the same whatever the block size.
    #[test]
    fn cross_channel_episodes_are_well_formed_whatever_the_blocks(
        samples in twin_channels(),
        block in 1usize..700,
    ) {
        use ctg_dsp::cross_channel::CrossChannelEvent;
        let events = cross_channel_events(&samples, block);
        let (first, end) = (1000u64, 1000 + samples.len() as u64);
        let mut open: Option<u64> = None;
        let mut last_end = first;
        for e in &events {
            match *e {
                CrossChannelEvent::Began { start } => {
                    prop_assert!(open.is_none(), "{events:?}");
                    prop_assert!(start >= last_end && start < end, "{events:?}");
                    open = Some(start);
                }
                CrossChannelEvent::Ended { start, end: stop } => {
                    prop_assert_eq!(open.take(), Some(start));
                    prop_assert!(start < stop && stop <= end, "{events:?}");
                    last_end = stop;
                }
            }
        }
        prop_assert!(open.is_none(), "finish ends the episode under way");
        prop_assert_eq!(cross_channel_events(&samples, 4), events);
    }
}
