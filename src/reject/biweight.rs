//! Biweight clipping: Tukey's biweight location and scale as the centre and the spread.
//!
//! The biweight (bisquare) estimators of Mosteller and Tukey, *Data Analysis and Regression*
//! (Addison-Wesley 1977), in the form of Beers, Flynn and Gebhardt (1990, AJ 100, 32), with the
//! sample size of the scale left at n, as `astropy.stats.biweight_location` and
//! `biweight_scale` define them. Per pass, over the n survivors x:
//!
//! ```text
//! M = median(x);  MAD = median(|x - M|)
//! location:  u = (x - M) / (c * MAD)      (|u| < 1 evaluated as 1 - u^2 > 0)
//!            T = M + sum_{|u|<1} (x - M) (1 - u^2)^2 / sum_{|u|<1} (1 - u^2)^2
//! scale:     u = (x - M) / (c_scale * MAD)
//!            S = sqrt(n * sum_{|u|<1} (x - M)^2 (1 - u^2)^4) / |sum_{|u|<1} (1 - u^2)(1 - 5 u^2)|
//! MAD == 0:  T = M, S = 0
//! rejected where   x < T - sigma_lower * S   or   x > T + sigma_upper * S
//! S == 0 or not finite: nothing is rejected
//! ```

use super::{iterate, Centre, Limits, Report, Survivors};

/// Biweight clipping parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BiweightClip {
    pub sigma_lower: f64,
    pub sigma_upper: f64,
    /// Tuning constant of the location (in MADs).
    pub c: f64,
    /// Tuning constant of the scale (in MADs).
    pub c_scale: f64,
    pub limits: Limits,
}

/// The median absolute deviation of a sorted, non-empty run about its median `m`.
///
/// The k smallest deviations `|x - m|` of a sorted run are k consecutive values, so the k-th
/// smallest deviation is the least, over the windows of k consecutive values, of the window's
/// largest deviation `max(m - x[i], x[i + k - 1] - m)`: no sorting, and no chain of
/// dependent comparisons (each window is independent).
fn mad(x: &[f64], m: f64) -> f64 {
    let n = x.len();
    let kth = |k: usize| -> f64 {
        x.iter()
            .zip(&x[k - 1..])
            .map(|(&a, &b)| (m - a).max(b - m))
            .fold(f64::INFINITY, f64::min)
    };
    if n % 2 == 1 {
        kth(n / 2 + 1)
    } else {
        0.5 * (kth(n / 2) + kth(n / 2 + 1))
    }
}

impl BiweightClip {
    /// The biweight location and scale `(T, S)` of a sorted, non-empty run.
    ///
    /// `|u| < 1` is evaluated as `k = 1 - u * u > 0` (weights `max(k, 0)`, branch-free), with
    /// `u = d * (1 / (c * MAD))`; `tests/reference.py` computes it the same way.
    #[must_use]
    pub fn location_scale(&self, x: &[f64]) -> (f64, f64) {
        let m = Centre::Median.of(x);
        let mad = mad(x, m);
        if mad == 0.0 {
            return (m, 0.0);
        }
        let (il, is) = (1.0 / (self.c * mad), 1.0 / (self.c_scale * mad));
        let (mut num, mut den) = (0.0, 0.0);
        let (mut top, mut bottom) = (0.0, 0.0);
        for &v in x {
            let d = v - m;
            let u = d * il;
            let k = 1.0 - u * u;
            let k = if k > 0.0 { k } else { 0.0 };
            let kk = k * k;
            num += d * kk;
            den += kk;
            let u = d * is;
            let u2 = u * u;
            let k = 1.0 - u2;
            let k = if k > 0.0 { k } else { 0.0 };
            let k2 = k * k;
            top += d * d * (k2 * k2);
            bottom += k * (1.0 - 5.0 * u2);
        }
        let location = m + num / den;
        let scale = (x.len() as f64 * top / (bottom.abs() * bottom.abs())).sqrt();
        (location, scale)
    }

    pub(crate) fn apply(&self, s: &mut Survivors<'_>) -> Report {
        iterate(s, &self.limits, |x| {
            if x.is_empty() {
                return None;
            }
            let (t, sd) = self.location_scale(x);
            if !(sd > 0.0 && sd.is_finite()) {
                return Some((f64::NEG_INFINITY, f64::INFINITY, sd));
            }
            Some((t - self.sigma_lower * sd, t + self.sigma_upper * sd, sd))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> BiweightClip {
        BiweightClip {
            sigma_lower: 3.0,
            sigma_upper: 3.0,
            c: 6.0,
            c_scale: 9.0,
            limits: Limits {
                maxiters: 10,
                nkeep: 1,
                maxrej: None,
                revert_on_nkeep: true,
            },
        }
    }

    #[test]
    fn mad_by_windows_equals_mad_by_sorting() {
        for x in [
            vec![1.0, 2.0, 4.0, 9.0],
            vec![1.0, 2.0, 4.0, 9.0, 9.5],
            vec![5.0],
            vec![-3.0, -3.0, 0.0, 0.0, 0.0, 7.0, 100.0],
            vec![1.0, 1.0],
        ] {
            let m = Centre::Median.of(&x);
            let mut d: Vec<f64> = x.iter().map(|v| (v - m).abs()).collect();
            d.sort_by(f64::total_cmp);
            assert_eq!(mad(&x, m), Centre::Median.of(&d), "{x:?}");
        }
    }

    #[test]
    fn mad_by_windows_equals_mad_by_sorting_on_random_runs() {
        let mut state = 12_345_u64;
        for n in 1..40 {
            for _ in 0..20 {
                let mut x: Vec<f64> = (0..n)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6_364_136_223_846_793_005)
                            .wrapping_add(1);
                        ((state >> 33) % 7) as f64 - if state & 1 == 0 { 0.0 } else { 0.5 }
                    })
                    .collect();
                x.sort_by(f64::total_cmp);
                let m = Centre::Median.of(&x);
                let mut d: Vec<f64> = x.iter().map(|v| (v - m).abs()).collect();
                d.sort_by(f64::total_cmp);
                assert_eq!(mad(&x, m), Centre::Median.of(&d), "{x:?}");
            }
        }
    }

    #[test]
    fn a_symmetric_sample_has_its_median_as_location() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let (t, s) = rule().location_scale(&x);
        assert_eq!(t, 3.0);
        assert!(s > 1.0 && s < 2.0);
    }

    #[test]
    fn an_outlier_goes_and_a_zero_mad_rejects_nothing() {
        let x = [9.0, 10.0, 10.0, 10.5, 11.0, 12.0, 500.0];
        let mut s = Survivors {
            x: &x,
            lo: 0,
            hi: 7,
            n_frames: 7,
        };
        rule().apply(&mut s);
        assert_eq!(s.kept(), &x[..6]);
        let q = [10.0, 10.0, 10.0, 10.0, 11.0];
        let mut s = Survivors {
            x: &q,
            lo: 0,
            hi: 5,
            n_frames: 5,
        };
        let r = rule().apply(&mut s);
        assert_eq!((s.len(), r.spread, r.nit), (5, 0.0, 1));
    }
}
