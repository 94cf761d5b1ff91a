//! What a restart of the hub keeps of its alerting: it goes on watching the bridges it was
//! watching, so one that never comes back is told as one that leaves is; it says that it was
//! down; and the contractions told before it count on towards tachysystole.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ctg_alerts::{AlertKind, AlertsConfig, Subject};
use ctg_hub::Hub;
use ctg_hub::store::Write;
use ctg_proto::model::{DeviceInfo, DeviceProtocol, Sample, SampleBlock, StreamIdentity};

/// A contraction every 100 s (18 in 30 minutes, more than FIGO's 5 in 10 minutes) on a steady
/// 140 bpm: the toco at sample `i`, in half units.
fn toco_at(i: u64) -> u16 {
    let in_cycle = (i % 400) as f64 / 4.0;
    let units = if in_cycle < 60.0 {
        10.0 + 50.0 * (std::f64::consts::PI * in_cycle / 60.0).sin().powi(2)
    } else {
        10.0
    };
    (units * 2.0) as u16
}

/// Sends `minutes` of the trace from sample `from`, in 10-s blocks stamped from `start_ms`.
async fn send_minutes(hub: &Arc<Hub>, stream: i64, from: u64, minutes: u64, start_ms: i64) {
    for first in (from..from + minutes * 240).step_by(40) {
        let block = SampleBlock {
            first_seq: first,
            utc_ms: start_ms + first as i64 * 250,
            samples: (first..first + 40)
                .map(|i| Sample {
                    values: [560, 0, 0, 0, toco_at(i)],
                    ..Sample::default()
                })
                .collect(),
            ..SampleBlock::default()
        };
        hub.wait_for_analysis(stream, 40).await;
        assert!(hub.claim_block(stream, &block));
        hub.commit(vec![Write::Block(stream, block)]).await.unwrap();
    }
}

/// Waits up to 30 s for `done`.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(30), "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Tachysystole counts the contractions of the last 30 minutes: a restart does not start that
/// count again, so an open tachysystole alert stays open while the contractions keep coming
/// (it used to resolve at the first one after the restart, the count being one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tachysystole_stays_open_across_a_restart_while_the_contractions_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    let identity = StreamIdentity {
        facility: "clinic-a".into(),
        bridge: "ldr-pc-1".into(),
        port: "bed-1".into(),
        episode_start_utc_ms: 1,
    };
    let device = DeviceInfo::unidentified(DeviceProtocol::Series50);
    let start_ms = ctg_hub::utc_now_ms() - 60 * 60_000;
    let tachysystole = |hub: &Hub| -> Vec<ctg_alerts::Alert> {
        hub.alerts()
            .into_iter()
            .filter(|a| a.kind == AlertKind::Tachysystole)
            .collect()
    };
    let contractions = |hub: &Hub, stream: i64| {
        hub.records
            .findings(stream, Some("contraction"), 1000)
            .unwrap()
            .len()
    };
    let (stream, raised, told) = {
        let hub = Hub::open(&db, "hub", "centre").unwrap();
        hub.start_alerts();
        let (record, _, _) = hub.open_stream(&identity, &device).await.unwrap();
        send_minutes(&hub, record.id, 0, 40, start_ms).await;
        until("no tachysystole alert", || !tachysystole(&hub).is_empty()).await;
        let raised = tachysystole(&hub);
        assert!(raised[0].resolved_ms.is_none());
        hub.keep_watched();
        (record.id, raised[0].id, contractions(&hub, record.id))
    };
    let hub = Hub::open(&db, "hub", "centre").unwrap();
    hub.start_alerts();
    let (record, _, _) = hub.open_stream(&identity, &device).await.unwrap();
    assert_eq!(record.id, stream);
    send_minutes(&hub, stream, 40 * 240, 12, start_ms).await;
    // Wait until the contractions after the restart have been told (each is stored as the
    // alert rules are given it).
    until("no contraction told after the restart", || {
        contractions(&hub, stream) >= told + 5
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = tachysystole(&hub);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].id, raised, "the same alert");
    assert!(
        after[0].resolved_ms.is_none(),
        "still 18 contractions in 30 minutes: {:?}",
        after[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_that_does_not_come_back_after_a_restart_is_told_offline() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    let mut config = AlertsConfig::default();
    config.rules.restart_grace_ms = 500;
    config.rules.bridge_offline_ms = 1_000;
    {
        let hub = Hub::open_with(&db, "hub", "centre", config.clone()).unwrap();
        for bridge in ["ldr-pc-1", "ldr-pc-2"] {
            hub.bridge_seen(bridge, "clinic-a", true);
        }
        // Stopping: kept as it is before the hub sends its bridges away.
        hub.stopping();
        for bridge in ["ldr-pc-1", "ldr-pc-2"] {
            hub.bridge_seen(bridge, "clinic-a", false);
        }
        hub.keep_watched();
    }
    let hub = Hub::open_with(&db, "hub", "centre", config).unwrap();
    hub.start_alerts();
    let restarted = Instant::now();
    hub.bridge_seen("ldr-pc-2", "clinic-a", true);
    let offline = |hub: &Hub| -> Vec<String> {
        hub.alerts()
            .into_iter()
            .filter(|a| a.kind == AlertKind::BridgeOffline)
            .filter_map(|a| match a.subject {
                Subject::Bridge { name, .. } => Some(name),
                Subject::Stream { .. } => None,
            })
            .collect()
    };
    while offline(&hub).is_empty() {
        assert!(
            restarted.elapsed() < Duration::from_secs(10),
            "no offline alert"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Not before the grace and the delay: the hub had sent it away, it had not left.
    assert!(
        restarted.elapsed() >= Duration::from_millis(1_400),
        "{:?}",
        restarted.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        offline(&hub),
        ["ldr-pc-1"],
        "the bridge that came back is not told"
    );
}

/// A hub that was not running for a while says so when it starts again (nothing was watched
/// meanwhile), for the centre, until someone acknowledges it; one restarted at once does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_that_was_down_for_minutes_says_so_when_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    let down = |hub: &Hub| -> Vec<ctg_alerts::Alert> {
        hub.alerts()
            .into_iter()
            .filter(|a| a.kind == AlertKind::HubDown)
            .collect()
    };
    {
        let hub = Hub::open(&db, "hub", "centre").unwrap();
        assert!(down(&hub).is_empty(), "a first start");
        hub.keep_watched();
    }
    {
        let hub = Hub::open(&db, "hub", "centre").unwrap();
        assert!(down(&hub).is_empty(), "restarted at once");
        hub.stopping();
    }
    // Its last sign of running moved back 7 minutes: it was down that long.
    let db_connection = rusqlite::Connection::open(&db).unwrap();
    let kept: Vec<u8> = db_connection
        .query_row("SELECT value FROM hub_keys WHERE name='watched'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let mut kept: serde_json::Value = serde_json::from_slice(&kept).unwrap();
    kept["at_ms"] = (kept["at_ms"].as_i64().unwrap() - 7 * 60_000).into();
    db_connection
        .execute(
            "UPDATE hub_keys SET value=?1 WHERE name='watched'",
            [serde_json::to_vec(&kept).unwrap()],
        )
        .unwrap();
    let hub = Hub::open(&db, "hub", "centre").unwrap();
    let told = down(&hub);
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].facts["down_min"], 7, "{:?}", told[0].facts);
    assert_eq!(told[0].subject.facility(), "centre");
    let acked = hub
        .acknowledge(told[0].id, "ob", "the server was moved")
        .unwrap();
    assert!(acked.resolved_ms.is_some(), "resolved by acknowledgement");
    drop(hub);
    // Acknowledged and over: not held again at the next start.
    let hub = Hub::open(&db, "hub", "centre").unwrap();
    assert!(down(&hub).is_empty());
}
