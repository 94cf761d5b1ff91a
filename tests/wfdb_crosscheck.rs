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

const FORMATS_SCRIPT: &str = r#"
import json, math, sys
import numpy as np, wfdb
folder = sys.argv[1]
n = 4 * 300 + 1  # an odd count: format 212's last three bytes hold one sample
t = np.arange(n) / 4
fhr = 140 + 12 * np.sin(t / 20)
fhr[400:440] = np.nan  # signal loss: each format's invalid sample
uc = 10 + 60 * np.maximum(0, np.sin(t / 45)) ** 4
signal = np.column_stack([fhr, uc])
def read_back(name):
    rec = wfdb.rdrecord(folder + '/' + name)
    return {s: [0 if math.isnan(v) else math.floor(v * (4 if s == 'FHR' else 2) + 0.5)
                for v in rec.p_signal[:, i]]
            for i, s in enumerate(rec.sig_name)}
out = {}
# The formats the package writes: (gain, baseline) so each signal fits the format's range.
for fmt, gain, baseline in [('16', [100, 100], [0, 0]), ('24', [1000, 1000], [0, 0]),
                            ('32', [1000, 1000], [0, 0]), ('80', [1, 1], [-140, -60])]:
    wfdb.wrsamp('f' + fmt, fs=4, units=['bpm', 'nd'], sig_name=['FHR', 'UC'], p_signal=signal,
                fmt=[fmt, fmt], adc_gain=gain, baseline=baseline, write_dir=folder)
    out[fmt] = read_back('f' + fmt)
# The formats it reads but does not write: the digital values (quarter bpm, half units)
# packed here by signal(5), then read back by the package, the reference.
d = np.round(np.nan_to_num(signal * [4, 2], nan=0)).astype(np.int64)
lost = np.isnan(signal)
for fmt, invalid in [('212', -2048), ('61', -32768), ('160', -32768)]:
    v = np.where(lost, invalid, d).reshape(-1)
    if fmt == '212':
        twelve = (v & 0xfff).astype(np.uint16)
        packed = bytearray()
        for k in range(0, len(twelve), 2):
            a = int(twelve[k])
            b = int(twelve[k + 1]) if k + 1 < len(twelve) else 0
            packed += bytes([a & 0xff, (a >> 8) | ((b >> 8) << 4)])
            if k + 1 < len(twelve):
                packed += bytes([b & 0xff])
        data = bytes(packed)
    elif fmt == '61':
        data = v.astype('>i2').tobytes()
    else:
        data = (v + 32768).astype('<u2').tobytes()
    open(f'{folder}/f{fmt}.dat', 'wb').write(data)
    per_signal = v.reshape(-1, 2)
    lines = [f'f{fmt} 2 4 {n}']
    for i, (name, gain, units) in enumerate([('FHR', 4, 'bpm'), ('UC', 2, 'nd')]):
        column = [int(x) for x in per_signal[:, i]]
        lines.append(f'f{fmt}.dat {fmt} {gain}/{units} 12 0 {column[0]} {sum(column) % 65536} 0 {name}')
    open(f'{folder}/f{fmt}.hea', 'w').write('\n'.join(lines) + '\n')
    out[fmt] = read_back('f' + fmt)
json.dump(out, sys.stdout)
"#;

/// Records in each storage format the reader takes, with a stretch of signal loss: 16, 24, 32
/// and 80 written by the `wfdb` package, 212 (with an odd sample count), 61 and 160 packed by
/// the script (the package reads them but does not write them). Every value is read as the
/// package reads it, and the loss as no signal.
#[test]
fn every_storage_format_is_read_as_the_wfdb_package_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = python_on(FORMATS_SCRIPT, dir.path());
    let reference: BTreeMap<String, BTreeMap<String, Vec<u16>>> =
        serde_json::from_str(&out).unwrap();
    assert_eq!(reference.len(), 7);
    for (format, signals) in &reference {
        let rec = ctg_formats::read_recording(&dir.path().join(format!("f{format}.hea")))
            .unwrap_or_else(|e| panic!("format {format}: {e}"));
        for (signal, channel) in [("FHR", Channel::Fhr1), ("UC", Channel::Ua)] {
            let ours: Vec<u16> = rec.samples.iter().map(|s| s.value(channel)).collect();
            assert_eq!(ours.len(), 1201, "format {format}, {signal}");
            let differ: Vec<usize> = (0..ours.len())
                .filter(|&i| ours[i] != signals[signal][i])
                .collect();
            assert!(
                differ.is_empty(),
                "format {format}, {signal}: {} samples differ, first at {:?}: ours {:?}, wfdb {:?}",
                differ.len(),
                differ.first(),
                differ.first().map(|&i| ours[i]),
                differ.first().map(|&i| signals[signal][i])
            );
        }
        // Not two readers agreeing on garbage: the trace is the 128-152 bpm wave written.
        assert!(
            rec.samples
                .iter()
                .map(|s| s.value(Channel::Fhr1))
                .filter(|&v| v != 0)
                .all(|v| (510..=610).contains(&v)),
            "format {format}: FHR values"
        );
        let lost = rec.samples[400..440].iter().all(|s| {
            s.value(Channel::Fhr1) == 0
                && s.quality[Channel::Fhr1.index()] == ctg_proto::model::Quality::None
        });
        assert!(lost, "format {format}: the invalid samples are signal loss");
    }
}
