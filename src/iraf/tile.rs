//! sigclip and ccdclip about the median, followed by the average, for a tile of pixels at once.
//!
//! This is [`super::clip::msigclip`] / [`super::clip::mccdclip`] and
//! [`super::combine::average`] restated across pixels: each pixel is a vector lane and each
//! sorted rank a row of the tile, so the float32 operations run in vector registers. Every lane
//! performs IRAF's operations on its own values in IRAF's order, which keeps the results
//! bit-identical to the per-pixel code:
//!
//! - Sorting only needs the values, not the image numbers, because without products the image
//!   numbers are never used; equal values are interchangeable.
//! - IRAF sums the squared residuals in sorted order; a lane adds `+0.0` (which changes nothing)
//!   at the ranks outside its kept range.
//! - IRAF rejects from each end while the residual exceeds the limit. On sorted values the
//!   residual is monotonic in the rank (rounding is monotonic), so the values it rejects are
//!   exactly those past the limit: a count instead of a loop.
//! - IRAF moves the survivors to the front before averaging (the values above the kept range
//!   fill the low slots), so the sum runs over two ranges of ranks in that order.
//!
//! A lane that IRAF would send to the nkeep add-back (fewer survivors than it must keep) is left
//! to the per-pixel code.

// Ranks are 0-based here; the IRAF index arithmetic is noted where it is converted.
#![allow(clippy::needless_range_loop)]

use super::params::{Combine, Params, Reject};
use super::sort::{key_real, real_key};
use crate::network::sort_columns;
use crate::sample::Float;
use crate::simd::Kernel;

/// Pixels per tile.
pub const WIDTH: usize = 64;

/// Values with a larger magnitude go to the per-pixel code (squared residuals could overflow,
/// and an infinite residual breaks the monotonic argument above).
pub const LIMIT: f32 = 1.0e18;

/// The clipping model of a tile run.
#[derive(Clone, Copy, Debug)]
pub enum Model {
    /// sigclip: the sigma of the residuals about the median.
    Sigma,
    /// ccdclip/crreject with one noise model for every image: `(rdnoise^2, gain, snoise)`.
    Ccd([f32; 3]),
}

/// What a tile run needs from the parameters.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub model: Model,
    pub lsigma: f32,
    pub hsigma: f32,
    /// Stop clipping below this many values (IRAF's `max(minclip, maxkeep + 1)`).
    pub floor: usize,
    /// Lanes left with fewer values go to the per-pixel code (add-back, or nothing left).
    pub keep: usize,
}

impl Plan {
    /// The plan for `nimages` full columns, if these parameters allow tile runs: average of
    /// real values after sigclip or ccdclip about the median, no scaling, thresholds, weights or
    /// grow, one noise model for all images, and no products that need image numbers.
    #[must_use]
    pub fn new(p: &Params, nimages: usize, products: bool) -> Option<Plan> {
        let model = match p.reject {
            Reject::SigClip => Model::Sigma,
            Reject::CcdClip | Reject::CrReject => {
                let first = *p.noise.first()?;
                if p.noise.iter().any(|m| m != &first) {
                    return None;
                }
                Model::Ccd(first)
            }
            _ => return None,
        };
        let simple = p.mclip
            && p.combine == Combine::Average
            && !p.dowts
            && !p.doscale
            && !p.doscale1
            && p.thresholds.is_none()
            && p.grow < 1.0
            && !products;
        let minclip = if matches!(model, Model::Sigma) { 3 } else { 2 };
        let maxkeep = p.maxkeep(nimages);
        let floor = minclip.max(maxkeep + 1);
        (simple && (4..=WIDTH).contains(&nimages) && nimages >= floor).then_some(Plan {
            model,
            lsigma: p.lsigma,
            hsigma: p.hsigma,
            floor,
            keep: maxkeep.max(1),
        })
    }
}

/// One tile: pixels `x0..x0 + width` of the `n` image rows `rows`. When every value is usable
/// the run returns true, and `out`, `count` and `ok` hold each lane's average, its number of
/// values combined, and whether it was finished here. `keys` and `vals` are scratch of `n *
/// width`.
pub struct ClipTile<'a, W> {
    pub plan: &'a Plan,
    pub rows: &'a [Vec<W>],
    pub x0: usize,
    pub keys: &'a mut [u32],
    pub vals: &'a mut [f32],
    pub n: usize,
    pub width: usize,
    pub pairs: &'a [(u16, u16)],
    pub out: &'a mut [f32],
    pub count: &'a mut [u16],
    pub ok: &'a mut [bool],
}

impl<W: Float> Kernel for ClipTile<'_, W> {
    type Output = bool;
    #[inline(always)]
    fn run(mut self) -> bool {
        clip_tile(&mut self)
    }
}

// `!(r <= limit)` on purpose: IRAF stops rejecting when `r <= limit`, so a NaN residual (a zero
// ccdclip sigma at the median) is rejected.
// `(lo + hi) / 2` in float32 on purpose: IRAF's median rounds the sum to float32 first
// (`f32::midpoint` computes in f64 and would round differently).
#[allow(clippy::neg_cmp_op_on_partial_ord, clippy::manual_midpoint)]
// One vector kernel over IRAF's whole sequence (sort, median, clip passes, average); its steps
// share the per-lane state, and reading it top to bottom follows the per-pixel code it mirrors.
#[allow(clippy::too_many_lines)]
#[inline(always)]
fn clip_tile<W: Float>(t: &mut ClipTile<'_, W>) -> bool {
    let (n, w) = (t.n, t.width);
    assert!(w <= WIDTH && t.keys.len() == n * w && t.vals.len() == n * w && t.rows.len() == n);
    let mut usable = true;
    for (raw, krow) in t.rows.iter().zip(t.keys.chunks_exact_mut(w)) {
        for (k, &x) in krow.iter_mut().zip(&raw[t.x0..t.x0 + w]) {
            // The value in the real workspace (rounded as IRAF reads it).
            let r = x.to_f64() as f32;
            usable &= r.abs() < LIMIT;
            *k = real_key(r);
        }
    }
    if !usable {
        return false;
    }
    sort_columns(t.keys, w, t.pairs);
    for (v, &k) in t.vals.iter_mut().zip(t.keys.iter()) {
        *v = key_real(k);
    }
    let v = &*t.vals;
    let plan = t.plan;
    // Kept ranks nl..=nh (inclusive) and their number n1, per lane.
    let mut nl = [0i32; WIDTH];
    let mut nh = [n as i32 - 1; WIDTH];
    let mut n1 = [n as i32; WIDTH];
    let mut active = [true; WIDTH];
    let floor = plan.floor as i32;
    loop {
        // The median of the kept range (IRAF: n3 = nl + n1 / 2, 1-based).
        let mut mid = [0i32; WIDTH];
        for k in 0..w {
            mid[k] = nl[k] + (n1[k] >> 1);
        }
        let mut lo = [0.0f32; WIDTH];
        let mut hi = [0.0f32; WIDTH];
        for j in 0..n {
            let row = &v[j * w..(j + 1) * w];
            let j = j as i32;
            for ((l, h), (&x, &m)) in lo.iter_mut().zip(hi.iter_mut()).zip(row.iter().zip(&mid)) {
                *l = if j + 1 == m { x } else { *l };
                *h = if j == m { x } else { *h };
            }
        }
        let mut med = [0.0f32; WIDTH];
        for k in 0..w {
            med[k] = if n1[k] & 1 == 0 {
                (lo[k] + hi[k]) / 2.0
            } else {
                hi[k]
            };
        }
        // The divisor of each lane's residuals.
        let mut sig = [0.0f32; WIDTH];
        match plan.model {
            Model::Sigma => {
                let mut s = [0.0f32; WIDTH];
                for j in 0..n {
                    let row = &v[j * w..(j + 1) * w];
                    let j = j as i32;
                    for k in 0..w {
                        let d = row[k] - med[k];
                        let inr = j >= nl[k] && j <= nh[k];
                        s[k] = if inr { s[k] + d * d } else { s[k] };
                    }
                }
                for k in 0..w {
                    sig[k] = (s[k] / (n1[k] - 1) as f32).sqrt();
                }
            }
            Model::Ccd(nm) => {
                for k in 0..w {
                    let level = med[k].max(0.0);
                    let q = level * nm[2];
                    sig[k] = (nm[0] + level / nm[1] + q * q).sqrt();
                }
            }
        }
        // Lanes that clip on this pass: sigclip skips a pass whose sigma is not positive
        // (ccdclip has no such test).
        let sigma_model = matches!(plan.model, Model::Sigma);
        let mut clips = [false; WIDTH];
        for k in 0..w {
            clips[k] = active[k] && !(sigma_model && sig[k] <= 0.0);
        }
        // Rejections at the low end, then at the high end of what is left. A lane scans from
        // its end of the range until a value is kept; the scan stops when no lane is scanning.
        let mut cl = [0i32; WIDTH];
        let mut going = clips;
        for j in 0..n {
            let row = &v[j * w..(j + 1) * w];
            let j = j as i32;
            let mut more = false;
            for k in 0..w {
                let r = (med[k] - row[k]) / sig[k];
                let inr = j >= nl[k] && j <= nh[k];
                let out = !(r <= plan.lsigma);
                cl[k] += i32::from(going[k] && inr && out);
                going[k] = going[k] && (!inr || out) && j < nh[k];
                more |= going[k];
            }
            if !more {
                break;
            }
        }
        let mut ch = [0i32; WIDTH];
        let mut going = clips;
        for j in (0..n).rev() {
            let row = &v[j * w..(j + 1) * w];
            let j = j as i32;
            let mut more = false;
            for k in 0..w {
                let r = (row[k] - med[k]) / sig[k];
                let low = nl[k] + cl[k];
                let inr = j >= low && j <= nh[k];
                let out = !(r <= plan.hsigma);
                ch[k] += i32::from(going[k] && inr && out);
                going[k] = going[k] && (!inr || out) && j > low;
                more |= going[k];
            }
            if !more {
                break;
            }
        }
        let mut any = false;
        for k in 0..w {
            let (dl, dh) = if clips[k] { (cl[k], ch[k]) } else { (0, 0) };
            nl[k] += dl;
            nh[k] -= dh;
            n1[k] -= dl + dh;
            active[k] = active[k] && dl + dh > 0 && n1[k] >= floor;
            any |= active[k];
        }
        if !any {
            break;
        }
    }
    // IRAF moves the values above the kept range into the low slots: the sum runs over ranks
    // max(nl, n1)..=nh, then nl..=min(n1 - 1, nh).
    let mut sum = [-0.0f32; WIDTH];
    for j in 0..n {
        let row = &v[j * w..(j + 1) * w];
        let j = j as i32;
        for k in 0..w {
            let inr = j >= nl[k].max(n1[k]) && j <= nh[k];
            sum[k] = if inr { sum[k] + row[k] } else { sum[k] };
        }
    }
    for j in 0..n {
        let row = &v[j * w..(j + 1) * w];
        let j = j as i32;
        for k in 0..w {
            let inr = j >= nl[k] && j <= (n1[k] - 1).min(nh[k]);
            sum[k] = if inr { sum[k] + row[k] } else { sum[k] };
        }
    }
    let keep = plan.keep as i32;
    for k in 0..w {
        t.out[k] = sum[k] / n1[k] as f32;
        t.count[k] = n1[k] as u16;
        t.ok[k] = n1[k] >= keep;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::super::clip::{mccdclip, msigclip, Col, Scratch};
    use super::super::combine::average;
    use super::*;
    use crate::network::cached_pairs;

    fn params(n: usize, reject: Reject, nkeep: i64, sigma: f32, noise: [f32; 3]) -> Params {
        Params {
            reject,
            nkeep,
            lsigma: sigma,
            hsigma: sigma,
            noise: vec![noise; n],
            ..Params::test_default(n)
        }
    }

    /// One tile run on `rows` (`n` rows of `w` pixels): (usable, out, count, ok).
    fn run_tile(plan: &Plan, rows: &[Vec<f32>], n: usize, w: usize) -> TileResult {
        let (mut keys, mut vals) = (vec![0u32; n * w], vec![0.0f32; n * w]);
        let (mut out, mut count, mut ok) = (vec![0.0; w], vec![0u16; w], vec![false; w]);
        let usable = ClipTile {
            plan,
            rows,
            x0: 0,
            keys: &mut keys,
            vals: &mut vals,
            n,
            width: w,
            pairs: cached_pairs(n),
            out: &mut out,
            count: &mut count,
            ok: &mut ok,
        }
        .run();
        (usable, out, count, ok)
    }

    type TileResult = (bool, Vec<f32>, Vec<u16>, Vec<bool>);

    /// The per-pixel pipeline for one column: sorted values, clipping, average.
    /// (None: nothing left.)
    fn per_pixel(p: &Params, column: &[f32]) -> Option<(f32, usize)> {
        let n = column.len();
        let mut d = vec![0.0f32; n + 1];
        let mut id = vec![0u16; n + 1];
        let mut sorted = column.to_vec();
        sorted.sort_by(f32::total_cmp);
        d[1..].copy_from_slice(&sorted);
        for (j, v) in id.iter_mut().enumerate().skip(1) {
            *v = (j - 1) as u16;
        }
        let mut c = Col {
            d: &mut d,
            id: &mut id,
            n,
            n0: n,
        };
        let mut sc = Scratch::new(n);
        if p.reject == Reject::SigClip {
            msigclip(p, &mut c, &mut sc);
        } else {
            mccdclip(p, &mut c, &mut sc);
        }
        let n1 = c.n;
        (n1 > 0).then(|| (average(p, &d, &id, n1, true).unwrap(), n1))
    }

    #[test]
    fn tile_runs_equal_the_per_pixel_code() {
        let mut state = 12345u64;
        let mut uniform = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            ((state >> 40) as f32) / (1u64 << 24) as f32
        };
        let (mut lanes, mut left) = (0, 0);
        for n in [4usize, 5, 7, 10, 15, 16, 31, 64] {
            for (reject, sigma, noise) in [
                (Reject::SigClip, 3.0, [0.0, 1.0, 0.0]),
                (Reject::SigClip, 0.5, [0.0, 1.0, 0.0]),
                (Reject::CcdClip, 3.0, [25.0, 1.0, 0.0]),
                (Reject::CcdClip, 0.3, [4.0, 2.0, 0.01]),
            ] {
                for nkeep in [-2i64, 0, 1, 3] {
                    let p = params(n, reject, nkeep, sigma, noise);
                    let Some(plan) = Plan::new(&p, n, false) else {
                        continue;
                    };
                    let w = 1 + (n * 7) % WIDTH;
                    // Rows of noisy values with outliers, ties and zeros.
                    let rows: Vec<Vec<f32>> = (0..n)
                        .map(|_| {
                            (0..w)
                                .map(|k| {
                                    let u = uniform();
                                    let v = 100.0 + 10.0 * (uniform() - 0.5);
                                    match k % 5 {
                                        0 if u < 0.2 => v + 1000.0 * u,
                                        1 => (v / 4.0).round() * 4.0,
                                        2 => 0.0,
                                        _ => v,
                                    }
                                })
                                .collect()
                        })
                        .collect();
                    let (usable, out, count, ok) = run_tile(&plan, &rows, n, w);
                    assert!(usable);
                    for k in 0..w {
                        let column: Vec<f32> = rows.iter().map(|r| r[k]).collect();
                        let want = per_pixel(&p, &column);
                        if !ok[k] {
                            // Left to the per-pixel code: it had to add values back.
                            assert!(usize::from(count[k]) < plan.keep);
                            left += 1;
                            continue;
                        }
                        let (v, n1) = want.unwrap();
                        assert_eq!(out[k].to_bits(), v.to_bits(), "n {n} lane {k}");
                        assert_eq!(usize::from(count[k]), n1);
                        lanes += 1;
                    }
                }
            }
        }
        assert!(
            lanes > 1000 && left > 10,
            "{lanes} lanes compared, {left} left"
        );
    }

    #[test]
    fn tiles_with_unusable_values_are_refused() {
        let p = params(5, Reject::SigClip, 1, 3.0, [0.0, 1.0, 0.0]);
        let plan = Plan::new(&p, 5, false).unwrap();
        assert!(Plan::new(&p, 5, true).is_none());
        for bad in [f32::NAN, f32::INFINITY, 2.0e18] {
            let mut rows = vec![vec![1.0f32; 3]; 5];
            rows[2][1] = bad;
            let (usable, ..) = run_tile(&plan, &rows, 5, 3);
            assert!(!usable);
        }
    }
}
