//! Input variance planes: the variance of each combined value, and the rule that tests each
//! sample against its own variance.
//!
//! Both kernels read the data and the variance plane tile by tile (as the pipeline does) and,
//! per output element, see the usable samples as `(frame, x, v)` after the zero/scale
//! correction:
//!
//! ```text
//! x' = (x - zero_i) / scale_i          v' = v / scale_i^2
//! usable: x finite and not masked, v finite and v >= 0
//! ```

mod propagate;
mod varclip;

pub use propagate::{propagate, Propagated, Propagation};
pub use varclip::{varclip, VarClip, VarClipped};

use crate::error::CoreError;
use crate::sample::{Float, Sample};
use crate::stack::{Source, TileCursor};

/// The per-frame correction `(x - zero_i) / scale_i` (both optional).
#[derive(Debug, Clone, Copy, Default)]
pub struct Correction<'a> {
    pub zero: Option<&'a [f64]>,
    pub scale: Option<&'a [f64]>,
}

impl Correction<'_> {
    fn check(&self, n: usize) -> Result<(), CoreError> {
        let bad_zero = self
            .zero
            .is_some_and(|z| z.len() != n || z.iter().any(|v| !v.is_finite()));
        let bad_scale = self
            .scale
            .is_some_and(|s| s.len() != n || s.iter().any(|v| !(v.is_finite() && *v > 0.0)));
        if bad_zero || bad_scale {
            return Err(CoreError::Value {
                name: "zero/scale",
                message: format!("expected {n} finite zeros and {n} finite scales > 0"),
            });
        }
        Ok(())
    }

    #[inline]
    fn apply(&self, i: usize, x: f64, v: f64) -> (f64, f64) {
        let z = self.zero.map_or(0.0, |z| z[i]);
        match self.scale {
            Some(s) => ((x - z) / s[i], v / (s[i] * s[i])),
            None => (x - z, v),
        }
    }
}

/// The data and variance of one tile, frame-major (`i * w + p`), as read.
struct Tile<X, V> {
    cursor_x: TileCursor,
    cursor_v: TileCursor,
    x: Vec<X>,
    v: Vec<V>,
}

impl<X: Float, V: Float> Tile<X, V> {
    fn new(n: usize, tile: usize) -> Self {
        Tile {
            cursor_x: TileCursor::default(),
            cursor_v: TileCursor::default(),
            x: vec![X::NAN; n * tile],
            v: vec![V::NAN; n * tile],
        }
    }

    /// Reads pixels `start..start + w` of every frame of both planes; missing values are NaN.
    fn load<T, U>(&mut self, data: &Source<'_, T>, var: &Source<'_, U>, start: usize, w: usize)
    where
        T: Sample<Work = X>,
        U: Sample<Work = V>,
    {
        data.locate(start, w, &mut self.cursor_x);
        var.locate(start, w, &mut self.cursor_v);
        for i in 0..data.n() {
            data.read(i, &self.cursor_x, X::NAN, &mut self.x[i * w..(i + 1) * w]);
            var.read(i, &self.cursor_v, V::NAN, &mut self.v[i * w..(i + 1) * w]);
        }
    }

    /// Collects the usable, corrected samples of pixel `p` of a tile of width `w`.
    fn gather(&self, n: usize, w: usize, p: usize, corr: &Correction<'_>, out: &mut Vec<Sampled>) {
        out.clear();
        for i in 0..n {
            let x = self.x[i * w + p].to_f64();
            let v = self.v[i * w + p].to_f64();
            // NaN fails both tests: a missing value or variance makes the sample unusable.
            if x.is_finite() && v >= 0.0 && v.is_finite() {
                let (x, v) = corr.apply(i, x, v);
                out.push(Sampled { frame: i, x, v });
            }
        }
    }
}

/// One usable sample of an output element.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampled {
    pub frame: usize,
    pub x: f64,
    pub v: f64,
}

/// Pixels per tile: about 64 KiB of both planes.
fn tile_len(n: usize) -> usize {
    (65536 / (n.max(1) * 16)).clamp(16, 4096)
}

/// The variance plane must have the stack's shape.
fn check_shapes<T: Sample, U: Sample>(
    data: &Source<'_, T>,
    var: &Source<'_, U>,
) -> Result<(), CoreError> {
    let (a, b) = (data.stack().shape(), var.stack().shape());
    if a != b {
        return Err(CoreError::Shape {
            name: "variance",
            expected: crate::error::shape_str(&a),
            actual: crate::error::shape_str(&b),
        });
    }
    Ok(())
}
