//! The parameters of one IMCOMBINE run, already resolved to the numbers IRAF works with.
//!
//! Python turns IMCOMBINE's parameters into these (scales and zeros normalised to the first
//! image, pclip converted to a pixel count, nlow/nhigh converted to fractions, the noise model
//! from numbers or header keywords); the core only applies them.

use crate::error::CoreError;

/// The combining operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Combine {
    Average,
    Median,
    /// The median, but the lower of the two values when exactly two are left.
    LMedian,
    Sum,
    /// `sqrt(sum x^2) / n`.
    Quadrature,
    /// `sqrt(sum of the CCD noise model's variances) / n`: the noise of the average.
    NModel,
}

/// The rejection algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    None,
    MinMax,
    CcdClip,
    /// `CcdClip` with no low rejection.
    CrReject,
    SigClip,
    AvSigClip,
    PClip,
}

impl Combine {
    /// Parses an IRAF combine name.
    ///
    /// # Errors
    /// For an unknown name.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        Ok(match s {
            "average" => Self::Average,
            "median" => Self::Median,
            "lmedian" => Self::LMedian,
            "sum" => Self::Sum,
            "quadrature" => Self::Quadrature,
            "nmodel" => Self::NModel,
            _ => {
                return Err(CoreError::Value {
                    name: "combine",
                    message: format!("unknown combine {s:?}"),
                })
            }
        })
    }

    /// Medians are computed by the clipping algorithms themselves (IRAF's `combine == MEDIAN`).
    #[must_use]
    pub fn is_median(self) -> bool {
        matches!(self, Self::Median | Self::LMedian)
    }
}

impl Reject {
    /// Parses an IRAF reject name.
    ///
    /// # Errors
    /// For an unknown name.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        Ok(match s {
            "none" => Self::None,
            "minmax" => Self::MinMax,
            "ccdclip" => Self::CcdClip,
            "crreject" => Self::CrReject,
            "sigclip" => Self::SigClip,
            "avsigclip" => Self::AvSigClip,
            "pclip" => Self::PClip,
            _ => {
                return Err(CoreError::Value {
                    name: "reject",
                    message: format!("unknown reject {s:?}"),
                })
            }
        })
    }
}

/// Everything the per-pixel algorithms need, in IRAF's internal form.
#[derive(Clone, Debug)]
#[allow(clippy::struct_excessive_bools)] // IRAF's flags, one each
pub struct Params {
    pub combine: Combine,
    pub reject: Reject,
    /// Clip about the median (sorted data). Forced on for pclip and off for minmax and none.
    pub mclip: bool,
    pub nkeep: i64,
    pub lsigma: f32,
    pub hsigma: f32,
    /// The pclip offset as a signed pixel count (already converted from a fraction).
    pub pclip: f32,
    /// minmax: fractions of the stack rejected at each end (nlow/N, nhigh/N).
    pub flow: f32,
    pub fhigh: f32,
    /// Apply `x / scale - zero` to every value read.
    pub doscale: bool,
    /// Correct the clipping sigmas for the scaling (IRAF's sigscale test).
    pub doscale1: bool,
    pub scales: Vec<f32>,
    pub zeros: Vec<f32>,
    /// Weights normalised to a sum of one; used only when `dowts`.
    pub wts: Vec<f32>,
    pub dowts: bool,
    /// Noise model per image: `(max((rdnoise/gain)^2, tiny), gain, snoise)`.
    pub noise: Vec<[f32; 3]>,
    /// `combine=nmodel`'s model per image, on the scaled values: `(max((rdnoise/g)^2, tiny),
    /// g, snoise)` with `g = gain * scale` (empty unless combine is nmodel).
    pub nmodel: Vec<[f32; 3]>,
    /// Closed interval of accepted raw values, if thresholds are set.
    pub thresholds: Option<(f32, f32)>,
    pub blank: f32,
    pub grow: f32,
    /// Integer calculation type: scaled values are truncated toward zero.
    pub truncate: bool,
    /// Reproduce IRAF's defects (stale median, unsorted data after low rejection with median,
    /// unsorted median after grow, clobbered avsigclip sigma) instead of the correct values.
    pub defects: bool,
}

impl Params {
    /// Unweighted average after sigclip about the median (nkeep 1, 3 sigma), no scaling,
    /// thresholds or grow, and a unit noise model: a base for tests to adjust.
    #[cfg(test)]
    #[must_use]
    pub fn test_default(n: usize) -> Params {
        Params {
            combine: Combine::Average,
            reject: Reject::SigClip,
            mclip: true,
            nkeep: 1,
            lsigma: 3.0,
            hsigma: 3.0,
            pclip: 0.0,
            flow: 0.0,
            fhigh: 0.0,
            doscale: false,
            doscale1: false,
            scales: vec![1.0; n],
            zeros: vec![0.0; n],
            wts: vec![1.0; n],
            dowts: false,
            noise: vec![[0.0, 1.0, 0.0]; n],
            nmodel: Vec::new(),
            thresholds: None,
            blank: 0.0,
            grow: 0.0,
            truncate: false,
            defects: false,
        }
    }

    /// The largest number of pixels the rejection must keep, for `n` usable pixels.
    #[must_use]
    pub fn maxkeep(&self, n: usize) -> usize {
        if self.nkeep < 0 {
            (n as i64 + self.nkeep).max(0) as usize
        } else {
            (self.nkeep as usize).min(n)
        }
    }

    /// Checks the lengths of the per-image vectors.
    ///
    /// # Errors
    /// If a vector's length differs from `nimages` or a value is unusable.
    pub fn check(&self, nimages: usize) -> Result<(), CoreError> {
        for (name, len) in [
            ("scales", self.scales.len()),
            ("zeros", self.zeros.len()),
            ("weights", self.wts.len()),
            ("noise", self.noise.len()),
        ] {
            if len != nimages {
                return Err(CoreError::Value {
                    name,
                    message: format!("expected {nimages} values, got {len}"),
                });
            }
        }
        if self.combine == Combine::NModel && self.nmodel.len() != nimages {
            return Err(CoreError::Value {
                name: "nmodel",
                message: format!("expected {nimages} noise models, got {}", self.nmodel.len()),
            });
        }
        if nimages > u16::MAX as usize {
            return Err(CoreError::Value {
                name: "stack",
                message: format!("at most {} images, got {nimages}", u16::MAX),
            });
        }
        if self.scales.iter().any(|s| !s.is_finite() || *s == 0.0) {
            return Err(CoreError::Value {
                name: "scales",
                message: "scales must be finite and nonzero".to_string(),
            });
        }
        Ok(())
    }
}
