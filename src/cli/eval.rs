//! `mimamori eval`: the analysis measured against the expert annotations, as a table and JSON.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

/// The issue's bars: (label, JSON path under a subset, bar, higher is better).
const BARS: [(&str, &str, f64, bool); 10] = [
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
        "MHR false-signal accuracy",
        "/false_signal_mhr/accuracy",
        f64::NAN,
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

/// The `--set section.field=value` overrides, checked.
fn parse_overrides(set: &[String]) -> Result<Vec<ctg_eval::overrides::Override>> {
    set.iter()
        .map(|s| ctg_eval::overrides::parse(s).map_err(anyhow::Error::msg))
        .collect()
}

/// Which part of the shared data a recording belongs to.
fn part_of(name: &str) -> &'static str {
    if ctg_eval::is_holdout(name) {
        "holdout"
    } else {
        "development"
    }
}

/// `eval --chart NAME`: a CTU-UHB record (its number) with the expert's event marks, or an
/// FHRMA-FS file (its name) with the experts' false-signal labels.
pub fn chart(data: Option<PathBuf>, out: &Path, name: &str, set: &[String]) -> Result<()> {
    let overrides = parse_overrides(set)?;
    let (data, _) = data_and_threads(data, Some(1))?;
    let file_name = name.trim_end_matches(".fhrm");
    let svg = out.with_file_name(format!("chart-{file_name}.svg"));
    if let Some(dir) = svg.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        record_chart(&data, &svg, name, &overrides)
    } else {
        false_signal_chart(&data, &svg, name, &overrides)
    }
}

/// An FHRMA-FS file's false signal as the eval scores it, drawn with the experts' labels.
fn false_signal_chart(
    data: &Path,
    svg: &Path,
    name: &str,
    overrides: &[ctg_eval::overrides::Override],
) -> Result<()> {
    let view = ctg_eval::false_signal_view(data, name, overrides)
        .with_context(|| format!("FHRMA-FS file {name}"))?;
    let context = super::analyze_plot::Context {
        fetal: view.config.fetal,
        fallback: view.config.fetal_fallback,
        profile: "figo",
        expert: None,
        signal_labels: Some(super::analyze_plot::SignalLabels {
            true_fhr: &view.labels.true_fhr,
            false_fhr: &view.labels.false_fhr,
        }),
    };
    std::fs::write(
        svg,
        super::analyze_plot::svg(&view.recording, &view.report, &context),
    )
    .with_context(|| format!("cannot write {}", svg.display()))?;
    let line = |label: &str, [flagged_false, flagged_true, missed, trusted]: [u64; 4]| {
        let total = flagged_false + flagged_true + missed + trusted;
        let accuracy = if total == 0 {
            "-".to_string()
        } else {
            format!("{:.3}", (flagged_false + trusted) as f64 / total as f64)
        };
        format!(
            "  {label}: {total} labelled samples with a signal, accuracy {accuracy}; of the experts' {} false we flag {flagged_false}; of their {} true we flag {flagged_true}\n",
            flagged_false + missed,
            flagged_true + trusted,
        )
    };
    let part = part_of(&view.labels.filename);
    super::write_stdout(&format!(
        "{} ({part}), false signal as the eval scores it:\n{}{}chart: {}\n",
        view.labels.filename,
        line(
            &format!("fetal ({})", view.config.fetal.name()),
            view.confusion.0
        ),
        if view.confusion.1.iter().sum::<u64>() > 0 {
            line("mhr", view.confusion.1)
        } else {
            String::new()
        },
        svg.display()
    ))
}

/// A CTU-UHB record's analysis as the eval scores it, drawn with the expert's marks, and a
/// line per kind of event (ours, hers, matched).
fn record_chart(
    data: &Path,
    svg: &Path,
    record: &str,
    overrides: &[ctg_eval::overrides::Override],
) -> Result<()> {
    let view = ctg_eval::record_view(data, record, overrides)
        .with_context(|| format!("record {record}"))?;
    let mut lines = String::new();
    let (events, matched): (&[ctg_eval::datasets::ExpertEvent], &[bool]) = match &view.events {
        Some(ev) => (&ev.events, &view.expert_matched),
        None => (&[], &[]),
    };
    for (k, (kind, name)) in [
        (ctg_eval::datasets::EventKind::Acceleration, "accelerations"),
        (ctg_eval::datasets::EventKind::Deceleration, "decelerations"),
        (ctg_eval::datasets::EventKind::Contraction, "contractions"),
    ]
    .into_iter()
    .enumerate()
    {
        // As the eval counts them: flagged marks, and ours matched to one, count neither way.
        let of_kind = |flagged: bool| {
            events
                .iter()
                .zip(matched)
                .filter(move |(e, _)| e.kind == kind && e.flagged == flagged)
        };
        let hers = of_kind(false).count();
        let both = of_kind(false).filter(|(_, m)| **m).count();
        let (flagged, flagged_matched) = (
            of_kind(true).count(),
            of_kind(true).filter(|(_, m)| **m).count(),
        );
        let ours = &view.ours_matched[k];
        let scored = ours.iter().filter(|m| m.is_some()).count() - flagged_matched;
        lines.push_str(&format!(
            "  {name}: ours {} ({scored} scored), the expert's {hers}, matched {both}",
            ours.len()
        ));
        if flagged > 0 {
            lines.push_str(&format!(
                " ({flagged} flagged mark{} counted neither way)",
                if flagged == 1 { "" } else { "s" }
            ));
        }
        lines.push('\n');
    }
    let lane = view
        .events
        .as_ref()
        .map(|ev| super::analyze_plot::ExpertLane {
            who: "expert marks (Romagnoli 2020, FIGO)",
            annotated_end_s: ev.annotated_samples as f64 / 4.0,
            events: &ev.events,
            matched: &view.expert_matched,
            ours_matched: &view.ours_matched,
        });
    if lane.is_none() {
        lines.push_str("  the expert marked nothing in this record (not scored)\n");
    }
    let context = super::analyze_plot::Context {
        fetal: view.config.fetal,
        fallback: view.config.fetal_fallback,
        profile: "figo",
        expert: lane,
        signal_labels: None,
    };
    std::fs::write(
        svg,
        super::analyze_plot::svg(&view.recording, &view.report, &context),
    )
    .with_context(|| format!("cannot write {}", svg.display()))?;
    let part = part_of(record);
    super::write_stdout(&format!(
        "record {record} ({part}), FIGO profile, matched as the eval matches:\n{lines}chart: {}\n",
        svg.display()
    ))
}

pub fn run(
    data: Option<PathBuf>,
    out: &Path,
    threads: Option<usize>,
    set: &[String],
    paired: bool,
) -> Result<()> {
    let overrides = parse_overrides(set)?;
    let (data, threads) = data_and_threads(data, threads)?;
    let started = std::time::Instant::now();
    let options = ctg_eval::EvalOptions {
        data: data.clone(),
        threads,
        overrides,
    };
    let changed = ctg_eval::collect(&options)?;
    let mut report = ctg_eval::report(&changed);
    if paired {
        eprintln!("and with the defaults, to compare:");
        let defaults = ctg_eval::collect(&ctg_eval::EvalOptions {
            overrides: Vec::new(),
            ..options
        })?;
        report["paired"] = ctg_eval::compare(&changed, &defaults);
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(out, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {}", out.display()))?;
    let svg = out.with_extension("svg");
    std::fs::write(&svg, plot(&report))
        .with_context(|| format!("cannot write {}", svg.display()))?;
    let csv = out.with_file_name("records.csv");
    std::fs::write(&csv, records_csv(&report))
        .with_context(|| format!("cannot write {}", csv.display()))?;
    println!("{}", table(&report));
    if paired {
        println!("{}", paired_table(&report["paired"], set));
    }
    println!("{}", events_vs_wmfb_table(&report));
    let left_out = report["left_out"].as_array().map_or(0, Vec::len);
    if left_out > 0 {
        println!(
            "left out: {left_out} (recordings or annotations missing or unreadable; listed in the JSON's `left_out`)"
        );
    }
    let anchor = report
        .pointer("/all/classification_figo_vs_experts/experts_vs_others_kappa_mean")
        .and_then(Value::as_f64)
        .map_or_else(|| "n/a".to_string(), |k| format!("{k:.2}"));
    println!(
        "experts among themselves (each vs the plurality of the others, mean kappa): {anchor}"
    );
    println!(
        "data: {}  threads: {threads}  time: {:.1} s  JSON: {}  plot: {}  per record: {}",
        data.display(),
        started.elapsed().as_secs_f64(),
        out.display(),
        svg.display(),
        csv.display()
    );
    Ok(())
}

/// The JSON's `per_record` as CSV, one annotated CTU-UHB record a line: matched, expert's and
/// our events of each kind, and how many matched decelerations were typed alike; the records
/// where we and the expert part most come first (most unmatched events of ours and hers).
fn records_csv(report: &Value) -> String {
    use std::fmt::Write as _;
    let mut rows: Vec<&Value> = report["per_record"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let n = |v: &Value, kind: &str, field: &str| v[kind][field].as_u64().unwrap_or(0);
    let unmatched = |v: &Value| {
        ["accelerations", "decelerations", "contractions"]
            .iter()
            .map(|k| n(v, k, "expert") + n(v, k, "ours") - 2 * n(v, k, "matched"))
            .sum::<u64>()
    };
    rows.sort_by_key(|v| std::cmp::Reverse(unmatched(v)));
    let mut s = String::from(
        "record,part,unmatched,accel_matched,accel_expert,accel_ours,decel_matched,decel_expert,decel_ours,contraction_matched,contraction_expert,contraction_ours,decel_typed,decel_typed_alike\n",
    );
    for v in rows {
        let _ = write!(
            s,
            "{},{},{}",
            v["record"].as_str().unwrap_or(""),
            v["part"].as_str().unwrap_or(""),
            unmatched(v)
        );
        for kind in ["accelerations", "decelerations", "contractions"] {
            for field in ["matched", "expert", "ours"] {
                let _ = write!(s, ",{}", n(v, kind, field));
            }
        }
        let _ = writeln!(
            s,
            ",{},{}",
            v["decelerations_typed"].as_u64().unwrap_or(0),
            v["decelerations_typed_alike"].as_u64().unwrap_or(0)
        );
    }
    s
}

/// A JSON interval `[lo, hi]` (null where there is none).
fn bounds(value: &Value) -> Option<[f64; 2]> {
    match value.as_array()?.as_slice() {
        [lo, hi] => Some([lo.as_f64()?, hi.as_f64()?]),
        _ => None,
    }
}

/// A figure's 95 % bootstrap interval (`<figure>_ci95` beside it in the JSON), if it has one.
fn interval(report: &Value, subset: &str, path: &str) -> Option<[f64; 2]> {
    bounds(report.pointer(&format!("/{subset}{path}_ci95"))?)
}

/// Where a bar lies against a figure's interval: the whole interval meets it ("clears"), it
/// lies inside ("spans": other recordings like these could fall either side), or no part of
/// the interval meets it ("misses").
fn against_interval(bar: f64, higher: bool, [lo, hi]: [f64; 2]) -> &'static str {
    let meets = |v: f64| if higher { v >= bar } else { v <= bar };
    match (meets(lo), meets(hi)) {
        (true, true) => "clears",
        (false, false) => "misses",
        _ => "spans",
    }
}

fn table(report: &Value) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<38} {:>8} {:>13} {:>12} {:>8} {:>13}  {:>6}  {:<4} bar vs all's interval",
        "figure", "all", "95 % interval", "development", "holdout", "95 % interval", "bar", "met",
    );
    for (label, path, bar, higher) in BARS {
        let get = |subset: &str| {
            report
                .pointer(&format!("/{subset}{path}"))
                .and_then(Value::as_f64)
                .unwrap_or(f64::NAN)
        };
        let all = get("all");
        let met = if bar.is_nan() || all.is_nan() {
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
        // A figure with nothing to measure it on (no holdout recording of that kind in the
        // data folder, say) is "n/a", not NaN.
        let shown = |v: f64| {
            if v.is_nan() {
                "n/a".to_string()
            } else {
                format!("{v:.3}")
            }
        };
        let span = |subset: &str| {
            interval(report, subset, path)
                .map_or_else(|| "-".to_string(), |[lo, hi]| format!("{lo:.3}–{hi:.3}"))
        };
        let verdict = match interval(report, "all", path) {
            Some(ci) if !bar.is_nan() => against_interval(bar, higher, ci),
            _ => "-",
        };
        let _ = writeln!(
            s,
            "{label:<38} {:>8} {:>13} {:>12} {:>8} {:>13}  {bar_text:>6}  {met:<4} {verdict}",
            shown(all),
            span("all"),
            shown(get("development")),
            shown(get("holdout")),
            span("holdout"),
        );
    }
    let _ = writeln!(
        s,
        "95 % intervals: percentile bootstrap over recordings ({} draws, seeded): how far a figure could move on other recordings like these",
        report["bootstrap"]["resamples"]
    );
    s
}

/// Each bar's figure with the overrides and with the defaults, on the same recordings, their
/// difference and its paired 95 % interval: "within chance" where the interval holds 0.
fn paired_table(paired: &Value, set: &[String]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "with {} against the defaults, same recordings (paired bootstrap, {} draws):",
        set.join(" "),
        paired["resamples"]
    );
    let _ = writeln!(
        s,
        "{:<38} {:>9} {:>9} {:>30}  {:<13} {:>30}",
        "figure",
        "defaults",
        "with",
        "difference (95 % interval)",
        "",
        "holdout: difference (95 %)"
    );
    let row = |part: &str, path: &str| {
        paired[part]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["figure"] == path))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let number = |v: &Value| {
        v.as_f64()
            .map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"))
    };
    let difference = |r: &Value| match bounds(&r["difference_ci95"]) {
        Some([lo, hi]) => (
            format!(
                "{:+.3} ({lo:+.3}…{hi:+.3})",
                r["difference"].as_f64().unwrap_or(f64::NAN)
            ),
            if lo > 0.0 || hi < 0.0 {
                "beyond chance"
            } else if lo == 0.0 && hi == 0.0 {
                "no change"
            } else {
                "within chance"
            },
        ),
        _ => ("-".to_string(), ""),
    };
    for (label, path, ..) in BARS {
        let (all, holdout) = (row("all", path), row("holdout", path));
        let (all_difference, all_verdict) = difference(&all);
        let (holdout_difference, _) = difference(&holdout);
        let _ = writeln!(
            s,
            "{label:<38} {:>9} {:>9} {all_difference:>30}  {all_verdict:<13} {holdout_difference:>30}",
            number(&all["reference"]),
            number(&all["changed"]),
        );
    }
    s
}

/// Our events and the FHRMA toolbox's methods' against WMFB's on the FHRMA files (all of
/// them): not expert marks, so no bar; it shows how far a definition's reading moves the
/// figures, and where ours stand among published methods.
fn events_vs_wmfb_table(report: &Value) -> String {
    use std::fmt::Write as _;
    let part = &report["all"]["events_vs_wmfb"];
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<80} {:>8} {:>8}",
        format!(
            "events against WMFB's (automatic, not expert marks; FHRMA, {} files)",
            part["files"]
        ),
        "decel F1",
        "accel F1"
    );
    let mut sources = vec!["ours", "ours_toolbox_rule"];
    sources.extend(
        ctg_eval::datasets::TOOLBOX_METHODS
            .iter()
            .map(|(stem, _)| *stem),
    );
    for source in sources {
        let f1 = |kind: &str| {
            part[source][kind]["f1"]
                .as_f64()
                .map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"))
        };
        let method = part[source]["method"].as_str().unwrap_or(source);
        let _ = writeln!(
            s,
            "  {method:<78} {:>8} {:>8}",
            f1("decelerations"),
            f1("accelerations")
        );
    }
    s
}

/// A bar chart of every figure against its bar (all records; development and holdout as
/// ticks), as SVG, so a reader sees at a glance what is met.
fn plot(report: &Value) -> String {
    use std::fmt::Write as _;
    let (width, row, left) = (900.0, 34.0, 290.0);
    let height = 60.0 + row * BARS.len() as f64;
    let scale = |v: f64| left + (width - left - 40.0) * v.clamp(0.0, 1.0);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="22" font-size="15" font-weight="bold">mimamori eval vs the bars (bar: all records, whisker: 95 % interval; ▲ development, ▼ holdout)</text>
"#
    );
    for (i, (label, path, bar, higher)) in BARS.iter().enumerate() {
        let y = 45.0 + row * i as f64;
        let get = |subset: &str| {
            report
                .pointer(&format!("/{subset}{path}"))
                .and_then(Value::as_f64)
                .unwrap_or(f64::NAN)
        };
        // MADI is "lower is better" in percent: plot 1 − MADI/20 so longer is better.
        let norm = |v: f64| if *higher { v } else { 1.0 - v / 20.0 };
        let all = get("all");
        let met = bar.is_nan() || (*higher && all >= *bar) || (!*higher && all <= *bar);
        let colour = if met { "#2e7d32" } else { "#c62828" };
        let label = label.replace('&', "&amp;").replace('<', "&lt;");
        let _ = writeln!(s, r#"<text x="10" y="{}">{label}</text>"#, y + 16.0);
        if all.is_nan() {
            // Nothing to measure it on in this data folder.
            let _ = writeln!(s, r#"<text x="{left}" y="{}">n/a</text>"#, y + 17.0);
            continue;
        }
        let _ = writeln!(
            s,
            r#"<rect x="{left}" y="{}" width="{:.1}" height="20" fill="{colour}" opacity="0.8"/>"#,
            y + 3.0,
            scale(norm(all)) - left
        );
        // The 95 % interval over recordings as a whisker across the bar's end.
        let mut text_x = scale(norm(all));
        if let Some([lo, hi]) = interval(report, "all", path) {
            let (a, b) = (scale(norm(lo)), scale(norm(hi)));
            let (from, to) = (a.min(b), a.max(b));
            let mid = y + 13.0;
            let _ = writeln!(
                s,
                r#"<path d="M{from:.1},{mid} H{to:.1} M{from:.1},{} V{} M{to:.1},{} V{}" stroke="black" stroke-width="1.5" fill="none"><title>95 % interval {lo:.3}–{hi:.3}</title></path>"#,
                mid - 5.0,
                mid + 5.0,
                mid - 5.0,
                mid + 5.0
            );
            text_x = text_x.max(to);
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}">{all:.3}</text>"#,
            text_x + 6.0,
            y + 17.0
        );
        for (subset, glyph, dy) in [("development", "▲", 30.0), ("holdout", "▼", 8.0)] {
            let v = get(subset);
            if v.is_finite() {
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{}" font-size="10" text-anchor="middle">{glyph}</text>"#,
                    scale(norm(v)),
                    y + dy
                );
            }
        }
        if !bar.is_nan() {
            let x = scale(norm(*bar));
            let _ = writeln!(
                s,
                r#"<line x1="{x:.1}" x2="{x:.1}" y1="{}" y2="{}" stroke="black" stroke-width="2"/>"#,
                y,
                y + 26.0
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// The shared data folder (given, or found beside the repository) and the worker threads
/// (given, or every core).
fn data_and_threads(data: Option<PathBuf>, threads: Option<usize>) -> Result<(PathBuf, usize)> {
    let data = match data {
        Some(d) => d,
        None => ctg_formats::shared_data_dir().map_err(anyhow::Error::msg)?,
    };
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZero::get));
    Ok((data, threads))
}

/// `mimamori alarms`: the alarm-fatigue replay; prints a table and writes the JSON.
pub fn alarms(data: Option<PathBuf>, out: &Path, threads: Option<usize>) -> Result<()> {
    let (data, threads) = data_and_threads(data, threads)?;
    let started = std::time::Instant::now();
    let report = ctg_eval::alarms::run(&data, threads)?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", out.display()))?;
    let svg = out.with_extension("svg");
    std::fs::write(&svg, timeliness_plot(&report["all"]["timeliness"]))
        .with_context(|| format!("cannot write {}", svg.display()))?;
    println!(
        "alerts per patient-hour with the default rules (CTU-UHB replay), and late/prolonged decelerations alerted:"
    );
    println!(
        "{:<12} {:>7} {:>9} {:>10} {:>10} {:>12} {:>12} {:>12} {:>12} {:>10} {:>10}",
        "subset",
        "records",
        "hours",
        "clinical/h",
        "jsog/h",
        "prolonged/h",
        "brady/h",
        "tachysys/h",
        "sig.loss/h",
        "late",
        "prolonged"
    );
    for subset in ["all", "development", "holdout"] {
        let s = &report[subset];
        let rate = |k: &str| s["alerts_per_patient_hour"][k].as_f64().unwrap_or(0.0);
        let sens = |k: &str| {
            format!(
                "{}/{}",
                s[k]["alerted"].as_u64().unwrap_or(0),
                s[k]["decelerations"].as_u64().unwrap_or(0)
            )
        };
        println!(
            "{:<12} {:>7} {:>9.1} {:>10.3} {:>10.3} {:>12.3} {:>12.3} {:>12.3} {:>12.3} {:>10} {:>10}",
            subset,
            s["records"],
            s["patient_hours"].as_f64().unwrap_or(0.0),
            s["clinical_alerts_per_patient_hour"]
                .as_f64()
                .unwrap_or(0.0),
            rate("jsog_level"),
            rate("prolonged_deceleration"),
            rate("bradycardia"),
            rate("tachysystole"),
            rate("signal_loss"),
            sens("late"),
            sens("prolonged"),
        );
    }
    // How far those figures could move on other records like these (as `eval`'s intervals).
    let span = |v: &Value| {
        bounds(v).map_or_else(|| "-".to_string(), |[lo, hi]| format!("{lo:.3}–{hi:.3}"))
    };
    for subset in ["all", "holdout"] {
        let s = &report[subset];
        println!(
            "95 % interval over records, {subset}: clinical/h {}, late alerted {}, prolonged alerted {}",
            span(&s["clinical_alerts_per_patient_hour_ci95"]),
            span(&s["late"]["sensitivity_ci95"]),
            span(&s["prolonged"]["sensitivity_ci95"]),
        );
    }
    println!(
        "\nwhen the analysis told of its own decelerations (median minutes from the deceleration's start; \
         spurious: provisional ones no final deceleration overlaps, and of them those that lasted 2 min):"
    );
    println!(
        "{:<12} {:>7} {:>7} {:>7} {:>10} {:>9} {:>7} {:>7} {:>8} {:>7} {:>8} {:>10} {:>11}",
        "subset",
        "decels",
        "final",
        "provis.",
        "(shown)",
        "prolonged",
        "final",
        "provis.",
        "(shown)",
        "alert",
        "(alerted)",
        "spurious/h",
        "(prolonged)"
    );
    for subset in ["all", "development", "holdout"] {
        let t = &report[subset]["timeliness"];
        let minutes = |k: &str| t[k].as_f64().map_or("-".to_owned(), |m| format!("{m:.2}"));
        let n = |k: &str| t[k].as_u64().unwrap_or(0);
        let rate = |k: &str| t[k].as_f64().unwrap_or(0.0);
        println!(
            "{:<12} {:>7} {:>7} {:>7} {:>10} {:>9} {:>7} {:>7} {:>8} {:>7} {:>8} {:>10.3} {:>11.3}",
            subset,
            n("decelerations"),
            minutes("final_minutes_after_start_median"),
            minutes("provisional_minutes_after_start_median"),
            format!("{}/{}", n("shown_provisional"), n("decelerations")),
            n("prolonged"),
            minutes("prolonged_final_minutes_after_start_median"),
            minutes("prolonged_provisional_minutes_after_start_median"),
            format!("{}/{}", n("prolonged_shown_provisional"), n("prolonged")),
            minutes("prolonged_alert_minutes_after_start_median"),
            format!("{}/{}", n("prolonged_alerted"), n("prolonged")),
            rate("provisional_never_final_per_patient_hour"),
            rate("provisional_prolonged_never_final_per_patient_hour"),
        );
    }
    let left_out = report["left_out"].as_array().map_or(0, Vec::len);
    if left_out > 0 {
        println!(
            "left out: {left_out} (recordings or annotations missing or unreadable; listed in the JSON's `left_out`)"
        );
    }
    println!(
        "alerted = {}; time {:.1} s; JSON {}; plot {}",
        report["alerted_means"].as_str().unwrap_or(""),
        started.elapsed().as_secs_f64(),
        out.display(),
        svg.display()
    );
    Ok(())
}

/// When the analysis told of a deceleration, as curves: the share of our decelerations told
/// (provisional, final) and of our prolonged ones alerted or final, by minutes from their
/// start (0–15), as SVG.
fn timeliness_plot(timeliness: &Value) -> String {
    use std::fmt::Write as _;
    let (width, height) = (860.0, 440.0);
    let (left, right, top, bottom) = (60.0, 300.0, 40.0, 50.0);
    let x = |minutes: f64| left + (width - left - right) * minutes / 15.0;
    let y = |percent: f64| top + (height - top - bottom) * (1.0 - percent / 100.0);
    let n = |k: &str| timeliness[k].as_u64().unwrap_or(0);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="22" font-size="14" font-weight="bold">mimamori alarms: when the analysis tells of a deceleration (CTU-UHB replay, JSOG profile)</text>
"#
    );
    for minute in (0..=15).step_by(3) {
        let m = f64::from(minute);
        let _ = writeln!(
            s,
            r##"<line x1="{0:.1}" x2="{0:.1}" y1="{1}" y2="{2}" stroke="#ddd"/><text x="{0:.1}" y="{3}" text-anchor="middle">{minute}</text>"##,
            x(m),
            top,
            height - bottom,
            height - bottom + 16.0
        );
    }
    for percent in (0..=100).step_by(25) {
        let p = f64::from(percent);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" x2="{0:.1}" y1="{1:.1}" y2="{1:.1}" stroke="#ddd"/><text x="{2}" y="{3:.1}" text-anchor="end">{percent} %</text>"##,
            width - right,
            y(p),
            left - 6.0,
            y(p) + 4.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{}" text-anchor="middle">minutes from the deceleration's start</text>"#,
        x(7.5),
        height - 12.0
    );
    let series = [
        (
            "provisional",
            "#1f5fbf",
            "",
            format!("provisional (of {} decelerations)", n("decelerations")),
        ),
        (
            "final",
            "#555",
            "",
            format!("final finding (of {})", n("decelerations")),
        ),
        (
            "prolonged_alert",
            "#c62828",
            "",
            format!("prolonged alert (of {} prolonged)", n("prolonged")),
        ),
        (
            "prolonged_final",
            "#c62828",
            "5 4",
            format!("prolonged, final (of {})", n("prolonged")),
        ),
    ];
    let minutes: Vec<f64> = timeliness["told_by_minute"]["minutes"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    for (i, (key, colour, dash, label)) in series.iter().enumerate() {
        let shares: Vec<f64> = timeliness["told_by_minute"][key]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let points: Vec<String> = minutes
            .iter()
            .zip(&shares)
            .map(|(m, p)| format!("{:.1},{:.1}", x(*m), y(*p)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2.5" stroke-dasharray="{dash}" points="{}"/>"#,
            points.join(" ")
        );
        let ly = top + 20.0 + 22.0 * i as f64;
        let lx = width - right + 12.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="2.5" stroke-dasharray="{dash}"/><text x="{}" y="{}">{}</text>"#,
            lx + 22.0,
            lx + 28.0,
            ly + 4.0,
            label.replace('&', "&amp;").replace('<', "&lt;")
        );
    }
    s.push_str(
        "</svg>
",
    );
    s
}
