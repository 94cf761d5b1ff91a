//! Command-line definitions (clap) and dispatch to one module per subcommand.

mod analyze;
mod convert;
mod decode;
mod eval;
mod info;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Mimamori (見守り): an open, vendor-neutral, real-time CTG remote-monitoring hub.
#[derive(Debug, Parser)]
#[command(name = "mimamori", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what a recording holds: channels, duration, signal loss per channel, metadata.
    ///
    /// Reads FHRMA .fhr/.fhrm, WFDB records (.hea, as in CTU-UHB) and Mimamori .mmr files.
    Info {
        /// The recording file.
        file: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Analyse a recording: baseline, variability, accelerations, decelerations,
    /// contractions, false signal, and JSOG / NICHD / FIGO classification per 10 minutes.
    Analyze {
        /// The recording file (.fhr, .fhrm, WFDB .hea or .mmr).
        file: PathBuf,
        /// Print one `mimamori.analysis.v1` JSON object.
        #[arg(long)]
        json: bool,
        /// Whose definitions: jsog, figo or nichd.
        #[arg(long, default_value = "jsog")]
        profile: String,
        /// Also print the baseline at every sample (`baseline_curve`).
        #[arg(long)]
        curve: bool,
        /// A JSOG level table to use instead of the shipped draft.
        #[arg(long, value_name = "FILE")]
        jsog_table: Option<PathBuf>,
    },
    /// Measure the analysis against the expert annotations in the shared data (all cores),
    /// print the figures beside the bars, and write them as JSON.
    Eval {
        /// The shared data folder (default: ../shared/data or MIMAMORI_SHARED_DATA).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Where to write the JSON.
        #[arg(long, default_value = "target/eval/eval.json")]
        out: PathBuf,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Override an analysis parameter for this run (`section.field=value`, repeatable),
        /// for parameter studies on the development records.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Decode a raw capture of a monitor's port (from `bridge --capture`, or any serial dump)
    /// into JSON lines: one per normalised block, event or problem, then a summary with the
    /// frame, CRC-error and resync counts.
    Decode {
        /// The monitor's protocol.
        #[arg(long, value_enum)]
        protocol: decode::Protocol,
        /// The capture file.
        file: PathBuf,
    },
    /// Convert a recording into another format, chosen by the output's extension
    /// (.mmr, .fhrm or .fhr).
    Convert {
        /// The recording to read.
        input: PathBuf,
        /// The file to write.
        output: PathBuf,
    },
}

/// Runs one command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Info { file, json } => info::run(&file, json),
        Command::Convert { input, output } => convert::run(&input, &output),
        Command::Decode { protocol, file } => decode::run(protocol, &file),
        Command::Eval {
            data,
            out,
            threads,
            set,
        } => eval::run(data, &out, threads, &set),
        Command::Analyze {
            file,
            json,
            profile,
            curve,
            jsog_table,
        } => analyze::run(
            &file,
            &analyze::Options {
                json,
                profile: &profile,
                curve,
                jsog_table: jsog_table.as_deref(),
            },
        ),
    }
}
