//! Property and behaviour tests of the frame codec: round trips, random bytes, chunking, limits,
//! and error positions.

use ctg_proto::fixtures::{example_block, example_messages};
use ctg_proto::frame::{FRAME_FORMAT_VERSION, FrameErrorKind, MessageError};
use ctg_proto::model::{
    BlockFlags, DeviceInfo, DeviceProtocol, EventKind, Modes, Quality, Sample, SampleBlock,
    StreamEvent, StreamIdentity, TransducerMode,
};
use ctg_proto::strategies::quality;
use ctg_proto::wire::{
    Ack, Hello, MAX_BLOCK_SAMPLES, MAX_ID_LEN, Message, OpenStream, StreamHandle, StreamOpened,
    ValidationError, Welcome,
};
use ctg_proto::{FrameDecoder, MAX_FRAME_BODY_LEN, decode_message, encode_frame};
use proptest::prelude::*;

fn mode() -> impl Strategy<Value = TransducerMode> {
    prop_oneof![
        Just(TransducerMode::Unknown),
        Just(TransducerMode::NoTransducer),
        Just(TransducerMode::Ultrasound),
        Just(TransducerMode::Decg),
        Just(TransducerMode::Mecg),
        Just(TransducerMode::ExternalMhr),
        Just(TransducerMode::ExternalToco),
        Just(TransducerMode::Iup),
    ]
}

/// A valid sample: heart-rate quality agrees with the value.
fn sample() -> impl Strategy<Value = Sample> {
    (
        proptest::array::uniform4((0u16..=1200, quality())),
        (0u16..=1000, quality()),
        any::<bool>(),
    )
        .prop_map(|(hrs, (ua, ua_q), fetal_movement)| {
            let mut s = Sample {
                fetal_movement,
                ..Sample::default()
            };
            for (i, (v, q)) in hrs.into_iter().enumerate() {
                s.values[i] = v;
                s.quality[i] = match (v, q) {
                    (0, Quality::Unknown) => Quality::Unknown,
                    (0, _) => Quality::None,
                    (_, Quality::None) => Quality::Poor,
                    (_, q) => q,
                };
            }
            s.values[4] = ua;
            s.quality[4] = ua_q;
            s
        })
}

fn block() -> impl Strategy<Value = SampleBlock> {
    (
        0u64..u64::MAX / 2,
        any::<i64>(),
        proptest::array::uniform5(mode()),
        0u16..=BlockFlags::ALL,
        proptest::option::of(0u8..=100),
        proptest::collection::vec(sample(), 1..64),
    )
        .prop_map(
            |(first_seq, utc_ms, modes, flags, fspo2, samples)| SampleBlock {
                first_seq,
                utc_ms,
                modes: Modes(modes),
                flags: BlockFlags(flags),
                fspo2_percent: fspo2,
                samples,
            },
        )
}

fn id() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9/_\\-. 日本]{0,40}"
}

fn device() -> impl Strategy<Value = DeviceInfo> {
    (
        prop_oneof![
            Just(DeviceProtocol::Series50),
            Just(DeviceProtocol::Avalon),
            Just(DeviceProtocol::Corometrics115),
            Just(DeviceProtocol::Hl7Mllp),
            Just(DeviceProtocol::Recording),
            Just(DeviceProtocol::Synthetic),
        ],
        id(),
        id(),
        id(),
    )
        .prop_map(|(protocol, model, serial, software)| DeviceInfo {
            protocol,
            model,
            serial,
            software,
        })
}

fn pulse() -> impl Strategy<Value = Option<u16>> {
    proptest::option::of(0u16..=1200)
}

fn event_kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        Just(EventKind::Marker),
        (id(), ".{0,200}").prop_map(|(author, text)| EventKind::Note { author, text }),
        device().prop_map(EventKind::DeviceConnected),
        ".{0,100}".prop_map(|reason| EventKind::DeviceDisconnected { reason }),
        proptest::array::uniform5(mode()).prop_map(|m| EventKind::ModeChange(Modes(m))),
        id().prop_map(|code| EventKind::DeviceFault { code }),
        (any::<u16>(), any::<u16>(), any::<u16>(), pulse()).prop_map(|(s, d, m, p)| {
            EventKind::MaternalBloodPressure {
                systolic_mmhg: s,
                diastolic_mmhg: d,
                mean_mmhg: m,
                pulse_quarter_bpm: p,
            }
        }),
        (0u8..=200, pulse()).prop_map(|(s, p)| EventKind::MaternalSpo2 {
            spo2_half_percent: s,
            pulse_quarter_bpm: p
        }),
        any::<u16>().prop_map(|t| EventKind::MaternalTemperature { deci_celsius: t }),
        ("[A-Z0-9]{1,20}", "[A-Za-z ]{0,60}")
            .prop_map(|(patient_ref, name)| EventKind::PatientIdentified { patient_ref, name }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    let handle = any::<u32>().prop_map(StreamHandle);
    prop_oneof![
        (any::<u16>(), any::<u16>(), id(), id()).prop_map(|(a, b, bridge_id, software)| {
            Message::Hello(Hello {
                min_version: a.min(b),
                max_version: a.max(b),
                bridge_id,
                software,
            })
        }),
        (any::<u16>(), id(), any::<u32>()).prop_map(|(version, hub_id, heartbeat_interval_ms)| {
            Message::Welcome(Welcome {
                version,
                hub_id,
                heartbeat_interval_ms,
            })
        }),
        ".{0,300}".prop_map(|reason| Message::Refused { reason }),
        (handle.clone(), id(), id(), id(), any::<i64>(), device()).prop_map(
            |(stream, facility, bridge, port, start, device)| Message::OpenStream(OpenStream {
                stream,
                identity: StreamIdentity {
                    facility,
                    bridge,
                    port,
                    episode_start_utc_ms: start,
                },
                device,
            })
        ),
        (handle.clone(), any::<u64>(), any::<u64>()).prop_map(|(stream, s, e)| {
            Message::StreamOpened(StreamOpened {
                stream,
                next_sample_seq: s,
                next_event_seq: e,
            })
        }),
        (handle.clone(), block()).prop_map(|(stream, block)| Message::Samples { stream, block }),
        (
            handle.clone(),
            any::<u64>(),
            any::<u64>(),
            any::<i64>(),
            event_kind()
        )
            .prop_map(|(stream, seq, at_sample, utc_ms, kind)| Message::Event {
                stream,
                event: StreamEvent {
                    seq,
                    at_sample,
                    utc_ms,
                    kind
                },
            }),
        any::<i64>().prop_map(|utc_ms| Message::Heartbeat { utc_ms }),
        (handle.clone(), any::<u64>(), any::<u64>()).prop_map(|(stream, s, e)| {
            Message::Ack(Ack {
                stream,
                next_sample_seq: s,
                next_event_seq: e,
            })
        }),
        (handle.clone(), any::<u64>(), 1u64..1000).prop_map(|(stream, from, n)| {
            let from = from.min(u64::MAX - n);
            Message::ResendRequest {
                stream,
                from_seq: from,
                until_seq: from + n,
            }
        }),
        (handle, any::<u64>(), ".{0,100}").prop_map(|(stream, next_sample_seq, reason)| {
            Message::CloseStream {
                stream,
                next_sample_seq,
                reason,
            }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// encode → decode is the identity for every valid message.
    #[test]
    fn roundtrip_is_identity(msg in message()) {
        let frame = encode_frame(&msg).unwrap();
        let mut decoder = FrameDecoder::new();
        let mut input = &frame[..];
        let decoded = decoder.next_message(&mut input).unwrap().unwrap();
        prop_assert_eq!(decoded, msg);
        prop_assert!(input.is_empty());
    }

    /// A sequence of frames split at arbitrary points decodes to the same messages.
    #[test]
    fn arbitrary_chunking_yields_same_messages(
        msgs in proptest::collection::vec(message(), 1..8),
        cuts in proptest::collection::vec(1usize..50, 0..40),
    ) {
        let mut stream = Vec::new();
        for m in &msgs {
            stream.extend(encode_frame(m).unwrap());
        }
        let mut decoder = FrameDecoder::new();
        let mut out = Vec::new();
        let mut rest = &stream[..];
        let mut cuts = cuts.into_iter();
        while !rest.is_empty() {
            let n = cuts.next().unwrap_or(rest.len()).min(rest.len());
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            let mut chunk = chunk;
            while let Some(r) = decoder.next_message(&mut chunk) {
                out.push(r.unwrap());
            }
            prop_assert!(chunk.is_empty());
        }
        prop_assert_eq!(out, msgs);
        prop_assert!(decoder.is_idle());
    }

    /// Random bytes never panic the decoder, and it never holds more than one frame.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096), chunk in 1usize..300) {
        let mut decoder = FrameDecoder::new();
        for piece in bytes.chunks(chunk) {
            let mut piece = piece;
            while let Some(result) = decoder.next_message(&mut piece) {
                let _ = result;
            }
            prop_assert!(decoder.buffered() <= 4 + MAX_FRAME_BODY_LEN);
        }
    }

    /// Random frame bodies behind a valid length prefix never panic and never validate wrongly:
    /// whatever decodes is also valid.
    #[test]
    fn random_bodies_decode_only_to_valid_messages(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut body = body;
        if let Some(first) = body.first_mut() {
            *first = FRAME_FORMAT_VERSION;
        }
        if let Ok(m) = decode_message(&body) {
            prop_assert!(m.validate().is_ok());
        }
    }
}

fn frame_with_body(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

#[test]
fn oversized_frame_is_reported_skipped_and_stream_continues() {
    let too_big = (MAX_FRAME_BODY_LEN as u32 + 10).to_be_bytes();
    let mut stream = too_big.to_vec();
    stream.extend(std::iter::repeat_n(0xAA, MAX_FRAME_BODY_LEN + 10));
    let good = Message::Heartbeat { utc_ms: 42 };
    stream.extend(encode_frame(&good).unwrap());

    let mut decoder = FrameDecoder::new();
    let mut results = Vec::new();
    for piece in stream.chunks(4096) {
        let mut piece = piece;
        while let Some(r) = decoder.next_message(&mut piece) {
            results.push(r);
        }
        assert!(
            decoder.buffered() <= 4096,
            "oversized frame bytes are never buffered"
        );
    }
    assert_eq!(results.len(), 2);
    let err = results[0].clone().unwrap_err();
    assert_eq!(err.offset, 0);
    assert!(matches!(err.kind, FrameErrorKind::TooLarge { .. }));
    assert!(err.to_string().contains("exceeds"), "{err}");
    assert_eq!(results[1].clone().unwrap(), good);
    let stats = decoder.stats();
    assert_eq!((stats.messages, stats.bad_frames), (1, 1));
    assert_eq!(stats.bytes_skipped, MAX_FRAME_BODY_LEN as u64 + 10);
}

#[test]
fn malformed_body_reports_where_and_next_frame_decodes() {
    // A valid hello, truncated in the middle of its software string.
    let hello = example_messages().remove(0).1;
    let full = encode_frame(&hello).unwrap();
    let body = &full[4..full.len() - 3];
    let mut stream = frame_with_body(body);
    let bad_offset = 0;
    let next = Message::Heartbeat { utc_ms: 7 };
    let next_offset = stream.len() as u64;
    stream.extend(encode_frame(&next).unwrap());

    let mut decoder = FrameDecoder::new();
    let mut input = &stream[..];
    let err = decoder.next_message(&mut input).unwrap().unwrap_err();
    assert_eq!(err.offset, bad_offset);
    match &err.kind {
        FrameErrorKind::Message(MessageError::Malformed { at, .. }) => {
            assert!(
                *at > 1 && *at <= body.len(),
                "position {at} inside the body"
            );
        }
        other => panic!("expected malformed, got {other:?}"),
    }
    assert!(
        err.to_string().contains("malformed message at byte"),
        "{err}"
    );
    assert_eq!(decoder.next_message(&mut input).unwrap().unwrap(), next);
    let _ = next_offset;
}

#[test]
fn error_offsets_count_from_stream_start() {
    let good = encode_frame(&Message::Heartbeat { utc_ms: 1 }).unwrap();
    let mut stream = good.clone();
    stream.extend(frame_with_body(&[9, 0, 0]));
    let mut decoder = FrameDecoder::new();
    let mut input = &stream[..];
    decoder.next_message(&mut input).unwrap().unwrap();
    let err = decoder.next_message(&mut input).unwrap().unwrap_err();
    assert_eq!(err.offset, good.len() as u64);
    assert_eq!(
        err.kind,
        FrameErrorKind::Message(MessageError::UnsupportedVersion { got: 9 })
    );
}

#[test]
fn empty_body_and_trailing_bytes_are_errors() {
    assert_eq!(decode_message(&[]), Err(MessageError::Empty));
    let mut body = encode_frame(&Message::Heartbeat { utc_ms: 5 }).unwrap()[4..].to_vec();
    let end = body.len();
    body.extend([1, 2, 3]);
    assert_eq!(
        decode_message(&body),
        Err(MessageError::Trailing { at: end, extra: 3 })
    );
}

#[test]
fn invalid_messages_are_rejected_on_both_sides() {
    let mut block = example_block();
    block.samples[1].values[0] = 1201;
    let msg = Message::Samples {
        stream: StreamHandle(1),
        block: block.clone(),
    };
    let err = encode_frame(&msg).unwrap_err();
    assert!(err.to_string().contains("fhr1 value 1201"), "{err}");

    // A peer that does not validate: encode the body by hand; our decoder still refuses it.
    let mut body = vec![FRAME_FORMAT_VERSION];
    body.extend(postcard::to_stdvec(&msg).unwrap());
    match decode_message(&body) {
        Err(MessageError::Invalid { kind, source }) => {
            assert_eq!(kind, "samples");
            assert!(matches!(
                source,
                ValidationError::ValueOutOfRange { index: 1, .. }
            ));
        }
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[test]
fn validation_limits() {
    let mut block = example_block();
    block.samples = vec![Sample::default(); MAX_BLOCK_SAMPLES + 1];
    assert!(matches!(
        ctg_proto::wire::validate_block(&block),
        Err(ValidationError::BlockSize { .. })
    ));
    block.samples.clear();
    assert!(ctg_proto::wire::validate_block(&block).is_err());

    let mut block = example_block();
    block.first_seq = u64::MAX - 1;
    assert!(matches!(
        ctg_proto::wire::validate_block(&block),
        Err(ValidationError::SequenceOverflow { .. })
    ));

    let mut block = example_block();
    block.samples[0].quality[0] = Quality::None;
    assert!(matches!(
        ctg_proto::wire::validate_block(&block),
        Err(ValidationError::QualityMismatch { .. })
    ));

    let mut block = example_block();
    block.flags = BlockFlags(1 << 15);
    assert!(ctg_proto::wire::validate_block(&block).is_err());

    let hello = Message::Hello(Hello {
        min_version: 1,
        max_version: 1,
        bridge_id: "x".repeat(MAX_ID_LEN + 1),
        software: String::new(),
    });
    assert!(matches!(
        hello.validate(),
        Err(ValidationError::TooLong {
            field: "hello.bridge_id",
            ..
        })
    ));
    let resend = Message::ResendRequest {
        stream: StreamHandle(1),
        from_seq: 5,
        until_seq: 5,
    };
    assert!(resend.validate().is_err());
}

/// A hostile length prefix inside a body (a Vec claiming billions of elements) fails cleanly
/// without allocating for the claim.
#[test]
fn huge_declared_vec_length_fails_cleanly() {
    let mut body = vec![FRAME_FORMAT_VERSION];
    body.push(5); // Message::Samples
    body.push(1); // stream handle 1
    body.push(0); // first_seq 0
    body.push(0); // utc_ms 0
    body.extend([0, 0, 0, 0, 0]); // modes
    body.push(0); // flags
    body.push(0); // fspo2 None
    body.extend([0xff, 0xff, 0xff, 0xff, 0x0f]); // samples: u32::MAX elements
    let err = decode_message(&body).unwrap_err();
    assert!(matches!(err, MessageError::Malformed { .. }), "{err:?}");
}
