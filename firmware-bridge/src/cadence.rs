//! Keeps a stream's sample numbers on the clock. A stream's samples are numbered at 4 Hz, and
//! the hub, the chart and the alerts read a sample's time from its number (the episode's start
//! plus `seq / 4` seconds). A monitor that sends nothing for a while (switched off between
//! labours, its cable pulled, an Avalon association lost and made again) produces no samples
//! then, so without a fill everything after the silence would sit that long too early: the
//! chart's clock, the "data as of" line and the notes placed on the trace would all be off.
//!
//! Before a block that comes later than the stream's last sample allows (by the bridge's
//! clock), the time in between becomes samples of no signal, flagged
//! [`BlockFlags::SAMPLES_INSERTED`]. Pure: the caller gives the times.

use ctg_proto::model::{BlockFlags, Modes, Quality, Sample, SampleBlock};
use ctg_proto::wire::MAX_BLOCK_SAMPLES;

/// A block this much later than the stream's last sample (by the bridge's clock) follows a
/// silence: twice the default `silence_s`, and well above the jitter of a block's time (a
/// serial read, an HL7 message's batch) and a monitor's clock drifting against the PC's (about
/// a second a day at 10 ppm).
pub const FILL_AFTER_MS: i64 = 10_000;

/// Longer silences are not filled; the stream's times after one stay behind the clock, and the
/// bridge says so. A week covers a monitor left off over a long holiday; its fill is 2.4
/// million samples, about 27 MB in the spool and on the wire (11 bytes a sample of no signal)
/// and 39 MB of memory until the hub acknowledges it; a day's is a seventh of that.
pub const FILL_AT_MOST_MS: i64 = 7 * 24 * 3_600_000;

/// What came before a block.
#[derive(Debug, PartialEq)]
pub enum Before {
    /// It follows on from the stream's last sample (or it is the first).
    OnTime,
    /// A silence of `ms`, filled by these blocks of no signal (their `first_seq` are 0: the
    /// spool numbers them).
    Silence { ms: i64, fill: Vec<SampleBlock> },
    /// A silence too long to fill.
    TooLong { ms: i64 },
}

/// What came before a block stamped `block_utc_ms`, the stream's last sample having ended at
/// `next_sample_utc_ms` (`None`: no block yet, or the time is unknown).
pub fn before(next_sample_utc_ms: Option<i64>, block_utc_ms: i64) -> Before {
    let Some(expected) = next_sample_utc_ms else {
        return Before::OnTime;
    };
    let ms = block_utc_ms.saturating_sub(expected);
    if ms < FILL_AFTER_MS {
        return Before::OnTime;
    }
    if ms > FILL_AT_MOST_MS {
        return Before::TooLong { ms };
    }
    // Whole seconds of no signal, the monitor's own step.
    let fill = no_signal_blocks(0, expected, ((ms + 500) / 1000 * 4) as u64);
    Before::Silence { ms, fill }
}

/// `samples` samples of no signal from `first_seq`, the first at `utc_ms`, in blocks the wire
/// takes ([`MAX_BLOCK_SAMPLES`] at most), flagged as inserted: what stands in for a silence
/// here and for what a full spool dropped (`spool::Lost::records`).
pub fn no_signal_blocks(first_seq: u64, utc_ms: i64, samples: u64) -> Vec<SampleBlock> {
    let no_signal = Sample {
        values: [0; 5],
        quality: [Quality::None; 5],
        fetal_movement: false,
    };
    (0..samples)
        .step_by(MAX_BLOCK_SAMPLES)
        .map(|start| SampleBlock {
            first_seq: first_seq + start,
            utc_ms: utc_ms + 250 * start as i64,
            modes: Modes::default(),
            flags: BlockFlags(BlockFlags::SAMPLES_INSERTED),
            fspo2_percent: None,
            samples: vec![no_signal; (samples - start).min(MAX_BLOCK_SAMPLES as u64) as usize],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(before: Before) -> (i64, Vec<SampleBlock>) {
        match before {
            Before::Silence { ms, fill } => (ms, fill),
            other => panic!("not a silence: {other:?}"),
        }
    }

    #[test]
    fn a_block_on_time_or_early_or_the_first_needs_nothing() {
        assert_eq!(before(None, 5_000_000), Before::OnTime);
        assert_eq!(before(Some(1_000_000), 1_000_000), Before::OnTime);
        // The jitter of a serial read or an HL7 batch, and a burst sent late.
        assert_eq!(before(Some(1_000_000), 1_009_999), Before::OnTime);
        assert_eq!(before(Some(1_000_000), 990_000), Before::OnTime);
    }

    #[test]
    fn a_silence_becomes_whole_seconds_of_no_signal_on_the_clock() {
        let (ms, fill) = filled(before(Some(1_000_000), 1_015_400));
        assert_eq!(ms, 15_400);
        assert_eq!(fill.len(), 1);
        let block = &fill[0];
        assert_eq!(block.samples.len(), 15 * 4, "15.4 s: 15 whole seconds");
        assert_eq!(block.utc_ms, 1_000_000, "from where the stream had got to");
        assert!(block.flags.contains(BlockFlags::SAMPLES_INSERTED));
        assert!(
            block
                .samples
                .iter()
                .all(|s| s.values == [0; 5] && s.quality == [Quality::None; 5])
        );
    }

    #[test]
    fn an_hour_is_split_into_blocks_the_wire_takes_and_more_than_a_week_is_not_filled() {
        let (_, fill) = filled(before(Some(0), 3_600_000));
        assert_eq!(fill.iter().map(|b| b.samples.len()).sum::<usize>(), 14_400);
        assert!(fill.iter().all(|b| b.samples.len() <= MAX_BLOCK_SAMPLES));
        // Each block stamped where it starts.
        for pair in fill.windows(2) {
            assert_eq!(
                pair[1].utc_ms - pair[0].utc_ms,
                250 * pair[0].samples.len() as i64
            );
        }
        assert_eq!(
            before(Some(0), FILL_AT_MOST_MS + 1),
            Before::TooLong {
                ms: FILL_AT_MOST_MS + 1
            }
        );
    }
}
