//! `mimamori demo`: the whole system on this machine, on embedded defaults, nothing to set up.
//!
//! A throwaway CA and certificates; the hub (store, analysis, API and status page) in a
//! temporary folder; two facilities, each with a real bridge instance: `clinic-a` reads two
//! Philips Series 50 monitors and one Avalon on real pseudo-terminals, replaying CTU-UHB
//! recordings the repository carries (`assets/recordings`, ODC-By), plus an HL7 sender;
//! `midwife-home-b` reads two Series 50 monitors playing the synthetic programme. A demo login
//! is created and the URL printed. Runs until Ctrl-C (or `--seconds`), then stops everything and
//! removes the folder.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ctg_formats::Recording;
use ctg_proto::model::Channel;
use ctg_sim::pty::PtyOptions;
use ctg_sim::{PtyMonitor, PtyMonitorHandle, RecordingSource, SecondSource, Synthetic};
use ctg_tls::pki;

/// The recordings the repository carries for the demo.
const RECORDINGS: [(&str, &str, &[u8]); 3] = [
    (
        "1001",
        include_str!("../../assets/recordings/ctu-uhb/1001.hea"),
        include_bytes!("../../assets/recordings/ctu-uhb/1001.dat"),
    ),
    (
        "1029",
        include_str!("../../assets/recordings/ctu-uhb/1029.hea"),
        include_bytes!("../../assets/recordings/ctu-uhb/1029.dat"),
    ),
    (
        "1158",
        include_str!("../../assets/recordings/ctu-uhb/1158.hea"),
        include_bytes!("../../assets/recordings/ctu-uhb/1158.dat"),
    ),
];

/// The demo login.
pub const DEMO_USER: &str = "demo";
/// Its password (the demo hub listens on loopback only and lives in a temporary folder).
pub const DEMO_PASSWORD: &str = "mimamori-demo";

fn recording(index: usize) -> Result<Recording> {
    let (name, header, dat) = RECORDINGS[index];
    let header = ctg_formats::wfdb::parse_header(header).map_err(|e| anyhow::anyhow!("{e}"))?;
    ctg_formats::wfdb::parse(&header, dat, name).map_err(|e| anyhow::anyhow!("record {name}: {e}"))
}

fn bridge_config(
    dir: &Path,
    facility: &str,
    hub: SocketAddr,
    devices: &str,
) -> Result<ctg_bridge::config::BridgeConfig> {
    let path = dir.join(format!("bridge-{facility}.toml"));
    std::fs::write(
        &path,
        format!(
            "facility = \"{facility}\"\nbridge = \"bridge-{facility}\"\nspool_dir = \"spool-{facility}\"\n\
             [hub]\naddress = \"{hub}\"\nserver_name = \"localhost\"\nca = \"pki/ca.pem\"\n\
             cert = \"pki/bridge-{facility}.pem\"\nkey = \"pki/bridge-{facility}.key\"\n{devices}"
        ),
    )?;
    ctg_bridge::load_config(&path)
}

fn serial_device(name: &str, path: &Path, protocol: &str) -> String {
    format!(
        "[[device]]\nname = \"{name}\"\nserial = \"{}\"\nprotocol = \"{protocol}\"\n",
        path.display()
    )
}

pub fn run(seconds: Option<u64>, speed: f64, http: SocketAddr) -> Result<()> {
    super::field::init_logging_quiet();
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let pki_dir = d.join("pki");
    pki::create_ca(&pki_dir)?;
    pki::issue(
        &pki_dir,
        "hub",
        &pki::Role::Hub {
            names: vec!["localhost".into()],
        },
    )?;
    for facility in ["clinic-a", "midwife-home-b"] {
        pki::issue(
            &pki_dir,
            &format!("bridge-{facility}"),
            &pki::Role::Bridge {
                facility: facility.into(),
            },
        )?;
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let hub = ctg_hub::Hub::open(&d.join("hub.db"), "mimamori-demo", "centre")?;
    hub.accounts.add_user(
        DEMO_USER,
        DEMO_PASSWORD,
        ctg_hub::accounts::Role::Obstetrician,
        "centre",
    )?;
    {
        let _guard = rt.enter();
        hub.start_alerts();
    }
    let (ingest_tx, ingest_rx) = tokio::sync::oneshot::channel();
    {
        let (hub, ca, cert, key) = (
            hub.clone(),
            pki_dir.join("ca.pem"),
            pki_dir.join("hub.pem"),
            pki_dir.join("hub.key"),
        );
        rt.spawn(async move {
            let listen: SocketAddr = "127.0.0.1:0".parse().expect("address");
            if let Err(error) =
                ctg_hub::ingest::serve(hub, listen, &ca, &cert, &key, Some(ingest_tx)).await
            {
                tracing::error!(error = format!("{error:#}"), "hub ingest stopped");
            }
        });
    }
    let ingest = rt
        .block_on(ingest_rx)
        .context("the hub's ingest did not start")?;
    let (api_tx, api_rx) = tokio::sync::oneshot::channel();
    {
        let hub = hub.clone();
        rt.spawn(async move {
            let bound = ctg_hub::api::serve(hub.clone(), http, Some(api_tx)).await;
            if let Err(error) = bound {
                tracing::warn!(%http, error = format!("{error:#}"), "that port is taken; using another");
                let any: SocketAddr = "127.0.0.1:0".parse().expect("address");
                let _ = ctg_hub::api::serve(hub, any, None).await;
            }
        });
    }
    let api = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(2), api_rx).await })
        .ok()
        .and_then(Result::ok);

    // Monitors: recordings at clinic-a, the synthetic programme at midwife-home-b.
    let options = |name: &str| PtyOptions {
        speed,
        link: Some(d.join(name)),
        marker_every_s: 120,
        ..PtyOptions::default()
    };
    let source = |index: usize| -> Result<Box<dyn SecondSource>> {
        Ok(Box::new(RecordingSource::new(&recording(index)?, true)))
    };
    let mut monitors: Vec<PtyMonitorHandle> = vec![
        PtyMonitor::spawn_series50(source(0)?, options("a-bed-1"))?,
        PtyMonitor::spawn_series50(source(1)?, options("a-bed-2"))?,
        PtyMonitor::spawn_avalon(source(2)?, options("a-bed-3"))?,
        PtyMonitor::spawn_series50(Box::new(Synthetic::starting_at(300)), options("b-bed-1"))?,
        PtyMonitor::spawn_series50(Box::new(Synthetic::starting_at(900)), options("b-bed-2"))?,
    ];
    let hl7 = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let clinic_a = bridge_config(
        d,
        "clinic-a",
        ingest,
        &format!(
            "{}{}{}[[device]]\nname = \"bed-4\"\nprotocol = \"hl7\"\nlisten = \"{hl7}\"\n",
            serial_device("bed-1", &d.join("a-bed-1"), "series50"),
            serial_device("bed-2", &d.join("a-bed-2"), "series50"),
            serial_device("bed-3", &d.join("a-bed-3"), "avalon"),
        ),
    )?;
    let home_b = bridge_config(
        d,
        "midwife-home-b",
        ingest,
        &format!(
            "{}{}",
            serial_device("room-1", &d.join("b-bed-1"), "series50"),
            serial_device("room-2", &d.join("b-bed-2"), "series50"),
        ),
    )?;
    for config in [clinic_a, home_b] {
        rt.spawn(async move {
            if let Err(error) = ctg_bridge::run(config).await {
                tracing::error!(error = format!("{error:#}"), "bridge stopped");
            }
        });
    }
    let listening = Instant::now();
    while std::net::TcpStream::connect(hl7).is_err() {
        anyhow::ensure!(
            listening.elapsed() < Duration::from_secs(10),
            "the HL7 listener did not open"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let hl7_sender = ctg_sim::hl7::Hl7Sender::spawn(Box::new(Synthetic::new()), hl7, speed)?;

    println!(
        "Mimamori demo: 6 simulated monitors ▶ 2 bridges (clinic-a, midwife-home-b) ▶ QUIC + mutual TLS ▶ hub"
    );
    println!(
        "  clinic-a: Series 50 ×2 and Avalon on pseudo-terminals (CTU-UHB 1001, 1029, 1158), HL7 ORU^R01 (synthetic)"
    );
    println!("  midwife-home-b: Series 50 ×2 (synthetic programme with planted events)");
    match api {
        Some(address) => {
            println!("\n  open http://{address}/   sign in as {DEMO_USER} / {DEMO_PASSWORD}")
        }
        None => println!("\n  (the API did not start on {http}; see the log)"),
    }
    println!("  speed {speed}× real time; Ctrl-C stops everything.\n");

    let started = Instant::now();
    rt.block_on(async {
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
            print_status(&hub, started);
            if seconds.is_some_and(|limit| started.elapsed().as_secs() >= limit) {
                break;
            }
        }
    });
    // Bridges and hub first (so nothing reports the monitors vanishing), then the monitors.
    rt.shutdown_timeout(Duration::from_secs(2));
    drop(hl7_sender);
    for monitor in monitors.drain(..) {
        let _ = monitor.stop();
    }
    println!("stopped; the demo's folder is removed.");
    Ok(())
}

fn print_status(hub: &Arc<ctg_hub::Hub>, started: Instant) {
    let streams = hub.streams();
    let mut rows: Vec<_> = streams.values().collect();
    rows.sort_by_key(|s| {
        (
            s.record.identity.facility.clone(),
            s.record.identity.port.clone(),
        )
    });
    println!(
        "{:>5.0} s  {:<16} {:<7} {:>9} {:>9} {:>6}",
        started.elapsed().as_secs_f64(),
        "facility",
        "bed",
        "samples",
        "FHR bpm",
        "toco"
    );
    for s in rows {
        let (samples, last) = s.recent_summary();
        let show = |c: Channel| {
            last.and_then(|x| x.physical(c))
                .map_or("—".to_string(), |v| format!("{v:.1}"))
        };
        println!(
            "         {:<16} {:<7} {:>9} {:>9} {:>6}",
            s.record.identity.facility,
            s.record.identity.port,
            samples,
            show(Channel::Fhr1),
            show(Channel::Ua)
        );
    }
}
