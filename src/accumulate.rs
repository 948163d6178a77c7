//! The sums behind the mean, the sum, the weighted average and the variance.
//!
//! ```text
//! per tile pixel p, over the rows i = 0..N in frame order, for the samples `keep` accepts:
//! counted:   acc[p] += x          nkept[p] += 1          (mean = acc / nkept, sum = acc)
//! weighted:  acc[p] += w_i * x    wsum[p]  += w_i        (weighted average = acc / wsum;
//!                                                         w_i = 1 gives the variance's count)
//! variance:  m = acc / wsum,  squares[p] += (x - m)^2,   var = squares / (wsum - ddof)
//! ```
//! [`crate::reduce`] keeps every valid (finite) sample ([`Finite`]); [`crate::pipeline`] keeps
//! the survivors of a rejection. Both add the same terms in the same order through this one
//! implementation, so "reject, then combine the masked stack" and the fused pipeline give the
//! same bits. Everything is accumulated in `f64` and rounded once by the caller.

use crate::sample::Float;

/// Which samples of a tile are summed.
pub(crate) trait Keep {
    /// Whether sample `v` of frame `i` at tile pixel `p` is summed (`v` is NaN when missing).
    fn keep(&self, i: usize, p: usize, v: f64) -> bool;
}

/// Every valid sample: the plain combine.
pub(crate) struct Finite;

impl Keep for Finite {
    #[inline(always)]
    fn keep(&self, _i: usize, _p: usize, v: f64) -> bool {
        v.is_finite()
    }
}

/// Per-pixel accumulators of one tile.
pub(crate) struct Sums {
    acc: Vec<f64>,
    wsum: Vec<f64>,
    nkept: Vec<u32>,
    squares: Vec<f64>,
}

impl Sums {
    /// Accumulators for tiles of up to `tile` pixels.
    pub(crate) fn new(tile: usize) -> Self {
        Sums {
            acc: vec![0.0; tile],
            wsum: vec![0.0; tile],
            nkept: vec![0; tile],
            squares: vec![0.0; tile],
        }
    }

    /// Zeroes the first `w` pixels' sums, for a new tile of `w` pixels.
    #[inline(always)]
    pub(crate) fn reset(&mut self, w: usize) {
        self.acc[..w].fill(0.0);
        self.wsum[..w].fill(0.0);
        self.nkept[..w].fill(0);
    }

    /// Adds frame `i`'s row with a count (mean and sum).
    #[inline(always)]
    pub(crate) fn add_counted<W: Float>(&mut self, i: usize, row: &[W], keep: &impl Keep) {
        let w = row.len();
        let (acc, nkept) = (&mut self.acc[..w], &mut self.nkept[..w]);
        // Zipped iterators: no bounds checks in the hottest loop of the plain mean.
        for (p, ((a, c), &x)) in acc.iter_mut().zip(nkept.iter_mut()).zip(row).enumerate() {
            let v = x.to_f64();
            let k = keep.keep(i, p, v);
            *a += if k { v } else { 0.0 };
            *c += u32::from(k);
        }
    }

    /// Adds frame `i`'s row with weight `wi` (weighted average; `wi = 1` for the variance).
    #[inline(always)]
    pub(crate) fn add_weighted<W: Float>(
        &mut self,
        i: usize,
        row: &[W],
        wi: f64,
        keep: &impl Keep,
    ) {
        let w = row.len();
        let (acc, wsum) = (&mut self.acc[..w], &mut self.wsum[..w]);
        for (p, ((a, c), &x)) in acc.iter_mut().zip(wsum.iter_mut()).zip(row).enumerate() {
            let v = x.to_f64();
            let k = keep.keep(i, p, v);
            *a += if k { wi * v } else { 0.0 };
            *c += if k { wi } else { 0.0 };
        }
    }

    /// Writes `acc / nkept` (or `acc` when `sum_only`) through `to`, NaN without samples.
    #[inline(always)]
    pub(crate) fn finish_counted<X>(&self, out: &mut [X], sum_only: bool, to: impl Fn(f64) -> X) {
        let w = out.len();
        for ((o, &a), &c) in out.iter_mut().zip(&self.acc[..w]).zip(&self.nkept[..w]) {
            let v = match (c, sum_only) {
                (0, _) => f64::NAN,
                (_, true) => a,
                (_, false) => a / f64::from(c),
            };
            *o = to(v);
        }
    }

    /// Writes `acc / wsum` through `to`, NaN without weight.
    #[inline(always)]
    pub(crate) fn finish_weighted<X>(&self, out: &mut [X], to: impl Fn(f64) -> X) {
        let w = out.len();
        for ((o, &a), &c) in out.iter_mut().zip(&self.acc[..w]).zip(&self.wsum[..w]) {
            let v = if c > 0.0 { a / c } else { f64::NAN };
            *o = to(v);
        }
    }

    /// The variance about the mean of the kept samples, after [`Sums::add_weighted`] with
    /// unit weights over `rows` (frame-major, `w` pixels each): turns the sums into the
    /// means, adds up the squared deviations in frame order, and writes
    /// `squares / (count - ddof)` (NaN when that divisor is not positive) to `var`; the mean
    /// goes to `mean` when given.
    #[inline(always)]
    pub(crate) fn finish_variance<W: Float, X>(
        &mut self,
        rows: &[W],
        keep: &impl Keep,
        ddof: f64,
        var: &mut [X],
        mean: Option<&mut [X]>,
        to: impl Fn(f64) -> X,
    ) {
        let w = var.len();
        let (acc, wsum, squares) = (&mut self.acc[..w], &self.wsum[..w], &mut self.squares[..w]);
        for (m, &c) in acc.iter_mut().zip(wsum.iter()) {
            *m = if c > 0.0 { *m / c } else { f64::NAN };
        }
        squares.fill(0.0);
        for (i, row) in rows.chunks_exact(w).enumerate() {
            for p in 0..w {
                let v = row[p].to_f64();
                let k = keep.keep(i, p, v);
                let d = v - acc[p];
                squares[p] += if k { d * d } else { 0.0 };
            }
        }
        for ((o, &q), &c) in var.iter_mut().zip(squares.iter()).zip(wsum.iter()) {
            let dof = c - ddof;
            *o = to(if c > 0.0 && dof > 0.0 {
                q / dof
            } else {
                f64::NAN
            });
        }
        if let Some(mean) = mean {
            for (o, &m) in mean.iter_mut().zip(acc.iter()) {
                *o = to(m);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_weighted_and_variance_over_finite_samples() {
        let nan = f32::NAN;
        // Two frames, three pixels.
        let rows = [1.0f32, nan, 4.0, 3.0, nan, 2.0];
        let mut s = Sums::new(3);
        s.reset(3);
        for (i, row) in rows.chunks_exact(3).enumerate() {
            s.add_counted(i, row, &Finite);
        }
        let mut out = [0.0f64; 3];
        s.finish_counted(&mut out, false, |v| v);
        assert_eq!(out[0], 2.0);
        assert!(out[1].is_nan());
        assert_eq!(out[2], 3.0);
        s.finish_counted(&mut out, true, |v| v);
        assert_eq!((out[0], out[2]), (4.0, 6.0));

        s.reset(3);
        for (i, row) in rows.chunks_exact(3).enumerate() {
            s.add_weighted(i, row, [1.0, 3.0][i], &Finite);
        }
        s.finish_weighted(&mut out, |v| v);
        assert_eq!((out[0], out[2]), (2.5, 2.5));

        s.reset(3);
        for (i, row) in rows.chunks_exact(3).enumerate() {
            s.add_weighted(i, row, 1.0, &Finite);
        }
        let mut mean = [0.0f64; 3];
        s.finish_variance(&rows, &Finite, 1.0, &mut out, Some(&mut mean), |v| v);
        assert_eq!((out[0], out[2]), (2.0, 2.0));
        assert!(out[1].is_nan());
        assert_eq!((mean[0], mean[2]), (2.0, 3.0));
    }
}
