//! A minimal hub-side receiver: accepts bridges over QUIC with mutual TLS, stores every block
//! and event durably, and acknowledges what it holds. It stands in for the hub's ingest until the
//! hub has its own, and is what the bridge's end-to-end tests run against.
//!
//! Store: one directory per stream (`<facility>/<bridge>/<port>-<episode start>/`) with
//! `records.log` in the spool's record format, `fdatasync`ed before every acknowledgement.
//! Duplicates are dropped by sequence number; the acknowledgement is the first sample (and
//! event) sequence number not yet held, so a gap holds it back and is asked for again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow, bail};
use ctg_proto::model::{SampleBlock, StreamEvent, StreamIdentity};
use ctg_proto::wire::{Ack, Message, StreamOpened, Welcome};
use ctg_proto::{FrameDecoder, encode_frame};

use crate::spool::{Record, encode_record, read_segment};

/// One stream as stored.
#[derive(Debug)]
struct StoredStream {
    file: File,
    blocks: BTreeMap<u64, u64>,
    events: BTreeSet<u64>,
    next_sample_seq: u64,
    next_event_seq: u64,
}

impl StoredStream {
    fn advance(&mut self) {
        while let Some(&end) = self.blocks.get(&self.next_sample_seq) {
            self.next_sample_seq = end;
        }
        while self.events.contains(&self.next_event_seq) {
            self.next_event_seq += 1;
        }
    }
}

/// The receiver's store.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    streams: HashMap<StreamIdentity, StoredStream>,
}

fn stream_dir(root: &Path, identity: &StreamIdentity) -> PathBuf {
    root.join(&identity.facility)
        .join(&identity.bridge)
        .join(format!(
            "{}-{}",
            identity.port, identity.episode_start_utc_ms
        ))
}

impl Store {
    /// Opens (or creates) a store in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            streams: HashMap::new(),
        })
    }

    fn stream(&mut self, identity: &StreamIdentity) -> Result<&mut StoredStream> {
        if !self.streams.contains_key(identity) {
            let dir = stream_dir(&self.dir, identity);
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("identity.json"), serde_json::to_string(identity)?)?;
            let path = dir.join("records.log");
            let mut stream = StoredStream {
                file: OpenOptions::new().create(true).append(true).open(&path)?,
                blocks: BTreeMap::new(),
                events: BTreeSet::new(),
                next_sample_seq: 0,
                next_event_seq: 0,
            };
            let (records, good) = read_segment(&path)?;
            OpenOptions::new().write(true).open(&path)?.set_len(good)?;
            for (record, _) in records {
                match record {
                    Record::Block(b) => {
                        stream
                            .blocks
                            .insert(b.first_seq, b.end_seq().unwrap_or(u64::MAX));
                    }
                    Record::Event(e) => {
                        stream.events.insert(e.seq);
                    }
                    // Never stored: it arrives as what stands in for it.
                    Record::Lost(_) => {}
                }
            }
            stream.advance();
            self.streams.insert(identity.clone(), stream);
        }
        Ok(self.streams.get_mut(identity).expect("inserted"))
    }

    fn put(&mut self, identity: &StreamIdentity, record: Record) -> Result<()> {
        let stream = self.stream(identity)?;
        let new = match &record {
            Record::Block(b) => {
                let end = b.end_seq().context("sequence overflow")?;
                // A block overlapping one already held is a duplicate (blocks never split).
                let overlaps = stream
                    .blocks
                    .range(..end)
                    .next_back()
                    .is_some_and(|(_, &held_end)| held_end > b.first_seq);
                if !overlaps {
                    stream.blocks.insert(b.first_seq, end);
                }
                !overlaps
            }
            Record::Event(e) => stream.events.insert(e.seq),
            Record::Lost(_) => false,
        };
        if new {
            stream.file.write_all(&encode_record(&record)?)?;
        }
        stream.advance();
        Ok(())
    }

    fn sync(&mut self, identity: &StreamIdentity) -> Result<(u64, u64)> {
        let stream = self.stream(identity)?;
        stream.file.sync_data()?;
        Ok((stream.next_sample_seq, stream.next_event_seq))
    }
}

/// Everything one stored stream holds, sorted by sequence number (for tests and dumps).
#[derive(Debug)]
pub struct StreamContents {
    /// The stream.
    pub identity: StreamIdentity,
    /// Its blocks.
    pub blocks: Vec<SampleBlock>,
    /// Its events.
    pub events: Vec<StreamEvent>,
}

/// Reads every stream in a store directory.
pub fn load(dir: &Path) -> Result<Vec<StreamContents>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "records.log") {
                let identity: StreamIdentity = serde_json::from_str(&std::fs::read_to_string(
                    path.with_file_name("identity.json"),
                )?)?;
                let (records, _) = read_segment(&path)?;
                let mut blocks = Vec::new();
                let mut events = Vec::new();
                for (record, _) in records {
                    match record {
                        Record::Block(b) => blocks.push(b),
                        Record::Event(e) => events.push(e),
                        Record::Lost(_) => {}
                    }
                }
                blocks.sort_by_key(|b| b.first_seq);
                events.sort_by_key(|e| e.seq);
                found.push(StreamContents {
                    identity,
                    blocks,
                    events,
                });
            }
        }
    }
    found.sort_by(|a, b| a.identity.cmp(&b.identity));
    Ok(found)
}

/// Serves bridges on `listen` until the process ends; `ready` gets the bound address.
pub async fn serve(
    listen: SocketAddr,
    ca: &Path,
    cert: &Path,
    key: &Path,
    store_dir: &Path,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<()> {
    let config = ctg_tls::quic::server_config(ca, cert, key)?;
    let endpoint = quinn::Endpoint::server(config, listen)?;
    let local = endpoint.local_addr()?;
    tracing::info!(%local, "receiver listening");
    if let Some(ready) = ready {
        let _ = ready.send(local);
    }
    let store = Arc::new(Mutex::new(Store::open(store_dir)?));
    while let Some(incoming) = endpoint.accept().await {
        let store = store.clone();
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            match connection(incoming, store).await {
                Ok(()) => tracing::info!(%remote, "bridge left"),
                Err(error) => {
                    tracing::warn!(%remote, error = format!("{error:#}"), "bridge session ended")
                }
            }
        });
    }
    Ok(())
}

async fn connection(incoming: quinn::Incoming, store: Arc<Mutex<Store>>) -> Result<()> {
    let connection = incoming.await.context("handshake")?;
    let (mut tx, mut rx) = connection.accept_bi().await?;
    let mut decoder = FrameDecoder::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut handles: HashMap<u32, StreamIdentity> = HashMap::new();
    let mut greeted = false;
    loop {
        let Some(n) = rx.read(&mut buffer).await? else {
            return Ok(());
        };
        let mut input = &buffer[..n];
        let mut touched = BTreeSet::new();
        let mut replies = Vec::new();
        {
            let mut store = store.lock().map_err(|_| anyhow!("store lock poisoned"))?;
            while let Some(result) = decoder.next_message(&mut input) {
                let message = match result {
                    Ok(message) => message,
                    Err(error) => {
                        tracing::warn!(%error, "bad frame from a bridge");
                        continue;
                    }
                };
                match message {
                    Message::Hello(hello) => {
                        greeted = true;
                        tracing::info!(bridge = %hello.bridge_id, "bridge connected");
                        replies.push(Message::Welcome(Welcome {
                            version: ctg_proto::wire::PROTOCOL_VERSION,
                            hub_id: "mimamori-receiver".into(),
                            heartbeat_interval_ms: 5000,
                        }));
                    }
                    _ if !greeted => bail!("a bridge spoke before saying hello"),
                    Message::OpenStream(open) => {
                        let stream = store.stream(&open.identity)?;
                        replies.push(Message::StreamOpened(StreamOpened {
                            stream: open.stream,
                            next_sample_seq: stream.next_sample_seq,
                            next_event_seq: stream.next_event_seq,
                        }));
                        handles.insert(open.stream.0, open.identity);
                    }
                    Message::Samples { stream, block } => {
                        let identity = handles
                            .get(&stream.0)
                            .context("samples on an unopened stream")?;
                        store.put(identity, Record::Block(block))?;
                        touched.insert(stream.0);
                    }
                    Message::Event { stream, event } => {
                        let identity = handles
                            .get(&stream.0)
                            .context("event on an unopened stream")?;
                        store.put(identity, Record::Event(event))?;
                        touched.insert(stream.0);
                    }
                    Message::Heartbeat { .. }
                    | Message::CloseStream { .. }
                    | Message::BridgeStatus { .. } => {}
                    other => {
                        tracing::warn!(kind = other.kind(), "unexpected message from a bridge")
                    }
                }
            }
            for handle in touched {
                let identity = &handles[&handle];
                let (next_sample_seq, next_event_seq) = store.sync(identity)?;
                replies.push(Message::Ack(Ack {
                    stream: ctg_proto::wire::StreamHandle(handle),
                    next_sample_seq,
                    next_event_seq,
                }));
            }
        }
        for reply in replies {
            let bytes = encode_frame(&reply).map_err(|e| anyhow!("{e}"))?;
            tx.write_all(&bytes).await?;
        }
    }
}
