//! The synthetic programme, analysed: what it plants is what the analysis finds, so the demo
//! and the end-to-end tests that play it show events that qualify under the analysis's
//! definitions (JSOG profile, as the hub runs it), typed as planted.

use ctg_dsp::{AnalyzerConfig, DecelerationType, FalseKind, Profile, VariabilityBand, analyze};
use ctg_proto::model::Channel;
use ctg_sim::Synthetic;
use ctg_sim::synthetic::{PROGRAMME_S, Planted, programme};

fn overlaps(a: (f64, f64), b: (f64, f64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// A planted event's span in the stream, seconds, for the programme starting at `offset`.
fn span(offset: f64, start_s: u64, duration_s: u64) -> (f64, f64) {
    (
        offset + start_s as f64,
        offset + (start_s + duration_s) as f64,
    )
}

#[test]
fn the_analysis_finds_what_the_programme_plants_typed_as_planted() {
    // Two programmes: the second starts with a history, as a bed does after the first.
    let report = analyze(
        &Synthetic::samples(2 * PROGRAMME_S),
        AnalyzerConfig::new(Profile::Jsog),
    );
    let planted: Vec<(f64, Planted)> = [0.0, PROGRAMME_S as f64]
        .into_iter()
        .flat_map(|offset| programme().into_iter().map(move |p| (offset, p)))
        .collect();
    let (mut decels, mut accels) = (0, 0);
    for (offset, p) in &planted {
        match *p {
            Planted::Deceleration {
                kind,
                start_s,
                duration_s,
                ..
            } => {
                decels += 1;
                let span = span(*offset, start_s, duration_s);
                let found: Vec<_> = report
                    .decelerations
                    .iter()
                    .filter(|d| overlaps((d.start_s, d.end_s), span))
                    .collect();
                assert_eq!(found.len(), 1, "{kind} at {span:?}: {found:?}");
                assert_eq!(found[0].kind.name(), kind, "{kind} at {span:?}: {found:?}");
            }
            Planted::Acceleration {
                start_s,
                duration_s,
                ..
            } => {
                accels += 1;
                let span = span(*offset, start_s, duration_s);
                let found = report
                    .accelerations
                    .iter()
                    .filter(|a| overlaps((a.start_s, a.end_s), span))
                    .count();
                assert_eq!(found, 1, "acceleration at {span:?}");
            }
            Planted::MaternalConfusion {
                start_s,
                duration_s,
                ..
            } => {
                let span = span(*offset, start_s, duration_s);
                assert!(
                    report
                        .false_signal
                        .iter()
                        .any(|f| f.kind == FalseKind::Maternal
                            && overlaps((f.start_s, f.end_s), span)),
                    "maternal heart rate at {span:?} not flagged: {:?}",
                    report.false_signal
                );
            }
            Planted::MaternalRateHalved {
                start_s,
                duration_s,
            } => {
                let span = span(*offset, start_s, duration_s);
                let found: Vec<_> = report
                    .false_signal
                    .iter()
                    .filter(|f| f.channel == Channel::Mhr && overlaps((f.start_s, f.end_s), span))
                    .collect();
                assert_eq!(found.len(), 1, "halved MHR at {span:?}: {found:?}");
                assert_eq!(found[0].kind, FalseKind::Artefact);
                assert!(
                    (found[0].start_s - span.0).abs() < 1.0
                        && (found[0].end_s - span.1).abs() < 1.0,
                    "halved MHR at {span:?}: {found:?}"
                );
            }
            Planted::SignalLoss { .. } => {}
        }
    }
    // False signal on MHR only where its rate was halved.
    let halved = planted
        .iter()
        .filter(|(_, p)| matches!(p, Planted::MaternalRateHalved { .. }))
        .count();
    assert_eq!(
        report
            .false_signal
            .iter()
            .filter(|f| f.channel == Channel::Mhr)
            .count(),
        halved,
        "{:?}",
        report.false_signal
    );
    // Nothing the programme did not plant.
    assert_eq!(
        report.decelerations.len(),
        decels,
        "{:?}",
        report.decelerations
    );
    assert_eq!(
        report.accelerations.len(),
        accels,
        "{:?}",
        report.accelerations
    );
    assert!(
        report
            .decelerations
            .iter()
            .any(|d| d.kind == DecelerationType::Late)
    );
    // Moderate variability in every window, as the programme says.
    assert_eq!(report.variability.len(), 6);
    for v in &report.variability {
        assert_eq!(v.band, Some(VariabilityBand::Moderate), "{v:?}");
    }
}

#[test]
fn a_bed_without_toco_says_so_on_every_window_and_still_finds_the_decelerations() {
    use ctg_sim::SecondSource;
    let mut source = Synthetic::without_toco(0);
    let samples: Vec<_> = (0..2 * PROGRAMME_S)
        .flat_map(|_| source.next_second().expect("the programme does not end"))
        .collect();
    assert!(samples.iter().all(|s| s.physical(Channel::Ua).is_none()));
    assert_eq!(
        source.modes().0[Channel::Ua.index()],
        ctg_proto::model::TransducerMode::NoTransducer
    );
    let report = analyze(&samples, AnalyzerConfig::new(Profile::Jsog));
    assert!(report.contractions.is_empty(), "{:?}", report.contractions);
    assert_eq!(report.classification.len(), 6);
    for c in &report.classification {
        assert!(c.evidence.toco_not_recording(), "{c:?}");
        assert_eq!(c.evidence.contractions, 0, "{c:?}");
    }
    // The same decelerations as with the toco (the rate is the same), none of them typed by
    // a contraction it cannot see.
    let planted = programme()
        .iter()
        .filter(|p| matches!(p, Planted::Deceleration { .. }))
        .count();
    assert_eq!(
        report.decelerations.len(),
        2 * planted,
        "{:?}",
        report.decelerations
    );
    assert!(
        report
            .decelerations
            .iter()
            .all(|d| d.lag_to_contraction_s.is_none()
                && matches!(
                    d.kind,
                    DecelerationType::Variable | DecelerationType::Prolonged
                )),
        "{:?}",
        report.decelerations
    );
}
