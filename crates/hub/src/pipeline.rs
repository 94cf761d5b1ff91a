//! The analysis pipeline: per stream a lock-free SPSC ring buffer (ringbuf) from the ingest to
//! an analysis worker, a worker pool sized to the cores, CPU work off the async reactor.
//!
//! Each stream is pinned to one worker (round robin), which owns its analysis; the ingest side
//! only copies samples into the ring. A full ring drops the samples it cannot take and counts
//! them (DESIGN.md 4): the ring holds ten minutes, so it fills only if a worker stalls.
//! Findings go out on the stream's live feed as JSON.
//!
//! **Which fetal heart.** A monitor records the fetal heart rate on FHR1, FHR2 or FHR3,
//! depending on the socket the transducer is plugged into (a scalp electrode often records on
//! FHR2), and twins on two of them. One `ctg_dsp::Analyzer` reads the stream's fetus from the
//! channel its transducer is on (FHR1 first; where the source does not say, the one carrying a
//! rate) and fills its gaps from the other, as the offline analysis reads a recording from the
//! channel that carries it: a fetus on either socket, or moved from one to the other, is
//! analysed. Once two fetal channels are recorded at the same time (each with a transducer
//! connected, or, where the source does not say, each carrying a rate), every fetal channel is
//! analysed on its own from then on, the first analyzer's without the fill, so two fetuses
//! are never mixed in one trace; their
//! findings carry `"fetal_channel"` (`"fhr1"`, `"fhr2"`, `"fhr3"`). The same fetus on two
//! transducers at once (a scalp electrode placed while the Doppler still runs, or a twin's
//! transducer slipped onto the other twin) is then analysed once per channel: each analysis is
//! of what its channel records; and the first two channels are checked against each other
//! (`ctg_dsp::cross_channel`): when they begin to record one heart the stream says so
//! (`cross_channel_under_way`, stored, so a chart opened meanwhile shows it) and again when
//! they part (the finding `cross_channel`); the alert rules raise a cross-channel alert in
//! between, since the other twin may be unwatched.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use ctg_dsp::cross_channel::{CrossChannel, CrossChannelConfig};
use ctg_dsp::json::UnderWayUpdates;
use ctg_dsp::{Analyzer, AnalyzerConfig, Finding, Profile};
use ctg_proto::model::{BlockFlags, Channel, Modes, Sample, TransducerMode};
use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};
use tokio::sync::broadcast;

use crate::Live;

/// Samples a ring holds (ten minutes at 4 Hz).
pub const RING_SAMPLES: usize = 4 * 600;
/// Longest gap fed to the analysis as signal loss (one hour); after a longer one the stream's
/// analysis starts again where its samples resume.
const MAX_GAP_SAMPLES: u64 = 4 * 3600;
/// The analysis's classification windows, samples (10 minutes): an analysis that starts
/// again starts on their grid in the stream, so its windows line up with those before.
const WINDOW_SAMPLES: u64 = 4 * 600;
/// Gaps waiting for the worker, at most (more are added to the newest).
const MAX_GAPS_WAITING: usize = 1024;

/// Where the samples a ring carries are not consecutive in the stream: after the ring's
/// `at`-th sample, `missing` samples of the stream are not in it (a gap the live path skipped,
/// samples the full ring could not take, or, at `at` = 0, the stream's samples before the hub
/// took it up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Gap {
    at: u64,
    missing: u64,
}

/// The gaps between the ingest and the worker, in order.
#[derive(Debug, Default)]
struct GapQueue {
    gaps: Mutex<VecDeque<Gap>>,
    /// How many wait: the worker, visiting every stream, locks the queue only when some do.
    waiting: AtomicUsize,
}

type Gaps = Arc<GapQueue>;

/// The monitor's own cross-channel verification (the Series 50 status bit "coincidence
/// detected", [`BlockFlags::COINCIDENCE`]: the monitor found a fetal channel recording the
/// same heart as another channel, the mother's or the other twin's), told as the stream's
/// cross-channel messages with `"source": "monitor"`: `cross_channel_under_way` once the flag
/// has been set for [`MonitorCoincidence::BEGIN_AFTER`] samples, `cross_channel` once it has
/// been clear for [`MonitorCoincidence::END_AFTER`], at their times in the stream (where it was
/// first set, and first clear). A flag that flickers (a monitor at the edge of its own test)
/// tells nothing, or one episode, rather than an alert raised and resolved every second.
#[derive(Debug, Default)]
pub struct MonitorCoincidence {
    /// Where the flag was last set after being clear, and where it was last cleared after
    /// being set (sequence numbers).
    set_since: Option<u64>,
    clear_since: Option<u64>,
    /// The episode told: where it began.
    told: Option<u64>,
}

impl MonitorCoincidence {
    /// Samples the flag must stay set before an episode is told (5 s).
    pub const BEGIN_AFTER: u64 = 20;
    /// Samples the flag must stay clear before the episode is over (15 s).
    pub const END_AFTER: u64 = 60;

    /// The message a block's flags make due, if any: the block runs from `first_seq` to
    /// `end_seq` (exclusive).
    pub fn block(
        &mut self,
        flags: BlockFlags,
        first_seq: u64,
        end_seq: u64,
    ) -> Option<serde_json::Value> {
        let seconds = |seq: u64| seq as f64 / 4.0;
        if flags.contains(BlockFlags::COINCIDENCE) {
            self.clear_since = None;
            let since = *self.set_since.get_or_insert(first_seq);
            if self.told.is_none() && end_seq.saturating_sub(since) >= Self::BEGIN_AFTER {
                self.told = Some(since);
                return Some(serde_json::json!({
                    "kind": "cross_channel_under_way", "start_s": seconds(since),
                    "channels": [], "source": "monitor",
                }));
            }
        } else {
            self.set_since = None;
            let since = *self.clear_since.get_or_insert(first_seq);
            if let Some(start) = self.told
                && end_seq.saturating_sub(since) >= Self::END_AFTER
            {
                self.told = None;
                return Some(serde_json::json!({
                    "kind": "cross_channel", "start_s": seconds(start),
                    "end_s": seconds(since), "channels": [], "source": "monitor",
                }));
            }
        }
        None
    }
}

/// Where a stream taken up again after a hub restart had got to: its analysis reads the stored
/// samples from the end of the last 10-minute window whose level had been told (rather than
/// taking them as signal loss), and tells only what the findings stored before the restart do
/// not already cover. A window's level comes about 8.5 minutes after its end at the soonest
/// (the baseline's look-ahead), later while an event across its end is open: starting at the
/// window the restart fell in would lose the level of the window before, and the events and
/// contractions between what had been told and that window's start ([`resume_from`]).
#[derive(Debug, Default)]
pub struct Resume {
    /// Where the analysis starts again: a sequence number on the 10-minute grid.
    pub from: u64,
    /// The stored blocks from `from` up to where the stream resumes, oldest first (samples
    /// between them are signal loss).
    pub blocks: Vec<ctg_proto::model::SampleBlock>,
    /// The findings stored from [`resume_read_from`] on.
    pub stored: Vec<serde_json::Value>,
}

/// How many 10-minute windows before the one a restart fell in the analysis may start again
/// at most: a level waits for the baseline's look-ahead (8.5 minutes) and for the events open
/// across its end (10 minutes at most), so no level is more than two windows behind.
pub const RESUME_WINDOWS_BACK: u64 = 3;

/// The earliest sequence number a stream taken up at `until` may start again from, and the
/// time (seconds) from which its stored findings are read: a window earlier, so a finding
/// that started before and ended after is seen too.
pub fn resume_read_from(until: u64) -> (u64, f64) {
    let earliest =
        (until - until % WINDOW_SAMPLES).saturating_sub(RESUME_WINDOWS_BACK * WINDOW_SAMPLES);
    (
        earliest,
        earliest.saturating_sub(WINDOW_SAMPLES) as f64 / 4.0,
    )
}

/// Where the analysis of a stream taken up at `until` starts again, given the findings stored
/// before the restart: the end of the last window whose level was told (of the fetus furthest
/// behind, among those told within a window of the latest), on the 10-minute grid, no earlier
/// than [`resume_read_from`] allows and no later than the start of the window `until` falls
/// in. With no level stored in reach, the earliest.
pub fn resume_from(until: u64, stored: &[serde_json::Value]) -> u64 {
    let (earliest, _) = resume_read_from(until);
    let latest = until - until % WINDOW_SAMPLES;
    // Per fetus, where its levels had been told up to.
    let told = ToldBefore::of(stored);
    let levels: Vec<f64> = told.horizons("classification").collect();
    let newest = levels.iter().copied().fold(f64::MIN, f64::max);
    let behind = levels
        .iter()
        .copied()
        .filter(|&end| end >= newest - (WINDOW_SAMPLES / 4) as f64)
        .fold(f64::MAX, f64::min);
    if behind == f64::MAX {
        return earliest;
    }
    let seq = (behind.max(0.0) * 4.0) as u64;
    (seq - seq % WINDOW_SAMPLES).clamp(earliest, latest)
}

/// Reads a [`Resume`] from the store: called on the stream's analysis worker, so a reconnecting
/// bridge does not wait for it (`None`: nothing to read, the window's samples are signal loss).
pub type ResumeLoader = Box<dyn FnOnce() -> Option<Resume> + Send>;

/// Where each kind of finding (of each fetus, channel and source) had been told up to before
/// a restart: the latest end (or start, for one without an end) among the stored ones. A
/// finding of the same kind starting before it was already told, or overlaps one that was
/// (same-kind findings do not overlap), so it is not told again.
#[derive(Debug, Default)]
struct ToldBefore(std::collections::HashMap<String, f64>);

impl ToldBefore {
    fn key(json: &serde_json::Value) -> String {
        let text = |field: &str| json[field].as_str().unwrap_or("").to_owned();
        format!(
            "{}|{}|{}|{}",
            text("kind"),
            text("fetal_channel"),
            text("channel"),
            text("source")
        )
    }

    fn of(stored: &[serde_json::Value]) -> Self {
        let mut told = std::collections::HashMap::new();
        for json in stored {
            let Some(start) = json["start_s"].as_f64() else {
                continue;
            };
            let until = json["end_s"].as_f64().unwrap_or(start);
            let horizon = told.entry(Self::key(json)).or_insert(f64::MIN);
            *horizon = f64::max(*horizon, until);
        }
        Self(told)
    }

    /// The horizons of the findings of one kind (one per fetus, channel and source).
    fn horizons<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = f64> + 'a {
        self.0
            .iter()
            .filter(move |(key, _)| key.split('|').next() == Some(kind))
            .map(|(_, &horizon)| horizon)
    }

    /// Whether `json` (times in the stream) was told before the restart.
    fn covers(&self, json: &serde_json::Value) -> bool {
        if self.0.is_empty() {
            return false; // a stream analysed from its start: nothing told before
        }
        let (Some(&horizon), Some(start)) =
            (self.0.get(&Self::key(json)), json["start_s"].as_f64())
        else {
            return false;
        };
        if json["end_s"].is_f64() {
            start < horizon
        } else {
            start <= horizon
        }
    }
}

/// The ingest's end of a stream's ring.
pub struct RingProducer {
    producer: HeapProd<Sample>,
    overflows: Arc<AtomicU64>,
    /// The transducer modes of the newest block.
    modes: Arc<Mutex<Modes>>,
    /// The patient's gestational age, completed weeks (0: unknown).
    gestational_weeks: Arc<AtomicU32>,
    /// Samples the ring has taken so far.
    taken: u64,
    /// Where the ring's samples are not consecutive in the stream.
    gaps: Gaps,
    /// The monitor's coincidence flag, and where its messages go.
    monitor: MonitorCoincidence,
    stream: i64,
    findings: FindingsSender,
    feed: broadcast::Sender<Live>,
    findings_dropped: Arc<AtomicU64>,
}

impl RingProducer {
    /// The status flags of the block about to be pushed, which runs from `first_seq` to
    /// `end_seq`: the monitor's own coincidence detection is told to the store, the alert
    /// rules and the viewers when it begins and when it ends ([`MonitorCoincidence`]).
    pub fn set_flags(&mut self, flags: BlockFlags, first_seq: u64, end_seq: u64) {
        let Some(json) = self.monitor.block(flags, first_seq, end_seq) else {
            return;
        };
        let json = Arc::new(json);
        // The ingest must not wait: a full findings channel (the store far behind) loses this
        // message, counted and logged as the workers' would be.
        if self.findings.try_send((self.stream, json.clone())).is_err() {
            self.findings_dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                stream = self.stream,
                "the findings channel is full or closed: the monitor's coincidence was not stored or checked"
            );
        }
        let _ = self.feed.send(Live::Finding(json));
    }

    /// Copies samples into the ring; what does not fit is counted, and the analysis takes it
    /// as signal loss (so its findings stay at their times in the stream).
    pub fn push(&mut self, samples: &[Sample]) {
        let taken = self.producer.push_slice(samples);
        self.taken += taken as u64;
        if taken < samples.len() {
            let dropped = (samples.len() - taken) as u64;
            self.overflows.fetch_add(dropped, Ordering::Relaxed);
            self.gap(dropped);
        }
    }

    /// The transducer modes of the samples about to be pushed: the analysis turns its
    /// maternal-coincidence rule off for a scalp electrode (`ctg_dsp::PrepConfig::direct_ecg`),
    /// and learns from them which fetal channels have a transducer (the module's "which fetal
    /// heart"). The worker reads them when it takes samples, so a switch lands within a block
    /// or so.
    pub fn set_modes(&self, modes: &Modes) {
        *self.modes.lock().unwrap_or_else(|p| p.into_inner()) = *modes;
    }

    /// The gestational age of the patient on the stream (`None`: unknown), for the
    /// acceleration criteria (≥ 10 bpm for ≥ 10 s before 32 weeks, NICHD 2008, JSOG). The
    /// worker applies it when it next takes samples.
    pub fn set_gestational_weeks(&self, weeks: Option<u32>) {
        self.gestational_weeks
            .store(weeks.unwrap_or(0), Ordering::Relaxed);
    }

    /// Room left in the ring, samples.
    pub fn vacant(&self) -> usize {
        self.producer.vacant_len()
    }

    /// Tells the analysis that the stream's next `n` samples are missing: up to an hour it
    /// takes them as signal loss; after a longer gap it starts again where the samples resume.
    /// Either way its findings keep their times in the stream.
    pub fn gap(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        let mut gaps = self.gaps.gaps.lock().unwrap_or_else(|p| p.into_inner());
        let full = gaps.len() >= MAX_GAPS_WAITING;
        match gaps.back_mut() {
            Some(last) if last.at == self.taken || full => {
                last.missing = last.missing.saturating_add(n);
            }
            _ => gaps.push_back(Gap {
                at: self.taken,
                missing: n,
            }),
        }
        self.gaps.waiting.store(gaps.len(), Ordering::Release);
    }
}

struct NewStream {
    id: i64,
    consumer: HeapCons<Sample>,
    feed: broadcast::Sender<Live>,
    modes: Arc<Mutex<Modes>>,
    gestational_weeks: Arc<AtomicU32>,
    gaps: Gaps,
    /// A stream taken up again after a restart: what reads its stored window, and where the
    /// stream resumes.
    resume: Option<(ResumeLoader, u64)>,
}

/// Where findings go besides the stream's feed (the store and the alert rules); bounded, and a
/// full channel makes the analysis wait.
pub type FindingsSender = tokio::sync::mpsc::Sender<(i64, Arc<serde_json::Value>)>;
/// The other end of [`FindingsSender`].
pub type FindingsReceiver = tokio::sync::mpsc::Receiver<(i64, Arc<serde_json::Value>)>;

/// The worker pool.
pub struct Pipeline {
    workers: Vec<std::sync::mpsc::Sender<NewStream>>,
    next: AtomicUsize,
    overflows: Arc<AtomicU64>,
    findings_dropped: Arc<AtomicU64>,
    /// For the messages the ingest makes itself ([`RingProducer::set_flags`]).
    findings: FindingsSender,
}

impl Pipeline {
    /// Starts `workers` analysis threads.
    pub fn start(workers: usize, findings: FindingsSender) -> Result<Self> {
        let mut senders = Vec::new();
        let findings_dropped = Arc::new(AtomicU64::new(0));
        for n in 0..workers.max(1) {
            let (tx, rx) = std::sync::mpsc::channel();
            let findings = findings.clone();
            let dropped = findings_dropped.clone();
            std::thread::Builder::new()
                .name(format!("hub-analysis-{n}"))
                .spawn(move || worker(rx, findings, &dropped))?;
            senders.push(tx);
        }
        Ok(Self {
            workers: senders,
            next: AtomicUsize::new(0),
            overflows: Arc::new(AtomicU64::new(0)),
            findings_dropped,
            findings,
        })
    }

    /// Samples dropped because a ring was full.
    pub fn overflows(&self) -> u64 {
        self.overflows.load(Ordering::Relaxed)
    }

    /// Findings neither stored nor checked (the findings task had stopped).
    pub fn findings_dropped(&self) -> u64 {
        self.findings_dropped.load(Ordering::Relaxed)
    }

    /// A ring for a stream, its consumer handed to the next worker; the stream's samples go
    /// into it from sequence number `first_seq` on (a stream taken up again after a restart
    /// has its earlier samples in the store: the analysis starts at `first_seq`, and its
    /// findings count their times from the stream's first sample).
    ///
    /// With `resume` (a restart), the worker first reads the stored samples from the end of the
    /// last level told up to `first_seq` and analyses them ([`Resume`], [`resume_from`]).
    pub fn add_stream(
        &self,
        id: i64,
        feed: broadcast::Sender<Live>,
        first_seq: u64,
        resume: Option<ResumeLoader>,
    ) -> RingProducer {
        let (producer, consumer) = HeapRb::<Sample>::new(RING_SAMPLES).split();
        let resume = resume.filter(|_| first_seq > 0);
        let has_resume = resume.is_some();
        let modes = Arc::new(Mutex::new(Modes::default()));
        let gestational_weeks = Arc::new(AtomicU32::new(0));
        let gaps: Gaps = Arc::default();
        let n = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        if self.workers[n]
            .send(NewStream {
                id,
                consumer,
                feed: feed.clone(),
                modes: modes.clone(),
                gestational_weeks: gestational_weeks.clone(),
                gaps: gaps.clone(),
                resume: resume.map(|load| (load, first_seq)),
            })
            .is_err()
        {
            tracing::error!(
                stream = id,
                "analysis worker gone; this stream is not analysed"
            );
        }
        let mut ring = RingProducer {
            producer,
            overflows: self.overflows.clone(),
            modes,
            gestational_weeks,
            taken: 0,
            gaps,
            monitor: MonitorCoincidence::default(),
            stream: id,
            findings: self.findings.clone(),
            feed,
            findings_dropped: self.findings_dropped.clone(),
        };
        // Taken up again: the worker reads the stored samples up to `first_seq` first.
        if !has_resume {
            ring.gap(first_seq);
        }
        ring
    }
}

/// The fetal channels, in the order their analyses are kept.
const FETAL: [Channel; 3] = [Channel::Fhr1, Channel::Fhr2, Channel::Fhr3];

/// Whether the monitor says a fetal transducer is connected to a channel.
fn connected(channel: Channel, modes: &Modes) -> bool {
    matches!(
        modes.get(channel),
        TransducerMode::Ultrasound | TransducerMode::Decg
    )
}

/// Whether a channel carries a rate in these samples.
fn carrying(channel: Channel, samples: &[Sample]) -> bool {
    samples.iter().any(|s| s.value(channel) != 0)
}

/// Whether a fetal channel is recorded in these samples: a transducer is connected to it, or,
/// where the source does not say (`Unknown`), it carries a rate.
fn recorded(channel: Channel, modes: &Modes, samples: &[Sample]) -> bool {
    connected(channel, modes)
        || (modes.get(channel) == TransducerMode::Unknown && carrying(channel, samples))
}

/// The analysis of one fetal heart of a stream.
struct Fetus {
    analyzer: Analyzer,
    under_way: UnderWayUpdates,
}

/// A stream's analyses: one per fetus ([`FETAL`] order; the module's "which fetal heart").
struct StreamAnalysis {
    stream: NewStream,
    /// The first reads the one fetus (FHR1 or FHR2, the other filling its gaps until
    /// `separate`); once `separate`, one more for each other fetal channel recorded since.
    fetuses: Vec<Fetus>,
    /// Whether two fetal channels have been recorded at the same time.
    separate: bool,
    /// Once `separate`: whether the first two of them record one heart (twins' transducers on
    /// the same fetus), indexed as the analyzers' samples.
    cross: Option<CrossChannel>,
    /// The stream's sequence number of the analyzers' first sample (non-zero for a stream
    /// taken up again, or after a gap too long to take as signal loss).
    first_seq: u64,
    /// Samples taken from the ring so far.
    taken: u64,
    /// What was told before a restart (empty for a stream analysed from its start).
    told_before: ToldBefore,
}

/// Where a worker's findings go.
struct Out<'a> {
    findings: &'a FindingsSender,
    dropped: &'a AtomicU64,
}

impl Out<'_> {
    /// Sends a finding of `stream` to the store, the alert rules and the stream's viewers.
    fn send(&self, stream: &NewStream, json: serde_json::Value) {
        let json = Arc::new(json);
        tracing::debug!(stream = stream.id, ?json, "finding");
        // A full channel makes this worker wait (and, through the rings, a backfilling
        // bridge): findings are stored from it, so none is dropped while the hub runs.
        if self
            .findings
            .blocking_send((stream.id, json.clone()))
            .is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                stream = stream.id,
                "the findings task has stopped: a finding was not stored or checked"
            );
        }
        let _ = stream.feed.send(Live::Finding(json));
    }
}

/// The one fetus's analysis of a stream, before two fetal channels are recorded at once.
fn first_fetus() -> Fetus {
    let config = AnalyzerConfig::new(Profile::Jsog).with_fetal_channel(Channel::Fhr1);
    Fetus {
        analyzer: Analyzer::new(config),
        under_way: UnderWayUpdates::default(),
    }
}

impl StreamAnalysis {
    fn new(stream: NewStream) -> Self {
        Self {
            stream,
            fetuses: vec![first_fetus()],
            separate: false,
            cross: None,
            first_seq: 0,
            taken: 0,
            told_before: ToldBefore::default(),
        }
    }

    /// A stream taken up again after a restart: its analysis starts on the 10-minute grid
    /// where the last level told before the restart ended ([`Resume::from`]) and reads the
    /// stored samples up to where the stream resumes (as if the hub had not stopped, but for
    /// what came before that), telling only what the findings stored before the restart do not
    /// cover.
    fn take_up(&mut self, out: &Out<'_>) {
        let Some((load, until)) = self.stream.resume.take() else {
            return;
        };
        let Some(resume) = load() else {
            // Nothing read: the window's samples are signal loss (the gap before `until`).
            self.gap(until, out);
            return;
        };
        debug_assert!(resume.from <= until && resume.from % WINDOW_SAMPLES == 0);
        self.first_seq = resume.from.min(until);
        self.told_before = ToldBefore::of(&resume.stored);
        let mut at = self.first_seq;
        for block in &resume.blocks {
            // Only what lies between `from` (or what was read) and `until`.
            let start = block.first_seq.max(at);
            let end = block.end_seq().unwrap_or(start).min(until);
            if end <= start {
                continue;
            }
            in_lost_blocks(start - at, |lost| self.feed(lost, out));
            let samples = &block.samples
                [(start - block.first_seq) as usize..(end - block.first_seq) as usize];
            self.analyse(samples, &block.modes, out);
            at = end;
        }
        in_lost_blocks(until - at, |lost| self.feed(lost, out));
        tracing::info!(
            stream = self.stream.id,
            from = self.first_seq,
            until,
            "analysis taken up again from the stored window"
        );
    }

    /// Takes what the ring holds, up to the next gap (or the gap itself): false when there
    /// was nothing.
    fn take(&mut self, buffer: &mut [Sample], out: &Out<'_>) -> bool {
        // The samples in the ring now, counted before the gaps are looked at: a gap the
        // ingest adds after this look came after these samples.
        let available = self.stream.consumer.occupied_len().min(buffer.len());
        if self.stream.gaps.waiting.load(Ordering::Acquire) == 0 {
            return self.take_samples(&mut buffer[..available], out);
        }
        let next_gap = {
            let mut gaps = self
                .stream
                .gaps
                .gaps
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            match gaps.front() {
                Some(gap) if gap.at <= self.taken => {
                    let gap = gaps.pop_front();
                    self.stream
                        .gaps
                        .waiting
                        .store(gaps.len(), Ordering::Release);
                    gap
                }
                Some(gap) => {
                    let room = (gap.at - self.taken).min(buffer.len() as u64) as usize;
                    drop(gaps);
                    return self.take_samples(&mut buffer[..room], out);
                }
                None => None,
            }
        };
        match next_gap {
            Some(gap) => {
                self.gap(gap.missing, out);
                true
            }
            None => self.take_samples(&mut buffer[..available], out),
        }
    }

    fn take_samples(&mut self, buffer: &mut [Sample], out: &Out<'_>) -> bool {
        let n = self.stream.consumer.pop_slice(buffer);
        if n == 0 {
            return false;
        }
        self.taken += n as u64;
        let modes = *self.stream.modes.lock().unwrap_or_else(|p| p.into_inner());
        self.analyse(&buffer[..n], &modes, out);
        true
    }

    /// Analyses the stream's next samples, recorded with `modes`.
    fn analyse(&mut self, samples: &[Sample], modes: &Modes, out: &Out<'_>) {
        let weeks = self.stream.gestational_weeks.load(Ordering::Relaxed);
        for fetus in &mut self.fetuses {
            fetus
                .analyzer
                .set_gestational_weeks((weeks > 0).then_some(weeks));
        }
        self.follow_fetal_channels(modes, samples);
        self.follow_the_one_fetus(modes, samples);
        self.set_direct_ecg(modes);
        self.feed(samples, out);
    }

    /// `n` samples of the stream are missing: signal loss up to an hour; after a longer gap
    /// (or at the start of a stream taken up again) the analysis starts again on the
    /// 10-minute grid before the stream's sample after it (what lies between is signal loss to
    /// it), its earlier findings made final first.
    fn gap(&mut self, n: u64, out: &Out<'_>) {
        let analysed = self.fetuses[0].analyzer.samples();
        if n <= MAX_GAP_SAMPLES && analysed > 0 {
            in_lost_blocks(n, |lost| self.feed(lost, out));
            return;
        }
        if analysed > 0 {
            for fetus in &mut self.fetuses {
                fetus.analyzer.finish();
            }
            if let Some(cross) = &mut self.cross {
                cross.finish();
            }
            self.feed(&[], out);
            tracing::info!(
                stream = self.stream.id,
                missing_s = n / 4,
                "a gap too long for signal loss: the stream's analysis starts again after it"
            );
        }
        let resume = self.first_seq.saturating_add(analysed).saturating_add(n);
        self.first_seq = resume - resume % WINDOW_SAMPLES;
        self.fetuses = vec![first_fetus()];
        self.separate = false;
        self.cross = None;
        in_lost_blocks(resume - self.first_seq, |lost| self.feed(lost, out));
    }

    /// Feeds samples to every analysis and sends what they find, at its time in the stream.
    fn feed(&mut self, samples: &[Sample], out: &Out<'_>) {
        let shift_s = self.first_seq as f64 / 4.0;
        let separate = self.separate;
        let (stream, told_before) = (&self.stream, &self.told_before);
        let send = |json: serde_json::Value| {
            if !told_before.covers(&json) {
                out.send(stream, json);
            }
        };
        for (k, fetus) in self.fetuses.iter_mut().enumerate() {
            let channel = separate.then(|| fetus.analyzer.fetal_channel());
            let analyzer = &mut fetus.analyzer;
            analyzer.push(samples);
            while let Some(finding) = analyzer.poll() {
                if maternal(&finding) {
                    if k == 0 {
                        let json = ctg_dsp::json::finding(&finding);
                        send(in_stream(json, None, shift_s));
                    }
                    continue;
                }
                let json = ctg_dsp::json::finding(&finding);
                send(in_stream(json, channel, shift_s));
            }
            // A deceleration under way goes to the alert rules and to the viewers (not to the
            // store: it is provisional), when it starts, each time its duration passes a
            // multiple of 15 s, and when it is over.
            if let Some(message) = fetus.under_way.due(&analyzer.provisional()) {
                send(in_stream(message, channel, shift_s));
            }
        }
        // Whether the twins' channels record one heart: told when it begins and when it is
        // over.
        if let Some(cross) = &mut self.cross {
            cross.push(samples);
            while let Some(event) = cross.poll() {
                let json = ctg_dsp::json::cross_channel(&event, cross.channels());
                send(in_stream(json, None, shift_s));
            }
        }
    }

    /// Starts a separate analysis of each fetal channel recorded in `samples` once two are
    /// (from the stream's next sample on; before it, the new analysis has had no signal).
    fn follow_fetal_channels(&mut self, modes: &Modes, samples: &[Sample]) {
        let recorded: Vec<Channel> = FETAL
            .into_iter()
            .filter(|&c| recorded(c, modes, samples))
            .collect();
        if !self.separate {
            if recorded.len() < 2 {
                return;
            }
            self.separate = true;
            let primary = self.fetuses[0].analyzer.fetal_channel();
            self.fetuses[0].analyzer.set_fetal_channels(primary, None);
            self.cross = Some(CrossChannel::new(
                CrossChannelConfig::default(),
                [recorded[0], recorded[1]],
                self.fetuses[0].analyzer.samples(),
            ));
            tracing::info!(
                stream = self.stream.id,
                channels = ?recorded,
                "two fetal channels recorded at once: each is analysed on its own from now on"
            );
        }
        let now = self.fetuses[0].analyzer.samples();
        for channel in recorded {
            if self
                .fetuses
                .iter()
                .any(|f| f.analyzer.fetal_channel() == channel)
            {
                continue;
            }
            let mut config = AnalyzerConfig::new(Profile::Jsog);
            config.fetal = channel;
            config.fetal_fallback = None;
            let mut analyzer = Analyzer::new(config);
            analyzer.set_gestational_weeks(self.fetuses[0].analyzer.gestational_weeks());
            // It joins at the stream's current sample: what came before is signal loss to it,
            // and the findings of those empty windows say nothing.
            in_lost_blocks(now, |lost| {
                analyzer.push(lost);
                while analyzer.poll().is_some() {}
            });
            tracing::info!(
                stream = self.stream.id,
                channel = channel.name(),
                "analysing a further fetal channel"
            );
            self.fetuses.push(Fetus {
                analyzer,
                under_way: UnderWayUpdates::default(),
            });
        }
    }

    /// The one fetus of a stream is read from the channel its transducer is on (FHR1 first;
    /// where the source does not say, the one carrying a rate), the other filling its gaps,
    /// as a recording is read from the channel that carries it.
    fn follow_the_one_fetus(&mut self, modes: &Modes, samples: &[Sample]) {
        if self.separate {
            return;
        }
        let [one, two] = [Channel::Fhr1, Channel::Fhr2];
        let Some(in_use) = [one, two]
            .into_iter()
            .find(|&c| connected(c, modes))
            .or_else(|| [one, two].into_iter().find(|&c| carrying(c, samples)))
        else {
            return;
        };
        let analyzer = &mut self.fetuses[0].analyzer;
        if analyzer.fetal_channel() != in_use {
            let other = if in_use == one { two } else { one };
            analyzer.set_fetal_channels(in_use, Some(other));
        }
    }

    /// Whether each analysis reads a scalp electrode: the mode of the channel it reads.
    fn set_direct_ecg(&mut self, modes: &Modes) {
        for fetus in &mut self.fetuses {
            let channel = fetus.analyzer.fetal_channel();
            fetus
                .analyzer
                .set_direct_ecg(modes.get(channel) == TransducerMode::Decg);
        }
    }
}

/// Whether a finding is about the mother rather than a fetus: the contractions, and false
/// signal on the MHR channel. Every analysis of a stream finds the same ones, so only the
/// first one's are sent, and without a fetal channel.
fn maternal(finding: &Finding) -> bool {
    match finding {
        Finding::Contraction(_) => true,
        Finding::FalseSignal(s) => s.channel == Channel::Mhr,
        _ => false,
    }
}

/// A finding's JSON as the feed, the store and the alert rules take it: its times in the
/// stream (the analysis began `shift_s` into it), and the fetal channel it is about once the
/// stream's fetal channels are analysed separately.
fn in_stream(
    mut json: serde_json::Value,
    channel: Option<Channel>,
    shift_s: f64,
) -> serde_json::Value {
    ctg_dsp::json::shift_times(&mut json, shift_s);
    if let Some(channel) = channel {
        json["fetal_channel"] = serde_json::json!(channel.name());
    }
    json
}

/// `n` samples of signal loss, a block at a time.
fn in_lost_blocks(n: u64, mut f: impl FnMut(&[Sample])) {
    let lost = [Sample::default(); 256];
    let mut left = n;
    while left > 0 {
        let take = left.min(lost.len() as u64) as usize;
        f(&lost[..take]);
        left -= take as u64;
    }
}

fn worker(
    new_streams: std::sync::mpsc::Receiver<NewStream>,
    findings: FindingsSender,
    findings_dropped: &AtomicU64,
) {
    let out = Out {
        findings: &findings,
        dropped: findings_dropped,
    };
    let mut streams: Vec<StreamAnalysis> = Vec::new();
    let mut buffer = vec![Sample::default(); 1024];
    loop {
        loop {
            match new_streams.try_recv() {
                Ok(stream) => {
                    let mut analysis = StreamAnalysis::new(stream);
                    analysis.take_up(&out);
                    streams.push(analysis);
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    if streams.is_empty() {
                        return;
                    }
                    break;
                }
            }
        }
        let mut busy = false;
        for analysis in &mut streams {
            busy |= analysis.take(&mut buffer, &out);
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten minutes in which FHR1 follows the mother's rate closely from minute 3 to minute 6.
    fn following_the_mother() -> Vec<Sample> {
        (0..2400u16)
            .map(|i| {
                let mut s = Sample::default();
                let wobble = (i % 7) * 2; // quarter bpm
                let following = (720..1440).contains(&i);
                let fetal = if following {
                    4 * 86 + wobble
                } else {
                    4 * 140 + wobble
                };
                s.values[Channel::Fhr1.index()] = fetal;
                s.values[Channel::Mhr.index()] = 4 * 85 + wobble;
                s.values[Channel::Ua.index()] = 20;
                s
            })
            .collect()
    }

    /// Seconds flagged maternal in the findings of one stream fed with `modes`.
    fn maternal_seconds(fetal_mode: TransducerMode) -> f64 {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let pipeline = Pipeline::start(1, tx).unwrap();
        let (feed, _) = broadcast::channel(16);
        let mut ring = pipeline.add_stream(1, feed, 0, None);
        let mut modes = Modes::default();
        modes.0[Channel::Fhr1.index()] = fetal_mode;
        ring.set_modes(&modes);
        ring.push(&following_the_mother());
        let mut seconds = 0.0;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        // The finding for minutes 3–6 is final once the 8.5-minute baseline lookahead has
        // passed it; feed signal loss until it is out.
        let mut fed = 0;
        while std::time::Instant::now() < deadline {
            match rx.try_recv() {
                Ok((_, json)) => {
                    if json["kind"] == "false_signal" && json["reason"] == "maternal" {
                        seconds +=
                            json["end_s"].as_f64().unwrap() - json["start_s"].as_f64().unwrap();
                    }
                    if json["kind"] == "classification" && json["end_s"].as_f64() >= Some(600.0) {
                        return seconds;
                    }
                }
                Err(_) => {
                    if fed < 4 * 900 && ring.vacant() > 64 {
                        ring.push(&[Sample::default(); 64]);
                        fed += 64;
                    } else {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
        }
        panic!("no classification of the first window within 20 s");
    }

    /// A one-worker pipeline with stream `id` analysed from its start: the pipeline (kept, or its
    /// worker stops), the stream's ring, what reaches the store and alert rules, and what
    /// reaches its viewers.
    fn one_stream(
        id: i64,
    ) -> (
        Pipeline,
        RingProducer,
        FindingsReceiver,
        broadcast::Receiver<Live>,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel(4096);
        let pipeline = Pipeline::start(1, tx).unwrap();
        let (feed, viewers) = broadcast::channel(4096);
        let ring = pipeline.add_stream(id, feed, 0, None);
        (pipeline, ring, rx, viewers)
    }

    /// A deceleration under way reaches the alert rules and the viewers while it lasts (as
    /// `deceleration_under_way`, each 15 s of its duration), not only as a final finding 8.5 minutes later.
    #[test]
    fn a_deceleration_under_way_reaches_the_alert_rules() {
        let (_pipeline, mut ring, mut rx, mut viewers) = one_stream(1);
        // 20 minutes at 140 bpm (with a little irregular variability), then 4 minutes at 80.
        let trace: Vec<Sample> = (0..4 * 60 * 24u32)
            .map(|i| {
                let mut s = Sample::default();
                let wobble = ((i * 7919) % 23) as u16; // quarter bpm, 0–5.5 bpm
                let level = if i < 4 * 60 * 20 { 140 } else { 80 };
                s.values[Channel::Fhr1.index()] = 4 * level + wobble;
                s.values[Channel::Ua.index()] = 20;
                s
            })
            .collect();
        let mut fed = 0;
        let mut durations = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline && durations.last() < Some(&200.0) {
            match rx.try_recv() {
                Ok((_, json))
                    if json["kind"] == "deceleration_under_way" && json["ended"] != true =>
                {
                    let start = json["start_s"].as_f64().unwrap();
                    assert!((1200.0..1260.0).contains(&start), "{json}");
                    durations.push(json["duration_s"].as_f64().unwrap());
                }
                Ok(_) => {}
                Err(_) => {
                    if fed < trace.len() && ring.vacant() > 240 {
                        ring.push(&trace[fed..fed + 240]);
                        fed += 240;
                    } else {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
        }
        assert!(durations.last() >= Some(&200.0), "told: {durations:?}");
        assert!(
            durations
                .windows(2)
                .all(|w| (w[1] / 15.0).floor() > (w[0] / 15.0).floor()),
            "once each 15 s of its duration: {durations:?}"
        );
        let mut shown = Vec::new();
        while let Ok(live) = viewers.try_recv() {
            if let Live::Finding(json) = live
                && json["kind"] == "deceleration_under_way"
            {
                shown.push(json["duration_s"].as_f64().unwrap());
            }
        }
        assert!(
            shown.starts_with(&durations),
            "the viewers are told the same: {shown:?} vs {durations:?}"
        );
    }

    /// 24 minutes of one fetal heart on `channel`: 20 at `before` bpm (with a little irregular
    /// variability), then 4 at 80.
    fn falling_at_20_min(channel: Channel, before: u16, samples: &mut [Sample]) {
        for (i, s) in samples.iter_mut().enumerate() {
            let wobble = ((i as u32 * 7919) % 23) as u16; // quarter bpm, 0–5.5 bpm
            let level = if i < 4 * 60 * 20 { before } else { 80 };
            s.values[channel.index()] = 4 * level + wobble;
            s.values[Channel::Ua.index()] = 20;
        }
    }

    /// Feeds `trace` with `modes` to one stream and collects what reaches the alert rules:
    /// every finding's JSON, until the trace is fed and the pipeline is quiet.
    fn told(trace: &[Sample], modes: &Modes) -> Vec<Arc<serde_json::Value>> {
        told_with_age(trace, modes, None)
    }

    /// [`told`], the patient's gestational age told before the first sample.
    fn told_with_age(
        trace: &[Sample],
        modes: &Modes,
        weeks: Option<u32>,
    ) -> Vec<Arc<serde_json::Value>> {
        run_stream(0, None, modes, weeks, &[(0, trace)]).0
    }

    /// A stream as the hub feeds its analysis: taken up `first_seq` samples in (after a restart,
    /// with what the store holds of its window: `resume`), with `modes`
    /// and the patient's gestational age, its parts pushed a second at a time (as a monitor
    /// sends them), each after a gap of that many missing samples. Everything that reaches the
    /// alert rules until the pipeline is quiet, and the samples the ring dropped.
    fn run_stream(
        first_seq: u64,
        resume: Option<ResumeLoader>,
        modes: &Modes,
        weeks: Option<u32>,
        parts: &[(u64, &[Sample])],
    ) -> (Vec<Arc<serde_json::Value>>, u64) {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
        let pipeline = Pipeline::start(1, tx).unwrap();
        let (feed, _viewers) = broadcast::channel(16);
        let mut ring = pipeline.add_stream(1, feed, first_seq, resume);
        ring.set_modes(modes);
        ring.set_gestational_weeks(weeks);
        let mut told = Vec::new();
        let mut take = |rx: &mut FindingsReceiver| {
            let mut any = false;
            while let Ok((_, json)) = rx.try_recv() {
                told.push(json);
                any = true;
            }
            any
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        for (gap, samples) in parts {
            ring.gap(*gap);
            for second in samples.chunks(4) {
                while ring.vacant() < second.len() {
                    assert!(std::time::Instant::now() < deadline, "the worker stalled");
                    take(&mut rx);
                    std::thread::sleep(Duration::from_millis(2));
                }
                ring.push(second);
            }
        }
        let mut quiet_since = std::time::Instant::now();
        while quiet_since.elapsed() < Duration::from_millis(500) {
            assert!(
                std::time::Instant::now() < deadline,
                "the pipeline did not go quiet"
            );
            if take(&mut rx) {
                quiet_since = std::time::Instant::now();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        (told, pipeline.overflows())
    }

    /// Twins whose second transducer records the first twin for 12 minutes (CTU-UHB 1001's
    /// fetus on FHR1 throughout; 1002's on FHR2, but 1001's, 2 bpm off, from minute 10 to 22):
    /// the stream tells that the channels coincide soon after it begins, and the finding when
    /// it is over, at its time in the stream; two fetuses' traces side by side tell nothing.
    #[test]
    fn twins_transducers_on_one_heart_are_told() {
        let data = ctg_formats::shared_data_dir().unwrap();
        let read = |r: &str| {
            ctg_formats::read_recording(&data.join(format!("ctu-uhb/wfdb/{r}.hea"))).unwrap()
        };
        let (a, b) = (read("1001"), read("1002"));
        let minute = 240;
        let trace: Vec<Sample> = (0..minute * 40)
            .map(|i| {
                let mut s = a.samples[i];
                let twin_a = a.samples[i].value(Channel::Fhr1);
                s.values[Channel::Fhr2.index()] = if (minute * 10..minute * 22).contains(&i) {
                    if twin_a > 0 { twin_a + 8 } else { 0 }
                } else {
                    b.samples[i].value(Channel::Fhr1)
                };
                s
            })
            .collect();
        let mut modes = Modes::default();
        modes.0[Channel::Fhr1.index()] = TransducerMode::Ultrasound;
        modes.0[Channel::Fhr2.index()] = TransducerMode::Ultrasound;
        // Taken up an hour into the stream: times are the stream's.
        let (said, _) = run_stream(4 * 3600, None, &modes, None, &[(0, &trace)]);
        let of = |kind: &str| -> Vec<&serde_json::Value> {
            said.iter()
                .filter(|j| j["kind"] == kind)
                .map(|j| &**j)
                .collect()
        };
        let (began, found) = (of("cross_channel_under_way"), of("cross_channel"));
        assert_eq!(began.len(), 1, "told once when it begins: {began:?}");
        assert_eq!(found.len(), 1, "one finding when it is over: {found:?}");
        let (start, end) = (
            found[0]["start_s"].as_f64().unwrap(),
            found[0]["end_s"].as_f64().unwrap(),
        );
        assert_eq!(began[0]["start_s"].as_f64(), Some(start));
        assert_eq!(found[0]["channels"], serde_json::json!(["fhr1", "fhr2"]));
        // Within a minute of the stretch (minutes 10 to 22) at each end, an hour into the
        // stream.
        assert!(
            (3600.0 + 540.0..=3600.0 + 660.0).contains(&start),
            "{start}"
        );
        assert!((3600.0 + 1260.0..=3600.0 + 1380.0).contains(&end), "{end}");
        assert!(found[0].get("fetal_channel").is_none());

        // The same two fetuses side by side throughout: nothing.
        let apart: Vec<Sample> = (0..minute * 40)
            .map(|i| {
                let mut s = a.samples[i];
                s.values[Channel::Fhr2.index()] = b.samples[i].value(Channel::Fhr1);
                s
            })
            .collect();
        let apart = told(&apart, &modes);
        assert!(
            !apart.iter().any(|j| j["kind"]
                .as_str()
                .is_some_and(|k| k.starts_with("cross_channel"))),
            "two hearts told as one"
        );
    }

    /// The monitor's own coincidence flag (Series 50 status bit 0), set from 10 to 15 minutes
    /// in 1-s blocks, is told once it has held 5 s and over once it has been clear 15 s, at the
    /// times it was set and cleared, to the store and alert rules and to the viewers; a flag
    /// that flickers (set for a second in two, then for 4 s in 5) tells nothing.
    #[test]
    fn the_monitors_coincidence_flag_is_told_where_it_begins_and_ends() {
        let (_pipeline, mut ring, mut rx, mut viewers) = one_stream(7);
        let flagged = BlockFlags(BlockFlags::COINCIDENCE | BlockFlags::TELEMETRY);
        let clear = BlockFlags(BlockFlags::TELEMETRY);
        for second in 0..20 * 60u64 {
            let flags = match second {
                60..120 if second % 2 == 0 => flagged,
                120..180 if second % 5 != 0 => flagged,
                600..900 => flagged,
                _ => clear,
            };
            ring.set_flags(flags, second * 4, second * 4 + 4);
        }
        let told: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(told.len(), 2, "{told:?}");
        assert!(told.iter().all(|(stream, _)| *stream == 7));
        assert_eq!(
            *told[0].1,
            serde_json::json!({"kind": "cross_channel_under_way", "start_s": 600.0,
                               "channels": [], "source": "monitor"})
        );
        assert_eq!(
            *told[1].1,
            serde_json::json!({"kind": "cross_channel", "start_s": 600.0, "end_s": 900.0,
                               "channels": [], "source": "monitor"})
        );
        let shown: Vec<_> = std::iter::from_fn(|| viewers.try_recv().ok())
            .filter_map(|l| match l {
                Live::Finding(json) => Some(json),
                _ => None,
            })
            .collect();
        assert_eq!(shown.len(), 2, "the viewers are told the same");
    }

    /// What a stream tells when the hub restarts `restart` samples into `samples`: the final
    /// findings told before (as stored), where its analysis starts again, and the final
    /// findings told after, reading the store (`read`: whether it can be read) as the hub does.
    fn across_a_restart(
        samples: &[Sample],
        modes: &Modes,
        restart: usize,
        read: bool,
    ) -> (Vec<serde_json::Value>, u64, Vec<serde_json::Value>) {
        let finals = |told: Vec<Arc<serde_json::Value>>| -> Vec<serde_json::Value> {
            told.iter()
                .filter(|j| j["kind"] != "deceleration_under_way")
                .map(|j| (**j).clone())
                .collect()
        };
        let stored = finals(run_stream(0, None, modes, None, &[(0, &samples[..restart])]).0);
        let (_, read_from_s) = resume_read_from(restart as u64);
        let in_reach: Vec<serde_json::Value> = stored
            .iter()
            .filter(|j| j["start_s"].as_f64() >= Some(read_from_s))
            .cloned()
            .collect();
        let from = resume_from(restart as u64, &in_reach);
        let blocks: Vec<ctg_proto::model::SampleBlock> = (from as usize..restart)
            .step_by(4)
            .map(|seq| ctg_proto::model::SampleBlock {
                first_seq: seq as u64,
                modes: *modes,
                samples: samples[seq..seq + 4].to_vec(),
                ..Default::default()
            })
            .collect();
        let resume = Resume {
            from,
            blocks,
            stored: in_reach,
        };
        let load: ResumeLoader = if read {
            Box::new(move || Some(resume))
        } else {
            Box::new(|| None)
        };
        let after = finals(
            run_stream(
                restart as u64,
                Some(load),
                modes,
                None,
                &[(0, &samples[restart..])],
            )
            .0,
        );
        (stored, from, after)
    }

    /// The classifications of the window starting at `from_s`.
    fn levels_at(findings: &[serde_json::Value], from_s: f64) -> Vec<&serde_json::Value> {
        findings
            .iter()
            .filter(|j| j["kind"] == "classification" && j["start_s"].as_f64() == Some(from_s))
            .collect()
    }

    /// No finding told after a restart overlaps one of its kind told before it (not even a
    /// little shifted), and none starts before where the analysis started again.
    fn nothing_told_twice(stored: &[serde_json::Value], from: u64, after: &[serde_json::Value]) {
        let span = |j: &serde_json::Value| {
            let start = j["start_s"].as_f64().unwrap();
            (start, j["end_s"].as_f64().unwrap_or(start))
        };
        for j in after {
            assert!(j["start_s"].as_f64() >= Some(from as f64 / 4.0), "{j}");
            let (start, end) = span(j);
            for t in stored {
                let (t_start, t_end) = span(t);
                let same_kind = t["kind"] == j["kind"] && t["channel"] == j["channel"];
                // Spans that only touch (one window's end, the next one's start) are two.
                let overlap = (start < t_end && t_start < end) || start == t_start;
                assert!(
                    !(same_kind && overlap),
                    "told again: {j} (before the restart: {t})"
                );
            }
        }
    }

    /// Where a restarted stream's analysis starts again: at the end of the last level told, of
    /// the twin furthest behind (not of a one-fetus analysis stopped long before, when the
    /// twins came to be analysed apart), within reach of the restart.
    #[test]
    fn a_restarted_analysis_starts_at_the_end_of_the_last_level_told() {
        let level = |end_s: f64, fetus: Option<&str>| {
            let mut json = serde_json::json!({
                "kind": "classification", "start_s": end_s - 600.0, "end_s": end_s,
            });
            if let Some(fetus) = fetus {
                json["fetal_channel"] = serde_json::json!(fetus);
            }
            json
        };
        let minute = 240;
        let until = 95 * minute; // in the window from 90 min
        assert_eq!(resume_read_from(until), (60 * minute, 50.0 * 60.0));
        assert_eq!(
            resume_from(until, &[]),
            60 * minute,
            "none told: as far back as it reaches"
        );
        assert_eq!(resume_from(until, &[level(4800.0, None)]), 80 * minute);
        assert_eq!(
            resume_from(until, &[level(3600.0, None)]),
            60 * minute,
            "no further back than it reaches"
        );
        assert_eq!(
            resume_from(
                until,
                &[
                    level(3000.0, None),
                    level(4800.0, Some("fhr1")),
                    level(5400.0, Some("fhr1")),
                    level(4800.0, Some("fhr2")),
                ]
            ),
            80 * minute,
            "the twin behind"
        );
        let wide = [
            level(6000.0, None),
            serde_json::json!({"kind": "contraction", "start_s": 5600.0, "end_s": 5660.0}),
        ];
        assert_eq!(
            resume_from(until, &wide),
            90 * minute,
            "no later than the window it fell in"
        );
    }

    /// CTU-UHB 1001, and what its first 45 minutes tell without a restart.
    fn first_45_min_of_1001() -> (ctg_formats::Recording, Vec<serde_json::Value>) {
        let data = ctg_formats::shared_data_dir().unwrap();
        let recording = ctg_formats::read_recording(&data.join("ctu-uhb/wfdb/1001.hea")).unwrap();
        let samples = &recording.samples[..4 * 60 * 45];
        let whole = run_stream(0, None, &recording.modes, None, &[(0, samples)])
            .0
            .iter()
            .map(|j| (**j).clone())
            .collect();
        (recording, whole)
    }

    /// A hub restarted late in a 10-minute window (CTU-UHB 1001, 29 minutes in, the window
    /// before told): the stream's analysis reads the stored samples of that window (not
    /// signal loss), so its level rests on the whole window, as without the restart, and
    /// nothing told before the restart is told again. A store that cannot be read leaves the
    /// window's samples as signal loss, and the level still comes.
    #[test]
    fn a_stream_taken_up_after_a_restart_reads_its_stored_window() {
        let (recording, whole) = first_45_min_of_1001();
        let samples = &recording.samples[..4 * 60 * 45];
        let restart = 4 * 60 * 29; // 29 min: late in the window from 20 min
        let (stored, from, after) = across_a_restart(samples, &recording.modes, restart, true);
        assert_eq!(from, 4 * 60 * 20, "the window the restart fell in");
        // The window the restart fell in: one level, on the whole window's signal, as the
        // analysis without the restart measured it.
        let (restarted, continuous) = (levels_at(&after, 1200.0), levels_at(&whole, 1200.0));
        assert_eq!(restarted.len(), 1, "{restarted:?}");
        assert!(
            levels_at(&stored, 1200.0).is_empty(),
            "not told before the restart"
        );
        assert_eq!(
            restarted[0]["evidence"]["signal_percent"],
            continuous[0]["evidence"]["signal_percent"]
        );
        let told_in_window: Vec<serde_json::Value> = stored
            .iter()
            .filter(|j| j["start_s"].as_f64() >= Some(1200.0))
            .cloned()
            .collect();
        assert!(
            !told_in_window.is_empty(),
            "findings told in the window before the restart"
        );
        nothing_told_twice(&stored, from, &after);
        // A store that could not be read: the window's stored samples are signal loss, as
        // before this reading existed, and its level still comes, at its time.
        let (_, _, unread) = across_a_restart(samples, &recording.modes, restart, false);
        let fallback = levels_at(&unread, 1200.0);
        assert_eq!(fallback.len(), 1, "{fallback:?}");
        assert!(
            fallback[0]["evidence"]["signal_percent"].as_f64()
                < continuous[0]["evidence"]["signal_percent"].as_f64()
        );
    }

    /// A hub restarted early in a 10-minute window (CTU-UHB 1001, 24 minutes in), before the
    /// level of the window before had been told (it waits 8.5 minutes for the baseline's
    /// look-ahead): the analysis starts again at the end of the last level told, so every
    /// window's level is told once, across the restart, as without it, and every contraction,
    /// acceleration and deceleration found without the restart is told before it or after it
    /// (where the cold start finds it).
    #[test]
    fn a_restart_before_the_last_window_was_told_loses_no_level() {
        let (recording, whole) = first_45_min_of_1001();
        let samples = &recording.samples[..4 * 60 * 45];
        let restart = 4 * 60 * 24;
        let (stored, from, after) = across_a_restart(samples, &recording.modes, restart, true);
        assert!(
            levels_at(&stored, 600.0).is_empty(),
            "the window from 10 min not told before the restart"
        );
        assert_eq!(
            from,
            4 * 60 * 10,
            "starts again where the last level told ended"
        );
        let starts = |findings: &[serde_json::Value], kind: &str| -> Vec<f64> {
            findings
                .iter()
                .filter(|j| j["kind"] == kind)
                .map(|j| j["start_s"].as_f64().unwrap())
                .collect()
        };
        let mut across = starts(&stored, "classification");
        across.extend(starts(&after, "classification"));
        assert_eq!(
            across,
            starts(&whole, "classification"),
            "each window's level once, as without the restart"
        );
        // Without starting again that far back, the acceleration at 13.5–15.6 min was lost.
        let events = ["contraction", "deceleration", "acceleration"];
        for c in whole
            .iter()
            .filter(|j| events.iter().any(|&e| j["kind"] == e))
        {
            let (start, end) = (c["start_s"].as_f64(), c["end_s"].as_f64());
            assert!(
                stored.iter().chain(&after).any(|t| t["kind"] == c["kind"]
                    && t["start_s"].as_f64() < end
                    && start < t["end_s"].as_f64()),
                "{c} told neither before nor after the restart"
            );
        }
        nothing_told_twice(&stored, from, &after);
    }

    /// The fetal channels of the decelerations under way told, each checked to be the fall
    /// at minute 20 of [`falling_at_20_min`]; at least one.
    fn under_way_at_20_min(told: &[Arc<serde_json::Value>]) -> Vec<Option<String>> {
        let under_way: Vec<_> = told
            .iter()
            .filter(|j| j["kind"] == "deceleration_under_way" && j["ended"] != true)
            .collect();
        assert!(!under_way.is_empty(), "nothing under way told");
        under_way
            .iter()
            .map(|j| {
                let start = j["start_s"].as_f64().unwrap();
                assert!((1200.0..1260.0).contains(&start), "{j}");
                j["fetal_channel"].as_str().map(str::to_owned)
            })
            .collect()
    }

    /// A monitor records the fetal heart on FHR2 when its transducer is in the second socket (a
    /// scalp electrode often is): it is analysed as the stream's fetus, not left unanalysed
    /// behind an empty FHR1.
    #[test]
    fn a_fetus_recorded_on_fhr2_is_analysed() {
        let mut trace = vec![Sample::default(); 4 * 60 * 24];
        falling_at_20_min(Channel::Fhr2, 140, &mut trace);
        let mut modes = Modes::default();
        modes.0[Channel::Fhr1.index()] = TransducerMode::NoTransducer;
        modes.0[Channel::Fhr2.index()] = TransducerMode::Decg;
        let told = told(&trace, &modes);
        for channel in under_way_at_20_min(&told) {
            assert_eq!(channel, None, "the stream's one fetus names no channel");
        }
        let windows: Vec<_> = told
            .iter()
            .filter(|j| j["kind"] == "classification")
            .collect();
        assert!(!windows.is_empty());
        for w in windows {
            let signal = w["evidence"]["signal_percent"].as_f64().unwrap();
            assert!(signal > 99.0, "the FHR2 trace is the signal: {w}");
        }
    }

    /// Twins: two fetal channels with a transducer each are analysed separately, each finding
    /// naming its channel. The second twin's deceleration is told as the second twin's, and
    /// the first twin's trace is not filled from the second's where it is lost.
    #[test]
    fn twins_are_analysed_each_on_its_own() {
        let mut trace = vec![Sample::default(); 4 * 60 * 24];
        falling_at_20_min(Channel::Fhr2, 150, &mut trace);
        for (i, s) in trace.iter_mut().enumerate() {
            let wobble = ((i as u32 * 104_729) % 19) as u16;
            // Twin A at 135 bpm, lost from minute 20 on, when twin B falls.
            s.values[Channel::Fhr1.index()] = if i < 4 * 60 * 20 { 4 * 135 + wobble } else { 0 };
        }
        let mut modes = Modes::default();
        modes.0[Channel::Fhr1.index()] = TransducerMode::Ultrasound;
        modes.0[Channel::Fhr2.index()] = TransducerMode::Ultrasound;
        let told = told(&trace, &modes);
        for channel in under_way_at_20_min(&told) {
            assert_eq!(channel.as_deref(), Some("fhr2"), "only twin B decelerates");
        }
        // Each twin's own baseline in the windows before minute 20.
        let baselines = |channel: &str| {
            told.iter()
                .filter(|j| j["kind"] == "baseline" && j["fetal_channel"] == channel)
                .filter(|j| j["end_s"].as_f64() <= Some(1200.0))
                .map(|j| j["bpm"].as_f64())
                .collect::<Vec<_>>()
        };
        let (a, b) = (baselines("fhr1"), baselines("fhr2"));
        assert!(
            !a.is_empty() && !b.is_empty(),
            "each twin measured: {a:?} {b:?}"
        );
        let within = |bpm: &Option<f64>, range: std::ops::RangeInclusive<f64>| {
            bpm.is_some_and(|b| range.contains(&b))
        };
        assert!(
            a.iter().all(|bpm| within(bpm, 130.0..=140.0)),
            "twin A: {a:?}"
        );
        assert!(
            b.iter().all(|bpm| within(bpm, 150.0..=155.0)),
            "twin B: {b:?}"
        );
        assert!(
            told.iter()
                .filter(|j| j["kind"] == "classification")
                .all(|j| j["fetal_channel"] == "fhr1" || j["fetal_channel"] == "fhr2"),
            "every level names its fetus"
        );
        // The mother's contractions are the same in both analyses: told once, for no fetus.
        let contractions: Vec<_> = told.iter().filter(|j| j["kind"] == "contraction").collect();
        assert!(
            contractions
                .iter()
                .all(|c| c.get("fetal_channel").is_none())
        );
    }

    /// The patient's gestational age reaches the analysis: before 32 weeks a 13-bpm rise
    /// held for 13 s is an acceleration (≥ 10 bpm for ≥ 10 s), at term it is not.
    #[test]
    fn the_gestational_age_reaches_the_analysis() {
        let trace: Vec<Sample> = (0..4 * 60 * 16u32)
            .map(|i| {
                let mut s = Sample::default();
                let wobble = ((i * 7919) % 9) as u16; // quarter bpm, 0–2 bpm
                // A rise every 2 minutes: 3 s up, 13 s at +13 bpm, 3 s down.
                let t = i % (4 * 120);
                let rise = match t {
                    0..12 => t as u16 * 13 * 4 / 12,
                    12..64 => 13 * 4,
                    64..76 => (76 - t) as u16 * 13 * 4 / 12,
                    _ => 0,
                };
                s.values[Channel::Fhr1.index()] = 4 * 140 + wobble + rise;
                s.values[Channel::Ua.index()] = 20;
                s
            })
            .collect();
        let mut modes = Modes::default();
        modes.0[Channel::Fhr1.index()] = TransducerMode::Ultrasound;
        let accelerations = |weeks| {
            told_with_age(&trace, &modes, weeks)
                .iter()
                .filter(|j| j["kind"] == "acceleration")
                .count()
        };
        assert!(accelerations(Some(30)) >= 2, "at 30 weeks");
        assert_eq!(accelerations(Some(39)), 0, "at 39 weeks");
        assert_eq!(accelerations(None), 0, "unknown: the standard criteria");
    }

    /// A stream taken up `first_seq` samples in (a hub restarted mid-labour), with parts
    /// after gaps: the decelerations under way told, by start (s), the samples the ring
    /// dropped, and the levels' window starts (s).
    fn under_way_across_gaps(
        first_seq: u64,
        parts: &[(u64, &[Sample])],
    ) -> (Vec<f64>, u64, Vec<f64>) {
        let (told, dropped) = run_stream(first_seq, None, &Modes::default(), None, parts);
        let starts_of = |kind: &str| -> Vec<f64> {
            told.iter()
                .filter(|j| j["kind"] == kind && j["ended"] != true)
                .map(|j| j["start_s"].as_f64().unwrap())
                .collect()
        };
        let mut starts = starts_of("deceleration_under_way");
        starts.dedup();
        (starts, dropped, starts_of("classification"))
    }

    /// Findings keep their times in the stream: for a stream the hub took up an hour in (after
    /// a restart), after a gap too long for signal loss (two hours: the analysis starts again),
    /// and after one taken as signal loss (30 minutes, more than the ring holds).
    #[test]
    fn findings_keep_their_times_in_the_stream_across_restarts_and_gaps() {
        let mut trace = vec![Sample::default(); 4 * 60 * 24];
        falling_at_20_min(Channel::Fhr1, 140, &mut trace);
        let hour = 4 * 3600;
        let (starts, dropped, windows) =
            under_way_across_gaps(hour, &[(0, &trace), (2 * hour, &trace), (hour / 2, &trace)]);
        assert_eq!(dropped, 0, "no sample dropped from the ring");
        assert!(windows.len() >= 3, "{windows:?}");
        assert!(
            windows.iter().all(|w| w % 600.0 == 0.0),
            "levels on the stream's 10-minute grid: {windows:?}"
        );
        // Each part falls 20 minutes in; parts are 24 minutes long.
        let part_starts = [
            3600.0,
            3600.0 + 1440.0 + 7200.0,
            3600.0 + 2.0 * 1440.0 + 9000.0,
        ];
        for (k, from) in part_starts.iter().enumerate() {
            let fall = from + 1200.0;
            assert!(
                starts.iter().any(|s| (fall..fall + 60.0).contains(s)),
                "part {k}: the fall at {fall} s not told: {starts:?}"
            );
        }
        for s in &starts {
            assert!(
                part_starts
                    .iter()
                    .any(|from| (from + 1200.0..from + 1260.0).contains(s)),
                "told at {s} s: {starts:?}"
            );
        }
    }

    /// The hub's live analysis of a recording, fed second by second as a monitor sends it,
    /// gives the findings the offline analysis of the recording gives (DESIGN.md invariant 5),
    /// whichever fetal channel carries the fetus: FHR1 (CTU-UHB 1001) or FHR2 (an FHRMA
    /// scalp-ECG file). Fifteen minutes of signal loss after each make every finding within
    /// the recording final (the windows of the signal loss itself are left out).
    #[test]
    fn live_findings_are_the_offline_findings_of_the_recording() {
        let data = ctg_formats::shared_data_dir().unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for (path, fetal) in [
            (
                root.join("assets/recordings/ctu-uhb/1001.hea"),
                Channel::Fhr1,
            ),
            (
                data.join("fhrma-fs/ScalpECG/Train/ScalpTrain0025.fhrm"),
                Channel::Fhr2,
            ),
        ] {
            let recording = ctg_formats::read_recording(&path).unwrap();
            assert_eq!(recording.fetal_channel(), fetal, "{}", path.display());
            let mut samples = recording.samples.clone();
            samples.extend(std::iter::repeat_n(Sample::default(), 4 * 900));
            // Offline, as `mimamori analyze` configures it.
            let mut config = AnalyzerConfig::new(Profile::Jsog).with_fetal_channel(fetal);
            config.prep.direct_ecg = recording.modes.get(fetal) == TransducerMode::Decg;
            let duration_s = recording.samples.len() as f64 / 4.0;
            let within = |f: &serde_json::Value| f["end_s"].as_f64() <= Some(duration_s);
            let offline: Vec<serde_json::Value> = {
                let mut analyzer = Analyzer::without_provisional(config);
                analyzer.push(&samples);
                analyzer.finish();
                std::iter::from_fn(|| analyzer.poll())
                    .map(|f| ctg_dsp::json::finding(&f))
                    .filter(within)
                    .collect()
            };
            let live: Vec<serde_json::Value> =
                run_stream(0, None, &recording.modes, None, &[(0, &samples)])
                    .0
                    .iter()
                    .filter(|j| j["kind"] != "deceleration_under_way" && within(j))
                    .map(|j| (**j).clone())
                    .collect();
            assert!(
                offline.len() > 20,
                "{}: {} findings",
                path.display(),
                offline.len()
            );
            let decelerations = offline
                .iter()
                .filter(|f| f["kind"] == "deceleration")
                .count();
            assert!(decelerations > 0, "{}", path.display());
            // The live feed's findings carry what they rest on; compare the offline fields.
            let live: Vec<serde_json::Value> = live
                .into_iter()
                .zip(&offline)
                .map(|(l, o)| {
                    let fields = o.as_object().unwrap();
                    serde_json::Value::Object(
                        fields.keys().map(|k| (k.clone(), l[k].clone())).collect(),
                    )
                })
                .collect();
            assert_eq!(live.len(), offline.len(), "{}", path.display());
            for (l, o) in live.iter().zip(&offline) {
                assert_eq!(l, o, "{}", path.display());
            }
        }
    }

    #[test]
    fn the_block_modes_reach_the_analysis() {
        let doppler = maternal_seconds(TransducerMode::Ultrasound);
        assert!(doppler > 150.0, "Doppler following the mother: {doppler} s");
        let scalp = maternal_seconds(TransducerMode::Decg);
        assert_eq!(scalp, 0.0, "a scalp electrode is trusted");
    }
}
