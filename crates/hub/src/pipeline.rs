//! The analysis pipeline: per stream a lock-free SPSC ring buffer (ringbuf) from the ingest to
//! an analysis worker, a worker pool sized to the cores, CPU work off the async reactor.
//!
//! Each stream is pinned to one worker (round robin), which owns its `ctg_dsp::Analyzer`; the
//! ingest side only copies samples into the ring. A full ring drops the samples it cannot take
//! and counts them (DESIGN.md 4): the ring holds ten minutes, so it fills only if a worker
//! stalls. Findings go out on the stream's live feed as JSON.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Result;
use ctg_dsp::json::UnderWayUpdates;
use ctg_dsp::{Analyzer, AnalyzerConfig, Profile};
use ctg_proto::model::{Channel, Modes, Sample, TransducerMode};
use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};
use tokio::sync::broadcast;

use crate::Live;

/// Samples a ring holds (ten minutes at 4 Hz).
pub const RING_SAMPLES: usize = 4 * 600;
/// Longest gap fed to the analysis as signal loss (one hour); longer gaps restart it.
const MAX_GAP_SAMPLES: u64 = 4 * 3600;

/// The ingest's end of a stream's ring.
pub struct RingProducer {
    producer: HeapProd<Sample>,
    overflows: Arc<AtomicU64>,
    /// Whether the analysed channel (FHR1) is a direct fetal ECG, from the newest block's modes.
    direct_ecg: Arc<AtomicBool>,
}

impl RingProducer {
    /// Copies samples into the ring; what does not fit is counted.
    pub fn push(&mut self, samples: &[Sample]) {
        let taken = self.producer.push_slice(samples);
        if taken < samples.len() {
            self.overflows
                .fetch_add((samples.len() - taken) as u64, Ordering::Relaxed);
        }
    }

    /// The transducer modes of the samples about to be pushed: the analysis turns its
    /// maternal-coincidence rule off for a scalp electrode (`ctg_dsp::PrepConfig::direct_ecg`).
    /// The worker reads it when it takes samples, so a switch lands within a block or so.
    pub fn set_modes(&self, modes: &Modes) {
        self.direct_ecg.store(
            modes.get(Channel::Fhr1) == TransducerMode::Decg,
            Ordering::Relaxed,
        );
    }

    /// Room left in the ring, samples.
    pub fn vacant(&self) -> usize {
        self.producer.vacant_len()
    }

    /// Tells the analysis that `n` samples are missing (fed as signal loss, up to an hour).
    pub fn gap(&mut self, n: u64) {
        let lost = [Sample::default(); 64];
        let mut left = n.min(MAX_GAP_SAMPLES);
        while left > 0 {
            let take = left.min(64) as usize;
            self.push(&lost[..take]);
            left -= take as u64;
        }
    }
}

struct NewStream {
    id: i64,
    consumer: HeapCons<Sample>,
    feed: broadcast::Sender<Live>,
    direct_ecg: Arc<AtomicBool>,
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

    /// A ring for a new stream, its consumer handed to the next worker.
    pub fn add_stream(&self, id: i64, feed: broadcast::Sender<Live>) -> RingProducer {
        let (producer, consumer) = HeapRb::<Sample>::new(RING_SAMPLES).split();
        let direct_ecg = Arc::new(AtomicBool::new(false));
        let n = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        if self.workers[n]
            .send(NewStream {
                id,
                consumer,
                feed,
                direct_ecg: direct_ecg.clone(),
            })
            .is_err()
        {
            tracing::error!(
                stream = id,
                "analysis worker gone; this stream is not analysed"
            );
        }
        RingProducer {
            producer,
            overflows: self.overflows.clone(),
            direct_ecg,
        }
    }
}

fn worker(
    new_streams: std::sync::mpsc::Receiver<NewStream>,
    findings: FindingsSender,
    findings_dropped: &AtomicU64,
) {
    let mut streams: Vec<(NewStream, Analyzer, UnderWayUpdates)> = Vec::new();
    let mut buffer = vec![Sample::default(); 1024];
    loop {
        loop {
            match new_streams.try_recv() {
                Ok(stream) => {
                    let analyzer = Analyzer::new(AnalyzerConfig::new(Profile::Jsog));
                    streams.push((stream, analyzer, UnderWayUpdates::default()));
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
        for (stream, analyzer, under_way) in &mut streams {
            let n = stream.consumer.pop_slice(&mut buffer);
            if n == 0 {
                continue;
            }
            busy = true;
            analyzer.set_direct_ecg(stream.direct_ecg.load(Ordering::Relaxed));
            analyzer.push(&buffer[..n]);
            while let Some(finding) = analyzer.poll() {
                let json = Arc::new(ctg_dsp::json::finding(&finding));
                tracing::debug!(stream = stream.id, ?json, "finding");
                // A full channel makes this worker wait (and, through the rings, a backfilling
                // bridge): findings are stored from it, so none is dropped while the hub runs.
                if findings.blocking_send((stream.id, json.clone())).is_err() {
                    findings_dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        stream = stream.id,
                        "the findings task has stopped: a finding was not stored or checked"
                    );
                }
                let _ = stream.feed.send(Live::Finding(json));
            }
            // A deceleration under way goes to the alert rules and to the viewers (not to the
            // store: it is provisional), when it starts, each time its duration passes a
            // multiple of 15 s, and when it is over.
            if let Some(message) = under_way.due(&analyzer.provisional()) {
                let json = Arc::new(message);
                if findings.blocking_send((stream.id, json.clone())).is_err() {
                    findings_dropped.fetch_add(1, Ordering::Relaxed);
                }
                let _ = stream.feed.send(Live::Finding(json));
            }
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
        let mut ring = pipeline.add_stream(1, feed);
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

    /// A deceleration under way reaches the alert rules and the viewers while it lasts (as
    /// `deceleration_under_way`, each 15 s of its duration), not only as a final finding 8.5 minutes later.
    #[test]
    fn a_deceleration_under_way_reaches_the_alert_rules() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
        let pipeline = Pipeline::start(1, tx).unwrap();
        let (feed, mut viewers) = broadcast::channel(4096);
        let mut ring = pipeline.add_stream(1, feed);
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

    #[test]
    fn the_block_modes_reach_the_analysis() {
        let doppler = maternal_seconds(TransducerMode::Ultrasound);
        assert!(doppler > 150.0, "Doppler following the mother: {doppler} s");
        let scalp = maternal_seconds(TransducerMode::Decg);
        assert_eq!(scalp, 0.0, "a scalp electrode is trusted");
    }
}
