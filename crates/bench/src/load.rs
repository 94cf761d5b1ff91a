//! `mimamori bench load`: one run of N simulated bridges and M viewers against a real hub
//! process, and its report.
//!
//! Phases: prepare the hub (own process, own scratch folder), measure it idle; open the N
//! connections over the ramp; sign the viewers in and subscribe each to a wall; measure for S
//! seconds (latency, the hub's CPU and memory from `/proc`, disk growth, ingest rate);
//! optionally kill -9 the hub mid-run and restart it (recovery); stop creating blocks and wait
//! until everything is acknowledged or the drain time is up; count what was lost.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::fleet::{BLOCK_SAMPLES, Fleet, FleetConfig, port_name};
use crate::hub_process::{HubProcess, ProcSample, VIEWER, proc_sample};
use crate::viewers::{Measurements, login, stream_ids, viewer};

/// What to run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadConfig {
    /// Simulated bridges, one stream each.
    pub streams: usize,
    /// WebSocket viewers.
    pub viewers: usize,
    /// Streams on each viewer's wall.
    pub wall: usize,
    /// Seconds measured.
    pub seconds: u64,
    /// Seconds over which the connections are opened (default: 2 ms per stream, ≥ 2 s).
    pub ramp_s: f64,
    /// Kill -9 and restart the hub this many seconds into the measurement.
    pub restart_at_s: Option<u64>,
    /// Seconds of blocks each bridge holds before it connects (a backfill after an outage).
    pub backlog_s: u64,
}

/// Latency percentiles, milliseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Percentiles {
    /// Live blocks measured.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

/// What one run measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadReport {
    /// The schema of this JSON.
    pub schema: String,
    /// What was run.
    pub config: LoadConfig,
    /// The machine (`nproc`, memory).
    pub machine: String,
    /// Seconds from the first connection to all connected.
    pub all_connected_s: f64,
    /// Block creation at the bridge → arrival at a viewer.
    pub latency_ms: Percentiles,
    /// Samples created by the bridges.
    pub samples_created: u64,
    /// Samples the hub acknowledged as durable.
    pub samples_acknowledged: u64,
    /// Created and never acknowledged (must be 0).
    pub samples_lost: u64,
    /// Blocks the viewers' live feed went past (skipped gaps).
    pub viewer_skipped_blocks: u64,
    /// Samples committed per second during the measurement.
    pub ingest_samples_per_s: f64,
    /// The hub's CPU during the measurement, percent of one core.
    pub hub_cpu_percent: f64,
    /// The load generator's CPU (bridges + viewers), percent of one core.
    pub generator_cpu_percent: f64,
    /// The hub's resident memory before any stream, MiB.
    pub hub_rss_idle_mib: f64,
    /// … at the end of the measurement.
    pub hub_rss_end_mib: f64,
    /// … at its peak.
    pub hub_peak_rss_mib: f64,
    /// (end − idle) / streams, KiB.
    pub memory_per_stream_kib: f64,
    /// Database growth during the measurement per stream-hour (blocks not yet folded into
    /// 30-minute chunks cost more than compacted ones).
    pub disk_bytes_per_stream_hour: f64,
    /// Store transactions (fsyncs) per second during the measurement.
    pub store_transactions_per_s: f64,
    /// Recovery after the restart, if one was asked for.
    pub recovery: Option<Recovery>,
    /// Backfill of the bridges' initial backlog, if one was asked for.
    pub backfill_s: Option<f64>,
    /// The hub's counters at the end.
    pub hub_counters: serde_json::Value,
}

/// Recovery figures after kill -9 and restart.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Recovery {
    /// Restart → API answering.
    pub hub_start_s: f64,
    /// Restart → every stream connected again.
    pub all_reconnected_s: f64,
    /// Restart → every sample created before the restart acknowledged.
    pub caught_up_s: f64,
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(String::new(), |kib| format!(", {:.0} GiB", kib / 1048576.0));
    format!("{cores} cores{memory}")
}

/// Runs one load test with the `mimamori` binary at `exe`; prints progress.
pub async fn run(exe: &Path, config: LoadConfig) -> Result<LoadReport> {
    let scratch = tempfile::tempdir()?;
    let mut hub = HubProcess::prepare(exe, scratch.path())?;
    hub.start()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = hub.sample().context("reading the hub's /proc")?;
    let client = ctg_tls::quic::client_config(
        &hub.pki().join("ca.pem"),
        &hub.pki().join("bridge.pem"),
        &hub.pki().join("bridge.key"),
    )?;
    println!(
        "load: {} streams, {} viewers × {} streams, {} s measured (ramp {:.0} s)",
        config.streams, config.viewers, config.wall, config.seconds, config.ramp_s
    );
    let fleet = Fleet::start(
        &FleetConfig {
            streams: config.streams,
            ramp: Duration::from_secs_f64(config.ramp_s),
            per_endpoint: 50,
            backlog_blocks: config.backlog_s,
        },
        hub.quic,
        client,
    )?;
    let ramp_started = Instant::now();
    let backlog_end = config.backlog_s * BLOCK_SAMPLES;
    let mut backfill_s = None;
    let mut last_print = Instant::now();
    loop {
        let connected = fleet.connected();
        if backfill_s.is_none()
            && config.backlog_s > 0
            && fleet
                .streams
                .iter()
                .all(|s| s.acknowledged.load(Ordering::Relaxed) >= backlog_end)
        {
            backfill_s = Some(ramp_started.elapsed().as_secs_f64());
        }
        if connected == config.streams && (config.backlog_s == 0 || backfill_s.is_some()) {
            break;
        }
        if last_print.elapsed() > Duration::from_secs(5) {
            last_print = Instant::now();
            println!(
                "  {:>5.1} s  connected {connected} of {}",
                ramp_started.elapsed().as_secs_f64(),
                config.streams
            );
        }
        if ramp_started.elapsed() > Duration::from_secs_f64(config.ramp_s + 120.0) {
            bail!(
                "only {connected} of {} streams connected 120 s after the ramp",
                config.streams
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all_connected_s = ramp_started.elapsed().as_secs_f64();
    println!(
        "  all {} streams connected after {all_connected_s:.1} s",
        config.streams
    );

    let cookie = login(hub.http, VIEWER.0, VIEWER.1).await?;
    let ids = stream_ids(hub.http, &cookie).await?;
    let mut all = Vec::new();
    for (n, state) in fleet.streams.iter().enumerate() {
        let id = *ids
            .get(&port_name(n))
            .with_context(|| format!("stream {} is not in the hub's list", port_name(n)))?;
        all.push((id, state.clone()));
    }
    let measurements = Arc::new(Measurements::new()?);
    let stop_viewers = Arc::new(AtomicBool::new(false));
    let mut viewer_tasks = Vec::new();
    for v in 0..config.viewers {
        let wall = (0..config.wall.min(all.len()))
            .map(|i| all[(v * config.wall + i) % all.len()].clone())
            .collect();
        viewer_tasks.push(tokio::spawn(viewer(
            hub.http,
            cookie.clone(),
            wall,
            measurements.clone(),
            stop_viewers.clone(),
        )));
    }
    // Let the first paints through, then measure.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t0 = Instant::now();
    *measurements
        .measure_from
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = Some(t0);
    let (hub0, gen0, disk0) = (
        hub.sample().context("the hub's /proc")?,
        proc_sample("/proc/self").unwrap_or_default(),
        hub.disk_bytes(),
    );
    let counters0 = status(&hub, &cookie).await.unwrap_or_default();
    let mut hub_cpu_before_restart = 0.0;
    let mut recovery = None;
    let mut last_hub: ProcSample = hub0;
    while t0.elapsed() < Duration::from_secs(config.seconds) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some(sample) = hub.sample() {
            last_hub = sample;
        }
        let elapsed = t0.elapsed().as_secs();
        if config.restart_at_s == Some(elapsed) && recovery.is_none() {
            recovery = Some(restart(&mut hub, &fleet).await?);
            hub_cpu_before_restart = last_hub.cpu_s - hub0.cpu_s;
            last_hub = ProcSample::default();
        }
        if elapsed.is_multiple_of(10) {
            let l = measurements
                .latency_us
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            println!(
                "  {elapsed:>5} s  blocks seen {}  p50 {:.1} ms  p99 {:.1} ms  hub RSS {:.0} MiB",
                l.len(),
                l.value_at_quantile(0.5) as f64 / 1000.0,
                l.value_at_quantile(0.99) as f64 / 1000.0,
                last_hub.rss_kib as f64 / 1024.0
            );
        }
    }
    let measured_s = t0.elapsed().as_secs_f64();
    let hub1 = hub.sample().unwrap_or(last_hub);
    let gen1 = proc_sample("/proc/self").unwrap_or_default();
    let disk1 = hub.disk_bytes();
    let counters1 = status(&hub, &cookie).await.unwrap_or_default();

    // Drain: stop creating, wait for the last acknowledgements.
    fleet.stop_generating();
    let drain = Instant::now();
    while fleet.unacknowledged_samples() > 0 && drain.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop_viewers.store(true, Ordering::Relaxed);
    for task in viewer_tasks {
        let _ = task.await;
    }
    let created: u64 = fleet
        .streams
        .iter()
        .map(|s| s.generated.load(Ordering::Relaxed) * BLOCK_SAMPLES)
        .sum();
    let lost = fleet.unacknowledged_samples();
    let counters_end = status(&hub, &cookie).await.unwrap_or_default();
    fleet.shutdown();
    hub.kill()?;

    let latency = measurements
        .latency_us
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    let counter = |c: &serde_json::Value, key: &str| c["counters"][key].as_f64().unwrap_or(0.0);
    let restarted = recovery.is_some();
    // After a restart the hub's counters and CPU start again from zero.
    let delta = |key: &str| {
        if restarted {
            counter(&counters1, key)
        } else {
            counter(&counters1, key) - counter(&counters0, key)
        }
    };
    let hub_cpu_s = if restarted {
        hub_cpu_before_restart + hub1.cpu_s
    } else {
        hub1.cpu_s - hub0.cpu_s
    };
    let mib = |kib: u64| kib as f64 / 1024.0;
    let report = LoadReport {
        schema: "mimamori.bench.load.v1".into(),
        machine: machine(),
        all_connected_s,
        latency_ms: Percentiles {
            count: latency.len(),
            p50: ms(0.5),
            p90: ms(0.9),
            p99: ms(0.99),
            p999: ms(0.999),
            max: latency.max() as f64 / 1000.0,
        },
        samples_created: created,
        samples_acknowledged: created - lost,
        samples_lost: lost,
        viewer_skipped_blocks: measurements.skipped_blocks.load(Ordering::Relaxed),
        ingest_samples_per_s: delta("blocks_committed") * BLOCK_SAMPLES as f64 / measured_s,
        hub_cpu_percent: 100.0 * hub_cpu_s / measured_s,
        generator_cpu_percent: 100.0 * (gen1.cpu_s - gen0.cpu_s) / measured_s,
        hub_rss_idle_mib: mib(idle.rss_kib),
        hub_rss_end_mib: mib(hub1.rss_kib),
        hub_peak_rss_mib: mib(hub1.peak_rss_kib.max(last_hub.peak_rss_kib)),
        memory_per_stream_kib: hub1.rss_kib.saturating_sub(idle.rss_kib) as f64
            / config.streams.max(1) as f64,
        disk_bytes_per_stream_hour: disk1.saturating_sub(disk0) as f64
            / (config.streams.max(1) as f64 * measured_s / 3600.0),
        store_transactions_per_s: delta("store_transactions") / measured_s,
        recovery,
        backfill_s,
        hub_counters: counters_end["counters"].clone(),
        config,
    };
    Ok(report)
}

async fn status(hub: &HubProcess, cookie: &str) -> Result<serde_json::Value> {
    let (_, body) = crate::viewers::http(hub.http, "GET", "/api/status", cookie, "").await?;
    Ok(serde_json::from_str(&body)?)
}

/// Kill -9, restart at once, and time the way back.
async fn restart(hub: &mut HubProcess, fleet: &Fleet) -> Result<Recovery> {
    println!("  killing the hub (SIGKILL) and restarting it");
    hub.kill()?;
    let restarted = Instant::now();
    let owed: Vec<u64> = fleet
        .streams
        .iter()
        .map(|s| s.generated.load(Ordering::Relaxed) * BLOCK_SAMPLES)
        .collect();
    let connections_before: Vec<u64> = fleet
        .streams
        .iter()
        .map(|s| s.connections.load(Ordering::Relaxed))
        .collect();
    let hub_start_s = hub.start()?.as_secs_f64();
    let mut all_reconnected_s = None;
    loop {
        // A stream is back once it has opened a new connection since the restart.
        let back = fleet
            .streams
            .iter()
            .zip(&connections_before)
            .filter(|(s, before)| s.connections.load(Ordering::Relaxed) > **before)
            .count();
        if all_reconnected_s.is_none() && back == fleet.streams.len() {
            all_reconnected_s = Some(restarted.elapsed().as_secs_f64());
        }
        let caught_up = fleet
            .streams
            .iter()
            .zip(&owed)
            .all(|(s, owed)| s.acknowledged.load(Ordering::Relaxed) >= *owed);
        if caught_up && let Some(all_reconnected_s) = all_reconnected_s {
            let caught_up_s = restarted.elapsed().as_secs_f64();
            println!(
                "  hub back in {hub_start_s:.2} s; all streams reconnected in {all_reconnected_s:.1} s, caught up in {caught_up_s:.1} s"
            );
            return Ok(Recovery {
                hub_start_s,
                all_reconnected_s,
                caught_up_s,
            });
        }
        if restarted.elapsed() > Duration::from_secs(120) {
            bail!("the streams did not catch up within 120 s of the restart");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
