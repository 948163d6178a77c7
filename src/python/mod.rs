//! `PyO3` bindings: array conversion, dtype dispatch, GIL release and error mapping. No algorithms.

pub mod arrays;
pub mod combine;
pub mod errors;
pub mod iraf;
// Its `reject` pyfunction takes one argument per keyword of the Python signature.
#[allow(clippy::too_many_arguments)]
pub mod reject;
pub mod run;
pub mod stats;
pub mod uncertainty;
