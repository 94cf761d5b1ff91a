//! Property tests of the Series 50 codec: round trips through framing in arbitrary chunks with
//! garbage between frames, normalisation round trips, and random bytes that must never panic.

use ctg_devices::series50::frame::MAX_BLOCK_LEN;
use ctg_devices::series50::{Block, CtgBlock, FrameDecoder, Oddities, Pulse, frame};
use ctg_proto::model::{BlockFlags, Modes, Quality, Sample, TransducerMode};
use proptest::prelude::*;

fn printable(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(0x20u8..0x7F, 0..=max)
        .prop_map(|bytes| bytes.into_iter().map(char::from).collect())
}

fn fixed_printable(len: usize) -> impl Strategy<Value = String> {
    // Fixed-width fields are space-padded on the wire and trimmed when read: no trailing space.
    proptest::collection::vec(0x21u8..0x7F, len)
        .prop_map(|bytes| bytes.into_iter().map(char::from).collect())
}

fn pulse() -> impl Strategy<Value = Pulse> {
    prop_oneof![
        (0u16..0xFFFF).prop_map(Pulse::Reading),
        Just(Pulse::NotMeasurable)
    ]
}

fn ctg_block() -> impl Strategy<Value = CtgBlock> {
    (
        any::<u16>(),
        any::<[u16; 4]>(),
        any::<[u16; 4]>(),
        any::<[u16; 4]>(),
        any::<[u8; 4]>(),
        any::<u16>(),
        any::<u8>(),
        any::<u8>(),
    )
        .prop_map(
            |(status, hr1, hr2, mhr, toco, hr_mode, toco_mode, fspo2)| CtgBlock {
                status,
                hr1,
                hr2,
                mhr,
                toco,
                hr_mode,
                toco_mode,
                fspo2,
            },
        )
}

fn block() -> impl Strategy<Value = Block> {
    prop_oneof![
        4 => ctg_block().prop_map(Block::Ctg),
        1 => (fixed_printable(6), fixed_printable(3), fixed_printable(7), fixed_printable(10))
            .prop_map(|(model, protocol_revision, software_revision, serial)| Block::Identification {
                model, protocol_revision, software_revision, serial,
            }),
        1 => Just(Block::Marker),
        1 => (printable(28), printable(60)).prop_map(|(id, text)| Block::Note { id, text }),
        1 => fixed_printable(3).prop_map(|code| Block::Failure { code }),
        1 => (any::<u16>(), any::<u16>(), any::<u16>(), pulse()).prop_map(
            |(systolic, diastolic, mean, pulse)| Block::BloodPressure { systolic, diastolic, mean, pulse }),
        1 => any::<u8>().prop_map(|raw| Block::Temperature { raw }),
        1 => (any::<u8>(), pulse()).prop_map(|(half_percent, pulse)| Block::Spo2 { half_percent, pulse }),
        1 => any::<u8>().prop_map(|wanted| Block::Request { wanted }),
        1 => Just(Block::Go),
        1 => Just(Block::Halt),
    ]
}

/// Bytes a line may carry between frames: anything but DLE (which could start a frame).
fn filler() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>().prop_filter("not DLE", |b| *b != 0x10), 0..6)
}

/// A sample the Series 50 C block can carry exactly.
fn series50_sample() -> impl Strategy<Value = Sample> {
    let heart = prop_oneof![
        1 => Just((0u16, Quality::None)),
        4 => (1u16..=1200, prop_oneof![Just(Quality::Poor), Just(Quality::Fair), Just(Quality::Good)]),
    ];
    (
        heart.clone(),
        heart.clone(),
        heart,
        0u8..=200,
        any::<bool>(),
    )
        .prop_map(|((f1, q1), (f2, q2), (m, qm), ua, movement)| Sample {
            values: [f1, f2, 0, m, u16::from(ua)],
            quality: [q1, q2, Quality::None, qm, Quality::Unknown],
            fetal_movement: movement && f1 != 0,
        })
}

proptest! {
    #[test]
    fn blocks_survive_framing_chunking_and_line_noise(
        items in proptest::collection::vec((block(), filler()), 1..20),
        chunk in 1usize..64,
    ) {
        let mut wire = Vec::new();
        for (block, noise) in &items {
            wire.extend(noise);
            wire.extend(frame(&block.encode()));
        }
        let mut decoder = FrameDecoder::new();
        let mut out = Vec::new();
        for piece in wire.chunks(chunk) {
            decoder.push(piece, &mut out);
        }
        let decoded: Vec<Block> = out
            .into_iter()
            .map(|frame| Block::parse(&frame.unwrap()).unwrap())
            .collect();
        let sent: Vec<Block> = items.into_iter().map(|(block, _)| block).collect();
        prop_assert_eq!(decoded, sent);
        prop_assert_eq!(decoder.stats().crc_errors, 0);
    }

    #[test]
    fn a_corrupted_frame_costs_that_frame_and_perhaps_its_neighbour_only(
        blocks in proptest::collection::vec(block(), 3..12),
        victim in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        position in any::<prop::sample::Index>(),
    ) {
        let frames: Vec<Vec<u8>> = blocks.iter().map(|b| frame(&b.encode())).collect();
        let victim = victim.index(frames.len());
        let mut wire = Vec::new();
        for (i, bytes) in frames.iter().enumerate() {
            let mut bytes = bytes.clone();
            if i == victim {
                let at = position.index(bytes.len());
                bytes[at] ^= flip;
            }
            wire.extend(bytes);
            wire.extend([0, 0]); // the guide's two resync bytes after every frame
        }
        let mut decoder = FrameDecoder::new();
        let mut out = Vec::new();
        decoder.push(&wire, &mut out);
        let good: Vec<Vec<u8>> = out.into_iter().filter_map(Result::ok).collect();
        // Every frame but the victim and the one after it arrives intact and in order.
        let expected: Vec<Vec<u8>> = blocks
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != victim && *i != victim + 1)
            .map(|(_, b)| b.encode())
            .collect();
        let mut rest = good.iter();
        for wanted in &expected {
            prop_assert!(rest.any(|got| got == wanted), "lost {:?}", wanted);
        }
    }

    #[test]
    fn random_bytes_never_panic_and_never_hold_more_than_a_block(
        bytes in proptest::collection::vec(any::<u8>(), 0..4000),
    ) {
        let mut decoder = FrameDecoder::new();
        let mut out = Vec::new();
        decoder.push(&bytes, &mut out);
        for frame in out.into_iter().flatten() {
            prop_assert!(frame.len() <= MAX_BLOCK_LEN);
            let _ = Block::parse(&frame);
        }
    }

    #[test]
    fn any_c_block_normalises_to_a_valid_wire_block(ctg in ctg_block()) {
        let mut odd = Oddities::default();
        let n = ctg.normalise(&mut odd);
        let block = ctg_proto::model::SampleBlock {
            first_seq: 0,
            utc_ms: 0,
            modes: n.modes,
            flags: n.flags,
            fspo2_percent: n.fspo2_percent,
            samples: n.samples.clone(),
        };
        prop_assert!(ctg_proto::wire::validate_block(&block).is_ok());
    }

    #[test]
    fn samples_the_block_can_carry_come_back_unchanged(
        samples in proptest::array::uniform4(series50_sample()),
        flags in 0u16..=BlockFlags::ALL,
        fspo2 in proptest::option::of(1u8..=100),
    ) {
        let modes = Modes([
            TransducerMode::Ultrasound,
            TransducerMode::Decg,
            TransducerMode::NoTransducer,
            TransducerMode::Mecg,
            TransducerMode::ExternalToco,
        ]);
        // FHR3 inop has no bit in the Series 50 block.
        let flags = BlockFlags(flags & !BlockFlags::INOP_FHR3);
        let fspo2 = fspo2.filter(|_| flags.contains(BlockFlags::FSPO2_AVAILABLE));
        let ctg = CtgBlock::from_samples(&samples, &modes, flags, fspo2);
        let wire = frame(&Block::Ctg(ctg).encode());
        let mut decoder = FrameDecoder::new();
        let mut out = Vec::new();
        decoder.push(&wire, &mut out);
        let Block::Ctg(back) = Block::parse(out[0].as_ref().unwrap()).unwrap() else {
            panic!("not a C block");
        };
        let mut odd = Oddities::default();
        let n = back.normalise(&mut odd);
        prop_assert_eq!(odd, Oddities::default());
        prop_assert_eq!(n.samples, samples.to_vec());
        prop_assert_eq!(n.modes, modes);
        prop_assert_eq!(n.flags, flags);
        prop_assert_eq!(n.fspo2_percent, fspo2);
    }
}
