//! `mimamori analyze` on every shared recording: it succeeds, and its JSON validates against
//! `docs/schema/mimamori.analysis.v1.json` with the third-party `jsonschema` Python package.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::util::{mimamori, python, shared_data};

const VALIDATE: &str = r#"
import json, os, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
validator = Draft202012Validator(schema)
folder = sys.argv[2]
bad = 0
names = sorted(os.listdir(folder))
for name in names:
    for error in validator.iter_errors(json.load(open(os.path.join(folder, name)))):
        bad += 1
        print(f"{name}: {error.json_path}: {error.message}")
        break
print(f"validated {len(names)} documents, {bad} invalid")
sys.exit(1 if bad else 0)
"#;

#[test]
fn analyze_every_shared_recording_and_validate_the_schema() {
    let data = shared_data();
    let recordings = ctg_formats::find_recordings(&data).unwrap();
    assert_eq!(recordings.len(), 415 + 66 + 779);
    let out = tempfile::tempdir().unwrap();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = recordings.get(i) else { break };
                    // Every tenth with the baseline curve, so that part of the schema is used too.
                    let mut args = vec!["analyze", path.to_str().unwrap(), "--json"];
                    if i.is_multiple_of(10) {
                        args.push("--curve");
                    }
                    let result = mimamori(&args);
                    assert!(
                        result.status.success(),
                        "{}: {}",
                        path.display(),
                        String::from_utf8_lossy(&result.stderr)
                    );
                    std::fs::write(out.path().join(format!("{i:04}.json")), &result.stdout)
                        .unwrap();
                }
            });
        }
    });
    let schema =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema/mimamori.analysis.v1.json");
    let check = python()
        .arg("-c")
        .arg(VALIDATE)
        .arg(&schema)
        .arg(out.path())
        .output()
        .expect("python runs");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "schema validation failed (the test command installs `jsonschema`):\n{report}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        report.contains("validated 1260 documents, 0 invalid"),
        "{report}"
    );
}

#[test]
fn analyze_text_summary_names_the_table_version() {
    let path = shared_data().join("ctu-uhb/wfdb/1001.hea");
    let out = crate::util::mimamori_ok(&["analyze", path.to_str().unwrap()]);
    assert!(
        out.contains("JSOG table: jsog-2023-draft-2 (UNVERIFIED)"),
        "{out}"
    );
    assert!(out.contains("window"), "{out}");
    // Signal loss per channel the analysis reads: CTU-UHB records no maternal heart rate.
    let first = out.lines().next().unwrap();
    assert!(first.contains("(toco 0.0 %, MHR not recorded)"), "{first}");
    // An FHRMA-FS Doppler file does; its losses are those `mimamori info` counts.
    let doppler = shared_data().join("fhrma-fs/DopMHR/Train/DopMHRTrain0093.fhrm");
    let summary = crate::util::mimamori_ok(&["analyze", doppler.to_str().unwrap()]);
    let info = crate::util::mimamori_ok(&["info", doppler.to_str().unwrap()]);
    let info_loss = |channel: &str| {
        info.lines()
            .find(|l| l.starts_with(&format!("{channel} ")))
            .and_then(|l| l.split_whitespace().nth(2))
            .unwrap_or_else(|| panic!("{channel}: {info}"))
            .to_string()
    };
    let first = summary.lines().next().unwrap();
    assert!(
        first.contains(&format!(
            "(toco {} %, MHR {} %)",
            info_loss("ua"),
            info_loss("mhr")
        )),
        "{first} / {info}"
    );
    // How much was judged false signal, per channel: 1001 has short artefact stretches.
    assert!(
        out.lines()
            .any(|l| l.starts_with("false signal: fhr1 artefact ")),
        "{out}"
    );
    // Each deceleration with why it has its type, as many lines as the JSON has decelerations.
    let json: serde_json::Value = serde_json::from_str(&crate::util::mimamori_ok(&[
        "analyze",
        path.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    let listed: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("decelerations ("))
        .skip(1)
        .take_while(|l| !l.starts_with("accelerations ("))
        .collect();
    assert_eq!(
        listed.len(),
        json["decelerations"].as_array().unwrap().len(),
        "{out}"
    );
    assert!(
        listed
            .iter()
            .any(|l| l.contains("late") && l.contains("after the contraction acme (> 30 s)")),
        "{out}"
    );
    // And whether it is recurrent, as the JSON says (a prolonged one: not asked).
    for (line, d) in listed.iter().zip(json["decelerations"].as_array().unwrap()) {
        let expected = match (d["type"].as_str(), d["recurrent"].as_bool()) {
            (Some("prolonged"), _) => None,
            (_, Some(true)) => Some(" recurrent "),
            _ => Some(" sporadic "),
        };
        if let Some(word) = expected {
            assert!(line.contains(word), "{line} / {d}");
        }
    }
    // Then each acceleration; in the JSOG and NICHD profiles, one of 2 minutes or more is
    // prolonged (持続一過性頻脈), in FIGO's it is not (1158 has one of 137 s).
    let accelerations = |out: &str| -> Vec<String> {
        out.lines()
            .skip_while(|l| !l.starts_with("accelerations ("))
            .skip(1)
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        accelerations(&out).len(),
        json["accelerations"].as_array().unwrap().len(),
        "{out}"
    );
    let path = shared_data().join("ctu-uhb/wfdb/1158.hea");
    for (profile, prolonged) in [("jsog", 1), ("nichd", 1), ("figo", 0)] {
        let out =
            crate::util::mimamori_ok(&["analyze", path.to_str().unwrap(), "--profile", profile]);
        let listed = accelerations(&out);
        let long: Vec<&String> = listed.iter().filter(|l| l.contains(" 137 s")).collect();
        assert_eq!(long.len(), 1, "{profile}: {out}");
        assert_eq!(
            listed.iter().filter(|l| l.contains("prolonged")).count(),
            prolonged,
            "{profile}: {out}"
        );
        assert_eq!(
            long[0].contains("prolonged (2 min or more)"),
            prolonged == 1,
            "{profile}"
        );
    }
}

/// A WFDB record is read by its header, its signal file, or its name alone (as WFDB tools take
/// it), with the same result; a name with no header beside it is refused, naming the formats.
#[test]
fn analyze_reads_a_wfdb_record_by_any_of_its_names() {
    let record = shared_data().join("ctu-uhb/wfdb/1001");
    let json =
        |path: &Path| crate::util::mimamori_ok(&["analyze", path.to_str().unwrap(), "--json"]);
    let by_header = json(&record.with_extension("hea"));
    assert_eq!(json(&record.with_extension("dat")), by_header);
    assert_eq!(json(&record), by_header);
    let out = mimamori(&[
        "analyze",
        shared_data().join("ctu-uhb/wfdb/1004").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1004") && err.contains(".hea"), "{err}");
}

#[test]
fn analyze_refuses_an_unknown_profile_and_a_broken_table() {
    let path = shared_data().join("ctu-uhb/wfdb/1001.hea");
    let out = mimamori(&["analyze", path.to_str().unwrap(), "--profile", "acog"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown profile `acog`"));
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("table.toml");
    std::fs::write(&table, "version = \"x\"\n").unwrap();
    let out = mimamori(&[
        "analyze",
        path.to_str().unwrap(),
        "--jsog-table",
        table.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("table.toml") && err.contains("JSOG table"),
        "{err}"
    );
}

#[test]
fn analyze_ends_quietly_when_the_reader_closes_the_pipe() {
    // `mimamori analyze … | head`: the reader goes away after the first bytes. The report with
    // its curve (~200 KB) is larger than a pipe holds, so the write meets the closed pipe.
    let path = shared_data().join("ctu-uhb/wfdb/1001.hea");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mimamori"))
        .args(["analyze", path.to_str().unwrap(), "--json", "--curve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the mimamori binary runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("mimamori ends");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "status {:?}: {err}", out.status);
    assert!(!err.contains("panicked"), "{err}");
}

/// Seconds judged false on `channel` in a report.
fn false_seconds(report: &serde_json::Value, channel: &str) -> f64 {
    report["false_signal"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["channel"] == channel)
        .map(|f| f["end_s"].as_f64().unwrap() - f["start_s"].as_f64().unwrap())
        .sum()
}

/// A file whose flags do not say its fetal channel is a scalp electrode's ECG (FHRMA's scalp
/// files): `--direct-ecg` says so, and the Doppler-only island rule no longer flags its short
/// runs; `--fetal-channel` picks the channel; an unknown one is refused by name.
#[test]
fn analyze_takes_the_fetal_channel_and_its_mode_from_the_command_line() {
    let path = shared_data().join("fhrma-fs/ScalpECG/Train/ScalpTrain0001.fhrm");
    let path = path.to_str().unwrap();
    let report = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["analyze", path, "--json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&crate::util::mimamori_ok(&args)).unwrap()
    };
    let (doppler, ecg) = (report(&[]), report(&["--direct-ecg"]));
    let (doppler_false, ecg_false) = (false_seconds(&doppler, "fhr2"), false_seconds(&ecg, "fhr2"));
    assert!(
        ecg_false < doppler_false && ecg_false > 0.0,
        "fhr2 false: {doppler_false} s as Doppler, {ecg_false} s as direct ECG"
    );
    assert_eq!(ecg["schema"], doppler["schema"]);
    let summary = crate::util::mimamori_ok(&["analyze", path, "--direct-ecg"]);
    assert!(
        summary
            .lines()
            .next()
            .unwrap()
            .contains("fetal channel fhr2 (direct ECG)"),
        "{summary}"
    );
    // FHR1 carries nothing in this file: all of it is signal loss.
    let fhr1 = report(&["--fetal-channel", "fhr1"]);
    assert_eq!(fhr1["signal_loss_percent"], 100.0);
    assert!(doppler["signal_loss_percent"].as_f64().unwrap() < 100.0);
    let out = mimamori(&["analyze", path, "--fetal-channel", "fhr9"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown fetal channel `fhr9`"), "{err}");
}

/// Reads an SVG with Python's XML parser (one nobody here wrote) and counts, per class, the
/// distinct findings drawn (`data-i`; a finding across two rows is drawn in both) and the
/// paths.
const SVG_CENSUS: &str = r#"
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = '{http://www.w3.org/2000/svg}'
found, paths, titles, low, toco_off, earlier = {}, [], 0, set(), set(), set()
for e in root.iter():
    cls = e.get('class')
    if e.tag == ns + 'title':
        titles += 1
    if not cls:
        continue
    if e.get('data-low-signal') == 'true':
        low.add(e.get('data-i'))
    title = e.find(ns + 'title')
    if cls == 'window' and title is not None and 'toco not recording' in (title.text or ''):
        toco_off.add(e.get('data-i'))
    if cls == 'window' and title is not None and (' carried' in title.text or ' assumed' in title.text):
        earlier.add(e.get('data-i'))
    if e.tag == ns + 'path':
        paths.append(cls)
    else:
        found.setdefault(cls.split()[0], set()).add(e.get('data-i'))
print(json.dumps({'found': {k: len(v) for k, v in found.items()}, 'paths': paths, 'titles': titles, 'low_signal_windows': len(low), 'toco_off_windows': len(toco_off), 'earlier_windows': len(earlier)}))
"#;

/// `--svg` draws every finding of the report beside the trace, as a well-formed SVG; the
/// JSON on stdout is the same as without it.
#[test]
fn analyze_draws_the_recording_and_its_findings_as_svg() {
    let dir = tempfile::tempdir().unwrap();
    for (file, with_mhr) in [
        ("ctu-uhb/wfdb/1001.hea", false),
        // The toco comes off at 60 minutes.
        ("ctu-uhb/wfdb/1283.hea", false),
        // Poorly recorded windows whose bands are carried from earlier ones.
        ("ctu-uhb/wfdb/1158.hea", false),
        ("fhrma-fs/DopMHR/Train/DopMHRTrain0003.fhrm", true),
    ] {
        let path = shared_data().join(file);
        let path = path.to_str().unwrap();
        let svg = dir.path().join("chart.svg");
        let json =
            crate::util::mimamori_ok(&["analyze", path, "--json", "--svg", svg.to_str().unwrap()]);
        assert_eq!(
            json,
            crate::util::mimamori_ok(&["analyze", path, "--json"]),
            "{file}"
        );
        let report: serde_json::Value = serde_json::from_str(&json).unwrap();
        let out = python()
            .arg("-c")
            .arg(SVG_CENSUS)
            .arg(&svg)
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let census: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let count = |key: &str| report[key].as_array().unwrap().len() as u64;
        let drawn = |class: &str| census["found"][class].as_u64().unwrap_or(0);
        assert_eq!(drawn("decel"), count("decelerations"), "{file}: {census}");
        assert_eq!(drawn("accel"), count("accelerations"), "{file}: {census}");
        assert_eq!(
            drawn("contraction"),
            count("contractions"),
            "{file}: {census}"
        );
        assert_eq!(drawn("window"), count("classification"), "{file}: {census}");
        let fetal_false = report["false_signal"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["channel"] != "mhr")
            .count() as u64;
        assert_eq!(drawn("false-signal"), fetal_false, "{file}: {census}");
        assert!(
            count("contractions") > 0 && count("classification") > 0,
            "{file}"
        );
        let paths: Vec<&str> = census["paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        for class in ["fhr", "baseline", "toco"] {
            assert!(paths.contains(&class), "{file}: {paths:?}");
        }
        assert_eq!(paths.contains(&"mhr"), with_mhr, "{file}: {paths:?}");
        // The summary and the chart name the same windows (`key`: the census's count).
        let summary = crate::util::mimamori_ok(&["analyze", path]);
        let same_as_chart = |key: &str, in_summary: u64| {
            assert_eq!(
                census[key].as_u64(),
                Some(in_summary),
                "{file} {key}: {summary}"
            )
        };
        // The windows too poorly recorded to classify firmly: the summary's signal column, the
        // chart's grey windows.
        let indicative = summary
            .lines()
            .filter(|l| l.ends_with("(indicative only)"))
            .count() as u64;
        same_as_chart("low_signal_windows", indicative);
        // And the windows whose toco recorded nothing readable for most of them: the
        // summary's toco column (the second percentage) below 50, the chart's label.
        let toco_off = summary
            .lines()
            .filter(|l| l.contains(" min "))
            .filter(|l| {
                let percents: Vec<f64> = l
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .windows(2)
                    .filter(|w| w[1] == "%")
                    .filter_map(|w| w[0].parse().ok())
                    .collect();
                percents.len() == 2 && percents[1] < 50.0
            })
            .count() as u64;
        if file.contains("1283") {
            assert!(toco_off >= 2, "{summary}");
        }
        same_as_chart("toco_off_windows", toco_off);
        // And the levels resting on a band an earlier window measured (or assumed): listed
        // under the table, named on the chart.
        let resting = summary
            .lines()
            .filter(|l| l.contains(" min  JSOG "))
            .count() as u64;
        if file.contains("1158") {
            assert!(
                resting >= 2 && summary.contains("variability marked carried"),
                "{summary}"
            );
            // Its 137-s acceleration is drawn as prolonged (the JSOG profile), the others not.
            let text = std::fs::read_to_string(&svg).unwrap();
            assert_eq!(
                text.matches("<title>prolonged acceleration +42 bpm, 137 s</title>")
                    .count(),
                1,
                "{file}"
            );
            assert_eq!(text.matches("<title>acceleration ").count(), 2, "{file}");
        }
        same_as_chart("earlier_windows", resting);
    }
    let out = mimamori(&[
        "analyze",
        shared_data()
            .join("ctu-uhb/wfdb/1001.hea")
            .to_str()
            .unwrap(),
        "--svg",
        "/nonexistent-dir/chart.svg",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot write /nonexistent-dir/chart.svg")
    );
}
