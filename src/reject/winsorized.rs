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
//!          computed as (sum(d^2) - sum(d) * (sum(d) * (1/n))) * (1/(n - 1))
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

/// Running sums of the sorted deviations `d`, outward from the middle index `h = n / 2`:
/// `low[i] = d[h-1] + d[h-2] + ... + d[i]` (added in that order, `low[h] = 0`) and
/// `high[j - h] = d[h] + ... + d[j-1]` (`high[0] = 0`), and the same of the squares. The
/// unclamped values of a step are a run `d[a..e]`, so its sums are `low[a] + high[e - h]`.
struct RunningSums<'a> {
    d: &'a [f64],
    low: &'a [f64],
    low2: &'a [f64],
    high: &'a [f64],
    high2: &'a [f64],
}

impl<'a> RunningSums<'a> {
    /// Lays `d` and its running sums out in `w` (reused between pixels).
    fn build(x: &[f64], m0: f64, w: &'a mut Vec<f64>) -> RunningSums<'a> {
        let n = x.len();
        let h = n / 2;
        w.clear();
        w.extend(x.iter().map(|&v| v - m0));
        w.resize(n + 2 * (h + 1) + 2 * (n - h + 1), 0.0);
        let (d, rest) = w.split_at_mut(n);
        let (low, rest) = rest.split_at_mut(h + 1);
        let (low2, rest) = rest.split_at_mut(h + 1);
        let (high, high2) = rest.split_at_mut(n - h + 1);
        let (mut t, mut t2) = (0.0, 0.0);
        low[h] = 0.0;
        low2[h] = 0.0;
        for i in (0..h).rev() {
            t += d[i];
            t2 += d[i] * d[i];
            low[i] = t;
            low2[i] = t2;
        }
        let (mut t, mut t2) = (0.0, 0.0);
        high[0] = 0.0;
        high2[0] = 0.0;
        for j in h..n {
            t += d[j];
            t2 += d[j] * d[j];
            high[j - h + 1] = t;
            high2[j - h + 1] = t2;
        }
        RunningSums {
            d,
            low,
            low2,
            high,
            high2,
        }
    }

    /// Sample standard deviation (divisor `n - 1`, `n >= 2`) of `d` clamped to `[lo, hi]`:
    /// `a` values below `lo` count as `lo`, `b` above `hi` as `hi`, the run between them from
    /// the running sums (directly, in order, in the rare step whose run does not contain the
    /// middle index). `tests/reference.py` forms the same sums. Deviations from the median do
    /// not cancel in `squares - sum^2 / n`.
    ///
    /// `at` holds the counts `(a, e)` of the previous step (values below `lo`, values up to
    /// `hi`): they move by a step or two between steps, so walking from them beats a binary
    /// search's unpredictable branches.
    fn clamped_std(&self, lo: f64, hi: f64, at: &mut (usize, usize)) -> f64 {
        let d = self.d;
        let n = d.len();
        let h = n / 2;
        let (mut a, mut e) = *at;
        while a > 0 && d[a - 1] >= lo {
            a -= 1;
        }
        while a < n && d[a] < lo {
            a += 1;
        }
        while e > 0 && d[e - 1] > hi {
            e -= 1;
        }
        while e < n && d[e] <= hi {
            e += 1;
        }
        *at = (a, e);
        let (mid, mid2) = if a <= h && h <= e {
            (
                self.low[a] + self.high[e - h],
                self.low2[a] + self.high2[e - h],
            )
        } else {
            d[a..e]
                .iter()
                .fold((0.0, 0.0), |(t, t2), &v| (t + v, t2 + v * v))
        };
        let (below, above) = (a as f64, (n - e) as f64);
        let (lo_sum, lo_sum2) = if a > 0 {
            (below * lo, below * (lo * lo))
        } else {
            (0.0, 0.0)
        };
        let (hi_sum, hi_sum2) = if e < n {
            (above * hi, above * (hi * hi))
        } else {
            (0.0, 0.0)
        };
        let sum = (lo_sum + mid) + hi_sum;
        let squares = (lo_sum2 + mid2) + hi_sum2;
        // Reciprocals rather than divisions: this is the critical path of every step.
        let n = n as f64;
        let (inv_n, inv_n1) = (1.0 / n, 1.0 / (n - 1.0));
        ((squares - sum * (sum * inv_n)) * inv_n1).max(0.0).sqrt()
    }
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
        let sums = RunningSums::build(x, m0, w);
        // Centre of the winsorized values, as a deviation from m0.
        let mut c = 0.0;
        let mut at = (0, x.len());
        let mut s = sums.clamped_std(f64::NEG_INFINITY, f64::INFINITY, &mut at);
        for _ in 0..WINSOR_STEPS {
            if s.is_nan() || s <= 0.0 {
                break;
            }
            let (lo, hi) = (c - self.cutoff * s, c + self.cutoff * s);
            let next = WINSOR_FACTOR * sums.clamped_std(lo, hi, &mut at);
            c = clamped_median(sums.d, lo, hi);
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
        let mut w = Vec::new();
        let sums = RunningSums::build(&x, m, &mut w);
        let again = WINSOR_FACTOR * sums.clamped_std(-1.5 * s, 1.5 * s, &mut (0, 0));
        assert!((again - s).abs() < 2.0 * WINSOR_TOLERANCE * s);
        let plain = sums.clamped_std(f64::NEG_INFINITY, f64::INFINITY, &mut (0, 0));
        assert!(
            (plain - 8.803_408_430_829_505).abs() < 1e-12,
            "the sample std: {plain}"
        );
        assert!(s < plain / 2.0, "the outlier no longer inflates the spread");
    }

    #[test]
    fn running_sums_give_the_direct_clamped_std() {
        let mut state = 99_u64;
        let mut w = Vec::new();
        for n in 2..30 {
            let mut x: Vec<f64> = (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    ((state >> 33) % 1000) as f64 / 10.0
                })
                .collect();
            x.sort_by(f64::total_cmp);
            let m0 = Centre::Median.of(&x);
            let sums = RunningSums::build(&x, m0, &mut w);
            for (lo, hi) in [
                (-5.0, 5.0),
                (-50.0, 1.0),
                (3.0, 60.0),
                (-1e9, 1e9),
                (-0.5, -0.1),
            ] {
                let c: Vec<f64> = x.iter().map(|&v| clamp(v - m0, lo, hi)).collect();
                let mean = c.iter().sum::<f64>() / n as f64;
                let var = c.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64;
                let got = sums.clamped_std(lo, hi, &mut (n / 2, n / 2));
                assert!(
                    (got - var.sqrt()).abs() <= 1e-9 * (1.0 + var.sqrt()),
                    "{n} {lo} {hi}"
                );
            }
        }
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
