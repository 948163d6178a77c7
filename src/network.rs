//! Batcher's odd-even merge sort as a list of compare-exchange pairs, applied "vertically":
//! each pair `(a, b)` with `a < b` replaces rows `a` and `b` of a tile by their element-wise
//! minimum and maximum, so one comparator sorts a whole tile of pixels at once and vectorises.
//!
//! ```text
//! network for m = next power of two >= n; keep the pairs with both ends < n
//! ```
//! Dropping the pairs that touch positions `>= n` is exact: think of those positions as holding
//! `+inf`. Every comparator puts the smaller value at the lower index, so a `+inf` at an index
//! `>= n` never moves and such comparators never change anything.

use std::sync::OnceLock;

/// Largest stack depth sorted by a network; deeper stacks use selection per pixel.
pub const NETWORK_MAX_N: usize = 128;

/// The comparator pairs that sort `n` values.
#[must_use]
pub fn pairs(n: usize) -> Vec<(u16, u16)> {
    let m = n.next_power_of_two();
    let mut out = Vec::new();
    let mut p = 1;
    while p < m {
        let mut k = p;
        while k >= 1 {
            let mut j = k % p;
            while j + k < m {
                for i in 0..k.min(m - j - k) {
                    let (a, b) = (i + j, i + j + k);
                    if a / (2 * p) == b / (2 * p) && b < n {
                        out.push((a as u16, b as u16));
                    }
                }
                j += 2 * k;
            }
            k /= 2;
        }
        p *= 2;
    }
    out
}

/// The pairs for `n`, built once per `n` and shared.
#[must_use]
pub fn cached_pairs(n: usize) -> &'static [(u16, u16)] {
    static TABLE: OnceLock<Vec<Vec<(u16, u16)>>> = OnceLock::new();
    let table = TABLE.get_or_init(|| (0..=NETWORK_MAX_N).map(pairs).collect());
    &table[n]
}

/// The comparators of `pairs` that the values ending at `ranks` depend on.
///
/// Walking the network backwards, a comparator matters when it touches a position that matters
/// later; it then makes both of its positions matter. The rest cannot change those ranks.
#[must_use]
pub fn pruned(pairs: &[(u16, u16)], n: usize, ranks: &[usize]) -> Vec<(u16, u16)> {
    let mut needed = vec![false; n];
    for &r in ranks {
        needed[r] = true;
    }
    let mut keep: Vec<(u16, u16)> = Vec::new();
    for &(a, b) in pairs.iter().rev() {
        let (ia, ib) = (usize::from(a), usize::from(b));
        if needed[ia] || needed[ib] {
            needed[ia] = true;
            needed[ib] = true;
            keep.push((a, b));
        }
    }
    keep.reverse();
    keep
}

/// The comparators that put the two middle ranks `(n - 1) / 2` and `n / 2` of `n` values in
/// place (enough for the median and the lower median when no sample is missing).
#[must_use]
pub fn cached_median_pairs(n: usize) -> &'static [(u16, u16)] {
    static TABLE: OnceLock<Vec<Vec<(u16, u16)>>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        (0..=NETWORK_MAX_N)
            .map(|n| {
                if n == 0 {
                    Vec::new()
                } else {
                    pruned(cached_pairs(n), n, &[(n - 1) / 2, n / 2])
                }
            })
            .collect()
    });
    &table[n]
}

/// Sorts every column of a row-major tile `rows` (`n` rows of `width` keys) in place.
#[inline(always)]
pub fn sort_columns<K: Copy + Ord>(rows: &mut [K], width: usize, pairs: &[(u16, u16)]) {
    for &(a, b) in pairs {
        let (a, b) = (usize::from(a), usize::from(b));
        let (lo, hi) = rows.split_at_mut(b * width);
        let ra = &mut lo[a * width..(a + 1) * width];
        let rb = &mut hi[..width];
        for (x, y) in ra.iter_mut().zip(rb.iter_mut()) {
            let (u, v) = (*x, *y);
            // Integer min/max: one instruction each. (A float `if v < u` select that keeps the
            // loaded value becomes a masked store, which the next comparator cannot forward
            // from; float min/max add NaN handling.)
            *x = u.min(v);
            *y = u.max(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 0-1 principle: a network sorts every input iff it sorts every 0/1 input.
    fn sorts_all_binary_inputs(n: usize) -> bool {
        let p = pairs(n);
        (0u32..(1 << n)).all(|bits| {
            let mut v: Vec<i32> = (0..n).map(|i| ((bits >> i) & 1) as i32).collect();
            sort_columns(&mut v, 1, &p);
            v.windows(2).all(|w| w[0] <= w[1])
        })
    }

    #[test]
    fn networks_sort_every_binary_input_up_to_16() {
        for n in 0..=16 {
            assert!(
                sorts_all_binary_inputs(n),
                "network for n = {n} does not sort"
            );
        }
    }

    #[test]
    fn pruned_networks_place_the_middle_ranks_for_every_binary_input() {
        for n in 1..=16 {
            let p = cached_median_pairs(n);
            assert!(p.len() <= pairs(n).len());
            for bits in 0u32..(1 << n) {
                let mut v: Vec<i32> = (0..n).map(|i| ((bits >> i) & 1) as i32).collect();
                let mut sorted = v.clone();
                sorted.sort_unstable();
                sort_columns(&mut v, 1, p);
                assert_eq!(v[(n - 1) / 2], sorted[(n - 1) / 2], "n = {n}");
                assert_eq!(v[n / 2], sorted[n / 2], "n = {n}");
            }
        }
        assert!(cached_median_pairs(15).len() < cached_pairs(15).len());
    }

    #[test]
    fn known_sizes() {
        assert_eq!(pairs(2), vec![(0, 1)]);
        assert_eq!(pairs(16).len(), 63);
        assert!(pairs(15).len() < 63);
        assert_eq!(cached_pairs(16).len(), 63);
    }

    #[test]
    fn sorts_random_columns_for_every_supported_depth() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 1000) as i64 - 500
        };
        for n in 1..=NETWORK_MAX_N {
            let width = 3;
            let mut rows: Vec<i64> = (0..n * width).map(|_| next()).collect();
            let mut want: Vec<Vec<i64>> = (0..width)
                .map(|c| (0..n).map(|r| rows[r * width + c]).collect())
                .collect();
            for w in &mut want {
                w.sort_unstable();
            }
            let mut middle = rows.clone();
            sort_columns(&mut rows, width, cached_pairs(n));
            sort_columns(&mut middle, width, cached_median_pairs(n));
            for (c, w) in want.iter().enumerate() {
                let got: Vec<i64> = (0..n).map(|r| rows[r * width + c]).collect();
                assert_eq!(&got, w, "n = {n}");
                for r in [(n - 1) / 2, n / 2] {
                    assert_eq!(middle[r * width + c], w[r], "n = {n}, rank {r}");
                }
            }
        }
    }
}
