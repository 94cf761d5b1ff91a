//! The field commands: `bridge`, `sim`, `receive`, `pki`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ctg_bridge::pki;
use ctg_sim::pty::PtyOptions;
use ctg_sim::{PtyMonitor, RecordingSource};

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
    rt.block_on(ctg_bridge::run(config))
}

pub fn sim(
    protocol: super::decode::Protocol,
    recording: &Path,
    speed: f64,
    link: Option<PathBuf>,
    looping: bool,
    markers: u64,
    noise: u64,
) -> Result<()> {
    init_logging();
    let recording = ctg_formats::read_recording(recording)?;
    let source = RecordingSource::new(&recording, looping);
    let options = PtyOptions {
        speed,
        link,
        marker_every_s: markers,
        noise_every_s: noise,
    };
    let monitor = match protocol {
        super::decode::Protocol::Series50 => PtyMonitor::spawn_series50(Box::new(source), options)?,
        super::decode::Protocol::Avalon => PtyMonitor::spawn_avalon(Box::new(source), options)?,
        super::decode::Protocol::Hl7 => {
            anyhow::bail!(
                "an HL7 simulator sends to a listener: use --protocol series50 or avalon for a pty"
            )
        }
    };
    println!("{}", monitor.path().display());
    tracing::info!(path = %monitor.path().display(), recording = %recording.source, speed, protocol = protocol.name(), "monitor on a pseudo-terminal");
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
