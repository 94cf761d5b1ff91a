//! `mimamori eval`: the analysis measured against the expert annotations, as a table and JSON.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

/// The bars: (label, JSON path under a subset, bar, higher is better).
const BARS: [(&str, &str, f64, bool); 9] = [
    ("deceleration F1", "/events/decelerations/f1", 0.75, true),
    ("acceleration F1", "/events/accelerations/f1", 0.65, true),
    ("contraction F1", "/events/contractions/f1", 0.82, true),
    (
        "deceleration type accuracy",
        "/events/deceleration_type_accuracy",
        0.65,
        true,
    ),
    (
        "fetal false-signal accuracy",
        "/false_signal_fetal/accuracy",
        0.94,
        true,
    ),
    (
        "fetal false-class F1",
        "/false_signal_fetal/false_class_f1",
        0.5,
        true,
    ),
    (
        "FIGO kappa vs experts (pooled)",
        "/classification_figo_vs_experts/kappa_quadratic",
        0.45,
        true,
    ),
    (
        "baseline MADI vs WMFB, median %",
        "/baseline_vs_wmfb/madi_percent_median",
        6.0,
        false,
    ),
    (
        "AUC worst JSOG (60 min) for pH<7.05",
        "/outcome/auc_worst_jsog_last_60_min_for_ph_below_7_05",
        f64::NAN,
        true,
    ),
];

pub fn run(
    data: Option<PathBuf>,
    out: &Path,
    threads: Option<usize>,
    set: &[String],
) -> Result<()> {
    let overrides = set
        .iter()
        .map(|s| ctg_eval::overrides::parse(s).map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    let data = match data {
        Some(d) => d,
        None => ctg_formats::shared_data_dir().map_err(anyhow::Error::msg)?,
    };
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZero::get));
    let started = std::time::Instant::now();
    let report = ctg_eval::run(&ctg_eval::EvalOptions {
        data: data.clone(),
        threads,
        overrides,
    })?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(out, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!("{}", table(&report));
    println!(
        "experts among themselves (each vs the plurality of the others, mean kappa): {:.2}",
        report
            .pointer("/all/classification_figo_vs_experts/experts_vs_others_kappa_mean")
            .and_then(Value::as_f64)
            .unwrap_or(f64::NAN)
    );
    println!(
        "data: {}  threads: {threads}  time: {:.1} s  JSON: {}",
        data.display(),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

fn table(report: &Value) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<38} {:>8} {:>12} {:>8}  {:>6}  met",
        "figure", "all", "development", "holdout", "bar"
    );
    for (label, path, bar, higher) in BARS {
        let get = |subset: &str| {
            report
                .pointer(&format!("/{subset}{path}"))
                .and_then(Value::as_f64)
                .unwrap_or(f64::NAN)
        };
        let all = get("all");
        let met = if bar.is_nan() {
            "-"
        } else if (higher && all >= bar) || (!higher && all <= bar) {
            "yes"
        } else {
            "NO"
        };
        let bar_text = if bar.is_nan() {
            "-".to_string()
        } else {
            format!("{bar:.2}")
        };
        let _ = writeln!(
            s,
            "{label:<38} {all:>8.3} {:>12.3} {:>8.3}  {bar_text:>6}  {met}",
            get("development"),
            get("holdout")
        );
    }
    s
}
