//! Cross-check of the WFDB reader against PhysioNet's reference implementation, the `wfdb`
//! Python package (installed by the test script), on every CTU-UHB record.
//!
//! Python reads each record's physical values; both sides reduce every channel to its sample
//! count, sum and position-weighted sum in model units (quarter bpm, half units), which any
//! difference in a value, its position or the record length changes.

use std::collections::BTreeMap;

use ctg_proto::model::Channel;

use crate::util::{python, python_on, shared_data};

const SCRIPT: &str = r#"
import json, os, sys
import wfdb
folder = sys.argv[1]
out = {}
for name in sorted(f[:-4] for f in os.listdir(folder) if f.endswith('.hea')):
    rec = wfdb.rdrecord(os.path.join(folder, name))
    digest = {}
    for i, sig in enumerate(rec.sig_name):
        scale = 4 if sig == 'FHR' else 2
        q = [int(round(v * scale)) for v in rec.p_signal[:, i]]
        digest[sig] = [len(q), sum(q), sum((k + 1) * v for k, v in enumerate(q))]
    out[name] = digest
json.dump(out, sys.stdout)
"#;

#[test]
fn wfdb_reader_agrees_with_physionet_wfdb_package() {
    let folder = shared_data().join("ctu-uhb/wfdb");
    let out = python()
        .arg("-c")
        .arg(SCRIPT)
        .arg(&folder)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "the PhysioNet `wfdb` Python package is needed (the README's test command installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: BTreeMap<String, BTreeMap<String, [u128; 3]>> =
        serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reference.len(), 415);
    for (name, signals) in &reference {
        let rec = ctg_formats::read_recording(&folder.join(format!("{name}.hea")))
            .unwrap_or_else(|e| panic!("{e}"));
        for (signal, channel) in [("FHR", Channel::Fhr1), ("UC", Channel::Ua)] {
            let ours = rec
                .samples
                .iter()
                .enumerate()
                .fold([0u128; 3], |acc, (k, s)| {
                    let v = u128::from(s.value(channel));
                    [acc[0] + 1, acc[1] + v, acc[2] + (k as u128 + 1) * v]
                });
            assert_eq!(ours, signals[signal], "record {name}, signal {signal}");
        }
    }
}

const WRITE_SCRIPT: &str = r#"
import json, math, sys
import numpy as np, wfdb
folder = sys.argv[1]
n = 4 * 600
t = np.arange(n) / 4
fhr = 140 + 10 * np.sin(t / 30) + np.random.default_rng(1).normal(0, 0.3, n)
ecg = np.sin(t)
uc = 20 + 30 * np.maximum(0, np.sin(t / 60)) ** 4
wfdb.wrsamp('other', fs=4, units=['bpm', 'mV', 'nd'], sig_name=['FHR', 'ECG', 'UC'],
            p_signal=np.column_stack([fhr, ecg, uc]), fmt=['16', '16', '16'],
            adc_gain=[100, 200, 100], baseline=[0, 0, 0], write_dir=folder)
rec = wfdb.rdrecord(folder + '/other')
# Halves away from zero, as the reader rounds (Python's round() would take halves to even).
out = {s: [math.floor(v * (4 if s == 'FHR' else 2) + 0.5) for v in rec.p_signal[:, i]]
       for i, s in enumerate(rec.sig_name) if s != 'ECG'}
json.dump(out, sys.stdout)
"#;

/// A record the `wfdb` package writes as other sources do: an ECG beside FHR and UC, heart
/// rates in hundredths of a bpm, checksums written unsigned. It is read (the ECG named as
/// ignored), every value the package reads back at the nearest quarter bpm or half unit.
#[test]
fn a_record_the_wfdb_package_writes_with_another_signal_and_finer_values_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let out = python_on(WRITE_SCRIPT, dir.path());
    let reference: BTreeMap<String, Vec<u16>> = serde_json::from_str(&out).unwrap();
    let rec = ctg_formats::read_recording(&dir.path().join("other.hea")).unwrap();
    assert_eq!(rec.metadata_value("Ignored signals"), Some("ECG"));
    assert!(rec.metadata_value("Values rounded").is_some());
    for (signal, channel) in [("FHR", Channel::Fhr1), ("UC", Channel::Ua)] {
        let ours: Vec<u16> = rec.samples.iter().map(|s| s.value(channel)).collect();
        assert_eq!(ours.len(), reference[signal].len(), "{signal}");
        let differ: Vec<usize> = (0..ours.len())
            .filter(|&i| ours[i] != reference[signal][i])
            .collect();
        assert!(
            differ.is_empty(),
            "{signal}: {} samples differ, first at {:?}",
            differ.len(),
            differ.first()
        );
    }
}
