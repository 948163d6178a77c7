//! The two computation precisions of IRAF IMCOMBINE: `real` (f32) and `double` (f64).
//!
//! IRAF compiles each algorithm once per pixel type. In the `real` version every variable declared
//! `PIXEL` is an f32; in the `double` version it is an f64, while variables declared `real` (the
//! residuals, some sigmas, the weights and scale factors) stay f32. [`Px`] is the `PIXEL` type;
//! plain `f32` stands for IRAF's `real`. Conversions between the two follow Fortran's rules:
//! widening is exact, narrowing rounds to nearest.

use std::ops::{Add, Div, Mul, Neg, Sub};

/// The `PIXEL` type of one IRAF instantiation (f32 or f64).
pub trait Px:
    Copy
    + PartialOrd
    + Default
    + Send
    + Sync
    + std::fmt::Debug
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + 'static
{
    const ZERO: Self;
    /// True for `f32` (IRAF's `real`), whose values sort by 32-bit keys.
    const IS_REAL: bool;
    const ONE: Self;
    const TWO: Self;
    /// A `real` value in this precision (exact).
    fn r(x: f32) -> Self;
    /// A pixel count in this precision (Fortran's int-to-real conversion).
    fn n(k: usize) -> Self;
    /// A value read from the image in the workspace (rounded for `real`).
    fn from_f64(x: f64) -> Self;
    /// Rounds to `real`.
    fn to_r(self) -> f32;
    fn to_f64(self) -> f64;
    #[must_use]
    fn sqrt(self) -> Self;
    #[must_use]
    fn abs(self) -> Self;
    /// Truncation toward zero (Fortran's real-to-int conversion).
    #[must_use]
    fn trunc(self) -> Self;
    fn is_finite(self) -> bool;
}

impl Px for f32 {
    const IS_REAL: bool = true;
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const TWO: Self = 2.0;
    #[inline(always)]
    fn r(x: f32) -> Self {
        x
    }
    #[inline(always)]
    fn n(k: usize) -> Self {
        k as f32
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn to_r(self) -> f32 {
        self
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f32::abs(self)
    }
    #[inline(always)]
    fn trunc(self) -> Self {
        f32::trunc(self)
    }
    #[inline(always)]
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
}

impl Px for f64 {
    const IS_REAL: bool = false;
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const TWO: Self = 2.0;
    #[inline(always)]
    fn r(x: f32) -> Self {
        f64::from(x)
    }
    #[inline(always)]
    fn n(k: usize) -> Self {
        k as f64
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn to_r(self) -> f32 {
        self as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f64::abs(self)
    }
    #[inline(always)]
    fn trunc(self) -> Self {
        f64::trunc(self)
    }
    #[inline(always)]
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
}

/// Fortran's `max` of two values (the first when they compare equal or unordered).
#[must_use]
#[inline(always)]
pub fn fmax<F: Px>(a: F, b: F) -> F {
    if b > a {
        b
    } else {
        a
    }
}

/// Fortran's `nint`: nearest integer, halves away from zero.
#[must_use]
#[inline(always)]
pub fn nint(x: f32) -> i64 {
    x.round() as i64
}

/// `a * sqrt(x)` as IRAF's compiled code computes it from `real` operands: `sqrt` returns a
/// double, so the product is taken in double and rounded once when stored.
#[must_use]
#[inline(always)]
pub fn mul_sqrt<F: Px>(a: F, x: F) -> F {
    F::from_f64(a.to_f64() * x.to_f64().sqrt())
}

/// `sqrt(x) / b`, likewise in double and rounded once.
#[must_use]
#[inline(always)]
pub fn sqrt_div<F: Px>(x: F, b: F) -> F {
    F::from_f64(x.to_f64().sqrt() / b.to_f64())
}
