//! Disjoint writes from several threads into one output slice.
//!
//! The parallel kernels ([`crate::pipeline`], [`crate::iraf`]) give each rayon task (a tile of
//! pixels, or an image row) its own index range of every output buffer. [`Shared`] hands out
//! those ranges as `&mut [T]` without splitting the buffer up front, which the frame-major
//! layouts (the rejection masks: one range per frame and tile) cannot express with
//! `chunks_mut`.
//!
//! # Safety argument
//!
//! A `Shared<T>` is built from a `&mut [T]` borrowed for its whole lifetime `'a`, so nothing
//! else reads or writes the buffer while it exists, and the buffer outlives it. [`Shared::range`]
//! checks bounds and is `unsafe`: its caller promises that no two mutable slices it obtained are
//! alive at the same time over overlapping indices. Every caller derives its ranges from the
//! tile or row it owns (pixels `start..start + w`, frame `i`'s copy at `i * npix + start`, row
//! `y`'s pixels `y * nx..(y + 1) * nx`), and rayon runs each tile or row exactly once, so the
//! ranges of concurrent tasks never overlap. Sending the pointer to other threads is then sound
//! for `T: Send`: each element is accessed by one thread at a time.

use std::marker::PhantomData;

/// A mutable slice that tasks on several threads write to in disjoint ranges.
pub(crate) struct Shared<'a, T> {
    ptr: *mut T,
    len: usize,
    _borrow: PhantomData<&'a mut [T]>,
}

// SAFETY: see the module documentation: each task writes only its own, disjoint ranges.
unsafe impl<T: Send> Send for Shared<'_, T> {}
// SAFETY: as above; shared references only hand out disjoint ranges (caller's promise).
unsafe impl<T: Send> Sync for Shared<'_, T> {}

impl<'a, T> Shared<'a, T> {
    /// Borrows `v` mutably for as long as the `Shared` lives.
    pub(crate) fn new(v: &'a mut [T]) -> Self {
        Shared {
            ptr: v.as_mut_ptr(),
            len: v.len(),
            _borrow: PhantomData,
        }
    }

    /// The elements `start..start + len`, for writing.
    ///
    /// # Safety
    /// No two slices obtained from this `Shared` may be alive at the same time over
    /// overlapping index ranges.
    ///
    /// # Panics
    /// If the range is out of bounds.
    #[allow(clippy::mut_from_ref)] // the point of the type: disjointness is the caller's promise
    pub(crate) unsafe fn range(&self, start: usize, len: usize) -> &mut [T] {
        assert!(
            start.checked_add(len).is_some_and(|end| end <= self.len),
            "disjoint range out of bounds"
        );
        // SAFETY: in bounds (checked), the buffer is borrowed for 'a, and disjoint from every
        // other live range (caller).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

#[cfg(test)]
mod tests {
    use super::Shared;
    use rayon::prelude::*;

    #[test]
    fn parallel_disjoint_ranges_fill_the_buffer() {
        let mut v = vec![0u32; 1000];
        {
            let s = Shared::new(&mut v);
            (0..10).into_par_iter().for_each(|t| {
                // SAFETY: task t owns 100*t..100*(t+1).
                let r = unsafe { s.range(100 * t, 100) };
                for (k, x) in r.iter_mut().enumerate() {
                    *x = (100 * t + k) as u32;
                }
            });
        }
        assert!(v.iter().enumerate().all(|(k, &x)| x as usize == k));
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn out_of_bounds_ranges_panic() {
        let mut v = vec![0u8; 4];
        let s = Shared::new(&mut v);
        // SAFETY: the only range taken.
        let _ = unsafe { s.range(3, 2) };
    }
}
