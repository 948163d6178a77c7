//! Bindings of rejection (with the fused combine) and of grow.

// PyO3 hands extracted arguments over by value; the read borrows must live for the whole call.
#![allow(clippy::needless_pass_by_value)]

use numpy::{Element, PyReadonlyArray1, PyReadonlyArrayDyn};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyDictMethods};

use super::arrays::{to_numpy, view_of, with_view, StackArg};
use super::run::detached;
use crate::grow;
use crate::pipeline::{self, Combine, Plan};
use crate::reduce::Method;
use crate::reject::{
    CcdClip, Centre, Count, Limits, LinearClip, MinMaxClip, PClip, Rejector, SigClip, Spread,
};
use crate::sample::Sample;
use crate::stack::{Source, StackView};

fn item<'py, T>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<T>
where
    T: pyo3::conversion::FromPyObjectOwned<'py>,
{
    let value = d
        .get_item(key)?
        .ok_or_else(|| PyValueError::new_err(format!("rejector parameter {key:?} is missing")))?;
    value.extract::<T>().map_err(Into::into)
}

fn centre(d: &Bound<'_, PyDict>) -> PyResult<Centre> {
    let name: String = item(d, "cenfunc")?;
    match name.as_str() {
        "mean" => Ok(Centre::Mean),
        "median" => Ok(Centre::Median),
        "lmedian" => Ok(Centre::LMedian),
        other => Err(PyValueError::new_err(format!("unknown cenfunc {other:?}"))),
    }
}

fn limits(d: &Bound<'_, PyDict>) -> PyResult<Limits> {
    Ok(Limits {
        maxiters: item(d, "maxiters")?,
        nkeep: item(d, "nkeep")?,
        maxrej: item(d, "maxrej")?,
        revert_on_nkeep: item(d, "revert_on_nkeep")?,
    })
}

fn count(d: &Bound<'_, PyDict>, key: &str) -> PyResult<Count> {
    let v: f64 = item(d, key)?;
    Ok(if v > 0.0 && v < 1.0 {
        Count::Fraction(v)
    } else {
        Count::Frames(v as usize)
    })
}

/// A rejector from the dict `imcombiners.rejectors` builds (`kind` plus its parameters).
fn parse_rejector(obj: &Bound<'_, PyAny>) -> PyResult<Rejector> {
    let d = obj
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err("a rejector spec must be a dict"))?;
    let kind: String = item(d, "kind")?;
    Ok(match kind.as_str() {
        "sigclip" => {
            let stdfunc: String = item(d, "stdfunc")?;
            let spread = match stdfunc.as_str() {
                "std" => Spread::Std {
                    ddof: item(d, "ddof")?,
                },
                "mad" => Spread::Mad,
                other => return Err(PyValueError::new_err(format!("unknown stdfunc {other:?}"))),
            };
            Rejector::SigClip(SigClip {
                sigma_lower: item(d, "sigma_lower")?,
                sigma_upper: item(d, "sigma_upper")?,
                centre: centre(d)?,
                spread,
                limits: limits(d)?,
            })
        }
        "ccdclip" => Rejector::CcdClip(CcdClip {
            sigma_lower: item(d, "sigma_lower")?,
            sigma_upper: item(d, "sigma_upper")?,
            gain: item(d, "gain")?,
            rdnoise: item(d, "rdnoise")?,
            snoise: item(d, "snoise")?,
            zero_ref: item(d, "zero_ref")?,
            scale_ref: item(d, "scale_ref")?,
            centre: centre(d)?,
            limits: limits(d)?,
        }),
        "linearclip" => Rejector::LinearClip(LinearClip {
            low_scale: item(d, "low_scale")?,
            low: item(d, "low")?,
            upp_scale: item(d, "upp_scale")?,
            upp: item(d, "upp")?,
            centre: centre(d)?,
            limits: limits(d)?,
        }),
        "minmax" => Rejector::MinMax(MinMaxClip {
            n_min: count(d, "n_min")?,
            n_max: count(d, "n_max")?,
            keep_ties: item(d, "keep_ties")?,
        }),
        "pclip" => Rejector::PClip(PClip {
            frac: item(d, "frac")?,
            sigma_lower: item(d, "sigma_lower")?,
            sigma_upper: item(d, "sigma_upper")?,
            nkeep: item(d, "nkeep")?,
        }),
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown rejector kind {other:?}"
            )))
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
/// each frame.
#[pyfunction]
#[allow(clippy::fn_params_excessive_bools)] // independent yes/no products, as Python passes them
#[pyo3(signature = (stack, rejectors, *, combine=None, mask=None, weights=None, thresholds=None,
    zero=None, scale=None, ddof=0.0, diagnostics=false, return_mask=false, frame_counts=false,
    swapped=false, threads=1))]
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
    let data: Vec<u8> = view.iter().copied().collect();
    let grown = detached(py, threads, data.len(), || {
        grow::grow(&data, shape[0], &shape[1..], radius)
    })??;
    to_numpy(py, grown, &shape)
}
