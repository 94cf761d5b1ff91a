//! Device supervision: one task per monitor port.
//!
//! Opens the serial port (tokio-serial), runs the protocol's host session from `ctg-devices`,
//! writes what it asks to send, and turns what the monitor says into spooled blocks and events.
//! A port that cannot be opened, or that fails (cable pulled, USB adapter re-enumerated), is
//! retried every 2 s; a monitor that sends no valid frame for `silence_s` is reported once as
//! `DeviceDisconnected` and again as connected when frames come back.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use ctg_devices::capture::{self, Direction};
use ctg_devices::{DeviceOutput, Millis};
use ctg_proto::model::{DeviceInfo, EventKind, SampleBlock, StreamEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::{DeviceConfig, DeviceProtocol};
use crate::spool::Record;
use crate::{Shared, utc_now_ms};

const REOPEN_AFTER: Duration = Duration::from_secs(2);

/// Runs one device port for ever.
pub async fn run(
    shared: Arc<Shared>,
    stream: usize,
    device: DeviceConfig,
    capture_dir: Option<PathBuf>,
) {
    match device.protocol {
        DeviceProtocol::Series50 | DeviceProtocol::Avalon | DeviceProtocol::Corometrics115 => {
            run_serial(shared, stream, device, capture_dir).await
        }
        DeviceProtocol::Hl7 => {
            if let Err(error) = crate::mllp::run(shared, stream, &device, capture_dir).await {
                tracing::error!(device = %device.name, error = format!("{error:#}"), "MLLP listener stopped");
            }
        }
    }
}

async fn run_serial(
    shared: Arc<Shared>,
    stream: usize,
    device: DeviceConfig,
    capture_dir: Option<PathBuf>,
) {
    let mut reported_missing = false;
    let mut silent = false;
    let mut capture = capture_dir.map(|dir| Capture::new(dir, &device.name));
    let path = device.serial.clone().unwrap_or_default();
    loop {
        let port = tokio_serial::SerialStream::open(&tokio_serial::new(
            path.to_string_lossy(),
            device.baud(),
        ));
        match port {
            Ok(port) => {
                reported_missing = false;
                tracing::info!(device = %device.name, path = %path.display(), "port open");
                let ended = session(
                    &shared,
                    stream,
                    &device,
                    port,
                    capture.as_mut(),
                    &mut silent,
                )
                .await;
                if let Ended::Failed(error) = ended {
                    tracing::warn!(device = %device.name, %error, "port failed; reopening");
                    if !silent {
                        silent = true;
                        shared.event(
                            stream,
                            EventKind::DeviceDisconnected {
                                reason: format!("serial port failed: {error}"),
                            },
                        );
                    }
                }
            }
            Err(error) => {
                if !reported_missing {
                    tracing::warn!(device = %device.name, path = %path.display(), %error, "cannot open the port; retrying every 2 s");
                    reported_missing = true;
                }
            }
        }
        tokio::time::sleep(REOPEN_AFTER).await;
    }
}

/// Why a port session ended.
enum Ended {
    /// No valid frame for `silence_s`: the port is closed and opened again (a USB adapter that
    /// re-enumerated leaves a dead handle that never reports an error).
    Silent,
    /// The port failed.
    Failed(anyhow::Error),
}

/// One opened port, until it fails or falls silent. `silent` says whether the monitor's
/// silence has already been reported (once until it speaks again, across reopenings).
async fn session(
    shared: &Shared,
    stream: usize,
    device: &DeviceConfig,
    port: tokio_serial::SerialStream,
    capture: Option<&mut Capture>,
    silent: &mut bool,
) -> Ended {
    match talk(shared, stream, device, port, capture, silent).await {
        Ok(()) => Ended::Silent,
        Err(error) => Ended::Failed(error),
    }
}

async fn talk(
    shared: &Shared,
    stream: usize,
    device: &DeviceConfig,
    mut port: tokio_serial::SerialStream,
    mut capture: Option<&mut Capture>,
    silent: &mut bool,
) -> Result<()> {
    let started = Instant::now();
    let now_ms = || -> Millis { started.elapsed().as_millis() as Millis };
    let Some(mut host) = device.protocol.session() else {
        anyhow::bail!("{:?} is not a serial protocol", device.protocol);
    };
    let mut buffer = [0u8; 1024];
    let mut outputs = Vec::new();
    let mut last_frame_ms: Millis = 0;
    let mut frames_seen = 0;
    let silence_ms = device.silence_s * 1000;
    loop {
        let transmit = host.poll_transmit(now_ms());
        if !transmit.is_empty() {
            if let Some(c) = capture.as_deref_mut() {
                c.record(Direction::ToDevice, &transmit);
            }
            port.write_all(&transmit).await?;
        }
        let read = tokio::time::timeout(Duration::from_millis(250), port.read(&mut buffer)).await;
        let now = now_ms();
        // The port gone (cable pulled, device closed): what the session still holds is
        // handed on before the port is reopened, not lost with it.
        let mut gone = None;
        match read {
            Ok(Ok(0)) => gone = Some(anyhow::anyhow!("end of file on the serial port")),
            Ok(Ok(n)) => {
                if let Some(c) = capture.as_deref_mut() {
                    c.record(Direction::FromDevice, &buffer[..n]);
                }
                host.receive(&buffer[..n], now, &mut outputs);
            }
            Ok(Err(error)) => gone = Some(error.into()),
            Err(_) => {}
        }
        host.tick(if gone.is_some() { Millis::MAX } else { now }, &mut outputs);
        let frames = host.link().frames;
        if frames != frames_seen {
            frames_seen = frames;
            last_frame_ms = now;
            if *silent {
                *silent = false;
                tracing::info!(device = %device.name, "monitor speaking again");
            }
        }
        // What the session handed on now ends now: each block is stamped back from there by
        // the samples after it (a burst, such as an Avalon's unanswered polls filled at the
        // next reply, keeps its seconds where they were).
        let mut samples_after: i64 = outputs
            .iter()
            .map(|o| match o {
                DeviceOutput::Ctg(ctg) => ctg.samples.len() as i64,
                _ => 0,
            })
            .sum();
        let now_utc_ms = utc_now_ms();
        for output in outputs.drain(..) {
            match output {
                DeviceOutput::Ctg(ctg) => {
                    let utc_ms = now_utc_ms - 250 * samples_after;
                    samples_after -= ctg.samples.len() as i64;
                    shared.block(stream, |first_seq| SampleBlock {
                        first_seq,
                        utc_ms,
                        modes: ctg.modes,
                        flags: ctg.flags,
                        fspo2_percent: ctg.fspo2_percent,
                        samples: ctg.samples,
                    });
                }
                DeviceOutput::Event(kind) => {
                    if let EventKind::DeviceConnected(info) = &kind {
                        tracing::info!(device = %device.name, model = %info.model, serial = %info.serial, "monitor identified");
                    }
                    shared.event(stream, kind);
                }
                DeviceOutput::Problem(problem) => {
                    tracing::warn!(device = %device.name, %problem, "bad input from the monitor");
                }
            }
        }
        if let Some(error) = gone {
            return Err(error);
        }
        if now.saturating_sub(last_frame_ms) > silence_ms {
            if !*silent {
                *silent = true;
                tracing::warn!(device = %device.name, seconds = device.silence_s, "monitor silent; reopening the port");
                shared.event(
                    stream,
                    EventKind::DeviceDisconnected {
                        reason: format!("no valid frame for {} s", device.silence_s),
                    },
                );
            }
            return Ok(());
        }
    }
}

/// What the device info says before the monitor identifies itself.
pub fn initial_device_info(device: &DeviceConfig) -> DeviceInfo {
    DeviceInfo::unidentified(match device.protocol {
        DeviceProtocol::Series50 => ctg_proto::model::DeviceProtocol::Series50,
        DeviceProtocol::Avalon => ctg_proto::model::DeviceProtocol::Avalon,
        DeviceProtocol::Corometrics115 => ctg_proto::model::DeviceProtocol::Corometrics115,
        DeviceProtocol::Hl7 => ctg_proto::model::DeviceProtocol::Hl7Mllp,
    })
}

/// A raw capture of one port (`--capture DIR`).
pub(crate) struct Capture {
    path: PathBuf,
    started: Instant,
    buffer: Vec<u8>,
    failed: bool,
}

impl Capture {
    pub(crate) fn new(dir: PathBuf, name: &str) -> Self {
        let stamp = utc_now_ms();
        let path = dir.join(format!("{name}-{stamp}.cap"));
        let failed = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, capture::MAGIC))
            .map_err(
                |error| tracing::error!(path = %path.display(), %error, "cannot write the capture"),
            )
            .is_err();
        Self {
            path,
            started: Instant::now(),
            buffer: Vec::new(),
            failed,
        }
    }

    pub(crate) fn record(&mut self, direction: Direction, bytes: &[u8]) {
        if self.failed {
            return;
        }
        self.buffer.clear();
        let micros = self.started.elapsed().as_micros() as u64;
        capture::write_record(&mut self.buffer, micros, direction, bytes);
        use std::io::Write;
        let written = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(&self.buffer));
        if let Err(error) = written {
            tracing::error!(path = %self.path.display(), %error, "capture stopped");
            self.failed = true;
        }
    }
}

/// A spooled record for a stream event.
pub fn event_record(seq: u64, at_sample: u64, kind: EventKind) -> Record {
    Record::Event(StreamEvent {
        seq,
        at_sample,
        utc_ms: utc_now_ms(),
        kind,
    })
}
