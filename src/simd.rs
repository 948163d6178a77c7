//! Runs a hot loop with the widest vector instructions the CPU has, chosen at run time.
//!
//! The same source is compiled three times: for the baseline target, with AVX2 and with
//! AVX-512, and [`run`] picks one per call. `IMCOMBINERS_SIMD=baseline|avx2` caps the choice
//! (for testing that all versions agree). Rust never contracts `a * b + c` into FMA nor reorders float
//! operations, so both versions give bit-identical results; only the speed differs.

/// The widest instruction set found at run time.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Baseline,
    Avx2,
    Avx512,
}

#[cfg(target_arch = "x86_64")]
fn level() -> Level {
    use std::arch::is_x86_feature_detected as has;
    use std::sync::OnceLock;
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = std::env::var("IMCOMBINERS_SIMD").unwrap_or_default();
        if cap == "baseline" {
            return Level::Baseline;
        }
        if cap != "avx2"
            && has!("avx512f")
            && has!("avx512bw")
            && has!("avx512vl")
            && has!("avx512dq")
        {
            Level::Avx512
        } else if has!("avx2") {
            Level::Avx2
        } else {
            Level::Baseline
        }
    })
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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn run_avx512<K: Kernel>(kernel: K) -> K::Output {
    kernel.run()
}

/// Runs `kernel` compiled for AVX-512 if the CPU has it (and it is not capped); `None`
/// otherwise. For kernels that only pay off with 32 vector registers: the caller keeps a
/// portable way, and only one version is compiled.
#[inline(always)]
pub fn run_if_avx512<K: Kernel>(kernel: K) -> Option<K::Output> {
    #[cfg(target_arch = "x86_64")]
    {
        if level() == Level::Avx512 {
            // SAFETY: the CPU reported these features.
            return Some(unsafe { run_avx512(kernel) });
        }
    }
    let _ = kernel;
    None
}

/// Runs `kernel`, compiled for AVX-512 or AVX2 when the CPU supports them.
#[inline(always)]
pub fn run<K: Kernel>(kernel: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    {
        match level() {
            // SAFETY: the CPU reported these features.
            Level::Avx512 => return unsafe { run_avx512(kernel) },
            // SAFETY: the CPU reported AVX2.
            Level::Avx2 => return unsafe { run_avx2(kernel) },
            Level::Baseline => {}
        }
    }
    kernel.run()
}
