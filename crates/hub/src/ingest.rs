//! QUIC ingest: bridges connect with client certificates from the deployment's CA; the facility
//! a bridge belongs to comes from its certificate, and a bridge may open streams of that
//! facility only. Per read: claim (dedupe) → commit (durable) → acknowledge → ask for gaps.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use ctg_proto::wire::{
    Ack, MIN_PROTOCOL_VERSION, Message, PROTOCOL_VERSION, StreamHandle, StreamOpened, Welcome,
};
use ctg_proto::{FrameDecoder, encode_frame};

use crate::Hub;
use crate::store::Write;

/// The application error code of a session the hub closes because it is stopping.
pub const SHUTTING_DOWN: u32 = 2;

/// Serves bridges on `listen` until `shutdown` completes (the service being stopped;
/// `std::future::pending()` for never); `ready` gets the bound address. The revocation list is
/// `revoked.txt` beside the CA certificate, re-read as it changes. On shutdown every bridge's
/// session is closed with [`SHUTTING_DOWN`] ("hub shutting down"), so the bridges know at once
/// and keep spooling until the hub is back, rather than waiting for their sessions to time out.
/// What a bridge sent is acknowledged only once stored, so nothing unacknowledged is lost: it is
/// sent again to the next hub.
pub async fn serve(
    hub: Arc<Hub>,
    listen: SocketAddr,
    ca: &Path,
    cert: &Path,
    key: &Path,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let revocations = Arc::new(ctg_tls::pki::Revocations::new(
        ca.parent().unwrap_or(Path::new(".")),
    ));
    let config = ctg_tls::quic::server_config(ca, cert, key)?;
    let socket = std::net::UdpSocket::bind(listen)
        .with_context(|| format!("binding the QUIC port {listen}"))?;
    let endpoint = quinn::Endpoint::new(
        ctg_tls::quic::server_endpoint_config(key)?,
        Some(config),
        socket,
        Arc::new(quinn::TokioRuntime),
    )?;
    let local = endpoint.local_addr()?;
    tracing::info!(%local, "hub ingest listening");
    if let Some(ready) = ready {
        let _ = ready.send(local);
    }
    tokio::pin!(shutdown);
    loop {
        let incoming = tokio::select! {
            incoming = endpoint.accept() => match incoming {
                Some(incoming) => incoming,
                None => break,
            },
            () = &mut shutdown => {
                tracing::info!("hub stopping: closing the bridges' sessions");
                hub.stopping();
                ctg_tls::quic::close_with_reason(&endpoint, SHUTTING_DOWN, "hub shutting down")
                    .await;
                break;
            }
        };
        let hub = hub.clone();
        let revocations = revocations.clone();
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            match connection(incoming, hub, revocations).await {
                Ok(()) => tracing::info!(%remote, "bridge left"),
                Err(error) => {
                    tracing::warn!(%remote, error = format!("{error:#}"), "bridge session ended")
                }
            }
        });
    }
    Ok(())
}

async fn send(tx: &mut quinn::SendStream, message: &Message) -> Result<()> {
    let bytes = encode_frame(message).map_err(|e| anyhow!("{e}"))?;
    tx.write_all(&bytes).await?;
    Ok(())
}

async fn connection(
    incoming: quinn::Incoming,
    hub: Arc<Hub>,
    revocations: Arc<ctg_tls::pki::Revocations>,
) -> Result<()> {
    let connection = incoming.await.context("handshake")?;
    let names = ctg_tls::quic::peer_names(&connection)?;
    let facility = names
        .organisation
        .context("the bridge certificate names no facility (O)")?;
    let bridge_name = names.common_name.clone().unwrap_or_else(|| "?".into());
    if revocations.is_revoked(&facility, &bridge_name) {
        connection.close(quinn::VarInt::from_u32(1), b"certificate revoked");
        bail!("{facility}/{bridge_name}: certificate revoked; refused");
    }
    hub.bridge_seen(&bridge_name, &facility, true);
    // Revocation takes effect on open connections too, within two seconds.
    let watch = {
        let (connection, facility, bridge) =
            (connection.clone(), facility.clone(), bridge_name.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                if revocations.is_revoked(&facility, &bridge) {
                    tracing::warn!(%facility, %bridge, "certificate revoked; closing the connection");
                    connection.close(quinn::VarInt::from_u32(1), b"certificate revoked");
                    return;
                }
            }
        })
    };
    let mut opened = Vec::new();
    let result = session(&hub, &connection, &facility, &mut opened).await;
    watch.abort();
    hub.streams_closed(&opened);
    hub.bridge_seen(&bridge_name, &facility, false);
    result
}

/// One bridge connection; `opened` collects the streams it opened (closed by the caller).
async fn session(
    hub: &Arc<Hub>,
    connection: &quinn::Connection,
    facility: &str,
    opened: &mut Vec<i64>,
) -> Result<()> {
    let facility = facility.to_owned();
    let (mut tx, mut rx) = connection.accept_bi().await?;
    let mut decoder = FrameDecoder::new();
    let mut buffer = vec![0u8; 16 * 1024];
    let mut handles: HashMap<u32, i64> = HashMap::new();
    let mut greeted = false;
    let mut bridge_id = String::new();
    loop {
        let Some(n) = rx.read(&mut buffer).await? else {
            return Ok(());
        };
        let mut input = &buffer[..n];
        let mut writes = Vec::new();
        let mut touched = BTreeSet::new();
        let mut replies = Vec::new();
        while let Some(result) = decoder.next_message(&mut input) {
            let message = match result {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(%facility, %error, "bad frame from a bridge");
                    continue;
                }
            };
            match message {
                Message::Hello(hello) => {
                    if hello.max_version < MIN_PROTOCOL_VERSION
                        || hello.min_version > PROTOCOL_VERSION
                    {
                        send(&mut tx, &Message::Refused {
                            reason: format!("protocol versions {}..={} not spoken here ({MIN_PROTOCOL_VERSION}..={PROTOCOL_VERSION})", hello.min_version, hello.max_version),
                        }).await?;
                        bail!("no common protocol version");
                    }
                    greeted = true;
                    bridge_id.clone_from(&hello.bridge_id);
                    tracing::info!(%facility, bridge = %hello.bridge_id, "bridge connected");
                    replies.push(Message::Welcome(Welcome {
                        version: PROTOCOL_VERSION,
                        hub_id: hub.hub_id().to_owned(),
                        heartbeat_interval_ms: 5000,
                    }));
                }
                _ if !greeted => bail!("a bridge spoke before saying hello"),
                Message::OpenStream(open) => {
                    if open.identity.facility != facility {
                        let reason = format!(
                            "this bridge belongs to facility {facility:?} and may not send for {:?}",
                            open.identity.facility
                        );
                        send(
                            &mut tx,
                            &Message::Refused {
                                reason: reason.clone(),
                            },
                        )
                        .await?;
                        bail!(reason);
                    }
                    // Flush what came before, so the resume point counts it.
                    if !writes.is_empty() {
                        hub.commit(std::mem::take(&mut writes)).await?;
                    }
                    let (record, next_sample_seq, next_event_seq) =
                        hub.open_stream(&open.identity, &open.device).await?;
                    handles.insert(open.stream.0, record.id);
                    opened.push(record.id);
                    replies.push(Message::StreamOpened(StreamOpened {
                        stream: open.stream,
                        next_sample_seq,
                        next_event_seq,
                    }));
                }
                Message::Samples { stream, block } => {
                    let id = *handles
                        .get(&stream.0)
                        .context("samples on an unopened stream")?;
                    if hub.claim_block(id, &block) {
                        writes.push(Write::Block(id, block));
                    }
                    touched.insert(stream.0);
                }
                Message::Event { stream, event } => {
                    let id = *handles
                        .get(&stream.0)
                        .context("event on an unopened stream")?;
                    if hub.claim_event(id, event.seq) {
                        writes.push(Write::Event(id, event));
                    }
                    touched.insert(stream.0);
                }
                Message::BridgeStatus {
                    spool_bytes,
                    spool_max_bytes,
                } => hub.bridge_spool(&bridge_id, &facility, spool_bytes, spool_max_bytes),
                Message::Heartbeat { utc_ms } => hub.bridge_clock(&bridge_id, &facility, utc_ms),
                Message::CloseStream { .. } => {}
                other => tracing::warn!(kind = other.kind(), "unexpected message from a bridge"),
            }
        }
        if !writes.is_empty() {
            let mut samples: HashMap<i64, usize> = HashMap::new();
            for write in &writes {
                if let Write::Block(id, block) = write {
                    *samples.entry(*id).or_default() += block.samples.len();
                }
            }
            for (id, n) in samples {
                hub.wait_for_analysis(id, n).await;
            }
            hub.commit(writes).await?;
        }
        for handle in touched {
            let id = handles[&handle];
            if let Some(crate::AckState {
                next_sample_seq,
                next_event_seq,
                gap,
            }) = hub.ack_state(id)
            {
                replies.push(Message::Ack(Ack {
                    stream: StreamHandle(handle),
                    next_sample_seq,
                    next_event_seq,
                }));
                if let Some((from_seq, until_seq)) = gap {
                    replies.push(Message::ResendRequest {
                        stream: StreamHandle(handle),
                        from_seq,
                        until_seq,
                    });
                }
            }
        }
        for reply in replies {
            send(&mut tx, &reply).await?;
        }
    }
}
