//! Dumps every acceleration and deceleration the analysis finds on CTU-UHB, with measured
//! features and whether the expert (Romagnoli 2020) marked it, as CSV: for studying detection
//! errors on the development records (the holdout records are left out).
//!
//! `cargo run --release --example event_features > target/eval/events.csv`

use ctg_dsp::{Profile, analyze};
use ctg_eval::score::{Interval, match_events};
use ctg_eval::{config_for, datasets, is_holdout};
use ctg_formats::read_recording;

fn main() -> anyhow::Result<()> {
    let data = ctg_formats::shared_data_dir().map_err(anyhow::Error::msg)?;
    let events = datasets::romagnoli(&data)?;
    println!(
        "record,kind,start_s,end_s,amplitude,duration_s,beyond15_s,signal_pct,onset_to_extreme_s,baseline,extreme_bpm,local_loss_pct,jumps_per_min,mean_abs_diff,matched,expert_type,our_type"
    );
    for (name, ev) in &events {
        if is_holdout(name) {
            continue;
        }
        let rec = read_recording(&data.join(format!("ctu-uhb/wfdb/{name}.hea")))?;
        let mut config = config_for(&rec, Profile::Figo);
        config.keep_baseline_curve = true;
        let report = analyze(&rec.samples, config);
        let span = ev.annotated_samples as f64 / 4.0;
        let fhr: Vec<f32> = rec
            .samples
            .iter()
            .map(|s| {
                let v = s.values[0];
                if v == 0 { f32::NAN } else { f32::from(v) / 4.0 }
            })
            .collect();
        for kind in ["acc", "dec"] {
            let (ours, extremes, types): (Vec<Interval>, Vec<f64>, Vec<&str>) = if kind == "acc" {
                let a: Vec<_> = report
                    .accelerations
                    .iter()
                    .filter(|a| a.start_s < span)
                    .collect();
                (
                    a.iter()
                        .map(|a| Interval {
                            start: a.start_s,
                            end: a.end_s,
                        })
                        .collect(),
                    a.iter().map(|a| a.peak_s).collect(),
                    a.iter().map(|_| "").collect(),
                )
            } else {
                let d: Vec<_> = report
                    .decelerations
                    .iter()
                    .filter(|d| d.start_s < span)
                    .collect();
                (
                    d.iter()
                        .map(|d| Interval {
                            start: d.start_s,
                            end: d.end_s,
                        })
                        .collect(),
                    d.iter().map(|d| d.nadir_s).collect(),
                    d.iter().map(|d| d.kind.name()).collect(),
                )
            };
            let wanted = if kind == "acc" {
                datasets::EventKind::Acceleration
            } else {
                datasets::EventKind::Deceleration
            };
            let experts: Vec<_> = ev.events.iter().filter(|e| e.kind == wanted).collect();
            let expert_iv: Vec<Interval> = experts.iter().map(|e| e.interval).collect();
            let pairs = match_events(&expert_iv, &ours, 5.0);
            for (j, iv) in ours.iter().enumerate() {
                let matched = pairs.iter().find(|(_, o)| *o == j).map(|(e, _)| *e);
                let (a, b) = (
                    (iv.start * 4.0) as usize,
                    ((iv.end * 4.0) as usize).min(fhr.len()),
                );
                let x = (extremes[j] * 4.0) as usize;
                let base = report.baseline_curve.get(x).copied().unwrap_or(f32::NAN);
                let sign = if kind == "acc" { 1.0 } else { -1.0 };
                let beyond = (a..b)
                    .filter(|&i| {
                        !fhr[i].is_nan() && sign * (fhr[i] - report.baseline_curve[i]) >= 15.0
                    })
                    .count() as f64
                    / 4.0;
                let valid =
                    (a..b).filter(|&i| !fhr[i].is_nan()).count() as f64 / (b - a).max(1) as f64;
                let (la, lb) = (a.saturating_sub(240), (b + 240).min(fhr.len()));
                let local_loss =
                    (la..lb).filter(|&i| fhr[i].is_nan()).count() as f64 / (lb - la).max(1) as f64;
                let extreme = fhr.get(x).copied().unwrap_or(f32::NAN);
                let diffs: Vec<f32> = (a + 1..b)
                    .filter(|&i| !fhr[i].is_nan() && !fhr[i - 1].is_nan())
                    .map(|i| (fhr[i] - fhr[i - 1]).abs())
                    .collect();
                let jumps = diffs.iter().filter(|d| **d > 8.0).count() as f64 * 240.0
                    / (b - a).max(1) as f64;
                let mad = diffs.iter().sum::<f32>() / diffs.len().max(1) as f32;
                println!(
                    "{name},{kind},{:.2},{:.2},{:.1},{:.1},{beyond:.1},{:.1},{:.1},{base:.1},{extreme:.1},{:.1},{jumps:.2},{mad:.2},{},{},{}",
                    iv.start,
                    iv.end,
                    sign * (extreme - base),
                    iv.end - iv.start,
                    100.0 * valid,
                    extremes[j] - iv.start,
                    100.0 * local_loss,
                    u8::from(matched.is_some()),
                    matched
                        .and_then(|e| experts[e].subtype.clone())
                        .unwrap_or_default(),
                    types[j]
                );
            }
        }
    }
    Ok(())
}
