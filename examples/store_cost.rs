//! Disk cost of the hub's store per stream-hour: every CTU-UHB record (or the first N) written
//! as 1-s blocks through the store's commit path, compacted as the hub does, then the database
//! file measured after a WAL checkpoint.
//!
//! Run: `cargo run --release --example store_cost [-- N]`. Prints progress and a summary.

use ctg_hub::store::{CHUNK_BLOCKS, SqliteStore, Store, Write};
use ctg_proto::model::{DeviceInfo, DeviceProtocol, StreamIdentity};

fn main() -> anyhow::Result<()> {
    let limit: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(usize::MAX);
    let data = ctg_formats::shared_data_dir().map_err(anyhow::Error::msg)?;
    let records = ctg_formats::find_recordings(&data.join("ctu-uhb"))?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("hub.db");
    let mut store = SqliteStore::open(&path)?;
    let device = DeviceInfo {
        protocol: DeviceProtocol::Series50,
        model: String::new(),
        serial: String::new(),
        software: String::new(),
    };
    let mut hours = 0.0;
    let mut done = 0;
    for (n, file) in records.iter().take(limit).enumerate() {
        let recording = ctg_formats::read_recording(file)?;
        let identity = StreamIdentity {
            facility: "f".into(),
            bridge: "b".into(),
            port: recording.source.clone(),
            episode_start_utc_ms: 0,
        };
        let (stream, _) = store.open_stream(&identity, &device)?;
        let writes: Vec<Write> = recording
            .blocks(4, 0)
            .map(|b| Write::Block(stream.id, b))
            .collect();
        for batch in writes.chunks(CHUNK_BLOCKS) {
            store.commit(batch)?;
            store.compact(stream.id, false)?;
        }
        // The episode ends: its tail folds too.
        store.compact(stream.id, true)?;
        hours += recording.samples.len() as f64 / 4.0 / 3600.0;
        done += 1;
        if (n + 1) % 50 == 0 {
            println!("  {} records, {:.0} stream-hours", n + 1, hours);
        }
    }
    let bytes = store.size_bytes(&path)?;
    println!(
        "summary: {done} records, {hours:.1} stream-hours, database {:.1} MiB, {:.1} KiB per stream-hour (budget 40 KiB)",
        bytes as f64 / 1048576.0,
        bytes as f64 / 1024.0 / hours
    );
    Ok(())
}
