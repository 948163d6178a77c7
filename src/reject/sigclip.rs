//! Iterative sigma clipping about a centre with an empirical spread.
//!
//! ```text
//! each pass, over the survivors x:   c = centre(x);   s = spread(x, c)
//! rejected where   x < c - sigma_lower * s   or   x > c + sigma_upper * s
//! ```

use super::{iterate, Centre, Limits, Report, Spread, Survivors};

/// Sigma clipping parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SigClip {
    pub sigma_lower: f64,
    pub sigma_upper: f64,
    pub centre: Centre,
    /// The centre the spread is measured about, when it is not `centre` (`clip_cen`); the
    /// bounds are always placed about `centre`.
    pub spread_centre: Option<Centre>,
    pub spread: Spread,
    pub limits: Limits,
}

impl SigClip {
    pub(crate) fn apply(&self, s: &mut Survivors<'_>, scratch: &mut Vec<f64>) -> Report {
        iterate(s, &self.limits, |x| {
            if x.is_empty() {
                return None;
            }
            let c = self.centre.of(x);
            let about = self.spread_centre.map_or(c, |k| k.of(x));
            let sd = self.spread.of(x, about, scratch);
            if sd.is_nan() {
                return None;
            }
            Some((c - self.sigma_lower * sd, c + self.sigma_upper * sd, sd))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_outlier_goes_then_the_loop_stops() {
        let x = [9.0, 10.0, 10.0, 11.0, 10.0, 10.0, 9.0, 11.0, 10.0, 1e4];
        let mut sorted = x.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mut s = Survivors {
            x: &sorted,
            lo: 0,
            hi: 10,
            n_frames: 10,
        };
        let rule = SigClip {
            sigma_lower: 3.0,
            sigma_upper: 3.0,
            centre: Centre::Median,
            spread_centre: None,
            spread: Spread::Std { ddof: 0.0 },
            limits: Limits {
                maxiters: 5,
                nkeep: 1,
                maxrej: None,
                revert_on_nkeep: true,
            },
        };
        let r = rule.apply(&mut s, &mut Vec::new());
        assert_eq!(s.len(), 9);
        assert_eq!(r.nit, 2);
        assert!(r.spread > 0.0 && r.spread < 1.0);
    }
}
