//! Clipping each sample against its own variance (the variance clipping of Gemini's DRAGONS).
//!
//! ```text
//! each pass, over the survivors:   c = centre(x)
//! rejected where   x_i - c < -sigma_lower * sqrt(v_i)   or   x_i - c > sigma_upper * sqrt(v_i)
//! ```
//!
//! Passes repeat as for the other iterative rules (`crate::reject::iterate`): until a pass
//! rejects nothing (it still counts in `nit`) or after `maxiters` passes; a pass that would leave
//! fewer than `nkeep` samples is undone when `revert_on_nkeep` is set, and one that would bring
//! the total above `maxrej` is undone. A sample of zero variance is rejected whenever it differs
//! from the centre. Unlike the other rules, the survivors need not be a contiguous run of the
//! sorted values, so the rule writes a per-sample mask.

use rayon::prelude::*;

use super::{check_shapes, tile_len, Correction, Sampled, Tile};
use crate::cancel;
use crate::disjoint::Shared;
use crate::error::CoreError;
use crate::reject::{flags, Centre, Limits};
use crate::sample::{Float, Sample};
use crate::stack::Source;

/// Variance clipping parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VarClip {
    pub sigma_lower: f64,
    pub sigma_upper: f64,
    pub centre: Centre,
    pub limits: Limits,
}

/// What the rule did: the rejected samples (`i * npix + p`, 1 = rejected by this rule) and,
/// per element, the passes, the flag bits and the extreme survivors.
#[derive(Debug, Clone, PartialEq)]
pub struct VarClipped<W> {
    pub mask: Vec<u8>,
    pub nit: Vec<i32>,
    pub flags: Vec<u8>,
    pub low: Vec<W>,
    pub upp: Vec<W>,
}

/// Runs `rule` on every output element of `data` (whose mask marks unusable samples).
///
/// # Errors
/// Shapes that differ, or bad zero/scale.
pub fn varclip<T, U>(
    data: &Source<'_, T>,
    var: &Source<'_, U>,
    corr: &Correction<'_>,
    rule: &VarClip,
) -> Result<VarClipped<T::Work>, CoreError>
where
    T: Sample,
    U: Sample,
{
    check_shapes(data, var)?;
    let n = data.n();
    let npix = data.npix();
    corr.check(n)?;
    let nan = T::Work::NAN;
    let mut out = VarClipped {
        mask: vec![0u8; n * npix],
        nit: vec![0; npix],
        flags: vec![0; npix],
        low: vec![nan; npix],
        upp: vec![nan; npix],
    };
    {
        let mask = Shared::new(&mut out.mask);
        let nit = Shared::new(&mut out.nit);
        let fl = Shared::new(&mut out.flags);
        let low = Shared::new(&mut out.low);
        let upp = Shared::new(&mut out.upp);
        let tile = tile_len(n);
        (0..npix.div_ceil(tile)).into_par_iter().for_each_init(
            || {
                let buf = Tile::<T::Work, U::Work>::new(n, tile);
                (buf, Vec::with_capacity(n), Element::new(n))
            },
            |(buf, samples, el), t| {
                if cancel::requested() {
                    return;
                }
                let start = t * tile;
                let w = tile.min(npix - start);
                buf.load(data, var, start, w);
                // SAFETY: each tile owns pixels start..start + w of every output, and frame i's
                // part of the mask at i * npix + start (see `disjoint`).
                let (nit, fl, low, upp) = unsafe {
                    (
                        nit.range(start, w),
                        fl.range(start, w),
                        low.range(start, w),
                        upp.range(start, w),
                    )
                };
                for p in 0..w {
                    buf.gather(n, w, p, corr, samples);
                    let (passes, bits) = el.clip(samples, rule);
                    nit[p] = passes;
                    fl[p] = bits;
                    let kept = samples.iter().zip(&el.rejected).filter(|(_, &r)| !r);
                    let (lo, hi) = kept
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (e, _)| {
                            (a.min(e.x), b.max(e.x))
                        });
                    if lo <= hi {
                        low[p] = T::Work::from_f64(lo);
                        upp[p] = T::Work::from_f64(hi);
                    }
                    for (e, &r) in samples.iter().zip(&el.rejected) {
                        if r {
                            // SAFETY: as above: element start + p of frame e.frame.
                            unsafe { mask.range(e.frame * npix + start + p, 1)[0] = 1 };
                        }
                    }
                }
            },
        );
    }
    if cancel::requested() {
        return Err(CoreError::Cancelled);
    }
    Ok(out)
}

/// The centre of the (unsorted, non-empty) survivors, as [`Centre::of`] gives it for them
/// sorted: medians by selection (the same values), the mean over the sorted values (the same
/// order of addition).
fn centre_of(centre: Centre, x: &mut [f64]) -> f64 {
    let n = x.len();
    match centre {
        Centre::Mean => {
            x.sort_unstable_by(f64::total_cmp);
            centre.of(x)
        }
        Centre::LMedian => *x.select_nth_unstable_by((n - 1) / 2, f64::total_cmp).1,
        Centre::Median => {
            let (below, &mut upper, _) = x.select_nth_unstable_by(n / 2, f64::total_cmp);
            if n % 2 == 1 {
                upper
            } else {
                let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                0.5 * (lower + upper)
            }
        }
    }
}

/// Per-element workspace.
struct Element {
    rejected: Vec<bool>,
    candidate: Vec<bool>,
    values: Vec<f64>,
    /// Each sample's standard deviation, `sqrt(v)`.
    sd: Vec<f64>,
}

impl Element {
    fn new(n: usize) -> Self {
        Element {
            rejected: Vec::with_capacity(n),
            candidate: Vec::with_capacity(n),
            values: Vec::with_capacity(n),
            sd: Vec::with_capacity(n),
        }
    }

    /// Clips one element's samples; leaves `rejected` parallel to `s`. Returns `(nit, flags)`.
    fn clip(&mut self, s: &[Sampled], rule: &VarClip) -> (i32, u8) {
        self.rejected.clear();
        self.rejected.resize(s.len(), false);
        self.sd.clear();
        self.sd.extend(s.iter().map(|e| e.v.sqrt()));
        let start = s.len();
        let mut kept = start;
        let (mut nit, mut bits) = (0i32, 0u8);
        let limits = &rule.limits;
        for pass in 1..=limits.maxiters {
            if kept == 0 {
                break; // a pass over nothing is not a pass
            }
            nit = pass as i32;
            self.values.clear();
            self.values.extend(
                s.iter()
                    .zip(&self.rejected)
                    .filter(|(_, &r)| !r)
                    .map(|(e, _)| e.x),
            );
            let c = centre_of(rule.centre, &mut self.values);
            self.candidate.clear();
            self.candidate
                .extend(
                    s.iter()
                        .zip(&self.rejected)
                        .zip(&self.sd)
                        .map(|((e, &r), &sd)| {
                            let d = e.x - c;
                            !r && (d < -rule.sigma_lower * sd || d > rule.sigma_upper * sd)
                        }),
                );
            let new = self.candidate.iter().filter(|&&b| b).count();
            if new == 0 {
                break;
            }
            let after = kept - new;
            if limits.maxrej.is_some_and(|m| start - after > m) {
                if after < limits.nkeep {
                    bits |= flags::NKEEP;
                }
                bits |= flags::MAXREJ;
                break;
            }
            if after < limits.nkeep {
                bits |= flags::NKEEP;
                if !limits.revert_on_nkeep {
                    self.apply();
                }
                break;
            }
            self.apply();
            kept = after;
            if pass == limits.maxiters && kept > 0 {
                bits |= flags::MAXITERS;
            }
        }
        (nit, bits)
    }

    fn apply(&mut self) {
        for (r, &c) in self.rejected.iter_mut().zip(&self.candidate) {
            *r |= c;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(maxiters: u32, nkeep: usize) -> VarClip {
        VarClip {
            sigma_lower: 3.0,
            sigma_upper: 3.0,
            centre: Centre::Median,
            limits: Limits {
                maxiters,
                nkeep,
                maxrej: None,
                revert_on_nkeep: true,
            },
        }
    }

    fn samples(xv: &[(f64, f64)]) -> Vec<Sampled> {
        xv.iter()
            .enumerate()
            .map(|(frame, &(x, v))| Sampled { frame, x, v })
            .collect()
    }

    #[test]
    fn a_noisy_sample_is_kept_where_a_precise_one_is_not() {
        // Median 10; 30 deviates by 20 = 2 sigma with variance 100, 13 by 3.0 > 3 * sqrt(0.25).
        let s = samples(&[
            (10.0, 1.0),
            (11.0, 1.0),
            (9.0, 1.0),
            (30.0, 100.0),
            (13.0, 0.25),
        ]);
        let mut el = Element::new(5);
        let (nit, bits) = el.clip(&s, &rule(10, 1));
        assert_eq!(el.rejected, [false, false, false, false, true]);
        // Second pass: median of 9, 10, 11, 30 is 10.5; nothing more goes.
        assert_eq!((nit, bits), (2, 0));
    }

    #[test]
    fn nkeep_undoes_a_pass_and_maxiters_flags() {
        let s = samples(&[(0.0, 0.01), (1.0, 0.01), (2.0, 0.01)]);
        let mut el = Element::new(3);
        let (_, bits) = el.clip(&s, &rule(10, 2));
        assert_eq!(el.rejected, [false, false, false]);
        assert_eq!(bits, flags::NKEEP);
        let (nit, bits) = el.clip(&s, &rule(1, 0));
        assert_eq!(el.rejected, [true, false, true]);
        assert_eq!((nit, bits), (1, flags::MAXITERS));
    }
}
