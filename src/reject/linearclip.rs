//! Clipping to an affine envelope around the centre.
//!
//! ```text
//! each pass:   c = centre(x)
//! kept where   low_scale * c - low  <=  x  <=  upp_scale * c + upp
//! ```

use super::{iterate, Centre, Limits, Report, Survivors};

/// Linear clipping parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearClip {
    pub low_scale: f64,
    pub low: f64,
    pub upp_scale: f64,
    pub upp: f64,
    pub centre: Centre,
    pub limits: Limits,
}

impl LinearClip {
    pub(crate) fn apply(&self, s: &mut Survivors<'_>) -> Report {
        let mut report = iterate(s, &self.limits, |x| {
            if x.is_empty() {
                return None;
            }
            let c = self.centre.of(x);
            Some((
                self.low_scale * c - self.low,
                self.upp_scale * c + self.upp,
                f64::NAN,
            ))
        });
        report.spread = f64::NAN;
        report
    }
}
