//! The crash-safe spool: every normalised block and event is on disk before it is sent, and
//! leaves the disk only after the hub has acknowledged it as durable.
//!
//! Shape (after vector's disk buffer): one directory per stream holding `stream.json` (identity
//! and device) and numbered segment files `seg-<n>.log` of records
//! `u32 LE length | u32 LE CRC-32 | postcard(Record)`, each appended and `fdatasync`ed before the
//! caller goes on. A segment is deleted once every record in it is acknowledged; the segment being
//! written is never deleted, and `position.json`, written (atomically) at every start, holds
//! where the stream stood then, so the stream's next sequence numbers survive any number of
//! restarts, also those with nothing written in between (the segments of the run before
//! deleted once acknowledged, the new one empty). On start the spool reads every segment back;
//! a torn last record (power cut, `kill -9` mid-write) is cut off and everything before it
//! stands.
//!
//! Bounded: the unacknowledged records are also held in memory for sending, and both are capped
//! by `max_bytes`. Past 80 % a warning is logged; at the cap the oldest segment is dropped
//! (counted and logged as an error), so live data keeps flowing, and a [`Record::Lost`] in its
//! place tells the hub which samples and events will never come: it is sent as samples of no
//! signal and notes ([`Lost::records`]), since the hub acknowledges only a contiguous stream
//! and would otherwise wait for them for ever (its acknowledgements stuck before the hole, the
//! spool never freed, full for good). A record that could not be written (a full disk) is
//! taken back from the file, and its sequence numbers are used again.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ctg_proto::model::{DeviceInfo, EventKind, SampleBlock, StreamEvent, StreamIdentity};
use serde::{Deserialize, Serialize};

/// Records per segment before a new one is started (10 minutes of 1-s blocks).
pub const RECORDS_PER_SEGMENT: u64 = 600;
/// The largest record the spool accepts back from disk.
const MAX_RECORD_LEN: usize = 1 << 20;

/// One spooled item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record {
    /// A sample block.
    Block(SampleBlock),
    /// An event.
    Event(StreamEvent),
    /// Samples and events dropped unsent (the spool was full): sent as what stands in for
    /// them ([`Lost::records`]).
    Lost(Lost),
}

/// What a full spool dropped: sample and event sequence numbers `first..end`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lost {
    /// First sample dropped.
    pub first_sample: u64,
    /// One past the last sample dropped.
    pub end_sample: u64,
    /// The bridge's time of the first sample dropped.
    pub utc_ms: i64,
    /// First event dropped.
    pub first_event: u64,
    /// One past the last event dropped.
    pub end_event: u64,
}

/// What a note standing in for a dropped event says.
pub const LOST_EVENT_NOTE: &str = "lost: the bridge's spool was full";

impl Lost {
    /// What stands in for the dropped records: blocks of no signal flagged as inserted
    /// samples ([`SampleBlock::is_filler`]), at most [`MAX_BLOCK_SAMPLES`] each, and a note
    /// from the bridge for each event.
    pub fn records(&self) -> Vec<Record> {
        let mut out: Vec<Record> = crate::cadence::no_signal_blocks(
            self.first_sample,
            self.utc_ms,
            self.end_sample.saturating_sub(self.first_sample),
        )
        .into_iter()
        .map(Record::Block)
        .collect();
        for seq in self.first_event..self.end_event {
            out.push(Record::Event(StreamEvent {
                seq,
                at_sample: self.first_sample,
                utc_ms: self.utc_ms,
                kind: EventKind::Note {
                    author: "bridge".into(),
                    text: LOST_EVENT_NOTE.into(),
                },
            }));
        }
        out
    }

    /// Takes in what `record` (being dropped) held.
    fn cover(&mut self, record: &Record) {
        let (first, end, utc_ms, events) = match record {
            Record::Block(b) => (b.first_seq, b.end_seq().unwrap_or(u64::MAX), b.utc_ms, None),
            Record::Event(e) => (u64::MAX, 0, i64::MAX, Some((e.seq, e.seq + 1))),
            Record::Lost(l) => (
                l.first_sample,
                l.end_sample,
                l.utc_ms,
                Some((l.first_event, l.end_event)).filter(|(f, e)| f < e),
            ),
        };
        if first < end {
            if self.first_sample >= self.end_sample || first < self.first_sample {
                self.utc_ms = utc_ms;
            }
            if self.first_sample >= self.end_sample {
                (self.first_sample, self.end_sample) = (first, end);
            } else {
                self.first_sample = self.first_sample.min(first);
                self.end_sample = self.end_sample.max(end);
            }
        }
        if let Some((first, end)) = events {
            if self.first_event >= self.end_event {
                (self.first_event, self.end_event) = (first, end);
            } else {
                self.first_event = self.first_event.min(first);
                self.end_event = self.end_event.max(end);
            }
        }
    }
}

impl Record {
    /// True once the hub's cumulative acknowledgement covers this record.
    fn acked_by(&self, next_sample_seq: u64, next_event_seq: u64) -> bool {
        match self {
            Record::Block(block) => block.end_seq().is_some_and(|end| end <= next_sample_seq),
            Record::Event(event) => event.seq < next_event_seq,
            Record::Lost(lost) => {
                lost.end_sample <= next_sample_seq && lost.end_event <= next_event_seq
            }
        }
    }
}

/// What `stream.json` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMeta {
    /// The stream's identity.
    pub identity: StreamIdentity,
    /// The device behind it.
    pub device: DeviceInfo,
}

#[derive(Debug)]
struct Spooled {
    segment: u64,
    order: u64,
    bytes: u64,
    record: Record,
}

/// Where a stream stood: what `position.json` holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    next_sample_seq: u64,
    next_event_seq: u64,
    /// The bridge's time just after the last sample (the last block's time plus its
    /// samples), if a block was ever spooled.
    #[serde(default)]
    next_sample_utc_ms: Option<i64>,
}

/// The spool of one stream.
#[derive(Debug)]
pub struct StreamSpool {
    dir: PathBuf,
    meta: StreamMeta,
    records: VecDeque<Spooled>,
    next_order: u64,
    next_sample_seq: u64,
    next_event_seq: u64,
    next_sample_utc_ms: Option<i64>,
    segment: u64,
    segment_records: u64,
    file: File,
    bytes: u64,
    /// Records dropped because the spool was full.
    pub dropped_records: u64,
}

/// Makes a directory's entries durable (a file made or renamed in it): an fsync of the
/// directory on Unix. Windows has no such call (a directory cannot be flushed; NTFS journals
/// its metadata), so there it is nothing.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("seg-{segment:012}.log"))
}

fn segments(dir: &Path) -> Result<Vec<u64>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name
            .strip_prefix("seg-")
            .and_then(|rest| rest.strip_suffix(".log"))
            .and_then(|n| n.parse().ok())
        {
            found.push(n);
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// The time just after a block's last sample (4 Hz).
fn end_utc_ms(block: &SampleBlock) -> i64 {
    block
        .utc_ms
        .saturating_add(250 * block.samples.len() as i64)
}

pub(crate) fn encode_record(record: &Record) -> Result<Vec<u8>> {
    let body = postcard::to_stdvec(record)?;
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend((body.len() as u32).to_le_bytes());
    out.extend(crc32fast::hash(&body).to_le_bytes());
    out.extend(body);
    Ok(out)
}

/// Reads a segment's good records and the length of its good prefix.
pub(crate) fn read_segment(path: &Path) -> Result<(Vec<(Record, u64)>, u64)> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut records = Vec::new();
    let mut at = 0usize;
    while bytes.len() - at >= 8 {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4")) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4"));
        if len > MAX_RECORD_LEN || bytes.len() - at - 8 < len {
            break;
        }
        let body = &bytes[at + 8..at + 8 + len];
        if crc32fast::hash(body) != crc {
            break;
        }
        let Ok(record) = postcard::from_bytes::<Record>(body) else {
            break;
        };
        records.push((record, (len + 8) as u64));
        at += len + 8;
    }
    Ok((records, at as u64))
}

impl StreamSpool {
    /// Opens the stream spool in `dir`, creating it with `meta` if it does not exist, and reads
    /// back whatever it holds.
    pub fn open(dir: &Path, meta: StreamMeta) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let meta_path = dir.join("stream.json");
        let meta = if meta_path.exists() {
            let text = std::fs::read_to_string(&meta_path)?;
            serde_json::from_str(&text)
                .with_context(|| format!("reading {}", meta_path.display()))?
        } else {
            let tmp = dir.join("stream.json.tmp");
            let mut file = File::create(&tmp)?;
            file.write_all(serde_json::to_string_pretty(&meta)?.as_bytes())?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&tmp, &meta_path)?;
            sync_dir(dir)?;
            meta
        };
        let mut records = VecDeque::new();
        let position_path = dir.join("position.json");
        let kept: Position = if position_path.exists() {
            serde_json::from_str(&std::fs::read_to_string(&position_path)?)
                .with_context(|| format!("reading {}", position_path.display()))?
        } else {
            Position::default()
        };
        let mut next_order = 0;
        let Position {
            mut next_sample_seq,
            mut next_event_seq,
            mut next_sample_utc_ms,
        } = kept;
        let found = segments(dir)?;
        let mut bytes = 0;
        for &segment in &found {
            let path = segment_path(dir, segment);
            let (read, good_len) = read_segment(&path)?;
            if good_len < std::fs::metadata(&path)?.len() {
                tracing::warn!(path = %path.display(), good_len, "cutting a torn record off the spool");
                OpenOptions::new()
                    .write(true)
                    .open(&path)?
                    .set_len(good_len)?;
            }
            for (record, len) in read {
                match &record {
                    Record::Block(block) => {
                        let end = block.end_seq().unwrap_or(u64::MAX);
                        if end >= next_sample_seq {
                            next_sample_seq = end;
                            next_sample_utc_ms = Some(end_utc_ms(block));
                        }
                    }
                    Record::Event(event) => next_event_seq = next_event_seq.max(event.seq + 1),
                    Record::Lost(_) => {}
                }
                bytes += len;
                records.push_back(Spooled {
                    segment,
                    order: next_order,
                    bytes: len,
                    record,
                });
                next_order += 1;
            }
        }
        // Where the stream stands now, kept before the segments it was read from may go.
        let position = Position {
            next_sample_seq,
            next_event_seq,
            next_sample_utc_ms,
        };
        if position != kept {
            let tmp = dir.join("position.json.tmp");
            let mut file = File::create(&tmp)?;
            file.write_all(serde_json::to_string(&position)?.as_bytes())?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&tmp, &position_path)?;
            sync_dir(dir)?;
        }
        let segment = found.last().map_or(0, |&last| last + 1);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(segment_path(dir, segment))?;
        Ok(Self {
            dir: dir.to_owned(),
            meta,
            records,
            next_order,
            next_sample_seq,
            next_event_seq,
            next_sample_utc_ms,
            segment,
            segment_records: 0,
            file,
            bytes,
            dropped_records: 0,
        })
    }

    /// The stream's identity and device.
    pub fn meta(&self) -> &StreamMeta {
        &self.meta
    }

    /// Sequence number the next sample block starts at.
    pub fn next_sample_seq(&self) -> u64 {
        self.next_sample_seq
    }

    /// Sequence number of the next event.
    pub fn next_event_seq(&self) -> u64 {
        self.next_event_seq
    }

    /// The bridge's time just after the last sample spooled (its block's time plus its
    /// samples at 4 Hz), also across a restart; `None` before the first block.
    pub fn next_sample_utc_ms(&self) -> Option<i64> {
        self.next_sample_utc_ms
    }

    /// Moves the stream's next sequence numbers up to the hub's, where the hub holds more than
    /// this spool knows of (a spool folder emptied or restored from an old copy): new data
    /// then goes on after what the hub has, instead of being taken there for what it already
    /// holds. True if it moved.
    pub fn catch_up(&mut self, next_sample_seq: u64, next_event_seq: u64) -> bool {
        let moved = next_sample_seq > self.next_sample_seq || next_event_seq > self.next_event_seq;
        if next_sample_seq > self.next_sample_seq {
            self.next_sample_seq = next_sample_seq;
            // The time of the samples the hub holds beyond ours is unknown here.
            self.next_sample_utc_ms = None;
        }
        self.next_event_seq = self.next_event_seq.max(next_event_seq);
        moved
    }

    /// Bytes of unacknowledged records.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Unacknowledged records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when everything is acknowledged.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Appends a record durably; returns its order number (for the uplink's cursors).
    /// Block and event sequence numbers must be the spool's next ones.
    ///
    /// A record that cannot be written (a full disk) leaves nothing behind: what was written
    /// of it is cut from the file (a torn record there would cut everything after it at the
    /// next start), and its sequence numbers are the next ones again, so no hole opens in the
    /// stream.
    pub fn append(&mut self, record: Record) -> Result<u64> {
        let before = (
            self.next_sample_seq,
            self.next_event_seq,
            self.next_sample_utc_ms,
        );
        match &record {
            Record::Block(block) => {
                debug_assert_eq!(block.first_seq, self.next_sample_seq);
                self.next_sample_seq = block.end_seq().context("sequence overflow")?;
                self.next_sample_utc_ms = Some(end_utc_ms(block));
            }
            Record::Event(event) => {
                debug_assert_eq!(event.seq, self.next_event_seq);
                self.next_event_seq = event.seq + 1;
            }
            Record::Lost(_) => {}
        }
        let written = self.write(&record);
        if written.is_err() {
            (
                self.next_sample_seq,
                self.next_event_seq,
                self.next_sample_utc_ms,
            ) = before;
        }
        let bytes = written?;
        self.segment_records += 1;
        self.bytes += bytes.len() as u64;
        let order = self.next_order;
        self.next_order += 1;
        self.records.push_back(Spooled {
            segment: self.segment,
            order,
            bytes: bytes.len() as u64,
            record,
        });
        Ok(order)
    }

    /// Writes one record at the end of the segment being written (starting the next segment
    /// when this one is full) and syncs it; on failure, cuts what was written of it. Returns
    /// its encoded bytes.
    fn write(&mut self, record: &Record) -> Result<Vec<u8>> {
        if self.segment_records >= RECORDS_PER_SEGMENT {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(segment_path(&self.dir, self.segment + 1))?;
            self.segment += 1;
            self.segment_records = 0;
            self.file = file;
            sync_dir(&self.dir)?;
        }
        let bytes = encode_record(record)?;
        let length = self.file.metadata()?.len();
        let written = self
            .file
            .write_all(&bytes)
            .and_then(|()| self.file.sync_data());
        if let Err(error) = written {
            if let Err(cut) = self.file.set_len(length) {
                tracing::error!(%cut, "a record that could not be written could not be cut either");
            }
            return Err(error.into());
        }
        Ok(bytes)
    }

    /// Appends many records, syncing once per segment instead of once per record (for imports
    /// and tests that fill a spool; live data goes through [`Self::append`]).
    pub fn append_all(&mut self, records: impl IntoIterator<Item = Record>) -> Result<()> {
        let mut buffer = Vec::new();
        for record in records {
            match &record {
                Record::Block(block) => {
                    self.next_sample_seq = block.end_seq().context("sequence overflow")?;
                    self.next_sample_utc_ms = Some(end_utc_ms(block));
                }
                Record::Event(event) => self.next_event_seq = event.seq + 1,
                Record::Lost(_) => {}
            }
            if self.segment_records >= RECORDS_PER_SEGMENT {
                self.file.write_all(&buffer)?;
                self.file.sync_data()?;
                buffer.clear();
                self.segment += 1;
                self.segment_records = 0;
                self.file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(segment_path(&self.dir, self.segment))?;
            }
            let bytes = encode_record(&record)?;
            buffer.extend_from_slice(&bytes);
            self.segment_records += 1;
            self.bytes += bytes.len() as u64;
            self.records.push_back(Spooled {
                segment: self.segment,
                order: self.next_order,
                bytes: bytes.len() as u64,
                record,
            });
            self.next_order += 1;
        }
        self.file.write_all(&buffer)?;
        self.file.sync_data()?;
        sync_dir(&self.dir)?;
        Ok(())
    }

    /// Takes the hub's cumulative acknowledgement: drops acknowledged records from the front
    /// and deletes segments nothing unacknowledged lives in any more.
    pub fn ack(&mut self, next_sample_seq: u64, next_event_seq: u64) -> Result<()> {
        while let Some(front) = self.records.front() {
            if !front.record.acked_by(next_sample_seq, next_event_seq) {
                break;
            }
            self.bytes -= front.bytes;
            self.records.pop_front();
        }
        self.delete_old_segments()
    }

    fn delete_old_segments(&mut self) -> Result<()> {
        let keep_from = self.records.front().map_or(self.segment, |r| r.segment);
        for segment in segments(&self.dir)? {
            if segment < keep_from && segment < self.segment {
                std::fs::remove_file(segment_path(&self.dir, segment))?;
            }
        }
        Ok(())
    }

    /// Drops the oldest segment's records (the spool is full), and appends a [`Record::Lost`]
    /// saying what they held. Returns how many were dropped.
    pub fn drop_oldest_segment(&mut self) -> Result<u64> {
        let Some(oldest) = self.records.front().map(|r| r.segment) else {
            return Ok(0);
        };
        if oldest == self.segment {
            return Ok(0);
        }
        let mut dropped = 0;
        let mut lost = Lost::default();
        while self.records.front().is_some_and(|r| r.segment == oldest) {
            let r = self.records.pop_front().expect("front");
            self.bytes -= r.bytes;
            lost.cover(&r.record);
            dropped += 1;
        }
        self.dropped_records += dropped;
        self.append(Record::Lost(lost))?;
        self.delete_old_segments()?;
        Ok(dropped)
    }

    /// The order number of the first unacknowledged record, and of the next one to be appended.
    pub fn order_range(&self) -> (u64, u64) {
        (
            self.records.front().map_or(self.next_order, |r| r.order),
            self.next_order,
        )
    }

    /// The record with this order number, if still spooled.
    pub fn get(&self, order: u64) -> Option<&Record> {
        let front = self.records.front()?.order;
        let index = usize::try_from(order.checked_sub(front)?).ok()?;
        self.records.get(index).map(|r| &r.record)
    }

    /// The order number of the first spooled record that holds sample `seq` or a later one.
    pub fn order_of_sample(&self, seq: u64) -> u64 {
        self.records
            .iter()
            .find(|r| match &r.record {
                Record::Block(b) => b.end_seq().is_some_and(|end| end > seq),
                Record::Lost(lost) => lost.end_sample > seq,
                Record::Event(_) => false,
            })
            .map_or(self.next_order, |r| r.order)
    }
}

#[cfg(test)]
mod tests {
    use ctg_proto::model::{DeviceProtocol, EventKind, Sample};
    use ctg_proto::wire::MAX_BLOCK_SAMPLES;

    use super::*;

    fn meta() -> StreamMeta {
        StreamMeta {
            identity: StreamIdentity {
                facility: "f".into(),
                bridge: "b".into(),
                port: "p".into(),
                episode_start_utc_ms: 1,
            },
            device: DeviceInfo::unidentified(DeviceProtocol::Series50),
        }
    }

    fn block(first_seq: u64) -> Record {
        Record::Block(SampleBlock {
            first_seq,
            samples: vec![
                Sample {
                    values: [first_seq as u16 % 1000 + 1, 0, 0, 0, 0],
                    ..Sample::default()
                };
                4
            ],
            ..SampleBlock::default()
        })
    }

    fn event(seq: u64) -> Record {
        Record::Event(StreamEvent {
            seq,
            at_sample: 0,
            utc_ms: 0,
            kind: EventKind::Marker,
        })
    }

    #[test]
    fn records_survive_a_restart_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut spool = StreamSpool::open(dir.path(), meta()).unwrap();
            for i in 0..10 {
                spool.append(block(i * 4)).unwrap();
            }
            spool.append(event(0)).unwrap();
        }
        // A write torn by a power cut: half a record at the end.
        let segment = segment_path(dir.path(), 0);
        let mut torn = encode_record(&block(40)).unwrap();
        torn.truncate(torn.len() / 2);
        OpenOptions::new()
            .append(true)
            .open(&segment)
            .unwrap()
            .write_all(&torn)
            .unwrap();

        let spool = StreamSpool::open(dir.path(), meta()).unwrap();
        assert_eq!(spool.len(), 11);
        assert_eq!(spool.next_sample_seq(), 40);
        assert_eq!(spool.next_event_seq(), 1);
        let (first, _) = spool.order_range();
        assert_eq!(spool.get(first + 3), Some(&block(12)));
        // The torn half is gone from the file.
        let (records, good) = read_segment(&segment).unwrap();
        assert_eq!(records.len(), 11);
        assert_eq!(std::fs::metadata(&segment).unwrap().len(), good);
    }

    #[test]
    fn acknowledged_segments_are_deleted_but_the_stream_position_survives() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = StreamSpool::open(dir.path(), meta()).unwrap();
        let n = RECORDS_PER_SEGMENT * 2 + 5;
        for i in 0..n {
            spool.append(block(i * 4)).unwrap();
        }
        assert_eq!(segments(dir.path()).unwrap().len(), 3);
        spool.ack(RECORDS_PER_SEGMENT * 4 + 8, 0).unwrap();
        assert_eq!(segments(dir.path()).unwrap(), vec![1, 2]);
        assert_eq!(spool.len() as u64, n - RECORDS_PER_SEGMENT - 2);
        spool.ack(n * 4, 0).unwrap();
        assert!(spool.is_empty());
        assert_eq!(
            segments(dir.path()).unwrap(),
            vec![2],
            "the segment being written stays"
        );
        drop(spool);
        let spool = StreamSpool::open(dir.path(), meta()).unwrap();
        assert_eq!(
            spool.next_sample_seq(),
            n * 4,
            "the next sequence number survives"
        );
    }

    /// Restarted twice with nothing spooled in between (a PC rebooted while its monitor was
    /// off), the stream still goes on at its next sequence number: starting again at 0 would
    /// have had the hub take new data for samples it already holds.
    #[test]
    fn the_stream_position_survives_restarts_with_nothing_spooled_between() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = StreamSpool::open(dir.path(), meta()).unwrap();
        for i in 0..5 {
            spool.append(block(i * 4)).unwrap();
        }
        spool.append(event(0)).unwrap();
        spool.ack(20, 1).unwrap();
        drop(spool);
        for restart in 1..=3 {
            let mut spool = StreamSpool::open(dir.path(), meta()).unwrap();
            assert_eq!(spool.next_sample_seq(), 20, "restart {restart}");
            assert_eq!(spool.next_event_seq(), 1, "restart {restart}");
            // The test blocks are stamped 0: the last one ends 4 samples (1 s) later.
            assert_eq!(spool.next_sample_utc_ms(), Some(1_000), "restart {restart}");
            // Connected: the hub acknowledges what it has, and the spool's old segments go.
            spool.ack(20, 1).unwrap();
        }
        assert!(
            segments(dir.path()).unwrap().len() <= 2,
            "acknowledged segments still go"
        );
    }

    /// Where the hub holds more of the stream than the spool knows (its folder emptied), new
    /// data goes on after the hub's.
    #[test]
    fn a_spool_behind_the_hub_catches_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = StreamSpool::open(dir.path(), meta()).unwrap();
        spool.append(block(0)).unwrap();
        assert!(spool.catch_up(4_000, 7));
        assert_eq!(
            (spool.next_sample_seq(), spool.next_event_seq()),
            (4_000, 7)
        );
        assert_eq!(spool.next_sample_utc_ms(), None);
        assert!(!spool.catch_up(100, 0), "never backwards");
        spool.append(block(4_000)).unwrap();
        assert_eq!(spool.next_sample_seq(), 4_004);
    }

    #[test]
    fn dropping_the_oldest_segment_counts_what_was_lost() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = StreamSpool::open(dir.path(), meta()).unwrap();
        for i in 0..RECORDS_PER_SEGMENT - 2 {
            spool.append(block(i * 4)).unwrap();
        }
        spool.append(event(0)).unwrap();
        spool.append(event(1)).unwrap();
        for i in RECORDS_PER_SEGMENT - 2..RECORDS_PER_SEGMENT + 1 {
            spool.append(block(i * 4)).unwrap();
        }
        let before = spool.bytes();
        assert_eq!(spool.drop_oldest_segment().unwrap(), RECORDS_PER_SEGMENT);
        assert_eq!(spool.dropped_records, RECORDS_PER_SEGMENT);
        assert!(spool.bytes() < before);
        // The three blocks after the segment, and what the segment held, in its place.
        assert_eq!(spool.len(), 4);
        let (first, next) = spool.order_range();
        let lost = Lost {
            first_sample: 0,
            end_sample: (RECORDS_PER_SEGMENT - 2) * 4,
            utc_ms: 0,
            first_event: 0,
            end_event: 2,
        };
        assert_eq!(spool.get(next - 1), Some(&Record::Lost(lost)));
        // A resend of a dropped sample starts at the first record holding it or a later one,
        // and so takes in what stands in for it (appended last).
        assert_eq!(spool.order_of_sample(8), first);
        assert_eq!(spool.order_of_sample(lost.end_sample + 12), next);
        // Kept across a restart, and gone once the hub has acknowledged past it.
        drop(spool);
        let mut spool = StreamSpool::open(dir.path(), meta()).unwrap();
        assert!(spool.records.iter().any(|r| r.record == Record::Lost(lost)));
        spool.ack(lost.end_sample + 12, 2).unwrap();
        assert!(spool.is_empty());
        // The segment being written is never dropped.
        assert_eq!(spool.drop_oldest_segment().unwrap(), 0);
    }

    /// What stands in for dropped records: samples of no signal in blocks the wire takes,
    /// stamped from the first one's time, and a note from the bridge for each event; a second
    /// drop that takes an earlier stand-in with it covers both.
    #[test]
    fn what_a_full_spool_dropped_is_sent_as_no_signal_and_notes() {
        let lost = Lost {
            first_sample: 100,
            end_sample: 100 + MAX_BLOCK_SAMPLES as u64 + 4,
            utc_ms: 1_000_000,
            first_event: 7,
            end_event: 9,
        };
        let records = lost.records();
        assert_eq!(records.len(), 4);
        let Record::Block(first) = &records[0] else {
            panic!("{:?}", records[0])
        };
        assert!(first.is_filler());
        assert_eq!(
            (first.first_seq, first.samples.len()),
            (100, MAX_BLOCK_SAMPLES)
        );
        let Record::Block(second) = &records[1] else {
            panic!("{:?}", records[1])
        };
        assert_eq!(
            (second.first_seq, second.samples.len()),
            (100 + MAX_BLOCK_SAMPLES as u64, 4)
        );
        assert_eq!(second.utc_ms, 1_000_000 + 250 * MAX_BLOCK_SAMPLES as i64);
        for (record, seq) in records[2..].iter().zip(7..) {
            assert!(matches!(record, Record::Event(e) if e.seq == seq
                && matches!(&e.kind, EventKind::Note { author, text } if author == "bridge" && text == LOST_EVENT_NOTE)));
        }
        let mut merged = Lost::default();
        for record in [
            Record::Lost(lost),
            block(100 + MAX_BLOCK_SAMPLES as u64 + 4),
            event(9),
        ] {
            merged.cover(&record);
        }
        assert_eq!(
            (
                merged.first_sample,
                merged.end_sample,
                merged.first_event,
                merged.end_event
            ),
            (100, 100 + MAX_BLOCK_SAMPLES as u64 + 8, 7, 10)
        );
        assert_eq!(merged.utc_ms, 1_000_000);
    }

    /// A record that could not be written leaves no hole in the stream's numbers, and what is
    /// written after it is read back. (Cutting a partly written record from a real file is
    /// not exercised: a disk that fills halfway through a write is not made here.)
    #[cfg(target_os = "linux")]
    #[test]
    fn a_record_that_cannot_be_written_leaves_no_hole_in_the_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = StreamSpool::open(dir.path(), meta()).unwrap();
        spool.append(block(0)).unwrap();
        // A file that takes no more bytes: a disk that is full.
        let full = OpenOptions::new().write(true).open("/dev/full").unwrap();
        let real = std::mem::replace(&mut spool.file, full);
        assert!(spool.append(block(4)).is_err());
        assert_eq!(
            spool.next_sample_seq(),
            4,
            "its numbers are the next ones again"
        );
        spool.file = real;
        spool.append(block(4)).unwrap();
        spool.append(block(8)).unwrap();
        drop(spool);
        let spool = StreamSpool::open(dir.path(), meta()).unwrap();
        assert_eq!(spool.len(), 3, "everything written since is read back");
        assert_eq!(spool.next_sample_seq(), 12);
    }

    #[test]
    fn a_resend_starts_at_the_record_holding_the_sample() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = StreamSpool::open(dir.path(), meta()).unwrap();
        for i in 0..5 {
            spool.append(block(i * 4)).unwrap();
        }
        let (first, next) = spool.order_range();
        assert_eq!(spool.order_of_sample(9), first + 2);
        assert_eq!(spool.order_of_sample(1000), next);
    }
}
