//! `mimamori eval` on a data folder laid out like the shared one but holding recordings that are
//! not in it (another CTU-UHB record, FHRMA test files), one annotated record whose file is
//! missing and an annotation of an unknown dataset: the recordings beyond the shared data are
//! scored as holdout, nothing is dropped silently, and a missing annotation file leaves its
//! figures unmeasured (null, "n/a") instead of stopping the run.

use std::fs;
use std::path::Path;

use serde_json::{Value, json};

use crate::util::{mimamori_ok, python_on, shared_data};

fn copy(from: &Path, to: &Path) {
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    fs::copy(from, to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn write_json(path: &Path, value: &Value) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, serde_json::to_string(value).unwrap()).unwrap();
}

/// Builds the folder: CTU-UHB 1001 and 1002 (development), 1005 (holdout) and 1003 renamed
/// 9003 (not in the shared data); 1006 annotated and rated but absent; FHRMA-FS
/// `DopMHRTrain0001` plus `DopMHRTrain0002` as `DopMHR/Test/DopMHRTest0001`, and an entry of
/// an unknown dataset; FHRMA `train01` plus `train02` as `TestData/test01` (not where the
/// FHRMA files usually are: it is found by name).
fn build(shared: &Path, data: &Path) {
    let wfdb = shared.join("ctu-uhb/wfdb");
    for r in ["1001", "1002", "1005"] {
        for ext in ["hea", "dat"] {
            copy(
                &wfdb.join(format!("{r}.{ext}")),
                &data.join(format!("ctu-uhb/wfdb/{r}.{ext}")),
            );
        }
    }
    // 9003: the record and signal lines name the record and its signal file.
    let header: String = fs::read_to_string(wfdb.join("1003.hea"))
        .unwrap()
        .lines()
        .map(|l| match l.strip_prefix("1003") {
            Some(rest) => format!("9003{rest}\n"),
            None => format!("{l}\n"),
        })
        .collect();
    fs::write(data.join("ctu-uhb/wfdb/9003.hea"), header).unwrap();
    copy(&wfdb.join("1003.dat"), &data.join("ctu-uhb/wfdb/9003.dat"));

    let mut events = read_json(&shared.join("ctu-uhb/romagnoli2020_events.json"));
    let all = events["records"].as_object().unwrap().clone();
    let mut kept = serde_json::Map::new();
    for (from, to) in [
        ("1001", "1001"),
        ("1002", "1002"),
        ("1005", "1005"),
        ("1003", "9003"),
        ("1006", "1006"),
    ] {
        kept.insert(to.into(), all[from].clone());
    }
    events["records"] = Value::Object(kept);
    write_json(&data.join("ctu-uhb/romagnoli2020_events.json"), &events);

    let ratings =
        fs::read_to_string(shared.join("ctu-uhb/expert_evaluations_9obstetricians.csv")).unwrap();
    let mut lines = ratings.lines();
    let mut csv = format!("{}\n", lines.next().unwrap());
    for line in lines {
        let (record, rest) = line.split_once(',').unwrap();
        let renamed = match record {
            "1001" | "1002" | "1005" | "1006" => record,
            "1003" => "9003",
            _ => continue,
        };
        csv.push_str(&format!("{renamed},{rest}\n"));
    }
    fs::write(
        data.join("ctu-uhb/expert_evaluations_9obstetricians.csv"),
        csv,
    )
    .unwrap();

    let fs_dir = shared.join("fhrma-fs/DopMHR/Train");
    copy(
        &fs_dir.join("DopMHRTrain0001.fhrm"),
        &data.join("fhrma-fs/DopMHR/Train/DopMHRTrain0001.fhrm"),
    );
    copy(
        &fs_dir.join("DopMHRTrain0002.fhrm"),
        &data.join("fhrma-fs/DopMHR/Test/DopMHRTest0001.fhrm"),
    );
    let labels = read_json(&shared.join("fhrma-fs/expert_annotations.json"));
    let label = |name: &str| {
        labels
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["filename"] == name)
            .unwrap()
            .clone()
    };
    let mut test = label("DopMHRTrain0002.fhrm");
    test["filename"] = json!("DopMHRTest0001.fhrm");
    test["dataset"] = json!("DopMHRTest");
    let mut other = label("DopMHRTrain0003.fhrm");
    other["dataset"] = json!("SomeOtherSet");
    write_json(
        &data.join("fhrma-fs/expert_annotations.json"),
        &json!([label("DopMHRTrain0001.fhrm"), test, other]),
    );

    copy(
        &shared.join("fhrma/traindata/train01.fhr"),
        &data.join("fhrma/traindata/train01.fhr"),
    );
    copy(
        &shared.join("fhrma/traindata/train02.fhr"),
        &data.join("fhrma/TestData/test01.fhr"),
    );
    // WMFB's entries and one of the toolbox's other methods' (the other two are absent), for
    // train01 as it is and train02 renamed test01.
    let two_files = |entries: &Value| {
        let (mut train01, mut test01) = (entries[0].clone(), entries[1].clone());
        assert_eq!(train01["filename"], "train01.fhr");
        assert_eq!(test01["filename"], "train02.fhr");
        train01["filename"] = json!("train01.fhr");
        test01["filename"] = json!("test01.fhr");
        json!([train01, test01])
    };
    let mut wmfb = read_json(&shared.join("fhrma/method_analyses/WMFB.json"));
    wmfb["files"] = two_files(&wmfb["files"]);
    write_json(&data.join("fhrma/method_analyses/WMFB.json"), &wmfb);
    let ayres = read_json(&shared.join("fhrma/method_analyses/A_std.json"));
    write_json(
        &data.join("fhrma/method_analyses/A_std.json"),
        &two_files(&ayres),
    );
}

/// The folder of [`build`] in a fresh temporary directory: (the directory, the data folder,
/// where the eval's JSON goes).
fn built() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    build(&shared_data(), &data);
    let out = dir.path().join("eval.json");
    (dir, data, out)
}

/// `mimamori eval --data DATA --out OUT` with `extra` arguments: its output.
fn eval_with(data: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "eval",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    mimamori_ok(&args)
}

fn eval(data: &Path, out: &Path) -> (String, Value) {
    let stdout = eval_with(data, out, &[]);
    (stdout, read_json(out))
}

#[test]
fn recordings_beyond_the_shared_data_are_scored_as_holdout_and_nothing_is_dropped_silently() {
    let (_dir, data, out) = built();

    let (stdout, report) = eval(&data, &out);
    assert_eq!(report["schema"], "mimamori.eval.v1");
    assert_eq!(
        report["recordings"],
        json!({"ctu_uhb": 4, "fhrma_fs": 2, "fhrma_wmfb": 2}),
        "{report}"
    );
    let left_out: Vec<&str> = report["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(left_out.len(), 4, "{left_out:?}");
    for absent in ["MD_std.json", "W_std.json"] {
        assert!(
            left_out
                .iter()
                .any(|l| l.contains(absent) && l.contains("not there")),
            "{left_out:?}"
        );
    }
    assert!(
        left_out
            .iter()
            .any(|l| l.contains("1006") && l.contains("not there")),
        "{left_out:?}"
    );
    assert!(
        left_out.iter().any(|l| l.contains("SomeOtherSet")),
        "{left_out:?}"
    );
    assert!(stdout.contains("left out: 4"), "{stdout}");

    // Events against WMFB's: ours both ways and the one toolbox method present, over both
    // files; the absent methods measured on none (null, n/a).
    let wmfb_events = &report["all"]["events_vs_wmfb"];
    assert_eq!(wmfb_events["files"], 2, "{wmfb_events}");
    for source in ["ours", "ours_toolbox_rule", "A_std"] {
        assert_eq!(wmfb_events[source]["files"], 2, "{source}: {wmfb_events}");
        for kind in ["accelerations", "decelerations"] {
            let counts = &wmfb_events[source][kind];
            let f1 = counts["f1"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&f1), "{source} {kind}: {counts}");
            assert!(
                counts["reference"].as_u64().unwrap() > 0,
                "{source} {kind}: {counts}"
            );
        }
    }
    // The toolbox's reading finds at least as many events as ours (it asks less of them).
    for kind in ["accelerations", "decelerations"] {
        assert!(
            wmfb_events["ours_toolbox_rule"][kind]["ours"].as_u64()
                >= wmfb_events["ours"][kind]["ours"].as_u64(),
            "{wmfb_events}"
        );
    }
    assert_eq!(wmfb_events["MD_std"]["files"], 0, "{wmfb_events}");
    assert!(wmfb_events["MD_std"]["decelerations"]["f1"].is_null());
    assert_eq!(report["development"]["events_vs_wmfb"]["files"], 1);
    assert_eq!(report["holdout"]["events_vs_wmfb"]["files"], 1);
    let maeda = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("Maeda"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(maeda.contains("n/a"), "{maeda}");

    // Development: 1001 and 1002, train file 0001, train01. Holdout: 1005 and 9003 (a record
    // not in the shared data), the FHRMA-FS test file, test01.
    let part = |name: &str| &report[name];
    assert_eq!(part("development")["events"]["records"], 2);
    assert_eq!(part("holdout")["events"]["records"], 2);
    assert_eq!(part("all")["events"]["records"], 4);
    for name in ["development", "holdout"] {
        let p = part(name);
        assert!(
            p["false_signal_fetal"]["samples"].as_u64().unwrap() > 0,
            "{name}: {p}"
        );
        assert_eq!(p["baseline_vs_wmfb"]["files"], 1, "{name}: {p}");
        let f1 = p["events"]["decelerations"]["f1"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&f1), "{name}: {f1}");
    }
    // Each figure's 95 % interval over recordings beside it. A part of one recording has no
    // spread (every draw is that recording); the two FHRMA files together span from the one
    // baseline's MADI to the other's (draws of both copies of either lie at the ends).
    let figure = |name: &str, path: &str| part(name).pointer(path).unwrap().as_f64().unwrap();
    let ci = |name: &str, path: &str| -> [f64; 2] {
        serde_json::from_value(part(name).pointer(&format!("{path}_ci95")).unwrap().clone())
            .unwrap_or_else(|e| panic!("{name}{path}_ci95: {e}"))
    };
    for name in ["development", "holdout"] {
        for path in [
            "/baseline_vs_wmfb/madi_percent_median",
            "/false_signal_fetal/accuracy",
        ] {
            let v = figure(name, path);
            assert_eq!(ci(name, path), [v, v], "{name}{path}");
        }
    }
    let madi = "/baseline_vs_wmfb/madi_percent_median";
    let (a, b) = (figure("development", madi), figure("holdout", madi));
    assert_ne!(a, b);
    assert_eq!(ci("all", madi), [a.min(b), a.max(b)]);
    for path in [
        "/events/decelerations/f1",
        "/events/accelerations/f1",
        "/events/contractions/f1",
        "/events/deceleration_type_accuracy",
        "/false_signal_fetal/false_class_f1",
        "/classification_figo_vs_experts/kappa_quadratic",
    ] {
        let [lo, hi] = ci("all", path);
        assert!(lo <= hi && lo >= -1.0 && hi <= 1.0, "{path}: {lo}–{hi}");
    }
    assert_eq!(report["bootstrap"]["resamples"], 2000);
    let header = stdout.lines().next().unwrap();
    assert!(header.contains("95 % interval"), "{stdout}");
    // Per record, as CSV too: the four annotated records, adding up to the totals.
    let csv = fs::read_to_string(out.with_file_name("records.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 4, "{csv}");
    assert!(
        rows.iter().any(|r| r[0] == "9003" && r[1] == "holdout"),
        "{csv}"
    );
    let decel_matched: u64 = rows.iter().map(|r| r[6].parse::<u64>().unwrap()).sum();
    assert_eq!(
        decel_matched,
        part("all")["events"]["decelerations"]["matched"]
            .as_u64()
            .unwrap(),
        "{csv}"
    );
    let samples = |name: &str| {
        part(name)["false_signal_fetal"]["samples"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(samples("all"), samples("development") + samples("holdout"));

    // Without the false-signal labels the rest is still measured; those figures are null and
    // the table says n/a.
    fs::remove_file(data.join("fhrma-fs/expert_annotations.json")).unwrap();
    let (stdout, report) = eval(&data, &out);
    assert_eq!(report["recordings"]["fhrma_fs"], 0, "{report}");
    assert!(report["all"]["false_signal_fetal"]["accuracy"].is_null());
    assert!(
        report["left_out"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("expert_annotations.json")),
        "{report}"
    );
    let row = stdout
        .lines()
        .find(|l| l.starts_with("fetal false-signal accuracy"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        row.contains("n/a") && row.trim_end().ends_with('-'),
        "{row}"
    );
    assert!(report["all"]["events"]["decelerations"]["f1"].is_number());
    let svg = fs::read_to_string(out.with_extension("svg")).unwrap();
    assert!(svg.contains("n/a") && !svg.contains("NaN"), "{svg}");
}

/// `eval --chart RECORD`: one record as the eval scores it. Its counts (ours scored, the
/// expert's, matched, per kind of event) are the eval's own per-record row, and the chart
/// draws every expert mark and every finding of ours, matched alike on both sides, as Python's
/// XML parser reads it.
#[test]
fn a_record_chart_counts_as_the_eval_does_and_draws_both_sides() {
    let (_dir, data, out) = built();
    eval(&data, &out);
    let csv = fs::read_to_string(out.with_file_name("records.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for row in csv.lines().skip(1) {
        let row: Vec<&str> = row.split(',').collect();
        let record = row[0];
        let stdout = eval_with(&data, &out, &["--chart", record]);
        for (kind, line) in [
            ("accel", "accelerations"),
            ("decel", "decelerations"),
            ("contraction", "contractions"),
        ] {
            let line = stdout
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{line}:")))
                .unwrap_or_else(|| panic!("{record}: {stdout}"));
            let expected = format!(
                "({} scored), the expert's {}, matched {}",
                row[column(&format!("{kind}_ours"))],
                row[column(&format!("{kind}_expert"))],
                row[column(&format!("{kind}_matched"))],
            );
            assert!(
                line.contains(&expected),
                "{record}: `{line}` lacks `{expected}`"
            );
        }
        let svg = out.with_file_name(format!("chart-{record}.svg"));
        let census = python_on(
            r#"
import json, sys, xml.etree.ElementTree as ET
seen = {}
for e in ET.parse(sys.argv[1]).getroot().iter():
    cls = (e.get('class') or '').split()
    if not cls or e.get('data-i') is None:
        continue
    side = 'hers' if cls[0] == 'mark' else 'ours'
    kind = cls[1] if side == 'hers' else cls[0]
    seen.setdefault(f'{side} {kind}', {})[e.get('data-i')] = e.get('data-matched')
print(json.dumps({k: [len(v), sum(m == 'yes' for m in v.values())] for k, v in seen.items()}))
"#,
            &svg,
        );
        let census: Value = serde_json::from_str(&census).unwrap();
        for kind in ["accel", "decel", "contraction"] {
            let (hers, ours) = (
                &census[format!("hers {kind}")],
                &census[format!("ours {kind}")],
            );
            // One to one: as many of hers matched as of ours (flagged marks included).
            assert_eq!(
                hers[1].as_u64().unwrap_or(0),
                ours[1].as_u64().unwrap_or(0),
                "{record} {kind}: {census}"
            );
            let matched: u64 = row[column(&format!("{kind}_matched"))].parse().unwrap();
            assert!(
                hers[1].as_u64().unwrap_or(0) >= matched,
                "{record} {kind}: {census}"
            );
            assert!(
                hers[0].as_u64().unwrap_or(0)
                    >= row[column(&format!("{kind}_expert"))].parse().unwrap(),
                "{record} {kind}: {census}"
            );
        }
    }
}

/// `eval --chart FILE` on an FHRMA-FS file: its false-signal counts are the eval's (the
/// development part holds one such file here, the holdout another), and the chart draws every
/// expert label.
#[test]
fn a_false_signal_chart_counts_as_the_eval_does() {
    let (_dir, data, out) = built();
    let (_, report) = eval(&data, &out);
    for (file, part) in [
        ("DopMHRTrain0001", "development"),
        ("DopMHRTest0001", "holdout"),
    ] {
        let stdout = eval_with(&data, &out, &["--chart", file]);
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with("fetal (fhr1):"))
            .unwrap_or_else(|| panic!("{file}: {stdout}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        let samples: u64 = words[2].parse().unwrap();
        let accuracy: f64 = words[9].trim_end_matches(';').parse().unwrap();
        let scored = &report[part]["false_signal_fetal"];
        assert_eq!(Some(samples), scored["samples"].as_u64(), "{file}: {line}");
        assert!(
            (accuracy - scored["accuracy"].as_f64().unwrap()).abs() < 0.0005,
            "{file}: {line} against {scored}"
        );
        let svg = out.with_file_name(format!("chart-{file}.svg"));
        let drawn = python_on(
            "import sys, xml.etree.ElementTree as ET\n\
                 n = {}\n\
                 for e in ET.parse(sys.argv[1]).getroot().iter():\n\
                 \x20   c = e.get('class')\n\
                 \x20   if c in ('label-true', 'label-false'): n.setdefault(c, set()).add(e.get('data-i'))\n\
                 print(len(n.get('label-true', ())), len(n.get('label-false', ())))",
            &svg,
        );
        let labels = read_json(&data.join("fhrma-fs/expert_annotations.json"));
        let entry = labels
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["filename"] == format!("{file}.fhrm"))
            .unwrap();
        let count = |key: &str| entry[key].as_array().unwrap().len();
        assert_eq!(
            drawn.trim(),
            format!("{} {}", count("TS_FHR"), count("FS_FHR")),
            "{file}"
        );
    }
}

/// `eval --set … --paired`: each bar's figure with the override and with the defaults on the
/// same recordings, and the difference's interval. A parameter of one stage moves only that
/// stage's figures; the others are the same to the last digit, with no spread.
#[test]
fn a_paired_run_compares_an_override_with_the_defaults_on_the_same_recordings() {
    let (_dir, data, out) = built();
    let (_, defaults) = eval(&data, &out);
    let stdout = eval_with(
        &data,
        &out,
        &["--set", "contraction.min_amplitude=8", "--paired"],
    );
    let report = read_json(&out);
    let paired = &report["paired"];
    assert_eq!(paired["changed"], json!(["contraction.min_amplitude=8"]));
    assert_eq!(paired["reference"], json!([]));
    let row = |part: &str, figure: &str| -> Value {
        paired[part]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["figure"] == figure)
            .unwrap_or_else(|| panic!("{part} {figure}: {paired}"))
            .clone()
    };
    for part in ["all", "development", "holdout"] {
        assert_eq!(paired[part].as_array().unwrap().len(), 10, "{paired}");
        // The reference is the defaults' run, the changed figure this run's.
        let contraction = row(part, "/events/contractions/f1");
        assert_eq!(
            contraction["reference"], defaults[part]["events"]["contractions"]["f1"],
            "{part}"
        );
        assert_eq!(
            contraction["changed"], report[part]["events"]["contractions"]["f1"],
            "{part}"
        );
        // Toco thresholds change nothing of the fetal heart rate's false signal or baseline.
        for figure in [
            "/false_signal_fetal/accuracy",
            "/baseline_vs_wmfb/madi_percent_median",
            "/events/decelerations/f1",
        ] {
            let r = row(part, figure);
            assert_eq!(r["difference"], 0.0, "{part} {figure}: {r}");
            assert_eq!(
                r["difference_ci95"],
                json!([0.0, 0.0]),
                "{part} {figure}: {r}"
            );
        }
    }
    // Smaller rises count as contractions: more of ours on the four records.
    assert!(
        report["all"]["events"]["contractions"]["ours"].as_u64()
            > defaults["all"]["events"]["contractions"]["ours"].as_u64()
    );
    let contraction = row("all", "/events/contractions/f1");
    let [lo, hi]: [f64; 2] =
        serde_json::from_value(contraction["difference_ci95"].clone()).unwrap();
    let d = contraction["difference"].as_f64().unwrap();
    assert!(lo <= d && d <= hi && lo < hi, "{contraction}");
    assert!(
        stdout.contains("with contraction.min_amplitude=8 against the defaults"),
        "{stdout}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("fetal false-signal accuracy") && l.contains("no change"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("+0.000"), "{line}");
}
