//! Helpers shared by the integration tests: the binary under test, the shared data, Python.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The shared CTG data beside the repository (`../shared/data`, or `MIMAMORI_SHARED_DATA`).
/// Fails with a message saying where it looked rather than letting a test pass silently.
pub fn shared_data() -> PathBuf {
    ctg_formats::shared_data_dir().unwrap_or_else(|e| panic!("{e}"))
}

/// Runs the `mimamori` binary with `args`.
pub fn mimamori(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mimamori"))
        .args(args)
        .output()
        .expect("the mimamori binary runs")
}

/// Runs `mimamori` and returns its stdout, failing the test with its stderr if it fails.
pub fn mimamori_ok(args: &[&str]) -> String {
    let out = mimamori(args);
    assert!(
        out.status.success(),
        "mimamori {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The Python interpreter with the test tools installed (`MIMAMORI_PYTHON`, set by the test
/// script to its virtual environment; `python3` otherwise).
pub fn python() -> Command {
    Command::new(std::env::var_os("MIMAMORI_PYTHON").unwrap_or_else(|| "python3".into()))
}

/// Runs a Python script (the test tools' interpreter) on `file`: its output.
pub fn python_on(script: &str, file: &Path) -> String {
    let out = python()
        .arg("-c")
        .arg(script)
        .arg(file)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A TCP port on loopback that nothing listens on right now.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
