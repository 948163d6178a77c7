//! Reading one image row into every pixel's column (IRAF's `ic_gdata`): usable values in image
//! order, thresholded and scaled, sorted when the algorithm clips about the median, or clipped
//! and combined a tile at a time when every value is usable ([`super::tile`]).

// The loops follow IRAF's 1-based index arithmetic on purpose, so that each step can be checked
// against the algorithm it reproduces.
#![allow(clippy::needless_range_loop, clippy::explicit_counter_loop)]

use super::sort::{keyed_tile, sort_row, NET_MAX, NET_TILE};
use super::{tile, Params, Px, RowBuf};
use crate::network::cached_pairs;
use crate::sample::{Float, Sample};
use crate::simd::{self, Kernel};
use crate::stack::{Source, TileCursor};

/// Reads row `y` and fills every pixel's column (IRAF's `ic_gdata`): usable values in image
/// order, scaled, then sorted with their image numbers when `sort`. With a tile `plan`, tiles
/// whose every value is usable are clipped and combined at once instead ([`tile`]); their
/// pixels are marked done.
pub(super) fn gather<T: Sample, F: Px>(
    src: &Source<'_, T>,
    p: &Params,
    y: usize,
    nx: usize,
    sort: bool,
    plan: Option<&tile::Plan>,
    b: &mut RowBuf<F, T::Work>,
) {
    let nimages = src.n();
    let stride = nimages + 1;
    b.done.fill(false);
    src.locate(y * nx, nx, &mut b.cursor);
    simd::run(ReadRows {
        src,
        cursor: &b.cursor,
        raw: &mut b.raw,
    });
    // Plain sorted data (no thresholds, no scaling): tiles whose every value is usable go
    // straight from the rows into sort keys, skipping the per-pixel gather.
    let direct = sort && F::IS_REAL && (4..=NET_MAX).contains(&nimages);
    let direct = direct && p.thresholds.is_none() && !p.doscale;
    let plan = plan.filter(|_| F::IS_REAL);
    let mut x0 = 0;
    while x0 < nx {
        let x1 = (x0 + NET_TILE).min(nx);
        if let Some(plan) = plan {
            if clip_tile(p, plan, b, nimages, x0, x1) {
                x0 = x1;
                continue;
            }
        }
        if direct
            && b.raw
                .iter()
                .all(|raw| raw[x0..x1].iter().all(|v| v.is_finite()))
        {
            keyed_tile(b, nimages, x0, x1);
        } else {
            for x in x0..x1 {
                gather_pixel(p, b, x, stride);
            }
            if sort {
                sort_row(b, nimages, x0, x1);
            }
        }
        x0 = x1;
    }
}

/// Reads every image's row at the located cursor into `raw` (missing values NaN), compiled for
/// the vector instructions at hand (byte-swapping FITS data is then a shuffle per vector).
struct ReadRows<'a, 'b, T: Sample> {
    src: &'a Source<'b, T>,
    cursor: &'a TileCursor,
    raw: &'a mut [Vec<T::Work>],
}

impl<T: Sample> Kernel for ReadRows<'_, '_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        for (i, raw) in self.raw.iter_mut().enumerate() {
            self.src.read(i, self.cursor, T::Work::NAN, raw);
        }
    }
}

/// Clips and averages pixels `x0..x1` with a tile run if all their values are usable; lanes the
/// run leaves to the per-pixel code are gathered and sorted for it. False: nothing was done.
fn clip_tile<F: Px, W: Float>(
    p: &Params,
    plan: &tile::Plan,
    b: &mut RowBuf<F, W>,
    n: usize,
    x0: usize,
    x1: usize,
) -> bool {
    let w = x1 - x0;
    b.keys32.resize(n * w, 0);
    b.vals.resize(n * w, 0.0);
    let usable = simd::run(tile::ClipTile {
        plan,
        rows: &b.raw,
        x0,
        keys: &mut b.keys32[..n * w],
        vals: &mut b.vals[..n * w],
        n,
        width: w,
        pairs: cached_pairs(n),
        out: &mut b.lane_out[..w],
        count: &mut b.lane_n[..w],
        ok: &mut b.lane_ok[..w],
    });
    if !usable {
        return false;
    }
    for k in 0..w {
        let x = x0 + k;
        b.n0[x] = n;
        if b.lane_ok[k] {
            b.out[x] = F::r(b.lane_out[k]);
            b.n[x] = usize::from(b.lane_n[k]);
            b.done[x] = true;
        } else {
            gather_pixel(p, b, x, n + 1);
            sort_row(b, n, x, x + 1);
        }
    }
    true
}

/// One pixel's usable values in image order (thresholds, then scaling), as `ic_gdata` keeps them.
#[inline]
pub(super) fn gather_pixel<F: Px, W: Float>(
    p: &Params,
    b: &mut RowBuf<F, W>,
    x: usize,
    stride: usize,
) {
    let d = &mut b.d[x * stride..(x + 1) * stride];
    let id = &mut b.id[x * stride..(x + 1) * stride];
    let mut n = 0;
    for (i, raw) in b.raw.iter().enumerate() {
        let w = raw[x];
        if !w.is_finite() {
            continue;
        }
        let w = w.to_f64();
        if let Some((lo, hi)) = p.thresholds {
            let a = w as f32;
            if a < lo || a > hi {
                continue;
            }
        }
        let mut v = F::from_f64(w);
        if p.doscale {
            v = v / F::r(p.scales[i]) + F::r(-p.zeros[i]);
            if p.truncate {
                v = v.trunc();
            }
        }
        n += 1;
        d[n] = v;
        id[n] = i as u16;
    }
    b.n[x] = n;
    b.n0[x] = n;
}
