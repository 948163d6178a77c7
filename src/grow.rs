//! Growing a per-sample mask spatially, within each frame (never along the stack axis).
//!
//! ```text
//! grown[i, q] = mask[i, q] or there is p with mask[i, p] and |q - p| <= radius
//! ```
//! `|.|` is the exact Euclidean distance on the integer grid of the spatial axes, so in 2-D
//! radius 1 reaches the four direct neighbours and radius sqrt(2) also the diagonals.

use rayon::prelude::*;

use crate::error::CoreError;

/// The non-zero offsets within `radius` on a grid with `ndim` axes.
fn offsets(ndim: usize, radius: f64) -> Vec<Vec<isize>> {
    let reach = radius.floor() as isize;
    let mut out = Vec::new();
    let mut d = vec![-reach; ndim];
    if ndim == 0 {
        return out;
    }
    loop {
        // sqrt(sum) <= radius, not sum <= radius^2: sqrt(3)^2 rounds below 3 and would miss
        // the corners of a 3-D cube.
        let dist: f64 = d.iter().map(|&v| (v * v) as f64).sum::<f64>().sqrt();
        if dist <= radius && d.iter().any(|&v| v != 0) {
            out.push(d.clone());
        }
        let mut k = ndim;
        loop {
            if k == 0 {
                return out;
            }
            k -= 1;
            d[k] += 1;
            if d[k] <= reach {
                break;
            }
            d[k] = -reach;
        }
    }
}

/// Grows `mask` (frame-major `(n, *spatial)`, non-zero = set) by `radius` within each frame.
///
/// Returns the grown mask; samples it adds are those where the result is set and `mask` is not.
///
/// # Errors
/// If `radius` is negative or not finite, or the mask length does not match the shape.
pub fn grow(mask: &[u8], n: usize, spatial: &[usize], radius: f64) -> Result<Vec<u8>, CoreError> {
    if !(radius.is_finite() && radius >= 0.0) {
        return Err(CoreError::Value {
            name: "grow",
            message: format!("the grow radius must be a finite number >= 0, got {radius}"),
        });
    }
    let npix: usize = spatial.iter().product();
    if mask.len() != n * npix {
        return Err(CoreError::Value {
            name: "mask",
            message: format!(
                "{} values given for {n} frames of {npix} pixels",
                mask.len()
            ),
        });
    }
    let offs = offsets(spatial.len(), radius);
    let mut out = mask.to_vec();
    if offs.is_empty() || npix == 0 {
        return Ok(out);
    }
    let ndim = spatial.len();
    out.par_chunks_mut(npix)
        .zip(mask.par_chunks(npix))
        .for_each(|(dst, src)| {
            let mut idx = vec![0usize; ndim];
            for (p, &m) in src.iter().enumerate() {
                if m == 0 {
                    continue;
                }
                let mut rem = p;
                for k in (0..ndim).rev() {
                    idx[k] = rem % spatial[k];
                    rem /= spatial[k];
                }
                'offset: for d in &offs {
                    let mut q = 0usize;
                    for k in 0..ndim {
                        let c = idx[k] as isize + d[k];
                        if c < 0 || c >= spatial[k] as isize {
                            continue 'offset;
                        }
                        q = q * spatial[k] + c as usize;
                    }
                    dst[q] = 1;
                }
            }
        });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radius_one_is_a_cross_and_sqrt2_a_square() {
        let mut mask = vec![0u8; 25];
        mask[12] = 1;
        let cross = grow(&mask, 1, &[5, 5], 1.0).unwrap();
        let set: Vec<usize> = (0..25).filter(|&i| cross[i] == 1).collect();
        assert_eq!(set, vec![7, 11, 12, 13, 17]);
        let square = grow(&mask, 1, &[5, 5], 2f64.sqrt()).unwrap();
        assert_eq!(square.iter().map(|&v| usize::from(v)).sum::<usize>(), 9);
    }

    #[test]
    fn growth_stays_within_its_frame_and_the_grid() {
        let mut mask = vec![0u8; 2 * 4];
        mask[0] = 1; // frame 0, pixel 0 of a 1-D grid of 4
        let g = grow(&mask, 2, &[4], 2.0).unwrap();
        assert_eq!(g, vec![1, 1, 1, 0, 0, 0, 0, 0]);
        assert_eq!(grow(&mask, 2, &[4], 0.5).unwrap(), mask);
        assert!(grow(&mask, 2, &[4], -1.0).is_err());
        assert_eq!(offsets(3, 1.0).len(), 6);
        assert_eq!(offsets(3, 3f64.sqrt()).len(), 26);
    }
}
