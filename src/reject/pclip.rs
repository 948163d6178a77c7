//! IRAF-style percentile clipping: one pass, with the spread taken from a ranked sample.
//!
//! ```text
//! i = N / 2 (integer);  p = frac * i if |frac| < 1 else frac;  p = int(p) clamped to -i..-1 or 1..i
//! per element, n survivors sorted x (1-based ranks r, n/2 in integer arithmetic as in IRAF):
//!   med = median(x);  r = n/2 + 1 + p for odd n or p > 0, n/2 + p for even n and p < 0
//!   s = |x_r - med|
//! rejected where   (med - x) >= sigma_lower * s   or   (x - med) >= sigma_upper * s
//! ```

use super::{Centre, Report, Survivors};

/// Percentile clipping parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PClip {
    pub frac: f64,
    pub sigma_lower: f64,
    pub sigma_upper: f64,
    pub nkeep: usize,
}

impl PClip {
    /// The rank offset `p` for a stack of depth `n_frames`; 0 (no clipping) for one frame.
    #[must_use]
    pub fn offset(&self, n_frames: usize) -> i64 {
        let i = (n_frames / 2) as i64;
        if i == 0 {
            return 0;
        }
        let p = if self.frac.abs() < 1.0 {
            self.frac * i as f64
        } else {
            self.frac
        };
        let p = p as i64;
        if self.frac < 0.0 {
            p.clamp(-i, -1)
        } else {
            p.clamp(1, i.max(1))
        }
    }

    pub(crate) fn apply(&self, s: &mut Survivors<'_>) -> Report {
        debug_assert!(self.frac != 0.0);
        let mut report = Report {
            spread: f64::NAN,
            nit: 1,
            flags: 0,
            bounds: None,
        };
        let n = s.len();
        if n == 0 {
            report.nit = 0;
            return report;
        }
        let p = self.offset(s.n_frames);
        if p == 0 {
            return report;
        }
        let kept = s.kept();
        let med = Centre::Median.of(kept);
        // IRAF's `n/2` is integer division: N = 5, p = -1 gives rank 2.
        let half = (n / 2) as i64;
        let rank = if n % 2 == 1 || p > 0 {
            half + 1 + p
        } else {
            half + p
        };
        let r = rank.clamp(1, n as i64) as usize - 1;
        let sigma = (kept[r] - med).abs();
        report.spread = sigma;
        if sigma == 0.0 {
            // No spread, no scale to clip with: reject nothing.
            return report;
        }
        // `>=` rejects: keep strictly inside the thresholds.
        let (lo_t, hi_t) = (
            med - self.sigma_lower * sigma,
            med + self.sigma_upper * sigma,
        );
        let below = kept.iter().take_while(|&&v| v <= lo_t).count();
        let above = kept[below..]
            .iter()
            .rev()
            .take_while(|&&v| v >= hi_t)
            .count();
        if below + above > 0 && n - below - above < self.nkeep {
            report.flags |= super::flags::NKEEP;
            return report;
        }
        s.lo += below;
        s.hi -= above;
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(values: &[f64], rule: &PClip) -> Vec<f64> {
        let mut s = Survivors {
            x: values,
            lo: 0,
            hi: values.len(),
            n_frames: values.len(),
        };
        rule.apply(&mut s);
        s.kept().to_vec()
    }

    #[test]
    fn matches_the_iraf_examples() {
        let rule = PClip {
            frac: -0.5,
            sigma_lower: 3.0,
            sigma_upper: 3.0,
            nkeep: 1,
        };
        // N = 5: sigma = |5 - 6| = 1, 1 and 30 go (IRAF's pclip: the spread is the distance to the pclip rank).
        assert_eq!(run(&[1.0, 5.0, 6.0, 7.0, 30.0], &rule), vec![5.0, 6.0, 7.0]);
        // N = 4: sigma = 5 - 1 = 4, 20 goes.
        assert_eq!(run(&[1.0, 4.0, 6.0, 20.0], &rule), vec![1.0, 4.0, 6.0]);
        // hsigma 24 still rejects 30 (r = 24 exactly); 24.5 keeps it.
        let at = PClip {
            sigma_upper: 24.0,
            ..rule
        };
        assert_eq!(run(&[1.0, 5.0, 6.0, 7.0, 30.0], &at), vec![5.0, 6.0, 7.0]);
        let above = PClip {
            sigma_upper: 24.5,
            ..rule
        };
        assert_eq!(
            run(&[1.0, 5.0, 6.0, 7.0, 30.0], &above),
            vec![5.0, 6.0, 7.0, 30.0]
        );
        assert_eq!(
            PClip { frac: 1.0, ..rule }.offset(4),
            1,
            "pclip = +1 with N = 4 is a rank offset of 1"
        );
        // One frame: no rank to measure a spread from, nothing is rejected (and no panic).
        assert_eq!(rule.offset(1), 0);
        assert_eq!(run(&[7.0], &rule), vec![7.0]);
    }
}
