//! The example frames of the implementation notes (protocols.md §1.6), both ways, and the host
//! session's behaviour on a simulated clock.

use ctg_proto::model::{BlockFlags, Channel, EventKind, Quality, TransducerMode};

use super::*;

fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|pair| u8::from_str_radix(pair, 16).unwrap())
        .collect()
}

fn example_ctg() -> CtgBlock {
    CtgBlock {
        status: 0x8000,
        hr1: [0x4231, 0x4232, 0x4233, 0x4234],
        hr2: [0; 4],
        mhr: [0x2140, 0x2140, 0x2141, 0x2141],
        toco: [20, 22, 24, 26],
        hr_mode: 0x2080,
        toco_mode: 0x08,
        fspo2: 0,
    }
}

/// Every example frame of the notes, with the block it carries.
fn examples() -> Vec<(&'static str, Block)> {
    vec![
        ("10 02 47 10 03 42 1F", Block::Go),
        ("10 02 48 10 03 6E 2E", Block::Halt),
        ("10 02 3F 43 10 03 D1 ED", Block::Request { wanted: b'C' }),
        ("10 02 3F 49 10 03 16 2C", Block::Request { wanted: b'I' }),
        (
            "10 02 56 41 32 30 10 03 2C 2F",
            Block::Version {
                revision: "A20".into(),
            },
        ),
        ("10 02 4D 4D 10 03 65 F1", Block::Marker),
        (
            "10 02 53 C3 01 40 10 03 66 40",
            Block::Spo2 {
                half_percent: 195,
                pulse: Pulse::Reading(320),
            },
        ),
        (
            "10 02 50 00 78 00 50 00 5D 01 20 10 03 9E 2F",
            Block::BloodPressure {
                systolic: 120,
                diastolic: 80,
                mean: 93,
                pulse: Pulse::Reading(288),
            },
        ),
        ("10 02 54 7A 10 03 CD 14", Block::Temperature { raw: 122 }),
        (
            "10 02 4E 02 50 43 4E 6F 74 65 10 03 89 F9",
            Block::Note {
                id: "PC".into(),
                text: "Note".into(),
            },
        ),
        (
            "10 02 43 80 00 42 31 42 32 42 33 42 34 00 00 00 00 00 00 00 00 \
             21 40 21 40 21 41 21 41 14 16 18 1A 20 80 08 00 10 03 7D 57",
            Block::Ctg(example_ctg()),
        ),
    ]
}

#[test]
fn the_notes_example_frames_decode_to_their_blocks() {
    for (bytes, expected) in examples() {
        let mut decoder = FrameDecoder::new();
        let mut out = Vec::new();
        decoder.push(&hex(bytes), &mut out);
        assert_eq!(out.len(), 1, "{bytes}");
        let block = out.pop().unwrap().expect(bytes);
        assert_eq!(Block::parse(&block).unwrap(), expected, "{bytes}");
    }
}

#[test]
fn the_notes_example_frames_are_what_the_encoder_writes() {
    for (bytes, block) in examples() {
        assert_eq!(frame(&block.encode()), hex(bytes), "{block:?}");
    }
}

#[test]
fn the_example_c_block_normalises_as_the_notes_describe() {
    let mut odd = Oddities::default();
    let ctg = example_ctg().normalise(&mut odd);
    assert_eq!(odd, Oddities::default());
    let fhr1: Vec<f64> = ctg
        .samples
        .iter()
        .map(|s| s.physical(Channel::Fhr1).unwrap())
        .collect();
    assert_eq!(fhr1, [140.25, 140.5, 140.75, 141.0]);
    assert!(ctg.samples.iter().all(|s| s.quality[0] == Quality::Good));
    assert!(
        ctg.samples
            .iter()
            .all(|s| s.physical(Channel::Fhr2).is_none())
    );
    let mhr: Vec<f64> = ctg
        .samples
        .iter()
        .map(|s| s.physical(Channel::Mhr).unwrap())
        .collect();
    assert_eq!(mhr, [80.0, 80.0, 80.25, 80.25]);
    assert!(ctg.samples.iter().all(|s| s.quality[3] == Quality::Fair));
    let toco: Vec<f64> = ctg
        .samples
        .iter()
        .map(|s| s.physical(Channel::Ua).unwrap())
        .collect();
    assert_eq!(toco, [10.0, 11.0, 12.0, 13.0]);
    assert_eq!(ctg.modes.get(Channel::Fhr1), TransducerMode::Ultrasound);
    assert_eq!(ctg.modes.get(Channel::Fhr2), TransducerMode::NoTransducer);
    assert_eq!(ctg.modes.get(Channel::Mhr), TransducerMode::ExternalMhr);
    assert_eq!(ctg.modes.get(Channel::Ua), TransducerMode::ExternalToco);
    assert_eq!(ctg.flags, BlockFlags(0));
    assert_eq!(ctg.fspo2_percent, None);
    // And back: the simulator writes the same block.
    let four: [ctg_proto::model::Sample; 4] = ctg.samples.clone().try_into().unwrap();
    let back = CtgBlock::from_samples(&four, &ctg.modes, ctg.flags, None);
    assert_eq!(back, example_ctg());
}

#[test]
fn four_bpm_is_stuffed_in_a_c_block() {
    let mut ctg = example_ctg();
    ctg.hr1[0] = 0x4010; // 4.0 bpm, green: low byte 0x10 is a DLE
    let bytes = frame(&Block::Ctg(ctg).encode());
    assert!(bytes.windows(2).any(|w| w == [0x10, 0x10]));
    let mut decoder = FrameDecoder::new();
    let mut out = Vec::new();
    decoder.push(&bytes, &mut out);
    let block = Block::parse(out[0].as_ref().unwrap()).unwrap();
    assert_eq!(block, Block::Ctg(ctg));
}

#[test]
fn a_c_block_of_the_wrong_length_is_refused() {
    let mut bytes = Block::Ctg(example_ctg()).encode();
    bytes.pop();
    assert_eq!(
        Block::parse(&bytes),
        Err(BlockError::Length {
            kind: b'C',
            len: 34,
            expected: "35"
        })
    );
}

#[test]
fn values_win_over_a_contradictory_mode_word_and_oddities_are_counted() {
    let mut ctg = example_ctg();
    ctg.status = 0x0000; // "monitor on" left unset
    ctg.hr_mode = 0x0080; // HR1 "no transducer" although HR1 carries values
    ctg.hr2 = [0x07FF, 0, 0, 0]; // 511.75 bpm: not a heart rate
    ctg.mhr[0] = 0x6140; // reserved quality code
    let mut odd = Oddities::default();
    let n = ctg.normalise(&mut odd);
    assert_eq!(n.modes.get(Channel::Fhr1), TransducerMode::Unknown);
    assert_eq!(n.samples[0].physical(Channel::Fhr1), Some(140.25));
    assert_eq!(n.samples[0].physical(Channel::Fhr2), None);
    assert_eq!(n.samples[0].quality[Channel::Mhr.index()], Quality::Unknown);
    assert_eq!(odd.monitor_on_unset, 1);
    assert_eq!(odd.mode_contradicts_values, 1);
    assert_eq!(odd.heart_rate_out_of_range, 1);
    assert_eq!(odd.reserved_quality, 1);
    assert_eq!(odd.total(), 4);
    // The normalised block is valid on the wire.
    let block = ctg_proto::model::SampleBlock {
        first_seq: 0,
        utc_ms: 0,
        modes: n.modes,
        flags: n.flags,
        fspo2_percent: n.fspo2_percent,
        samples: n.samples.clone(),
    };
    ctg_proto::wire::validate_block(&block).unwrap();
}

#[test]
fn the_host_starts_auto_send_and_restarts_it_when_c_blocks_stop() {
    let mut host = Series50Host::new();
    let first = host.poll_transmit(0);
    assert_eq!(first, hex("10 02 3F 49 10 03 16 2C 10 02 47 10 03 42 1F"));
    assert!(host.poll_transmit(1_000).is_empty());
    let mut out = Vec::new();
    let c = frame(&Block::Ctg(example_ctg()).encode());
    for second in 1..=5 {
        host.receive(&c, second * 1_000, &mut out);
        assert!(host.poll_transmit(second * 1_000 + 500).is_empty());
    }
    assert_eq!(out.len(), 5);
    assert!(matches!(out[0], DeviceOutput::Ctg(_)));
    // The monitor falls silent: G again after 3 s without a C block, not before.
    assert!(host.poll_transmit(8_000).is_empty());
    assert_eq!(
        host.poll_transmit(8_001),
        hex("10 02 3F 49 10 03 16 2C 10 02 47 10 03 42 1F")
    );
    assert!(host.poll_transmit(9_000).is_empty());
    assert!(!host.poll_transmit(11_002).is_empty());
    assert_eq!(host.stats().go_requests, 3);
}

#[test]
fn identification_and_events_become_normalised_events() {
    let mut host = Series50Host::new();
    let mut bytes = frame(
        &Block::Identification {
            model: "M1350A".into(),
            protocol_revision: "A30".into(),
            software_revision: "A.01.01".into(),
            serial: "3711A01234".into(),
        }
        .encode(),
    );
    bytes.extend(frame(b"MM"));
    bytes.extend(frame(b"F503"));
    bytes.extend(frame(b"Zabc"));
    let mut out = Vec::new();
    host.receive(&bytes, 0, &mut out);
    match &out[0] {
        DeviceOutput::Event(EventKind::DeviceConnected(info)) => {
            assert_eq!(info.model, "M1350A");
            assert_eq!(info.serial, "3711A01234");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(out[1], DeviceOutput::Event(EventKind::Marker));
    assert_eq!(
        out[2],
        DeviceOutput::Event(EventKind::DeviceFault { code: "503".into() })
    );
    assert!(matches!(out[3], DeviceOutput::Problem(_)));
    assert_eq!(host.stats().unknown_blocks, 1);
}
