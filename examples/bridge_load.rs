//! The bridge's cost with N monitors attached: CPU and memory of the real `mimamori bridge`
//! process reading N simulated Series 50 monitors on pseudo-terminals and sending to a real
//! receiver over QUIC with mutual TLS; at the end, every sample sent must have arrived.
//!
//! Run: `cargo build --release && cargo run --release --example bridge_load -- [--monitors 8]
//! [--seconds 60] [--speed 1]`. Prints progress every 10 s, a summary, and writes
//! `target/bench/bridge-load.json`. Needs ../shared/data (record 1001 is played).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ctg_sim::pty::PtyOptions;
use ctg_sim::{PtyMonitor, RecordingSource};

struct Args {
    monitors: usize,
    seconds: u64,
    speed: f64,
    bin: PathBuf,
}

fn args() -> Result<Args> {
    let mut args = Args {
        monitors: 8,
        seconds: 60,
        speed: 1.0,
        bin: PathBuf::from("target/release/mimamori"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--monitors" => args.monitors = value.parse()?,
            "--seconds" => args.seconds = value.parse()?,
            "--speed" => args.speed = value.parse()?,
            "--bin" => args.bin = value.into(),
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(args)
}

fn run(bin: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new(bin).args(args).output()?;
    if !out.status.success() {
        bail!("{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// (CPU seconds so far, resident KiB, peak resident KiB) of a process.
fn usage(pid: u32) -> Result<(f64, u64, u64)> {
    let sample = ctg_bench::hub_process::proc_sample(&format!("/proc/{pid}"))
        .context("reading the process's /proc")?;
    Ok((sample.cpu_s, sample.rss_kib, sample.peak_rss_kib))
}

fn main() -> Result<()> {
    let args = args()?;
    let bin = std::fs::canonicalize(&args.bin).with_context(|| {
        format!(
            "{} (build with `cargo build --release`)",
            args.bin.display()
        )
    })?;
    let data = ctg_formats::shared_data_dir().map_err(anyhow::Error::msg)?;
    let recording = ctg_formats::read_recording(&data.join("ctu-uhb/wfdb/1001.hea"))?;
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let pki = d.join("pki");
    let pki_s = pki.to_str().context("path")?;
    run(&bin, &["pki", "init", pki_s])?;
    run(&bin, &["pki", "issue", pki_s, "hub", "--host", "localhost"])?;
    run(
        &bin,
        &["pki", "issue", pki_s, "ldr-pc-1", "--facility", "clinic-a"],
    )?;

    let mut monitors = Vec::new();
    let mut devices = String::new();
    for i in 0..args.monitors {
        let link = d.join(format!("tty{i}"));
        monitors.push(PtyMonitor::spawn_series50(
            Box::new(RecordingSource::starting_at(&recording, true, i * 4000)),
            PtyOptions {
                speed: args.speed,
                link: Some(link.clone()),
                ..PtyOptions::default()
            },
        )?);
        devices.push_str(&format!(
            "[[device]]\nname = \"bed-{i}\"\nserial = \"{}\"\nprotocol = \"series50\"\n",
            link.display()
        ));
    }
    let port = std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    std::fs::write(
        d.join("bridge.toml"),
        format!(
            "facility = \"clinic-a\"\nbridge = \"ldr-pc-1\"\nspool_dir = \"spool\"\n[hub]\n\
             address = \"127.0.0.1:{port}\"\nserver_name = \"localhost\"\nca = \"pki/ca.pem\"\n\
             cert = \"pki/ldr-pc-1.pem\"\nkey = \"pki/ldr-pc-1.key\"\n{devices}"
        ),
    )?;
    let listen = format!("127.0.0.1:{port}");
    let store = d.join("store");
    let _receiver = Killed(
        Command::new(&bin)
            .args(["receive", "--listen", &listen, "--pki", pki_s, "--store"])
            .arg(&store)
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null())
            .spawn()?,
    );
    let bridge = Killed(
        Command::new(&bin)
            .args(["bridge", "--config"])
            .arg(d.join("bridge.toml"))
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null())
            .spawn()?,
    );
    let pid = bridge.0.id();
    println!(
        "bridge_load: {} monitors at {}× real time for {} s (bridge pid {pid})",
        args.monitors, args.speed, args.seconds
    );
    let started = Instant::now();
    let (cpu0, _, _) = usage(pid)?;
    let mut rss_samples = Vec::new();
    while started.elapsed() < Duration::from_secs(args.seconds) {
        std::thread::sleep(Duration::from_secs(1));
        let (cpu, rss, _) = usage(pid)?;
        rss_samples.push(rss);
        let t = started.elapsed().as_secs();
        if t.is_multiple_of(10) {
            let sent: u64 = monitors.iter().map(|m| m.samples_sent()).sum();
            println!(
                "  {t:>4} s  cpu {:.1} %  rss {} KiB  samples sent {sent}",
                100.0 * (cpu - cpu0) / started.elapsed().as_secs_f64(),
                rss
            );
        }
    }
    let (cpu1, _, peak) = usage(pid)?;
    let wall = started.elapsed().as_secs_f64();
    let mut sent = 0;
    for m in monitors {
        sent += m.stop()?;
    }
    // Let the last blocks arrive, then count.
    let deadline = Instant::now() + Duration::from_secs(20);
    let received = loop {
        let received: u64 = ctg_bridge::receiver::load(&store)?
            .iter()
            .flat_map(|s| &s.blocks)
            .map(|b| b.samples.len() as u64)
            .sum();
        if received >= sent || Instant::now() > deadline {
            break received;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    rss_samples.sort_unstable();
    let median_rss = rss_samples.get(rss_samples.len() / 2).copied().unwrap_or(0);
    let cpu_percent = 100.0 * (cpu1 - cpu0) / wall;
    let summary = serde_json::json!({
        "monitors": args.monitors,
        "speed": args.speed,
        "seconds": wall,
        "bridge_cpu_percent_of_one_core": cpu_percent,
        "bridge_rss_kib_median": median_rss,
        "bridge_rss_kib_peak": peak,
        "samples_sent": sent,
        "samples_received": received,
        "samples_lost": sent.saturating_sub(received),
    });
    println!("summary: {}", serde_json::to_string_pretty(&summary)?);
    std::fs::create_dir_all("target/bench")?;
    std::fs::write(
        "target/bench/bridge-load.json",
        serde_json::to_string_pretty(&summary)?,
    )?;
    if received < sent {
        bail!("{} samples lost", sent - received);
    }
    Ok(())
}
