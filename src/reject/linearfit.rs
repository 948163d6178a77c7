//! Linear fit clipping: a straight line through the sorted survivors against their rank.
//!
//! The rule as the `PixInsight` `ImageIntegration` documentation and Siril's manual describe it;
//! trimmed here to the ends of the sorted run (see `imcombiners.LinearFitClip`).
//!
//! ```text
//! each pass, over the n sorted survivors y_0 <= ... <= y_{n-1} (nothing when n < 5):
//!   least squares y = a + b i:   ibar = (n-1)/2,  ybar = sum(y)/n,  sum((i - ibar)^2) = n(n^2-1)/12
//!                                b = sum((i - ibar) y_i) / (n(n^2-1)/12),  a = ybar - b ibar
//!   (sum((i - ibar)(y_i - ybar)) = sum((i - ibar) y_i): one pass for both sums, in order)
//!   r_i = y_i - (a + b i);   sigma = sum(|r_i|) / n       (mean absolute deviation about the fit)
//!   sigma <= 64 eps max(|y_0|, |y_{n-1}|): the fit is exact to rounding, nothing is rejected
//!   trim from the low end while r_i < -sigma_lower * sigma, and from the high end while
//!   r_i > sigma_upper * sigma:   kept where  y_a <= x <= y_b   (a, b: the first values kept)
//! passes repeat as in `iterate` (maxiters, nkeep, maxrej)
//! ```

use super::{iterate, Limits, Report, Survivors};

/// Fewest survivors a line is fitted to.
pub const MIN_SAMPLES: usize = 5;

/// Linear fit clipping parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearFitClip {
    pub sigma_lower: f64,
    pub sigma_upper: f64,
    pub limits: Limits,
}

/// The interval `[L, U]` one pass keeps among the sorted `y`, and the pass's sigma; `None` when
/// there are too few values to fit.
fn pass_bounds(y: &[f64], sigma_lower: f64, sigma_upper: f64) -> Option<(f64, f64, f64)> {
    let n = y.len();
    if n < MIN_SAMPLES {
        return None;
    }
    let nf = n as f64;
    let ibar = (nf - 1.0) / 2.0;
    let (mut sy, mut sxy) = (0.0, 0.0);
    for (i, &v) in y.iter().enumerate() {
        sy += v;
        sxy += (i as f64 - ibar) * v;
    }
    let ybar = sy / nf;
    let b = sxy / (nf * (nf * nf - 1.0) / 12.0);
    let a = ybar - b * ibar;
    let residual = |i: usize| y[i] - (a + b * i as f64);
    let sigma = (0..n).fold(0.0, |acc, i| acc + residual(i).abs()) / nf;
    let scale = y[0].abs().max(y[n - 1].abs());
    if sigma <= 64.0 * f64::EPSILON * scale {
        return Some((f64::NEG_INFINITY, f64::INFINITY, sigma));
    }
    let first = (0..n)
        .find(|&i| residual(i) >= -sigma_lower * sigma)
        .map_or(f64::INFINITY, |i| y[i]);
    let last = (0..n)
        .rev()
        .find(|&i| residual(i) <= sigma_upper * sigma)
        .map_or(f64::NEG_INFINITY, |i| y[i]);
    Some((first, last, sigma))
}

impl LinearFitClip {
    pub(crate) fn apply(&self, s: &mut Survivors<'_>) -> Report {
        let mut report = iterate(s, &self.limits, |y| {
            pass_bounds(y, self.sigma_lower, self.sigma_upper)
        });
        // The diagnostics report the kept range (the thresholds depend on the rank).
        report.bounds = None;
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(sigma_lower: f64, sigma_upper: f64) -> LinearFitClip {
        LinearFitClip {
            sigma_lower,
            sigma_upper,
            limits: Limits {
                maxiters: 5,
                nkeep: 1,
                maxrej: None,
                revert_on_nkeep: true,
            },
        }
    }

    fn run(values: &[f64], rule: &LinearFitClip) -> (Vec<f64>, Report) {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mut s = Survivors {
            x: &sorted,
            lo: 0,
            hi: sorted.len(),
            n_frames: sorted.len(),
        };
        let report = rule.apply(&mut s);
        (s.kept().to_vec(), report)
    }

    #[test]
    fn a_hot_pixel_above_a_ramp_goes() {
        // 16 values; below 12, one huge value pulls the line so close that it stays within 4
        // mean absolute deviations (its leverage; see the rule's docs).
        let ramp: Vec<f64> = (10..25).map(f64::from).collect();
        let mut values = ramp.clone();
        values.push(500.0);
        let (kept, report) = run(&values, &rule(5.0, 4.0));
        assert_eq!(kept, ramp);
        let (kept, _) = run(&values[6..], &rule(5.0, 4.0));
        assert_eq!(kept.len(), 10, "10 values: the outlier's leverage keeps it");
        // Second pass: the ramp is fitted exactly, nothing more goes.
        assert_eq!(report.nit, 2);
        assert!(report.spread >= 0.0);
    }

    #[test]
    fn the_fit_by_hand() {
        // y = 0, 0, 0, 0, 1: b = 2/10, a = -0.2, residuals 0.2, 0, -0.2, -0.4, 0.4, sigma 0.24.
        let y = [0.0, 0.0, 0.0, 0.0, 1.0];
        let (l, u, sigma) = pass_bounds(&y, 1.0, 1.0).unwrap();
        assert!((sigma - 0.24).abs() < 1e-15);
        // 0.4 > 0.24 goes at the top; at the bottom 0.2 is above the fit, so nothing goes there.
        assert_eq!((l, u), (0.0, 0.0));
        let (l, u, _) = pass_bounds(&y, 1.0, 2.0).unwrap();
        assert_eq!((l, u), (0.0, 1.0));
    }

    #[test]
    fn fewer_than_five_values_are_left_alone() {
        let (kept, report) = run(&[1.0, 2.0, 3.0, 1e6], &rule(1.0, 1.0));
        assert_eq!(kept, vec![1.0, 2.0, 3.0, 1e6]);
        assert_eq!(report.nit, 1);
        assert!(report.spread.is_nan());
        // Equal values: an exact fit, nothing goes even at sigma 0.
        let (kept, _) = run(&[0.1; 7], &rule(0.0, 0.0));
        assert_eq!(kept.len(), 7);
    }
}
