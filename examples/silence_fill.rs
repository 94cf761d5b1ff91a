//! What a monitor back after a week switched off costs: the bridge's fill for the silence
//! (`ctg_bridge::cadence`, 2.4 million samples of no signal) built, encoded as the spool and
//! the wire carry it, and taken in by a real hub (store, analysis of a week of no signal,
//! findings, alert rules), as it would arrive when the monitor comes back.
//!
//! Run: `cargo run --release --example silence_fill [-- DAYS]` (default 7). Prints progress
//! and a summary: time, bytes, the hub's peak memory, what the analysis stored.

use std::time::{Duration, Instant};

use ctg_bridge::cadence::{Before, before};
use ctg_bridge::spool::Record;
use ctg_hub::Hub;
use ctg_hub::store::Write;
use ctg_proto::model::{DeviceInfo, DeviceProtocol, StreamIdentity};

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let days: i64 = std::env::args()
        .nth(1)
        .map(|d| d.parse())
        .transpose()?
        .unwrap_or(7);
    let silence_ms = days * 24 * 3_600_000;
    let started = Instant::now();
    let Before::Silence { fill, .. } = before(Some(0), silence_ms) else {
        anyhow::bail!("{days} days is not filled");
    };
    let built = started.elapsed();
    let samples: usize = fill.iter().map(|b| b.samples.len()).sum();
    let wire: usize = fill
        .iter()
        .map(|b| postcard::to_stdvec(&Record::Block(b.clone())).map(|v| v.len()))
        .sum::<Result<usize, _>>()?;
    println!(
        "fill for {days} days: {samples} samples in {} blocks, built in {:.1} ms, {:.1} MB encoded",
        fill.len(),
        built.as_secs_f64() * 1000.0,
        wire as f64 / 1e6
    );

    let dir = tempfile::tempdir()?;
    let db = dir.path().join("hub.db");
    let hub = Hub::open(&db, "hub", "centre")?;
    hub.start_alerts();
    let identity = StreamIdentity {
        facility: "clinic-a".into(),
        bridge: "ldr-pc-1".into(),
        port: "bed-1".into(),
        episode_start_utc_ms: 1,
    };
    let (stream, _, _) = hub
        .open_stream(
            &identity,
            &DeviceInfo::unidentified(DeviceProtocol::Series50),
        )
        .await?;
    let rss_before = rss_kib("VmRSS:");
    let taking = Instant::now();
    let blocks = fill.len();
    let (mut claimed, mut next_seq) = (0, 0);
    for (n, mut block) in fill.into_iter().enumerate() {
        // Numbered as the spool numbers them.
        block.first_seq = next_seq;
        next_seq += block.samples.len() as u64;
        block.utc_ms += ctg_hub::utc_now_ms() - silence_ms;
        hub.wait_for_analysis(stream.id, block.samples.len()).await;
        if hub.claim_block(stream.id, &block) {
            claimed += 1;
            hub.commit(vec![Write::Block(stream.id, block)]).await?;
        }
        if (n + 1) % 200 == 0 || n + 1 == blocks {
            eprintln!("  {}/{blocks} blocks committed", n + 1);
        }
    }
    let committed = taking.elapsed();
    anyhow::ensure!(claimed == blocks, "{claimed} of {blocks} blocks taken");
    // The analysis catches up: a level for each 10-minute window.
    let windows = (silence_ms / 600_000) as usize;
    let levels = || {
        hub.records
            .findings(stream.id, Some("classification"), 100_000)
            .map(|f| f.len())
            .unwrap_or(0)
    };
    let waiting = Instant::now();
    while levels() + 2 < windows && waiting.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let analysed = taking.elapsed();
    let stored = hub.records.findings(stream.id, None, 1_000_000)?;
    let findings = stored.len();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for finding in &stored {
        *kinds
            .entry(finding["kind"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    println!("findings by kind: {kinds:?}");
    let alerts = hub.alerts().len();
    let db_bytes: u64 = std::fs::read_dir(dir.path())?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "hub: committed in {:.1} s, analysed in {:.1} s ({:.1} M samples/s, one commit a block); \
         {} levels of {windows} windows, {findings} findings, {alerts} alerts; \
         database {:.1} MB; RSS {:.0} → {:.0} MiB (peak {:.0} MiB)",
        committed.as_secs_f64(),
        analysed.as_secs_f64(),
        samples as f64 / analysed.as_secs_f64() / 1e6,
        levels(),
        db_bytes as f64 / 1e6,
        rss_before as f64 / 1024.0,
        rss_kib("VmRSS:") as f64 / 1024.0,
        rss_kib("VmHWM:") as f64 / 1024.0,
    );
    Ok(())
}
