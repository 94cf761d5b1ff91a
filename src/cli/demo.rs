//! `mimamori demo`: the field demo, everything on this machine with embedded defaults.
//!
//! A deployment CA, a receiver standing in for the hub, and one bridge reading four simulated
//! monitors: two Philips Series 50 and one Avalon on real pseudo-terminals playing CTU-UHB
//! recordings, and an HL7 sender playing the synthetic programme into the bridge's MLLP
//! listener. Every few seconds it prints what the receiver holds per bed. The hub and viewer
//! issues turn this into the full demo (hub, wall, alerts).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ctg_proto::model::Channel;
use ctg_sim::pty::PtyOptions;
use ctg_sim::{PtyMonitor, RecordingSource};
use ctg_tls::pki;

pub fn run(seconds: Option<u64>, speed: f64) -> Result<()> {
    super::field::init_logging_quiet();
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let data = ctg_formats::shared_data_dir().map_err(anyhow::Error::msg)?;
    let pki_dir = d.join("pki");
    pki::create_ca(&pki_dir)?;
    pki::issue(
        &pki_dir,
        "hub",
        &pki::Role::Hub {
            names: vec!["localhost".into()],
        },
    )?;
    pki::issue(
        &pki_dir,
        "ldr-pc-1",
        &pki::Role::Bridge {
            facility: "demo-clinic".into(),
        },
    )?;

    let record = |n: u32| -> Result<ctg_formats::Recording> {
        ctg_formats::read_recording(&data.join(format!("ctu-uhb/wfdb/{n}.hea")))
            .with_context(|| format!("CTU-UHB record {n}"))
    };
    let options = |link: &Path| PtyOptions {
        speed,
        link: Some(link.to_owned()),
        marker_every_s: 60,
        ..PtyOptions::default()
    };
    let _bed1 = PtyMonitor::spawn_series50(
        Box::new(RecordingSource::new(&record(1001)?, true)),
        options(&d.join("bed-1")),
    )?;
    let _bed2 = PtyMonitor::spawn_series50(
        Box::new(RecordingSource::new(&record(1002)?, true)),
        options(&d.join("bed-2")),
    )?;
    let _bed3 = PtyMonitor::spawn_avalon(
        Box::new(RecordingSource::new(&record(1003)?, true)),
        options(&d.join("bed-3")),
    )?;
    let udp = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?;
    let tcp = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let config_path = d.join("bridge.toml");
    std::fs::write(
        &config_path,
        format!(
            "facility = \"demo-clinic\"\nbridge = \"ldr-pc-1\"\nspool_dir = \"spool\"\n\
             [hub]\naddress = \"{udp}\"\nserver_name = \"localhost\"\nca = \"pki/ca.pem\"\n\
             cert = \"pki/ldr-pc-1.pem\"\nkey = \"pki/ldr-pc-1.key\"\n\
             [[device]]\nname = \"bed-1\"\nserial = \"{b1}\"\nprotocol = \"series50\"\n\
             [[device]]\nname = \"bed-2\"\nserial = \"{b2}\"\nprotocol = \"series50\"\n\
             [[device]]\nname = \"bed-3\"\nserial = \"{b3}\"\nprotocol = \"avalon\"\n\
             [[device]]\nname = \"bed-4\"\nprotocol = \"hl7\"\nlisten = \"{tcp}\"\n",
            b1 = d.join("bed-1").display(),
            b2 = d.join("bed-2").display(),
            b3 = d.join("bed-3").display(),
        ),
    )?;
    let config = ctg_bridge::load_config(&config_path)?;
    let store = d.join("store");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    {
        let (ca, cert, key, store) = (
            pki_dir.join("ca.pem"),
            pki_dir.join("hub.pem"),
            pki_dir.join("hub.key"),
            store.clone(),
        );
        rt.spawn(async move {
            if let Err(error) =
                ctg_bridge::receiver::serve(udp, &ca, &cert, &key, &store, Some(ready_tx)).await
            {
                tracing::error!(error = format!("{error:#}"), "receiver stopped");
            }
        });
    }
    rt.block_on(ready_rx)
        .context("the receiver did not start")?;
    rt.spawn(async move {
        if let Err(error) = ctg_bridge::run(config).await {
            tracing::error!(error = format!("{error:#}"), "bridge stopped");
        }
    });
    let listening = Instant::now();
    while std::net::TcpStream::connect(tcp).is_err() {
        if listening.elapsed() > Duration::from_secs(10) {
            anyhow::bail!("the bridge's MLLP listener on {tcp} did not open");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let bed4 = ctg_sim::hl7::Hl7Sender::spawn(Box::new(ctg_sim::Synthetic::new()), tcp, speed)?;

    println!(
        "Mimamori field demo: 4 simulated monitors ▶ bridge (spool in {}) ▶ QUIC + mutual TLS ▶ receiver",
        d.join("spool").display()
    );
    println!(
        "bed-1, bed-2: Series 50 on a pty (CTU-UHB 1001, 1002); bed-3: Avalon on a pty (1003); bed-4: HL7 ORU^R01 over MLLP (synthetic)"
    );
    println!("speed {speed}× real time; Ctrl-C stops.\n");
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(5));
        let streams = ctg_bridge::receiver::load(&store).unwrap_or_default();
        println!(
            "{:>5.0} s  {:<6} {:>9} {:>9} {:>8} {:>7}",
            started.elapsed().as_secs_f64(),
            "bed",
            "samples",
            "FHR1 bpm",
            "toco",
            "events"
        );
        for s in &streams {
            let samples: usize = s.blocks.iter().map(|b| b.samples.len()).sum();
            let last = s.blocks.last().and_then(|b| b.samples.last());
            let show = |c: Channel| {
                last.and_then(|x| x.physical(c))
                    .map_or("—".to_string(), |v| format!("{v:.1}"))
            };
            println!(
                "         {:<6} {:>9} {:>9} {:>8} {:>7}",
                s.identity.port,
                samples,
                show(Channel::Fhr1),
                show(Channel::Ua),
                s.events.len()
            );
        }
        if seconds.is_some_and(|limit| started.elapsed().as_secs() >= limit) {
            break;
        }
    }
    drop(bed4);
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}
