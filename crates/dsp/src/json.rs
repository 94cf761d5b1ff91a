//! The JSON shapes of findings, shared by `mimamori analyze --json` (`mimamori.analysis.v1`,
//! `docs/schema/`) and the hub's live feed, so a finding looks the same offline and online.

use serde_json::{Value, json};

use crate::findings::*;

/// Rounds to two decimals (the schema's precision for measured values).
pub fn r2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The schema's name for a variability band.
pub fn band_name(band: VariabilityBand) -> &'static str {
    match band {
        VariabilityBand::Absent => "absent",
        VariabilityBand::Reduced => "minimal",
        VariabilityBand::Moderate => "moderate",
        VariabilityBand::Increased => "marked",
    }
}

/// An acceleration.
pub fn acceleration(a: &Acceleration) -> Value {
    json!({"start_s": a.start_s, "end_s": a.end_s, "peak_s": a.peak_s, "amplitude_bpm": r2(a.amplitude_bpm)})
}

/// A deceleration.
pub fn deceleration(d: &Deceleration) -> Value {
    json!({
        "start_s": d.start_s, "end_s": d.end_s, "nadir_s": d.nadir_s,
        "depth_bpm": r2(d.depth_bpm), "type": d.kind.name(),
        "severity": match d.severity { Severity::Mild => "mild", Severity::Severe => "severe" },
        "recurrent": d.recurrent,
    })
}

/// A contraction.
pub fn contraction(c: &Contraction) -> Value {
    json!({"start_s": c.start_s, "peak_s": c.peak_s, "end_s": c.end_s, "amplitude": r2(c.amplitude)})
}

/// A false-signal stretch.
pub fn false_signal(f: &FalseSignal) -> Value {
    json!({
        "channel": f.channel.name(), "start_s": f.start_s, "end_s": f.end_s,
        "kind": match f.kind { FalseKind::Maternal => "maternal", _ => "artefact" },
    })
}

/// A window's baseline.
pub fn baseline(w: &BaselineWindow) -> Value {
    json!({"start_s": w.start_s, "end_s": w.end_s, "bpm": w.bpm})
}

/// A window's variability (`None` where it could not be measured).
pub fn variability(v: &VariabilityWindow) -> Option<Value> {
    Some(json!({
        "start_s": v.start_s, "end_s": v.end_s,
        "amplitude_bpm": r2(v.amplitude_bpm?), "class": band_name(v.band?),
    }))
}

/// A window's classification.
pub fn classification(c: &Classification) -> Value {
    json!({
        "start_s": c.start_s, "end_s": c.end_s, "jsog_level": c.jsog_level,
        "nichd_category": c.nichd_category, "figo": c.figo.name(),
        "table_version": &*c.table_version,
    })
}

/// An event under way (not final), for the alert rules:
/// `{"kind": "deceleration_under_way", "start_s", "depth_bpm", "duration_s"}`.
pub fn provisional(p: &Provisional) -> Value {
    match p {
        Provisional::Deceleration {
            start_s,
            depth_bpm,
            duration_s,
        } => json!({
            "kind": "deceleration_under_way", "start_s": start_s,
            "depth_bpm": r2(*depth_bpm), "duration_s": duration_s,
        }),
    }
}

/// A finding for the live feed: `{"kind": …, …fields}`.
pub fn finding(f: &Finding) -> Value {
    let (kind, mut value) = match f {
        Finding::Acceleration(a) => ("acceleration", acceleration(a)),
        Finding::Deceleration(d) => ("deceleration", deceleration(d)),
        Finding::Contraction(c) => ("contraction", contraction(c)),
        Finding::FalseSignal(s) => ("false_signal", false_signal(s)),
        Finding::Baseline(w) => ("baseline", baseline(w)),
        Finding::Variability(v) => (
            "variability",
            variability(v).unwrap_or(json!({"start_s": v.start_s, "end_s": v.end_s})),
        ),
        Finding::Classification(c) => ("classification", classification(c)),
    };
    // A false-signal stretch has a kind of its own (maternal / artefact): it becomes "reason".
    if let Some(reason) = value.get("kind").cloned() {
        value["reason"] = reason;
    }
    value["kind"] = json!(kind);
    value
}
