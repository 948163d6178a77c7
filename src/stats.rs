//! Per-frame statistics for zero, scale and weights.
//!
//! A frame's statistic is taken from the samples on a regular grid inside a region of the spatial
//! axes, skipping masked, non-finite and thresholded samples, as IRAF IMCOMBINE does: the grid
//! step is the same on every axis and, unless given, is the smallest of 1..=10 that leaves fewer
//! than 100 000 grid points. The samples of one frame are gathered into a small buffer, so nothing
//! of stack size is ever copied.
//!
//! Statistics:
//! - `Mean`: the plain mean;
//! - `Median`: the middle value, or the mean of the two middle values for an even count;
//! - `Mode`: IRAF's binned mode (see [`binned_mode`]);
//! - `SigclipMean`, `SigclipMedian`: mean or median of the samples that survive iterated clipping
//!   about the median with the population standard deviation (`sigma`, `maxiters`).

use std::ops::{Add, Mul, Sub};

use rayon::prelude::*;

use crate::error::CoreError;
use crate::sample::{Float, Sample};
use crate::stack::Source;

/// IRAF's limit on the number of grid points of the automatic step.
pub const MAX_GRID_POINTS: usize = 100_000;
/// The largest automatic grid step.
pub const MAX_AUTO_STEP: usize = 10;

/// A box of the spatial axes: `start[k]..stop[k]` on axis `k`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub start: Vec<usize>,
    pub stop: Vec<usize>,
}

impl Region {
    /// The whole frame.
    #[must_use]
    pub fn whole(spatial: &[usize]) -> Self {
        Region {
            start: vec![0; spatial.len()],
            stop: spatial.to_vec(),
        }
    }

    /// Checks the region against the spatial shape.
    ///
    /// # Errors
    /// If the number of axes differs, or an axis range is empty or out of bounds.
    pub fn check(&self, spatial: &[usize]) -> Result<(), CoreError> {
        if self.start.len() != spatial.len() || self.stop.len() != spatial.len() {
            return Err(CoreError::Value {
                name: "stat_region",
                message: format!("expected {} axes, got {}", spatial.len(), self.start.len()),
            });
        }
        for (k, ((&a, &b), &n)) in self.start.iter().zip(&self.stop).zip(spatial).enumerate() {
            if a >= b || b > n {
                return Err(CoreError::Value {
                    name: "stat_region",
                    message: format!("axis {k}: range {a}..{b} is empty or outside 0..{n}"),
                });
            }
        }
        Ok(())
    }

    /// Number of grid points with step `step` (at least one per axis).
    #[must_use]
    pub fn grid_points(&self, step: usize) -> usize {
        self.start
            .iter()
            .zip(&self.stop)
            .map(|(&a, &b)| (b - a).div_ceil(step))
            .product()
    }

    /// IRAF's automatic step: the smallest of `1..=10` with fewer than 100 000 grid points, else 10.
    #[must_use]
    pub fn auto_step(&self) -> usize {
        (1..=MAX_AUTO_STEP)
            .find(|&j| self.grid_points(j) < MAX_GRID_POINTS)
            .unwrap_or(MAX_AUTO_STEP)
    }
}

/// A per-frame statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    Mean,
    Median,
    Mode,
    SigclipMean,
    SigclipMedian,
}

impl Statistic {
    /// The statistic of a name as the Python API spells it.
    ///
    /// # Errors
    /// For an unknown name.
    pub fn parse(name: &str) -> Result<Self, CoreError> {
        Ok(match name {
            "mean" => Statistic::Mean,
            "median" => Statistic::Median,
            "mode" => Statistic::Mode,
            "sigclip_mean" => Statistic::SigclipMean,
            "sigclip_median" => Statistic::SigclipMedian,
            other => {
                return Err(CoreError::Value {
                    name: "statistic",
                    message: format!("unknown statistic {other:?}"),
                })
            }
        })
    }

    fn needs_sort(self) -> bool {
        !matches!(self, Statistic::Mean | Statistic::Median)
    }
}

/// The clipping of the `Sigclip*` statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clip {
    /// Samples further than `sigma` standard deviations from the median are dropped.
    pub sigma: f64,
    /// Passes at most (`None`: until nothing changes).
    pub maxiters: Option<usize>,
}

/// How a frame's samples are chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    pub region: Region,
    /// Grid step on every axis (>= 1).
    pub step: usize,
    /// Samples outside `[low, high]` are skipped.
    pub thresholds: Option<(f64, f64)>,
}

/// Appends to `out` the usable samples of `frame` on the grid, in C order.
pub fn frame_samples<T: Sample>(
    src: &Source<'_, T>,
    frame: usize,
    sampling: &Sampling,
    out: &mut Vec<f64>,
) {
    let Region { start, stop } = &sampling.region;
    let step = sampling.step.max(1);
    let ndim = start.len();
    let mut idx = start.clone();
    loop {
        if let Some(v) = src.value_at(frame, &idx) {
            if sampling
                .thresholds
                .is_none_or(|(low, high)| v >= low && v <= high)
            {
                out.push(v);
            }
        }
        // Advance the multi-index, last axis fastest.
        let mut k = ndim;
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            idx[k] += step;
            if idx[k] < stop[k] {
                break;
            }
            idx[k] = start[k];
        }
    }
}

/// The statistics `stats` of `values` (reordered in place); `NaN` for no values.
///
/// `integer` and `single` describe the stack: integer data bin the mode in steps of at least 1,
/// and the mode's bin edges are computed in `f32` for stacks combined in `f32`.
#[must_use]
pub fn statistics(
    values: &mut [f64],
    stats: &[Statistic],
    clip: Clip,
    integer: bool,
    single: bool,
) -> Vec<f64> {
    if values.is_empty() {
        return vec![f64::NAN; stats.len()];
    }
    if stats.iter().any(|s| s.needs_sort()) {
        values.sort_unstable_by(f64::total_cmp);
    }
    let sorted = stats.iter().any(|s| s.needs_sort());
    stats
        .iter()
        .map(|&s| match s {
            Statistic::Mean => mean(values),
            Statistic::Median if sorted => sorted_median(values),
            Statistic::Median => select_median(values),
            Statistic::Mode if single => binned_mode::<f32>(values, integer),
            Statistic::Mode => binned_mode::<f64>(values, integer),
            Statistic::SigclipMean => {
                let (lo, hi) = clipped_range(values, clip);
                mean(&values[lo..hi])
            }
            Statistic::SigclipMedian => {
                let (lo, hi) = clipped_range(values, clip);
                sorted_median(&values[lo..hi])
            }
        })
        .collect()
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

fn sorted_median(x: &[f64]) -> f64 {
    let n = x.len();
    if n % 2 == 1 {
        x[n / 2]
    } else {
        0.5 * (x[n / 2 - 1] + x[n / 2])
    }
}

fn select_median(x: &mut [f64]) -> f64 {
    let n = x.len();
    let (lower, upper, _) = x.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        upper
    } else {
        let below = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        0.5 * (below + upper)
    }
}

/// The survivors `x[lo..hi]` of iterated clipping of sorted `x` about the median, with the
/// population standard deviation: each pass keeps `med - sigma * std <= v <= med + sigma * std`.
fn clipped_range(x: &[f64], clip: Clip) -> (usize, usize) {
    let (mut lo, mut hi) = (0, x.len());
    let mut passes = 0;
    while clip.maxiters.is_none_or(|m| passes < m) && hi > lo {
        passes += 1;
        let run = &x[lo..hi];
        let med = sorted_median(run);
        let m = mean(run);
        let std = (run.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / run.len() as f64).sqrt();
        let (low, high) = (med - clip.sigma * std, med + clip.sigma * std);
        let new_lo = lo + run.partition_point(|&v| v < low);
        let new_hi = lo + run.partition_point(|&v| v <= high);
        if (new_lo, new_hi) == (lo, hi) {
            break;
        }
        (lo, hi) = (new_lo, new_hi);
    }
    (lo, hi)
}

/// A float type the mode's bin edges are computed in.
pub trait BinFloat: Float + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> {
    /// The next representable value above `self` (finite `self`).
    #[must_use]
    fn next_above(self) -> Self;
}

impl BinFloat for f32 {
    fn next_above(self) -> Self {
        f32::from_bits(if self >= 0.0 {
            (self + 0.0).to_bits() + 1
        } else {
            self.to_bits() - 1
        })
    }
}

impl BinFloat for f64 {
    fn next_above(self) -> Self {
        f64::from_bits(if self >= 0.0 {
            (self + 0.0).to_bits() + 1
        } else {
            self.to_bits() - 1
        })
    }
}

/// IRAF's binned mode of sorted `a` (the behaviour of IMCOMBINE's statistics).
///
/// Fewer than 10 values give the lower-middle value `a[n/2]` (1-based). Otherwise the central
/// 70% of the values span `z1..z2`; a window `zbin = 0.1 (z2 - z1)` wide slides from `z1` in steps
/// of `zstep = 0.01 (z2 - z1)` (both at least 1 for integer data), and the mode is the middle
/// sample of the most populated window (the first one on ties). Bin edges are computed in `F`.
#[must_use]
pub fn binned_mode<F: BinFloat>(a: &[f64], integer: bool) -> f64 {
    let n = a.len();
    // 1-based indexing as in the description: `at(i)` is a[i].
    let at = |i: usize| a[i - 1];
    if n < 10 {
        return at((n / 2).max(1));
    }
    let range = 0.7f32;
    let nf = n as f32;
    let mut i = 1 + (nf * (1.0 - range) / 2.0) as usize;
    let j = (1 + (nf * (1.0 + range) / 2.0) as usize).min(n);
    let (lo, hi) = (F::from_f64(at(i)), F::from_f64(at(j)));
    if lo.to_f64() == hi.to_f64() {
        return at(i);
    }
    let width = hi - lo;
    let mut zstep = F::from_f64(0.01) * width;
    let mut zbin = F::from_f64(0.1) * width;
    if integer {
        let one = F::from_f64(1.0);
        if zstep < one {
            zstep = one;
        }
        if zbin < one {
            zbin = one;
        }
    }
    let mut z1 = lo - zstep;
    let mut k = i;
    let mut best = 0;
    let mut mode = at(i);
    loop {
        let next = z1 + zstep;
        // Far from zero a tiny step may not move the edge: move it by one unit in the last place.
        z1 = if next > z1 { next } else { z1.next_above() };
        let z2 = z1 + zbin;
        while i < j && at(i) < z1.to_f64() {
            i += 1;
        }
        while k < j && at(k) < z2.to_f64() {
            k += 1;
        }
        if k - i > best {
            best = k - i;
            mode = at(usize::midpoint(i, k));
        }
        if k >= j {
            return mode;
        }
    }
}

/// The statistics of every frame: `result[s][frame]`, plus each frame's sample count.
///
/// # Errors
/// If the region does not fit the stack.
pub fn frame_statistics<T: Sample>(
    src: &Source<'_, T>,
    sampling: &Sampling,
    stats: &[Statistic],
    clip: Clip,
) -> Result<(Vec<Vec<f64>>, Vec<usize>), CoreError> {
    sampling.region.check(src.stack().spatial())?;
    let single = std::mem::size_of::<T::Work>() == 4;
    let per_frame: Vec<(Vec<f64>, usize)> = (0..src.n())
        .into_par_iter()
        .map(|frame| {
            let mut values = Vec::new();
            frame_samples(src, frame, sampling, &mut values);
            let count = values.len();
            (
                statistics(&mut values, stats, clip, T::IS_INTEGER, single),
                count,
            )
        })
        .collect();
    let mut out = vec![Vec::with_capacity(src.n()); stats.len()];
    let mut counts = Vec::with_capacity(src.n());
    for (values, count) in per_frame {
        for (row, v) in out.iter_mut().zip(values) {
            row.push(v);
        }
        counts.push(count);
    }
    Ok((out, counts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::StackView;

    const CLIP: Clip = Clip {
        sigma: 3.0,
        maxiters: Some(5),
    };

    #[test]
    fn auto_step_follows_iraf() {
        assert_eq!(Region::whole(&[2048, 2048]).auto_step(), 7);
        assert_eq!(Region::whole(&[100, 100]).auto_step(), 1);
        assert_eq!(Region::whole(&[316, 316]).auto_step(), 1);
        assert_eq!(Region::whole(&[317, 317]).auto_step(), 2);
        assert_eq!(Region::whole(&[100_000, 100_000]).auto_step(), 10);
    }

    #[test]
    fn samples_follow_the_grid_mask_and_thresholds() {
        // 1 frame of 5 x 4, values 0..20; mask the value 10.
        let data: Vec<f32> = (0..20).map(|v| v as f32).collect();
        let mut mask = vec![0u8; 20];
        mask[10] = 1;
        let stack = StackView::from_slice(&data, &[1, 5, 4]).unwrap();
        let m = StackView::from_slice(&mask, &[1, 5, 4]).unwrap();
        let src = Source::new(stack, Some(m)).unwrap();
        let sampling = Sampling {
            region: Region {
                start: vec![1, 0],
                stop: vec![5, 4],
            },
            step: 2,
            thresholds: Some((0.0, 17.0)),
        };
        let mut out = Vec::new();
        frame_samples(&src, 0, &sampling, &mut out);
        // Rows 1 and 3, columns 0 and 2: 4, 6, 12, 14 (10 is masked, none above 17 here).
        assert_eq!(out, vec![4.0, 6.0, 12.0, 14.0]);
    }

    #[test]
    fn median_and_mean() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        let s = statistics(
            &mut v,
            &[Statistic::Median, Statistic::Mean],
            CLIP,
            false,
            false,
        );
        assert_eq!(s, vec![2.5, 2.5]);
        let mut v = vec![5.0, 1.0, 3.0];
        assert_eq!(
            statistics(&mut v, &[Statistic::Median], CLIP, false, false),
            vec![3.0]
        );
        assert!(statistics(&mut [], &[Statistic::Mean], CLIP, false, false)[0].is_nan());
    }

    #[test]
    fn clipping_drops_an_outlier() {
        let mut v: Vec<f64> = (0..20).map(|i| 100.0 + f64::from(i % 5)).collect();
        v.push(1000.0);
        let s = statistics(
            &mut v,
            &[Statistic::SigclipMean, Statistic::SigclipMedian],
            CLIP,
            false,
            false,
        );
        assert_eq!(s, vec![102.0, 102.0]);
    }

    #[test]
    fn mode_finds_the_peak() {
        // Few values: the lower-middle element.
        assert_eq!(binned_mode::<f64>(&[1.0, 2.0, 3.0, 4.0, 5.0], false), 2.0);
        assert_eq!(binned_mode::<f64>(&[7.0], false), 7.0);
        // A sharp peak at 50 over a flat spread 0..100.
        let mut v: Vec<f64> = (0..=100).map(f64::from).collect();
        v.extend(std::iter::repeat_n(50.0, 200));
        v.sort_unstable_by(f64::total_cmp);
        assert_eq!(binned_mode::<f32>(&v, true), 50.0);
        assert_eq!(binned_mode::<f64>(&v, false), 50.0);
        // Constant central range.
        assert_eq!(binned_mode::<f32>(&[3.0; 12], false), 3.0);
    }

    #[test]
    fn mode_terminates_far_from_zero() {
        let v: Vec<f64> = (0..50).map(|i| 1.0e8 + f64::from(i)).collect();
        let m = binned_mode::<f32>(&v, false);
        assert!((1.0e8..1.0e8 + 50.0).contains(&m));
    }

    #[test]
    fn frame_statistics_per_frame() {
        let data: Vec<f32> = (0..24).map(|v| v as f32).collect();
        let src = Source::new(StackView::from_slice(&data, &[2, 3, 4]).unwrap(), None).unwrap();
        let sampling = Sampling {
            region: Region::whole(&[3, 4]),
            step: 1,
            thresholds: None,
        };
        let (s, counts) = frame_statistics(&src, &sampling, &[Statistic::Median], CLIP).unwrap();
        assert_eq!(s, vec![vec![5.5, 17.5]]);
        assert_eq!(counts, vec![12, 12]);
        let bad = Sampling {
            region: Region {
                start: vec![0, 2],
                stop: vec![3, 2],
            },
            ..sampling
        };
        assert!(frame_statistics(&src, &bad, &[Statistic::Mean], CLIP).is_err());
    }
}
