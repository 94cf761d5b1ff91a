//! The recent window of a live stream: its last hour of samples, for a viewer's first paint and
//! a lagging viewer's resynchronisation without touching the database.
//!
//! An hour of raw samples is 14,400 × 16 bytes, more than the whole per-stream memory budget
//! (DESIGN.md: 200 KiB per stream including an hour of samples), so the window keeps the
//! current minute as delivered and seals each full minute (or a run cut short by a gap) with the
//! column encoding of [`ctg_formats::compact`], a few hundred bytes per minute. Taking a
//! [`Snapshot`] only clones reference counts (cheap under the hub's stream lock); decoding
//! happens outside it.

use std::collections::VecDeque;
use std::sync::Arc;

use ctg_proto::model::{Sample, SampleBlock};

/// Samples held: one hour at 4 Hz.
pub const WINDOW_SAMPLES: u64 = 4 * 3600;
/// Samples per sealed run: one minute.
const SEAL_SAMPLES: usize = 4 * 60;

/// A sealed run of consecutive samples.
#[derive(Debug)]
struct Sealed {
    first_seq: u64,
    utc_ms: i64,
    count: usize,
    bytes: Box<[u8]>,
}

/// The window.
#[derive(Debug, Default)]
pub struct RecentWindow {
    sealed: VecDeque<Arc<Sealed>>,
    open: Vec<Arc<SampleBlock>>,
    open_samples: usize,
    sealed_samples: u64,
}

/// What a window held at one moment (reference counts only).
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    sealed: Vec<Arc<Sealed>>,
    open: Vec<Arc<SampleBlock>>,
}

impl RecentWindow {
    /// An empty window.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next delivered block (in sequence order; a block that does not follow the
    /// previous one starts a new run).
    pub fn push(&mut self, block: &Arc<SampleBlock>) {
        let follows = self
            .open
            .last()
            .is_none_or(|last| last.end_seq() == Some(block.first_seq));
        if !follows || self.open_samples >= SEAL_SAMPLES {
            self.seal();
        }
        self.open_samples += block.samples.len();
        self.open.push(block.clone());
        while self.sealed_samples + self.open_samples as u64 > WINDOW_SAMPLES
            && let Some(oldest) = self.sealed.pop_front()
        {
            self.sealed_samples -= oldest.count as u64;
        }
    }

    fn seal(&mut self) {
        let Some(first) = self.open.first() else {
            return;
        };
        let samples: Vec<Sample> = self
            .open
            .iter()
            .flat_map(|b| b.samples.iter().copied())
            .collect();
        let mut bytes = Vec::new();
        ctg_formats::compact::encode_samples(&samples, &mut bytes);
        self.sealed.push_back(Arc::new(Sealed {
            first_seq: first.first_seq,
            utc_ms: first.utc_ms,
            count: samples.len(),
            bytes: bytes.into_boxed_slice(),
        }));
        self.sealed_samples += samples.len() as u64;
        self.open.clear();
        self.open_samples = 0;
    }

    /// Samples held.
    pub fn samples(&self) -> u64 {
        self.sealed_samples + self.open_samples as u64
    }

    /// The newest sample held (the open run always holds the newest block).
    pub fn last_sample(&self) -> Option<Sample> {
        self.open.last().and_then(|b| b.samples.last().copied())
    }

    /// What the window holds now, cheap to take.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            sealed: self.sealed.iter().cloned().collect(),
            open: self.open.clone(),
        }
    }
}

impl Snapshot {
    /// The samples as blocks, oldest first, starting at sequence number `from` (a block that
    /// straddles it is cut). Sealed runs come back as one block each (modes and flags are not
    /// kept in the window: a viewer's frame carries samples only).
    pub fn blocks_from(&self, from: u64) -> Vec<Arc<SampleBlock>> {
        let mut out = Vec::new();
        for sealed in &self.sealed {
            if sealed.first_seq + sealed.count as u64 <= from {
                continue;
            }
            let Ok(samples) = ctg_formats::compact::decode_samples(&sealed.bytes, sealed.count)
            else {
                // Encoded by this process a moment ago: cannot happen short of a bug.
                tracing::error!(
                    first_seq = sealed.first_seq,
                    "recent window run undecodable"
                );
                continue;
            };
            out.push(Arc::new(SampleBlock {
                first_seq: sealed.first_seq,
                utc_ms: sealed.utc_ms,
                samples,
                ..SampleBlock::default()
            }));
        }
        out.extend(self.open.iter().cloned());
        out.into_iter().filter_map(|b| cut(b, from)).collect()
    }
}

/// The part of `block` at or after `from`.
fn cut(block: Arc<SampleBlock>, from: u64) -> Option<Arc<SampleBlock>> {
    let end = block.end_seq()?;
    if end <= from {
        return None;
    }
    if block.first_seq >= from {
        return Some(block);
    }
    let skip = (from - block.first_seq) as usize;
    Some(Arc::new(SampleBlock {
        first_seq: from,
        utc_ms: block.utc_ms + skip as i64 * 250,
        samples: block.samples[skip..].to_vec(),
        ..(*block).clone()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(first_seq: u64, n: usize) -> Arc<SampleBlock> {
        Arc::new(SampleBlock {
            first_seq,
            utc_ms: first_seq as i64 * 250,
            samples: (0..n)
                .map(|i| Sample {
                    values: [500 + ((first_seq as usize + i) % 97) as u16, 0, 0, 40, 0],
                    ..Sample::default()
                })
                .collect(),
            ..SampleBlock::default()
        })
    }

    fn flatten(blocks: &[Arc<SampleBlock>]) -> Vec<(u64, Sample)> {
        blocks
            .iter()
            .flat_map(|b| {
                b.samples
                    .iter()
                    .enumerate()
                    .map(move |(i, s)| (b.first_seq + i as u64, *s))
            })
            .collect()
    }

    #[test]
    fn holds_the_last_hour_sample_for_sample() {
        let mut window = RecentWindow::new();
        let mut all = Vec::new();
        for k in 0..(3600 + 300) {
            let b = block(k * 4, 4);
            all.push(b.clone());
            window.push(&b);
        }
        let held = flatten(&window.snapshot().blocks_from(0));
        let expected = flatten(&all);
        // Whole minutes are dropped, so between an hour and an hour and a minute is held.
        assert!(
            held.len() as u64 >= WINDOW_SAMPLES - SEAL_SAMPLES as u64,
            "{}",
            held.len()
        );
        assert!(held.len() as u64 <= WINDOW_SAMPLES);
        assert_eq!(held[..], expected[expected.len() - held.len()..]);
        assert_eq!(window.samples(), held.len() as u64);
    }

    #[test]
    fn a_gap_starts_a_new_run_and_from_cuts() {
        let mut window = RecentWindow::new();
        for k in 0..100u64 {
            window.push(&block(k * 4, 4));
        }
        for k in 200..230u64 {
            window.push(&block(k * 4, 4));
        }
        let blocks = window.snapshot().blocks_from(0);
        let seqs: Vec<u64> = flatten(&blocks).iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs.len(), 130 * 4);
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        assert!(!seqs.contains(&400) && seqs.contains(&399) && seqs.contains(&800));
        let from = window.snapshot().blocks_from(803);
        assert_eq!(from[0].first_seq, 803);
        assert_eq!(flatten(&from).len(), 230 * 4 - 803);
    }

    #[test]
    fn an_hour_is_compact() {
        let mut window = RecentWindow::new();
        for k in 0..3600u64 {
            window.push(&block(k * 4, 4));
        }
        let bytes: usize = window.sealed.iter().map(|s| s.bytes.len()).sum();
        assert!(bytes < 60 * 1024, "{bytes} bytes for an hour");
    }
}
