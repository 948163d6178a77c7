//! The variance of a combined value, from the variances of the samples it used.
//!
//! Over the `n` samples an output element used (variances `v_i` after the correction):
//!
//! ```text
//! mean              sum(v_i) / n^2
//! sum               sum(v_i)
//! weighted mean     sum(w_i^2 v_i) / (sum w_i)^2                  (per-frame weights w_i)
//! inverse variance  1 / sum(1 / v_i)   (value: sum(x_i / v_i) / sum(1 / v_i))
//! median            n = 1: v_1;  n = 2: (v_1 + v_2) / 4;  n >= 3: (pi / 2) * sum(v_i) / n^2
//! lmedian           as the median, except n = 2: the variance of the lower sample
//! min, max          the variance of the selected sample (first frame on ties)
//! variance (ddof)   2 * vbar^2 * (n - 1) / (n - ddof)^2,  vbar = sum(v_i) / n
//! no sample         NaN
//! ```
//!
//! With inverse-variance weights, samples of zero variance are exact: when some survive, the
//! value is their mean and its variance 0.

use rayon::prelude::*;

use super::{check_shapes, tile_len, Correction, Tile};
use crate::cancel;
use crate::disjoint::Shared;
use crate::error::CoreError;
use crate::sample::{Float, Sample};
use crate::simd;
use crate::stack::{PlaneRows, Source, TileCursor};

/// Which combine's variance to propagate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Propagation<'a> {
    Mean,
    Sum,
    /// Weighted mean with one weight per frame.
    Weighted(&'a [f64]),
    /// Inverse-variance weighted mean (also computes the value).
    InverseVariance,
    Median,
    LMedian,
    Min,
    Max,
    /// The `variance` method with its `ddof`.
    Variance {
        ddof: f64,
    },
}

/// The propagated variance, and the value for the inverse-variance weighted mean.
#[derive(Debug, Clone, PartialEq)]
pub struct Propagated<W> {
    pub variance: Vec<W>,
    pub value: Option<Vec<W>>,
}

/// Propagates the variance plane `var` through the combine `how` of the samples of `data` its
/// mask leaves (the caller's final mask: premasked and rejected samples set).
///
/// # Errors
/// Shapes that differ, bad zero/scale, weights of the wrong length or with negative or
/// non-finite values.
pub fn propagate<T, U>(
    data: &Source<'_, T>,
    var: &Source<'_, U>,
    corr: &Correction<'_>,
    how: Propagation<'_>,
) -> Result<Propagated<T::Work>, CoreError>
where
    T: Sample,
    U: Sample,
{
    check_shapes(data, var)?;
    let n = data.n();
    corr.check(n)?;
    match how {
        // The folds that need only sums run as branch-free row loops (`run_sums`); the others
        // as general folds (`run`). Both add in frame order: the same numbers bit for bit.
        Propagation::Mean => run_sums(data, var, corr, None, |_, sv| sv.a / (sv.n * sv.n)),
        Propagation::Sum => run_sums(data, var, corr, None, |_, sv| sv.a),
        Propagation::Weighted(w) => {
            if w.len() != n || w.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
                return Err(CoreError::Value {
                    name: "weights",
                    message: format!("expected {n} finite weights >= 0"),
                });
            }
            run_sums(data, var, corr, Some(w), |_, sv| {
                if sv.w > 0.0 {
                    sv.a / (sv.w * sv.w)
                } else {
                    f64::NAN
                }
            })
        }
        Propagation::InverseVariance => run(data, var, corr, &InverseFold),
        Propagation::Median => run(data, var, corr, &MedianFold { lower: false }),
        Propagation::LMedian => run(data, var, corr, &MedianFold { lower: true }),
        Propagation::Min => run(data, var, corr, &SelectFold { max: false }),
        Propagation::Max => run(data, var, corr, &SelectFold { max: true }),
        Propagation::Variance { ddof } => run_sums(data, var, corr, None, |_, sv| {
            VarianceFold { ddof }
                .finish(&Acc {
                    n: sv.n as u32,
                    a: sv.a,
                    ..Acc::default()
                })
                .0
        }),
    }
}

/// A propagation riding along the pipeline's fused pass: the variance plane and the formula.
#[derive(Clone, Copy)]
pub struct Ride<'a> {
    pub plane: &'a dyn PlaneRows,
    pub how: Propagation<'a>,
}

impl std::fmt::Debug for Ride<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ride")
            .field("plane", &self.plane.plane_shape())
            .field("how", &self.how)
            .finish()
    }
}

/// Per-thread buffers of a propagation riding along the pipeline.
#[derive(Default)]
pub(crate) struct RideScratch {
    accs: Vec<Acc>,
    var_row: Vec<f64>,
    cursor: TileCursor,
    /// Per pixel, for the formulas of sums: usable survivors, `sum(w)`, `sum(w^2 v)`.
    cnt: Vec<f64>,
    sw: Vec<f64>,
    swwv: Vec<f64>,
}

/// One tile of a propagation riding along the pipeline: `rows` are the tile's corrected samples
/// (frame-major, missing NaN), `keep(i, p, x)` the rejection's verdict on a valid sample. Writes
/// the variance (and for inverse-variance weights the value) of pixels `start..start + w`.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // one tile's inputs and outputs
pub(crate) fn ride_tile<W: Float>(
    ride: &Ride<'_>,
    scale: Option<&[f64]>,
    rows: &[W],
    (start, w): (usize, usize),
    keep: impl Fn(usize, usize, f64) -> bool,
    t: &mut RideScratch,
    out_var: &mut [W],
    out_value: Option<&mut [W]>,
) {
    let args = (ride.plane, scale, rows, (start, w));
    // The formulas of sums as branch-free row loops; the others as general folds. Both add in
    // frame order, so they give the numbers of the folds (and of `propagate`) bit for bit.
    match ride.how {
        Propagation::Mean => {
            sums_tile_ride(None, args, keep, t, out_var, |sv| sv.a / (sv.n * sv.n));
        }
        Propagation::Sum => sums_tile_ride(None, args, keep, t, out_var, |sv| sv.a),
        Propagation::Weighted(ws) => sums_tile_ride(Some(ws), args, keep, t, out_var, |sv| {
            if sv.w > 0.0 {
                sv.a / (sv.w * sv.w)
            } else {
                f64::NAN
            }
        }),
        Propagation::InverseVariance => fold_tile(&InverseFold, args, keep, t, out_var, out_value),
        Propagation::Median => {
            fold_tile(
                &MedianFold { lower: false },
                args,
                keep,
                t,
                out_var,
                out_value,
            );
        }
        Propagation::LMedian => {
            fold_tile(
                &MedianFold { lower: true },
                args,
                keep,
                t,
                out_var,
                out_value,
            );
        }
        Propagation::Min => fold_tile(
            &SelectFold { max: false },
            args,
            keep,
            t,
            out_var,
            out_value,
        ),
        Propagation::Max => fold_tile(&SelectFold { max: true }, args, keep, t, out_var, out_value),
        Propagation::Variance { ddof } => sums_tile_ride(None, args, keep, t, out_var, |sv| {
            VarianceFold { ddof }
                .finish(&Acc {
                    n: sv.n as u32,
                    a: sv.a,
                    ..Acc::default()
                })
                .0
        }),
    }
}

#[inline(always)]
// `&`, not `&&`: every test always runs, so the row loop stays branch-free (vectorised).
#[allow(clippy::needless_bitwise_bool, clippy::manual_range_contains)]
fn sums_tile_ride<W: Float>(
    weights: Option<&[f64]>,
    (plane, scale, rows, (start, w)): TileInputs<'_, W>,
    keep: impl Fn(usize, usize, f64) -> bool,
    t: &mut RideScratch,
    out_var: &mut [W],
    finish: impl Fn(Sums) -> f64,
) {
    plane.locate_rows(start, w, &mut t.cursor);
    for buf in [&mut t.cnt, &mut t.sw, &mut t.swwv] {
        buf.clear();
        buf.resize(w, 0.0);
    }
    t.var_row.resize(w, 0.0);
    let (cnt, sw, swwv) = (&mut t.cnt[..w], &mut t.sw[..w], &mut t.swwv[..w]);
    for (i, row) in rows.chunks_exact(w).enumerate() {
        plane.read_f64(i, &t.cursor, &mut t.var_row[..w]);
        let vs = &t.var_row[..w];
        let wi = weights.map_or(1.0, |ws| ws[i]);
        let wi2 = wi * wi;
        let s2 = scale.map_or(1.0, |s| s[i] * s[i]);
        for p in 0..w {
            let (x, v) = (row[p].to_f64(), vs[p]);
            // NaN fails every comparison: a missing value or variance is not used.
            let ok = x.is_finite() & (v >= 0.0) & (v < f64::INFINITY) & keep(i, p, x);
            cnt[p] += if ok { 1.0 } else { 0.0 };
            sw[p] += if ok { wi } else { 0.0 };
            swwv[p] += wi2 * if ok { v / s2 } else { 0.0 };
        }
    }
    for p in 0..w {
        out_var[p] = if cnt[p] > 0.0 {
            let sums = Sums {
                n: cnt[p],
                w: sw[p],
                a: swwv[p],
            };
            W::from_f64(finish(sums))
        } else {
            W::NAN
        };
    }
}

/// The inputs of one tile of a ride: the plane, the per-frame scales, the tile's rows and its
/// pixel range.
type TileInputs<'a, W> = (
    &'a dyn PlaneRows,
    Option<&'a [f64]>,
    &'a [W],
    (usize, usize),
);

#[inline(always)]
fn fold_tile<F: Fold, W: Float>(
    fold: &F,
    (plane, scale, rows, (start, w)): TileInputs<'_, W>,
    keep: impl Fn(usize, usize, f64) -> bool,
    t: &mut RideScratch,
    out_var: &mut [W],
    out_value: Option<&mut [W]>,
) {
    plane.locate_rows(start, w, &mut t.cursor);
    t.accs.clear();
    t.accs.resize(w, Acc::default());
    t.var_row.resize(w, 0.0);
    for (i, row) in rows.chunks_exact(w).enumerate() {
        plane.read_f64(i, &t.cursor, &mut t.var_row[..w]);
        let s2 = scale.map_or(1.0, |s| s[i] * s[i]);
        let cols = t.accs.iter_mut().zip(row.iter().zip(&t.var_row[..w]));
        for (p, (acc, (&x, &v))) in cols.enumerate() {
            let x = x.to_f64();
            if x.is_finite() && (0.0..f64::INFINITY).contains(&v) && keep(i, p, x) {
                fold.add(acc, i, x, v / s2);
            }
        }
    }
    let mut out_value = out_value;
    for (p, acc) in t.accs.iter().enumerate() {
        let (v, x) = if acc.n == 0 {
            (f64::NAN, f64::NAN)
        } else {
            fold.finish(acc)
        };
        out_var[p] = W::from_f64(v);
        if let Some(o) = out_value.as_deref_mut() {
            o[p] = W::from_f64(x);
        }
    }
}

/// The sums of one element in [`run_sums`]: usable samples `n`, `w = sum(w_i)` and
/// `a = sum(w_i^2 v_i)` (`w_i = 1` without weights).
#[derive(Debug, Clone, Copy)]
struct Sums {
    n: f64,
    w: f64,
    a: f64,
}

/// [`run`] for the formulas of sums alone, as row loops without branches (vectorised).
fn run_sums<T: Sample, U: Sample>(
    data: &Source<'_, T>,
    var: &Source<'_, U>,
    corr: &Correction<'_>,
    weights: Option<&[f64]>,
    finish: impl Fn(usize, Sums) -> f64 + Sync,
) -> Result<Propagated<T::Work>, CoreError> {
    let n = data.n();
    let npix = data.npix();
    let mut variance = vec![T::Work::NAN; npix];
    {
        let out_v = Shared::new(&mut variance);
        let tile = tile_len(n);
        (0..npix.div_ceil(tile)).into_par_iter().for_each_init(
            || {
                let buf = Tile::<T::Work, U::Work>::new(n, tile);
                (
                    buf,
                    vec![0.0f64; tile],
                    vec![0.0f64; tile],
                    vec![0.0f64; tile],
                )
            },
            |(buf, cnt, sw, swwv), t| {
                if cancel::requested() {
                    return;
                }
                let start = t * tile;
                let w = tile.min(npix - start);
                let (cnt, sw, swwv) = (&mut cnt[..w], &mut sw[..w], &mut swwv[..w]);
                simd::run(SumsTile {
                    data,
                    var,
                    buf,
                    cnt,
                    sw,
                    swwv,
                    start,
                    weights,
                    scale: corr.scale,
                });
                // SAFETY: each tile owns pixels start..start + w of the output (see `disjoint`).
                let ov = unsafe { out_v.range(start, w) };
                for p in 0..w {
                    if cnt[p] > 0.0 {
                        let sums = Sums {
                            n: cnt[p],
                            w: sw[p],
                            a: swwv[p],
                        };
                        ov[p] = T::Work::from_f64(finish(p, sums));
                    }
                }
            },
        );
    }
    if cancel::requested() {
        return Err(CoreError::Cancelled);
    }
    Ok(Propagated {
        variance,
        value: None,
    })
}

/// The running sums of one output element (their meaning depends on the fold).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Acc {
    n: u32,
    a: f64,
    b: f64,
    c: f64,
    d: f64,
    e: f64,
}

/// One propagation formula as a fold over an element's usable samples, in frame order.
pub(crate) trait Fold: Sync {
    /// `true` when `finish` also gives the value (inverse-variance mean).
    const VALUE: bool = false;
    fn add(&self, acc: &mut Acc, frame: usize, x: f64, v: f64);
    /// `(variance, value)`; called only for `acc.n > 0`.
    fn finish(&self, acc: &Acc) -> (f64, f64);
}

fn run<T: Sample, U: Sample, F: Fold>(
    data: &Source<'_, T>,
    var: &Source<'_, U>,
    corr: &Correction<'_>,
    fold: &F,
) -> Result<Propagated<T::Work>, CoreError> {
    let n = data.n();
    let npix = data.npix();
    let nan = T::Work::NAN;
    let mut variance = vec![nan; npix];
    let mut value = F::VALUE.then(|| vec![nan; npix]);
    // The correction per frame, with the identity where none is given (exact: x - 0 and x / 1).
    let zero: Vec<f64> = (0..n).map(|i| corr.zero.map_or(0.0, |z| z[i])).collect();
    let scale: Vec<f64> = (0..n).map(|i| corr.scale.map_or(1.0, |s| s[i])).collect();
    {
        let out_v = Shared::new(&mut variance);
        let out_x = value.as_deref_mut().map(Shared::new);
        let tile = tile_len(n);
        (0..npix.div_ceil(tile)).into_par_iter().for_each_init(
            || {
                (
                    Tile::<T::Work, U::Work>::new(n, tile),
                    vec![Acc::default(); tile],
                )
            },
            |(buf, accs), t| {
                if cancel::requested() {
                    return;
                }
                let start = t * tile;
                let w = tile.min(npix - start);
                buf.load(data, var, start, w);
                let accs = &mut accs[..w];
                accs.fill(Acc::default());
                for i in 0..n {
                    let (z, s) = (zero[i], scale[i]);
                    let s2 = s * s;
                    let xs = &buf.x[i * w..(i + 1) * w];
                    let vs = &buf.v[i * w..(i + 1) * w];
                    for ((acc, &x), &v) in accs.iter_mut().zip(xs).zip(vs) {
                        let (x, v) = (x.to_f64(), v.to_f64());
                        // NaN fails every test: a missing value or variance is not used.
                        if x.is_finite() && v >= 0.0 && v.is_finite() {
                            // Rounded to the workspace, as the pipeline's corrected rows are.
                            let x = T::Work::from_f64((x - z) / s).to_f64();
                            fold.add(acc, i, x, v / s2);
                        }
                    }
                }
                // SAFETY: each tile owns pixels start..start + w of the outputs (see `disjoint`).
                let ov = unsafe { out_v.range(start, w) };
                // SAFETY: as above.
                let mut ox = out_x.as_ref().map(|o| unsafe { o.range(start, w) });
                for (p, acc) in accs.iter().enumerate() {
                    if acc.n == 0 {
                        continue; // NaN already
                    }
                    let (v, x) = fold.finish(acc);
                    ov[p] = T::Work::from_f64(v);
                    if let Some(ox) = ox.as_deref_mut() {
                        ox[p] = T::Work::from_f64(x);
                    }
                }
            },
        );
    }
    if cancel::requested() {
        return Err(CoreError::Cancelled);
    }
    Ok(Propagated { variance, value })
}

/// One tile of [`run_sums`]: read both planes, then add each frame's row into the sums.
struct SumsTile<'j, 's, T: Sample, U: Sample> {
    data: &'j Source<'s, T>,
    var: &'j Source<'s, U>,
    buf: &'j mut Tile<T::Work, U::Work>,
    cnt: &'j mut [f64],
    sw: &'j mut [f64],
    swwv: &'j mut [f64],
    start: usize,
    weights: Option<&'j [f64]>,
    scale: Option<&'j [f64]>,
}

impl<T: Sample, U: Sample> simd::Kernel for SumsTile<'_, '_, T, U> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        sums_tile(self);
    }
}

#[inline(always)]
fn sums_tile<T: Sample, U: Sample>(k: SumsTile<'_, '_, T, U>) {
    let SumsTile {
        data,
        var,
        buf,
        cnt,
        sw,
        swwv,
        start,
        weights,
        scale,
    } = k;
    let w = cnt.len();
    buf.load(data, var, start, w);
    cnt.fill(0.0);
    sw.fill(0.0);
    swwv.fill(0.0);
    for i in 0..data.n() {
        let wi = weights.map_or(1.0, |w| w[i]);
        let wi2 = wi * wi;
        // Without a scale the variance is added as it is (exact, like dividing by 1).
        let s2 = scale.map_or(1.0, |s| s[i] * s[i]);
        let xs = &buf.x[i * w..(i + 1) * w];
        let vs = &buf.v[i * w..(i + 1) * w];
        let rows = cnt.iter_mut().zip(sw.iter_mut()).zip(swwv.iter_mut());
        for (((c, sw), a), (&x, &v)) in rows.zip(xs.iter().zip(vs)) {
            let v = v.to_f64();
            // NaN and +inf fail the range; a missing value reads as NaN.
            let ok = x.is_finite() && (0.0..f64::INFINITY).contains(&v);
            *c += if ok { 1.0 } else { 0.0 };
            *sw += if ok { wi } else { 0.0 };
            *a += wi2 * if ok { v / s2 } else { 0.0 };
        }
    }
}

/// Inverse-variance mean: `a = sum(1/v)`, `b = sum(x/v)`; samples of zero variance:
/// `c` of them, `d = sum(x)`.
struct InverseFold;

impl Fold for InverseFold {
    const VALUE: bool = true;
    #[inline(always)]
    fn add(&self, acc: &mut Acc, _: usize, x: f64, v: f64) {
        acc.n += 1;
        if v == 0.0 {
            acc.c += 1.0;
            acc.d += x;
        } else {
            acc.a += 1.0 / v;
            acc.b += x / v;
        }
    }
    fn finish(&self, acc: &Acc) -> (f64, f64) {
        if acc.c > 0.0 {
            (0.0, acc.d / acc.c)
        } else {
            (1.0 / acc.a, acc.b / acc.a)
        }
    }
}

/// Median and lower median: `a = sum(v)`, and the first two samples `(b, c)`, `(d, e)`.
struct MedianFold {
    lower: bool,
}

impl Fold for MedianFold {
    #[inline(always)]
    fn add(&self, acc: &mut Acc, _: usize, x: f64, v: f64) {
        acc.n += 1;
        acc.a += v;
        if acc.n == 1 {
            (acc.b, acc.c) = (x, v);
        } else if acc.n == 2 {
            (acc.d, acc.e) = (x, v);
        }
    }
    fn finish(&self, acc: &Acc) -> (f64, f64) {
        let n = f64::from(acc.n);
        let v = match acc.n {
            1 => acc.c,
            2 if !self.lower => (acc.c + acc.e) / 4.0,
            // The lower of two samples (the first frame on ties).
            2 => {
                if acc.d < acc.b {
                    acc.e
                } else {
                    acc.c
                }
            }
            _ => std::f64::consts::FRAC_PI_2 * acc.a / (n * n),
        };
        (v, f64::NAN)
    }
}

/// Minimum or maximum: the selected value `a` and its variance `b` (first frame on ties).
struct SelectFold {
    max: bool,
}

impl Fold for SelectFold {
    #[inline(always)]
    fn add(&self, acc: &mut Acc, _: usize, x: f64, v: f64) {
        let better = if self.max { x > acc.a } else { x < acc.a };
        if acc.n == 0 || better {
            (acc.a, acc.b) = (x, v);
        }
        acc.n += 1;
    }
    fn finish(&self, acc: &Acc) -> (f64, f64) {
        (acc.b, f64::NAN)
    }
}

/// The `variance` method: `a = sum(v)`.
struct VarianceFold {
    ddof: f64,
}

impl Fold for VarianceFold {
    #[inline(always)]
    fn add(&self, acc: &mut Acc, _: usize, _: f64, v: f64) {
        acc.n += 1;
        acc.a += v;
    }
    fn finish(&self, acc: &Acc) -> (f64, f64) {
        let n = f64::from(acc.n);
        let dof = n - self.ddof;
        if dof <= 0.0 {
            return (f64::NAN, f64::NAN);
        }
        let vbar = acc.a / n;
        (2.0 * vbar * vbar * (n - 1.0) / (dof * dof), f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::StackView;
    use crate::uncertainty::Sampled;

    // The formulas per element over the gathered samples: the specification the folds follow.
    /// `(variance, value)` of one element; the value only for the inverse-variance mean (else NaN).
    #[must_use]
    pub fn of_element(s: &[Sampled], how: Propagation<'_>) -> (f64, f64) {
        let n = s.len();
        if n == 0 {
            return (f64::NAN, f64::NAN);
        }
        let nf = n as f64;
        let sum_v = || s.iter().fold(0.0, |a, e| a + e.v);
        let v = match how {
            Propagation::Mean => sum_v() / (nf * nf),
            Propagation::Sum => sum_v(),
            Propagation::Weighted(w) => {
                let (sw, swwv) = s.iter().fold((0.0, 0.0), |(a, b), e| {
                    let wi = w[e.frame];
                    (a + wi, b + wi * wi * e.v)
                });
                if sw > 0.0 {
                    swwv / (sw * sw)
                } else {
                    f64::NAN
                }
            }
            Propagation::InverseVariance => return inverse_variance(s),
            Propagation::Median | Propagation::LMedian => match n {
                1 => s[0].v,
                2 if how == Propagation::Median => (s[0].v + s[1].v) / 4.0,
                // The lower of two samples (first frame on ties).
                2 => {
                    if s[1].x < s[0].x {
                        s[1].v
                    } else {
                        s[0].v
                    }
                }
                _ => std::f64::consts::FRAC_PI_2 * sum_v() / (nf * nf),
            },
            Propagation::Min => selected(s, |a, b| a < b),
            Propagation::Max => selected(s, |a, b| a > b),
            Propagation::Variance { ddof } => {
                let dof = nf - ddof;
                if dof <= 0.0 {
                    f64::NAN
                } else {
                    let vbar = sum_v() / nf;
                    2.0 * vbar * vbar * (nf - 1.0) / (dof * dof)
                }
            }
        };
        (v, f64::NAN)
    }

    /// The variance of the sample `better` picks (the first one on ties).
    fn selected(s: &[Sampled], better: impl Fn(f64, f64) -> bool) -> f64 {
        let mut best = s[0];
        for e in &s[1..] {
            if better(e.x, best.x) {
                best = *e;
            }
        }
        best.v
    }

    fn inverse_variance(s: &[Sampled]) -> (f64, f64) {
        let exact = s.iter().filter(|e| e.v == 0.0).count();
        if exact > 0 {
            let sum = s.iter().filter(|e| e.v == 0.0).fold(0.0, |a, e| a + e.x);
            return (0.0, sum / exact as f64);
        }
        let (sw, swx) = s.iter().fold((0.0, 0.0), |(a, b), e| {
            let w = 1.0 / e.v;
            (a + w, b + w * e.x)
        });
        (1.0 / sw, swx / sw)
    }

    fn samples(xv: &[(f64, f64)]) -> Vec<Sampled> {
        xv.iter()
            .enumerate()
            .map(|(frame, &(x, v))| Sampled { frame, x, v })
            .collect()
    }

    #[test]
    fn formulas_of_each_method() {
        let s = samples(&[(1.0, 1.0), (2.0, 4.0), (3.0, 4.0), (9.0, 16.0)]);
        assert_eq!(of_element(&s, Propagation::Mean).0, 25.0 / 16.0);
        assert_eq!(of_element(&s, Propagation::Sum).0, 25.0);
        let w = [1.0, 2.0, 0.0, 1.0];
        // (1*1 + 4*4 + 0 + 1*16) / 4^2
        assert_eq!(of_element(&s, Propagation::Weighted(&w)).0, 33.0 / 16.0);
        let (v, x) = of_element(&s, Propagation::InverseVariance);
        let sw = 1.0 + 0.25 + 0.25 + 1.0 / 16.0;
        assert!((v - 1.0 / sw).abs() < 1e-15);
        assert!((x - (1.0 + 0.5 + 0.75 + 9.0 / 16.0) / sw).abs() < 1e-15);
        let pi2 = std::f64::consts::FRAC_PI_2;
        assert_eq!(of_element(&s, Propagation::Median).0, pi2 * 25.0 / 16.0);
        assert_eq!(of_element(&s, Propagation::Min).0, 1.0);
        assert_eq!(of_element(&s, Propagation::Max).0, 16.0);
        let v = of_element(&s, Propagation::Variance { ddof: 1.0 }).0;
        assert!((v - 2.0 * (25.0f64 / 4.0).powi(2) * 3.0 / 9.0).abs() < 1e-12);
    }

    #[test]
    fn small_medians_and_exact_samples() {
        let two = samples(&[(5.0, 9.0), (1.0, 1.0)]);
        assert_eq!(of_element(&two, Propagation::Median).0, 2.5);
        assert_eq!(of_element(&two, Propagation::LMedian).0, 1.0);
        assert_eq!(of_element(&two[..1], Propagation::Median).0, 9.0);
        assert!(of_element(&[], Propagation::Mean).0.is_nan());
        let exact = samples(&[(1.0, 0.0), (3.0, 0.0), (100.0, 5.0)]);
        assert_eq!(of_element(&exact, Propagation::InverseVariance), (0.0, 2.0));
    }

    /// `propagate` gives the specification's numbers, bit for bit, on samples with ties,
    /// for every formula (the sums' row loops and the general folds alike).
    #[test]
    fn propagate_follows_the_specification() {
        let xs = [3.0, 1.0, 3.0, 7.0, 1.0, 2.5, f64::NAN, 4.0];
        let vs = [1.0, 4.0, 0.5, 9.0, 2.0, 0.0, 1.0, f64::NAN];
        let w = [1.0, 0.5, 2.0, 0.0, 1.5, 3.0, 1.0, 1.0];
        let scale = [1.0, 2.0, 0.5, 1.0, 4.0, 1.0, 1.0, 1.0];
        let zero = [0.0, 1.0, -1.0, 0.5, 0.0, 0.0, 0.0, 0.0];
        for k in 1..=xs.len() {
            for corrected in [false, true] {
                let corr = if corrected {
                    Correction {
                        zero: Some(&zero[..k]),
                        scale: Some(&scale[..k]),
                    }
                } else {
                    Correction::default()
                };
                let hows = [
                    Propagation::Mean,
                    Propagation::Sum,
                    Propagation::Weighted(&w[..k]),
                    Propagation::InverseVariance,
                    Propagation::Median,
                    Propagation::LMedian,
                    Propagation::Min,
                    Propagation::Max,
                    Propagation::Variance { ddof: 1.0 },
                ];
                let data = StackView::from_slice(&xs[..k], &[k, 1]).unwrap();
                let var = StackView::from_slice(&vs[..k], &[k, 1]).unwrap();
                let data = Source::new(data, None).unwrap();
                let var = Source::new(var, None).unwrap();
                let samples: Vec<Sampled> = (0..k)
                    .filter(|&i| xs[i].is_finite() && vs[i] >= 0.0 && vs[i].is_finite())
                    .map(|i| {
                        let (x, v) = corr.apply(i, xs[i], vs[i]);
                        Sampled { frame: i, x, v }
                    })
                    .collect();
                for how in hows {
                    let got = propagate(&data, &var, &corr, how).unwrap();
                    let want = of_element(&samples, how);
                    let same =
                        |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
                    assert!(
                        same(got.variance[0], want.0),
                        "{how:?} k={k}: {got:?} vs {want:?}"
                    );
                    if let Some(value) = got.value {
                        assert!(same(value[0], want.1), "{how:?} k={k}");
                    }
                }
            }
        }
    }
}
