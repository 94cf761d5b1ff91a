//! The load harness end to end: `mimamori bench load` starts a real hub process, connects
//! simulated bridges over QUIC with mutual TLS and viewers over WebSocket, kills and restarts
//! the hub mid-run, and must report every sample acknowledged and live latencies measured.

use crate::util::mimamori_ok;

#[test]
fn a_small_load_run_with_a_hub_restart_loses_nothing() {
    let out = tempfile::tempdir().unwrap();
    let stdout = mimamori_ok(&[
        "bench",
        "load",
        "--streams",
        "24",
        "--viewers",
        "3",
        "--wall",
        "8",
        "--seconds",
        "8",
        "--restart-at",
        "3",
        "--backlog",
        "30",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(stdout.contains("summary:"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("load-24x3.json")).unwrap())
            .unwrap();
    assert_eq!(report["schema"], "mimamori.bench.load.v1");
    assert_eq!(report["samples_lost"], 0, "{report:#}");
    let created = report["samples_created"].as_u64().unwrap();
    // 30 s of backlog plus at least the measured 8 s for each of 24 streams.
    assert!(created >= 24 * 4 * (30 + 8), "{created}");
    assert_eq!(report["samples_acknowledged"].as_u64().unwrap(), created);
    assert!(report["latency_ms"]["count"].as_u64().unwrap() > 0);
    assert!(report["latency_ms"]["p50"].as_f64().unwrap() > 0.0);
    let recovery = &report["recovery"];
    assert!(
        recovery["all_reconnected_s"].as_f64().unwrap() > 0.0,
        "{report:#}"
    );
    assert!(recovery["caught_up_s"].as_f64().unwrap() >= recovery["hub_start_s"].as_f64().unwrap());
    assert!(report["backfill_s"].as_f64().unwrap() > 0.0);
    assert!(report["hub_rss_end_mib"].as_f64().unwrap() > 1.0);
}
