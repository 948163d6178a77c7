//! imcombiners: combine stacks of images `(N, *spatial)` along axis 0.
//!
//! The pure-Rust core has no Python types and is tested with `cargo test --no-default-features`;
//! the `python` feature adds the `PyO3` module `imcombiners._core` (bindings only, in `python/`).
//!
//! ```text
//! stack, sample     the input: strided stack views with an optional mask; sample types and keys
//! reduce            the plain combines (mean, sum, min, max, median, lmedian, weighted, variance)
//! accumulate        the sums shared by reduce and pipeline (mean, sum, weighted, variance)
//! reject            the rejection rules on one element's sorted samples
//! pipeline          rejection fused with the combine, tile by tile
//! grow              growing a rejection mask to neighbouring pixels
//! iraf              IRAF IMCOMBINE's pixel pipeline, reproduced
//! stats             per-frame statistics (scaling and zero offsets)
//! network           sorting networks over the columns of a tile
//! median_regs       register-resident median networks (AVX-512)
//! simd              compiling kernels for the vector instructions at hand
//! pool, cancel      the thread pool and Ctrl-C
//! disjoint          disjoint writes from several threads into one buffer
//! error             the core's errors
//! ```

mod accumulate;
pub mod cancel;
mod disjoint;
pub mod error;
pub mod grow;
pub mod iraf;
pub mod median_regs;
pub mod network;
pub mod pipeline;
pub mod pool;
pub mod reduce;
pub mod reject;
pub mod sample;
pub mod simd;
pub mod stack;
pub mod stats;
pub mod uncertainty;

#[cfg(feature = "python")]
mod python;

#[cfg(feature = "python")]
#[pyo3::pymodule]
mod _core {
    #[pymodule_export]
    use crate::python::combine::{combine, variance};
    #[pymodule_export]
    use crate::python::iraf::iraf_combine;
    #[pymodule_export]
    use crate::python::reject::{grow_mask, reject};
    #[pymodule_export]
    use crate::python::stats::{frame_samples, frame_stats};
    #[pymodule_export]
    use crate::python::uncertainty::{propagate_variance, varclip};

    #[pymodule_init]
    fn init(m: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
        use pyo3::types::PyModuleMethods;
        m.add("__version__", env!("CARGO_PKG_VERSION"))
    }
}
