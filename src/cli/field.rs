//! The field commands: `bridge`, `sim`, `receive`, `pki`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ctg_sim::RecordingSource;
#[cfg(unix)]
use ctg_sim::{PtyMonitor, pty::PtyOptions};
use ctg_tls::pki;

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Logs to stderr, `RUST_LOG` to filter (default: info).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Logs warnings and errors only (for commands that print their own progress: the demo).
#[cfg(unix)]
pub fn init_logging_quiet() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn bridge(config: &Path, check: bool, capture: Option<PathBuf>) -> Result<()> {
    init_logging();
    let mut config = ctg_bridge::load_config(config)?;
    if capture.is_some() {
        config.capture_dir = capture;
    }
    let rt = runtime()?;
    if check {
        for line in rt.block_on(ctg_bridge::check(&config, 5))? {
            println!("{line}");
        }
        return Ok(());
    }
    rt.block_on(ctg_bridge::run(config, super::stop_requested()))
}

/// `mimamori ports --probe`: each port in turn, progress on stderr, the verdict on stdout.
/// Fails (after all ports) when a port's monitor was not recognised.
pub fn probe(ports: &[PathBuf]) -> Result<()> {
    let rt = runtime()?;
    let mut unrecognised = Vec::new();
    for port in ports {
        let probe = rt.block_on(ctg_bridge::probe::probe(port, |attempt| {
            eprintln!(
                "{}: trying {} at {} baud (up to {} s)…",
                port.display(),
                ctg_bridge::probe::config_name(attempt.protocol),
                attempt.baud,
                attempt.seconds
            );
        }));
        print!("{}", ctg_bridge::probe::describe(&probe));
        if probe.found().is_none() {
            unrecognised.push(port.display().to_string());
        }
    }
    if !unrecognised.is_empty() {
        anyhow::bail!("no monitor recognised on {}", unrecognised.join(", "));
    }
    Ok(())
}

/// Options of a simulated serial line.
#[cfg_attr(not(unix), allow(dead_code))]
pub struct SimLine {
    pub link: Option<PathBuf>,
    pub looping: bool,
    pub markers: u64,
    pub noise: u64,
}

pub fn sim(
    protocol: super::decode::Protocol,
    recording: Option<&Path>,
    to: Option<SocketAddr>,
    speed: f64,
    line: &SimLine,
) -> Result<()> {
    use super::decode::Protocol;
    init_logging();
    let (source, name): (Box<dyn ctg_sim::SecondSource>, String) = match recording {
        Some(path) => {
            let recording = ctg_formats::read_recording(path)?;
            let name = recording.source.clone();
            (
                Box::new(RecordingSource::new(&recording, line.looping)),
                name,
            )
        }
        None => (
            Box::new(ctg_sim::Synthetic::new()),
            "synthetic programme".into(),
        ),
    };
    if protocol == Protocol::Hl7 {
        let to =
            to.context("an HL7 simulator needs --to HOST:PORT (the bridge's MLLP listener)")?;
        let sender = ctg_sim::hl7::Hl7Sender::spawn(source, to, speed)?;
        tracing::info!(%to, source = %name, speed, "HL7 sender running");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(10));
            tracing::info!(accepted = sender.accepted(), "HL7 messages acknowledged");
        }
    }
    on_pty(protocol, source, &name, speed, line)
}

/// A serial monitor on a new pseudo-terminal, until stopped.
#[cfg(unix)]
fn on_pty(
    protocol: super::decode::Protocol,
    source: Box<dyn ctg_sim::SecondSource>,
    name: &str,
    speed: f64,
    line: &SimLine,
) -> Result<()> {
    use super::decode::Protocol;
    let options = PtyOptions {
        speed,
        link: line.link.clone(),
        marker_every_s: line.markers,
        noise_every_s: line.noise,
    };
    let monitor = match protocol {
        Protocol::Avalon => PtyMonitor::spawn_avalon(source, options)?,
        Protocol::Corometrics115 => PtyMonitor::spawn_corometrics115(source, options)?,
        _ => PtyMonitor::spawn_series50(source, options)?,
    };
    println!("{}", monitor.path().display());
    tracing::info!(path = %monitor.path().display(), source = %name, speed, protocol = protocol.name(), "monitor on a pseudo-terminal");
    let mut last = 0;
    loop {
        std::thread::sleep(std::time::Duration::from_secs(10));
        let sent = monitor.samples_sent();
        if sent != last {
            tracing::info!(samples_sent = sent, "monitor running");
            last = sent;
        }
    }
}

/// Serial simulators need pseudo-terminals.
#[cfg(not(unix))]
fn on_pty(
    _protocol: super::decode::Protocol,
    _source: Box<dyn ctg_sim::SecondSource>,
    _name: &str,
    _speed: f64,
    _line: &SimLine,
) -> Result<()> {
    anyhow::bail!(
        "a serial monitor simulator needs pseudo-terminals (Linux or macOS); --protocol hl7 runs anywhere"
    )
}

pub fn receive(listen: SocketAddr, pki_dir: &Path, name: &str, store: &Path) -> Result<()> {
    init_logging();
    let rt = runtime()?;
    rt.block_on(ctg_bridge::receiver::serve(
        listen,
        &pki_dir.join("ca.pem"),
        &pki_dir.join(format!("{name}.pem")),
        &pki_dir.join(format!("{name}.key")),
        store,
        None,
    ))
}

pub fn pki_init(dir: &Path) -> Result<()> {
    let path = pki::create_ca(dir)?;
    println!("{}", path.display());
    Ok(())
}

pub fn pki_issue(
    dir: &Path,
    name: &str,
    facility: Option<String>,
    hub_names: Vec<String>,
) -> Result<()> {
    let role = match facility {
        Some(facility) => pki::Role::Bridge { facility },
        None => pki::Role::Hub { names: hub_names },
    };
    let path = pki::issue(dir, name, &role)?;
    println!("{}", path.display());
    Ok(())
}
