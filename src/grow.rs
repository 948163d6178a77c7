//! Growing a per-sample mask spatially, within each frame (never along the stack axis).
//!
//! ```text
//! grown[i, q] = mask[i, q] or there is p with mask[i, p] and |q - p| <= radius
//! ```
//! `|.|` is the exact Euclidean distance on the integer grid of the spatial axes, so in 2-D
//! radius 1 reaches the four direct neighbours and radius sqrt(2) also the diagonals.

use rayon::prelude::*;

use crate::cancel;
use crate::error::CoreError;

/// The non-zero offsets within `radius`, at most `reach[k]` along axis `k`.
fn offsets(reach: &[usize], radius: f64) -> Vec<Vec<isize>> {
    let ndim = reach.len();
    let reach: Vec<isize> = reach.iter().map(|&r| r as isize).collect();
    let mut out = Vec::new();
    let mut d: Vec<isize> = reach.iter().map(|&r| -r).collect();
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
            if d[k] <= reach[k] {
                break;
            }
            d[k] = -reach[k];
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
    let ndim = spatial.len();
    let mut out = mask.to_vec();
    if radius < 1.0 || npix == 0 || ndim == 0 {
        return Ok(out); // no neighbour is within a radius below 1
    }
    // The stencil costs its size per set sample; the distance transform costs a few passes over
    // the frame whatever the radius. Build the stencil only while it is small.
    let reach: Vec<usize> = spatial
        .iter()
        .map(|&s| (radius.floor() as usize).min(s - 1))
        .collect();
    let stencil_size = reach
        .iter()
        .try_fold(1usize, |acc, &r| acc.checked_mul(2 * r + 1))
        .unwrap_or(usize::MAX);
    let offs = (stencil_size <= MAX_STENCIL).then(|| offsets(&reach, radius));
    out.par_chunks_mut(npix)
        .zip(mask.par_chunks(npix))
        .for_each(|(dst, src)| {
            if cancel::requested() {
                return;
            }
            let set = src.iter().filter(|&&m| m != 0).count();
            match &offs {
                Some(offs) if set.saturating_mul(offs.len()) <= npix.saturating_mul(4 * ndim) => {
                    stamp(src, dst, spatial, offs);
                }
                _ => within_distance(src, dst, spatial, radius),
            }
        });
    Ok(out)
}

/// Largest stencil (offsets) built; larger radii use the distance transform only.
const MAX_STENCIL: usize = 1 << 16;

/// Sets every sample within the stencil `offs` of a set sample of `src` (one frame).
fn stamp(src: &[u8], dst: &mut [u8], spatial: &[usize], offs: &[Vec<isize>]) {
    let ndim = spatial.len();
    let mut idx = vec![0usize; ndim];
    // Set samples are rare: skip zero runs eight bytes at a time.
    let words = src.len() / 8;
    let set = (0..words)
        .filter(|&w| {
            let word: [u8; 8] = src[w * 8..w * 8 + 8].try_into().unwrap_or_default();
            u64::from_ne_bytes(word) != 0
        })
        .flat_map(|w| w * 8..w * 8 + 8)
        .chain(words * 8..src.len())
        .filter(|&p| src[p] != 0);
    for p in set {
        let mut rem = p;
        for k in (0..ndim).rev() {
            idx[k] = rem % spatial[k];
            rem /= spatial[k];
        }
        'offset: for d in offs {
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
}

/// "Far": larger than any squared distance on a grid that fits in memory.
const FAR: i64 = i64::MAX / 4;

/// Sets every sample whose Euclidean distance to the nearest set sample of `src` is at most
/// `radius`, from the exact squared distance transform (separable, one lower envelope of
/// parabolas per line: Felzenszwalb and Huttenlocher, "Distance Transforms of Sampled
/// Functions", Theory of Computing 8, 2012). Work is linear in the frame size.
fn within_distance(src: &[u8], dst: &mut [u8], spatial: &[usize], radius: f64) {
    let mut dist: Vec<i64> = src.iter().map(|&m| if m != 0 { 0 } else { FAR }).collect();
    let longest = spatial.iter().copied().max().unwrap_or(0);
    let mut line = vec![0i64; longest];
    let mut env = Envelope::default();
    let mut stride = 1usize;
    for k in (0..spatial.len()).rev() {
        let len = spatial[k];
        let block = stride * len;
        for base in (0..dist.len()).step_by(block) {
            for off in 0..stride {
                let start = base + off;
                for (i, v) in line[..len].iter_mut().enumerate() {
                    *v = dist[start + i * stride];
                }
                env.transform(&mut line[..len]);
                for (i, &v) in line[..len].iter().enumerate() {
                    dist[start + i * stride] = v;
                }
            }
        }
        stride = block;
    }
    for (d, &sq) in dst.iter_mut().zip(&dist) {
        if sq < FAR && (sq as f64).sqrt() <= radius {
            *d = 1;
        }
    }
}

/// Scratch of the 1-D squared distance transform.
#[derive(Default)]
struct Envelope {
    /// Positions of the parabolas of the lower envelope.
    v: Vec<usize>,
    /// Left boundary of each parabola's interval.
    z: Vec<f64>,
}

impl Envelope {
    /// `f[p] <- min_q (p - q)^2 + f[q]` over the finite (`< FAR`) entries.
    fn transform(&mut self, f: &mut [i64]) {
        self.v.clear();
        self.z.clear();
        for q in 0..f.len() {
            if f[q] >= FAR {
                continue;
            }
            let hq = f[q] + (q * q) as i64;
            loop {
                let Some(&r) = self.v.last() else {
                    self.v.push(q);
                    self.z.push(f64::NEG_INFINITY);
                    break;
                };
                let hr = f[r] + (r * r) as i64;
                let s = (hq - hr) as f64 / (2 * (q - r)) as f64;
                if s <= *self.z.last().expect("one per parabola") {
                    self.v.pop();
                    self.z.pop();
                } else {
                    self.v.push(q);
                    self.z.push(s);
                    break;
                }
            }
        }
        if self.v.is_empty() {
            return; // nothing set on this line: it stays FAR
        }
        let base: Vec<i64> = self.v.iter().map(|&q| f[q]).collect();
        let mut k = 0;
        for (p, out) in f.iter_mut().enumerate() {
            while k + 1 < self.v.len() && self.z[k + 1] < p as f64 {
                k += 1;
            }
            let d = p as i64 - self.v[k] as i64;
            *out = d * d + base[k];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force: every pair of samples of one frame.
    fn brute(src: &[u8], spatial: &[usize], radius: f64) -> Vec<u8> {
        let coords = |mut p: usize| {
            let mut c = vec![0i64; spatial.len()];
            for k in (0..spatial.len()).rev() {
                c[k] = (p % spatial[k]) as i64;
                p /= spatial[k];
            }
            c
        };
        (0..src.len())
            .map(|q| {
                let cq = coords(q);
                u8::from((0..src.len()).any(|p| {
                    src[p] != 0 && {
                        let cp = coords(p);
                        let d2: i64 = cp.iter().zip(&cq).map(|(a, b)| (a - b) * (a - b)).sum();
                        (d2 as f64).sqrt() <= radius
                    }
                }))
            })
            .collect()
    }

    #[test]
    fn stencil_and_distance_transform_agree_with_brute_force() {
        let mut state = 12345u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) as usize
        };
        for spatial in [
            vec![7usize],
            vec![5, 9],
            vec![4, 3, 6],
            vec![1, 8],
            vec![6, 1],
        ] {
            let npix: usize = spatial.iter().product();
            for density in [1usize, 5, 40] {
                let src: Vec<u8> = (0..npix)
                    .map(|_| u8::from(next() % 100 < density))
                    .collect();
                for radius in [1.0, 1.5, 2f64.sqrt(), 2.0, 3.3, 50.0, 1e300] {
                    let want = brute(&src, &spatial, radius);
                    let mut a = src.clone();
                    within_distance(&src, &mut a, &spatial, radius);
                    assert_eq!(a, want, "transform {spatial:?} r={radius}");
                    if radius < 100.0 {
                        let reach: Vec<usize> = spatial
                            .iter()
                            .map(|&s| (radius.floor() as usize).min(s - 1))
                            .collect();
                        let mut b = src.clone();
                        stamp(&src, &mut b, &spatial, &offsets(&reach, radius));
                        assert_eq!(b, want, "stencil {spatial:?} r={radius}");
                    }
                    assert_eq!(grow(&src, 1, &spatial, radius).unwrap(), want);
                }
            }
        }
    }

    #[test]
    fn huge_radii_cost_the_image_not_the_radius() {
        let mut mask = vec![0u8; 3 * 3];
        mask[4] = 1;
        let g = grow(&mask, 1, &[3, 3], 1e300).unwrap();
        assert!(g.iter().all(|&v| v == 1));
    }

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
        assert_eq!(offsets(&[1, 1, 1], 1.0).len(), 6);
        assert_eq!(offsets(&[1, 1, 1], 3f64.sqrt()).len(), 26);
    }
}
