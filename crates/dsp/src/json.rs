//! The JSON shapes of findings, shared by `mimamori analyze --json` (`mimamori.analysis.v1`,
//! `docs/schema/`) and the hub's live feed, so a finding looks the same offline and online.
//! The live feed's decelerations and classifications also say what they rest on
//! ([`deceleration_with_evidence`], [`classification_with_evidence`]), and its accelerations
//! their duration and whether they are prolonged ([`acceleration_with_evidence`]); `analyze`
//! keeps the fixed fields of its schema.

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

/// An acceleration for the live feed: with its duration and whether it is prolonged (the
/// `analyze` output keeps its fixed fields: [`acceleration`]).
pub fn acceleration_with_evidence(a: &Acceleration) -> Value {
    let mut value = acceleration(a);
    value["duration_s"] = json!(r2(a.end_s - a.start_s));
    value["prolonged"] = json!(a.prolonged);
    value
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

/// A window's classification with what it rests on, for the live feed and the viewer: the
/// `analyze` fields, and `evidence`: the JSOG table's inputs (`baseline` column, `variability`
/// band and worst `deceleration` row, by their names in the table file), where the two bands
/// came from (`baseline_source`, `variability_source`: `measured` in the window, `carried` from
/// the last window that measured it, or `assumed` normal before any did), `sinusoidal`,
/// `contractions`, `tachysystole`, `signal_percent` (the share of the window with a trusted
/// fetal signal), `low_signal` (below the analysis's event gate: indicative only) and
/// `toco_readable_percent` (the share of its minutes in which the toco could have shown a
/// contraction) with `toco_not_recording` (under half: its contraction count says nothing).
pub fn classification_with_evidence(c: &Classification) -> Value {
    let e = &c.evidence;
    let mut value = classification(c);
    value["evidence"] = json!({
        "baseline": e.baseline.name(),
        "baseline_source": e.baseline_source.name(),
        "variability": e.variability.table_name(),
        "variability_source": e.variability_source.name(),
        "deceleration": e.deceleration.name(),
        "sinusoidal": e.sinusoidal,
        "contractions": e.contractions,
        "tachysystole": e.tachysystole,
        "signal_percent": r2(e.signal_percent),
        "low_signal": e.low_signal,
        "toco_readable_percent": r2(e.toco_readable_percent),
        "toco_not_recording": e.toco_not_recording(),
    });
    value
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

/// When to tell of a deceleration under way: when it starts, each time its duration passes
/// a whole multiple of [`UnderWayUpdates::EVERY_S`] seconds (15, 30, … 120, … 180 s: the
/// prolonged limits of every profile, 2 and 3 minutes, are multiples, so a deceleration is
/// told the moment it reaches one), and once when it is over, with what it last measured
/// (`{"kind": "deceleration_under_way", "start_s", "ended": true, "duration_s",
/// "depth_bpm"}`). The hub sends these to the alert rules and the viewers; the alarm replay
/// (`mimamori alarms`) uses the same rule, so it sees what the hub sends.
#[derive(Debug, Default)]
pub struct UnderWayUpdates {
    /// The one under way: its start, the duration told last and the latest look (duration,
    /// depth), seconds and bpm.
    current: Option<UnderWay>,
}

#[derive(Debug, Clone, Copy)]
struct UnderWay {
    start_s: f64,
    told_duration_s: f64,
    duration_s: f64,
    depth_bpm: f64,
}

impl UnderWayUpdates {
    /// Seconds between two messages about the same deceleration: each is sent when the
    /// duration passes a multiple of this.
    pub const EVERY_S: f64 = 15.0;

    /// The message due now, given what [`crate::Analyzer::provisional`] reports now.
    pub fn due(&mut self, under_way: &[Provisional]) -> Option<Value> {
        match under_way.first() {
            Some(
                p @ Provisional::Deceleration {
                    start_s,
                    duration_s,
                    depth_bpm,
                },
            ) => {
                let step = |d: f64| (d / Self::EVERY_S).floor();
                let due = match &mut self.current {
                    Some(known) if known.start_s == *start_s => {
                        known.duration_s = *duration_s;
                        known.depth_bpm = *depth_bpm;
                        step(*duration_s) > step(known.told_duration_s)
                    }
                    _ => true,
                };
                due.then(|| {
                    self.current = Some(UnderWay {
                        start_s: *start_s,
                        told_duration_s: *duration_s,
                        duration_s: *duration_s,
                        depth_bpm: *depth_bpm,
                    });
                    provisional(p)
                })
            }
            None => self.current.take().map(|last| {
                json!({
                    "kind": "deceleration_under_way", "start_s": last.start_s, "ended": true,
                    "duration_s": last.duration_s, "depth_bpm": r2(last.depth_bpm),
                })
            }),
        }
    }
}

/// A cross-channel coincidence ([`crate::cross_channel`]) of two fetal channels, for the hub:
/// when it begins, `{"kind": "cross_channel_under_way", "start_s", "channels": ["fhr1",
/// "fhr2"]}` (provisional: for the alert rules and the viewers); when it is over, the finding
/// `{"kind": "cross_channel", "start_s", "end_s", "channels"}`. Times in seconds from the
/// detector's first sample index as the analysis's (sample 0 at 0 s).
pub fn cross_channel(
    event: &crate::cross_channel::CrossChannelEvent,
    channels: [ctg_proto::model::Channel; 2],
) -> Value {
    use crate::cross_channel::CrossChannelEvent;
    let names = channels.map(|c| c.name());
    let seconds = |index: u64| index as f64 / 4.0;
    match *event {
        CrossChannelEvent::Began { start } => json!({
            "kind": "cross_channel_under_way", "start_s": seconds(start), "channels": names,
        }),
        CrossChannelEvent::Ended { start, end } => json!({
            "kind": "cross_channel", "start_s": seconds(start), "end_s": seconds(end),
            "channels": names,
        }),
    }
}

/// A deceleration with what its type rests on, for the live feed and the viewer: the
/// `analyze` fields, and `nadir_bpm`, `duration_s`, `onset_to_nadir_s`,
/// `lag_to_contraction_s` (nadir minus acme; null: no contraction), `rule` (a
/// [`TypingRule`] name) and `rule_limit_s` (the limit it compared against). The `analyze`
/// output keeps its fixed fields ([`deceleration`]).
pub fn deceleration_with_evidence(d: &Deceleration) -> Value {
    let mut value = deceleration(d);
    value["nadir_bpm"] = json!(r2(d.nadir_bpm));
    value["duration_s"] = json!(r2(d.end_s - d.start_s));
    value["onset_to_nadir_s"] = json!(r2(d.onset_to_nadir_s));
    value["lag_to_contraction_s"] = json!(d.lag_to_contraction_s.map(r2));
    value["rule"] = json!(d.rule.name());
    value["rule_limit_s"] = json!(d.rule.limit_s());
    value
}

/// A finding for the live feed: `{"kind": …, …fields}` (a deceleration or a classification
/// with what it rests on: [`deceleration_with_evidence`], [`classification_with_evidence`]).
pub fn finding(f: &Finding) -> Value {
    let (kind, mut value) = match f {
        Finding::Acceleration(a) => ("acceleration", acceleration_with_evidence(a)),
        Finding::Deceleration(d) => ("deceleration", deceleration_with_evidence(d)),
        Finding::Contraction(c) => ("contraction", contraction(c)),
        Finding::FalseSignal(s) => ("false_signal", false_signal(s)),
        Finding::Baseline(w) => ("baseline", baseline(w)),
        Finding::Variability(v) => (
            "variability",
            variability(v).unwrap_or(json!({"start_s": v.start_s, "end_s": v.end_s})),
        ),
        Finding::Classification(c) => ("classification", classification_with_evidence(c)),
    };
    // A false-signal stretch has a kind of its own (maternal / artefact): it becomes "reason".
    if let Some(reason) = value.get("kind").cloned() {
        value["reason"] = reason;
    }
    value["kind"] = json!(kind);
    value
}

/// The fields of a finding's JSON that are times in the stream (seconds from the analysis's
/// first sample); every other `…_s` field is a duration ([`DURATION_FIELDS`]).
pub const TIME_FIELDS: [&str; 4] = ["start_s", "end_s", "peak_s", "nadir_s"];
/// The fields of a finding's JSON that are durations, s.
pub const DURATION_FIELDS: [&str; 4] = [
    "duration_s",
    "onset_to_nadir_s",
    "lag_to_contraction_s",
    "rule_limit_s",
];

/// Moves a finding's times ([`TIME_FIELDS`]) `seconds` later: for an analysis that began
/// `seconds` into its stream (the hub's analysis of a stream it took up again after a restart
/// or a long gap), so the times count from the stream's first sample, as its samples do.
pub fn shift_times(finding: &mut Value, seconds: f64) {
    if seconds == 0.0 {
        return;
    }
    for field in TIME_FIELDS {
        if let Some(t) = finding.get_mut(field)
            && let Some(v) = t.as_f64()
        {
            *t = json!(v + seconds);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every time a finding carries moves with [`shift_times`]; every other `…_s` field is a
    /// duration named in [`DURATION_FIELDS`] (a new `…_s` field must be named in one of the
    /// two lists, or this fails).
    #[test]
    fn shifting_moves_every_time_of_every_kind_and_no_duration() {
        let samples: Vec<ctg_proto::model::Sample> = (0..4 * 60 * 40u32)
            .map(|i| {
                let mut s = ctg_proto::model::Sample::default();
                let t = i % (4 * 300);
                let dip = if (600..900).contains(&t) { 4 * 40 } else { 0 };
                let rise = if (200..320).contains(&t) { 4 * 25 } else { 0 };
                let wobble = ((i * 7919) % 23) as u16;
                s.values[ctg_proto::model::Channel::Fhr1.index()] = 4 * 140 + wobble + rise - dip;
                s.values[ctg_proto::model::Channel::Ua.index()] =
                    if (560..880).contains(&t) { 120 } else { 20 };
                if (i / 4) % 900 == 100 {
                    s.values[ctg_proto::model::Channel::Fhr1.index()] = 4 * 250;
                }
                s
            })
            .collect();
        let mut analyzer = crate::Analyzer::new(crate::AnalyzerConfig::new(crate::Profile::Jsog));
        let mut values = Vec::new();
        for block in samples.chunks(4) {
            analyzer.push(block);
            if let Some(Provisional::Deceleration { .. }) = analyzer.provisional().first() {
                values.push(provisional(&analyzer.provisional()[0]));
            }
        }
        analyzer.finish();
        while let Some(f) = analyzer.poll() {
            values.push(finding(&f));
        }
        for event in [
            crate::cross_channel::CrossChannelEvent::Began { start: 400 },
            crate::cross_channel::CrossChannelEvent::Ended {
                start: 400,
                end: 2000,
            },
        ] {
            let channels = [
                ctg_proto::model::Channel::Fhr1,
                ctg_proto::model::Channel::Fhr2,
            ];
            values.push(cross_channel(&event, channels));
        }
        let kinds: std::collections::BTreeSet<String> = values
            .iter()
            .map(|v| v["kind"].as_str().unwrap().to_owned())
            .collect();
        for kind in [
            "acceleration",
            "deceleration",
            "contraction",
            "classification",
            "baseline",
            "variability",
            "deceleration_under_way",
            "false_signal",
            "cross_channel_under_way",
            "cross_channel",
        ] {
            assert!(kinds.contains(kind), "no {kind} in {kinds:?}");
        }
        for value in values {
            let mut shifted = value.clone();
            shift_times(&mut shifted, 3600.0);
            for (key, v) in value.as_object().unwrap() {
                if !key.ends_with("_s") || v.is_null() {
                    continue;
                }
                let moved = shifted[key].as_f64().unwrap() - v.as_f64().unwrap();
                if TIME_FIELDS.contains(&key.as_str()) {
                    assert_eq!(moved, 3600.0, "{key} of {value}");
                } else {
                    assert!(
                        DURATION_FIELDS.contains(&key.as_str()),
                        "{key} of {value} is in neither list"
                    );
                    assert_eq!(moved, 0.0, "{key} of {value}");
                }
            }
        }
    }

    #[test]
    fn the_live_feed_says_what_findings_rest_on_and_analyze_keeps_its_fields() {
        let late = Deceleration {
            start_s: 1000.0,
            end_s: 1062.5,
            nadir_s: 1040.0,
            depth_bpm: 31.256,
            nadir_bpm: 108.75,
            onset_to_nadir_s: 40.0,
            lag_to_contraction_s: Some(42.5),
            kind: DecelerationType::Late,
            rule: TypingRule::NadirAfterAcme { limit_s: 30.0 },
            severity: Severity::Mild,
            recurrent: true,
        };
        let live = finding(&Finding::Deceleration(late.clone()));
        assert_eq!(live["kind"], "deceleration");
        assert_eq!(live["type"], "late");
        assert_eq!(live["rule"], "nadir_after_acme");
        assert_eq!(live["rule_limit_s"], 30.0);
        assert_eq!(live["lag_to_contraction_s"], 42.5);
        assert_eq!(live["onset_to_nadir_s"], 40.0);
        assert_eq!(live["nadir_bpm"], 108.75);
        assert_eq!(live["duration_s"], 62.5);
        assert_eq!(live["depth_bpm"], 31.26);
        let unrelated = Deceleration {
            lag_to_contraction_s: None,
            kind: DecelerationType::Variable,
            rule: TypingRule::NoContraction { before_s: 30.0 },
            ..late.clone()
        };
        let live = finding(&Finding::Deceleration(unrelated));
        assert_eq!(live["rule"], "no_contraction");
        assert!(live["lag_to_contraction_s"].is_null());
        let level = Classification {
            start_s: 600.0,
            end_s: 1200.0,
            jsog_level: 3,
            nichd_category: 2,
            figo: FigoClass::Suspicious,
            table_version: "t1".into(),
            evidence: Evidence {
                baseline: BaselineBand::Normal,
                baseline_source: BandSource::Carried,
                variability: VariabilityBand::Reduced,
                variability_source: BandSource::Measured,
                deceleration: DecelerationRow::LateMild,
                sinusoidal: false,
                contractions: 4,
                tachysystole: false,
                signal_percent: 71.234,
                low_signal: true,
                toco_readable_percent: 100.0 / 3.0,
            },
        };
        let live = finding(&Finding::Classification(level.clone()));
        assert_eq!(live["kind"], "classification");
        assert_eq!(
            live["evidence"],
            serde_json::json!({"baseline": "normal", "baseline_source": "carried",
                "variability": "reduced", "variability_source": "measured",
                "deceleration": "late_mild", "sinusoidal": false, "contractions": 4,
                "tachysystole": false, "signal_percent": 71.23, "low_signal": true,
                "toco_readable_percent": 33.33, "toco_not_recording": true})
        );
        assert!(classification(&level).get("evidence").is_none());
        // `mimamori analyze` keeps exactly the fields of its schema.
        let offline = deceleration(&late);
        let mut keys: Vec<_> = offline.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "depth_bpm",
                "end_s",
                "nadir_s",
                "recurrent",
                "severity",
                "start_s",
                "type"
            ]
        );
        // An acceleration: live with its duration and whether it is prolonged; `analyze` with
        // its schema's four fields.
        let acceleration_of = |end_s: f64, prolonged: bool| Acceleration {
            start_s: 300.0,
            end_s,
            peak_s: 330.0,
            amplitude_bpm: 24.999,
            prolonged,
        };
        let live = finding(&Finding::Acceleration(acceleration_of(450.5, true)));
        assert_eq!(live["kind"], "acceleration");
        assert_eq!(live["duration_s"], 150.5);
        assert_eq!(live["prolonged"], true);
        assert_eq!(live["amplitude_bpm"], 25.0);
        let live = finding(&Finding::Acceleration(acceleration_of(360.0, false)));
        assert_eq!(live["prolonged"], false);
        let offline = acceleration(&acceleration_of(450.5, true));
        let mut keys: Vec<_> = offline.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["amplitude_bpm", "end_s", "peak_s", "start_s"]);
    }

    #[test]
    fn a_deceleration_under_way_is_told_when_it_starts_at_each_15_s_and_when_it_ends() {
        let under_way = |start_s: f64, duration_s: f64| {
            vec![Provisional::Deceleration {
                start_s,
                depth_bpm: 30.0,
                duration_s,
            }]
        };
        let mut updates = UnderWayUpdates::default();
        assert_eq!(updates.due(&[]), None);
        let first = updates
            .due(&under_way(100.0, 20.0))
            .expect("told when it starts");
        assert_eq!(first["kind"], "deceleration_under_way");
        assert_eq!(first["duration_s"], 20.0);
        assert_eq!(updates.due(&under_way(100.0, 29.0)), None);
        assert_eq!(
            updates.due(&under_way(100.0, 30.0)).unwrap()["duration_s"],
            30.0
        );
        // Told the moment it reaches 2 minutes (the prolonged limit), though it was told
        // 14 s before.
        assert_eq!(
            updates.due(&under_way(100.0, 119.0)).unwrap()["duration_s"],
            119.0
        );
        assert_eq!(
            updates.due(&under_way(100.0, 120.0)).unwrap()["duration_s"],
            120.0
        );
        assert_eq!(updates.due(&under_way(100.0, 127.0)), None);
        // Another one (the first ended between two looks) is told at once.
        assert_eq!(
            updates.due(&under_way(160.0, 16.0)).unwrap()["start_s"],
            160.0
        );
        assert_eq!(updates.due(&under_way(160.0, 24.0)), None);
        let ended = updates.due(&[]).expect("told when it is over");
        assert_eq!(ended["ended"], true);
        assert_eq!(ended["start_s"], 160.0);
        // With what it measured at the last look, not at the last message.
        assert_eq!(ended["duration_s"], 24.0);
        assert_eq!(ended["depth_bpm"], 30.0);
        assert_eq!(updates.due(&[]), None, "once");
    }
}
