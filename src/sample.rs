//! The element types a stack may hold, and the floating workspace each one is combined in.
//!
//! ```text
//! u8, u16, i16, f32  ->  f32 workspace
//! i32, f64           ->  f64 workspace
//! ```
//! Every conversion into the workspace is exact (24-bit f32 mantissa for 16-bit integers,
//! 53-bit f64 mantissa for 32-bit integers), so integer outputs such as the lower median can be
//! converted back without loss.

/// A floating workspace type: `f32` or `f64`.
pub trait Float:
    Copy + Send + Sync + PartialOrd + std::fmt::Debug + Default + 'static
{
    const INFINITY: Self;
    const NEG_INFINITY: Self;
    const NAN: Self;
    fn is_finite(self) -> bool;
    fn to_f64(self) -> f64;
    /// Rounds an `f64` to this type (round-to-nearest-even).
    fn from_f64(x: f64) -> Self;
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
}

/// An accepted stack element type.
pub trait Sample: Copy + Send + Sync + 'static {
    /// The floating type this element is combined in.
    type Work: Float;
    /// `true` for integer types (which can hold no missing value).
    const IS_INTEGER: bool;
    /// Reverses the byte order (for big-endian FITS data viewed as native).
    fn swap_bytes(self) -> Self;
    /// Exact conversion into the workspace.
    fn to_work(self) -> Self::Work;
    /// Converts a workspace value that came from this type back (exact for such values).
    fn from_work(w: Self::Work) -> Self;
    /// The same values as workspace values without conversion, when the types coincide.
    fn as_work(values: &[Self]) -> Option<&[Self::Work]>;
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
    fn float_byte_swap_is_an_involution() {
        let x = 1234.5f32;
        assert_ne!(x.swap_bytes().to_bits(), x.to_bits());
        assert_eq!(x.swap_bytes().swap_bytes(), x);
        assert_eq!(f32::from_be_bytes(x.to_le_bytes()), x.swap_bytes());
    }
}
