//! Runs a hot loop with the widest vector instructions the CPU has, chosen at run time.
//!
//! The same source is compiled twice: once for the baseline target and once with AVX2 enabled,
//! and [`run`] picks one per call. Rust never contracts `a * b + c` into FMA nor reorders float
//! operations, so both versions give bit-identical results; only the speed differs.

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    use std::sync::OnceLock;
    static AVX2: OnceLock<bool> = OnceLock::new();
    *AVX2.get_or_init(|| std::arch::is_x86_feature_detected!("avx2"))
}

/// A hot loop with its arguments. Implementations mark `run` `#[inline(always)]` and call an
/// `#[inline(always)]` function, so the whole loop is compiled inside each version of [`run`].
/// (A closure or function pointer would stay a separate baseline function: LLVM does not inline
/// it into the AVX2 version.)
pub trait Kernel {
    type Output;
    fn run(self) -> Self::Output;
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_avx2<K: Kernel>(kernel: K) -> K::Output {
    kernel.run()
}

/// Runs `kernel`, compiled for AVX2 when the CPU supports it.
#[inline(always)]
pub fn run<K: Kernel>(kernel: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2() {
            // SAFETY: the CPU reported AVX2 support.
            return unsafe { run_avx2(kernel) };
        }
    }
    kernel.run()
}
