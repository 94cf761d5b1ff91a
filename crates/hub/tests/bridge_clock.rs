//! A bridge whose clock is off the hub's: its heartbeats (the real wire protocol, over real QUIC
//! with mutual TLS) make the hub raise a technical alert saying by how much, and the hub keeps
//! the offset for the wall; set right, the alert is resolved.

mod common;

use std::sync::Arc;
use std::time::Duration;

use ctg_hub::Hub;
use ctg_proto::wire::{Hello, Message, PROTOCOL_VERSION};

fn utc_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_whose_clock_is_off_is_told_by_how_much() {
    let dir = tempfile::tempdir().unwrap();
    let hub: Arc<Hub> = Hub::open(&dir.path().join("hub.db"), "hub", "centre").unwrap();
    let (pki, address) = common::ingest_with_bridge(&hub, dir.path(), "ldr-pc-1", "clinic-a").await;
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(
        ctg_tls::quic::client_config(
            &pki.join("ca.pem"),
            &pki.join("ldr-pc-1.pem"),
            &pki.join("ldr-pc-1.key"),
        )
        .unwrap(),
    );
    let connection = endpoint
        .connect(address, "localhost")
        .unwrap()
        .await
        .unwrap();
    let (mut tx, mut rx) = connection.open_bi().await.unwrap();
    let send = |message: Message| ctg_proto::encode_frame(&message).unwrap();
    tx.write_all(&send(Message::Hello(Hello {
        min_version: PROTOCOL_VERSION,
        max_version: PROTOCOL_VERSION,
        bridge_id: "ldr-pc-1".into(),
        software: "test".into(),
    })))
    .await
    .unwrap();
    let mut buffer = vec![0u8; 4096];
    let n = rx.read(&mut buffer).await.unwrap().unwrap();
    let mut input = &buffer[..n];
    let welcome = ctg_proto::FrameDecoder::new()
        .next_message(&mut input)
        .unwrap()
        .unwrap();
    assert!(matches!(welcome, Message::Welcome(_)), "{welcome:?}");

    let clock_alert = |hub: &Hub| {
        hub.alerts()
            .into_iter()
            .find(|a| a.kind == ctg_alerts::AlertKind::BridgeClock)
    };
    // Its clock 95 s ahead (a PC without time synchronisation).
    tx.write_all(&send(Message::Heartbeat {
        utc_ms: utc_now_ms() + 95_000,
    }))
    .await
    .unwrap();
    let raised = wait_for(|| clock_alert(&hub)).await;
    assert_eq!(
        raised.detail,
        "bridge ldr-pc-1's clock is 95 s ahead of the hub's: its trace times are off by as much \
         (check its time synchronisation, NTP)"
    );
    assert_eq!(raised.subject.facility(), "clinic-a");
    let offset = hub.bridge_clocks()[&("ldr-pc-1".to_owned(), "clinic-a".to_owned())];
    assert!((94_000..=95_000).contains(&offset), "{offset}");

    // Set right: after a dozen heartbeats on time, resolved.
    for _ in 0..12 {
        tx.write_all(&send(Message::Heartbeat {
            utc_ms: utc_now_ms(),
        }))
        .await
        .unwrap();
    }
    let resolved = wait_for(|| clock_alert(&hub).filter(|a| a.resolved_ms.is_some())).await;
    assert_eq!(resolved.id, raised.id);
    let offset = hub.bridge_clocks()[&("ldr-pc-1".to_owned(), "clinic-a".to_owned())];
    assert!(offset.abs() < 1_000, "{offset}");
}

/// Polls `check` for up to 10 s.
async fn wait_for<T>(mut check: impl FnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(found) = check() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within 10 s");
}

/// Alert IDs go on above those of before a restart: an ID names one alert in the stored
/// dispatch log and the audit log, not one alert before the restart and another after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_ids_go_on_across_a_restart_of_the_hub() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    let raise = |hub: &Hub, bridge: &str| {
        hub.bridge_clock(bridge, "clinic-a", utc_now_ms() + 60_000);
        hub.alerts()
            .into_iter()
            .find(|a| matches!(&a.subject, ctg_alerts::Subject::Bridge { name, .. } if name == bridge))
            .expect("the clock alert")
            .id
    };
    let first = {
        let hub: Arc<Hub> = Hub::open(&db, "hub", "centre").unwrap();
        raise(&hub, "ldr-pc-1")
    };
    let hub: Arc<Hub> = Hub::open(&db, "hub", "centre").unwrap();
    let second = raise(&hub, "ldr-pc-2");
    assert!(second > first, "{second} after {first}");
    // Many alerts later (past a reserved block) and another restart: still above.
    for n in 0..(ctg_hub::notify::ALERT_ID_BLOCK + 5) {
        raise(&hub, &format!("pc-{n}"));
    }
    let last = hub.alerts().iter().map(|a| a.id).max().unwrap();
    drop(hub);
    let hub: Arc<Hub> = Hub::open(&db, "hub", "centre").unwrap();
    let after = raise(&hub, "ldr-pc-3");
    assert!(after > last, "{after} after {last}");
}
