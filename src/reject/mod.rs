//! Pixel rejection on the sorted valid samples of one output element.
//!
//! Every rejection rule here removes values below a lower threshold and above an upper one, so
//! the survivors of an element are always a contiguous run `x[lo..hi]` of its sorted valid
//! values, and a chain of rejectors only narrows that run. The survivors can therefore be named
//! by two values, the lowest and highest kept (`low`, `upp`): a valid sample survives exactly
//! when `low <= x <= upp`. Values equal to a bound are kept.
//!
//! ```text
//! one pass of an iterative rule:   (L, U, spread) = bounds(x[lo..hi])
//!                                  keep x with L <= x <= U   (x < L or x > U is rejected)
//! stop when a pass rejects nothing (it still counts in nit) or after maxiters passes;
//! a pass that would leave fewer than nkeep samples is undone when revert_on_nkeep is set;
//! a pass that would make the rejector's total exceed maxrej is undone
//! ```

mod auto;
mod ccdclip;
mod centre;
// Rules of issue 18 (GESD, linear fit clipping).
mod gesd;
mod linearclip;
mod linearfit;
mod minmax;
mod pclip;
mod sigclip;
// Modern rules (issue 18): winsorized sigma, biweight and percentile clipping.
mod biweight;
mod percentile;
pub mod student_t;
mod winsorized;

pub use auto::AutoReject;
pub use ccdclip::CcdClip;
pub use centre::{Centre, Spread};
pub use gesd::Gesd;
pub use linearclip::LinearClip;
pub use linearfit::LinearFitClip;
pub use minmax::{Count, MinMaxClip};
pub use pclip::PClip;
pub use sigclip::SigClip;
// Modern rules (issue 18): winsorized sigma, biweight and percentile clipping.
pub use biweight::BiweightClip;
pub use percentile::PercentileClip;
pub use winsorized::WinsorizedSigClip;

/// Output flag bits (per output element), as `imc.OutputFlags`.
pub mod flags {
    /// Some sample was masked, non-finite or thresholded before rejection.
    pub const PREMASKED: u8 = 1;
    /// The last pass allowed by maxiters still rejected samples.
    pub const MAXITERS: u8 = 2;
    /// A pass was stopped (and undone, with `revert_on_nkeep`) by nkeep.
    pub const NKEEP: u8 = 4;
    /// A pass was undone because it would have exceeded maxrej.
    pub const MAXREJ: u8 = 8;
    /// grow added rejected samples (set by the grow step, not here).
    pub const GROW: u8 = 16;
}

/// The sorted valid samples of one output element and the current survivors `x[lo..hi]`.
#[derive(Debug)]
pub struct Survivors<'a> {
    /// Valid samples, ascending, as `f64`.
    pub x: &'a [f64],
    pub lo: usize,
    pub hi: usize,
    /// The stack depth `N` (fractions of the stack are fractions of `N`).
    pub n_frames: usize,
}

impl Survivors<'_> {
    /// The surviving values.
    #[must_use]
    pub fn kept(&self) -> &[f64] {
        &self.x[self.lo..self.hi]
    }

    /// Number of survivors.
    #[must_use]
    pub fn len(&self) -> usize {
        self.hi - self.lo
    }

    /// `true` when nothing survives.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.hi == self.lo
    }

    /// Narrows the survivors to the values within `[low, high]`.
    pub fn keep_within(&mut self, low: f64, high: f64) {
        let kept = &self.x[self.lo..self.hi];
        // Sorted: count the values below `low` from the front and above `high` from the back.
        let below = kept.iter().take_while(|&&v| v < low).count();
        let above = kept[below..]
            .iter()
            .rev()
            .take_while(|&&v| v > high)
            .count();
        self.lo += below;
        self.hi -= above;
    }
}

/// What one rejector did at one output element.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// The spread of the last pass (NaN when the rule has none or could not compute it).
    pub spread: f64,
    /// Passes made, counting the last one even when it rejected nothing.
    pub nit: u32,
    /// Bits of [`flags`].
    pub flags: u8,
    /// For rules whose diagnostic bounds are the computed thresholds rather than the
    /// extreme survivors (linear clipping): `(L, U)` of the last pass.
    pub bounds: Option<(f64, f64)>,
}

impl Report {
    pub(crate) fn nothing() -> Report {
        Report {
            spread: f64::NAN,
            nit: 0,
            flags: 0,
            bounds: None,
        }
    }
}

/// The limits shared by the iterative rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub maxiters: u32,
    pub nkeep: usize,
    /// Largest number this rejector may reject at an element (`None`: no cap).
    pub maxrej: Option<usize>,
    pub revert_on_nkeep: bool,
}

/// Runs passes of `bounds` until nothing changes, maxiters, nkeep or maxrej.
///
/// `bounds` gets the current survivors and returns `(L, U, spread)`, or `None` when no bound can
/// be computed (too few samples), which ends the iteration without a change.
pub(crate) fn iterate(
    s: &mut Survivors<'_>,
    limits: &Limits,
    mut bounds: impl FnMut(&[f64]) -> Option<(f64, f64, f64)>,
) -> Report {
    let mut report = Report::nothing();
    let start = s.len();
    if start == 0 {
        return report;
    }
    for pass in 1..=limits.maxiters {
        if s.is_empty() {
            break; // a pass over nothing is not a pass
        }
        report.nit = pass;
        let Some((low, high, spread)) = bounds(s.kept()) else {
            // No spread (n <= ddof): this pass rejects nothing and reports no spread.
            report.spread = f64::NAN;
            report.bounds = None;
            break;
        };
        report.spread = spread;
        report.bounds = Some((low, high));
        let (lo, hi) = (s.lo, s.hi);
        s.keep_within(low, high);
        if s.len() == hi - lo {
            break;
        }
        if limits.maxrej.is_some_and(|m| start - s.len() > m) {
            if s.len() < limits.nkeep {
                report.flags |= flags::NKEEP;
            }
            (s.lo, s.hi) = (lo, hi);
            report.flags |= flags::MAXREJ;
            break;
        }
        if s.len() < limits.nkeep {
            report.flags |= flags::NKEEP;
            if limits.revert_on_nkeep {
                (s.lo, s.hi) = (lo, hi);
            }
            break;
        }
        if pass == limits.maxiters && !s.is_empty() {
            report.flags |= flags::MAXITERS;
        }
    }
    report
}

/// A rejection rule with its parameters (validated in Python).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rejector {
    SigClip(SigClip),
    CcdClip(CcdClip),
    LinearClip(LinearClip),
    MinMax(MinMaxClip),
    PClip(PClip),
    // Modern rules (issue 18): winsorized sigma, biweight and percentile clipping.
    Winsorized(WinsorizedSigClip),
    Biweight(BiweightClip),
    Percentile(PercentileClip),
    Gesd(Gesd),
    /// Chosen per element by its number of samples.
    Auto(AutoReject),
    LinearFitClip(LinearFitClip),
}

impl Rejector {
    /// Applies the rule to one element, narrowing `s`; `scratch` is reusable workspace.
    pub fn apply(&self, s: &mut Survivors<'_>, scratch: &mut Vec<f64>) -> Report {
        match self {
            Rejector::SigClip(r) => r.apply(s, scratch),
            Rejector::CcdClip(r) => r.apply(s),
            Rejector::LinearClip(r) => r.apply(s),
            Rejector::MinMax(r) => r.apply(s),
            Rejector::PClip(r) => r.apply(s),
            // Modern rules (issue 18).
            Rejector::Winsorized(r) => r.apply(s, scratch),
            Rejector::Biweight(r) => r.apply(s),
            Rejector::Percentile(r) => r.apply(s),
            Rejector::Gesd(r) => r.apply(s, scratch),
            Rejector::Auto(r) => r.apply(s, scratch),
            Rejector::LinearFitClip(r) => r.apply(s),
        }
    }

    /// `true` for rules that report a spread (`std` is an array, not `None`).
    #[must_use]
    pub fn has_spread(&self) -> bool {
        matches!(
            self,
            Rejector::SigClip(_)
                | Rejector::CcdClip(_)
                // Modern rules (issue 18).
                | Rejector::Winsorized(_)
                | Rejector::Biweight(_)
                | Rejector::Gesd(_)
                | Rejector::Auto(_)
                | Rejector::LinearFitClip(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_within_narrows_a_sorted_run_and_keeps_equal_values() {
        let x = [1.0, 2.0, 2.0, 3.0, 9.0];
        let mut s = Survivors {
            x: &x,
            lo: 0,
            hi: 5,
            n_frames: 5,
        };
        s.keep_within(2.0, 3.0);
        assert_eq!(s.kept(), &[2.0, 2.0, 3.0]);
        s.keep_within(f64::NAN, f64::NAN);
        assert_eq!(s.kept(), &[2.0, 2.0, 3.0], "NaN bounds reject nothing");
    }

    #[test]
    fn iteration_stops_on_a_pass_without_change_and_counts_it() {
        let x = [9.0, 10.0, 10.0, 11.0, 1e4];
        let mut s = Survivors {
            x: &x,
            lo: 0,
            hi: 5,
            n_frames: 5,
        };
        let limits = Limits {
            maxiters: 10,
            nkeep: 1,
            maxrej: None,
            revert_on_nkeep: true,
        };
        let r = iterate(&mut s, &limits, |k| Some((k[0], 100.0, 1.0)));
        assert_eq!(s.kept(), &[9.0, 10.0, 10.0, 11.0]);
        assert_eq!(r.nit, 2);
        assert_eq!(r.flags, 0);
    }

    #[test]
    fn nkeep_and_maxrej_undo_the_pass() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let limits = Limits {
            maxiters: 5,
            nkeep: 3,
            maxrej: None,
            revert_on_nkeep: true,
        };
        let mut s = Survivors {
            x: &x,
            lo: 0,
            hi: 4,
            n_frames: 4,
        };
        let r = iterate(&mut s, &limits, |_| Some((2.5, 10.0, 1.0)));
        assert_eq!((s.lo, s.hi, r.flags), (0, 4, flags::NKEEP));
        let strict = Limits {
            revert_on_nkeep: false,
            ..limits
        };
        let r = iterate(&mut s, &strict, |_| Some((2.5, 10.0, 1.0)));
        assert_eq!((s.lo, s.hi, r.flags), (2, 4, flags::NKEEP));
        let capped = Limits {
            nkeep: 0,
            maxrej: Some(1),
            ..limits
        };
        let mut s = Survivors {
            x: &x,
            lo: 0,
            hi: 4,
            n_frames: 4,
        };
        let r = iterate(&mut s, &capped, |_| Some((2.5, 10.0, 1.0)));
        assert_eq!((s.lo, s.hi, r.flags), (0, 4, flags::MAXREJ));
    }

    #[test]
    fn maxiters_flag_only_when_the_last_pass_still_rejected() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let limits = Limits {
            maxiters: 2,
            nkeep: 0,
            maxrej: None,
            revert_on_nkeep: true,
        };
        let mut s = Survivors {
            x: &x,
            lo: 0,
            hi: 5,
            n_frames: 5,
        };
        // Each pass drops the smallest survivor.
        let r = iterate(&mut s, &limits, |k| Some((k[0] + 0.5, 10.0, 1.0)));
        assert_eq!((s.lo, r.nit, r.flags), (2, 2, flags::MAXITERS));
    }
}
