//! Cross-check of the WFDB reader against PhysioNet's reference implementation, the `wfdb`
//! Python package (installed by the test script), on every CTU-UHB record.
//!
//! Python reads each record's physical values; both sides reduce every channel to its sample
//! count, sum and position-weighted sum in model units (quarter bpm, half units), which any
//! difference in a value, its position or the record length changes.

use std::collections::BTreeMap;

use ctg_proto::model::Channel;

use crate::util::{python, shared_data};

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
