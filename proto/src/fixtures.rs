//! One example of every wire message.
//!
//! The golden-vector test (`proto/tests/golden.rs`) checks these against the hex in
//! `proto/tests/golden/messages.hex` both ways, so the wire format cannot drift silently; the
//! fuzz targets seed their corpus from them.

use crate::model::{
    BlockFlags, DeviceInfo, DeviceProtocol, EventKind, Modes, Quality, Sample, SampleBlock,
    StreamEvent, StreamIdentity, TransducerMode,
};
use crate::wire::{
    Ack, Hello, MIN_PROTOCOL_VERSION, Message, OpenStream, PROTOCOL_VERSION, StreamHandle,
    StreamOpened, Welcome,
};

/// A fixed instant used by the examples: 2026-01-15T10:30:00Z.
pub const EXAMPLE_UTC_MS: i64 = 1_768_473_000_000;

/// The modes of a singleton on ultrasound with external toco and maternal ECG.
pub fn example_modes() -> Modes {
    Modes([
        TransducerMode::Ultrasound,
        TransducerMode::NoTransducer,
        TransducerMode::NoTransducer,
        TransducerMode::Mecg,
        TransducerMode::ExternalToco,
    ])
}

/// One second of samples, as the Series 50 example C block in the protocol notes carries it:
/// HR1 140.25…141 green, HR2 blank, MHR 80…80.25 yellow, toco 10…13.
pub fn example_block() -> SampleBlock {
    let fhr1 = [561, 562, 563, 564];
    let mhr = [320, 320, 321, 321];
    let toco = [20, 22, 24, 26];
    let samples = (0..4)
        .map(|i| Sample {
            values: [fhr1[i], 0, 0, mhr[i], toco[i]],
            quality: [
                Quality::Good,
                Quality::None,
                Quality::None,
                Quality::Fair,
                Quality::Unknown,
            ],
            fetal_movement: i == 2,
        })
        .collect();
    SampleBlock {
        first_seq: 14_400,
        utc_ms: EXAMPLE_UTC_MS,
        modes: example_modes(),
        flags: BlockFlags(BlockFlags::FMP_ENABLED),
        fspo2_percent: None,
        samples,
    }
}

/// An example stream identity.
pub fn example_identity() -> StreamIdentity {
    StreamIdentity {
        facility: "asahi-clinic".into(),
        bridge: "ldr-1".into(),
        port: "/dev/ttyUSB0".into(),
        episode_start_utc_ms: EXAMPLE_UTC_MS - 3_600_000,
    }
}

/// An example device.
pub fn example_device() -> DeviceInfo {
    DeviceInfo {
        protocol: DeviceProtocol::Series50,
        model: "M1350A".into(),
        serial: "3712A01234".into(),
        software: "A.01.01".into(),
    }
}

/// One example of every message, named by [`Message::kind`] (events get one example per kind
/// of event, named `event_<kind>`).
pub fn example_messages() -> Vec<(String, Message)> {
    let stream = StreamHandle(7);
    let mut out: Vec<(String, Message)> = vec![
        (
            "hello".into(),
            Message::Hello(Hello {
                min_version: MIN_PROTOCOL_VERSION,
                max_version: PROTOCOL_VERSION,
                bridge_id: "ldr-1".into(),
                software: "mimamori 0.1.0".into(),
            }),
        ),
        (
            "welcome".into(),
            Message::Welcome(Welcome {
                version: PROTOCOL_VERSION,
                hub_id: "centre-hub".into(),
                heartbeat_interval_ms: 5_000,
            }),
        ),
        (
            "refused".into(),
            Message::Refused {
                reason: "no common protocol version".into(),
            },
        ),
        (
            "open_stream".into(),
            Message::OpenStream(OpenStream {
                stream,
                identity: example_identity(),
                device: example_device(),
            }),
        ),
        (
            "stream_opened".into(),
            Message::StreamOpened(StreamOpened {
                stream,
                next_sample_seq: 14_400,
                next_event_seq: 3,
            }),
        ),
        (
            "samples".into(),
            Message::Samples {
                stream,
                block: example_block(),
            },
        ),
        (
            "heartbeat".into(),
            Message::Heartbeat {
                utc_ms: EXAMPLE_UTC_MS,
            },
        ),
        (
            "bridge_status".into(),
            Message::BridgeStatus {
                spool_bytes: 123_456_789,
                spool_max_bytes: 1 << 30,
            },
        ),
        (
            "ack".into(),
            Message::Ack(Ack {
                stream,
                next_sample_seq: 14_404,
                next_event_seq: 4,
            }),
        ),
        (
            "resend_request".into(),
            Message::ResendRequest {
                stream,
                from_seq: 14_000,
                until_seq: 14_400,
            },
        ),
        (
            "close_stream".into(),
            Message::CloseStream {
                stream,
                next_sample_seq: 14_404,
                reason: "monitoring ended".into(),
            },
        ),
    ];
    for (name, kind) in example_event_kinds() {
        out.push((
            format!("event_{name}"),
            Message::Event {
                stream,
                event: StreamEvent {
                    seq: 3,
                    at_sample: 14_402,
                    utc_ms: EXAMPLE_UTC_MS + 500,
                    kind,
                },
            },
        ));
    }
    out
}

/// One example of every kind of event.
pub fn example_event_kinds() -> Vec<(&'static str, EventKind)> {
    vec![
        ("marker", EventKind::Marker),
        (
            "note",
            EventKind::Note {
                author: "PC".into(),
                text: "Note".into(),
            },
        ),
        (
            "device_connected",
            EventKind::DeviceConnected(example_device()),
        ),
        (
            "device_disconnected",
            EventKind::DeviceDisconnected {
                reason: "no valid C block for 3 s".into(),
            },
        ),
        ("mode_change", EventKind::ModeChange(example_modes())),
        (
            "device_fault",
            EventKind::DeviceFault { code: "503".into() },
        ),
        (
            "maternal_blood_pressure",
            EventKind::MaternalBloodPressure {
                systolic_mmhg: 120,
                diastolic_mmhg: 80,
                mean_mmhg: 93,
                pulse_quarter_bpm: Some(288),
            },
        ),
        (
            "maternal_spo2",
            EventKind::MaternalSpo2 {
                spo2_half_percent: 195,
                pulse_quarter_bpm: Some(320),
            },
        ),
        (
            "maternal_temperature",
            EventKind::MaternalTemperature { deci_celsius: 372 },
        ),
        (
            "patient_identified",
            EventKind::PatientIdentified {
                patient_ref: "MRN4711".into(),
                name: "DOE JANE".into(),
            },
        ),
    ]
}
