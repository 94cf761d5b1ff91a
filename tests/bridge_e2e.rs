//! The bridge end to end, with real parts: a simulated Series 50 monitor on a real
//! pseudo-terminal, the real `mimamori bridge` process reading it through its serial code, real
//! QUIC with mutual TLS, and the `mimamori receive` process storing what arrives. The uplink is
//! cut, the bridge is killed with SIGKILL; afterwards the receiver must hold exactly the samples
//! the monitor sent, sample for sample, each once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ctg_bridge::receiver::{self, StreamContents};
use ctg_formats::Recording;
use ctg_sim::pty::PtyOptions;
use ctg_sim::{PtyMonitor, PtyMonitorHandle, RecordingSource};

use crate::util::shared_data;

/// A process killed when dropped.
pub(crate) struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    pub(crate) fn spawn(args: &[&str], log: PathBuf) -> Process {
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_mimamori"))
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("mimamori starts");
        Process { child, log }
    }

    /// SIGKILL: no chance to flush or say goodbye.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as `kill` or a service manager sends it: the exit status, if the process ends
    /// within `within`.
    pub(crate) fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("the process can be waited on") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PKI, a bridge config and a store in a temporary folder.
pub(crate) struct Field {
    dir: tempfile::TempDir,
    pub(crate) port: u16,
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port()
}

fn run_ok(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_mimamori"))
        .args(args)
        .output()
        .expect("mimamori runs");
    assert!(
        out.status.success(),
        "mimamori {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Field {
    pub(crate) fn new(monitor: &Path) -> Field {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = dir.path().join("pki");
        let pki = pki.to_str().expect("utf-8 path");
        run_ok(&["pki", "init", pki]);
        run_ok(&["pki", "issue", pki, "hub", "--host", "localhost"]);
        run_ok(&["pki", "issue", pki, "ldr-pc-1", "--facility", "clinic-a"]);
        let field = Field {
            dir,
            port: free_udp_port(),
        };
        field.write_config("pki", monitor);
        field
    }

    /// A field whose one device is an HL7 listener on a free loopback port.
    fn hl7() -> (Field, u16) {
        let field = Field::new(Path::new("/dev/null"));
        let port = crate::util::free_tcp_port();
        let device = format!("protocol = \"hl7\"\nlisten = \"127.0.0.1:{port}\"\n");
        field.write_config_with("pki", &device);
        (field, port)
    }

    fn write_config(&self, pki: &str, monitor: &Path) {
        let device = format!(
            "serial = \"{}\"\nprotocol = \"series50\"\n",
            monitor.display()
        );
        self.write_config_with(pki, &device);
    }

    pub(crate) fn write_config_with(&self, pki: &str, device: &str) {
        let config = format!(
            r#"facility = "clinic-a"
bridge = "ldr-pc-1"
spool_dir = "spool"
[hub]
address = "127.0.0.1:{port}"
server_name = "localhost"
ca = "{pki}/ca.pem"
cert = "{pki}/ldr-pc-1.pem"
key = "{pki}/ldr-pc-1.key"
[[device]]
name = "bed-1"
{device}"#,
            port = self.port,
        );
        std::fs::write(self.path("bridge.toml"), config).expect("config written");
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn receiver(&self, log: &str) -> Process {
        let listen = format!("127.0.0.1:{}", self.port);
        let pki = self.path("pki");
        let store = self.path("store");
        Process::spawn(
            &[
                "receive",
                "--listen",
                &listen,
                "--pki",
                pki.to_str().unwrap(),
                "--store",
                store.to_str().unwrap(),
            ],
            self.path(log),
        )
    }

    pub(crate) fn bridge(&self, log: &str) -> Process {
        let config = self.path("bridge.toml");
        Process::spawn(
            &["bridge", "--config", config.to_str().unwrap()],
            self.path(log),
        )
    }

    fn stored(&self) -> Vec<StreamContents> {
        let store = self.path("store");
        if !store.exists() {
            return Vec::new();
        }
        receiver::load(&store).expect("store readable")
    }

    fn stored_samples(&self) -> u64 {
        self.stored()
            .iter()
            .flat_map(|s| &s.blocks)
            .map(|b| b.samples.len() as u64)
            .sum()
    }

    fn wait_for_samples(&self, at_least: u64, timeout: Duration) -> u64 {
        let started = Instant::now();
        loop {
            let n = self.stored_samples();
            if n >= at_least || started.elapsed() > timeout {
                return n;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

pub(crate) fn recording() -> Recording {
    ctg_formats::read_recording(&shared_data().join("ctu-uhb/wfdb/1001.hea")).expect("1001 reads")
}

pub(crate) fn monitor(recording: &Recording, link: &Path, speed: f64) -> PtyMonitorHandle {
    monitor_from(recording, link, speed, 0)
}

/// A monitor playing `recording` from sample `position`, pressing the marker every 5 s and
/// putting line noise between frames every 2 s.
fn monitor_from(
    recording: &Recording,
    link: &Path,
    speed: f64,
    position: usize,
) -> PtyMonitorHandle {
    PtyMonitor::spawn_series50(
        Box::new(RecordingSource::starting_at(recording, true, position)),
        PtyOptions {
            speed,
            link: Some(link.to_owned()),
            marker_every_s: 5,
            noise_every_s: 2,
        },
    )
    .expect("simulated monitor on a pty")
}

/// The receiver holds one stream whose blocks tile `0..sent` without gap or overlap, and whose
/// values are the recording's, sample for sample.
fn assert_exactly_sent(field: &Field, recording: &Recording, sent: u64) {
    let streams = field.stored();
    assert_eq!(streams.len(), 1, "one stream");
    let stream = &streams[0];
    assert_eq!(stream.identity.facility, "clinic-a");
    let mut next = 0u64;
    let mut received = Vec::new();
    for block in &stream.blocks {
        assert_eq!(
            block.first_seq, next,
            "blocks tile the grid: gap or overlap at {next}"
        );
        next += block.samples.len() as u64;
        received.extend(block.samples.iter().map(|s| s.values));
    }
    assert_eq!(next, sent, "samples received vs samples the monitor sent");
    let whole = recording.samples.len() / 4 * 4;
    for (i, values) in received.iter().enumerate() {
        let expected = recording.samples[i % whole].values;
        assert_eq!(*values, expected, "sample {i} differs from the recording");
    }
}

pub(crate) fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn monitor_to_receiver_sample_for_sample_through_outages_and_a_killed_bridge() {
    let recording = recording();
    let link_dir = tempfile::tempdir().unwrap();
    let link = link_dir.path().join("ttyMONITOR1");
    let monitor = monitor(&recording, &link, 20.0);
    let field = Field::new(&link);

    let receiver = field.receiver("receiver-1.log");
    let bridge = field.bridge("bridge-1.log");
    let n = field.wait_for_samples(200, Duration::from_secs(30));
    assert!(n >= 200, "only {n} samples arrived:\n{}", bridge.log());

    // Cut the uplink: the receiver dies, the monitor goes on, the bridge spools.
    receiver.kill();
    let before = monitor.samples_sent();
    wait_until(
        "the monitor to send 200 more samples",
        Duration::from_secs(30),
        || monitor.samples_sent() >= before + 200,
    );
    let receiver = field.receiver("receiver-2.log");
    let target = monitor.samples_sent();
    let n = field.wait_for_samples(target, Duration::from_secs(40));
    assert!(
        n >= target,
        "after the outage {n} of {target} samples:\n{}",
        bridge.log()
    );

    // SIGKILL the bridge mid-stream, start it again on the same spool.
    bridge.kill();
    std::thread::sleep(Duration::from_millis(1500));
    let bridge = field.bridge("bridge-2.log");
    let target = monitor.samples_sent() + 200;
    let n = field.wait_for_samples(target, Duration::from_secs(40));
    assert!(
        n >= target,
        "after the bridge restart {n} of {target}:\n{}",
        bridge.log()
    );

    // Pull the cable: the monitor goes away (its pty with it); the bridge reports it.
    let first_part = monitor.stop().unwrap();
    let n = field.wait_for_samples(first_part, Duration::from_secs(30));
    assert!(n >= first_part, "{n} of {first_part}");
    wait_until(
        "the bridge to report the monitor gone",
        Duration::from_secs(30),
        || {
            field.stored()[0].events.iter().any(|e| {
                matches!(
                    e.kind,
                    ctg_proto::model::EventKind::DeviceDisconnected { .. }
                )
            })
        },
    );
    // Plug it in again (a new tty behind the same path, as after USB re-enumeration); it carries
    // on in the recording where it stopped.
    let monitor = monitor_from(&recording, &link, 20.0, first_part as usize);
    wait_until("the monitor to send again", Duration::from_secs(30), || {
        monitor.samples_sent() >= 200
    });
    let sent = first_part + monitor.stop().unwrap();
    let n = field.wait_for_samples(sent, Duration::from_secs(30));
    assert!(
        n >= sent,
        "{n} of {sent} after replugging:\n{}",
        bridge.log()
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert_exactly_sent(&field, &recording, sent);
    let events = &field.stored()[0].events;
    let count =
        |f: fn(&ctg_proto::model::EventKind) -> bool| events.iter().filter(|e| f(&e.kind)).count();
    assert!(
        count(|k| matches!(k, ctg_proto::model::EventKind::DeviceConnected(_))) >= 2,
        "identifications"
    );
    assert!(
        count(|k| matches!(k, ctg_proto::model::EventKind::Marker)) >= 3,
        "markers"
    );
    assert!(
        bridge.log().contains("bad input from the monitor"),
        "line noise is logged"
    );
    drop((bridge, receiver));
}

/// A monitor that goes quiet (its cable pulled for 15 s) and comes back: the time it sent
/// nothing is in the stream as samples of no signal, so the stream's sample numbers stay on
/// the clock (the chart, the alerts and the notes read a sample's time from its number).
#[test]
fn a_monitor_silent_for_a_while_leaves_that_time_in_the_stream_as_no_signal() {
    let recording = recording();
    let link_dir = tempfile::tempdir().unwrap();
    let link = link_dir.path().join("ttyMONITOR1");
    let monitor = monitor(&recording, &link, 1.0);
    let field = Field::new(&link);
    let _receiver = field.receiver("receiver.log");
    let bridge = field.bridge("bridge.log");
    let started = Instant::now();
    let n = field.wait_for_samples(20, Duration::from_secs(30));
    assert!(n >= 20, "only {n} samples arrived:\n{}", bridge.log());
    std::thread::sleep(Duration::from_secs(3));
    let first_part = monitor.stop().unwrap();
    let pulled = Instant::now();
    std::thread::sleep(Duration::from_secs(15));
    let monitor = monitor_from(&recording, &link, 1.0, first_part as usize);
    let plugged = Instant::now();
    wait_until("the monitor to send again", Duration::from_secs(30), || {
        monitor.samples_sent() >= 20
    });
    std::thread::sleep(Duration::from_secs(2));
    let second_part = monitor.stop().unwrap();
    let ended = Instant::now();
    let sent = first_part + second_part;
    wait_until("the samples and the fill", Duration::from_secs(30), || {
        field.stored().first().is_some_and(|s| {
            s.blocks
                .iter()
                .filter(|b| !b.is_filler())
                .map(|b| b.samples.len() as u64)
                .sum::<u64>()
                >= sent
        })
    });
    let stream = &field.stored()[0];
    let mut next = 0;
    let (mut filler, mut runs, mut values) = (0u64, 0, Vec::new());
    let mut previous_filler = false;
    for block in &stream.blocks {
        assert_eq!(block.first_seq, next, "blocks tile the grid");
        next += block.samples.len() as u64;
        if block.is_filler() {
            filler += block.samples.len() as u64;
            runs += usize::from(!previous_filler);
        } else {
            values.extend(block.samples.iter().map(|s| s.values));
        }
        previous_filler = block.is_filler();
    }
    let silent_s = filler as f64 / 4.0;
    let away = plugged.duration_since(pulled).as_secs_f64();
    assert_eq!(runs, 1, "one silence");
    assert!(
        silent_s >= away - 2.0 && silent_s <= away + 8.0,
        "{silent_s} s filled for a monitor away {away:.1} s:\n{}",
        bridge.log()
    );
    // What the monitor sent is all there, in order, around the fill.
    let whole = recording.samples.len() / 4 * 4;
    assert_eq!(values.len() as u64, sent);
    for (i, v) in values.iter().enumerate() {
        assert_eq!(*v, recording.samples[i % whole].values, "sample {i}");
    }
    // And the stream is as long as the time it covers, within the seconds of start-up.
    let span = ended.duration_since(started).as_secs_f64();
    let stream_s = next as f64 / 4.0;
    assert!(
        stream_s <= span + 2.0 && stream_s >= span - 8.0,
        "{stream_s} s of stream over {span:.1} s"
    );
    assert!(
        bridge.log().contains("kept as no signal"),
        "{}",
        bridge.log()
    );
}

/// A spool that filled up (the hub unreachable for days) dropped its oldest records: what it
/// dropped reaches the hub as samples of no signal and a note for each event, so the hub's
/// acknowledgements, which cover only a contiguous stream, pass the hole and the spool empties.
/// Before, they stopped at the hole for good: the spool stayed full, dropping as it went.
#[test]
fn what_a_full_spool_dropped_reaches_the_receiver_as_no_signal_and_the_spool_empties() {
    use ctg_bridge::spool::{
        LOST_EVENT_NOTE, RECORDS_PER_SEGMENT, Record, StreamMeta, StreamSpool,
    };
    use ctg_proto::model::{
        DeviceInfo, DeviceProtocol, EventKind, Sample, SampleBlock, StreamEvent, StreamIdentity,
    };
    let link_dir = tempfile::tempdir().unwrap();
    let field = Field::new(&link_dir.path().join("ttyNOMONITOR"));
    let spool_dir = field.path("spool").join("bed-1");
    let meta = StreamMeta {
        identity: StreamIdentity {
            facility: "clinic-a".into(),
            bridge: "ldr-pc-1".into(),
            port: "bed-1".into(),
            episode_start_utc_ms: 1,
        },
        device: DeviceInfo::unidentified(DeviceProtocol::Series50),
    };
    let blocks = RECORDS_PER_SEGMENT + 5;
    {
        let mut spool = StreamSpool::open(&spool_dir, meta).unwrap();
        for i in 0..blocks {
            spool
                .append(Record::Block(SampleBlock {
                    first_seq: i * 4,
                    utc_ms: 1_800_000_000_000 + i as i64 * 1000,
                    samples: vec![
                        Sample {
                            values: [560 + (i % 40) as u16, 0, 0, 0, 20],
                            ..Sample::default()
                        };
                        4
                    ],
                    ..SampleBlock::default()
                }))
                .unwrap();
            if i == 10 {
                spool
                    .append(Record::Event(StreamEvent {
                        seq: 0,
                        at_sample: 44,
                        utc_ms: 1_800_000_010_000,
                        kind: EventKind::Marker,
                    }))
                    .unwrap();
            }
        }
        // Full: the oldest segment (600 records: 599 blocks and the event) goes.
        assert_eq!(spool.drop_oldest_segment().unwrap(), RECORDS_PER_SEGMENT);
    }
    let receiver = field.receiver("receiver.log");
    let bridge = field.bridge("bridge.log");
    let total = blocks * 4;
    wait_until(
        "the whole stream at the receiver",
        Duration::from_secs(30),
        || field.stored_samples() >= total,
    );
    let stream = &field.stored()[0];
    let mut next = 0;
    for block in &stream.blocks {
        assert_eq!(block.first_seq, next, "blocks tile the grid");
        next += block.samples.len() as u64;
        // The 599 dropped blocks are no signal; the six after them are the monitor's.
        assert_eq!(
            block.is_filler(),
            block.first_seq < 599 * 4,
            "{}",
            block.first_seq
        );
    }
    assert_eq!(next, total);
    assert_eq!(stream.events.len(), 1);
    assert!(
        matches!(&stream.events[0].kind, EventKind::Note { author, text } if author == "bridge" && text == LOST_EVENT_NOTE),
        "{:?}",
        stream.events[0]
    );
    // Acknowledged past the hole: nothing is left in the spool.
    std::thread::sleep(Duration::from_secs(2));
    drop((bridge, receiver));
    let spool = StreamSpool::open(
        &spool_dir,
        StreamMeta {
            identity: stream.identity.clone(),
            device: DeviceInfo::unidentified(DeviceProtocol::Series50),
        },
    )
    .unwrap();
    assert!(
        spool.is_empty(),
        "{} records left in the spool",
        spool.len()
    );
}

#[test]
fn a_bridge_with_a_certificate_from_another_ca_is_refused() {
    let recording = recording();
    let link_dir = tempfile::tempdir().unwrap();
    let link = link_dir.path().join("ttyMONITOR2");
    let _monitor = monitor(&recording, &link, 10.0);
    let field = Field::new(&link);
    // A second, foreign CA issues the bridge a certificate with the same names.
    let foreign = field.path("foreign");
    run_ok(&["pki", "init", foreign.to_str().unwrap()]);
    run_ok(&[
        "pki",
        "issue",
        foreign.to_str().unwrap(),
        "ldr-pc-1",
        "--facility",
        "clinic-a",
    ]);
    std::fs::copy(field.path("pki/ca.pem"), foreign.join("ca.pem")).unwrap();
    field.write_config("foreign", &link);

    let receiver = field.receiver("receiver.log");
    let bridge = field.bridge("bridge.log");
    wait_until(
        "the bridge to report the refusal",
        Duration::from_secs(30),
        || bridge.log().contains("uplink down"),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        field.stored_samples(),
        0,
        "nothing may be stored from a foreign bridge"
    );
    assert!(receiver.log().contains("handshake"), "{}", receiver.log());
}

#[test]
fn python_hl7_mllp_send_delivers_oru_messages_that_are_acked_and_stored() {
    let recording = recording();
    let (field, tcp_port) = Field::hl7();
    let _receiver = field.receiver("receiver.log");
    let bridge = field.bridge("bridge.log");
    wait_until("the MLLP listener", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", tcp_port)).is_ok()
    });

    // Garbage, a message broken off by a new start block and an oversized message on one
    // connection; then a good message on the same connection is still answered AA.
    {
        use std::io::{Read, Write};
        let mut socket = std::net::TcpStream::connect(("127.0.0.1", tcp_port)).unwrap();
        socket.write_all(b"garbage before any frame\r\n").unwrap();
        socket.write_all(b"\x0bMSH|^~\\&|broken off").unwrap();
        let mut oversized = vec![0x0b];
        oversized.extend(std::iter::repeat_n(b'A', (1 << 20) + 100));
        oversized.extend([0x1c, 0x0d]);
        socket.write_all(&oversized).unwrap();
        let oru = ctg_devices::hl7::build_oru(&recording.samples[..4], "RAW-1", 1_768_469_400_000);
        socket
            .write_all(&ctg_devices::hl7::mllp::frame(&oru))
            .unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut ack = Vec::new();
        let mut buffer = [0u8; 512];
        while !ack.ends_with(&[0x1c, 0x0d]) {
            let n = socket
                .read(&mut buffer)
                .expect("an ACK for the good message");
            assert!(n > 0, "connection closed: {}", bridge.log());
            ack.extend_from_slice(&buffer[..n]);
        }
        let ack = String::from_utf8_lossy(&ack);
        assert!(ack.contains("MSA|AA|RAW-1"), "{ack}");
    }
    let log = bridge.log();
    assert!(log.contains("bad MLLP frame"), "{log}");

    // 60 ORU^R01 messages of 4 samples, each naming the patient (a PID segment after the
    // MSH), then one the bridge must reject and one with an error.
    let mut file = Vec::new();
    for (i, second) in recording.samples[4..].chunks(4).take(60).enumerate() {
        let oru = ctg_devices::hl7::build_oru(second, &format!("SIM-{i}"), 1_768_469_400_000);
        let oru = String::from_utf8(oru).unwrap().replacen(
            "\rOBR|",
            "\rPID|||MRN4711^^^HOSP^MR||DOE^JANE\rOBR|",
            1,
        );
        file.extend(ctg_devices::hl7::mllp::frame(oru.as_bytes()));
    }
    file.extend(ctg_devices::hl7::mllp::frame(
        b"MSH|^~\\&|A|B|C|D|20260115||ADT^A01|ADT-1|P|2.5\rPID|||1",
    ));
    let bad = String::from_utf8(ctg_devices::hl7::build_oru(
        &recording.samples[..4],
        "BAD-1",
        0,
    ))
    .unwrap()
    .replacen(
        "|NA|FHR1-4HZ^FHR1 trace 4 Hz^L|1.0.1.3|",
        "|NA|FHR1-4HZ^FHR1 trace 4 Hz^L|1.0.1.3|x^",
        1,
    );
    file.extend(ctg_devices::hl7::mllp::frame(bad.as_bytes()));
    let messages = field.path("orus.mllp");
    std::fs::write(&messages, file).unwrap();

    let out = crate::util::python()
        .args([
            "-m",
            "hl7.client",
            "--port",
            &tcp_port.to_string(),
            "--file",
        ])
        .arg(&messages)
        .arg("127.0.0.1")
        .output()
        .expect("python-hl7's mllp_send runs (installed by scripts/test.sh)");
    let acks = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mllp_send failed: {}\n{acks}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(acks.matches("MSA|AA|SIM-").count(), 60, "{acks}");
    assert_eq!(acks.matches("MSA|AR|ADT-1|").count(), 1, "{acks}");
    assert_eq!(acks.matches("MSA|AE|BAD-1|").count(), 1, "{acks}");

    let n = field.wait_for_samples(244, Duration::from_secs(20));
    assert_eq!(n, 244, "{}", bridge.log());
    let stream = &field.stored()[0];
    let received: Vec<_> = stream
        .blocks
        .iter()
        .flat_map(|b| b.samples.iter().map(|s| s.values))
        .collect();
    let sent: Vec<_> = recording.samples[..244].iter().map(|s| s.values).collect();
    assert_eq!(received, sent, "values through HL7 equal the recording");
    // The patient the messages name, told once (the hub puts her on the stream).
    let patients: Vec<&ctg_proto::model::EventKind> = stream
        .events
        .iter()
        .map(|e| &e.kind)
        .filter(|k| matches!(k, ctg_proto::model::EventKind::PatientIdentified { .. }))
        .collect();
    assert_eq!(
        patients,
        vec![&ctg_proto::model::EventKind::PatientIdentified {
            patient_ref: "MRN4711".into(),
            name: "DOE JANE".into(),
        }]
    );
}

#[test]
fn a_capture_of_the_port_decodes_offline_to_what_the_bridge_sent() {
    let recording = recording();
    let link_dir = tempfile::tempdir().unwrap();
    let link = link_dir.path().join("ttyMONITOR3");
    let monitor = monitor(&recording, &link, 20.0);
    let field = Field::new(&link);
    let _receiver = field.receiver("receiver.log");
    let config = field.path("bridge.toml");
    let captures = field.path("captures");
    let bridge = Process::spawn(
        &[
            "bridge",
            "--config",
            config.to_str().unwrap(),
            "--capture",
            captures.to_str().unwrap(),
        ],
        field.path("bridge.log"),
    );
    let n = field.wait_for_samples(400, Duration::from_secs(30));
    assert!(n >= 400, "{}", bridge.log());
    bridge.kill();
    monitor.stop().unwrap();

    let capture = std::fs::read_dir(&captures)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let out = crate::util::mimamori_ok(&[
        "decode",
        "--protocol",
        "series50",
        capture.to_str().unwrap(),
    ]);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert!(
        summary["crc_errors"].as_u64().unwrap() >= 1,
        "the line noise shows: {summary}"
    );
    assert!(summary["resyncs"].as_u64().unwrap() >= 1);
    let decoded: Vec<Option<f64>> = lines
        .iter()
        .filter(|l| l["type"] == "block")
        .flat_map(|l| {
            l["fhr1"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64())
                .collect::<Vec<_>>()
        })
        .collect();
    let stored = field.stored();
    let stored: Vec<Option<f64>> = stored[0]
        .blocks
        .iter()
        .flat_map(|b| {
            b.samples
                .iter()
                .map(|s| s.physical(ctg_proto::model::Channel::Fhr1))
        })
        .collect();
    assert!(
        decoded.len() >= stored.len(),
        "{} decoded, {} stored",
        decoded.len(),
        stored.len()
    );
    assert_eq!(
        &decoded[..stored.len()],
        &stored[..],
        "decode sees what the bridge sent"
    );
}

#[test]
fn an_avalon_monitor_on_a_pty_reaches_the_receiver_as_held_numerics() {
    let recording = recording();
    let link_dir = tempfile::tempdir().unwrap();
    let link = link_dir.path().join("ttyAVALON1");
    let monitor = PtyMonitor::spawn_avalon(
        Box::new(RecordingSource::new(&recording, true)),
        PtyOptions {
            speed: 1.0,
            link: Some(link.clone()),
            noise_every_s: 1,
            ..PtyOptions::default()
        },
    )
    .unwrap();
    let field = Field::new(&link);
    field.write_config_with(
        "pki",
        &format!("serial = \"{}\"\nprotocol = \"avalon\"\n", link.display()),
    );
    let _receiver = field.receiver("receiver.log");
    let bridge = field.bridge("bridge.log");
    let n = field.wait_for_samples(32, Duration::from_secs(40));
    assert!(n >= 32, "{n} samples:\n{}", bridge.log());
    let sent = monitor.stop().unwrap() as usize;
    // Each poll reply is one second: four samples holding the numerics the monitor showed, which
    // are the first sample of one of the seconds it played.
    let shown: Vec<[u16; 5]> = (0..sent / 4 + 1)
        .map(|k| recording.samples[k * 4].values)
        .map(|mut v| {
            v[2] = 0;
            v
        })
        .collect();
    let stream = &field.stored()[0];
    for block in &stream.blocks {
        assert_eq!(block.samples.len(), 4);
        assert!(
            block
                .samples
                .iter()
                .all(|s| s.values == block.samples[0].values)
        );
        let lost = block.samples[0].values == [0; 5]; // polled before the first second showed
        assert!(
            lost || shown.contains(&block.samples[0].values),
            "block at {} holds {:?}, not a second the monitor showed",
            block.first_seq,
            block.samples[0].values
        );
        if !lost {
            assert_eq!(
                block.modes.get(ctg_proto::model::Channel::Fhr1),
                ctg_proto::model::TransducerMode::Ultrasound
            );
        }
    }
    assert!(
        stream
            .blocks
            .iter()
            .filter(|b| b.samples[0].values != [0; 5])
            .count()
            >= 6
    );
    // Line noise every second (garbage, aborted, bad-FCS and oversized frames) was counted and
    // logged, and the numerics kept coming.
    assert!(
        bridge.log().contains("bad input from the monitor"),
        "{}",
        bridge.log()
    );
}

#[test]
fn check_mode_reports_what_each_monitor_sends() {
    let recording = recording();
    let link_dir = tempfile::tempdir().unwrap();
    let link = link_dir.path().join("ttyMONITOR5");
    let _monitor = monitor(&recording, &link, 1.0);
    let field = Field::new(&link);
    let config = field.path("bridge.toml");
    let out =
        crate::util::mimamori_ok(&["bridge", "--config", config.to_str().unwrap(), "--check"]);
    assert!(out.starts_with("bed-1: "), "{out}");
    assert!(out.contains("monitor: M1351A serial MIMAMORI01"), "{out}");
    let blocks: u64 = out
        .split(" CTG blocks")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(blocks >= 3, "{out}");
}

/// `mimamori ports --probe` names the protocol of each simulated monitor on its own
/// pseudo-terminal (a Series 50, an Avalon, a Corometrics in Model 115 mode) and prints the
/// `[[device]]` lines for it; the protocols tried before the right one (Series 50 before the
/// others, the Avalon before the Model 115) must not claim the other monitors' bytes. A port
/// that cannot be opened is said so, and the command fails.
#[test]
fn probing_a_port_names_the_protocol_its_monitor_speaks() {
    let link_dir = tempfile::tempdir().unwrap();
    let options = |name: &str| PtyOptions {
        speed: 1.0,
        link: Some(link_dir.path().join(name)),
        marker_every_s: 0,
        noise_every_s: 0,
    };
    let programme = || Box::new(ctg_sim::Synthetic::new());
    let _series50 = PtyMonitor::spawn_series50(programme(), options("ttyS50")).unwrap();
    let _avalon = PtyMonitor::spawn_avalon(programme(), options("ttyAVALON")).unwrap();
    let _coro = PtyMonitor::spawn_corometrics115(programme(), options("ttyCORO")).unwrap();
    let port = |name: &str| link_dir.path().join(name).to_str().unwrap().to_owned();
    let (s50, avalon, coro) = (port("ttyS50"), port("ttyAVALON"), port("ttyCORO"));
    let out = crate::util::mimamori(&[
        "ports", "--probe", &s50, "--probe", &avalon, "--probe", &coro,
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let progress = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{text}\n{progress}");
    let verdicts: Vec<&str> = text.split("\n/").collect();
    assert_eq!(verdicts.len(), 3, "{text}");
    for (verdict, protocol, monitor) in [
        (verdicts[0], "series50", "Found: Philips Series 50"),
        (verdicts[1], "avalon", "Found: Philips Avalon"),
        (
            verdicts[2],
            "corometrics115",
            "Found: GE Corometrics 120/170",
        ),
    ] {
        assert!(verdict.contains(monitor), "{verdict}");
        assert!(
            verdict
                .lines()
                .any(|l| l == format!("protocol = \"{protocol}\"")),
            "{verdict}"
        );
        assert!(!verdict.contains("baud ="), "{verdict}");
        // Exactly one attempt recognised the monitor, and it was the last one tried.
        let attempts: Vec<&str> = verdict.lines().filter(|l| l.contains(" baud: ")).collect();
        assert!(
            attempts
                .last()
                .unwrap()
                .starts_with(&format!("  {protocol} at ")),
            "{verdict}"
        );
        for earlier in &attempts[..attempts.len() - 1] {
            assert!(
                earlier.contains(" 0 CTG blocks") || earlier.contains(" 1 CTG blocks"),
                "{verdict}"
            );
        }
    }
    assert!(
        verdicts[0].contains("the monitor says it is M1351A"),
        "{text}"
    );
    assert!(
        verdicts[1]
            .lines()
            .filter(|l| l.contains(" baud: "))
            .count()
            == 2,
        "{text}"
    );
    assert!(
        verdicts[2]
            .lines()
            .filter(|l| l.contains(" baud: "))
            .count()
            == 3,
        "{text}"
    );
    assert!(
        progress.contains("trying avalon at 115200 baud"),
        "{progress}"
    );

    let missing = link_dir.path().join("ttyNONE");
    let out = crate::util::mimamori(&["ports", "--probe", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("could not be opened"), "{text}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no monitor recognised on"),
        "{text}"
    );
}

#[test]
fn the_hl7_simulator_delivers_the_synthetic_programme_sample_for_sample() {
    let (field, tcp_port) = Field::hl7();
    let _receiver = field.receiver("receiver.log");
    let bridge = field.bridge("bridge.log");
    let to = format!("127.0.0.1:{tcp_port}");
    let sim = Process::spawn(
        &["sim", "--protocol", "hl7", "--to", &to, "--speed", "20"],
        field.path("sim.log"),
    );
    let n = field.wait_for_samples(160, Duration::from_secs(30));
    assert!(n >= 160, "{n}:\n{}\n{}", bridge.log(), sim.log());
    sim.kill();
    let stream = &field.stored()[0];
    let received: Vec<[u16; 5]> = stream
        .blocks
        .iter()
        .flat_map(|b| b.samples.iter().map(|s| s.values))
        .collect();
    let planted: Vec<[u16; 5]> = ctg_sim::Synthetic::samples(received.len() as u64 / 4 + 1)
        .iter()
        .map(|s| s.values)
        .collect();
    assert_eq!(received[..], planted[..received.len()]);
}

#[test]
fn after_an_outage_live_blocks_go_out_ahead_of_the_backlog() {
    use ctg_bridge::spool::{Record, StreamMeta, StreamSpool};
    let recording = recording();
    let link_dir = tempfile::tempdir().unwrap();
    let link = link_dir.path().join("ttyMONITOR4");
    let field = Field::new(&link);
    // A long outage's backlog already in the spool: 20,000 one-second blocks (5.5 hours).
    let backlog_blocks = 20_000u64;
    {
        let meta = StreamMeta {
            identity: ctg_proto::model::StreamIdentity {
                facility: "clinic-a".into(),
                bridge: "ldr-pc-1".into(),
                port: "bed-1".into(),
                episode_start_utc_ms: 1,
            },
            device: ctg_proto::model::DeviceInfo::unidentified(
                ctg_proto::model::DeviceProtocol::Series50,
            ),
        };
        let mut spool = StreamSpool::open(&field.path("spool").join("bed-1"), meta).unwrap();
        let whole = recording.samples.len() / 4 * 4;
        spool
            .append_all((0..backlog_blocks).map(|i| {
                let at = (i as usize * 4) % whole;
                Record::Block(ctg_proto::model::SampleBlock {
                    first_seq: i * 4,
                    samples: recording.samples[at..at + 4].to_vec(),
                    ..Default::default()
                })
            }))
            .unwrap();
    }
    // Fast enough that a live block comes while the backlog is still going out, even from a
    // release build, which sends the whole backlog within a fraction of a second.
    let monitor = monitor(&recording, &link, 200.0);
    let _receiver = field.receiver("receiver.log");
    let bridge = field.bridge("bridge.log");
    let total = backlog_blocks * 4 + 200;
    let n = field.wait_for_samples(total, Duration::from_secs(120));
    assert!(n >= total, "{n} of {total}:\n{}", bridge.log());
    monitor.stop().unwrap();
    // The receiver's log is in arrival order: the first live block must have arrived before
    // the backlog was through.
    let store = field.path("store");
    let log = std::fs::read_dir(store.join("clinic-a/ldr-pc-1"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("records.log");
    let bytes = std::fs::read(log).unwrap();
    let mut order = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if let Ok(Record::Block(b)) = postcard::from_bytes::<Record>(&bytes[at + 8..at + 8 + len]) {
            order.push(b.first_seq);
        }
        at += 8 + len;
    }
    let backlog_end = backlog_blocks * 4;
    let first_live = order.iter().position(|&s| s >= backlog_end).unwrap();
    let last_backlog = order.iter().rposition(|&s| s < backlog_end).unwrap();
    assert!(
        first_live < last_backlog,
        "live data waited for the backlog: first live block at arrival {first_live}, last backlog block at {last_backlog}"
    );
}

#[test]
fn the_demo_shows_every_bed_of_both_facilities_receiving() {
    let out = crate::util::mimamori_ok(&[
        "demo",
        "--seconds",
        "6",
        "--speed",
        "4",
        "--http",
        "127.0.0.1:0",
    ]);
    assert!(out.contains("sign in as demo / mimamori-demo"), "{out}");
    let last: Vec<&str> = out.lines().rev().take(8).collect();
    for (facility, bed) in [
        ("clinic-a", "bed-1"),
        ("clinic-a", "bed-2"),
        ("clinic-a", "bed-3"),
        ("clinic-a", "bed-4"),
        ("midwife-home-b", "room-1"),
        ("midwife-home-b", "room-2"),
    ] {
        let line = last
            .iter()
            .find(|l| {
                let mut words = l.split_whitespace();
                words.next() == Some(facility) && words.next() == Some(bed)
            })
            .unwrap_or_else(|| panic!("{facility} {bed} missing:\n{out}"));
        let samples: u64 = line.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert!(samples > 0, "{facility} {bed} received nothing:\n{out}");
    }
}

/// Stopping the demo the way a service manager or `kill` does (SIGTERM), not only with Ctrl-C,
/// stops its bridges' processes too: none is left running, retrying a hub that is gone.
#[test]
fn the_demo_stopped_by_sigterm_leaves_no_bridge_running() {
    use std::io::{BufRead, BufReader};
    let mut demo = Command::new(env!("CARGO_BIN_EXE_mimamori"))
        .args(["demo", "--speed", "4", "--http", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the demo starts");
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let mut bridges = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        // "  bridge clinic-a: pid 1234"
        if let Some((_, pid)) = line
            .trim()
            .strip_prefix("bridge ")
            .and_then(|l| l.split_once(": pid "))
        {
            bridges.push(pid.parse::<u32>().unwrap());
        }
        if line.contains("Ctrl-C stops everything") {
            break;
        }
    }
    // Two facilities' bridges with the default beds.
    assert_eq!(bridges.len(), 2, "{bridges:?}");
    let alive = |pid: u32| Path::new(&format!("/proc/{pid}")).exists();
    assert!(bridges.iter().all(|&pid| alive(pid)));
    let killed = Command::new("kill")
        .args(["-TERM", &demo.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = demo.wait().unwrap();
    assert!(status.success(), "{status:?}: {rest:?}");
    assert!(rest.iter().any(|l| l.starts_with("stopped")), "{rest:?}");
    assert!(
        bridges.iter().all(|&pid| !alive(pid)),
        "bridges left running: {:?}",
        bridges
            .iter()
            .filter(|&&pid| alive(pid))
            .collect::<Vec<_>>()
    );
}

/// A recording's sample as the Model 115 protocol carries it: heart rate 1 in whole bpm
/// (pen-lift for none), no second heart rate (1001 has one fetal channel), no FHR3 or MHR,
/// uterine activity in whole units below the pen-lift value.
fn through_corometrics115(s: &ctg_proto::model::Sample) -> ctg_proto::model::Sample {
    use ctg_proto::model::{Channel, Quality, Sample};
    let mut out = Sample::default();
    let fhr1 = (s.value(Channel::Fhr1) + 2) / 4 * 4;
    out.values[Channel::Fhr1.index()] = fhr1;
    out.quality[Channel::Fhr1.index()] = if fhr1 == 0 {
        Quality::None
    } else {
        Quality::Unknown
    };
    for channel in [Channel::Fhr2, Channel::Fhr3, Channel::Mhr] {
        out.quality[channel.index()] = Quality::None;
    }
    if s.quality[Channel::Ua.index()] == Quality::None {
        out.quality[Channel::Ua.index()] = Quality::None;
    } else {
        out.values[Channel::Ua.index()] = (s.value(Channel::Ua) / 2).min(127) * 2;
    }
    out.fetal_movement = s.fetal_movement;
    out
}

/// A GE Corometrics 120/170-series monitor in "Model 115-compatible" mode on a real
/// pseudo-terminal (ASCII records, uterine activity at 8 Hz, line noise every 2 s, the Mark
/// key every 5 s) reaches the receiver through the bridge sample for sample, in the protocol's
/// whole units, the grid rebuilt from the records' order; the noise is logged and the marks
/// are events.
#[test]
fn a_corometrics_115_monitor_on_a_pty_reaches_the_receiver_sample_for_sample() {
    let recording = recording();
    let link_dir = tempfile::tempdir().unwrap();
    let link = link_dir.path().join("ttyCORO1");
    let monitor = PtyMonitor::spawn_corometrics115(
        Box::new(RecordingSource::new(&recording, true)),
        PtyOptions {
            speed: 5.0,
            link: Some(link.clone()),
            marker_every_s: 5,
            noise_every_s: 2,
        },
    )
    .unwrap();
    let field = Field::new(&link);
    field.write_config_with(
        "pki",
        &format!(
            "serial = \"{}\"\nprotocol = \"corometrics115\"\n",
            link.display()
        ),
    );
    let _receiver = field.receiver("receiver.log");
    let bridge = field.bridge("bridge.log");
    let n = field.wait_for_samples(240, Duration::from_secs(40));
    assert!(n >= 240, "{n} samples:\n{}", bridge.log());
    let sent = monitor.stop().unwrap();
    // Everything the monitor sent arrives: the samples the session still held when the monitor
    // hung up are handed on before the port is opened again, not lost with the session.
    let n = field.wait_for_samples(sent, Duration::from_secs(20));
    assert_eq!(n, sent, "{}", bridge.log());
    let streams = field.stored();
    assert_eq!(streams.len(), 1);
    let mut next = 0;
    let mut received = Vec::new();
    for block in &streams[0].blocks {
        assert_eq!(block.first_seq, next, "blocks tile the grid");
        next += block.samples.len() as u64;
        received.extend(block.samples.iter().copied());
    }
    for (i, s) in received.iter().enumerate() {
        assert_eq!(
            *s,
            through_corometrics115(&recording.samples[i]),
            "sample {i}"
        );
    }
    let marks = streams[0]
        .events
        .iter()
        .filter(|e| matches!(e.kind, ctg_proto::model::EventKind::Marker))
        .count();
    assert!(marks >= 2, "{marks} marks");
    assert!(
        bridge.log().contains("bad input from the monitor"),
        "{}",
        bridge.log()
    );
}
