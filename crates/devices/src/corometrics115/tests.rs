use proptest::prelude::*;

use super::*;

/// Everything a host makes of `bytes`, fed in `chunk`-byte pieces 100 ms apart, then a quiet
/// line (so what is held comes out).
fn host_output(bytes: &[u8], chunk: usize) -> (Vec<DeviceOutput>, Corometrics115Host) {
    let mut host = Corometrics115Host::new();
    let mut out = Vec::new();
    let mut now = 0;
    for piece in bytes.chunks(chunk.max(1)) {
        host.receive(piece, now, &mut out);
        host.tick(now, &mut out);
        now += 100;
    }
    host.tick(now + FLUSH_AFTER_MS, &mut out);
    (out, host)
}

fn samples_of(out: &[DeviceOutput]) -> Vec<Sample> {
    out.iter()
        .filter_map(|o| match o {
            DeviceOutput::Ctg(block) => Some(block.samples.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn sample(fhr1_bpm: u16, fhr2_bpm: u16, ua_units: Option<u16>, movement: bool) -> Sample {
    let mut s = Sample::default();
    s.values[Channel::Fhr1.index()] = fhr1_bpm * 4;
    s.values[Channel::Fhr2.index()] = fhr2_bpm * 4;
    s.quality[Channel::Fhr1.index()] = if fhr1_bpm == 0 {
        Quality::None
    } else {
        Quality::Unknown
    };
    s.quality[Channel::Fhr2.index()] = if fhr2_bpm == 0 {
        Quality::None
    } else {
        Quality::Unknown
    };
    s.quality[Channel::Fhr3.index()] = Quality::None;
    s.quality[Channel::Mhr.index()] = Quality::None;
    match ua_units {
        Some(ua) => s.values[Channel::Ua.index()] = ua * 2,
        None => s.quality[Channel::Ua.index()] = Quality::None,
    }
    s.fetal_movement = movement;
    s
}

/// The manuals' two examples (protocols.md §3.2): HR1 = 140 bpm, and uterine activity
/// pen-lift.
#[test]
fn the_manuals_example_records_read_and_write_byte_for_byte() {
    let hr = [0x39, 0x60, 0x30, 0x31, 0x34, 0x30, 0x03];
    let ua = [0x39, 0x61, 0x30, 0x31, 0x32, 0x38, 0x03];
    let mut decoder = RecordDecoder::new();
    let mut records = Vec::new();
    decoder.push(&hr, &mut records);
    decoder.push(&ua, &mut records);
    let expected = [
        Record {
            kind: RecordType::HeartRate1,
            data: b"140".to_vec(),
        },
        Record {
            kind: RecordType::UterineActivity,
            data: b"128".to_vec(),
        },
    ];
    assert_eq!(
        records,
        expected.iter().cloned().map(Ok).collect::<Vec<_>>()
    );
    assert_eq!(expected[0].encode(), hr);
    assert_eq!(expected[1].encode(), ua);
    assert_eq!(
        Record::numeric(RecordType::UterineActivity, 128).encode(),
        ua
    );
    assert_eq!(decoder.stats().records, 2);
}

/// A second from the simulated monitor (both heart rates, movement, 8 Hz uterine activity,
/// pen-lifts) comes out as one block of four grid samples, values in the protocol's whole
/// units, pen-lift as no signal, with the connection announced first.
#[test]
fn a_second_of_records_is_one_block_of_four_samples() {
    let second = [
        sample(140, 152, Some(10), false),
        sample(141, 0, Some(12), true),
        sample(0, 153, None, false),
        sample(142, 154, Some(0), false),
    ];
    let mut monitor = Corometrics115Monitor::new();
    let bytes = monitor.second(&second, true);
    let mut host = Corometrics115Host::new();
    let mut out = Vec::new();
    host.receive(&bytes, 0, &mut out);
    // The last sample waits for the next heart rate 1 (or a quiet line).
    assert_eq!(samples_of(&out), vec![]);
    host.receive(&monitor.second(&second, true), 1000, &mut out);
    assert!(matches!(
        out[0],
        DeviceOutput::Event(EventKind::DeviceConnected(DeviceInfo {
            protocol: DeviceProtocol::Corometrics115,
            ..
        }))
    ));
    let blocks: Vec<&NormalisedBlock> = out
        .iter()
        .filter_map(|o| match o {
            DeviceOutput::Ctg(b) => Some(b),
            _ => None,
        })
        .collect();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].samples, second);
    assert_eq!(
        blocks[0].modes.get(Channel::Fhr1),
        ctg_proto::model::TransducerMode::Unknown
    );
    let stats = host.stats();
    assert_eq!(stats.mode_records, 1);
    assert_eq!(stats.link.bad_records, 0);
    assert_eq!(stats.oddities, Oddities::default());
}

/// Garbage, a record broken off by the next one, a heart rate with a letter in it and an
/// endless annotation: each is counted and dropped, and the records after it are read.
#[test]
fn line_noise_is_counted_and_the_next_records_are_read() {
    let good = |v: u16| Record::numeric(RecordType::HeartRate1, v).encode();
    let mut bytes = Vec::new();
    bytes.extend(good(130));
    bytes.extend([0x00, 0xFF, 0x55, 0x12]); // garbage
    bytes.extend(good(131));
    bytes.extend(&good(132)[..4]); // broken off after one digit
    bytes.extend(good(133));
    bytes.extend(b"9`01X3\x03"); // a letter in a heart rate
    bytes.extend(good(134));
    bytes.extend(b"9c0");
    bytes.extend(std::iter::repeat_n(b'A', 500)); // an annotation with no end
    bytes.extend([ETX]);
    bytes.extend(good(135));
    bytes.extend(good(136));
    for chunk in [1, 3, 7, bytes.len()] {
        let (out, host) = host_output(&bytes, chunk);
        let fhr1: Vec<u16> = samples_of(&out)
            .iter()
            .map(|s| s.value(Channel::Fhr1) / 4)
            .collect();
        assert_eq!(
            fhr1,
            vec![130, 131, 133, 134, 135, 136],
            "chunks of {chunk}"
        );
        let stats = host.stats();
        assert_eq!(stats.link.bad_records, 3, "chunks of {chunk}: {stats:?}");
        assert!(stats.link.resyncs >= 2, "chunks of {chunk}: {stats:?}");
        assert!(
            out.iter()
                .filter(|o| matches!(o, DeviceOutput::Problem(_)))
                .count()
                >= 3
        );
    }
}

/// A monitor that sends no heart rate 1 (a uterine-activity-only set-up, or HR2 alone) is
/// clocked by what it sends: a sample per two uterine-activity values, or per heart rate 2.
#[test]
fn without_heart_rate_1_the_grid_follows_the_other_records() {
    let mut bytes = Vec::new();
    for k in 0..8u16 {
        for _ in 0..2 {
            bytes.extend(Record::numeric(RecordType::UterineActivity, 20 + k).encode());
        }
    }
    let (out, _) = host_output(&bytes, 5);
    let ua: Vec<u16> = samples_of(&out)
        .iter()
        .map(|s| s.value(Channel::Ua) / 2)
        .collect();
    assert_eq!(ua, (20..28).collect::<Vec<_>>());

    let mut bytes = Vec::new();
    for k in 0..6u16 {
        bytes.extend(Record::numeric(RecordType::HeartRate2, 140 + k).encode());
    }
    let (out, _) = host_output(&bytes, 5);
    let samples = samples_of(&out);
    let fhr2: Vec<u16> = samples.iter().map(|s| s.value(Channel::Fhr2) / 4).collect();
    assert_eq!(fhr2, (140..146).collect::<Vec<_>>());
    assert!(samples.iter().all(|s| s.value(Channel::Fhr1) == 0));
}

/// What is held goes out once the line has been quiet a second (a monitor switched off
/// mid-second), and the request is sent at the start and again only after 3 s of silence,
/// with and without annotations in turn.
#[test]
fn a_quiet_line_flushes_and_brings_the_request_again() {
    let mut host = Corometrics115Host::new();
    let mut out = Vec::new();
    assert_eq!(host.poll_transmit(0), request(true));
    assert_eq!(request(true), b"9`abcdefg\x03");
    assert_eq!(
        request(false),
        b"9`abdefg\x03",
        "without the 120 series' annotations"
    );
    let mut monitor = Corometrics115Monitor::new();
    let second = [sample(140, 0, Some(5), false); 4];
    host.receive(&monitor.second(&second, false), 100, &mut out);
    host.tick(500, &mut out);
    assert!(host.poll_transmit(500).is_empty());
    assert_eq!(
        samples_of(&out).len(),
        0,
        "the fourth sample waits for the next record, and the block for it"
    );
    host.tick(1_100, &mut out);
    assert_eq!(samples_of(&out).len(), 4, "flushed after a quiet second");
    assert!(host.poll_transmit(3_000).is_empty());
    // No record since 0.1 s: asked again at 4.2 s, without annotations (a 170 series may have
    // found `c` wrong and answered nothing), then 3 s later with them.
    assert_eq!(host.poll_transmit(4_200), request(false));
    assert!(host.poll_transmit(4_300).is_empty());
    assert_eq!(host.poll_transmit(7_300), request(true));
    assert_eq!(host.stats().requests, 3);
}

/// The Mark key and an annotation become a marker and a note; paper out is counted.
#[test]
fn marks_and_annotations_are_events() {
    let mut monitor = Corometrics115Monitor::new();
    monitor.mark();
    monitor.annotate("Epidural 2 mg");
    let mut bytes = monitor.second(&[sample(140, 0, Some(5), false)], false);
    bytes.extend(Record::numeric(RecordType::PaperOut, 1).encode());
    let (out, host) = host_output(&bytes, 4);
    let events: Vec<&EventKind> = out
        .iter()
        .filter_map(|o| match o {
            DeviceOutput::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    assert!(matches!(events[1], EventKind::Marker), "{events:?}");
    assert!(
        matches!(events[2], EventKind::Note { text, .. } if text == "Epidural 2 mg"),
        "{events:?}"
    );
    assert_eq!(host.stats().paper_out, 1);
}

fn arbitrary_sample() -> impl Strategy<Value = Sample> {
    (
        prop_oneof![Just(0u16), 50u16..=240],
        prop_oneof![Just(0u16), 50u16..=240],
        prop_oneof![Just(None), (0u16..=127).prop_map(Some)],
        any::<bool>(),
    )
        .prop_map(|(a, b, ua, m)| sample(a, b, ua, m))
}

proptest! {
    /// Whatever the samples and however the line cuts the bytes, the host rebuilds the
    /// monitor's grid sample for sample.
    #[test]
    fn the_monitor_s_samples_come_back_sample_for_sample(
        samples in proptest::collection::vec(arbitrary_sample(), 1..40),
        with_hr2 in any::<bool>(),
        chunk in 1usize..64,
    ) {
        let mut monitor = Corometrics115Monitor::new();
        let mut bytes = Vec::new();
        for second in samples.chunks(4) {
            bytes.extend(monitor.second(second, with_hr2));
        }
        let (out, host) = host_output(&bytes, chunk);
        let expected: Vec<Sample> = samples
            .iter()
            .map(|s| {
                let mut s = *s;
                if !with_hr2 {
                    s.values[Channel::Fhr2.index()] = 0;
                    s.quality[Channel::Fhr2.index()] = Quality::None;
                }
                s
            })
            .collect();
        prop_assert_eq!(samples_of(&out), expected);
        prop_assert_eq!(host.stats().oddities, Oddities::default());
    }

    /// Random bytes never panic the host, and what it holds stays bounded.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4000)) {
        let (out, host) = host_output(&bytes, 97);
        prop_assert!(host.decoder.data.len() <= MAX_DATA);
        for block in samples_of(&out).chunks(1) {
            prop_assert!(block[0].value(Channel::Fhr1) <= 1200);
            prop_assert!(block[0].value(Channel::Ua) <= 256);
        }
    }
}
