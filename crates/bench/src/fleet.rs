//! Simulated bridges: one QUIC connection with mutual TLS per stream, a 4-sample block every
//! second (staggered over the second), held until the hub acknowledges it durable, resent
//! after a reconnect or a resend request. Connections share a client endpoint per group (a UDP
//! socket each), as bridges behind one NAT would look to the hub.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ctg_proto::FrameDecoder;
use ctg_proto::model::{DeviceInfo, DeviceProtocol, Sample, SampleBlock, StreamIdentity};
use ctg_proto::wire::{Hello, Message, OpenStream, PROTOCOL_VERSION, StreamHandle};
use tokio::sync::Notify;

/// Samples per block (one second at 4 Hz).
pub const BLOCK_SAMPLES: u64 = 4;

/// How the fleet behaves.
#[derive(Clone, Debug)]
pub struct FleetConfig {
    /// Streams (= simulated bridges).
    pub streams: usize,
    /// Connections are opened evenly over this long (a real deployment's bridges do not all
    /// start in the same millisecond).
    pub ramp: Duration,
    /// Connections per client endpoint (UDP socket).
    pub per_endpoint: usize,
    /// Blocks each stream holds before it connects (a bridge coming back after an outage).
    pub backlog_blocks: u64,
}

/// One simulated bridge's state, shared with the viewers (creation times) and the report.
#[derive(Debug, Default)]
pub struct StreamState {
    /// When each block (by block number) was created.
    pub created: Mutex<Vec<Instant>>,
    /// Blocks not yet acknowledged: `(block number, encoded frame)`.
    pending: Mutex<VecDeque<(u64, Arc<Vec<u8>>)>>,
    /// Blocks created so far.
    pub generated: AtomicU64,
    /// Samples the hub holds durably (its last acknowledgement).
    pub acknowledged: AtomicU64,
    /// A resend asked for: the block number to go back to, plus one (0: none).
    rewind: AtomicU64,
    /// Connected now.
    pub connected: AtomicBool,
    /// Connections made (the first included).
    pub connections: AtomicU64,
    wake: Notify,
}

/// The running fleet.
pub struct Fleet {
    /// Per stream, by index (stream `n` is port `s{n}`).
    pub streams: Vec<Arc<StreamState>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The port name of stream `n` (how the hub's stream list names it).
pub fn port_name(n: usize) -> String {
    format!("s{n}")
}

impl Fleet {
    /// Starts the fleet against the hub at `hub`.
    pub fn start(
        config: &FleetConfig,
        hub: SocketAddr,
        client: quinn::ClientConfig,
    ) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut streams = Vec::new();
        let mut tasks = Vec::new();
        let mut endpoint = None;
        let t0 = tokio::time::Instant::now();
        for n in 0..config.streams {
            if n % config.per_endpoint.max(1) == 0 {
                let mut e = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
                e.set_default_client_config(client.clone());
                endpoint = Some(e);
            }
            let endpoint = endpoint.clone().context("an endpoint")?;
            let state = Arc::new(StreamState::default());
            for _ in 0..config.backlog_blocks {
                push_block(&state)?;
            }
            let connect_at = t0 + config.ramp.mul_f64(n as f64 / config.streams.max(1) as f64);
            // Block creation is staggered over the second, independently of the ramp.
            let first_tick = t0 + Duration::from_millis((n as u64 * 997) % 1000);
            tasks.push(tokio::spawn(generate(
                state.clone(),
                first_tick,
                stop.clone(),
            )));
            tasks.push(tokio::spawn(connect_loop(
                n,
                state.clone(),
                endpoint,
                hub,
                connect_at,
                stop.clone(),
            )));
            streams.push(state);
        }
        Ok(Self {
            streams,
            stop,
            tasks,
        })
    }

    /// Streams connected now.
    pub fn connected(&self) -> usize {
        self.streams
            .iter()
            .filter(|s| s.connected.load(Ordering::Relaxed))
            .count()
    }

    /// Stops creating blocks (connections stay, to deliver what is pending).
    pub fn stop_generating(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Samples created and not acknowledged, over all streams.
    pub fn unacknowledged_samples(&self) -> u64 {
        self.streams
            .iter()
            .map(|s| {
                (s.generated.load(Ordering::Relaxed) * BLOCK_SAMPLES)
                    .saturating_sub(s.acknowledged.load(Ordering::Relaxed))
            })
            .sum()
    }

    /// Ends every task.
    pub fn shutdown(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

fn push_block(state: &StreamState) -> Result<()> {
    let k = state.generated.load(Ordering::Relaxed);
    let block = SampleBlock {
        first_seq: k * BLOCK_SAMPLES,
        utc_ms: ctg_hub::utc_now_ms(),
        samples: vec![
            Sample {
                values: [560 + (k % 40) as u16, 0, 0, 330, 20],
                ..Sample::default()
            };
            BLOCK_SAMPLES as usize
        ],
        ..SampleBlock::default()
    };
    let frame = encode(&Message::Samples {
        stream: StreamHandle(1),
        block,
    })?;
    state
        .created
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Instant::now());
    state
        .pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push_back((k, Arc::new(frame)));
    state.generated.store(k + 1, Ordering::Relaxed);
    state.wake.notify_one();
    Ok(())
}

/// Creates a block every second, like a monitor, whether connected or not.
async fn generate(
    state: Arc<StreamState>,
    first_tick: tokio::time::Instant,
    stop: Arc<AtomicBool>,
) {
    let mut tick = tokio::time::interval_at(first_tick, Duration::from_secs(1));
    loop {
        tick.tick().await;
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if push_block(&state).is_err() {
            return;
        }
    }
}

fn encode(message: &Message) -> Result<Vec<u8>> {
    ctg_proto::encode_frame(message).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Connects, and connects again after every failure (backoff 0.5–5 s), like a bridge.
async fn connect_loop(
    n: usize,
    state: Arc<StreamState>,
    endpoint: quinn::Endpoint,
    hub: SocketAddr,
    connect_at: tokio::time::Instant,
    stop: Arc<AtomicBool>,
) {
    tokio::time::sleep_until(connect_at).await;
    let mut backoff = Duration::from_millis(500);
    loop {
        let started = Instant::now();
        let _ = session(n, &state, &endpoint, hub, &stop).await;
        state.connected.store(false, Ordering::Relaxed);
        if started.elapsed() > Duration::from_secs(10) {
            backoff = Duration::from_millis(500);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn session(
    n: usize,
    state: &Arc<StreamState>,
    endpoint: &quinn::Endpoint,
    hub: SocketAddr,
    stop: &AtomicBool,
) -> Result<()> {
    let connection = endpoint.connect(hub, "localhost")?.await?;
    let (mut tx, mut rx) = connection.open_bi().await?;
    tx.write_all(&encode(&Message::Hello(Hello {
        min_version: PROTOCOL_VERSION,
        max_version: PROTOCOL_VERSION,
        bridge_id: format!("b{n}"),
        software: "mimamori bench load".into(),
    }))?)
    .await?;
    tx.write_all(&encode(&Message::OpenStream(OpenStream {
        stream: StreamHandle(1),
        identity: StreamIdentity {
            facility: crate::hub_process::FACILITY.into(),
            bridge: format!("b{n}"),
            port: port_name(n),
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
    // Read until the hub says where to resume.
    let mut decoder = FrameDecoder::new();
    let mut buffer = vec![0u8; 16 * 1024];
    let resume = 'opened: loop {
        let Some(read) = rx.read(&mut buffer).await? else {
            bail!("the hub closed the stream before opening it");
        };
        let mut input = &buffer[..read];
        while let Some(message) = decoder.next_message(&mut input) {
            match message? {
                Message::StreamOpened(opened) => break 'opened opened.next_sample_seq,
                Message::Refused { reason } => bail!("refused: {reason}"),
                _ => {}
            }
        }
    };
    acknowledge(state, resume);
    state.connected.store(true, Ordering::Relaxed);
    state.connections.fetch_add(1, Ordering::Relaxed);
    let reader = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 16 * 1024];
            while let Ok(Some(read)) = rx.read(&mut buffer).await {
                let mut input = &buffer[..read];
                while let Some(message) = decoder.next_message(&mut input) {
                    match message {
                        Ok(Message::Ack(ack)) => acknowledge(&state, ack.next_sample_seq),
                        Ok(Message::ResendRequest { from_seq, .. }) => {
                            state
                                .rewind
                                .store(from_seq / BLOCK_SAMPLES + 1, Ordering::Relaxed);
                            state.wake.notify_one();
                        }
                        _ => {}
                    }
                }
            }
        })
    };
    let result = async {
        // Send everything pending from the resume point, then each new block as it comes.
        let mut next = resume / BLOCK_SAMPLES;
        loop {
            let rewind = state.rewind.swap(0, Ordering::Relaxed);
            if rewind > 0 {
                next = next.min(rewind - 1);
            }
            let batch: Vec<(u64, Arc<Vec<u8>>)> = state
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .filter(|(k, _)| *k >= next)
                .take(64)
                .cloned()
                .collect();
            if batch.is_empty() {
                if stop.load(Ordering::Relaxed) && reader.is_finished() {
                    return Ok(());
                }
                tokio::time::timeout(Duration::from_secs(5), state.wake.notified())
                    .await
                    .ok();
                if reader.is_finished() {
                    bail!("the hub closed the connection");
                }
                continue;
            }
            for (k, frame) in batch {
                tx.write_all(&frame).await?;
                next = k + 1;
            }
        }
    }
    .await;
    reader.abort();
    result
}

/// Takes the hub's acknowledgement: frees what it holds.
fn acknowledge(state: &StreamState, next_sample_seq: u64) {
    state
        .acknowledged
        .fetch_max(next_sample_seq, Ordering::Relaxed);
    let below = next_sample_seq / BLOCK_SAMPLES;
    let mut pending = state.pending.lock().unwrap_or_else(|p| p.into_inner());
    while pending.front().is_some_and(|(k, _)| *k < below) {
        pending.pop_front();
    }
}
