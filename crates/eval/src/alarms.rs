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
use ctg_dsp::{DecelerationType, Finding, Provisional, TypingConfig};
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
    /// Prolonged-deceleration alerts by what they said last (their facts' `text`): raised
    /// from the final finding, or told while under way and then what the final analysis made
    /// of them (`prolonged_confirmed`, `_shorter`, `_none`).
    prolonged_said: BTreeMap<String, u64>,
    /// How soon the analysis told of its own decelerations.
    timeliness: Timeliness,
}

/// A deceleration reported provisional (under way) over consecutive seconds of the replay.
#[derive(Clone, Copy, Debug)]
struct Episode {
    /// Its start, stream seconds.
    start_s: f64,
    /// The replay second it was first reported.
    first_seen: f64,
    /// The longest it was reported to have lasted, s.
    duration_s: f64,
    /// The replay second it was first reported to have lasted the prolonged threshold.
    prolonged_seen: Option<f64>,
}

impl Episode {
    /// Whether it overlaps `start..end` (stream seconds).
    fn overlaps(&self, start: f64, end: f64) -> bool {
        self.start_s < end && self.start_s + self.duration_s > start
    }
}

/// One of our final decelerations: its span, whether prolonged, and the replay second its
/// finding was polled.
#[derive(Clone, Copy, Debug)]
struct FinalDeceleration {
    start_s: f64,
    end_s: f64,
    prolonged: bool,
    polled_s: f64,
}

impl FinalDeceleration {
    fn of(finding: &Finding, polled_s: f64) -> Option<Self> {
        let Finding::Deceleration(d) = finding else {
            return None;
        };
        Some(Self {
            start_s: d.start_s,
            end_s: d.end_s,
            prolonged: d.kind == DecelerationType::Prolonged,
            polled_s,
        })
    }
}

/// When the analysis told of each of its final decelerations, in seconds from the
/// deceleration's start: as a final finding, and (if a provisional one overlapped it) as
/// provisional; for prolonged ones, when it was known to be prolonged either way.
#[derive(Debug, Default)]
struct Timeliness {
    final_after_start: Vec<f64>,
    provisional_after_start: Vec<f64>,
    prolonged_final_after_start: Vec<f64>,
    prolonged_provisional_after_start: Vec<f64>,
    /// Prolonged final decelerations with a prolonged-deceleration alert: when it was raised.
    prolonged_alert_after_start: Vec<f64>,
    /// Prolonged final decelerations no provisional one had shown as prolonged.
    prolonged_not_provisional: usize,
    /// Provisional decelerations (episodes), and those no final deceleration overlaps.
    episodes: usize,
    episodes_unconfirmed: usize,
    /// Provisional decelerations that lasted the prolonged threshold, and those no final
    /// deceleration overlaps.
    prolonged_episodes: usize,
    prolonged_episodes_unconfirmed: usize,
    /// Of those that a final deceleration overlaps: how many no final prolonged one overlaps.
    prolonged_episodes_final_shorter: usize,
}

impl Timeliness {
    fn new(
        finals: &[FinalDeceleration],
        episodes: &[Episode],
        prolonged_alerts: &[(f64, f64)],
    ) -> Self {
        let overlapping =
            |start: f64, end: f64| episodes.iter().filter(move |e| e.overlaps(start, end));
        let mut t = Timeliness {
            episodes: episodes.len(),
            ..Timeliness::default()
        };
        for d in finals {
            let (start, end, polled) = (d.start_s, d.end_s, d.polled_s);
            t.final_after_start.push(polled - start);
            if let Some(first) = overlapping(start, end)
                .map(|e| e.first_seen)
                .reduce(f64::min)
            {
                t.provisional_after_start.push(first - start);
            }
            if d.prolonged {
                t.prolonged_final_after_start.push(polled - start);
                match overlapping(start, end)
                    .filter_map(|e| e.prolonged_seen)
                    .reduce(f64::min)
                {
                    Some(seen) => t.prolonged_provisional_after_start.push(seen - start),
                    None => t.prolonged_not_provisional += 1,
                }
                // The alert told of it: raised for a deceleration starting within it (or a
                // minute before: the provisional start is measured against another baseline),
                // or for a provisional one under way during it (which may have started
                // earlier: the final one can split the same fall otherwise). One raised before
                // it started counts as told at its start.
                let under_way_during = |alert_start: f64| {
                    episodes
                        .iter()
                        .any(|e| e.start_s == alert_start && e.overlaps(start, end))
                };
                if let Some(raised) = prolonged_alerts
                    .iter()
                    .filter(|(s, _)| (start - 60.0..end).contains(s) || under_way_during(*s))
                    .map(|(_, raised)| *raised)
                    .reduce(f64::min)
                {
                    t.prolonged_alert_after_start
                        .push((raised - start).max(0.0));
                }
            }
        }
        let confirmed = |e: &Episode| finals.iter().any(|d| e.overlaps(d.start_s, d.end_s));
        t.episodes_unconfirmed = episodes.iter().filter(|e| !confirmed(e)).count();
        let prolonged: Vec<&Episode> = episodes
            .iter()
            .filter(|e| e.prolonged_seen.is_some())
            .collect();
        t.prolonged_episodes = prolonged.len();
        t.prolonged_episodes_unconfirmed = prolonged.iter().filter(|e| !confirmed(e)).count();
        t.prolonged_episodes_final_shorter = prolonged
            .iter()
            .filter(|e| {
                confirmed(e)
                    && !finals
                        .iter()
                        .any(|d| d.prolonged && e.overlaps(d.start_s, d.end_s))
            })
            .count();
        t
    }
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
    // Prolonged-deceleration alerts: (the deceleration's start, raised), stream seconds.
    let mut prolonged_alerts: Vec<(f64, f64)> = Vec::new();
    // Per prolonged-deceleration alert: what it said last.
    let mut prolonged_said: HashMap<u64, String> = HashMap::new();
    let mut take = |changes: Vec<ctg_alerts::Alert>| {
        for alert in changes {
            let t = |ms: i64| (ms - BASE_MS) as f64 / 1000.0;
            if let ctg_alerts::AlertKind::ProlongedDeceleration { start_ds } = alert.kind {
                if !seen.contains_key(&alert.id) {
                    prolonged_alerts.push((start_ds as f64 / 10.0, t(alert.raised_ms)));
                }
                let said = alert.facts["text"].as_str().unwrap_or("?").to_owned();
                prolonged_said.insert(alert.id, said);
            }
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
    // Final decelerations and provisional episodes.
    let mut finals: Vec<FinalDeceleration> = Vec::new();
    // A deceleration is prolonged from this long in the replay's (JSOG) profile.
    let prolonged_s = TypingConfig::for_profile(Profile::Jsog).prolonged_s;
    let mut episodes: Vec<Episode> = Vec::new();
    let mut under_way: Option<Episode> = None;
    let mut updates = ctg_dsp::json::UnderWayUpdates::default();
    for (k, second) in recording.samples.chunks(4).enumerate() {
        let now = BASE_MS + (k as i64 + 1) * 1000;
        let now_s = (k + 1) as f64;
        analyzer.push(second);
        let signal = second.iter().any(|s| s.values[..3].iter().any(|&v| v != 0));
        take(engine.on_samples(1, "replay", signal, now));
        let provisional = analyzer.provisional();
        // What the hub would send the alert rules.
        if let Some(message) = updates.due(&provisional) {
            take(engine.on_finding(1, "replay", &message, now));
        }
        let current = provisional
            .iter()
            .map(|p| match p {
                Provisional::Deceleration {
                    start_s,
                    duration_s,
                    ..
                } => (*start_s, *duration_s),
            })
            .next();
        match (under_way.as_mut(), current) {
            (Some(e), Some((start_s, duration_s))) if e.start_s == start_s => {
                e.duration_s = e.duration_s.max(duration_s);
                if duration_s >= prolonged_s {
                    e.prolonged_seen.get_or_insert(now_s);
                }
            }
            (_, current) => {
                episodes.extend(under_way.take());
                under_way = current.map(|(start_s, duration_s)| Episode {
                    start_s,
                    first_seen: now_s,
                    duration_s,
                    prolonged_seen: (duration_s >= prolonged_s).then_some(now_s),
                });
            }
        }
        while let Some(finding) = analyzer.poll() {
            finals.extend(FinalDeceleration::of(&finding, now_s));
            let json = ctg_dsp::json::finding(&finding);
            take(engine.on_finding(1, "replay", &json, now));
        }
        if k % 10 == 0 {
            take(engine.tick(now));
        }
    }
    episodes.extend(under_way.take());
    analyzer.finish();
    let end = BASE_MS + total as i64 * 1000;
    while let Some(finding) = analyzer.poll() {
        finals.extend(FinalDeceleration::of(&finding, total as f64));
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
        prolonged_said: prolonged_said
            .into_values()
            .fold(BTreeMap::new(), |mut n, said| {
                *n.entry(said).or_default() += 1;
                n
            }),
        timeliness: Timeliness::new(&finals, &episodes, &prolonged_alerts),
    })
}

/// Replays every CTU-UHB record; returns the figures as JSON (`mimamori.alarms.v1`).
pub fn run(data: &Path, threads: usize) -> Result<Value, EvalError> {
    // As `mimamori eval`: records from the files and the annotations there; what is missing
    // or unreadable is listed, not fatal.
    let mut left_out = Vec::new();
    let events = crate::if_present(
        &data.join("ctu-uhb/romagnoli2020_events.json"),
        "the experts' late and prolonged decelerations alerted",
        &mut left_out,
        || datasets::romagnoli(data),
    )?;
    let ratings_file = data.join("ctu-uhb/expert_evaluations_9obstetricians.csv");
    let ratings = if ratings_file.is_file() {
        datasets::expert_ratings(data)?
    } else {
        Default::default()
    };
    let (names, absent) = datasets::ctu_uhb_records(data, &events, &ratings);
    for what in &absent {
        eprintln!("  left out {what}");
    }
    left_out.extend(absent);
    eprintln!(
        "alarm fatigue: replaying {} CTU-UHB records through the analysis and the default alert rules",
        names.len()
    );
    let results: Vec<RecordAlarms> = crate::computed(
        par_map(&names, threads, "records", |name| {
            (
                format!("CTU-UHB record {name}"),
                replay(data, name, events.get(name)),
            )
        }),
        &mut left_out,
    );
    let mut out = json!({
        "schema": "mimamori.alarms.v1",
        "rules": "ctg_alerts::AlertRules::default()",
        "left_out": left_out,
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
        let mut prolonged_said: BTreeMap<String, u64> = BTreeMap::new();
        for r in &chosen {
            for (said, n) in &r.prolonged_said {
                *prolonged_said.entry(said.clone()).or_default() += n;
            }
        }
        let rate: BTreeMap<String, f64> = per_kind
            .iter()
            .map(|(k, n)| (k.clone(), round3(*n as f64 / hours)))
            .collect();
        let clinical = clinical_alerts(&per_kind);
        // With a 95 % interval over records (`crate::bootstrap`), as `mimamori eval`'s figures.
        let clinical_interval = crate::bootstrap::interval95(&chosen, |draw| {
            let hours: f64 = draw.iter().map(|r| r.hours).sum();
            draw.iter().map(|r| clinical_alerts(&r.raised)).sum::<u64>() as f64 / hours
        });
        let sensitivity = |which: &[&str]| {
            let alerted_of = |records: &mut dyn Iterator<Item = &RecordAlarms>| {
                records
                    .flat_map(|r| r.decelerations.iter())
                    .filter(|(s, _)| which.contains(&s.as_str()))
                    .fold((0usize, 0usize), |(n, hit), (_, a)| {
                        (n + 1, hit + usize::from(*a))
                    })
            };
            let (n, hit) = alerted_of(&mut chosen.iter().copied());
            let with_any: Vec<&RecordAlarms> = chosen
                .iter()
                .copied()
                .filter(|r| {
                    r.decelerations
                        .iter()
                        .any(|(s, _)| which.contains(&s.as_str()))
                })
                .collect();
            let interval = crate::bootstrap::interval95(&with_any, |draw| {
                let (n, hit) = alerted_of(&mut draw.iter().map(|r| **r));
                hit as f64 / n as f64
            });
            json!({"decelerations": n, "alerted": hit,
                   "sensitivity": if n == 0 { Value::Null } else { json!(round3(hit as f64 / n as f64)) },
                   "sensitivity_ci95": interval.map(|[lo, hi]| [round3(lo), round3(hi)])})
        };
        out[subset] = json!({
            "records": chosen.len(),
            "patient_hours": (hours * 10.0).round() / 10.0,
            "alerts": per_kind,
            "alerts_per_patient_hour": rate,
            "clinical_alerts_per_patient_hour": round3(clinical as f64 / hours),
            "clinical_alerts_per_patient_hour_ci95": clinical_interval.map(|[lo, hi]| [round3(lo), round3(hi)]),
            "late": sensitivity(&["late"]),
            "prolonged": sensitivity(&["prolonged"]),
            "late_or_prolonged": sensitivity(&["late", "prolonged"]),
            "timeliness": timeliness_json(&chosen, hours),
            "prolonged_alerts_last_said": prolonged_said,
        });
    }
    Ok(out)
}

/// The clinical alerts among alerts raised by kind: JSOG level, prolonged deceleration,
/// bradycardia, tachysystole (not signal loss, which is about the equipment).
fn clinical_alerts(raised: &BTreeMap<String, u64>) -> u64 {
    raised
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "jsog_level" | "prolonged_deceleration" | "bradycardia" | "tachysystole"
            )
        })
        .map(|(_, n)| n)
        .sum()
}

/// Rounded to three decimals, as the replay's rates and shares are reported.
fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Median, in minutes to 0.01 (null for none).
fn median_minutes(values: impl Iterator<Item = f64>) -> Value {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return Value::Null;
    }
    json!((crate::score::median(&mut v) / 60.0 * 100.0).round() / 100.0)
}

/// The share (%) of `of` decelerations told within each half minute from 0 to 15 minutes of
/// their start, `seconds` holding when each of those told was told.
fn told_by_minute(seconds: impl Iterator<Item = f64>, of: usize) -> Value {
    let mut told: Vec<f64> = seconds.collect();
    told.sort_by(f64::total_cmp);
    let shares: Vec<f64> = (0..=30)
        .map(|half_minutes| {
            let limit = f64::from(half_minutes) * 30.0;
            let within = told.partition_point(|&s| s <= limit);
            if of == 0 {
                0.0
            } else {
                (within as f64 / of as f64 * 1000.0).round() / 10.0
            }
        })
        .collect();
    json!(shares)
}

/// When the analysis told of its own decelerations, over a subset of records.
fn timeliness_json(chosen: &[&RecordAlarms], hours: f64) -> Value {
    let all = || chosen.iter().map(|r| &r.timeliness);
    let count = |f: fn(&Timeliness) -> usize| all().map(f).sum::<usize>();
    let finals = count(|t| t.final_after_start.len());
    let shown = count(|t| t.provisional_after_start.len());
    let prolonged = count(|t| t.prolonged_final_after_start.len());
    let episodes = count(|t| t.episodes);
    let unconfirmed = count(|t| t.episodes_unconfirmed);
    json!({
        "decelerations": finals,
        "final_minutes_after_start_median": median_minutes(all().flat_map(|t| t.final_after_start.iter().copied())),
        "shown_provisional": shown,
        "provisional_minutes_after_start_median": median_minutes(all().flat_map(|t| t.provisional_after_start.iter().copied())),
        "prolonged": prolonged,
        "prolonged_final_minutes_after_start_median": median_minutes(all().flat_map(|t| t.prolonged_final_after_start.iter().copied())),
        "prolonged_shown_provisional": prolonged - count(|t| t.prolonged_not_provisional),
        "prolonged_provisional_minutes_after_start_median": median_minutes(all().flat_map(|t| t.prolonged_provisional_after_start.iter().copied())),
        "prolonged_alerted": count(|t| t.prolonged_alert_after_start.len()),
        "prolonged_alert_minutes_after_start_median": median_minutes(all().flat_map(|t| t.prolonged_alert_after_start.iter().copied())),
        "provisional_episodes": episodes,
        "provisional_episodes_never_final": unconfirmed,
        "provisional_never_final_per_patient_hour": round3(unconfirmed as f64 / hours),
        "provisional_prolonged_episodes": count(|t| t.prolonged_episodes),
        "provisional_prolonged_never_final": count(|t| t.prolonged_episodes_unconfirmed),
        "provisional_prolonged_final_not_prolonged": count(|t| t.prolonged_episodes_final_shorter),
        "provisional_prolonged_never_final_per_patient_hour": round3(count(|t| t.prolonged_episodes_unconfirmed) as f64 / hours),
        // Cumulative curves for the plot: percent told by each half minute, 0–15 minutes.
        "told_by_minute": {
            "minutes": (0..=30).map(|h| f64::from(h) / 2.0).collect::<Vec<_>>(),
            "provisional": told_by_minute(all().flat_map(|t| t.provisional_after_start.iter().copied()), finals),
            "final": told_by_minute(all().flat_map(|t| t.final_after_start.iter().copied()), finals),
            "prolonged_alert": told_by_minute(all().flat_map(|t| t.prolonged_alert_after_start.iter().copied()), prolonged),
            "prolonged_final": told_by_minute(all().flat_map(|t| t.prolonged_final_after_start.iter().copied()), prolonged),
        },
    })
}
