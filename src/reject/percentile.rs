//! Percentile clipping (Siril, PixInsight): one pass, deviations relative to the median.
//!
//! Not IRAF's pclip ([`super::PClip`]), which takes its spread from a ranked sample. As the
//! Siril documentation and the `ImageIntegration` reference of `PixInsight` describe it, for the n
//! survivors x with median m:
//!
//! ```text
//! rejected where   (m - x) / |m| > low   or   (x - m) / |m| > high
//! computed as      x < m - low * |m|     or   x > m + high * |m|
//! m == 0: nothing is rejected (there is no scale to be relative to)
//! ```

use super::{flags, iterate, Centre, Limits, Report, Survivors};

/// Percentile clipping parameters (`maxiters` of `limits` is 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PercentileClip {
    pub low: f64,
    pub high: f64,
    pub limits: Limits,
}

impl PercentileClip {
    pub(crate) fn apply(&self, s: &mut Survivors<'_>) -> Report {
        let limits = Limits {
            maxiters: 1,
            ..self.limits
        };
        let mut report = iterate(s, &limits, |x| {
            if x.is_empty() {
                return None;
            }
            let m = Centre::Median.of(x);
            if m == 0.0 {
                return Some((f64::NEG_INFINITY, f64::INFINITY, f64::NAN));
            }
            let a = m.abs();
            Some((m - self.low * a, m + self.high * a, f64::NAN))
        });
        // One pass by definition: a pass that rejected is not "stopped by maxiters".
        report.flags &= !flags::MAXITERS;
        report.spread = f64::NAN;
        report.bounds = None;
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(x: &[f64], low: f64, high: f64, nkeep: usize) -> (Vec<f64>, Report) {
        let rule = PercentileClip {
            low,
            high,
            limits: Limits {
                maxiters: 1,
                nkeep,
                maxrej: None,
                revert_on_nkeep: true,
            },
        };
        let mut s = Survivors {
            x,
            lo: 0,
            hi: x.len(),
            n_frames: x.len(),
        };
        let r = rule.apply(&mut s);
        (s.kept().to_vec(), r)
    }

    #[test]
    fn relative_deviations_from_the_median() {
        // m = 100: keep 80 ..= 110.
        let x = [70.0, 80.0, 95.0, 100.0, 105.0, 110.0, 111.0];
        let (kept, r) = run(&x, 0.2, 0.1, 1);
        assert_eq!(kept, vec![80.0, 95.0, 100.0, 105.0, 110.0]);
        assert_eq!((r.nit, r.flags), (1, 0));
        // A negative median uses |m|: m = -100 keeps -120 ..= -90.
        let x = [-130.0, -120.0, -100.0, -95.0, -89.0];
        assert_eq!(run(&x, 0.2, 0.1, 1).0, vec![-120.0, -100.0, -95.0]);
        // m = 0: nothing goes.
        let x = [-5.0, 0.0, 0.0, 7.0];
        assert_eq!(run(&x, 0.2, 0.1, 1).0, x.to_vec());
    }

    #[test]
    fn nkeep_undoes_the_pass() {
        let x = [1.0, 100.0, 300.0];
        let (kept, r) = run(&x, 0.2, 0.1, 2);
        assert_eq!(kept, x.to_vec());
        assert_eq!(r.flags, flags::NKEEP);
    }
}
