//! `mimamori analyze FILE`: the streaming analysis of a recording, as JSON
//! (`mimamori.analysis.v1`, a contract other tools consume) or as a short summary.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use ctg_dsp::{DecelerationType, FalseKind, JsogTable, Profile, Report, analyze};
use ctg_formats::{Recording, read_recording};
use ctg_proto::model::{Channel, TransducerMode};
use serde_json::{Value, json};

pub struct Options<'a> {
    pub json: bool,
    pub profile: &'a str,
    pub curve: bool,
    pub jsog_table: Option<&'a Path>,
    /// The fetal channel to analyse (`fhr1`…`fhr3`) instead of the one the signal points to.
    pub fetal_channel: Option<&'a str>,
    /// The fetal channel is a direct fetal ECG whatever the file's flags say.
    pub direct_ecg: bool,
    /// Where to draw the chart of the recording and its findings, if anywhere.
    pub svg: Option<&'a Path>,
}

/// The fetal channel named on the command line.
fn fetal_channel(name: &str) -> Result<Channel> {
    [Channel::Fhr1, Channel::Fhr2, Channel::Fhr3]
        .into_iter()
        .find(|c| c.name().eq_ignore_ascii_case(name))
        .with_context(|| format!("unknown fetal channel `{name}` (fhr1, fhr2 or fhr3)"))
}

pub fn run(path: &Path, options: &Options<'_>) -> Result<()> {
    let recording = read_recording(path)?;
    let profile = Profile::parse(options.profile).with_context(|| {
        format!(
            "unknown profile `{}` (jsog, figo or nichd)",
            options.profile
        )
    })?;
    let fetal = options.fetal_channel.map(fetal_channel).transpose()?;
    let mut config = config_for(&recording, profile);
    if let Some(fetal) = fetal {
        config.fetal = fetal;
        config.fetal_fallback = None;
        config.prep.direct_ecg = recording.modes.get(fetal) == TransducerMode::Decg;
    }
    config.prep.direct_ecg |= options.direct_ecg;
    if let Some(table) = options.jsog_table {
        let text = std::fs::read_to_string(table)
            .with_context(|| format!("cannot read {}", table.display()))?;
        config.table =
            Arc::new(JsogTable::from_toml(&text).with_context(|| format!("{}", table.display()))?);
    }
    config.keep_baseline_curve = options.curve || options.svg.is_some();
    let config_summary = (config.fetal, config.prep.direct_ecg);
    let chart = super::analyze_plot::Context {
        fetal: config.fetal,
        fallback: config.fetal_fallback,
        profile: options.profile,
        expert: None,
        signal_labels: None,
    };
    let report = analyze(&recording.samples, config);
    if let Some(svg) = options.svg {
        std::fs::write(svg, super::analyze_plot::svg(&recording, &report, &chart))
            .with_context(|| format!("cannot write {}", svg.display()))?;
    }
    if options.json {
        super::write_stdout(&format!(
            "{}\n",
            to_json(&recording, &report, options.curve)
        ))
    } else {
        super::write_stdout(&summary(&recording, &report, &config_summary))
    }
}

pub use ctg_eval::config_for;

use ctg_dsp::json::{self, band_name, r2};

/// The `mimamori.analysis.v1` object.
pub fn to_json(recording: &Recording, report: &Report, curve: bool) -> Value {
    let fhr_loss = report.signal_loss_percent;
    let mut out = json!({
        "schema": "mimamori.analysis.v1",
        "source": recording.source,
        "sample_rate_hz": 4,
        "duration_s": report.samples as f64 / 4.0,
        "signal_loss_percent": r2(fhr_loss),
        "baseline_windows": report.baseline_windows.iter().map(json::baseline).collect::<Vec<_>>(),
        "variability": report.variability.iter().filter_map(json::variability).collect::<Vec<_>>(),
        "stv_ms": report.stv_ms.map(r2),
        "accelerations": report.accelerations.iter().map(json::acceleration).collect::<Vec<_>>(),
        "decelerations": report.decelerations.iter().map(json::deceleration).collect::<Vec<_>>(),
        "contractions": report.contractions.iter().map(json::contraction).collect::<Vec<_>>(),
        "false_signal": report.false_signal.iter().map(json::false_signal).collect::<Vec<_>>(),
        "classification": report.classification.iter().map(json::classification).collect::<Vec<_>>(),
    });
    if curve {
        let bpm: Vec<Value> = report
            .baseline_curve
            .iter()
            .map(|&b| {
                if b.is_nan() {
                    Value::Null
                } else {
                    json!(r2(f64::from(b)))
                }
            })
            .collect();
        out["baseline_curve"] = json!({ "hz": 4, "bpm": bpm });
    }
    out
}

/// Time judged false per channel and kind, e.g. `fhr1 maternal 2.3 min, artefact 24 s; mhr
/// artefact 6 s` (`none` if nothing was).
fn false_signal_summary(report: &Report) -> String {
    let mut minutes: Vec<(&'static str, Vec<(&'static str, f64)>)> = Vec::new();
    for f in &report.false_signal {
        let kind = match f.kind {
            FalseKind::Maternal => "maternal",
            FalseKind::Artefact => "artefact",
            FalseKind::None => continue,
        };
        let channel = f.channel.name();
        let at = match minutes.iter().position(|(c, _)| *c == channel) {
            Some(at) => at,
            None => {
                minutes.push((channel, Vec::new()));
                minutes.len() - 1
            }
        };
        let kinds = &mut minutes[at].1;
        let span = (f.end_s - f.start_s) / 60.0;
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, m)) => *m += span,
            None => kinds.push((kind, span)),
        }
    }
    if minutes.is_empty() {
        return "none".into();
    }
    minutes
        .iter()
        .map(|(channel, kinds)| {
            let kinds: Vec<String> = kinds
                .iter()
                .map(|(k, m)| {
                    if *m < 1.0 {
                        format!("{k} {:.0} s", m * 60.0)
                    } else {
                        format!("{k} {m:.1} min")
                    }
                })
                .collect();
            format!("{channel} {}", kinds.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The text summary; `(fetal, direct_ecg)`: the channel analysed and whether as a direct ECG.
fn summary(
    recording: &Recording,
    report: &Report,
    &(fetal, direct_ecg): &(Channel, bool),
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let count = |k: DecelerationType| report.decelerations.iter().filter(|d| d.kind == k).count();
    // The other channels the analysis reads, from the recording (as `mimamori info` counts).
    let channels = recording.channel_summaries();
    let channel_loss = |channel: Channel| {
        channels
            .iter()
            .find(|c| c.channel == channel && c.present())
            .map_or_else(
                || "not recorded".to_string(),
                |c| format!("{:.1} %", c.signal_loss_percent),
            )
    };
    let _ = writeln!(
        out,
        "{}: {:.1} min, fetal channel {}{}, signal loss {:.1} % (toco {}, MHR {})",
        recording.source,
        report.samples as f64 / 240.0,
        fetal.name(),
        if direct_ecg { " (direct ECG)" } else { "" },
        report.signal_loss_percent,
        channel_loss(Channel::Ua),
        channel_loss(Channel::Mhr),
    );
    let prolonged_accelerations = report.accelerations.iter().filter(|a| a.prolonged).count();
    let _ = writeln!(
        out,
        "accelerations {}{}, decelerations {} (early {}, late {}, variable {}, prolonged {}), contractions {}",
        report.accelerations.len(),
        if prolonged_accelerations > 0 {
            format!(" (prolonged, 2 min or more: {prolonged_accelerations})")
        } else {
            String::new()
        },
        report.decelerations.len(),
        count(DecelerationType::Early),
        count(DecelerationType::Late),
        count(DecelerationType::Variable),
        count(DecelerationType::Prolonged),
        report.contractions.len()
    );
    let _ = writeln!(out, "false signal: {}", false_signal_summary(report));
    if let Some(stv) = report.stv_ms {
        let _ = writeln!(out, "STV {stv:.1} ms");
    }
    let _ = writeln!(
        out,
        "window        baseline  variability  JSOG  NICHD  FIGO          signal   toco"
    );
    for ((b, c), v) in report
        .baseline_windows
        .iter()
        .zip(&report.classification)
        .zip(report.variability.iter())
    {
        let _ = writeln!(
            out,
            "{:>5.0}-{:<5.0} min {:>8}  {:>11}  {:>4}  {:>5}  {:<12}  {:>3.0} %  {:>3.0} %{}",
            b.start_s / 60.0,
            b.end_s / 60.0,
            b.bpm.map_or("-".to_string(), |x| format!("{x:.0}")),
            v.band.map_or("-", band_name),
            c.jsog_level,
            c.nichd_category,
            c.figo.name(),
            c.evidence.signal_percent,
            c.evidence.toco_readable_percent,
            if c.evidence.low_signal {
                " (indicative only)"
            } else {
                ""
            }
        );
    }
    if let Some(c) = report.classification.first() {
        let _ = writeln!(
            out,
            "signal: the window's trusted fetal signal; toco: its minutes in which the toco could \
             show a contraction (recorded, not flat)"
        );
        let _ = writeln!(out, "JSOG table: {}", c.table_version);
    }
    // Where a window could not measure its baseline or variability, the level rests on the band
    // of an earlier window (or the normal band assumed before any): say which.
    let resting: Vec<_> = report
        .classification
        .iter()
        .filter(|c| c.evidence.rests_on_earlier_windows())
        .collect();
    if !resting.is_empty() {
        let _ = writeln!(
            out,
            "levels resting on earlier windows (a band not measurable in its window: carried from \
             the last window that measured it, or assumed normal before any did)"
        );
    }
    for c in resting {
        let e = &c.evidence;
        let parts: Vec<String> = e
            .unmeasured()
            .map(|(what, source)| {
                let band = if what == "baseline" {
                    e.baseline.name()
                } else {
                    band_name(e.variability)
                };
                format!("{what} {band} {}", source.name())
            })
            .collect();
        let _ = writeln!(
            out,
            "{:>5.0}-{:<5.0} min  JSOG {}: {}",
            c.start_s / 60.0,
            c.end_s / 60.0,
            c.jsog_level,
            parts.join(", ")
        );
    }
    if !report.decelerations.is_empty() {
        let _ = writeln!(
            out,
            "decelerations (start, type, severity, recurrent or not, depth, duration: why this type)"
        );
    }
    for d in &report.decelerations {
        let _ = writeln!(
            out,
            "{:>7.1} min  {:<9} {:<6}  {:<9}  {:>4} bpm {:>4.0} s: {}",
            d.start_s / 60.0,
            d.kind.name(),
            match d.severity {
                ctg_dsp::Severity::Mild => "mild",
                ctg_dsp::Severity::Severe => "severe",
            },
            // Recurrence is not asked of a prolonged deceleration.
            match (d.kind, d.recurrent) {
                (DecelerationType::Prolonged, _) => "",
                (_, true) => "recurrent",
                (_, false) => "sporadic",
            },
            format!("-{:.0}", d.depth_bpm),
            d.end_s - d.start_s,
            d.reason()
        );
    }
    if !report.accelerations.is_empty() {
        let _ = writeln!(out, "accelerations (start, rise, duration)");
    }
    for a in &report.accelerations {
        let _ = writeln!(
            out,
            "{:>7.1} min  {:>4} bpm {:>4.0} s{}",
            a.start_s / 60.0,
            format!("+{:.0}", a.amplitude_bpm),
            a.end_s - a.start_s,
            if a.prolonged {
                ": prolonged (2 min or more)"
            } else {
                ""
            }
        );
    }
    out
}
