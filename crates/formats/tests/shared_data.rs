//! Every real recording in `../shared/data` reads, and CTU-UHB records verify against their
//! headers (sample count, first value and checksum, checked inside the reader) and against the
//! dataset's own tables.
//!
//! The data lives beside the repository (`../shared/data`, or `MIMAMORI_SHARED_DATA`). Without it
//! these tests fail with a message saying where they looked, rather than passing silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ctg_formats::{RecordingFormat, read_recording};
use ctg_proto::model::Channel;

fn shared_data() -> PathBuf {
    ctg_formats::shared_data_dir().unwrap_or_else(|e| panic!("{e}"))
}

fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    ctg_formats::find_recordings(dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect()
}

/// Reads `outcomes_from_headers.csv` into record → (column → value).
fn outcomes(data: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let text = std::fs::read_to_string(data.join("ctu-uhb/outcomes_from_headers.csv")).unwrap();
    let mut lines = text.lines();
    let columns: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            let row: BTreeMap<String, String> = columns
                .iter()
                .zip(&cells)
                .map(|(c, v)| (c.to_string(), v.to_string()))
                .collect();
            (row["record"].clone(), row)
        })
        .collect()
}

#[test]
fn every_ctu_uhb_record_reads_and_verifies() {
    let data = shared_data();
    let headers = files_with_extension(&data.join("ctu-uhb/wfdb"), "hea");
    let table = outcomes(&data);
    let events: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("ctu-uhb/romagnoli2020_events.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(headers.len(), 415, "CTU-UHB records in the shared data");
    let mut total_samples = 0usize;
    for hea in &headers {
        let rec = read_recording(hea).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rec.format, RecordingFormat::Wfdb);
        let row = &table[&rec.source];
        assert_eq!(
            rec.samples.len().to_string(),
            row["n_samples"],
            "{}: sample count vs the outcomes table",
            rec.source
        );
        assert_eq!(
            rec.metadata_value("Pos. II.st."),
            Some(row["Pos. II.st."].as_str()),
            "{}: header metadata",
            rec.source
        );
        assert_eq!(
            events["records"][&rec.source]["record_samples"].as_u64(),
            Some(rec.samples.len() as u64),
            "{}: sample count vs the event annotations",
            rec.source
        );
        // FHR1 carries the FHR and UC the contractions; nothing else.
        assert_eq!(rec.fetal_channel(), Channel::Fhr1, "{}", rec.source);
        let summaries = rec.channel_summaries();
        assert!(summaries[Channel::Fhr1.index()].present(), "{}", rec.source);
        for c in [Channel::Fhr2, Channel::Fhr3, Channel::Mhr] {
            assert!(!summaries[c.index()].present(), "{}", rec.source);
        }
        total_samples += rec.samples.len();
    }
    // 511 h in total per the data README.
    let hours = total_samples as f64 / 4.0 / 3600.0;
    assert!((510.0..512.0).contains(&hours), "{hours} h");
    eprintln!(
        "CTU-UHB: {} records, {total_samples} samples ({hours:.1} h) read and verified",
        headers.len()
    );
}

#[test]
fn every_fhrma_file_reads() {
    let data = shared_data();
    let fhr = files_with_extension(&data.join("fhrma"), "fhr");
    let fhrm = files_with_extension(&data.join("fhrma-fs"), "fhrm");
    assert_eq!(fhr.len(), 66, ".fhr files");
    assert_eq!(fhrm.len(), 779, ".fhrm files");
    let mut fhr2_fetal = Vec::new();
    let (mut fhr1_present, mut fhr2_present) = (0, 0);
    for path in fhr.iter().chain(&fhrm) {
        let rec = read_recording(path).unwrap_or_else(|e| panic!("{e}"));
        let expected_len = (std::fs::metadata(path).unwrap().len() - 4)
            / if rec.format == RecordingFormat::Fhr {
                6
            } else {
                8
            };
        assert_eq!(rec.samples.len() as u64, expected_len);
        if rec.format == RecordingFormat::Fhr {
            let summaries = rec.channel_summaries();
            fhr1_present += usize::from(summaries[Channel::Fhr1.index()].present());
            fhr2_present += usize::from(summaries[Channel::Fhr2.index()].present());
        }
        if rec.fetal_channel() == Channel::Fhr2 {
            fhr2_fetal.push(rec.source.clone());
        }
    }
    // The data README: FHR1 carries a signal in 64 .fhr files and FHR2 in 7; the FHR is in FHR2
    // in all 188 scalp-ECG .fhrm files and in FHR1 in every Doppler one.
    assert_eq!((fhr1_present, fhr2_present), (64, 7));
    let train_fhr2: Vec<_> = fhr2_fetal
        .iter()
        .filter(|s| s.starts_with("train"))
        .collect();
    for only_fhr2 in ["train40.fhr", "train57.fhr"] {
        assert!(train_fhr2.iter().any(|s| *s == only_fhr2), "{only_fhr2}");
    }
    let scalp = fhr2_fetal.iter().filter(|s| s.starts_with("Scalp")).count();
    assert_eq!(scalp, 188, "scalp-ECG files whose fetal channel is FHR2");
    assert!(!fhr2_fetal.iter().any(|s| s.starts_with("DopMHR")));
    eprintln!(
        "FHRMA: {} .fhr and {} .fhrm files read",
        fhr.len(),
        fhrm.len()
    );
}
