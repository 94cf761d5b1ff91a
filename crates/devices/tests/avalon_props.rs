//! Property tests of the Avalon codec: framing round trips in arbitrary chunks, poll replies
//! round trip through encode and parse, and random bytes never panic.

use ctg_devices::avalon::apdu::{Apdu, ManagedObject, Observation, float_raw, float_value};
use ctg_devices::avalon::frame::frame;
use ctg_devices::avalon::{AvalonHost, FrameDecoder};
use proptest::prelude::*;

fn observation() -> impl Strategy<Value = Observation> {
    (
        any::<u16>(),
        any::<u16>(),
        any::<u16>(),
        any::<u16>(),
        proptest::option::of(-80_000i32..80_000),
        proptest::option::of("[A-Za-z0-9]{1,8}"),
    )
        .prop_map(
            |(handle, physio_id, state, unit, value, label)| Observation {
                handle,
                physio_id,
                state,
                unit,
                value: value.map(|v| f64::from(v) / 100.0),
                label,
            },
        )
}

fn apdu() -> impl Strategy<Value = Apdu> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..400).prop_map(Apdu::AssociationRequest),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Apdu::AssociationResponse),
        Just(Apdu::Refuse),
        Just(Apdu::Abort),
        (any::<u16>(), any::<u16>(), any::<u16>(), any::<u32>()).prop_map(|(i, c, h, t)| {
            Apdu::MdsCreateEvent {
                invoke_id: i,
                object: ManagedObject {
                    class: c,
                    context: 0,
                    handle: h,
                },
                event_time: t,
            }
        }),
        (any::<u16>(), any::<u16>(), any::<u16>()).prop_map(|(i, p, o)| Apdu::PollRequest {
            invoke_id: i,
            poll_number: p,
            object_type: o,
        }),
        (
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            proptest::collection::vec(observation(), 0..8)
        )
            .prop_map(|(i, p, t, observations)| Apdu::PollReply {
                invoke_id: i,
                poll_number: p,
                relative_time: t,
                observations,
            }),
    ]
}

proptest! {
    #[test]
    fn apdus_survive_framing_escaping_and_chunking(
        apdus in proptest::collection::vec(apdu(), 1..10),
        noise in proptest::collection::vec(any::<u8>().prop_filter("not BOF", |b| *b != 0xC0), 0..20),
        chunk in 1usize..50,
    ) {
        let mut wire = noise.clone();
        for a in &apdus {
            wire.extend(frame(&a.encode()));
        }
        let mut decoder = FrameDecoder::new();
        let mut out = Vec::new();
        for piece in wire.chunks(chunk) {
            decoder.push(piece, &mut out);
        }
        let parsed: Vec<Apdu> = out.into_iter().map(|f| Apdu::parse(&f.unwrap()).unwrap()).collect();
        prop_assert_eq!(parsed, apdus);
    }

    #[test]
    fn random_bytes_never_panic_the_host(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let mut host = AvalonHost::new();
        let mut out = Vec::new();
        host.receive(&bytes, 0, &mut out);
        let _ = Apdu::parse(&bytes);
    }

    #[test]
    fn floats_with_two_decimals_round_trip(cents in -8_000_000i32..8_000_000) {
        let value = f64::from(cents) / 100.0;
        let back = float_value(float_raw(Some(value))).unwrap();
        prop_assert!((back - value).abs() < 1e-9);
    }
}
