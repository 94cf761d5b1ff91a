//! `mimamori`: the one command-line entry point of the CTG remote-monitoring hub.
//!
//! Subcommands are thin: they parse arguments, call the library crates and print. Everything
//! they do is testable through the libraries; `tests/` runs the real binary end to end.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mimamori: {error:#}");
            ExitCode::FAILURE
        }
    }
}
