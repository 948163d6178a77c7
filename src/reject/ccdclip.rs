//! Sigma clipping with the spread of a CCD noise model instead of the measured one.
//!
//! The values are taken to electrons (`x * gain`); at centre `c` (electrons)
//! ```text
//! sigma = sqrt((1 + snoise) * |c + zero_ref| * scale_ref + rdnoise^2)
//! rejected where   x_e < c - sigma_lower * sigma   or   x_e > c + sigma_upper * sigma
//! ```

use super::{iterate, Centre, Limits, Report, Survivors};

/// CCD-noise clipping parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CcdClip {
    pub sigma_lower: f64,
    pub sigma_upper: f64,
    pub gain: f64,
    pub rdnoise: f64,
    pub snoise: f64,
    pub zero_ref: f64,
    pub scale_ref: f64,
    pub centre: Centre,
    /// The centre the noise model is evaluated at, when it is not `centre` (`clip_cen`); the
    /// bounds are always placed about `centre`.
    pub spread_centre: Option<Centre>,
    pub limits: Limits,
}

impl CcdClip {
    /// The model's noise (electrons) at centre `c` (electrons).
    #[must_use]
    pub fn sigma_at(&self, c: f64) -> f64 {
        ((1.0 + self.snoise) * (c + self.zero_ref).abs() * self.scale_ref
            + self.rdnoise * self.rdnoise)
            .sqrt()
    }

    pub(crate) fn apply(&self, s: &mut Survivors<'_>) -> Report {
        // Clip in electrons: the same run scaled by gain (> 0) keeps its order.
        let electrons: Vec<f64> = s.x.iter().map(|&v| v * self.gain).collect();
        let mut e = Survivors {
            x: &electrons,
            lo: s.lo,
            hi: s.hi,
            n_frames: s.n_frames,
        };
        let report = iterate(&mut e, &self.limits, |x| {
            if x.is_empty() {
                return None;
            }
            let c = self.centre.of(x);
            let sigma = self.sigma_at(self.spread_centre.map_or(c, |k| k.of(x)));
            Some((
                c - self.sigma_lower * sigma,
                c + self.sigma_upper * sigma,
                sigma,
            ))
        });
        (s.lo, s.hi) = (e.lo, e.hi);
        Report {
            // Reported in the data's units, like the values.
            spread: report.spread / self.gain,
            ..report
        }
    }
}
