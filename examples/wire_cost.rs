//! What one monitor costs on the wire and on disk: reads a recording, sends it through the
//! bridge⇄hub framing as 1-second blocks, decodes it back, and stores it compactly.
//!
//! `cargo run --example wire_cost -- ../shared/data/ctu-uhb/wfdb/1001.hea`

use std::path::PathBuf;

use ctg_formats::compact::encode_samples;
use ctg_formats::read_recording;
use ctg_proto::wire::{Message, StreamHandle};
use ctg_proto::{FrameDecoder, encode_frame};

fn main() -> anyhow::Result<()> {
    let path: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("usage: wire_cost RECORDING"))?;
    let recording = read_recording(&path)?;
    let hours = recording.duration_s() / 3600.0;

    let mut wire = Vec::new();
    let mut blocks = 0;
    for block in recording.blocks(4, 0) {
        wire.extend(encode_frame(&Message::Samples {
            stream: StreamHandle(1),
            block,
        })?);
        blocks += 1;
    }
    let mut decoder = FrameDecoder::new();
    let mut input = &wire[..];
    let mut received = Vec::new();
    while let Some(message) = decoder.next_message(&mut input) {
        if let Message::Samples { block, .. } = message? {
            received.extend(block.samples);
        }
    }
    anyhow::ensure!(received == recording.samples, "samples changed on the way");

    let mut stored = Vec::new();
    encode_samples(&recording.samples, &mut stored);
    println!(
        "{}: {:.2} h, {blocks} one-second blocks, every sample back intact",
        recording.source, hours
    );
    println!(
        "wire: {} bytes ({:.0} B/s, {:.1} KiB per stream-hour)",
        wire.len(),
        wire.len() as f64 / recording.duration_s(),
        wire.len() as f64 / 1024.0 / hours
    );
    println!(
        "compact storage: {} bytes ({:.1} KiB per stream-hour)",
        stored.len(),
        stored.len() as f64 / 1024.0 / hours
    );
    Ok(())
}
