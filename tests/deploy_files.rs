//! The installation files in `docs/deploy/` stay in step with the binary: the example bridge
//! config loads, each systemd unit passes `systemd-analyze verify` without a warning, and the
//! command each unit starts is one `mimamori` accepts.

use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/deploy")
        .join(name)
}

/// Where the install guide puts it: `/etc/mimamori/bridge.toml` beside `pki/` with the CA and
/// the PC's certificate and key (stand-ins here: the loader checks that they are there).
#[test]
fn the_example_bridge_config_loads() {
    let etc = tempfile::tempdir().unwrap();
    std::fs::create_dir(etc.path().join("pki")).unwrap();
    for file in ["ca.pem", "ldr-pc-1.pem", "ldr-pc-1.key"] {
        std::fs::write(etc.path().join("pki").join(file), "").unwrap();
    }
    let installed = etc.path().join("bridge.toml");
    std::fs::copy(deploy("bridge.example.toml"), &installed).unwrap();
    let config = ctg_bridge::config::BridgeConfig::load(&installed)
        .expect("docs/deploy/bridge.example.toml");
    assert_eq!(config.devices.len(), 3);
    assert_eq!(config.spool_dir, Path::new("/var/lib/mimamori/spool"));
}

/// `ExecStart`'s arguments after the program.
fn exec_start(unit: &str) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let mut words = line.split_whitespace().map(str::to_owned);
    assert_eq!(words.next().as_deref(), Some("/usr/local/bin/mimamori"));
    words.collect()
}

#[test]
fn the_systemd_units_verify_and_start_a_command_mimamori_accepts() {
    let bin = env!("CARGO_BIN_EXE_mimamori");
    let dir = tempfile::tempdir().unwrap();
    for name in ["mimamori-hub.service", "mimamori-bridge.service"] {
        let unit = std::fs::read_to_string(deploy(name)).unwrap();
        // The arguments parse (clap checks every one before it prints the help).
        let args = exec_start(&unit);
        let out = Command::new(bin)
            .args(&args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: `mimamori {}` is refused: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        // systemd reads the unit without a complaint (verify warns on stderr and exits 0 on
        // a bad value, so any output fails). The program must exist: point it at this build.
        let copy = dir.path().join(name);
        std::fs::write(&copy, unit.replace("/usr/local/bin/mimamori", bin)).unwrap();
        let verify = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&copy)
            .output()
            .expect("systemd-analyze (Debian package systemd; scripts/test.sh installs it)");
        let said = String::from_utf8_lossy(&verify.stderr).into_owned()
            + &String::from_utf8_lossy(&verify.stdout);
        assert!(
            verify.status.success() && said.trim().is_empty(),
            "{name}: systemd-analyze verify says: {said}"
        );
    }
}

/// `mimamori ports`, which the install guide has the IT person run to find the monitor's port,
/// answers on any machine: the ports, or that there are none.
#[test]
fn mimamori_ports_lists_the_serial_ports_or_says_there_are_none() {
    let out = Command::new(env!("CARGO_BIN_EXE_mimamori"))
        .arg("ports")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("serial ports:\n") || text.starts_with("no serial ports found"),
        "{text}"
    );
}
