//! The HL7 device port: an MLLP listener taking ORU^R01 messages.
//!
//! Each connection gets its own deframer and ORU receiver. A message's samples go into the
//! spool (fsynced) before its ACK goes out, so `AA` means the bridge holds them durably; a
//! message the bridge cannot take gets `AE` or `AR` with the reason, and the connection goes on.
//! At most [`MAX_CONNECTIONS`] senders at once; a sender silent for `silence_s` is reported.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use ctg_devices::capture::Direction;
use ctg_devices::hl7::{AckCode, MllpDecoder, OruReceiver, mllp};
use ctg_proto::model::{EventKind, SampleBlock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::config::DeviceConfig;
use crate::device::Capture;
use crate::{Shared, utc_now_ms};

/// Concurrent MLLP connections per listener.
pub const MAX_CONNECTIONS: usize = 16;

/// Listens for ever.
pub async fn run(
    shared: Arc<Shared>,
    stream: usize,
    device: &DeviceConfig,
    capture_dir: Option<PathBuf>,
) -> Result<()> {
    let address = device.listen.context("no listen address")?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("listening on {address}"))?;
    tracing::info!(device = %device.name, %address, "MLLP listener open");
    let capture = Arc::new(Mutex::new(
        capture_dir.map(|dir| Capture::new(dir, &device.name)),
    ));
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let (socket, peer) = listener.accept().await?;
        if open.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            tracing::warn!(%peer, "too many MLLP connections; refusing");
            continue;
        }
        open.fetch_add(1, Ordering::SeqCst);
        let (shared, open, capture) = (shared.clone(), open.clone(), capture.clone());
        let device = device.clone();
        tokio::spawn(async move {
            tracing::info!(device = %device.name, %peer, "HL7 sender connected");
            if let Err(error) = connection(&shared, stream, &device, socket, &capture).await {
                tracing::warn!(device = %device.name, %peer, %error, "HL7 connection ended");
            }
            open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

async fn connection(
    shared: &Shared,
    stream: usize,
    device: &DeviceConfig,
    mut socket: TcpStream,
    capture: &Mutex<Option<Capture>>,
) -> Result<()> {
    let mut decoder = MllpDecoder::new();
    let mut receiver = OruReceiver::new(&format!("MIMAMORI-{}", device.name));
    let mut buffer = vec![0u8; 16 * 1024];
    let mut frames = Vec::new();
    // The patient told on this connection (a sender that reconnects tells her again; the hub
    // keeps one episode for her).
    let mut patient_told = None;
    let silence = Duration::from_secs(device.silence_s);
    let mut silent = false;
    loop {
        let n = match tokio::time::timeout(silence, socket.read(&mut buffer)).await {
            Ok(read) => read?,
            Err(_) => {
                if !silent {
                    silent = true;
                    tracing::warn!(device = %device.name, "HL7 sender silent");
                    shared.event(
                        stream,
                        EventKind::DeviceDisconnected {
                            reason: format!("no HL7 message for {} s", device.silence_s),
                        },
                    );
                }
                continue;
            }
        };
        if n == 0 {
            return Ok(());
        }
        silent = false;
        if let Some(c) = capture.lock().await.as_mut() {
            c.record(Direction::FromDevice, &buffer[..n]);
        }
        decoder.push(&buffer[..n], &mut frames);
        for frame in frames.drain(..) {
            let message = match frame {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(device = %device.name, %error, "bad MLLP frame");
                    continue;
                }
            };
            let mut handled = receiver.handle(&message, utc_now_ms());
            let patient = handled.patient.take();
            if let Some(block) = handled.block.take() {
                let utc_ms = utc_now_ms() - 250 * block.samples.len() as i64;
                let stored = shared.block(stream, |first_seq| SampleBlock {
                    first_seq,
                    utc_ms,
                    modes: block.modes,
                    flags: block.flags,
                    fspo2_percent: block.fspo2_percent,
                    samples: block.samples,
                });
                if !stored {
                    handled = receiver.storage_failed(&message, utc_now_ms());
                } else if let Some(event) = ctg_devices::patient_change(&mut patient_told, patient)
                {
                    // The patient the gateway says this monitor is on: the hub puts her on the
                    // stream (told once, and again when she changes).
                    tracing::info!(device = %device.name, "patient identified by the HL7 sender");
                    shared.event(stream, event);
                }
            }
            if handled.code != AckCode::AA {
                tracing::warn!(device = %device.name, code = ?handled.code, reason = handled.reason.as_deref().unwrap_or(""), "HL7 message not accepted");
            }
            let ack = mllp::frame(&handled.ack);
            if let Some(c) = capture.lock().await.as_mut() {
                c.record(Direction::ToDevice, &ack);
            }
            socket.write_all(&ack).await?;
        }
    }
}
