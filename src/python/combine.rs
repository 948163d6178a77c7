//! Bindings of the combine methods.

// PyO3 hands extracted arguments over by value; the read borrows must live for the whole call.
#![allow(clippy::needless_pass_by_value)]

use numpy::{Element, PyReadonlyArray1, PyReadonlyArrayDyn};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::arrays::{to_numpy, view_of, with_view, StackArg};
use super::run::detached;
use crate::reduce::{self, Method};
use crate::sample::Sample;
use crate::stack::{Source, StackView};

#[allow(clippy::too_many_arguments)] // the pyfunction's arguments, converted, for one dtype
fn run_combine<'py, T>(
    py: Python<'py>,
    view: StackView<'_, T>,
    mask: Option<StackView<'_, u8>>,
    method: Method,
    weights: Option<&[f64]>,
    keep_dtype: bool,
    threads: usize,
    spatial: &[usize],
) -> PyResult<Bound<'py, PyAny>>
where
    T: Sample + Element,
    T::Work: Sample<Work = T::Work> + Element,
{
    let keep = keep_dtype && T::IS_INTEGER && mask.is_none() && method.selects_a_sample();
    let src = Source::new(view, mask)?;
    let samples = src.n() * src.npix();
    if keep {
        let out = detached(py, threads, samples, || {
            reduce::combine::<T, T>(&src, method, weights)
        })??;
        to_numpy(py, out, spatial)
    } else {
        let out = detached(py, threads, samples, || {
            reduce::combine::<T, T::Work>(&src, method, weights)
        })??;
        to_numpy(py, out, spatial)
    }
}

/// Combines `stack` along axis 0 with a canonical `method` name. Validation happens in Python;
/// the core re-checks what it relies on.
#[pyfunction]
#[allow(clippy::too_many_arguments)] // one argument per keyword of the Python signature
#[pyo3(signature = (stack, method, *, mask=None, weights=None, swapped=false, keep_dtype=false, threads=1))]
pub fn combine<'py>(
    py: Python<'py>,
    stack: StackArg<'py>,
    method: &str,
    mask: Option<PyReadonlyArrayDyn<'py, u8>>,
    weights: Option<PyReadonlyArray1<'py, f64>>,
    swapped: bool,
    keep_dtype: bool,
    threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let method = Method::from_name(method)
        .ok_or_else(|| PyValueError::new_err(format!("unknown combine method {method:?}")))?;
    let weights: Option<Vec<f64>> = weights.map(|w| w.as_array().to_vec());
    let mask_view = mask.as_ref().map(|m| view_of(m, false)).transpose()?;
    let spatial = stack.spatial();
    with_view!(stack, swapped, |view| run_combine(
        py,
        view,
        mask_view,
        method,
        weights.as_deref(),
        keep_dtype,
        threads,
        &spatial
    ))
}

fn run_variance<'py, T>(
    py: Python<'py>,
    view: StackView<'_, T>,
    mask: Option<StackView<'_, u8>>,
    ddof: f64,
    return_mean: bool,
    threads: usize,
    spatial: &[usize],
) -> PyResult<Bound<'py, PyAny>>
where
    T: Sample + Element,
    T::Work: Element,
{
    let src = Source::new(view, mask)?;
    let samples = src.n() * src.npix();
    let (var, mean) = detached(py, threads, samples, || {
        reduce::variance(&src, ddof, return_mean)
    })??;
    let var = to_numpy(py, var, spatial)?;
    match mean {
        Some(mean) => Ok((var, to_numpy(py, mean, spatial)?)
            .into_pyobject(py)?
            .into_any()),
        None => Ok(var),
    }
}

/// Variance along axis 0 (divisor `n - ddof`), optionally with the mean of the same samples.
#[pyfunction]
#[pyo3(signature = (stack, *, ddof=0.0, return_mean=false, mask=None, swapped=false, threads=1))]
pub fn variance<'py>(
    py: Python<'py>,
    stack: StackArg<'py>,
    ddof: f64,
    return_mean: bool,
    mask: Option<PyReadonlyArrayDyn<'py, u8>>,
    swapped: bool,
    threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let mask_view = mask.as_ref().map(|m| view_of(m, false)).transpose()?;
    let spatial = stack.spatial();
    with_view!(stack, swapped, |view| run_variance(
        py,
        view,
        mask_view,
        ddof,
        return_mean,
        threads,
        &spatial
    ))
}
