//! Bindings of rejection (with the fused combine) and of grow.

// PyO3 hands extracted arguments over by value; the read borrows must live for the whole call.
#![allow(clippy::needless_pass_by_value)]

use numpy::{Element, PyReadonlyArray1, PyReadonlyArrayDyn};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyDictMethods};

use super::arrays::{to_numpy, view_of, with_view, StackArg};
use super::run::detached;
use super::uncertainty::{how_of, VarArg};
use crate::grow;
use crate::pipeline::{self, Combine, Plan};
use crate::reduce::Method;
use crate::reject::{
    CcdClip, Centre, Count, Limits, LinearClip, MinMaxClip, PClip, Rejector, SigClip, Spread,
};
// Modern rules (issue 18).
use crate::reject::{AutoReject, Gesd, LinearFitClip};
use crate::reject::{BiweightClip, PercentileClip, WinsorizedSigClip};
use crate::sample::Sample;
use crate::stack::{PlaneRows, Source, StackView};
use crate::uncertainty::Ride;

// Each rule crosses from Python as the frozen dataclass itself (`imcombiners.rejectors`): the
// structs below read its attributes by name (`#[derive(FromPyObject)]`), so a field missing or of
// the wrong type is a `TypeError` naming it. `kind` (a class attribute) picks the struct.

/// `cenfunc` of the iterative rules, as the dataclasses store it (a canonical name).
pub(super) fn centre_of(obj: &Bound<'_, PyAny>) -> PyResult<Centre> {
    let name: String = obj.extract()?;
    match name.as_str() {
        "mean" => Ok(Centre::Mean),
        "median" => Ok(Centre::Median),
        "lmedian" => Ok(Centre::LMedian),
        other => Err(PyValueError::new_err(format!("unknown cenfunc {other:?}"))),
    }
}

/// `clip_cen` of the iterative rules: None, or a centre like `cenfunc`.
fn optional_centre_of(obj: &Bound<'_, PyAny>) -> PyResult<Option<Centre>> {
    if obj.is_none() {
        Ok(None)
    } else {
        centre_of(obj).map(Some)
    }
}

/// A count of `MinMaxClip`: a fraction of the stack below 1, else a number of frames.
fn count_of(obj: &Bound<'_, PyAny>) -> PyResult<Count> {
    let v: f64 = obj.extract()?;
    Ok(if v > 0.0 && v < 1.0 {
        Count::Fraction(v)
    } else {
        // The dataclass checked `0 <= v <= 2**53` and that counts >= 1 are whole.
        Count::Frames(v as usize)
    })
}

/// The limits shared by the iterative rules (`SigClip`, `CcdClip`, `LinearClip`).
#[derive(FromPyObject)]
struct LimitsArgs {
    maxiters: u32,
    nkeep: usize,
    maxrej: Option<usize>,
    revert_on_nkeep: bool,
    #[pyo3(attribute("cenfunc"), from_py_with = centre_of)]
    centre: Centre,
    #[pyo3(attribute("clip_cen"), from_py_with = optional_centre_of)]
    clip_cen: Option<Centre>,
}

impl LimitsArgs {
    fn limits(&self) -> Limits {
        Limits {
            maxiters: self.maxiters,
            nkeep: self.nkeep,
            maxrej: self.maxrej,
            revert_on_nkeep: self.revert_on_nkeep,
        }
    }
}

/// `imcombiners.SigClip`.
#[derive(FromPyObject)]
struct SigClipArgs {
    sigma: (f64, f64),
    ddof: f64,
    stdfunc: String,
}

/// `imcombiners.CcdClip`, with the noise terms already following the combine's correction.
#[derive(FromPyObject)]
struct CcdClipArgs {
    sigma: (f64, f64),
    gain: f64,
    rdnoise: f64,
    snoise: f64,
    zero_ref: Option<f64>,
    scale_ref: Option<f64>,
}

/// `imcombiners.LinearClip`.
#[derive(FromPyObject)]
struct LinearClipArgs {
    low_scale: f64,
    low: f64,
    upp_scale: f64,
    upp: f64,
}

/// `imcombiners.MinMaxClip`.
#[derive(FromPyObject)]
struct MinMaxArgs {
    #[pyo3(from_py_with = count_of)]
    n_min: Count,
    #[pyo3(from_py_with = count_of)]
    n_max: Count,
    keep_ties: bool,
}

/// `imcombiners.PClip`.
#[derive(FromPyObject)]
struct PClipArgs {
    frac: f64,
    sigma: (f64, f64),
    nkeep: usize,
}

// ---- Modern rules (issue 18): winsorized sigma, biweight and percentile clipping.

/// The limits of the modern rules (no `cenfunc`/`clip_cen`: each defines its own centre).
#[derive(FromPyObject)]
struct RuleLimitsArgs {
    nkeep: usize,
    maxrej: Option<usize>,
    revert_on_nkeep: bool,
}

impl RuleLimitsArgs {
    fn limits(&self, maxiters: u32) -> Limits {
        Limits {
            maxiters,
            nkeep: self.nkeep,
            maxrej: self.maxrej,
            revert_on_nkeep: self.revert_on_nkeep,
        }
    }
}

/// `imcombiners.WinsorizedSigClip`.
#[derive(FromPyObject)]
struct WinsorizedArgs {
    sigma: (f64, f64),
    cutoff: f64,
    maxiters: u32,
}

/// `imcombiners.BiweightClip`.
#[derive(FromPyObject)]
struct BiweightArgs {
    sigma: (f64, f64),
    c: f64,
    c_scale: f64,
    maxiters: u32,
}

/// `imcombiners.PercentileClip`.
#[derive(FromPyObject)]
struct PercentileArgs {
    low: f64,
    high: f64,
}

/// The core rule of a modern rule's dataclass, or None for another `kind`.
fn parse_modern_rule(kind: &str, obj: &Bound<'_, PyAny>) -> PyResult<Option<Rejector>> {
    Ok(Some(match kind {
        "winsorized" => {
            let a: WinsorizedArgs = obj.extract()?;
            let l: RuleLimitsArgs = obj.extract()?;
            Rejector::Winsorized(WinsorizedSigClip {
                sigma_lower: a.sigma.0,
                sigma_upper: a.sigma.1,
                cutoff: a.cutoff,
                limits: l.limits(a.maxiters),
            })
        }
        "biweight" => {
            let a: BiweightArgs = obj.extract()?;
            let l: RuleLimitsArgs = obj.extract()?;
            Rejector::Biweight(BiweightClip {
                sigma_lower: a.sigma.0,
                sigma_upper: a.sigma.1,
                c: a.c,
                c_scale: a.c_scale,
                limits: l.limits(a.maxiters),
            })
        }
        "percentile" => {
            let a: PercentileArgs = obj.extract()?;
            let l: RuleLimitsArgs = obj.extract()?;
            Rejector::Percentile(PercentileClip {
                low: a.low,
                high: a.high,
                limits: l.limits(1),
            })
        }
        _ => return Ok(None),
    }))
}

// ---- end of the modern rules.

/// `imcombiners.GESD`.
#[derive(FromPyObject)]
struct GesdArgs {
    outlier_fraction: f64,
    alpha: f64,
    low_relaxation: f64,
    nkeep: usize,
    maxrej: Option<usize>,
}

/// `imcombiners.LinearFitClip` (its limits without a centre).
#[derive(FromPyObject)]
struct LinearFitClipArgs {
    sigma: (f64, f64),
    maxiters: u32,
    nkeep: usize,
    maxrej: Option<usize>,
    revert_on_nkeep: bool,
}

/// `imcombiners.AutoReject`: its four rules (dataclasses themselves) and the depths.
#[derive(FromPyObject)]
struct AutoArgs<'py> {
    percentile: Bound<'py, PyAny>,
    winsorized: Bound<'py, PyAny>,
    linearfit: Bound<'py, PyAny>,
    gesd: Bound<'py, PyAny>,
    winsorized_from: usize,
    linearfit_from: usize,
    gesd_from: usize,
}

/// The rule of `AutoReject` that must be of one kind.
fn auto_rule(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Rejector> {
    let rule = parse_rejector(obj)?;
    let fits = matches!(
        (name, &rule),
        ("percentile", Rejector::Percentile(_))
            | ("winsorized", Rejector::Winsorized(_))
            | ("linearfit", Rejector::LinearFitClip(_))
            | ("gesd", Rejector::Gesd(_))
    );
    if fits {
        Ok(rule)
    } else {
        Err(PyTypeError::new_err(format!(
            "AutoReject.{name} must be a rule of that kind"
        )))
    }
}

fn parse_auto(obj: &Bound<'_, PyAny>) -> PyResult<Rejector> {
    let a: AutoArgs<'_> = obj.extract()?;
    let rules = (
        auto_rule(&a.percentile, "percentile")?,
        auto_rule(&a.winsorized, "winsorized")?,
        auto_rule(&a.linearfit, "linearfit")?,
        auto_rule(&a.gesd, "gesd")?,
    );
    let (
        Rejector::Percentile(percentile),
        Rejector::Winsorized(winsorized),
        Rejector::LinearFitClip(linearfit),
        Rejector::Gesd(gesd),
    ) = rules
    else {
        return Err(PyTypeError::new_err(
            "AutoReject holds rules of the wrong kinds",
        ));
    };
    Ok(Rejector::Auto(AutoReject {
        percentile,
        winsorized,
        linearfit,
        gesd,
        winsorized_from: a.winsorized_from,
        linearfit_from: a.linearfit_from,
        gesd_from: a.gesd_from,
    }))
}

/// The core rule of one `imcombiners.Rejector` dataclass (dispatch on its `kind`).
fn parse_rejector(obj: &Bound<'_, PyAny>) -> PyResult<Rejector> {
    let kind: String = obj
        .getattr("kind")
        .and_then(|k| k.extract())
        .map_err(|_| PyTypeError::new_err("a rejector must be an imcombiners Rejector"))?;
    Ok(match kind.as_str() {
        "sigclip" => {
            let a: SigClipArgs = obj.extract()?;
            let l: LimitsArgs = obj.extract()?;
            let spread = match a.stdfunc.as_str() {
                "std" => Spread::Std { ddof: a.ddof },
                "mad" => Spread::Mad,
                other => return Err(PyValueError::new_err(format!("unknown stdfunc {other:?}"))),
            };
            Rejector::SigClip(SigClip {
                sigma_lower: a.sigma.0,
                sigma_upper: a.sigma.1,
                centre: l.centre,
                spread_centre: l.clip_cen,
                spread,
                limits: l.limits(),
            })
        }
        "ccdclip" => {
            let a: CcdClipArgs = obj.extract()?;
            let l: LimitsArgs = obj.extract()?;
            Rejector::CcdClip(CcdClip {
                sigma_lower: a.sigma.0,
                sigma_upper: a.sigma.1,
                gain: a.gain,
                rdnoise: a.rdnoise,
                snoise: a.snoise,
                zero_ref: a.zero_ref.unwrap_or(0.0),
                scale_ref: a.scale_ref.unwrap_or(1.0),
                centre: l.centre,
                spread_centre: l.clip_cen,
                limits: l.limits(),
            })
        }
        "linearclip" => {
            let a: LinearClipArgs = obj.extract()?;
            let l: LimitsArgs = obj.extract()?;
            Rejector::LinearClip(LinearClip {
                low_scale: a.low_scale,
                low: a.low,
                upp_scale: a.upp_scale,
                upp: a.upp,
                // No spread: the one centre is clip_cen when given.
                centre: l.clip_cen.unwrap_or(l.centre),
                limits: l.limits(),
            })
        }
        "minmax" => {
            let a: MinMaxArgs = obj.extract()?;
            Rejector::MinMax(MinMaxClip {
                n_min: a.n_min,
                n_max: a.n_max,
                keep_ties: a.keep_ties,
            })
        }
        "pclip" => {
            let a: PClipArgs = obj.extract()?;
            Rejector::PClip(PClip {
                frac: a.frac,
                sigma_lower: a.sigma.0,
                sigma_upper: a.sigma.1,
                nkeep: a.nkeep,
            })
        }
        "auto" => parse_auto(obj)?,
        "gesd" => {
            let a: GesdArgs = obj.extract()?;
            Rejector::Gesd(Gesd {
                outlier_fraction: a.outlier_fraction,
                alpha: a.alpha,
                low_relaxation: a.low_relaxation,
                nkeep: a.nkeep,
                maxrej: a.maxrej,
            })
        }
        "linearfit" => {
            let a: LinearFitClipArgs = obj.extract()?;
            Rejector::LinearFitClip(LinearFitClip {
                sigma_lower: a.sigma.0,
                sigma_upper: a.sigma.1,
                limits: Limits {
                    maxiters: a.maxiters,
                    nkeep: a.nkeep,
                    maxrej: a.maxrej,
                    revert_on_nkeep: a.revert_on_nkeep,
                },
            })
        }
        other => {
            // Modern rules (issue 18).
            if let Some(rule) = parse_modern_rule(other, obj)? {
                return Ok(rule);
            }
            return Err(PyValueError::new_err(format!(
                "the core has no rejection rule {other:?}"
            )));
        }
    })
}

fn run_reject<'py, T>(
    py: Python<'py>,
    view: StackView<'_, T>,
    mask: Option<StackView<'_, u8>>,
    plan: &Plan<'_>,
    threads: usize,
) -> PyResult<Bound<'py, PyDict>>
where
    T: Sample + Element,
    T::Work: Sample<Work = T::Work> + Element,
{
    let shape = view.shape();
    let spatial = view.spatial().to_vec();
    let src = Source::new(view, mask)?;
    let samples = src.n() * src.npix();
    let products = detached(py, threads, samples, || {
        pipeline::run::<T, T::Work>(&src, plan)
    })??;
    let out = PyDict::new(py);
    if let Some(c) = products.combined {
        out.set_item("combined", to_numpy(py, c, &spatial)?)?;
    }
    if let Some(d) = products.diagnostics {
        if let Some(std) = d.std {
            out.set_item("std", to_numpy(py, std, &spatial)?)?;
        }
        out.set_item("low", to_numpy(py, d.low, &spatial)?)?;
        out.set_item("upp", to_numpy(py, d.upp, &spatial)?)?;
        out.set_item("nit", to_numpy(py, d.nit, &spatial)?)?;
        out.set_item("flags", to_numpy(py, d.flags, &spatial)?)?;
    }
    if let Some(m) = products.mask {
        out.set_item("mask", to_numpy(py, m, &shape)?)?;
    }
    if let Some(v) = products.variance {
        out.set_item("variance", to_numpy(py, v, &spatial)?)?;
    }
    if let Some(v) = products.value {
        out.set_item("value", to_numpy(py, v, &spatial)?)?;
    }
    if let Some(c) = products.frame_counts {
        let (valid, rejected): (Vec<u64>, Vec<u64>) = c.into_iter().unzip();
        out.set_item("frame_valid", to_numpy(py, valid, &[shape[0]])?)?;
        out.set_item("frame_rejected", to_numpy(py, rejected, &[shape[0]])?)?;
    }
    Ok(out)
}

/// Rejects with a chain of rejectors and optionally combines the survivors in the same pass.
///
/// Returns a dict with `combined`, and with `diagnostics` the keys `std` (rules with a spread
/// only), `low`, `upp`, `nit`, `flags`, and with `return_mask` the uint8 `mask` of rejected
/// samples; with `frame_counts` the uint64 `frame_valid` and `frame_rejected` sample counts of
/// each frame; with a `variance` plane and `propagate` (a combine method, or `"ivar"`) the
/// propagated `variance` of the survivors' combine (and, for `"ivar"`, the weighted mean
/// `value`).
#[pyfunction]
#[allow(clippy::fn_params_excessive_bools)] // independent yes/no products, as Python passes them
#[pyo3(signature = (stack, rejectors, *, combine=None, mask=None, weights=None, thresholds=None,
    zero=None, scale=None, ddof=0.0, diagnostics=false, return_mask=false, frame_counts=false,
    variance=None, propagate=None, swapped=false, threads=1))]
pub fn reject<'py>(
    py: Python<'py>,
    stack: StackArg<'py>,
    rejectors: Vec<Bound<'py, PyAny>>,
    combine: Option<&str>,
    mask: Option<PyReadonlyArrayDyn<'py, u8>>,
    weights: Option<PyReadonlyArray1<'py, f64>>,
    thresholds: Option<(f64, f64)>,
    zero: Option<PyReadonlyArray1<'py, f64>>,
    scale: Option<PyReadonlyArray1<'py, f64>>,
    ddof: f64,
    diagnostics: bool,
    return_mask: bool,
    frame_counts: bool,
    variance: Option<VarArg<'py>>,
    propagate: Option<&str>,
    swapped: bool,
    threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let rejectors = rejectors
        .iter()
        .map(parse_rejector)
        .collect::<PyResult<Vec<_>>>()?;
    let combine = combine
        .map(|name| match name {
            "variance" => Ok(Combine::Variance { ddof }),
            _ => Method::from_name(name)
                .map(Combine::Method)
                .ok_or_else(|| PyValueError::new_err(format!("unknown combine method {name:?}"))),
        })
        .transpose()?;
    let zero: Option<Vec<f64>> = zero.map(|z| z.as_array().to_vec());
    let scale: Option<Vec<f64>> = scale.map(|s| s.as_array().to_vec());
    let correction = match (&zero, &scale) {
        (None, None) => None,
        (z, s) => {
            let n = z.as_ref().or(s.as_ref()).map_or(0, Vec::len);
            Some((
                z.clone().unwrap_or_else(|| vec![0.0; n]),
                s.clone().unwrap_or_else(|| vec![1.0; n]),
            ))
        }
    };
    let weights: Option<Vec<f64>> = weights.map(|w| w.as_array().to_vec());
    // The variance plane, read through `PlaneRows` whatever its float type.
    let (plane_f32, plane_f64);
    let plane: Option<&dyn PlaneRows> = match &variance {
        Some(VarArg::F32(v)) => {
            plane_f32 = Source::new(view_of(v, false)?, None)?;
            Some(&plane_f32)
        }
        Some(VarArg::F64(v)) => {
            plane_f64 = Source::new(view_of(v, false)?, None)?;
            Some(&plane_f64)
        }
        None => None,
    };
    let ride = match (plane, propagate) {
        (Some(plane), Some(method)) => Some(Ride {
            plane,
            how: how_of(method, weights.as_deref(), ddof)?,
        }),
        (None, None) => None,
        _ => {
            return Err(PyValueError::new_err(
                "variance and propagate go together (the plane and the combine to propagate)",
            ))
        }
    };
    let plan = Plan {
        rejectors: &rejectors,
        thresholds,
        correction: correction
            .as_ref()
            .map(|(z, s)| (z.as_slice(), s.as_slice())),
        combine,
        weights: weights.as_deref(),
        diagnostics,
        mask: return_mask,
        frame_counts,
        variance: ride,
    };
    let mask_view = mask.as_ref().map(|m| view_of(m, false)).transpose()?;
    with_view!(stack, swapped, |view| run_reject(
        py, view, mask_view, &plan, threads
    ))
}

/// Grows a uint8 mask `(N, *spatial)` by an exact Euclidean `radius` within each frame.
#[pyfunction]
#[pyo3(signature = (mask, radius, *, threads=1))]
pub fn grow_mask<'py>(
    py: Python<'py>,
    mask: PyReadonlyArrayDyn<'py, u8>,
    radius: f64,
    threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let view = mask.as_array();
    let shape = view.shape().to_vec();
    if shape.len() < 2 {
        return Err(PyValueError::new_err(format!(
            "mask must have at least 2 dimensions (N, *spatial), got {} ",
            shape.len()
        )));
    }
    // Python passes a C-contiguous mask; a strided one is copied in logical order first
    // (per-element iteration of a dynamic-rank view is far slower than the grow itself).
    let owned: Vec<u8>;
    let data: &[u8] = if let Some(s) = view.as_slice() {
        s
    } else {
        owned = view.iter().copied().collect();
        &owned
    };
    let grown = detached(py, threads, data.len(), || {
        grow::grow(data, shape[0], &shape[1..], radius)
    })??;
    to_numpy(py, grown, &shape)
}
