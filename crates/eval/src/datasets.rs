//! Readers for the expert annotations in `../shared/data` (see its README for their meaning).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::EvalError;
use crate::score::Interval;

/// The kinds of expert events scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// Acceleration.
    Acceleration,
    /// Deceleration.
    Deceleration,
    /// Contraction.
    Contraction,
}

/// One expert event.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpertEvent {
    /// Which kind.
    pub kind: EventKind,
    /// Deceleration subtype (early, late, variable, prolonged).
    pub subtype: Option<String>,
    /// Where, s.
    pub interval: Interval,
    /// The event carries a flag (end inferred, label mismatch): it counts neither way.
    pub flagged: bool,
}

/// One CTU-UHB record's Romagnoli 2020 annotations.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordEvents {
    /// Samples the annotator covered (events after it are not scored).
    pub annotated_samples: u64,
    /// The events.
    pub events: Vec<ExpertEvent>,
}

fn read_json(path: &Path) -> Result<Value, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
        path: path.into(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| EvalError::Data(format!("{}: {e}", path.display())))
}

/// Reads `ctu-uhb/romagnoli2020_events.json`: record number → annotations, leaving out the
/// records without any mark (unannotated, per the data README).
pub fn romagnoli(data: &Path) -> Result<BTreeMap<String, RecordEvents>, EvalError> {
    let path = data.join("ctu-uhb/romagnoli2020_events.json");
    let json = read_json(&path)?;
    let records = json["records"]
        .as_object()
        .ok_or_else(|| EvalError::Data(format!("{}: no `records` object", path.display())))?;
    let mut out = BTreeMap::new();
    for (name, record) in records {
        let events = record["events"].as_array().cloned().unwrap_or_default();
        if events.is_empty() {
            continue;
        }
        let parsed = events
            .iter()
            .filter_map(|e| {
                let kind = match e["type"].as_str()? {
                    "acceleration" => EventKind::Acceleration,
                    "deceleration" => EventKind::Deceleration,
                    "contraction" => EventKind::Contraction,
                    _ => return None,
                };
                Some(ExpertEvent {
                    kind,
                    subtype: e["subtype"].as_str().map(str::to_string),
                    interval: Interval {
                        start: e["start_s"].as_f64()?,
                        end: e["end_s"].as_f64()?,
                    },
                    flagged: e
                        .get("flags")
                        .and_then(Value::as_array)
                        .is_some_and(|f| !f.is_empty()),
                })
            })
            .collect();
        out.insert(
            name.clone(),
            RecordEvents {
                annotated_samples: record["annotated_samples"].as_u64().unwrap_or(0),
                events: parsed,
            },
        );
    }
    Ok(out)
}

/// Reads `ctu-uhb/expert_evaluations_9obstetricians.csv`: record → expert → step (0..3) →
/// that expert's classes for the step (1 normal, 2 suspicious, 3 pathological; -1 dropped).
pub type ExpertRatings = BTreeMap<String, BTreeMap<u32, [Vec<u8>; 3]>>;

/// Reads the nine obstetricians' ratings.
pub fn expert_ratings(data: &Path) -> Result<ExpertRatings, EvalError> {
    let path = data.join("ctu-uhb/expert_evaluations_9obstetricians.csv");
    let text = std::fs::read_to_string(&path).map_err(|source| EvalError::Io {
        path: path.clone(),
        source,
    })?;
    let mut out: ExpertRatings = BTreeMap::new();
    for line in text.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() < 5 {
            continue;
        }
        let expert: u32 = cells[1].parse().unwrap_or(0);
        let entry = out
            .entry(cells[0].to_string())
            .or_default()
            .entry(expert)
            .or_default();
        for step in 0..3 {
            if let Ok(v) = cells[2 + step].parse::<i32>()
                && (1..=3).contains(&v)
            {
                entry[step].push(v as u8);
            }
        }
    }
    Ok(out)
}

/// The CTU-UHB records to evaluate: every record with a WFDB header in `ctu-uhb/wfdb/`, or with
/// annotations or ratings (those without a header are returned in the second list, as text).
pub fn ctu_uhb_records(
    data: &Path,
    events: &BTreeMap<String, RecordEvents>,
    ratings: &ExpertRatings,
) -> (Vec<String>, Vec<String>) {
    let wfdb = data.join("ctu-uhb/wfdb");
    let present: BTreeSet<String> = std::fs::read_dir(&wfdb)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|entry| {
                    let name = entry.file_name().into_string().ok()?;
                    name.strip_suffix(".hea").map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    let absent: BTreeSet<&String> = events
        .keys()
        .chain(ratings.keys())
        .filter(|name| !present.contains(*name))
        .collect();
    let absent = absent
        .into_iter()
        .map(|name| {
            format!(
                "CTU-UHB record {name}: annotated or rated, but {} is not there",
                wfdb.join(format!("{name}.hea")).display()
            )
        })
        .collect();
    (present.into_iter().collect(), absent)
}

/// One FHRMA-FS file's expert labels, as 0-based inclusive sample ranges.
#[derive(Clone, Debug, PartialEq)]
pub struct FalseSignalLabels {
    /// The file name.
    pub filename: String,
    /// `DopMHR` or `ScalpECG` (the folder).
    pub folder: &'static str,
    /// The part of the dataset, and its subfolder: `Train` in the shared data (`Test` for the
    /// FHRMA test files, laid out the same way).
    pub part: String,
    /// True-signal ranges on the fetal channel.
    pub true_fhr: Vec<(u64, u64)>,
    /// False-signal ranges on the fetal channel.
    pub false_fhr: Vec<(u64, u64)>,
    /// True-signal ranges on MHR.
    pub true_mhr: Vec<(u64, u64)>,
    /// False-signal ranges on MHR.
    pub false_mhr: Vec<(u64, u64)>,
}

/// Reads `fhrma-fs/expert_annotations.json` (1-based inclusive bounds become 0-based). Any
/// part of the two datasets is read (`DopMHRTrain`, `DopMHRTest`, `ScalpTrain`, …); an entry of
/// another dataset, or without a file name, is returned in the second list, as text, so the
/// run can say it left it out.
pub fn false_signal_labels(
    data: &Path,
) -> Result<(Vec<FalseSignalLabels>, Vec<String>), EvalError> {
    let path = data.join("fhrma-fs/expert_annotations.json");
    let json = read_json(&path)?;
    let list = json
        .as_array()
        .ok_or_else(|| EvalError::Data(format!("{}: not a list", path.display())))?;
    let ranges = |v: &Value| -> Vec<(u64, u64)> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| {
                        let s = r.get(0)?.as_u64()?;
                        let e = r.get(1)?.as_u64()?;
                        (s >= 1 && e >= s).then(|| (s - 1, e - 1))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut labels = Vec::new();
    let mut left_out = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let dataset = e["dataset"].as_str().unwrap_or_default();
        let (folder, part) = if let Some(part) = dataset.strip_prefix("DopMHR") {
            ("DopMHR", part)
        } else if let Some(part) = dataset.strip_prefix("Scalp") {
            ("ScalpECG", part)
        } else {
            left_out.push(format!(
                "{}: entry {} has dataset `{dataset}`, neither DopMHR… nor Scalp…",
                path.display(),
                i + 1
            ));
            continue;
        };
        let Some(filename) = e["filename"].as_str().filter(|f| !f.is_empty()) else {
            left_out.push(format!(
                "{}: entry {} has no file name",
                path.display(),
                i + 1
            ));
            continue;
        };
        labels.push(FalseSignalLabels {
            filename: filename.to_string(),
            folder,
            part: part.to_string(),
            true_fhr: ranges(&e["TS_FHR"]),
            false_fhr: ranges(&e["FS_FHR"]),
            true_mhr: ranges(&e["TS_MHR"]),
            false_mhr: ranges(&e["FS_MHR"]),
        });
    }
    Ok((labels, left_out))
}

/// What WMFB made of one FHRMA training file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Wmfb {
    /// The baseline at every sample, bpm.
    pub baseline: Vec<f32>,
    /// Its accelerations and decelerations: excursions from its baseline lasting 15 s between
    /// baseline crossings whose extreme reaches 15 bpm (WMFB's own validation rule).
    pub events: MethodEvents,
}

/// An automatic method's accelerations and decelerations in one recording, s.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MethodEvents {
    /// Accelerations.
    pub accelerations: Vec<Interval>,
    /// Decelerations.
    pub decelerations: Vec<Interval>,
}

/// `[[start, end], …]` as intervals, each bound times `unit_s` (a pair that is not two numbers
/// is left out).
fn intervals(value: &Value, unit_s: f64) -> Vec<Interval> {
    value
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|p| {
                    Some(Interval {
                        start: p.get(0)?.as_f64()? * unit_s,
                        end: p.get(1)?.as_f64()? * unit_s,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A method's events in one file's entry: `accelerations_{unit}` and `decelerations_{unit}`,
/// each bound times `unit_s` (WMFB's file gives seconds, the toolbox's other files minutes).
fn method_events(entry: &Value, unit: &str, unit_s: f64) -> MethodEvents {
    MethodEvents {
        accelerations: intervals(&entry[format!("accelerations_{unit}")], unit_s),
        decelerations: intervals(&entry[format!("decelerations_{unit}")], unit_s),
    }
}

/// WMFB per FHRMA training file (`fhrma/method_analyses/WMFB.json`): file name → its baseline
/// and events.
pub fn wmfb(data: &Path) -> Result<BTreeMap<String, Wmfb>, EvalError> {
    let path = data.join("fhrma/method_analyses/WMFB.json");
    let json = read_json(&path)?;
    let files = json["files"]
        .as_array()
        .ok_or_else(|| EvalError::Data(format!("{}: no `files` list", path.display())))?;
    Ok(files
        .iter()
        .filter_map(|f| {
            let name = f["filename"].as_str()?.to_string();
            let baseline = f["baseline_bpm_4hz"]
                .as_array()?
                .iter()
                .map(|v| v.as_f64().map_or(f32::NAN, |x| x as f32))
                .collect();
            let events = method_events(f, "s", 1.0);
            Some((name, Wmfb { baseline, events }))
        })
        .collect())
}

/// The FHRMA toolbox's other automatic methods whose events the shared data holds (file stem
/// under `fhrma/method_analyses/`, and whose method it is); run, as the `_std` files were,
/// with the toolbox's simple event detector, which reads "15 bpm for 15 s" as WMFB does.
pub const TOOLBOX_METHODS: [(&str, &str); 3] = [
    ("A_std", "Ayres-de-Campos"),
    ("MD_std", "Maeda"),
    ("W_std", "Wróbel"),
];

/// One of [`TOOLBOX_METHODS`]' events per FHRMA training file (intervals in minutes in the
/// file): file name → events.
pub fn toolbox_method(
    data: &Path,
    stem: &str,
) -> Result<BTreeMap<String, MethodEvents>, EvalError> {
    let path = data.join(format!("fhrma/method_analyses/{stem}.json"));
    let json = read_json(&path)?;
    let files = json
        .as_array()
        .ok_or_else(|| EvalError::Data(format!("{}: not a list of files", path.display())))?;
    Ok(files
        .iter()
        .filter_map(|f| {
            let name = f["filename"].as_str()?.to_string();
            Some((name, method_events(f, "min", 60.0)))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The toolbox's method files give minutes, WMFB's seconds: both come out in seconds, and
    /// a pair that is not two numbers is left out rather than read as zero.
    #[test]
    fn method_events_come_out_in_seconds() {
        let minutes = serde_json::json!([[2.5, 3.0], [10, 10.25], [1], "x"]);
        assert_eq!(
            intervals(&minutes, 60.0),
            vec![
                Interval {
                    start: 150.0,
                    end: 180.0
                },
                Interval {
                    start: 600.0,
                    end: 615.0
                }
            ]
        );
        let seconds = serde_json::json!([[12.25, 40.0]]);
        assert_eq!(
            intervals(&seconds, 1.0),
            vec![Interval {
                start: 12.25,
                end: 40.0
            }]
        );
        assert!(intervals(&serde_json::json!(null), 1.0).is_empty());
    }
}
