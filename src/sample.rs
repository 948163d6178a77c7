//! The element types a stack may hold, and the floating workspace each one is combined in.
//!
//! ```text
//! u8, u16, i16, f32  ->  f32 workspace
//! i32, f64           ->  f64 workspace
//! ```
//! Every conversion into the workspace is exact (24-bit f32 mantissa for 16-bit integers,
//! 53-bit f64 mantissa for 32-bit integers), so integer outputs such as the lower median can be
//! converted back without loss.

use crate::median_regs::MiddleKey;

/// A floating workspace type: `f32` or `f64`.
pub trait Float: Copy + Send + Sync + PartialOrd + std::fmt::Debug + Default + 'static {
    const INFINITY: Self;
    const NEG_INFINITY: Self;
    const NAN: Self;
    fn is_finite(self) -> bool;
    fn to_f64(self) -> f64;
    /// Rounds an `f64` to this type (round-to-nearest-even).
    fn from_f64(x: f64) -> Self;
    /// An integer whose order is the order of the (non-NaN) floats: sorting keys needs only
    /// integer min/max, single instructions without NaN handling.
    type Key: MiddleKey + Send + Sync + std::fmt::Debug + 'static;
    /// The key of `+inf`, larger than the key of every finite value (marks missing samples).
    const INFINITY_KEY: Self::Key;
    /// The order-preserving key of a value that is not NaN.
    fn to_key(self) -> Self::Key;
    /// The value of a key made by [`Float::to_key`].
    fn from_key(key: Self::Key) -> Self;
}

impl Float for f32 {
    const INFINITY: Self = f32::INFINITY;
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    const NAN: Self = f32::NAN;
    #[inline(always)]
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    type Key = i32;
    const INFINITY_KEY: i32 = f32::INFINITY.to_bits() as i32;
    #[inline(always)]
    fn to_key(self) -> i32 {
        // Negative floats order backwards as integers: flip their magnitude bits.
        let b = self.to_bits() as i32;
        b ^ (((b >> 31) as u32) >> 1) as i32
    }
    #[inline(always)]
    fn from_key(key: i32) -> Self {
        // The flip keeps the sign bit, so it undoes itself.
        f32::from_bits((key ^ (((key >> 31) as u32) >> 1) as i32) as u32)
    }
}

impl Float for f64 {
    const INFINITY: Self = f64::INFINITY;
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    const NAN: Self = f64::NAN;
    #[inline(always)]
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    type Key = i64;
    const INFINITY_KEY: i64 = f64::INFINITY.to_bits() as i64;
    #[inline(always)]
    fn to_key(self) -> i64 {
        // Negative floats order backwards as integers: flip their magnitude bits.
        let b = self.to_bits() as i64;
        b ^ (((b >> 63) as u64) >> 1) as i64
    }
    #[inline(always)]
    fn from_key(key: i64) -> Self {
        // The flip keeps the sign bit, so it undoes itself.
        f64::from_bits((key ^ (((key >> 63) as u64) >> 1) as i64) as u64)
    }
}

/// An accepted stack element type.
pub trait Sample: Copy + Send + Sync + 'static {
    /// The floating type this element is combined in.
    type Work: Float;
    /// `true` for integer types (which can hold no missing value).
    const IS_INTEGER: bool;
    /// Reverses the byte order (for big-endian FITS data viewed as native).
    #[must_use]
    fn swap_bytes(self) -> Self;
    /// Exact conversion into the workspace.
    fn to_work(self) -> Self::Work;
    /// Converts a workspace value that came from this type back (exact for such values).
    fn from_work(w: Self::Work) -> Self;
    /// The same values as workspace values without conversion, when the types coincide.
    fn as_work(values: &[Self]) -> Option<&[Self::Work]>;
    /// The sort key: the value itself for integers, an order-preserving integer for floats.
    type Key: MiddleKey + Send + Sync + std::fmt::Debug + 'static;
    /// A key at least as large as every valid key (missing samples sort last).
    const MISSING_KEY: Self::Key;
    /// `false` for NaN and +-inf.
    fn is_valid(self) -> bool;
    /// The key of a valid value.
    fn key(self) -> Self::Key;
    /// The workspace value of a key.
    fn key_value(key: Self::Key) -> Self::Work;
}

macro_rules! impl_int_sample {
    ($t:ty, $w:ty) => {
        impl Sample for $t {
            type Work = $w;
            const IS_INTEGER: bool = true;
            #[inline(always)]
            fn swap_bytes(self) -> Self {
                <$t>::swap_bytes(self)
            }
            #[inline(always)]
            fn to_work(self) -> $w {
                <$w>::from(self)
            }
            #[inline(always)]
            fn from_work(w: $w) -> Self {
                w as $t
            }
            #[inline(always)]
            fn as_work(_: &[Self]) -> Option<&[$w]> {
                None
            }
            type Key = $t;
            // Equal to the largest valid value: ties with it are harmless, since the valid
            // values are taken by count, and equal values are interchangeable.
            const MISSING_KEY: $t = <$t>::MAX;
            #[inline(always)]
            fn is_valid(self) -> bool {
                true
            }
            #[inline(always)]
            fn key(self) -> $t {
                self
            }
            #[inline(always)]
            fn key_value(key: $t) -> $w {
                <$w>::from(key)
            }
        }
    };
}

impl_int_sample!(u8, f32);
impl_int_sample!(u16, f32);
impl_int_sample!(i16, f32);
impl_int_sample!(i32, f64);

macro_rules! impl_float_sample {
    ($t:ty) => {
        impl Sample for $t {
            type Work = $t;
            const IS_INTEGER: bool = false;
            #[inline(always)]
            fn swap_bytes(self) -> Self {
                <$t>::from_bits(self.to_bits().swap_bytes())
            }
            #[inline(always)]
            fn to_work(self) -> $t {
                self
            }
            #[inline(always)]
            fn from_work(w: $t) -> Self {
                w
            }
            #[inline(always)]
            fn as_work(values: &[Self]) -> Option<&[$t]> {
                Some(values)
            }
            type Key = <$t as Float>::Key;
            const MISSING_KEY: Self::Key = <$t as Float>::INFINITY_KEY;
            #[inline(always)]
            fn is_valid(self) -> bool {
                self.is_finite()
            }
            #[inline(always)]
            fn key(self) -> Self::Key {
                self.to_key()
            }
            #[inline(always)]
            fn key_value(key: Self::Key) -> $t {
                <$t as Float>::from_key(key)
            }
        }
    };
}

impl_float_sample!(f32);
impl_float_sample!(f64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_conversions_round_trip_exactly() {
        for v in [0u16, 1, 32767, 65535] {
            assert_eq!(u16::from_work(v.to_work()), v);
        }
        for v in [i32::MIN, -1, 0, i32::MAX] {
            assert_eq!(i32::from_work(v.to_work()), v);
        }
        for v in [i16::MIN, 0, i16::MAX] {
            assert_eq!(i16::from_work(v.to_work()), v);
        }
    }

    #[test]
    fn keys_order_like_the_floats_and_convert_back() {
        let values = [
            f32::NEG_INFINITY,
            -3.0e38,
            -2.0,
            -1.0,
            -1.0e-40,
            -0.0,
            0.0,
            1.0e-40,
            1.0,
            2.5,
            3.0e38,
            f32::INFINITY,
        ];
        for pair in values.windows(2) {
            assert!(pair[0].to_key() < pair[1].to_key(), "{pair:?}");
        }
        for v in values {
            assert_eq!(f32::from_key(v.to_key()).to_bits(), v.to_bits());
            let d = f64::from(v);
            assert_eq!(f64::from_key(d.to_key()).to_bits(), d.to_bits());
        }
        assert_eq!(f32::INFINITY.to_key(), f32::INFINITY_KEY);
        assert!(f64::MAX.to_key() < f64::INFINITY_KEY);
    }

    #[test]
    fn float_byte_swap_is_an_involution() {
        let x = 1234.5f32;
        assert_ne!(x.swap_bytes().to_bits(), x.to_bits());
        assert_eq!(x.swap_bytes().swap_bytes(), x);
        assert_eq!(f32::from_be_bytes(x.to_le_bytes()), x.swap_bytes());
    }
}
