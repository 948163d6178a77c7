//! Sorting each pixel's column into exactly IRAF's order (`ic_2sort`): a comparator network
//! over a tile of full columns when the values are distinct (a single sorted order exists), and
//! IRAF's own quicksort, reproduced, when equal values make the order algorithm-dependent.

// The loops follow IRAF's 1-based index arithmetic on purpose, so that each step can be checked
// against the algorithm it reproduces.
#![allow(clippy::needless_range_loop, clippy::explicit_counter_loop)]

use super::{Px, RowBuf};
use crate::network::{cached_pairs, sort_columns};
use crate::sample::Float;
use crate::simd::{self, Kernel};

/// Pixels `x0..x1`, every value usable and unscaled: sort keys built from the rows, one
/// network sort, and the sorted columns written out (IRAF's quicksort where values tie).
pub(super) fn keyed_tile<F: Px, W: Float>(b: &mut RowBuf<F, W>, n: usize, x0: usize, x1: usize) {
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
pub(super) const NET_MAX: usize = 64;
/// Pixels per network tile.
pub(super) const NET_TILE: usize = 64;

/// Sorts every pixel's column of the row (see [`sort_values`]). Columns that hold a value of
/// every image (the usual case) are sorted many at a time: each value becomes a 64-bit key,
/// its order-preserving bits above its image number, and one sorting network sorts a tile of
/// columns with vector min/max. Distinct values have a single sorted order, so the result is
/// the insertion sort's; a column with equal values goes back to IRAF's quicksort.
pub(super) fn sort_row<F: Px, W>(b: &mut RowBuf<F, W>, nimages: usize, x0: usize, x1: usize) {
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
pub(super) fn real_key(v: f32) -> u32 {
    let bits = v.to_bits();
    // Negative: all bits flipped; positive: the sign bit set.
    bits ^ (((bits as i32) >> 31) as u32 | 0x8000_0000)
}

#[inline(always)]
pub(super) fn key_real(k: u32) -> f32 {
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
pub(super) fn sort_values<F: Px>(
    d: &mut [F],
    id: &mut [u16],
    n: usize,
    spare: &mut (Vec<F>, Vec<u16>),
) {
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
pub(super) fn sort_column<F: Px>(b: &mut [F], d: &mut [u16], n: usize) {
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

#[cfg(test)]
mod tests {
    use super::super::gather::gather_pixel;
    use super::super::Params;
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
