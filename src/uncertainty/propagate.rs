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

use super::{check_shapes, tile_len, Correction, Sampled, Tile};
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
    let npix = data.npix();
    corr.check(n)?;
    if let Propagation::Weighted(w) = how {
        if w.len() != n || w.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(CoreError::Value {
                name: "weights",
                message: format!("expected {n} finite weights >= 0"),
            });
        }
    }
    let nan = T::Work::NAN;
    let mut variance = vec![nan; npix];
    let ivar = how == Propagation::InverseVariance;
    let mut value = ivar.then(|| vec![nan; npix]);
    {
        let out_v = Shared::new(&mut variance);
        let out_x = value.as_deref_mut().map(Shared::new);
        let tile = tile_len(n);
        (0..npix.div_ceil(tile)).into_par_iter().for_each_init(
            || {
                (
                    Tile::<T::Work, U::Work>::new(n, tile),
                    Vec::with_capacity(n),
                )
            },
            |(buf, samples), t| {
                if cancel::requested() {
                    return;
                }
                let start = t * tile;
                let w = tile.min(npix - start);
                buf.load(data, var, start, w);
                // SAFETY: each tile owns pixels start..start + w of the outputs (see `disjoint`).
                let ov = unsafe { out_v.range(start, w) };
                let mut ox = out_x.as_ref().map(|o| unsafe { o.range(start, w) });
                for p in 0..w {
                    buf.gather(n, w, p, corr, samples);
                    let (v, x) = of_element(samples, how);
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
