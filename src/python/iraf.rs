//! Binding of the IRAF IMCOMBINE pipeline (`imcombiners.iraf`).

// PyO3 hands extracted arguments over by value; the read borrows must live for the whole call.
#![allow(clippy::needless_pass_by_value)]

use numpy::{Element, PyReadonlyArrayDyn};
use pyo3::prelude::*;

use super::arrays::{to_numpy, view_of, with_view, StackArg};
use super::run::detached;
use crate::iraf::{self, Combine, Params, Px, Reject, Want};
use crate::sample::Sample;
use crate::stack::{Source, StackView};

type Products<'py> = (
    Bound<'py, PyAny>,
    Option<Bound<'py, PyAny>>,
    Bound<'py, PyAny>,
    Option<Bound<'py, PyAny>>,
);

fn run_typed<'py, T: Sample, F: Px + Element>(
    py: Python<'py>,
    view: StackView<'_, T>,
    mask: Option<StackView<'_, u8>>,
    p: &Params,
    want: Want,
    threads: usize,
) -> PyResult<Products<'py>> {
    let spatial = view.spatial().to_vec();
    let nimages = view.n();
    let src = Source::new(view, mask)?;
    let out = detached(py, threads, nimages * src.npix(), || {
        iraf::run::<T, F>(&src, p, want)
    })??;
    let mut rej_shape = spatial.clone();
    rej_shape.push(nimages);
    Ok((
        to_numpy(py, out.image, &spatial)?,
        out.sigma.map(|s| to_numpy(py, s, &spatial)).transpose()?,
        to_numpy(py, out.ncombine, &spatial)?,
        out.rejmask
            .map(|r| to_numpy(py, r, &rej_shape))
            .transpose()?,
    ))
}

/// Runs IMCOMBINE's pipeline with parameters `imcombiners.iraf.imcombine` resolved.
///
/// Returns `(image, sigma or None, ncombine (uint16), rejmask (*spatial, N) uint8 or None)`; the
/// image and sigma are float32 (`double=False`, IRAF's real) or float64.
#[pyfunction]
#[allow(clippy::fn_params_excessive_bools)] // IMCOMBINE's yes/no parameters
#[allow(clippy::too_many_arguments, clippy::too_many_lines)] // IMCOMBINE's parameters, one each
#[pyo3(signature = (
    stack, *, mask=None, swapped=false, double=false, combine, reject, mclip, nkeep, lsigma,
    hsigma, pclip, flow, fhigh, doscale, doscale1, scales, zeros, weights, dowts, noise,
    nmodel=Vec::new(), thresholds=None, blank=0.0, grow=0.0, truncate=false, defects=false, sigma=false,
    rejmask=false, threads=1
))]
pub fn iraf_combine<'py>(
    py: Python<'py>,
    stack: StackArg<'py>,
    mask: Option<PyReadonlyArrayDyn<'py, u8>>,
    swapped: bool,
    double: bool,
    combine: &str,
    reject: &str,
    mclip: bool,
    nkeep: i64,
    lsigma: f32,
    hsigma: f32,
    pclip: f32,
    flow: f32,
    fhigh: f32,
    doscale: bool,
    doscale1: bool,
    scales: Vec<f32>,
    zeros: Vec<f32>,
    weights: Vec<f32>,
    dowts: bool,
    noise: Vec<[f32; 3]>,
    nmodel: Vec<[f32; 3]>,
    thresholds: Option<(f32, f32)>,
    blank: f32,
    grow: f32,
    truncate: bool,
    defects: bool,
    sigma: bool,
    rejmask: bool,
    threads: usize,
) -> PyResult<Products<'py>> {
    let p = Params {
        combine: Combine::parse(combine)?,
        reject: Reject::parse(reject)?,
        mclip,
        nkeep,
        lsigma,
        hsigma,
        pclip,
        flow,
        fhigh,
        doscale,
        doscale1,
        scales,
        zeros,
        wts: weights,
        dowts,
        noise,
        nmodel,
        thresholds,
        blank,
        grow,
        truncate,
        defects,
    };
    let want = Want { sigma, rejmask };
    let mask_view = mask.as_ref().map(|m| view_of(m, false)).transpose()?;
    with_view!(stack, swapped, |view| {
        if double {
            run_typed::<_, f64>(py, view, mask_view, &p, want, threads)
        } else {
            run_typed::<_, f32>(py, view, mask_view, &p, want, threads)
        }
    })
}
