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
use crate::stack::Source;

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
        Propagation::Mean => run(data, var, corr, &MeanFold { sum: false }),
        Propagation::Sum => run(data, var, corr, &MeanFold { sum: true }),
        Propagation::Weighted(w) => {
            if w.len() != n || w.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
                return Err(CoreError::Value {
                    name: "weights",
                    message: format!("expected {n} finite weights >= 0"),
                });
            }
            run(data, var, corr, &WeightedFold(w))
        }
        Propagation::InverseVariance => run(data, var, corr, &InverseFold),
        Propagation::Median => run(data, var, corr, &MedianFold { lower: false }),
        Propagation::LMedian => run(data, var, corr, &MedianFold { lower: true }),
        Propagation::Min => run(data, var, corr, &SelectFold { max: false }),
        Propagation::Max => run(data, var, corr, &SelectFold { max: true }),
        Propagation::Variance { ddof } => run(data, var, corr, &VarianceFold { ddof }),
    }
}

/// The running sums of one output element (their meaning depends on the fold).
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    n: u32,
    a: f64,
    b: f64,
    c: f64,
    d: f64,
    e: f64,
}

/// One propagation formula as a fold over an element's usable samples, in frame order.
trait Fold: Sync {
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
                            fold.add(acc, i, (x - z) / s, v / s2);
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

/// Mean (`sum(v) / n^2`) or sum (`sum(v)`): `a = sum(v)`.
struct MeanFold {
    sum: bool,
}

impl Fold for MeanFold {
    #[inline(always)]
    fn add(&self, acc: &mut Acc, _: usize, _: f64, v: f64) {
        acc.n += 1;
        acc.a += v;
    }
    fn finish(&self, acc: &Acc) -> (f64, f64) {
        let n = f64::from(acc.n);
        (if self.sum { acc.a } else { acc.a / (n * n) }, f64::NAN)
    }
}

/// Weighted mean: `a = sum(w)`, `b = sum(w^2 v)`.
struct WeightedFold<'a>(&'a [f64]);

impl Fold for WeightedFold<'_> {
    #[inline(always)]
    fn add(&self, acc: &mut Acc, frame: usize, _: f64, v: f64) {
        let w = self.0[frame];
        acc.n += 1;
        acc.a += w;
        acc.b += w * w * v;
    }
    fn finish(&self, acc: &Acc) -> (f64, f64) {
        let v = if acc.a > 0.0 {
            acc.b / (acc.a * acc.a)
        } else {
            f64::NAN
        };
        (v, f64::NAN)
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

    /// Every fold gives the specification's numbers, bit for bit, on samples with ties.
    #[test]
    fn folds_follow_the_specification() {
        let xs = [3.0, 1.0, 3.0, 7.0, 1.0, 2.5];
        let vs = [1.0, 4.0, 0.5, 9.0, 2.0, 0.0];
        let w = [1.0, 0.5, 2.0, 0.0, 1.5, 3.0];
        for k in 1..=xs.len() {
            let s: Vec<Sampled> = (0..k)
                .map(|i| Sampled {
                    frame: i,
                    x: xs[i],
                    v: vs[i],
                })
                .collect();
            let hows = [
                Propagation::Mean,
                Propagation::Sum,
                Propagation::Weighted(&w),
                Propagation::InverseVariance,
                Propagation::Median,
                Propagation::LMedian,
                Propagation::Min,
                Propagation::Max,
                Propagation::Variance { ddof: 1.0 },
            ];
            for how in hows {
                let mut acc = Acc::default();
                let got = match how {
                    Propagation::Mean => fold_all(&MeanFold { sum: false }, &s, &mut acc),
                    Propagation::Sum => fold_all(&MeanFold { sum: true }, &s, &mut acc),
                    Propagation::Weighted(w) => fold_all(&WeightedFold(w), &s, &mut acc),
                    Propagation::InverseVariance => fold_all(&InverseFold, &s, &mut acc),
                    Propagation::Median => fold_all(&MedianFold { lower: false }, &s, &mut acc),
                    Propagation::LMedian => fold_all(&MedianFold { lower: true }, &s, &mut acc),
                    Propagation::Min => fold_all(&SelectFold { max: false }, &s, &mut acc),
                    Propagation::Max => fold_all(&SelectFold { max: true }, &s, &mut acc),
                    Propagation::Variance { ddof } => {
                        fold_all(&VarianceFold { ddof }, &s, &mut acc)
                    }
                };
                let want = of_element(&s, how);
                let same =
                    |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
                let value_matters = how == Propagation::InverseVariance;
                assert!(same(got.0, want.0), "{how:?} k={k}: {got:?} vs {want:?}");
                assert!(!value_matters || same(got.1, want.1), "{how:?} k={k}");
            }
        }
    }

    fn fold_all<F: Fold>(fold: &F, s: &[Sampled], acc: &mut Acc) -> (f64, f64) {
        for e in s {
            fold.add(acc, e.frame, e.x, e.v);
        }
        fold.finish(acc)
    }
}
