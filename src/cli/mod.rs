//! Command-line definitions (clap) and dispatch to one module per subcommand.

mod convert;
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
    }
}
