//! `mimamori bench sweep`: load runs over increasing stream counts, each against a fresh hub;
//! finds the largest count at which the p99 stays within the target with nothing lost, and
//! draws the curves.

use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::load::{LoadConfig, LoadReport};
use crate::plot::{Chart, Series, svg};

/// The latency target: p99 from bridge to viewer (DESIGN.md).
pub const TARGET_P99_MS: f64 = 50.0;

/// What a sweep found.
#[derive(Debug, Serialize, Deserialize)]
pub struct SweepReport {
    /// The schema of this JSON.
    pub schema: String,
    /// The largest stream count with p99 ≤ the target and zero loss.
    pub capacity_streams: Option<usize>,
    /// The first stream count that failed, and why.
    pub broke_at: Option<(usize, String)>,
    /// Every run.
    pub runs: Vec<LoadReport>,
}

/// Whether a run met the bar; if not, why.
pub fn verdict(report: &LoadReport) -> Result<(), String> {
    if report.samples_lost > 0 {
        return Err(format!("{} samples lost", report.samples_lost));
    }
    if report.latency_ms.p99 > TARGET_P99_MS {
        return Err(format!(
            "p99 {:.1} ms > {TARGET_P99_MS} ms",
            report.latency_ms.p99
        ));
    }
    Ok(())
}

/// Runs the sweep; `run_one` runs one load test (an error there ends the sweep as a failure
/// at that count). Stops after the first failure.
pub async fn sweep<F, Fut>(counts: &[usize], base: &LoadConfig, mut run_one: F) -> SweepReport
where
    F: FnMut(LoadConfig) -> Fut,
    Fut: Future<Output = Result<LoadReport>>,
{
    let mut report = SweepReport {
        schema: "mimamori.bench.sweep.v1".into(),
        capacity_streams: None,
        broke_at: None,
        runs: Vec::new(),
    };
    for &streams in counts {
        let config = LoadConfig {
            streams,
            ramp_s: default_ramp_s(streams),
            ..base.clone()
        };
        println!("sweep: {streams} streams");
        match run_one(config).await {
            Ok(run) => {
                let outcome = verdict(&run);
                println!(
                    "sweep: {streams} streams: p99 {:.1} ms, lost {}, hub CPU {:.0} %: {}",
                    run.latency_ms.p99,
                    run.samples_lost,
                    run.hub_cpu_percent,
                    outcome
                        .as_ref()
                        .map_or_else(|e| format!("fails ({e})"), |()| "meets the bar".into())
                );
                report.runs.push(run);
                match outcome {
                    Ok(()) => report.capacity_streams = Some(streams),
                    Err(why) => {
                        report.broke_at = Some((streams, why));
                        break;
                    }
                }
            }
            Err(error) => {
                println!("sweep: {streams} streams: the run failed: {error:#}");
                report.broke_at = Some((streams, format!("{error:#}")));
                break;
            }
        }
    }
    report
}

/// The default connection ramp: 2 ms per stream, at least 2 s.
pub fn default_ramp_s(streams: usize) -> f64 {
    (streams as f64 * 0.002).max(2.0)
}

/// Writes the sweep's plots into `dir`: latency percentiles, and CPU and memory, against the
/// stream count.
pub fn write_plots(report: &SweepReport, dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let series = |name: &str, f: &dyn Fn(&LoadReport) -> f64| Series {
        name: name.into(),
        points: report
            .runs
            .iter()
            .map(|r| (r.config.streams as f64, f(r)))
            .collect(),
    };
    let latency = svg(&Chart {
        title: "Bridge → viewer latency against streams",
        x_label: "streams (one QUIC connection each, 4 samples/s)",
        y_label: "latency, ms (log scale)",
        series: vec![
            series("p50", &|r| r.latency_ms.p50),
            series("p90", &|r| r.latency_ms.p90),
            series("p99", &|r| r.latency_ms.p99),
        ],
        limit: Some((TARGET_P99_MS, "p99 target")),
        log_y: true,
    });
    let cpu = svg(&Chart {
        title: "CPU against streams",
        x_label: "streams",
        y_label: "percent of one core",
        series: vec![
            series("hub", &|r| r.hub_cpu_percent),
            series("load generator", &|r| r.generator_cpu_percent),
        ],
        limit: Some((200.0, "2 cores")),
        log_y: false,
    });
    let memory = svg(&Chart {
        title: "Hub memory against streams",
        x_label: "streams",
        y_label: "MiB",
        series: vec![
            series("RSS at end", &|r| r.hub_rss_end_mib),
            series("peak RSS", &|r| r.hub_peak_rss_mib),
        ],
        limit: None,
        log_y: false,
    });
    let mut written = Vec::new();
    for (name, text) in [
        ("sweep-latency.svg", latency),
        ("sweep-cpu.svg", cpu),
        ("sweep-memory.svg", memory),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}
