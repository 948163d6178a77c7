//! Growing the rejection (`grow >= 1`, IRAF's `ic_grow`): every image's pixels within `grow`
//! of a rejected one are marked, and the marked values are removed from the columns of a second
//! pass over the image.

use super::{Px, RowBuf};
use crate::sample::Float;

/// Per-image marks (`(N, ny, nx)`, frame-major) of the pixels within `grow` (a 2-D disc:
/// `dx^2 + dy^2 <= grow^2`) of a rejected pixel (IRAF's `ic_grow`).
pub(super) fn grow_marks(
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
pub(super) fn remove_grown<F: Px>(
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
