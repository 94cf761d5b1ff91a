//! Which of our final decelerations the live tracker never showed as provisional, and how
//! they differ from those it showed: every CTU-UHB record streamed in 1-s blocks (JSOG profile,
//! as the hub runs it), each final deceleration marked shown when a provisional one overlapped
//! it. Prints the counts by depth, and the unshown ones split by what was going on: the stream's
//! first 5 minutes (no reference level yet), a baseline curve that rose more than 5 bpm over
//! the 8.5 minutes before the deceleration (the live reference is the lower of the baseline 8.5
//! minutes back and the recent level), or neither.
//!
//! Run: `cargo run --release --example provisional_study` (needs ../shared/data; about 1 s).

use ctg_dsp::{Analyzer, Deceleration, Finding, Profile, Provisional};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let data = ctg_formats::shared_data_dir().unwrap_or_else(|e| panic!("{e}"));
    let mut files: Vec<_> = std::fs::read_dir(data.join("ctu-uhb/wfdb"))
        .expect("the CTU-UHB folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "hea"))
        .collect();
    files.sort();
    // (depth, duration, shown, category of the unshown)
    let mut decelerations: Vec<(f64, f64, bool, &str)> = Vec::new();
    for file in &files {
        let recording = ctg_formats::read_recording(file).expect("a readable record");
        let mut config = ctg_eval::config_for(&recording, Profile::Jsog);
        config.keep_baseline_curve = true;
        let mut analyzer = Analyzer::new(config);
        // Provisional episodes: (start, longest duration reported).
        let mut episodes: Vec<(f64, f64)> = Vec::new();
        let mut finals: Vec<Deceleration> = Vec::new();
        for block in recording.samples.chunks(4) {
            analyzer.push(block);
            for Provisional::Deceleration {
                start_s,
                duration_s,
                ..
            } in analyzer.provisional()
            {
                match episodes.iter_mut().find(|e| e.0 == start_s) {
                    Some(e) => e.1 = e.1.max(duration_s),
                    None => episodes.push((start_s, duration_s)),
                }
            }
            while let Some(finding) = analyzer.poll() {
                if let Finding::Deceleration(d) = finding {
                    finals.push(d);
                }
            }
        }
        let mut report = analyzer.into_report();
        finals.append(&mut report.decelerations);
        let curve = &report.baseline_curve;
        let level_at = |s: f64| curve.get((s.max(0.0) * 4.0) as usize).copied();
        for d in &finals {
            let Deceleration { start_s, end_s, .. } = *d;
            let shown = episodes
                .iter()
                .any(|&(s, len)| s < end_s && s + len > start_s);
            let rise = match (level_at(start_s), level_at(start_s - 510.0)) {
                (Some(now), Some(before)) => f64::from(now - before),
                _ => f64::NAN,
            };
            let category = if start_s < 300.0 {
                "first 5 minutes"
            } else if rise > 5.0 {
                "baseline rising > 5 bpm"
            } else {
                "neither"
            };
            decelerations.push((d.depth_bpm, end_s - start_s, shown, category));
        }
    }
    let shown = decelerations.iter().filter(|d| d.2).count();
    println!(
        "{} final decelerations in {} records, {shown} shown as provisional first ({:.1} %)",
        decelerations.len(),
        files.len(),
        100.0 * shown as f64 / decelerations.len() as f64
    );
    for (low, high) in [(15.0, 20.0), (20.0, 30.0), (30.0, 45.0), (45.0, f64::MAX)] {
        let band: Vec<_> = decelerations
            .iter()
            .filter(|d| d.0 >= low && d.0 < high)
            .collect();
        let shown = band.iter().filter(|d| d.2).count();
        println!(
            "  depth {low}–{}: {shown} of {} shown",
            if high == f64::MAX {
                "".into()
            } else {
                high.to_string()
            },
            band.len()
        );
    }
    for (name, flag) in [("shown", true), ("never shown", false)] {
        let part: Vec<_> = decelerations.iter().filter(|d| d.2 == flag).collect();
        println!(
            "  {name}: median depth {:.1} bpm, median duration {:.1} s",
            median(part.iter().map(|d| d.0).collect()),
            median(part.iter().map(|d| d.1).collect())
        );
    }
    for category in ["first 5 minutes", "baseline rising > 5 bpm", "neither"] {
        let part: Vec<_> = decelerations
            .iter()
            .filter(|d| !d.2 && d.3 == category)
            .collect();
        println!(
            "  never shown, {category}: {} (median depth {:.1} bpm, duration {:.1} s)",
            part.len(),
            median(part.iter().map(|d| d.0).collect()),
            median(part.iter().map(|d| d.1).collect())
        );
    }
}
