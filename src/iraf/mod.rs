//! IRAF IMCOMBINE's pixel pipeline, reproduced line by line.
//!
//! For each output row IRAF gathers every pixel's usable values in image order (masked,
//! non-finite and out-of-threshold values left out, thresholds on the raw values), scales them
//! (`x / scale - zero`, in the calculation precision), sorts them when the algorithm clips about
//! the median, rejects, and combines what is left in the order the rejection left it. Rows are
//! independent (avsigclip's sigma is per row), so they run in parallel; the result does not
//! depend on the thread count. Growing rejected pixels (`grow >= 1`) is a second pass over the
//! whole image, as in IRAF.

// The loops follow IRAF's 1-based index arithmetic on purpose, so that each step can be checked
// against the algorithm it reproduces.
#![allow(clippy::needless_range_loop, clippy::explicit_counter_loop)]

pub mod clip;
pub mod combine;
pub mod params;
pub mod px;
pub mod tile;

use rayon::prelude::*;

use crate::cancel;
use crate::disjoint::Shared;
use crate::error::CoreError;
use crate::network::{cached_pairs, sort_columns};
use crate::sample::{Float, Sample};
use crate::simd::{self, Kernel};
use crate::stack::{Source, TileCursor};
use clip::{Col, RowCols, Scratch};
pub use params::{Combine, Params, Reject};
pub use px::Px;

/// What the caller wants besides the combined image.
#[derive(Clone, Copy, Debug, Default)]
pub struct Want {
    pub sigma: bool,
    pub rejmask: bool,
}

/// The products of one run, all in row-major pixel order.
pub struct Output<F> {
    pub image: Vec<F>,
    pub sigma: Option<Vec<F>>,
    /// Number of values combined per pixel.
    pub ncombine: Vec<u16>,
    /// Pixel-major `(npix, N)`: 1 where image `i` did not contribute (masked, thresholded or
    /// rejected).
    pub rejmask: Option<Vec<u8>>,
}

/// Per-thread buffers for one row.
struct RowBuf<F, W> {
    raw: Vec<Vec<W>>,
    d: Vec<F>,
    id: Vec<u16>,
    n: Vec<usize>,
    n0: Vec<usize>,
    out: Vec<F>,
    done: Vec<bool>,
    sc: Scratch,
    cursor: TileCursor,
    /// The unsorted column, kept for IRAF's quicksort when values tie.
    spare: (Vec<F>, Vec<u16>),
    /// Sort keys of a tile of full columns (value rank, then image number), row-major.
    keys: Vec<u64>,
    /// The pixels of that tile.
    cols: Vec<usize>,
    /// Scratch of the tile runs ([`tile`]): value keys, values, and the per-lane results.
    keys32: Vec<u32>,
    vals: Vec<f32>,
    lane_out: [f32; tile::WIDTH],
    lane_n: [u16; tile::WIDTH],
    lane_ok: [bool; tile::WIDTH],
}

impl<F: Px, W: Float> RowBuf<F, W> {
    fn new(nimages: usize, nx: usize) -> Self {
        RowBuf {
            raw: vec![vec![W::default(); nx]; nimages],
            d: vec![F::ZERO; nx * (nimages + 1)],
            id: vec![0; nx * (nimages + 1)],
            n: vec![0; nx],
            n0: vec![0; nx],
            out: vec![F::ZERO; nx],
            done: vec![false; nx],
            sc: Scratch::new(nimages),
            cursor: TileCursor::default(),
            keys: Vec::new(),
            cols: Vec::with_capacity(NET_TILE),
            keys32: Vec::new(),
            vals: Vec::new(),
            lane_out: [0.0; tile::WIDTH],
            lane_n: [0; tile::WIDTH],
            lane_ok: [false; tile::WIDTH],
            spare: (
                Vec::with_capacity(nimages + 1),
                Vec::with_capacity(nimages + 1),
            ),
        }
    }
}

/// Reads row `y` and fills every pixel's column (IRAF's `ic_gdata`): usable values in image
/// order, scaled, then sorted with their image numbers when `sort`. With a tile `plan`, tiles
/// whose every value is usable are clipped and combined at once instead ([`tile`]); their
/// pixels are marked done.
#[allow(clippy::too_many_arguments)]
fn gather<T: Sample, F: Px>(
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
fn gather_pixel<F: Px, W: Float>(p: &Params, b: &mut RowBuf<F, W>, x: usize, stride: usize) {
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

/// Pixels `x0..x1`, every value usable and unscaled: sort keys built from the rows, one
/// network sort, and the sorted columns written out (IRAF's quicksort where values tie).
fn keyed_tile<F: Px, W: Float>(b: &mut RowBuf<F, W>, n: usize, x0: usize, x1: usize) {
    let w = x1 - x0;
    let stride = n + 1;
    b.keys.clear();
    b.keys.resize(n * w, 0);
    for (i, (raw, krow)) in b.raw.iter().zip(b.keys.chunks_exact_mut(w)).enumerate() {
        for (k, &v) in krow.iter_mut().zip(&raw[x0..x1]) {
            let r = F::from_f64(v.to_f64()).to_r();
            *k = u64::from(real_key(r)) << 32 | i as u64;
        }
    }
    simd::run(NetSort {
        keys: &mut b.keys,
        width: w,
        pairs: cached_pairs(n),
    });
    let RowBuf {
        d,
        id,
        n: nn,
        n0,
        keys,
        raw,
        ..
    } = b;
    for k in 0..w {
        let x = x0 + k;
        let base = x * stride;
        nn[x] = n;
        n0[x] = n;
        let (dcol, icol) = (&mut d[base..base + stride], &mut id[base..base + stride]);
        if column_ties(keys, w, k, n) {
            // Equal values: IRAF's quicksort of the column in image order.
            for (i, row) in raw.iter().enumerate() {
                dcol[i + 1] = F::r(F::from_f64(row[x].to_f64()).to_r());
                icol[i + 1] = i as u16;
            }
            sort_column(dcol, icol, n);
            continue;
        }
        for j in 0..n {
            let key = keys[j * w + k];
            dcol[j + 1] = F::r(key_real((key >> 32) as u32));
            icol[j + 1] = key as u16;
        }
    }
}

/// Whether sorted column `k` of a key tile holds equal values (-0 and +0 are equal).
#[inline]
fn column_ties(keys: &[u64], w: usize, k: usize, n: usize) -> bool {
    let mut prev = (keys[k] >> 32) as u32;
    let mut tie = false;
    for j in 1..n {
        let h = (keys[j * w + k] >> 32) as u32;
        tie |= h == prev || (prev == MINUS_ZERO && h == MINUS_ZERO + 1);
        prev = h;
    }
    tie
}

/// Full columns up to this length are sorted by a sorting network across pixels.
const NET_MAX: usize = 64;
/// Pixels per network tile.
const NET_TILE: usize = 64;

/// Sorts every pixel's column of the row (see [`sort_values`]). Columns that hold a value of
/// every image (the usual case) are sorted many at a time: each value becomes a 64-bit key,
/// its order-preserving bits above its image number, and one sorting network sorts a tile of
/// columns with vector min/max. Distinct values have a single sorted order, so the result is
/// the insertion sort's; a column with equal values goes back to IRAF's quicksort.
fn sort_row<F: Px, W>(b: &mut RowBuf<F, W>, nimages: usize, x0: usize, x1: usize) {
    let stride = nimages + 1;
    let net = F::IS_REAL && (4..=NET_MAX).contains(&nimages);
    b.cols.clear();
    for x in x0..x1 {
        let n = b.n[x];
        if net && n == nimages {
            b.cols.push(x);
            if b.cols.len() == NET_TILE {
                sort_tile(b, nimages);
                b.cols.clear();
            }
        } else {
            let (d, id) = (
                &mut b.d[x * stride..(x + 1) * stride],
                &mut b.id[x * stride..(x + 1) * stride],
            );
            sort_values(d, id, n, &mut b.spare);
        }
    }
    if !b.cols.is_empty() {
        sort_tile(b, nimages);
        b.cols.clear();
    }
}

/// The sort key of a real value: unsigned order equals numeric order (-0 just below +0).
#[inline(always)]
fn real_key(v: f32) -> u32 {
    let bits = v.to_bits();
    // Negative: all bits flipped; positive: the sign bit set.
    bits ^ (((bits as i32) >> 31) as u32 | 0x8000_0000)
}

#[inline(always)]
fn key_real(k: u32) -> f32 {
    f32::from_bits(k ^ (!(((k as i32) >> 31) as u32) | 0x8000_0000))
}

/// A sorting network over the columns of a row-major key tile, compiled for the widest vector
/// instructions available.
struct NetSort<'a> {
    keys: &'a mut [u64],
    width: usize,
    pairs: &'a [(u16, u16)],
}

impl Kernel for NetSort<'_> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        sort_columns(self.keys, self.width, self.pairs);
    }
}

/// The key of -0.0 (the key of +0.0 is one more).
const MINUS_ZERO: u32 = 0x7fff_ffff;

/// Sorts the full columns `b.cols` (each `n` values long) with one network.
fn sort_tile<F: Px, W>(b: &mut RowBuf<F, W>, n: usize) {
    let stride = n + 1;
    let w = b.cols.len();
    b.keys.clear();
    b.keys.resize(n * w, 0);
    let RowBuf {
        d, id, cols, keys, ..
    } = b;
    for (k, &x) in cols.iter().enumerate() {
        let base = x * stride + 1;
        let (dcol, icol) = (&d[base..base + n], &id[base..base + n]);
        for (j, (&v, &i)) in dcol.iter().zip(icol).enumerate() {
            keys[j * w + k] = u64::from(real_key(v.to_r())) << 32 | u64::from(i);
        }
    }
    simd::run(NetSort {
        keys,
        width: w,
        pairs: cached_pairs(n),
    });
    for (k, &x) in cols.iter().enumerate() {
        let base = x * stride;
        if column_ties(keys, w, k, n) {
            // Equal values: their order comes from IRAF's quicksort of the original column.
            sort_column(&mut d[base..base + stride], &mut id[base..base + stride], n);
            continue;
        }
        let (dcol, icol) = (
            &mut d[base + 1..base + stride],
            &mut id[base + 1..base + stride],
        );
        for (j, (v, i)) in dcol.iter_mut().zip(icol.iter_mut()).enumerate() {
            let key = keys[j * w + k];
            *v = F::r(key_real((key >> 32) as u32));
            *i = key as u16;
        }
    }
}

/// Sorts `d[1..=n]` with its image numbers into exactly IRAF's order. Distinct values have one
/// sorted order, found by a quick insertion sort; only when equal values occur does the order of
/// their image numbers depend on the algorithm, and IRAF's quicksort is rerun from the original
/// order.
fn sort_values<F: Px>(d: &mut [F], id: &mut [u16], n: usize, spare: &mut (Vec<F>, Vec<u16>)) {
    if n <= 3 {
        sort_column(d, id, n);
        return;
    }
    spare.0.clear();
    spare.0.extend_from_slice(&d[..=n]);
    spare.1.clear();
    spare.1.extend_from_slice(&id[..=n]);
    let mut tie = false;
    for j in 2..=n {
        let (v, k) = (d[j], id[j]);
        let mut i = j;
        while i > 1 && d[i - 1] > v {
            d[i] = d[i - 1];
            id[i] = id[i - 1];
            i -= 1;
        }
        tie |= i > 1 && d[i - 1] == v;
        d[i] = v;
        id[i] = k;
    }
    if tie {
        d[..=n].copy_from_slice(&spare.0);
        id[..=n].copy_from_slice(&spare.1);
        sort_column(d, id, n);
    }
}

/// IRAF's quicksort of `d[1..=n]` carrying the image numbers (`ic_2sort`): special cases for two
/// and three values, otherwise a quicksort with the middle element as pivot. Its order of equal
/// values decides which image a defect-compatible rejection mask names, so it is reproduced.
fn sort_column<F: Px>(b: &mut [F], d: &mut [u16], n: usize) {
    if n <= 1 {
        return;
    }
    if n <= 3 {
        let (pivot, temp) = (b[1], b[2]);
        if n == 2 {
            if temp < pivot {
                b.swap(1, 2);
                d.swap(1, 2);
            }
            return;
        }
        let temp3 = b[3];
        if temp < pivot {
            if temp < temp3 {
                b[1] = temp;
                if pivot < temp3 {
                    b[2] = pivot;
                    d.swap(1, 2);
                } else {
                    b[2] = temp3;
                    b[3] = pivot;
                    let t = d[2];
                    d[2] = d[3];
                    d[3] = d[1];
                    d[1] = t;
                }
            } else {
                b[1] = temp3;
                b[3] = pivot;
                d.swap(1, 3);
            }
        } else if temp3 < temp {
            b[3] = temp;
            if pivot < temp3 {
                b[2] = temp3;
                d.swap(2, 3);
            } else {
                b[1] = temp3;
                b[2] = pivot;
                let t = d[2];
                d[2] = d[1];
                d[1] = d[3];
                d[3] = t;
            }
        }
        return;
    }
    let mut lv = [0usize; 64];
    let mut uv = [0usize; 64];
    lv[1] = 1;
    uv[1] = n;
    let mut p = 1usize;
    while p > 0 {
        if lv[p] >= uv[p] {
            p -= 1;
            continue;
        }
        let mut i = lv[p] - 1;
        let mut j = uv[p];
        let k = usize::midpoint(lv[p], uv[p]);
        b.swap(j, k);
        d.swap(j, k);
        let pivot = b[j];
        while i < j {
            i += 1;
            while b[i] < pivot {
                i += 1;
            }
            j -= 1;
            while j > i {
                if b[j] <= pivot {
                    break;
                }
                j -= 1;
            }
            if i < j {
                b.swap(i, j);
                d.swap(i, j);
            }
        }
        let j = uv[p];
        b.swap(i, j);
        d.swap(i, j);
        if i - lv[p] < uv[p] - i {
            lv[p + 1] = lv[p];
            uv[p + 1] = i - 1;
            lv[p] = i + 1;
        } else {
            lv[p + 1] = i + 1;
            uv[p + 1] = uv[p];
            uv[p] = i - 1;
        }
        p += 1;
    }
}

/// The rejection step for one gathered row. Pixels whose output the algorithm computed are
/// written to `b.out` with `b.done` set.
fn reject_row<F: Px>(p: &Params, nimages: usize, nx: usize, b: &mut RowBuf<F, impl Float>) {
    let minclip = match p.reject {
        Reject::None | Reject::MinMax => 0,
        Reject::CcdClip | Reject::CrReject => 2,
        _ => 3,
    };
    if p.reject == Reject::None || (minclip > 0 && nimages < minclip.max(p.maxkeep(nimages) + 1)) {
        return;
    }
    let stride = nimages + 1;
    // IRAF's docombine = false: the average algorithms return the plain average themselves.
    let own = p.combine == Combine::Average && !p.dowts;
    let RowBuf {
        d,
        id,
        n,
        out,
        done,
        sc,
        ..
    } = b;
    match p.reject {
        Reject::AvSigClip => {
            let mut row = RowCols { d, id, n, stride };
            let wrote = if p.mclip {
                clip::mavsigclip_row(p, &mut row, sc, out)
            } else {
                clip::aavsigclip_row(p, &mut row, sc, out, own)
            };
            if wrote {
                done.fill(true);
            }
        }
        _ => {
            for x in 0..nx {
                if done[x] {
                    // Finished by a tile run.
                    continue;
                }
                let mut c = Col {
                    d: &mut d[x * stride..(x + 1) * stride],
                    id: &mut id[x * stride..(x + 1) * stride],
                    n: n[x],
                    n0: n[x],
                };
                let r = match p.reject {
                    Reject::MinMax => {
                        clip::minmax(p, &mut c);
                        None
                    }
                    Reject::SigClip if p.mclip => clip::msigclip(p, &mut c, sc),
                    Reject::SigClip => clip::asigclip(p, &mut c, sc, own),
                    Reject::CcdClip | Reject::CrReject if p.mclip => clip::mccdclip(p, &mut c, sc),
                    Reject::CcdClip | Reject::CrReject => clip::accdclip(p, &mut c, sc, own),
                    Reject::PClip => clip::pclip(p, &mut c, sc),
                    Reject::None | Reject::AvSigClip => unreachable!(),
                };
                n[x] = c.n;
                if let Some(v) = r {
                    out[x] = v;
                    done[x] = true;
                }
            }
        }
    }
}

/// Combines the (rejected) row into `image`, `sigma`, `ncomb` and `rej` (IRAF's `ic_average`,
/// `ic_median`, `ic_sigma`, `ic_rmasks`). `keep` holds values to leave where nothing is left
/// (the first pass's output after a grow, when nkeep > 0).
#[allow(clippy::too_many_arguments)]
fn finish_row<F: Px>(
    p: &Params,
    nimages: usize,
    nx: usize,
    sorted: bool,
    b: &mut RowBuf<F, impl Float>,
    image: &mut [F],
    sigma: Option<&mut [F]>,
    ncomb: &mut [u16],
    rej: Option<&mut [u8]>,
    keep: Option<&[F]>,
) {
    let stride = nimages + 1;
    let all = b.n.iter().all(|&k| k == nimages);
    for x in 0..nx {
        let n = b.n[x];
        let d = &mut b.d[x * stride..(x + 1) * stride];
        let id = &b.id[x * stride..(x + 1) * stride];
        let v = if b.done[x] {
            Some(b.out[x])
        } else if p.combine.is_median() {
            combine::median(p, d, n, sorted)
        } else {
            combine::average(p, d, id, n, all)
        };
        // IRAF's clipping routines report their (stale) median even when nothing is left.
        let stale = b.done[x] && p.defects;
        image[x] = match (v, keep) {
            (Some(v), _) if n > 0 || stale => v,
            (_, Some(k)) => k[x],
            _ => F::r(p.blank),
        };
        ncomb[x] = n as u16;
    }
    if let Some(sigma) = sigma {
        for x in 0..nx {
            let n = b.n[x];
            let d = &b.d[x * stride..(x + 1) * stride];
            let id = &b.id[x * stride..(x + 1) * stride];
            sigma[x] = combine::sigma(p, d, id, n, image[x], all).unwrap_or(F::r(p.blank));
        }
    }
    if let Some(rej) = rej {
        rej.fill(1);
        for x in 0..nx {
            let id = &b.id[x * stride..(x + 1) * stride];
            for &k in &id[1..=b.n[x]] {
                rej[x * nimages + k as usize] = 0;
            }
        }
    }
}

/// Runs IMCOMBINE on a 2-D stack `(N, ny, nx)` (a 1-D stack is one row).
///
/// # Errors
/// If the stack is not 2-D or 1-D, or the parameters do not fit it.
pub fn run<T: Sample, F: Px>(
    src: &Source<'_, T>,
    p: &Params,
    want: Want,
) -> Result<Output<F>, CoreError> {
    let nimages = src.n();
    p.check(nimages)?;
    let (ny, nx) = match src.stack().spatial() {
        [nx] => (1, *nx),
        [ny, nx] => (*ny, *nx),
        other => {
            return Err(CoreError::Value {
                name: "stack",
                message: format!(
                    "IMCOMBINE combines 1-D or 2-D images; got {} spatial axes",
                    other.len()
                ),
            })
        }
    };
    let npix = ny * nx;
    let grow = p.grow >= 1.0 && p.reject != Reject::None;
    let plan = tile::Plan::new(p, nimages, want.sigma || want.rejmask);
    let mut image = vec![F::ZERO; npix];
    let mut sigma = want.sigma.then(|| vec![F::ZERO; npix]);
    let mut ncomb = vec![0u16; npix];
    let mut rej = want.rejmask.then(|| vec![0u8; npix * nimages]);
    // Rejected (not masked) image numbers per pixel, for growing.
    let mut rejected: Vec<Vec<(u32, u16)>> = if grow {
        vec![Vec::new(); ny]
    } else {
        Vec::new()
    };
    {
        let s_img = Shared::new(&mut image);
        let s_sig = sigma.as_deref_mut().map(Shared::new);
        let s_n = Shared::new(&mut ncomb);
        let s_rej = rej.as_deref_mut().map(Shared::new);
        let s_grow = Shared::new(&mut rejected);
        (0..ny).into_par_iter().for_each_init(
            || RowBuf::<F, T::Work>::new(nimages, nx),
            |b, y| {
                if cancel::requested() {
                    return;
                }
                gather(src, p, y, nx, p.mclip, plan.as_ref(), b);
                reject_row(p, nimages, nx, b);
                // SAFETY: row `y` owns the ranges `y*nx..(y+1)*nx` (times N for the mask).
                unsafe {
                    finish_row(
                        p,
                        nimages,
                        nx,
                        p.mclip,
                        b,
                        s_img.range(y * nx, nx),
                        s_sig.as_ref().map(|s| s.range(y * nx, nx)),
                        s_n.range(y * nx, nx),
                        s_rej
                            .as_ref()
                            .map(|s| s.range(y * nx * nimages, nx * nimages)),
                        None,
                    );
                    if grow {
                        let list = &mut s_grow.range(y, 1)[0];
                        let stride = nimages + 1;
                        for x in 0..nx {
                            for j in b.n[x] + 1..=b.n0[x] {
                                list.push((x as u32, b.id[x * stride + j]));
                            }
                        }
                    }
                }
            },
        );
    }
    if grow && rejected.iter().any(|l| !l.is_empty()) {
        let marks = grow_marks(&rejected, p.grow, nimages, ny, nx);
        let first = (p.nkeep > 0).then(|| image.clone());
        let s_img = Shared::new(&mut image);
        let s_sig = sigma.as_deref_mut().map(Shared::new);
        let s_n = Shared::new(&mut ncomb);
        let s_rej = rej.as_deref_mut().map(Shared::new);
        (0..ny).into_par_iter().for_each_init(
            || RowBuf::<F, T::Work>::new(nimages, nx),
            |b, y| {
                if cancel::requested() {
                    return;
                }
                gather(src, p, y, nx, p.mclip, None, b);
                remove_grown(&marks, nimages, npix, y, nx, b);
                b.done.fill(false);
                let sorted = p.mclip && p.defects;
                // SAFETY: as in the first pass.
                unsafe {
                    finish_row(
                        p,
                        nimages,
                        nx,
                        sorted,
                        b,
                        s_img.range(y * nx, nx),
                        s_sig.as_ref().map(|s| s.range(y * nx, nx)),
                        s_n.range(y * nx, nx),
                        s_rej
                            .as_ref()
                            .map(|s| s.range(y * nx * nimages, nx * nimages)),
                        first.as_ref().map(|f| &f[y * nx..(y + 1) * nx]),
                    );
                }
            },
        );
    }
    Ok(Output {
        image,
        sigma,
        ncombine: ncomb,
        rejmask: rej,
    })
}

/// Per-image marks (`(N, ny, nx)`, frame-major) of the pixels within `grow` (a 2-D disc:
/// `dx^2 + dy^2 <= grow^2`) of a rejected pixel (IRAF's `ic_grow`).
fn grow_marks(
    rejected: &[Vec<(u32, u16)>],
    grow: f32,
    nimages: usize,
    ny: usize,
    nx: usize,
) -> Vec<u8> {
    let npix = ny * nx;
    let mut marks = vec![0u8; nimages * npix];
    let igrow = grow as usize;
    let grow2 = grow * grow;
    for (y, list) in rejected.iter().enumerate() {
        for &(x, k) in list {
            let (x, k) = (x as usize, k as usize);
            for l in 0..=igrow {
                let i2 = grow2 - (l * l) as f32;
                for i in 0..=igrow {
                    if (i * i) as f32 > i2 {
                        continue;
                    }
                    for yy in [y.checked_sub(l), (y + l < ny).then_some(y + l)]
                        .into_iter()
                        .flatten()
                    {
                        let base = k * npix + yy * nx;
                        if x >= i {
                            marks[base + x - i] = 1;
                        }
                        if x + i < nx {
                            marks[base + x + i] = 1;
                        }
                    }
                }
            }
        }
    }
    marks
}

/// Removes the grown images from each pixel's column of row `y` as IRAF does (the last value
/// moves into the gap), in image order (IRAF's `ic_grow$t`).
fn remove_grown<F: Px>(
    marks: &[u8],
    nimages: usize,
    npix: usize,
    y: usize,
    nx: usize,
    b: &mut RowBuf<F, impl Float>,
) {
    let stride = nimages + 1;
    for k in 0..nimages {
        let row = &marks[k * npix + y * nx..k * npix + (y + 1) * nx];
        for (x, &m) in row.iter().enumerate() {
            if m == 0 {
                continue;
            }
            let d = &mut b.d[x * stride..(x + 1) * stride];
            let id = &mut b.id[x * stride..(x + 1) * stride];
            let n = b.n[x];
            if let Some(j) = (1..=n).find(|&j| id[j] as usize == k) {
                if j < n {
                    d[j] = d[n];
                    id.swap(j, n);
                }
                b.n[x] = n - 1;
            }
        }
    }
}

#[cfg(test)]
mod sort_tests {
    use super::*;

    #[test]
    fn real_keys_order_like_the_values_and_round_trip() {
        let values = [
            f32::NEG_INFINITY,
            -3.0e38,
            -2.0,
            -1e-40,
            -0.0,
            0.0,
            1e-40,
            1.0,
            7.25,
            3.0e38,
            f32::INFINITY,
        ];
        for w in values.windows(2) {
            assert!(real_key(w[0]) < real_key(w[1]), "{} {}", w[0], w[1]);
        }
        for &v in &values {
            assert_eq!(key_real(real_key(v)).to_bits(), v.to_bits());
        }
        assert_eq!(real_key(-0.0), MINUS_ZERO);
        assert_eq!(real_key(0.0), MINUS_ZERO + 1);
    }

    #[test]
    fn keyed_tiles_equal_the_gathered_and_sorted_columns() {
        let (n, nx) = (7, 100);
        let stride = n + 1;
        let mut b: RowBuf<f32, f32> = RowBuf::new(n, nx);
        let mut state = 99u64;
        for (i, row) in b.raw.iter_mut().enumerate() {
            for (x, v) in row.iter_mut().enumerate() {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                // Pixels 0..10 tie (few distinct values), one has -0 and +0.
                *v = if x < 10 {
                    ((state >> 60) % 3) as f32
                } else {
                    ((state >> 33) % 100_000) as f32 * 0.01 - 300.0
                };
                if x == 3 {
                    *v = if i % 2 == 0 { 0.0 } else { -0.0 };
                }
            }
        }
        let p = Params::test_default(n);
        for x in 0..nx {
            gather_pixel(&p, &mut b, x, stride);
        }
        sort_row(&mut b, n, 0, nx);
        let (d, id) = (b.d.clone(), b.id.clone());
        b.d.fill(0.0);
        b.id.fill(0);
        keyed_tile(&mut b, n, 0, 64);
        keyed_tile(&mut b, n, 64, nx);
        for x in 0..nx {
            let r = x * stride + 1..(x + 1) * stride;
            assert_eq!(b.n[x], n);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&b.d[r.clone()]), bits(&d[r.clone()]), "pixel {x}");
            assert_eq!(&b.id[r.clone()], &id[r], "pixel {x}");
        }
    }

    #[test]
    fn network_sort_equals_the_insertion_sort_and_falls_back_on_ties() {
        let n = 9;
        let nx = 150;
        let stride = n + 1;
        let mut state = 12345u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut b: RowBuf<f32, f32> = RowBuf::new(n, nx);
        for x in 0..nx {
            for j in 1..=n {
                // Every 7th pixel gets ties (small integers), the rest distinct values.
                let v = if x % 7 == 0 {
                    (next() % 4) as f32
                } else {
                    (next() % 1_000_000) as f32 * 0.001 - 500.0
                };
                b.d[x * stride + j] = v;
                b.id[x * stride + j] = (j - 1) as u16;
            }
            b.n[x] = n;
        }
        let (d0, id0) = (b.d.clone(), b.id.clone());
        sort_row(&mut b, n, 0, nx);
        for x in 0..nx {
            let r = x * stride..(x + 1) * stride;
            let (mut d, mut id) = (d0[r.clone()].to_vec(), id0[r.clone()].to_vec());
            let mut spare = (Vec::new(), Vec::new());
            sort_values(&mut d, &mut id, n, &mut spare);
            assert_eq!(&b.d[r.clone()], &d[..], "pixel {x}");
            assert_eq!(&b.id[r], &id[..], "pixel {x}");
        }
    }
}
