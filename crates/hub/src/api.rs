//! The HTTP API (axum): JSON for streams and history, a WebSocket per viewer.
//!
//! WebSocket protocol: the viewer sends text `{"subscribe": ID}` or `{"unsubscribe": ID}`; the
//! hub answers a subscription with the stream's recent window (up to an hour, for the first
//! paint) and then the live feed: **binary** frames for samples
//! (`u8 kind=1 | i64 LE stream | u64 LE first_seq | u16 LE count | count × (5 × u16 LE values,
//! 5 × u8 quality)`) and text frames for findings and gaps (`{"stream", "finding"|"gap"}`). A
//! viewer that falls behind the live feed is resynchronised from the recent window.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Result;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ctg_proto::model::{Quality, SampleBlock};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast;

use crate::store::Store;
use crate::{Hub, Live};

/// Frame kind byte of a samples frame.
pub const FRAME_SAMPLES: u8 = 1;

/// The router.
pub fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/api/status", get(status))
        .route("/api/streams", get(streams))
        .route("/api/streams/{id}/samples", get(samples))
        .route("/api/ws", get(ws))
        .with_state(hub)
}

/// Serves the API on `listen`; `ready` gets the bound address.
pub async fn serve(
    hub: Arc<Hub>,
    listen: SocketAddr,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let local = listener.local_addr()?;
    tracing::info!(%local, "hub API listening");
    if let Some(ready) = ready {
        let _ = ready.send(local);
    }
    axum::serve(listener, router(hub)).await?;
    Ok(())
}

fn internal(error: anyhow::Error) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, format!("{error:#}")).into_response()
}

async fn status(State(hub): State<Arc<Hub>>) -> Response {
    Json(json!({"hub": hub.hub_id(), "counters": hub.counters()})).into_response()
}

async fn streams(State(hub): State<Arc<Hub>>) -> Response {
    let live: HashMap<i64, u64> = hub
        .streams()
        .iter()
        .map(|(id, s)| (*id, s.committed.next_sample_seq()))
        .collect();
    let records = tokio::task::spawn_blocking(move || hub.reader()?.streams()).await;
    match records {
        Ok(Ok(records)) => Json(
            records
                .into_iter()
                .map(|r| {
                    json!({
                        "id": r.id, "facility": r.identity.facility, "bridge": r.identity.bridge,
                        "port": r.identity.port, "episode_start_utc_ms": r.identity.episode_start_utc_ms,
                        "device": r.device, "next_sample_seq": live.get(&r.id),
                    })
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Ok(Err(error)) => internal(error),
        Err(error) => internal(error.into()),
    }
}

#[derive(Deserialize)]
struct Range {
    from: Option<u64>,
    until: Option<u64>,
}

async fn samples(
    State(hub): State<Arc<Hub>>,
    Path(id): Path<i64>,
    Query(range): Query<Range>,
) -> Response {
    let (from, until) = (range.from.unwrap_or(0), range.until.unwrap_or(u64::MAX));
    if until.saturating_sub(from) > 4 * 3600 * 24 && range.until.is_some() {
        return (StatusCode::BAD_REQUEST, "at most 24 hours per request").into_response();
    }
    let blocks = tokio::task::spawn_blocking(move || hub.reader()?.blocks(id, from, until)).await;
    match blocks {
        Ok(Ok(blocks)) => Json(
            blocks
                .iter()
                .map(|b| json!({"first_seq": b.first_seq, "utc_ms": b.utc_ms, "values": b.samples.iter().map(|s| s.values).collect::<Vec<_>>()}))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Ok(Err(error)) => internal(error),
        Err(error) => internal(error.into()),
    }
}

/// The binary frame of a block.
pub fn samples_frame(stream: i64, block: &SampleBlock) -> Vec<u8> {
    let mut out = Vec::with_capacity(19 + block.samples.len() * 15);
    out.push(FRAME_SAMPLES);
    out.extend(stream.to_le_bytes());
    out.extend(block.first_seq.to_le_bytes());
    out.extend((block.samples.len().min(usize::from(u16::MAX)) as u16).to_le_bytes());
    for s in &block.samples {
        for v in s.values {
            out.extend(v.to_le_bytes());
        }
        for q in s.quality {
            out.push(match q {
                Quality::Unknown => 0,
                Quality::None => 1,
                Quality::Poor => 2,
                Quality::Fair => 3,
                Quality::Good => 4,
            });
        }
    }
    out
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Request {
    Subscribe(i64),
    Unsubscribe(i64),
}

async fn ws(State(hub): State<Arc<Hub>>, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| viewer(hub, socket))
}

async fn viewer(hub: Arc<Hub>, socket: WebSocket) {
    let (mut sink, mut requests) = socket.split();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<WsMessage>(256);
    let writer = tokio::spawn(async move {
        while let Some(message) = out_rx.recv().await {
            if sink.send(message).await.is_err() {
                break;
            }
        }
    });
    let mut subscriptions: HashMap<i64, tokio::task::JoinHandle<()>> = HashMap::new();
    while let Some(Ok(message)) = requests.next().await {
        let WsMessage::Text(text) = message else {
            continue;
        };
        let request: Request = match serde_json::from_str(&text) {
            Ok(r) => r,
            Err(error) => {
                let _ = out_tx
                    .send(WsMessage::Text(
                        json!({"error": error.to_string()}).to_string().into(),
                    ))
                    .await;
                continue;
            }
        };
        match request {
            Request::Subscribe(id) => {
                if subscriptions.len() >= 64 {
                    let _ = out_tx
                        .send(WsMessage::Text(
                            json!({"error": "at most 64 subscriptions"})
                                .to_string()
                                .into(),
                        ))
                        .await;
                    continue;
                }
                let first = hub
                    .streams()
                    .get(&id)
                    .map(|s| (s.recent(), s.feed.subscribe()));
                let Some((recent, feed)) = first else {
                    let _ = out_tx
                        .send(WsMessage::Text(
                            json!({"error": "no such stream", "stream": id})
                                .to_string()
                                .into(),
                        ))
                        .await;
                    continue;
                };
                let out = out_tx.clone();
                let hub = hub.clone();
                let task = tokio::spawn(forward(hub, id, recent, feed, out));
                if let Some(old) = subscriptions.insert(id, task) {
                    old.abort();
                }
            }
            Request::Unsubscribe(id) => {
                if let Some(task) = subscriptions.remove(&id) {
                    task.abort();
                }
            }
        }
    }
    for task in subscriptions.into_values() {
        task.abort();
    }
    writer.abort();
}

async fn forward(
    hub: Arc<Hub>,
    id: i64,
    recent: Vec<Arc<SampleBlock>>,
    mut feed: broadcast::Receiver<Live>,
    out: tokio::sync::mpsc::Sender<WsMessage>,
) {
    let mut sent_until = 0u64;
    for block in recent {
        sent_until = block.end_seq().unwrap_or(sent_until);
        if out
            .send(WsMessage::Binary(samples_frame(id, &block).into()))
            .await
            .is_err()
        {
            return;
        }
    }
    loop {
        let message = match feed.recv().await {
            Ok(Live::Block(block)) => {
                if block.first_seq < sent_until {
                    continue; // already in the first paint
                }
                sent_until = block.end_seq().unwrap_or(sent_until);
                WsMessage::Binary(samples_frame(id, &block).into())
            }
            Ok(Live::Gap { from, until }) => WsMessage::Text(
                json!({"stream": id, "gap": {"from": from, "until": until}})
                    .to_string()
                    .into(),
            ),
            Ok(Live::Finding(finding)) => WsMessage::Text(
                json!({"stream": id, "finding": &*finding})
                    .to_string()
                    .into(),
            ),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                // Too slow: resynchronise from the recent window.
                tracing::warn!(stream = id, missed, "viewer lagging; resynchronising");
                let recent = hub
                    .streams()
                    .get(&id)
                    .map(|s| s.recent())
                    .unwrap_or_default();
                for block in recent {
                    if block.first_seq < sent_until {
                        continue;
                    }
                    sent_until = block.end_seq().unwrap_or(sent_until);
                    if out
                        .send(WsMessage::Binary(samples_frame(id, &block).into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if out.send(message).await.is_err() {
            return;
        }
    }
}
