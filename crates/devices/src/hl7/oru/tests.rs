use ctg_proto::model::{Channel, Quality, TransducerMode};

use super::*;

/// The example of the implementation notes (protocols.md §5.3), segments ending in `\r`.
fn example() -> Vec<u8> {
    [
        "MSH|^~\\&|CTGBRIDGE^0012FFFE00ABCDEF^EUI-64|LDR-WARD|CTGHUB|HOSP|20260115103000+0100||ORU^R01^ORU_R01|BR3-000123|P|2.6|||NE|AL||UNICODE UTF-8|||PCD_DEC_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO",
        "PID|||MRN4711^^^HOSP^MR||DOE^JANE",
        "PV1||I|LDR^3^1",
        "OBR|1|BR3-000123^CTGBRIDGE|BR3-000123^CTGBRIDGE|182777000^monitoring of patient^SCT|||20260115103000+0100",
        "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||0012FFFE00ABCDEF^EUI-64",
        "OBX|2|NM|55283-6^Fetal heart rate^LN~0002-f0cb^FHR1^MDIL|1.0.1.1|141|/min^/min^UCUM|||||R|||20260115103000+0100",
        "OBX|3|CWE|FHRSQ^FHR1 signal quality^L|1.0.1.2|G^green^L||||||R|||20260115103000+0100",
        "OBX|4|NM|TOCO^Uterine activity (external)^L~0002-f0d4^Toco^MDIL|1.0.2.1|13|{rel}^relative units^UCUM|||||R|||20260115103000+0100",
        "OBX|5|NM|147842^MDC_ECG_HEART_RATE^MDC|1.0.3.1|80|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||20260115103000+0100",
        "OBX|6|NA|FHR1-4HZ^FHR1 trace 4 Hz^L|1.0.1.3|140.25^140.5^140.75^141|/min^/min^UCUM|||||R|||20260115102959+0100",
        "OBX|7|NA|TOCO-4HZ^Toco trace 4 Hz^L|1.0.2.2|10^11^12^13|{rel}^relative units^UCUM|||||R|||20260115102959+0100",
    ]
    .join("\r")
    .into_bytes()
}

const NOW: i64 = 1_768_469_400_000; // 2026-01-15 09:30:00 UTC

#[test]
fn the_notes_example_is_accepted_and_mapped() {
    let mut receiver = OruReceiver::new("MIMAMORI");
    let handled = receiver.handle(&example(), NOW);
    assert_eq!(handled.code, AckCode::AA, "{:?}", handled.reason);
    let block = handled.block.unwrap();
    let fhr: Vec<_> = block
        .samples
        .iter()
        .map(|s| s.physical(Channel::Fhr1))
        .collect();
    assert_eq!(fhr, [Some(140.25), Some(140.5), Some(140.75), Some(141.0)]);
    assert!(block.samples.iter().all(|s| s.quality[0] == Quality::Good));
    let ua: Vec<_> = block
        .samples
        .iter()
        .map(|s| s.physical(Channel::Ua))
        .collect();
    assert_eq!(ua, [Some(10.0), Some(11.0), Some(12.0), Some(13.0)]);
    assert!(
        block
            .samples
            .iter()
            .all(|s| s.physical(Channel::Mhr) == Some(80.0))
    );
    assert_eq!(block.modes.get(Channel::Mhr), TransducerMode::Mecg);
    assert_eq!(block.modes.get(Channel::Fhr2), TransducerMode::NoTransducer);
    let ack = String::from_utf8(handled.ack).unwrap();
    assert_eq!(
        ack,
        "MSH|^~\\&|MIMAMORI||CTGBRIDGE 0012FFFE00ABCDEF EUI-64|LDR-WARD|20260115093000||ACK^R01^ACK|ACKBR3-000123|P|2.6\rMSA|AA|BR3-000123\r"
    );
    let block = ctg_proto::model::SampleBlock {
        samples: block.samples,
        modes: block.modes,
        ..Default::default()
    };
    ctg_proto::wire::validate_block(&block).unwrap();
}

#[test]
fn content_errors_are_ae_with_a_reason_and_other_messages_are_ar() {
    let mut receiver = OruReceiver::new("MIMAMORI");
    let bad_number = String::from_utf8(example())
        .unwrap()
        .replace("|141|", "|abc|");
    let handled = receiver.handle(bad_number.as_bytes(), NOW);
    assert_eq!(handled.code, AckCode::AE);
    assert!(handled.reason.unwrap().contains("\"abc\" is not a number"));
    assert!(
        String::from_utf8(handled.ack)
            .unwrap()
            .contains("MSA|AE|BR3-000123|OBX 2")
    );

    let ragged = String::from_utf8(example())
        .unwrap()
        .replace("|10^11^12^13|", "|10^11|");
    assert_eq!(receiver.handle(ragged.as_bytes(), NOW).code, AckCode::AE);

    let adt = "MSH|^~\\&|A|B|C|D|20260115||ADT^A01|X1|P|2.5\rPID|||1";
    let handled = receiver.handle(adt.as_bytes(), NOW);
    assert_eq!(handled.code, AckCode::AR);
    assert!(
        String::from_utf8(handled.ack)
            .unwrap()
            .contains("MSA|AR|X1|")
    );

    let garbage = receiver.handle(b"\x00\xffnot hl7 at all", NOW);
    assert_eq!(garbage.code, AckCode::AR);
    assert_eq!(receiver.stats().messages, 4);
    assert_eq!((receiver.stats().errors, receiver.stats().rejected), (2, 2));
}

#[test]
fn out_of_range_values_become_signal_loss_and_are_counted() {
    let mut receiver = OruReceiver::new("MIMAMORI");
    let text = String::from_utf8(example())
        .unwrap()
        .replace("140.25^140.5^140.75^141", "400^^-3^141");
    let handled = receiver.handle(text.as_bytes(), NOW);
    assert_eq!(handled.code, AckCode::AA);
    let fhr: Vec<_> = handled
        .block
        .unwrap()
        .samples
        .iter()
        .map(|s| s.physical(Channel::Fhr1))
        .collect();
    assert_eq!(fhr, [None, None, None, Some(141.0)]);
    assert_eq!(receiver.stats().values_out_of_range, 2);
}

#[test]
fn what_the_simulator_builds_the_receiver_takes_back() {
    let recording_like: Vec<Sample> = (0..4u16)
        .map(|i| Sample {
            values: [560 + i, 0, 0, 320, 40 + i],
            quality: [
                Quality::Unknown,
                Quality::None,
                Quality::None,
                Quality::Unknown,
                Quality::Unknown,
            ],
            fetal_movement: false,
        })
        .collect();
    let message = build_oru(&recording_like, "SIM-1", NOW);
    let handled = OruReceiver::new("B").handle(&message, NOW);
    assert_eq!(handled.code, AckCode::AA, "{:?}", handled.reason);
    let values: Vec<_> = handled
        .block
        .unwrap()
        .samples
        .iter()
        .map(|s| s.values)
        .collect();
    let expected: Vec<_> = recording_like.iter().map(|s| s.values).collect();
    assert_eq!(values, expected);
}

#[test]
fn timestamps_are_civil_utc() {
    assert_eq!(hl7_timestamp(0), "19700101000000");
    assert_eq!(hl7_timestamp(951_782_400_000), "20000229000000");
    assert_eq!(hl7_timestamp(NOW), "20260115093000");
}

/// The patient an accepted message names: PID-3's ID and PID-5's name (the notes' example:
/// `MRN4711`, `DOE JANE`); told once, and again only when she changes; none from a message
/// without a PID, one without an ID in it, or one that was not accepted.
#[test]
fn the_pid_segment_names_the_patient() {
    let mut receiver = OruReceiver::new("MIMAMORI");
    let handled = receiver.handle(&example(), NOW);
    assert_eq!(
        handled.patient,
        Some(("MRN4711".to_string(), "DOE JANE".to_string()))
    );
    let text = String::from_utf8(example()).unwrap();
    let with = |pid: &str| {
        text.replace("PID|||MRN4711^^^HOSP^MR||DOE^JANE", pid)
            .into_bytes()
    };
    let patient = |bytes: &[u8]| OruReceiver::new("M").handle(bytes, NOW).patient;
    assert_eq!(patient(&with("PID|||||DOE^JANE")), None, "no ID");
    assert_eq!(
        patient(&with("PID|||^^^HOSP~ID2^^^HOSP||ROE^ANN^B")),
        Some(("ID2".into(), "ROE ANN B".into())),
        "the first repeat with an ID; family, given and middle names"
    );
    assert_eq!(
        patient(&with("PID|||X9")),
        Some(("X9".into(), String::new())),
        "no name"
    );
    let long = "A".repeat(300);
    let (id, _) = patient(&with(&format!("PID|||{long}"))).unwrap();
    assert_eq!(id.len(), MAX_PATIENT_TEXT, "cut to the wire's limit");
    assert_eq!(
        patient(
            &text
                .replace("PID|||MRN4711^^^HOSP^MR||DOE^JANE\r", "")
                .into_bytes()
        ),
        None
    );
    // Not accepted (a value that is not a number): no patient either.
    let rejected = text.replace("|140.25^", "|x^").into_bytes();
    let handled = OruReceiver::new("M").handle(&rejected, NOW);
    assert_ne!(handled.code, AckCode::AA);
    assert_eq!(handled.patient, None);

    let mut told = None;
    let jane = Some(("MRN4711".to_string(), "DOE JANE".to_string()));
    assert!(matches!(
        crate::patient_change(&mut told, jane.clone()),
        Some(ctg_proto::model::EventKind::PatientIdentified { .. })
    ));
    assert_eq!(
        crate::patient_change(&mut told, jane),
        None,
        "the same: told once"
    );
    assert_eq!(crate::patient_change(&mut told, None), None);
    assert!(crate::patient_change(&mut told, Some(("X9".into(), String::new()))).is_some());
}
