//! `ctg-hub`: the server at the core perinatal centre.
//!
//! ```text
//! bridges ──QUIC, mutual TLS──▶ ingest (per connection) ──commit──▶ store writer thread (SQLite,
//!                                  │ ◀── durable ── group commit per tick) ──▶ Ack to the bridge
//!                                  ▼
//!                      per stream: reorder to sequence order ─▶ recent window (1 h, first paint)
//!                                                            ├▶ SPSC ring ─▶ analysis worker (ctg-dsp)
//!                                                            │                 └─▶ findings ─┐
//!                                                            └▶ live feed (broadcast) ◀──────┘
//!                                                                    └─▶ WebSocket viewers (api)
//! ```
//!
//! Invariants: a block is acknowledged only after its commit returned (DESIGN.md 1); duplicates
//! are dropped by sequence number, gaps are asked for again (`ResendRequest`); analysis sees
//! every stream in sequence order; every queue is bounded and its overflow counted (DESIGN.md 4).

pub mod accounts;
/// The alert rules and dispatcher (crate `ctg-alerts`).
pub use ctg_alerts as alerts;
pub mod api;
mod api_records;
mod api_users;
pub mod ingest;
pub mod mail;
pub mod notify;
pub mod phrases;
pub mod pipeline;
pub mod recent;
pub mod records;
pub mod signin_guard;
pub mod store;
pub mod totp;
pub mod webpush;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use ctg_proto::model::{DeviceInfo, EventKind, SampleBlock, StreamIdentity};
use serde::Serialize;
use store::{Holdings, SqliteStore, Store, StreamRecord, Write};
use tokio::sync::{broadcast, mpsc, oneshot};

/// Milliseconds since the Unix epoch, now (the async shell's clock; the rules take it as input).
pub fn utc_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Committed blocks held beyond a gap, waiting for it to fill, before the live path skips it.
pub const REORDER_LIMIT: usize = 600;
/// Messages a slow viewer may fall behind before it is resynchronised from the recent window
/// (about two minutes of live blocks; every slot keeps its message until overwritten, so this is
/// also memory per stream).
pub const LIVE_CHANNEL: usize = 128;

/// What viewers receive for a stream.
#[derive(Clone, Debug)]
pub enum Live {
    /// Samples, in sequence order.
    Block(Arc<SampleBlock>),
    /// Samples the live path will not deliver (lost, or skipped after a long gap).
    Gap {
        /// First missing sequence number.
        from: u64,
        /// One past the last.
        until: u64,
    },
    /// An analysis finding, as JSON (`ctg_dsp::json::finding`).
    Finding(Arc<serde_json::Value>),
}

/// Counters of the hub, for `/api/status` and alarms.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Counters {
    /// Blocks committed.
    pub blocks_committed: u64,
    /// Duplicate blocks dropped.
    pub duplicate_blocks: u64,
    /// Resend requests sent.
    pub resend_requests: u64,
    /// Gaps the live path skipped after waiting.
    pub live_gaps_skipped: u64,
    /// Samples dropped because an analysis ring was full.
    pub analysis_ring_overflows: u64,
    /// Commit requests (one per ingest read that brought something new).
    pub commits: u64,
    /// Store transactions (each one fsync; a group commit serves many commit requests).
    pub store_transactions: u64,
    /// Findings neither stored nor checked by the alert rules (their task had stopped).
    pub findings_dropped: u64,
}

/// What the hub acknowledges for a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckState {
    /// Every sample below this is durable.
    pub next_sample_seq: u64,
    /// Every event below this is durable.
    pub next_event_seq: u64,
    /// A gap to ask the bridge to resend, `(from, until)`.
    pub gap: Option<(u64, u64)>,
}

/// The live state of one stream.
pub struct StreamLive {
    /// The stream.
    pub record: StreamRecord,
    /// What is claimed by an ingest (dedupe) …
    claimed: Holdings,
    /// … and what is committed (acks).
    committed: Holdings,
    reorder: BTreeMap<u64, Arc<SampleBlock>>,
    delivered: u64,
    recent: recent::RecentWindow,
    /// The live feed.
    pub feed: broadcast::Sender<Live>,
    analysis: pipeline::RingProducer,
    last_resend: Option<Instant>,
    /// Last block arrival (for stalled-stream detection).
    pub last_block_at: Option<Instant>,
    /// Connections of bridges that have this stream open now.
    pub connections: u32,
    /// The newest classification finding of each fetus (one, or one per fetal channel once
    /// they are analysed separately; the wall shows the highest level of them).
    pub latest_classifications: LatestLevels,
}

/// The newest classification of each fetus of a stream, by the finding's `fetal_channel`
/// (none for a stream's one fetus).
#[derive(Debug, Default)]
pub struct LatestLevels(Vec<(Option<String>, Arc<serde_json::Value>)>);

impl LatestLevels {
    /// A new classification finding.
    pub fn update(&mut self, finding: Arc<serde_json::Value>) {
        let fetus = finding["fetal_channel"].as_str().map(str::to_owned);
        if fetus.is_some() {
            // The fetuses are analysed separately now: the stream's one level is past.
            self.0.retain(|(f, _)| f.is_some());
        }
        match self.0.iter_mut().find(|(f, _)| *f == fetus) {
            Some((_, latest)) => *latest = finding,
            None => self.0.push((fetus, finding)),
        }
    }

    /// The one the wall shows: the highest JSOG level among the fetuses' newest (of equal
    /// levels, the first fetal channel's).
    pub fn shown(&self) -> Option<Arc<serde_json::Value>> {
        self.0
            .iter()
            .rev()
            .max_by_key(|(_, f)| f["jsog_level"].as_u64().unwrap_or(0))
            .map(|(_, f)| f.clone())
    }
}

impl std::fmt::Debug for StreamLive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamLive")
            .field("id", &self.record.id)
            .field("delivered", &self.delivered)
            .finish_non_exhaustive()
    }
}

enum StoreRequest {
    Open(
        StreamIdentity,
        DeviceInfo,
        oneshot::Sender<Result<(StreamRecord, Holdings), String>>,
    ),
    Commit(Vec<Write>, oneshot::Sender<Result<(), String>>),
}

/// The hub's shared state.
pub struct Hub {
    store_tx: mpsc::Sender<StoreRequest>,
    streams: Mutex<HashMap<i64, StreamLive>>,
    counters: Mutex<Counters>,
    pipeline: pipeline::Pipeline,
    db_path: PathBuf,
    hub_id: String,
    /// Users, sessions and the audit log.
    pub accounts: accounts::Accounts,
    /// Patients, episodes, advice, notes, attachments.
    pub records: records::Records,
    alerts: Mutex<alerts::AlertEngine>,
    /// Alert IDs below this are reserved in the database ([`notify::Notifier::reserve_alert_ids`]).
    alert_ids_until: AtomicU64,
    /// Alert changes (raised, updated, acknowledged, resolved), for viewers.
    pub alert_feed: broadcast::Sender<alerts::Alert>,
    findings_rx: Mutex<Option<pipeline::FindingsReceiver>>,
    reader: Mutex<SqliteStore>,
    store_transactions: Arc<AtomicU64>,
    /// Who is told about alerts, how (rosters, channels, deliveries).
    pub notifier: Arc<notify::Notifier>,
    centre: String,
    watchers: Mutex<HashMap<u64, (String, Vec<i64>)>>,
    connection_numbers: AtomicU64,
    /// One password check at a time (argon2id, tens of milliseconds of a core each): sign-ins
    /// tried in bulk wait here rather than take the cores ingest and analysis run on.
    pub(crate) password_checks: tokio::sync::Semaphore,
    /// Failed sign-ins counted per network address ([`SIGNIN_ADDRESS_GUARD`]), besides those
    /// per username in [`accounts::Accounts`]: a username's lock stops guessing at one account,
    /// this stops one machine trying many (or locking every midwife out one after another).
    pub(crate) signin_addresses: Mutex<signin_guard::SigninGuard>,
    /// Bumped whenever sessions may have ended (sign-out, an account disabled, a new
    /// password): each viewer's WebSocket checks its session again and closes if it is gone.
    sessions_ended: tokio::sync::watch::Sender<u64>,
    /// Set once the hub is stopping ([`Hub::stopping`]).
    stopping: std::sync::atomic::AtomicBool,
    /// The streams whose monitoring has ended ([`Hub::end_monitoring`]), with when (ms).
    ended: Mutex<HashMap<i64, i64>>,
}

/// Failed sign-ins from one network address within 15 minutes that refuse its sign-ins for
/// 15 minutes: six times a username's five, as a facility's staff may share one address (its
/// router), and well below what guessing needs.
pub const SIGNIN_ADDRESS_GUARD: signin_guard::GuardConfig = signin_guard::GuardConfig {
    max_failures: 30,
    window_ms: 15 * 60_000,
    lock_ms: 15 * 60_000,
    max_tracked: 10_000,
};

/// Why the monitoring of a stream could not be ended.
#[derive(Debug, thiserror::Error)]
pub enum EndMonitoringError {
    /// Its monitor is still sending: the wrong bed, or the monitor not yet off.
    #[error(
        "the monitor is still sending (data {0} s ago): switch it off or unplug it first, \
         or check that this is the right bed"
    )]
    StillSending(u64),
    /// No such stream.
    #[error("no such stream")]
    NoSuchStream,
    /// Refused by the records (no reason, too long) or not stored.
    #[error("{0:#}")]
    Records(#[from] anyhow::Error),
}

/// A stream that sent data this recently cannot be ended ([`Hub::end_monitoring`]), seconds.
pub const END_QUIET_S: u64 = 30;

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("db", &self.db_path)
            .finish_non_exhaustive()
    }
}

fn store_writer(
    mut store: SqliteStore,
    mut rx: mpsc::Receiver<StoreRequest>,
    transactions: &AtomicU64,
) {
    let mut since_compaction: HashMap<i64, usize> = HashMap::new();
    while let Some(first) = rx.blocking_recv() {
        let mut requests = vec![first];
        while requests.len() < 512 {
            match rx.try_recv() {
                Ok(r) => requests.push(r),
                Err(_) => break,
            }
        }
        let mut writes = Vec::new();
        let mut replies = Vec::new();
        for request in requests {
            match request {
                StoreRequest::Open(identity, device, reply) => {
                    let _ = reply.send(
                        store
                            .open_stream(&identity, &device)
                            .map_err(|e| format!("{e:#}")),
                    );
                }
                StoreRequest::Commit(w, reply) => {
                    for write in &w {
                        if let Write::Block(stream, _) = write {
                            *since_compaction.entry(*stream).or_default() += 1;
                        }
                    }
                    writes.extend(w);
                    replies.push(reply);
                }
            }
        }
        if replies.is_empty() {
            continue;
        }
        // One transaction, one fsync, for everything that came in this tick (group commit).
        let result = store.commit(&writes).map_err(|e| format!("{e:#}"));
        transactions.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = &result {
            tracing::error!(%error, "commit failed; nothing of it is acknowledged");
        }
        for reply in replies {
            let _ = reply.send(result.clone());
        }
        for (stream, count) in since_compaction.iter_mut() {
            if *count >= store::CHUNK_BLOCKS {
                *count = 0;
                if let Err(error) = store.compact(*stream, false) {
                    tracing::error!(stream, error = format!("{error:#}"), "compaction failed");
                }
            }
        }
    }
}

/// Prolonged-deceleration alerts raised this recently are taken up at a restart whatever their
/// state, so the analysis going over the same deceleration again (it resumes up to
/// [`pipeline::RESUME_WINDOWS_BACK`] windows back) does not raise it again.
const RESTORE_PROLONGED_MS: i64 = 2 * 3600 * 1000;

/// What the alert rules watched is kept this often ([`Hub::keep_watched`]).
const WATCHED_KEPT_EVERY_S: u64 = 10;

/// What the alert rules watched before a restart is watched again if kept this recently (a hub
/// off for longer starts without it: the labours it watched may be over).
const WATCHED_TAKEN_UP_MS: i64 = 3600 * 1000;

impl Hub {
    /// Opens the store at `db_path` and starts the store writer and the analysis workers;
    /// `centre` names the centre's facility (its staff see every partner facility).
    pub fn open(db_path: &Path, hub_id: &str, centre: &str) -> Result<Arc<Hub>> {
        Self::open_with(db_path, hub_id, centre, alerts::AlertsConfig::default())
    }

    /// [`Hub::open`] with the alerts configuration (rules and dispatch policy).
    pub fn open_with(
        db_path: &Path,
        hub_id: &str,
        centre: &str,
        config: alerts::AlertsConfig,
    ) -> Result<Arc<Hub>> {
        let rules = config.rules;
        let store = SqliteStore::open(db_path)?;
        let accounts = accounts::Accounts::open(db_path, centre)?;
        let records = records::Records::open(db_path)?;
        let (findings_tx, findings_rx) = mpsc::channel(4096);
        let (store_tx, store_rx) = mpsc::channel(1024);
        let store_transactions = Arc::new(AtomicU64::new(0));
        let transactions = store_transactions.clone();
        std::thread::Builder::new()
            .name("hub-store".into())
            .spawn(move || store_writer(store, store_rx, &transactions))?;
        // Alert IDs go on above those used before a restart.
        let notifier = Arc::new(notify::Notifier::open(db_path, centre, config.policy)?);
        let ended = records.ended_streams()?;
        let first_alert_id = notifier.reserve_alert_ids(0)?;
        let mut engine = alerts::AlertEngine::new(rules);
        engine.continue_after(first_alert_id);
        // The alerts someone still had to deal with are held again, under their IDs, and
        // the calling of those nobody acknowledged goes on where it stood.
        let now = utc_now_ms();
        engine.restore(notifier.held_alerts(now - RESTORE_PROLONGED_MS)?, now);
        let mut resumed = 0;
        for alert in engine.alerts() {
            if alert.resolved_ms.is_none() && alert.acknowledged.is_none() {
                notifier.resume(alert, now)?;
                resumed += 1;
            }
        }
        // And what it watched for going quiet: a stream or bridge that does not come back is
        // told as one that stops is.
        let kept = notifier.kept_watched().unwrap_or_else(|error| {
            tracing::error!(
                error = format!("{error:#}"),
                "what was watched could not be read"
            );
            None
        });
        // The streams whose contractions count on: those sending when the hub stopped, and
        // those with a tachysystole alert open.
        let mut counting: Vec<i64> = engine
            .alerts()
            .iter()
            .filter(|a| a.kind == alerts::AlertKind::Tachysystole && a.resolved_ms.is_none())
            .filter_map(|a| match &a.subject {
                alerts::Subject::Stream { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        if let Some((kept_at, watched)) = &kept
            && *kept_at >= now - WATCHED_TAKEN_UP_MS
        {
            counting.extend(watched.streams.iter().map(|(id, _)| *id));
        }
        counting.sort_unstable();
        counting.dedup();
        for stream in counting {
            // 20 covers the count's threshold (more than 15 in 30 minutes).
            match records.findings(stream, Some("contraction"), 20) {
                Ok(told) => engine
                    .recall_contractions(stream, told.iter().filter_map(|c| c["start_s"].as_f64())),
                Err(error) => tracing::error!(
                    stream,
                    error = format!("{error:#}"),
                    "the contractions told before the restart could not be read: the \
                     tachysystole count starts again"
                ),
            }
        }
        if let Some((kept_at, watched)) = kept {
            if kept_at >= now - WATCHED_TAKEN_UP_MS {
                tracing::info!(
                    streams = watched.streams.len(),
                    bridges = watched.bridges.len() + watched.bridges_gone.len(),
                    "watching again what was watched before the restart"
                );
                engine.watch_after_restart(watched, now);
            }
            // Kept every few seconds while running: how long the hub was not.
            let told = engine.on_hub_started(centre, now - kept_at, now);
            notifier.store_alerts(&told)?;
            for alert in &told {
                tracing::warn!(down_s = (now - kept_at) / 1000, "{}", alert.detail);
                notifier.on_alert(alert, now);
            }
        }
        // Running from now: a crash soon after this start is measured from it.
        if let Err(error) = notifier.store_watched(&engine.watched(now), now) {
            tracing::error!(
                error = format!("{error:#}"),
                "what the alerts watch was not kept"
            );
        }
        if !engine.alerts().is_empty() {
            tracing::info!(
                held = engine.alerts().len(),
                calling = resumed,
                "alerts from before the restart taken up"
            );
        }
        Ok(Arc::new(Hub {
            store_tx,
            streams: Mutex::new(HashMap::new()),
            counters: Mutex::new(Counters::default()),
            pipeline: pipeline::Pipeline::start(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
                findings_tx,
            )?,
            db_path: db_path.to_owned(),
            hub_id: hub_id.to_owned(),
            accounts,
            records,
            alerts: Mutex::new(engine),
            alert_ids_until: AtomicU64::new(first_alert_id + notify::ALERT_ID_BLOCK),
            alert_feed: broadcast::channel(1024).0,
            findings_rx: Mutex::new(Some(findings_rx)),
            reader: Mutex::new(SqliteStore::open(db_path)?),
            store_transactions,
            notifier,
            centre: centre.to_owned(),
            watchers: Mutex::new(HashMap::new()),
            connection_numbers: AtomicU64::new(0),
            password_checks: tokio::sync::Semaphore::new(1),
            signin_addresses: Mutex::new(signin_guard::SigninGuard::new(SIGNIN_ADDRESS_GUARD)),
            sessions_ended: tokio::sync::watch::Sender::new(0),
            stopping: std::sync::atomic::AtomicBool::new(false),
            ended: Mutex::new(ended),
        }))
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// What a stream's analysis, taken up again after a restart with its samples stopping at
    /// `until`, reads from the store ([`pipeline::Resume`]): the findings stored in reach, and
    /// the samples from the end of the last window whose level they hold
    /// ([`pipeline::resume_from`]); `None` at the stream's start, or if the store cannot say
    /// (the analysis then takes the window's samples as signal loss, as before).
    fn resume_of(&self, stream: i64, until: u64) -> Option<pipeline::Resume> {
        if until == 0 {
            return None;
        }
        let read = || -> Result<pipeline::Resume> {
            let (_, read_from_s) = pipeline::resume_read_from(until);
            let stored = self.records.findings_from(stream, read_from_s, 10_000)?;
            let from = pipeline::resume_from(until, &stored);
            Ok(pipeline::Resume {
                from,
                blocks: self.reader().blocks(stream, from, until)?,
                stored,
            })
        };
        read()
            .inspect_err(|error| {
                tracing::error!(
                    stream,
                    error = format!("{error:#}"),
                    "the stored window was not read: its samples are taken as signal loss"
                )
            })
            .ok()
    }

    /// The streams, locked (never across an await).
    pub fn streams(&self) -> MutexGuard<'_, HashMap<i64, StreamLive>> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counters so far.
    pub fn counters(&self) -> Counters {
        let mut counters = *self.counters.lock().unwrap_or_else(|p| p.into_inner());
        counters.analysis_ring_overflows = self.pipeline.overflows();
        counters.findings_dropped = self.pipeline.findings_dropped();
        counters.store_transactions = self.store_transactions.load(Ordering::Relaxed);
        counters
    }

    fn count(&self, f: impl FnOnce(&mut Counters)) {
        f(&mut self.counters.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Opens a stream for an ingest: its record and the holdings, refreshed from the store.
    pub async fn open_stream(
        self: &Arc<Self>,
        identity: &StreamIdentity,
        device: &DeviceInfo,
    ) -> Result<(StreamRecord, u64, u64)> {
        let (tx, rx) = oneshot::channel();
        self.store_tx
            .send(StoreRequest::Open(identity.clone(), device.clone(), tx))
            .await
            .map_err(|_| anyhow!("the store writer stopped"))?;
        let (record, holdings) = rx
            .await
            .context("the store writer stopped")?
            .map_err(anyhow::Error::msg)?;
        let next = (holdings.next_sample_seq(), holdings.next_event_seq);
        // A stream's analysis starts here (a reconnect keeps the one running): it needs the
        // gestational age of a patient put on the stream before (a restart).
        let live = self.streams().contains_key(&record.id);
        // A stream taken up again after a restart: its analysis worker reads the window it
        // stopped in, and what it had told, from the store (the bridge does not wait for it).
        let (weeks, resume) = if live {
            (None, None)
        } else {
            let (hub, id) = (self.clone(), record.id);
            let weeks = tokio::task::spawn_blocking(move || {
                hub.records
                    .stream_gestational_weeks(id)
                    .unwrap_or_else(|error| {
                        tracing::error!(
                            stream = id,
                            error = format!("{error:#}"),
                            "gestational age not read"
                        );
                        None
                    })
            })
            .await
            .unwrap_or_default();
            let (hub, until) = (self.clone(), next.0);
            let load: pipeline::ResumeLoader = Box::new(move || hub.resume_of(id, until));
            (weeks, Some(load))
        };
        let mut streams = self.streams();
        match streams.get_mut(&record.id) {
            Some(live) => {
                live.claimed = holdings.clone();
                live.committed = holdings;
                live.record = record.clone();
                live.connections += 1;
            }
            None => {
                let (feed, _) = broadcast::channel(LIVE_CHANNEL);
                let analysis = self.pipeline.add_stream(
                    record.id,
                    feed.clone(),
                    holdings.next_sample_seq(),
                    resume,
                );
                analysis.set_gestational_weeks(weeks);
                streams.insert(
                    record.id,
                    StreamLive {
                        record: record.clone(),
                        delivered: holdings.next_sample_seq(),
                        claimed: holdings.clone(),
                        committed: holdings,
                        reorder: BTreeMap::new(),
                        recent: recent::RecentWindow::new(),
                        feed,
                        analysis,
                        last_resend: None,
                        last_block_at: None,
                        connections: 1,
                        latest_classifications: LatestLevels::default(),
                    },
                );
            }
        }
        Ok((record, next.0, next.1))
    }

    /// Tells a live stream's analysis the gestational age of the patient put on it.
    pub fn tell_gestational_weeks(&self, stream: i64, weeks: Option<u32>) {
        if let Some(live) = self.streams().get(&stream) {
            live.analysis.set_gestational_weeks(weeks);
        }
    }

    /// A stream's device (its HL7 sender's PID segment) says which patient it monitors: unless
    /// she is already the stream's patient, she is found among her facility's patients by her
    /// patient ID (or added, with the name as sent) and a new episode puts her on the stream,
    /// written to the audit log as the system's doing (actor `-`, the target naming the sender). Staff can correct it as any episode.
    /// Returns the episode started, if one was.
    pub fn put_identified_patient(
        &self,
        stream: i64,
        facility: &str,
        patient_ref: &str,
        name: &str,
    ) -> Result<Option<i64>> {
        if self
            .records
            .stream_patient(stream)?
            .is_some_and(|p| p.details.patient_ref == patient_ref && p.details.facility == facility)
        {
            return Ok(None);
        }
        let (patient_id, weeks) = match self.records.patient_by_ref(facility, patient_ref)? {
            Some(patient) => (patient.id, patient.details.gestational_weeks),
            None => {
                let id = self.records.add_patient(&records::NewPatient {
                    facility: facility.to_owned(),
                    patient_ref: patient_ref.to_owned(),
                    name: name.to_owned(),
                    gestational_weeks: None,
                    gestational_days: None,
                    parity: None,
                    notes: String::new(),
                })?;
                let _ = self.accounts.audit(
                    "-",
                    "patient_added",
                    &format!("{id} (from stream {stream}'s HL7 sender)"),
                );
                (id, None)
            }
        };
        let episode = self.records.add_episode(patient_id, Some(stream))?;
        self.tell_gestational_weeks(stream, weeks);
        let _ = self.accounts.audit(
            "-",
            "episode_started",
            &format!("patient {patient_id}, episode {episode} (stream {stream}'s HL7 sender)"),
        );
        tracing::info!(
            stream,
            patient = patient_id,
            episode,
            "patient put on the stream, as its HL7 sender identified her"
        );
        Ok(Some(episode))
    }

    /// Claims a block for writing; false for a duplicate.
    pub fn claim_block(&self, stream: i64, block: &SampleBlock) -> bool {
        let Some(end) = block.end_seq() else {
            return false;
        };
        let mut streams = self.streams();
        let Some(live) = streams.get_mut(&stream) else {
            return false;
        };
        if live.claimed.overlaps(block.first_seq, end) {
            drop(streams);
            self.count(|c| c.duplicate_blocks += 1);
            return false;
        }
        live.claimed.add_samples(block.first_seq, end);
        true
    }

    /// Waits (up to 2 s) until the analysis ring of `stream` has room for `samples` more, so a
    /// bridge's backfill is slowed to the analysis' pace (QUIC flow control carries the wait
    /// back to the bridge) instead of overflowing the ring. Live streams never wait: a ring
    /// holds ten minutes and a worker drains it every 20 ms.
    pub async fn wait_for_analysis(&self, stream: i64, samples: usize) {
        let wanted = samples.min(pipeline::RING_SAMPLES);
        let started = Instant::now();
        loop {
            let room = self
                .streams()
                .get(&stream)
                .map_or(usize::MAX, |live| live.analysis.vacant());
            if room >= wanted || started.elapsed() > std::time::Duration::from_secs(2) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    /// Claims an event; false for a duplicate.
    pub fn claim_event(&self, stream: i64, seq: u64) -> bool {
        self.streams()
            .get_mut(&stream)
            .is_some_and(|live| live.claimed.add_event(seq))
    }

    /// Commits writes durably, then delivers them to the live path. Returns when durable.
    pub async fn commit(&self, writes: Vec<Write>) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.store_tx
            .send(StoreRequest::Commit(writes.clone(), tx))
            .await
            .map_err(|_| anyhow!("the store writer stopped"))?;
        rx.await
            .context("the store writer stopped")?
            .map_err(anyhow::Error::msg)?;
        self.count(|c| {
            c.commits += 1;
            c.blocks_committed += writes
                .iter()
                .filter(|w| matches!(w, Write::Block(..)))
                .count() as u64;
        });
        let mut streams = self.streams();
        let mut skipped = 0;
        let mut health = Vec::new();
        let mut identified = Vec::new();
        let mut resumed = Vec::new();
        for write in writes {
            match write {
                Write::Block(stream, block) => {
                    if let Some(live) = streams.get_mut(&stream) {
                        let end = block.end_seq().unwrap_or(block.first_seq);
                        live.committed.add_samples(block.first_seq, end);
                        // A stream whose monitoring ended: what it recorded before the end
                        // (a bridge's backfill) is stored and analysed but watches nothing;
                        // anything recorded after it brings the stream back. The block's time
                        // is the bridge's, read on the hub's clock (a bridge clock behind must
                        // not make new data look old, and keep a live bed off the wall).
                        let ended_at = self.ended().get(&stream).copied();
                        let recorded_at = |block: &SampleBlock| {
                            let identity = &live.record.identity;
                            let offset = self
                                .alert_engine()
                                .bridge_clock(&identity.bridge, &identity.facility)
                                .unwrap_or(0);
                            block.utc_ms.saturating_sub(offset)
                        };
                        // A bridge's fill for a time its monitor sent nothing is neither
                        // the monitor sending again nor a sign of life now.
                        match ended_at {
                            _ if block.is_filler() => {}
                            Some(at) if recorded_at(&block) <= at => {}
                            _ => {
                                if ended_at.is_some() {
                                    resumed.push(stream);
                                }
                                live.last_block_at = Some(Instant::now());
                                let signal = block
                                    .samples
                                    .iter()
                                    .any(|s| s.values[..3].iter().any(|&v| v != 0));
                                health.push((
                                    stream,
                                    live.record.identity.facility.clone(),
                                    signal,
                                ));
                            }
                        }
                        skipped += live.deliver(Arc::new(block));
                    }
                }
                Write::Event(stream, event) => {
                    if let Some(live) = streams.get_mut(&stream) {
                        live.committed.add_event(event.seq);
                        if let EventKind::PatientIdentified { patient_ref, name } = event.kind {
                            let facility = live.record.identity.facility.clone();
                            identified.push((stream, facility, patient_ref, name));
                        }
                    }
                }
            }
        }
        drop(streams);
        if skipped > 0 {
            self.count(|c| c.live_gaps_skipped += skipped);
        }
        resumed.dedup();
        for stream in resumed {
            if self.ended().remove(&stream).is_none() {
                continue;
            }
            tracing::warn!(
                stream,
                "an ended stream sends again: its monitoring goes on"
            );
            let _ = self.accounts.audit(
                "-",
                "monitoring_resumed",
                &format!("stream {stream}: its monitor sent again after the ending"),
            );
            if let Err(error) = self.records.resume_stream(stream) {
                tracing::error!(
                    stream,
                    error = format!("{error:#}"),
                    "the resumption was not stored"
                );
            }
        }
        for (stream, facility, patient_ref, name) in identified {
            if let Err(error) = self.put_identified_patient(stream, &facility, &patient_ref, &name)
            {
                tracing::error!(
                    stream,
                    error = format!("{error:#}"),
                    "the identified patient was not put on the stream"
                );
            }
        }
        let now = utc_now_ms();
        let changes: Vec<alerts::Alert> = {
            let mut engine = self.alert_engine();
            health
                .into_iter()
                .flat_map(|(stream, facility, signal)| {
                    engine.on_samples(stream, &facility, signal, now)
                })
                .collect()
        };
        self.publish(changes);
        Ok(())
    }

    fn alert_engine(&self) -> MutexGuard<'_, alerts::AlertEngine> {
        self.alerts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, changes: Vec<alerts::Alert>) {
        if changes.is_empty() {
            return;
        }
        let now = utc_now_ms();
        // Stored before anyone is told, so a restart takes up what was told.
        if let Err(error) = self.notifier.store_alerts(&changes) {
            tracing::error!(
                error = format!("{error:#}"),
                "alert changes were not stored: a restart would not take them up"
            );
        }
        let newest = changes.iter().map(|a| a.id).max().unwrap_or(0);
        if newest >= self.alert_ids_until.load(Ordering::Relaxed) {
            match self.notifier.reserve_alert_ids(newest) {
                Ok(_) => self
                    .alert_ids_until
                    .store(newest + notify::ALERT_ID_BLOCK, Ordering::Relaxed),
                Err(error) => {
                    tracing::error!(error = format!("{error:#}"), "alert IDs were not reserved")
                }
            }
        }
        for alert in changes {
            tracing::info!(id = alert.id, kind = ?alert.kind, subject = ?alert.subject, resolved = alert.resolved_ms.is_some(), "alert");
            self.notifier.on_alert(&alert, now);
            let _ = self.alert_feed.send(alert);
        }
    }

    /// Every alert the engine holds (oldest first).
    pub fn alerts(&self) -> Vec<alerts::Alert> {
        self.alert_engine().alerts().to_vec()
    }

    /// Keeps what the alert rules watch for going quiet (the streams sending, the bridges
    /// connected), so a restart goes on watching it; the alerts' 1-s clock calls it every
    /// [`WATCHED_KEPT_EVERY_S`] seconds.
    pub fn keep_watched(&self) {
        if self.stopping.load(Ordering::Relaxed) {
            return;
        }
        let now = utc_now_ms();
        let watched = self.alert_engine().watched(now);
        if let Err(error) = self.notifier.store_watched(&watched, now) {
            tracing::error!(
                error = format!("{error:#}"),
                "what the alerts watch was not kept: a restart would not watch it"
            );
        }
    }

    /// The hub is stopping: what the alerts watch is kept once more, as it is before the
    /// bridges' sessions close, and no more after (the bridges the hub itself sends away are
    /// not gone of their own accord: a restart gives them the grace, not their time gone).
    pub fn stopping(&self) {
        self.keep_watched();
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// The facility of stream `id` (`None`: no such stream), from the live streams or the store.
    pub fn stream_facility(&self, id: i64) -> Result<Option<String>> {
        if let Some(live) = self.streams().get(&id) {
            return Ok(Some(live.record.identity.facility.clone()));
        }
        Ok(self
            .reader()
            .streams()?
            .into_iter()
            .find(|s| s.id == id)
            .map(|s| s.identity.facility))
    }

    fn ended(&self) -> MutexGuard<'_, HashMap<i64, i64>> {
        self.ended.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the monitoring of `stream` has ended (it is left off the wall).
    pub fn is_ended(&self, stream: i64) -> bool {
        self.ended().contains_key(&stream)
    }

    /// When the monitoring of `stream` ended, if it has.
    pub fn ended_at(&self, stream: i64) -> Option<i64> {
        self.ended().get(&stream).copied()
    }

    /// Ends the monitoring of a stream (the labour over, the woman moved; the caller checks
    /// visibility and audits): it leaves the wall, the alerts of its conditions resolve and it
    /// is no longer watched for a stall. Refused while its monitor is still sending (within
    /// [`END_QUIET_S`]), so a live bed cannot be ended by mistake; a block stamped after the
    /// ending brings it back. Returns when it ended.
    pub fn end_monitoring(
        &self,
        stream: i64,
        by: &str,
        reason: &str,
    ) -> Result<i64, EndMonitoringError> {
        if let Some(live) = self.streams().get(&stream)
            && let Some(at) = live.last_block_at
            && at.elapsed().as_secs() < END_QUIET_S
        {
            return Err(EndMonitoringError::StillSending(at.elapsed().as_secs()));
        }
        if self.stream_facility(stream)?.is_none() {
            return Err(EndMonitoringError::NoSuchStream);
        }
        let at = self.records.end_stream(stream, by, reason)?;
        self.ended().insert(stream, at);
        let changes = self.alert_engine().on_stream_ended(stream, utc_now_ms());
        self.publish(changes);
        tracing::info!(stream, by, reason, "monitoring ended");
        Ok(at)
    }

    /// Acknowledges an alert (the caller checks visibility and audits).
    pub fn acknowledge(&self, id: u64, by: &str, reason: &str) -> Option<alerts::Alert> {
        let alert = self
            .alert_engine()
            .acknowledge(id, by, reason, utc_now_ms())?;
        self.publish(vec![alert.clone()]);
        Some(alert)
    }

    /// A bridge connection that had `streams` open has ended.
    pub fn streams_closed(&self, streams: &[i64]) {
        let mut live = self.streams();
        for id in streams {
            if let Some(stream) = live.get_mut(id) {
                stream.connections = stream.connections.saturating_sub(1);
            }
        }
    }

    /// Who watches which streams now (viewer connections and their subscriptions).
    pub fn watching(&self, connection: u64, username: &str, streams: Option<Vec<i64>>) {
        let mut watching = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        match streams {
            Some(streams) => {
                watching.insert(connection, (username.to_owned(), streams));
            }
            None => {
                watching.remove(&connection);
            }
        }
    }

    /// The users watching each stream now.
    pub fn watchers(&self) -> HashMap<i64, Vec<String>> {
        let mut out: HashMap<i64, Vec<String>> = HashMap::new();
        for (user, streams) in self
            .watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            for id in streams {
                let names = out.entry(*id).or_default();
                if !names.contains(user) {
                    names.push(user.clone());
                }
            }
        }
        out
    }

    /// A new viewer connection number.
    pub fn next_connection(&self) -> u64 {
        self.connection_numbers.fetch_add(1, Ordering::Relaxed)
    }

    /// What is wrong with the hub since the last call (counters that only grow under overload,
    /// the store writer's queue), in words; `None` when nothing.
    fn health_trouble(&self, last: &mut Counters) -> Option<String> {
        let now = self.counters();
        let mut trouble = Vec::new();
        if now.analysis_ring_overflows > last.analysis_ring_overflows {
            trouble.push(format!(
                "{} samples dropped from analysis",
                now.analysis_ring_overflows - last.analysis_ring_overflows
            ));
        }
        if now.live_gaps_skipped > last.live_gaps_skipped {
            trouble.push("the live path skipped a gap".to_owned());
        }
        if now.findings_dropped > last.findings_dropped {
            trouble.push("findings were not stored".to_owned());
        }
        if self.store_tx.capacity() < self.store_tx.max_capacity() / 10 {
            trouble.push("the store writer's queue is nearly full".to_owned());
        }
        *last = now;
        (!trouble.is_empty()).then(|| trouble.join("; "))
    }

    /// A bridge reported how full its spool is.
    pub fn bridge_spool(&self, bridge: &str, facility: &str, bytes: u64, max_bytes: u64) {
        let changes =
            self.alert_engine()
                .on_spool(bridge, facility, bytes, max_bytes, utc_now_ms());
        self.publish(changes);
    }

    /// A bridge's heartbeat with its UTC clock: its clock against the hub's, for the alert
    /// rules (`AlertKind::BridgeClock`) and the wall.
    pub fn bridge_clock(&self, bridge: &str, facility: &str, bridge_utc_ms: i64) {
        let changes =
            self.alert_engine()
                .on_bridge_clock(bridge, facility, bridge_utc_ms, utc_now_ms());
        self.publish(changes);
    }

    /// Each bridge's clock against the hub's, ms (positive: ahead), by (bridge, facility).
    pub fn bridge_clocks(&self) -> HashMap<(String, String), i64> {
        self.alert_engine()
            .bridge_clocks()
            .into_iter()
            .map(|(bridge, facility, offset)| ((bridge, facility), offset))
            .collect()
    }

    /// A bridge connected or left.
    pub fn bridge_seen(&self, bridge: &str, facility: &str, connected: bool) {
        let changes = self
            .alert_engine()
            .on_bridge(bridge, facility, connected, utc_now_ms());
        self.publish(changes);
    }

    /// Starts the findings task (store each finding, run the alert rules on it) and a 1-s
    /// clock for stalled streams and offline bridges. Call once, inside the runtime.
    pub fn start_alerts(self: &Arc<Self>) {
        let Some(mut findings) = self
            .findings_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        let hub = self.clone();
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while findings.recv_many(&mut batch, 512).await > 0 {
                // SQLite work off the reactor; a burst (a backfill) is one transaction.
                let store = {
                    let (hub, batch) = (hub.clone(), batch.clone());
                    tokio::task::spawn_blocking(move || {
                        // Decelerations under way are provisional (told every 15 s): for the
                        // alert rules only. A cross-channel coincidence under way is told once
                        // and stored, so a chart opened while it lasts shows it.
                        let rows: Vec<(i64, &serde_json::Value)> = batch
                            .iter()
                            .filter(|(_, f)| f["kind"] != "deceleration_under_way")
                            .map(|(s, f)| (*s, &**f))
                            .collect();
                        hub.records.add_findings(&rows)
                    })
                };
                match store.await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => tracing::error!(
                        findings = batch.len(),
                        error = format!("{error:#}"),
                        "findings were not stored"
                    ),
                    Err(error) => {
                        tracing::error!(findings = batch.len(), %error, "findings were not stored")
                    }
                }
                for (stream, finding) in batch.drain(..) {
                    let facility = hub.streams().get_mut(&stream).map(|s| {
                        if finding["kind"] == "classification" {
                            s.latest_classifications.update(finding.clone());
                        }
                        s.record.identity.facility.clone()
                    });
                    if let Some(facility) = facility.filter(|_| !hub.is_ended(stream)) {
                        let changes = hub.alert_engine().on_finding(
                            stream,
                            &facility,
                            &finding,
                            utc_now_ms(),
                        );
                        hub.publish(changes);
                    }
                }
            }
        });
        let hub = self.clone();
        tokio::spawn(async move {
            let mut clock = tokio::time::interval(std::time::Duration::from_secs(1));
            let mut last_counters = hub.counters();
            let mut seconds = 0u64;
            loop {
                clock.tick().await;
                seconds += 1;
                if seconds.is_multiple_of(WATCHED_KEPT_EVERY_S) {
                    let hub = hub.clone();
                    tokio::task::spawn_blocking(move || hub.keep_watched());
                }
                let now = utc_now_ms();
                let mut changes = hub.alert_engine().tick(now);
                let trouble = hub.health_trouble(&mut last_counters);
                changes.extend(hub.alert_engine().on_hub_health(&hub.centre, trouble, now));
                for (facility, channel) in hub.notifier.take_failing() {
                    let facility = if facility.is_empty() {
                        hub.centre.clone()
                    } else {
                        facility
                    };
                    changes.extend(
                        hub.alert_engine()
                            .on_channel_failing(&facility, &channel, now),
                    );
                }
                hub.publish(changes);
            }
        });
        tokio::spawn(self.notifier.clone().run());
    }

    /// What to acknowledge for a stream, and a gap to ask for (at most every 5 s per stream).
    pub fn ack_state(&self, stream: i64) -> Option<AckState> {
        let mut streams = self.streams();
        let live = streams.get_mut(&stream)?;
        let gap = live
            .committed
            .first_gap()
            .filter(|_| live.last_resend.is_none_or(|t| t.elapsed().as_secs() >= 5));
        if gap.is_some() {
            live.last_resend = Some(Instant::now());
        }
        let state = AckState {
            next_sample_seq: live.committed.next_sample_seq(),
            next_event_seq: live.committed.next_event_seq,
            gap,
        };
        drop(streams);
        if state.gap.is_some() {
            self.count(|c| c.resend_requests += 1);
        }
        Some(state)
    }

    /// Sessions may have ended (sign-out, an account disabled, a new password): open
    /// WebSockets check theirs again.
    pub fn sessions_changed(&self) {
        self.sessions_ended.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that changes whenever [`Hub::sessions_changed`] is called.
    pub fn session_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.sessions_ended.subscribe()
    }

    /// The hub's name in `Welcome`.
    pub fn hub_id(&self) -> &str {
        &self.hub_id
    }

    /// The store's query connection (SQLite WAL: its reads do not block the writer), opened
    /// once; call from a blocking thread.
    pub fn reader(&self) -> MutexGuard<'_, SqliteStore> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl StreamLive {
    /// Takes a committed block into the in-order live path; returns gaps skipped.
    fn deliver(&mut self, block: Arc<SampleBlock>) -> u64 {
        let mut skipped = 0;
        if block.first_seq < self.delivered {
            return 0; // late: in the store, but the live path has moved on
        }
        self.reorder.insert(block.first_seq, block);
        if self.reorder.len() > REORDER_LIMIT
            && let Some((&first, _)) = self.reorder.first_key_value()
            && first > self.delivered
        {
            let _ = self.feed.send(Live::Gap {
                from: self.delivered,
                until: first,
            });
            self.analysis.gap(first - self.delivered);
            self.delivered = first;
            skipped += 1;
        }
        while let Some(next) = self.reorder.remove(&self.delivered) {
            self.delivered = next.end_seq().unwrap_or(self.delivered + 1);
            self.analysis.set_modes(&next.modes);
            self.analysis
                .set_flags(next.flags, next.first_seq, self.delivered);
            self.analysis.push(&next.samples);
            self.recent.push(&next);
            // A bridge's fill for a time its monitor sent nothing (up to a week of no signal,
            // in one go when it comes back) goes to the viewers as the gap it is, not as
            // samples to hold: a chart showing it fetches it from the store.
            let live = if next.is_filler() {
                Live::Gap {
                    from: next.first_seq,
                    until: self.delivered,
                }
            } else {
                Live::Block(next)
            };
            let _ = self.feed.send(live);
        }
        skipped
    }

    /// Samples in the recent window, and the newest of them.
    pub fn recent_summary(&self) -> (u64, Option<ctg_proto::model::Sample>) {
        (self.recent.samples(), self.recent.last_sample())
    }

    /// The recent window (for a viewer's first paint), oldest first.
    pub fn recent(&self) -> recent::Snapshot {
        self.recent.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(jsog_level: u8, fetus: Option<&str>) -> Arc<serde_json::Value> {
        let mut v = serde_json::json!({"kind": "classification", "jsog_level": jsog_level});
        if let Some(f) = fetus {
            v["fetal_channel"] = serde_json::json!(f);
        }
        Arc::new(v)
    }

    /// The wall shows the higher of two twins' newest levels, and forgets the stream's one level
    /// once its fetuses are analysed separately.
    #[test]
    fn the_wall_shows_the_highest_newest_level_of_the_fetuses() {
        let mut latest = LatestLevels::default();
        assert!(latest.shown().is_none());
        latest.update(level(4, None));
        assert_eq!(latest.shown().unwrap()["jsog_level"], 4);
        latest.update(level(2, Some("fhr1")));
        assert_eq!(
            latest.shown().unwrap()["jsog_level"],
            2,
            "the single level is past"
        );
        latest.update(level(3, Some("fhr2")));
        assert_eq!(latest.shown().unwrap()["fetal_channel"], "fhr2");
        latest.update(level(1, Some("fhr2")));
        latest.update(level(2, Some("fhr1")));
        assert_eq!(latest.shown().unwrap()["fetal_channel"], "fhr1");
        latest.update(level(2, Some("fhr2")));
        assert_eq!(
            latest.shown().unwrap()["fetal_channel"],
            "fhr1",
            "of equal levels, the first fetal channel's"
        );
    }
}
