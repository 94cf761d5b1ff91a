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
