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

use crate::accumulate::{Keep, Sums};
use crate::cancel;
use crate::disjoint::Shared;
use crate::error::CoreError;
use crate::network::{cached_pairs, sort_columns, NETWORK_MAX_N};
use crate::reduce::Method;
use crate::reject::{flags, Centre, MinMaxClip, Rejector, Report, SigClip, Survivors};
use crate::sample::{Float, Sample};
use crate::simd;
use crate::stack::{Source, TileCursor};
use crate::uncertainty::{ride_tile, Propagation, Ride, RideScratch};

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
    /// Propagate an input variance plane through the survivors in the same pass.
    pub variance: Option<Ride<'a>>,
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
    /// The propagated variance of the survivors' combine (with [`Plan::variance`]).
    pub variance: Option<Vec<W>>,
    /// The inverse-variance weighted mean of the survivors (propagating inverse variance).
    pub value: Option<Vec<W>>,
}

/// The per-element output buffers, written by the tiles in disjoint ranges.
struct Outputs<'a, O, W> {
    combined: Option<Shared<'a, O>>,
    std: Option<Shared<'a, W>>,
    low: Option<Shared<'a, W>>,
    upp: Option<Shared<'a, W>>,
    nit: Option<Shared<'a, i32>>,
    flags: Option<Shared<'a, u8>>,
    mask: Option<Shared<'a, u8>>,
    /// Per frame: valid and rejected samples, summed over tiles (integer sums: the order of the
    /// tiles does not matter).
    counts: Option<Vec<(AtomicU64, AtomicU64)>>,
    variance: Option<Shared<'a, W>>,
    value: Option<Shared<'a, W>>,
    npix: usize,
}

/// What a tile has to produce besides the rejection, decided once per run.
#[derive(Clone, Copy)]
struct Wants {
    /// The combine method, when the plan combines with one.
    method: Option<Method>,
    /// `ddof` when the plan combines with the variance.
    ddof: Option<f64>,
    /// The row pass (and with it the tie counts) is needed: for the combines that add up rows,
    /// the mask and the per-frame counts.
    rows: bool,
}

impl Wants {
    fn new(plan: &Plan<'_>) -> Self {
        let method = match plan.combine {
            Some(Combine::Method(m)) => Some(m),
            _ => None,
        };
        let ddof = match plan.combine {
            Some(Combine::Variance { ddof }) => Some(ddof),
            _ => None,
        };
        let rows = matches!(
            method,
            Some(Method::Mean | Method::Sum | Method::WeightedAverage)
        ) || ddof.is_some()
            || plan.mask
            || plan.frame_counts
            || plan.variance.is_some();
        Wants { method, ddof, rows }
    }
}

/// Per-thread buffers of one tile.
struct Scratch<W: Float> {
    cur: TileCursor,
    /// The tile's samples, frame-major `(N, w)`, missing ones NaN.
    rows: Vec<W>,
    /// Their sort keys (missing: `INFINITY_KEY`), sorted per pixel when `N <= NETWORK_MAX_N`.
    keys: Vec<W::Key>,
    /// Valid samples per pixel.
    count: Vec<u32>,
    /// Per pixel, from the rejection: lowest and highest survivor (NaN when none survive),
    /// the (lower) median of the survivors when the combine asks for it, the last rejector's
    /// report and the flags.
    low: Vec<f64>,
    upp: Vec<f64>,
    middle: Vec<f64>,
    report: Vec<Report>,
    flags: Vec<u8>,
    /// One pixel's sorted valid values, a rejector's scratch, and one pixel's keys (deep stacks).
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
    ride: RideScratch,
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
            middle: vec![0.0; tile],
            report: vec![Report::nothing(); tile],
            flags: vec![0; tile],
            values: Vec::with_capacity(n),
            spare: Vec::with_capacity(n),
            column: Vec::with_capacity(n),
            sums: Sums::new(tile),
            low_skip: vec![0; tile],
            upp_keep: vec![0; tile],
            any_tied: false,
            marks: Vec::new(),
            seen: Vec::new(),
            fast: FirstPass::default(),
            ride: RideScratch::default(),
        }
    }
}

fn tile_len<W>(n: usize) -> usize {
    let per_pixel = n * (std::mem::size_of::<W>() + 8) + 64;
    ((64 * 1024) / per_pixel).clamp(16, 2048) / 16 * 16
}

/// Checks the plan's per-frame parameters against a stack of `n` frames.
fn check_plan(plan: &Plan<'_>, shape: &[usize]) -> Result<(), CoreError> {
    let n = shape[0];
    if let Some(ride) = &plan.variance {
        let got = ride.plane.plane_shape();
        if got != shape {
            return Err(CoreError::Shape {
                name: "variance",
                expected: crate::error::shape_str(shape),
                actual: crate::error::shape_str(&got),
            });
        }
    }
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
    Ok(())
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
    check_plan(plan, &src.stack().shape())?;
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
    let mut variance = plan.variance.map(|_| vec![nan; npix]);
    let inverse = plan
        .variance
        .is_some_and(|r| r.how == Propagation::InverseVariance);
    let mut value = inverse.then(|| vec![nan; npix]);
    let counts = {
        let (std, low, upp, nit, flags) = match diag.as_mut() {
            Some(d) => (
                d.std.as_deref_mut().map(Shared::new),
                Some(Shared::new(&mut d.low)),
                Some(Shared::new(&mut d.upp)),
                Some(Shared::new(&mut d.nit)),
                Some(Shared::new(&mut d.flags)),
            ),
            None => (None, None, None, None, None),
        };
        let outputs = Outputs {
            combined: combined.as_deref_mut().map(Shared::new),
            std,
            low,
            upp,
            nit,
            flags,
            mask: mask.as_deref_mut().map(Shared::new),
            counts: plan.frame_counts.then(|| {
                (0..n)
                    .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
                    .collect()
            }),
            variance: variance.as_deref_mut().map(Shared::new),
            value: value.as_deref_mut().map(Shared::new),
            npix,
        };
        let wants = Wants::new(plan);
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
                    wants,
                    scratch,
                    outputs: &outputs,
                    start,
                    w,
                });
            },
        );
        outputs.counts
    };
    let frame_counts = counts.map(|c| {
        c.iter()
            .map(|(v, r)| (v.load(Ordering::Relaxed), r.load(Ordering::Relaxed)))
            .collect()
    });
    Ok(Products {
        combined,
        diagnostics: diag,
        mask,
        frame_counts,
        variance,
        value,
    })
}

/// One tile's work, run inside the widest SIMD version the CPU has ([`simd::run`]).
struct TileJob<'j, 's, T: Sample, O> {
    src: &'j Source<'s, T>,
    plan: &'j Plan<'j>,
    wants: Wants,
    scratch: &'j mut Scratch<T::Work>,
    outputs: &'j Outputs<'j, O, T::Work>,
    start: usize,
    w: usize,
}

impl<T: Sample, O: Sample<Work = T::Work>> simd::Kernel for TileJob<'_, '_, T, O> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let TileJob {
            src,
            plan,
            wants,
            scratch: s,
            outputs: out,
            start,
            w,
        } = self;
        load_rows(src, plan, s, start, w);
        reject(plan, wants, s, src.n(), w);
        if plan.diagnostics {
            write_diagnostics(plan, out, s, start, w);
        }
        if !wants.rows {
            write_selected(wants, out, s, start, w);
            return;
        }
        let rows = &s.rows[..src.n() * w];
        let (low, upp) = (&s.low[..w], &s.upp[..w]);
        if s.any_tied {
            mark_kept(
                rows,
                w,
                (low, upp),
                (&s.low_skip[..w], &s.upp_keep[..w]),
                &mut s.marks,
                &mut s.seen,
            );
            let rule = Marked {
                kept: &s.marks[..rows.len()],
                w,
            };
            row_pass(rows, (plan, wants), out, (start, w), &rule, &mut s.sums);
            ride(plan, out, rows, (start, w), &rule, &mut s.ride);
        } else {
            let rule = Bounds { low, upp };
            row_pass(rows, (plan, wants), out, (start, w), &rule, &mut s.sums);
            ride(plan, out, rows, (start, w), &rule, &mut s.ride);
        }
        write_selected(wants, out, s, start, w);
    }
}

/// Stage 1: reads the tile's `N` rows (thresholds, then the zero/scale correction), makes their
/// sort keys (missing samples sort last), counts the valid samples per pixel and, up to
/// [`NETWORK_MAX_N`] frames, sorts every pixel's keys with the comparator network.
#[inline(always)]
fn load_rows<T: Sample>(
    src: &Source<'_, T>,
    plan: &Plan<'_>,
    s: &mut Scratch<T::Work>,
    start: usize,
    w: usize,
) {
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
}

/// Stage 2: runs the rejectors on every pixel's sorted valid samples (the vectorised
/// [`first_pass`] settles most pixels of a lone `SigClip` or `MinMaxClip`), and records per
/// pixel the survivors' bounds, their (lower) median when the combine wants it, the report,
/// the flags and, for the row pass, the ties at the rank cuts.
#[inline(always)]
fn reject<W: Float>(plan: &Plan<'_>, wants: Wants, s: &mut Scratch<W>, n: usize, w: usize) {
    let keys = &s.keys[..n * w];
    let count = &s.count[..w];
    let fast = n <= NETWORK_MAX_N && first_pass::<_, W>(plan, keys, count, w, n, &mut s.fast);
    let lower = match wants.method {
        Some(Method::Median) => Some(false),
        Some(Method::LMedian) => Some(true),
        _ => None,
    };
    s.any_tied = false;
    let whole = fast && s.fast.whole;
    for p in 0..w {
        let settled = fast && s.fast.done[p];
        if whole && settled {
            // Settled without rejecting anything: the survivors are all `c` valid samples
            // (ranks 0..c), the bounds the extreme values, and no cut falls inside a run of
            // ties (`low_skip = 0`; `upp_keep = u32::MAX` keeps every sample equal to `upp`,
            // as the exact count would).
            let c = count[p] as usize;
            let at = |r: usize| W::from_key(keys[r * w + p]).to_f64();
            (s.low[p], s.upp[p]) = if c > 0 {
                (at(0), at(c - 1))
            } else {
                (f64::NAN, f64::NAN)
            };
            if let Some(lower) = lower {
                s.middle[p] = middle_of(0, c, lower, at);
            }
            if plan.diagnostics {
                let rep = s.fast.report[p];
                s.report[p] = rep;
                s.flags[p] = rep.flags | if c < n { flags::PREMASKED } else { 0 };
            }
            s.low_skip[p] = 0;
            s.upp_keep[p] = if c > 0 { u32::MAX } else { 0 };
            continue;
        }
        let (lo, hi, rep, mut fl);
        if settled {
            (lo, hi) = (s.fast.lo[p] as usize, s.fast.hi[p] as usize);
            rep = s.fast.report[p];
            fl = rep.flags;
            if (count[p] as usize) < n {
                fl |= flags::PREMASKED;
            }
        } else {
            let c = count[p] as usize;
            (lo, hi, rep, fl) = reject_pixel::<W>(
                plan,
                (keys, c),
                (n, w, p),
                &mut s.values,
                (&mut s.column, &mut s.spare),
            );
        }
        // Sorted value of rank r among the element's valid samples.
        let values = &s.values;
        let at = |r: usize| -> f64 {
            if settled {
                W::from_key(keys[r * w + p]).to_f64()
            } else {
                values[r]
            }
        };
        let (low, upp) = if hi > lo {
            (at(lo), at(hi - 1))
        } else {
            (f64::NAN, f64::NAN)
        };
        s.low[p] = low;
        s.upp[p] = upp;
        s.report[p] = rep;
        s.flags[p] = fl;
        if let Some(lower) = lower {
            s.middle[p] = middle_of(lo, hi, lower, at);
        }
        // Rank cuts inside runs of equal values (min/max clipping on integer data): count the
        // equal values cut below `lo` and kept up to `hi`, for `mark_kept`.
        let valid = count[p] as usize;
        let (mut skip, mut keep_up) = (0u32, 0u32);
        if wants.rows && hi > lo {
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
    }
}

/// [`reject`] for one pixel the first pass did not settle: its `c` sorted valid values go to
/// `values` (deep stacks sort them here), and the rejectors run on them in turn. Returns the
/// survivors' ranks `lo..hi`, the last rejector's report and the flags.
#[inline(always)]
fn reject_pixel<W: Float>(
    plan: &Plan<'_>,
    (keys, c): (&[W::Key], usize),
    (n, w, p): (usize, usize, usize),
    values: &mut Vec<f64>,
    (column, spare): (&mut Vec<W::Key>, &mut Vec<f64>),
) -> (usize, usize, Report, u8) {
    values.clear();
    if n <= NETWORK_MAX_N {
        values.extend((0..c).map(|r| W::from_key(keys[r * w + p]).to_f64()));
    } else {
        column.clear();
        column.extend(
            (0..n)
                .map(|r| keys[r * w + p])
                .filter(|&k| k != W::INFINITY_KEY),
        );
        column.sort_unstable();
        values.extend(column.iter().map(|&k| W::from_key(k).to_f64()));
    }
    let mut surv = Survivors {
        x: values,
        lo: 0,
        hi: values.len(),
        n_frames: n,
    };
    let mut fl = if values.len() < n {
        flags::PREMASKED
    } else {
        0
    };
    let mut last = Report::nothing();
    for r in plan.rejectors {
        last = r.apply(&mut surv, spare);
        fl |= last.flags;
    }
    (surv.lo, surv.hi, last, fl)
}

/// Stage 3: the per-element diagnostics of the rejection.
#[inline(always)]
fn write_diagnostics<O, W: Float>(
    plan: &Plan<'_>,
    out: &Outputs<'_, O, W>,
    s: &Scratch<W>,
    start: usize,
    w: usize,
) {
    let linear = matches!(plan.rejectors.last(), Some(Rejector::LinearClip(_)));
    // SAFETY (every `range` below): this tile owns pixels start..start+w of every
    // per-element output.
    unsafe {
        if let Some(o) = &out.std {
            for (o, r) in o.range(start, w).iter_mut().zip(&s.report[..w]) {
                *o = W::from_f64(r.spread);
            }
        }
        let bound = |p: usize, upper: bool| -> f64 {
            match (linear, s.report[p].bounds) {
                (true, Some((l, u))) => {
                    if upper {
                        u
                    } else {
                        l
                    }
                }
                _ if upper => s.upp[p],
                _ => s.low[p],
            }
        };
        if let Some(o) = &out.low {
            for (p, o) in o.range(start, w).iter_mut().enumerate() {
                *o = W::from_f64(bound(p, false));
            }
        }
        if let Some(o) = &out.upp {
            for (p, o) in o.range(start, w).iter_mut().enumerate() {
                *o = W::from_f64(bound(p, true));
            }
        }
        if let Some(o) = &out.nit {
            for (o, r) in o.range(start, w).iter_mut().zip(&s.report[..w]) {
                *o = i32::try_from(r.nit).unwrap_or(i32::MAX);
            }
        }
        if let Some(o) = &out.flags {
            o.range(start, w).copy_from_slice(&s.flags[..w]);
        }
    }
}

/// Stage 5 for the combines that select from the sorted survivors (median, lower median, min,
/// max); the others are finished by the row pass.
#[inline(always)]
fn write_selected<O: Sample<Work = W>, W: Float>(
    wants: Wants,
    out: &Outputs<'_, O, W>,
    s: &Scratch<W>,
    start: usize,
    w: usize,
) {
    let (Some(comb), Some(m)) = (&out.combined, wants.method) else {
        return;
    };
    let from = match m {
        Method::Median | Method::LMedian => &s.middle[..w],
        Method::Min => &s.low[..w],
        Method::Max => &s.upp[..w],
        _ => return,
    };
    // SAFETY: this tile owns pixels start..start+w of the combined image.
    let comb = unsafe { comb.range(start, w) };
    for (o, &v) in comb.iter_mut().zip(from) {
        *o = O::from_work(W::from_f64(v));
    }
}

/// Stage 4 and, for the combines that add up rows, stage 5: in frame order, the mask, the
/// per-frame counts and the sums ([`Sums`]) over the samples `rule` keeps, then the combined
/// values from the sums.
#[inline(always)]
fn row_pass<W: Float, O: Sample<Work = W>, K: Keep>(
    rows: &[W],
    (plan, wants): (&Plan<'_>, Wants),
    out: &Outputs<'_, O, W>,
    (start, w): (usize, usize),
    rule: &K,
    sums: &mut Sums,
) {
    sums.reset(w);
    for (i, row) in rows.chunks_exact(w).enumerate() {
        if let Some(m) = &out.mask {
            // SAFETY: frame i's pixels start..start+w belong to this tile.
            let mrow = unsafe { m.range(i * out.npix + start, w) };
            for (p, (o, &x)) in mrow.iter_mut().zip(row).enumerate() {
                *o = u8::from(x.is_finite() & !rule.keep(i, p, x.to_f64()));
            }
        }
        if let Some(counts) = &out.counts {
            let (mut valid, mut rejected) = (0u64, 0u64);
            for (p, &x) in row.iter().enumerate() {
                let keep = rule.keep(i, p, x.to_f64());
                valid += u64::from(x.is_finite());
                rejected += u64::from(x.is_finite() && !keep);
            }
            counts[i].0.fetch_add(valid, Ordering::Relaxed);
            counts[i].1.fetch_add(rejected, Ordering::Relaxed);
        }
        match wants.method {
            Some(Method::WeightedAverage) => {
                let wi = plan.weights.map_or(1.0, |ws| ws[i]);
                sums.add_weighted(i, row, wi, rule);
            }
            Some(Method::Mean | Method::Sum) => sums.add_counted(i, row, rule),
            _ if wants.ddof.is_some() => sums.add_weighted(i, row, 1.0, rule),
            _ => {}
        }
    }
    let Some(comb) = &out.combined else {
        return;
    };
    let to = |v: f64| O::from_work(W::from_f64(v));
    // SAFETY: this tile owns pixels start..start+w of the combined image.
    let comb = unsafe { comb.range(start, w) };
    match (wants.method, wants.ddof) {
        (Some(Method::WeightedAverage), _) => sums.finish_weighted(comb, to),
        (Some(m @ (Method::Mean | Method::Sum)), _) => {
            sums.finish_counted(comb, m == Method::Sum, to);
        }
        (_, Some(ddof)) => sums.finish_variance(rows, rule, ddof, comb, None, to),
        _ => {}
    }
}

/// Stage 6, with an input variance plane: the propagated variance of the samples `rule` keeps
/// (see [`crate::uncertainty`]).
#[inline(always)]
fn ride<W: Float, O, K: Keep>(
    plan: &Plan<'_>,
    out: &Outputs<'_, O, W>,
    rows: &[W],
    (start, w): (usize, usize),
    rule: &K,
    scratch: &mut RideScratch,
) {
    let (Some(r), Some(ov)) = (&plan.variance, &out.variance) else {
        return;
    };
    // SAFETY: this tile owns pixels start..start+w of both outputs.
    let ov = unsafe { ov.range(start, w) };
    // SAFETY: as above.
    let oval = out.value.as_ref().map(|o| unsafe { o.range(start, w) });
    let scale = plan.correction.map(|(_, s)| s);
    let keep = |i: usize, p: usize, x: f64| rule.keep(i, p, x);
    ride_tile(r, scale, rows, (start, w), keep, scratch, ov, oval);
}

/// Survivors are the valid samples within `[low, upp]` (no cut falls inside a run of ties).
struct Bounds<'a> {
    low: &'a [f64],
    upp: &'a [f64],
}

impl Keep for Bounds<'_> {
    #[inline(always)]
    #[allow(clippy::needless_bitwise_bool)] // branch-free on purpose (see below)
    fn keep(&self, _i: usize, p: usize, v: f64) -> bool {
        // `&`, not `&&`: both comparisons always run, so the row loops stay branch-free.
        (v >= self.low[p]) & (v <= self.upp[p])
    }
}

/// Survivors marked one by one (a rank cut fell inside a run of equal values).
struct Marked<'a> {
    kept: &'a [u8],
    w: usize,
}

impl Keep for Marked<'_> {
    #[inline(always)]
    fn keep(&self, i: usize, p: usize, _v: f64) -> bool {
        self.kept[i * self.w + p] != 0
    }
}

/// Marks the survivors when a rank cut splits equal values. In (value, frame) order, the first
/// `low_skip[p]` samples equal to `low[p]` (lowest frame numbers) were cut at the low end and
/// only the first `upp_keep[p]` samples equal to `upp[p]` survive at the high end.
fn mark_kept<W: Float>(
    rows: &[W],
    w: usize,
    (low, upp): (&[f64], &[f64]),
    (low_skip, upp_keep): (&[u32], &[u32]),
    marks: &mut Vec<u8>,
    seen: &mut Vec<(u32, u32)>,
) {
    marks.clear();
    marks.resize(rows.len(), 0);
    seen.clear();
    seen.resize(w, (0, 0));
    for (row, mrow) in rows.chunks_exact(w).zip(marks.chunks_exact_mut(w)) {
        for (p, (m, x)) in mrow.iter_mut().zip(row).enumerate() {
            let v = x.to_f64();
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
            *m = u8::from(keep);
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
    /// Settled pixels keep every valid sample (sigma clipping that rejects nothing), so their
    /// survivors are the whole sorted run and no rank cut can split ties.
    whole: bool,
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
    match rule {
        Rejector::SigClip(sc) => {
            let crate::reject::Spread::Std { ddof } = sc.spread else {
                return false;
            };
            // The vectorised pass measures the spread about the clipping centre, and makes one
            // pass: other cases take the per-pixel path.
            if sc.spread_centre.is_some_and(|k| k != sc.centre) || sc.limits.maxiters == 0 {
                return false;
            }
            f.resize(w);
            f.whole = true;
            sigclip_first_pass::<K, W>(sc, ddof, keys, count, w, f);
            true
        }
        Rejector::MinMax(mm) => {
            f.resize(w);
            f.whole = false;
            minmax_first_pass::<K, W>(mm, keys, count, w, n, f);
            true
        }
        _ => false,
    }
}

impl FirstPass {
    fn resize(&mut self, w: usize) {
        self.done.resize(w, false);
        self.lo.resize(w, 0);
        self.hi.resize(w, 0);
        self.report.resize(w, Report::nothing());
        self.centre.resize(w, 0.0);
        self.squares.resize(w, 0.0);
    }
}

/// [`first_pass`] of sigma clipping with the std spread: the centre, the sum of squared
/// deviations in sorted order (as `Spread::of`), the bounds, and whether they reject nothing.
#[inline(always)]
// Parallel per-pixel arrays are indexed by pixel; iterator zips over six of them read worse.
#[allow(clippy::needless_range_loop)]
fn sigclip_first_pass<K: Copy + Ord, W: Float<Key = K>>(
    sc: &SigClip,
    ddof: f64,
    keys: &[K],
    count: &[u32],
    w: usize,
    f: &mut FirstPass,
) {
    let value = |r: usize, p: usize| W::from_key(keys[r * w + p]).to_f64();
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
            for (((q, &k), &c0), &cnt) in squares.iter_mut().zip(krow).zip(centre).zip(count) {
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
}

/// [`first_pass`] of min/max clipping, which always settles the pixel.
#[inline(always)]
// Parallel per-pixel arrays are indexed by pixel; iterator zips over them read worse.
#[allow(clippy::needless_range_loop)]
fn minmax_first_pass<K: Copy + Ord, W: Float<Key = K>>(
    mm: &MinMaxClip,
    keys: &[K],
    count: &[u32],
    w: usize,
    n: usize,
    f: &mut FirstPass,
) {
    let value = |r: usize, p: usize| W::from_key(keys[r * w + p]).to_f64();
    let (k_lo, k_hi) = (mm.n_min.resolve(n), mm.n_max.resolve(n));
    let total = k_lo.saturating_add(k_hi);
    for p in 0..w {
        let c = count[p] as usize;
        let mut rep = Report::nothing();
        f.done[p] = true;
        f.lo[p] = 0;
        f.hi[p] = c as u32;
        if c > 0 {
            rep.nit = 1;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reject::{Count, Limits, Spread};
    use crate::stack::StackView;

    /// A small deterministic generator (64-bit LCG, high bits).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }

        /// Roughly normal(1000, 10) with NaNs (`p_nan`), cosmic rays and some repeated values.
        fn sample(&mut self, p_nan: f64) -> f32 {
            let u = self.next();
            if u < p_nan {
                return f32::NAN;
            }
            if u < p_nan + 0.05 {
                return 1000.0 + 5000.0 * self.next() as f32;
            }
            if u < p_nan + 0.1 {
                return 1000.0; // ties
            }
            let g: f64 = (0..4).map(|_| self.next()).sum::<f64>() - 2.0;
            (1000.0 + 17.0 * g) as f32
        }
    }

    fn sigclip(centre: Centre, ddof: f64, maxiters: u32) -> Rejector {
        Rejector::SigClip(SigClip {
            sigma_lower: 2.0,
            sigma_upper: 2.5,
            centre,
            spread_centre: None,
            spread: Spread::Std { ddof },
            limits: Limits {
                maxiters,
                nkeep: 1,
                maxrej: None,
                revert_on_nkeep: true,
            },
        })
    }

    fn minmax(lo: usize, hi: usize, keep_ties: bool) -> Rejector {
        Rejector::MinMax(MinMaxClip {
            n_min: Count::Frames(lo),
            n_max: Count::Frames(hi),
            keep_ties,
        })
    }

    fn plan(rejectors: &[Rejector]) -> Plan<'_> {
        Plan {
            rejectors,
            thresholds: None,
            correction: None,
            combine: Some(Combine::Method(Method::Mean)),
            weights: None,
            diagnostics: true,
            mask: true,
            frame_counts: false,
            variance: None,
        }
    }

    fn same_report(a: &Report, b: &Report) -> bool {
        let bits = |r: &Report| r.bounds.map(|(l, u)| (l.to_bits(), u.to_bits()));
        a.spread.to_bits() == b.spread.to_bits()
            && a.nit == b.nit
            && a.flags == b.flags
            && bits(a) == bits(b)
    }

    #[test]
    fn first_pass_equals_the_per_pixel_path_on_random_stacks_with_nans() {
        let rules = [
            sigclip(Centre::Median, 0.0, 5),
            sigclip(Centre::Mean, 1.0, 3),
            sigclip(Centre::LMedian, 0.0, 1),
            minmax(1, 1, false),
            minmax(2, 1, true),
            minmax(4, 4, false),
        ];
        let mut rng = Lcg(42);
        let (mut settled, mut checked) = (0usize, 0usize);
        for n in [1, 2, 3, 4, 7, 15, 16, 24, NETWORK_MAX_N] {
            for (t, rule) in rules.iter().enumerate() {
                let w = 48;
                let p_nan = [0.0, 0.1, 0.5][t % 3];
                let rows: Vec<f32> = (0..n * w).map(|_| rng.sample(p_nan)).collect();
                let mut keys: Vec<i32> = rows
                    .iter()
                    .map(|x| {
                        if x.is_finite() {
                            x.to_key()
                        } else {
                            f32::INFINITY_KEY
                        }
                    })
                    .collect();
                let count: Vec<u32> = (0..w)
                    .map(|p| (0..n).filter(|&i| rows[i * w + p].is_finite()).count() as u32)
                    .collect();
                sort_columns(&mut keys, w, cached_pairs(n));
                let rejectors = [*rule];
                let mut fast = FirstPass::default();
                assert!(first_pass::<_, f32>(
                    &plan(&rejectors),
                    &keys,
                    &count,
                    w,
                    n,
                    &mut fast
                ));
                let mut spare = Vec::new();
                for p in 0..w {
                    let mut x: Vec<f64> = (0..n)
                        .map(|i| f64::from(rows[i * w + p]))
                        .filter(|v| v.is_finite())
                        .collect();
                    x.sort_by(f64::total_cmp);
                    let mut surv = Survivors {
                        x: &x,
                        lo: 0,
                        hi: x.len(),
                        n_frames: n,
                    };
                    let rep = rule.apply(&mut surv, &mut spare);
                    checked += 1;
                    if !fast.done[p] {
                        assert!(
                            matches!(rule, Rejector::SigClip(_)),
                            "min/max always settles"
                        );
                        assert!(surv.hi - surv.lo < x.len(), "unsettled: a pass rejects");
                        continue;
                    }
                    settled += 1;
                    let at = (n, t, p);
                    assert_eq!(fast.lo[p] as usize, surv.lo, "lo at {at:?}");
                    assert_eq!(fast.hi[p] as usize, surv.hi, "hi at {at:?}");
                    assert!(
                        same_report(&fast.report[p], &rep),
                        "report at {at:?}: {:?} != {rep:?}",
                        fast.report[p]
                    );
                }
            }
        }
        assert!(settled > checked / 2 && settled < checked);
    }

    #[test]
    fn plans_without_a_fast_path_decline() {
        let two = [sigclip(Centre::Median, 0.0, 5), minmax(1, 1, false)];
        let mut fast = FirstPass::default();
        assert!(!first_pass::<_, f32>(
            &plan(&two),
            &[0; 4],
            &[2; 2],
            2,
            2,
            &mut fast
        ));
        assert!(!first_pass::<_, f32>(
            &plan(&[]),
            &[0; 4],
            &[2; 2],
            2,
            2,
            &mut fast
        ));
    }

    /// The fused mean equals the plain mean of the stack masked with the rejection mask, for
    /// every tile width and whether or not the fast path runs.
    #[test]
    fn fused_combines_equal_the_masked_plain_combine() {
        let mut rng = Lcg(7);
        for (n, npix) in [(15, 1000), (5, 333), (NETWORK_MAX_N + 3, 200)] {
            let data: Vec<f32> = (0..n * npix).map(|_| rng.sample(0.05)).collect();
            let view = || StackView::from_slice(&data, &[n, npix]).unwrap();
            let src = Source::new(view(), None).unwrap();
            let rules = [
                vec![sigclip(Centre::Median, 0.0, 5)],
                vec![minmax(1, 2, false)],
                vec![sigclip(Centre::Mean, 1.0, 3), minmax(1, 1, true)],
            ];
            for rejectors in &rules {
                for method in [Method::Mean, Method::Sum, Method::Median, Method::Max] {
                    let mut p = plan(rejectors);
                    p.combine = Some(Combine::Method(method));
                    p.frame_counts = true;
                    let got: Products<f32, f32> = run(&src, &p).unwrap();
                    let mask = got.mask.unwrap();
                    let masked = Source::new(
                        view(),
                        Some(StackView::from_slice(&mask, &[n, npix]).unwrap()),
                    )
                    .unwrap();
                    let want: Vec<f32> = crate::reduce::combine(&masked, method, None).unwrap();
                    let combined = got.combined.unwrap();
                    for (p, (a, b)) in combined.iter().zip(&want).enumerate() {
                        assert_eq!(a.to_bits(), b.to_bits(), "pixel {p}, {method:?}, n={n}");
                    }
                    let counts = got.frame_counts.unwrap();
                    for (i, &(valid, rejected)) in counts.iter().enumerate() {
                        let frame = &data[i * npix..(i + 1) * npix];
                        assert_eq!(
                            valid as usize,
                            frame.iter().filter(|x| x.is_finite()).count()
                        );
                        let marked = mask[i * npix..(i + 1) * npix].iter().filter(|&&m| m != 0);
                        assert_eq!(rejected as usize, marked.count());
                    }
                }
            }
        }
    }

    #[test]
    fn variance_and_weighted_average_follow_the_masked_plain_combine() {
        let mut rng = Lcg(11);
        let (n, npix) = (9, 500);
        let data: Vec<f64> = (0..n * npix).map(|_| f64::from(rng.sample(0.1))).collect();
        let view = || StackView::from_slice(&data, &[n, npix]).unwrap();
        let src = Source::new(view(), None).unwrap();
        let weights: Vec<f64> = (0..n).map(|i| 0.5 + i as f64).collect();
        let rejectors = [sigclip(Centre::Median, 0.0, 5)];
        let mut p = plan(&rejectors);
        p.combine = Some(Combine::Variance { ddof: 1.0 });
        let var: Products<f64, f64> = run(&src, &p).unwrap();
        let mask = var.mask.unwrap();
        let masked = Source::new(
            view(),
            Some(StackView::from_slice(&mask, &[n, npix]).unwrap()),
        )
        .unwrap();
        let (want, _) = crate::reduce::variance(&masked, 1.0, false).unwrap();
        let got = var.combined.unwrap();
        assert!(got
            .iter()
            .zip(&want)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        p.combine = Some(Combine::Method(Method::WeightedAverage));
        p.weights = Some(&weights);
        let wavg: Products<f64, f64> = run(&src, &p).unwrap();
        let want: Vec<f64> =
            crate::reduce::combine(&masked, Method::WeightedAverage, Some(&weights)).unwrap();
        let got = wavg.combined.unwrap();
        assert!(got
            .iter()
            .zip(&want)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
