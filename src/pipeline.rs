//! Rejection followed by the combine, in one pass over each tile.
//!
//! ```text
//! per tile:  read the N rows (masked, non-finite and out-of-threshold samples are missing)
//!            sort each element's valid samples (order-preserving integer keys, comparator network)
//!            run the rejectors on the sorted run: survivors = x[lo..hi], low = x[lo], upp = x[hi-1]
//!            combine: median, lmedian, min, max straight from the run; mean, sum and the weighted
//!            average from the rows in frame order, keeping the samples with low <= x <= upp
//! ```
//! The last step adds up exactly what the plain combine of the masked stack adds up, in the same
//! order, so "reject then combine with the mask" and this fused pass give identical bits.

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::cancel;
use crate::error::CoreError;
use crate::network::{cached_pairs, sort_columns, NETWORK_MAX_N};
use crate::reduce::Method;
use crate::reject::{flags, Centre, Rejector, Report, Survivors};
use crate::sample::{Float, Sample};
use crate::simd;
use crate::stack::{Source, TileCursor};

/// The final reduction of the survivors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Combine {
    Method(Method),
    /// `sum((x - mean)^2) / (n - ddof)`, as `reduce::variance` computes it.
    Variance {
        ddof: f64,
    },
}

/// What to do before and besides the rejection.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    pub rejectors: &'a [Rejector],
    /// Samples outside `[low, high]` are missing before anything else.
    pub thresholds: Option<(f64, f64)>,
    /// Per-frame `(zero, scale)`: after the thresholds each sample becomes
    /// `(x - zero[i]) / scale[i]`, computed in `f64` and rounded to the workspace type.
    pub correction: Option<(&'a [f64], &'a [f64])>,
    /// The final combine (`None`: rejection only).
    pub combine: Option<Combine>,
    pub weights: Option<&'a [f64]>,
    /// Produce the per-element diagnostics.
    pub diagnostics: bool,
    /// Produce the per-sample rejection mask.
    pub mask: bool,
    /// Count, per frame, the valid samples and the rejected ones (no per-sample mask needed).
    pub frame_counts: bool,
}

/// Per-element diagnostics of a rejection (`W` is the workspace type).
#[derive(Debug, Default)]
pub struct Diagnostics<W> {
    /// Spread used by the last rejector's last pass (only for rules with a spread).
    pub std: Option<Vec<W>>,
    /// Lowest surviving value, or the last rejector's lower threshold for linear clipping.
    pub low: Vec<W>,
    /// Highest surviving value, or the last rejector's upper threshold for linear clipping.
    pub upp: Vec<W>,
    /// Passes made by the last rejector.
    pub nit: Vec<i32>,
    /// Bit-OR of [`flags`] over the rejectors.
    pub flags: Vec<u8>,
}

/// The products of [`run`].
#[derive(Debug)]
pub struct Products<O, W> {
    pub combined: Option<Vec<O>>,
    pub diagnostics: Option<Diagnostics<W>>,
    /// `1` where a valid sample was rejected, frame-major `(N, npix)`.
    pub mask: Option<Vec<u8>>,
    /// Per frame: `(valid samples, rejected samples)`.
    pub frame_counts: Option<Vec<(u64, u64)>>,
}

/// A slice that tiles write to in disjoint ranges from several threads.
pub(crate) struct Shared<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: every tile writes only its own, disjoint index range (see `range`).
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    pub(crate) fn new(v: &mut [T]) -> Self {
        Shared {
            ptr: v.as_mut_ptr(),
            len: v.len(),
        }
    }

    /// # Safety
    /// No two live calls may overlap in range.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn range(&self, start: usize, len: usize) -> &mut [T] {
        assert!(start + len <= self.len, "tile range out of bounds");
        // SAFETY: in bounds (checked) and disjoint from every other live range (caller).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

struct Outputs<O, W> {
    combined: Option<Shared<O>>,
    std: Option<Shared<W>>,
    low: Option<Shared<W>>,
    upp: Option<Shared<W>>,
    nit: Option<Shared<i32>>,
    flags: Option<Shared<u8>>,
    mask: Option<Shared<u8>>,
    /// Per frame: valid and rejected samples, summed over tiles (integer sums: the order of the
    /// tiles does not matter).
    counts: Option<Vec<(AtomicU64, AtomicU64)>>,
    npix: usize,
}

struct Scratch<W: Float> {
    cur: TileCursor,
    rows: Vec<W>,
    keys: Vec<W::Key>,
    count: Vec<u32>,
    low: Vec<f64>,
    upp: Vec<f64>,
    values: Vec<f64>,
    spare: Vec<f64>,
    column: Vec<W::Key>,
    sums: Sums,
    /// Per pixel: samples equal to `low` cut below the survivors, and samples equal to `upp`
    /// among the survivors (see `mark_kept`).
    low_skip: Vec<u32>,
    upp_keep: Vec<u32>,
    /// Some pixel of the tile has a rank cut inside a run of equal values.
    any_tied: bool,
    marks: Vec<u8>,
    seen: Vec<(u32, u32)>,
    fast: FirstPass,
}

impl<W: Float> Scratch<W> {
    fn new(n: usize, tile: usize) -> Self {
        Scratch {
            cur: TileCursor::default(),
            rows: vec![W::default(); n * tile],
            keys: vec![W::Key::default(); n * tile],
            count: vec![0; tile],
            low: vec![0.0; tile],
            upp: vec![0.0; tile],
            values: Vec::with_capacity(n),
            spare: Vec::with_capacity(n),
            column: Vec::with_capacity(n),
            sums: Sums {
                acc: vec![0.0; tile],
                wsum: vec![0.0; tile],
                nkept: vec![0; tile],
                squares: vec![0.0; tile],
            },
            low_skip: vec![0; tile],
            upp_keep: vec![0; tile],
            any_tied: false,
            marks: Vec::new(),
            seen: Vec::new(),
            fast: FirstPass::default(),
        }
    }
}

fn tile_len<W>(n: usize) -> usize {
    let per_pixel = n * (std::mem::size_of::<W>() + 8) + 64;
    ((64 * 1024) / per_pixel).clamp(16, 2048) / 16 * 16
}

/// Rejects and (optionally) combines the stack; see the module documentation.
///
/// # Errors
/// Weights of the wrong length or invalid values, or a weighted average without weights.
pub fn run<T, O>(src: &Source<'_, T>, plan: &Plan<'_>) -> Result<Products<O, T::Work>, CoreError>
where
    T: Sample,
    O: Sample<Work = T::Work>,
{
    let n = src.n();
    let npix = src.npix();
    if let Some((zero, scale)) = plan.correction {
        if zero.len() != n
            || scale.len() != n
            || zero.iter().any(|z| !z.is_finite())
            || scale.iter().any(|s| !(s.is_finite() && *s > 0.0))
        {
            return Err(CoreError::Value {
                name: "zero/scale",
                message: format!("expected {n} finite zeros and {n} finite scales > 0"),
            });
        }
    }
    if plan.combine == Some(Combine::Method(Method::WeightedAverage)) {
        let w = plan.weights.ok_or_else(|| CoreError::Value {
            name: "weights",
            message: "the weighted average needs one weight per frame".to_string(),
        })?;
        if w.len() != n || w.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(CoreError::Value {
                name: "weights",
                message: format!("expected {n} finite weights >= 0"),
            });
        }
    }
    let nan = T::Work::NAN;
    let mut combined = plan.combine.map(|_| vec![O::from_work(nan); npix]);
    let with_std = plan.diagnostics && plan.rejectors.last().is_some_and(Rejector::has_spread);
    let mut diag = plan.diagnostics.then(|| Diagnostics {
        std: with_std.then(|| vec![nan; npix]),
        low: vec![nan; npix],
        upp: vec![nan; npix],
        nit: vec![0; npix],
        flags: vec![0; npix],
    });
    let mut mask = plan.mask.then(|| vec![0u8; n * npix]);
    let outputs = Outputs {
        combined: combined.as_deref_mut().map(Shared::new),
        std: diag
            .as_mut()
            .and_then(|d| d.std.as_deref_mut())
            .map(Shared::new),
        low: diag.as_mut().map(|d| Shared::new(&mut d.low)),
        upp: diag.as_mut().map(|d| Shared::new(&mut d.upp)),
        nit: diag.as_mut().map(|d| Shared::new(&mut d.nit)),
        flags: diag.as_mut().map(|d| Shared::new(&mut d.flags)),
        mask: mask.as_deref_mut().map(Shared::new),
        counts: plan.frame_counts.then(|| {
            (0..n)
                .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
                .collect()
        }),
        npix,
    };
    let tile = tile_len::<T::Work>(n);
    let ntiles = npix.div_ceil(tile);
    (0..ntiles).into_par_iter().for_each_init(
        || Scratch::<T::Work>::new(n, tile),
        |scratch, t| {
            if cancel::requested() {
                return;
            }
            let start = t * tile;
            let w = tile.min(npix - start);
            simd::run(TileJob {
                src,
                plan,
                scratch,
                outputs: &outputs,
                start,
                w,
            });
        },
    );
    let frame_counts = outputs.counts.as_ref().map(|c| {
        c.iter()
            .map(|(v, r)| (v.load(Ordering::Relaxed), r.load(Ordering::Relaxed)))
            .collect()
    });
    Ok(Products {
        combined,
        diagnostics: diag,
        mask,
        frame_counts,
    })
}

struct TileJob<'j, 's, T: Sample, O> {
    src: &'j Source<'s, T>,
    plan: &'j Plan<'j>,
    scratch: &'j mut Scratch<T::Work>,
    outputs: &'j Outputs<O, T::Work>,
    start: usize,
    w: usize,
}

impl<T: Sample, O: Sample<Work = T::Work>> simd::Kernel for TileJob<'_, '_, T, O> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        run_tile(self);
    }
}

#[inline(always)]
#[allow(clippy::needless_pass_by_value)]
fn run_tile<T: Sample, O: Sample<Work = T::Work>>(job: TileJob<'_, '_, T, O>) {
    let TileJob {
        src,
        plan,
        scratch: s,
        outputs: out,
        start,
        w,
    } = job;
    let n = src.n();
    let missing_key = <T::Work as Float>::INFINITY_KEY;
    src.locate(start, w, &mut s.cur);
    let rows = &mut s.rows[..n * w];
    let keys = &mut s.keys[..n * w];
    for (i, (row, krow)) in rows
        .chunks_exact_mut(w)
        .zip(keys.chunks_exact_mut(w))
        .enumerate()
    {
        src.prefetch(i, start + w, w);
        src.read(i, &s.cur, T::Work::NAN, row);
        if let Some((tlo, thi)) = plan.thresholds {
            for x in row.iter_mut() {
                let v = x.to_f64();
                if v < tlo || v > thi {
                    *x = T::Work::NAN;
                }
            }
        }
        if let Some((zero, scale)) = plan.correction {
            let (z, sc) = (zero[i], scale[i]);
            for x in row.iter_mut() {
                *x = T::Work::from_f64((x.to_f64() - z) / sc);
            }
        }
        for (k, &x) in krow.iter_mut().zip(row.iter()) {
            *k = if x.is_finite() {
                x.to_key()
            } else {
                missing_key
            };
        }
    }
    let count = &mut s.count[..w];
    count.fill(0);
    for krow in keys.chunks_exact(w) {
        for (c, &k) in count.iter_mut().zip(krow) {
            *c += u32::from(k != missing_key);
        }
    }
    if n <= NETWORK_MAX_N {
        sort_columns(keys, w, cached_pairs(n));
    }

    // Pixels whose outcome the vectorised first pass settles (single SigClip or MinMaxClip).
    let fast = n <= NETWORK_MAX_N && first_pass::<_, T::Work>(plan, keys, count, w, n, &mut s.fast);
    s.any_tied = false;

    // SAFETY (all `range` calls below): this tile owns pixels start..start+w of every
    // per-element output and, for each frame, of the mask.
    let method = match plan.combine {
        Some(Combine::Method(m)) => Some(m),
        _ => None,
    };
    let ddof = match plan.combine {
        Some(Combine::Variance { ddof }) => Some(ddof),
        _ => None,
    };
    // The row pass below (and with it the tie counts) is needed only for these products.
    let needs_rows = matches!(
        method,
        Some(Method::Mean | Method::Sum | Method::WeightedAverage)
    ) || ddof.is_some()
        || out.mask.is_some()
        || out.counts.is_some();
    for p in 0..w {
        let settled = fast && s.fast.done[p];
        let (lo, hi, rep, mut fl);
        if settled {
            (lo, hi) = (s.fast.lo[p] as usize, s.fast.hi[p] as usize);
            rep = s.fast.report[p];
            fl = rep.flags;
            if (count[p] as usize) < n {
                fl |= flags::PREMASKED;
            }
        } else {
            s.values.clear();
            if n <= NETWORK_MAX_N {
                let c = count[p] as usize;
                s.values
                    .extend((0..c).map(|r| T::Work::from_key(keys[r * w + p]).to_f64()));
            } else {
                s.column.clear();
                s.column.extend(
                    (0..n)
                        .map(|r| keys[r * w + p])
                        .filter(|&k| k != missing_key),
                );
                s.column.sort_unstable();
                s.values
                    .extend(s.column.iter().map(|&k| T::Work::from_key(k).to_f64()));
            }
            let mut surv = Survivors {
                x: &s.values,
                lo: 0,
                hi: s.values.len(),
                n_frames: n,
            };
            fl = if s.values.len() < n {
                flags::PREMASKED
            } else {
                0
            };
            let mut last = Report::nothing();
            for r in plan.rejectors {
                last = r.apply(&mut surv, &mut s.spare);
                fl |= last.flags;
            }
            (lo, hi, rep) = (surv.lo, surv.hi, last);
        }
        // Sorted value of rank r among the element's valid samples.
        let at = |r: usize| -> f64 {
            if settled {
                T::Work::from_key(keys[r * w + p]).to_f64()
            } else {
                s.values[r]
            }
        };
        let (low, upp) = if hi > lo {
            (at(lo), at(hi - 1))
        } else {
            (f64::NAN, f64::NAN)
        };
        s.low[p] = low;
        s.upp[p] = upp;
        // Rank cuts inside runs of equal values (min/max clipping on integer data): count the
        // equal values cut below `lo` and kept up to `hi`, for `mark_kept`.
        let valid = count[p] as usize;
        let (mut skip, mut keep_up) = (0u32, 0u32);
        if needs_rows && hi > lo {
            let mut r = lo;
            while r > 0 && at(r - 1) == low {
                r -= 1;
                skip += 1;
            }
            let mut r = hi;
            while r > lo && at(r - 1) == upp {
                r -= 1;
                keep_up += 1;
            }
            if skip > 0 || (hi < valid && at(hi) == upp) {
                s.any_tied = true;
            }
        }
        s.low_skip[p] = skip;
        s.upp_keep[p] = keep_up;
        if let (Some(comb), Some(m)) = (&out.combined, method) {
            let v = match m {
                Method::Median => Some(middle_of(lo, hi, false, at)),
                Method::LMedian => Some(middle_of(lo, hi, true, at)),
                Method::Min => Some(low),
                Method::Max => Some(upp),
                _ => None, // from the rows, below
            };
            if let Some(v) = v {
                unsafe { comb.range(start + p, 1)[0] = O::from_work(T::Work::from_f64(v)) };
            }
        }
        if plan.diagnostics {
            let (dlo, dhi) = match (plan.rejectors.last(), rep.bounds) {
                (Some(Rejector::LinearClip(_)), Some(b)) => b,
                _ => (low, upp),
            };
            unsafe {
                if let Some(o) = &out.std {
                    o.range(start + p, 1)[0] = T::Work::from_f64(rep.spread);
                }
                if let Some(o) = &out.low {
                    o.range(start + p, 1)[0] = T::Work::from_f64(dlo);
                }
                if let Some(o) = &out.upp {
                    o.range(start + p, 1)[0] = T::Work::from_f64(dhi);
                }
                if let Some(o) = &out.nit {
                    o.range(start + p, 1)[0] = i32::try_from(rep.nit).unwrap_or(i32::MAX);
                }
                if let Some(o) = &out.flags {
                    o.range(start + p, 1)[0] = fl;
                }
            }
        }
    }

    // Row pass, in frame order: the survivors are the valid samples within [low, upp].
    if !needs_rows {
        return;
    }
    let (low, upp) = (&s.low[..w], &s.upp[..w]);
    if s.any_tied {
        mark_kept(
            rows,
            w,
            low,
            upp,
            &s.low_skip[..w],
            &s.upp_keep[..w],
            &mut s.marks,
            &mut s.seen,
        );
        let rule = Marked {
            kept: &s.marks[..n * w],
            w,
        };
        row_pass(rows, w, plan, out, start, method, ddof, &rule, &mut s.sums);
    } else {
        let rule = Bounds { low, upp };
        row_pass(rows, w, plan, out, start, method, ddof, &rule, &mut s.sums);
    }
}

/// Which valid samples of a tile survived, asked in frame order.
trait KeepRule {
    /// Whether sample `v` of frame `i` at tile pixel `p` survived (`v` may be NaN: missing).
    fn keep(&self, i: usize, p: usize, v: f64) -> bool;
}

/// Survivors are the valid samples within `[low, upp]` (no cut falls inside a run of ties).
struct Bounds<'a> {
    low: &'a [f64],
    upp: &'a [f64],
}

impl KeepRule for Bounds<'_> {
    #[inline(always)]
    fn keep(&self, _i: usize, p: usize, v: f64) -> bool {
        v >= self.low[p] && v <= self.upp[p]
    }
}

/// Survivors marked one by one (a rank cut fell inside a run of equal values).
struct Marked<'a> {
    kept: &'a [u8],
    w: usize,
}

impl KeepRule for Marked<'_> {
    #[inline(always)]
    fn keep(&self, i: usize, p: usize, _v: f64) -> bool {
        self.kept[i * self.w + p] != 0
    }
}

/// Marks the survivors when a rank cut splits equal values. In (value, frame) order, the first
/// `low_skip[p]` samples equal to `low[p]` (lowest frame numbers) were cut at the low end and
/// only the first `upp_keep[p]` samples equal to `upp[p]` survive at the high end.
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
fn mark_kept<W: Float>(
    rows: &[W],
    w: usize,
    low: &[f64],
    upp: &[f64],
    low_skip: &[u32],
    upp_keep: &[u32],
    marks: &mut Vec<u8>,
    seen: &mut Vec<(u32, u32)>,
) {
    marks.clear();
    marks.resize(rows.len(), 0);
    seen.clear();
    seen.resize(w, (0, 0));
    for (row, mrow) in rows.chunks_exact(w).zip(marks.chunks_exact_mut(w)) {
        for p in 0..w {
            let v = row[p].to_f64();
            let (l, u) = (low[p], upp[p]);
            let keep = if v > l && v < u {
                true
            } else if v == l {
                let t = seen[p].0;
                seen[p].0 += 1;
                t >= low_skip[p] && (l < u || t - low_skip[p] < upp_keep[p])
            } else if v == u {
                let t = seen[p].1;
                seen[p].1 += 1;
                t < upp_keep[p]
            } else {
                false
            };
            mrow[p] = u8::from(keep);
        }
    }
}

/// Accumulators of the row pass, one entry per tile pixel.
struct Sums {
    acc: Vec<f64>,
    wsum: Vec<f64>,
    nkept: Vec<u32>,
    squares: Vec<f64>,
}

/// Row pass, in frame order: the mask, the per-frame counts and the combines that add up rows
/// (mean, sum, weighted average, variance), over the samples `rule` keeps.
#[inline(always)]
// The loops index the row, the bounds and the accumulators by pixel together.
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
fn row_pass<W: Float, O: Sample<Work = W>, K: KeepRule>(
    rows: &[W],
    w: usize,
    plan: &Plan<'_>,
    out: &Outputs<O, W>,
    start: usize,
    method: Option<Method>,
    ddof: Option<f64>,
    rule: &K,
    sums: &mut Sums,
) {
    let (acc, wsum, nkept) = (
        &mut sums.acc[..w],
        &mut sums.wsum[..w],
        &mut sums.nkept[..w],
    );
    acc.fill(0.0);
    wsum.fill(0.0);
    nkept.fill(0);
    for (i, row) in rows.chunks_exact(w).enumerate() {
        let wi = plan.weights.map_or(1.0, |ws| ws[i]);
        let mask_row = out.mask.as_ref().map(|m| {
            // SAFETY: frame i's pixels start..start+w belong to this tile.
            unsafe { m.range(i * out.npix + start, w) }
        });
        if let Some(mrow) = mask_row {
            for p in 0..w {
                let x = row[p];
                let v = x.to_f64();
                let keep = rule.keep(i, p, v);
                mrow[p] = u8::from(x.is_finite() && !keep);
            }
        }
        if let Some(counts) = &out.counts {
            let (mut valid, mut rejected) = (0u64, 0u64);
            for p in 0..w {
                let x = row[p];
                let v = x.to_f64();
                let keep = rule.keep(i, p, v);
                valid += u64::from(x.is_finite());
                rejected += u64::from(x.is_finite() && !keep);
            }
            counts[i].0.fetch_add(valid, Ordering::Relaxed);
            counts[i].1.fetch_add(rejected, Ordering::Relaxed);
        }
        match method {
            Some(Method::WeightedAverage) => {
                for p in 0..w {
                    let v = row[p].to_f64();
                    let keep = rule.keep(i, p, v);
                    acc[p] += if keep { wi * v } else { 0.0 };
                    wsum[p] += if keep { wi } else { 0.0 };
                }
            }
            Some(Method::Mean | Method::Sum) => {
                for p in 0..w {
                    let v = row[p].to_f64();
                    let keep = rule.keep(i, p, v);
                    acc[p] += if keep { v } else { 0.0 };
                    nkept[p] += u32::from(keep);
                }
            }
            _ if ddof.is_some() => {
                for p in 0..w {
                    let v = row[p].to_f64();
                    let keep = rule.keep(i, p, v);
                    acc[p] += if keep { v } else { 0.0 };
                    wsum[p] += if keep { 1.0 } else { 0.0 };
                }
            }
            _ => {}
        }
    }
    if let (Some(comb), Some(ddof)) = (&out.combined, ddof) {
        // Two passes in f64, term for term as `reduce::variance` (the masked-stack route).
        for (m, &c) in acc.iter_mut().zip(wsum.iter()) {
            *m = if c > 0.0 { *m / c } else { f64::NAN };
        }
        let squares = &mut sums.squares[..w];
        squares.fill(0.0);
        for (i, row) in rows.chunks_exact(w).enumerate() {
            for p in 0..w {
                let v = row[p].to_f64();
                let keep = rule.keep(i, p, v);
                let d = v - acc[p];
                squares[p] += if keep { d * d } else { 0.0 };
            }
        }
        // SAFETY: see above.
        let comb = unsafe { comb.range(start, w) };
        for ((o, &q), &c) in comb.iter_mut().zip(squares.iter()).zip(wsum.iter()) {
            let dof = c - ddof;
            let v = if c > 0.0 && dof > 0.0 {
                q / dof
            } else {
                f64::NAN
            };
            *o = O::from_work(W::from_f64(v));
        }
    }
    if let (Some(comb), Some(m)) = (&out.combined, method) {
        // SAFETY: see above.
        let comb = unsafe { comb.range(start, w) };
        match m {
            Method::WeightedAverage => {
                for ((o, &a), &c) in comb.iter_mut().zip(acc.iter()).zip(wsum.iter()) {
                    let v = if c > 0.0 { a / c } else { f64::NAN };
                    *o = O::from_work(W::from_f64(v));
                }
            }
            Method::Mean | Method::Sum => {
                for ((o, &a), &c) in comb.iter_mut().zip(acc.iter()).zip(nkept.iter()) {
                    let v = match (c, m == Method::Sum) {
                        (0, _) => f64::NAN,
                        (_, true) => a,
                        (_, false) => a / f64::from(c),
                    };
                    *o = O::from_work(W::from_f64(v));
                }
            }
            _ => {}
        }
    }
}

/// The (lower) median of the sorted run of ranks `lo..hi`, read through `at`; NaN when empty.
#[inline(always)]
fn middle_of(lo: usize, hi: usize, lower: bool, at: impl Fn(usize) -> f64) -> f64 {
    let c = hi - lo;
    if c == 0 {
        f64::NAN
    } else if lower || c % 2 == 1 {
        at(lo + (c - 1) / 2)
    } else {
        0.5 * (at(lo + c / 2 - 1) + at(lo + c / 2))
    }
}

/// Per-pixel results of the vectorised first pass.
#[derive(Default)]
struct FirstPass {
    done: Vec<bool>,
    lo: Vec<u32>,
    hi: Vec<u32>,
    report: Vec<Report>,
    centre: Vec<f64>,
    squares: Vec<f64>,
}

/// The first pass of a lone `SigClip` (std spread) or `MinMaxClip`, for all the tile's pixels
/// at once on the sorted keys. A pixel is settled when that pass decides everything: for
/// sigma clipping, when it rejects nothing (then the iteration stops after one pass); min/max
/// clipping is always one pass. The arithmetic is the per-pixel code's, in the same order, so
/// settled pixels get the same bits. Returns `false` when the plan has no such fast path.
#[inline(always)]
// Parallel per-pixel arrays are indexed by pixel; iterator zips over six of them read worse.
#[allow(clippy::needless_range_loop)]
fn first_pass<K: Copy + Ord, W: Float<Key = K>>(
    plan: &Plan<'_>,
    keys: &[K],
    count: &[u32],
    w: usize,
    n: usize,
    f: &mut FirstPass,
) -> bool {
    let [rule] = plan.rejectors else {
        return false;
    };
    f.done.resize(w, false);
    f.lo.resize(w, 0);
    f.hi.resize(w, 0);
    f.report.resize(w, Report::nothing());
    let value = |r: usize, p: usize| W::from_key(keys[r * w + p]).to_f64();
    match rule {
        Rejector::SigClip(sc) => {
            let crate::reject::Spread::Std { ddof } = sc.spread else {
                return false;
            };
            f.centre.resize(w, 0.0);
            f.squares.resize(w, 0.0);
            for p in 0..w {
                let c = count[p] as usize;
                f.centre[p] = if c == 0 {
                    f64::NAN
                } else {
                    match sc.centre {
                        Centre::Mean => (0..c).fold(0.0, |a, r| a + value(r, p)) / c as f64,
                        Centre::Median if c.is_multiple_of(2) => {
                            0.5 * (value(c / 2 - 1, p) + value(c / 2, p))
                        }
                        Centre::Median => value(c / 2, p),
                        Centre::LMedian => value((c - 1) / 2, p),
                    }
                };
            }
            let nmax = count.iter().copied().max().unwrap_or(0) as usize;
            {
                // Local slices: through `f` the compiler reloads the vectors' pointers on every
                // store and cannot vectorise.
                let (centre, squares) = (&f.centre[..w], &mut f.squares[..w]);
                squares.fill(0.0);
                for (r, krow) in keys.chunks_exact(w).take(nmax).enumerate() {
                    let r = r as u32;
                    for (((q, &k), &c0), &cnt) in
                        squares.iter_mut().zip(krow).zip(centre).zip(count)
                    {
                        let d = W::from_key(k).to_f64() - c0;
                        *q += if r < cnt { d * d } else { 0.0 };
                    }
                }
            }
            for p in 0..w {
                let c = count[p] as usize;
                let mut rep = Report::nothing();
                f.lo[p] = 0;
                f.hi[p] = c as u32;
                f.done[p] = true;
                if c > 0 {
                    rep.nit = 1;
                    let dof = c as f64 - ddof;
                    if dof > 0.0 {
                        let sd = (f.squares[p] / dof).sqrt();
                        let (lo_t, hi_t) = (
                            f.centre[p] - sc.sigma_lower * sd,
                            f.centre[p] + sc.sigma_upper * sd,
                        );
                        rep.spread = sd;
                        rep.bounds = Some((lo_t, hi_t));
                        f.done[p] = !(value(0, p) < lo_t || value(c - 1, p) > hi_t);
                    }
                }
                f.report[p] = rep;
            }
            let _ = n;
            true
        }
        Rejector::MinMax(mm) => {
            for p in 0..w {
                let c = count[p] as usize;
                let mut rep = Report::nothing();
                f.done[p] = true;
                f.lo[p] = 0;
                f.hi[p] = c as u32;
                if c > 0 {
                    rep.nit = 1;
                    let (k_lo, k_hi) = (mm.n_min.resolve(n), mm.n_max.resolve(n));
                    let total = k_lo.saturating_add(k_hi);
                    if total >= c {
                        if total > 0 {
                            rep.flags |= flags::NKEEP;
                        }
                    } else if !mm.keep_ties {
                        // Exactly k_lo and k_hi samples go, ties split by frame number.
                        f.lo[p] = k_lo as u32;
                        f.hi[p] = (c - k_hi) as u32;
                    } else {
                        // Keep everything equal to the kept extremes (ties included).
                        let (low, high) = (value(k_lo, p), value(c - 1 - k_hi, p));
                        let mut lo = k_lo;
                        while lo > 0 && value(lo - 1, p) >= low {
                            lo -= 1;
                        }
                        let mut hi = c - k_hi;
                        while hi < c && value(hi, p) <= high {
                            hi += 1;
                        }
                        f.lo[p] = lo as u32;
                        f.hi[p] = hi as u32;
                    }
                }
                f.report[p] = rep;
            }
            true
        }
        _ => false,
    }
}
