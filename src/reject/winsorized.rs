//! Winsorized sigma clipping: sigma clipping with a spread from iterated winsorisation.
//!
//! After Huber and Ronchetti, *Robust Statistics* (2nd ed., Wiley 2009), as Siril's and
//! `PixInsight`'s documentation describe the rule. Per pass, over the n survivors x (sorted):
//!
//! ```text
//! m = median(x);  s = std(x)                  (n < 2: no spread, nothing is rejected)
//! repeat at most WINSOR_STEPS times, while s > 0:
//!     w = clamp(x, m - cutoff * s, m + cutoff * s)
//!     s' = 1.134 * std(w);  m = median(w)
//!     stop after this step when |s' - s| < 5e-4 * s;  s = s'
//! rejected where   x < m - sigma_lower * s   or   x > m + sigma_upper * s
//! s == 0 (all survivors equal): nothing is rejected
//! std(v) = sqrt((sum(d^2) - sum(d)^2 / n) / (n - 1)),  d = v - median(x)  (sample std)
//! ```

use super::{iterate, Centre, Limits, Report, Survivors};

/// Most winsorisation steps of one pass (the last `s` is used when they do not converge).
pub const WINSOR_STEPS: u32 = 50;
/// Relative change of `s` under which winsorisation has converged.
pub const WINSOR_TOLERANCE: f64 = 5e-4;
/// Makes the standard deviation of a normal sample winsorized at 1.5 sigma consistent.
pub const WINSOR_FACTOR: f64 = 1.134;

/// Winsorized sigma clipping parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WinsorizedSigClip {
    pub sigma_lower: f64,
    pub sigma_upper: f64,
    /// Winsorisation clamps at `m -+ cutoff * s`.
    pub cutoff: f64,
    pub limits: Limits,
}

/// `v` clamped to `[lo, hi]` (`lo <= hi`, none NaN): plain comparisons, which compile to
/// min/max instructions (`f64::clamp` also handles NaN, at a cost in the inner loop).
#[inline(always)]
fn clamp(v: f64, lo: f64, hi: f64) -> f64 {
    let v = if v < lo { lo } else { v };
    if v > hi {
        hi
    } else {
        v
    }
}

/// Sample standard deviation (divisor `n - 1`, `n >= 2`) of values clamped to `[lo, hi]`, from
/// their sum and sum of squares added in order (`tests/reference.py` adds the same way). The
/// values are deviations from the median, so the two sums do not cancel.
fn clamped_std(d: &[f64], lo: f64, hi: f64) -> f64 {
    let (mut sum, mut squares) = (0.0, 0.0);
    for &v in d {
        let w = clamp(v, lo, hi);
        sum += w;
        squares += w * w;
    }
    let n = d.len() as f64;
    ((squares - sum * sum / n) / (n - 1.0)).max(0.0).sqrt()
}

/// The median of a sorted run clamped to `[lo, hi]` (clamping keeps the order).
fn clamped_median(d: &[f64], lo: f64, hi: f64) -> f64 {
    let n = d.len();
    let at = |i: usize| clamp(d[i], lo, hi);
    if n % 2 == 1 {
        at(n / 2)
    } else {
        0.5 * (at(n / 2 - 1) + at(n / 2))
    }
}

impl WinsorizedSigClip {
    /// The robust centre and spread `(m, s)` of a sorted run of at least 2 values; `w` is
    /// workspace (the deviations from the median).
    pub fn centre_spread(&self, x: &[f64], w: &mut Vec<f64>) -> (f64, f64) {
        let m0 = Centre::Median.of(x);
        w.clear();
        w.extend(x.iter().map(|&v| v - m0));
        // Centre of the winsorized values, as a deviation from m0.
        let mut c = 0.0;
        let mut s = clamped_std(w, f64::NEG_INFINITY, f64::INFINITY);
        for _ in 0..WINSOR_STEPS {
            if s.is_nan() || s <= 0.0 {
                break;
            }
            let (lo, hi) = (c - self.cutoff * s, c + self.cutoff * s);
            let next = WINSOR_FACTOR * clamped_std(w, lo, hi);
            c = clamped_median(w, lo, hi);
            let done = (next - s).abs() < WINSOR_TOLERANCE * s;
            s = next;
            if done {
                break;
            }
        }
        (m0 + c, s)
    }

    pub(crate) fn apply(&self, s: &mut Survivors<'_>, scratch: &mut Vec<f64>) -> Report {
        iterate(s, &self.limits, |x| {
            if x.len() < 2 {
                return None;
            }
            let (m, sd) = self.centre_spread(x, scratch);
            if sd == 0.0 {
                return Some((f64::NEG_INFINITY, f64::INFINITY, sd));
            }
            Some((m - self.sigma_lower * sd, m + self.sigma_upper * sd, sd))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> WinsorizedSigClip {
        WinsorizedSigClip {
            sigma_lower: 4.0,
            sigma_upper: 3.0,
            cutoff: 1.5,
            limits: Limits {
                maxiters: 10,
                nkeep: 1,
                maxrej: None,
                revert_on_nkeep: true,
            },
        }
    }

    #[test]
    fn a_cosmic_ray_goes_and_the_spread_is_near_the_noise() {
        let mut x = vec![
            99.0, 101.0, 100.0, 98.0, 102.0, 100.0, 99.0, 101.0, 100.0, 100.0, 5000.0,
        ];
        x.sort_by(f64::total_cmp);
        let mut s = Survivors {
            x: &x,
            lo: 0,
            hi: x.len(),
            n_frames: x.len(),
        };
        let r = rule().apply(&mut s, &mut Vec::new());
        assert_eq!(s.kept().last(), Some(&102.0));
        assert_eq!(s.len(), 10);
        assert!(r.spread > 0.5 && r.spread < 3.0, "{r:?}");
        assert_eq!(r.nit, 2);
    }

    #[test]
    fn winsorisation_converges_to_a_fixed_point() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 30.0];
        let (m, s) = rule().centre_spread(&x, &mut Vec::new());
        assert_eq!(m, 5.0);
        // One more step from (m, s) changes s by less than the tolerance.
        let d: Vec<f64> = x.iter().map(|&v| v - m).collect();
        let again = WINSOR_FACTOR * clamped_std(&d, -1.5 * s, 1.5 * s);
        assert!((again - s).abs() < 2.0 * WINSOR_TOLERANCE * s);
        let plain = clamped_std(&d, f64::NEG_INFINITY, f64::INFINITY);
        assert!(
            (plain - 8.803_408_430_829_505).abs() < 1e-12,
            "the sample standard deviation: {plain}"
        );
        assert!(s < plain / 2.0, "the outlier no longer inflates the spread");
    }

    #[test]
    fn constant_and_tiny_runs_reject_nothing() {
        let x = [3.0; 6];
        let mut s = Survivors {
            x: &x,
            lo: 0,
            hi: 6,
            n_frames: 6,
        };
        let r = rule().apply(&mut s, &mut Vec::new());
        assert_eq!((s.len(), r.spread, r.nit), (6, 0.0, 1));
        let one = [7.0];
        let mut s = Survivors {
            x: &one,
            lo: 0,
            hi: 1,
            n_frames: 1,
        };
        let r = rule().apply(&mut s, &mut Vec::new());
        assert_eq!(s.len(), 1);
        assert!(r.spread.is_nan());
    }
}
