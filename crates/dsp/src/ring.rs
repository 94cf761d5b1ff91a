//! A fixed window of per-sample values addressed by their absolute sample index.
//!
//! The stages hold the samples they are still working on in index order, never more than a
//! bound known when the stage is built. A ring of a power-of-two number of slots addresses
//! sample `i` at slot `i & mask`: no offset from a moving front to keep, no wrap test, no
//! length to update per sample (a `VecDeque` does all three on every push, pop and index).
//! Which indices are live is the owner's business: it keeps at most `capacity()` consecutive
//! ones, and a slot outside them holds whatever was there last.

/// Slots for `capacity()` consecutive sample indices.
#[derive(Clone, Debug)]
pub(crate) struct IndexRing<T> {
    slots: Box<[T]>,
    mask: usize,
}

impl<T: Copy + Default> IndexRing<T> {
    /// A ring for at least `live` consecutive indices (rounded up to a power of two).
    pub(crate) fn new(live: usize) -> Self {
        let len = live.max(1).next_power_of_two();
        Self {
            slots: vec![T::default(); len].into_boxed_slice(),
            mask: len - 1,
        }
    }

    /// How many consecutive indices the ring holds.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Stores the value of sample `index`.
    #[inline]
    pub(crate) fn set(&mut self, index: u64, value: T) {
        self.slots[index as usize & self.mask] = value;
    }

    /// The values of indices `first..end` (at most `capacity()` of them) as two slices, in
    /// order: the second is empty unless the run wraps round the ring's end.
    #[inline]
    pub(crate) fn runs(&self, first: u64, end: u64) -> (&[T], &[T]) {
        let len = (end - first) as usize;
        debug_assert!(len <= self.slots.len());
        let start = first as usize & self.mask;
        let head = len.min(self.slots.len() - start);
        (&self.slots[start..start + head], &self.slots[..len - head])
    }

    /// Doubles the capacity, keeping the values of indices `first..end` (the live ones).
    #[cold]
    #[inline(never)]
    pub(crate) fn grow(&mut self, first: u64, end: u64) {
        let mut grown = Self::new(2 * self.capacity());
        for index in first..end {
            grown.set(index, self[index]);
        }
        *self = grown;
    }

    /// Grows (doubling) until the ring holds `live` consecutive indices, keeping the values of
    /// indices `first..end`.
    #[cold]
    #[inline(never)]
    pub(crate) fn grow_to(&mut self, first: u64, end: u64, live: u64) {
        while (self.capacity() as u64) < live {
            self.grow(first, end);
        }
    }
}

impl<T> std::ops::Index<u64> for IndexRing<T> {
    type Output = T;

    #[inline]
    fn index(&self, index: u64) -> &T {
        &self.slots[index as usize & self.mask]
    }
}

impl<T> std::ops::IndexMut<u64> for IndexRing<T> {
    #[inline]
    fn index_mut(&mut self, index: u64) -> &mut T {
        &mut self.slots[index as usize & self.mask]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_a_capacity_apart_share_a_slot_and_nearer_ones_do_not() {
        let mut ring = IndexRing::<u64>::new(5);
        assert_eq!(ring.capacity(), 8);
        for i in 1000..1008 {
            ring.set(i, i * 10);
        }
        for i in 1000..1008 {
            assert_eq!(ring[i], i * 10);
        }
        ring.set(1008, 7);
        assert_eq!(ring[1000], 7);
        ring[1001] += 1;
        assert_eq!(ring[1001], 10_011);
        assert_eq!(ring[1002], 10_020);
    }

    #[test]
    fn growing_keeps_the_live_indices() {
        let mut ring = IndexRing::<u64>::new(4);
        for i in 6..10 {
            ring.set(i, i);
        }
        ring.grow(6, 10);
        assert_eq!(ring.capacity(), 8);
        for i in 10..14 {
            ring.set(i, i);
        }
        assert!((6..14).all(|i| ring[i] == i));
    }
}
