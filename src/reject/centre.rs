//! Clipping centres and spreads of a sorted run of values.
//!
//! ```text
//! mean    = sum(x) / n
//! median  = x[n/2] for odd n, (x[n/2-1] + x[n/2]) / 2 for even n
//! lmedian = x[(n-1)/2]
//! std     = sqrt(sum((x - c)^2) / (n - ddof))      about the clipping centre c
//! mad     = 1.4826 * median(|x - c|)
//! ```

/// Where the clipping interval is centred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Centre {
    Mean,
    Median,
    LMedian,
}

impl Centre {
    /// The centre of a sorted, non-empty run.
    #[must_use]
    pub fn of(self, x: &[f64]) -> f64 {
        let n = x.len();
        match self {
            Centre::Mean => x.iter().fold(0.0, |a, &v| a + v) / n as f64,
            Centre::Median if n.is_multiple_of(2) => 0.5 * (x[n / 2 - 1] + x[n / 2]),
            Centre::Median => x[n / 2],
            Centre::LMedian => x[(n - 1) / 2],
        }
    }
}

/// How the spread about the centre is measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spread {
    /// Root-mean-square deviation about the centre with divisor `n - ddof`.
    Std { ddof: f64 },
    /// 1.4826 times the median absolute deviation about the centre.
    Mad,
}

impl Spread {
    /// The spread of a sorted, non-empty run about `c`; NaN when `n - ddof <= 0`.
    pub fn of(self, x: &[f64], c: f64, scratch: &mut Vec<f64>) -> f64 {
        match self {
            Spread::Std { ddof } => {
                let dof = x.len() as f64 - ddof;
                if dof <= 0.0 {
                    return f64::NAN;
                }
                // In order from 0.0: the vectorised first pass (`pipeline::first_pass`) adds the same terms.
                let ss = x.iter().fold(0.0, |a, &v| a + (v - c) * (v - c));
                (ss / dof).sqrt()
            }
            Spread::Mad => {
                scratch.clear();
                scratch.extend(x.iter().map(|&v| (v - c).abs()));
                scratch.sort_unstable_by(f64::total_cmp);
                1.4826 * Centre::Median.of(scratch)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centres_and_spreads() {
        let x = [1.0, 2.0, 4.0, 9.0];
        assert_eq!(Centre::Mean.of(&x), 4.0);
        assert_eq!(Centre::Median.of(&x), 3.0);
        assert_eq!(Centre::LMedian.of(&x), 2.0);
        let mut scratch = Vec::new();
        let s0 = Spread::Std { ddof: 0.0 }.of(&x, 4.0, &mut scratch);
        assert_eq!(s0, (38.0f64 / 4.0).sqrt());
        assert!(Spread::Std { ddof: 4.0 }.of(&x, 4.0, &mut scratch).is_nan());
        // |x - 3| = 2, 1, 1, 6 -> median 1.5
        assert_eq!(Spread::Mad.of(&x, 3.0, &mut scratch), 1.4826 * 1.5);
    }
}
