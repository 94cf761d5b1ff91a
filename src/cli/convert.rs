//! `mimamori convert IN OUT`: rewrite a recording in another format.

use std::path::Path;

use anyhow::{Context, Result, bail};
use ctg_formats::{fhrma, read_recording, write_mmr};

pub fn run(input: &Path, output: &Path) -> Result<()> {
    let recording = read_recording(input)?;
    let ext = output
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "mmr" => write_mmr(output, &recording)?,
        "fhrm" | "fhr" => std::fs::write(output, fhrma::write(&recording, ext == "fhrm"))
            .with_context(|| format!("cannot write {}", output.display()))?,
        other => bail!(
            "{}: cannot write `.{other}` recordings (choose .mmr, .fhrm or .fhr)",
            output.display()
        ),
    }
    let written = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "{} → {}: {} samples, {written} bytes",
        input.display(),
        output.display(),
        recording.samples.len()
    );
    Ok(())
}
