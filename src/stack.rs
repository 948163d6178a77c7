//! Borrowed views of a stack `(N, *spatial)` and the reading of one tile of it.
//!
//! The spatial axes are flattened in C order into pixel indices `0..npix`. A tile is a range of
//! consecutive pixel indices; reading frame `i` of a tile converts those samples into the floating
//! workspace, undoing a foreign byte order and marking missing samples (non-finite or masked) with
//! a caller-chosen sentinel. The view never copies the stack: any strides (negative, Fortran
//! order, slices) are followed in place.

use std::marker::PhantomData;

use crate::error::{shape_str, CoreError};
use crate::sample::{Float, Sample};

/// A read-only view of a stack with arbitrary element strides.
pub struct StackView<'a, T> {
    ptr: *const T,
    n: usize,
    spatial: Vec<usize>,
    npix: usize,
    frame_stride: isize,
    spatial_strides: Vec<isize>,
    /// Spatial axes are C-contiguous: pixel `p` of frame `i` is at `i * frame_stride + p`.
    contiguous: bool,
    swapped: bool,
    _borrow: PhantomData<&'a [T]>,
}

// SAFETY: the view only reads through `ptr`, whose target outlives `'a` and is not written while
// the view exists (the constructors require it); sharing reads of `T: Sync` across threads is sound.
unsafe impl<T: Sync> Send for StackView<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for StackView<'_, T> {}

impl<'a, T: Copy> StackView<'a, T> {
    /// A view of a C-contiguous buffer holding a stack of the given shape.
    ///
    /// # Errors
    /// If the shape has fewer than two axes, no frames, or does not match the buffer length.
    pub fn from_slice(data: &'a [T], shape: &[usize]) -> Result<Self, CoreError> {
        let len: usize = shape.iter().product();
        if len != data.len() {
            return Err(CoreError::Shape {
                name: "stack",
                expected: format!("{} elements", data.len()),
                actual: shape_str(shape),
            });
        }
        let mut strides = vec![1isize; shape.len()];
        for k in (0..shape.len().saturating_sub(1)).rev() {
            strides[k] = strides[k + 1] * shape[k + 1] as isize;
        }
        // SAFETY: C-order strides for `shape` address exactly the elements of `data`.
        unsafe { Self::from_raw_parts(data.as_ptr(), shape, &strides, false) }
    }

    /// A view from a base pointer, a shape and strides counted in elements.
    ///
    /// # Errors
    /// If the shape has fewer than two axes or no frames, or shape and strides differ in length.
    ///
    /// # Safety
    /// Every element `ptr + sum(index[k] * strides[k])` for indices within `shape` must be a valid,
    /// initialised `T` that stays alive and unmodified for `'a`.
    pub unsafe fn from_raw_parts(
        ptr: *const T,
        shape: &[usize],
        strides: &[isize],
        swapped: bool,
    ) -> Result<Self, CoreError> {
        if shape.len() < 2 {
            return Err(CoreError::Value {
                name: "stack",
                message: format!(
                    "expected at least 2 dimensions (N, *spatial), got shape {}",
                    shape_str(shape)
                ),
            });
        }
        if shape.len() != strides.len() {
            return Err(CoreError::Value {
                name: "stack",
                message: format!("{} strides given for {} axes", strides.len(), shape.len()),
            });
        }
        if shape[0] == 0 {
            return Err(CoreError::Value {
                name: "stack",
                message: "the stack holds no frames (N = 0)".to_string(),
            });
        }
        let spatial = shape[1..].to_vec();
        let spatial_strides = strides[1..].to_vec();
        let npix = spatial.iter().product();
        let mut expect = 1isize;
        let mut contiguous = true;
        for k in (0..spatial.len()).rev() {
            if spatial[k] != 1 && spatial_strides[k] != expect {
                contiguous = false;
            }
            expect *= spatial[k] as isize;
        }
        Ok(StackView {
            ptr,
            n: shape[0],
            spatial,
            npix,
            frame_stride: strides[0],
            spatial_strides,
            contiguous,
            swapped,
            _borrow: PhantomData,
        })
    }
}

impl<T> StackView<'_, T> {
    /// Number of frames `N`.
    #[must_use]
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of output elements (product of the spatial axes).
    #[must_use]
    pub fn npix(&self) -> usize {
        self.npix
    }

    /// The spatial shape.
    #[must_use]
    pub fn spatial(&self) -> &[usize] {
        &self.spatial
    }

    /// The full shape `(N, *spatial)`.
    #[must_use]
    pub fn shape(&self) -> Vec<usize> {
        let mut s = vec![self.n];
        s.extend_from_slice(&self.spatial);
        s
    }

    /// Element offsets (relative to frame 0) of the pixels `start..start + len`, for strided views.
    fn fill_offsets(&self, start: usize, len: usize, out: &mut Vec<isize>) {
        out.clear();
        if self.contiguous || len == 0 {
            return;
        }
        let ndim = self.spatial.len();
        let mut idx = vec![0usize; ndim];
        let mut rem = start;
        for k in (0..ndim).rev() {
            idx[k] = rem % self.spatial[k];
            rem /= self.spatial[k];
        }
        let mut off: isize = idx
            .iter()
            .zip(&self.spatial_strides)
            .map(|(&i, &s)| i as isize * s)
            .sum();
        for _ in 0..len {
            out.push(off);
            for k in (0..ndim).rev() {
                idx[k] += 1;
                off += self.spatial_strides[k];
                if idx[k] < self.spatial[k] {
                    break;
                }
                off -= self.spatial[k] as isize * self.spatial_strides[k];
                idx[k] = 0;
            }
        }
    }
}

/// A stack with an optional mask of the same shape (nonzero = do not use the sample).
pub struct Source<'a, T> {
    stack: StackView<'a, T>,
    mask: Option<StackView<'a, u8>>,
}

impl<'a, T: Sample> Source<'a, T> {
    /// Pairs a stack with its optional mask.
    ///
    /// # Errors
    /// If the mask's shape differs from the stack's.
    pub fn new(
        stack: StackView<'a, T>,
        mask: Option<StackView<'a, u8>>,
    ) -> Result<Self, CoreError> {
        if let Some(m) = &mask {
            if m.shape() != stack.shape() {
                return Err(CoreError::Shape {
                    name: "mask",
                    expected: shape_str(&stack.shape()),
                    actual: shape_str(&m.shape()),
                });
            }
        }
        Ok(Source { stack, mask })
    }

    /// The stack.
    #[must_use]
    pub fn stack(&self) -> &StackView<'a, T> {
        &self.stack
    }

    /// Number of frames `N`.
    #[must_use]
    pub fn n(&self) -> usize {
        self.stack.n
    }

    /// Number of output elements.
    #[must_use]
    pub fn npix(&self) -> usize {
        self.stack.npix
    }

    /// `true` when some sample may be missing (float data or a mask).
    #[must_use]
    pub fn may_have_missing(&self) -> bool {
        !T::IS_INTEGER || self.mask.is_some()
    }

    /// Prepares the offsets of one tile (no work for contiguous views).
    pub fn locate(&self, start: usize, len: usize, cursor: &mut TileCursor) {
        cursor.start = start;
        cursor.len = len;
        self.stack
            .fill_offsets(start, len, &mut cursor.stack_offsets);
        if let Some(m) = &self.mask {
            m.fill_offsets(start, len, &mut cursor.mask_offsets);
        }
    }

    /// Reads frame `frame` of the located tile into `out` (length = tile length), converted to the
    /// workspace; a non-finite or masked sample becomes `missing`.
    #[inline(always)]
    pub fn read(&self, frame: usize, cursor: &TileCursor, missing: T::Work, out: &mut [T::Work]) {
        let s = &self.stack;
        debug_assert!(frame < s.n && out.len() == cursor.len);
        let base = frame as isize * s.frame_stride;
        let swapped = s.swapped;
        let convert = |x: T| -> T::Work {
            let w = if swapped { x.swap_bytes() } else { x }.to_work();
            if T::IS_INTEGER || w.is_finite() {
                w
            } else {
                missing
            }
        };
        if s.contiguous {
            // SAFETY: pixels start..start+len of frame `frame` lie within the view (see
            // `from_raw_parts`); contiguous spatial axes make them consecutive elements.
            let src = unsafe {
                std::slice::from_raw_parts(s.ptr.offset(base + cursor.start as isize), cursor.len)
            };
            if swapped {
                for (o, &x) in out.iter_mut().zip(src) {
                    *o = convert(x);
                }
            } else {
                for (o, &x) in out.iter_mut().zip(src) {
                    let w = x.to_work();
                    *o = if T::IS_INTEGER || w.is_finite() {
                        w
                    } else {
                        missing
                    };
                }
            }
        } else {
            for (o, &off) in out.iter_mut().zip(&cursor.stack_offsets) {
                // SAFETY: `off` was computed from in-range spatial indices of this view.
                *o = convert(unsafe { *s.ptr.offset(base + off) });
            }
        }
        if let Some(m) = &self.mask {
            let mbase = frame as isize * m.frame_stride;
            if m.contiguous {
                // SAFETY: as for the stack; the mask has the stack's shape.
                let src = unsafe {
                    std::slice::from_raw_parts(
                        m.ptr.offset(mbase + cursor.start as isize),
                        cursor.len,
                    )
                };
                for (o, &b) in out.iter_mut().zip(src) {
                    if b != 0 {
                        *o = missing;
                    }
                }
            } else {
                for (o, &off) in out.iter_mut().zip(&cursor.mask_offsets) {
                    // SAFETY: as above.
                    if unsafe { *m.ptr.offset(mbase + off) } != 0 {
                        *o = missing;
                    }
                }
            }
        }
    }
}

impl<T: Sample> Source<'_, T> {
    /// Reads frame `frame` of the located tile as sort keys, adding 1 to `count` for each valid
    /// sample; a missing sample (non-finite or masked) gets [`Sample::MISSING_KEY`].
    #[inline(always)]
    pub fn read_keys(
        &self,
        frame: usize,
        cursor: &TileCursor,
        out: &mut [T::Key],
        count: &mut [u32],
        mask_buf: &mut Vec<u8>,
    ) {
        let s = &self.stack;
        let base = frame as isize * s.frame_stride;
        let mask_row: Option<&[u8]> = self.mask.as_ref().map(|m| {
            let mbase = frame as isize * m.frame_stride;
            if m.contiguous {
                // SAFETY: as in `read`: consecutive in-range elements of this frame.
                unsafe {
                    std::slice::from_raw_parts(
                        m.ptr.offset(mbase + cursor.start as isize),
                        cursor.len,
                    )
                }
            } else {
                mask_buf.clear();
                // SAFETY: offsets computed from in-range indices of this view.
                mask_buf.extend(
                    cursor
                        .mask_offsets
                        .iter()
                        .map(|&off| unsafe { *m.ptr.offset(mbase + off) }),
                );
                &mask_buf[..]
            }
        });
        let put = |o: &mut T::Key, c: &mut u32, x: T, masked: bool| {
            let valid = x.is_valid() && !masked;
            *o = if valid { x.key() } else { T::MISSING_KEY };
            *c += u32::from(valid);
        };
        if s.contiguous {
            // SAFETY: as in `read`.
            let src = unsafe {
                std::slice::from_raw_parts(s.ptr.offset(base + cursor.start as isize), cursor.len)
            };
            match (mask_row, s.swapped) {
                (None, false) => {
                    for ((o, c), &x) in out.iter_mut().zip(count.iter_mut()).zip(src) {
                        put(o, c, x, false);
                    }
                }
                (None, true) => {
                    for ((o, c), &x) in out.iter_mut().zip(count.iter_mut()).zip(src) {
                        put(o, c, x.swap_bytes(), false);
                    }
                }
                (Some(mrow), swapped) => {
                    for (((o, c), &x), &m) in
                        out.iter_mut().zip(count.iter_mut()).zip(src).zip(mrow)
                    {
                        put(o, c, if swapped { x.swap_bytes() } else { x }, m != 0);
                    }
                }
            }
        } else {
            for (k, (o, c)) in out.iter_mut().zip(count.iter_mut()).enumerate() {
                // SAFETY: offsets computed from in-range indices of this view.
                let x = unsafe { *s.ptr.offset(base + cursor.stack_offsets[k]) };
                let x = if s.swapped { x.swap_bytes() } else { x };
                put(o, c, x, mask_row.is_some_and(|m| m[k] != 0));
            }
        }
    }

    /// Reads frame `frame` of the located tile as sort keys, as [`Source::read_keys`] but without
    /// counting: returns `true` when every sample of the row is valid. (A vectorised reduction
    /// instead of a count per pixel; the caller counts only the rare tiles that need it.)
    #[inline(always)]
    pub fn read_keys_complete(
        &self,
        frame: usize,
        cursor: &TileCursor,
        out: &mut [T::Key],
    ) -> bool {
        let s = &self.stack;
        if self.mask.is_some() || !s.contiguous {
            return false;
        }
        let base = frame as isize * s.frame_stride;
        // SAFETY: as in `read`: consecutive in-range elements of this frame.
        let src = unsafe {
            std::slice::from_raw_parts(s.ptr.offset(base + cursor.start as isize), cursor.len)
        };
        let mut invalid = 0u32;
        let mut put = |o: &mut T::Key, x: T| {
            let valid = x.is_valid();
            *o = if valid { x.key() } else { T::MISSING_KEY };
            invalid |= u32::from(!valid);
        };
        if s.swapped {
            for (o, &x) in out.iter_mut().zip(src) {
                put(o, x.swap_bytes());
            }
        } else {
            for (o, &x) in out.iter_mut().zip(src) {
                put(o, x);
            }
        }
        invalid == 0
    }

    /// Asks the CPU to start fetching pixels `start..start + len` of frame `frame` into cache
    /// (contiguous views only; a hint, with no effect on results).
    #[inline(always)]
    pub fn prefetch(&self, frame: usize, start: usize, len: usize) {
        let s = &self.stack;
        if !s.contiguous || start + len > s.npix || len == 0 {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let per_line = (64 / std::mem::size_of::<T>()).max(1);
            let base = frame as isize * s.frame_stride + start as isize;
            for k in (0..len).step_by(per_line) {
                // SAFETY: the address lies within frame `frame` (checked range above); a
                // prefetch never faults and reads nothing into the program.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(s.ptr.offset(base + k as isize).cast()) };
            }
        }
    }

    /// Frame `frame` of the located tile as workspace values. Borrowed straight from the stack
    /// when nothing needs converting (native-order float data, contiguous spatial axes, no
    /// mask), else read into `buf` as by [`Source::read`] with `NaN` for missing samples.
    ///
    /// Either way a sample is missing exactly when its value is not finite.
    #[inline(always)]
    pub fn row<'s>(
        &'s self,
        frame: usize,
        cursor: &TileCursor,
        buf: &'s mut [T::Work],
    ) -> &'s [T::Work] {
        let s = &self.stack;
        if s.contiguous && !s.swapped && self.mask.is_none() {
            // SAFETY: as in `read`: consecutive in-range elements of frame `frame`.
            let src = unsafe {
                std::slice::from_raw_parts(
                    s.ptr
                        .offset(frame as isize * s.frame_stride + cursor.start as isize),
                    cursor.len,
                )
            };
            if let Some(values) = T::as_work(src) {
                return values;
            }
        }
        self.read(frame, cursor, T::Work::NAN, buf);
        buf
    }
}

impl<T: Sample> Source<'_, T> {
    /// Sample `frame` at the spatial multi-index `idx`, in the workspace as `f64`; `None` when it
    /// is masked or not finite.
    ///
    /// # Panics
    /// In debug builds, if an index is out of range.
    #[must_use]
    pub fn value_at(&self, frame: usize, idx: &[usize]) -> Option<f64> {
        let s = &self.stack;
        debug_assert!(frame < s.n && idx.len() == s.spatial.len());
        debug_assert!(idx.iter().zip(&s.spatial).all(|(i, n)| i < n));
        if let Some(m) = &self.mask {
            let off = element_offset(frame, m.frame_stride, idx, &m.spatial_strides);
            // SAFETY: in-range indices of the mask view, which has the stack's shape.
            if unsafe { *m.ptr.offset(off) } != 0 {
                return None;
            }
        }
        let off = element_offset(frame, s.frame_stride, idx, &s.spatial_strides);
        // SAFETY: in-range indices of this view (see `from_raw_parts`).
        let x = unsafe { *s.ptr.offset(off) };
        let w = if s.swapped { x.swap_bytes() } else { x }.to_work();
        w.is_finite().then(|| w.to_f64())
    }
}

fn element_offset(frame: usize, frame_stride: isize, idx: &[usize], strides: &[isize]) -> isize {
    frame as isize * frame_stride
        + idx
            .iter()
            .zip(strides)
            .map(|(&i, &st)| i as isize * st)
            .sum::<isize>()
}

/// A plane read row by row as `f64`, whatever its element type: the variance plane rides along
/// a combine of a stack of another type behind `&dyn PlaneRows` (one call per frame and tile,
/// so the pipeline is not compiled once more per variance type).
pub trait PlaneRows: Sync {
    /// Prepares the offsets of one tile (as [`Source::locate`]).
    fn locate_rows(&self, start: usize, len: usize, cursor: &mut TileCursor);
    /// Frame `frame` of the located tile as `f64`; non-finite or masked values become NaN.
    fn read_f64(&self, frame: usize, cursor: &TileCursor, out: &mut [f64]);
    /// The plane's shape `(N, *spatial)`.
    fn plane_shape(&self) -> Vec<usize>;
}

impl<T: Sample> PlaneRows for Source<'_, T> {
    fn locate_rows(&self, start: usize, len: usize, cursor: &mut TileCursor) {
        self.locate(start, len, cursor);
    }

    #[inline]
    fn read_f64(&self, frame: usize, cursor: &TileCursor, out: &mut [f64]) {
        let s = &self.stack;
        debug_assert!(frame < s.n && out.len() == cursor.len);
        let base = frame as isize * s.frame_stride;
        let swapped = s.swapped;
        let convert = |x: T| -> f64 {
            let v = if swapped { x.swap_bytes() } else { x }.to_work().to_f64();
            if v.is_finite() {
                v
            } else {
                f64::NAN
            }
        };
        if s.contiguous {
            // SAFETY: as in `read`: pixels start..start+len of frame `frame` are in the view.
            let src = unsafe {
                std::slice::from_raw_parts(s.ptr.offset(base + cursor.start as isize), cursor.len)
            };
            for (o, &x) in out.iter_mut().zip(src) {
                *o = convert(x);
            }
        } else {
            for (o, &off) in out.iter_mut().zip(&cursor.stack_offsets) {
                // SAFETY: `off` was computed from in-range spatial indices of this view.
                *o = convert(unsafe { *s.ptr.offset(base + off) });
            }
        }
        if let Some(m) = &self.mask {
            let mbase = frame as isize * m.frame_stride;
            for (p, o) in out.iter_mut().enumerate() {
                let off = if m.contiguous {
                    (cursor.start + p) as isize
                } else {
                    cursor.mask_offsets[p]
                };
                // SAFETY: as in `read`.
                if unsafe { *m.ptr.offset(mbase + off) } != 0 {
                    *o = f64::NAN;
                }
            }
        }
    }

    fn plane_shape(&self) -> Vec<usize> {
        self.stack.shape()
    }
}

/// Where the current tile is, plus per-job offset buffers for strided views.
#[derive(Default)]
pub struct TileCursor {
    start: usize,
    len: usize,
    stack_offsets: Vec<isize>,
    mask_offsets: Vec<isize>,
}

impl TileCursor {
    /// Length of the located tile.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when the located tile is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(src: &Source<'_, f32>, start: usize, len: usize) -> Vec<Vec<f32>> {
        let mut cur = TileCursor::default();
        src.locate(start, len, &mut cur);
        (0..src.n())
            .map(|i| {
                let mut row = vec![0.0; len];
                src.read(i, &cur, f32::NAN, &mut row);
                row
            })
            .collect()
    }

    #[test]
    fn strided_view_reads_the_same_as_contiguous() {
        // stack (2, 3, 4), C order; the transposed-spatial view reads it as (2, 4, 3).
        let data: Vec<f32> = (0..24).map(|v| v as f32).collect();
        let c = StackView::from_slice(&data, &[2, 3, 4]).unwrap();
        assert!(c.contiguous);
        // SAFETY: these strides address elements of `data` only.
        let t = unsafe { StackView::from_raw_parts(data.as_ptr(), &[2, 4, 3], &[12, 1, 4], false) }
            .unwrap();
        assert!(!t.contiguous);
        let rows = read_all(&Source::new(t, None).unwrap(), 2, 5);
        // Pixel p of the (4, 3) view is (p / 3, p % 3) -> element (p % 3) * 4 + p / 3.
        let want: Vec<f32> = (2..7).map(|p| ((p % 3) * 4 + p / 3) as f32).collect();
        assert_eq!(rows[0], want);
        let want1: Vec<f32> = want.iter().map(|v| v + 12.0).collect();
        assert_eq!(rows[1], want1);
    }

    #[test]
    fn negative_strides_and_masks_and_non_finite_values() {
        let data = [1.0f32, f32::INFINITY, 3.0, 4.0, f32::NAN, 6.0];
        // Frames reversed: frame 0 is data[3..6].
        // SAFETY: offsets 3 + {0,1,2} and 0 + {0,1,2} stay within `data`.
        let v =
            unsafe { StackView::from_raw_parts(data.as_ptr().add(3), &[2, 3], &[-3, 1], false) }
                .unwrap();
        let mask = [0u8, 0, 1, 0, 0, 0];
        let m = StackView::from_slice(&mask, &[2, 3]).unwrap();
        let rows = read_all(&Source::new(v, Some(m)).unwrap(), 0, 3);
        assert_eq!(rows[0][0], 4.0);
        assert!(rows[0][1].is_nan() && rows[0][2].is_nan());
        assert_eq!(rows[1][0], 1.0);
        assert!(rows[1][1].is_nan());
    }

    #[test]
    fn byte_swapped_values_are_restored() {
        let data: Vec<f32> = [1.5f32, -2.0].iter().map(|x| x.swap_bytes()).collect();
        // SAFETY: C-contiguous (2, 1) view of `data`.
        let v =
            unsafe { StackView::from_raw_parts(data.as_ptr(), &[2, 1], &[1, 1], true) }.unwrap();
        let rows = read_all(&Source::new(v, None).unwrap(), 0, 1);
        assert_eq!(rows, vec![vec![1.5], vec![-2.0]]);
    }

    #[test]
    fn bad_shapes_are_errors() {
        let data = [0.0f32; 4];
        assert!(StackView::from_slice(&data, &[4]).is_err());
        assert!(StackView::from_slice(&data, &[0, 4]).is_err());
        let s = StackView::from_slice(&data, &[2, 2]).unwrap();
        let mask = [0u8; 4];
        let m = StackView::from_slice(&mask, &[4, 1]).unwrap();
        let err = Source::new(s, Some(m)).err().unwrap();
        assert_eq!(err.to_string(), "mask has shape (4, 1), expected (2, 2)");
    }
}
