//! IRAF IMCOMBINE's pixel pipeline, reproduced line by line.
//!
//! For each output row IRAF gathers every pixel's usable values in image order (masked,
//! non-finite and out-of-threshold values left out, thresholds on the raw values), scales them
//! (`x / scale - zero`, in the calculation precision), sorts them when the algorithm clips about
//! the median, rejects, and combines what is left in the order the rejection left it. Rows are
//! independent (avsigclip's sigma is per row), so they run in parallel; the result does not
//! depend on the thread count. Growing rejected pixels (`grow >= 1`) is a second pass over the
//! whole image, as in IRAF.
//!
//! ```text
//! gather.rs   read a row into every pixel's column (ic_gdata), or clip whole tiles (tile.rs)
//! sort.rs     sort each column into IRAF's order (network, or IRAF's quicksort on ties)
//! row.rs      reject (clip.rs) and combine (combine.rs) the row
//! grow.rs     the second pass that removes the grown pixels (ic_grow)
//! ```

// The loops follow IRAF's 1-based index arithmetic on purpose, so that each step can be checked
// against the algorithm it reproduces.
#![allow(clippy::needless_range_loop, clippy::explicit_counter_loop)]

pub mod clip;
pub mod combine;
mod gather;
mod grow;
pub mod params;
pub mod px;
mod row;
mod sort;
pub mod tile;

use rayon::prelude::*;

use crate::cancel;
use crate::disjoint::Shared;
use crate::error::CoreError;
use crate::sample::{Float, Sample};
use crate::stack::{Source, TileCursor};
use clip::Scratch;
use gather::gather;
use grow::{grow_marks, remove_grown};
pub use params::{Combine, Params, Reject};
pub use px::Px;
use row::{finish_row, reject_row, RowSlices};
use sort::NET_TILE;

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

/// The output buffers of a run, written by the rows in disjoint ranges.
struct RowOutputs<'a, F> {
    image: Shared<'a, F>,
    sigma: Option<Shared<'a, F>>,
    ncomb: Shared<'a, u16>,
    rej: Option<Shared<'a, u8>>,
}

impl<'a, F> RowOutputs<'a, F> {
    fn new(
        image: &'a mut [F],
        sigma: Option<&'a mut [F]>,
        ncomb: &'a mut [u16],
        rej: Option<&'a mut [u8]>,
    ) -> Self {
        RowOutputs {
            image: Shared::new(image),
            sigma: sigma.map(Shared::new),
            ncomb: Shared::new(ncomb),
            rej: rej.map(Shared::new),
        }
    }

    /// Combines row `y` of `nx` pixels into the outputs (see [`finish_row`]).
    ///
    /// # Safety
    /// No other call for the same `y` may run at the same time (row `y` owns the ranges
    /// `y*nx..(y+1)*nx`, times N for the mask).
    unsafe fn finish<W: Float>(
        &self,
        p: &Params,
        nimages: usize,
        (y, nx): (usize, usize),
        sorted: bool,
        b: &mut RowBuf<F, W>,
        keep: Option<&[F]>,
    ) where
        F: Px,
    {
        // SAFETY: row y's ranges are disjoint from every other row's (caller: one call per y).
        unsafe {
            finish_row(
                p,
                nimages,
                nx,
                sorted,
                b,
                RowSlices {
                    image: self.image.range(y * nx, nx),
                    sigma: self.sigma.as_ref().map(|s| s.range(y * nx, nx)),
                    ncomb: self.ncomb.range(y * nx, nx),
                    rej: self
                        .rej
                        .as_ref()
                        .map(|s| s.range(y * nx * nimages, nx * nimages)),
                },
                keep,
            );
        }
    }
}

/// The image's shape `(ny, nx)`: a 1-D stack is one row.
fn image_shape<T: Sample>(src: &Source<'_, T>) -> Result<(usize, usize), CoreError> {
    match src.stack().spatial() {
        [nx] => Ok((1, *nx)),
        [ny, nx] => Ok((*ny, *nx)),
        other => Err(CoreError::Value {
            name: "stack",
            message: format!(
                "IMCOMBINE combines 1-D or 2-D images; got {} spatial axes",
                other.len()
            ),
        }),
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
    let (ny, nx) = image_shape(src)?;
    let npix = ny * nx;
    let grow = p.grow >= 1.0 && p.reject != Reject::None;
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
        let outs = RowOutputs::new(
            &mut image,
            sigma.as_deref_mut(),
            &mut ncomb,
            rej.as_deref_mut(),
        );
        let tiles = tile::Plan::new(p, nimages, want.sigma || want.rejmask);
        let grown = grow.then(|| Shared::new(&mut rejected));
        combine_rows(src, p, (ny, nx), tiles.as_ref(), &outs, grown.as_ref());
    }
    if grow && rejected.iter().any(|l| !l.is_empty()) {
        let marks = grow_marks(&rejected, p.grow, nimages, ny, nx);
        let first = (p.nkeep > 0).then(|| image.clone());
        let outs = RowOutputs::new(
            &mut image,
            sigma.as_deref_mut(),
            &mut ncomb,
            rej.as_deref_mut(),
        );
        recombine_grown(src, p, (ny, nx), &marks, first.as_deref(), &outs);
    }
    Ok(Output {
        image,
        sigma,
        ncombine: ncomb,
        rejmask: rej,
    })
}

/// The first pass: gathers, rejects and combines every row in parallel. With `grown`, each
/// row's rejected (not masked) `(x, image)` pairs are recorded for growing.
fn combine_rows<T: Sample, F: Px>(
    src: &Source<'_, T>,
    p: &Params,
    (ny, nx): (usize, usize),
    tiles: Option<&tile::Plan>,
    outs: &RowOutputs<'_, F>,
    grown: Option<&Shared<'_, Vec<(u32, u16)>>>,
) {
    let nimages = src.n();
    (0..ny).into_par_iter().for_each_init(
        || RowBuf::<F, T::Work>::new(nimages, nx),
        |b, y| {
            if cancel::requested() {
                return;
            }
            gather(src, p, y, nx, p.mclip, tiles, b);
            reject_row(p, nimages, nx, b);
            // SAFETY: rayon runs each row y once.
            unsafe { outs.finish(p, nimages, (y, nx), p.mclip, b, None) };
            if let Some(grown) = grown {
                // SAFETY: element y belongs to row y alone.
                let list = unsafe { &mut grown.range(y, 1)[0] };
                let stride = nimages + 1;
                for x in 0..nx {
                    for j in b.n[x] + 1..=b.n0[x] {
                        list.push((x as u32, b.id[x * stride + j]));
                    }
                }
            }
        },
    );
}

/// The second pass after growing: every row gathered again, the grown images removed, and
/// combined without further rejection. `first` is the first pass's image (kept where nothing
/// is left, when nkeep > 0).
fn recombine_grown<T: Sample, F: Px>(
    src: &Source<'_, T>,
    p: &Params,
    (ny, nx): (usize, usize),
    marks: &[u8],
    first: Option<&[F]>,
    outs: &RowOutputs<'_, F>,
) {
    let nimages = src.n();
    let npix = ny * nx;
    (0..ny).into_par_iter().for_each_init(
        || RowBuf::<F, T::Work>::new(nimages, nx),
        |b, y| {
            if cancel::requested() {
                return;
            }
            gather(src, p, y, nx, p.mclip, None, b);
            remove_grown(marks, nimages, npix, y, nx, b);
            b.done.fill(false);
            let sorted = p.mclip && p.defects;
            let keep = first.map(|f| &f[y * nx..(y + 1) * nx]);
            // SAFETY: rayon runs each row y once.
            unsafe { outs.finish(p, nimages, (y, nx), sorted, b, keep) };
        },
    );
}
