//! `PyO3` bindings: array conversion, dtype dispatch, GIL release and error mapping. No algorithms.

pub mod arrays;
pub mod combine;
pub mod errors;
pub mod iraf;
pub mod reject;
pub mod run;
pub mod stats;
