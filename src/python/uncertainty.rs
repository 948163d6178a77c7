//! Bindings of the variance-plane kernels: propagation and variance clipping.

// PyO3 hands extracted arguments over by value; the read borrows must live for the whole call.
#![allow(clippy::needless_pass_by_value)]

use numpy::{Element, PyReadonlyArray1, PyReadonlyArrayDyn};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyDictMethods};

use super::arrays::{to_numpy, view_of, with_view, StackArg};
use super::reject::centre_of;
use super::run::detached;
use crate::reject::{Centre, Limits};
use crate::sample::Sample;
use crate::stack::{Source, StackView};
use crate::uncertainty::{self, Correction, Propagation, VarClip};

/// The variance planes the core reads (Python converts anything else to float64).
#[derive(FromPyObject)]
pub enum VarArg<'py> {
    F32(PyReadonlyArrayDyn<'py, f32>),
    F64(PyReadonlyArrayDyn<'py, f64>),
}

/// `imcombiners.VarClip`, read from the dataclass.
#[derive(FromPyObject)]
struct VarClipArgs {
    sigma: (f64, f64),
    maxiters: u32,
    nkeep: usize,
    maxrej: Option<usize>,
    revert_on_nkeep: bool,
    #[pyo3(attribute("cenfunc"), from_py_with = centre_of)]
    centre: Centre,
}

/// The per-frame vectors of one call.
struct Frames {
    zero: Option<Vec<f64>>,
    scale: Option<Vec<f64>>,
}

impl Frames {
    fn new(
        zero: Option<PyReadonlyArray1<'_, f64>>,
        scale: Option<PyReadonlyArray1<'_, f64>>,
    ) -> Self {
        Frames {
            zero: zero.map(|z| z.as_array().to_vec()),
            scale: scale.map(|s| s.as_array().to_vec()),
        }
    }

    fn correction(&self) -> Correction<'_> {
        Correction {
            zero: self.zero.as_deref(),
            scale: self.scale.as_deref(),
        }
    }
}

fn how_of<'a>(method: &str, weights: Option<&'a [f64]>, ddof: f64) -> PyResult<Propagation<'a>> {
    Ok(match method {
        "mean" => Propagation::Mean,
        "sum" => Propagation::Sum,
        "weighted_average" => Propagation::Weighted(weights.ok_or_else(|| {
            PyValueError::new_err("weights: the weighted average needs one weight per frame")
        })?),
        "ivar" => Propagation::InverseVariance,
        "median" => Propagation::Median,
        "lmedian" => Propagation::LMedian,
        "min" => Propagation::Min,
        "max" => Propagation::Max,
        "variance" => Propagation::Variance { ddof },
        other => {
            return Err(PyValueError::new_err(format!(
                "no propagated variance for method {other:?}"
            )))
        }
    })
}

#[allow(clippy::too_many_arguments)] // the pyfunction's arguments, converted, for one dtype
fn run_propagate<'py, T, U>(
    py: Python<'py>,
    data: StackView<'_, T>,
    var: StackView<'_, U>,
    mask: Option<StackView<'_, u8>>,
    frames: &Frames,
    how: Propagation<'_>,
    threads: usize,
    spatial: &[usize],
) -> PyResult<Bound<'py, PyAny>>
where
    T: Sample + Element,
    T::Work: Element,
    U: Sample + Element,
{
    let src = Source::new(data, mask)?;
    let vsrc = Source::new(var, None)?;
    let samples = src.n() * src.npix();
    let corr = frames.correction();
    let got = detached(py, threads, samples, || {
        uncertainty::propagate(&src, &vsrc, &corr, how)
    })??;
    let variance = to_numpy(py, got.variance, spatial)?;
    match got.value {
        Some(value) => Ok((variance, to_numpy(py, value, spatial)?)
            .into_pyobject(py)?
            .into_any()),
        None => Ok(variance),
    }
}

/// The variance of the combine `method` of the samples `mask` leaves, from the variance plane
/// `variance` (the stack's shape). For ``method="ivar"`` returns ``(variance, value)``.
#[pyfunction]
#[allow(clippy::too_many_arguments)] // one argument per keyword of the Python signature
#[pyo3(signature = (stack, variance, method, *, mask=None, weights=None, ddof=0.0, zero=None, scale=None, swapped=false, threads=1))]
pub fn propagate_variance<'py>(
    py: Python<'py>,
    stack: StackArg<'py>,
    variance: VarArg<'py>,
    method: &str,
    mask: Option<PyReadonlyArrayDyn<'py, u8>>,
    weights: Option<PyReadonlyArray1<'py, f64>>,
    ddof: f64,
    zero: Option<PyReadonlyArray1<'py, f64>>,
    scale: Option<PyReadonlyArray1<'py, f64>>,
    swapped: bool,
    threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let weights: Option<Vec<f64>> = weights.map(|w| w.as_array().to_vec());
    let how = how_of(method, weights.as_deref(), ddof)?;
    let frames = Frames::new(zero, scale);
    let mask_view = mask.as_ref().map(|m| view_of(m, false)).transpose()?;
    let spatial = stack.spatial();
    match &variance {
        VarArg::F32(v) => {
            let var = view_of(v, false)?;
            with_view!(stack, swapped, |view| run_propagate(
                py, view, var, mask_view, &frames, how, threads, &spatial
            ))
        }
        VarArg::F64(v) => {
            let var = view_of(v, false)?;
            with_view!(stack, swapped, |view| run_propagate(
                py, view, var, mask_view, &frames, how, threads, &spatial
            ))
        }
    }
}

#[allow(clippy::too_many_arguments)] // the pyfunction's arguments, converted, for one dtype
fn run_varclip<'py, T, U>(
    py: Python<'py>,
    data: StackView<'_, T>,
    var: StackView<'_, U>,
    mask: Option<StackView<'_, u8>>,
    frames: &Frames,
    rule: &VarClip,
    threads: usize,
    spatial: &[usize],
) -> PyResult<Bound<'py, PyAny>>
where
    T: Sample + Element,
    T::Work: Element,
    U: Sample + Element,
{
    let src = Source::new(data, mask)?;
    let vsrc = Source::new(var, None)?;
    let samples = src.n() * src.npix();
    let corr = frames.correction();
    let got = detached(py, threads, samples, || {
        uncertainty::varclip(&src, &vsrc, &corr, rule)
    })??;
    let mut shape = vec![src.n()];
    shape.extend_from_slice(spatial);
    let out = PyDict::new(py);
    out.set_item("mask", to_numpy(py, got.mask, &shape)?)?;
    out.set_item("nit", to_numpy(py, got.nit, spatial)?)?;
    out.set_item("flags", to_numpy(py, got.flags, spatial)?)?;
    out.set_item("low", to_numpy(py, got.low, spatial)?)?;
    out.set_item("upp", to_numpy(py, got.upp, spatial)?)?;
    Ok(out.into_any())
}

/// Variance clipping (`imcombiners.VarClip`) of the samples `mask` leaves. Returns a dict with
/// the rejected ``mask`` (uint8, the stack's shape) and per element ``nit``, ``flags``, ``low``
/// and ``upp`` (the extreme survivors).
#[pyfunction]
#[allow(clippy::too_many_arguments)] // one argument per keyword of the Python signature
#[pyo3(signature = (stack, variance, rule, *, mask=None, zero=None, scale=None, swapped=false, threads=1))]
pub fn varclip<'py>(
    py: Python<'py>,
    stack: StackArg<'py>,
    variance: VarArg<'py>,
    rule: &Bound<'py, PyAny>,
    mask: Option<PyReadonlyArrayDyn<'py, u8>>,
    zero: Option<PyReadonlyArray1<'py, f64>>,
    scale: Option<PyReadonlyArray1<'py, f64>>,
    swapped: bool,
    threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let a: VarClipArgs = rule.extract()?;
    let rule = VarClip {
        sigma_lower: a.sigma.0,
        sigma_upper: a.sigma.1,
        centre: a.centre,
        limits: Limits {
            maxiters: a.maxiters,
            nkeep: a.nkeep,
            maxrej: a.maxrej,
            revert_on_nkeep: a.revert_on_nkeep,
        },
    };
    let frames = Frames::new(zero, scale);
    let mask_view = mask.as_ref().map(|m| view_of(m, false)).transpose()?;
    let spatial = stack.spatial();
    match &variance {
        VarArg::F32(v) => {
            let var = view_of(v, false)?;
            with_view!(stack, swapped, |view| run_varclip(
                py, view, var, mask_view, &frames, &rule, threads, &spatial
            ))
        }
        VarArg::F64(v) => {
            let var = view_of(v, false)?;
            with_view!(stack, swapped, |view| run_varclip(
                py, view, var, mask_view, &frames, &rule, threads, &spatial
            ))
        }
    }
}
