//! `mimamori bench load` and `mimamori bench sweep`: the load harness (crate `ctg-bench`)
//! against this binary's own hub.

use std::path::Path;

use anyhow::{Context, Result};
use ctg_bench::load::LoadConfig;

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(value)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// One load run; prints the summary and writes it as JSON into `out`.
pub fn load(config: LoadConfig, out: &Path) -> Result<()> {
    let exe = std::env::current_exe()?;
    let report = runtime()?.block_on(ctg_bench::load::run(&exe, config))?;
    let file = out.join(format!(
        "load-{}x{}.json",
        report.config.streams, report.config.viewers
    ));
    write_json(&file, &report)?;
    let l = &report.latency_ms;
    println!(
        "summary: {} streams, {} viewers: latency p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms over {} live blocks; \
         samples created {}, lost {}; ingest {:.0} samples/s; hub CPU {:.0} % of a core (generator {:.0} %), \
         RSS {:.0} MiB (idle {:.0}, peak {:.0}), {:.0} KiB per stream; disk {:.1} KiB per stream-hour; {:.0} store transactions/s",
        report.config.streams,
        report.config.viewers,
        l.p50,
        l.p99,
        l.max,
        l.count,
        report.samples_created,
        report.samples_lost,
        report.ingest_samples_per_s,
        report.hub_cpu_percent,
        report.generator_cpu_percent,
        report.hub_rss_end_mib,
        report.hub_rss_idle_mib,
        report.hub_peak_rss_mib,
        report.memory_per_stream_kib,
        report.disk_bytes_per_stream_hour / 1024.0,
        report.store_transactions_per_s,
    );
    if let Some(r) = &report.recovery {
        println!(
            "recovery: hub up {:.2} s after restart; all streams reconnected after {:.1} s; caught up after {:.1} s",
            r.hub_start_s, r.all_reconnected_s, r.caught_up_s
        );
    }
    if let Some(b) = report.backfill_s {
        println!(
            "backfill: every stream's backlog acknowledged {b:.1} s after the first connection"
        );
    }
    println!("written: {}", file.display());
    if report.samples_lost > 0 {
        anyhow::bail!("{} samples were lost", report.samples_lost);
    }
    Ok(())
}

/// A sweep over stream counts; writes the JSON and the plots into `out`.
pub fn sweep(counts: &[usize], base: LoadConfig, out: &Path) -> Result<()> {
    let exe = std::env::current_exe()?;
    let report = runtime()?.block_on(ctg_bench::sweep::sweep(counts, &base, |config| {
        ctg_bench::load::run(&exe, config)
    }));
    write_json(&out.join("sweep.json"), &report)?;
    let plots = ctg_bench::sweep::write_plots(&report, out)?;
    match (&report.capacity_streams, &report.broke_at) {
        (Some(n), Some((at, why))) => println!("capacity: {n} streams (broke at {at}: {why})"),
        (Some(n), None) => println!("capacity: at least {n} streams (nothing broke)"),
        (None, Some((at, why))) => println!("capacity: below {at} streams ({why})"),
        (None, None) => println!("capacity: nothing ran"),
    }
    for plot in plots {
        println!("plot: {}", plot.display());
    }
    Ok(())
}

/// Draws a sweep's plots again from its JSON.
pub fn plot(file: &Path, out: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let report: ctg_bench::sweep::SweepReport = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a sweep", file.display()))?;
    for plot in ctg_bench::sweep::write_plots(&report, out)? {
        println!("plot: {}", plot.display());
    }
    Ok(())
}
