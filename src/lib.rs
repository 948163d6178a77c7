//! imcombiners: combine stacks of images `(N, *spatial)` along axis 0.
//!
//! The pure-Rust core (no Python types) lives in [`stack`], [`reduce`], [`network`], [`pool`]
//! and is tested with `cargo test --no-default-features`; the `python` feature adds the `PyO3`
//! module `imcombiners._core` (bindings only, in `python/`).

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

    #[pymodule_init]
    fn init(m: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
        use pyo3::types::PyModuleMethods;
        m.add("__version__", env!("CARGO_PKG_VERSION"))
    }
}
