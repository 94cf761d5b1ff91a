//! Alarm-fatigue figures: every CTU-UHB record replayed second by second through the live
//! analysis and the default alert rules, as the hub would see it monitored in real time.
//! Reports alerts per patient-hour by kind (what the staff would bear) and, against the
//! Romagnoli 2020 expert annotations, the share of late and prolonged decelerations during or
//! shortly after which a clinical alert was raised or still active (what they would be told).
//!
//! Nobody acknowledges in the replay, so a prolonged-deceleration alert stays open to the end
//! of its record, and a JSOG-level alert stays open while the windows stay at level ≥ 3: the
//! counts are of alerts raised (one condition, one alert), not of messages sent.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use ctg_alerts::{AlertEngine, AlertRules};
use ctg_dsp::{Analyzer, Profile};
use ctg_formats::read_recording;
use serde_json::{Value, json};

use crate::datasets::{self, EventKind};
use crate::{EvalError, config_for, is_holdout, par_map};

/// A decelerations counts as alerted if a clinical alert was raised or open between its start
/// and this long after its end (the analysis needs the trace after an event to call it, up to
/// the baseline's look-ahead of about 8.5 minutes, and a level comes per 10-minute window).
pub const ALERT_WINDOW_AFTER_S: f64 = 15.0 * 60.0;

const BASE_MS: i64 = 1_700_000_000_000;

struct RecordAlarms {
    holdout: bool,
    hours: f64,
    /// Alerts raised, by kind.
    raised: BTreeMap<String, u64>,
    /// Expert late/prolonged decelerations: (subtype, alerted).
    decelerations: Vec<(String, bool)>,
}

fn kind_name(alert: &ctg_alerts::Alert) -> String {
    serde_json::to_value(&alert.kind)
        .ok()
        .and_then(|v| v["kind"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn replay(
    data: &Path,
    name: &str,
    events: Option<&datasets::RecordEvents>,
) -> Result<RecordAlarms, EvalError> {
    let recording = read_recording(&data.join(format!("ctu-uhb/wfdb/{name}.hea")))?;
    let mut analyzer = Analyzer::new(config_for(&recording, Profile::Jsog));
    let mut engine = AlertEngine::new(AlertRules::default());
    // Per alert ID: kind, clinical, raised and resolved (stream seconds).
    let mut seen: HashMap<u64, (String, bool, f64, Option<f64>)> = HashMap::new();
    let mut take = |changes: Vec<ctg_alerts::Alert>| {
        for alert in changes {
            let t = |ms: i64| (ms - BASE_MS) as f64 / 1000.0;
            let entry = seen.entry(alert.id).or_insert_with(|| {
                (
                    kind_name(&alert),
                    alert.kind.clinical(),
                    t(alert.raised_ms),
                    None,
                )
            });
            if let Some(resolved) = alert.resolved_ms {
                entry.3 = Some(t(resolved));
            }
        }
    };
    let seconds = recording.samples.chunks(4);
    let total = seconds.len();
    for (k, second) in recording.samples.chunks(4).enumerate() {
        let now = BASE_MS + (k as i64 + 1) * 1000;
        analyzer.push(second);
        let signal = second.iter().any(|s| s.values[..3].iter().any(|&v| v != 0));
        take(engine.on_samples(1, "replay", signal, now));
        while let Some(finding) = analyzer.poll() {
            let json = ctg_dsp::json::finding(&finding);
            take(engine.on_finding(1, "replay", &json, now));
        }
        if k % 10 == 0 {
            take(engine.tick(now));
        }
    }
    analyzer.finish();
    let end = BASE_MS + total as i64 * 1000;
    while let Some(finding) = analyzer.poll() {
        let json = ctg_dsp::json::finding(&finding);
        take(engine.on_finding(1, "replay", &json, end));
    }
    let mut raised = BTreeMap::new();
    for (kind, _, _, _) in seen.values() {
        *raised.entry(kind.clone()).or_default() += 1;
    }
    let mut decelerations = Vec::new();
    if let Some(ev) = events {
        let annotated_end = ev.annotated_samples as f64 / 4.0;
        for e in &ev.events {
            let Some(subtype) = e.subtype.as_deref() else {
                continue;
            };
            if e.kind != EventKind::Deceleration
                || e.flagged
                || !matches!(subtype, "late" | "prolonged")
                || e.interval.end > annotated_end
            {
                continue;
            }
            let (from, until) = (e.interval.start, e.interval.end + ALERT_WINDOW_AFTER_S);
            let alerted = seen.values().any(|(_, clinical, raised, resolved)| {
                *clinical && *raised <= until && resolved.is_none_or(|r| r >= from)
            });
            decelerations.push((subtype.to_owned(), alerted));
        }
    }
    Ok(RecordAlarms {
        holdout: is_holdout(name),
        hours: recording.samples.len() as f64 / 4.0 / 3600.0,
        raised,
        decelerations,
    })
}

/// Replays every CTU-UHB record; returns the figures as JSON (`mimamori.alarms.v1`).
pub fn run(data: &Path, threads: usize) -> Result<Value, EvalError> {
    let events = datasets::romagnoli(data)?;
    let ratings = datasets::expert_ratings(data)?;
    let names: Vec<String> = ratings.keys().cloned().collect();
    eprintln!(
        "alarm fatigue: replaying {} CTU-UHB records through the analysis and the default alert rules",
        names.len()
    );
    let results: Vec<RecordAlarms> = par_map(&names, threads, "records", |name| {
        replay(data, name, events.get(name))
    })
    .into_iter()
    .collect::<Result<_, _>>()?;
    let mut out = json!({
        "schema": "mimamori.alarms.v1",
        "rules": "ctg_alerts::AlertRules::default()",
        "alerted_means": format!("a clinical alert (JSOG level >= 3, prolonged deceleration, bradycardia, tachysystole) raised or open between the deceleration's start and {} min after its end", ALERT_WINDOW_AFTER_S / 60.0),
    });
    for (subset, keep) in [
        ("all", None),
        ("development", Some(false)),
        ("holdout", Some(true)),
    ] {
        let chosen: Vec<&RecordAlarms> = results
            .iter()
            .filter(|r| keep.is_none_or(|h| r.holdout == h))
            .collect();
        let hours: f64 = chosen.iter().map(|r| r.hours).sum();
        let mut per_kind: BTreeMap<String, u64> = BTreeMap::new();
        for r in &chosen {
            for (kind, n) in &r.raised {
                *per_kind.entry(kind.clone()).or_default() += n;
            }
        }
        let rate: BTreeMap<String, f64> = per_kind
            .iter()
            .map(|(k, n)| (k.clone(), (*n as f64 / hours * 1000.0).round() / 1000.0))
            .collect();
        let clinical: u64 = per_kind
            .iter()
            .filter(|(k, _)| {
                matches!(
                    k.as_str(),
                    "jsog_level" | "prolonged_deceleration" | "bradycardia" | "tachysystole"
                )
            })
            .map(|(_, n)| n)
            .sum();
        let sensitivity = |which: &[&str]| {
            let all: Vec<bool> = chosen
                .iter()
                .flat_map(|r| r.decelerations.iter())
                .filter(|(s, _)| which.contains(&s.as_str()))
                .map(|(_, a)| *a)
                .collect();
            let hit = all.iter().filter(|a| **a).count();
            json!({"decelerations": all.len(), "alerted": hit,
                   "sensitivity": if all.is_empty() { Value::Null } else { json!((hit as f64 / all.len() as f64 * 1000.0).round() / 1000.0) }})
        };
        out[subset] = json!({
            "records": chosen.len(),
            "patient_hours": (hours * 10.0).round() / 10.0,
            "alerts": per_kind,
            "alerts_per_patient_hour": rate,
            "clinical_alerts_per_patient_hour": (clinical as f64 / hours * 1000.0).round() / 1000.0,
            "late": sensitivity(&["late"]),
            "prolonged": sensitivity(&["prolonged"]),
            "late_or_prolonged": sensitivity(&["late", "prolonged"]),
        });
    }
    Ok(out)
}
