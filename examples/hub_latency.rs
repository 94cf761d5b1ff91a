//! Live latency through the hub: N streams sent over real QUIC with mutual TLS (one connection
//! each, a 4-sample block every second, staggered), M WebSocket viewers each subscribed to a
//! wall of streams, against a real hub with its real store. Latency is measured from the moment
//! a block is handed to the QUIC stream to its arrival at a viewer (same clock), so it bounds the
//! hub's arrival-to-viewer latency from above.
//!
//! Run: `cargo run --release --example hub_latency [-- --streams 200 --viewers 20 --wall 16
//! --seconds 30]`. Prints progress and a summary, writes `target/bench/hub-latency.json`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ctg_proto::model::{DeviceInfo, DeviceProtocol, Sample, SampleBlock, StreamIdentity};
use ctg_proto::wire::{Hello, Message, OpenStream, PROTOCOL_VERSION, StreamHandle};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

struct Args {
    streams: usize,
    viewers: usize,
    wall: usize,
    seconds: u64,
}

fn args() -> Result<Args> {
    let mut a = Args {
        streams: 200,
        viewers: 20,
        wall: 16,
        seconds: 30,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v: usize = it.next().context("a value")?.parse()?;
        match flag.as_str() {
            "--streams" => a.streams = v,
            "--viewers" => a.viewers = v,
            "--wall" => a.wall = v,
            "--seconds" => a.seconds = v as u64,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(a)
}

type Sent = Arc<Mutex<HashMap<(String, u64), Instant>>>;

async fn bridge(
    n: usize,
    hub: std::net::SocketAddr,
    client: quinn::ClientConfig,
    seconds: u64,
    sent: Sent,
) -> Result<()> {
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
    endpoint.set_default_client_config(client);
    // Like a real bridge: a handshake that fails under a connection storm is tried again.
    let mut attempt = 0u32;
    let connection = loop {
        match endpoint.connect(hub, "localhost")?.await {
            Ok(connection) => break connection,
            Err(error) if attempt < 10 => {
                attempt += 1;
                retry_pause(attempt, &error).await;
            }
            Err(error) => return Err(error.into()),
        }
    };
    let (mut tx, mut rx) = connection.open_bi().await?;
    let send = |m: &Message| ctg_proto::encode_frame(m).map_err(|e| anyhow::anyhow!("{e}"));
    tx.write_all(&send(&Message::Hello(Hello {
        min_version: PROTOCOL_VERSION,
        max_version: PROTOCOL_VERSION,
        bridge_id: format!("b{n}"),
        software: "load".into(),
    }))?)
    .await?;
    let port = format!("s{n}");
    tx.write_all(&send(&Message::OpenStream(OpenStream {
        stream: StreamHandle(1),
        identity: StreamIdentity {
            facility: "load".into(),
            bridge: format!("b{n}"),
            port: port.clone(),
            episode_start_utc_ms: 1,
        },
        device: DeviceInfo {
            protocol: DeviceProtocol::Synthetic,
            model: String::new(),
            serial: String::new(),
            software: String::new(),
        },
    }))?)
    .await?;
    // Drain acks in the background.
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 4096];
        while let Ok(Some(_)) = rx.read(&mut buffer).await {}
    });
    // Stagger: each stream starts at its own point in the second.
    tokio::time::sleep(Duration::from_millis((n as u64 * 997) % 1000)).await;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    for k in 0..seconds {
        tick.tick().await;
        let block = SampleBlock {
            first_seq: k * 4,
            utc_ms: ctg_hub::utc_now_ms(),
            samples: vec![
                Sample {
                    values: [560, 0, 0, 330, 20],
                    ..Sample::default()
                };
                4
            ],
            ..SampleBlock::default()
        };
        let bytes = send(&Message::Samples {
            stream: StreamHandle(1),
            block,
        })?;
        sent.lock()
            .unwrap()
            .insert((port.clone(), k * 4), Instant::now());
        tx.write_all(&bytes).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(())
}

/// Waits before the next connection attempt (says so once).
async fn retry_pause(attempt: u32, error: &quinn::ConnectionError) {
    if attempt == 1 {
        eprintln!("  a connection failed ({error}); retrying");
    }
    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
}

async fn http(
    port: u16,
    method: &str,
    path: &str,
    cookie: &str,
    body: &str,
) -> Result<(String, String)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(format!("{method} {path} HTTP/1.1\r\nHost: l\r\nConnection: close\r\nCookie: {cookie}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes()).await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    Ok((head.to_owned(), body.to_owned()))
}

fn main() -> Result<()> {
    let a = args()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(a))
}

async fn run(a: Args) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pki = dir.path().join("pki");
    ctg_tls::pki::create_ca(&pki)?;
    ctg_tls::pki::issue(
        &pki,
        "hub",
        &ctg_tls::pki::Role::Hub {
            names: vec!["localhost".into()],
        },
    )?;
    ctg_tls::pki::issue(
        &pki,
        "bridge",
        &ctg_tls::pki::Role::Bridge {
            facility: "load".into(),
        },
    )?;
    let hub = ctg_hub::Hub::open(&dir.path().join("hub.db"), "load", "centre")?;
    hub.start_alerts();
    hub.accounts.add_user(
        "viewer",
        "load test password",
        ctg_hub::accounts::Role::Obstetrician,
        "centre",
    )?;
    let (itx, irx) = tokio::sync::oneshot::channel();
    let (h, ca, cert, key) = (
        hub.clone(),
        pki.join("ca.pem"),
        pki.join("hub.pem"),
        pki.join("hub.key"),
    );
    tokio::spawn(async move {
        ctg_hub::ingest::serve(
            h,
            "127.0.0.1:0".parse().unwrap(),
            &ca,
            &cert,
            &key,
            Some(itx),
        )
        .await
    });
    let ingest = irx.await?;
    let (atx, arx) = tokio::sync::oneshot::channel();
    tokio::spawn(ctg_hub::api::serve(
        hub.clone(),
        "127.0.0.1:0".parse()?,
        Some(atx),
    ));
    let api = arx.await?.port();
    let client = ctg_tls::quic::client_config(
        &pki.join("ca.pem"),
        &pki.join("bridge.pem"),
        &pki.join("bridge.key"),
    )?;
    let sent: Sent = Arc::default();
    println!(
        "hub_latency: {} streams, {} viewers × {} streams each, {} s",
        a.streams, a.viewers, a.wall, a.seconds
    );
    let mut bridges = Vec::new();
    for n in 0..a.streams {
        bridges.push(tokio::spawn(bridge(
            n,
            ingest,
            client.clone(),
            a.seconds,
            sent.clone(),
        )));
    }
    // Wait for every stream to be open, then learn their IDs.
    let (head, _) = http(
        api,
        "POST",
        "/api/login",
        "",
        r#"{"username":"viewer","password":"load test password"}"#,
    )
    .await?;
    let cookie = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .context("no cookie")?
        .split_once(':')
        .unwrap()
        .1
        .trim()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let open_wait = Instant::now();
    let ids: HashMap<i64, String> = loop {
        let (_, body) = http(api, "GET", "/api/streams", &cookie, "").await?;
        let list: serde_json::Value = serde_json::from_str(&body)?;
        let ids: HashMap<i64, String> = list
            .as_array()
            .context("streams")?
            .iter()
            .map(|s| {
                (
                    s["id"].as_i64().unwrap(),
                    s["port"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        if ids.len() >= a.streams {
            break ids;
        }
        if open_wait.elapsed().as_secs().is_multiple_of(5) {
            eprintln!(
                "  streams open: {} of {} after {:.0} s",
                ids.len(),
                a.streams,
                open_wait.elapsed().as_secs_f64()
            );
        }
        if open_wait.elapsed() > Duration::from_secs(60) {
            bail!(
                "only {} of {} streams opened within 60 s",
                ids.len(),
                a.streams
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let ids = Arc::new(ids);
    let all: Vec<i64> = {
        let mut v: Vec<i64> = ids.keys().copied().collect();
        v.sort();
        v
    };
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let mut viewers = Vec::new();
    for v in 0..a.viewers {
        let wall: Vec<i64> = (0..a.wall)
            .map(|i| all[(v * a.wall + i) % all.len()])
            .collect();
        let (cookie, ids, sent, latencies) =
            (cookie.clone(), ids.clone(), sent.clone(), latencies.clone());
        let seconds = a.seconds;
        viewers.push(tokio::spawn(async move {
            let mut request = format!("ws://127.0.0.1:{api}/api/ws").into_client_request()?;
            request.headers_mut().insert("Cookie", cookie.parse()?);
            let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
            for id in &wall {
                ws.send(Ws::Text(format!("{{\"subscribe\": {id}}}").into()))
                    .await?;
            }
            // Blocks sent before the subscription come with the first paint: not live latency.
            let subscribed = Instant::now();
            let deadline = Instant::now() + Duration::from_secs(seconds + 3);
            while Instant::now() < deadline {
                let Ok(Some(Ok(Ws::Binary(bytes)))) =
                    tokio::time::timeout(Duration::from_secs(1), ws.next()).await
                else {
                    continue;
                };
                let now = Instant::now();
                let id = i64::from_le_bytes(bytes[1..9].try_into()?);
                let first = u64::from_le_bytes(bytes[9..17].try_into()?);
                let port = &ids[&id];
                if let Some(at) = sent.lock().unwrap().get(&(port.clone(), first))
                    && *at > subscribed
                {
                    latencies
                        .lock()
                        .unwrap()
                        .push(now.duration_since(*at).as_secs_f64() * 1000.0);
                }
            }
            anyhow::Ok(())
        }));
    }
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(a.seconds + 3) {
        tokio::time::sleep(Duration::from_secs(10)).await;
        println!(
            "  {:>4.0} s  latencies recorded {}",
            started.elapsed().as_secs_f64(),
            latencies.lock().unwrap().len()
        );
    }
    for v in viewers {
        v.await??;
    }
    for b in bridges {
        b.await??;
    }
    let mut l = latencies.lock().unwrap().clone();
    l.sort_by(|x, y| x.total_cmp(y));
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let summary = serde_json::json!({
        "streams": a.streams, "viewers": a.viewers, "wall": a.wall, "seconds": a.seconds,
        "live_deliveries_measured": l.len(),
        "latency_ms": {"p50": pct(0.50), "p99": pct(0.99), "max": l.last().copied().unwrap_or(f64::NAN)},
        "hub_counters": hub.counters(),
    });
    println!("summary: {}", serde_json::to_string_pretty(&summary)?);
    std::fs::create_dir_all("target/bench")?;
    std::fs::write(
        "target/bench/hub-latency.json",
        serde_json::to_string_pretty(&summary)?,
    )?;
    Ok(())
}
