//! `mimamori info FILE`: what a recording holds.

use std::path::Path;

use anyhow::Result;
use ctg_formats::{Recording, read_recording};
use serde_json::json;

pub fn run(path: &Path, as_json: bool) -> Result<()> {
    let recording = read_recording(path)?;
    if as_json {
        super::write_stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(&to_json(&recording))?
        ))
    } else {
        super::write_stdout(&to_text(&recording))
    }
}

fn to_json(recording: &Recording) -> serde_json::Value {
    let channels: Vec<_> = recording
        .channel_summaries()
        .into_iter()
        .map(|c| {
            json!({
                "channel": c.channel.name(),
                "present": c.present(),
                "samples_with_signal": c.with_signal,
                "signal_loss_percent": round2(c.signal_loss_percent),
                "mode": format!("{:?}", recording.modes.get(c.channel)),
            })
        })
        .collect();
    let metadata: serde_json::Map<String, serde_json::Value> = recording
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "schema": "mimamori.info.v1",
        "source": recording.source,
        "format": recording.format.name(),
        "sample_rate_hz": ctg_proto::model::SAMPLE_RATE_HZ,
        "samples": recording.samples.len(),
        "duration_s": recording.duration_s(),
        "start_utc_ms": recording.start_utc_ms,
        "fetal_channel": recording.fetal_channel().name(),
        "channels": channels,
        "events": recording.events.len(),
        "metadata": metadata,
    })
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn to_text(recording: &Recording) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let minutes = recording.duration_s() / 60.0;
    let _ = writeln!(
        out,
        "{} ({}): {} samples at 4 Hz, {:.1} min",
        recording.source,
        recording.format.name(),
        recording.samples.len(),
        minutes
    );
    let _ = writeln!(out, "fetal channel: {}", recording.fetal_channel().name());
    let _ = writeln!(out, "{:<8}{:<8}{:>12}", "channel", "signal", "signal loss");
    for c in recording.channel_summaries() {
        if c.present() {
            let _ = writeln!(
                out,
                "{:<8}{:<8}{:>10.1} %",
                c.channel.name(),
                "yes",
                c.signal_loss_percent
            );
        } else {
            let _ = writeln!(out, "{:<8}{:<8}{:>12}", c.channel.name(), "none", "-");
        }
    }
    if !recording.events.is_empty() {
        let _ = writeln!(out, "events: {}", recording.events.len());
    }
    if !recording.metadata.is_empty() {
        let pairs: Vec<String> = recording
            .metadata
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "metadata: {}", pairs.join(", "));
    }
    out
}
