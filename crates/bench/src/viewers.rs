//! Simulated viewers: a signed-in WebSocket each, subscribed to a wall of streams, timing every
//! live block from its creation at the (simulated) bridge to its arrival here, and counting
//! blocks the live feed skipped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::fleet::{BLOCK_SAMPLES, StreamState};

/// What the viewers measured, shared while they run.
pub struct Measurements {
    /// Latency from block creation to arrival, microseconds.
    pub latency_us: Mutex<Histogram<u64>>,
    /// Blocks the live feed went past (a later block came first), in the measured window.
    pub skipped_blocks: AtomicU64,
    /// Blocks created before this are first paint or warm-up, not measured.
    pub measure_from: Mutex<Option<Instant>>,
    /// Reconnections of viewers (after a hub restart).
    pub reconnects: AtomicU64,
}

impl Measurements {
    /// Empty measurements (1 µs to 1 h, 3 significant digits).
    pub fn new() -> Result<Self> {
        Ok(Self {
            latency_us: Mutex::new(Histogram::new_with_bounds(1, 3_600_000_000, 3)?),
            skipped_blocks: AtomicU64::new(0),
            measure_from: Mutex::new(None),
            reconnects: AtomicU64::new(0),
        })
    }
}

/// A plain HTTP/1.1 request to the hub (loopback); returns the head and the body.
pub async fn http(
    hub: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    body: &str,
) -> Result<(String, String)> {
    let mut s = tokio::net::TcpStream::connect(hub).await?;
    s.write_all(format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nCookie: {cookie}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes()).await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    Ok((head.to_owned(), body.to_owned()))
}

/// Signs in; returns the session cookie (`name=value`).
pub async fn login(hub: SocketAddr, username: &str, password: &str) -> Result<String> {
    let body = serde_json::json!({"username": username, "password": password}).to_string();
    let (head, _) = http(hub, "POST", "/api/login", "", &body).await?;
    Ok(head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .with_context(|| format!("no session cookie: {head}"))?
        .split_once(':')
        .context("a header")?
        .1
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// The hub's stream IDs by port name.
pub async fn stream_ids(hub: SocketAddr, cookie: &str) -> Result<HashMap<String, i64>> {
    let (_, body) = http(hub, "GET", "/api/streams", cookie, "").await?;
    let list: serde_json::Value =
        serde_json::from_str(&body).with_context(|| format!("the stream list: {body}"))?;
    Ok(list
        .as_array()
        .context("a stream list")?
        .iter()
        .filter_map(|s| Some((s["port"].as_str()?.to_owned(), s["id"].as_i64()?)))
        .collect())
}

/// One viewer: watches `wall` (hub stream ID → fleet stream) until `stop`, reconnecting if
/// the hub goes away.
pub async fn viewer(
    hub: SocketAddr,
    cookie: String,
    wall: Vec<(i64, Arc<StreamState>)>,
    measurements: Arc<Measurements>,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let streams: HashMap<i64, Arc<StreamState>> = wall.iter().cloned().collect();
    let mut first = true;
    while !stop.load(Ordering::Relaxed) {
        if !first {
            measurements.reconnects.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        first = false;
        let Ok(mut ws) = connect(hub, &cookie, &wall).await else {
            continue;
        };
        let mut next_block: HashMap<i64, u64> = HashMap::new();
        while !stop.load(Ordering::Relaxed) {
            let message = match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
                Err(_) => continue,
                Ok(Some(Ok(message))) => message,
                Ok(_) => break,
            };
            let bytes = match message {
                Ws::Binary(bytes) => bytes,
                Ws::Text(text) => {
                    // A stream not live at the hub yet (after a hub restart, until its bridge is
                    // back): ask again shortly, as the viewer page does.
                    let reply: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                    if reply.get("error").is_some()
                        && let Some(id) = reply["stream"].as_i64()
                    {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        ws.send(Ws::Text(format!("{{\"subscribe\": {id}}}").into()))
                            .await?;
                    }
                    continue;
                }
                _ => continue,
            };
            let now = Instant::now();
            if bytes.len() < 19 || bytes[0] != 1 {
                continue;
            }
            let id = i64::from_le_bytes(bytes[1..9].try_into()?);
            let first_seq = u64::from_le_bytes(bytes[9..17].try_into()?);
            let Some(state) = streams.get(&id) else {
                continue;
            };
            let k = first_seq / BLOCK_SAMPLES;
            let created = state
                .created
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(k as usize)
                .copied();
            let measure_from = *measurements
                .measure_from
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let (Some(created), Some(from)) = (created, measure_from) else {
                continue;
            };
            if created < from {
                next_block.insert(id, k + 1);
                continue;
            }
            if let Some(expected) = next_block.get(&id)
                && k > *expected
            {
                measurements
                    .skipped_blocks
                    .fetch_add(k - expected, Ordering::Relaxed);
            }
            next_block.insert(id, k + 1);
            let micros = now.duration_since(created).as_micros() as u64;
            measurements
                .latency_us
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .saturating_record(micros.max(1));
        }
    }
    Ok(())
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(
    hub: SocketAddr,
    cookie: &str,
    wall: &[(i64, Arc<StreamState>)],
) -> Result<Socket> {
    let mut request = format!("ws://{hub}/api/ws").into_client_request()?;
    request.headers_mut().insert("Cookie", cookie.parse()?);
    let (mut ws, response) = tokio_tungstenite::connect_async(request).await?;
    if response.status().as_u16() != 101 {
        bail!("WebSocket refused: {}", response.status());
    }
    for (id, _) in wall {
        ws.send(Ws::Text(format!("{{\"subscribe\": {id}}}").into()))
            .await?;
    }
    Ok(ws)
}
