//! `mimamori decode --protocol P FILE`: what a monitor said, from a raw capture of its port.
//!
//! Runs the bridge's own decoder over the capture (see `ctg_devices::capture`) and prints JSON
//! lines: one object per normalised block (four samples, numbered on the stream's grid from 0),
//! per event and per problem, then one summary line with the frame, CRC-error and resync counts.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use clap::ValueEnum;
use ctg_devices::NormalisedBlock;
use ctg_devices::capture::{self, Direction};
use ctg_devices::series50::Series50Host;
use ctg_devices::{DeviceOutput, Millis};
use ctg_proto::model::{Channel, Quality};
use serde_json::{Value, json};

/// Protocols `decode` understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// Philips Series 50 (and GE Corometrics 250cx).
    Series50,
}

pub fn run(protocol: Protocol, path: &Path) -> Result<()> {
    let file = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for line in decode(protocol, &file) {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

/// The JSON lines for a capture.
pub fn decode(protocol: Protocol, file: &[u8]) -> Vec<Value> {
    let (chunks, capture_error) = capture::read(file);
    let mut lines = Vec::new();
    let mut next_seq = 0u64;
    let mut outputs = Vec::new();
    let mut bytes_from_device = 0usize;
    match protocol {
        Protocol::Series50 => {
            let mut host = Series50Host::new();
            for chunk in &chunks {
                if chunk.direction != Direction::FromDevice {
                    continue;
                }
                bytes_from_device += chunk.bytes.len();
                let now: Millis = chunk.micros / 1000;
                host.receive(chunk.bytes, now, &mut outputs);
                let t_s = chunk.micros as f64 / 1e6;
                for output in outputs.drain(..) {
                    lines.push(output_json(output, t_s, &mut next_seq));
                }
            }
            let stats = host.stats();
            lines.push(json!({
                "type": "summary",
                "protocol": "series50",
                "bytes": bytes_from_device,
                "samples": next_seq,
                "frames": stats.link.frames,
                "crc_errors": stats.link.crc_errors,
                "resyncs": stats.link.resyncs,
                "capture_error": capture_error.map(|e| e.to_string()),
                "stats": stats,
            }));
        }
    }
    lines
}

fn quality_name(quality: Quality) -> &'static str {
    match quality {
        Quality::Unknown => "unknown",
        Quality::None => "none",
        Quality::Poor => "poor",
        Quality::Fair => "fair",
        Quality::Good => "good",
    }
}

fn block_json(ctg: &NormalisedBlock, t_s: f64, first_seq: u64) -> Value {
    let mut object = serde_json::Map::new();
    object.insert("type".into(), json!("block"));
    object.insert("t_s".into(), json!(t_s));
    object.insert("first_seq".into(), json!(first_seq));
    for channel in Channel::ALL {
        let values: Vec<Option<f64>> = ctg.samples.iter().map(|s| s.physical(channel)).collect();
        object.insert(channel.name().into(), json!(values));
    }
    let quality: serde_json::Map<String, Value> = Channel::ALL
        .iter()
        .map(|&c| {
            let q: Vec<&str> = ctg
                .samples
                .iter()
                .map(|s| quality_name(s.quality[c.index()]))
                .collect();
            (c.name().to_owned(), json!(q))
        })
        .collect();
    object.insert("quality".into(), Value::Object(quality));
    let movement: Vec<bool> = ctg.samples.iter().map(|s| s.fetal_movement).collect();
    object.insert("fetal_movement".into(), json!(movement));
    let modes: serde_json::Map<String, Value> = Channel::ALL
        .iter()
        .map(|&c| {
            (
                c.name().to_owned(),
                json!(format!("{:?}", ctg.modes.get(c))),
            )
        })
        .collect();
    object.insert("modes".into(), Value::Object(modes));
    object.insert("flags".into(), json!(ctg.flags.0));
    object.insert("fspo2_percent".into(), json!(ctg.fspo2_percent));
    Value::Object(object)
}

fn output_json(output: DeviceOutput, t_s: f64, next_seq: &mut u64) -> Value {
    match output {
        DeviceOutput::Ctg(ctg) => {
            let line = block_json(&ctg, t_s, *next_seq);
            *next_seq += ctg.samples.len() as u64;
            line
        }
        DeviceOutput::Event(kind) => {
            json!({"type": "event", "t_s": t_s, "at_sample": *next_seq, "event": kind})
        }
        DeviceOutput::Problem(message) => {
            json!({"type": "problem", "t_s": t_s, "at_sample": *next_seq, "message": message})
        }
    }
}
