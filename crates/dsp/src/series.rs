//! A bounded window of a per-sample series, addressed by the global sample index.

use std::collections::VecDeque;

/// Values for sample indices `start..start + len`, of which only the most recent are kept.
#[derive(Clone, Debug)]
pub(crate) struct Series<T> {
    start: u64,
    data: VecDeque<T>,
}

impl<T: Copy> Series<T> {
    /// An empty series that will hold up to `capacity` values without reallocating.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            start: 0,
            data: VecDeque::with_capacity(capacity),
        }
    }

    /// One past the last index held (the series' frontier).
    pub(crate) fn end(&self) -> u64 {
        self.start + self.data.len() as u64
    }

    pub(crate) fn push(&mut self, value: T) {
        self.data.push_back(value);
    }

    /// The value at `index`, if still held.
    pub(crate) fn get(&self, index: u64) -> Option<T> {
        let offset = index.checked_sub(self.start)?;
        self.data.get(usize::try_from(offset).ok()?).copied()
    }

    /// Keeps at most the last `keep` values.
    pub(crate) fn keep_last(&mut self, keep: usize) {
        if self.data.len() > keep {
            let drop = self.data.len() - keep;
            if drop == 1 {
                // The usual case (one sample in, one out): cheaper than a drain.
                self.data.pop_front();
            } else {
                self.data.drain(..drop);
            }
            self.start += drop as u64;
        }
    }
}
