//! Rejection of the lowest and highest samples.
//!
//! ```text
//! k_lo = n_min, k_hi = n_max  (counts), or int(N * f + 0.001) for fractions f of the stack depth N
//! kept:  ranks k_lo .. n - k_hi of the n survivors sorted by (value, frame number)
//! ```
//! Exactly `k_lo + k_hi` samples go; among equal values the lower frame number counts as the
//! lower sample (IRAF also rejects exactly that many). With `keep_ties` the older rule applies:
//! kept where `x[k_lo] <= x <= x[n - 1 - k_hi]`, so values equal to a kept bound stay and fewer
//! samples may go. When `k_lo + k_hi >= n` nothing is rejected (an element is never emptied) and
//! NKEEP is flagged.

use super::{Report, Survivors};

/// How many samples to remove at one end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Count {
    Frames(usize),
    /// A fraction of the stack depth `N`, truncated as IRAF does.
    Fraction(f64),
}

impl Count {
    /// The number of samples for a stack of depth `n_frames`.
    #[must_use]
    pub fn resolve(self, n_frames: usize) -> usize {
        match self {
            Count::Frames(k) => k,
            Count::Fraction(f) => (n_frames as f64 * f + 0.001) as usize,
        }
    }
}

/// Min/max clipping parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinMaxClip {
    pub n_min: Count,
    pub n_max: Count,
    /// Keep every sample equal to a kept extreme (fewer than `k_lo + k_hi` may go).
    pub keep_ties: bool,
}

impl MinMaxClip {
    pub(crate) fn apply(&self, s: &mut Survivors<'_>) -> Report {
        let (k_lo, k_hi) = (
            self.n_min.resolve(s.n_frames),
            self.n_max.resolve(s.n_frames),
        );
        let n = s.len();
        let mut report = Report {
            spread: f64::NAN,
            nit: u32::from(n > 0),
            flags: 0,
            bounds: None,
        };
        if n == 0 || (k_lo == 0 && k_hi == 0) {
            return report;
        }
        let total = k_lo.saturating_add(k_hi);
        if total >= n {
            // Never empty an element: reject nothing and say so.
            report.flags |= super::flags::NKEEP;
            return report;
        }
        if self.keep_ties {
            let kept = s.kept();
            let (low, high) = (kept[k_lo], kept[n - 1 - k_hi]);
            s.keep_within(low, high);
        } else {
            s.lo += k_lo;
            s.hi -= k_hi;
        }
        report
    }
}
