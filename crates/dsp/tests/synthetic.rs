//! The analysis on synthetic signals with planted events, so the right answer is known.

use ctg_dsp::{
    Analyzer, AnalyzerConfig, DecelerationType, FalseKind, Finding, JsogTable, Profile,
    Provisional, Report, VariabilityBand, analyze,
};
use ctg_proto::model::{Channel, Quality, Sample};

const HZ: usize = 4;

/// A deterministic irregular wobble of about ±`amp` bpm: 16 components spread over 1–20
/// cycles/min with pseudo-random phases, so no single rhythm dominates (as in real variability).
fn wobble(i: usize, amp: f32) -> f32 {
    let t = i as f32 / HZ as f32;
    let mut seed = 12345u32;
    let mut sum = 0.0;
    for k in 0..16 {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let phase = (seed >> 8) as f32 / (1u32 << 24) as f32 * std::f32::consts::TAU;
        let cpm = 1.0 + 19.0 * k as f32 / 15.0;
        sum += (std::f32::consts::TAU * cpm / 60.0 * t + phase).sin();
    }
    amp * sum / 4.0
}

fn samples(fhr: &[f32], toco: &[f32], mhr: Option<&[f32]>) -> Vec<Sample> {
    (0..fhr.len())
        .map(|i| {
            let mut s = Sample::default();
            let q = |v: f32| (v * 4.0).round().clamp(0.0, 1200.0) as u16;
            s.values[Channel::Fhr1.index()] = q(fhr[i]);
            s.quality[Channel::Fhr1.index()] = if fhr[i] > 0.0 {
                Quality::Good
            } else {
                Quality::None
            };
            if let Some(m) = mhr {
                s.values[Channel::Mhr.index()] = q(m[i]);
                s.quality[Channel::Mhr.index()] = Quality::Good;
            }
            s.values[Channel::Ua.index()] = (toco[i] * 2.0).round() as u16;
            s
        })
        .collect()
}

/// A toco at rest that is recorded (the mother's breathing moves it by ±2 units every 5 s) and
/// shows no contraction.
fn resting_toco(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| 10.0 + 2.0 * (std::f32::consts::TAU * i as f32 / (5.0 * HZ as f32)).sin())
        .collect()
}

fn baseline_trace(minutes: usize, bpm: f32) -> Vec<f32> {
    (0..minutes * 60 * HZ)
        .map(|i| bpm + wobble(i, 8.0))
        .collect()
}

/// A bell-shaped contraction of `amp` units, `len_s` long, starting at `start_s`.
fn plant_contraction(toco: &mut [f32], start_s: f32, len_s: f32, amp: f32) {
    for (i, v) in toco.iter_mut().enumerate() {
        let t = i as f32 / HZ as f32 - start_s;
        if (0.0..len_s).contains(&t) {
            *v += amp * (std::f32::consts::PI * t / len_s).sin().powi(2);
        }
    }
}

/// A deceleration of `depth` bpm: falls over `fall_s`, holds `hold_s`, recovers over `rise_s`.
fn plant_deceleration(
    fhr: &mut [f32],
    start_s: f32,
    fall_s: f32,
    hold_s: f32,
    rise_s: f32,
    depth: f32,
) {
    for (i, v) in fhr.iter_mut().enumerate() {
        let t = i as f32 / HZ as f32 - start_s;
        let f = if t < 0.0 {
            0.0
        } else if t < fall_s {
            t / fall_s
        } else if t < fall_s + hold_s {
            1.0
        } else if t < fall_s + hold_s + rise_s {
            1.0 - (t - fall_s - hold_s) / rise_s
        } else {
            0.0
        };
        *v -= depth * f;
    }
}

fn run(fhr: &[f32], toco: &[f32], profile: Profile) -> Report {
    let mut config = AnalyzerConfig::new(profile);
    config.keep_baseline_curve = true;
    analyze(&samples(fhr, toco, None), config)
}

/// Seconds of `from..to` flagged as false signal of `kind`.
fn flagged_seconds(r: &Report, kind: FalseKind, from: f64, to: f64) -> f64 {
    r.false_signal
        .iter()
        .filter(|f| f.kind == kind)
        .map(|f| (f.end_s.min(to) - f.start_s.max(from)).max(0.0))
        .sum()
}

/// Whether the sample at `s` seconds is flagged as artefact.
fn artefact_at(r: &Report, s: f64) -> bool {
    r.false_signal
        .iter()
        .any(|f| f.start_s <= s && s < f.end_s && f.kind == FalseKind::Artefact)
}

#[test]
fn steady_trace_has_its_baseline_and_no_events() {
    let fhr = baseline_trace(40, 140.0);
    let toco = vec![10.0; fhr.len()];
    let r = run(&fhr, &toco, Profile::Jsog);
    assert_eq!(r.baseline_windows.len(), 4);
    for w in &r.baseline_windows {
        assert_eq!(w.bpm, Some(140.0), "{w:?}");
    }
    assert!(r.decelerations.is_empty(), "{:?}", r.decelerations);
    assert!(r.accelerations.is_empty(), "{:?}", r.accelerations);
    assert!(r.contractions.is_empty());
    for v in &r.variability {
        assert_eq!(v.band, Some(VariabilityBand::Moderate), "{v:?}");
    }
    for c in &r.classification {
        assert_eq!(c.jsog_level, 1, "{c:?}");
        assert_eq!(c.nichd_category, 1);
        assert_eq!(c.table_version.as_ref(), JsogTable::default_table().version);
    }
    let curve_ok = r
        .baseline_curve
        .iter()
        .filter(|b| (**b - 140.0).abs() < 2.0)
        .count();
    assert!(curve_ok > r.baseline_curve.len() * 9 / 10);
    let stv = r.stv_ms.expect("STV on a clean trace");
    assert!(stv > 1.0 && stv < 30.0, "{stv}");
}

#[test]
fn planted_events_are_found_and_typed() {
    let minutes = 40;
    let mut fhr = baseline_trace(minutes, 140.0);
    let mut toco = vec![10.0; fhr.len()];
    // Early: gradual fall (40 s) with its nadir at the contraction's acme.
    plant_contraction(&mut toco, 600.0, 80.0, 40.0); // acme at 640 s
    plant_deceleration(&mut fhr, 600.0, 40.0, 5.0, 35.0, 30.0); // nadir ~640 s
    // Late: gradual, nadir 40 s after the acme.
    plant_contraction(&mut toco, 1000.0, 80.0, 40.0); // acme at 1040 s
    plant_deceleration(&mut fhr, 1040.0, 40.0, 5.0, 40.0, 30.0); // nadir ~1080 s
    // Variable: abrupt, no contraction.
    plant_deceleration(&mut fhr, 1400.0, 10.0, 15.0, 10.0, 50.0);
    // Prolonged: 4 minutes.
    plant_deceleration(&mut fhr, 1800.0, 20.0, 200.0, 20.0, 40.0);
    // An acceleration.
    plant_deceleration(&mut fhr, 300.0, 10.0, 30.0, 10.0, -25.0);
    let r = run(&fhr, &toco, Profile::Figo);
    let kinds: Vec<(DecelerationType, f64)> = r
        .decelerations
        .iter()
        .map(|d| (d.kind, d.nadir_s))
        .collect();
    assert_eq!(r.decelerations.len(), 4, "{kinds:?}");
    assert_eq!(
        r.decelerations[0].kind,
        DecelerationType::Early,
        "{kinds:?}"
    );
    assert_eq!(r.decelerations[1].kind, DecelerationType::Late, "{kinds:?}");
    assert_eq!(
        r.decelerations[2].kind,
        DecelerationType::Variable,
        "{kinds:?}"
    );
    assert_eq!(
        r.decelerations[3].kind,
        DecelerationType::Prolonged,
        "{kinds:?}"
    );
    assert!((r.decelerations[1].lag_to_contraction_s.unwrap() - 40.0).abs() < 10.0);
    assert!(
        (r.decelerations[2].depth_bpm - 50.0).abs() < 15.0,
        "depth includes the ±8 bpm wobble"
    );
    assert_eq!(r.accelerations.len(), 1, "{:?}", r.accelerations);
    assert!((r.accelerations[0].peak_s - 320.0).abs() < 15.0);
    assert_eq!(r.contractions.len(), 2, "{:?}", r.contractions);
    assert!((r.contractions[0].peak_s - 640.0).abs() < 10.0);
    // JSOG: a prolonged deceleration is graded even when not recurrent.
    let level_at = |s: f64| {
        r.classification
            .iter()
            .find(|c| c.start_s <= s && s < c.end_s)
            .unwrap()
    };
    assert!(level_at(1800.0).jsog_level >= 3);
}

#[test]
fn maternal_heart_rate_recorded_as_fetal_is_flagged() {
    let mut fhr = baseline_trace(20, 140.0);
    let mhr: Vec<f32> = (0..fhr.len())
        .map(|i| 85.0 + wobble(i + 999, 3.0))
        .collect();
    // Minutes 8–10: the "fetal" channel follows the mother.
    for i in 8 * 240..10 * 240 {
        fhr[i] = mhr[i] + 0.5;
    }
    let toco = vec![10.0; fhr.len()];
    let r = analyze(
        &samples(&fhr, &toco, Some(&mhr)),
        AnalyzerConfig::new(Profile::Jsog),
    );
    let maternal: f64 = r
        .false_signal
        .iter()
        .filter(|f| f.kind == FalseKind::Maternal)
        .map(|f| f.end_s - f.start_s)
        .sum();
    assert!((maternal - 120.0).abs() < 15.0, "{:?}", r.false_signal);
    assert!(
        r.decelerations.is_empty(),
        "maternal capture is not a deceleration: {:?}",
        r.decelerations
    );
}

#[test]
fn crossings_of_the_maternal_rate_are_fetal_and_a_scalp_electrode_is_trusted() {
    // The mother at 130 bpm; the fetus at 140 with an 8-s dip through her rate every minute:
    // brief crossings, not capture.
    let mut fhr = baseline_trace(20, 140.0);
    let mhr: Vec<f32> = (0..fhr.len())
        .map(|i| 130.0 + wobble(i + 999, 1.0))
        .collect();
    for minute in 2..18 {
        for i in minute * 240..minute * 240 + 32 {
            fhr[i] = mhr[i] + 1.0;
        }
    }
    // Minutes 8–10 the Doppler follows the mother (capture).
    for i in 8 * 240 + 40..10 * 240 {
        fhr[i] = mhr[i] + 0.5;
    }
    let toco = vec![10.0; fhr.len()];
    let input = samples(&fhr, &toco, Some(&mhr));
    let maternal_seconds =
        |r: &Report, from: f64, to: f64| flagged_seconds(r, FalseKind::Maternal, from, to);
    let doppler = analyze(&input, AnalyzerConfig::new(Profile::Jsog));
    assert!(
        maternal_seconds(&doppler, 480.0, 600.0) > 100.0,
        "{:?}",
        doppler.false_signal
    );
    assert!(
        maternal_seconds(&doppler, 0.0, 470.0) < 1.0,
        "8-s crossings are fetal: {:?}",
        doppler.false_signal
    );
    let mut scalp = AnalyzerConfig::new(Profile::Jsog);
    scalp.prep.direct_ecg = true;
    let scalp = analyze(&input, scalp);
    assert_eq!(
        maternal_seconds(&scalp, 0.0, 1200.0),
        0.0,
        "{:?}",
        scalp.false_signal
    );
}

#[test]
fn maternal_capture_stays_maternal_where_the_mhr_channel_falls_silent() {
    // Fetal 140; minutes 6–12 the Doppler records the mother (≈ 85). Her MHR channel has a
    // signal in minutes 0–2 and 8–10 only: before and after minutes 8–10 the capture
    // continues without a break. (A stream whose MHR channel has been silent for 10 minutes
    // is not held back for this rule.)
    let mut fhr = baseline_trace(20, 140.0);
    let mhr_level: Vec<f32> = (0..fhr.len())
        .map(|i| 85.0 + wobble(i + 999, 2.0))
        .collect();
    for i in 6 * 240..12 * 240 {
        fhr[i] = mhr_level[i] + 0.5;
    }
    let mhr: Vec<f32> = (0..fhr.len())
        .map(|i| {
            if (8 * 240..10 * 240).contains(&i) || i < 2 * 240 {
                mhr_level[i]
            } else {
                0.0
            }
        })
        .collect();
    let toco = vec![10.0; fhr.len()];
    let r = analyze(
        &samples(&fhr, &toco, Some(&mhr)),
        AnalyzerConfig::new(Profile::Jsog),
    );
    let maternal_in = |from: f64, to: f64| flagged_seconds(&r, FalseKind::Maternal, from, to);
    assert!(maternal_in(360.0, 720.0) > 350.0, "{:?}", r.false_signal);
    assert_eq!(maternal_in(0.0, 355.0), 0.0, "{:?}", r.false_signal);
    assert_eq!(maternal_in(725.0, 1200.0), 0.0, "{:?}", r.false_signal);
    assert!(
        r.decelerations.is_empty(),
        "the capture is not a deceleration: {:?}",
        r.decelerations
    );
}

#[test]
fn short_islands_in_a_gap_are_artefact() {
    let mut fhr = baseline_trace(15, 140.0);
    for v in &mut fhr[3000..3100] {
        *v = 0.0; // a gap …
    }
    for v in &mut fhr[3040..3050] {
        *v = 200.0; // … with a 2.5-s island inside it
    }
    let toco = vec![10.0; fhr.len()];
    let r = run(&fhr, &toco, Profile::Jsog);
    let covers = |s: f64| artefact_at(&r, s);
    assert!(covers(761.0), "{:?}", r.false_signal);
    assert!(
        !covers(500.0),
        "the continuous trace is trusted: {:?}",
        r.false_signal
    );
}

#[test]
fn an_island_that_jumps_on_both_edges_after_a_long_stretch_is_artefact() {
    // A long trusted stretch at 140, a 3-s gap, 20 s at 75 bpm (too long for the 5-s rule),
    // a 3-s gap, then 140 again: the island jumps by > 25 bpm on both edges (FHRMA
    // preprocessing). The edge before it is the long stretch's last value; the analyzer
    // drains the preparation stage after every sample, so that edge must not be read back
    // from its output queue.
    let mut fhr: Vec<f32> = (0..15 * 240).map(|i| 140.0 + wobble(i, 3.0)).collect();
    for v in &mut fhr[2000..2012] {
        *v = 0.0;
    }
    for v in &mut fhr[2012..2092] {
        *v = 75.0;
    }
    for v in &mut fhr[2092..2104] {
        *v = 0.0;
    }
    let toco = vec![10.0; fhr.len()];
    let r = run(&fhr, &toco, Profile::Jsog);
    let covers = |s: f64| artefact_at(&r, s);
    assert!(covers(513.0) && covers(520.0), "{:?}", r.false_signal);
    assert!(!covers(400.0), "{:?}", r.false_signal);
}

#[test]
fn a_short_island_on_the_baseline_is_trusted_and_one_far_from_it_is_not() {
    let mut fhr = baseline_trace(15, 140.0);
    for v in &mut fhr[3000..3100] {
        *v = 0.0;
    }
    for (k, v) in fhr[3040..3050].iter_mut().enumerate() {
        *v = 141.0 + k as f32 * 0.25; // a 2.5-s island on the baseline
    }
    for v in &mut fhr[3400..3500] {
        *v = 0.0;
    }
    for v in &mut fhr[3440..3450] {
        *v = 200.0; // and one 60 bpm above it
    }
    let toco = vec![10.0; fhr.len()];
    let r = run(&fhr, &toco, Profile::Jsog);
    let covers = |s: f64| artefact_at(&r, s);
    assert!(!covers(761.0), "{:?}", r.false_signal);
    assert!(covers(861.0), "{:?}", r.false_signal);
}

#[test]
fn sinusoidal_pattern_gets_the_tables_level() {
    let fhr: Vec<f32> = (0..30 * 240)
        .map(|i| 140.0 + 8.0 * (2.0 * std::f32::consts::PI * 4.0 * i as f32 / 240.0).sin())
        .collect();
    let toco = vec![10.0; fhr.len()];
    let r = run(&fhr, &toco, Profile::Jsog);
    let table = JsogTable::default_table();
    assert!(
        r.classification.iter().all(|c| c.evidence.sinusoidal),
        "{:?}",
        r.classification
    );
    assert!(
        r.classification
            .iter()
            .all(|c| c.jsog_level == table.sinusoidal_level)
    );
    // NICHD 2008 asks 20 minutes of it: category III from the second window on.
    let categories: Vec<u8> = r.classification.iter().map(|c| c.nichd_category).collect();
    assert_ne!(categories[0], 3, "{categories:?}");
    assert!(categories[1..].iter().all(|&c| c == 3), "{categories:?}");
}

#[test]
fn bradycardia_with_absent_variability_is_level_five_and_category_three() {
    let fhr = vec![75.0; 30 * 240];
    let toco = vec![10.0; fhr.len()];
    let r = run(&fhr, &toco, Profile::Jsog);
    let last = r.classification.last().unwrap();
    assert_eq!(r.baseline_windows.last().unwrap().bpm, Some(75.0));
    assert_eq!(
        r.variability.last().unwrap().band,
        Some(VariabilityBand::Absent)
    );
    assert_eq!(
        last.jsog_level, 4,
        "absent variability, no deceleration: table 2-3 gives 4"
    );
    assert_eq!(last.nichd_category, 3);
    assert_eq!(last.figo, ctg_dsp::FigoClass::Pathological);
}

/// A quiet trace (±2 bpm) with a 13-bpm rise held for 13 s at 400 s: an acceleration before
/// 32 weeks (≥ 10 bpm for ≥ 10 s), not after (≥ 15 bpm for ≥ 15 s).
fn rise_of_13_bpm_for_13_s() -> Vec<Sample> {
    let mut fhr: Vec<f32> = (0..20 * 240).map(|i| 140.0 + wobble(i, 2.0)).collect();
    plant_deceleration(&mut fhr, 400.0, 3.0, 13.0, 3.0, -13.0);
    let toco = vec![10.0; fhr.len()];
    samples(&fhr, &toco, None)
}

/// Whether the rise of [`rise_of_13_bpm_for_13_s`] was found as an acceleration.
fn rise_found(r: &Report) -> bool {
    r.accelerations
        .iter()
        .any(|a| (a.peak_s - 410.0).abs() < 20.0)
}

#[test]
fn before_32_weeks_accelerations_are_10_bpm_for_10_s() {
    let samples = rise_of_13_bpm_for_13_s();
    let term = analyze(
        &samples,
        AnalyzerConfig::new(Profile::Jsog).with_gestational_weeks(39),
    );
    let preterm = analyze(
        &samples,
        AnalyzerConfig::new(Profile::Jsog).with_gestational_weeks(30),
    );
    assert!(rise_found(&preterm), "{:?}", preterm.accelerations);
    assert!(!rise_found(&term), "{:?}", term.accelerations);
}

/// The hub learns the gestational age when a patient is put on a stream, after it started:
/// told then, the preterm criteria apply to the accelerations not yet found, and told from the
/// start they give what a recording's known age gives.
#[test]
fn a_gestational_age_told_mid_stream_sets_the_acceleration_criteria() {
    let samples = rise_of_13_bpm_for_13_s();
    let streamed = |told_at: usize, weeks: Option<u32>| {
        let mut analyzer = Analyzer::new(AnalyzerConfig::new(Profile::Jsog));
        analyzer.push(&samples[..told_at]);
        analyzer.set_gestational_weeks(weeks);
        analyzer.push(&samples[told_at..]);
        analyzer.into_report()
    };
    let near = rise_found;
    // Told at 2 minutes, and at 9 minutes (after the rise, within the baseline's look-ahead).
    for told_at in [2 * 240, 9 * 240] {
        assert!(
            near(&streamed(told_at, Some(30))),
            "30 weeks told at {told_at}"
        );
        assert!(
            !near(&streamed(told_at, Some(39))),
            "39 weeks told at {told_at}"
        );
    }
    let known = analyze(
        &samples,
        AnalyzerConfig::new(Profile::Jsog).with_gestational_weeks(30),
    );
    assert_eq!(streamed(0, Some(30)), known);
    // Unknown again: the standard criteria.
    let mut analyzer = Analyzer::new(AnalyzerConfig::new(Profile::Jsog).with_gestational_weeks(30));
    analyzer.set_gestational_weeks(None);
    analyzer.push(&samples);
    assert!(!near(&analyzer.into_report()));
}

#[test]
fn jsog_severity_of_variable_decelerations_follows_the_table() {
    let mut fhr = baseline_trace(20, 140.0);
    // Mild: nadir ~95 bpm. Severe: below 70 bpm for about 40 s.
    plant_deceleration(&mut fhr, 300.0, 8.0, 20.0, 8.0, 45.0);
    plant_deceleration(&mut fhr, 700.0, 8.0, 40.0, 8.0, 80.0);
    let toco = vec![10.0; fhr.len()];
    let r = run(&fhr, &toco, Profile::Jsog);
    assert_eq!(r.decelerations.len(), 2, "{:?}", r.decelerations);
    assert_eq!(r.decelerations[0].kind, DecelerationType::Variable);
    assert_eq!(r.decelerations[0].severity, ctg_dsp::Severity::Mild);
    assert_eq!(r.decelerations[1].severity, ctg_dsp::Severity::Severe);
}

#[test]
fn a_severe_variable_decelerations_duration_is_the_whole_deceleration_unless_the_table_says_otherwise()
 {
    // About 55 s from onset to recovery, its nadir near 62 bpm, but below 70 bpm for only
    // about 12 s: severe when "lasting" is the deceleration's duration (the shipped table,
    // after Kubli 1969), mild when it is the time below 70 bpm.
    let mut fhr = baseline_trace(20, 140.0);
    plant_deceleration(&mut fhr, 600.0, 8.0, 10.0, 25.0, 78.0);
    let toco = vec![10.0; fhr.len()];
    let whole = run(&fhr, &toco, Profile::Jsog);
    assert_eq!(whole.decelerations.len(), 1, "{:?}", whole.decelerations);
    let d = &whole.decelerations[0];
    assert_eq!(d.kind, DecelerationType::Variable);
    assert!(d.nadir_bpm < 70.0 && d.end_s - d.start_s >= 30.0, "{d:?}");
    assert_eq!(d.severity, ctg_dsp::Severity::Severe);
    let below = ctg_dsp::table::DEFAULT_TABLE.replace(
        "variable_duration = \"deceleration\"",
        "variable_duration = \"below_threshold\"",
    );
    let mut config = AnalyzerConfig::new(Profile::Jsog);
    config.table = std::sync::Arc::new(JsogTable::from_toml(&below).unwrap());
    let strict = analyze(&samples(&fhr, &toco, None), config);
    assert_eq!(strict.decelerations[0].severity, ctg_dsp::Severity::Mild);
}

#[test]
fn a_heavy_deceleration_burden_is_figo_pathological_and_a_light_one_is_not() {
    // 40 minutes at 140 bpm with normal variability and a recorded toco without contractions,
    // so no deceleration is late or recurrent: only the burden rule can call it pathological.
    let with_decelerations = |every_s: f32, depth: f32, hold_s: f32| {
        let mut fhr = baseline_trace(40, 140.0);
        let mut at = 120.0;
        while at < 40.0 * 60.0 - 120.0 {
            plant_deceleration(&mut fhr, at, 10.0, hold_s, 10.0, depth);
            at += every_s;
        }
        let toco = resting_toco(fhr.len());
        run(&fhr, &toco, Profile::Figo)
    };
    // 60 bpm deep, 50 s, every 2 minutes: ≈ 750 bpm·s per minute. (The trace stays at its
    // baseline for most of the time, so the baseline is not in doubt: with decelerations
    // filling as much time as the baseline, which level is the baseline is a coin toss.)
    let heavy = with_decelerations(120.0, 60.0, 30.0);
    assert!(heavy.decelerations.len() >= 12, "{:?}", heavy.decelerations);
    let last = heavy.classification.last().unwrap();
    assert_eq!(last.figo, ctg_dsp::FigoClass::Pathological, "{last:?}");
    // 25 bpm deep, half a minute, every 8 minutes: ≈ 30 bpm·s per minute.
    let light = with_decelerations(480.0, 25.0, 10.0);
    assert!(!light.decelerations.is_empty());
    assert!(
        light
            .classification
            .iter()
            .all(|c| c.figo != ctg_dsp::FigoClass::Pathological),
        "{:?}",
        light.classification
    );
}

#[test]
fn coupled_contractions_are_two_when_the_tone_falls_back_between_them() {
    let fhr = baseline_trace(20, 140.0);
    let mut toco = vec![10.0; fhr.len()];
    // Two 70-unit acmes 60 s apart; between them the signal falls back to about 20 units
    // above the tone (by about 40 after the ±10-s smoothing, against the 30 that splits) and
    // never near the tone, so only the split can part them.
    plant_contraction(&mut toco, 500.0, 70.0, 70.0);
    plant_contraction(&mut toco, 550.0, 90.0, 70.0);
    // A single contraction with a shallow notch (a few units) stays one.
    plant_contraction(&mut toco, 900.0, 90.0, 60.0);
    plant_contraction(&mut toco, 925.0, 40.0, 8.0);
    let r = run(&fhr, &toco, Profile::Figo);
    let peaks: Vec<f64> = r.contractions.iter().map(|c| c.peak_s).collect();
    assert_eq!(r.contractions.len(), 3, "{:?}", r.contractions);
    assert!((peaks[0] - 535.0).abs() < 15.0, "{peaks:?}");
    assert!((peaks[1] - 590.0).abs() < 15.0, "{peaks:?}");
    assert!((peaks[2] - 945.0).abs() < 15.0, "{peaks:?}");
}

/// Fed second by second as a monitor sends it, a prolonged deceleration shows as provisional
/// within a minute of its start, is known to be prolonged while it lasts, and goes when it
/// ends; the final deceleration comes only after the baseline's 8.5-minute look-ahead.
#[test]
fn a_deceleration_under_way_is_provisional_at_once_and_final_later() {
    let mut fhr = baseline_trace(40, 140.0);
    let toco = vec![10.0; fhr.len()];
    // 20 minutes in: 20 s down to 60 bpm below, 4 minutes there, 20 s back up.
    let (start_s, end_s): (f64, f64) = (1200.0, 1200.0 + 280.0);
    plant_deceleration(&mut fhr, start_s as f32, 20.0, 240.0, 20.0, 60.0);
    let input = samples(&fhr, &toco, None);
    let mut analyzer = Analyzer::new(AnalyzerConfig::new(Profile::Figo));
    let (mut first_seen, mut prolonged_at, mut gone_at, mut final_at) = (None, None, None, None);
    for (second, block) in input.chunks(HZ).enumerate() {
        analyzer.push(block);
        let now = (second + 1) as f64;
        let under_way = analyzer.provisional();
        match under_way.as_slice() {
            [] => {
                if first_seen.is_some() && gone_at.is_none() {
                    gone_at = Some(now);
                }
            }
            [
                Provisional::Deceleration {
                    start_s: s,
                    depth_bpm,
                    duration_s,
                },
            ] => {
                assert!(
                    (start_s - 30.0..end_s).contains(s),
                    "provisional deceleration from {s} s at {now} s: none was planted there"
                );
                assert!(*depth_bpm >= 15.0 && *depth_bpm < 75.0, "depth {depth_bpm}");
                first_seen.get_or_insert(now);
                if *duration_s > 180.0 {
                    prolonged_at.get_or_insert(now);
                }
            }
            more => panic!("one deceleration planted, {} under way", more.len()),
        }
        while let Some(f) = analyzer.poll() {
            if let Finding::Deceleration(d) = f {
                assert_eq!(d.kind, DecelerationType::Prolonged, "{d:?}");
                final_at.get_or_insert(now);
            }
        }
    }
    let first_seen = first_seen.expect("the deceleration was never provisional");
    let prolonged_at = prolonged_at.expect("never known to be prolonged while under way");
    let gone_at = gone_at.expect("still provisional after it ended");
    let final_at = final_at.expect("no final deceleration");
    // Preparation's 20-s look-ahead, the 10-s fall to 15 bpm below, 15 s beyond it.
    assert!(
        first_seen - start_s <= 60.0,
        "provisional {} s after the start",
        first_seen - start_s
    );
    assert!(
        prolonged_at <= start_s + 180.0 + 60.0,
        "prolonged only at {prolonged_at} s"
    );
    assert!(gone_at <= end_s + 60.0, "provisional until {gone_at} s");
    assert!(
        final_at >= end_s + 8.0 * 60.0,
        "final already at {final_at} s"
    );
}

#[test]
fn a_deceleration_in_a_streams_first_minutes_is_provisional_once_two_minutes_are_known() {
    let mut fhr = baseline_trace(15, 140.0);
    let toco = vec![10.0; fhr.len()];
    // 2.5 minutes into the stream (before the baseline's first knot at 5 minutes): 20 s down
    // to 50 bpm below, 2 minutes there, 20 s back up.
    let start_s = 150.0;
    plant_deceleration(&mut fhr, start_s as f32, 20.0, 120.0, 20.0, 50.0);
    let input = samples(&fhr, &toco, None);
    let mut analyzer = Analyzer::new(AnalyzerConfig::new(Profile::Jsog));
    let mut first_seen = None;
    for (second, block) in input.chunks(HZ).enumerate() {
        analyzer.push(block);
        let now = (second + 1) as f64;
        if let [Provisional::Deceleration { start_s: s, .. }] = analyzer.provisional().as_slice() {
            assert!(
                (start_s - 30.0..start_s + 160.0).contains(s),
                "provisional deceleration from {s} s at {now} s: none was planted there"
            );
            first_seen.get_or_insert(now);
        }
    }
    let first_seen = first_seen.expect("the early deceleration was never provisional");
    assert!(
        first_seen - start_s <= 60.0,
        "provisional {} s after the start",
        first_seen - start_s
    );
}

/// A fall from 140 to 85 bpm that stays down (the onset of a terminal bradycardia): the
/// baseline's centred windows follow it minutes early, so the old level just before the fall
/// stands above the falling curve. That is no acceleration (it would read as reassurance) and is
/// not reported, though its samples stay out of the window measures as before; with the gate
/// off, the same trace reports one there.
#[test]
fn the_old_level_before_a_lasting_fall_is_not_an_acceleration() {
    let minutes = 40;
    let fall_at = 25 * 60 * HZ;
    let fhr: Vec<f32> = (0..minutes * 60 * HZ)
        .map(|i| if i < fall_at { 140.0 } else { 85.0 } + wobble(i, 5.0))
        .collect();
    let toco = vec![10.0; fhr.len()];
    let with_gate = |fall_bpm: f32| {
        let mut config = AnalyzerConfig::new(Profile::Jsog);
        config.keep_baseline_curve = true;
        config.window.acceleration_max_baseline_fall_bpm = fall_bpm;
        analyze(&samples(&fhr, &toco, None), config)
    };
    let fall_s = (fall_at / HZ) as f64;
    let before_the_fall = |r: &Report| {
        r.accelerations
            .iter()
            .filter(|a| a.end_s > fall_s - 300.0 && a.start_s < fall_s)
            .count()
    };
    let ungated = with_gate(f32::INFINITY);
    assert!(before_the_fall(&ungated) > 0, "{:?}", ungated.accelerations);
    let gated = with_gate(10.0);
    assert_eq!(before_the_fall(&gated), 0, "{:?}", gated.accelerations);
    // Only the finding goes: the windows are measured and classified alike.
    assert_eq!(gated.classification, ungated.classification);
    assert_eq!(gated.variability, ungated.variability);
}

/// A deep deceleration right after 50 s of signal loss: the signal gate holds it back by
/// default (too little readable trace around it), and reports it when deep decelerations with
/// a well-recorded span of their own are exempt (`deep_deceleration_bpm`).
#[test]
fn a_deep_deceleration_beside_a_gap_is_reported_only_when_deep_ones_are_exempt() {
    let mut fhr = baseline_trace(30, 140.0);
    let start_s = 15.0 * 60.0;
    plant_deceleration(&mut fhr, start_s, 20.0, 40.0, 20.0, 60.0);
    let gap = ((start_s - 50.0) as usize * HZ)..(start_s as usize * HZ);
    for v in &mut fhr[gap] {
        *v = 0.0;
    }
    let toco = vec![10.0; fhr.len()];
    let report = |deep_bpm: f32| {
        let mut config = AnalyzerConfig::new(Profile::Jsog);
        config.window.deep_deceleration_bpm = deep_bpm;
        analyze(&samples(&fhr, &toco, None), config)
    };
    let at_plant = |r: &Report| {
        r.decelerations
            .iter()
            .filter(|d| d.start_s < f64::from(start_s) + 60.0 && d.end_s > f64::from(start_s))
            .count()
    };
    let held = report(0.0);
    assert_eq!(at_plant(&held), 0, "{:?}", held.decelerations);
    assert_eq!(at_plant(&report(40.0)), 1);
    // A shallower one than the limit stays held back.
    assert_eq!(at_plant(&report(90.0)), 0);
}

/// Variability whose power lies mostly in 2–6 cycles/min but spread over many rhythms (as
/// normal variability often does) is no sinusoidal pattern: the wave must be regular, one
/// rhythm holding most of the power. Without that test (`sinusoidal_peak_share` 0) the same
/// trace would be called sinusoidal, a JSOG level 5.
#[test]
fn broad_variability_in_the_sinusoidal_band_is_not_a_sinusoidal_pattern() {
    // Twelve rhythms of ±3 bpm from 2.2 to 5.5 cycles/min with scattered phases.
    let fhr: Vec<f32> = (0..30 * 240)
        .map(|i| {
            let t = i as f32 / HZ as f32;
            let sum: f32 = (0..12)
                .map(|k| {
                    let cpm = 2.2 + 0.3 * k as f32;
                    let phase = (k * k * 7 % 13) as f32;
                    (std::f32::consts::TAU * cpm / 60.0 * t + phase).sin()
                })
                .sum();
            140.0 + 3.0 * sum
        })
        .collect();
    let toco = vec![10.0; fhr.len()];
    let sinusoidal = |peak_share: f64| {
        let mut config = AnalyzerConfig::new(Profile::Jsog);
        config.window.sinusoidal_peak_share = peak_share;
        let r = analyze(&samples(&fhr, &toco, None), config);
        r.classification
            .iter()
            .filter(|c| c.evidence.sinusoidal)
            .count()
    };
    assert_eq!(sinusoidal(0.5), 0);
    assert!(sinusoidal(0.0) > 0);
}

#[test]
fn decelerations_are_recurrent_by_their_frequency_only_where_the_toco_shows_nothing() {
    // 40 minutes at 140 bpm; from minute 10 an abrupt 40-bpm deceleration every 150 s, with no
    // contraction on the toco: lost, flat (a transducer off the abdomen), or recorded at rest.
    let mut fhr = baseline_trace(40, 140.0);
    let starts: Vec<f32> = (0..10).map(|k| 600.0 + 150.0 * k as f32).collect();
    for &at in &starts {
        plant_deceleration(&mut fhr, at, 10.0, 25.0, 15.0, 40.0);
    }
    let with_toco = |toco: &[f32], lost: bool| {
        let mut input = samples(&fhr, toco, None);
        if lost {
            for s in &mut input {
                s.values[Channel::Ua.index()] = 0;
                s.quality[Channel::Ua.index()] = Quality::None;
            }
        }
        analyze(&input, AnalyzerConfig::new(Profile::Jsog))
    };
    let lost = with_toco(&vec![0.0; fhr.len()], true);
    let flat = with_toco(&vec![12.5; fhr.len()], false);
    let resting = with_toco(&resting_toco(fhr.len()), false);
    for r in [&lost, &flat, &resting] {
        assert_eq!(r.decelerations.len(), starts.len(), "{:?}", r.decelerations);
        assert!(r.contractions.is_empty(), "{:?}", r.contractions);
    }
    let recurrent = |r: &Report| {
        r.decelerations
            .iter()
            .map(|d| d.recurrent)
            .collect::<Vec<_>>()
    };
    // Where the toco could not show a contraction, the third deceleration in 20 minutes and
    // every one after it is recurrent; where it could and showed none, none is.
    let mut expected = vec![false, false];
    expected.extend([true; 8]);
    assert_eq!(recurrent(&lost), expected);
    assert_eq!(recurrent(&flat), expected);
    assert_eq!(recurrent(&resting), vec![false; 10]);
    // Each window says how much of its toco could have shown a contraction.
    let toco_readable = |r: &Report| {
        r.classification
            .iter()
            .map(|c| c.evidence.toco_readable_percent)
            .collect::<Vec<_>>()
    };
    assert_eq!(toco_readable(&lost), vec![0.0; 4]);
    assert_eq!(toco_readable(&flat), vec![0.0; 4]);
    assert_eq!(toco_readable(&resting), vec![100.0; 4]);
    assert!(
        lost.classification
            .iter()
            .all(|c| c.evidence.toco_not_recording())
    );
    assert!(
        resting
            .classification
            .iter()
            .all(|c| !c.evidence.toco_not_recording())
    );
    // So the JSOG grading, which counts recurrent decelerations only, sees them.
    let worst = |r: &Report| r.classification.iter().map(|c| c.jsog_level).max().unwrap();
    assert!(worst(&lost) > worst(&resting), "{:?}", lost.classification);
    // The toco records two contractions, neither with a deceleration, then comes off at 9
    // minutes: the contractions found speak only for the minutes it recorded, and the
    // decelerations' frequency tells for the rest.
    let mut toco = resting_toco(fhr.len());
    plant_contraction(&mut toco, 150.0, 90.0, 50.0);
    plant_contraction(&mut toco, 350.0, 90.0, 50.0);
    let mut input = samples(&fhr, &toco, None);
    for s in &mut input[9 * 60 * HZ..] {
        s.values[Channel::Ua.index()] = 0;
        s.quality[Channel::Ua.index()] = Quality::None;
    }
    let came_off = analyze(&input, AnalyzerConfig::new(Profile::Jsog));
    assert_eq!(
        came_off.contractions.len(),
        2,
        "{:?}",
        came_off.contractions
    );
    let flags = recurrent(&came_off);
    assert_eq!(flags[..2], [false, false], "{flags:?}");
    assert!(flags[4..].iter().all(|&r| r), "{flags:?}");
    // Off: as before, never recurrent without contractions.
    let mut config = AnalyzerConfig::new(Profile::Jsog);
    config.typing.recurrent_without_toco = 0;
    let off = analyze(&samples(&fhr, &vec![12.5; fhr.len()], None), config);
    assert!(off.decelerations.iter().all(|d| !d.recurrent));
}

#[test]
fn a_deceleration_with_half_of_the_contractions_is_recurrent_for_jsog_and_nichd_not_figo() {
    // Two contractions in 20 minutes; a deceleration with the second only.
    let mut fhr = baseline_trace(20, 140.0);
    let mut toco = resting_toco(fhr.len());
    plant_contraction(&mut toco, 400.0, 90.0, 50.0);
    plant_contraction(&mut toco, 800.0, 90.0, 50.0);
    plant_deceleration(&mut fhr, 830.0, 8.0, 15.0, 12.0, 40.0);
    for (profile, recurrent) in [
        (Profile::Jsog, true),
        (Profile::Nichd, true),
        (Profile::Figo, false),
    ] {
        let r = run(&fhr, &toco, profile);
        assert_eq!(r.contractions.len(), 2, "{:?}", r.contractions);
        assert_eq!(r.decelerations.len(), 1, "{:?}", r.decelerations);
        let d = &r.decelerations[0];
        // (Variable by its shape for JSOG and NICHD, early by its timing for FIGO.)
        assert_ne!(d.kind, DecelerationType::Prolonged, "{profile:?}: {d:?}");
        assert_eq!(d.recurrent, recurrent, "{profile:?}: {d:?}");
    }
}

#[test]
fn an_acceleration_of_two_minutes_or_more_is_prolonged_for_jsog_and_nichd_not_figo() {
    let mut fhr = baseline_trace(40, 140.0);
    let toco = resting_toco(fhr.len());
    // A 1-minute acceleration at 10 minutes and a 3-minute one at 25 minutes (negative depth:
    // a rise).
    plant_deceleration(&mut fhr, 600.0, 10.0, 40.0, 10.0, -25.0);
    plant_deceleration(&mut fhr, 1500.0, 15.0, 150.0, 15.0, -25.0);
    for (profile, prolonged) in [
        (Profile::Jsog, [false, true]),
        (Profile::Nichd, [false, true]),
        (Profile::Figo, [false, false]),
    ] {
        let r = run(&fhr, &toco, profile);
        let found: Vec<(f64, f64, bool)> = r
            .accelerations
            .iter()
            .map(|a| (a.start_s, a.end_s, a.prolonged))
            .collect();
        assert_eq!(found.len(), 2, "{profile:?}: {found:?}");
        assert!((found[0].1 - found[0].0) < 120.0, "{profile:?}: {found:?}");
        assert!((found[1].1 - found[1].0) >= 120.0, "{profile:?}: {found:?}");
        assert_eq!(
            [found[0].2, found[1].2],
            prolonged,
            "{profile:?}: {found:?}"
        );
    }
}
