//! The combine methods: each reduces the valid samples of every output element to one value.
//!
//! ```text
//! valid samples of a pixel: x_i finite and not masked, i in 0..N; n = their count
//! mean     = sum(x_i) / n                    sum = sum(x_i)
//! min, max = smallest, largest x_i
//! median   = x_(n/2) for odd n, (x_(n/2-1) + x_(n/2)) / 2 for even n   (sorted, 0-based)
//! lmedian  = x_((n-1)/2)                      (the lower middle value for even n)
//! variance = sum((x_i - mean)^2) / (n - ddof) (NaN when n - ddof <= 0)
//! weighted = sum(w_i x_i) / sum(w_i)          (sums over the valid samples only)
//! ```
//! A pixel with no valid sample gives NaN for every method. Sums are accumulated in `f64` in
//! frame order and rounded once to the output type, so every pixel's value is independent of the
//! tiling and of the number of threads.

use rayon::prelude::*;

use crate::accumulate::{Finite, Sums};
use crate::cancel;
use crate::error::CoreError;
use crate::median_regs::MiddleKey;
use crate::network::{cached_median_pairs, cached_pairs, sort_columns, NETWORK_MAX_N};
use crate::sample::{Float, Sample};
use crate::simd;
use crate::stack::{Source, TileCursor};

/// A combine method with its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    Mean,
    Sum,
    Min,
    Max,
    Median,
    LMedian,
    /// Weighted average with one non-negative weight per frame.
    WeightedAverage,
}

impl Method {
    /// Parses a canonical method name (aliases are resolved in Python).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Method> {
        Some(match name {
            "mean" => Method::Mean,
            "sum" => Method::Sum,
            "min" => Method::Min,
            "max" => Method::Max,
            "median" => Method::Median,
            "lmedian" => Method::LMedian,
            "weighted_average" => Method::WeightedAverage,
            _ => return None,
        })
    }

    /// `true` when the result is one of the input samples (so an integer type can hold it).
    #[must_use]
    pub fn selects_a_sample(self) -> bool {
        matches!(self, Method::Min | Method::Max | Method::LMedian)
    }
}

/// Pixels per tile for row-streaming methods (mean, sum, min, max, weighted average).
const STREAM_TILE: usize = 2048;

/// Pixels per tile when all `n` rows are held at once: about `budget` bytes of scratch.
fn block_tile<W>(n: usize, budget: usize) -> usize {
    let t = budget / (n * std::mem::size_of::<W>()).max(1);
    // Multiples of 64 keep the vector loops free of remainders.
    if t >= 64 {
        (t / 64 * 64).min(4096)
    } else {
        (t / 16 * 16).max(16)
    }
}

fn check_weights(weights: Option<&[f64]>, n: usize) -> Result<&[f64], CoreError> {
    let w = weights.ok_or_else(|| CoreError::Value {
        name: "weights",
        message: "the weighted average needs one weight per frame".to_string(),
    })?;
    if w.len() != n {
        return Err(CoreError::Shape {
            name: "weights",
            expected: format!("({n},)"),
            actual: format!("({},)", w.len()),
        });
    }
    if let Some(bad) = w.iter().find(|v| !v.is_finite() || **v < 0.0) {
        return Err(CoreError::Value {
            name: "weights",
            message: format!("weights must be finite and >= 0, got {bad}"),
        });
    }
    Ok(w)
}

/// Combines the stack with `method` into a new vector of `npix` values.
///
/// `O` is the workspace type, or the input type itself for methods that select a sample
/// (`selects_a_sample`) of an integer stack without a mask.
///
/// # Errors
/// If the weighted average gets no weights, weights of the wrong length, or invalid weights.
pub fn combine<T, O>(
    src: &Source<'_, T>,
    method: Method,
    weights: Option<&[f64]>,
) -> Result<Vec<O>, CoreError>
where
    T: Sample,
    O: Sample<Work = T::Work>,
{
    let mut out = vec![O::from_work(T::Work::default()); src.npix()];
    match method {
        Method::Mean => accumulate(src, &mut out, None, false),
        Method::Sum => accumulate(src, &mut out, None, true),
        Method::WeightedAverage => {
            let w = check_weights(weights, src.n())?;
            accumulate(src, &mut out, Some(w), false);
        }
        Method::Min => extreme(src, &mut out, false),
        Method::Max => extreme(src, &mut out, true),
        Method::Median => middle(src, &mut out, false),
        Method::LMedian => middle(src, &mut out, true),
    }
    Ok(out)
}

/// Sum, mean and weighted mean, accumulated row by row in `f64`.
fn accumulate<T: Sample, O: Sample<Work = T::Work>>(
    src: &Source<'_, T>,
    out: &mut [O],
    weights: Option<&[f64]>,
    sum_only: bool,
) {
    let st = STREAM_TILE;
    out.par_chunks_mut(st).enumerate().for_each_init(
        || AccumulateScratch::<T::Work>::new(st),
        |scratch, (t, chunk)| {
            if cancel::requested() {
                return;
            }
            simd::run((src, scratch, t * st, chunk, weights, sum_only));
        },
    );
}

struct AccumulateScratch<W> {
    cur: TileCursor,
    row: Vec<W>,
    sums: Sums,
}

impl<W: Float> AccumulateScratch<W> {
    fn new(tile: usize) -> Self {
        AccumulateScratch {
            cur: TileCursor::default(),
            row: vec![W::default(); tile],
            sums: Sums::new(tile),
        }
    }
}

#[inline(always)]
#[allow(clippy::type_complexity)] // the kernel's argument tuple (see the `simd::Kernel` impls)
fn accumulate_tile<T: Sample, O: Sample<Work = T::Work>>(
    (src, s, start, chunk, weights, sum_only): (
        &Source<'_, T>,
        &mut AccumulateScratch<T::Work>,
        usize,
        &mut [O],
        Option<&[f64]>,
        bool,
    ),
) {
    let len = chunk.len();
    src.locate(start, len, &mut s.cur);
    let row = &mut s.row[..len];
    s.sums.reset(len);
    let to = |v: f64| O::from_work(T::Work::from_f64(v));
    if let Some(weights) = weights {
        for (i, &w) in weights.iter().enumerate() {
            let row = src.row(i, &s.cur, row);
            s.sums.add_weighted(i, row, w, &Finite);
        }
        s.sums.finish_weighted(chunk, to);
    } else {
        for i in 0..src.n() {
            let row = src.row(i, &s.cur, row);
            s.sums.add_counted(i, row, &Finite);
        }
        s.sums.finish_counted(chunk, sum_only, to);
    }
}

/// Minimum (`max = false`) or maximum of the valid samples.
fn extreme<T: Sample, O: Sample<Work = T::Work>>(src: &Source<'_, T>, out: &mut [O], max: bool) {
    let st = STREAM_TILE;
    out.par_chunks_mut(st).enumerate().for_each_init(
        || {
            let v = vec![T::Work::default(); st];
            (TileCursor::default(), v.clone(), v)
        },
        |(cur, row, best), (t, chunk)| {
            if cancel::requested() {
                return;
            }
            simd::run((src, cur, row, best, t * st, chunk, max));
        },
    );
}

#[inline(always)]
#[allow(clippy::type_complexity)] // the kernel's argument tuple (see the `simd::Kernel` impls)
fn extreme_tile<T: Sample, O: Sample<Work = T::Work>>(
    (src, cur, row, best, start, chunk, max): (
        &Source<'_, T>,
        &mut TileCursor,
        &mut [T::Work],
        &mut [T::Work],
        usize,
        &mut [O],
        bool,
    ),
) {
    let empty = if max {
        T::Work::NEG_INFINITY
    } else {
        T::Work::INFINITY
    };
    let len = chunk.len();
    src.locate(start, len, cur);
    let (row, best) = (&mut row[..len], &mut best[..len]);
    best.fill(empty);
    for i in 0..src.n() {
        src.read(i, cur, empty, row);
        if max {
            for (b, &x) in best.iter_mut().zip(row.iter()) {
                *b = if x > *b { x } else { *b };
            }
        } else {
            for (b, &x) in best.iter_mut().zip(row.iter()) {
                *b = if x < *b { x } else { *b };
            }
        }
    }
    for (o, &b) in chunk.iter_mut().zip(best.iter()) {
        // Valid samples are finite, so an infinite result means "no valid sample".
        *o = O::from_work(if b == empty { T::Work::NAN } else { b });
    }
}

/// Median (`lower = false`) or lower median of the valid samples.
///
/// A tile of `n` rows is loaded as sort keys (the integers themselves, or order-preserving
/// integers for floats; missing samples sort last) and the valid samples counted in the same
/// pass. Up to [`NETWORK_MAX_N`] frames a comparator network sorts all columns at once; deeper
/// stacks select per pixel.
fn middle<T: Sample, O: Sample<Work = T::Work>>(src: &Source<'_, T>, out: &mut [O], lower: bool) {
    let n = src.n();
    // Deep stacks sort long networks on narrow tiles: a wider tile (still in L2) amortises
    // the per-comparator loop overhead; shallow stacks do best when the tile fits in L1.
    let budget = if n > 48 { 64 * 1024 } else { 32 * 1024 };
    let tile = block_tile::<T::Key>(n, budget);
    out.par_chunks_mut(tile).enumerate().for_each_init(
        || MiddleScratch::<T>::new(n, tile),
        |scratch, (t, chunk)| {
            if cancel::requested() {
                return;
            }
            simd::run((src, scratch, t * tile, chunk, lower));
        },
    );
}

struct MiddleScratch<T: Sample> {
    cur: TileCursor,
    keys: Vec<T::Key>,
    count: Vec<u32>,
    column: Vec<T::Key>,
    mask_buf: Vec<u8>,
}

impl<T: Sample> MiddleScratch<T> {
    fn new(n: usize, tile: usize) -> Self {
        MiddleScratch {
            cur: TileCursor::default(),
            keys: vec![T::Key::default(); n * tile],
            count: vec![0; tile],
            column: Vec::with_capacity(n),
            mask_buf: Vec::new(),
        }
    }
}

#[inline(always)]
#[allow(clippy::type_complexity)] // the kernel's argument tuple (see the `simd::Kernel` impls)
fn middle_tile<T: Sample, O: Sample<Work = T::Work>>(
    (src, s, start, chunk, lower): (&Source<'_, T>, &mut MiddleScratch<T>, usize, &mut [O], bool),
) {
    let n = src.n();
    let w = chunk.len();
    src.locate(start, w, &mut s.cur);
    let keys = &mut s.keys[..n * w];
    let count = &mut s.count[..w];
    // Short row segments from many frames defeat the hardware prefetcher: then fetch the next
    // tile's part of each frame while this tile is being sorted. Longer segments stream well
    // on their own, and explicit prefetches of every line would only queue up.
    let prefetch = w * std::mem::size_of::<T>() < 1024;
    // Most tiles have every sample valid: read them without per-pixel counts, and count (by
    // reading the tile again, now from cache) only when some sample is missing.
    let mut complete = true;
    for (i, krow) in keys.chunks_exact_mut(w).enumerate() {
        if prefetch {
            src.prefetch(i, start + w, w);
        }
        complete &= src.read_keys_complete(i, &s.cur, krow);
    }
    if !complete {
        count.fill(0);
        for (i, krow) in keys.chunks_exact_mut(w).enumerate() {
            src.read_keys(i, &s.cur, krow, count, &mut s.mask_buf);
        }
        complete = count.iter().all(|&c| c as usize == n);
    }
    let value = |key: T::Key| T::key_value(key).to_f64();
    if n > NETWORK_MAX_N {
        for (p, o) in chunk.iter_mut().enumerate() {
            s.column.clear();
            s.column.extend((0..n).map(|r| keys[r * w + p]));
            let c = if complete { n } else { count[p] as usize };
            *o = O::from_work(select_middle::<T>(&mut s.column, c, lower));
        }
        return;
    }
    // With every sample valid only the middle ranks matter: a pruned network suffices, and
    // every pixel's middle is in the same rows, read whole (vectorised).
    if complete {
        if !T::Key::middle_rows(keys, w, n) {
            sort_columns(keys, w, cached_median_pairs(n));
        }
        let upper = &keys[n / 2 * w..(n / 2 + 1) * w];
        if lower || n % 2 == 1 {
            let row = &keys[(n - 1) / 2 * w..((n - 1) / 2 + 1) * w];
            for (o, &k) in chunk.iter_mut().zip(row) {
                *o = O::from_work(T::key_value(k));
            }
        } else {
            let below = &keys[(n / 2 - 1) * w..n / 2 * w];
            for ((o, &a), &b) in chunk.iter_mut().zip(below).zip(upper) {
                let v = 0.5 * (value(a) + value(b));
                *o = O::from_work(T::Work::from_f64(v));
            }
        }
        return;
    }
    sort_columns(keys, w, cached_pairs(n));
    for (p, o) in chunk.iter_mut().enumerate() {
        let c = count[p] as usize;
        *o = if c == 0 {
            O::from_work(T::Work::NAN)
        } else if lower || c % 2 == 1 {
            O::from_work(T::key_value(keys[(c - 1) / 2 * w + p]))
        } else {
            let lo = value(keys[(c / 2 - 1) * w + p]);
            let hi = value(keys[c / 2 * w + p]);
            O::from_work(T::Work::from_f64(0.5 * (lo + hi)))
        };
    }
}

/// The (lower) median of the `c` valid values among the `keys` of one pixel (missing keys sort
/// last), by selection.
fn select_middle<T: Sample>(keys: &mut [T::Key], c: usize, lower: bool) -> T::Work {
    if c == 0 {
        return T::Work::NAN;
    }
    let hi_rank = if lower { (c - 1) / 2 } else { c / 2 };
    let (left, &mut hi, _) = keys.select_nth_unstable(hi_rank);
    let hi_key = hi;
    if lower || c % 2 == 1 {
        return T::key_value(hi_key);
    }
    // Even count: the lower middle value is the largest key below `hi_rank` (c >= 2).
    let lo_key = left.iter().copied().max().unwrap_or(hi_key);
    let (lo, hi) = (T::key_value(lo_key).to_f64(), T::key_value(hi_key).to_f64());
    T::Work::from_f64(0.5 * (lo + hi))
}

/// A variance map and, when asked for, the mean map of the same samples.
pub type VarianceAndMean<W> = (Vec<W>, Option<Vec<W>>);

/// Variance of the valid samples about their mean, with divisor `n - ddof`, and that mean.
///
/// # Errors
/// If `ddof` is negative or not finite.
pub fn variance<T: Sample>(
    src: &Source<'_, T>,
    ddof: f64,
    with_mean: bool,
) -> Result<VarianceAndMean<T::Work>, CoreError> {
    if !(ddof.is_finite() && ddof >= 0.0) {
        return Err(CoreError::Value {
            name: "ddof",
            message: format!("ddof must be a finite number >= 0, got {ddof}"),
        });
    }
    let n = src.n();
    let npix = src.npix();
    let tile = block_tile::<T::Work>(n, 256 * 1024);
    let mut var = vec![T::Work::default(); npix];
    let mut mean = if with_mean {
        vec![T::Work::default(); npix]
    } else {
        Vec::new()
    };
    let init = || VarianceScratch::<T::Work>::new(n, tile);
    if with_mean {
        var.par_chunks_mut(tile)
            .zip(mean.par_chunks_mut(tile))
            .enumerate()
            .for_each_init(init, |s, (t, (v, m))| {
                if cancel::requested() {
                    return;
                }
                simd::run((src, s, t * tile, ddof, v, Some(m)));
            });
    } else {
        var.par_chunks_mut(tile)
            .enumerate()
            .for_each_init(init, |s, (t, v)| {
                if cancel::requested() {
                    return;
                }
                simd::run((src, s, t * tile, ddof, v, None));
            });
    }
    Ok((var, with_mean.then_some(mean)))
}

struct VarianceScratch<W> {
    cur: TileCursor,
    rows: Vec<W>,
    sums: Sums,
}

impl<W: Float> VarianceScratch<W> {
    fn new(n: usize, tile: usize) -> Self {
        VarianceScratch {
            cur: TileCursor::default(),
            rows: vec![W::default(); n * tile],
            sums: Sums::new(tile),
        }
    }
}

#[inline(always)]
#[allow(clippy::type_complexity)] // the kernel's argument tuple (see the `simd::Kernel` impls)
fn variance_tile<T: Sample>(
    (src, s, start, ddof, var_out, mean_out): (
        &Source<'_, T>,
        &mut VarianceScratch<T::Work>,
        usize,
        f64,
        &mut [T::Work],
        Option<&mut [T::Work]>,
    ),
) {
    let n = src.n();
    let w = var_out.len();
    src.locate(start, w, &mut s.cur);
    let rows = &mut s.rows[..n * w];
    s.sums.reset(w);
    for (i, row) in rows.chunks_exact_mut(w).enumerate() {
        src.read(i, &s.cur, T::Work::NAN, row);
        s.sums.add_weighted(i, row, 1.0, &Finite);
    }
    s.sums
        .finish_variance(rows, &Finite, ddof, var_out, mean_out, T::Work::from_f64);
}

// Each tile function is a `simd::Kernel` on its argument tuple (see `simd::run`).
impl<T: Sample, O: Sample<Work = T::Work>> simd::Kernel
    for (
        &Source<'_, T>,
        &mut AccumulateScratch<T::Work>,
        usize,
        &mut [O],
        Option<&[f64]>,
        bool,
    )
{
    type Output = ();
    #[inline(always)]
    fn run(self) {
        accumulate_tile(self);
    }
}

impl<T: Sample, O: Sample<Work = T::Work>> simd::Kernel
    for (
        &Source<'_, T>,
        &mut TileCursor,
        &mut Vec<T::Work>,
        &mut Vec<T::Work>,
        usize,
        &mut [O],
        bool,
    )
{
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let (src, cur, row, best, start, chunk, max) = self;
        extreme_tile((src, cur, row, best, start, chunk, max));
    }
}

impl<T: Sample, O: Sample<Work = T::Work>> simd::Kernel
    for (&Source<'_, T>, &mut MiddleScratch<T>, usize, &mut [O], bool)
{
    type Output = ();
    #[inline(always)]
    fn run(self) {
        middle_tile(self);
    }
}

impl<T: Sample> simd::Kernel
    for (
        &Source<'_, T>,
        &mut VarianceScratch<T::Work>,
        usize,
        f64,
        &mut [T::Work],
        Option<&mut [T::Work]>,
    )
{
    type Output = ();
    #[inline(always)]
    fn run(self) {
        variance_tile(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::StackView;

    fn run(data: &[f32], shape: &[usize], method: Method) -> Vec<f32> {
        let src = Source::new(StackView::from_slice(data, shape).unwrap(), None).unwrap();
        combine::<f32, f32>(&src, method, None).unwrap()
    }

    #[test]
    fn medians_of_odd_and_even_counts_with_missing_values() {
        // pixel 0: [3, 1, 2] -> 2; pixel 1: [4, NaN, 1] -> 2.5 (lower: 1); pixel 2: all missing.
        let nan = f32::NAN;
        let data = [
            3.0,
            4.0,
            nan,
            1.0,
            nan,
            f32::INFINITY,
            2.0,
            1.0,
            -f32::INFINITY,
        ];
        let med = run(&data, &[3, 3], Method::Median);
        assert_eq!(&med[..2], &[2.0, 2.5]);
        assert!(med[2].is_nan());
        let lmed = run(&data, &[3, 3], Method::LMedian);
        assert_eq!(&lmed[..2], &[2.0, 1.0]);
    }

    #[test]
    fn deep_stacks_use_selection_and_agree_with_sorting() {
        let n = NETWORK_MAX_N + 9;
        let data: Vec<f32> = (0..n * 2).map(|v| ((v * 37) % 101) as f32).collect();
        let med = run(&data, &[n, 2], Method::Median);
        for p in 0..2 {
            let mut col: Vec<f32> = (0..n).map(|i| data[i * 2 + p]).collect();
            col.sort_by(f32::total_cmp);
            let want = if n % 2 == 1 {
                col[n / 2]
            } else {
                0.5 * (col[n / 2 - 1] + col[n / 2])
            };
            assert_eq!(med[p], want);
        }
    }

    #[test]
    fn sums_are_nan_without_valid_samples_and_accumulate_in_f64() {
        let nan = f32::NAN;
        let data = [1.0e8, nan, 1.0, nan, -1.0e8, nan];
        let s = run(&data, &[3, 2], Method::Sum);
        assert_eq!(s[0], 1.0);
        assert!(s[1].is_nan());
        let m = run(&data, &[3, 2], Method::Mean);
        assert_eq!(m[0], 1.0 / 3.0);
    }

    #[test]
    fn min_max_and_integer_outputs() {
        let data: [u16; 6] = [5, 65535, 0, 7, 9, 8];
        let src = Source::new(StackView::from_slice(&data, &[3, 2]).unwrap(), None).unwrap();
        let lo: Vec<u16> = combine(&src, Method::Min, None).unwrap();
        let hi: Vec<u16> = combine(&src, Method::Max, None).unwrap();
        let lmed: Vec<u16> = combine(&src, Method::LMedian, None).unwrap();
        assert_eq!((lo, hi, lmed), (vec![0, 7], vec![9, 65535], vec![5, 8]));
    }

    #[test]
    fn weighted_average_renormalises_over_valid_samples() {
        let data = [1.0f32, 1.0, f32::NAN, 3.0];
        let src = Source::new(StackView::from_slice(&data, &[2, 2]).unwrap(), None).unwrap();
        let out: Vec<f32> = combine(&src, Method::WeightedAverage, Some(&[1.0, 3.0])).unwrap();
        assert_eq!(out, vec![1.0, 2.5]);
        assert!(combine::<f32, f32>(&src, Method::WeightedAverage, Some(&[1.0])).is_err());
        assert!(combine::<f32, f32>(&src, Method::WeightedAverage, Some(&[1.0, -1.0])).is_err());
    }

    #[test]
    fn variance_with_ddof_and_mean() {
        let data = [1.0f64, 5.0, 3.0, f64::NAN];
        let src = Source::new(StackView::from_slice(&data, &[2, 2]).unwrap(), None).unwrap();
        let (v, m) = variance(&src, 0.0, true).unwrap();
        assert_eq!(v[0], 1.0);
        assert_eq!(v[1], 0.0);
        assert_eq!(m.unwrap(), vec![2.0, 5.0]);
        let (v1, _) = variance(&src, 1.0, false).unwrap();
        assert_eq!(v1[0], 2.0);
        assert!(v1[1].is_nan());
        assert!(variance(&src, -1.0, false).is_err());
    }
}
