//! The uplink: QUIC with mutual TLS to the hub, resending from the hub's resume point after any
//! outage, live data first.
//!
//! One session = one QUIC connection with one bidirectional stream carrying the framed messages
//! of `ctg_proto::wire`. On connect the bridge says hello, opens each spooled stream and learns
//! from `StreamOpened` what the hub already holds; the spool drops that much. From then on, per
//! stream, two cursors walk the spool: the **live** cursor sends every record appended since the
//! connection came up as soon as it is appended; the **backlog** cursor sends what was spooled
//! during the outage, a batch at a time, only when no live record is waiting. Cumulative `Ack`s
//! free the spool; a `ResendRequest` rewinds the backlog cursor. Any error ends the session and
//! the next one starts after a backoff (1 s, doubling to 30 s).

use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use ctg_proto::wire::{Hello, Message, OpenStream, PROTOCOL_VERSION, StreamHandle};
use ctg_proto::{FrameDecoder, encode_frame};
use quinn::{RecvStream, SendStream};
use tokio::sync::mpsc;

use crate::config::BridgeConfig;
use crate::spool::Record;
use crate::{Shared, utc_now_ms};

/// Backlog records sent per turn before live data gets another look.
const BACKLOG_BATCH: usize = 64;
/// Heartbeat period.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// The application error code of a session the bridge closes because it is stopping.
pub const STOPPING: u32 = 3;

/// Runs sessions, one after another, until `stop` completes: then the session under way is
/// closed with [`STOPPING`] ("bridge stopping"), so the hub knows at once. Unacknowledged
/// records stay in the spool (acknowledgements are what moves its cursor), so stopping in the
/// middle of a session loses nothing.
pub async fn run(
    shared: Arc<Shared>,
    config: &BridgeConfig,
    stop: impl Future<Output = ()>,
) -> Result<()> {
    let client = ctg_tls::quic::client_config(&config.hub.ca, &config.hub.cert, &config.hub.key)?;
    let mut endpoint = quinn::Endpoint::client("0.0.0.0:0".parse()?)?;
    endpoint.set_default_client_config(client);
    let mut backoff = Duration::from_secs(1);
    tokio::pin!(stop);
    loop {
        let started = std::time::Instant::now();
        let current = session(&shared, &endpoint, config);
        tokio::pin!(current);
        tokio::select! {
            outcome = &mut current => match outcome {
                Ok(()) => tracing::info!("hub closed the session"),
                Err(error) => tracing::warn!(error = format!("{error:#}"), "uplink down"),
            },
            () = &mut stop => {
                // Closed with the reason before the session (and its connection) is dropped:
                // a connection dropped first would close without one.
                stop_session(&endpoint).await;
                return Ok(());
            }
        }
        if started.elapsed() > Duration::from_secs(30) {
            backoff = Duration::from_secs(1);
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = &mut stop => {
                stop_session(&endpoint).await;
                return Ok(());
            }
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// Tells the hub the bridge is stopping; unacknowledged records stay in the spool.
async fn stop_session(endpoint: &quinn::Endpoint) {
    tracing::info!("bridge stopping: what the hub has not acknowledged stays in the spool");
    ctg_tls::quic::close_with_reason(endpoint, STOPPING, "bridge stopping").await;
}

struct Cursor {
    handle: StreamHandle,
    backlog: u64,
    backlog_end: u64,
    live: u64,
}

async fn send(send: &mut SendStream, message: &Message) -> Result<()> {
    let bytes = encode_frame(message).map_err(|e| anyhow!("encoding {}: {e}", message.kind()))?;
    send.write_all(&bytes).await?;
    Ok(())
}

/// Reads framed messages into a channel (so the session loop never cancels a read midway).
fn spawn_reader(mut recv: RecvStream) -> mpsc::Receiver<Result<Message>> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let mut decoder = FrameDecoder::new();
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let n = match recv.read(&mut buffer).await {
                Ok(Some(n)) => n,
                Ok(None) => {
                    let _ = tx.send(Err(anyhow!("hub ended the stream"))).await;
                    return;
                }
                Err(error) => {
                    let _ = tx.send(Err(error.into())).await;
                    return;
                }
            };
            let mut input = &buffer[..n];
            while let Some(result) = decoder.next_message(&mut input) {
                let message = result.map_err(|e| anyhow!("bad frame from the hub: {e}"));
                if tx.send(message).await.is_err() {
                    return;
                }
            }
        }
    });
    rx
}

async fn expect(rx: &mut mpsc::Receiver<Result<Message>>) -> Result<Message> {
    match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
        Ok(Some(message)) => message,
        Ok(None) => bail!("hub went away"),
        Err(_) => bail!("hub did not answer within 10 s"),
    }
}

async fn session(shared: &Shared, endpoint: &quinn::Endpoint, config: &BridgeConfig) -> Result<()> {
    let address = config
        .hub
        .address
        .to_socket_addrs()
        .with_context(|| format!("resolving {}", config.hub.address))?
        .next()
        .with_context(|| format!("{} resolves to nothing", config.hub.address))?;
    let connection = endpoint
        .connect(address, &config.hub.server_name)?
        .await
        .with_context(|| format!("connecting to {}", config.hub.address))?;
    let (mut tx, rx) = connection.open_bi().await?;
    let mut rx = spawn_reader(rx);
    send(
        &mut tx,
        &Message::Hello(Hello {
            min_version: PROTOCOL_VERSION,
            max_version: PROTOCOL_VERSION,
            bridge_id: config.bridge.clone(),
            software: format!("mimamori-bridge {}", env!("CARGO_PKG_VERSION")),
        }),
    )
    .await?;
    match expect(&mut rx).await? {
        Message::Welcome(_) => {}
        Message::Refused { reason } => bail!("hub refused the bridge: {reason}"),
        other => bail!("expected welcome, got {}", other.kind()),
    }
    let metas: Vec<_> = shared.spools().iter().map(|s| s.meta().clone()).collect();
    let mut cursors = Vec::new();
    for (i, meta) in metas.into_iter().enumerate() {
        let handle = StreamHandle(i as u32 + 1);
        send(
            &mut tx,
            &Message::OpenStream(OpenStream {
                stream: handle,
                identity: meta.identity,
                device: meta.device,
            }),
        )
        .await?;
        let opened = match expect(&mut rx).await? {
            Message::StreamOpened(opened) if opened.stream == handle => opened,
            Message::Refused { reason } => bail!("hub refused the stream: {reason}"),
            other => bail!("expected stream_opened, got {}", other.kind()),
        };
        let mut spools = shared.spools();
        let spool = &mut spools[i];
        spool.ack(opened.next_sample_seq, opened.next_event_seq)?;
        if spool.catch_up(opened.next_sample_seq, opened.next_event_seq) {
            tracing::error!(
                stream = i,
                hub_has = opened.next_sample_seq,
                "the hub holds more of this stream than its spool knew of (the spool folder \
                 emptied or restored from an old copy?): new data goes on after the hub's"
            );
        }
        let (first, next) = spool.order_range();
        tracing::info!(
            stream = i,
            hub_has = opened.next_sample_seq,
            backlog = next - first,
            "stream resumed"
        );
        cursors.push(Cursor {
            handle,
            backlog: first,
            backlog_end: next,
            live: next,
        });
    }
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    loop {
        // Live first: everything appended since the session began.
        let mut batch = Vec::new();
        {
            let spools = shared.spools();
            for (cursor, spool) in cursors.iter_mut().zip(spools.iter()) {
                let (first, next) = spool.order_range();
                cursor.live = cursor.live.max(first);
                while cursor.live < next {
                    if let Some(record) = spool.get(cursor.live) {
                        batch.push((cursor.handle, record.clone()));
                    }
                    cursor.live += 1;
                }
            }
        }
        let live_sent = !batch.is_empty();
        // Then a batch of backlog.
        if !live_sent {
            let spools = shared.spools();
            for (cursor, spool) in cursors.iter_mut().zip(spools.iter()) {
                let (first, _) = spool.order_range();
                cursor.backlog = cursor.backlog.max(first);
                while cursor.backlog < cursor.backlog_end && batch.len() < BACKLOG_BATCH {
                    if let Some(record) = spool.get(cursor.backlog) {
                        batch.push((cursor.handle, record.clone()));
                    }
                    cursor.backlog += 1;
                }
            }
        }
        for (handle, record) in &batch {
            // What a full spool dropped goes as what stands in for it.
            let records = match record {
                Record::Lost(lost) => lost.records(),
                other => vec![other.clone()],
            };
            for record in records {
                let message = match record {
                    Record::Block(block) => Message::Samples {
                        stream: *handle,
                        block,
                    },
                    Record::Event(event) => Message::Event {
                        stream: *handle,
                        event,
                    },
                    Record::Lost(_) => continue,
                };
                send(&mut tx, &message).await?;
            }
        }
        let backlog_left = cursors.iter().any(|c| c.backlog < c.backlog_end);
        if live_sent || backlog_left {
            // Take whatever the hub said, without waiting, and go round again.
            while let Ok(message) = rx.try_recv() {
                handle_from_hub(shared, &mut cursors, message?)?;
            }
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            () = shared.appended.notified() => {}
            message = rx.recv() => {
                let message = message.ok_or_else(|| anyhow!("hub went away"))??;
                handle_from_hub(shared, &mut cursors, message)?;
            }
            _ = heartbeat.tick() => {
                send(&mut tx, &Message::Heartbeat { utc_ms: utc_now_ms() }).await?;
                let (spool_bytes, spool_max_bytes) = shared.spool_usage();
                send(&mut tx, &Message::BridgeStatus { spool_bytes, spool_max_bytes }).await?;
            }
        }
    }
}

fn handle_from_hub(shared: &Shared, cursors: &mut [Cursor], message: Message) -> Result<()> {
    let index_of = |handle: StreamHandle| {
        cursors
            .iter()
            .position(|c| c.handle == handle)
            .ok_or_else(|| anyhow!("hub named unknown stream {}", handle.0))
    };
    match message {
        Message::Ack(ack) => {
            let i = index_of(ack.stream)?;
            shared.spools()[i].ack(ack.next_sample_seq, ack.next_event_seq)?;
        }
        Message::ResendRequest {
            stream, from_seq, ..
        } => {
            let i = index_of(stream)?;
            let order = shared.spools()[i].order_of_sample(from_seq);
            let cursor = &mut cursors[i];
            cursor.backlog = cursor.backlog.min(order);
            cursor.backlog_end = cursor.backlog_end.max(cursor.live);
            tracing::info!(stream = i, from_seq, "hub asked for a resend");
        }
        Message::Heartbeat { .. } => {}
        Message::Refused { reason } => bail!("hub refused: {reason}"),
        other => tracing::warn!(kind = other.kind(), "unexpected message from the hub"),
    }
    Ok(())
}
