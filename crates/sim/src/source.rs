//! What a simulated monitor has to say, one second (four grid samples) at a time.

use ctg_formats::Recording;
use ctg_proto::model::{BlockFlags, Modes, Sample};

/// Seconds of CTG in order.
pub trait SecondSource: Send {
    /// The next second, or `None` at the end.
    fn next_second(&mut self) -> Option<[Sample; 4]>;
    /// The transducer modes the monitor reports.
    fn modes(&self) -> Modes;
    /// The status flags the monitor reports with the second last returned (none by default).
    fn flags(&self) -> BlockFlags {
        BlockFlags(0)
    }
}

/// A recording played from its first sample (a partial last second is dropped), optionally
/// looping.
#[derive(Debug)]
pub struct RecordingSource {
    samples: Vec<Sample>,
    modes: Modes,
    position: usize,
    looping: bool,
}

impl RecordingSource {
    /// Plays `recording` once, or forever with `looping`.
    pub fn new(recording: &Recording, looping: bool) -> Self {
        Self {
            samples: recording.samples.clone(),
            modes: recording.modes,
            position: 0,
            looping,
        }
    }

    /// Plays `recording` from sample `position` (a whole second: a multiple of 4), as a monitor
    /// that was unplugged and plugged in again would carry on.
    pub fn starting_at(recording: &Recording, looping: bool, position: usize) -> Self {
        let mut source = Self::new(recording, looping);
        source.position = position / 4 * 4;
        source
    }

    /// Samples played so far (counting every loop).
    pub fn position(&self) -> usize {
        self.position
    }
}

impl SecondSource for RecordingSource {
    fn next_second(&mut self) -> Option<[Sample; 4]> {
        let whole = self.samples.len() / 4 * 4;
        if whole == 0 {
            return None;
        }
        let at = if self.looping {
            self.position % whole
        } else {
            self.position
        };
        let second: [Sample; 4] = self.samples.get(at..at + 4)?.try_into().ok()?;
        self.position += 4;
        Some(second)
    }

    fn modes(&self) -> Modes {
        self.modes
    }
}
