//! The two middle ranks of complete pixel columns, with the rows held in vector registers.
//!
//! [`crate::network`] sorts a tile row by row: every comparator loads two rows of the tile and
//! stores them back. Here the tile is taken 16 pixels at a time: the `n` values of those pixels
//! are loaded once into `n` registers, the pruned median network (generated as straight-line
//! code by `build.rs`, the same comparators as [`crate::network::cached_median_pairs`]) runs on
//! them, and only the two middle rows are stored. Same comparators, same result, a fraction of
//! the memory traffic.

use std::marker::PhantomData;

use crate::simd::{self, Kernel};

/// Pixels per group.
pub const LANES: usize = 16;

/// [`LANES`] keys in one vector register.
///
/// The methods use AVX-512 instructions: they may only run inside
/// [`simd::run_if_avx512`] (where [`dispatch`] calls them).
pub trait Vector: Copy {
    type Key;
    /// Loads the first [`LANES`] keys of `keys`.
    fn load(keys: &[Self::Key]) -> Self;
    /// Stores into the first [`LANES`] keys of `keys`.
    fn store(self, keys: &mut [Self::Key]);
    #[must_use]
    fn min(self, other: Self) -> Self;
    #[must_use]
    fn max(self, other: Self) -> Self;
}

macro_rules! vector {
    ($name:ident, $key:ty, $reg:ty, $load:ident, $store:ident, $min:ident, $max:ident) => {
        #[derive(Clone, Copy)]
        pub struct $name($reg);

        #[cfg(target_arch = "x86_64")]
        impl Vector for $name {
            type Key = $key;
            #[inline(always)]
            fn load(keys: &[$key]) -> Self {
                assert!(keys.len() >= LANES);
                // SAFETY: LANES keys are readable (checked); only called with AVX-512 enabled.
                Self(unsafe { std::arch::x86_64::$load(keys.as_ptr().cast()) })
            }
            #[inline(always)]
            fn store(self, keys: &mut [$key]) {
                assert!(keys.len() >= LANES);
                // SAFETY: as for `load`, writing.
                unsafe { std::arch::x86_64::$store(keys.as_mut_ptr().cast(), self.0) }
            }
            #[inline(always)]
            fn min(self, other: Self) -> Self {
                // SAFETY: only called with AVX-512 (AVX-512BW for 16-bit keys) enabled.
                Self(unsafe { std::arch::x86_64::$min(self.0, other.0) })
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                // SAFETY: as for `min`.
                Self(unsafe { std::arch::x86_64::$max(self.0, other.0) })
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{__m256i, __m512i};

#[cfg(target_arch = "x86_64")]
vector!(
    I32x16,
    i32,
    __m512i,
    _mm512_loadu_si512,
    _mm512_storeu_si512,
    _mm512_min_epi32,
    _mm512_max_epi32
);
#[cfg(target_arch = "x86_64")]
vector!(
    I16x16,
    i16,
    __m256i,
    _mm256_loadu_si256,
    _mm256_storeu_si256,
    _mm256_min_epi16,
    _mm256_max_epi16
);
#[cfg(target_arch = "x86_64")]
vector!(
    U16x16,
    u16,
    __m256i,
    _mm256_loadu_si256,
    _mm256_storeu_si256,
    _mm256_min_epu16,
    _mm256_max_epu16
);

/// One comparator: row `a` gets the minimum, row `b` the maximum.
#[inline(always)]
fn cx<V: Vector, const N: usize>(v: &mut [V; N], a: usize, b: usize) {
    let (x, y) = (v[a], v[b]);
    v[a] = x.min(y);
    v[b] = x.max(y);
}

/// A comparator network on `N` rows, as straight-line code.
trait Network<const N: usize> {
    fn apply<V: Vector>(v: &mut [V; N]);
}

/// Runs network `M` on every group of [`LANES`] columns of the row-major tile `keys` (`N` rows
/// of `width`, a multiple of [`LANES`]) and writes back rows `(N - 1) / 2` and `N / 2`.
/// One kernel per depth, so that each network is compiled as its own function.
struct Groups<'a, V: Vector, const N: usize, M> {
    keys: &'a mut [V::Key],
    width: usize,
    net: PhantomData<M>,
}

impl<V: Vector, const N: usize, M: Network<N>> Kernel for Groups<'_, V, N, M> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let Groups { keys, width: w, .. } = self;
        let ranks = [(N - 1) / 2, N / 2];
        for c0 in (0..w).step_by(LANES) {
            let mut v: [V; N] = std::array::from_fn(|j| V::load(&keys[j * w + c0..]));
            M::apply(&mut v);
            for r in ranks {
                v[r].store(&mut keys[r * w + c0..]);
            }
        }
    }
}

include!(concat!(env!("OUT_DIR"), "/median_networks.rs"));

/// Sort keys that may take the register networks.
pub trait MiddleKey: Copy + Ord + Default {
    /// Puts the two middle ranks `(n - 1) / 2` and `n / 2` of every column of the row-major
    /// tile `keys` (`n` rows of `width`) in place; the other rows are left in an unspecified
    /// order. Returns false (and does nothing) when it cannot: `n` outside
    /// `3..=REGISTER_MAX_N`, a width that is not a multiple of [`LANES`], no AVX-512, or a key
    /// type without networks.
    #[inline(always)]
    fn middle_rows(keys: &mut [Self], width: usize, n: usize) -> bool {
        let _ = (keys, width, n);
        false
    }
}

// 16- and 32-bit keys (16-bit images, float32 and int32 data); the others keep the tile
// network, which keeps the compiled code (one function per depth and key type) small.
macro_rules! middle_key {
    ($($t:ty => $v:ident),*; $($u:ty),*) => {
        $(impl MiddleKey for $t {
            #[inline(always)]
            fn middle_rows(keys: &mut [Self], width: usize, n: usize) -> bool {
                width % LANES == 0 && dispatch::<$v>(keys, width, n)
            }
        })*
        $(impl MiddleKey for $u {})*
    };
}
#[cfg(target_arch = "x86_64")]
middle_key!(u16 => U16x16, i16 => I16x16, i32 => I32x16; u8, i64);
#[cfg(not(target_arch = "x86_64"))]
middle_key!(; u8, u16, i16, i32, i64);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{cached_median_pairs, sort_columns};

    fn avx512() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512dq")
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    #[test]
    fn middle_rows_equal_the_tile_network() {
        let mut state = 99u64;
        for n in 1..=REGISTER_MAX_N + 2 {
            for w in [1usize, 15, 16, 17, 64, 100, 512] {
                let keys: Vec<i32> = (0..n * w)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6_364_136_223_846_793_005)
                            .wrapping_add(1);
                        (state >> 59) as i32 - 8 // few distinct values: many ties
                    })
                    .collect();
                let mut regs = keys.clone();
                let done = i32::middle_rows(&mut regs, w, n);
                if std::env::var("IMCOMBINERS_SIMD").is_err() && avx512() {
                    assert_eq!(done, (3..=REGISTER_MAX_N).contains(&n) && w % LANES == 0);
                }
                if !done {
                    continue;
                }
                let mut tile = keys.clone();
                sort_columns(&mut tile, w, cached_median_pairs(n));
                let mut sorted = keys;
                sort_columns(&mut sorted, w, crate::network::cached_pairs(n));
                for r in [(n - 1) / 2, n / 2] {
                    assert_eq!(regs[r * w..(r + 1) * w], tile[r * w..(r + 1) * w], "n {n}");
                    assert_eq!(
                        regs[r * w..(r + 1) * w],
                        sorted[r * w..(r + 1) * w],
                        "n {n}"
                    );
                }
            }
        }
    }
}
