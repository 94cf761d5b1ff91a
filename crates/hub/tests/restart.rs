//! What a restart of the hub keeps of its alerting: it goes on watching the bridges it was
//! watching, so one that never comes back is told as one that leaves is.

use std::time::{Duration, Instant};

use ctg_alerts::{AlertKind, AlertsConfig, Subject};
use ctg_hub::Hub;

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
