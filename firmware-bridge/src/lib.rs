//! `ctg-bridge`: the edge bridge daemon that runs on a delivery-room PC.
//!
//! ```text
//! monitor ──serial──▶ device task (ctg-devices host session) ──▶ spool (disk, fsync)
//!                                                                   │ notify
//!                     hub ◀──QUIC, mutual TLS── uplink task ◀───────┘
//!                         ──ack (durable)──▶ spool drops acknowledged records
//! ```
//!
//! Invariant: a sample is on disk in the spool before anything is sent, and leaves it only after
//! the hub acknowledged it as durable; after any outage the uplink resends from the hub's resume
//! point, so the hub ends up with every sample exactly once ([`spool`], [`uplink`]).
//!
//! Also here, until the hub has its own: [`receiver`], a minimal hub-side QUIC receiver that
//! stores what it receives durably and acknowledges it. Certificates and TLS: `ctg-tls`.

pub mod cadence;
pub mod config;
pub mod device;
pub mod mllp;
pub mod ports;
pub mod probe;
pub mod receiver;
pub mod spool;
pub mod uplink;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use anyhow::{Context, Result};
use ctg_proto::model::{EventKind, SampleBlock, StreamIdentity};
use tokio::sync::Notify;

use config::BridgeConfig;
use spool::{Record, StreamMeta, StreamSpool};

/// Milliseconds since the Unix epoch, now.
pub fn utc_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What the device tasks and the uplink share: the spools and a doorbell.
#[derive(Debug)]
pub struct Shared {
    spools: Mutex<Vec<StreamSpool>>,
    /// Per stream, when its last sample ended on this run's monotonic clock: the silences of
    /// its monitor are measured on it, so a step of the PC's clock (a time sync) is not taken
    /// for one. `None` until its first block this run (then the spool's time stands in).
    sample_ends: Mutex<Vec<Option<Instant>>>,
    /// Rung whenever a record is appended.
    pub appended: Notify,
    max_bytes: u64,
}

impl Shared {
    /// The spools, locked (never held across an await).
    pub fn spools(&self) -> MutexGuard<'_, Vec<StreamSpool>> {
        self.spools
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Bytes held in all spools, and the cap.
    pub fn spool_usage(&self) -> (u64, u64) {
        let total = self.spools().iter().map(StreamSpool::bytes).sum();
        (total, self.max_bytes)
    }

    /// Appends records (a block's `first_seq` set to the stream's next sequence number as it
    /// is written); false if one could not be written (logged). `make` is given the spool and
    /// where the stream's last sample ended on the bridge's clock as it reads `now_utc_ms` at
    /// `now` (measured on the monotonic clock since this run's first block).
    fn append(
        &self,
        stream: usize,
        now: Instant,
        now_utc_ms: i64,
        make: impl FnOnce(&StreamSpool, Option<i64>) -> Vec<Record>,
    ) -> bool {
        let mut spools = self.spools();
        let mut ends = self
            .sample_ends
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let spool = &mut spools[stream];
        let ended_utc_ms = match ends[stream] {
            Some(end) => Some(now_utc_ms - signed_ms_between(end, now)),
            None => spool.next_sample_utc_ms(),
        };
        let mut written = true;
        let device = spool.meta().identity.port.clone();
        let made = make(spool, ended_utc_ms);
        for mut record in made.into_iter().flat_map(|r| acceptable(r, &device)) {
            if let Record::Block(block) = &mut record {
                block.first_seq = spool.next_sample_seq();
                let end_utc_ms = block.utc_ms + 250 * block.samples.len() as i64;
                ends[stream] = Some(offset_by_ms(now, end_utc_ms - now_utc_ms));
            }
            if let Err(error) = spool.append(record) {
                tracing::error!(%error, "cannot write to the spool: this data is lost");
                written = false;
            }
        }
        drop(ends);
        let total: u64 = spools.iter().map(StreamSpool::bytes).sum();
        if total > self.max_bytes {
            if let Some(fullest) = spools.iter_mut().max_by_key(|s| s.bytes()) {
                match fullest.drop_oldest_segment() {
                    Ok(n) => tracing::error!(
                        records = n,
                        "spool full: dropped the oldest unacknowledged segment"
                    ),
                    Err(error) => tracing::error!(%error, "spool full and cannot drop a segment"),
                }
            }
        } else if total > self.max_bytes / 5 * 4 {
            tracing::warn!(
                bytes = total,
                max = self.max_bytes,
                "spool above 80 %: is the hub reachable?"
            );
        }
        drop(spools);
        self.appended.notify_one();
        written
    }

    /// Appends a sample block built for the stream's next sequence number; false if it could
    /// not be written. A block that comes after a silence of the monitor is preceded by the
    /// silence as samples of no signal ([`cadence`]), so the stream's times stay on the clock.
    pub fn block(&self, stream: usize, make: impl FnOnce(u64) -> SampleBlock) -> bool {
        self.block_at(stream, Instant::now(), utc_now_ms(), make)
    }

    /// [`Self::block`] with the clocks read by the caller.
    fn block_at(
        &self,
        stream: usize,
        now: Instant,
        now_utc_ms: i64,
        make: impl FnOnce(u64) -> SampleBlock,
    ) -> bool {
        self.append(stream, now, now_utc_ms, |spool, ended_utc_ms| {
            let block = make(spool.next_sample_seq());
            let mut records = silence_before(spool, ended_utc_ms, block.utc_ms);
            records.push(Record::Block(block));
            records
        })
    }

    /// Appends an event at the stream's current position (after a silence filled up to now,
    /// so that a monitor identifying itself again is placed where it came back).
    pub fn event(&self, stream: usize, kind: EventKind) {
        let now_utc_ms = utc_now_ms();
        self.append(stream, Instant::now(), now_utc_ms, |spool, ended_utc_ms| {
            let mut records = silence_before(spool, ended_utc_ms, now_utc_ms);
            records.push(device::event_record(
                spool.next_event_seq(),
                spool.next_sample_seq() + filled_samples(&records),
                kind,
            ));
            records
        });
    }
}

/// `record` as the hub will take it: the hub refuses a block or an event outside the
/// protocol's limits ([`ctg_proto::wire::validate_block`], `validate_event`), and since it
/// acknowledges only a contiguous stream, one refused record would hold every later one in the
/// spool for ever. So a block the hub would refuse (a codec's mistake) goes as the same number
/// of samples of no signal, and an event as a note saying it was left out; logged as errors.
fn acceptable(record: Record, device: &str) -> Vec<Record> {
    use ctg_proto::wire::{validate_block, validate_event};
    match record {
        Record::Block(block) => match validate_block(&block) {
            Ok(()) => vec![Record::Block(block)],
            Err(error) => {
                tracing::error!(%device, %error, "a block the hub would refuse: sent as no signal");
                spool::Lost {
                    first_sample: block.first_seq,
                    end_sample: block.first_seq + block.samples.len() as u64,
                    utc_ms: block.utc_ms,
                    first_event: 0,
                    end_event: 0,
                }
                .records()
            }
        },
        Record::Event(mut event) => match validate_event(&event) {
            Ok(()) => vec![Record::Event(event)],
            Err(error) => {
                tracing::error!(%device, %error, "an event the hub would refuse: sent as a note");
                let mut text = format!("an event from the monitor was left out: {error}");
                text.truncate(text.floor_char_boundary(ctg_proto::wire::MAX_TEXT_LEN));
                event.kind = EventKind::Note {
                    author: "bridge".into(),
                    text,
                };
                vec![Record::Event(event)]
            }
        },
        lost @ Record::Lost(_) => vec![lost],
    }
}

/// `to - from` in milliseconds, negative where `to` is earlier.
fn signed_ms_between(from: Instant, to: Instant) -> i64 {
    match to.checked_duration_since(from) {
        Some(later) => later.as_millis() as i64,
        None => -(from.duration_since(to).as_millis() as i64),
    }
}

/// `at` moved by `ms` (either way).
fn offset_by_ms(at: Instant, ms: i64) -> Instant {
    let by = std::time::Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        at.checked_add(by).unwrap_or(at)
    } else {
        at.checked_sub(by).unwrap_or(at)
    }
}

/// The samples of no signal that keep `spool`'s stream on the clock before something at
/// `utc_ms`, its last sample having ended at `ended_utc_ms` ([`cadence`]); logged.
fn silence_before(spool: &StreamSpool, ended_utc_ms: Option<i64>, utc_ms: i64) -> Vec<Record> {
    let device = &spool.meta().identity.port;
    match cadence::before(ended_utc_ms, utc_ms) {
        cadence::Before::OnTime => Vec::new(),
        cadence::Before::Silence { ms, fill } => {
            tracing::info!(
                %device,
                seconds = ms / 1000,
                "the monitor sent nothing for a while: that time is kept as no signal"
            );
            fill.into_iter().map(Record::Block).collect()
        }
        cadence::Before::TooLong { ms } => {
            tracing::warn!(
                %device,
                hours = ms / 3_600_000,
                "the monitor sent nothing for more than a week: not filled, so this stream's \
                 times from here on are that much behind the clock"
            );
            Vec::new()
        }
    }
}

/// How many samples `records` hold.
fn filled_samples(records: &[Record]) -> u64 {
    records
        .iter()
        .map(|r| match r {
            Record::Block(block) => block.samples.len() as u64,
            Record::Event(_) | Record::Lost(_) => 0,
        })
        .sum()
}

/// Opens (or resumes) one spool per configured device.
pub fn open_spools(config: &BridgeConfig) -> Result<Arc<Shared>> {
    let mut spools = Vec::new();
    for device in &config.devices {
        let dir = config.spool_dir.join(&device.name);
        let meta = StreamMeta {
            identity: StreamIdentity {
                facility: config.facility.clone(),
                bridge: config.bridge.clone(),
                port: device.name.clone(),
                episode_start_utc_ms: utc_now_ms(),
            },
            device: device::initial_device_info(device),
        };
        let spool = StreamSpool::open(&dir, meta)
            .with_context(|| format!("opening the spool in {}", dir.display()))?;
        tracing::info!(device = %device.name, unacknowledged = spool.len(), next_seq = spool.next_sample_seq(), "spool open");
        spools.push(spool);
    }
    Ok(Arc::new(Shared {
        sample_ends: Mutex::new(vec![None; spools.len()]),
        spools: Mutex::new(spools),
        appended: Notify::new(),
        max_bytes: config.spool_max_mb * 1024 * 1024,
    }))
}

/// Runs the bridge until `stop` completes (the service being stopped; `std::future::pending()`
/// for never): then the session with the hub is closed with a reason, and what the hub has not
/// acknowledged stays in the spool for the next start.
pub async fn run(config: BridgeConfig, stop: impl Future<Output = ()>) -> Result<()> {
    let shared = open_spools(&config)?;
    for (stream, device) in config.devices.iter().enumerate() {
        tokio::spawn(device::run(
            shared.clone(),
            stream,
            device.clone(),
            config.capture_dir.clone(),
        ));
    }
    uplink::run(shared, &config, stop).await
}

/// `--check`: opens each device for a few seconds and reports what it sees.
pub async fn check(config: &BridgeConfig, seconds: u64) -> Result<Vec<String>> {
    let mut report = Vec::new();
    for device in &config.devices {
        let Some(serial) = &device.serial else {
            report.push(format!(
                "{}: HL7 listener on {}: nothing to probe (the sender connects to the bridge)",
                device.name,
                device.listen.map(|a| a.to_string()).unwrap_or_default()
            ));
            continue;
        };
        let heard = probe::listen(
            serial,
            device.protocol,
            device.baud(),
            std::time::Duration::from_secs(seconds),
            0,
        )
        .await;
        match heard {
            Ok(heard) => report.push(format!(
                "{}: {} ({:?}, {} baud): {} frames, {} CTG blocks, {} frames refused (bad checksum or form), {} problems; monitor: {}",
                device.name,
                serial.display(),
                device.protocol,
                device.baud(),
                heard.frames,
                heard.blocks,
                heard.crc_errors,
                heard.problems,
                heard
                    .identified
                    .unwrap_or_else(|| "did not identify itself".into()),
            )),
            Err(error) => report.push(format!("{}: {error}", device.name)),
        }
    }
    Ok(report)
}

/// Reads the config (convenience for the CLI).
pub fn load_config(path: &Path) -> Result<BridgeConfig> {
    BridgeConfig::load(path)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ctg_proto::model::{DeviceInfo, DeviceProtocol, Sample};

    use super::*;

    fn shared(dir: &Path) -> Shared {
        let meta = StreamMeta {
            identity: StreamIdentity {
                facility: "clinic-a".into(),
                bridge: "ldr-pc-1".into(),
                port: "bed-1".into(),
                episode_start_utc_ms: 1,
            },
            device: DeviceInfo::unidentified(DeviceProtocol::Series50),
        };
        Shared {
            spools: Mutex::new(vec![StreamSpool::open(dir, meta).unwrap()]),
            sample_ends: Mutex::new(vec![None]),
            appended: Notify::new(),
            max_bytes: 1 << 30,
        }
    }

    /// One second of a monitor's samples, handed on at `now_utc_ms` (ending then).
    fn second(shared: &Shared, now: Instant, now_utc_ms: i64) {
        assert!(
            shared.block_at(0, now, now_utc_ms, |first_seq| SampleBlock {
                first_seq,
                utc_ms: now_utc_ms - 1_000,
                samples: vec![
                    Sample {
                        values: [560, 0, 0, 0, 20],
                        ..Sample::default()
                    };
                    4
                ],
                ..SampleBlock::default()
            })
        );
    }

    /// The stream's blocks: (filler, samples).
    fn blocks(shared: &Shared) -> Vec<(bool, usize)> {
        let spools = shared.spools();
        let (first, next) = spools[0].order_range();
        (first..next)
            .filter_map(|order| match spools[0].get(order) {
                Some(Record::Block(b)) => Some((b.is_filler(), b.samples.len())),
                _ => None,
            })
            .collect()
    }

    /// A block or an event the hub would refuse (a codec's mistake) would hold every later
    /// record in the spool for ever, the hub's acknowledgements stopping before it: it goes
    /// as samples of no signal, or a note, in its place.
    #[test]
    fn what_the_hub_would_refuse_goes_as_no_signal_or_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let shared = shared(dir.path());
        let now = Instant::now();
        let utc = 1_800_000_000_000;
        assert!(shared.block_at(0, now, utc, |first_seq| SampleBlock {
            first_seq,
            utc_ms: utc - 1_000,
            samples: vec![
                Sample {
                    // Above any heart rate the protocol carries.
                    values: [u16::MAX, 0, 0, 0, 20],
                    ..Sample::default()
                };
                4
            ],
            ..SampleBlock::default()
        }));
        assert_eq!(blocks(&shared), [(true, 4)]);
        shared.event(
            0,
            EventKind::Note {
                author: "monitor".into(),
                text: "x".repeat(ctg_proto::wire::MAX_TEXT_LEN + 1),
            },
        );
        second(&shared, now + Duration::from_secs(1), utc + 1_000);
        let spools = shared.spools();
        let (first, next) = spools[0].order_range();
        let records: Vec<&Record> = (first..next).filter_map(|o| spools[0].get(o)).collect();
        assert!(
            matches!(records[1], Record::Event(e) if matches!(&e.kind, EventKind::Note { author, text }
                if author == "bridge" && text.contains("left out"))),
            "{:?}",
            records[1]
        );
        assert!(matches!(records[2], Record::Block(b) if b.first_seq == 4 && !b.is_filler()));
    }

    /// A silence of the monitor is measured on the monotonic clock while the bridge runs, so
    /// the PC's clock stepped by a time sync is not taken for one; across a restart of the
    /// bridge, the spool's time of the last sample stands in.
    #[test]
    fn silences_are_timed_on_the_monotonic_clock_and_across_restarts_on_the_spools() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = Instant::now();
        let utc0 = 1_800_000_000_000;
        {
            let shared = shared(dir.path());
            second(&shared, t0, utc0);
            // A second later, the PC's clock stepped a minute ahead: no silence.
            second(&shared, t0 + Duration::from_secs(1), utc0 + 61_000);
            assert_eq!(blocks(&shared), [(false, 4), (false, 4)]);
            // The monitor away for 30 s (both clocks agree): 30 s of no signal first.
            second(&shared, t0 + Duration::from_secs(32), utc0 + 92_000);
            assert_eq!(
                blocks(&shared)[2..],
                [(true, 30 * 4), (false, 4)],
                "{:?}",
                blocks(&shared)
            );
        }
        // The bridge restarted, and its first second ends 2 min 1 s later by the clock (the
        // monitor silent for the 2 minutes before that second): the spool knows where the
        // stream had got to.
        let shared = shared(dir.path());
        second(&shared, Instant::now(), utc0 + 92_000 + 121_000);
        let after: Vec<_> = blocks(&shared)
            .into_iter()
            .skip_while(|&(filler, n)| !(filler && n == 120 * 4))
            .collect();
        assert_eq!(after, [(true, 120 * 4), (false, 4)]);
    }
}
