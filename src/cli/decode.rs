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
use ctg_devices::avalon::AvalonHost;
use ctg_devices::capture::{self, Direction};
use ctg_devices::corometrics115::Corometrics115Host;
use ctg_devices::series50::Series50Host;
use ctg_devices::{DeviceOutput, Hl7Session, HostSession, Millis};
use ctg_proto::model::{Channel, Quality};
use serde_json::{Value, json};

/// Protocols `decode` understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// Philips Series 50 (and GE Corometrics 250cx).
    Series50,
    /// Philips Avalon FM20–FM50 (IntelliVue data export over serial).
    Avalon,
    /// GE Corometrics 120 / 170 series, "Model 115-compatible" ASCII records.
    Corometrics115,
    /// HL7 v2 ORU^R01 over MLLP.
    Hl7,
}

impl Protocol {
    /// A fresh host session for this protocol.
    pub fn session(self) -> Box<dyn HostSession> {
        match self {
            Protocol::Series50 => Box::new(Series50Host::new()),
            Protocol::Avalon => Box::new(AvalonHost::new()),
            Protocol::Corometrics115 => Box::new(Corometrics115Host::new()),
            Protocol::Hl7 => Box::new(Hl7Session::default()),
        }
    }

    /// Its name in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Series50 => "series50",
            Protocol::Avalon => "avalon",
            Protocol::Corometrics115 => "corometrics115",
            Protocol::Hl7 => "hl7",
        }
    }
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
    let mut session = protocol.session();
    for chunk in &chunks {
        if chunk.direction != Direction::FromDevice {
            continue;
        }
        bytes_from_device += chunk.bytes.len();
        let now: Millis = chunk.micros / 1000;
        session.receive(chunk.bytes, now, &mut outputs);
        session.tick(now, &mut outputs);
        let t_s = chunk.micros as f64 / 1e6;
        for output in outputs.drain(..) {
            lines.push(output_json(output, t_s, &mut next_seq));
        }
    }
    // The end of the capture: whatever a session still holds.
    let end = chunks.last().map_or(0, |c| c.micros);
    session.tick(end / 1000 + 60_000, &mut outputs);
    for output in outputs.drain(..) {
        lines.push(output_json(output, end as f64 / 1e6, &mut next_seq));
    }
    let link = session.link();
    lines.push(json!({
        "type": "summary",
        "protocol": protocol.name(),
        "bytes": bytes_from_device,
        "samples": next_seq,
        "frames": link.frames,
        "crc_errors": link.crc_errors,
        "resyncs": link.resyncs,
        "capture_error": capture_error.map(|e| e.to_string()),
        "stats": session.stats_json(),
    }));
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
