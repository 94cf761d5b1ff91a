//! The hub end to end: simulated monitors → real bridges → the real `mimamori hub` → a
//! WebSocket viewer; and the hub killed with SIGKILL under load.

use std::path::Path;
use std::time::{Duration, Instant};

use ctg_hub::store::{SqliteStore, Store};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::bridge_e2e::{Field, Process, monitor, recording, wait_until};
use crate::util::free_tcp_port;

/// What every test here starts from: the test recording, replayed at `speed` by a monitor on a
/// fresh pseudo-terminal (in the folder returned last, which must outlive the test), a field
/// (PKI, bridge configuration, store) for it, and a free HTTP port.
fn setup(
    speed: f64,
) -> (
    ctg_formats::Recording,
    ctg_sim::PtyMonitorHandle,
    Field,
    u16,
    tempfile::TempDir,
) {
    let recording = recording();
    let link_dir = tempfile::tempdir().unwrap();
    let link = link_dir.path().join("ttyHUB");
    let monitor = monitor(&recording, &link, speed);
    let field = Field::new(&link);
    (recording, monitor, field, free_tcp_port(), link_dir)
}

fn hub(field: &Field, http: u16, log: &str) -> Process {
    hub_with(field, &["--http", &format!("127.0.0.1:{http}")], log)
}

/// The hub on the field's PKI, database and ingest port, with more arguments.
fn hub_with(field: &Field, extra: &[&str], log: &str) -> Process {
    let pki = field.path("pki");
    let db = field.path("hub.db");
    let listen = format!("127.0.0.1:{}", field.port);
    let mut args = vec![
        "hub",
        "--pki",
        pki.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--listen",
        &listen,
    ];
    args.extend_from_slice(extra);
    Process::spawn(&args, field.path(log))
}

/// Every block the hub's database holds for its first stream, in order.
fn stored_blocks(field: &Field) -> Vec<ctg_proto::model::SampleBlock> {
    let db = field.path("hub.db");
    if !db.exists() {
        return Vec::new();
    }
    let Ok(store) = SqliteStore::open(&db) else {
        return Vec::new();
    };
    let Ok(streams) = store.streams() else {
        return Vec::new();
    };
    match streams.first() {
        Some(s) => store.blocks(s.id, 0, u64::MAX).unwrap_or_default(),
        None => Vec::new(),
    }
}

fn stored_samples(field: &Field) -> u64 {
    stored_blocks(field)
        .iter()
        .map(|b| b.samples.len() as u64)
        .sum()
}

/// Blocks tile 0..sent, each once, values equal to the recording.
fn assert_store_holds_exactly(field: &Field, recording: &ctg_formats::Recording, sent: u64) {
    let blocks = stored_blocks(field);
    let whole = recording.samples.len() / 4 * 4;
    let mut next = 0;
    for block in &blocks {
        assert_eq!(block.first_seq, next, "gap or duplicate at {next}");
        for (i, s) in block.samples.iter().enumerate() {
            let at = (next as usize + i) % whole;
            assert_eq!(
                s.values,
                recording.samples[at].values,
                "sample {}",
                next as usize + i
            );
        }
        next += block.samples.len() as u64;
    }
    assert_eq!(next, sent, "samples stored vs sent");
}

/// Adds an obstetrician at the centre with `mimamori user add` and signs in over HTTP; the
/// session cookie. Retries until the hub listens and accepts the login; the limit is generous
/// (the hub starts in well under a second alone, but the other integration tests load both
/// cores), and a failure shows the last answer and the hub's log.
fn sign_in(field: &Field, hub: &Process, http: u16) -> String {
    use std::io::{Read, Write};
    let db = field.path("hub.db");
    let mut add = std::process::Command::new(env!("CARGO_BIN_EXE_mimamori"))
        .args([
            "user",
            "add",
            "--db",
            db.to_str().unwrap(),
            "ob",
            "--role",
            "obstetrician",
            "--facility",
            "centre",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"a long password\n")
        .unwrap();
    assert!(add.wait().unwrap().success());
    let body = r#"{"username":"ob","password":"a long password"}"#;
    let started = Instant::now();
    let mut last_answer = String::from("(no connection)");
    loop {
        if let Ok(mut socket) = std::net::TcpStream::connect(("127.0.0.1", http)) {
            let request = format!(
                "POST /api/login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(request.as_bytes()).unwrap();
            let mut response = String::new();
            socket.read_to_string(&mut response).unwrap();
            if let Some(line) = response
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
            {
                return line
                    .split_once(':')
                    .unwrap()
                    .1
                    .trim()
                    .split(';')
                    .next()
                    .unwrap()
                    .to_owned();
            }
            last_answer = response;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "could not sign in within 60 s; last answer:\n{last_answer}\nhub log:\n{}",
            hub.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_websocket_viewer_gets_every_sample_in_order_and_findings() {
    let (recording, monitor, field, http, _link_dir) = setup(60.0);
    let hub = hub(&field, http, "hub.log");
    let bridge = field.bridge("bridge.log");

    let cookie = sign_in(&field, &hub, http);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (samples, findings) = rt.block_on(async {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let started = Instant::now();
        let (mut ws, _) = loop {
            let mut request = format!("ws://127.0.0.1:{http}/api/ws")
                .into_client_request()
                .unwrap();
            request
                .headers_mut()
                .insert("Cookie", cookie.parse().unwrap());
            match tokio_tungstenite::connect_async(request).await {
                Ok(ok) => break ok,
                Err(_) if started.elapsed() < Duration::from_secs(20) => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(e) => panic!("no WebSocket: {e}"),
            }
        };
        ws.send(Message::Text(r#"{"subscribe": 1}"#.into()))
            .await
            .unwrap();
        let mut samples: Vec<(u64, [u16; 5])> = Vec::new();
        let mut findings = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline && (samples.len() < 4 * 1200 || findings.is_empty()) {
            let Ok(Some(Ok(message))) =
                tokio::time::timeout(Duration::from_secs(5), ws.next()).await
            else {
                continue;
            };
            match message {
                Message::Binary(bytes) => {
                    assert_eq!(bytes[0], ctg_hub::api::FRAME_SAMPLES);
                    let first = u64::from_le_bytes(bytes[9..17].try_into().unwrap());
                    let count = u16::from_le_bytes(bytes[17..19].try_into().unwrap()) as usize;
                    for i in 0..count {
                        let at = 19 + i * 15;
                        let values: [u16; 5] = std::array::from_fn(|c| {
                            u16::from_le_bytes([bytes[at + 2 * c], bytes[at + 2 * c + 1]])
                        });
                        samples.push((first + i as u64, values));
                    }
                }
                Message::Text(text) => {
                    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
                    if value["error"] == "no such stream" {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        ws.send(Message::Text(r#"{"subscribe": 1}"#.into()))
                            .await
                            .unwrap();
                    } else if value.get("finding").is_some() {
                        findings.push(value);
                    }
                }
                _ => {}
            }
        }
        (samples, findings)
    });
    assert!(
        samples.len() >= 4 * 1200,
        "{} samples:\n{}\n{}",
        samples.len(),
        hub.log(),
        bridge.log()
    );
    let whole = recording.samples.len() / 4 * 4;
    for (i, (seq, values)) in samples.iter().enumerate() {
        assert_eq!(*seq, i as u64, "in order, from the start, without gaps");
        assert_eq!(*values, recording.samples[i % whole].values, "sample {i}");
    }
    assert!(!findings.is_empty(), "no finding arrived:\n{}", hub.log());
    assert!(findings.iter().all(|f| f["finding"]["kind"].is_string()));
    drop(monitor);
    // Findings are stored too, for the chart's scroll-back.
    let started = Instant::now();
    let stored = loop {
        let (status, stored) = http_request(http, "GET", "/api/streams/1/findings", &cookie, "");
        assert_eq!(status, 200);
        if !stored["findings"].as_array().unwrap().is_empty()
            || started.elapsed() > Duration::from_secs(15)
        {
            break stored;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        !stored["findings"].as_array().unwrap().is_empty(),
        "{stored}\n{}",
        hub.log()
    );
    // The viewer's sign-in and subscription are in the audit log, and its chain verifies.
    let db = field.path("hub.db");
    let out = crate::util::mimamori_ok(&["audit", "verify", "--db", db.to_str().unwrap()]);
    assert!(out.contains("audit log intact"), "{out}");
}

/// A hub receiving a monitor's samples through a bridge is stopped by `stop` (given the hub, the
/// bridge and the monitor) while the monitor goes on; a new hub on the same store and port then
/// catches up, and in the end holds every sample exactly once.
fn a_hub_replaced_under_load(stop: impl FnOnce(Process, &Process, &ctg_sim::PtyMonitorHandle)) {
    let (recording, monitor, field, http, _link_dir) = setup(20.0);
    let hub1 = hub(&field, http, "hub-1.log");
    let bridge = field.bridge("bridge.log");
    wait_until("400 samples in the hub", Duration::from_secs(40), || {
        stored_samples(&field) >= 400
    });
    stop(hub1, &bridge, &monitor);
    let hub2 = hub(&field, http, "hub-2.log");
    wait_until("the hub to catch up", Duration::from_secs(60), || {
        stored_samples(&field) >= monitor.samples_sent()
    });
    let sent = monitor.stop().unwrap();
    wait_until("the last samples", Duration::from_secs(30), || {
        stored_samples(&field) >= sent
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_store_holds_exactly(&field, &recording, sent);
    let _ = (bridge, hub2);
}

#[test]
fn the_hub_killed_under_load_ends_with_every_sample_exactly_once() {
    a_hub_replaced_under_load(|hub, _, monitor| {
        hub.kill();
        let before = monitor.samples_sent();
        wait_until("the monitor to go on", Duration::from_secs(30), || {
            monitor.samples_sent() >= before + 200
        });
    });
}

/// Stopped as a service manager stops it (SIGTERM), the hub closes its bridges' sessions with a
/// reason, so they know at once (not after a timeout) and spool until the next hub, which then
/// holds every sample exactly once.
#[test]
fn a_hub_stopped_by_sigterm_tells_its_bridges_and_loses_nothing() {
    a_hub_replaced_under_load(|mut hub, bridge, _| {
        let stopped = Instant::now();
        let status = hub
            .terminate(Duration::from_secs(10))
            .expect("the hub ends on SIGTERM");
        assert!(status.success(), "{status:?}: {}", hub.log());
        assert!(hub.log().contains("hub stopping"), "{}", hub.log());
        wait_until("the bridge to hear why", Duration::from_secs(5), || {
            bridge.log().contains("hub shutting down")
        });
        // Told within a round trip, long before a session would time out.
        assert!(stopped.elapsed() < Duration::from_secs(5));
    });
}

/// A bridge stopped by SIGTERM closes its session with a reason, so the hub knows at once; the
/// bridge started again sends what the hub had not acknowledged, and nothing is lost.
#[test]
fn a_bridge_stopped_by_sigterm_tells_the_hub_and_loses_nothing() {
    let (recording, monitor, field, http, _link_dir) = setup(20.0);
    let hub = hub(&field, http, "hub.log");
    let mut bridge1 = field.bridge("bridge-1.log");
    wait_until("200 samples in the hub", Duration::from_secs(40), || {
        stored_samples(&field) >= 200
    });
    let status = bridge1
        .terminate(Duration::from_secs(10))
        .expect("the bridge ends on SIGTERM");
    assert!(status.success(), "{status:?}: {}", bridge1.log());
    assert!(
        bridge1.log().contains("bridge stopping"),
        "{}",
        bridge1.log()
    );
    wait_until("the hub to hear why", Duration::from_secs(5), || {
        hub.log().contains("bridge stopping")
    });
    let bridge2 = field.bridge("bridge-2.log");
    let sent = monitor.stop().unwrap();
    wait_until("every sample in the hub", Duration::from_secs(60), || {
        stored_samples(&field) >= sent
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_store_holds_exactly(&field, &recording, sent);
    let _ = bridge2;
}

/// A plain HTTP/1.1 request with the session cookie; (status, JSON body).
fn http_request(
    port: u16,
    method: &str,
    path: &str,
    cookie: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nCookie: {cookie}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn stalled_streams_and_offline_bridges_alert_the_viewer_who_acknowledges() {
    let (_, monitor, field, http, _link_dir) = setup(10.0);
    let db = field.path("hub.db");
    let http_addr = format!("127.0.0.1:{http}");
    let hub = hub_with(
        &field,
        &[
            "--http",
            &http_addr,
            "--stalled-after",
            "3",
            "--bridge-offline-after",
            "3",
            "--signal-loss-after",
            "600",
        ],
        "hub.log",
    );
    let bridge = field.bridge("bridge.log");
    let cookie = sign_in(&field, &hub, http);
    wait_until("data at the hub", Duration::from_secs(30), || {
        stored_samples(&field) >= 40
    });

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (stalled_id, offline_id) = rt.block_on(async {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://127.0.0.1:{http}/api/ws")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("Cookie", cookie.parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let mut next_alert =
            async |want: &dyn Fn(&serde_json::Value) -> bool| -> serde_json::Value {
                let deadline = Instant::now() + Duration::from_secs(30);
                while Instant::now() < deadline {
                    if let Ok(Some(Ok(Message::Text(text)))) =
                        tokio::time::timeout(Duration::from_secs(1), ws.next()).await
                    {
                        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
                        if want(&value["alert"]) {
                            return value["alert"].clone();
                        }
                    }
                }
                panic!("no such alert arrived");
            };
        // The monitor stops: the stream stalls.
        drop(monitor);
        let stalled =
            next_alert(&|a: &serde_json::Value| a["kind"]["kind"] == "stream_stalled").await;
        assert!(stalled["resolved_ms"].is_null());
        let id = stalled["id"].as_u64().unwrap();
        // Acknowledging needs a reason, and then says who.
        let (status, _) = http_request(
            http,
            "POST",
            &format!("/api/alerts/{id}/ack"),
            &cookie,
            r#"{"reason":" "}"#,
        );
        assert_eq!(status, 400);
        let (status, body) = http_request(
            http,
            "POST",
            &format!("/api/alerts/{id}/ack"),
            &cookie,
            r#"{"reason":"called the clinic"}"#,
        );
        assert_eq!(status, 200, "{body}");
        let acked = next_alert(&|a: &serde_json::Value| {
            a["id"].as_u64() == Some(id) && !a["acknowledged"].is_null()
        })
        .await;
        assert_eq!(acked["acknowledged"]["by"], "ob");
        // The bridge goes away: offline.
        bridge.kill();
        let offline =
            next_alert(&|a: &serde_json::Value| a["kind"]["kind"] == "bridge_offline").await;
        assert_eq!(offline["subject"]["bridge"]["facility"], "clinic-a");
        (id, offline["id"].as_u64().unwrap())
    });
    let (status, listed) = http_request(http, "GET", "/api/alerts", &cookie, "");
    assert_eq!(status, 200);
    assert!(listed["alerts"].as_array().unwrap().len() >= 2);

    // The hub is killed and started again: the alerts it held are held again under their IDs
    // (the acknowledgement with them), the unacknowledged one's calling is taken up, and the
    // bridge coming back resolves its offline alert rather than leaving it open or raising
    // another.
    hub.kill();
    let hub = hub_with(&field, &["--http", &http_addr], "hub-2.log");
    let alert = |listed: &serde_json::Value, id: u64| {
        listed["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"].as_u64() == Some(id))
            .cloned()
    };
    let mut listed = serde_json::Value::Null;
    wait_until("the hub again", Duration::from_secs(30), || {
        let Ok(socket) = std::net::TcpStream::connect(("127.0.0.1", http)) else {
            return false;
        };
        drop(socket.shutdown(std::net::Shutdown::Both));
        let (status, body) = http_request(http, "GET", "/api/alerts", &cookie, "");
        listed = body;
        status == 200
    });
    let stalled = alert(&listed, stalled_id).expect("the stall alert held again");
    assert_eq!(stalled["acknowledged"]["by"], "ob", "{stalled}");
    assert!(stalled["resolved_ms"].is_null(), "{stalled}");
    let offline = alert(&listed, offline_id).expect("the offline alert held again");
    assert!(offline["acknowledged"].is_null(), "{offline}");
    let (status, log) = http_request(
        http,
        "GET",
        &format!("/api/alerts/{offline_id}/log"),
        &cookie,
        "",
    );
    assert_eq!(status, 200, "{log}");
    assert!(
        log["log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "resumed"),
        "{log}"
    );
    assert!(
        hub.log()
            .contains("alerts from before the restart taken up"),
        "{}",
        hub.log()
    );
    let bridge = field.bridge("bridge-2.log");
    wait_until(
        "the offline alert resolved",
        Duration::from_secs(30),
        || {
            let (_, listed) = http_request(http, "GET", "/api/alerts", &cookie, "");
            alert(&listed, offline_id).is_some_and(|a| !a["resolved_ms"].is_null())
        },
    );
    let (_, listed) = http_request(http, "GET", "/api/alerts", &cookie, "");
    let offline_alerts = listed["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"]["kind"] == "bridge_offline")
        .count();
    assert_eq!(offline_alerts, 1, "{listed}");
    let out = crate::util::mimamori_ok(&["audit", "verify", "--db", db.to_str().unwrap()]);
    assert!(out.contains("audit log intact"), "{out}");
    drop((hub, bridge));
}

#[test]
fn revoking_a_bridge_cuts_it_off_without_a_hub_restart() {
    let (_, _monitor, field, http, _link_dir) = setup(10.0);
    let hub = hub(&field, http, "hub.log");
    let bridge = field.bridge("bridge.log");
    wait_until("data at the hub", Duration::from_secs(30), || {
        stored_samples(&field) >= 40
    });
    let pki = field.path("pki");
    let out = crate::util::mimamori_ok(&[
        "pki",
        "revoke",
        pki.to_str().unwrap(),
        "ldr-pc-1",
        "--facility",
        "clinic-a",
    ]);
    assert!(out.contains("clinic-a/ldr-pc-1 revoked"), "{out}");
    std::thread::sleep(Duration::from_secs(4));
    let after_revocation = stored_samples(&field);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        stored_samples(&field),
        after_revocation,
        "a revoked bridge stores nothing more"
    );
    assert!(hub.log().contains("certificate revoked"), "{}", hub.log());
    assert!(bridge.log().contains("uplink down"), "{}", bridge.log());
}

#[test]
fn the_api_over_https_answers_only_over_tls_with_the_hub_certificate() {
    use rustls_pki_types::pem::PemObject;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let field = Field::new(Path::new("/dev/null"));
    let https = free_tcp_port();
    let pki = field.path("pki");
    let https_addr = format!("127.0.0.1:{https}");
    let hub = hub_with(&field, &["--https", &https_addr], "hub.log");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(pki.join("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let response = rt.block_on(async {
        let started = Instant::now();
        let tcp = loop {
            match tokio::net::TcpStream::connect(("127.0.0.1", https)).await {
                Ok(tcp) => break tcp,
                Err(_) if started.elapsed() < Duration::from_secs(20) => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(e) => panic!("no HTTPS port: {e}\n{}", hub.log()),
            }
        };
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = connector
            .connect(name, tcp)
            .await
            .expect("TLS with the hub's certificate");
        tls.write_all(b"GET /api/me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = Vec::new();
        let _ = tls.read_to_end(&mut response).await;
        String::from_utf8_lossy(&response).into_owned()
    });
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    // Plain HTTP on the same port gets no answer.
    use std::io::{Read, Write};
    let mut plain = std::net::TcpStream::connect(("127.0.0.1", https)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    plain
        .write_all(b"GET /api/me HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).contains("401"),
        "plain HTTP must not be served"
    );
}
