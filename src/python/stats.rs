//! Bindings of the per-frame statistics (zero, scale and weights).

// PyO3 hands extracted arguments over by value; the read borrows must live for the whole call.
#![allow(clippy::needless_pass_by_value)]

use numpy::{PyReadonlyArrayDyn, ToPyArray};
use pyo3::prelude::*;

use super::arrays::{to_numpy, view_of, with_view, StackArg};
use super::run::detached;
use crate::stack::Source;
use crate::stats::{self, Clip, Region, Sampling, Statistic};

/// The sampling from Python's arguments: `region` as `(start, stop)` per spatial axis (None: the
/// whole frame) and `step` (0: IRAF's automatic step).
fn sampling(
    spatial: &[usize],
    region: Option<Vec<(usize, usize)>>,
    step: usize,
    thresholds: Option<(f64, f64)>,
) -> PyResult<Sampling> {
    let region = match region {
        None => Region::whole(spatial),
        Some(r) => Region {
            start: r.iter().map(|p| p.0).collect(),
            stop: r.iter().map(|p| p.1).collect(),
        },
    };
    region.check(spatial)?;
    let step = if step == 0 { region.auto_step() } else { step };
    Ok(Sampling {
        region,
        step,
        thresholds,
    })
}

/// Statistics of every frame: returns `(values (len(stats), N) float64, counts (N,) int64, step)`.
#[pyfunction]
#[allow(clippy::too_many_arguments)] // one argument per keyword of the Python signature
#[pyo3(signature = (stack, stats, *, mask=None, thresholds=None, region=None, step=0, sigma=3.0, maxiters=Some(5), swapped=false, threads=1))]
pub fn frame_stats<'py>(
    py: Python<'py>,
    stack: StackArg<'py>,
    stats: Vec<String>,
    mask: Option<PyReadonlyArrayDyn<'py, u8>>,
    thresholds: Option<(f64, f64)>,
    region: Option<Vec<(usize, usize)>>,
    step: usize,
    sigma: f64,
    maxiters: Option<usize>,
    swapped: bool,
    threads: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, usize)> {
    let stats = stats
        .iter()
        .map(|s| Statistic::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let sampling = sampling(&stack.spatial(), region, step, thresholds)?;
    let clip = Clip { sigma, maxiters };
    let mask_view = mask.as_ref().map(|m| view_of(m, false)).transpose()?;
    let (values, counts) = with_view!(stack, swapped, |view| {
        let src = Source::new(view, mask_view)?;
        let samples = src.n() * src.npix();
        detached(py, threads, samples, || {
            stats::frame_statistics(&src, &sampling, &stats, clip)
        })??
    });
    let n = counts.len();
    let flat: Vec<f64> = values.into_iter().flatten().collect();
    let counts: Vec<i64> = counts.into_iter().map(|c| c as i64).collect();
    Ok((
        to_numpy(py, flat, &[stats.len(), n])?,
        counts.to_pyarray(py).into_any(),
        sampling.step,
    ))
}

/// The usable samples of one frame on the statistics grid, as a 1-D float64 array.
#[pyfunction]
#[allow(clippy::too_many_arguments)] // one argument per keyword of the Python signature
#[pyo3(signature = (stack, frame, *, mask=None, thresholds=None, region=None, step=0, swapped=false))]
pub fn frame_samples<'py>(
    py: Python<'py>,
    stack: StackArg<'py>,
    frame: usize,
    mask: Option<PyReadonlyArrayDyn<'py, u8>>,
    thresholds: Option<(f64, f64)>,
    region: Option<Vec<(usize, usize)>>,
    step: usize,
    swapped: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let sampling = sampling(&stack.spatial(), region, step, thresholds)?;
    let mask_view = mask.as_ref().map(|m| view_of(m, false)).transpose()?;
    let values = with_view!(stack, swapped, |view| {
        let src = Source::new(view, mask_view)?;
        if frame >= src.n() {
            return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                "frame {frame} is out of range for {} frames",
                src.n()
            )));
        }
        let mut values = Vec::new();
        py.detach(|| stats::frame_samples(&src, frame, &sampling, &mut values));
        values
    });
    let len = values.len();
    to_numpy(py, values, &[len])
}
