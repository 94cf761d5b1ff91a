//! Round trips and malformed input for every format, on synthetic data (the shared real
//! recordings are in `shared_data.rs`).

use std::path::Path;

use ctg_formats::compact::{decode_samples, encode_samples};
use ctg_formats::{Problem, Recording, RecordingFormat, fhrma, mmr, read_recording, wfdb};
use ctg_proto::model::{Channel, EventKind, Modes, Quality, Sample, StreamEvent, TransducerMode};
use proptest::prelude::*;

/// Runs of repeated samples, as real CTG has, mixed with changes.
fn samples() -> impl Strategy<Value = Vec<Sample>> {
    ctg_proto::strategies::sample_runs(60, 40)
}

fn recording(samples: Vec<Sample>) -> Recording {
    Recording {
        source: "synthetic".into(),
        format: RecordingFormat::Mmr,
        start_utc_ms: Some(1_768_473_000_000),
        modes: Modes([
            TransducerMode::Ultrasound,
            TransducerMode::NoTransducer,
            TransducerMode::NoTransducer,
            TransducerMode::Mecg,
            TransducerMode::ExternalToco,
        ]),
        samples,
        events: vec![StreamEvent {
            seq: 0,
            at_sample: 3,
            utc_ms: 1_768_473_000_750,
            kind: EventKind::Note {
                author: "midwife".into(),
                text: "体位変換".into(),
            },
        }],
        metadata: vec![("Gest. weeks".into(), "39".into())],
    }
}

proptest! {
    #[test]
    fn compact_roundtrip_is_identity(samples in samples()) {
        let mut bytes = Vec::new();
        encode_samples(&samples, &mut bytes);
        prop_assert_eq!(decode_samples(&bytes, samples.len()).unwrap(), samples);
    }

    #[test]
    fn compact_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), count in 0usize..5000) {
        let _ = decode_samples(&bytes, count);
    }

    #[test]
    fn mmr_roundtrip_is_identity(samples in samples()) {
        let rec = recording(samples);
        let back = mmr::parse(&mmr::write(&rec)).unwrap();
        prop_assert_eq!(back, rec);
    }

    #[test]
    fn mmr_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = mmr::parse(&bytes);
        let mut with_magic = mmr::MAGIC.to_vec();
        with_magic.extend(&bytes);
        let _ = mmr::parse(&with_magic);
    }

    #[test]
    fn fhrm_write_read_roundtrip(values in proptest::collection::vec((0u16..=1200, 0u16..=1200, 0u16..=1200, 0u16..=255), 0..200)) {
        let samples: Vec<Sample> = values.iter().map(|&(a, b, m, t)| Sample {
            values: [a, b, 0, m, t],
            quality: [
                if a == 0 { Quality::None } else { Quality::Unknown },
                if b == 0 { Quality::None } else { Quality::Unknown },
                Quality::None,
                if m == 0 { Quality::None } else { Quality::Unknown },
                if t == 0 { Quality::None } else { Quality::Unknown },
            ],
            fetal_movement: false,
        }).collect();
        let mut rec = recording(samples.clone());
        rec.modes = Modes::default();
        let back = fhrma::parse(&fhrma::write(&rec, true), true, "x.fhrm").unwrap();
        prop_assert_eq!(back.samples, samples);
    }

    #[test]
    fn wfdb_header_garbage_never_panics(text in "[ -~\n#()/+:]{0,300}", dat in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(h) = wfdb::parse_header(&text) {
            let _ = wfdb::parse(&h, &dat, "x");
        }
    }
}

#[test]
fn compact_is_small_for_a_typical_hour() {
    // One hour: FHR1 wandering ±1 bpm around 140, toco in slow contractions, MHR absent.
    let mut samples = Vec::new();
    let mut fhr = 560i32;
    for i in 0..14_400u32 {
        fhr += [0, 1, -1, 2, -2, 0, 1, -1][(i * 7 % 8) as usize];
        fhr = fhr.clamp(480, 640);
        let phase = (i % 1200) as f64 / 1200.0 * std::f64::consts::TAU;
        let toco = (20.0 + 30.0 * phase.sin().max(0.0)) as u16;
        samples.push(Sample {
            values: [fhr as u16, 0, 0, 0, toco],
            quality: [
                Quality::Good,
                Quality::None,
                Quality::None,
                Quality::None,
                Quality::Unknown,
            ],
            fetal_movement: false,
        });
    }
    let mut bytes = Vec::new();
    encode_samples(&samples, &mut bytes);
    assert!(
        bytes.len() < 40 * 1024,
        "an hour took {} bytes (budget 40 KiB)",
        bytes.len()
    );
}

#[test]
fn compact_truncation_is_an_error() {
    let samples = vec![
        Sample {
            values: [560, 0, 0, 0, 20],
            ..Sample::default()
        };
        10
    ];
    let mut bytes = Vec::new();
    encode_samples(&samples, &mut bytes);
    for cut in 0..bytes.len() {
        assert!(decode_samples(&bytes[..cut], 10).is_err(), "cut at {cut}");
    }
    assert!(decode_samples(&bytes, 11).is_err());
    let mut extra = bytes.clone();
    extra.push(0);
    assert!(decode_samples(&extra, 10).is_err());
}

/// Found by the `compact_samples` fuzz target: a delta token near `u64::MAX` overflowed.
#[test]
fn compact_huge_delta_is_an_error_not_an_overflow() {
    let bytes = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    assert!(decode_samples(&bytes, 1).is_err());
}

#[test]
fn mmr_detects_damage() {
    let rec = recording(vec![Sample::default(); 100]);
    let bytes = mmr::write(&rec);
    let mut flipped = bytes.clone();
    flipped[20] ^= 0x40;
    let err = mmr::parse(&flipped).unwrap_err().to_string();
    assert!(err.contains("checksum mismatch"), "{err}");
    let err = mmr::parse(&bytes[..bytes.len() - 10])
        .unwrap_err()
        .to_string();
    assert!(err.contains("checksum mismatch"), "{err}");
    let err = mmr::parse(b"hello").unwrap_err().to_string();
    assert!(err.contains("bad magic"), "{err}");
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn fhrma_wrong_sizes_name_the_file_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "bad.fhr", &[0; 4 + 6 * 3 + 2]);
    let err = read_recording(&p).unwrap_err().to_string();
    assert!(err.contains("bad.fhr"), "{err}");
    assert!(err.contains("whole 6-byte records"), "{err}");
    let p = write(dir.path(), "short.fhrm", &[0; 3]);
    let err = read_recording(&p).unwrap_err().to_string();
    assert!(
        err.contains("short.fhrm") && err.contains("3 bytes"),
        "{err}"
    );
    // An FHR above 300 bpm cannot come from a monitor.
    let mut bytes = vec![0; 4];
    bytes.extend([0xff, 0xff, 0, 0, 0, 0]);
    let p = write(dir.path(), "range.fhr", &bytes);
    let err = read_recording(&p).unwrap_err().to_string();
    assert!(err.contains("fhr1") && err.contains("65535"), "{err}");
}

#[test]
fn fhrma_reads_values_in_model_units() {
    let mut bytes = 0u32.to_le_bytes().to_vec();
    // FHR1 140.25 bpm (561), FHR2 none, MHR 80 bpm (320), TOCO 13.0 (26), flags Q1|isECG2.
    for v in [561u16, 0, 320] {
        bytes.extend(v.to_le_bytes());
    }
    bytes.extend([26, 0b0000_1001]);
    let rec = fhrma::parse(&bytes, true, "one.fhrm").unwrap();
    let s = rec.samples[0];
    assert_eq!(s.physical(Channel::Fhr1), Some(140.25));
    assert_eq!(s.physical(Channel::Fhr2), None);
    assert_eq!(s.physical(Channel::Mhr), Some(80.0));
    assert_eq!(s.physical(Channel::Ua), Some(13.0));
    assert_eq!(s.quality[0], Quality::Good);
    assert_eq!(rec.modes.get(Channel::Fhr2), TransducerMode::Decg);
}

const GOOD_HEADER: &str = "rec 2 4 3\nrec.dat 16 100(0)/bpm 12 0 14000 -23536 0 FHR\nrec.dat 16 100/nd 12 0 700 2100 0 UC\n#pH 7.14\n#Pos. II.st.  -1\n";

fn good_dat() -> Vec<u8> {
    let mut dat = Vec::new();
    for (fhr, uc) in [(14000i16, 700i16), (14025, 700), (0, 700)] {
        dat.extend(fhr.to_le_bytes());
        dat.extend(uc.to_le_bytes());
    }
    dat
}

#[test]
fn wfdb_reads_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    // GOOD_HEADER's FHR checksum is deliberately wrong; the right one is 14000 + 14025 + 0.
    let header = GOOD_HEADER.replace("-23536", "28025");
    let p = write(dir.path(), "rec.hea", header.as_bytes());
    write(dir.path(), "rec.dat", &good_dat());
    let rec = read_recording(&p).unwrap();
    assert_eq!(rec.samples.len(), 3);
    assert_eq!(rec.samples[0].physical(Channel::Fhr1), Some(140.0));
    assert_eq!(rec.samples[1].physical(Channel::Fhr1), Some(140.25));
    assert_eq!(rec.samples[2].physical(Channel::Fhr1), None);
    assert_eq!(rec.samples[0].physical(Channel::Ua), Some(7.0));
    assert_eq!(rec.metadata_value("pH"), Some("7.14"));
    assert_eq!(rec.metadata_value("Pos. II.st."), Some("-1"));
    assert_eq!(rec.source, "rec");
}

/// Writes `rec.hea` and `rec.dat` into `dir` and reads the record.
fn read_written(dir: &Path, header: &str, dat: &[u8]) -> Recording {
    let p = write(dir, "rec.hea", header.as_bytes());
    write(dir, "rec.dat", dat);
    read_recording(&p).unwrap()
}

/// The fetal heart rate of every sample, bpm (`None` for no signal).
fn fhr_of(rec: &Recording) -> Vec<Option<f64>> {
    rec.samples
        .iter()
        .map(|s| s.physical(Channel::Fhr1))
        .collect()
}

/// A record as other sources write it: a signal that is no CTG channel (an ECG) beside FHR and
/// UC, and heart rates finer than the model's quarter bpm. The ECG is read past and named in
/// the metadata; the rates are taken at the nearest quarter bpm, and counted.
#[test]
fn wfdb_reads_past_other_signals_and_rounds_finer_values() {
    let dir = tempfile::tempdir().unwrap();
    let header = "rec 3 4 3\nrec.dat 16 100(0)/bpm 12 0 14010 42045 0 FHR\nrec.dat 16 200/mV 12 0 5 -3 0 ECG\nrec.dat 16 100/nd 12 0 700 2100 0 UC\n";
    let mut dat = Vec::new();
    for (fhr, ecg, uc) in [(14010i16, 5i16, 700i16), (14035, -9, 700), (14000, 1, 700)] {
        for v in [fhr, ecg, uc] {
            dat.extend(v.to_le_bytes());
        }
    }
    let rec = read_written(dir.path(), header, &dat);
    assert_eq!(fhr_of(&rec), [Some(140.0), Some(140.25), Some(140.0)]);
    assert_eq!(rec.samples[1].physical(Channel::Ua), Some(7.0));
    assert_eq!(rec.metadata_value("Ignored signals"), Some("ECG"));
    assert_eq!(
        rec.metadata_value("Values rounded"),
        Some("2 to the nearest 1/4 bpm or 1/2 unit")
    );
}

/// Records at 2 Hz are held to 4 Hz (each sample twice), at 8 Hz decimated (every second
/// sample), and say so in their metadata.
#[test]
fn wfdb_records_at_other_rates_are_brought_to_4_hz() {
    let header = GOOD_HEADER.replace("-23536", "28025");
    for (rate, expected, said) in [
        (
            "2",
            vec![
                Some(140.0),
                Some(140.0),
                Some(140.25),
                Some(140.25),
                None,
                None,
            ],
            "from 2 Hz to 4 Hz (each sample held)",
        ),
        (
            "8",
            vec![Some(140.0), None],
            "from 8 Hz to 4 Hz (the first sample of each quarter second)",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let header = header.replace("rec 2 4 3", &format!("rec 2 {rate} 3"));
        let rec = read_written(dir.path(), &header, &good_dat());
        assert_eq!(fhr_of(&rec), expected, "{rate} Hz");
        assert_eq!(rec.metadata_value("Resampled"), Some(said));
    }
}

#[test]
fn wfdb_problems_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let header = GOOD_HEADER.replace("-23536", "28025");
    let cases: Vec<(&str, String, Vec<u8>, &str)> = vec![
        (
            "checksum",
            GOOD_HEADER.to_string(),
            good_dat(),
            "checksum is 28025 in the data but the header says -23536",
        ),
        (
            "first",
            header.replace("14000 28025", "14100 28025"),
            good_dat(),
            "first value is 14000 in the data but the header says 14100",
        ),
        (
            "truncated",
            header.clone(),
            good_dat()[..10].to_vec(),
            "whole frames of 2 signals in WFDB format 16",
        ),
        (
            "short",
            header.clone(),
            good_dat()[..8].to_vec(),
            "3 samples per signal as the header states",
        ),
        (
            "count",
            header.replace("rec 2 4 3", "rec x 4 3"),
            good_dat(),
            "header line 1: signal count `x` is not a number",
        ),
        (
            "lines",
            header.replace("rec 2 4 3", "rec 3 4 3"),
            good_dat(),
            "declares 3 signals but 2 signal lines follow",
        ),
        (
            "gain",
            header.replace("100(0)/bpm", "abc/bpm"),
            good_dat(),
            "header line 2: gain `abc` is not a number",
        ),
        (
            "format",
            header.replace("rec.dat 16 100/nd", "rec.dat 311 100/nd"),
            good_dat(),
            "stored in WFDB format 311 (formats 16, 61, 160, 80, 212, 24, 32 are read)",
        ),
        (
            "mixed",
            header.replace("rec.dat 16 100/nd", "rec.dat 212 100/nd"),
            good_dat(),
            "signals in one file stored in two formats (16 and 212)",
        ),
        (
            "rate",
            header.replace("rec 2 4 3", "rec 2 250 3"),
            good_dat(),
            "sampling frequency 250 Hz",
        ),
        (
            "name",
            header
                .replace(" FHR\n", " ECG\n")
                .replace(" UC\n", " Resp\n"),
            good_dat(),
            "no CTG signal among `ECG`, `Resp`",
        ),
    ];
    for (name, header, dat, expected) in cases {
        let sub = dir.path().join(name);
        std::fs::create_dir(&sub).unwrap();
        let p = write(&sub, "rec.hea", header.as_bytes());
        write(&sub, "rec.dat", &dat);
        let err = read_recording(&p).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(expected),
            "{name}: expected `{expected}` in `{text}`"
        );
        assert!(
            text.contains("rec."),
            "{name}: error names the file: {text}"
        );
    }
    let missing = dir.path().join("nothing.hea");
    let err = read_recording(&missing).unwrap_err().to_string();
    assert!(
        err.contains("nothing.hea") && err.contains("cannot read"),
        "{err}"
    );
}

#[test]
fn unknown_extension_is_refused() {
    let err = read_recording(Path::new("trace.csv")).unwrap_err();
    assert!(matches!(err.problem, Problem::UnknownFormat(_)));
    assert!(err.to_string().contains("trace.csv"));
}

#[test]
fn fetal_channel_prefers_decg_then_most_signal() {
    let mut rec = recording(vec![
        Sample {
            values: [0, 560, 0, 0, 0],
            ..Sample::default()
        };
        10
    ]);
    rec.modes = Modes::default();
    assert_eq!(rec.fetal_channel(), Channel::Fhr2);
    rec.samples[0].values[0] = 500;
    assert_eq!(rec.fetal_channel(), Channel::Fhr2);
    rec.modes.0[0] = TransducerMode::Decg;
    assert_eq!(rec.fetal_channel(), Channel::Fhr1);
}
