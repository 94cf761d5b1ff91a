//! `ctg-formats`: CTG recordings in and out of the normalised model.
//!
//! | format | read | write | module |
//! |---|---|---|---|
//! | FHRMA `.fhr`, `.fhrm` | yes | yes | [`fhrma`] |
//! | WFDB format 16 (`.hea` + `.dat`, CTU-UHB) | yes, with checksum verification | no | [`wfdb`] |
//! | Mimamori `.mmr` | yes | yes | [`mmr`] |
//!
//! The parsers are sans-IO (bytes in, [`Recording`] out) and never panic on malformed input;
//! [`read_recording`] is the thin file-reading shell that picks a parser by extension and names
//! the file in every error. [`compact`] is the columnar sample encoding shared by `.mmr` and the
//! hub's store.

pub mod compact;
pub mod fhrma;
pub mod mmr;
pub mod recording;
pub mod wfdb;

use std::path::{Path, PathBuf};

pub use recording::{ChannelSummary, Recording, RecordingFormat};

/// Longest recording a reader accepts: 7 days at 4 Hz.
pub const MAX_RECORDING_SAMPLES: usize = 7 * 24 * 3600 * 4;

/// What is wrong with a recording file.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    /// The extension names no format this build reads.
    #[error("unknown recording type `{0}` (expected .fhr, .fhrm, .hea, .dat or .mmr)")]
    UnknownFormat(String),
    /// The file's size does not fit its format.
    #[error("file is {len} bytes; expected {expected}")]
    BadSize {
        /// Actual size.
        len: u64,
        /// What the format requires.
        expected: String,
    },
    /// A header line is malformed.
    #[error("header line {line}: {reason}")]
    BadHeader {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The data disagrees with what the header states.
    #[error("signal {signal}: {what} is {data} in the data but the header says {header}")]
    Mismatch {
        /// The signal's name.
        signal: String,
        /// What was compared.
        what: &'static str,
        /// The header's value.
        header: i64,
        /// The data's value.
        data: i64,
    },
    /// A value cannot be represented in the model.
    #[error(
        "sample {sample}, channel {channel}: value {value} is out of range or not representable"
    )]
    ValueOutOfRange {
        /// 0-based sample index.
        sample: usize,
        /// Channel name.
        channel: &'static str,
        /// The raw value.
        value: i64,
    },
    /// The recording is longer than [`MAX_RECORDING_SAMPLES`].
    #[error("{samples} samples is longer than the {MAX_RECORDING_SAMPLES}-sample limit (7 days)")]
    TooLong {
        /// Sample count.
        samples: usize,
    },
    /// A feature of the format this build does not read.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The file is damaged.
    #[error("corrupt: {0}")]
    Corrupt(String),
}

/// A problem with a named file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct FormatError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: Problem,
}

fn at(path: &Path) -> impl FnOnce(Problem) -> FormatError + '_ {
    move |problem| FormatError {
        path: path.to_path_buf(),
        problem,
    }
}

/// Reads a recording, choosing the format by extension: `.fhr`, `.fhrm`, `.mmr`, or a WFDB
/// record by its `.hea` or `.dat` file, or by its name without extension (`…/1001`), as WFDB
/// tools take it.
pub fn read_recording(path: &Path) -> Result<Recording, FormatError> {
    let mut ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    // A WFDB record may be named without extension, as WFDB tools take it (`…/1001`).
    if ext.is_empty() && path.with_extension("hea").is_file() {
        ext = "hea".into();
    }
    let source = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let read = |p: &Path| std::fs::read(p).map_err(|e| at(p)(Problem::Io(e)));
    match ext.as_str() {
        "fhr" => fhrma::parse(&read(path)?, false, &source).map_err(at(path)),
        "fhrm" => fhrma::parse(&read(path)?, true, &source).map_err(at(path)),
        "mmr" => mmr::parse(&read(path)?).map_err(at(path)),
        "hea" | "dat" => {
            let hea = path.with_extension("hea");
            let text = std::fs::read_to_string(&hea).map_err(|e| at(&hea)(Problem::Io(e)))?;
            let header = wfdb::parse_header(&text).map_err(at(&hea))?;
            let dat = hea.with_file_name(&header.signals[0].file);
            if dat.parent() != hea.parent() {
                return Err(at(&hea)(Problem::Unsupported(
                    "a signal file outside the header's directory".into(),
                )));
            }
            let bytes = read(&dat)?;
            let source = hea
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            wfdb::parse(&header, &bytes, &source).map_err(at(&dat))
        }
        other => Err(at(path)(Problem::UnknownFormat(other.to_string()))),
    }
}

/// Every file under `dir` (recursively) that [`read_recording`] reads by its extension
/// (`.fhr`, `.fhrm`, `.hea`, `.mmr`; a WFDB record once, by its header), sorted.
pub fn find_recordings(dir: &Path) -> Result<Vec<PathBuf>, FormatError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| at(&d)(Problem::Io(e)))?;
        for entry in entries {
            let p = entry.map_err(|e| at(&d)(Problem::Io(e)))?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                matches!(
                    e.to_ascii_lowercase().as_str(),
                    "fhr" | "fhrm" | "hea" | "mmr"
                )
            }) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Writes a recording as `.mmr`.
pub fn write_mmr(path: &Path, recording: &Recording) -> Result<(), FormatError> {
    std::fs::write(path, mmr::write(recording)).map_err(|e| at(path)(Problem::Io(e)))
}

/// Where the shared CTG datasets are: `MIMAMORI_SHARED_DATA` if set, otherwise `shared/data`
/// beside the source checkout this crate was built from (`../shared/data` from the repository).
///
/// Returns an error saying where it looked when the folder is not there, so a test or a tool
/// that needs the data fails with that message instead of passing silently.
pub fn shared_data_dir() -> Result<PathBuf, String> {
    let dir = std::env::var_os("MIMAMORI_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if dir.join("README.md").is_file() {
        Ok(dir)
    } else {
        Err(format!(
            "the shared CTG data is not at {} (set MIMAMORI_SHARED_DATA to its folder)",
            dir.display()
        ))
    }
}
