//! `mimamori demo`: the whole system on this machine, on embedded defaults, nothing to set up.
//!
//! A throwaway CA and certificates; the hub (store, analysis, API and status page) in a
//! temporary folder; two facilities, each with a real bridge instance: `clinic-a` reads two
//! Philips Series 50 monitors and one Avalon on real pseudo-terminals, replaying CTU-UHB
//! recordings the repository carries (`assets/recordings`, ODC-By), plus an HL7 sender;
//! `midwife-home-b` reads a Series 50 monitor and a GE Corometrics in "Model 115" mode playing
//! the synthetic programme (room-1 twins, a Doppler transducer on FHR1 and one on FHR2, each
//! analysed on its own; for 10 minutes of each half hour the FHR2 transducer slips onto twin
//! A, which the hub's cross-channel check tells, and the monitor flags as coincidence; room-2
//! the programme's planted events in the Model 115 protocol's whole units, without an MHR
//! channel); with
//! `--beds N` a third facility, `clinic-c`, adds HL7 beds on the synthetic programme (its bed-1
//! with no toco applied). Each bridge runs as its own process (`mimamori bridge`, as on a
//! delivery-room PC; its PID is printed, so stopping one shows what the wall does when a site
//! drops off). Every bed gets a fictional patient and a bedside observation of her labour. Demo logins are created (centre obstetrician, centre admin, a clinic-a midwife) and
//! the URL printed. Runs until Ctrl-C (or `--seconds`), then stops everything and removes the
//! folder.

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
/// Every demo login: name, role, facility (all with [`DEMO_PASSWORD`]).
const DEMO_LOGINS: [(&str, ctg_hub::accounts::Role, &str); 4] = [
    (DEMO_USER, ctg_hub::accounts::Role::Obstetrician, "centre"),
    ("admin", ctg_hub::accounts::Role::Admin, "centre"),
    ("clinic-a", ctg_hub::accounts::Role::Midwife, "clinic-a"),
    (
        DEMO_REMOTE_USER,
        ctg_hub::accounts::Role::Obstetrician,
        "centre",
    ),
];
/// The demo login with a second factor (an obstetrician signing in from outside the centre):
/// its secret is new each run and printed as an `otpauth://` URI.
pub const DEMO_REMOTE_USER: &str = "remote";

/// Fictional patients for the demo's beds.
fn demo_patient(n: usize, facility: &str) -> ctg_hub::records::NewPatient {
    const FAMILY: [&str; 8] = [
        "山田", "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "中村",
    ];
    const GIVEN: [&str; 8] = ["花子", "美咲", "さくら", "陽子", "由美", "愛", "真理", "恵"];
    const NOTES: [&str; 4] = [
        "既往なし。妊娠経過順調。",
        "妊娠高血圧症候群（軽症）。降圧薬なし。",
        "前回帝王切開。TOLAC 希望。",
        "妊娠糖尿病（食事療法）。",
    ];
    ctg_hub::records::NewPatient {
        facility: facility.to_owned(),
        patient_ref: format!("P{:04}", 1000 + n),
        name: format!("{} {}", FAMILY[n % 8], GIVEN[(n / 8 + n * 3) % 8]),
        gestational_weeks: Some(36 + (n * 7 % 6) as u32),
        gestational_days: Some((n * 3 % 7) as u32),
        parity: Some((n % 4) as u32),
        notes: NOTES[n % 4].to_owned(),
    }
}

/// A fictional bedside observation of the labour for the demo's beds (one in five on oxytocin,
/// every other with an epidural, one with meconium-stained liquor and one with a fever).
fn demo_labour(n: usize) -> ctg_hub::records::LabourObservation {
    use ctg_hub::records::{Liquor, Membranes};
    let ruptured = n % 3 != 1;
    ctg_hub::records::LabourObservation {
        dilation_cm: Some((3 + n * 3 % 7) as f64),
        oxytocin_mu_min: n.is_multiple_of(5).then_some(2.0 + (n % 4) as f64 * 2.0),
        epidural: Some(n % 2 == 1),
        temperature_c: Some(if n == 5 {
            38.2
        } else {
            36.6 + (n % 4) as f64 * 0.2
        }),
        membranes: Some(if ruptured {
            Membranes::Ruptured
        } else {
            Membranes::Intact
        }),
        liquor: ruptured.then_some(if n == 3 {
            Liquor::Meconium
        } else {
            Liquor::Clear
        }),
    }
}

/// A bridge in its own process, killed when dropped.
struct BridgeProcess {
    facility: String,
    child: std::process::Child,
}

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_bridge(dir: &Path, facility: &str) -> Result<BridgeProcess> {
    let log = std::fs::File::create(dir.join(format!("bridge-{facility}.log")))?;
    let child = std::process::Command::new(std::env::current_exe()?)
        .arg("bridge")
        .arg("--config")
        .arg(dir.join(format!("bridge-{facility}.toml")))
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting the {facility} bridge"))?;
    Ok(BridgeProcess {
        facility: facility.to_owned(),
        child,
    })
}

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

pub fn run(seconds: Option<u64>, speed: f64, http: SocketAddr, beds: usize) -> Result<()> {
    let extra_beds = beds.saturating_sub(6);
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
    for facility in ["clinic-a", "midwife-home-b", "clinic-c"] {
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
    for (name, role, facility) in DEMO_LOGINS {
        hub.accounts.add_user(name, DEMO_PASSWORD, role, facility)?;
    }
    let remote_secret = hub.accounts.enrol_second_factor(DEMO_REMOTE_USER, "-")?;
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
            if let Err(error) = ctg_hub::ingest::serve(
                hub,
                listen,
                &ca,
                &cert,
                &key,
                Some(ingest_tx),
                std::future::pending(),
            )
            .await
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
        // 1158 opens with 10 poorly recorded minutes (its first level rests on an assumed
        // baseline), played at the demo's speed; the Avalon bed plays in real time whatever the
        // speed (the bridge polls an Avalon's numerics once a second).
        PtyMonitor::spawn_series50(source(2)?, options("a-bed-2"))?,
        PtyMonitor::spawn_avalon(source(1)?, options("a-bed-3"))?,
        // Twins: a second fetus on FHR2, with its own transducer, which slips onto twin A
        // from 5 to 15 minutes into the stream (and each half hour after).
        PtyMonitor::spawn_series50(Box::new(Synthetic::twins_slipping(300)), options("b-bed-1"))?,
        PtyMonitor::spawn_corometrics115(
            Box::new(Synthetic::starting_at(900)),
            options("b-bed-2"),
        )?,
    ];
    // Ports for the HL7 listeners, all held until every one is chosen (a port let go at once
    // can come back from the next bind, and two beds would share a listener).
    let probes = (0..=extra_beds)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    let hl7_ports = probes
        .iter()
        .map(std::net::TcpListener::local_addr)
        .collect::<std::io::Result<Vec<_>>>()?;
    drop(probes);
    let hl7 = hl7_ports[0];
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
            serial_device("room-2", &d.join("b-bed-2"), "corometrics115"),
        ),
    )?;
    let mut hl7_beds = vec![hl7];
    let mut clinic_c = String::new();
    for (n, &listen) in hl7_ports[1..].iter().enumerate() {
        clinic_c.push_str(&format!(
            "[[device]]\nname = \"bed-{}\"\nprotocol = \"hl7\"\nlisten = \"{listen}\"\n",
            n + 1
        ));
        hl7_beds.push(listen);
    }
    // Validated here (the bridges read the same files).
    let _ = (clinic_a, home_b);
    let mut bridges = vec![
        spawn_bridge(d, "clinic-a")?,
        spawn_bridge(d, "midwife-home-b")?,
    ];
    if extra_beds > 0 {
        bridge_config(d, "clinic-c", ingest, &clinic_c)?;
        bridges.push(spawn_bridge(d, "clinic-c")?);
    }
    let mut hl7_senders = Vec::new();
    for (n, address) in hl7_beds.into_iter().enumerate() {
        let listening = Instant::now();
        while std::net::TcpStream::connect(address).is_err() {
            anyhow::ensure!(
                listening.elapsed() < Duration::from_secs(20),
                "the HL7 listener at {address} did not open"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // Each synthetic bed starts at its own point of the programme; clinic-c's bed-1 has no
        // toco applied (its windows say "toco not recording").
        let start = (n as u64 * 337) % 1800;
        let source = match n {
            0 => Synthetic::new(),
            1 => Synthetic::without_toco(start),
            _ => Synthetic::starting_at(start),
        };
        hl7_senders.push(ctg_sim::hl7::Hl7Sender::spawn(
            Box::new(source),
            address,
            speed,
        )?);
    }
    // A fictional patient for every bed as its stream appears.
    {
        let hub = hub.clone();
        rt.spawn(async move {
            let mut registered = std::collections::HashSet::new();
            loop {
                let streams: Vec<(i64, String)> = hub
                    .streams()
                    .iter()
                    .map(|(id, s)| (*id, s.record.identity.facility.clone()))
                    .collect();
                for (id, facility) in streams {
                    if registered.insert(id) {
                        let n = registered.len() - 1;
                        let patient = demo_patient(n, &facility);
                        let added = hub
                            .records
                            .add_patient(&patient)
                            .and_then(|p| hub.records.add_episode(p, Some(id)))
                            .and_then(|episode| {
                                hub.records.add_observation(
                                    episode,
                                    &format!("{facility}-midwife"),
                                    &demo_labour(n),
                                    None,
                                )
                            });
                        match added {
                            Ok(_) => hub.tell_gestational_weeks(id, patient.gestational_weeks),
                            Err(error) => {
                                tracing::warn!(error = format!("{error:#}"), "demo patient")
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }

    println!(
        "Mimamori demo: {} simulated monitors ▶ {} bridges ▶ QUIC + mutual TLS ▶ hub",
        6 + extra_beds,
        bridges.len()
    );
    println!(
        "  clinic-a: Series 50 ×2 (CTU-UHB 1001, 1158) and Avalon (CTU-UHB 1029; real time at any --speed: the bridge polls it once a second) on pseudo-terminals, HL7 ORU^R01 (synthetic)"
    );
    println!(
        "  midwife-home-b: Series 50 (twins) and GE Corometrics 115 (synthetic programme with planted events)"
    );
    if extra_beds > 0 {
        println!(
            "  clinic-c: HL7 ×{extra_beds} (synthetic programme; bed-1 without a toco transducer)"
        );
    }
    for bridge in &bridges {
        println!("  bridge {}: pid {}", bridge.facility, bridge.child.id());
    }
    match api {
        Some(address) => {
            println!("\n  open http://{address}/   sign in as {DEMO_USER} / {DEMO_PASSWORD}");
            println!(
                "  other logins (same password): admin (centre admin), clinic-a (a clinic-a midwife)"
            );
            println!(
                "  {DEMO_REMOTE_USER} (same password) also asks for a code: add this to an authenticator app: {}",
                ctg_hub::totp::otpauth_uri(&remote_secret, DEMO_REMOTE_USER, "Mimamori demo")
            );
        }
        None => println!("\n  (the API did not start on {http}; see the log)"),
    }
    println!("  speed {speed}× real time; Ctrl-C stops everything.\n");

    let started = Instant::now();
    rt.block_on(async {
        // Ctrl-C, or `kill` / a service manager's stop (SIGTERM): either way the bridges'
        // processes are stopped and the demo's folder removed, not left running.
        let stop = super::stop_requested();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
            if print_status(&hub, started).is_err() {
                break;
            }
            if seconds.is_some_and(|limit| started.elapsed().as_secs() >= limit) {
                break;
            }
        }
    });
    // Bridges and hub first (so nothing reports the monitors vanishing), then the monitors.
    drop(bridges);
    rt.shutdown_timeout(Duration::from_secs(2));
    drop(hl7_senders);
    for monitor in monitors.drain(..) {
        let _ = monitor.stop();
    }
    // Not `println!`: with stdout gone (the reason the demo may have stopped) it would panic.
    let _ = std::io::Write::write_all(
        &mut std::io::stdout(),
        b"stopped; the demo's folder is removed.\n",
    );
    Ok(())
}

/// Prints what every bed has received. Fails when stdout is gone (a closed pipe, as after
/// `mimamori demo | head`): the demo then stops as after Ctrl-C instead of panicking.
fn print_status(hub: &Arc<ctg_hub::Hub>, started: Instant) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let streams = hub.streams();
    let mut rows: Vec<_> = streams.values().collect();
    rows.sort_by_key(|s| {
        (
            s.record.identity.facility.clone(),
            s.record.identity.port.clone(),
        )
    });
    writeln!(
        out,
        "{:>5.0} s  {:<16} {:<7} {:>9} {:>9} {:>6}",
        started.elapsed().as_secs_f64(),
        "facility",
        "bed",
        "samples",
        "FHR bpm",
        "toco"
    )?;
    for s in rows {
        let (samples, last) = s.recent_summary();
        let show = |c: Channel| {
            last.and_then(|x| x.physical(c))
                .map_or("—".to_string(), |v| format!("{v:.1}"))
        };
        writeln!(
            out,
            "         {:<16} {:<7} {:>9} {:>9} {:>6}",
            s.record.identity.facility,
            s.record.identity.port,
            samples,
            show(Channel::Fhr1),
            show(Channel::Ua)
        )?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    /// Every demo bed's labour observation is one the hub takes, and the demo shows each kind
    /// of alarm somewhere (a fever, meconium).
    #[test]
    fn the_demo_labour_observations_are_valid_and_show_each_alarm() {
        let all: Vec<_> = (0..40).map(super::demo_labour).collect();
        for observed in &all {
            observed.check().unwrap();
        }
        assert!(all.iter().any(|o| {
            o.temperature_c
                .is_some_and(|t| t >= ctg_hub::records::FEVER_C)
        }));
        assert!(
            all.iter()
                .any(|o| o.liquor == Some(ctg_hub::records::Liquor::Meconium))
        );
    }
}
