//! The hub's durable store, behind a trait so a distributed backend can replace SQLite later.
//!
//! SQLite (rusqlite, bundled) in WAL mode with `synchronous=FULL`: a commit is on disk when
//! [`Store::commit`] returns, and only then does the ingest acknowledge. One transaction per
//! commit, so the ingest groups everything that arrived in one tick into one fsync.
//!
//! Samples arrive as 1-s blocks; one row per block would cost ~50 bytes of row overhead per
//! second. Blocks therefore land in `blocks` and, once a stream has [`CHUNK_BLOCKS`] contiguous
//! ones, [`Store::compact`] folds them into one `chunks` row (compact columnar encoding of
//! `ctg-formats`, postcard block headers) in one transaction. Steady state: about 25 KiB per
//! stream-hour in chunks plus at most ten minutes of small rows.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use ctg_formats::compact::{decode_samples, encode_samples};
use ctg_proto::model::{BlockFlags, DeviceInfo, Modes, SampleBlock, StreamEvent, StreamIdentity};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// Blocks folded into one chunk (thirty minutes of 1-s blocks).
pub const CHUNK_BLOCKS: usize = 1800;

/// A stream as the store knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StreamRecord {
    /// The store's ID.
    pub id: i64,
    /// Who sends it.
    pub identity: StreamIdentity,
    /// The device behind it.
    pub device: DeviceInfo,
}

/// What the store already holds of a stream: the sample ranges and event numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holdings {
    /// Held sample ranges, `first → end`, merged where they touch.
    pub ranges: BTreeMap<u64, u64>,
    /// Held event sequence numbers beyond the contiguous prefix.
    pub events_beyond: std::collections::BTreeSet<u64>,
    /// Every event below this is held.
    pub next_event_seq: u64,
}

impl Holdings {
    /// Every sample below this is held.
    pub fn next_sample_seq(&self) -> u64 {
        match self.ranges.first_key_value() {
            Some((&0, &end)) => end,
            _ => 0,
        }
    }

    /// True if any sample of `first..end` is already held.
    pub fn overlaps(&self, first: u64, end: u64) -> bool {
        self.ranges
            .range(..end)
            .next_back()
            .is_some_and(|(_, &held_end)| held_end > first)
    }

    /// Records `first..end` as held.
    pub fn add_samples(&mut self, first: u64, end: u64) {
        let (mut first, mut end) = (first, end);
        if let Some((&f, &e)) = self.ranges.range(..=first).next_back()
            && e >= first
        {
            first = f;
            end = end.max(e);
            self.ranges.remove(&f);
        }
        while let Some((&f, &e)) = self.ranges.range(first..=end).next() {
            end = end.max(e);
            self.ranges.remove(&f);
        }
        self.ranges.insert(first, end);
    }

    /// Records an event as held; false if it already was.
    pub fn add_event(&mut self, seq: u64) -> bool {
        if seq < self.next_event_seq || !self.events_beyond.insert(seq) {
            return false;
        }
        while self.events_beyond.remove(&self.next_event_seq) {
            self.next_event_seq += 1;
        }
        true
    }

    /// The first gap after the contiguous prefix: `(from, until)` missing samples, if the
    /// store holds anything beyond a hole.
    pub fn first_gap(&self) -> Option<(u64, u64)> {
        let next = self.next_sample_seq();
        self.ranges
            .range(next.saturating_add(1)..)
            .next()
            .map(|(&first, _)| (next, first))
            .or_else(|| {
                self.ranges
                    .first_key_value()
                    .filter(|(f, _)| **f > 0)
                    .map(|(&f, _)| (0, f))
            })
    }
}

/// One write of a commit.
#[derive(Clone, Debug)]
pub enum Write {
    /// A block of a stream.
    Block(i64, SampleBlock),
    /// An event of a stream.
    Event(i64, StreamEvent),
}

/// The store.
pub trait Store: Send {
    /// The stream with this identity, created if new, with what is already held of it.
    fn open_stream(
        &mut self,
        identity: &StreamIdentity,
        device: &DeviceInfo,
    ) -> Result<(StreamRecord, Holdings)>;
    /// Writes everything durably in one transaction.
    fn commit(&mut self, writes: &[Write]) -> Result<()>;
    /// Every stream.
    fn streams(&self) -> Result<Vec<StreamRecord>>;
    /// The blocks of a stream overlapping `from..until`, in order.
    fn blocks(&self, stream: i64, from: u64, until: u64) -> Result<Vec<SampleBlock>>;
    /// The events of a stream, in order.
    fn events(&self, stream: i64) -> Result<Vec<StreamEvent>>;
    /// Folds a stream's small block rows into chunks where [`CHUNK_BLOCKS`] are contiguous, or
    /// (with `whole`, when the stream has ended or gone idle) every run of them.
    fn compact(&mut self, stream: i64, whole: bool) -> Result<usize>;
}

/// The block headers of a chunk, run-length and delta encoded: blocks are contiguous, nearly
/// all hold four samples, their modes and flags rarely change, and each starts about
/// 250 ms × (samples before it) after the previous one.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct ChunkHeader {
    first_seq: u64,
    first_utc_ms: i64,
    /// `(count, samples per block)` runs.
    lengths: Vec<(u32, u16)>,
    /// Per block after the first: its UTC minus the previous block's UTC plus 250 ms per sample.
    utc_deltas: Vec<i64>,
    /// `(block index, modes, flags, FSpO2)` where they change (always at index 0).
    metadata: Vec<(u32, Modes, BlockFlags, Option<u8>)>,
}

#[derive(Serialize, Deserialize)]
struct Chunk {
    header: ChunkHeader,
    samples: Vec<u8>,
}

/// Encodes contiguous blocks as one chunk.
fn encode_chunk(blocks: &[SampleBlock]) -> Result<Vec<u8>> {
    let mut header = ChunkHeader {
        first_seq: blocks.first().map_or(0, |b| b.first_seq),
        first_utc_ms: blocks.first().map_or(0, |b| b.utc_ms),
        ..ChunkHeader::default()
    };
    let mut all = Vec::new();
    let mut previous: Option<&SampleBlock> = None;
    for (i, b) in blocks.iter().enumerate() {
        let len = u16::try_from(b.samples.len()).context("block too long for a chunk")?;
        match header.lengths.last_mut() {
            Some((count, l)) if *l == len => *count += 1,
            _ => header.lengths.push((1, len)),
        }
        if let Some(p) = previous {
            if b.first_seq != p.end_seq().unwrap_or(u64::MAX) {
                bail!(
                    "chunk blocks must be contiguous: {} after {}",
                    b.first_seq,
                    p.first_seq
                );
            }
            header
                .utc_deltas
                .push(b.utc_ms - (p.utc_ms + 250 * p.samples.len() as i64));
        }
        let meta = (b.modes, b.flags, b.fspo2_percent);
        let changed = header
            .metadata
            .last()
            .is_none_or(|&(_, m, f, s)| (m, f, s) != meta);
        if changed {
            header
                .metadata
                .push((i as u32, b.modes, b.flags, b.fspo2_percent));
        }
        all.extend_from_slice(&b.samples);
        previous = Some(b);
    }
    let mut samples = Vec::new();
    encode_samples(&all, &mut samples);
    Ok(postcard::to_stdvec(&Chunk { header, samples })?)
}

fn encode_block(block: &SampleBlock) -> Result<Vec<u8>> {
    encode_chunk(std::slice::from_ref(block))
}

fn decode_chunk(bytes: &[u8]) -> Result<Vec<SampleBlock>> {
    let chunk: Chunk = postcard::from_bytes(bytes).context("corrupt chunk header")?;
    let h = chunk.header;
    let total: usize = h
        .lengths
        .iter()
        .map(|&(n, l)| n as usize * usize::from(l))
        .sum();
    let samples = decode_samples(&chunk.samples, total).context("corrupt chunk samples")?;
    let mut out: Vec<SampleBlock> = Vec::new();
    let (mut at, mut seq, mut utc) = (0usize, h.first_seq, h.first_utc_ms);
    let mut meta = h.metadata.iter().peekable();
    let (mut modes, mut flags, mut fspo2) = (Modes::default(), BlockFlags(0), None);
    let mut deltas = h.utc_deltas.iter();
    let mut index = 0u32;
    for &(count, len) in &h.lengths {
        for _ in 0..count {
            if let Some(&&(i, m, f, s)) = meta.peek()
                && i == index
            {
                (modes, flags, fspo2) = (m, f, s);
                meta.next();
            }
            if let Some(previous) = out.last() {
                utc = previous.utc_ms
                    + 250 * previous.samples.len() as i64
                    + deltas
                        .next()
                        .copied()
                        .context("corrupt chunk: a UTC delta is missing")?;
            }
            let len = usize::from(len);
            let block_samples = samples
                .get(at..at + len)
                .context("corrupt chunk: samples run short")?;
            out.push(SampleBlock {
                first_seq: seq,
                utc_ms: utc,
                modes,
                flags,
                fspo2_percent: fspo2,
                samples: block_samples.to_vec(),
            });
            at += len;
            seq += len as u64;
            index += 1;
        }
    }
    Ok(out)
}

/// SQLite.
pub struct SqliteStore {
    db: Connection,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

/// Opens a connection to the hub's database as every part of the hub shares it: WAL, every
/// commit synced, and a wait of up to 10 s for a lock rather than a failure (the store writer,
/// accounts, records, notifier and readers share the file, and so does `mimamori user add`
/// beside a running hub). Switching a new file to WAL takes a lock SQLite does not wait for,
/// so that switch is tried again for up to 10 s; a file already in WAL is left as it is.
pub fn open_database(path: &Path) -> Result<Connection> {
    let db = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    db.busy_timeout(std::time::Duration::from_secs(10))?;
    let mut tries = 0;
    loop {
        let mode: String = db.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if mode.eq_ignore_ascii_case("wal") {
            break;
        }
        match db.pragma_update(None, "journal_mode", "WAL") {
            Ok(()) => break,
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && tries < 200 =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(error) => {
                return Err(error).with_context(|| format!("{}: switching to WAL", path.display()));
            }
        }
    }
    db.pragma_update(None, "synchronous", "FULL")?;
    Ok(db)
}

impl SqliteStore {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let db = open_database(path)?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS streams(
                 id INTEGER PRIMARY KEY,
                 facility TEXT NOT NULL, bridge TEXT NOT NULL, port TEXT NOT NULL,
                 episode_start INTEGER NOT NULL, device TEXT NOT NULL,
                 UNIQUE(facility, bridge, port, episode_start));
             CREATE TABLE IF NOT EXISTS blocks(
                 stream_id INTEGER NOT NULL, first_seq INTEGER NOT NULL, end_seq INTEGER NOT NULL,
                 data BLOB NOT NULL, PRIMARY KEY(stream_id, first_seq)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS chunks(
                 id INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL, first_seq INTEGER NOT NULL,
                 end_seq INTEGER NOT NULL, data BLOB NOT NULL, UNIQUE(stream_id, first_seq));
             CREATE TABLE IF NOT EXISTS events(
                 stream_id INTEGER NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL,
                 PRIMARY KEY(stream_id, seq)) WITHOUT ROWID;",
        )?;
        Ok(Self { db })
    }

    fn ranges(&self, table: &str, stream: i64) -> Result<Vec<(u64, u64)>> {
        let mut query = self.db.prepare_cached(&format!(
            "SELECT first_seq, end_seq FROM {table} WHERE stream_id = ?1 ORDER BY first_seq"
        ))?;
        let rows = query.query_map([stream], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn identity_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, StreamIdentity, String)> {
    Ok((
        row.get(0)?,
        StreamIdentity {
            facility: row.get(1)?,
            bridge: row.get(2)?,
            port: row.get(3)?,
            episode_start_utc_ms: row.get(4)?,
        },
        row.get(5)?,
    ))
}

impl Store for SqliteStore {
    fn open_stream(
        &mut self,
        identity: &StreamIdentity,
        device: &DeviceInfo,
    ) -> Result<(StreamRecord, Holdings)> {
        let device_json = serde_json::to_string(device)?;
        let existing: Option<i64> = self
            .db
            .query_row(
                "SELECT id FROM streams WHERE facility=?1 AND bridge=?2 AND port=?3 AND episode_start=?4",
                params![identity.facility, identity.bridge, identity.port, identity.episode_start_utc_ms],
                |r| r.get(0),
            )
            .optional()?;
        let id = match existing {
            Some(id) => {
                self.db.execute(
                    "UPDATE streams SET device=?1 WHERE id=?2",
                    params![device_json, id],
                )?;
                id
            }
            None => {
                self.db.execute(
                    "INSERT INTO streams(facility, bridge, port, episode_start, device) VALUES(?1,?2,?3,?4,?5)",
                    params![identity.facility, identity.bridge, identity.port, identity.episode_start_utc_ms, device_json],
                )?;
                self.db.last_insert_rowid()
            }
        };
        let mut holdings = Holdings::default();
        for table in ["chunks", "blocks"] {
            for (first, end) in self.ranges(table, id)? {
                holdings.add_samples(first, end);
            }
        }
        let mut query = self
            .db
            .prepare_cached("SELECT seq FROM events WHERE stream_id=?1")?;
        let seqs = query.query_map([id], |r| r.get::<_, i64>(0))?;
        for seq in seqs {
            holdings.add_event(seq? as u64);
        }
        Ok((
            StreamRecord {
                id,
                identity: identity.clone(),
                device: device.clone(),
            },
            holdings,
        ))
    }

    fn commit(&mut self, writes: &[Write]) -> Result<()> {
        let tx = self.db.transaction()?;
        {
            let mut block = tx.prepare_cached(
                "INSERT OR IGNORE INTO blocks(stream_id, first_seq, end_seq, data) VALUES(?1,?2,?3,?4)",
            )?;
            let mut event = tx.prepare_cached(
                "INSERT OR IGNORE INTO events(stream_id, seq, data) VALUES(?1,?2,?3)",
            )?;
            for write in writes {
                match write {
                    Write::Block(stream, b) => {
                        let end = b.end_seq().context("sequence overflow")?;
                        block.execute(params![
                            stream,
                            b.first_seq as i64,
                            end as i64,
                            encode_block(b)?
                        ])?;
                    }
                    Write::Event(stream, e) => {
                        event.execute(params![stream, e.seq as i64, postcard::to_stdvec(e)?])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn streams(&self) -> Result<Vec<StreamRecord>> {
        let mut query = self.db.prepare_cached(
            "SELECT id, facility, bridge, port, episode_start, device FROM streams ORDER BY id",
        )?;
        let rows = query.query_map([], identity_of)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, identity, device) = row?;
            out.push(StreamRecord {
                id,
                identity,
                device: serde_json::from_str(&device)?,
            });
        }
        Ok(out)
    }

    fn blocks(&self, stream: i64, from: u64, until: u64) -> Result<Vec<SampleBlock>> {
        let mut out = Vec::new();
        for table in ["chunks", "blocks"] {
            let mut query = self.db.prepare_cached(&format!(
                "SELECT data FROM {table} WHERE stream_id=?1 AND end_seq > ?2 AND first_seq < ?3 ORDER BY first_seq"
            ))?;
            let rows = query.query_map(
                params![stream, from as i64, until.min(i64::MAX as u64) as i64],
                |r| r.get::<_, Vec<u8>>(0),
            )?;
            for data in rows {
                out.extend(
                    decode_chunk(&data?)?
                        .into_iter()
                        .filter(|b| b.first_seq < until && b.end_seq().is_some_and(|e| e > from)),
                );
            }
        }
        out.sort_by_key(|b| b.first_seq);
        Ok(out)
    }

    fn events(&self, stream: i64) -> Result<Vec<StreamEvent>> {
        let mut query = self
            .db
            .prepare_cached("SELECT data FROM events WHERE stream_id=?1 ORDER BY seq")?;
        let rows = query.query_map([stream], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for data in rows {
            out.push(postcard::from_bytes(&data?).context("corrupt event")?);
        }
        Ok(out)
    }

    fn compact(&mut self, stream: i64, whole: bool) -> Result<usize> {
        let ranges = self.ranges("blocks", stream)?;
        // Runs of contiguous small blocks: CHUNK_BLOCKS at a time, and every remainder if whole.
        let mut runs: Vec<(u64, u64, usize)> = Vec::new();
        let mut run: Option<(u64, u64, usize)> = None;
        for (first, end) in ranges {
            run = match run {
                Some((f, e, n)) if e == first => Some((f, end, n + 1)),
                Some(previous) => {
                    if whole {
                        runs.push(previous);
                    }
                    Some((first, end, 1))
                }
                None => Some((first, end, 1)),
            };
            if let Some(full) = run
                && full.2 == CHUNK_BLOCKS
            {
                runs.push(full);
                run = None;
            }
        }
        if whole && let Some(rest) = run {
            runs.push(rest);
        }
        let mut folded = 0;
        for (first, end, count) in runs {
            let blocks = self.blocks_in("blocks", stream, first, end)?;
            if blocks.len() != count {
                bail!(
                    "compaction of stream {stream} found {} blocks, expected {count}",
                    blocks.len()
                );
            }
            let data = encode_chunk(&blocks)?;
            let tx = self.db.transaction()?;
            tx.execute(
                "INSERT OR REPLACE INTO chunks(stream_id, first_seq, end_seq, data) VALUES(?1,?2,?3,?4)",
                params![stream, first as i64, end as i64, data],
            )?;
            tx.execute(
                "DELETE FROM blocks WHERE stream_id=?1 AND first_seq >= ?2 AND first_seq < ?3",
                params![stream, first as i64, end as i64],
            )?;
            tx.commit()?;
            folded += blocks.len();
        }
        Ok(folded)
    }
}

impl SqliteStore {
    fn blocks_in(
        &self,
        table: &str,
        stream: i64,
        first: u64,
        end: u64,
    ) -> Result<Vec<SampleBlock>> {
        let mut query = self.db.prepare_cached(&format!(
            "SELECT data FROM {table} WHERE stream_id=?1 AND first_seq >= ?2 AND first_seq < ?3 ORDER BY first_seq"
        ))?;
        let rows = query.query_map(params![stream, first as i64, end as i64], |r| {
            r.get::<_, Vec<u8>>(0)
        })?;
        let mut out = Vec::new();
        for data in rows {
            out.extend(decode_chunk(&data?)?);
        }
        Ok(out)
    }

    /// Bytes of the database file (after a checkpoint of the WAL).
    pub fn size_bytes(&self, path: &Path) -> Result<u64> {
        self.db.pragma_update(None, "wal_checkpoint", "TRUNCATE")?;
        Ok(std::fs::metadata(path)?.len())
    }
}

#[cfg(test)]
mod tests {
    use ctg_proto::model::{DeviceProtocol, EventKind, Sample};

    use super::*;

    fn identity() -> StreamIdentity {
        StreamIdentity {
            facility: "clinic-a".into(),
            bridge: "b".into(),
            port: "bed-1".into(),
            episode_start_utc_ms: 5,
        }
    }

    fn device() -> DeviceInfo {
        DeviceInfo {
            protocol: DeviceProtocol::Series50,
            model: "M1351A".into(),
            serial: String::new(),
            software: String::new(),
        }
    }

    fn block(first_seq: u64) -> SampleBlock {
        SampleBlock {
            first_seq,
            utc_ms: first_seq as i64 * 250,
            samples: (0..4)
                .map(|i| Sample {
                    values: [560 + ((first_seq + i) % 40) as u16, 0, 0, 0, 20],
                    ..Sample::default()
                })
                .collect(),
            ..SampleBlock::default()
        }
    }

    #[test]
    fn chunks_keep_irregular_blocks_exactly() {
        use ctg_proto::model::TransducerMode;
        let mut blocks = Vec::new();
        let (mut seq, mut utc) = (100u64, 1_700_000_000_000i64);
        for i in 0..50u64 {
            let len = if i % 7 == 3 { 9 } else { 4 };
            let mut b = block(seq);
            b.samples = (0..len)
                .map(|k| Sample {
                    values: [(500 + i * 3 + k) as u16, 0, 0, 320, 30],
                    ..Sample::default()
                })
                .collect();
            b.utc_ms = utc;
            if i >= 20 {
                b.modes.0[0] = TransducerMode::Decg;
                b.flags = BlockFlags(BlockFlags::COINCIDENCE);
            }
            if i >= 40 {
                b.fspo2_percent = Some(45);
            }
            blocks.push(b);
            seq += len;
            utc += 250 * len as i64 + (i as i64 % 5) * 13 - 20; // receive-time jitter
        }
        let bytes = encode_chunk(&blocks).unwrap();
        assert_eq!(decode_chunk(&bytes).unwrap(), blocks);
        // Not contiguous: refused.
        let mut gap = blocks.clone();
        gap[10].first_seq += 1;
        assert!(encode_chunk(&gap).is_err());
        // Corrupt bytes are an error, not a panic.
        for cut in [0, 5, bytes.len() / 2, bytes.len() - 1] {
            let _ = decode_chunk(&bytes[..cut]);
        }
    }

    #[test]
    fn holdings_merge_ranges_and_find_gaps() {
        let mut h = Holdings::default();
        h.add_samples(0, 4);
        h.add_samples(8, 12);
        assert_eq!(h.next_sample_seq(), 4);
        assert_eq!(h.first_gap(), Some((4, 8)));
        assert!(h.overlaps(10, 14) && !h.overlaps(4, 8));
        h.add_samples(4, 8);
        assert_eq!(h.next_sample_seq(), 12);
        assert_eq!(h.ranges.len(), 1);
        assert_eq!(h.first_gap(), None);
        assert!(h.add_event(1) && h.add_event(0) && !h.add_event(1));
        assert_eq!(h.next_event_seq, 2);
    }

    #[test]
    fn what_is_committed_is_there_after_reopening_and_compaction_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.db");
        let n = CHUNK_BLOCKS as u64 + 7;
        {
            let mut store = SqliteStore::open(&path).unwrap();
            let (stream, held) = store.open_stream(&identity(), &device()).unwrap();
            assert_eq!(held.next_sample_seq(), 0);
            let writes: Vec<Write> = (0..n)
                .map(|i| Write::Block(stream.id, block(i * 4)))
                .collect();
            store.commit(&writes).unwrap();
            let event = StreamEvent {
                seq: 0,
                at_sample: 3,
                utc_ms: 0,
                kind: EventKind::Marker,
            };
            store.commit(&[Write::Event(stream.id, event)]).unwrap();
        }
        let mut store = SqliteStore::open(&path).unwrap();
        let (stream, held) = store.open_stream(&identity(), &device()).unwrap();
        assert_eq!(held.next_sample_seq(), n * 4);
        assert_eq!(held.next_event_seq, 1);
        let before = store.blocks(stream.id, 0, u64::MAX).unwrap();
        assert_eq!(store.compact(stream.id, false).unwrap(), CHUNK_BLOCKS);
        let after = store.blocks(stream.id, 0, u64::MAX).unwrap();
        assert_eq!(before, after);
        assert_eq!(
            store.compact(stream.id, true).unwrap(),
            7,
            "the tail folds at the end"
        );
        assert_eq!(store.blocks(stream.id, 0, u64::MAX).unwrap(), before);
        assert_eq!(after.len() as u64, n);
        assert_eq!(
            store.blocks(stream.id, 10, 14).unwrap(),
            vec![block(8), block(12)]
        );
        let (_, held) = store.open_stream(&identity(), &device()).unwrap();
        assert_eq!(held.next_sample_seq(), n * 4, "holdings see chunks too");
        assert_eq!(store.events(stream.id).unwrap().len(), 1);
        assert_eq!(store.streams().unwrap().len(), 1);
    }
}
