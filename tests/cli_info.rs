//! `mimamori info` and `mimamori convert` on real recordings.

use crate::util::{mimamori, mimamori_ok, shared_data};

#[test]
fn info_json_describes_a_ctu_uhb_record() {
    let path = shared_data().join("ctu-uhb/wfdb/1001.hea");
    let out = mimamori_ok(&["info", path.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "mimamori.info.v1");
    assert_eq!(v["source"], "1001");
    assert_eq!(v["samples"], 19200);
    assert_eq!(v["duration_s"], 4800.0);
    assert_eq!(v["fetal_channel"], "fhr1");
    assert_eq!(v["metadata"]["pH"], "7.14");
    let channels = v["channels"].as_array().unwrap();
    let names: Vec<_> = channels
        .iter()
        .map(|c| c["channel"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fhr1", "fhr2", "fhr3", "mhr", "ua"]);
    let fhr1 = &channels[0];
    assert_eq!(fhr1["present"], true);
    let loss = fhr1["signal_loss_percent"].as_f64().unwrap();
    assert!(loss > 0.0 && loss < 100.0, "{loss}");
    assert_eq!(channels[1]["present"], false);
}

#[test]
fn info_text_names_channels_and_loss() {
    let path = shared_data().join("fhrma-fs/ScalpECG/Train/ScalpTrain0001.fhrm");
    let out = mimamori_ok(&["info", path.to_str().unwrap()]);
    assert!(out.contains("ScalpTrain0001.fhrm (fhrma-fhrm)"), "{out}");
    assert!(out.contains("fetal channel: fhr2"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("fhr2") && l.contains("yes") && l.ends_with('%')),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("fhr3") && l.contains("none")),
        "{out}"
    );
}

#[test]
fn info_on_a_bad_file_says_which_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.fhr");
    std::fs::write(&bad, [0u8; 9]).unwrap();
    let out = mimamori(&["info", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.fhr") && err.contains("9 bytes"),
        "{err}"
    );
}

#[test]
fn convert_to_mmr_keeps_every_sample() {
    let dir = tempfile::tempdir().unwrap();
    let src = shared_data().join("ctu-uhb/wfdb/1002.hea");
    let mmr = dir.path().join("1002.mmr");
    let fhrm = dir.path().join("1002.fhrm");
    mimamori_ok(&["convert", src.to_str().unwrap(), mmr.to_str().unwrap()]);
    mimamori_ok(&["convert", mmr.to_str().unwrap(), fhrm.to_str().unwrap()]);
    let a = ctg_formats::read_recording(&src).unwrap();
    let b = ctg_formats::read_recording(&mmr).unwrap();
    let c = ctg_formats::read_recording(&fhrm).unwrap();
    assert_eq!(a.samples, b.samples);
    assert_eq!(a.metadata, b.metadata);
    let values =
        |r: &ctg_formats::Recording| r.samples.iter().map(|s| s.values).collect::<Vec<_>>();
    assert_eq!(values(&a), values(&c));
    // The compact format is smaller than the WFDB signal file it came from.
    let dat_len = std::fs::metadata(src.with_extension("dat")).unwrap().len();
    let mmr_len = std::fs::metadata(&mmr).unwrap().len();
    assert!(
        mmr_len * 2 < dat_len,
        ".mmr {mmr_len} B vs .dat {dat_len} B"
    );
}
