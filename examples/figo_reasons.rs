//! Why the analysis calls a window suspicious or pathological, tallied over the windows the nine
//! obstetricians rated normal, on the development records: for studying classification errors.
//!
//! `cargo run --release --example figo_reasons`

use std::collections::BTreeMap;

use ctg_dsp::{BaselineBand, DecelerationRow, FigoClass, Profile, VariabilityBand, analyze};
use ctg_eval::{config_for, datasets, is_holdout};
use ctg_formats::read_recording;

fn main() -> anyhow::Result<()> {
    let data = ctg_formats::shared_data_dir().map_err(anyhow::Error::msg)?;
    let ratings = datasets::expert_ratings(&data)?;
    let mut tally: BTreeMap<String, u32> = BTreeMap::new();
    let mut windows = 0;
    for (name, experts) in &ratings {
        if is_holdout(name) {
            continue;
        }
        let rec = read_recording(&data.join(format!("ctu-uhb/wfdb/{name}.hea")))?;
        let report = analyze(&rec.samples, config_for(&rec, Profile::Figo));
        let end_first = rec
            .metadata_value("Pos. II.st.")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| *v > 0.0)
            .map_or(rec.duration_s(), |v| v / 4.0);
        // Step 2 only (the 30 min before the end of the first stage), for brevity.
        let (from, to) = (end_first - 1800.0, end_first);
        let votes: Vec<u8> = experts
            .values()
            .filter_map(|s| s[1].first().copied())
            .collect();
        let normal = votes.iter().filter(|v| **v == 1).count();
        if normal * 2 <= votes.len() {
            continue;
        }
        for c in &report.classification {
            let mid = (c.start_s + c.end_s) / 2.0;
            if mid < from || mid >= to || c.figo == FigoClass::Normal {
                continue;
            }
            windows += 1;
            let e = &c.evidence;
            let mut reasons = Vec::new();
            if e.baseline != BaselineBand::Normal {
                reasons.push(format!("baseline {:?}", e.baseline));
            }
            if e.variability != VariabilityBand::Moderate {
                reasons.push(format!("variability {:?}", e.variability));
            }
            if e.deceleration != DecelerationRow::None {
                reasons.push(format!("deceleration {:?}", e.deceleration));
            }
            if reasons.is_empty() {
                reasons.push("other (non-graded decelerations, persistence)".into());
            }
            *tally.entry(reasons.join(" + ")).or_default() += 1;
        }
    }
    println!("{windows} of our windows are not normal where most experts said normal:");
    let mut rows: Vec<_> = tally.into_iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1));
    for (reason, n) in rows {
        println!("{n:5}  {reason}");
    }
    Ok(())
}
