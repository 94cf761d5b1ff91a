//! A bounded window of a per-sample series, addressed by the global sample index.

/// Values for sample indices `start..start + len`, of which only the most recent are kept: a
/// ring of a fixed number of slots (a value costs one copy in and nothing out), read one value
/// or a run of consecutive values at a time.
#[derive(Clone, Debug)]
pub(crate) struct Series<T> {
    /// Index of the oldest value held.
    start: u64,
    /// Values held.
    len: usize,
    /// Slot of the oldest value.
    head: usize,
    slots: Box<[T]>,
}

impl<T: Copy + Default> Series<T> {
    /// An empty series that will hold up to `capacity` values without reallocating.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            start: 0,
            len: 0,
            head: 0,
            slots: vec![T::default(); capacity.max(1)].into_boxed_slice(),
        }
    }

    /// One past the last index held (the series' frontier).
    pub(crate) fn end(&self) -> u64 {
        self.start + self.len as u64
    }

    /// First index held.
    pub(crate) fn start(&self) -> u64 {
        self.start
    }

    /// The slot of the value `offset` places after the oldest.
    #[inline(always)]
    fn slot(&self, offset: usize) -> usize {
        let slot = self.head + offset;
        if slot >= self.slots.len() {
            slot - self.slots.len()
        } else {
            slot
        }
    }

    /// Appends values in order (the series grows, once, if they do not fit).
    pub(crate) fn extend_from_slice(&mut self, values: &[T]) {
        if self.len + values.len() > self.slots.len() {
            self.grow(self.len + values.len());
        }
        let at = self.slot(self.len);
        let first = values.len().min(self.slots.len() - at);
        self.slots[at..at + first].copy_from_slice(&values[..first]);
        self.slots[..values.len() - first].copy_from_slice(&values[first..]);
        self.len += values.len();
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, needed: usize) {
        let mut slots = vec![T::default(); needed.max(2 * self.slots.len())].into_boxed_slice();
        let (a, b) = self.runs(self.start, self.end());
        slots[..a.len()].copy_from_slice(a);
        slots[a.len()..a.len() + b.len()].copy_from_slice(b);
        self.slots = slots;
        self.head = 0;
    }

    /// The value at `index`, if still held.
    pub(crate) fn get(&self, index: u64) -> Option<T> {
        let offset = index.checked_sub(self.start)?;
        (offset < self.len as u64).then(|| self.slots[self.slot(offset as usize)])
    }

    /// The values of indices `from..to`, all held, as two runs in order (the second empty
    /// unless the run wraps round the ring).
    pub(crate) fn runs(&self, from: u64, to: u64) -> (&[T], &[T]) {
        assert!(
            from >= self.start && from <= to && to <= self.end(),
            "{from}..{to} not held"
        );
        let count = (to - from) as usize;
        let at = self.slot((from - self.start) as usize);
        let first = count.min(self.slots.len() - at);
        (&self.slots[at..at + first], &self.slots[..count - first])
    }

    /// The values of indices `from..to`, all held, in order.
    pub(crate) fn range(&self, from: u64, to: u64) -> impl Iterator<Item = T> + '_ {
        let (a, b) = self.runs(from, to);
        a.iter().chain(b).copied()
    }

    /// Keeps at most the last `keep` values.
    pub(crate) fn keep_last(&mut self, keep: usize) {
        if self.len > keep {
            let drop = self.len - keep;
            self.head = self.slot(drop);
            self.start += drop as u64;
            self.len = keep;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_by_index_across_the_wrap_and_after_growing() {
        let mut s = Series::<u64>::with_capacity(8);
        s.extend_from_slice(&[0, 1, 2, 3, 4, 5]);
        s.keep_last(4);
        assert_eq!((s.start(), s.end()), (2, 6));
        s.extend_from_slice(&[6, 7, 8, 9]);
        assert_eq!(s.get(1), None);
        assert_eq!(s.get(10), None);
        assert!((2..10).all(|i| s.get(i) == Some(i)));
        assert_eq!(s.range(3, 9).collect::<Vec<_>>(), [3, 4, 5, 6, 7, 8]);
        let (a, b) = s.runs(2, 10);
        assert!(!b.is_empty(), "wraps");
        assert_eq!([a, b].concat(), (2..10).collect::<Vec<_>>());
        s.extend_from_slice(&[10, 11, 12]);
        assert_eq!(
            s.range(2, 13).collect::<Vec<_>>(),
            (2..13).collect::<Vec<_>>()
        );
    }
}
