//! A stream whose HL7 sender names the patient (the PID segment, told by the bridge as
//! `EventKind::PatientIdentified`) has her put on it by the hub: found among her facility's
//! patients by her patient ID or added, in a new episode, audited as the system's doing; told
//! again, nothing changes; another patient on the same monitor starts another episode.

use ctg_hub::Hub;
use ctg_hub::records::NewPatient;
use ctg_hub::store::Write;
use ctg_proto::model::{DeviceInfo, DeviceProtocol, EventKind, StreamEvent, StreamIdentity};

fn identity(facility: &str, port: &str) -> StreamIdentity {
    StreamIdentity {
        facility: facility.into(),
        bridge: "b".into(),
        port: port.into(),
        episode_start_utc_ms: 1,
    }
}

async fn tell(hub: &Hub, stream: i64, seq: u64, patient_ref: &str, name: &str) {
    let event = StreamEvent {
        seq,
        at_sample: 0,
        utc_ms: 1,
        kind: EventKind::PatientIdentified {
            patient_ref: patient_ref.into(),
            name: name.into(),
        },
    };
    assert!(hub.claim_event(stream, seq));
    hub.commit(vec![Write::Event(stream, event)]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_patient_an_hl7_sender_names_is_put_on_its_stream() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::open(&dir.path().join("hub.db"), "hub", "centre").unwrap();
    let device = DeviceInfo {
        protocol: DeviceProtocol::Hl7Mllp,
        model: String::new(),
        serial: String::new(),
        software: String::new(),
    };
    let (a, _, _) = hub
        .open_stream(&identity("clinic-a", "bed-4"), &device)
        .await
        .unwrap();
    let (b, _, _) = hub
        .open_stream(&identity("clinic-b", "bed-1"), &device)
        .await
        .unwrap();
    // Staff entered her at clinic-a before (with her gestational age), not yet on a stream;
    // a patient with the same ID at clinic-b is somebody else.
    let entered = hub
        .records
        .add_patient(&NewPatient {
            facility: "clinic-a".into(),
            patient_ref: "MRN4711".into(),
            name: "Doe Jane".into(),
            gestational_weeks: Some(31),
            gestational_days: None,
            parity: Some(0),
            notes: String::new(),
        })
        .unwrap();
    tell(&hub, a.id, 0, "MRN4711", "DOE JANE").await;
    let on_a = hub
        .records
        .stream_patient(a.id)
        .unwrap()
        .expect("a patient on the stream");
    assert_eq!(
        on_a.id, entered,
        "the entered patient, found by her ID, not a copy"
    );
    assert_eq!(
        hub.records.stream_gestational_weeks(a.id).unwrap(),
        Some(31)
    );
    assert!(
        hub.records.stream_patient(b.id).unwrap().is_none(),
        "another facility's stream untouched"
    );
    // Told again (a sender that reconnected): no second episode.
    tell(&hub, a.id, 1, "MRN4711", "DOE JANE").await;
    assert_eq!(hub.records.episodes(entered).unwrap().len(), 1);

    // The same ID at clinic-b names clinic-b's own patient: added there, with the name sent.
    tell(&hub, b.id, 0, "MRN4711", "ROE RICHARDA").await;
    let on_b = hub.records.stream_patient(b.id).unwrap().unwrap();
    assert_ne!(on_b.id, entered);
    assert_eq!(on_b.details.facility, "clinic-b");
    assert_eq!(on_b.details.name, "ROE RICHARDA");

    // Another woman on clinic-a's monitor: a new episode puts her on the stream.
    tell(&hub, a.id, 2, "MRN5000", "SMITH ANNA").await;
    let now_on_a = hub.records.stream_patient(a.id).unwrap().unwrap();
    assert_eq!(now_on_a.details.patient_ref, "MRN5000");
    assert_eq!(hub.records.stream_gestational_weeks(a.id).unwrap(), None);

    // Each put in the audit log as the system's doing, naming the sender.
    let audit = hub.accounts.audit_log(100).unwrap();
    let by_device = audit
        .iter()
        .filter(|e| {
            e.actor == "-" && e.action == "episode_started" && e.target.contains("HL7 sender")
        })
        .count();
    assert_eq!(by_device, 3, "{audit:?}");
}
