//! The rule chosen by the number of samples: percentile clipping for a few frames, winsorized
//! sigma clipping for a moderate number, linear fit clipping for more and GESD for many.
//!
//! ```text
//! n = the samples this rule receives at an output element
//! n <  winsorized_from               PercentileClip
//! n <  linearfit_from                WinsorizedSigClip
//! n <  gesd_from                     LinearFitClip
//! otherwise                          GESD
//! ```
//!
//! The choice is made per element, so a masked corner of a stack may use another rule than
//! its unmasked middle; `imcombiners.AutoReject.choose` gives the same choice in Python.

use super::{Gesd, LinearFitClip, PercentileClip, Report, Survivors, WinsorizedSigClip};

/// The four rules and the depths at which the choice moves to the next one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutoReject {
    pub percentile: PercentileClip,
    pub winsorized: WinsorizedSigClip,
    pub linearfit: LinearFitClip,
    pub gesd: Gesd,
    pub winsorized_from: usize,
    pub linearfit_from: usize,
    pub gesd_from: usize,
}

impl AutoReject {
    pub(crate) fn apply(&self, s: &mut Survivors<'_>, scratch: &mut Vec<f64>) -> Report {
        let n = s.len();
        if n < self.winsorized_from {
            self.percentile.apply(s)
        } else if n < self.linearfit_from {
            self.winsorized.apply(s, scratch)
        } else if n < self.gesd_from {
            self.linearfit.apply(s)
        } else {
            self.gesd.apply(s, scratch)
        }
    }
}
